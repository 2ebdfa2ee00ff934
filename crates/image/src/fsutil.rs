//! Small filesystem helpers: durable atomic writes and unique temp names.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{IoContext, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique to this process and call: `<prefix><pid>-<nanos>-<n>`.
pub(crate) fn unique_name(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}-{nanos}-{n}", std::process::id())
}

/// Starts writeback of a file being written sequentially every
/// [`Writeback::CHUNK`] bytes (see [`crate::sys::start_writeback`]), so
/// that the final fsync overlaps with the download or unpack instead of
/// following it. Durability still comes from the fsync/syncfs before the
/// rename that publishes the file.
#[derive(Debug, Default)]
pub(crate) struct Writeback {
    kicked: u64,
    pos: u64,
}

impl Writeback {
    /// For a file whose first `pos` bytes were written earlier.
    pub(crate) fn starting_at(pos: u64) -> Writeback {
        Writeback { kicked: pos, pos }
    }

    /// How much dirty data to accumulate before starting its writeback.
    pub(crate) const CHUNK: u64 = 2 << 20;

    /// `n` more bytes were written to `f` at the end of what came before.
    pub(crate) fn wrote(&mut self, f: &File, n: usize) {
        self.pos += n as u64;
        if self.pos - self.kicked >= Self::CHUNK {
            crate::sys::start_writeback(f, self.kicked, self.pos - self.kicked);
            self.kicked = self.pos;
        }
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
