//! Small filesystem helpers: durable atomic writes and unique temp names.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{IoContext, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique to this process and call, naming its owner:
/// `<prefix><pid>.<start>-<nanos>-<n>`, where `<start>` is the process's
/// start time (see [`temp_owner_alive`]).
pub(crate) fn unique_name(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}{}.{}-{nanos}-{n}",
        std::process::id(),
        self_start_time()
    )
}

/// The start time of process `pid` (field 22 of `/proc/PID/stat`, clock
/// ticks since boot) and whether it is a zombie; `None` if there is no
/// such process.
fn proc_start_time(pid: u32) -> Option<(u64, bool)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?;
    let start = f.nth(18)?.parse().ok()?;
    Some((start, state == "Z" || state == "X"))
}

/// This process's start time, read once.
fn self_start_time() -> u64 {
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *START.get_or_init(|| proc_start_time(std::process::id()).map_or(0, |(s, _)| s))
}

/// Whether the process that made the temp entry `name` (made by
/// [`unique_name`] with `prefix`) may still be using it: its pid is alive
/// with the recorded start time (a pid used again by another process does
/// not count). `None` when the name is not one of `prefix` (its owner is
/// unknown). Names of older versions (`<pid>-...`) count as alive while
/// any process has that pid.
pub(crate) fn temp_owner_alive(name: &str, prefix: &str) -> Option<bool> {
    let rest = name.strip_prefix(prefix)?;
    let owner = rest.split('-').next()?;
    let (pid, start) = match owner.split_once('.') {
        Some((p, s)) => (p.parse::<u32>().ok()?, Some(s.parse::<u64>().ok()?)),
        None => (owner.parse::<u32>().ok()?, None),
    };
    if pid == 0 {
        return None;
    }
    Some(match proc_start_time(pid) {
        None => false,
        Some((_, true)) => false,
        Some((s, false)) => start.map_or(true, |want| want == s),
    })
}

/// Bytes under `p` (files' sizes, not following links); 0 if unreadable.
pub(crate) fn tree_size(p: &Path) -> u64 {
    let Ok(md) = fs::symlink_metadata(p) else {
        return 0;
    };
    if !md.is_dir() {
        return md.len();
    }
    let mut n = 0;
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            n += tree_size(&e.path());
        }
    }
    n
}

/// Pushes a file being written sequentially towards the disk while it is
/// written, so that the fdatasync that makes it durable at the end (and
/// before the rename that publishes it) finds little left to do:
/// writeback is started every [`Writeback::CHUNK`] bytes (see
/// [`crate::sys::start_writeback`]), and every [`Writeback::SYNC_EVERY`]
/// bytes a background thread fdatasyncs the file. On a virtual disk the
/// flush is what takes long (the host makes the data stable); done at the
/// end only, it left the cores idle for 50-100 ms of a 0.35 s pull.
#[derive(Debug, Default)]
pub(crate) struct Writeback {
    kicked: u64,
    pos: u64,
    synced: u64,
}

impl Writeback {
    /// For a file whose first `pos` bytes were written earlier.
    pub(crate) fn starting_at(pos: u64) -> Writeback {
        Writeback {
            kicked: pos,
            pos,
            synced: pos,
        }
    }

    /// How much dirty data to accumulate before starting its writeback.
    pub(crate) const CHUNK: u64 = 2 << 20;

    /// How much data to write between background fdatasyncs.
    pub(crate) const SYNC_EVERY: u64 = 16 << 20;

    /// `n` more bytes were written to `f` at the end of what came before.
    pub(crate) fn wrote(&mut self, f: &File, n: usize) {
        self.pos += n as u64;
        if self.pos - self.kicked >= Self::CHUNK {
            crate::sys::start_writeback(f, self.kicked, self.pos - self.kicked);
            self.kicked = self.pos;
        }
        if self.pos - self.synced >= Self::SYNC_EVERY {
            background_sync(f);
            self.synced = self.pos;
        }
    }
}

/// Background fdatasyncs done (for tests).
static BACKGROUND_SYNCS: AtomicU64 = AtomicU64::new(0);

/// Queue an fdatasync of `f` (a duplicate of its descriptor) for the
/// process's syncer thread, started on first use. Best effort: when the
/// queue is full (the disk is behind) the request is dropped, and errors
/// are left to the final fdatasync to report.
fn background_sync(f: &File) {
    use std::sync::{mpsc, Mutex, OnceLock};
    static QUEUE: OnceLock<Option<Mutex<mpsc::SyncSender<File>>>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::sync_channel::<File>(8);
        std::thread::Builder::new()
            .name("blob-sync".into())
            .spawn(move || {
                while let Ok(f) = rx.recv() {
                    let _ = f.sync_data();
                    BACKGROUND_SYNCS.fetch_add(1, Ordering::Relaxed);
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    let (Some(queue), Ok(dup)) = (queue, f.try_clone()) else {
        return;
    };
    if let Ok(q) = queue.lock() {
        let _ = q.try_send(dup);
    }
}

/// fsync a directory so a rename or create inside it is durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).ctx(|| format!("open directory {}", dir.display()))?;
    f.sync_all()
        .ctx(|| format!("fsync directory {}", dir.display()))
}

/// Atomically replace `path` with `data`: write a temp file in the same
/// directory, fsync it, rename it over `path`, fsync the directory.
pub(crate) fn atomic_write(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(unique_name(&format!(".{name}.tmp-")));
    let res = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .ctx(|| format!("create {}", tmp.display()))?;
        f.write_all(data)
            .ctx(|| format!("write {}", tmp.display()))?;
        f.sync_all().ctx(|| format!("fsync {}", tmp.display()))?;
        fs::rename(&tmp, path).ctx(|| format!("rename {} to {}", tmp.display(), path.display()))?;
        fsync_dir(dir)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Create a directory and its parents.
pub(crate) fn mkdir_all(p: &Path) -> Result<PathBuf> {
    fs::create_dir_all(p).ctx(|| format!("create directory {}", p.display()))?;
    Ok(p.to_path_buf())
}

/// Creates `p` (and missing parents) and makes it private to its owner
/// (0700), tightening a directory that others can enter: under a store
/// root are image layers with setuid binaries and device nodes, which an
/// unprivileged host user must not reach (CVE-2021-41091).
pub fn private_dir(p: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p)
        .ctx(|| format!("create directory {}", p.display()))?;
    let md = fs::symlink_metadata(p).ctx(|| format!("stat {}", p.display()))?;
    if md.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(p, fs::Permissions::from_mode(0o700))
            .ctx(|| format!("chmod 0700 {}", p.display()))?;
    }
    Ok(p.to_path_buf())
}

/// This boot's id (the kernel's random `boot_id`, trimmed; empty if
/// unreadable), read once.
pub fn boot_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    })
}

/// Seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_tell_whether_their_owner_lives() {
        let mine = unique_name("blob-");
        assert_eq!(temp_owner_alive(&mine, "blob-"), Some(true), "{mine}");
        assert_eq!(temp_owner_alive(&mine, "snap-"), None);
        // The same pid with another start time: a pid used again.
        let other = format!("blob-{}.{}-1-0", std::process::id(), self_start_time() + 1);
        assert_eq!(temp_owner_alive(&other, "blob-"), Some(false));
        // A process that exited.
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        assert_eq!(
            temp_owner_alive(&format!("snap-{pid}.5-1-0"), "snap-"),
            Some(false)
        );
        assert_eq!(
            temp_owner_alive(&format!("snap-{pid}-1-0"), "snap-"),
            Some(false)
        );
        // Names it did not make are not judged.
        assert_eq!(temp_owner_alive("blob-x", "blob-"), None);
        assert_eq!(temp_owner_alive("blob-0.1-2-3", "blob-"), None);
    }

    #[test]
    fn writeback_syncs_in_the_background_as_the_file_grows() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = File::create(dir.path().join("blob")).unwrap();
        let mut wb = Writeback::default();
        let before = BACKGROUND_SYNCS.load(Ordering::Relaxed);
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..(Writeback::SYNC_EVERY >> 20) * 2 + 1 {
            f.write_all(&chunk).unwrap();
            wb.wrote(&f, chunk.len());
        }
        assert_eq!(wb.synced, 2 * Writeback::SYNC_EVERY);
        let t = std::time::Instant::now();
        while BACKGROUND_SYNCS.load(Ordering::Relaxed) < before + 2 {
            assert!(t.elapsed().as_secs() < 30, "no background fdatasync ran");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // A writer resuming a file counts from where it starts.
        let wb = Writeback::starting_at(5 << 20);
        assert_eq!((wb.kicked, wb.pos, wb.synced), (5 << 20, 5 << 20, 5 << 20));
    }
}
