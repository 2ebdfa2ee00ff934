//! The built-in runtime: the `oci_runtime` library, in-process (the
//! code of berth-oci); exec joins the container from the exec helper.

use super::OciRuntime;
use crate::error::{Error, Result};
use crate::{sys, Engine};
use std::os::fd::OwnedFd;
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

    /// Joins the container through the library: the process is forked
    /// as a sibling of the library's intermediate, so the helper's child.
    fn exec_process(
        &self,
        e: &Engine,
        id: &str,
        process: &oci_spec::runtime::Process,
        _log: &Path,
    ) -> Result<(i32, Option<OwnedFd>)> {
        let tty = process.terminal().unwrap_or(false);
        let (mine, theirs) = if tty {
            let (a, b) = sys::socketpair().map_err(|e| Error::io("socketpair", e))?;
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        let pid = oci_runtime::exec::exec(oci_runtime::exec::ExecOptions {
            id: id.to_string(),
            root: e.run_root().to_path_buf(),
            process: process.clone(),
            console: theirs,
            pid_file: None,
            preserve_fds: 0,
        })
        .map_err(Error::from_runtime)?;
        let master = match &mine {
            // Sent before the process ran: already in the socket.
            Some(sock) => match crate::exec_tty::recv_master(sock) {
                Ok(m) => Some(m),
                Err(err) => {
                    let _ = oci_runtime::sys::kill(pid, libc::SIGKILL);
                    let _ = sys::waitpid(pid, false);
                    return Err(err);
                }
            },
            None => None,
        };
        Ok((pid, master))
    }
}
