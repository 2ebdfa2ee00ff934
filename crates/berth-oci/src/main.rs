//! berth-oci: a runc-compatible OCI runtime. This binary only parses the
//! command line; the work is done by the `oci_runtime` library.
#![forbid(unsafe_code)]

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use oci_runtime::create::CreateOptions;
use oci_runtime::exec::ExecOptions;
use oci_runtime::foreground::{self, SignalGuard};
use oci_runtime::state::ContainerState;
use oci_runtime::{ops, sync};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "berth-oci",
    about = "A fast, safe OCI runtime (runc-compatible command line)",
    disable_version_flag = true
)]
struct Cli {
    /// Directory for container state [default: /run/berth-oci; $XDG_RUNTIME_DIR/berth-oci unprivileged].
    #[arg(long, global = true, env = "BERTH_OCI_ROOT")]
    root: Option<PathBuf>,
    /// Log file (errors and, with --debug, debug messages).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
    /// Log debug messages.
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for compatibility: cgroupfs is used where systemd is not PID 1.
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Rootless mode is detected; with `spec`, writes a spec for an unprivileged user.
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "auto")]
    rootless: Option<String>,
    /// Accepted for compatibility; checkpointing is not supported.
    #[arg(long, global = true, hide = true)]
    criu: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Args, Clone)]
struct CreateArgs {
    /// Path to the bundle (the directory holding config.json).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket that receives the pty master of a terminal container.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// File to write the container's pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root (for ramfs roots).
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass N more descriptors (from 3 on) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Container id.
    id: String,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a container (its process waits for `start`).
    Create(CreateArgs),
    /// Start a created container.
    Start { id: String },
    /// Create and start a container; in the foreground, wait for it and exit with its status.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Detach: return once the container runs.
        #[arg(short, long)]
        detach: bool,
        /// Keep the container after it exits.
        #[arg(long)]
        keep: bool,
    },
    /// Print a container's state as JSON.
    State { id: String },
    /// Send a signal to a container's init (default SIGTERM).
    Kill {
        /// Signal every process of the container.
        #[arg(short, long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Delete a container.
    Delete {
        /// Kill it first if it runs.
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// List containers.
    List {
        /// Only print ids.
        #[arg(short, long)]
        quiet: bool,
        /// table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
    },
    /// List the processes of a container.
    Ps {
        /// table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        /// Options for ps(1).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Run a new process in a running container.
    Exec(ExecArgs),
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Change a container's resource limits.
    Update(UpdateArgs),
    /// Print container events (resource usage).
    Events {
        /// Print one stats record and exit.
        #[arg(long)]
        stats: bool,
        /// Interval between stats records, e.g. 5s.
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Write a default config.json.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
    /// Print the runtime-spec features document.
    Features,
    /// Not supported: checkpoint needs CRIU.
    Checkpoint { id: String },
    /// Not supported: restore needs CRIU.
    Restore { id: String },
}

#[derive(Args)]
struct ExecArgs {
    /// process.json describing the process (instead of args).
    #[arg(short, long)]
    process: Option<PathBuf>,
    #[arg(short, long)]
    tty: bool,
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    #[arg(short, long)]
    detach: bool,
    /// KEY=VALUE to add to the environment.
    #[arg(short, long)]
    env: Vec<String>,
    #[arg(long)]
    cwd: Option<String>,
    /// uid[:gid]
    #[arg(short, long)]
    user: Option<String>,
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    /// Capabilities to add.
    #[arg(short, long)]
    cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    #[arg(long)]
    apparmor: Option<String>,
    #[arg(long = "process-label")]
    process_label: Option<String>,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    #[arg(long = "ignore-paused", hide = true)]
    ignore_paused: bool,
    id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Args, Default)]
struct UpdateArgs {
    /// JSON LinuxResources file, or - for stdin.
    #[arg(short, long)]
    resources: Option<String>,
    #[arg(long)]
    memory: Option<String>,
    #[arg(long = "memory-swap")]
    memory_swap: Option<String>,
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<String>,
    #[arg(long = "kernel-memory")]
    kernel_memory: Option<String>,
    #[arg(long = "kernel-memory-tcp")]
    kernel_memory_tcp: Option<String>,
    #[arg(long = "cpu-shares")]
    cpu_shares: Option<u64>,
    #[arg(long = "cpu-quota")]
    cpu_quota: Option<i64>,
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    #[arg(long = "cpu-rt-period")]
    cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime")]
    cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    #[arg(long = "pids-limit")]
    pids_limit: Option<i64>,
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    id: String,
}

fn main() {
    // CVE-2019-5736: a container's init (until it execs) and exec'd processes
    // are copies of this binary. `create` and `exec` therefore run from a
    // read-only copy of it; `run` decides once it has read the config.
    if std::env::args()
        .skip(1)
        .any(|a| a == "create" || a == "exec")
    {
        protect_binary();
    }
    let cli = Cli::parse();
    oci_runtime::log::init(cli.log.as_deref(), cli.log_format == "json", cli.debug);
    match real_main(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let msg = one_line(&e);
            oci_runtime::log::error(&msg);
            std::process::exit(1);
        }
    }
}

/// The error and its causes on one line, skipping a cause whose text the
/// message already holds (library errors include their source).
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if !msg.contains(&c) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&c);
        }
    }
    msg
}

fn real_main(cli: Cli) -> Result<i32> {
    if cli.version {
        println!(
            "berth-oci version {}\nspec: 1.2.0",
            env!("CARGO_PKG_VERSION")
        );
        return Ok(0);
    }
    let root = cli.root.clone().unwrap_or_else(default_root);
    let Some(cmd) = cli.cmd else {
        bail!("no command given (try --help)");
    };
    match cmd {
        Cmd::Create(a) => {
            let console = connect_console(a.console_socket.as_deref())?;
            oci_runtime::create::create(create_opts(&a, &root, console, cli.systemd_cgroup))?;
        }
        Cmd::Start { id } => ops::start(&root, &id)?,
        Cmd::Run {
            create,
            detach,
            keep,
        } => return run(&root, create, detach, keep, cli.systemd_cgroup),
        Cmd::State { id } => {
            let st = ContainerState::load(&root, &id)?;
            let out = st.output(st.status(&root));
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Cmd::Kill { all, id, signal } => {
            let sig = ops::parse_signal(signal.as_deref().unwrap_or("SIGTERM"))?;
            ops::kill(&root, &id, sig, all)?;
        }
        Cmd::Delete { force, id } => ops::delete(&root, &id, force)?,
        Cmd::List { quiet, format } => list(&root, quiet, &format)?,
        Cmd::Ps {
            format,
            id,
            ps_args,
        } => ps(&root, &id, &format, &ps_args)?,
        Cmd::Exec(a) => return exec(&root, a),
        Cmd::Pause { id } => ops::pause(&root, &id)?,
        Cmd::Resume { id } => ops::resume(&root, &id)?,
        Cmd::Update(a) => update(&root, a)?,
        Cmd::Events {
            stats,
            interval,
            id,
        } => events(&root, &id, stats, &interval)?,
        Cmd::Spec { bundle } => {
            // `spec --rootless` (runc's flag) arrives as the global --rootless.
            let spec_rootless = cli.rootless.as_deref().is_some_and(|r| r != "false");
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("{} already exists; remove it first", path.display());
            }
            let v = oci_runtime::spec::default_spec(spec_rootless);
            std::fs::write(&path, serde_json::to_string_pretty(&v)? + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Cmd::Features => println!(
            "{}",
            serde_json::to_string_pretty(&oci_runtime::spec::features())?
        ),
        Cmd::Checkpoint { id } | Cmd::Restore { id } => {
            bail!("container {id:?}: checkpoint/restore is not supported by berth-oci (no CRIU support)")
        }
    }
    Ok(0)
}

fn default_root() -> PathBuf {
    // The effective uid, from /proc (keeps this binary free of unsafe).
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2)?.parse::<u32>().ok())
        })
        .unwrap_or(0);
    if uid == 0 {
        return PathBuf::from("/run/berth-oci");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("berth-oci"),
        _ => PathBuf::from(format!("/tmp/berth-oci-{uid}")),
    }
}

fn protect_binary() {
    if let Err(e) = oci_runtime::sys::reexec_from_sealed_copy() {
        eprintln!("berth-oci: cannot re-execute from a read-only copy: {e}");
        std::process::exit(1);
    }
}

fn create_opts(
    a: &CreateArgs,
    root: &Path,
    console: Option<OwnedFd>,
    systemd: bool,
) -> CreateOptions {
    CreateOptions {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        root: root.to_path_buf(),
        pid_file: a.pid_file.as_ref().map(|p| absolute(p)),
        console,
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        systemd_cgroup: systemd,
        spec: None,
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

fn connect_console(path: Option<&Path>) -> Result<Option<OwnedFd>> {
    path.map(|p| sync::connect(p).map_err(anyhow::Error::from))
        .transpose()
}

/// A socketpair standing in for a console socket: we receive the master ourselves.
fn console_pair() -> Result<(OwnedFd, OwnedFd)> {
    use nix_free::socketpair_stream;
    socketpair_stream()
}

mod nix_free {
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixStream;
    pub fn socketpair_stream() -> anyhow::Result<(OwnedFd, OwnedFd)> {
        let (a, b) = UnixStream::pair()?;
        Ok((OwnedFd::from(a), OwnedFd::from(b)))
    }
}

fn run(root: &Path, a: CreateArgs, detach: bool, keep: bool, systemd: bool) -> Result<i32> {
    let spec = oci_runtime::config::load(&a.bundle)?;
    if oci_runtime::create::run_needs_protected_binary(&spec) {
        protect_binary();
    }
    let spec_terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if detach {
        let console = connect_console(a.console_socket.as_deref())?;
        let mut opts = create_opts(&a, root, console, systemd);
        opts.spec = Some(spec);
        oci_runtime::create::create(opts)?;
        if let Err(e) = ops::start(root, &a.id) {
            let _ = ops::delete(root, &a.id, true);
            return Err(e.into());
        }
        return Ok(0);
    }
    // Foreground: we are init's parent; block signals first so none is lost.
    let guard = SignalGuard::new()?;
    let (console, ours) = if a.console_socket.is_some() {
        (connect_console(a.console_socket.as_deref())?, None)
    } else if spec_terminal {
        let (x, y) = console_pair()?;
        (Some(x), Some(y))
    } else {
        (None, None)
    };
    let mut opts = create_opts(&a, root, console, systemd);
    opts.spec = Some(spec);
    let st = oci_runtime::create::create(opts)?;
    let master = match ours {
        Some(sock) => Some(sync::recv_fd(sock.as_raw_fd())?),
        None => None,
    };
    if let Err(e) = ops::start(root, &a.id) {
        let _ = ops::delete(root, &a.id, true);
        return Err(e.into());
    }
    let code = foreground::wait(st.pid, &guard, master)?;
    if !keep {
        ops::delete(root, &a.id, true)?;
    }
    Ok(code)
}

fn list(root: &Path, quiet: bool, format: &str) -> Result<()> {
    let all = ops::list(root)?;
    if quiet {
        for (st, _) in &all {
            println!("{}", st.id);
        }
        return Ok(());
    }
    match format {
        "json" => {
            let v: Vec<_> = all.iter().map(|(st, s)| st.output(*s)).collect();
            println!("{}", serde_json::to_string(&v)?);
        }
        "table" => {
            println!(
                "{:<20} {:<10} {:<10} {:<40} {:<31} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for (st, s) in &all {
                let pid = if *s == oci_runtime::state::Status::Stopped {
                    0
                } else {
                    st.pid
                };
                println!(
                    "{:<20} {:<10} {:<10} {:<40} {:<31} {}",
                    st.id,
                    pid,
                    s.to_string(),
                    st.bundle.display(),
                    st.created,
                    if st.owner.is_empty() {
                        "root"
                    } else {
                        &st.owner
                    }
                );
            }
        }
        f => bail!("invalid --format {f:?}: use table or json"),
    }
    Ok(())
}

fn ps(root: &Path, id: &str, format: &str, ps_args: &[String]) -> Result<()> {
    let pids = ops::pids(root, id)?;
    match format {
        "json" => {
            println!("{}", serde_json::to_string(&pids)?);
            Ok(())
        }
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .context("cannot run ps")?;
            if !out.status.success() {
                bail!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or("");
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| anyhow!("ps output has no PID column"))?;
            println!("{header}");
            for l in lines {
                if let Some(p) = l
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok())
                {
                    if pids.contains(&p) {
                        println!("{l}");
                    }
                }
            }
            Ok(())
        }
        f => bail!("invalid --format {f:?}: use table or json"),
    }
}

fn exec(root: &Path, a: ExecArgs) -> Result<i32> {
    let st = ContainerState::load(root, &a.id)?;
    let process: oci_spec::runtime::Process = if let Some(p) = &a.process {
        let data = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        oci_runtime::config::parse_process(&data, &p.display().to_string())?
    } else {
        if a.args.is_empty() {
            bail!("exec: no command given");
        }
        let mut p = st.config.process().clone().unwrap_or_default();
        p.set_args(Some(a.args.clone()));
        p.set_terminal(Some(a.tty));
        p.set_console_size(None);
        let mut env = p.env().clone().unwrap_or_default();
        for e in &a.env {
            if !e.contains('=') {
                bail!("exec: --env {e:?}: not of the form KEY=VALUE");
            }
            let k = e.split('=').next().unwrap_or("");
            env.retain(|x| x.split('=').next() != Some(k));
            env.push(e.clone());
        }
        p.set_env(Some(env));
        if let Some(c) = &a.cwd {
            p.set_cwd(PathBuf::from(c));
        }
        let mut user = p.user().clone();
        if let Some(u) = &a.user {
            let (uid, gid) = match u.split_once(':') {
                Some((u, g)) => (u.parse()?, g.parse()?),
                None => (u.parse()?, 0),
            };
            user.set_uid(uid);
            user.set_gid(gid);
        }
        if !a.additional_gids.is_empty() {
            user.set_additional_gids(Some(a.additional_gids.clone()));
        }
        p.set_user(user);
        if !a.cap.is_empty() {
            let mut caps = p.capabilities().clone().unwrap_or_default();
            let add: Vec<oci_spec::runtime::Capability> = a
                .cap
                .iter()
                .map(|c| {
                    serde_json::from_value(serde_json::Value::String(c.clone()))
                        .map_err(|_| anyhow!("exec: unknown capability {c:?}"))
                })
                .collect::<Result<_>>()?;
            for set in [
                caps.bounding().clone(),
                caps.effective().clone(),
                caps.permitted().clone(),
                caps.ambient().clone(),
            ]
            .iter()
            .enumerate()
            {
                let mut s = set.1.clone().unwrap_or_default();
                s.extend(add.iter().copied());
                match set.0 {
                    0 => caps.set_bounding(Some(s)),
                    1 => caps.set_effective(Some(s)),
                    2 => caps.set_permitted(Some(s)),
                    _ => caps.set_ambient(Some(s)),
                };
            }
            p.set_capabilities(Some(caps));
        }
        if a.no_new_privs {
            p.set_no_new_privileges(Some(true));
        }
        if let Some(ap) = &a.apparmor {
            p.set_apparmor_profile(Some(ap.clone()));
        }
        if let Some(l) = &a.process_label {
            p.set_selinux_label(Some(l.clone()));
        }
        p
    };
    let terminal = process.terminal().unwrap_or(false);
    let guard = if a.detach {
        None
    } else {
        Some(SignalGuard::new()?)
    };
    let (console, ours) = if a.console_socket.is_some() {
        (connect_console(a.console_socket.as_deref())?, None)
    } else if terminal {
        if a.detach {
            bail!("exec: --tty with --detach needs --console-socket");
        }
        let (x, y) = console_pair()?;
        (Some(x), Some(y))
    } else {
        (None, None)
    };
    let pid = oci_runtime::exec::exec(ExecOptions {
        id: a.id.clone(),
        root: root.to_path_buf(),
        process,
        console,
        pid_file: a.pid_file.as_ref().map(|p| absolute(p)),
        preserve_fds: a.preserve_fds,
    })?;
    let Some(guard) = guard else { return Ok(0) };
    let master = match ours {
        Some(sock) => Some(sync::recv_fd(sock.as_raw_fd())?),
        None => None,
    };
    Ok(foreground::wait(pid, &guard, master)?)
}

/// runc update's memory values: `-1` (unlimited) or go-units'
/// `RAMInBytes` (`100m`, `1G`, `512k`, plain bytes).
fn parse_size(s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    berth_util::size::ram_in_bytes(s).map_err(|e| anyhow!("invalid size {s:?}: {e}"))
}

fn update(root: &Path, a: UpdateArgs) -> Result<()> {
    let mut v: serde_json::Value = match a.resources.as_deref() {
        Some("-") => serde_json::from_reader(std::io::stdin())
            .context("--resources -: invalid JSON on stdin")?,
        Some(f) => {
            serde_json::from_slice(&std::fs::read(f).with_context(|| format!("cannot read {f}"))?)
                .with_context(|| format!("{f}: invalid resources JSON"))?
        }
        None => serde_json::json!({}),
    };
    let mut set = |path: &[&str], val: serde_json::Value| {
        let mut cur = &mut v;
        for (i, k) in path.iter().enumerate() {
            if i == path.len() - 1 {
                cur[*k] = val.clone();
            } else {
                if !cur.get(*k).is_some_and(|x| x.is_object()) {
                    cur[*k] = serde_json::json!({});
                }
                cur = &mut cur[*k];
            }
        }
    };
    if let Some(m) = &a.memory {
        set(&["memory", "limit"], parse_size(m)?.into());
    }
    if let Some(m) = &a.memory_swap {
        set(&["memory", "swap"], parse_size(m)?.into());
    }
    if let Some(m) = &a.memory_reservation {
        set(&["memory", "reservation"], parse_size(m)?.into());
    }
    if let Some(m) = &a.kernel_memory {
        set(&["memory", "kernel"], parse_size(m)?.into());
    }
    if let Some(m) = &a.kernel_memory_tcp {
        set(&["memory", "kernelTCP"], parse_size(m)?.into());
    }
    if let Some(x) = a.cpu_shares {
        set(&["cpu", "shares"], x.into());
    }
    if let Some(x) = a.cpu_quota {
        set(&["cpu", "quota"], x.into());
    }
    if let Some(x) = a.cpu_period {
        set(&["cpu", "period"], x.into());
    }
    if let Some(x) = a.cpu_rt_period {
        set(&["cpu", "realtimePeriod"], x.into());
    }
    if let Some(x) = a.cpu_rt_runtime {
        set(&["cpu", "realtimeRuntime"], x.into());
    }
    if let Some(x) = &a.cpuset_cpus {
        set(&["cpu", "cpus"], x.clone().into());
    }
    if let Some(x) = &a.cpuset_mems {
        set(&["cpu", "mems"], x.clone().into());
    }
    if let Some(x) = a.pids_limit {
        set(&["pids", "limit"], x.into());
    }
    if let Some(x) = a.blkio_weight {
        set(&["blockIO", "weight"], x.into());
    }
    let res: oci_spec::runtime::LinuxResources =
        serde_json::from_value(v).context("invalid resources")?;
    ops::update(root, &a.id, &res)?;
    Ok(())
}

fn events(root: &Path, id: &str, once: bool, interval: &str) -> Result<()> {
    // runc's --interval is a Go duration.
    let every = berth_util::duration::parse(interval).ok_or_else(|| {
        anyhow!("invalid --interval {interval:?}: expected a duration such as 5s")
    })?;
    loop {
        let st = ContainerState::load(root, id)?;
        if st.status(root) == oci_runtime::state::Status::Stopped {
            if once {
                bail!("container {id:?} is not running");
            }
            return Ok(());
        }
        println!("{}", ops::stats(root, id)?);
        if once {
            return Ok(());
        }
        std::thread::sleep(every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("1k").unwrap(), 1024);
        assert_eq!(parse_size("2M").unwrap(), 2 << 20);
        assert_eq!(parse_size("-1").unwrap(), -1);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn cli_parses_runc_style() {
        Cli::try_parse_from([
            "berth-oci",
            "--root",
            "/r",
            "--log",
            "/l",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "id",
        ])
        .unwrap();
        Cli::try_parse_from([
            "berth-oci",
            "exec",
            "--process",
            "/p.json",
            "--detach",
            "--pid-file",
            "/x",
            "id",
        ])
        .unwrap();
        Cli::try_parse_from(["berth-oci", "exec", "-t", "id", "sh", "-c", "ls -l"]).unwrap();
        Cli::try_parse_from(["berth-oci", "kill", "--all", "id", "KILL"]).unwrap();
        Cli::try_parse_from(["berth-oci", "--systemd-cgroup", "delete", "--force", "id"]).unwrap();
    }
}
