//! An external OCI runtime binary (`--runtime`: runc, crun, berth-oci),
//! driven through runc's command line with the engine's run root as
//! `--root`.

use super::OciRuntime;
use crate::error::{Context, Error, Result};
use crate::{fsutil, sys, Engine};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// A runc-compatible binary.
pub(crate) struct External {
    rt: PathBuf,
}

impl External {
    pub(crate) fn new(path: &Path) -> External {
        External {
            rt: path.to_path_buf(),
        }
    }

    /// Runs `RT --root RUN_ROOT ARGS...`; its stdout.
    fn run(&self, e: &Engine, args: &[&str]) -> Result<Vec<u8>> {
        let rt = &self.rt;
        let out = std::process::Command::new(rt)
            .arg("--root")
            .arg(e.run_root())
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .ctx(|| format!("cannot run {}", rt.display()))?;
        if !out.status.success() {
            let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(Error::msg(format!("{} {}: {msg}", rt.display(), args[0])));
        }
        Ok(out.stdout)
    }
}

impl OciRuntime for External {
    fn create_start(
        &self,
        e: &Engine,
        id: &str,
        bundle: &Path,
        _spec: oci_spec::runtime::Spec,
        console: Option<OwnedFd>,
    ) -> Result<i32> {
        external_create_start(e, id, bundle, &self.rt, console)
    }

    fn kill(&self, e: &Engine, id: &str, sig: i32, all: bool) -> Result<()> {
        let s = sig.to_string();
        let mut a = vec!["kill"];
        if all {
            a.push("--all");
        }
        a.extend([id, s.as_str()]);
        self.run(e, &a).map(|_| ())
    }

    fn delete_force(&self, e: &Engine, id: &str) {
        let _ = self.run(e, &["delete", "--force", id]);
    }

    fn pause(&self, e: &Engine, id: &str, on: bool) -> Result<()> {
        self.run(e, &[if on { "pause" } else { "resume" }, id])
            .map(|_| ())
    }

    /// runc's `update --resources FILE ID` (the JSON of the resources).
    fn update(&self, e: &Engine, id: &str, res: &oci_spec::runtime::LinuxResources) -> Result<()> {
        let file = e
            .run_root()
            .join(format!(".update-{id}-{}.json", std::process::id()));
        fsutil::write_json(&file, res)?;
        let path = file.to_string_lossy().into_owned();
        let r = self
            .run(e, &["update", "--resources", &path, id])
            .map(|_| ());
        let _ = std::fs::remove_file(&file);
        r
    }

    fn pids(&self, e: &Engine, id: &str) -> Result<Vec<i32>> {
        let out = self.run(e, &["ps", "--format", "json", id])?;
        serde_json::from_slice(&out).map_err(|e| Error::msg(format!("runtime ps: {e}")))
    }

    fn exec_needs_subreaper(&self) -> bool {
        true
    }

    /// `RT exec --detach`: the runtime starts the process (with our stdio,
    /// or a pty whose master it sends to a console socket of ours) and
    /// exits; the process is re-parented to the helper, a subreaper.
    fn exec_process(
        &self,
        e: &Engine,
        id: &str,
        process: &oci_spec::runtime::Process,
        log: &Path,
    ) -> Result<(i32, Option<OwnedFd>)> {
        let rt = &self.rt;
        let tty = process.terminal().unwrap_or(false);
        let pf = log.with_extension("process.json");
        let pidf = log.with_extension("pid");
        fsutil::write_json_with(&pf, process, fsutil::Durability::Atomic)?;
        let relay = if tty {
            match ConsoleRelay::new(e) {
                Ok(r) => Some(r),
                Err(e) => {
                    let _ = std::fs::remove_file(&pf);
                    return Err(e);
                }
            }
        } else {
            None
        };
        let mut cmd = std::process::Command::new(rt);
        cmd.arg("--root")
            .arg(e.run_root())
            .arg("--log")
            .arg(log)
            .args(["--log-format", "json", "exec", "--detach"]);
        if let Some(r) = &relay {
            cmd.arg("--tty").arg("--console-socket").arg(r.path());
        }
        cmd.arg("--pid-file")
            .arg(&pidf)
            .arg("--process")
            .arg(&pf)
            .arg(id);
        let st = cmd.status().ctx(|| format!("cannot run {}", rt.display()));
        let _ = std::fs::remove_file(&pf);
        let pid = std::fs::read_to_string(&pidf)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        let _ = std::fs::remove_file(&pidf);
        // The runtime's own failure (the process never ran: not found,
        // not executable) is in its log.
        let failure = last_error(log);
        let _ = std::fs::remove_file(log);
        if !st?.success() {
            return Err(crate::error::classify(
                failure.unwrap_or_else(|| format!("{} exec failed", rt.display())),
            ));
        }
        let Some(pid) = pid else {
            return Err(Error::msg(format!(
                "{} exec wrote no pid file",
                rt.display()
            )));
        };
        let master = match &relay {
            Some(r) => Some(r.take_master().inspect_err(|_| {
                // The process runs (re-parented to the helper) but cannot
                // be attached: not left behind.
                let _ = oci_runtime::sys::kill(pid, libc::SIGKILL);
                let _ = sys::waitpid(pid, false);
            })?),
            None => None,
        };
        Ok((pid, master))
    }
}

fn external_create_start(
    engine: &Engine,
    id: &str,
    bundle: &std::path::Path,
    rt: &PathBuf,
    console: Option<OwnedFd>,
) -> Result<i32> {
    // With a tty the runtime gets a console socket path of ours; the
    // master it sends is passed on to the monitor's console socket.
    let relay = match &console {
        Some(_) => Some(ConsoleRelay::new(engine)?),
        None => None,
    };
    let r = external_run(engine, id, bundle, rt, relay.as_ref());
    if let (Ok(_), Some(rel), Some(mon)) = (&r, &relay, &console) {
        if let Err(e) = rel.pass_to(mon) {
            let _ = std::process::Command::new(rt)
                .arg("--root")
                .arg(engine.run_root())
                .args(["delete", "--force", id])
                .status();
            return Err(e);
        }
    }
    r
}

/// A temporary console socket for an external runtime: `s` in a 0700
/// directory of the engine's run root (itself private), the socket 0600,
/// so no other user can connect and take a container's terminal.
pub(crate) struct ConsoleRelay {
    dir: PathBuf,
    listener: std::os::unix::net::UnixListener,
}

impl ConsoleRelay {
    pub(crate) fn new(e: &Engine) -> Result<ConsoleRelay> {
        ConsoleRelay::new_in(e.run_root())
    }

    fn new_in(run_root: &Path) -> Result<ConsoleRelay> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        // A short name: socket paths are limited to 108 bytes.
        let dir = run_root.join(format!("console-{:016x}", fsutil::random_u64()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        let sock = dir.join("s");
        let listener = std::os::unix::net::UnixListener::bind(&sock)
            .and_then(|l| {
                std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))?;
                Ok(l)
            })
            .map_err(|e| {
                let _ = std::fs::remove_dir_all(&dir);
                Error::io(format!("console socket {}", sock.display()), e)
            })?;
        Ok(ConsoleRelay { dir, listener })
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.dir.join("s")
    }

    /// The master the runtime sent (it has returned: no waiting).
    pub(crate) fn take_master(&self) -> Result<OwnedFd> {
        self.listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("console socket", e))?;
        let (conn, _) = self
            .listener
            .accept()
            .map_err(|e| Error::msg(format!("the runtime sent no console: {e}")))?;
        let conn = OwnedFd::from(conn);
        crate::exec_tty::recv_master(&conn)
    }

    /// Takes the master the runtime sent and sends it on to `to`.
    fn pass_to(&self, to: &OwnedFd) -> Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        use std::os::fd::AsRawFd;
        let master = self.take_master()?;
        let fds = [master.as_raw_fd()];
        sendmsg::<()>(
            to.as_raw_fd(),
            &[std::io::IoSlice::new(b"m")],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .map_err(|e| Error::msg(format!("cannot pass the console to the monitor: {e}")))?;
        Ok(())
    }
}

impl Drop for ConsoleRelay {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn external_run(
    engine: &Engine,
    id: &str,
    bundle: &std::path::Path,
    rt: &PathBuf,
    relay: Option<&ConsoleRelay>,
) -> Result<i32> {
    let dir = engine.container_dir(id);
    let pidfile = dir.join("init.pid");
    let logf = dir.join("runtime.log");
    let run = |args: &[&str]| -> Result<()> {
        let out = std::process::Command::new(rt)
            .arg("--root")
            .arg(engine.run_root())
            .arg("--log")
            .arg(&logf)
            .args(["--log-format", "json"])
            .args(args)
            .status()
            .map_err(|e| Error::io(format!("cannot run {}", rt.display()), e))?;
        if out.success() {
            return Ok(());
        }
        let last =
            last_error(&logf).unwrap_or_else(|| format!("{} {} failed", rt.display(), args[0]));
        Err(crate::error::classify(last))
    };
    let b = bundle.to_string_lossy().into_owned();
    let p = pidfile.to_string_lossy().into_owned();
    let cs = relay.map(|r| r.path().to_string_lossy().into_owned());
    match &cs {
        Some(cs) => run(&[
            "create",
            "--bundle",
            &b,
            "--pid-file",
            &p,
            "--console-socket",
            cs,
            id,
        ])?,
        None => run(&["create", "--bundle", &b, "--pid-file", &p, id])?,
    }
    if let Err(e) = run(&["start", id]) {
        let _ = run(&["delete", "--force", id]);
        return Err(e);
    }
    std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Error::msg("the runtime wrote no pid file"))
}

/// The last error-level message of a runtime's JSON log (`--log-format
/// json`: runc, crun, berth-oci); a line that is not JSON, as is.
fn last_error(log: &Path) -> Option<String> {
    let log = std::fs::read_to_string(log).ok()?;
    for l in log.lines().rev().filter(|l| !l.trim().is_empty()) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(l) {
            if matches!(v["level"].as_str(), Some("error" | "fatal")) {
                return v["msg"].as_str().map(String::from);
            }
        } else {
            return Some(l.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// The console socket is the run root's, 0600 in a 0700 directory
    /// (it was a default-mode directory in /tmp), and goes with the relay.
    #[test]
    fn console_socket_is_private() {
        let run = tempfile::tempdir().unwrap();
        let relay = ConsoleRelay::new_in(run.path()).unwrap();
        let sock = relay.path();
        assert!(sock.starts_with(run.path()), "{}", sock.display());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(sock.parent().unwrap()), 0o700);
        assert_eq!(mode(&sock), 0o600);
        let dir = sock.parent().unwrap().to_path_buf();
        drop(relay);
        assert!(!dir.exists());
    }
}
