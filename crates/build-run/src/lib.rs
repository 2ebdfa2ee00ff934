//! Berth's image builder, second part (issue 13): the Dockerfile evaluator
//! on the engine library, no daemon.
//!
//! - [`build`]: a [`BuildRequest`] (context directory or tar, Dockerfile,
//!   tags, build args, target, labels, `--no-cache`) into an image in the
//!   engine's store. The stages the target needs are built in dependency
//!   order, the others not at all.
//! - RUN runs in a Berth container created from the step's parent image
//!   (the engine's `run`); its layer is the container's changes as the
//!   engine's `commit` takes them ([`engine::Engine::changes_tar`]).
//! - COPY/ADD put their files into a created (never started) container of
//!   the parent image through the engine's `cp` machinery (paths resolved
//!   inside the root), then take the changes the same way; sources come
//!   from the context (resolved inside it, `.dockerignore` applied) or from
//!   a stage's or image's filesystem.
//! - Metadata steps change the config only and add an `empty_layer`
//!   history entry, as BuildKit writes them.
//! - [`cache`]: the persistent step cache (key → image id) in the store,
//!   keyed with `berth-build`'s content-addressed keys; [`prune`]: its
//!   size, `builder prune` and the default cap; [`cache_io`]: `--cache-to`
//!   and `--cache-from`.
//! - [`output`]: `--output` (local, tar, oci, docker); [`git`]: a git
//!   repository as the context.
//! - Build containers carry the builder's pid in a label and the builder
//!   holds a lock file while it runs: a build killed with -9 leaves its
//!   containers to the next build, which removes them ([`reap`]).

#![deny(unsafe_code)]

pub mod cache;
pub mod cache_io;
mod copy;
mod driver;
mod eval;
pub mod git;
mod layers;
mod mounts;
pub mod output;
pub mod prune;
pub mod reap;
mod remote;
mod rewrite;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

pub use cache_io::{CacheRegistry, CacheSpec};
pub use driver::build;
pub use output::Output;

/// Where the build context comes from.
pub enum ContextSource {
    /// A directory (walked once; nothing copied).
    Dir(PathBuf),
    /// A tar stream (`berth build -`), unpacked into a temp directory of
    /// the store.
    Tar(Box<dyn Read>),
    /// A git repository, `URL#ref:subdir` ([`git`]).
    Git(String),
}

/// Where the Dockerfile comes from.
#[derive(Debug, Clone)]
pub enum DockerfileSource {
    /// A path relative to the context (default `Dockerfile`).
    InContext(String),
    /// A file outside (or inside) the context, by its host path.
    Path(PathBuf),
    /// The bytes themselves (`-f -`), with the name used in messages.
    Bytes { name: String, data: Vec<u8> },
}

/// `berth build`'s typed request.
pub struct BuildRequest {
    pub context: ContextSource,
    pub dockerfile: DockerfileSource,
    /// `-t` (several).
    pub tags: Vec<image::Reference>,
    /// `--build-arg KEY=VALUE` (a bare `KEY` takes the caller's
    /// environment, which the CLI resolves).
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--no-cache`: no step is taken from the cache (results still go in).
    pub no_cache: bool,
    /// `--no-cache-filter`: the stages (by name, case-insensitive, as
    /// BuildKit's dockerfile frontend matches them) whose steps are taken
    /// from no cache. A re-run step gives a new result: the steps of the
    /// stages built on it miss too, the other stages hit. A name no stage
    /// has is ignored with a warning (BuildKit ignores it silently).
    pub no_cache_filter: Vec<String>,
    /// `--pull`: pull every base image even when the store has it.
    pub pull: bool,
    /// `--label`: labels of the final image.
    pub labels: BTreeMap<String, String>,
    /// `--network` for RUN steps (`default`, `none`, `host`).
    pub network: Option<String>,
    /// `--output` (none: the image in the store, tagged).
    pub outputs: Vec<Output>,
    /// `--cache-from`.
    pub cache_from: Vec<CacheSpec>,
    /// `--cache-to`.
    pub cache_to: Vec<CacheSpec>,
    /// How registry caches are pushed and pulled.
    pub cache_registry: Option<Box<dyn CacheRegistry>>,
    /// `--secret id=…`: what `RUN --mount=type=secret,id=…` sees. Never
    /// written to a layer, the history or a cache key.
    pub secrets: BTreeMap<String, SecretSource>,
    /// `--ssh id=SOCKET`: the agent sockets `RUN --mount=type=ssh,id=…`
    /// forwards (`default` for a bare `--ssh default`).
    pub ssh: BTreeMap<String, PathBuf>,
    /// Cancels the build from another thread (the CLI's SIGINT/SIGTERM).
    pub cancel: Cancel,
}

/// A build's cancellation: [`Cancel::cancel`] from any thread kills the
/// RUN containers the build runs; the build then removes them and ends
/// with [`Error::Canceled`] before its next step.
#[derive(Clone, Default, Debug)]
pub struct Cancel(std::sync::Arc<CancelState>);

#[derive(Default, Debug)]
struct CancelState {
    canceled: std::sync::atomic::AtomicBool,
    /// The RUN containers running now.
    running: std::sync::Mutex<Vec<String>>,
}

impl Cancel {
    pub fn is_canceled(&self) -> bool {
        self.0.canceled.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Marks the build canceled and kills its running RUN containers.
    pub fn cancel(&self, engine: &engine::Engine) {
        self.0
            .canceled
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let ids = self
            .0
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for id in ids {
            let _ = engine.kill(&id, None);
        }
    }

    /// Container `id` started for a RUN: killed here when the build was
    /// canceled meanwhile, else by a later [`Cancel::cancel`].
    pub(crate) fn started(&self, engine: &engine::Engine, id: &str) {
        let mut running = self.0.running.lock().unwrap_or_else(|e| e.into_inner());
        running.push(id.to_string());
        if self.is_canceled() {
            let _ = engine.kill(id, None);
        }
    }

    pub(crate) fn ended(&self, id: &str) {
        self.0
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|r| r != id);
    }
}

/// Where a `--secret` comes from.
#[derive(Clone)]
pub enum SecretSource {
    /// A file, read when a RUN mounts it.
    File(PathBuf),
    /// The value itself (`env=VAR`, read by the caller from its
    /// environment).
    Value(Vec<u8>),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::File(p) => write!(f, "File({})", p.display()),
            SecretSource::Value(_) => f.write_str("Value(…)"),
        }
    }
}

impl Default for BuildRequest {
    fn default() -> Self {
        BuildRequest {
            context: ContextSource::Dir(PathBuf::from(".")),
            dockerfile: DockerfileSource::InContext("Dockerfile".into()),
            tags: vec![],
            build_args: BTreeMap::new(),
            target: None,
            no_cache: false,
            no_cache_filter: vec![],
            pull: false,
            labels: BTreeMap::new(),
            network: None,
            outputs: vec![],
            cache_from: vec![],
            cache_to: vec![],
            cache_registry: None,
            secrets: BTreeMap::new(),
            ssh: BTreeMap::new(),
            cancel: Cancel::default(),
        }
    }
}

/// A step's label as BuildKit prints it: `[stage 2/5]` (`[2/5]` for an
/// unnamed stage), the index padded to the width of the total as
/// BuildKit's `%*d` (`[ 2/10]`); the CLI's progress views and compose
/// build share it. `index`/`total`: the step's [`Vertex`].
pub fn step_label(stage: &str, index: usize, total: usize) -> String {
    let w = total.to_string().len();
    if stage.is_empty() {
        format!("[{index:>w$}/{total}]")
    } else {
        format!("[{stage} {index:>w$}/{total}]")
    }
}

/// Which events a BuildKit-style view shows (the CLI's plain and tty
/// progress, compose build): BuildKit makes no vertex of ENV, ARG, LABEL
/// and the other config-only instructions, of `FROM scratch` or of a FROM
/// of another stage, so it prints nothing of them; the events of such a
/// step (its `Step`, `Cached`, `Done`, `Image`) are left out.
#[derive(Debug, Default)]
pub struct Vertices {
    hidden: std::collections::BTreeSet<usize>,
}

impl Vertices {
    pub fn shows(&mut self, e: &Event) -> bool {
        match e {
            Event::Step {
                n, vertex: None, ..
            } => {
                self.hidden.insert(*n);
                false
            }
            Event::Cached { n }
            | Event::Done { n }
            | Event::Output { n, .. }
            | Event::Image { n, .. } => !self.hidden.contains(n),
            _ => true,
        }
    }
}

/// What a build reports as it goes (the CLI formats it).
#[derive(Debug)]
pub enum Event<'a> {
    /// Step `n` starts. `index`/`total`: its place among the stage's
    /// instructions, FROM first, and `text` the instruction as written (the
    /// classic builder's `Step 2/5 : TEXT`); `vertex`: what BuildKit shows
    /// of it, None for a step it makes no vertex of.
    Step {
        n: usize,
        stage: &'a str,
        index: usize,
        total: usize,
        text: &'a str,
        vertex: Option<Vertex<'a>>,
    },
    /// Step `n` was taken from the cache.
    Cached { n: usize },
    /// Output of step `n`'s container.
    Output { n: usize, data: &'a [u8] },
    /// Step `n` finished.
    Done { n: usize },
    /// A base image is being pulled.
    Pulling { reference: &'a str },
    /// Step `n` left image `id` (after its `Cached` or `Done`; not for a
    /// step that only changed the config).
    Image { n: usize, id: &'a str },
    /// Something the build goes on without (a corrupt cache set aside, a
    /// cache that could not be imported or exported).
    Warning { message: &'a str },
    /// An output or cache export is being written.
    Exporting { what: &'a str },
}

/// A step as BuildKit's progress shows it (`[stage index/total] name`):
/// BuildKit numbers only the steps that make a vertex (FROM an image, RUN,
/// COPY, ADD, WORKDIR; the base's ONBUILD triggers all count in the
/// total, the ones of those kinds get a number). `name`: the instruction,
/// a FROM with its image name expanded and normalized (`FROM
/// docker.io/library/busybox:latest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vertex<'a> {
    pub index: usize,
    pub total: usize,
    pub name: &'a str,
}

/// What a build made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildResult {
    /// The image id (`sha256:…`).
    pub id: String,
    /// Steps taken from the cache.
    pub cached: usize,
    /// RUN steps that ran a container.
    pub ran: usize,
    /// Layers written.
    pub layers: usize,
}

/// How a base image missing from the store (or every base with
/// [`BuildRequest::pull`]) is fetched: the CLI's pull through the registry
/// client.
pub type Puller<'a> = &'a dyn Fn(&image::Reference) -> std::result::Result<(), String>;

/// A build failure: one line naming what failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Dockerfile does not parse or its stages do not resolve.
    #[error("{0}")]
    Dockerfile(String),
    /// A step failed: `file:line: INSTRUCTION: why`.
    #[error("{file}:{line}: {instruction}: {message}")]
    Step {
        file: String,
        line: usize,
        instruction: String,
        message: String,
    },
    /// A RUN exited non-zero.
    #[error("{file}:{line}: {instruction}: process \"{command}\" did not complete successfully: exit code: {code}{tail}")]
    RunFailed {
        file: String,
        line: usize,
        instruction: String,
        command: String,
        code: i32,
        /// The last lines of its output, each prefixed with a newline.
        tail: String,
    },
    /// A flag the builder does not support (named).
    #[error("{0}")]
    Unsupported(String),
    /// [`Cancel::cancel`] (SIGINT/SIGTERM) stopped the build.
    #[error("canceled")]
    Canceled,
    #[error("{0}")]
    Other(String),
    #[error(transparent)]
    Engine(#[from] engine::Error),
    #[error(transparent)]
    Image(#[from] image::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
