//! `berth compose`: docker compose v2's command line over the
//! `berth-compose` loader and the `berth-compose-run` runner (which holds
//! every compose rule); this module parses flags into the runner's typed
//! requests and prints what it returns.

use berth_compose::{LoadOptions, Project};
use berth_compose_run::{BuildMode, Compose, ContainerRow, DownOptions, Event, UpOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::{Arc, Mutex};

use super::CmdResult;
use crate::cli::compose::{self as c, ComposeArgs, ComposeCommand, ConfigArgs};
use crate::error::CliError;
use crate::Globals;

pub fn run(g: &Globals, a: ComposeArgs) -> CmdResult {
    super::compose_progress::init(super::compose_progress::Mode::parse(&a.progress)?);
    let r = run_command(g, a);
    super::compose_progress::finish();
    r
}

fn run_command(g: &Globals, a: ComposeArgs) -> CmdResult {
    let color = match a.ansi.as_str() {
        "always" => true,
        "never" => false,
        "auto" => crate::stdout_is_tty(),
        v => {
            return Err(CliError::new(format!(
                "invalid --ansi {v:?}: expected never, always or auto"
            )))
        }
    };
    let mut opts = LoadOptions::from_process();
    opts.files = a.files;
    opts.project_directory = a.project_directory;
    opts.project_name = a.project_name;
    opts.env_files = a.env_files;
    opts.profiles = a.profiles;
    opts.enable_services = named_services(&a.command);
    match a.command {
        ComposeCommand::Config(c) => config(g, opts, c),
        ComposeCommand::Ls(a) => ls(g, a),
        ComposeCommand::Version(a) => super::compose_cmds::version(a),
        cmd => {
            let compose = Compose::new(g.engine()?, load(&opts)?);
            match cmd {
                ComposeCommand::Up(a) => up(g, &compose, a, color),
                ComposeCommand::Down(a) => down(&compose, a),
                ComposeCommand::Ps(a) => ps(&compose, a),
                ComposeCommand::Logs(a) => logs(&compose, a, color),
                ComposeCommand::Exec(a) => exec(g, &compose, a),
                ComposeCommand::Start(a) => {
                    compose.start(&a.services, &mut print_event).map_err(rerr)
                }
                ComposeCommand::Stop(a) => compose
                    .stop(&a.services, a.timeout, &mut print_event)
                    .map_err(rerr),
                ComposeCommand::Restart(a) => compose
                    .restart(&a.services, a.timeout, &mut print_event)
                    .map_err(rerr),
                ComposeCommand::Kill(a) => compose
                    .kill(&a.services, &a.signal, &mut print_event)
                    .map_err(rerr),
                ComposeCommand::Rm(a) => rm(&compose, a),
                ComposeCommand::Pause(a) => {
                    each(&compose, &a.services, "Paused", |e, id| e.pause(id))
                }
                ComposeCommand::Unpause(a) => {
                    each(&compose, &a.services, "Unpaused", |e, id| e.unpause(id))
                }
                ComposeCommand::Top(a) => top(&compose, a),
                ComposeCommand::Port(a) => port(&compose, a),
                ComposeCommand::Images(a) => images(&compose, a),
                ComposeCommand::Run(a) => run_oneoff(g, &compose, a),
                ComposeCommand::Pull(a) => super::compose_cmds::pull(g, &compose, a),
                ComposeCommand::Push(a) => super::compose_cmds::push(g, &compose, a),
                ComposeCommand::Create(a) => super::compose_cmds::create(g, &compose, a),
                ComposeCommand::Wait(a) => super::compose_cmds::wait(&compose, a),
                ComposeCommand::Cp(a) => super::compose_cmds::cp(&compose, a),
                ComposeCommand::Events(a) => super::compose_cmds::events(&compose, a),
                ComposeCommand::Build(a) => build(g, &compose, a),
                ComposeCommand::Watch(a) => watch(g, &compose, a),
                ComposeCommand::Config(_) | ComposeCommand::Ls(_) | ComposeCommand::Version(_) => {
                    unreachable!()
                }
            }
        }
    }
}

/// The services a command names: compose v2 enables their profiles
/// (`ToProject(..., services)`, `projectOrName(..., services...)`); `exec`
/// and `cp` load no project there.
fn named_services(cmd: &ComposeCommand) -> Vec<String> {
    use ComposeCommand as C;
    match cmd {
        C::Up(a) => a.services.clone(),
        C::Logs(a) => a.services.clone(),
        C::Start(a) | C::Pause(a) | C::Unpause(a) | C::Top(a) => a.services.clone(),
        C::Stop(a) | C::Restart(a) => a.services.clone(),
        C::Kill(a) => a.services.clone(),
        C::Rm(a) => a.services.clone(),
        C::Images(a) => a.services.clone(),
        C::Run(a) => a.args.first().cloned().into_iter().collect(),
        C::Port(a) => vec![a.service.clone()],
        C::Pull(a) => a.services.clone(),
        C::Push(a) => a.services.clone(),
        C::Create(a) => a.services.clone(),
        C::Wait(a) => a.services.clone(),
        C::Events(a) => a.services.clone(),
        C::Build(a) => a.services.clone(),
        C::Watch(a) => a.services.clone(),
        C::Ps(a) => a.service_names.clone(),
        C::Config(_) | C::Ls(_) | C::Version(_) | C::Down(_) | C::Cp(_) | C::Exec(_) => Vec::new(),
    }
}

pub(crate) fn rerr(e: berth_compose_run::Error) -> CliError {
    CliError::new(e.to_string())
}

/// docker compose's progress lines (on stderr, as `--progress` says).
pub(crate) fn print_event(e: Event) {
    super::compose_progress::event(e)
}

fn ev(r: &ContainerRow, status: &str) -> Event {
    Event {
        kind: "Container",
        name: r.summary.names.clone(),
        status: status.into(),
    }
}

fn running(compose: &Compose, services: &[String]) -> Result<Vec<ContainerRow>, CliError> {
    Ok(compose
        .targets(services, None)
        .map_err(rerr)?
        .into_iter()
        .filter(|r| r.summary.state == ::engine::Status::Running)
        .collect())
}

/// An engine operation on each container of the services.
fn each(
    compose: &Compose,
    services: &[String],
    done: &str,
    f: impl Fn(&::engine::Engine, &str) -> ::engine::Result<()>,
) -> CmdResult {
    for r in compose.targets(services, None).map_err(rerr)? {
        if done == "Started" {
            // restart: compose's `Restarting`, then `Started`
            print_event(ev(&r, "Restarting"));
        }
        f(&compose.engine, &r.summary.id)
            .map_err(|e| CliError::new(format!("{}: {e}", r.summary.names)))?;
        print_event(ev(&r, done));
    }
    Ok(())
}

/// The CLI's registry client for the runner's pulls.
pub(crate) struct CliPuller<'a>(pub(crate) &'a Globals);

impl berth_compose_run::Puller for CliPuller<'_> {
    fn pull(&self, image: &str) -> Result<(), String> {
        let pa = crate::cli::PullArgs {
            platform: None,
            quiet: false,
            registry: crate::cli::RegistryArgs {
                tls_verify: true,
                authfile: None,
                cert_dir: None,
            },
            image: image.to_string(),
        };
        super::transfer::pull_for_run(self.0, pa).map_err(|e| e.msg)
    }
}

/// `--scale SERVICE=N` flags.
pub(crate) fn parse_scale(flags: &[String]) -> Result<BTreeMap<String, usize>, CliError> {
    let mut scale = BTreeMap::new();
    for s in flags {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| CliError::new(format!("invalid --scale {s:?}: expected SERVICE=NUM")))?;
        let n: usize = v
            .parse()
            .map_err(|_| CliError::new(format!("invalid --scale {s:?}: {v:?} is not a number")))?;
        scale.insert(k.to_string(), n);
    }
    Ok(scale)
}

/// `up`'s flag rules, as compose's validateFlags (with `--wait` implying
/// detached mode) and its --watch/--no-start exclusions.
fn check_up_flags(a: &c::UpArgs) -> Result<(), CliError> {
    let attaching = a.attach_dependencies || !a.attach.is_empty() || a.abort_on_container_exit;
    let err = |m: &str| Err(CliError::new(format!("compose up: {m}")));
    if a.abort_on_container_exit && a.abort_on_container_failure {
        return err(
            "--abort-on-container-failure cannot be combined with --abort-on-container-exit",
        );
    }
    if a.wait && (attaching || a.exit_code_from.is_some()) {
        return err("--wait cannot be combined with --abort-on-container-exit, --attach or --attach-dependencies");
    }
    if a.detach
        && (attaching || a.abort_on_container_failure || a.exit_code_from.is_some() || a.watch)
    {
        return err("--detach cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --attach, --attach-dependencies or --watch");
    }
    if a.build && a.no_build {
        return err("--build and --no-build are incompatible");
    }
    if a.renew_anon_volumes && a.no_recreate {
        return err("--no-recreate and --renew-anon-volumes are incompatible");
    }
    if a.force_recreate && a.no_recreate {
        return err("--force-recreate and --no-recreate are incompatible");
    }
    if a.always_recreate_deps && a.no_recreate {
        return err("--always-recreate-deps and --no-recreate are incompatible");
    }
    if a.no_build && a.watch {
        return err("--no-build and --watch are incompatible");
    }
    if a.watch
        && (a.wait
            || a.no_start
            || a.abort_on_container_exit
            || a.abort_on_container_failure
            || a.exit_code_from.is_some())
    {
        return err("--watch cannot be combined with --wait, --no-start, --abort-on-container-exit, --abort-on-container-failure or --exit-code-from");
    }
    Ok(())
}

fn up(g: &Globals, compose: &Compose, a: c::UpArgs, color: bool) -> CmdResult {
    check_up_flags(&a)?;
    if let Some(svc) = &a.exit_code_from {
        if !compose.project.services.contains_key(svc) {
            return Err(CliError::new(format!(
                "compose up: --exit-code-from {svc}: no such service"
            )));
        }
    }
    let attached_up = !(a.detach || a.wait || a.no_start);
    // the attached part's plan and rules, checked before anything is made
    let plan = if attached_up {
        Some(
            compose
                .attach_plan(&berth_compose_run::attach::AttachOptions {
                    services: a.services.clone(),
                    attach: a.attach.clone(),
                    no_attach: a.no_attach.clone(),
                    attach_dependencies: a.attach_dependencies,
                    no_deps: a.no_deps,
                })
                .map_err(rerr)?,
        )
    } else {
        None
    };
    let cascade = berth_compose_run::attach::Cascade::from_flags(
        a.abort_on_container_exit,
        a.abort_on_container_failure,
        a.exit_code_from.is_some(),
    )
    .map_err(rerr)?;
    let scale = parse_scale(&a.scale)?;
    let o = UpOptions {
        services: a.services.clone(),
        force_recreate: a.force_recreate,
        no_recreate: a.no_recreate,
        remove_orphans: a.remove_orphans,
        scale,
        no_deps: a.no_deps,
        no_start: a.no_start,
        wait: a.wait,
        wait_timeout: a.wait_timeout.map(std::time::Duration::from_secs),
        pull: a.pull.clone(),
        build: if a.build {
            BuildMode::Always
        } else if a.no_build {
            BuildMode::Never
        } else {
            BuildMode::Policy
        },
        renew_anon_volumes: a.renew_anon_volumes,
        always_recreate_deps: a.always_recreate_deps,
    };
    if attached_up {
        // attached: SIGINT and SIGTERM blocked before any thread starts
        // (the image store's blob syncer, the watch's), so that only the
        // attached part's waiter takes them
        use nix::sys::signal::{SigSet, Signal};
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        set.thread_block()
            .map_err(|e| CliError::new(format!("cannot block signals: {e}")))?;
    }
    let began = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // attached, compose v2 shows the containers made, then their logs:
    // not their starting, waiting or health
    let mut report = |e: Event| {
        let quiet = attached_up
            && e.kind == "Container"
            && matches!(
                e.status.as_str(),
                "Starting" | "Started" | "Waiting" | "Healthy"
            );
        if !quiet {
            print_event(e)
        }
    };
    compose.up(&o, &CliPuller(g), &mut report).map_err(rerr)?;
    if a.detach || a.wait || a.no_start {
        return Ok(());
    }
    let since = format!("{}.{:09}", began.as_secs(), began.subsec_nanos());
    super::compose_progress::finish();
    let color = color && !a.no_color;
    if !a.watch {
        let plan = plan.unwrap_or_default();
        return attached(compose, &a, &plan, cascade, since, color);
    }
    // the watch beside the attached logs, stopped when they end
    let stop = Arc::new(berth_compose_run::watch::WatchStop::default());
    let wo = berth_compose_run::watch::WatchOptions {
        services: a.services.clone(),
        no_build: a.no_build,
    };
    std::thread::scope(|scope| {
        let w = scope.spawn(|| compose.watch(&wo, &stop, &CliPuller(g), &mut print_event));
        let plan = plan.unwrap_or_default();
        let r = attached_watch(compose, &a, &plan, since, color, stop.clone());
        stop.stop();
        let wr = w
            .join()
            .unwrap_or_else(|_| Err(berth_compose_run::Error::Msg("watch panicked".into())));
        r.and(wr.map_err(rerr))
    })
}

/// `up --watch`'s attached part: the logs of the services' containers,
/// followed again when the watch recreated or restarted them, until
/// SIGINT/SIGTERM (blocked by the caller), which stops the project
/// gracefully (a second one kills) once the watch is stopped (`watch`:
/// no restart or recreate of it follows the stop).
fn attached_watch(
    compose: &Compose,
    a: &c::UpArgs,
    plan: &berth_compose_run::attach::AttachPlan,
    since: String,
    color: bool,
    watch: Arc<berth_compose_run::watch::WatchStop>,
) -> CmdResult {
    use nix::sys::signal::{SigSet, Signal};
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    let interrupted = Arc::new(AtomicBool::new(false));
    let stopping = Stopping::default();
    {
        let interrupted = interrupted.clone();
        let stopping = stopping.clone();
        let stops = Arc::new(Compose::new(
            compose.engine.clone(),
            compose.project.clone(),
        ));
        let in_up = compose.selected(&a.services, a.no_deps).map_err(rerr)?;
        let timeout = a.timeout;
        std::thread::spawn(move || {
            let mut n = 0;
            while let Ok(_sig) = set.wait() {
                n += 1;
                if n == 1 {
                    // the batch under way ends first; none starts after
                    watch.stop();
                    eprintln!("Gracefully Stopping... press Ctrl+C again to force");
                    // in its own thread: a second signal kills while it waits
                    let (stops, in_up) = (stops.clone(), in_up.clone());
                    stopping.start(move || {
                        report_failure(stops.stop(&in_up, timeout, &mut print_event))
                    });
                    interrupted.store(true, Ordering::SeqCst);
                } else {
                    report_failure(stops.kill(&in_up, "SIGKILL", &mut print_event));
                }
            }
        });
    }
    let mut followed: std::collections::HashMap<String, String> = Default::default();
    let mut follow = || -> CmdResult {
        while !interrupted.load(Ordering::SeqCst) {
            let rows: Vec<ContainerRow> = if plan.logs.is_empty() {
                Vec::new()
            } else {
                compose
                    .targets(&plan.logs, None)
                    .map_err(rerr)?
                    .into_iter()
                    .filter(|r| r.summary.state == ::engine::Status::Running)
                    .collect()
            };
            if rows.is_empty() {
                // nothing runs (yet: a rebuild may be recreating it)
                std::thread::sleep(std::time::Duration::from_millis(200));
                continue;
            }
            // A container not followed before (a rebuild's new one) from the
            // start of `up`: it may have printed before its follow began. One
            // followed before (restarted) from the end of that follow.
            let opts = |r: &ContainerRow| ::engine::LogsOptions {
                follow: true,
                since: Some(
                    followed
                        .get(&r.summary.id)
                        .cloned()
                        .unwrap_or_else(|| since.clone()),
                ),
                timestamps: a.timestamps,
                ..Default::default()
            };
            // Each container's follow ends on its own (when it stops): the
            // time it ended is where its next follow takes up.
            let ended = Mutex::new(Vec::new());
            let on_end = |r: &ContainerRow| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                let end = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
                if let Ok(mut e) = ended.lock() {
                    e.push((r.summary.id.clone(), end));
                }
            };
            follow_logs_each(compose, &rows, &opts, a.no_log_prefix, color, &on_end)?;
            followed.extend(ended.into_inner().unwrap_or_default());
        }
        Ok(())
    };
    let r = follow();
    // a stop under way ends before the process does, whatever happened
    stopping.finish();
    r?;
    // ended by SIGINT/SIGTERM: compose v2 exits 130 (checked over Berth's socket)
    Err(CliError::silent(130))
}

/// A failure of an attached `up`'s stop or kill, said as a warning: the
/// logs it ends are what `up` returns with.
fn report_failure(r: berth_compose_run::Result<()>) {
    if let Err(e) = r {
        print_event(Event {
            kind: "Warning",
            name: String::new(),
            status: e.to_string(),
        });
    }
}

/// The graceful stop the first signal starts (in a thread of its own, so
/// that a second signal can kill meanwhile): `up` returns only once it
/// has ended, or the process's exit would cut it short.
#[derive(Clone, Default)]
struct Stopping(Arc<Mutex<Option<std::thread::JoinHandle<()>>>>);

impl Stopping {
    fn start(&self, f: impl FnOnce() + Send + 'static) {
        let mut h = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *h = Some(std::thread::spawn(f));
    }

    fn finish(&self) {
        let h = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = h {
            let _ = h.join();
        }
    }
}

/// `compose build`: the services' images through the builder library.
fn build(g: &Globals, compose: &Compose, a: c::BuildArgs) -> CmdResult {
    let mut args = BTreeMap::new();
    for it in &a.build_arg {
        match it.split_once('=') {
            Some(("", _)) => {
                return Err(CliError::new(format!(
                    "invalid --build-arg {it:?}: an empty key"
                )))
            }
            Some((k, v)) => args.insert(k.to_string(), Some(v.to_string())),
            None => args.insert(it.clone(), None),
        };
    }
    let o = berth_compose_run::BuildOptions {
        services: a.services,
        no_cache: a.no_cache,
        pull: a.pull,
        args,
    };
    let quiet = a.quiet;
    compose
        .build(&o, &CliPuller(g), &mut |e| {
            if !(quiet && (e.kind == "Build" || e.kind == "Image")) {
                print_event(e)
            }
        })
        .map_err(rerr)
}

/// `compose watch`: `up -d` of the services (unless `--no-up`), then
/// their `develop.watch` rules until interrupted.
fn watch(g: &Globals, compose: &Compose, a: c::WatchArgs) -> CmdResult {
    let quiet = a.quiet;
    let mut report = |e: Event| {
        if !(quiet && e.kind == "Build") {
            print_event(e)
        }
    };
    if !a.no_up {
        let o = UpOptions {
            services: a.services.clone(),
            pull: "policy".into(),
            ..Default::default()
        };
        compose.up(&o, &CliPuller(g), &mut report).map_err(rerr)?;
    }
    let wo = berth_compose_run::watch::WatchOptions {
        services: a.services,
        no_build: false,
    };
    let stop = berth_compose_run::watch::WatchStop::default();
    compose
        .watch(&wo, &stop, &CliPuller(g), &mut report)
        .map_err(rerr)
}

/// `up` without `-d`: the logs of the plan's services, prefixed, until
/// every watched container has exited (each exit printed as compose's
/// `web-1 exited with code N`); SIGINT/SIGTERM stop the project
/// gracefully, a second one kills; `cascade` stops it on the first
/// (failed) exit, whose code (or `--exit-code-from`'s) is `up`'s.
fn attached(
    compose: &Compose,
    a: &c::UpArgs,
    plan: &berth_compose_run::attach::AttachPlan,
    cascade: berth_compose_run::attach::Cascade,
    since: String,
    color: bool,
) -> CmdResult {
    use berth_compose_run::attach::ExitTracker;
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block()
        .map_err(|e| CliError::new(format!("cannot block signals: {e}")))?;
    // what a stop takes: the project's containers for the services up
    // started (their dependencies too), as `compose stop` takes them
    let in_up = compose.selected(&a.services, a.no_deps).map_err(rerr)?;
    let all = compose.targets(&in_up, None).map_err(rerr)?;
    let stops = Arc::new(Compose::new(
        compose.engine.clone(),
        compose.project.clone(),
    ));
    let timeout = a.timeout;
    let stop_all = {
        let (stops, in_up) = (stops.clone(), in_up.clone());
        move || report_failure(stops.stop(&in_up, timeout, &mut print_event))
    };
    let on_signal = stop_all.clone();
    let stopping = Stopping::default();
    let stopping2 = stopping.clone();
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let interrupted2 = interrupted.clone();
    std::thread::spawn(move || {
        let mut n = 0;
        while let Ok(_sig) = set.wait() {
            n += 1;
            if n == 1 {
                eprintln!("Gracefully Stopping... press Ctrl+C again to force");
                // started before it is told: the main thread's finish()
                // must find the stop to wait for
                stopping2.start(on_signal.clone());
                interrupted2.store(true, std::sync::atomic::Ordering::SeqCst);
            } else {
                report_failure(stops.kill(&in_up, "SIGKILL", &mut print_event));
            }
        }
    });
    let pick = |names: &[String]| -> Vec<ContainerRow> {
        all.iter()
            .filter(|r| names.contains(&r.service))
            .cloned()
            .collect()
    };
    let logged = pick(&plan.logs);
    let watched = pick(&plan.watch);
    let tracker = ExitTracker::new(cascade, a.exit_code_from.clone());
    let label = |r: &ContainerRow| {
        if r.number > 0 {
            format!("{}-{}", r.service, r.number)
        } else {
            r.summary.names.clone()
        }
    };
    let exited = |r: &ContainerRow| {
        if !watched.iter().any(|w| w.summary.id == r.summary.id) {
            return;
        }
        let code = compose.engine.wait(&r.summary.id).unwrap_or(-1);
        // compose v2 says nothing of the exits its own stop made
        if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let line = format!("{} exited with code {code}", label(r));
        if color {
            let i = logged
                .iter()
                .position(|l| l.summary.id == r.summary.id)
                .unwrap_or(0);
            out_line(&log_color(i, &line));
        } else {
            out_line(&line);
        }
        if tracker.exited(&r.service, code) {
            eprintln!("Aborting on container exit...");
            stop_all();
        }
    };
    let opts = ::engine::LogsOptions {
        follow: true,
        since: Some(since),
        timestamps: a.timestamps,
        ..Default::default()
    };
    // compose's attach: the attached containers by name
    let mut attaching: Vec<&ContainerRow> = logged.iter().collect();
    attaching.sort_by(|x, y| x.summary.names.cmp(&y.summary.names));
    let names: Vec<String> = attaching.iter().map(|r| label(r)).collect();
    out_line(&format!("Attaching to {}", names.join(", ")));
    let followed = std::thread::scope(|scope| -> CmdResult {
        // the watched containers not attached: their exits only
        for r in watched
            .iter()
            .filter(|w| !logged.iter().any(|l| l.summary.id == w.summary.id))
        {
            let exited = &exited;
            scope.spawn(move || exited(r));
        }
        follow_logs(compose, &logged, &opts, a.no_log_prefix, color, &exited)
    });
    // a stop under way ends before the process does, whatever happened
    stopping.finish();
    followed?;
    // interrupted (SIGINT or SIGTERM): compose v2 exits 130
    if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(CliError::silent(130));
    }
    let code = tracker.code();
    if code != 0 {
        return Err(CliError::silent(code.clamp(0, 255) as u8));
    }
    Ok(())
}

/// Prefixes each line (`web-1  | `) and writes whole lines under a lock.
struct Prefixed {
    prefix: String,
    out: Arc<Mutex<std::io::Stdout>>,
    buf: Vec<u8>,
}

impl Write for Prefixed {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        while let Some(i) = self.buf.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            let mut o = self.out.lock().unwrap_or_else(|e| e.into_inner());
            closed_pipe_ends(
                o.write_all(self.prefix.as_bytes())
                    .and_then(|_| o.write_all(&line))
                    .and_then(|_| o.flush()),
            )?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            let mut o = self.out.lock().unwrap_or_else(|e| e.into_inner());
            closed_pipe_ends(
                o.write_all(self.prefix.as_bytes())
                    .and_then(|_| o.write_all(&line))
                    .and_then(|_| o.write_all(b"\n"))
                    .and_then(|_| o.flush()),
            )?;
        }
        Ok(())
    }
}

/// The reader of our stdout is gone (`compose logs | head -1`): end at
/// once and quietly, with the status of compose, which SIGPIPE kills
/// (128 + 13), whatever the other log threads are doing.
fn closed_pipe_ends(r: std::io::Result<()>) -> std::io::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(141),
        r => r,
    }
}

/// A line to stdout from the attached output (`Attaching to ...`, `web-1
/// exited with code N`), a closed pipe ending as in [`Prefixed`].
fn out_line(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = closed_pipe_ends(writeln!(o, "{line}").and_then(|_| o.flush()));
}

fn follow_logs(
    compose: &Compose,
    rows: &[ContainerRow],
    opts: &::engine::LogsOptions,
    no_prefix: bool,
    color: bool,
    on_end: &(dyn Fn(&ContainerRow) + Sync),
) -> CmdResult {
    follow_logs_each(compose, rows, &|_| opts.clone(), no_prefix, color, on_end)
}

/// [`follow_logs`] with each container's own options.
fn follow_logs_each(
    compose: &Compose,
    rows: &[ContainerRow],
    opts: &(dyn Fn(&ContainerRow) -> ::engine::LogsOptions + Sync),
    no_prefix: bool,
    color: bool,
    on_end: &(dyn Fn(&ContainerRow) + Sync),
) -> CmdResult {
    let label = |r: &ContainerRow| {
        if r.number > 0 {
            format!("{}-{}", r.service, r.number)
        } else {
            r.summary.names.clone()
        }
    };
    let width = rows.iter().map(|r| label(r).len()).max().unwrap_or(0);
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let results: Vec<::engine::Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let prefix = if no_prefix {
                    String::new()
                } else if color {
                    // compose's rainbow, one colour per container in turn
                    format!("{} ", log_color(i, &format!("{:width$}  |", label(r))))
                } else {
                    format!("{:width$}  | ", label(r))
                };
                let out = out.clone();
                scope.spawn(move || {
                    let mut o = Prefixed {
                        prefix: prefix.clone(),
                        out: out.clone(),
                        buf: Vec::new(),
                    };
                    let mut e = Prefixed {
                        prefix,
                        out,
                        buf: Vec::new(),
                    };
                    let res = compose.engine.logs(&r.summary.id, &opts(r), &mut o, &mut e);
                    let _ = o.flush();
                    let _ = e.flush();
                    on_end(r);
                    res
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Ok(())))
            .collect()
    });
    match results.into_iter().find_map(|r| r.err()) {
        Some(e) => Err(CliError::new(e.to_string())),
        None => Ok(()),
    }
}

/// docker compose's log prefix colours, in the order it hands them out
/// (cyan, yellow, green, magenta, blue, then their intense forms).
const RAINBOW: [&str; 10] = [
    "36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1",
];

fn log_color(i: usize, s: &str) -> String {
    format!("\x1b[{}m{s}\x1b[0m", RAINBOW[i % RAINBOW.len()])
}

fn logs(compose: &Compose, a: c::LogsArgs, color: bool) -> CmdResult {
    let tail = ::engine::logs::parse_tail(&a.tail).map_err(|e| CliError::new(e.to_string()))?;
    let opts = ::engine::LogsOptions {
        follow: a.follow,
        tail,
        timestamps: a.timestamps,
        since: a.since.clone(),
        until: a.until.clone(),
        ..Default::default()
    };
    let rows = compose.targets(&a.services, a.index).map_err(rerr)?;
    follow_logs(
        compose,
        &rows,
        &opts,
        a.no_log_prefix,
        color && !a.no_color,
        &|_| {},
    )
}

fn down(compose: &Compose, a: c::DownArgs) -> CmdResult {
    let o = DownOptions {
        remove_orphans: a.remove_orphans,
        volumes: a.volumes,
        timeout: a.timeout,
        rmi: a.rmi.clone(),
    };
    compose.down(&o, &mut print_event).map_err(rerr)
}

fn rm(compose: &Compose, a: c::RmArgs) -> CmdResult {
    let rows = compose.targets(&a.services, None).map_err(rerr)?;
    let mut gone = Vec::new();
    for r in rows {
        let active = r.summary.state.is_active();
        if active {
            if !a.stop {
                continue;
            }
            compose
                .engine
                .stop(&r.summary.id, None)
                .map_err(|e| CliError::new(e.to_string()))?;
        }
        gone.push(r);
    }
    if gone.is_empty() {
        eprintln!("No stopped containers");
        return Ok(());
    }
    if !a.force {
        let names: Vec<_> = gone.iter().map(|r| r.summary.names.clone()).collect();
        eprintln!("Going to remove {}", names.join(", "));
    }
    for r in gone {
        let res = if a.volumes {
            compose.engine.remove_with_volumes(&r.summary.id, true)
        } else {
            compose.engine.remove(&r.summary.id, true)
        };
        res.map_err(|e| CliError::new(e.to_string()))?;
        print_event(ev(&r, "Removed"));
    }
    Ok(())
}

fn exec(g: &Globals, compose: &Compose, a: c::ExecArgs) -> CmdResult {
    use std::io::IsTerminal;
    let r = compose.container_of(&a.args[0], a.index).map_err(rerr)?;
    let tty = !a.no_tty && !a.detach && std::io::stdin().is_terminal();
    let mut args = vec![r.summary.id.clone()];
    args.extend(a.args[1..].iter().cloned());
    let ea = crate::cli::ExecArgs {
        detach: a.detach,
        detach_keys: None,
        env: a.env.clone(),
        env_file: Vec::new(),
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        privileged: a.privileged,
        interactive: !a.detach,
        tty,
        args,
    };
    super::containers::exec(g, ea)
}

fn run_oneoff(g: &Globals, compose: &Compose, a: c::RunArgs) -> CmdResult {
    use std::io::IsTerminal;
    let tty = !a.no_tty && !a.detach && std::io::stdin().is_terminal();
    let entrypoint = match &a.entrypoint {
        Some(e) => Some(
            shlex::split(e).ok_or_else(|| CliError::new(format!("invalid --entrypoint {e:?}")))?,
        ),
        None => None,
    };
    let o = berth_compose_run::RunOptions {
        command: a.args[1..].to_vec(),
        entrypoint,
        env: a.env.clone(),
        labels: a.label.clone(),
        name: a.name.clone(),
        rm: a.rm,
        service_ports: a.service_ports,
        publish: a.publish.clone(),
        volumes: a.volume.clone(),
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        tty,
        interactive: a.interactive && !a.detach,
        no_deps: a.no_deps,
    };
    let id = compose
        .create_oneoff(&a.args[0], &o, &CliPuller(g), &mut print_event)
        .map_err(rerr)?;
    // the live progress view ends before the container's output begins
    super::compose_progress::finish();
    if a.detach {
        compose
            .engine
            .start(&id)
            .map_err(|e| CliError::new(e.to_string()))?;
        return print_lines([id]);
    }
    super::containers::start(
        g,
        crate::cli::StartArgs {
            attach: true,
            interactive: o.interactive,
            detach_keys: None,
            containers: vec![id],
        },
    )
}

fn top(compose: &Compose, a: c::ServicesArgs) -> CmdResult {
    let mut text = String::new();
    for r in running(compose, &a.services)? {
        let t = compose
            .engine
            .top(&r.summary.id)
            .map_err(|e| CliError::new(e.to_string()))?;
        let mut lines = vec![t.titles.join("\t")];
        for p in &t.processes {
            lines.push(p.join("\t"));
        }
        text.push_str(&r.summary.names);
        text.push('\n');
        text.push_str(&crate::fmt::tabwrite_lines(&lines));
        text.push('\n');
    }
    print_raw(&text)
}

fn port(compose: &Compose, a: c::PortArgs) -> CmdResult {
    let r = compose.container_of(&a.service, a.index).map_err(rerr)?;
    let want = format!("{}/{}", a.private_port, a.protocol);
    let m = compose
        .engine
        .port(&r.summary.id, Some(&want))
        .map_err(|e| CliError::new(e.to_string()))?;
    print_lines(
        m.iter()
            .take(1)
            .map(|m| format!("{}:{}", m.host_ip, m.host_port)),
    )
}

fn images(compose: &Compose, a: c::ImagesArgs) -> CmdResult {
    let rows = compose.images(&a.services).map_err(rerr)?;
    if a.quiet {
        let ids: BTreeSet<String> = rows.iter().map(|r| r.id.clone()).collect();
        return print_lines(ids);
    }
    if a.format == "json" {
        return print_raw(&(serde_json::to_string(&rows).unwrap_or_default() + "\n"));
    }
    let mut lines = vec!["CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE".to_string()];
    for r in &rows {
        let id = r.id.trim_start_matches("sha256:");
        lines.push(format!(
            "{}\t{}\t{}\t{}\t{}",
            r.container_name,
            r.repository,
            r.tag,
            &id[..id.len().min(12)],
            crate::fmt::human_size(r.size)
        ));
    }
    print_raw(&crate::fmt::tabwrite_lines(&lines))
}

fn ls(g: &Globals, a: c::LsArgs) -> CmdResult {
    let eng = g.engine()?;
    let list = berth_compose_run::list_projects(&eng, a.all).map_err(rerr)?;
    if a.quiet {
        return print_lines(list.into_iter().map(|p| p.name));
    }
    match a.format.as_str() {
        "json" => print_raw(&(serde_json::to_string(&list).unwrap_or_default() + "\n")),
        "table" => {
            let mut lines = vec!["NAME\tSTATUS\tCONFIG FILES".to_string()];
            for p in list {
                lines.push(format!("{}\t{}\t{}", p.name, p.status, p.config_files));
            }
            print_raw(&crate::fmt::tabwrite_lines(&lines))
        }
        f => Err(CliError::new(format!(
            "unsupported format {f:?}: table or json"
        ))),
    }
}

/// docker compose's `ps --format json` object of one container.
fn ps_json(r: &ContainerRow) -> serde_json::Value {
    let s = &r.summary;
    let created = crate::fmt::parse_rfc3339(&s.created);
    let publishers: Vec<serde_json::Value> = s
        .ports
        .iter()
        .map(|p| {
            serde_json::json!({
                "URL": p.ip, "TargetPort": p.private_port,
                "PublishedPort": p.public_port, "Protocol": p.kind,
            })
        })
        .collect();
    serde_json::json!({
        "Command": format!("\"{}\"", s.command),
        "CreatedAt": created.map(crate::fmt::go_time).unwrap_or_default(),
        "ExitCode": s.exit_code,
        "Health": r.health,
        "ID": s.id,
        "Image": s.image,
        "Labels": s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        "LocalVolumes": s.local_volumes.to_string(),
        "Mounts": s.mounts.join(","),
        "Name": s.names,
        "Names": s.names,
        "Networks": s.networks.join(","),
        "Ports": super::containers::ports_text(&s.ports),
        "Project": r.project,
        "Publishers": publishers,
        "RunningFor": crate::fmt::since(created),
        "Service": r.service,
        "Size": "0B",
        "State": s.state.to_string(),
        "Status": s.status,
    })
}

fn ps(compose: &Compose, mut a: c::PsArgs) -> CmdResult {
    // compose's --filter: KEY=VALUE, only `status`
    if let Some(f) = &a.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| CliError::new(format!("invalid filter {f:?}: expected KEY=VALUE")))?;
        if k != "status" {
            return Err(CliError::new(format!(
                "invalid --filter {f:?}: unsupported filter {k:?} (supported: status)"
            )));
        }
        a.status.push(v.to_string());
    }
    if a.services {
        let mut names: Vec<String> = if a.service_names.is_empty() {
            compose.dependency_order().map_err(rerr)?
        } else {
            a.service_names.clone()
        };
        if !a.status.is_empty() || !a.all {
            let statuses = if a.status.is_empty() {
                vec!["running".to_string()]
            } else {
                a.status.clone()
            };
            let rows = compose
                .ps(&a.service_names, true, &statuses)
                .map_err(rerr)?;
            let live: BTreeSet<String> = rows.into_iter().map(|r| r.service).collect();
            names.retain(|n| live.contains(n));
        }
        return print_lines(names);
    }
    // (The engine checks the statuses: docker's "invalid filter" error.)
    let rows: Vec<ContainerRow> = compose
        .ps(&a.service_names, a.all, &a.status)
        .map_err(rerr)?
        .into_iter()
        .filter(|r| a.all || !r.oneoff())
        .collect();
    if a.quiet {
        return print_lines(rows.iter().map(|r| r.summary.id.clone()));
    }
    match a.format.as_str() {
        "json" => print_lines(rows.iter().map(|r| ps_json(r).to_string())),
        "table" => {
            let mut lines =
                vec!["NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS".to_string()];
            for r in &rows {
                let s = &r.summary;
                let mut cmd = s.command.clone();
                if !a.no_trunc && cmd.chars().count() > 20 {
                    cmd = cmd.chars().take(19).collect::<String>() + "…";
                }
                lines.push(format!(
                    "{}\t{}\t\"{cmd}\"\t{}\t{}\t{}\t{}",
                    s.names,
                    s.image,
                    r.service,
                    crate::fmt::since(crate::fmt::parse_rfc3339(&s.created)),
                    s.status,
                    super::containers::ports_text(&s.ports)
                ));
            }
            print_raw(&crate::fmt::tabwrite_lines(&lines))
        }
        f => {
            // a Go template over compose's container context
            // (cmd/formatter/container.go): its fields and table headers
            let fmt = crate::template::Format::parse(f)
                .map_err(|e| CliError::new(format!("invalid --format {f:?}: {e}")))?;
            let data: Vec<serde_json::Value> =
                rows.iter().map(|r| ps_context(r, !a.no_trunc)).collect();
            let out = fmt
                .list(PS_HEADERS, &data)
                .map_err(|e| CliError::new(format!("--format {f:?}: {e}")))?;
            print_raw(&out)
        }
    }
}

/// compose's `NewContainerContext` headers.
const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("Project", "PROJECT"),
    ("Service", "SERVICE"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Labels", "LABELS"),
];

/// docker's `formatter.Ellipsis`: at most `max` characters, the last one
/// `…` when cut.
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    s.chars().take(max.saturating_sub(1)).collect::<String>() + "…"
}

/// A row as compose's `ContainerContext` shows it to a template: `ID`,
/// `Command` and `Mounts` cut unless `--no-trunc`, `Command` quoted,
/// `.Label "k"` a label's value.
fn ps_context(r: &ContainerRow, trunc: bool) -> serde_json::Value {
    let s = &r.summary;
    let mut v = ps_json(r);
    let cmd = if trunc {
        ellipsis(&s.command, 20)
    } else {
        s.command.clone()
    };
    v["Command"] = serde_json::Value::String(berth_util::gostr::quote(&cmd));
    if trunc {
        v["ID"] = serde_json::Value::String(s.id.chars().take(12).collect());
        let mounts: Vec<String> = s.mounts.iter().map(|m| ellipsis(m, 15)).collect();
        v["Mounts"] = serde_json::Value::String(mounts.join(","));
    }
    v["Label"] = serde_json::json!(s.labels);
    v
}

fn print_raw(s: &str) -> CmdResult {
    std::io::stdout()
        .lock()
        .write_all(s.as_bytes())
        .map_err(|e| CliError::new(e.to_string()))
}

fn load(opts: &LoadOptions) -> Result<Project, CliError> {
    let loaded = berth_compose::load(opts).map_err(|e| CliError::new(e.to_string()))?;
    for w in &loaded.warnings {
        eprintln!("berth: warning: {w}");
    }
    Ok(loaded.project)
}

fn print_lines(lines: impl IntoIterator<Item = String>) -> CmdResult {
    let mut out = std::io::stdout().lock();
    for l in lines {
        writeln!(out, "{l}").map_err(|e| CliError::new(e.to_string()))?;
    }
    Ok(())
}

/// Services in dependency order (compose's ForEachService).
fn in_dependency_order(p: &Project) -> Vec<String> {
    fn visit(p: &Project, n: &str, seen: &mut BTreeSet<String>, out: &mut Vec<String>) {
        if !seen.insert(n.to_string()) {
            return;
        }
        if let Some(s) = p.services.get(n) {
            for d in s.depends_on.keys() {
                visit(p, d, seen, out);
            }
            out.push(n.to_string());
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for n in p.services.keys() {
        visit(p, n, &mut seen, &mut out);
    }
    out
}

fn config(g: &Globals, mut opts: LoadOptions, c: ConfigArgs) -> CmdResult {
    opts.resolve_paths = !c.no_path_resolution;
    if c.format != "yaml" && c.format != "json" {
        return Err(CliError::new(format!("unsupported format {:?}", c.format)));
    }
    if c.environment {
        let p = load(&opts)?;
        return print_lines(p.environment.iter().map(|(k, v)| format!("{k}={v}")));
    }
    if c.variables {
        return super::compose_cmds::config_variables(&opts, &c.format);
    }
    opts.interpolate = !c.no_interpolate;
    opts.normalize = !c.no_normalize;
    opts.consistency = !c.no_consistency;
    // the listing flags load without resolving env_file
    let listing =
        c.services || c.volumes || c.networks || c.profiles || c.images || c.hash.is_some();
    opts.resolve_env_files = !c.no_env_resolution && !listing;
    if let Some(h) = &c.hash {
        let p = load(&opts)?;
        let mut names: Vec<String> = if h == "*" {
            p.services.keys().cloned().collect()
        } else {
            h.split(',').map(str::to_string).collect()
        };
        names.sort();
        let mut lines = Vec::new();
        for n in names {
            let s = p
                .services
                .get(&n)
                .ok_or_else(|| CliError::new(format!("no such service: {n}")))?;
            lines.push(format!("{n} {}", Project::service_hash(s)));
        }
        return print_lines(lines);
    }
    if c.services {
        return print_lines(in_dependency_order(&load(&opts)?));
    }
    opts.services = c.service_names.clone();
    if c.volumes {
        return print_lines(load(&opts)?.volumes.into_keys());
    }
    if c.networks {
        return print_lines(load(&opts)?.networks.into_keys());
    }
    if c.profiles {
        let p = load(&opts)?;
        let set: BTreeSet<String> = p
            .services
            .values()
            .chain(p.disabled_services.values())
            .flat_map(|s| s.profiles.clone())
            .collect();
        return print_lines(set);
    }
    if c.images {
        let p = load(&opts)?;
        return print_lines(p.services.iter().map(|(n, s)| {
            if s.image.is_empty() {
                format!("{}-{n}", p.name)
            } else {
                s.image.clone()
            }
        }));
    }
    let content = if c.no_interpolate {
        let m = berth_compose::load_model(&opts).map_err(|e| CliError::new(e.to_string()))?;
        let v = serde_json::Value::Object(m.dict);
        if c.format == "json" {
            serde_json::to_string_pretty(&v).unwrap_or_default()
        } else {
            berth_compose::yaml_string(&v)
        }
    } else {
        let mut p = load(&opts)?;
        if c.resolve_image_digests || c.lock_image_digests {
            let (client, warning) =
                registry::service::client(&registry::RegistryOptions::default())?;
            if let Some(w) = warning {
                eprintln!("berth: warning: {w}");
            }
            berth_compose_run::digests::resolve_image_digests(&g.engine()?, &client, &mut p)
                .map_err(rerr)?;
            if c.lock_image_digests {
                p = berth_compose_run::digests::images_only(&p);
            }
        }
        if c.format == "json" {
            p.to_json()
        } else {
            p.to_yaml()
        }
    };
    if c.quiet {
        return Ok(());
    }
    match &c.output {
        Some(f) => std::fs::write(f, content)
            .map_err(|e| CliError::new(format!("writing {}: {e}", f.display()))),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(content.as_bytes())
                .map_err(|e| CliError::new(e.to_string()))
        }
    }
}
