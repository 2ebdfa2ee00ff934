//! `exec`: a process in a running container, with docker's defaults.

use crate::container::Status;
use crate::error::{Error, Result};
use crate::runtime::{self, ExecStdio, RuntimeExec};
use crate::user::LayerView;
use crate::{fsutil, spec, Engine};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Options of `exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    /// `-e` (added to the container's environment).
    pub env: Vec<String>,
    /// `-u` (default: the container's user).
    pub user: Option<String>,
    /// `-w` (default: the container's working directory).
    pub workdir: Option<String>,
    pub privileged: bool,
    /// `-d`: return once the process runs (exit code 0).
    pub detach: bool,
    /// `-t`: a pty, proxied to the caller's stdin/stdout.
    pub tty: bool,
    /// With `-t`: the pty's size (rows, cols).
    pub console_size: Option<(u16, u16)>,
    /// Where to write the process's host pid once it runs (the
    /// healthcheck kills a probe past its timeout).
    pub pid_file: Option<PathBuf>,
}

impl Engine {
    /// `exec`: runs a process in a running container with docker's defaults
    /// (the container's env, user and working directory); returns its exit
    /// code (0 with `detach` once it runs).
    pub fn exec(&self, container: &str, opts: &ExecOptions, stdio: ExecStdio) -> Result<i32> {
        if opts.cmd.is_empty() {
            return Err(Error::invalid("exec: no command specified"));
        }
        let id = self.lookup(container)?;
        let st = self.state(&id)?;
        match st.status {
            Status::Running => {}
            Status::Paused => {
                return Err(Error::Conflict(format!(
                    "container {id} is paused, unpause the container before exec"
                )))
            }
            _ => return Err(Error::Conflict(format!("container {id} is not running"))),
        }
        let c = self.load_config(&id)?;
        let spec: Value = fsutil::read_json(&self.container_dir(&id).join("bundle/config.json"))?;
        let mut p = spec["process"].clone();
        p["args"] = json!(opts.cmd);
        p["terminal"] = json!(opts.tty && !opts.detach);
        p.as_object_mut().map(|o| o.remove("consoleSize"));
        let rt = runtime::for_container(self, &id);
        if let (true, true, Some((rows, cols))) =
            (rt.sizes_console_from_spec(), opts.tty, opts.console_size)
        {
            // The runtime sizes the pty before the process runs.
            p["consoleSize"] = json!({"height": rows, "width": cols});
        }
        let env = crate::options::parse_env(&opts.env)?;
        let base: Vec<String> = c.process_env.clone();
        p["env"] = json!(spec::replace_or_append_env(&base, &env));
        if let Some(u) = &opts.user {
            let view = LayerView {
                lowers: vec![self.rootfs_path(&id)],
            };
            let eu = crate::user::resolve(u, &[], &view)?;
            p["user"] = json!({"uid": eu.uid, "gid": eu.gid});
            if !eu.additional_gids.is_empty() {
                p["user"]["additionalGids"] = json!(eu.additional_gids);
            }
        }
        if let Some(w) = opts.workdir.as_ref().filter(|w| !w.is_empty()) {
            if !w.starts_with('/') {
                return Err(Error::flag(
                    "--workdir",
                    w,
                    "the working directory needs to be an absolute path",
                ));
            }
            p["cwd"] = json!(w);
        }
        if opts.privileged {
            let all = crate::caps::host_all();
            p["capabilities"] = json!({"bounding": all, "effective": all, "permitted": all});
        }
        let process: oci_spec::runtime::Process =
            serde_json::from_value(p).map_err(|e| Error::msg(format!("exec process: {e}")))?;
        rt.exec(
            self,
            &id,
            RuntimeExec {
                process,
                detach: opts.detach,
                tty: opts.tty,
                console_size: opts.console_size,
                pid_file: opts.pid_file.as_deref(),
                stdio,
            },
        )
    }
}
