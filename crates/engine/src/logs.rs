//! Docker's json-file log driver: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`; lines longer
//! than 16 KiB are split into partial entries (no trailing newline).

use crate::error::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::SystemTime;

const MAX_PARTIAL: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Splits a stream into entries and appends them to the log file.
pub struct StreamLogger {
    stream: &'static str,
    buf: Vec<u8>,
}

impl StreamLogger {
    pub fn new(stream: &'static str) -> StreamLogger {
        StreamLogger {
            stream,
            buf: Vec::new(),
        }
    }

    /// Feeds bytes; complete lines (and over-long partials) go to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut impl Write) {
        self.buf.extend_from_slice(data);
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                self.emit(&line, out);
            } else if self.buf.len() >= MAX_PARTIAL {
                let part: Vec<u8> = self.buf.drain(..MAX_PARTIAL).collect();
                self.emit(&part, out);
            } else {
                break;
            }
        }
    }

    /// Writes what is left (at EOF) as a partial entry.
    pub fn flush(&mut self, out: &mut impl Write) {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            self.emit(&rest, out);
        }
    }

    fn emit(&self, bytes: &[u8], out: &mut impl Write) {
        let e = Entry {
            log: String::from_utf8_lossy(bytes).into_owned(),
            stream: self.stream.to_string(),
            time: crate::timeutil::now(),
        };
        if let Ok(mut line) = serde_json::to_vec(&e) {
            line.push(b'\n');
            let _ = out.write_all(&line);
        }
    }
}

/// What `logs` shows.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    /// Only the last N entries (`--tail`); None is all.
    pub tail: Option<usize>,
    pub timestamps: bool,
    /// `--since` / `--until` (RFC 3339, unix seconds, or a duration like `10m`).
    pub since: Option<String>,
    pub until: Option<String>,
    /// Which streams (both when neither is set).
    pub stdout: bool,
    pub stderr: bool,
}

pub(crate) struct Filter {
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    stdout: bool,
    stderr: bool,
    timestamps: bool,
}

impl Filter {
    pub fn new(o: &LogsOptions) -> Result<Filter> {
        let t = |flag: &str, v: &Option<String>| -> Result<Option<SystemTime>> {
            match v {
                None => Ok(None),
                Some(s) => crate::timeutil::parse_since(s).map(Some).ok_or_else(|| {
                    crate::Error::flag(
                        flag,
                        s,
                        "expected a time (RFC 3339 or unix seconds) or a duration like 10m",
                    )
                }),
            }
        };
        let both = !o.stdout && !o.stderr;
        Ok(Filter {
            since: t("--since", &o.since)?,
            until: t("--until", &o.until)?,
            stdout: both || o.stdout,
            stderr: both || o.stderr,
            timestamps: o.timestamps,
        })
    }

    pub fn keep(&self, e: &Entry) -> bool {
        let ok_stream = match e.stream.as_str() {
            "stdout" => self.stdout,
            "stderr" => self.stderr,
            _ => false,
        };
        if !ok_stream {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(t) = crate::timeutil::parse(&e.time) else {
                return false;
            };
            if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t > u) {
                return false;
            }
        }
        true
    }

    pub fn write(
        &self,
        e: &Entry,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> std::io::Result<()> {
        if !self.keep(e) {
            return Ok(());
        }
        let w: &mut dyn Write = if e.stream == "stderr" { err } else { out };
        if self.timestamps {
            write!(w, "{} ", e.time)?;
        }
        w.write_all(e.log.as_bytes())
    }
}

/// Reads complete entries from `path` starting at byte `offset`; returns
/// the entries and the offset after the last complete line.
pub(crate) fn read_from(path: &Path, offset: u64) -> Result<(Vec<Entry>, u64)> {
    use std::io::{Seek, SeekFrom};
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], offset)),
        Err(e) => return Err(e).ctx(|| format!("cannot open {}", path.display())),
    };
    f.seek(SeekFrom::Start(offset))
        .ctx(|| format!("seek {}", path.display()))?;
    let mut r = std::io::BufReader::new(f);
    let mut out = Vec::new();
    let mut pos = offset;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = r
            .read_until(b'\n', &mut line)
            .ctx(|| format!("read {}", path.display()))?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        pos += n as u64;
        if let Ok(e) = serde_json::from_slice::<Entry>(&line) {
            out.push(e);
        }
    }
    Ok((out, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_partials() {
        let mut l = StreamLogger::new("stdout");
        let mut out = Vec::new();
        l.feed(b"hello\nwor", &mut out);
        l.feed(b"ld\nrest", &mut out);
        l.flush(&mut out);
        let entries: Vec<Entry> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        let logs: Vec<&str> = entries.iter().map(|e| e.log.as_str()).collect();
        assert_eq!(logs, vec!["hello\n", "world\n", "rest"]);
        assert!(entries
            .iter()
            .all(|e| e.stream == "stdout" && e.time.ends_with('Z')));
        let mut big = StreamLogger::new("stderr");
        let mut out = Vec::new();
        big.feed(&vec![b'x'; MAX_PARTIAL + 10], &mut out);
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
    }
}
