//! `exec`: a new process in a running container's namespaces and cgroup.

use crate::create::setup_console;
use crate::error::{Context, Error, Result};
use crate::namespaces::{self, proc_name};
use crate::state::{ContainerState, Status};
use crate::sync::{Channel, Msg};
use crate::{process, sys};
use oci_spec::runtime::{LinuxNamespaceType, Process};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub struct ExecOptions {
    pub id: String,
    pub root: PathBuf,
    pub process: Process,
    pub console: Option<OwnedFd>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
}

/// Starts the process; returns its pid (a child of the caller) once it has
/// exec'd.
pub fn exec(opts: ExecOptions) -> Result<i32> {
    let st = ContainerState::load(&opts.root, &opts.id)?;
    match st.status(&opts.root) {
        Status::Running => {}
        s => {
            return Err(Error::msg(format!(
                "cannot exec in container {:?}: it is {s}",
                opts.id
            )))
        }
    }
    if opts.process.terminal().unwrap_or(false) && opts.console.is_none() {
        return Err(Error::msg(
            "process.terminal is set, but no console socket was given",
        ));
    }
    crate::config::validate_process(&opts.process)?;
    if let Some(s) = st
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        crate::seccomp::prepare(s, Some(&opts.root.join(crate::seccomp::CACHE_DIR)))?;
    }
    let (parent_ch, child_ch) = Channel::pair()?;
    let child = match sys::fork().ctx(|| "fork")? {
        sys::Forked::Child => {
            drop(parent_ch);
            let code = match exec_child(&st, &opts, &child_ch) {
                Ok(()) => 0,
                Err(e) => {
                    let _ = child_ch.send(&Msg::Error(e.to_string()));
                    1
                }
            };
            sys::exit_now(code);
        }
        sys::Forked::Parent(p) => p,
    };
    drop(child_ch);
    let fail = |pids: &[i32]| {
        for p in pids {
            let _ = sys::kill(*p, libc::SIGKILL);
            let _ = sys::waitpid(*p, false);
        }
    };
    if let Some(cg) = &st.cgroup {
        if let Err(e) = cg.apply(child) {
            fail(&[child]);
            return Err(e.into());
        }
    }
    parent_ch.send(&Msg::Go)?;
    // The intermediate process sends the pid and exits; the process itself
    // sends Ready. They share the channel and race: under load Ready can
    // arrive first, so read until both are in.
    let mut pid = 0;
    let mut ready = false;
    while pid == 0 || !ready {
        let got = parent_ch.recv();
        match got {
            Ok(Some(Msg::Pid(p))) if p > 0 => pid = p,
            Ok(Some(Msg::Ready)) => ready = true,
            _ => {
                fail(
                    &[pid, child]
                        .iter()
                        .copied()
                        .filter(|p| *p > 0)
                        .collect::<Vec<_>>(),
                );
                return Err(match got {
                    Ok(Some(Msg::Error(e))) => Error::Msg(e),
                    Err(e) => e,
                    _ => Error::msg("exec: the process exited during setup"),
                });
            }
        }
    }
    let _ = sys::waitpid(child, false);
    // The channel is close-on-exec: end of file means the process has
    // exec'd (or died); a message means execve failed.
    if let Ok(Some(Msg::Error(e))) = parent_ch.recv() {
        let _ = sys::waitpid(pid, false);
        return Err(Error::Msg(e));
    }
    if let Some(pf) = &opts.pid_file {
        berth_util::fs::write_atomic_with(pf, pid.to_string().as_bytes(), crate::state::WRITES)?;
    }
    Ok(pid)
}

fn same_ns(pid: i32, name: &str) -> bool {
    let a = std::fs::metadata(format!("/proc/{pid}/ns/{name}"));
    let b = std::fs::metadata(format!("/proc/self/ns/{name}"));
    matches!((a, b), (Ok(a), Ok(b)) if a.ino() == b.ino() && a.dev() == b.dev())
}

fn exec_child(st: &ContainerState, opts: &ExecOptions, ch: &Channel) -> Result<()> {
    sys::clean_signals();
    // This process is the runtime's binary until it execs (CVE-2019-5736).
    sys::set_dumpable(false).ctx(|| "prctl(PR_SET_DUMPABLE)")?;
    sys::set_parent_death_signal(libc::SIGKILL).ctx(|| "prctl(PR_SET_PDEATHSIG)")?;
    match ch.recv()? {
        Some(Msg::Go) => {}
        _ => return Err(Error::msg("runtime went away")),
    }
    let notify_sock = process::connect_listener(
        st.config
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref()),
    )?;
    let mut types: Vec<LinuxNamespaceType> = st
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
        .iter()
        .map(|n| n.typ())
        .collect();
    types.sort_by_key(|t| match t {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Mount => 2,
        _ => 1,
    });
    let mut fds = Vec::new();
    for t in types {
        let name = proc_name(t);
        if same_ns(st.pid, name) {
            continue;
        }
        let p = format!("/proc/{}/ns/{name}", st.pid);
        let f = std::fs::File::open(&p).ctx(|| format!("cannot open {p}"))?;
        fds.push((t, OwnedFd::from(f)));
    }
    for (t, fd) in &fds {
        namespaces::setns(*t, fd)?;
    }
    drop(fds);
    match sys::fork_sibling().ctx(|| "fork")? {
        sys::Forked::Parent(p) => {
            ch.send(&Msg::Pid(p))?;
            sys::exit_now(0);
        }
        sys::Forked::Child => {}
    }
    nix::unistd::setsid().ctx(|| "setsid")?;
    if opts.process.terminal().unwrap_or(false) {
        setup_console(opts.console.as_ref(), &opts.process, false)?;
    }
    let _ = nix::unistd::chdir(Path::new("/"));
    let prep = process::prepare(&opts.process, opts.preserve_fds)?;
    let seccomp = st.config.linux().as_ref().and_then(|l| l.seccomp().clone());
    let notify = notify_sock.map(|sock| process::NotifyTarget {
        sock,
        state: st.hook_state(Status::Running),
    });
    process::drop_privileges(&opts.process, &prep, seccomp.as_ref(), notify.as_ref())?;
    sys::set_parent_death_signal(0).ctx(|| "prctl(PR_SET_PDEATHSIG)")?;
    ch.send(&Msg::Ready)?;
    let e = process::exec(
        &opts.process,
        prep,
        seccomp.as_ref(),
        notify.as_ref(),
        opts.preserve_fds,
    );
    let _ = ch.send(&Msg::Error(e.to_string()));
    sys::exit_now(127);
}
