//! RUN `--mount=type=secret` and `type=ssh` as BuildKit's dockerfile
//! frontend makes them, and what a RUN's mounts hold while it runs.
//!
//! - A secret is written to a file of a private (0700) temp dir of the
//!   store with the mount's mode (default 0400) and owner, bind-mounted
//!   read-only at its target (default `/run/secrets/<id>`), and removed
//!   when the step ends; `env=` passes its value in the step's environment
//!   only. Neither the value nor the file reach the layer, the history or
//!   the step's cache key (BuildKit keys a secret mount by its id).
//! - An ssh mount is a socket of the step's own (mode 0600 by default,
//!   owner from `uid`/`gid`) whose connections a thread forwards to the
//!   agent socket given with `--ssh`; the first one's target is the step's
//!   `SSH_AUTH_SOCK`.
//! - The mount points a RUN's mounts make in the container's root (the
//!   target and its missing parents) are stubs: BuildKit removes them, so
//!   they leave the layer (`rewrite::rewrite_layer`).

use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::SecretSource;

/// BuildKit's size limit of a secret (`MaxSecretSize`).
const MAX_SECRET: u64 = 500 * 1024;

/// What a RUN's mounts hold until the step's container is gone.
#[derive(Default)]
pub(crate) struct Held {
    /// First: a proxy's socket is in one of `dirs` (fields drop in order).
    pub proxies: Vec<SshProxy>,
    pub locks: Vec<berth_util::lock::FileLock>,
    pub dirs: Vec<tempfile::TempDir>,
    /// Mount points the step's mounts create in the root (clean, without
    /// the leading slash), parents first.
    pub stubs: Vec<String>,
}

/// The value of secret `id`, None when the build was given none.
pub(crate) fn secret_value(
    secrets: &std::collections::BTreeMap<String, SecretSource>,
    id: &str,
) -> Result<Option<Vec<u8>>, String> {
    match secrets.get(id) {
        None => Ok(None),
        Some(SecretSource::Value(v)) => Ok(Some(v.clone())),
        Some(SecretSource::File(p)) => {
            let md = std::fs::metadata(p)
                .map_err(|e| format!("secret {id}: failed to stat {}: {e}", p.display()))?;
            if md.len() > MAX_SECRET {
                return Err(format!("secret {id} too big. max size 500KB"));
            }
            std::fs::read(p)
                .map(Some)
                .map_err(|e| format!("secret {id}: read {}: {e}", p.display()))
        }
    }
}

/// Writes `value` as file `name` of `dir` with `mode` and owner.
pub(crate) fn secret_file(
    dir: &Path,
    name: &str,
    value: &[u8],
    mode: u32,
    owner: (u32, u32),
) -> io::Result<PathBuf> {
    let p = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&p)?;
    f.write_all(value)?;
    drop(f);
    std::os::unix::fs::chown(&p, Some(owner.0), Some(owner.1))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode & 0o7777))?;
    Ok(p)
}

/// A socket of one RUN step forwarding to an ssh agent.
pub(crate) struct SshProxy {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SshProxy {
    /// Listens on `dir/name` (mode and owner set) and forwards each
    /// connection to `agent`.
    pub fn start(
        dir: &Path,
        name: &str,
        agent: &Path,
        mode: u32,
        owner: (u32, u32),
    ) -> io::Result<SshProxy> {
        let path = dir.join(name);
        let l = UnixListener::bind(&path)?;
        std::os::unix::fs::chown(&path, Some(owner.0), Some(owner.1))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777))?;
        let stop = Arc::new(AtomicBool::new(false));
        let agent = agent.to_path_buf();
        let st = stop.clone();
        let thread = std::thread::Builder::new()
            .name("build-ssh".into())
            .spawn(move || {
                for c in l.incoming() {
                    if st.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(c) = c else { continue };
                    let agent = agent.clone();
                    let _ = std::thread::Builder::new()
                        .name("build-ssh-conn".into())
                        .spawn(move || forward(c, &agent));
                }
            })?;
        Ok(SshProxy {
            path,
            stop,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Copies both ways between `c` and a new connection to `agent` until
/// either side closes.
fn forward(c: UnixStream, agent: &Path) {
    let Ok(a) = UnixStream::connect(agent) else {
        return;
    };
    let (Ok(c2), Ok(a2)) = (c.try_clone(), a.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || pipe(c2, a2));
    pipe(a, c);
    let _ = up.join();
}

fn pipe(mut from: UnixStream, mut to: UnixStream) {
    let mut buf = [0u8; 16 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
    let _ = from.shutdown(std::net::Shutdown::Read);
}

impl Drop for SshProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop (if the socket is gone, the thread is left
        // blocked rather than this waiting for ever).
        if UnixStream::connect(&self.path).is_ok() {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Unpacks `archive` (a copy out of an image) into the empty directory
/// `dst`, refusing device nodes: a mount's files are the image's plain
/// files, never a host device.
pub(crate) fn unpack_plain(mut archive: std::fs::File, dst: &Path) -> Result<(), String> {
    use std::io::Seek;
    {
        let mut a = tar::Archive::new(&mut archive);
        for e in a.entries().map_err(|e| e.to_string())? {
            let e = e.map_err(|e| e.to_string())?;
            let t = e.header().entry_type();
            if t.is_block_special() || t.is_character_special() {
                let p = e.path().map_err(|e| e.to_string())?;
                return Err(format!("{}: device nodes cannot be mounted", p.display()));
            }
        }
    }
    archive.rewind().map_err(|e| e.to_string())?;
    let mut a = tar::Archive::new(archive);
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(true);
    a.unpack(dst).map_err(|e| e.to_string())
}

/// Refuses `p` unless it is a directory or a regular file itself (not a
/// symlink, a device, a fifo or a socket) at its own canonical path: what
/// a bind mount of `p` then mounts is `p`, not something a link points
/// to. Checked right before the mount is handed to the runtime.
pub(crate) fn check_plain(p: &Path) -> Result<(), String> {
    let md = std::fs::symlink_metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if !(md.is_dir() || md.is_file()) {
        return Err("not a directory or a regular file in the image".into());
    }
    let canon = |q: &Path| {
        q.canonicalize()
            .map_err(|e| format!("{}: {e}", q.display()))
    };
    let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
        return Err(format!("{}: not a mount source", p.display()));
    };
    if canon(p)? != canon(parent)?.join(name) {
        return Err(format!("{} resolves elsewhere", p.display()));
    }
    Ok(())
}

/// Sets the mode and owner of directory or file `p` through a descriptor
/// opened with O_NOFOLLOW (fchmod, fchown): a symlink at `p` is refused,
/// never followed.
pub(crate) fn set_mode_owner(p: &Path, mode: u32, owner: (u32, u32)) -> io::Result<()> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(p)?;
    let md = f.metadata()?;
    if !(md.is_dir() || md.is_file()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a directory or a regular file", p.display()),
        ));
    }
    f.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))?;
    std::os::unix::fs::fchown(&f, Some(owner.0), Some(owner.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The proxy forwards to a real agent: `ssh-add -l` through it lists
    /// the key added to the agent.
    #[test]
    fn ssh_proxy_forwards_to_the_agent() {
        let have = |b: &str| {
            std::process::Command::new(b)
                .arg("-h")
                .stderr(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .status()
                .is_ok()
        };
        if !have("ssh-agent") || !have("ssh-add") || !have("ssh-keygen") {
            eprintln!("skipped: no ssh-agent");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let sock = t.path().join("agent");
        let o = std::process::Command::new("ssh-agent")
            .arg("-a")
            .arg(&sock)
            .arg("-s")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let pid = out
            .split(';')
            .find_map(|f| f.trim().strip_prefix("SSH_AGENT_PID="))
            .unwrap()
            .to_string();
        struct Kill(String);
        impl Drop for Kill {
            fn drop(&mut self) {
                let _ = std::process::Command::new("kill").arg(&self.0).status();
            }
        }
        let _k = Kill(pid);
        let key = t.path().join("id");
        assert!(std::process::Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "berth-proxy-test",
                "-f"
            ])
            .arg(&key)
            .status()
            .unwrap()
            .success());
        assert!(std::process::Command::new("ssh-add")
            .arg(&key)
            .env("SSH_AUTH_SOCK", &sock)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success());
        let p = SshProxy::start(t.path(), "proxy", &sock, 0o600, (0, 0)).unwrap();
        let mode = std::fs::metadata(p.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        for _ in 0..2 {
            let o = std::process::Command::new("ssh-add")
                .arg("-l")
                .env("SSH_AUTH_SOCK", p.path())
                .output()
                .unwrap();
            let l = String::from_utf8_lossy(&o.stdout);
            assert!(l.contains("berth-proxy-test"), "{l}");
        }
        let path = p.path().to_path_buf();
        drop(p);
        assert!(!path.exists(), "the socket goes with the proxy");
    }
}
