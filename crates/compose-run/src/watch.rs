//! `compose watch` and `up --watch`: the services' `develop.watch` rules
//! as docker compose v2's `pkg/compose/watch.go` runs them.
//!
//! - Each rule watches `path` (inotify, recursively for a directory; a
//!   directory created later is watched too and its files count as
//!   changed). Changes are batched until 500 ms pass with no new one
//!   (compose's `BatchDebounceEvents` quiet period).
//! - A changed path counts for a rule when it is `path` or below it, is
//!   matched by `include` (if given), and by none of: `ignore` (patterns
//!   relative to `path`, `.dockerignore` syntax), the build context's
//!   `.dockerignore`, editors' temporary files, `.git`.
//! - Actions: `sync` copies the path to `target` in each container of the
//!   service through the engine's copy-in (resolved inside the
//!   container's root as `berth cp` does; parents created) or removes it
//!   there when it was deleted; `sync+restart` then restarts the service;
//!   `sync+exec` then runs `exec.command` in each container; `restart`
//!   restarts; `rebuild` builds the image and recreates the service.
//! - `initial_sync` copies the files under `path` (not ignored, not a
//!   Dockerfile or compose file) when the watch starts.
//! - A sync rule whose path a bind mount of the service already shares is
//!   skipped with a warning.
//!
//! inotify comes from rustix (already a dependency of the engine): its
//! safe wrapper is all this needs; the `notify` crate would bring a
//! thread, channels and a cross-platform layer Berth does not use.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ::build::ignore::PatternMatcher;
use berth_compose::{ServiceConfig, ServiceHook};
use rustix::fs::inotify;

use crate::build::{BuildMode, BuildOptions};
use crate::{Compose, Error, Event, Puller, Report, Result, UpOptions};

/// How long the files must stay unchanged before a batch is handled.
pub const QUIET_PERIOD: Duration = Duration::from_millis(500);

/// `watch`'s choices.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Services named (empty: all).
    pub services: Vec<String>,
    /// `up --no-build`: a `rebuild` rule is then an error.
    pub no_build: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Sync,
    Rebuild,
    Restart,
    SyncRestart,
    SyncExec,
}

impl Action {
    fn syncs(self) -> bool {
        matches!(self, Action::Sync | Action::SyncRestart | Action::SyncExec)
    }
}

/// One `develop.watch` entry, ready to match paths.
struct Rule {
    service: String,
    action: Action,
    /// Absolute, symlinks resolved when it exists.
    path: PathBuf,
    target: String,
    include: Option<PatternMatcher>,
    ignore: PatternMatcher,
    /// The build context and its `.dockerignore`.
    dockerignore: Option<(PathBuf, PatternMatcher)>,
    exec: ServiceHook,
    initial_sync: bool,
}

/// Editors' temporary files (compose's `EphemeralPathMatcher`).
fn ephemeral(name: &str) -> bool {
    name.ends_with("___jb_old___")
        || name.ends_with("___jb_tmp___")
        || name.starts_with(".#")
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
        || name == "4913"
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
}

fn slash(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

impl Rule {
    /// Whether `host` counts for the rule, and then its path in the
    /// container (None: the rule has no target).
    fn matches(&self, host: &Path) -> Option<Option<String>> {
        let rel = host.strip_prefix(&self.path).ok()?;
        let rel_s = slash(rel);
        if !rel_s.is_empty() {
            if let Some(inc) = &self.include {
                if !inc.matches_or_parent_matches(&rel_s).unwrap_or(false) {
                    return None;
                }
            }
            if self
                .ignore
                .matches_or_parent_matches(&rel_s)
                .unwrap_or(false)
            {
                return None;
            }
            if rel
                .components()
                .any(|c| c.as_os_str() == ".git" || ephemeral(&c.as_os_str().to_string_lossy()))
            {
                return None;
            }
        } else if host
            .file_name()
            .is_some_and(|n| ephemeral(&n.to_string_lossy()))
        {
            return None;
        }
        if let Some((ctx, pm)) = &self.dockerignore {
            if let Ok(r) = host.strip_prefix(ctx) {
                let r = slash(r);
                if !r.is_empty() && pm.matches_or_parent_matches(&r).unwrap_or(false) {
                    return None;
                }
            }
        }
        if self.target.is_empty() {
            return Some(None);
        }
        let t = self.target.trim_end_matches('/');
        Some(Some(if rel_s.is_empty() {
            self.target.clone()
        } else {
            format!("{t}/{rel_s}")
        }))
    }
}

fn pattern_matcher(what: &str, patterns: &[String]) -> Result<PatternMatcher> {
    PatternMatcher::new(patterns).map_err(|e| Error::Msg(format!("{what}: {e}")))
}

/// The rules of service `s`.
fn rules_of(s: &ServiceConfig, o: &WatchOptions, report: Report) -> Result<Vec<Rule>> {
    let Some(dev) = &s.develop else {
        return Ok(Vec::new());
    };
    let n = &s.name;
    let dockerignore = match &s.build {
        Some(b) => {
            let ctx = PathBuf::from(&b.context);
            let ctx = ctx.canonicalize().unwrap_or(ctx);
            match std::fs::read(ctx.join(".dockerignore")) {
                Ok(data) => {
                    let pats = ::build::ignore::read_ignore_file(&data);
                    Some((
                        ctx,
                        pattern_matcher(
                            &format!("services.{n}.build.context .dockerignore"),
                            &pats,
                        )?,
                    ))
                }
                Err(_) => None,
            }
        }
        None => None,
    };
    let mut rules = Vec::new();
    for (i, t) in dev.watch.iter().enumerate() {
        let field = format!("services.{n}.develop.watch[{i}]");
        let action = match t.action.as_str() {
            "sync" => Action::Sync,
            "rebuild" => Action::Rebuild,
            "restart" => Action::Restart,
            "sync+restart" => Action::SyncRestart,
            "sync+exec" => Action::SyncExec,
            a => {
                return Err(Error::Msg(format!(
                    "{field}.action: {a:?} is not one of sync, rebuild, restart, sync+restart, sync+exec"
                )))
            }
        };
        if t.path.is_empty() {
            return Err(Error::Msg(format!(
                "{field}.path: watch rules MUST define a path"
            )));
        }
        if action == Action::Rebuild {
            if s.build.is_none() {
                return Err(Error::Msg(format!(
                    "can't watch service {n:?} with action rebuild without a build context"
                )));
            }
            if o.no_build {
                return Err(Error::Msg(format!(
                    "--no-build is incompatible with watch action rebuild in service {n}"
                )));
            }
        }
        if action.syncs() && t.target.is_empty() {
            return Err(Error::Msg(format!(
                "{field}.target: required for action {}",
                t.action
            )));
        }
        if action == Action::SyncExec && t.exec.command.0.as_ref().map_or(true, |c| c.is_empty()) {
            return Err(Error::Msg(format!(
                "can't watch with action \"sync+exec\" on service {n} without a command"
            )));
        }
        let path = PathBuf::from(&t.path);
        let path = path.canonicalize().unwrap_or(path);
        if action.syncs()
            && s.volumes
                .iter()
                .any(|v| v.kind == "bind" && !v.source.is_empty() && path.starts_with(&v.source))
        {
            report(Event {
                kind: "Warning",
                name: n.clone(),
                status: format!(
                    "path '{}' also declared by a bind mount volume, this path won't be monitored!",
                    t.path
                ),
            });
            continue;
        }
        rules.push(Rule {
            service: n.clone(),
            action,
            target: t.target.clone(),
            include: if t.include.is_empty() {
                None
            } else {
                Some(pattern_matcher(&format!("{field}.include"), &t.include)?)
            },
            ignore: pattern_matcher(&format!("{field}.ignore"), &t.ignore)?,
            dockerignore: dockerignore.clone(),
            exec: t.exec.clone(),
            initial_sync: t.initial_sync,
            path,
        });
    }
    Ok(rules)
}

// ----------------------------------------------------------------------
// inotify

const MASK: inotify::WatchFlags = inotify::WatchFlags::CREATE
    .union(inotify::WatchFlags::MODIFY)
    .union(inotify::WatchFlags::CLOSE_WRITE)
    .union(inotify::WatchFlags::DELETE)
    .union(inotify::WatchFlags::MOVED_FROM)
    .union(inotify::WatchFlags::MOVED_TO)
    .union(inotify::WatchFlags::ATTRIB)
    .union(inotify::WatchFlags::ONLYDIR)
    .union(inotify::WatchFlags::DONT_FOLLOW);

/// Directories watched, recursively below the roots.
struct Watcher {
    fd: OwnedFd,
    dirs: HashMap<i32, PathBuf>,
    roots: Vec<PathBuf>,
}

impl Watcher {
    fn new() -> io::Result<Watcher> {
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?;
        Ok(Watcher {
            fd,
            dirs: HashMap::new(),
            roots: Vec::new(),
        })
    }

    /// Watches `p`: a directory with what is below it, a file (or a path
    /// that does not exist yet) through its parent directory.
    fn watch(&mut self, p: &Path) -> io::Result<()> {
        if p.is_dir() {
            self.roots.push(p.to_path_buf());
            self.add_tree(p, &mut Vec::new())
        } else {
            match p.parent() {
                Some(dir) if dir.is_dir() => self.add_dir(dir),
                _ => Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{}: no such directory", p.display()),
                )),
            }
        }
    }

    fn add_dir(&mut self, dir: &Path) -> io::Result<()> {
        let wd = inotify::add_watch(&self.fd, dir, MASK)?;
        self.dirs.insert(wd, dir.to_path_buf());
        Ok(())
    }

    /// Watches `dir` and the directories below it; what it holds goes to
    /// `found` (a directory created after the watch started: its files
    /// may have been written before it was watched).
    fn add_tree(&mut self, dir: &Path, found: &mut Vec<PathBuf>) -> io::Result<()> {
        self.add_dir(dir)?;
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        for ent in rd.flatten() {
            let p = ent.path();
            found.push(p.clone());
            if ent.file_type().is_ok_and(|t| t.is_dir()) {
                // (it may go meanwhile)
                let _ = self.add_tree(&p, found);
            }
        }
        Ok(())
    }

    /// The paths changed within `timeout` (none when it passed).
    fn read(&mut self, timeout: Duration) -> io::Result<Vec<PathBuf>> {
        let ts = rustix::event::Timespec {
            tv_sec: timeout.as_secs() as _,
            tv_nsec: timeout.subsec_nanos() as _,
        };
        let mut fds = [rustix::event::PollFd::new(
            &self.fd,
            rustix::event::PollFlags::IN,
        )];
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => return Ok(Vec::new()),
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
        let mut raw = Vec::new();
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 8192];
        let mut r = inotify::Reader::new(&self.fd, &mut buf);
        loop {
            match r.next() {
                Ok(ev) => raw.push((
                    ev.wd(),
                    ev.events(),
                    ev.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                )),
                Err(rustix::io::Errno::AGAIN) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let mut out = Vec::new();
        for (wd, flags, name) in raw {
            if flags.contains(inotify::ReadFlags::IGNORED) {
                self.dirs.remove(&wd);
                continue;
            }
            let Some(dir) = self.dirs.get(&wd).cloned() else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            let p = dir.join(&name);
            if flags.contains(inotify::ReadFlags::ISDIR)
                && flags.intersects(inotify::ReadFlags::CREATE | inotify::ReadFlags::MOVED_TO)
                && self.roots.iter().any(|r| p.starts_with(r))
            {
                let _ = self.add_tree(&p, &mut out);
            }
            out.push(p);
        }
        Ok(out)
    }
}

// ----------------------------------------------------------------------

fn parent(p: &str) -> &str {
    match p.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &p[..i],
    }
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Compose's and the builder's own files, left out of an initial sync.
fn build_file(name: &str, s: &ServiceConfig) -> bool {
    const NAMES: &[&str] = &[
        "Dockerfile",
        "compose.yaml",
        "compose.yml",
        "docker-compose.yml",
        "docker-compose.yaml",
        "compose.override.yml",
        "compose.override.yaml",
        "docker-compose.override.yml",
        "docker-compose.override.yaml",
    ];
    NAMES.contains(&name)
        || s.build
            .as_ref()
            .is_some_and(|b| !b.dockerfile.is_empty() && basename(&b.dockerfile) == name)
}

/// How a watch is stopped: [`WatchStop::stop`] sets the flag and waits
/// for a batch under way, so that nothing the watch does (a restart, a
/// recreate) follows it: who stops the project calls it first.
#[derive(Debug, Default)]
pub struct WatchStop {
    flag: AtomicBool,
    /// Held while a batch is handled.
    batch: std::sync::Mutex<()>,
}

impl WatchStop {
    /// Sets the flag, then waits for the batch under way (if any).
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        drop(self.batch.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The batch lock, or None once stopped (no batch may start then).
    fn begin(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        let g = self.batch.lock().unwrap_or_else(|e| e.into_inner());
        (!self.is_stopped()).then_some(g)
    }
}

impl Compose {
    /// Runs the `develop.watch` rules of `o.services` until `stop` is set
    /// (checked at least every 200 ms). Errors in handling a batch are
    /// reported as warnings, as compose does, and the watch goes on.
    pub fn watch(
        &self,
        o: &WatchOptions,
        stop: &WatchStop,
        puller: &dyn Puller,
        report: Report,
    ) -> Result<()> {
        for n in &o.services {
            self.service(n)?;
        }
        let mut rules = Vec::new();
        for (n, s) in &self.project.services {
            if o.services.is_empty() || o.services.contains(n) {
                rules.extend(rules_of(s, o, report)?);
            }
        }
        if rules.is_empty() {
            return Err(Error::Msg(
                "none of the selected services is configured for watch, consider setting a 'develop' section".into(),
            ));
        }
        let mut w = Watcher::new().map_err(|e| Error::Msg(format!("inotify: {e}")))?;
        let mut watched = BTreeSet::new();
        for r in &rules {
            if watched.insert(r.path.clone()) {
                w.watch(&r.path).map_err(|e| {
                    Error::Msg(format!(
                        "services.{}.develop.watch: {}: {e}",
                        r.service,
                        r.path.display()
                    ))
                })?;
            }
        }
        for r in rules.iter().filter(|r| r.initial_sync && r.action.syncs()) {
            let s = self.service(&r.service)?;
            let mut files = Vec::new();
            collect_files(&r.path, &mut files);
            let maps: Vec<(PathBuf, String)> = files
                .into_iter()
                .filter(|f| {
                    !f.file_name()
                        .is_some_and(|n| build_file(&n.to_string_lossy(), s))
                })
                .filter_map(|f| r.matches(&f).flatten().map(|c| (f, c)))
                .collect();
            self.sync(&r.service, &maps)?;
        }
        report(Event {
            kind: "Watch",
            name: self.project.name.clone(),
            status: "Watch enabled".into(),
        });
        let mut pending: BTreeSet<PathBuf> = BTreeSet::new();
        let mut last = Instant::now();
        while !stop.is_stopped() {
            let timeout = if pending.is_empty() {
                Duration::from_millis(200)
            } else {
                QUIET_PERIOD.saturating_sub(last.elapsed())
            };
            let got = w
                .read(timeout)
                .map_err(|e| Error::Msg(format!("watch: {e}")))?;
            if !got.is_empty() {
                pending.extend(got);
                last = Instant::now();
                continue;
            }
            if !pending.is_empty() && last.elapsed() >= QUIET_PERIOD {
                let batch = std::mem::take(&mut pending);
                let Some(_running) = stop.begin() else {
                    break;
                };
                if let Err(e) = self.handle_batch(&rules, &batch, puller, report) {
                    report(Event {
                        kind: "Warning",
                        name: self.project.name.clone(),
                        status: format!("Error handling changed files: {e}"),
                    });
                }
            }
        }
        report(Event {
            kind: "Watch",
            name: self.project.name.clone(),
            status: "Watch disabled".into(),
        });
        Ok(())
    }

    fn handle_batch(
        &self,
        rules: &[Rule],
        batch: &BTreeSet<PathBuf>,
        puller: &dyn Puller,
        report: Report,
    ) -> Result<()> {
        let mut rebuild = BTreeSet::new();
        let mut restart = BTreeSet::new();
        let mut sync: BTreeMap<String, Vec<(PathBuf, String)>> = BTreeMap::new();
        let mut exec: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
        for p in batch {
            for (i, r) in rules.iter().enumerate() {
                let Some(m) = r.matches(p) else { continue };
                if r.action.syncs() {
                    if let Some(c) = m {
                        sync.entry(r.service.clone())
                            .or_default()
                            .push((p.clone(), c));
                    }
                }
                match r.action {
                    Action::Rebuild => {
                        rebuild.insert(r.service.clone());
                    }
                    Action::Restart | Action::SyncRestart => {
                        restart.insert(r.service.clone());
                    }
                    Action::SyncExec => {
                        exec.entry(r.service.clone()).or_default().insert(i);
                    }
                    Action::Sync => {}
                }
            }
        }
        let say = |report: Report, status: String| {
            report(Event {
                kind: "Watch",
                name: self.project.name.clone(),
                status,
            })
        };
        if !rebuild.is_empty() {
            let names: Vec<String> = rebuild.iter().cloned().collect();
            say(
                report,
                format!("Rebuilding service(s) {names:?} after changes were detected..."),
            );
            for n in &names {
                self.build_service(self.service(n)?, &BuildOptions::default(), puller, report)?;
            }
            say(report, format!("service(s) {names:?} successfully built"));
            let up = UpOptions {
                services: names,
                no_deps: true,
                force_recreate: true,
                build: BuildMode::Never,
                pull: "never".into(),
                ..Default::default()
            };
            self.up(&up, puller, report)?;
        }
        for (svc, maps) in &sync {
            say(
                report,
                format!(
                    "Syncing service {svc:?} after {} changes were detected",
                    maps.len()
                ),
            );
            self.sync(svc, maps)?;
        }
        if !restart.is_empty() {
            let names: Vec<String> = restart.iter().cloned().collect();
            // as compose: its `restart: true` dependents follow
            self.restart(&names, None, report)?;
            say(report, format!("service(s) {names:?} restarted"));
        }
        for (svc, idx) in &exec {
            for i in idx {
                let hook = &rules[*i].exec;
                for r in self.targets(std::slice::from_ref(svc), None)? {
                    if r.summary.state != engine::Status::Running {
                        continue;
                    }
                    let opts = engine::ops::exec::ExecOptions {
                        user: hook.user.clone(),
                        privileged: hook.privileged,
                        working_dir: hook.working_dir.clone(),
                        env: hook
                            .environment
                            .0
                            .iter()
                            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                            .collect(),
                        cmd: hook.command.0.clone().unwrap_or_default(),
                        ..Default::default()
                    };
                    let code = self.engine.exec(
                        &r.summary.id,
                        &opts,
                        engine::ExecStdio {
                            stdin: None,
                            stdout: None,
                            stderr: None,
                        },
                    )?;
                    if code != 0 {
                        return Err(Error::Msg(format!(
                            "{}: exec {:?}: exit code {code}",
                            r.summary.names, opts.cmd
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Copies each host path to its container path in every container of
    /// `service` (removes it there when it is gone from the host).
    fn sync(&self, service: &str, maps: &[(PathBuf, String)]) -> Result<()> {
        let mut maps: Vec<&(PathBuf, String)> = maps.iter().collect();
        // parents first
        maps.sort_by(|a, b| a.1.cmp(&b.1));
        maps.dedup_by(|a, b| a.1 == b.1);
        for r in self.targets(&[service.to_string()], None)? {
            let id = &r.summary.id;
            for (host, cpath) in &maps {
                if host.symlink_metadata().is_ok() {
                    self.copy_in(id, host, cpath)?;
                } else {
                    self.engine.remove_in_container(id, cpath)?;
                }
            }
        }
        Ok(())
    }

    /// `host` (a file, a symlink or just a directory, not its content) to
    /// `cpath` in container `id`, the missing directories above it made.
    fn copy_in(&self, id: &str, host: &Path, cpath: &str) -> Result<()> {
        let mut base = parent(cpath).to_string();
        let mut rel = vec![basename(cpath).to_string()];
        loop {
            match self.engine.path_stat(id, &base) {
                Ok(st) => {
                    // a directory (bit 31) or a symlink (bit 27), followed
                    if st.mode & (1 << 31) != 0 || st.mode & (1 << 27) != 0 {
                        break;
                    }
                    return Err(Error::Msg(format!(
                        "sync {}: {base} is not a directory in the container",
                        host.display()
                    )));
                }
                Err(engine::Error::NoSuchObject(_)) if base != "/" => {
                    rel.insert(0, basename(&base).to_string());
                    base = parent(&base).to_string();
                }
                Err(e) => return Err(e.into()),
            }
        }
        let name = rel.join("/");
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        let data = b
            .append_path_with_name(host, &name)
            .and_then(|_| b.into_inner())
            .map_err(|e| Error::Msg(format!("sync {}: {e}", host.display())))?;
        // as compose's Untar (CopyToContainer with CopyUIDGID): the
        // synced files belong to the container's User
        self.engine.extract_to_container(
            &engine::cp::ExtractRequest {
                container: id.to_string(),
                path: base,
                no_overwrite_dir_non_dir: true,
                copy_uid_gid: true,
            },
            &mut &data[..],
        )?;
        Ok(())
    }
}

/// The files below `dir` (or `dir` itself if it is one).
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(meta) = dir.symlink_metadata() else {
        return;
    };
    if !meta.is_dir() {
        out.push(dir.to_path_buf());
        return;
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for ent in rd.flatten() {
            collect_files(&ent.path(), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_waits_for_the_batch_under_way_and_no_batch_starts_after() {
        let st = std::sync::Arc::new(WatchStop::default());
        let g = st.begin().expect("not stopped yet");
        let (tx, rx) = std::sync::mpsc::channel();
        let t = {
            let st = st.clone();
            std::thread::spawn(move || {
                st.stop();
                tx.send(()).unwrap();
            })
        };
        // stop() sets the flag at once but returns only once the batch ends
        while !st.is_stopped() {
            std::thread::yield_now();
        }
        assert!(rx.try_recv().is_err());
        drop(g);
        rx.recv().unwrap();
        t.join().unwrap();
        assert!(st.begin().is_none());
    }

    fn rule(ignore: &[&str], include: &[&str]) -> Rule {
        Rule {
            service: "web".into(),
            action: Action::Sync,
            path: PathBuf::from("/src"),
            target: "/app".into(),
            include: (!include.is_empty()).then(|| PatternMatcher::new(include).unwrap()),
            ignore: PatternMatcher::new(ignore).unwrap(),
            dockerignore: Some((
                PathBuf::from("/src"),
                PatternMatcher::new(&["secret.txt"]).unwrap(),
            )),
            exec: ServiceHook::default(),
            initial_sync: false,
        }
    }

    #[test]
    fn rule_matching_as_compose() {
        let r = rule(&["node_modules/", "*.log"], &[]);
        let m = |p: &str| r.matches(Path::new(p));
        assert_eq!(m("/src/a/b.txt"), Some(Some("/app/a/b.txt".into())));
        assert_eq!(m("/src"), Some(Some("/app".into())));
        assert_eq!(m("/other/x"), None);
        assert_eq!(m("/srcx/y"), None);
        assert_eq!(m("/src/node_modules/x/y.js"), None);
        assert_eq!(m("/src/x.log"), None);
        assert_eq!(m("/src/secret.txt"), None, ".dockerignore of the context");
        assert_eq!(m("/src/.git/HEAD"), None);
        assert_eq!(m("/src/a.txt.swp"), None);
        assert_eq!(m("/src/a.txt~"), None);
        let r = rule(&[], &["*.txt"]);
        assert_eq!(
            r.matches(Path::new("/src/a.txt")),
            Some(Some("/app/a.txt".into()))
        );
        assert_eq!(r.matches(Path::new("/src/a.js")), None);
    }

    #[test]
    fn rules_refused_with_their_field() {
        let yaml_rule = |action: &str, target: &str| berth_compose::Trigger {
            path: "/src".into(),
            action: action.into(),
            target: target.into(),
            ..Default::default()
        };
        let svc = |t| ServiceConfig {
            name: "web".into(),
            image: "x".into(),
            develop: Some(berth_compose::DevelopConfig { watch: vec![t] }),
            ..Default::default()
        };
        let o = WatchOptions::default();
        let e = |t| {
            rules_of(&svc(t), &o, &mut |_| {})
                .err()
                .unwrap()
                .to_string()
        };
        assert!(e(yaml_rule("copy", "/app")).contains("services.web.develop.watch[0].action"));
        assert!(e(yaml_rule("sync", "")).contains("services.web.develop.watch[0].target"));
        assert!(e(yaml_rule("rebuild", "")).contains("without a build context"));
        assert!(e(yaml_rule("sync+exec", "/app")).contains("without a command"));
    }

    #[test]
    fn inotify_reports_files_of_new_directories() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        let mut w = Watcher::new().unwrap();
        w.watch(&root).unwrap();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), "x").unwrap();
        let mut seen = BTreeSet::new();
        for _ in 0..50 {
            seen.extend(w.read(Duration::from_millis(100)).unwrap());
            if seen.contains(&root.join("a/b/f")) {
                break;
            }
        }
        assert!(seen.contains(&root.join("a/b/f")), "{seen:?}");
        // and later changes below it
        seen.clear();
        std::fs::write(root.join("a/b/g"), "y").unwrap();
        for _ in 0..50 {
            seen.extend(w.read(Duration::from_millis(100)).unwrap());
            if seen.contains(&root.join("a/b/g")) {
                break;
            }
        }
        assert!(seen.contains(&root.join("a/b/g")), "{seen:?}");
    }
}
