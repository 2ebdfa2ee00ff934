//! Container verbs: run, create, start, stop, kill, restart, rm, ps, logs,
//! exec, inspect, wait, top, pause, unpause, rename, container prune. The
//! work is done by the `engine` library; this only maps flags and prints.

use std::io::Write;
use std::os::fd::OwnedFd;

use ::engine::{
    CreateFlags, CreateOptions, Engine, ExecConfig, ExecStartOptions, ExecStdio, LogsOptions,
    Summary,
};
use serde_json::{json, Value};

use super::images::confirm;
use super::{out, out_raw, CmdResult};
use crate::cli::{
    AttachArgs, ContainerPruneArgs, ContainersArgs, ExecArgs, InspectArgs, KillArgs, LogsArgs,
    PsArgs, PullArgs, RegistryArgs, RenameArgs, RmArgs, RunArgs, StartArgs, StopArgs, TopArgs,
    UpdateArgs,
};
use crate::error::CliError;
use crate::fmt::{go_time, parse_rfc3339, since, tabwrite_lines};
use crate::Globals;

/// An engine error for `run`/`create`/`start -a`: docker's exit codes
/// (125 engine, 126 cannot invoke, 127 not found).
fn run_err(e: ::engine::Error) -> CliError {
    let code = e.exit_code().clamp(1, 255) as u8;
    let mut c = CliError::new(e.to_string());
    c.code = code;
    c
}

/// An engine error for the other verbs: 1, but 125 for a bad flag value.
pub(super) fn op_err(e: ::engine::Error) -> CliError {
    match e {
        ::engine::Error::InvalidArgument(m) => CliError::daemon(m),
        e => CliError::new(e.to_string()),
    }
}

/// The flags of `run`/`create`, parsed by the engine's parsers.
fn create_options(a: &RunArgs) -> Result<CreateOptions, CliError> {
    // IMAGE takes hyphen values (for the command's own flags after it), so
    // an unknown flag before it arrives here, as docker's message.
    if let Some(f) = a.args.first().filter(|f| f.starts_with('-') && f.len() > 1) {
        return Err(CliError::daemon(format!(
            "unknown flag: {}",
            f.split('=').next().unwrap_or(f)
        )));
    }
    let image = a.args[0].clone();
    let flags = CreateFlags {
        image,
        name: a.name.clone(),
        cmd: a.args[1..].to_vec(),
        entrypoint: a.entrypoint.clone(),
        env: a.env.clone(),
        env_file: a.env_file.clone(),
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        group_add: a.group_add.clone(),
        hostname: a.hostname.clone(),
        labels: a.label.clone(),
        privileged: a.privileged,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        security_opt: a.security_opt.clone(),
        read_only: a.read_only,
        memory: a.memory.clone(),
        memory_swap: a.memory_swap.clone(),
        cpus: a.cpus.clone(),
        pids_limit: a.pids_limit,
        memory_reservation: a.memory_reservation.clone(),
        cpu_shares: a.cpu_shares,
        cpuset_cpus: a.cpuset_cpus.clone(),
        cpuset_mems: a.cpuset_mems.clone(),
        devices: a.device.clone(),
        device_cgroup_rules: a.device_cgroup_rule.clone(),
        pid: a.pid.clone(),
        ipc: a.ipc.clone(),
        userns: a.userns.clone(),
        sysctls: a.sysctl.clone(),
        links: a.link.clone(),
        volumes_from: a.volumes_from.clone(),
        ulimits: a.ulimit.clone(),
        volumes: a.volume.clone(),
        mounts: a.mount.clone(),
        tmpfs: a.tmpfs.clone(),
        shm_size: a.shm_size.clone(),
        add_hosts: a.add_host.clone(),
        dns: a.dns.clone(),
        dns_search: a.dns_search.clone(),
        dns_options: a.dns_option.clone(),
        network: a.network.clone(),
        publish: a.publish.clone(),
        publish_all: a.publish_all,
        expose: a.expose.clone(),
        network_aliases: a.network_alias.clone(),
        ip: a.ip.clone(),
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        restart: a.restart.clone(),
        auto_remove: a.rm,
        tty: a.tty,
        interactive: a.interactive,
        console_size: if a.tty {
            crate::term::size(1).or_else(|| crate::term::size(0))
        } else {
            None
        },
        runtime: a.runtime.clone(),
        log_config: ::engine::logs::LogConfig::from_flags(a.log_driver.as_deref(), &a.log_opt)
            .map_err(op_err)?,
        init: a.init,
        health: ::engine::health::HealthFlags {
            cmd: a.health_cmd.clone(),
            interval: a.health_interval.clone(),
            timeout: a.health_timeout.clone(),
            retries: a.health_retries,
            start_period: a.health_start_period.clone(),
            start_interval: a.health_start_interval.clone(),
            disable: a.no_healthcheck,
        },
    };
    flags.parse().map_err(run_err)
}

/// Pull the image first when it is not in the store (`--pull missing`),
/// or always; as docker, the pull output goes to stderr.
fn ensure_image(g: &Globals, a: &RunArgs) -> CmdResult {
    let name = &a.args[0];
    let store = g.store()?;
    let policy = a.pull.parse().map_err(op_err)?;
    match ::engine::images::pull_decision(&store, name, policy) {
        Ok(::engine::images::PullDecision::UseLocal) => return Ok(()),
        Ok(::engine::images::PullDecision::Pull { reference, missing }) => {
            if missing {
                eprintln!("Unable to find image '{}' locally", reference.familiar());
            }
        }
        Err(::engine::Error::Image(image::Error::Reference(e))) => {
            return Err(CliError::daemon(crate::error::reference_message(&e)))
        }
        Err(::engine::Error::Image(e)) => {
            return Err(CliError::daemon(crate::error::image_message(&e)))
        }
        Err(e) => return Err(CliError::daemon(e.to_string())),
    }
    let pa = PullArgs {
        platform: a.platform.clone(),
        quiet: a.quiet,
        registry: RegistryArgs {
            tls_verify: true,
            authfile: None,
            cert_dir: None,
        },
        image: name.clone(),
    };
    super::transfer::pull_for_run(g, pa).map_err(|mut e| {
        e.code = crate::EXIT_USAGE;
        e
    })
}

/// docker's `--sig-proxy`: while attached, SIGINT, SIGTERM, SIGHUP and
/// SIGQUIT sent to berth go to the container; with a tty, SIGWINCH sends
/// the new size. Called once the monitor is started (it must not inherit
/// the blocked mask).
fn proxy_signals(eng: &Engine, id: &str, proxy: bool, resize: Option<::engine::Resizer>) {
    let mut sigs = vec![];
    if proxy {
        sigs.extend([libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT]);
    }
    if resize.is_some() {
        sigs.push(libc::SIGWINCH);
    }
    if sigs.is_empty() {
        return;
    }
    let mut set = nix::sys::signal::SigSet::empty();
    for s in &sigs {
        if let Ok(sig) = nix::sys::signal::Signal::try_from(*s) {
            set.add(sig);
        }
    }
    if set.thread_block().is_err() {
        return;
    }
    let eng = eng.clone();
    let id = id.to_string();
    std::thread::spawn(move || loop {
        let Ok(sig) = set.wait() else {
            return;
        };
        let sig = sig as libc::c_int;
        if sig == libc::SIGWINCH {
            if let (Some(r), Some((rows, cols))) = (resize.as_ref(), crate::term::size(1)) {
                let _ = r.resize(rows, cols);
            }
            continue;
        }
        if proxy {
            let _ = eng.kill(&id, Some(&sig.to_string()));
        }
    });
}

/// How a caller is attached.
struct Interact {
    /// Our stdin goes to the container's.
    stdin: bool,
    sig_proxy: bool,
}

/// `--detach-keys` checked by the engine's rule (docker's syntax).
fn detach_keys(flag: Option<&str>) -> Result<(), CliError> {
    ::engine::stream::parse_detach_keys(flag)
        .map(|_| ())
        .map_err(|e| CliError::new(e.to_string()))
}

/// Copies our stdin to the process until EOF (then closes its stdin as
/// the engine decides); the detach keys (the engine watches for them with
/// a tty) restore the terminal and exit 0, the process goes on.
fn pump_stdin(mut input: ::engine::StdinWriter, saved: Option<crate::term::Saved>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            // Unbuffered: keystrokes go as they come.
            let n = match crate::term::read_stdin(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            match input.send(&buf[..n]) {
                Ok(::engine::Sent::Sent) => {}
                Ok(::engine::Sent::Detached) => {
                    if let Some(s) = &saved {
                        crate::term::restore(s);
                    }
                    std::process::exit(0);
                }
                Err(_) => return,
            }
        }
        let _ = input.close();
    });
}

/// Our terminal's size (stdout's, else stdin's).
fn term_size() -> Option<(u16, u16)> {
    crate::term::size(1).or_else(|| crate::term::size(0))
}

/// Attached: stdin, signals, terminal, output; the container's status.
fn interact(eng: &Engine, mut att: ::engine::Attached, how: Interact) -> CmdResult {
    use ::engine::OutputStream;
    let tty = att.tty();
    let saved = if tty && how.stdin {
        crate::term::make_raw(0)
    } else {
        None
    };
    let resize = if tty {
        let r = att.resizer();
        if let Some((rows, cols)) = term_size() {
            let _ = r.resize(rows, cols);
        }
        Some(r)
    } else {
        None
    };
    proxy_signals(eng, att.id(), how.sig_proxy, resize);
    if how.stdin {
        if let Some(w) = att.take_stdin() {
            pump_stdin(w, saved);
        }
    }
    let r = relay(att);
    if let Some(s) = &saved {
        crate::term::restore(s);
    }
    r
}

/// The attached output: when the reader of our stdout/stderr is gone
/// (`berth run IMG yes | head -1`), exit as a client killed by SIGPIPE
/// would (the container goes on, as with docker).
struct Relay<W: Write>(W);

impl<W: Write> Write for Relay<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self.0.write(b) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(141),
            r => r,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(141),
            r => r,
        }
    }
}

/// Relay an attached container's output; its exit status.
fn relay(att: ::engine::Attached) -> CmdResult {
    let mut so = Relay(std::io::stdout());
    let mut se = Relay(std::io::stderr());
    let code = att
        .copy_output_and_wait(&mut so, &mut se)
        .map_err(run_err)?;
    let _ = so.flush();
    if code == 0 {
        Ok(())
    } else {
        Err(CliError::silent(code.clamp(0, 255) as u8))
    }
}

pub fn run(g: &Globals, a: RunArgs) -> CmdResult {
    // The container's cgroup attach, ~8 ms from now, finds the kernel's
    // lock ready instead of waiting an RCU grace period for it.
    ::engine::prime_cgroup_attach();
    let opts = create_options(&a)?;
    // As other bad flag values of run: exit 125, nothing created.
    detach_keys(a.detach_keys.as_deref()).map_err(|e| CliError::daemon(e.msg))?;
    ensure_image(g, &a)?;
    let eng = g.engine()?;
    if a.detach {
        let id = eng.run_detached(&opts).map_err(run_err)?;
        return out(&id);
    }
    let mut att = eng.run(&opts).map_err(run_err)?;
    att.set_detach_keys(a.detach_keys.as_deref())
        .map_err(run_err)?;
    interact(
        &eng,
        att,
        Interact {
            stdin: a.interactive,
            sig_proxy: true,
        },
    )
}

pub fn create(g: &Globals, a: RunArgs) -> CmdResult {
    let opts = create_options(&a)?;
    ensure_image(g, &a)?;
    let eng = g.engine()?;
    let id = eng.create(&opts).map_err(run_err)?;
    out(&id)
}

/// Apply `f` to each container, printing its name as given on success;
/// errors are printed, the last one decides the exit status.
fn each(names: &[String], mut f: impl FnMut(&str) -> Result<(), CliError>) -> CmdResult {
    let mut last: Option<CliError> = None;
    for n in names {
        match f(n) {
            Ok(()) => out(n)?,
            Err(e) => {
                if let Some(p) = last.take() {
                    eprintln!("berth: {}", p.msg);
                }
                last = Some(e);
            }
        }
    }
    match last {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

pub fn start(g: &Globals, a: StartArgs) -> CmdResult {
    ::engine::prime_cgroup_attach();
    let eng = g.engine()?;
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(CliError::new(
                "you cannot start and attach multiple containers at once",
            ));
        }
        detach_keys(a.detach_keys.as_deref())?;
        let mut att = eng.start_attached(&a.containers[0]).map_err(run_err)?;
        att.set_detach_keys(a.detach_keys.as_deref())
            .map_err(run_err)?;
        return interact(
            &eng,
            att,
            Interact {
                stdin: a.interactive,
                sig_proxy: true,
            },
        );
    }
    each(&a.containers, |c| eng.start(c).map_err(op_err))
}

pub fn stop(g: &Globals, a: StopArgs) -> CmdResult {
    let eng = g.engine()?;
    each(&a.containers, |c| eng.stop(c, a.time).map_err(op_err))
}

pub fn restart(g: &Globals, a: StopArgs) -> CmdResult {
    ::engine::prime_cgroup_attach();
    let eng = g.engine()?;
    each(&a.containers, |c| eng.restart(c, a.time).map_err(op_err))
}

pub fn kill(g: &Globals, a: KillArgs) -> CmdResult {
    let eng = g.engine()?;
    if let Some(s) = &a.signal {
        ::engine::options::parse_signal("--signal", s).map_err(op_err)?;
    }
    each(&a.containers, |c| {
        eng.kill(c, a.signal.as_deref()).map_err(op_err)
    })
}

pub fn rm(g: &Globals, a: RmArgs) -> CmdResult {
    if a.link {
        return Err(CliError::daemon("invalid --link: links are not supported"));
    }
    let eng = g.engine()?;
    each(&a.containers, |c| {
        if a.volumes {
            eng.remove_with_volumes(c, a.force).map_err(op_err)
        } else {
            eng.remove(c, a.force).map_err(op_err)
        }
    })
}

pub fn pause(g: &Globals, a: ContainersArgs) -> CmdResult {
    let eng = g.engine()?;
    each(&a.containers, |c| eng.pause(c).map_err(op_err))
}

pub fn unpause(g: &Globals, a: ContainersArgs) -> CmdResult {
    let eng = g.engine()?;
    each(&a.containers, |c| eng.unpause(c).map_err(op_err))
}

pub fn wait(g: &Globals, a: ContainersArgs) -> CmdResult {
    let eng = g.engine()?;
    let mut last: Option<CliError> = None;
    for c in &a.containers {
        match eng.wait(c) {
            Ok(code) => out(&code.to_string())?,
            Err(e) => {
                if let Some(p) = last.take() {
                    eprintln!("berth: {}", p.msg);
                }
                last = Some(op_err(e));
            }
        }
    }
    match last {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

pub fn attach(g: &Globals, a: AttachArgs) -> CmdResult {
    detach_keys(a.detach_keys.as_deref())?;
    let eng = g.engine()?;
    let opts = ::engine::AttachOptions {
        stdin: !a.no_stdin,
        detach_keys: a.detach_keys.clone(),
        ..Default::default()
    };
    let att = eng.attach_stream(&a.container, &opts).map_err(op_err)?;
    interact(
        &eng,
        att,
        Interact {
            stdin: !a.no_stdin,
            sig_proxy: a.sig_proxy,
        },
    )
}

pub fn rename(g: &Globals, a: RenameArgs) -> CmdResult {
    let eng = g.engine()?;
    eng.rename(&a.container, &a.new_name).map_err(op_err)
}

/// `update`: the flags as the engine's typed request; the name of each
/// container updated.
pub fn update(g: &Globals, a: UpdateArgs) -> CmdResult {
    let opts = ::engine::UpdateFlags {
        memory: a.memory,
        memory_swap: a.memory_swap,
        memory_reservation: a.memory_reservation,
        cpus: a.cpus,
        cpu_shares: a.cpu_shares,
        cpuset_cpus: a.cpuset_cpus,
        pids_limit: a.pids_limit,
        restart: a.restart,
    }
    .parse()
    .map_err(op_err)?;
    let eng = g.engine()?;
    each(&a.containers, |c| {
        eng.update(c, &opts).map(|_| ()).map_err(op_err)
    })
}

pub fn top(g: &Globals, a: TopArgs) -> CmdResult {
    let eng = g.engine()?;
    let t = eng
        .top_with(&a.container, &a.ps_args.join(" "))
        .map_err(op_err)?;
    let mut lines = vec![t.titles.join("\t")];
    for p in &t.processes {
        lines.push(p.join("\t"));
    }
    out_raw(&tabwrite_lines(&lines))
}

pub fn prune(g: &Globals, a: ContainerPruneArgs) -> CmdResult {
    let filters = ::engine::filters::Filters::parse_cli(&a.filter)
        .map(|f| ::engine::PruneOptions::new(false, f))
        .and_then(|o| o.containers())
        .map_err(op_err)?;
    if !a.force {
        eprintln!("WARNING! This will remove all stopped containers.");
        if !confirm("Are you sure you want to continue?") {
            return Ok(());
        }
    }
    let eng = g.engine()?;
    let mut r = eng.prune_containers_with(&filters).map_err(op_err)?;
    if !r.containers_deleted.is_empty() {
        out("Deleted Containers:")?;
        for id in &r.containers_deleted {
            out(id)?;
        }
        out("")?;
    }
    out(&format!(
        "Total reclaimed space: {}",
        crate::fmt::human_size(r.space_reclaimed)
    ))?;
    let Some(last) = r.errors.pop() else {
        return Ok(());
    };
    for e in r.errors {
        eprintln!("berth: {e}");
    }
    Err(op_err(last))
}

pub fn logs(g: &Globals, a: LogsArgs) -> CmdResult {
    let tail = ::engine::logs::parse_tail(&a.tail).map_err(op_err)?;
    let opts = LogsOptions {
        follow: a.follow,
        tail,
        timestamps: a.timestamps,
        since: ::engine::logs::time_arg(a.since.as_deref()),
        until: ::engine::logs::time_arg(a.until.as_deref()),
        details: a.details,
        stdout: false,
        stderr: false,
    };
    let eng = g.engine()?;
    let mut so = std::io::stdout().lock();
    let mut se = std::io::stderr();
    let r = eng.logs(&a.container, &opts, &mut so, &mut se);
    let _ = so.flush();
    r.map_err(op_err)
}

/// A duplicate of one of our descriptors, for a process to use directly.
fn dup_fd(fd: i32) -> Result<OwnedFd, CliError> {
    use std::os::fd::AsFd;
    let r = match fd {
        0 => std::io::stdin().as_fd().try_clone_to_owned(),
        1 => std::io::stdout().as_fd().try_clone_to_owned(),
        _ => std::io::stderr().as_fd().try_clone_to_owned(),
    };
    r.map_err(|e| CliError::new(format!("cannot duplicate descriptor {fd}: {e}")))
}

/// `exec`: docker's exec (create, start). Without a tty the process uses
/// our descriptors directly (nothing copied: as fast as before streams);
/// with one, the engine's stream drives our terminal.
pub fn exec(g: &Globals, a: ExecArgs) -> CmdResult {
    use ::engine::OutputStream;
    ::engine::reexec_sealed().map_err(|e| CliError::daemon(e.to_string()))?;
    ::engine::prime_cgroup_attach();
    let mut env = ::engine::options::read_env_files(&a.env_file).map_err(op_err)?;
    env.extend(a.env.iter().cloned());
    let tty = a.tty && !a.detach;
    let cfg = ExecConfig {
        cmd: a.args[1..].to_vec(),
        env,
        user: a.user.clone().unwrap_or_default(),
        working_dir: a.workdir.clone().unwrap_or_default(),
        privileged: a.privileged,
        detach: a.detach,
        tty: a.tty,
        attach_stdin: a.interactive && !a.detach,
        attach_stdout: !a.detach,
        attach_stderr: !a.detach,
        detach_keys: a.detach_keys.clone().unwrap_or_default(),
        console_size: if a.tty {
            term_size().map(|(r, c)| [r, c])
        } else {
            None
        },
    };
    let err = |e: ::engine::Error| match e {
        ::engine::Error::NoSuchContainer(_) | ::engine::Error::Conflict(_) => {
            CliError::new(e.to_string())
        }
        e => run_err(e),
    };
    // Sealed (above) and single-threaded but for the cgroup prime, which
    // holds no lock: the exec helper is forked from us, no program start.
    let eng = g.engine()?.with_inline_exec_helper(true);
    let code = if !tty {
        // Create and start in one (one record write fewer).
        let stdio = ExecStdio {
            stdin: if cfg.attach_stdin {
                Some(dup_fd(0)?)
            } else {
                None
            },
            stdout: if a.detach { None } else { Some(dup_fd(1)?) },
            stderr: if a.detach { None } else { Some(dup_fd(2)?) },
        };
        let _ = std::io::stdout().flush();
        eng.exec(&a.args[0], &cfg, stdio).map_err(err)?
    } else {
        let id = eng.exec_create(&a.args[0], &cfg).map_err(err)?;
        let start = ExecStartOptions {
            detach: a.detach,
            console_size: None,
        };
        let mut s = eng
            .exec_start(&id, &start, ::engine::ExecIo::Streams)
            .map_err(err)?;
        let saved = if a.interactive {
            crate::term::make_raw(0)
        } else {
            None
        };
        proxy_signals(&eng, "", false, Some(s.resizer()));
        if let Some(w) = s.take_stdin() {
            pump_stdin(w, saved);
        }
        let mut so = Relay(std::io::stdout());
        let mut se = Relay(std::io::stderr());
        let r = s.copy_output(&mut so, &mut se);
        let _ = so.flush();
        let code = s.wait();
        if let Some(t) = &saved {
            crate::term::restore(t);
        }
        r.map_err(|e| CliError::new(format!("exec: {e}")))?;
        code.map_err(err)?
    };
    if code == 0 {
        Ok(())
    } else {
        Err(CliError::silent(code.clamp(0, 255) as u8))
    }
}

// ---- inspect ------------------------------------------------------------

/// `inspect [--type T] [--size]`: the engine finds each object (docker's
/// order: container, image, network, volume).
pub fn inspect(g: &Globals, a: InspectArgs) -> CmdResult {
    let template = super::inspect_template(a.format.as_deref())?;
    let kind = match a.r#type.as_deref() {
        Some(t) => Some(t.parse::<::engine::ObjectKind>().map_err(op_err)?),
        None => None,
    };
    let eng = g.engine()?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &a.images {
        match eng.inspect_object(name, kind, a.size) {
            Ok(v) => found.push(v),
            Err(::engine::Error::Image(e)) => errors.push(crate::error::image_message(&e)),
            Err(e) => errors.push(e.to_string()),
        }
    }
    // The JSON array keeps docker's field order (the structs'); a template
    // reads the objects as JSON values.
    if template.is_none() {
        out(&super::images::pretty(&found))?;
        return super::finish_inspect(errors);
    }
    let mut values = Vec::new();
    for v in &found {
        values.push(serde_json::to_value(v).map_err(|e| CliError::new(format!("inspect: {e}")))?);
    }
    super::print_inspect(&values, template.as_ref(), errors)
}

// ---- ps -------------------------------------------------------------------

/// docker's column titles of `ps` (its `ContainerContext` header).
const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Names", "NAMES"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Networks", "NETWORKS"),
    // docker has no title for its `Label` method (the header stops there).
    ("Label", "LABEL"),
];

const PS_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// Docker's `Ellipsis`: at most `max` characters, the last one `…`.
pub(super) fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// docker's PORTS column: `0.0.0.0:8080->80/tcp, 443/tcp`.
pub(super) fn ports_text(ports: &[::engine::Port]) -> String {
    ports
        .iter()
        .map(|p| {
            if p.public_port == 0 {
                format!("{}/{}", p.private_port, p.kind)
            } else {
                format!("{}:{}->{}/{}", p.ip, p.public_port, p.private_port, p.kind)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Docker's SIZE column: `12.3kB (virtual 4.26MB)`.
fn size_text(rw: u64, rootfs: u64) -> String {
    let srw = crate::fmt::human_size(rw);
    if rootfs > 0 {
        format!("{srw} (virtual {})", crate::fmt::human_size(rootfs))
    } else {
        srw
    }
}

pub(super) fn row_value(s: &Summary, no_trunc: bool) -> Value {
    let id = if no_trunc {
        s.id.clone()
    } else {
        ::engine::fsutil::short_id(&s.id).to_string()
    };
    let command = if no_trunc {
        s.command.clone()
    } else {
        ellipsis(&s.command, 20)
    };
    let created = parse_rfc3339(&s.created);
    let labels = s
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let state = serde_json::to_value(s.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    json!({
        "Command": serde_json::to_string(&command).unwrap_or_default(),
        "CreatedAt": created.map(go_time).unwrap_or_default(),
        "ID": id,
        "Image": s.image,
        "Labels": labels,
        // For `{{.Label "k"}}` (dropped from `--format json`).
        "Label": s.labels,
        "LocalVolumes": s.local_volumes.to_string(),
        "Mounts": s
            .mounts
            .iter()
            .map(|m| if no_trunc { m.clone() } else { ellipsis(m, 15) })
            .collect::<Vec<_>>()
            .join(","),
        "Names": s.names,
        "Networks": s.networks.join(","),
        "Ports": ports_text(&s.ports),
        "RunningFor": since(created),
        "Size": match (s.size_rw, s.size_root_fs) {
            (Some(rw), Some(rootfs)) => size_text(rw, rootfs),
            _ => "0B".to_string(),
        },
        "State": state,
        "Status": s.status,
    })
}

pub fn ps(g: &Globals, a: PsArgs) -> CmdResult {
    let filters = ::engine::filters::Filters::parse_cli(&a.filter).map_err(op_err)?;
    let default = if a.size {
        format!("{PS_TABLE}\t{{{{.Size}}}}")
    } else {
        PS_TABLE.to_string()
    };
    let format = super::list_format(a.format.as_deref(), &default)?;
    // As docker's CLI: sizes are computed with --size or when the
    // template mentions .Size.
    let want_size =
        a.size || matches!(&format, super::ListFormat::Template(f) if f.contains(".Size"));
    let opts = ::engine::ListOptions {
        all: a.all,
        limit: if a.latest {
            Some(1)
        } else {
            a.last.filter(|n| *n >= 0).map(|n| n as usize)
        },
        size: want_size && !a.quiet,
        filters,
    };
    let eng = g.engine()?;
    let list = eng.ps(&opts).map_err(op_err)?;
    if a.quiet {
        let mut s = String::new();
        for c in &list {
            s.push_str(row_value(c, a.no_trunc)["ID"].as_str().unwrap_or_default());
            s.push('\n');
        }
        return out_raw(&s);
    }
    let rows: Vec<Value> = list
        .iter()
        .map(|c| {
            let mut v = row_value(c, a.no_trunc);
            if let (super::ListFormat::Json, Some(o)) = (&format, v.as_object_mut()) {
                o.remove("Label");
            }
            v
        })
        .collect();
    super::print_list(&format, PS_HEADERS, &rows)
}

/// Check an engine root can be opened (used by `Globals::engine`).
pub fn open_engine(root: &std::path::Path) -> Result<Engine, CliError> {
    let eng = Engine::open(root).map_err(|e| {
        CliError::daemon(format!(
            "cannot open the container store at {}: {e}",
            root.display()
        ))
    })?;
    // berth-monitor and berth-init are found next to berth; the monitor
    // runs `berth internal ...` (this program).
    Ok(eng)
}
