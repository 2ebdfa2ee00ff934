//! Runs a Compose project ([`berth_compose::Project`]) on Berth's engine,
//! as docker compose v2 does, with no socket in between: the objects'
//! names (`project-service-N`, `project_default`, `project_volume`) and
//! labels (`com.docker.compose.*`), the per-service config hash that
//! decides what is recreated, dependency order (`depends_on` with
//! `service_started`, `service_healthy`, `service_completed_successfully`)
//! and its reverse on `down`, scale, orphans, `--wait`.
//!
//! Every compose rule lives here once; `berth compose` (crates/berth)
//! parses flags into [`UpOptions`], [`DownOptions`]... and prints what the
//! calls return or report.

#![deny(unsafe_code)]

pub mod attach;
pub mod build;
pub mod commands;
pub mod digests;
mod files;
pub mod mapping;
pub mod order;
mod refs;
mod restart;
pub mod watch;

pub use build::{BuildMode, BuildOptions};
pub use refs::FirstContainers;

pub use commands::{
    copy_direction, CopyDirection, CopyOptions, ProjectEvent, PullOptions, PushOptions, Pusher,
    WaitOutcome,
};

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use berth_compose::{Project, ServiceConfig};
use engine::filters::Filters;
use engine::options::mounts::Mount;
use engine::{Engine, ListOptions, Status, Summary};

/// docker compose's label keys.
pub mod labels {
    pub const PROJECT: &str = "com.docker.compose.project";
    pub const SERVICE: &str = "com.docker.compose.service";
    pub const NUMBER: &str = "com.docker.compose.container-number";
    pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
    pub const ONEOFF: &str = "com.docker.compose.oneoff";
    pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
    pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
    pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
    pub const VERSION: &str = "com.docker.compose.version";
    pub const IMAGE: &str = "com.docker.compose.image";
    pub const NETWORK: &str = "com.docker.compose.network";
    pub const VOLUME: &str = "com.docker.compose.volume";
}

/// The docker compose version whose behaviour (and labels) Berth follows.
pub const COMPOSE_VERSION: &str = "2.40.3";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Msg(String),
    #[error(transparent)]
    Engine(#[from] engine::Error),
}

impl From<network::Error> for Error {
    fn from(e: network::Error) -> Error {
        Error::Msg(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

fn msg(m: impl Into<String>) -> Error {
    Error::Msg(m.into())
}

/// What an operation did to one object, as docker compose's progress
/// lines say it (` ✔ Container p-web-1  Started`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `Network`, `Volume`, `Container`, `Image`.
    pub kind: &'static str,
    pub name: String,
    /// `Created`, `Started`, `Recreated`, `Running`, `Healthy`, `Exited`,
    /// `Stopped`, `Removed`, `Pulled`, `Waiting`, `Warning: ...`.
    pub status: String,
}

/// Where events go.
pub type Report<'a> = &'a mut dyn FnMut(Event);

/// Pulls an image the store lacks (the CLI's registry client; the runner
/// stays registry-free).
pub trait Puller {
    fn pull(&self, image: &str) -> std::result::Result<(), String>;
}

/// Fails every pull (`--pull never` semantics for a library caller).
pub struct NoPull;

impl Puller for NoPull {
    fn pull(&self, image: &str) -> std::result::Result<(), String> {
        Err(format!("image {image} is not in the store"))
    }
}

/// `up`'s choices.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Services named on the command line (empty: all).
    pub services: Vec<String>,
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub remove_orphans: bool,
    /// `--scale SERVICE=N`.
    pub scale: BTreeMap<String, usize>,
    pub no_deps: bool,
    /// `--no-start`: create only.
    pub no_start: bool,
    /// `--wait`: until every container runs (healthy if it has a check).
    pub wait: bool,
    pub wait_timeout: Option<Duration>,
    /// `--pull`: `missing` (default), `always`, `never`, `policy` (each
    /// service's pull_policy).
    pub pull: String,
    /// `--build` / `--no-build` for services with a `build:` section.
    pub build: BuildMode,
    /// `-V`/`--renew-anon-volumes`: a recreated container gets new
    /// anonymous volumes instead of its predecessor's.
    pub renew_anon_volumes: bool,
    /// `--always-recreate-deps`: the dependencies of the services named
    /// are recreated too (`--force-recreate` is for those named).
    pub always_recreate_deps: bool,
}

/// `down`'s choices.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    pub remove_orphans: bool,
    /// `-v`: named volumes declared by the project and anonymous ones.
    pub volumes: bool,
    /// `-t`: seconds before SIGKILL.
    pub timeout: Option<i64>,
    /// `--rmi local|all`.
    pub rmi: Option<String>,
}

/// `run`'s choices (a one-off container of a service).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Replaces the service's command when not empty.
    pub command: Vec<String>,
    /// `--entrypoint` (a shell-less single word list).
    pub entrypoint: Option<Vec<String>>,
    /// `-e KEY=VALUE`, added to the service's environment.
    pub env: Vec<String>,
    /// `-l KEY=VALUE`.
    pub labels: Vec<String>,
    /// `--name`.
    pub name: Option<String>,
    /// `--rm`.
    pub rm: bool,
    /// `--service-ports`: publish the service's ports (not done by default).
    pub service_ports: bool,
    /// `-p`: ports to publish.
    pub publish: Vec<String>,
    /// `-v`: extra mounts (`-v` syntax).
    pub volumes: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    /// `--no-deps`: do not start the services it depends on.
    pub no_deps: bool,
}

/// One container of the project, as `ps` shows it.
#[derive(Debug, Clone)]
pub struct ContainerRow {
    pub summary: Summary,
    pub service: String,
    pub number: u32,
    pub project: String,
    /// `starting`, `healthy`, `unhealthy` or empty.
    pub health: String,
}

impl ContainerRow {
    fn of(e: &Engine, s: Summary) -> ContainerRow {
        let l = &s.labels;
        let health = if s.state == Status::Running {
            e.health(&s.id).map(|h| h.status).unwrap_or_default()
        } else {
            String::new()
        };
        ContainerRow {
            service: l.get(labels::SERVICE).cloned().unwrap_or_default(),
            number: l
                .get(labels::NUMBER)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            project: l.get(labels::PROJECT).cloned().unwrap_or_default(),
            health,
            summary: s,
        }
    }

    pub fn oneoff(&self) -> bool {
        self.summary.labels.get(labels::ONEOFF).map(String::as_str) == Some("True")
    }
}

/// The containers of every project (`compose ls`), by label.
pub fn project_containers(
    e: &Engine,
    project: Option<&str>,
    all: bool,
) -> Result<Vec<ContainerRow>> {
    project_containers_in(e, project, all, &[])
}

/// [`project_containers`] in one of `statuses` (docker's `status`
/// filter, checked by the engine; none: any).
pub fn project_containers_in(
    e: &Engine,
    project: Option<&str>,
    all: bool,
    statuses: &[String],
) -> Result<Vec<ContainerRow>> {
    let value = match project {
        Some(p) => format!("{}={p}", labels::PROJECT),
        None => labels::PROJECT.to_string(),
    };
    let mut filters = Filters::new().with("label", &value);
    for s in statuses {
        filters = filters.with("status", s);
    }
    let rows = e.ps(&ListOptions {
        all,
        filters,
        ..Default::default()
    })?;
    let mut rows: Vec<ContainerRow> = rows.into_iter().map(|s| ContainerRow::of(e, s)).collect();
    rows.sort_by(|a, b| {
        (a.service.as_str(), a.number, a.summary.names.as_str()).cmp(&(
            b.service.as_str(),
            b.number,
            b.summary.names.as_str(),
        ))
    });
    Ok(rows)
}

/// One row of `compose ls`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectSummary {
    pub name: String,
    /// `running(2), exited(1)`.
    pub status: String,
    pub config_files: String,
}

/// `compose ls` (`all`: projects with no running container too).
pub fn list_projects(e: &Engine, all: bool) -> Result<Vec<ProjectSummary>> {
    // as compose: the containers listed (running ones unless `all`) by
    // project, their states counted
    let rows = project_containers(e, None, all)?;
    let mut by: BTreeMap<String, (BTreeMap<String, usize>, String)> = BTreeMap::new();
    for r in rows {
        let ent = by.entry(r.project.clone()).or_default();
        *ent.0.entry(r.summary.state.to_string()).or_default() += 1;
        if let Some(f) = r.summary.labels.get(labels::CONFIG_FILES) {
            ent.1 = f.clone();
        }
    }
    Ok(by
        .into_iter()
        .map(|(name, (st, files))| ProjectSummary {
            name,
            status: st
                .iter()
                .map(|(s, n)| format!("{s}({n})"))
                .collect::<Vec<_>>()
                .join(", "),
            config_files: files,
        })
        .collect())
}

/// A loaded project on an engine.
pub struct Compose {
    pub engine: Engine,
    pub project: Project,
}

impl Compose {
    pub fn new(engine: Engine, project: Project) -> Compose {
        Compose { engine, project }
    }

    fn name(&self) -> &str {
        &self.project.name
    }

    /// `project-service-N`, or the service's `container_name`.
    pub fn container_name(&self, s: &ServiceConfig, number: u32) -> String {
        if !s.container_name.is_empty() {
            return s.container_name.clone();
        }
        format!("{}-{}-{number}", self.name(), s.name)
    }

    /// The engine name of network `key`.
    pub fn network_name(&self, key: &str) -> String {
        match self.project.networks.get(key) {
            Some(n) if !n.name.is_empty() => n.name.clone(),
            _ => format!("{}_{key}", self.name()),
        }
    }

    /// The engine name of volume `key`.
    pub fn volume_name(&self, key: &str) -> String {
        match self.project.volumes.get(key) {
            Some(v) if !v.name.is_empty() => v.name.clone(),
            _ => format!("{}_{key}", self.name()),
        }
    }

    /// The labels every container of service `s` carries (`firsts`: what
    /// its references name, for its config hash).
    pub fn container_labels(
        &self,
        s: &ServiceConfig,
        number: u32,
        image_id: &str,
        oneoff: bool,
        firsts: &FirstContainers,
    ) -> BTreeMap<String, String> {
        let mut l = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            l.insert(k.to_string(), v);
        };
        put(labels::PROJECT, self.name().to_string());
        put(labels::SERVICE, s.name.clone());
        put(labels::NUMBER, number.to_string());
        put(labels::CONFIG_HASH, self.config_hash(s, firsts));
        put(
            labels::ONEOFF,
            if oneoff { "True" } else { "False" }.to_string(),
        );
        put(labels::WORKING_DIR, self.project.working_dir.clone());
        put(labels::CONFIG_FILES, self.project.compose_files.join(","));
        put(
            labels::DEPENDS_ON,
            s.depends_on
                .iter()
                .map(|(d, c)| format!("{d}:{}:{}", c.condition, c.restart))
                .collect::<Vec<_>>()
                .join(","),
        );
        put(labels::VERSION, COMPOSE_VERSION.to_string());
        put(labels::IMAGE, image_id.to_string());
        l
    }

    /// `run` before its container starts: the service's dependencies up
    /// (unless `no_deps`) and their conditions met, then the one-off
    /// container created (`project-service-run-ID`, label oneoff=True);
    /// its id. The caller starts and attaches it.
    pub fn create_oneoff(
        &self,
        service: &str,
        o: &RunOptions,
        puller: &dyn Puller,
        report: Report,
    ) -> Result<String> {
        let s = self.service(service)?.clone();
        if !o.no_deps && !s.depends_on.is_empty() {
            let deps: Vec<String> = s
                .depends_on
                .keys()
                .filter(|d| self.project.services.contains_key(*d))
                .cloned()
                .collect();
            if !deps.is_empty() {
                let up = UpOptions {
                    services: deps,
                    pull: "policy".into(),
                    ..Default::default()
                };
                // only start what is not running: no recreate of running deps
                self.up(&up, puller, report)?;
            }
            for (dep, c) in &s.depends_on {
                if self.project.services.contains_key(dep) {
                    self.wait_dependency(service, dep, &c.condition, None)?;
                }
            }
        }
        let image_id = self.ensure_image(&s, "policy", BuildMode::Policy, puller, report)?;
        let mut m = mapping::create_options(&self.project, &s)?;
        let firsts = self.first_containers(&s)?;
        self.resolve_refs(&s, &firsts, &mut m.opts)?;
        for w in std::mem::take(&mut m.warnings) {
            report(Event {
                kind: "Warning",
                name: s.name.clone(),
                status: w,
            });
        }
        let opts = &mut m.opts;
        if !o.command.is_empty() {
            opts.cmd = o.command.clone();
        }
        if let Some(e) = &o.entrypoint {
            opts.entrypoint = Some(e.clone());
            if o.command.is_empty() {
                opts.cmd.clear();
            }
        }
        opts.env.extend(o.env.iter().cloned());
        opts.labels.extend(
            engine::options::parse_labels(&o.labels).map_err(|e| msg(format!("--label: {e}")))?,
        );
        if !o.service_ports {
            opts.port_bindings.clear();
        }
        // a one-off is reached by its container name only (compose run
        // without --use-aliases)
        opts.network_aliases.clear();
        for x in &mut m.extra_networks {
            x.1.clear();
        }
        for p in &o.publish {
            opts.port_bindings.push(
                engine::options::parse_publish(p)
                    .map_err(|e| msg(format!("--publish {p}: {e}")))?,
            );
        }
        for v in &o.volumes {
            opts.mounts.push(
                engine::options::mounts::parse_volume_flag(v)
                    .map_err(|e| msg(format!("--volume {v}: {e}")))?,
            );
        }
        if o.user.is_some() {
            opts.user = o.user.clone();
        }
        if o.workdir.is_some() {
            opts.working_dir = o.workdir.clone();
        }
        opts.tty = o.tty;
        opts.open_stdin = o.interactive;
        opts.auto_remove = o.rm;
        // a one-off container does not restart
        opts.restart_policy = engine::options::RestartPolicy::No;
        let suffix = engine::fsutil::random_id()?;
        let name = o
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{}-run-{}", self.name(), s.name, &suffix[..12]));
        opts.name = Some(name);
        let mut labels = self.container_labels(&s, 1, &image_id, true, &firsts);
        labels.remove(labels::NUMBER);
        opts.labels.extend(labels);
        self.ensure_networks(&self.used_networks(std::slice::from_ref(&s.name)), report)?;
        self.ensure_volumes(&self.used_volumes(std::slice::from_ref(&s.name)), report)?;
        let id = self.engine.create(opts)?;
        self.connect_extra(&id, &m.extra_networks)?;
        self.inject_files(&s, &id)?;
        Ok(id)
    }

    /// Writes the service's secrets and configs given by value into
    /// created container `id`; on a failure the container goes.
    fn inject_files(&self, s: &ServiceConfig, id: &str) -> Result<()> {
        if let Err(e) = files::inject(&self.engine, &self.project, s, id) {
            let _ = self.engine.remove(id, true);
            return Err(e);
        }
        Ok(())
    }

    /// The project's containers (`all`: stopped ones too).
    pub fn containers(&self, all: bool) -> Result<Vec<ContainerRow>> {
        project_containers(&self.engine, Some(self.name()), all)
    }

    fn service(&self, name: &str) -> Result<&ServiceConfig> {
        self.project
            .services
            .get(name)
            .ok_or_else(|| msg(format!("no such service: {name}")))
    }

    /// The services an operation is about: those named (all if none) and,
    /// unless `no_deps`, what they depend on; in dependency order.
    pub fn selected(&self, names: &[String], no_deps: bool) -> Result<Vec<String>> {
        for n in names {
            self.service(n)?;
        }
        let mut want: BTreeSet<String> = if names.is_empty() {
            self.project.services.keys().cloned().collect()
        } else {
            names.iter().cloned().collect()
        };
        if !no_deps {
            let mut stack: Vec<String> = want.iter().cloned().collect();
            while let Some(n) = stack.pop() {
                if let Some(s) = self.project.services.get(&n) {
                    for d in s.depends_on.keys() {
                        if self.project.services.contains_key(d) && want.insert(d.clone()) {
                            stack.push(d.clone());
                        }
                    }
                }
            }
        }
        Ok(self
            .dependency_order()?
            .into_iter()
            .filter(|n| want.contains(n))
            .collect())
    }

    /// Every service, dependencies first; a cycle is an error.
    pub fn dependency_order(&self) -> Result<Vec<String>> {
        fn visit(
            p: &Project,
            n: &str,
            state: &mut BTreeMap<String, u8>,
            out: &mut Vec<String>,
        ) -> Result<()> {
            match state.get(n) {
                Some(2) => return Ok(()),
                Some(1) => return Err(msg(format!("dependency cycle detected at service {n}"))),
                _ => {}
            }
            state.insert(n.to_string(), 1);
            if let Some(s) = p.services.get(n) {
                for d in s.depends_on.keys() {
                    if p.services.contains_key(d) {
                        visit(p, d, state, out)?;
                    }
                }
            }
            state.insert(n.to_string(), 2);
            out.push(n.to_string());
            Ok(())
        }
        let mut state = BTreeMap::new();
        let mut out = Vec::new();
        for n in self.project.services.keys() {
            visit(&self.project, n, &mut state, &mut out)?;
        }
        Ok(out)
    }

    /// How many containers service `s` runs.
    pub fn scale_of(&self, s: &ServiceConfig, overrides: &BTreeMap<String, usize>) -> usize {
        if let Some(n) = overrides.get(&s.name) {
            return *n;
        }
        if let Some(n) = s.scale {
            return n.max(0) as usize;
        }
        if let Some(n) = s.deploy.as_ref().and_then(|d| d.replicas) {
            return n.max(0) as usize;
        }
        1
    }

    // ------------------------------------------------------------------
    // networks and volumes

    fn used_networks(&self, services: &[String]) -> BTreeSet<String> {
        services
            .iter()
            .filter_map(|n| self.project.services.get(n))
            .filter(|s| s.network_mode.is_empty())
            .flat_map(|s| s.networks.keys().cloned())
            .collect()
    }

    fn used_volumes(&self, services: &[String]) -> BTreeSet<String> {
        services
            .iter()
            .filter_map(|n| self.project.services.get(n))
            .flat_map(|s| s.volumes.iter())
            .filter(|v| v.kind == "volume" && !v.source.is_empty())
            .map(|v| v.source.clone())
            .collect()
    }

    /// Creates the project's networks that do not exist (external ones
    /// must).
    pub fn ensure_networks(&self, keys: &BTreeSet<String>, report: Report) -> Result<()> {
        let mut m = engine::network::manager(&self.engine);
        for key in keys {
            let cfg = self.project.networks.get(key).cloned().unwrap_or_default();
            let name = self.network_name(key);
            if m.get(&name).is_ok() {
                continue;
            }
            if cfg.external {
                return Err(msg(format!(
                    "network {name} declared as external, but could not be found"
                )));
            }
            if !(cfg.driver.is_empty() || cfg.driver == "bridge") {
                return Err(msg(format!(
                    "networks.{key}.driver: {:?} not supported (bridge only)",
                    cfg.driver
                )));
            }
            if !cfg.driver_opts.is_empty() {
                return Err(msg(format!("networks.{key}.driver_opts: not supported")));
            }
            if cfg.enable_ipv6.unwrap_or(false) {
                return Err(msg(format!("networks.{key}.enable_ipv6: not supported")));
            }
            report(Event {
                kind: "Network",
                name: name.clone(),
                status: "Creating".into(),
            });
            let pool = cfg.ipam.config.first();
            let mut labels = cfg.labels.0.clone();
            labels.insert(labels::NETWORK.into(), key.clone());
            labels.insert(labels::PROJECT.into(), self.name().to_string());
            labels.insert(labels::VERSION.into(), COMPOSE_VERSION.into());
            m.create(&network::CreateNetwork {
                name: name.clone(),
                subnet: pool.map(|p| p.subnet.clone()).filter(|s| !s.is_empty()),
                gateway: pool.map(|p| p.gateway.clone()).filter(|s| !s.is_empty()),
                driver: Some("bridge".into()),
                internal: cfg.internal,
                labels,
            })?;
            report(Event {
                kind: "Network",
                name,
                status: "Created".into(),
            });
        }
        Ok(())
    }

    /// Creates the project's volumes that do not exist (external ones
    /// must).
    pub fn ensure_volumes(&self, keys: &BTreeSet<String>, report: Report) -> Result<()> {
        for key in keys {
            let cfg = self.project.volumes.get(key).cloned().unwrap_or_default();
            let name = self.volume_name(key);
            if self.engine.volume(&name).is_ok() {
                continue;
            }
            if cfg.external {
                return Err(msg(format!("external volume \"{name}\" not found")));
            }
            let mut labels = cfg.labels.0.clone();
            labels.insert(labels::VOLUME.into(), key.clone());
            labels.insert(labels::PROJECT.into(), self.name().to_string());
            labels.insert(labels::VERSION.into(), COMPOSE_VERSION.into());
            let driver = if cfg.driver.is_empty() {
                "local"
            } else {
                cfg.driver.as_str()
            };
            self.engine
                .create_volume(Some(&name), driver, labels, cfg.driver_opts.clone())
                .map_err(|e| msg(format!("volumes.{key}: {e}")))?;
            report(Event {
                kind: "Volume",
                name,
                status: "Created".into(),
            });
        }
        Ok(())
    }

    // ------------------------------------------------------------------
    // up

    fn image_id(&self, image: &str) -> Option<String> {
        self.engine
            .images()
            .resolve(image)
            .ok()
            .map(|i| i.record.id.to_string())
    }

    fn ensure_image(
        &self,
        s: &ServiceConfig,
        policy: &str,
        mode: BuildMode,
        puller: &dyn Puller,
        report: Report,
    ) -> Result<String> {
        if s.build.is_some() {
            return self.image_for_build(s, policy, mode, puller, report);
        }
        let policy = match policy {
            "" | "policy" => match s.pull_policy.as_str() {
                "" | "missing" | "if_not_present" => "missing",
                "always" => "always",
                "never" => "never",
                "build" => "missing",
                p if p.starts_with("daily")
                    || p.starts_with("weekly")
                    || p.starts_with("every_") =>
                {
                    "missing"
                }
                p => {
                    return Err(msg(format!(
                        "services.{}.pull_policy: {p:?} not supported",
                        s.name
                    )))
                }
            },
            p => p,
        };
        let have = self.image_id(&s.image);
        let pull = match policy {
            "always" => true,
            "missing" => have.is_none(),
            "never" => false,
            p => {
                return Err(msg(format!(
                    "invalid --pull {p:?}: expected always, missing, never or policy"
                )))
            }
        };
        if pull {
            puller
                .pull(&s.image)
                .map_err(|e| msg(format!("service {}: pulling {}: {e}", s.name, s.image)))?;
        }
        self.image_id(&s.image).ok_or_else(|| {
            msg(format!(
                "service {}: no such image: {} (and --pull never)",
                s.name, s.image
            ))
        })
    }

    /// Creates container `number` of `s`; `firsts`: what its references
    /// name; `inherit`: the mounts of the container it replaces, whose
    /// anonymous volumes it takes over (as compose keeps them across a
    /// recreate).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create_container(
        &self,
        s: &ServiceConfig,
        number: u32,
        name: &str,
        image_id: &str,
        firsts: &FirstContainers,
        inherit: &[engine::MountPoint],
        report: Report,
    ) -> Result<String> {
        let mut m = mapping::create_options(&self.project, s)?;
        self.resolve_refs(s, firsts, &mut m.opts)?;
        for mp in inherit.iter().filter(|mp| mp.kind == "volume") {
            let anonymous = self
                .engine
                .volume(&mp.name)
                .map(|v| v.anonymous())
                .unwrap_or(false);
            if !anonymous {
                continue;
            }
            let target = |x: &Mount| match x {
                Mount::Bind(b) => b.target.clone(),
                Mount::Volume(v) => v.target.clone(),
                Mount::Tmpfs(t) => t.target.clone(),
            };
            match m
                .opts
                .mounts
                .iter_mut()
                .find(|x| target(x) == mp.destination)
            {
                Some(Mount::Volume(v)) if v.name.is_none() => v.name = Some(mp.name.clone()),
                Some(_) => {}
                None if !m.opts.tmpfs.iter().any(|t| t.target == mp.destination) => {
                    // an image VOLUME
                    m.opts
                        .mounts
                        .push(Mount::Volume(engine::options::mounts::VolumeMount {
                            name: Some(mp.name.clone()),
                            target: mp.destination.clone(),
                            ..Default::default()
                        }))
                }
                None => {}
            }
        }
        for w in std::mem::take(&mut m.warnings) {
            report(Event {
                kind: "Warning",
                name: s.name.clone(),
                status: w,
            });
        }
        m.opts.name = Some(name.to_string());
        m.opts
            .labels
            .extend(self.container_labels(s, number, image_id, false, firsts));
        // the primary network with the container name as an alias too
        let id = self.engine.create(&m.opts)?;
        self.connect_extra(&id, &m.extra_networks)?;
        self.inject_files(s, &id)?;
        Ok(id)
    }

    /// Joins a created container to its service's other networks; on a
    /// failure the container goes (nothing half-made stays).
    fn connect_extra(
        &self,
        id: &str,
        extra: &[(String, Vec<String>, Option<std::net::Ipv4Addr>)],
    ) -> Result<()> {
        for (net, aliases, ip) in extra {
            let join = network::Join {
                aliases: aliases.clone(),
                ip: *ip,
                dns: Vec::new(),
            };
            if let Err(e) = engine::network::connect(&self.engine, id, net, &join) {
                let _ = self.engine.remove(id, true);
                return Err(e.into());
            }
        }
        Ok(())
    }

    fn remove_container(
        &self,
        r: &ContainerRow,
        timeout: Option<i64>,
        volumes: bool,
    ) -> Result<()> {
        let id = &r.summary.id;
        // (its state now: a dependency's recreate may have stopped it)
        let active = match self.engine.state(id) {
            Ok(st) => st.status.is_active(),
            Err(_) => r.summary.state.is_active(),
        };
        if active {
            // (stop thaws a paused container itself.)
            self.engine.stop(id, timeout)?;
        }
        if volumes {
            self.engine.remove_with_volumes(id, true)?;
        } else {
            self.engine.remove(id, true)?;
        }
        Ok(())
    }

    /// Blocks until `dep`'s containers satisfy `condition`.
    fn wait_dependency(
        &self,
        svc: &str,
        dep: &str,
        condition: &str,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let rows: Vec<ContainerRow> = self
            .containers(true)?
            .into_iter()
            .filter(|r| r.service == dep && !r.oneoff())
            .collect();
        for r in rows {
            let cname = r.summary.names.clone();
            match condition {
                "" | "service_started" => {}
                "service_healthy" => loop {
                    let st = self.engine.state(&r.summary.id)?;
                    if !st.running() {
                        return Err(msg(format!(
                            "dependency failed to start: container {cname} exited ({})",
                            st.exit_code
                        )));
                    }
                    match self.engine.health(&r.summary.id).map(|h| h.status) {
                        None => {
                            return Err(msg(format!(
                                "dependency failed to start: container {cname} has no healthcheck configured"
                            )))
                        }
                        Some(h) if h == "healthy" => break,
                        Some(h) if h == "unhealthy" => {
                            return Err(msg(format!(
                                "dependency failed to start: container {cname} is unhealthy"
                            )))
                        }
                        _ => {}
                    }
                    if deadline.is_some_and(|d| Instant::now() > d) {
                        return Err(msg(format!(
                            "timeout waiting for {cname} to be healthy (service {svc} depends on it)"
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                },
                "service_completed_successfully" => {
                    let code = self.engine.wait(&r.summary.id)?;
                    if code != 0 {
                        return Err(msg(format!(
                            "service \"{dep}\" didn't complete successfully: exit {code}"
                        )));
                    }
                }
                c => {
                    return Err(msg(format!(
                        "services.{svc}.depends_on.{dep}.condition: {c:?} is not one of service_started, service_healthy, service_completed_successfully"
                    )))
                }
            }
        }
        Ok(())
    }

    /// `up`: networks, volumes, then each service in dependency order
    /// (containers created, recreated or kept by config hash and image,
    /// scaled, started once their dependencies' conditions hold).
    pub fn up(&self, o: &UpOptions, puller: &dyn Puller, report: Report) -> Result<()> {
        if o.force_recreate && o.no_recreate {
            return Err(msg("--force-recreate and --no-recreate are incompatible"));
        }
        for k in o.scale.keys() {
            self.service(k)?;
        }
        let services = self.selected(&o.services, o.no_deps)?;
        for n in &services {
            mapping::check_supported(self.service(n)?)?;
        }
        let existing = self.containers(true)?;
        let orphans: Vec<&ContainerRow> = existing
            .iter()
            .filter(|r| !r.oneoff() && !self.known_service(&r.service))
            .collect();
        if !orphans.is_empty() {
            if o.remove_orphans {
                for r in orphans {
                    self.remove_container(r, None, false)?;
                    report(Event {
                        kind: "Container",
                        name: r.summary.names.clone(),
                        status: "Removed".into(),
                    });
                }
            } else {
                let names: Vec<_> = orphans.iter().map(|r| r.summary.names.clone()).collect();
                report(Event {
                    kind: "Warning",
                    name: self.name().to_string(),
                    status: format!(
                        "Found orphan containers ({}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                        names.join(", ")
                    ),
                });
            }
        }
        let mut images = BTreeMap::new();
        for n in &services {
            let s = self.service(n)?;
            images.insert(
                n.clone(),
                self.ensure_image(s, &o.pull, o.build, puller, report)?,
            );
        }
        self.ensure_networks(&self.used_networks(&services), report)?;
        self.ensure_volumes(&self.used_volumes(&services), report)?;
        let deadline = o.wait_timeout.map(|t| Instant::now() + t);
        // containers of dependents (`restart: true`) stopped by a
        // dependency's recreate: started again by their own converge,
        // or at the end when not part of this up
        let progress = std::sync::Mutex::new(restart::Progress::default());
        // as compose: each service once its dependencies are (in
        // parallel where independent)
        let converged = order::traverse(
            &services,
            &self.dependency_graph(),
            order::Direction::Up,
            0,
            report,
            |n, report| {
                self.up_service(
                    n, &services, &images[n], o, &existing, deadline, &progress, report,
                )
            },
        );
        if let Err(e) = converged {
            // dependents stopped for a recreate do not stay stopped
            self.restart_stopped(&progress);
            return Err(e);
        }
        if !o.no_start {
            let stopped = progress.into_inner().unwrap_or_default().stopped;
            let mut first_err = None;
            let restarting: Vec<&ContainerRow> = existing
                .iter()
                .filter(|r| stopped.contains(&r.summary.id) && !services.contains(&r.service))
                .collect();
            // what their references name, from one listing for them all
            let firsts = if restarting.is_empty() {
                FirstContainers::default()
            } else {
                FirstContainers::of(&self.containers(true)?)
            };
            for r in restarting {
                // one whose namespace or volumes were its dependency's
                // old container's cannot start again: the next up of its
                // service replaces it
                let stale = self.project.services.get(&r.service).is_some_and(|s| {
                    r.summary.labels.get(labels::CONFIG_HASH) != Some(&self.config_hash(s, &firsts))
                });
                if stale {
                    report(Event {
                        kind: "Warning",
                        name: r.summary.names.clone(),
                        status: format!(
                            "container {} shares what a recreated container had: left stopped until `up {}` recreates it",
                            r.summary.names, r.service
                        ),
                    });
                    continue;
                }
                // one failing to start does not leave the others stopped
                match self.engine.start(&r.summary.id) {
                    Ok(()) => report(Event {
                        kind: "Container",
                        name: r.summary.names.clone(),
                        status: "Started".into(),
                    }),
                    Err(e) => {
                        first_err.get_or_insert(Error::from(e));
                    }
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
        }
        if o.wait && !o.no_start {
            self.wait_running(&services, deadline, report)?;
        }
        Ok(())
    }

    /// Each service's dependencies (among the project's services).
    pub fn dependency_graph(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.project
            .services
            .iter()
            .map(|(n, s)| (n.clone(), s.depends_on.keys().cloned().collect()))
            .collect()
    }

    /// `up` of one service: its dependencies' conditions waited for,
    /// then its containers converged.
    #[allow(clippy::too_many_arguments)]
    fn up_service(
        &self,
        n: &str,
        services: &[String],
        image_id: &str,
        o: &UpOptions,
        existing: &[ContainerRow],
        deadline: Option<Instant>,
        progress: &std::sync::Mutex<restart::Progress>,
        report: Report,
    ) -> Result<()> {
        {
            let s = self.service(n)?;
            if !o.no_start {
                for (dep, c) in &s.depends_on {
                    if !services.contains(dep) {
                        if c.required && !self.project.services.contains_key(dep) {
                            return Err(msg(format!(
                                "service {n} depends on undefined service {dep}"
                            )));
                        }
                        if !o.no_deps && !c.required {
                            continue;
                        }
                    }
                    if let Err(e) = self.wait_dependency(n, dep, &c.condition, deadline) {
                        if c.required {
                            return Err(e);
                        }
                        report(Event {
                            kind: "Warning",
                            name: n.to_string(),
                            status: format!("optional dependency {dep}: {e}"),
                        });
                    }
                }
            }
            self.converge(s, image_id, o, existing, progress, report)
        }
    }

    fn converge(
        &self,
        s: &ServiceConfig,
        image_id: &str,
        o: &UpOptions,
        existing: &[ContainerRow],
        progress: &std::sync::Mutex<restart::Progress>,
        report: Report,
    ) -> Result<()> {
        let want = self.scale_of(s, &o.scale);
        if want > 1 && !s.container_name.is_empty() {
            return Err(msg(format!(
                "services.{}: container_name {:?} cannot be used with more than one replica",
                s.name, s.container_name
            )));
        }
        // what its references name, listed once for its hash and creates
        let firsts = self.first_containers(s)?;
        let hash = self.config_hash(s, &firsts);
        let mine: Vec<&ContainerRow> = existing
            .iter()
            .filter(|r| r.service == s.name && !r.oneoff())
            .collect();
        let mut mine = self.finish_recreates(s, mine, report)?;
        // highest numbers go first when scaling down (compose's order)
        mine.sort_by_key(|r| std::cmp::Reverse(r.number));
        let mut kept: BTreeMap<u32, &ContainerRow> = BTreeMap::new();
        for r in mine.iter().map(|r| r.as_ref()) {
            if (r.number as usize) > want || r.number == 0 || kept.contains_key(&r.number) {
                self.remove_reporting(r, None, false, report)?;
            } else {
                kept.insert(r.number, r);
            }
        }
        let mut to_start = Vec::new();
        for number in 1..=want as u32 {
            let name = self.container_name(s, number);
            match kept.get(&number) {
                Some(r) => {
                    let old_hash = r.summary.labels.get(labels::CONFIG_HASH);
                    let changed = old_hash.map(String::as_str) != Some(hash.as_str())
                        || r.summary.image_id != image_id;
                    let changed = changed || self.parent_recreated(s, progress);
                    // compose: --force-recreate is the strategy of the
                    // services named (all when none), --always-recreate-deps
                    // that of their dependencies
                    let named = o.services.is_empty() || o.services.contains(&s.name);
                    let force = if named {
                        o.force_recreate
                    } else {
                        o.always_recreate_deps
                    };
                    if force || (changed && !o.no_recreate) {
                        report(Event {
                            kind: "Container",
                            name: name.clone(),
                            status: "Recreate".into(),
                        });
                        let id = self.recreate(
                            s,
                            number,
                            &name,
                            image_id,
                            &firsts,
                            r,
                            existing,
                            !o.renew_anon_volumes,
                            progress,
                            report,
                        )?;
                        if let Ok(mut p) = progress.lock() {
                            p.recreated.insert(s.name.clone());
                        }
                        report(Event {
                            kind: "Container",
                            name: name.clone(),
                            status: "Recreated".into(),
                        });
                        to_start.push((id, name));
                    } else if self
                        .engine
                        .state(&r.summary.id)
                        .map(|st| st.running())
                        .unwrap_or(false)
                    {
                        report(Event {
                            kind: "Container",
                            name: name.clone(),
                            status: "Running".into(),
                        });
                    } else {
                        to_start.push((r.summary.id.clone(), name));
                    }
                }
                None => {
                    report(Event {
                        kind: "Container",
                        name: name.clone(),
                        status: "Creating".into(),
                    });
                    let id =
                        self.create_container(s, number, &name, image_id, &firsts, &[], report)?;
                    report(Event {
                        kind: "Container",
                        name: name.clone(),
                        status: "Created".into(),
                    });
                    to_start.push((id, name));
                }
            }
        }
        if !o.no_start {
            for (id, name) in to_start {
                report(Event {
                    kind: "Container",
                    name: name.clone(),
                    status: "Starting".into(),
                });
                self.engine.start(&id)?;
                report(Event {
                    kind: "Container",
                    name,
                    status: "Started".into(),
                });
            }
        }
        Ok(())
    }

    /// `--wait`: every container of `services` running (and healthy if it
    /// has a healthcheck); one that exited is fine only with status 0 when
    /// another service waits for it to complete.
    fn wait_running(
        &self,
        services: &[String],
        deadline: Option<Instant>,
        report: Report,
    ) -> Result<()> {
        let completes: BTreeSet<&String> = self
            .project
            .services
            .values()
            .flat_map(|s| s.depends_on.iter())
            .filter(|(_, c)| c.condition == "service_completed_successfully")
            .map(|(d, _)| d)
            .collect();
        let rows: Vec<ContainerRow> = self
            .containers(true)?
            .into_iter()
            .filter(|r| services.contains(&r.service) && !r.oneoff())
            .collect();
        for r in rows {
            let name = r.summary.names.clone();
            report(Event {
                kind: "Container",
                name: name.clone(),
                status: "Waiting".into(),
            });
            loop {
                let st = self.engine.state(&r.summary.id)?;
                if !st.running() && st.status != Status::Created {
                    if st.exit_code == 0 && completes.contains(&r.service) {
                        report(Event {
                            kind: "Container",
                            name: name.clone(),
                            status: "Exited".into(),
                        });
                        break;
                    }
                    return Err(msg(format!("container {name} exited ({})", st.exit_code)));
                }
                if st.running() {
                    match self.engine.health(&r.summary.id).map(|h| h.status) {
                        None => {
                            report(Event {
                                kind: "Container",
                                name: name.clone(),
                                status: "Healthy".into(),
                            });
                            break;
                        }
                        Some(h) if h == "healthy" => {
                            report(Event {
                                kind: "Container",
                                name: name.clone(),
                                status: "Healthy".into(),
                            });
                            break;
                        }
                        Some(h) if h == "unhealthy" => {
                            return Err(msg(format!("container {name} is unhealthy")))
                        }
                        _ => {}
                    }
                }
                if deadline.is_some_and(|d| Instant::now() > d) {
                    return Err(msg(format!(
                        "timeout waiting for container {name} to be running and healthy"
                    )));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// A service of the model, enabled or in a disabled profile (compose's
    /// `isOrphaned` knows both).
    fn known_service(&self, name: &str) -> bool {
        self.project.services.contains_key(name)
            || self.project.disabled_services.contains_key(name)
    }

    // ------------------------------------------------------------------
    // down

    /// Acts on `rows` in compose's InReverseDependencyOrder (`down`,
    /// `stop`): the containers of services `order` does not know (orphans)
    /// first, then dependents before what they depend on, independent
    /// services at the same time. The whole order is walked: a service with
    /// no container between two that have one still carries the dependency.
    fn in_reverse_dependency_order(
        &self,
        order: &[String],
        rows: &[&ContainerRow],
        report: Report,
        act: &(dyn Fn(&ContainerRow, Report) + Sync),
    ) -> Result<()> {
        for r in rows.iter().filter(|r| !order.contains(&r.service)) {
            act(r, report);
        }
        order::traverse(
            order,
            &self.dependency_graph(),
            order::Direction::Down,
            0,
            report,
            |n, report| {
                for r in rows.iter().filter(|r| r.service == n) {
                    act(r, report);
                }
                Ok(())
            },
        )
    }

    /// `down`: the project's containers stopped and removed in reverse
    /// dependency order, then its networks; with `-v` its volumes.
    pub fn down(&self, o: &DownOptions, report: Report) -> Result<()> {
        let order = self.dependency_order()?;
        // a disabled profile's containers are neither the project's to
        // remove nor orphans (compose's isOrphaned)
        let rows: Vec<ContainerRow> = self
            .containers(true)?
            .into_iter()
            .filter(|r| !self.project.disabled_services.contains_key(&r.service))
            .collect();
        let rank = |r: &ContainerRow| order.iter().position(|n| *n == r.service);
        let mine: Vec<&ContainerRow> = rows
            .iter()
            .filter(|r| rank(r).is_some() || o.remove_orphans)
            .collect();
        let orphans: Vec<String> = rows
            .iter()
            .filter(|r| rank(r).is_none() && !o.remove_orphans)
            .map(|r| r.summary.names.clone())
            .collect();
        if !orphans.is_empty() {
            report(Event {
                kind: "Warning",
                name: self.name().to_string(),
                status: format!(
                    "Found orphan containers ({}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                    orphans.join(", ")
                ),
            });
        }
        let errs = std::sync::Mutex::new(Vec::new());
        let remove = |r: &ContainerRow, report: Report| {
            let timeout = o
                .timeout
                .or_else(|| self.project.services.get(&r.service).and_then(stop_timeout));
            if let Err(e) = self.remove_reporting(r, timeout, o.volumes, report) {
                if let Ok(mut v) = errs.lock() {
                    v.push(format!("{}: {e}", r.summary.names));
                }
            }
        };
        self.in_reverse_dependency_order(&order, &mine, report, &remove)?;
        let mut errs = errs.into_inner().unwrap_or_default();
        let mut m = engine::network::manager(&self.engine);
        for (key, cfg) in &self.project.networks {
            if cfg.external {
                continue;
            }
            let name = self.network_name(key);
            let Ok(net) = m.get(&name) else { continue };
            if net.labels.get(labels::PROJECT).map(String::as_str) != Some(self.name()) {
                continue;
            }
            report(Event {
                kind: "Network",
                name: name.clone(),
                status: "Removing".into(),
            });
            match self.engine.remove_network(&name) {
                Ok(_) => report(Event {
                    kind: "Network",
                    name,
                    status: "Removed".into(),
                }),
                // still used (a container of a disabled profile, another
                // project's): compose v2 warns and goes on (down.go's
                // removeNetwork, "Resource is still in use")
                Err(engine::Error::Conflict(_)) => report(Event {
                    kind: "Network",
                    name,
                    status: "Resource is still in use".into(),
                }),
                Err(e) => errs.push(format!("network {name}: {e}")),
            }
        }
        let _ = &mut m;
        if o.volumes {
            for (key, cfg) in &self.project.volumes {
                if cfg.external {
                    continue;
                }
                let name = self.volume_name(key);
                let Ok(v) = self.engine.volume(&name) else {
                    continue;
                };
                if v.labels.get(labels::PROJECT).map(String::as_str) != Some(self.name()) {
                    continue;
                }
                match self.engine.remove_volume(&name, false) {
                    Ok(()) => report(Event {
                        kind: "Volume",
                        name,
                        status: "Removed".into(),
                    }),
                    Err(e) => errs.push(format!("volume {name}: {e}")),
                }
            }
        }
        if let Some(rmi) = &o.rmi {
            let images: BTreeSet<String> = match rmi.as_str() {
                // the images built for services with no `image:`
                "local" => self
                    .project
                    .services
                    .values()
                    .filter(|s| s.image.is_empty() && s.build.is_some())
                    .map(|s| build::image_name(&self.project, s))
                    .collect(),
                "all" => self
                    .project
                    .services
                    .values()
                    .map(|s| build::image_name(&self.project, s))
                    .collect(),
                x => return Err(msg(format!("invalid --rmi {x:?}: expected local or all"))),
            };
            for img in images {
                let r = engine::images::remove(
                    self.engine.images(),
                    std::slice::from_ref(&img),
                    false,
                    false,
                )
                .map_err(Error::from)
                .and_then(|mut rep| match rep.results.pop() {
                    Some((_, Err(e))) => Err(Error::from(e)),
                    _ => Ok(()),
                });
                match r {
                    Ok(()) => report(Event {
                        kind: "Image",
                        name: img,
                        status: "Removed".into(),
                    }),
                    Err(e) => errs.push(format!("image {img}: {e}")),
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(msg(errs.join("\n")))
        }
    }

    /// `ps`: the project's containers of `services` (all if empty).
    /// `ps`: the containers of `services` (all if empty) in one of
    /// `statuses` (none: running ones, or any with `all`).
    pub fn ps(
        &self,
        services: &[String],
        all: bool,
        statuses: &[String],
    ) -> Result<Vec<ContainerRow>> {
        for s in services {
            self.service(s)?;
        }
        Ok(
            project_containers_in(&self.engine, Some(self.name()), all, statuses)?
                .into_iter()
                .filter(|r| services.is_empty() || services.contains(&r.service))
                .collect(),
        )
    }

    /// The containers of `services` (all if empty), for start/stop/...;
    /// `index`: only container number N.
    pub fn targets(&self, services: &[String], index: Option<u32>) -> Result<Vec<ContainerRow>> {
        let rows = self.ps(services, true, &[])?;
        Ok(rows
            .into_iter()
            .filter(|r| !r.oneoff() && index.map_or(true, |i| r.number == i))
            .collect())
    }

    /// The container of `service` with number `index` (default 1) that
    /// `exec`, `port` and `logs --index` address.
    pub fn container_of(&self, service: &str, index: Option<u32>) -> Result<ContainerRow> {
        let rows = self.targets(&[service.to_string()], Some(index.unwrap_or(1)))?;
        rows.into_iter().next().ok_or_else(|| {
            msg(format!(
                "service \"{service}\" is not running container #{}",
                index.unwrap_or(1)
            ))
        })
    }

    /// `stop` (and an attached `up`'s on Ctrl-C or abort): the running
    /// or paused containers of `services` (all if empty), dependents
    /// before what they depend on, independent services at the same
    /// time (compose's InReverseDependencyOrder); each with `timeout`,
    /// or its service's `stop_grace_period`, or the engine's default. A
    /// container failing to stop does not keep the others running: every
    /// one is tried, the failures said together.
    pub fn stop(&self, services: &[String], timeout: Option<i64>, report: Report) -> Result<()> {
        let order = self.dependency_order()?;
        let rows = self.targets(services, None)?;
        let errs = std::sync::Mutex::new(Vec::new());
        let stop = |r: &ContainerRow, report: Report| {
            if r.summary.state != Status::Running && r.summary.state != Status::Paused {
                return;
            }
            let t =
                timeout.or_else(|| self.project.services.get(&r.service).and_then(stop_timeout));
            report(Event {
                kind: "Container",
                name: r.summary.names.clone(),
                status: "Stopping".into(),
            });
            match self.engine.stop(&r.summary.id, t) {
                Ok(()) => report(Event {
                    kind: "Container",
                    name: r.summary.names.clone(),
                    status: "Stopped".into(),
                }),
                Err(e) => {
                    if let Ok(mut v) = errs.lock() {
                        v.push(format!("{}: {e}", r.summary.names));
                    }
                }
            }
        };
        let rows: Vec<&ContainerRow> = rows.iter().collect();
        self.in_reverse_dependency_order(&order, &rows, report, &stop)?;
        let errs = errs.into_inner().unwrap_or_default();
        if errs.is_empty() {
            Ok(())
        } else {
            Err(msg(errs.join("\n")))
        }
    }

    /// `kill` (and an attached `up`'s second Ctrl-C): `signal` to each
    /// running container of `services` (all if empty); every one is
    /// tried, the failures said together.
    pub fn kill(&self, services: &[String], signal: &str, report: Report) -> Result<()> {
        engine::options::parse_signal("--signal", signal)?;
        let mut errs = Vec::new();
        for r in self.targets(services, None)? {
            if r.summary.state != Status::Running {
                continue;
            }
            report(Event {
                kind: "Container",
                name: r.summary.names.clone(),
                status: "Killing".into(),
            });
            match self.engine.kill(&r.summary.id, Some(signal)) {
                Ok(()) => report(Event {
                    kind: "Container",
                    name: r.summary.names.clone(),
                    status: "Killed".into(),
                }),
                Err(e) => errs.push(format!("{}: {e}", r.summary.names)),
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(msg(errs.join("\n")))
        }
    }

    /// `start`: existing containers, in dependency order.
    pub fn start(&self, services: &[String], report: Report) -> Result<()> {
        let order = self.dependency_order()?;
        let mut rows = self.targets(services, None)?;
        rows.sort_by_key(|r| order.iter().position(|n| *n == r.service).unwrap_or(0));
        if rows.is_empty() {
            return Err(msg("no containers to start"));
        }
        for r in rows {
            if r.summary.state == Status::Running {
                continue;
            }
            report(Event {
                kind: "Container",
                name: r.summary.names.clone(),
                status: "Starting".into(),
            });
            self.engine.start(&r.summary.id)?;
            report(Event {
                kind: "Container",
                name: r.summary.names.clone(),
                status: "Started".into(),
            });
        }
        Ok(())
    }
}

/// A service's `stop_grace_period` in seconds.
pub(crate) fn stop_timeout(s: &ServiceConfig) -> Option<i64> {
    s.stop_grace_period.map(|d| d.0 / 1_000_000_000)
}
