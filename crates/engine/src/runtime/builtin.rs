//! The built-in runtime: the `oci_runtime` library, in-process (the
//! code of berth-oci), with exec in a forked helper that joins the
//! container.

use super::{OciRuntime, RuntimeExec};
use crate::error::{Error, Result};
use crate::{sys, Engine};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// The `oci_runtime` library.
pub(crate) struct Builtin;

impl OciRuntime for Builtin {
    fn create_start(
        &self,
        e: &Engine,
        id: &str,
        bundle: &Path,
        spec: oci_spec::runtime::Spec,
        console: Option<OwnedFd>,
    ) -> Result<i32> {
        let st = oci_runtime::create::create(oci_runtime::create::CreateOptions {
            id: id.to_string(),
            bundle: bundle.to_path_buf(),
            root: e.run_root().to_path_buf(),
            pid_file: None,
            console,
            no_pivot: false,
            no_new_keyring: false,
            preserve_fds: 0,
            systemd_cgroup: false,
            spec: Some(spec),
        })?;
        if let Err(err) = oci_runtime::ops::start(e.run_root(), id) {
            let _ = oci_runtime::ops::delete(e.run_root(), id, true);
            return Err(err.into());
        }
        Ok(st.pid)
    }

    fn kill(&self, e: &Engine, id: &str, sig: i32, all: bool) -> Result<()> {
        Ok(oci_runtime::ops::kill(e.run_root(), id, sig, all)?)
    }

    fn delete_force(&self, e: &Engine, id: &str) {
        let _ = oci_runtime::ops::delete(e.run_root(), id, true);
    }

    fn pause(&self, e: &Engine, id: &str, on: bool) -> Result<()> {
        if on {
            Ok(oci_runtime::ops::pause(e.run_root(), id)?)
        } else {
            Ok(oci_runtime::ops::resume(e.run_root(), id)?)
        }
    }

    fn update(&self, e: &Engine, id: &str, res: &oci_spec::runtime::LinuxResources) -> Result<()> {
        Ok(oci_runtime::ops::update(e.run_root(), id, res)?)
    }

    fn pids(&self, e: &Engine, id: &str) -> Result<Vec<i32>> {
        Ok(oci_runtime::ops::pids(e.run_root(), id)?)
    }

    /// Forks a helper that joins the container through the library and
    /// reports on a pipe; with a pty, the master comes back over a socket
    /// and is proxied here.
    fn exec(&self, e: &Engine, id: &str, x: RuntimeExec) -> Result<i32> {
        let RuntimeExec {
            process,
            detach,
            tty,
            console_size,
            pid_file,
            stdio,
        } = x;
        let tty = tty && !detach;
        let (rep_r, rep_w) = sys::pipe().map_err(|e| Error::io("pipe", e))?;
        let (con_mine, con_theirs) = if tty {
            let (a, b) = sys::socketpair().map_err(|e| Error::io("socketpair", e))?;
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        let fds = [
            stdio.stdin.as_ref().map(|f| f.as_raw_fd()),
            stdio.stdout.as_ref().map(|f| f.as_raw_fd()),
            stdio.stderr.as_ref().map(|f| f.as_raw_fd()),
        ];
        let run_root = e.run_root().to_path_buf();
        match sys::fork().map_err(|e| Error::io("fork", e))? {
            sys::Forked::Child => {
                // Move the report pipe and the given descriptors above 2 first.
                let mut keep = vec![rep_w.as_raw_fd()];
                keep.extend(fds.iter().flatten());
                keep.extend(con_theirs.as_ref().map(|c| c.as_raw_fd()));
                sys::close_fds_except(&keep);
                let devnull = std::fs::File::open("/dev/null").ok();
                for (i, f) in fds.iter().enumerate() {
                    match f {
                        Some(fd) => {
                            let _ = sys::dup_to(*fd, i as i32);
                        }
                        None if i == 0 && detach => {
                            if let Some(n) = &devnull {
                                let _ = sys::dup_to(n.as_raw_fd(), 0);
                            }
                        }
                        None => {}
                    }
                }
                let r = oci_runtime::exec::exec(oci_runtime::exec::ExecOptions {
                    id: id.to_string(),
                    root: run_root,
                    process,
                    console: con_theirs,
                    pid_file: pid_file.map(Path::to_path_buf),
                    preserve_fds: 0,
                });
                let code = match r {
                    Ok(pid) => {
                        let _ = nix::unistd::write(&rep_w, b"ok\n");
                        if detach {
                            0
                        } else {
                            match sys::waitpid(pid, false) {
                                Ok(Some((_, s))) => sys::exit_code(s),
                                _ => 255,
                            }
                        }
                    }
                    Err(e) => {
                        let _ = nix::unistd::write(&rep_w, format!("{e}\n").as_bytes());
                        125
                    }
                };
                sys::exit_now(code)
            }
            sys::Forked::Parent(pid) => {
                drop(rep_w);
                drop(con_theirs);
                let super::ExecStdio {
                    stdin,
                    stdout,
                    stderr,
                } = stdio;
                let pump = stdin.is_none();
                drop(stdin);
                drop(stderr);
                let mut line = String::new();
                let _ = std::io::BufRead::read_line(
                    &mut std::io::BufReader::new(std::fs::File::from(rep_r)),
                    &mut line,
                );
                let line = line.trim();
                if line == "ok" {
                    if let Some(sock) = &con_mine {
                        match crate::exec_tty::recv_master(sock) {
                            Ok(m) => {
                                let mut out: Box<dyn Write> = match stdout {
                                    Some(f) => Box::new(std::fs::File::from(f)),
                                    None => Box::new(std::io::stdout()),
                                };
                                crate::exec_tty::proxy(m, console_size, pump, &mut out);
                            }
                            Err(e) => {
                                let _ = oci_runtime::sys::kill(pid, libc::SIGKILL);
                                let _ = sys::waitpid(pid, false);
                                return Err(e);
                            }
                        }
                    }
                }
                let status = sys::waitpid(pid, false)
                    .map_err(|e| Error::io("waitpid", e))?
                    .map(|(_, s)| sys::exit_code(s))
                    .unwrap_or(255);
                if line != "ok" {
                    if line.is_empty() {
                        return Err(Error::msg("exec: the helper process died"));
                    }
                    return Err(crate::error::classify(line.to_string()));
                }
                Ok(status)
            }
        }
    }
}
