//! The journal: `<store>/events/events.log`, one JSON message a line, and
//! `events.log.1`, the one rotated file kept.
//!
//! Writers (the CLI, a container's monitor and cleanup, a healthcheck; any
//! process that acts) append a whole line in one `write` to a file opened
//! with `O_APPEND`, holding a shared `flock` on `events.lock`, so concurrent
//! appends never interleave and need no daemon. An append that would take
//! the file past its cap (`BERTH_EVENTS_MAX_SIZE` bytes, default 4 MiB)
//! takes the lock exclusively and renames the file to `events.log.1`
//! (replacing the previous one) first: the journal stays under twice the
//! cap. Since writes hold the lock shared and rotation holds it
//! exclusively, no write lands in a file after it was rotated, which lets a
//! follower drain the old file and move on.
//!
//! Readers tolerate a torn line (a writer killed mid-write): it is passed
//! over, and an event appended after it on the same line is still found.

use crate::filter::Filters;
use crate::message::Message;
use berth_util::lock::{FileLock, LockKind};
use rustix::fs::FlockOperation;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The cap of `events.log` in bytes when `BERTH_EVENTS_MAX_SIZE` is unset.
pub const DEFAULT_MAX_SIZE: u64 = 4 << 20;

const LOG: &str = "events.log";
const ROTATED: &str = "events.log.1";
const LOCK: &str = "events.lock";

/// `BERTH_EVENTS_MAX_SIZE`: bytes, or a size as docker's flags take them
/// (`512k`, `4m`, `1MiB`); unset, unparsable or 0: [`DEFAULT_MAX_SIZE`].
fn max_size_from_env() -> u64 {
    std::env::var("BERTH_EVENTS_MAX_SIZE")
        .ok()
        .and_then(|v| berth_util::size::ram_in_bytes(&v).ok())
        .filter(|n| *n > 0)
        .map_or(DEFAULT_MAX_SIZE, |n| n as u64)
}

fn io_err(e: berth_util::Error) -> io::Error {
    io::Error::new(e.io_kind().unwrap_or(io::ErrorKind::Other), e.to_string())
}

/// The event journal of one store root. Appends reuse the lock file and
/// `events.log` opened by the first one (shared by the journal's clones):
/// an append is a `flock`, a `stat` of `events.log` (rotated by another
/// process: reopened), a `write` and an unlock.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
    max_size: u64,
    files: Arc<Mutex<Option<Appender>>>,
}

/// What appends keep open: `events.lock` and `events.log` (its inode, to
/// notice a rotation), by process `pid`.
#[derive(Debug)]
struct Appender {
    /// A forked child (an exec helper logging `exec_die`) must not use its
    /// parent's descriptors: it may have closed them, their numbers taken
    /// by other files, and a shared open file shares its flock.
    pid: u32,
    lock: File,
    log: Option<(File, u64)>,
}

/// `flock` of the kept lock file, released on drop.
struct Held<'a>(&'a File);

impl<'a> Held<'a> {
    fn take(f: &'a File, kind: LockKind) -> io::Result<Held<'a>> {
        flock(f, kind)?;
        Ok(Held(f))
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let _ = rustix::fs::flock(self.0, FlockOperation::Unlock);
    }
}

fn flock(f: &File, kind: LockKind) -> io::Result<()> {
    let op = match kind {
        LockKind::Shared => FlockOperation::LockShared,
        LockKind::Exclusive => FlockOperation::LockExclusive,
    };
    loop {
        match rustix::fs::flock(f, op) {
            Err(rustix::io::Errno::INTR) => {}
            r => return r.map_err(io::Error::from),
        }
    }
}

/// The size of the current `events.log`, `log` opened again if it was
/// rotated (or not yet open); `None`: it is gone while `log` had it open
/// (the store was removed, maybe made again: the lock file is stale too).
/// Call with the lock held.
fn current(log: &mut Option<(File, u64)>, path: &Path) -> io::Result<Option<u64>> {
    if let Some((_, ino)) = log {
        match std::fs::metadata(path) {
            Ok(m) if m.ino() == *ino => return Ok(Some(m.len())),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    let f = open_append(path)?;
    let m = f.metadata()?;
    *log = Some((f, m.ino()));
    Ok(Some(m.len()))
}

impl Journal {
    /// The journal of the store at `store_root` (`<root>/events/`), capped
    /// by `BERTH_EVENTS_MAX_SIZE`. Nothing is opened or created until an
    /// append.
    pub fn new(store_root: &Path) -> Journal {
        Journal {
            dir: store_root.join("events"),
            max_size: max_size_from_env(),
            files: Arc::default(),
        }
    }

    /// The same journal with another cap (bytes of `events.log`).
    pub fn with_max_size(mut self, bytes: u64) -> Journal {
        self.max_size = bytes.max(1);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `events.log`, the file appended to.
    pub fn path(&self) -> PathBuf {
        self.dir.join(LOG)
    }

    /// `events.log.1`, the rotated file.
    pub fn rotated_path(&self) -> PathBuf {
        self.dir.join(ROTATED)
    }

    /// `events.lock`, held as `kind`; the directory is made if missing.
    fn lock(&self, kind: LockKind) -> io::Result<FileLock> {
        let f = self.open_lock()?;
        FileLock::lock(f, &self.dir.join(LOCK), kind).map_err(io_err)
    }

    /// Opens `events.lock` (made, with the directory, if missing).
    fn open_lock(&self) -> io::Result<File> {
        let open = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(self.dir.join(LOCK))
        };
        match open() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&self.dir)?;
                open()
            }
            r => r,
        }
    }

    /// Appends one event. An event is a side note of an act: callers that
    /// must not fail for it use [`Journal::log`].
    pub fn append(&self, msg: &Message) -> io::Result<()> {
        let line = msg.to_line();
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let mut r = self.append_with(&mut files, &line);
        if matches!(r, Ok(false)) {
            // The journal's directory was replaced: opened afresh.
            *files = None;
            r = self.append_with(&mut files, &line);
        }
        match r {
            Ok(true) => Ok(()),
            Ok(false) => Err(io::Error::other(format!(
                "{} keeps disappearing",
                self.path().display()
            ))),
            Err(e) => {
                *files = None;
                Err(e)
            }
        }
    }

    /// One append through the kept files; false: they are stale.
    fn append_with(&self, files: &mut Option<Appender>, line: &[u8]) -> io::Result<bool> {
        let pid = std::process::id();
        if files.as_ref().is_some_and(|a| a.pid != pid) {
            // The parent's: neither used nor closed (the numbers may be
            // another file's now).
            std::mem::forget(files.take());
        }
        let Appender { lock, log, .. } = match files {
            Some(a) => a,
            None => files.insert(Appender {
                pid,
                lock: self.open_lock()?,
                log: None,
            }),
        };
        let _held = Held::take(lock, LockKind::Shared)?;
        let path = self.path();
        let Some(size) = current(log, &path)? else {
            return Ok(false);
        };
        if size > 0 && size + line.len() as u64 > self.max_size {
            // The shared lock is converted to the exclusive one (not
            // atomically, as flock(2) does), so two rotating writers cannot
            // deadlock; the size is checked again.
            flock(lock, LockKind::Exclusive)?;
            let Some(size) = current(log, &path)? else {
                return Ok(false);
            };
            if size > 0 && size + line.len() as u64 > self.max_size {
                std::fs::rename(&path, self.rotated_path())?;
                *log = None;
                current(log, &path)?;
            }
        }
        let Some((f, _)) = log.as_mut() else {
            unreachable!("opened by current()")
        };
        // One write of the whole line: O_APPEND makes it atomic against the
        // other appenders. write_all only loops on a short write (a full disk).
        f.write_all(line)?;
        Ok(true)
    }

    /// Appends one event, ignoring failure: an operation is not undone, nor
    /// reported failed, because its event could not be written.
    pub fn log(&self, msg: Message) {
        let _ = self.append(&msg);
    }

    /// Reads the events of the journal within `q` in order (the rotated file,
    /// then the current one), calling `f` for each until it returns false.
    /// Returns where the journal ends, for [`Cursor::follow`].
    pub fn read(&self, q: &Query, mut f: impl FnMut(Message) -> bool) -> io::Result<Cursor> {
        let (old, cur) = self.open_files()?;
        let mut buf = Vec::new();
        let mut go_on = true;
        if let Some(mut old) = old {
            old.read_to_end(&mut buf)?;
            let end = buf.len();
            scan(&buf[..end], q, &mut |m| {
                go_on = f(m);
                go_on
            });
            buf.clear();
        }
        let mut cursor = Cursor::new(self.clone(), q.clone(), cur)?;
        if go_on {
            cursor.pump(&mut |m| f(m))?;
        } else {
            cursor.skip_to_end()?;
        }
        Ok(cursor)
    }

    /// A cursor at the journal's current end: follows only what comes next.
    pub fn tail(&self, q: &Query) -> io::Result<Cursor> {
        let (_, cur) = self.open_files()?;
        let mut c = Cursor::new(self.clone(), q.clone(), cur)?;
        c.skip_to_end()?;
        Ok(c)
    }

    /// The rotated and current files, opened together under the shared lock
    /// so no rotation falls between the two opens.
    fn open_files(&self) -> io::Result<(Option<File>, Option<File>)> {
        if !self.dir.is_dir() {
            return Ok((None, None));
        }
        let _lock = self.lock(LockKind::Shared)?;
        let old = open_read(&self.rotated_path())?;
        let cur = open_read(&self.path())?;
        Ok((old, cur))
    }
}

fn open_append(p: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(p)
}

fn open_read(p: &Path) -> io::Result<Option<File>> {
    match File::open(p) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// What a reader wants: a time window (nanoseconds since the epoch,
/// inclusive) and filters.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub filters: Filters,
}

/// The `timeNano` of a line the journal wrote (its last field), read
/// without parsing the line.
fn line_time(line: &[u8]) -> Option<i64> {
    let body = line.strip_suffix(b"}")?;
    let digits = body.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    let (head, num) = body.split_at(body.len() - digits);
    if !head.ends_with(b"\"timeNano\":") {
        return None;
    }
    let mut n: i64 = 0;
    for d in num {
        n = n.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(n)
}

fn in_window(q: &Query, t: i64) -> bool {
    q.since.is_none_or_le(t) && q.until.is_none_or_ge(t)
}

trait Bound {
    fn is_none_or_le(&self, t: i64) -> bool;
    fn is_none_or_ge(&self, t: i64) -> bool;
}

impl Bound for Option<i64> {
    fn is_none_or_le(&self, t: i64) -> bool {
        self.map_or(true, |s| s <= t)
    }
    fn is_none_or_ge(&self, t: i64) -> bool {
        self.map_or(true, |u| t <= u)
    }
}

/// One journal line to a message, if it is within the query. A line that
/// does not parse (torn by a killed writer, with the next event appended to
/// it) is searched for a message starting later in it.
fn parse_line(line: &[u8], q: &Query) -> Option<Message> {
    if line.is_empty() {
        return None;
    }
    if let Some(t) = line_time(line) {
        if !in_window(q, t) {
            return None;
        }
    }
    if !q.filters.may_match_line(line) {
        return None;
    }
    let m: Message = match serde_json::from_slice(line) {
        Ok(m) => m,
        Err(_) => {
            const START: &[u8] = b"{\"Type\":";
            let at = line[1..]
                .windows(START.len())
                .position(|w| w == START)
                .map(|p| p + 1)?;
            return parse_line(&line[at..], q);
        }
    };
    if !in_window(q, m.time_nano) || !q.filters.matches(&m) {
        return None;
    }
    Some(m.with_legacy_fields())
}

/// Every complete line of `buf`; returns the bytes consumed (up to the last
/// newline).
fn scan(buf: &[u8], q: &Query, f: &mut dyn FnMut(Message) -> bool) -> usize {
    let mut start = 0;
    while let Some(nl) = buf[start..].iter().position(|b| *b == b'\n') {
        let line = &buf[start..start + nl];
        start += nl + 1;
        if let Some(m) = parse_line(line, q) {
            if !f(m) {
                break;
            }
        }
    }
    start
}

/// A position in the journal, to follow what is appended after it.
pub struct Cursor {
    journal: Journal,
    query: Query,
    file: Option<File>,
    ino: u64,
    /// Bytes read past the last complete line.
    carry: Vec<u8>,
    watch: Option<Watch>,
}

impl Cursor {
    fn new(journal: Journal, query: Query, file: Option<File>) -> io::Result<Cursor> {
        let ino = match &file {
            Some(f) => f.metadata()?.ino(),
            None => 0,
        };
        Ok(Cursor {
            journal,
            query,
            file,
            ino,
            carry: Vec::new(),
            watch: None,
        })
    }

    fn skip_to_end(&mut self) -> io::Result<()> {
        if let Some(f) = &mut self.file {
            f.seek(SeekFrom::End(0))?;
        }
        self.carry.clear();
        Ok(())
    }

    /// Reads what the current file has past the cursor; complete lines go
    /// to `f`. Returns whether anything was read.
    fn pump(&mut self, f: &mut dyn FnMut(Message) -> bool) -> io::Result<bool> {
        let Some(file) = &mut self.file else {
            return Ok(false);
        };
        let had = self.carry.len();
        file.read_to_end(&mut self.carry)?;
        if self.carry.len() == had {
            return Ok(false);
        }
        let used = scan(&self.carry, &self.query, f);
        self.carry.drain(..used);
        Ok(true)
    }

    /// Whether `events.log` is now another file than the cursor's (rotated,
    /// or created since).
    fn replaced(&self) -> bool {
        match std::fs::metadata(self.journal.path()) {
            Ok(m) => self.file.is_none() || m.ino() != self.ino,
            Err(_) => false,
        }
    }

    /// Waits up to `timeout` for events appended after the cursor and hands
    /// them to `f` (until it returns false). Rotation is followed: the old
    /// file is drained, then the new one read from its start. Returns
    /// whether any line was read.
    pub fn follow(
        &mut self,
        timeout: Duration,
        f: &mut dyn FnMut(Message) -> bool,
    ) -> io::Result<bool> {
        let deadline = Instant::now() + timeout;
        if self.watch.is_none() {
            self.watch = Watch::new(self.journal.dir());
        }
        loop {
            if self.pump(f)? {
                return Ok(true);
            }
            if self.replaced() {
                // Rotation happens under the exclusive lock after every
                // write to the old file ended: drain it, then switch.
                self.pump(f)?;
                let (old, cur) = self.journal.open_files()?;
                // Rotated twice since: the middle file is events.log.1.
                if let Some(mut old) = old {
                    if old.metadata()?.ino() != self.ino {
                        let mut buf = Vec::new();
                        old.read_to_end(&mut buf)?;
                        scan(&buf, &self.query, f);
                    }
                }
                self.ino = match &cur {
                    Some(fl) => fl.metadata()?.ino(),
                    None => 0,
                };
                self.file = cur;
                self.carry.clear();
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let left = deadline - now;
            match &mut self.watch {
                Some(w) => w.wait(left),
                None => {
                    // The journal's directory does not exist yet.
                    std::thread::sleep(left.min(Duration::from_millis(100)));
                    self.watch = Watch::new(self.journal.dir());
                }
            }
        }
    }
}

/// inotify on the journal's directory: a follower sleeps until a write,
/// create or rename there, at most a poll interval (a watch can miss
/// nothing the interval does not catch).
struct Watch {
    fd: std::os::fd::OwnedFd,
}

impl Watch {
    fn new(dir: &Path) -> Option<Watch> {
        use rustix::fs::inotify;
        let fd =
            inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).ok()?;
        inotify::add_watch(
            &fd,
            dir,
            inotify::WatchFlags::MODIFY
                | inotify::WatchFlags::CREATE
                | inotify::WatchFlags::MOVED_TO,
        )
        .ok()?;
        Some(Watch { fd })
    }

    fn wait(&mut self, timeout: Duration) {
        use rustix::event::{poll, PollFd, PollFlags};
        let t = timeout.min(Duration::from_millis(500));
        let ts = rustix::event::Timespec {
            tv_sec: t.as_secs() as _,
            tv_nsec: t.subsec_nanos() as _,
        };
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        if let Ok(n) = poll(&mut fds, Some(&ts)) {
            if n > 0 {
                let mut buf = [0u8; 4096];
                while matches!(rustix::io::read(&self.fd, &mut buf), Ok(n) if n > 0) {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_of_a_line() {
        assert_eq!(line_time(b"{\"a\":1,\"timeNano\":123}"), Some(123));
        assert_eq!(line_time(b"{\"a\":1,\"time\":123}"), None);
        assert_eq!(line_time(b"{\"a\":1,\"timeNano\":12"), None);
    }
}
