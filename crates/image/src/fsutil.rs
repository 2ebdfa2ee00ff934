//! Small filesystem helpers of the image store: background writeback of
//! blobs, private directories, the boot id. Atomic writes, temp names and
//! locks are berth_util's.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{IoContext, Result};

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
                // A long-lived helper thread must never take a process
                // signal: callers that wait for SIGINT/SIGTERM with
                // sigwait (attached `run`, `compose up`) block them in
                // their own threads, and a signal delivered here instead
                // would kill the process with its default action.
                use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
                let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None);
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
    use std::io::Write;

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

    #[test]
    fn the_sync_thread_takes_no_process_signal() {
        let dir = tempfile::tempdir().unwrap();
        let f = File::create(dir.path().join("blob")).unwrap();
        background_sync(&f);
        let t = std::time::Instant::now();
        loop {
            // The thread blocks its signals as it starts: find it and
            // read its mask (the standard signals 1-31, SIGKILL/SIGSTOP
            // aside; glibc keeps 32 and 33 for itself).
            let mask = fs::read_dir("/proc/self/task").unwrap().find_map(|e| {
                let task = e.unwrap().path();
                let comm = fs::read_to_string(task.join("comm")).unwrap_or_default();
                (comm.trim() == "blob-sync").then(|| {
                    let status = fs::read_to_string(task.join("status")).unwrap();
                    let line = status.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
                    u64::from_str_radix(line[7..].trim(), 16).unwrap()
                })
            });
            let want = 0x7fff_ffffu64 & !(1 << 8) & !(1 << 18); // SIGKILL (9), SIGSTOP (19)
            if mask.is_some_and(|m| m & want == want) {
                break;
            }
            assert!(
                t.elapsed().as_secs() < 30,
                "blob-sync thread mask {mask:x?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
