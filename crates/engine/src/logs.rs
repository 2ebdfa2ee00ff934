//! Log drivers (`--log-driver`, `--log-opt`) and reading logs back
//! (`logs`). The monitor (crates/monitor) writes the files; this module
//! checks the options, tells the monitor what to write, compresses rotated
//! files and reads every readable driver back.
//!
//! Drivers, as docker's:
//! - `json-file` (the default): `<dir>/<id>-json.log`, one JSON object a
//!   line, `{"log":"text\n","stream":"stdout","attrs":{..},"time":"RFC3339Nano"}`
//!   (`attrs` only with the `labels`/`env`/`tag` options); lines longer
//!   than 16 KiB are split into partial entries (no trailing newline).
//!   Options `max-size` (no rotation by default), `max-file` (1),
//!   `compress` (false), `labels`, `labels-regex`, `env`, `env-regex`, `tag`.
//! - `local`: `<dir>/local-logs/container.log`, rotated at 20m, 5 files,
//!   compressed by default, in Berth's own framed binary format
//!   ([`LOCAL_FORMAT`]); the same options.
//! - `none`: nothing is stored; `logs` fails as docker's.
//!
//! Rotation, as docker's loggerutils: before an entry is written, a file of
//! `max-size` bytes or more is renamed `<log>.1` (older ones shift to
//! `.2`, ...; the one past `max-file - 1` is removed), or with `max-file`
//! 1 removed, and a new file begun. With `compress` the monitor has
//! `berth internal log-compress` gzip `<log>.1` to `<log>.1.gz` (the gzip
//! header's extra field carries `{"lastTime":"..."}`, the time of the
//! file's last entry, so readers with `--since` skip older files), and the
//! next rotation waits for it. `logs` reads `<log>.N[.gz]` ... `<log>.1[.gz]`
//! then `<log>`, and a follower moves on to the new file when its file is
//! rotated away.

use crate::error::{Context, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The local driver's on-disk format, one frame per entry, integers big
/// endian:
///
/// ```text
/// len:u32 | time:i64 (unix nanoseconds) | stream:u8 (1 stdout, 2 stderr)
///         | flags:u8 (0) | attrs_len:u16 | attrs (a JSON object) | data
///         | len:u32
/// ```
///
/// `len` counts the bytes between the two length fields (12 + attrs_len +
/// data); the trailing copy lets a reader walk a file backwards. `data` is
/// the output as json-file's `log` holds it: a line with its newline, or a
/// partial one (a line longer than 16 KiB, or the last bytes before EOF)
/// without. Files carry no header; rotated files are gzip'd whole.
pub const LOCAL_FORMAT: &str = "berth-local-1";

const LOCAL_HEAD: usize = 12;

/// The monitor's bound on the attributes' JSON.
const MAX_ATTRS: usize = 4096;

/// `--log-driver`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogDriver {
    #[default]
    #[serde(rename = "json-file")]
    JsonFile,
    #[serde(rename = "local")]
    Local,
    #[serde(rename = "none")]
    None,
}

impl LogDriver {
    pub fn as_str(self) -> &'static str {
        match self {
            LogDriver::JsonFile => "json-file",
            LogDriver::Local => "local",
            LogDriver::None => "none",
        }
    }

    /// A `--log-driver` value.
    pub fn parse(s: &str) -> Result<LogDriver> {
        match s {
            "json-file" => Ok(LogDriver::JsonFile),
            "local" => Ok(LogDriver::Local),
            "none" => Ok(LogDriver::None),
            _ => Err(Error::invalid(format!(
                "invalid --log-driver {s:?}: no log driver named '{s}' (Berth has json-file, local and none)"
            ))),
        }
    }
}

impl std::fmt::Display for LogDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Docker's `HostConfig.LogConfig`: the driver and its options as given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub driver: LogDriver,
    pub config: BTreeMap<String, String>,
}

impl LogConfig {
    /// `--log-driver` and `--log-opt KEY=VALUE` flags (an empty driver is
    /// json-file).
    pub fn from_flags(driver: Option<&str>, opts: &[String]) -> Result<LogConfig> {
        let driver = match driver {
            None | Some("") => LogDriver::JsonFile,
            Some(d) => LogDriver::parse(d)?,
        };
        let mut config = BTreeMap::new();
        for o in opts {
            let Some((k, v)) = o.split_once('=') else {
                return Err(Error::flag("--log-opt", o, "expected KEY=VALUE"));
            };
            config.insert(k.to_string(), v.to_string());
        }
        Ok(LogConfig { driver, config })
    }
}

/// A [`LogConfig`] checked and parsed.
#[derive(Debug, Clone)]
pub struct LogSettings {
    pub driver: LogDriver,
    /// Bytes before a file is rotated; `None`: never.
    pub max_size: Option<u64>,
    /// Files kept (the current one included).
    pub max_file: u32,
    pub compress: bool,
    labels: Vec<String>,
    labels_regex: Option<regex::Regex>,
    env: Vec<String>,
    env_regex: Option<regex::Regex>,
    tag: Option<String>,
}

/// What a `tag` template may name (docker's logger.Info).
#[derive(Debug, Clone, Default)]
pub struct TagInfo {
    pub id: String,
    pub name: String,
    pub image_id: String,
    pub image_name: String,
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// docker/go-units `FromHumanSize` (decimal units: `10m` is 10,000,000
/// bytes), as the log drivers read `max-size`.
pub fn parse_human_size(s: &str) -> Option<u64> {
    berth_util::size::from_human_size(s)
        .ok()
        .and_then(|n| u64::try_from(n).ok())
}

impl LogSettings {
    /// Checks the options as docker's driver does; errors name the option.
    pub fn parse(c: &LogConfig) -> Result<LogSettings> {
        let d = c.driver;
        let mut s = LogSettings {
            driver: d,
            max_size: None,
            max_file: 1,
            compress: false,
            labels: Vec::new(),
            labels_regex: None,
            env: Vec::new(),
            env_regex: None,
            tag: None,
        };
        if d == LogDriver::None {
            // docker accepts (and ignores) any option of the none driver.
            return Ok(s);
        }
        if d == LogDriver::Local {
            s.max_size = Some(20 * 1024 * 1024);
            s.max_file = 5;
            s.compress = true;
        }
        let bad = |k: &str, v: &str, why: &str| {
            Error::invalid(format!("invalid --log-opt {k}={v}: {why}"))
        };
        let list = |v: &str| -> Vec<String> {
            v.split(',')
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect()
        };
        let regex = |k: &str, v: &str| -> Result<Option<regex::Regex>> {
            if v.is_empty() {
                return Ok(None);
            }
            regex::Regex::new(v)
                .map(Some)
                .map_err(|e| bad(k, v, &one_line(&e.to_string())))
        };
        let mut compress_given = false;
        for (k, v) in &c.config {
            match k.as_str() {
                "max-size" => {
                    let n =
                        parse_human_size(v).ok_or_else(|| bad(k, v, "expected a size like 10m"))?;
                    if n == 0 {
                        return Err(bad(k, v, "max-size must be a positive number"));
                    }
                    s.max_size = Some(n);
                }
                "max-file" => {
                    let n: i64 = v.parse().map_err(|_| bad(k, v, "expected a number"))?;
                    if n < 1 && d == LogDriver::JsonFile {
                        return Err(bad(k, v, "max-file cannot be less than 1"));
                    }
                    if n < 0 {
                        return Err(bad(k, v, "max-file must not be negative"));
                    }
                    s.max_file = n.clamp(1, 1000) as u32;
                }
                "compress" => {
                    s.compress =
                        parse_bool(v).ok_or_else(|| bad(k, v, "expected true or false"))?;
                    compress_given = true;
                }
                "labels" => s.labels = list(v),
                "env" => s.env = list(v),
                "labels-regex" => s.labels_regex = regex(k, v)?,
                "env-regex" => s.env_regex = regex(k, v)?,
                "tag" => {
                    render_tag(v, &TagInfo::default()).map_err(|e| bad(k, v, &e))?;
                    s.tag = (!v.is_empty()).then(|| v.clone());
                }
                "mode" if v == "blocking" || v.is_empty() => {}
                "mode" => {
                    return Err(bad(
                        k,
                        v,
                        "logging mode not supported (the monitor writes in blocking mode)",
                    ))
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "invalid --log-opt {k}={v}: unknown log opt '{k}' for log driver {d}"
                    )))
                }
            }
        }
        if s.compress && (s.max_file < 2 || s.max_size.is_none()) {
            let why = if d == LogDriver::Local {
                "compression cannot be enabled when max file count is 1"
            } else {
                "compress cannot be true when max-file is less than 2 or max-size is not set"
            };
            let v = c.config.get("compress").cloned().unwrap_or_default();
            if compress_given || d == LogDriver::JsonFile {
                return Err(bad("compress", &v, why));
            }
            // local with max-file 1 and compress left at its default.
            s.compress = false;
        }
        Ok(s)
    }

    /// The attributes every entry carries (docker's `ExtraAttributes` and
    /// the `tag`), sorted by key.
    pub fn attrs(
        &self,
        labels: &BTreeMap<String, String>,
        env: &[String],
        info: &TagInfo,
    ) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for l in &self.labels {
            if let Some(v) = labels.get(l) {
                out.insert(l.clone(), v.clone());
            }
        }
        if let Some(re) = &self.labels_regex {
            for (k, v) in labels {
                if re.is_match(k) {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        if !self.env.is_empty() || self.env_regex.is_some() {
            let vars: BTreeMap<&str, &str> = env.iter().filter_map(|e| e.split_once('=')).collect();
            for e in &self.env {
                if let Some(v) = vars.get(e.as_str()) {
                    out.insert(e.clone(), v.to_string());
                }
            }
            if let Some(re) = &self.env_regex {
                for (k, v) in &vars {
                    if re.is_match(k) {
                        out.insert(k.to_string(), v.to_string());
                    }
                }
            }
        }
        if let Some(t) = &self.tag {
            let v = render_tag(t, info).map_err(|e| Error::flag("--log-opt tag", t, e))?;
            if !v.is_empty() {
                out.insert("tag".into(), v);
            }
        }
        Ok(out)
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A `tag` template: docker's fields `{{.ID}}` (12 characters),
/// `{{.FullID}}`, `{{.Name}}`, `{{.ImageID}}`, `{{.ImageFullID}}`,
/// `{{.ImageName}}`, `{{.DaemonName}}`, and text around them.
fn render_tag(t: &str, i: &TagInfo) -> std::result::Result<String, String> {
    let short = |s: &str| s.chars().take(12).collect::<String>();
    let image_full = i.image_id.trim_start_matches("sha256:").to_string();
    let mut out = String::new();
    let mut rest = t;
    while let Some(p) = rest.find("{{") {
        out.push_str(&rest[..p]);
        let after = &rest[p + 2..];
        let Some(end) = after.find("}}") else {
            return Err("unclosed {{ in the template".into());
        };
        let field = after[..end].trim();
        out.push_str(&match field {
            ".ID" => short(&i.id),
            ".FullID" => i.id.clone(),
            ".Name" => i.name.trim_start_matches('/').to_string(),
            ".ImageID" => short(&image_full),
            ".ImageFullID" => image_full.clone(),
            ".ImageName" => i.image_name.clone(),
            ".DaemonName" => "berth".into(),
            f => {
                return Err(format!(
                    "unknown field {f:?} (ID, FullID, Name, ImageID, ImageFullID, ImageName, DaemonName)"
                ))
            }
        });
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Where a driver keeps a container's log (`None` for `none`).
pub fn log_file(dir: &Path, id: &str, driver: LogDriver) -> Option<PathBuf> {
    match driver {
        LogDriver::JsonFile => Some(dir.join(format!("{id}-json.log"))),
        LogDriver::Local => Some(dir.join("local-logs").join("container.log")),
        LogDriver::None => None,
    }
}

/// What the monitor is told about the log: its flags after `--log PATH`
/// (none for a default json-file log, so `run --rm`'s argv is unchanged).
pub(crate) fn monitor_args(
    s: &LogSettings,
    path: Option<&Path>,
    attrs: &BTreeMap<String, String>,
) -> Result<Vec<String>> {
    let mut a = Vec::new();
    let Some(path) = path else {
        a.push("--log-driver".into());
        a.push("none".into());
        return Ok(a);
    };
    if let (LogDriver::Local, Some(parent)) = (s.driver, path.parent()) {
        std::fs::create_dir_all(parent).ctx(|| format!("cannot create {}", parent.display()))?;
    }
    a.push("--log".into());
    a.push(path.to_string_lossy().into_owned());
    if s.driver == LogDriver::Local {
        a.push("--log-driver".into());
        a.push("local".into());
    }
    if let Some(n) = s.max_size {
        a.push("--log-max-size".into());
        a.push(n.to_string());
        a.push("--log-max-file".into());
        a.push(s.max_file.to_string());
        if s.compress {
            a.push("--log-compress".into());
        }
    }
    if !attrs.is_empty() {
        let j = serde_json::to_string(attrs).map_err(|e| Error::msg(e.to_string()))?;
        if j.len() > MAX_ATTRS {
            return Err(Error::invalid(format!(
                "the log attributes (--log-opt labels, env, tag) take {} bytes, more than {MAX_ATTRS}",
                j.len()
            )));
        }
        a.push("--log-attrs".into());
        a.push(j);
    }
    Ok(a)
}

/// `berth internal log-compress FILE LASTTIME`: gzips a rotated file to
/// `FILE.gz` (through a temporary name, so a reader finds either whole
/// file) and removes `FILE`.
pub(crate) fn compress_file(file: &Path, last_time: &str) -> Result<()> {
    use flate2::write::GzEncoder;
    let mut src = match File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).ctx(|| format!("cannot open {}", file.display())),
    };
    let gz = PathBuf::from(format!("{}.gz", file.display()));
    // A temp file of ours, removed on any failure (berth_util's).
    let mut out = berth_util::fs::AtomicWrite::new(berth_util::fs::Durability::Flushed)
        .mode(0o640)
        .create(&gz)?;
    let extra = serde_json::json!({ "lastTime": last_time }).to_string();
    let mut enc = flate2::GzBuilder::new()
        .extra(extra.into_bytes())
        .write(&mut out, flate2::Compression::default());
    std::io::copy(&mut src, &mut enc)
        .and_then(|_| GzEncoder::finish(enc).map(|_| ()))
        .ctx(|| format!("cannot compress {}", file.display()))?;
    out.commit()?;
    std::fs::remove_file(file).ctx(|| format!("cannot remove {}", file.display()))
}

// ---- reading ----------------------------------------------------------

/// Which stream an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One log entry, whatever the driver.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub stream: Stream,
    pub time: SystemTime,
    /// The output (with its newline unless partial).
    pub line: Vec<u8>,
    /// The attributes (`labels`/`env`/`tag` options), sorted.
    pub attrs: Vec<(String, String)>,
}

/// A json-file line.
#[derive(Debug, Deserialize)]
struct JsonLine {
    log: String,
    stream: String,
    #[serde(default)]
    attrs: BTreeMap<String, String>,
    time: String,
}

fn json_record(line: &[u8]) -> Option<Record> {
    let j: JsonLine = serde_json::from_slice(line).ok()?;
    let stream = match j.stream.as_str() {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    Some(Record {
        stream,
        time: crate::timeutil::parse(&j.time)?,
        line: j.log.into_bytes(),
        attrs: j.attrs.into_iter().collect(),
    })
}

/// Encodes one local-format frame (the monitor's encoder is its own; this
/// one serves tests and tools).
pub fn local_frame(stream: Stream, time: SystemTime, attrs: &[u8], data: &[u8]) -> Vec<u8> {
    let n = (LOCAL_HEAD + attrs.len() + data.len()) as u32;
    let ns = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let mut v = Vec::with_capacity(n as usize + 8);
    v.extend_from_slice(&n.to_be_bytes());
    v.extend_from_slice(&ns.to_be_bytes());
    v.push(match stream {
        Stream::Stdout => 1,
        Stream::Stderr => 2,
    });
    v.push(0);
    v.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    v.extend_from_slice(attrs);
    v.extend_from_slice(data);
    v.extend_from_slice(&n.to_be_bytes());
    v
}

/// Attributes as stored (a JSON object), cached: every entry of a
/// container carries the same bytes.
#[derive(Default)]
struct AttrCache {
    raw: Vec<u8>,
    parsed: Vec<(String, String)>,
}

impl AttrCache {
    fn get(&mut self, raw: &[u8]) -> Vec<(String, String)> {
        if raw.is_empty() {
            return Vec::new();
        }
        if raw != self.raw.as_slice() {
            self.raw = raw.to_vec();
            self.parsed = serde_json::from_slice::<BTreeMap<String, String>>(raw)
                .map(|m| m.into_iter().collect())
                .unwrap_or_default();
        }
        self.parsed.clone()
    }
}

/// Decodes entries from a reader positioned at an entry boundary.
struct Decoder<R> {
    r: R,
    driver: LogDriver,
    /// Bytes consumed through the last whole entry.
    pos: u64,
    buf: Vec<u8>,
    attrs: AttrCache,
}

impl<R: BufRead> Decoder<R> {
    fn new(r: R, driver: LogDriver, pos: u64) -> Self {
        Decoder {
            r,
            driver,
            pos,
            buf: Vec::new(),
            attrs: AttrCache::default(),
        }
    }

    /// The next whole entry; `None` at the end (or at a partly written
    /// last entry, which a follower reads again once complete).
    fn next(&mut self) -> std::io::Result<Option<Record>> {
        loop {
            match self.driver {
                LogDriver::JsonFile => {
                    self.buf.clear();
                    let n = self.r.read_until(b'\n', &mut self.buf)?;
                    if n == 0 || self.buf.last() != Some(&b'\n') {
                        return Ok(None);
                    }
                    self.pos += n as u64;
                    if let Some(rec) = json_record(&self.buf) {
                        return Ok(Some(rec));
                    }
                }
                LogDriver::Local => {
                    let mut len = [0u8; 4];
                    if !read_full(&mut self.r, &mut len)? {
                        return Ok(None);
                    }
                    let n = u32::from_be_bytes(len) as usize;
                    if !(LOCAL_HEAD..=64 << 20).contains(&n) {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("corrupt local log entry at byte {}", self.pos),
                        ));
                    }
                    self.buf.resize(n + 4, 0);
                    if !read_full(&mut self.r, &mut self.buf)? {
                        return Ok(None);
                    }
                    self.pos += n as u64 + 8;
                    let b = &self.buf;
                    let ns = i64::from_be_bytes(b[0..8].try_into().unwrap_or([0; 8]));
                    let stream = match b[8] {
                        1 => Stream::Stdout,
                        2 => Stream::Stderr,
                        _ => continue,
                    };
                    let alen = u16::from_be_bytes([b[10], b[11]]) as usize;
                    if LOCAL_HEAD + alen > n {
                        continue;
                    }
                    let attrs = self.attrs.get(&b[LOCAL_HEAD..LOCAL_HEAD + alen]);
                    let time = if ns >= 0 {
                        UNIX_EPOCH + Duration::from_nanos(ns as u64)
                    } else {
                        UNIX_EPOCH
                    };
                    return Ok(Some(Record {
                        stream,
                        time,
                        line: b[LOCAL_HEAD + alen..n].to_vec(),
                        attrs,
                    }));
                }
                LogDriver::None => return Ok(None),
            }
        }
    }
}

/// Fills `buf`; false at EOF (nothing or part read).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => return Ok(false),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// `--tail` (the API's `tail`): `all` (or empty, or negative) is every
/// entry, else a count. The one parser of the CLI, compose and the API.
pub fn parse_tail(s: &str) -> Result<Option<usize>> {
    match s.trim() {
        "all" | "" => Ok(None),
        t => match t.parse::<i64>() {
            Ok(n) if n < 0 => Ok(None),
            Ok(n) => Ok(Some(n as usize)),
            Err(_) => Err(Error::flag("--tail", t, "expected a number or \"all\"")),
        },
    }
}

/// A `--since`/`--until` value (the API's `since`/`until`, unix seconds
/// by docker's clients): empty, `0` or `0.000000000` is "not given", as
/// docker's daemon takes it.
pub fn time_arg(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|v| !v.is_empty() && *v != "0" && *v != "0.000000000")
        .map(str::to_string)
}

/// What `logs` shows.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    /// Only the last N entries (`--tail`); None is all.
    pub tail: Option<usize>,
    pub timestamps: bool,
    /// `--since` / `--until` (docker's forms: RFC 3339 and shorter dates,
    /// unix seconds, or a Go duration like `10m` before now).
    pub since: Option<String>,
    pub until: Option<String>,
    /// `--details`: the entries' attributes before each line.
    pub details: bool,
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
    details: bool,
}

impl Filter {
    pub fn new(o: &LogsOptions) -> Result<Filter> {
        let t = |flag: &str, v: &Option<String>| -> Result<Option<SystemTime>> {
            match v {
                None => Ok(None),
                Some(s) if s.is_empty() => Ok(None),
                // Times without a zone are in the host's local zone.
                Some(s) => crate::timeutil::parse_since_in(s, SystemTime::now(), &crate::sys::utc_offset)
                    .map(Some)
                    .ok_or_else(|| {
                    crate::Error::flag(
                        flag,
                        s,
                        "expected a time (RFC 3339, 2006-01-02[T15:04:05], unix seconds) or a duration like 10m",
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
            details: o.details,
        })
    }

    fn stream(&self, r: &Record) -> bool {
        match r.stream {
            Stream::Stdout => self.stdout,
            Stream::Stderr => self.stderr,
        }
    }

    fn before_since(&self, r: &Record) -> bool {
        self.since.is_some_and(|s| r.time < s)
    }

    fn after_until(&self, r: &Record) -> bool {
        self.until.is_some_and(|u| r.time > u)
    }

    pub fn write(
        &self,
        r: &Record,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> std::io::Result<()> {
        let w: &mut dyn Write = match r.stream {
            Stream::Stderr => err,
            Stream::Stdout => out,
        };
        let mut head = String::new();
        if self.timestamps {
            head.push_str(&crate::timeutil::format(r.time));
            head.push(' ');
        }
        if self.details {
            for (i, (k, v)) in r.attrs.iter().enumerate() {
                if i > 0 {
                    head.push(',');
                }
                head.push_str(&query_escape(k));
                head.push('=');
                head.push_str(&query_escape(v));
            }
            head.push(' ');
        }
        if head.is_empty() {
            return w.write_all(&r.line);
        }
        let mut b = head.into_bytes();
        b.extend_from_slice(&r.line);
        w.write_all(&b)
    }
}

/// Go's `url.QueryEscape` (docker's `--details` writes attributes so).
fn query_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                o.push(b as char)
            }
            b' ' => o.push('+'),
            _ => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

/// The `lastTime` of a gzip'd rotated file's header.
fn gz_last_time(path: &Path) -> Option<SystemTime> {
    let f = File::open(path).ok()?;
    let d = flate2::read::GzDecoder::new(BufReader::new(f));
    let extra = d.header()?.extra()?;
    let v: serde_json::Value = serde_json::from_slice(extra).ok()?;
    crate::timeutil::parse(v.get("lastTime")?.as_str()?)
}

/// The rotated files of `path`, oldest first: `path.N` (or `path.N.gz`)
/// down to `path.1`.
fn rotated(path: &Path, max_file: u32) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for i in (1..max_file.max(1)).rev() {
        let plain = PathBuf::from(format!("{}.{i}", path.display()));
        if plain.exists() {
            v.push(plain);
            continue;
        }
        let gz = PathBuf::from(format!("{}.{i}.gz", path.display()));
        if gz.exists() {
            v.push(gz);
        }
    }
    v
}

/// A container's log as `logs` needs it.
pub(crate) struct LogSource {
    pub driver: LogDriver,
    pub path: PathBuf,
    pub max_file: u32,
}

/// Opens a rotated file for reading (gunzipping a `.gz`).
fn open_rotated(p: &Path) -> std::io::Result<Option<Box<dyn BufRead>>> {
    let mut p = p.to_path_buf();
    let file = match File::open(&p) {
        Ok(x) => x,
        // Compressed since it was listed.
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && p.extension().is_some_and(|e| e != "gz") =>
        {
            p = PathBuf::from(format!("{}.gz", p.display()));
            match File::open(&p) {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        // Rotated away meanwhile.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(if p.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(
            BufReader::new(file),
        )))
    } else {
        Box::new(BufReader::new(file))
    }))
}

/// The reading side of `logs`: the filter, `--tail`'s window, and the time
/// of the last entry read (where a follower that lost its place resumes).
struct Reader<'a> {
    f: Filter,
    tail: Option<usize>,
    window: VecDeque<Record>,
    last: Option<SystemTime>,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
}

impl Reader<'_> {
    /// Takes one entry; false once past `--until`.
    fn take(&mut self, r: Record) -> Result<bool> {
        self.last = Some(r.time);
        if self.f.after_until(&r) {
            return Ok(false);
        }
        if !self.f.stream(&r) || self.f.before_since(&r) {
            return Ok(true);
        }
        match self.tail {
            Some(0) => {}
            Some(n) => {
                if self.window.len() == n {
                    self.window.pop_front();
                }
                self.window.push_back(r);
            }
            None => self
                .f
                .write(&r, self.out, self.err)
                .map_err(|e| Error::io("write logs", e))?,
        }
        Ok(true)
    }

    /// Writes what `--tail` kept; from here on every entry is written.
    fn end_tail(&mut self) -> Result<()> {
        for r in std::mem::take(&mut self.window) {
            self.f
                .write(&r, self.out, self.err)
                .map_err(|e| Error::io("write logs", e))?;
        }
        self.tail = None;
        let _ = self.out.flush();
        let _ = self.err.flush();
        Ok(())
    }

    /// Reads whole entries from `r` (after `after`, when given); the
    /// bytes consumed and false once past `--until`.
    fn read(
        &mut self,
        p: &Path,
        r: impl BufRead,
        driver: LogDriver,
        pos: u64,
        after: Option<SystemTime>,
    ) -> Result<(u64, bool)> {
        let mut d = Decoder::new(r, driver, pos);
        while let Some(rec) = d
            .next()
            .map_err(|e| Error::io(format!("read {}", p.display()), e))?
        {
            if after.is_some_and(|t| rec.time <= t) {
                continue;
            }
            if !self.take(rec)? {
                return Ok((d.pos, false));
            }
        }
        Ok((d.pos, true))
    }

    /// The rotated files, oldest first (compressed ones older than
    /// `--since` or `after` skipped by their header); false once past
    /// `--until`.
    fn read_rotated(&mut self, src: &LogSource, after: Option<SystemTime>) -> Result<bool> {
        let from = match (self.f.since, after) {
            (Some(s), Some(a)) => Some(s.max(a)),
            (s, a) => s.or(a),
        };
        for p in rotated(&src.path, src.max_file) {
            let gz = p.extension().is_some_and(|e| e == "gz");
            if gz && from.is_some() && gz_last_time(&p).is_some_and(|t| Some(t) < from) {
                continue;
            }
            let rd = |e| Error::io(format!("read {}", p.display()), e);
            let Some(r) = open_rotated(&p).map_err(rd)? else {
                continue;
            };
            if !self.read(&p, r, src.driver, 0, after)?.1 {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl Reader<'_> {
    /// A follower that lost its place (several rotations between two
    /// looks): every entry after `after` from the rotated files and the
    /// current one, gathered again if a rotation happened meanwhile (the
    /// files shift under the reader; nothing is written before the
    /// gathering held still). The current file, its end, and false once
    /// past `--until`.
    fn catch_up(
        &mut self,
        src: &LogSource,
        after: Option<SystemTime>,
    ) -> Result<(Option<File>, u64, bool)> {
        use std::os::unix::fs::MetadataExt;
        let ino = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let before = ino(&src.path);
            let mut recs = Vec::new();
            let gather = |p: &Path, r: &mut dyn BufRead, recs: &mut Vec<Record>| {
                let mut d = Decoder::new(r, src.driver, 0);
                while let Some(rec) = d
                    .next()
                    .map_err(|e| Error::io(format!("read {}", p.display()), e))?
                {
                    if after.map_or(true, |t| rec.time > t) {
                        recs.push(rec);
                    }
                }
                Ok::<u64, Error>(d.pos)
            };
            for p in rotated(&src.path, src.max_file) {
                let gz = p.extension().is_some_and(|e| e == "gz");
                if gz && after.is_some() && gz_last_time(&p).is_some_and(|t| Some(t) < after) {
                    continue;
                }
                let rd = |e| Error::io(format!("read {}", p.display()), e);
                if let Some(mut r) = open_rotated(&p).map_err(rd)? {
                    gather(&p, &mut r, &mut recs)?;
                }
            }
            let mut cur = File::open(&src.path).ok();
            let mut pos = 0;
            if let Some(c) = cur.as_mut() {
                pos = gather(&src.path, &mut BufReader::new(&mut *c), &mut recs)?;
            }
            let held = cur
                .as_ref()
                .and_then(|c| c.metadata().ok())
                .map(|m| (m.dev(), m.ino()));
            if (before.is_some() && before == ino(&src.path) && held == before) || attempt == 5 {
                for r in recs {
                    if !self.take(r)? {
                        return Ok((cur, pos, false));
                    }
                }
                return Ok((cur, pos, true));
            }
        }
    }

    /// `--tail N`: the current file, then the rotated ones newest first
    /// until they hold N selected entries (older files are not opened, nor
    /// gunzipped); the last N go to the window. The current file's end and
    /// false when an entry past `--until` was seen.
    fn tail_newest_first(
        &mut self,
        src: &LogSource,
        cur: Option<&mut File>,
        n: usize,
    ) -> Result<(u64, bool)> {
        let mut chunks: Vec<Vec<Record>> = Vec::new();
        let mut total = 0;
        let mut pos = 0;
        let mut past_until = false;
        let mut newest: Option<SystemTime> = None;
        // The oldest entry of the newer files: a file rotated after the
        // current one was opened is listed too, and its entries are not
        // older than that.
        let mut bound: Option<SystemTime> = None;
        let mut collect =
            |p: &Path, r: &mut dyn BufRead, f: &Filter| -> Result<(Vec<Record>, u64)> {
                let mut d = Decoder::new(r, src.driver, 0);
                let mut v = Vec::new();
                let limit = bound;
                while let Some(rec) = d
                    .next()
                    .map_err(|e| Error::io(format!("read {}", p.display()), e))?
                {
                    if limit.is_some_and(|b| rec.time >= b) {
                        continue;
                    }
                    if bound.map_or(true, |b| rec.time < b) {
                        bound = Some(rec.time);
                    }
                    if newest.map_or(true, |t| rec.time > t) {
                        newest = Some(rec.time);
                    }
                    if f.after_until(&rec) {
                        past_until = true;
                        continue;
                    }
                    if f.stream(&rec) && !f.before_since(&rec) {
                        v.push(rec);
                    }
                }
                Ok((v, d.pos))
            };
        if let Some(c) = cur {
            let (v, p) = collect(&src.path, &mut BufReader::new(&mut *c), &self.f)?;
            pos = p;
            total += v.len();
            chunks.push(v);
        }
        for p in rotated(&src.path, src.max_file).into_iter().rev() {
            if total >= n {
                break;
            }
            let rd = |e| Error::io(format!("read {}", p.display()), e);
            let Some(mut r) = open_rotated(&p).map_err(rd)? else {
                continue;
            };
            let (v, _) = collect(&p, &mut r, &self.f)?;
            total += v.len();
            chunks.push(v);
        }
        let all: Vec<Record> = chunks.into_iter().rev().flatten().collect();
        let skip = all.len().saturating_sub(n);
        self.window.extend(all.into_iter().skip(skip));
        // Where a follower that loses its place resumes.
        self.last = newest;
        Ok((pos, !past_until))
    }
}

/// Reads the entries `opts` selects and writes them; with `follow`, keeps
/// reading until `running` says the container stopped (or `--until`
/// passed). `running` is asked between polls.
pub(crate) fn read_logs(
    src: &LogSource,
    opts: &LogsOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
    running: &mut dyn FnMut() -> bool,
) -> Result<()> {
    if src.driver == LogDriver::None {
        return Err(Error::msg(
            "configured logging driver does not support reading",
        ));
    }
    let mut rd = Reader {
        f: Filter::new(opts)?,
        tail: opts.tail,
        window: VecDeque::new(),
        last: None,
        out,
        err,
    };
    let open_err = |e: std::io::Error| Error::io(format!("read {}", src.path.display()), e);
    // The current file first: what is rotated after this is found by the
    // follower, not read twice.
    let mut cur = match File::open(&src.path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(open_err(e)),
    };
    let (mut pos, going) = match opts.tail.filter(|n| *n > 0) {
        Some(n) => rd.tail_newest_first(src, cur.as_mut(), n)?,
        // A rotation between opening the current file and listing the
        // rotated ones shows it among them too: its entries are then not
        // newer than the last one read.
        None => match (rd.read_rotated(src, None)?, cur.as_mut()) {
            (true, Some(c)) => {
                let after = rd.last;
                rd.read(&src.path, BufReader::new(&mut *c), src.driver, 0, after)?
            }
            (going, _) => (0, going),
        },
    };
    rd.end_tail()?;
    let until_passed = |f: &Filter| f.until.is_some_and(|u| SystemTime::now() > u);
    if !opts.follow || !going || until_passed(&rd.f) {
        return Ok(());
    }
    // Follow: new entries of the current file. When it was rotated away
    // once (it is `<log>.1` now), the rest of it, then the new file; when
    // more rotations passed between two looks, every entry after the last
    // one read, from the rotated files and the new one.
    loop {
        let alive = running();
        loop {
            if let Some(c) = cur.as_mut() {
                c.seek(SeekFrom::Start(pos)).map_err(open_err)?;
                let (p, more) =
                    rd.read(&src.path, BufReader::new(&mut *c), src.driver, pos, None)?;
                pos = p;
                if !more {
                    return Ok(());
                }
            }
            if !rotated_away(cur.as_ref(), &src.path, pos) {
                break;
            }
            let one = PathBuf::from(format!("{}.1", src.path.display()));
            let once = cur.as_ref().is_some_and(|c| same_file(c, &one));
            if !once && src.max_file >= 2 {
                let more;
                (cur, pos, more) = rd.catch_up(src, rd.last)?;
                if !more {
                    return Ok(());
                }
            } else {
                // What was written to it between the last read and the
                // rotation.
                if let Some(c) = cur.as_mut() {
                    c.seek(SeekFrom::Start(pos)).map_err(open_err)?;
                    let r = BufReader::new(&mut *c);
                    if !rd.read(&src.path, r, src.driver, pos, None)?.1 {
                        return Ok(());
                    }
                }
                cur = File::open(&src.path).ok();
                pos = 0;
            }
            if cur.is_none() {
                break;
            }
        }
        let _ = rd.out.flush();
        let _ = rd.err.flush();
        if !alive || until_passed(&rd.f) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `f` is the file at `p`.
fn same_file(f: &File, p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (f.metadata(), std::fs::metadata(p)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

/// Whether the file at `path` is no longer `cur` (rotated, or removed and
/// begun again), or was truncated below what was read.
fn rotated_away(cur: Option<&File>, path: &Path, pos: u64) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(now) = std::fs::metadata(path) else {
        return false;
    };
    let Some(c) = cur else {
        return true;
    };
    match c.metadata() {
        Ok(m) => m.ino() != now.ino() || m.dev() != now.dev() || m.len() < pos,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_values() {
        assert_eq!(parse_tail("all").unwrap(), None);
        assert_eq!(parse_tail("").unwrap(), None);
        assert_eq!(parse_tail("-1").unwrap(), None);
        assert_eq!(parse_tail("3").unwrap(), Some(3));
        let e = parse_tail("x").unwrap_err().to_string();
        assert!(e.contains("--tail") && e.contains("\"x\""), "{e}");
    }

    fn cfg(driver: LogDriver, opts: &[(&str, &str)]) -> LogConfig {
        LogConfig {
            driver,
            config: opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn drivers_and_defaults() {
        assert_eq!(LogDriver::parse("local").unwrap(), LogDriver::Local);
        let e = LogDriver::parse("syslog").unwrap_err().to_string();
        assert!(e.contains("syslog") && !e.contains('\n'), "{e}");
        let j = LogSettings::parse(&cfg(LogDriver::JsonFile, &[])).unwrap();
        assert_eq!((j.max_size, j.max_file, j.compress), (None, 1, false));
        let l = LogSettings::parse(&cfg(LogDriver::Local, &[])).unwrap();
        assert_eq!(
            (l.max_size, l.max_file, l.compress),
            (Some(20 << 20), 5, true)
        );
        let l = LogSettings::parse(&cfg(LogDriver::Local, &[("max-file", "1")])).unwrap();
        assert!(!l.compress);
        // docker's none driver takes any option.
        LogSettings::parse(&cfg(LogDriver::None, &[("whatever", "1")])).unwrap();
        assert_eq!(
            serde_json::to_value(cfg(LogDriver::Local, &[("max-size", "1m")])).unwrap(),
            serde_json::json!({"Type": "local", "Config": {"max-size": "1m"}})
        );
    }

    #[test]
    fn options_checked_as_docker() {
        let s = LogSettings::parse(&cfg(
            LogDriver::JsonFile,
            &[("max-size", "10k"), ("max-file", "3"), ("compress", "true")],
        ))
        .unwrap();
        assert_eq!(
            (s.max_size, s.max_file, s.compress),
            (Some(10_000), 3, true)
        );
        for (opts, want) in [
            (vec![("max-size", "ten")], "max-size=ten"),
            (vec![("max-size", "0")], "positive"),
            (vec![("max-file", "0")], "less than 1"),
            (vec![("compress", "yes")], "compress=yes"),
            (vec![("compress", "true")], "max-file is less than 2"),
            (
                vec![("bogus", "1")],
                "unknown log opt 'bogus' for log driver json-file",
            ),
            (vec![("labels-regex", "(")], "labels-regex=("),
            (vec![("tag", "{{.Nope}}")], ".Nope"),
            (vec![("mode", "non-blocking")], "mode=non-blocking"),
        ] {
            let e = LogSettings::parse(&cfg(LogDriver::JsonFile, &opts))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want) && !e.contains('\n'), "{opts:?}: {e}");
        }
        let e = LogSettings::parse(&cfg(
            LogDriver::Local,
            &[("compress", "true"), ("max-file", "1")],
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("max file count is 1"), "{e}");
        assert_eq!(parse_human_size("10m"), Some(10_000_000));
        assert_eq!(parse_human_size("1.5KB"), Some(1500));
        assert_eq!(parse_human_size("2MiB"), Some(2_000_000));
        assert_eq!(parse_human_size("100"), Some(100));
        assert_eq!(parse_human_size("m"), None);
        assert_eq!(parse_human_size("1x"), None);
        let e = LogConfig::from_flags(None, &["max-size".into()]).unwrap_err();
        assert!(e.to_string().contains("--log-opt"), "{e}");
    }

    #[test]
    fn attributes_and_tag() {
        let s = LogSettings::parse(&cfg(
            LogDriver::JsonFile,
            &[
                ("labels", "a,missing"),
                ("labels-regex", "^re"),
                ("env", "E1"),
                ("env-regex", "^X_"),
                ("tag", "{{.Name}}/{{.ID}} {{ .ImageName }}"),
            ],
        ))
        .unwrap();
        let labels: BTreeMap<String, String> = [("a", "1"), ("b", "2"), ("red", "3")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = vec!["E1=x=y".to_string(), "X_A=1".into(), "Y=2".into()];
        let info = TagInfo {
            id: "0123456789abcdef".into(),
            name: "/web".into(),
            image_id: "sha256:feed".into(),
            image_name: "alpine".into(),
        };
        let a = s.attrs(&labels, &env, &info).unwrap();
        let got: Vec<(&str, &str)> = a.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            vec![
                ("E1", "x=y"),
                ("X_A", "1"),
                ("a", "1"),
                ("red", "3"),
                ("tag", "web/0123456789ab alpine")
            ]
        );
    }

    fn rec(stream: Stream, secs: u64, line: &str) -> Record {
        Record {
            stream,
            time: UNIX_EPOCH + Duration::new(secs, 5),
            line: line.as_bytes().to_vec(),
            attrs: vec![("k".into(), "a b/c".into())],
        }
    }

    #[test]
    fn local_frames_round_trip() {
        let mut file = Vec::new();
        let recs = [
            rec(Stream::Stdout, 100, "one\n"),
            rec(Stream::Stderr, 101, "partial"),
        ];
        for r in &recs {
            file.extend(local_frame(r.stream, r.time, br#"{"k":"a b/c"}"#, &r.line));
        }
        // A frame being written is not read.
        let cut = local_frame(Stream::Stdout, UNIX_EPOCH, b"", b"later\n");
        file.extend_from_slice(&cut[..7]);
        let mut d = Decoder::new(&file[..], LogDriver::Local, 0);
        assert_eq!(d.next().unwrap().as_ref(), Some(&recs[0]));
        assert_eq!(d.next().unwrap().as_ref(), Some(&recs[1]));
        assert_eq!(d.next().unwrap(), None);
        assert_eq!(d.pos as usize, file.len() - 7);
    }

    #[test]
    fn json_lines_and_details() {
        let file = concat!(
            r#"{"log":"a\n","stream":"stdout","attrs":{"k":"a b/c"},"time":"1970-01-01T00:01:40.000000005Z"}"#,
            "\n",
            r#"{"log":"b\n","stream":"stderr","time":"1970-01-01T00:01:41.000000005Z"}"#,
            "\n",
            r#"{"log":"c"#
        );
        let mut d = Decoder::new(file.as_bytes(), LogDriver::JsonFile, 0);
        let a = d.next().unwrap().unwrap();
        assert_eq!(a, rec(Stream::Stdout, 100, "a\n"));
        let b = d.next().unwrap().unwrap();
        assert_eq!((b.stream, b.attrs.len()), (Stream::Stderr, 0));
        assert_eq!(d.next().unwrap(), None);
        let f = Filter::new(&LogsOptions {
            timestamps: true,
            details: true,
            ..Default::default()
        })
        .unwrap();
        let (mut o, mut e) = (Vec::new(), Vec::new());
        f.write(&a, &mut o, &mut e).unwrap();
        f.write(&b, &mut o, &mut e).unwrap();
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "1970-01-01T00:01:40.000000005Z k=a+b%2Fc a\n"
        );
        assert_eq!(
            String::from_utf8(e).unwrap(),
            "1970-01-01T00:01:41.000000005Z  b\n"
        );
    }

    #[test]
    fn reads_across_rotated_and_compressed_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let line = |n: u64| {
            format!(
                "{{\"log\":\"{n}\\n\",\"stream\":\"stdout\",\"time\":\"{}\"}}\n",
                crate::timeutil::format(UNIX_EPOCH + Duration::from_secs(1000 + n))
            )
        };
        std::fs::write(format!("{}.2", path.display()), line(1) + &line(2)).unwrap();
        let one = PathBuf::from(format!("{}.1", path.display()));
        std::fs::write(&one, line(3)).unwrap();
        compress_file(
            &one,
            &crate::timeutil::format(UNIX_EPOCH + Duration::from_secs(1003)),
        )
        .unwrap();
        assert!(!one.exists());
        assert_eq!(
            gz_last_time(&PathBuf::from(format!("{}.1.gz", path.display()))),
            Some(UNIX_EPOCH + Duration::from_secs(1003))
        );
        std::fs::write(&path, line(4) + &line(5)).unwrap();
        let src = LogSource {
            driver: LogDriver::JsonFile,
            path: path.clone(),
            max_file: 3,
        };
        let run = |o: LogsOptions| {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            read_logs(&src, &o, &mut out, &mut err, &mut || false).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(run(LogsOptions::default()), "1\n2\n3\n4\n5\n");
        let t = |s: u64| Some(crate::timeutil::format(UNIX_EPOCH + Duration::from_secs(s)));
        assert_eq!(
            run(LogsOptions {
                since: t(1003),
                ..Default::default()
            }),
            "3\n4\n5\n"
        );
        assert_eq!(
            run(LogsOptions {
                until: t(1002),
                ..Default::default()
            }),
            "1\n2\n"
        );
        assert_eq!(
            run(LogsOptions {
                tail: Some(2),
                ..Default::default()
            }),
            "4\n5\n"
        );
        // --tail opens only the newest files it needs: a `.2` that cannot
        // be read is not reached for the last three entries.
        let two = format!("{}.2", path.display());
        std::fs::remove_file(&two).unwrap();
        std::fs::create_dir(&two).unwrap();
        assert_eq!(
            run(LogsOptions {
                tail: Some(3),
                ..Default::default()
            }),
            "3\n4\n5\n"
        );
        assert_eq!(
            run(LogsOptions {
                tail: Some(2),
                stdout: true,
                until: t(1004),
                ..Default::default()
            }),
            "3\n4\n"
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let o = LogsOptions {
            tail: Some(4),
            ..Default::default()
        };
        assert!(read_logs(&src, &o, &mut out, &mut err, &mut || false).is_err());
        let e = read_logs(
            &LogSource {
                driver: LogDriver::None,
                path,
                max_file: 1,
            },
            &LogsOptions::default(),
            &mut Vec::new(),
            &mut Vec::new(),
            &mut || false,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "configured logging driver does not support reading"
        );
    }
}
