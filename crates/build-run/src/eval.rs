//! The evaluator: stages in dependency order, each instruction applied to
//! the stage's image and config as BuildKit's dispatcher does.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use build::context::Context;
use build::ignore::PatternMatcher;
use build::instructions::{Command, Dockerfile, Instruction, Network, Stage};
use build::shell::{EnvList, Lex};
use build::stages::{Base, Graph, GraphOptions, PROXY_ARGS};
use engine::options::{HealthConfig, HealthTest};
use engine::{CreateOptions, Engine};
use image::manifest::{ContainerConfig, History, ImageConfig};
use image::{ImageRecord, Reference};

mod parallel;

use crate::cache::StepCache;
use crate::copy::{Attrs, Payload};
use crate::layers::PathKind;
use crate::reap::{self, OWNER_LABEL};
use crate::{
    BuildRequest, BuildResult, ContextSource, DockerfileSource, Error, Event, Puller, Result,
};

/// A built (or building) stage.
#[derive(Clone)]
struct StageOut {
    image: Option<ImageRecord>,
    config: ImageConfig,
    key: String,
}

/// The state of the stage being built.
struct St {
    /// The last image written (None: scratch, nothing yet).
    image: Option<ImageRecord>,
    /// The config as of the current step, history included.
    cfg: ImageConfig,
    /// `cfg` has metadata steps `image` does not.
    dirty: bool,
    /// The stage's ARG values.
    args: EnvList,
    /// CMD set in this stage (ENTRYPOINT then keeps it).
    cmd_set: bool,
}

impl St {
    fn cc(&mut self) -> &mut ContainerConfig {
        self.cfg.config.get_or_insert_with(Default::default)
    }

    fn env(&self) -> EnvList {
        EnvList::from_strings(
            &self
                .cfg
                .config
                .as_ref()
                .map(|c| c.env.clone())
                .unwrap_or_default(),
        )
    }

    fn set_env(&mut self, k: &str, v: &str) {
        let mut e = self.env();
        e.set(k, v);
        self.cc().env = e.to_strings();
    }

    fn shell(&self) -> Vec<String> {
        self.cfg
            .config
            .as_ref()
            .and_then(|c| c.shell.clone())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }
}

struct Ctx<'a> {
    engine: &'a Engine,
    req: &'a BuildRequest,
    puller: Option<Puller<'a>>,
    progress: RefCell<&'a mut dyn FnMut(Event)>,
    file: String,
    df: Dockerfile,
    graph: Graph,
    context: std::sync::Arc<Context>,
    cache: StepCache,
    owner: String,
    step: usize,
    result: BuildResult,
    /// Images of `COPY --from=image` and bases, resolved once.
    images: BTreeMap<String, ImageRecord>,
    created: String,
    /// Unix seconds of `created`.
    mtime: u64,
    /// SOURCE_DATE_EPOCH: the layers' newer mtimes are clamped to it.
    epoch: Option<u64>,
    /// ADD's URLs fetched for their step's cache key, by URL.
    fetched: BTreeMap<String, crate::remote::Fetched>,
    /// The digest each URL had when its step's key was made: a URL
    /// fetched again (named twice) must still have it.
    url_digests: BTreeMap<String, String>,
    /// The last COPY/ADD --link made its layer over nothing (not through
    /// a container over the stage's image): a layer to reuse on another
    /// base.
    linked: bool,
}

/// `SOURCE_DATE_EPOCH`: the build arg (BuildKit's frontend reads it
/// there), else the environment (as buildx passes it on).
fn source_date_epoch(build_args: &BTreeMap<String, String>) -> Option<u64> {
    build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
}

/// The time of the build's history entries: `SOURCE_DATE_EPOCH` when set.
fn created_now(epoch: Option<u64>) -> String {
    if let Some(secs) = epoch {
        return berth_util::time::rfc3339_nanos(secs as i64, 0);
    }
    berth_util::time::now()
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

/// Builds `req` with `engine`; `progress` sees each step; `puller` fetches
/// base images the store lacks.
pub(crate) fn build(
    engine: &Engine,
    req: BuildRequest,
    puller: Option<Puller<'_>>,
    progress: &mut dyn FnMut(Event),
    cache: StepCache,
) -> Result<BuildResult> {
    let root = engine.root().to_path_buf();
    let owner = reap::own(&root)?;
    let _ = reap::reap(engine);
    let mut req = req;
    let tmp_ctx;
    let ctx_dir = match std::mem::replace(&mut req.context, ContextSource::Dir(".".into())) {
        ContextSource::Dir(d) => d,
        ContextSource::Tar(mut r) => {
            let (t, dockerfile) = unpack_or_dockerfile(&root, &mut r)?;
            if let Some(data) = dockerfile {
                req.dockerfile = DockerfileSource::Bytes {
                    name: "Dockerfile".into(),
                    data,
                };
            }
            tmp_ctx = t;
            tmp_ctx.path().to_path_buf()
        }
        ContextSource::Git(url) => {
            return Err(Error::Other(format!(
                "the git context {url} was not fetched"
            )))
        }
    };
    let req = &req;
    let (file, data) = match &req.dockerfile {
        DockerfileSource::InContext(p) => {
            let path = ctx_dir.join(p);
            let data = std::fs::read(&path).map_err(|e| {
                Error::Dockerfile(format!(
                    "failed to read dockerfile: open {}: {e}",
                    path.display()
                ))
            })?;
            (p.clone(), data)
        }
        DockerfileSource::Path(p) => {
            let data = std::fs::read(p).map_err(|e| {
                Error::Dockerfile(format!(
                    "failed to read dockerfile: open {}: {e}",
                    p.display()
                ))
            })?;
            (
                p.file_name()
                    .map_or("Dockerfile".into(), |n| n.to_string_lossy().into_owned()),
                data,
            )
        }
        DockerfileSource::Bytes { name, data } => (name.clone(), data.clone()),
    };
    let df = Dockerfile::parse(&file, &data).map_err(|e| Error::Dockerfile(e.to_string()))?;
    let graph = Graph::new(
        &file,
        &df,
        &GraphOptions {
            build_args: req.build_args.clone(),
            target: req.target.clone(),
        },
    )
    .map_err(|e| Error::Dockerfile(e.to_string()))?;
    let df_path = match &req.dockerfile {
        DockerfileSource::Path(p) => Some(p.clone()),
        DockerfileSource::InContext(p) => Some(ctx_dir.join(p)),
        DockerfileSource::Bytes { .. } => None,
    };
    let patterns = build::ignore::build_patterns(&ctx_dir, df_path.as_deref())
        .map_err(|e| Error::Other(format!("reading .dockerignore: {e}")))?;
    let pm = PatternMatcher::new(&patterns)
        .map_err(|e| Error::Other(format!("bad .dockerignore pattern: {e}")))?;
    let context = Context::from_dir(&ctx_dir, &pm).map_err(other)?;
    let epoch = source_date_epoch(&req.build_args);
    let mut cx = Ctx {
        engine,
        req,
        puller,
        progress: RefCell::new(progress),
        file,
        df,
        graph,
        context: std::sync::Arc::new(context),
        cache,
        owner: owner.pid.clone(),
        step: 0,
        result: BuildResult {
            id: String::new(),
            cached: 0,
            ran: 0,
            layers: 0,
        },
        images: BTreeMap::new(),
        created: created_now(epoch),
        epoch,
        mtime: epoch.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        }),
        fetched: BTreeMap::new(),
        url_digests: BTreeMap::new(),
        linked: false,
    };
    let out = cx.run()?;
    drop(owner);
    Ok(out)
}

/// `build` for a context sent as a tar: unpacked into a temp directory of
/// the store first.
/// Whether `head` (a stream's first 1024 bytes, or all of a shorter one)
/// starts an archive: compressed (gzip, bzip2, xz, zstd) or a tar header
/// (docker's `IsArchive`).
fn is_archive(head: &[u8]) -> bool {
    const MAGIC: &[&[u8]] = &[
        &[0x1f, 0x8b],
        b"BZh",
        &[0xfd, b'7', b'z', b'X', b'Z', 0x00],
        &[0x28, 0xb5, 0x2f, 0xfd],
    ];
    if MAGIC.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    // A tar header block: its checksum (the bytes summed, the checksum
    // field as spaces) matches the octal number stored there. Only the
    // first block is looked at: a PAX or GNU long-name header's data may
    // run past the bytes read.
    let Some(block) = head.get(..512) else {
        return false;
    };
    let stored = std::str::from_utf8(&block[148..156])
        .ok()
        .map(|f| f.trim_matches(|c: char| c == '\0' || c == ' '))
        .and_then(|f| u32::from_str_radix(f, 8).ok());
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u32
            }
        })
        .sum();
    block.iter().any(|&b| b != 0) && stored == Some(sum)
}

/// A context sent on a stream: a tar (gzipped or not) unpacked into a temp
/// directory of the store; anything else is the Dockerfile itself, with an
/// empty context (docker's rule for `build -`), returned as the second.
fn unpack_or_dockerfile(
    root: &Path,
    r: &mut dyn std::io::Read,
) -> Result<(tempfile::TempDir, Option<Vec<u8>>)> {
    let t = reap::temp_dir(root)?;
    let read_err = |e: std::io::Error| Error::Other(format!("reading the context: {e}"));
    let mut head = Vec::with_capacity(1024);
    std::io::Read::read_to_end(&mut std::io::Read::take(&mut *r, 1024), &mut head)
        .map_err(read_err)?;
    if !is_archive(&head) {
        // A Dockerfile, read whole: bounded (a client streaming without
        // end must not fill memory).
        const MAX: u64 = 16 << 20;
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut *r, MAX + 1), &mut head)
            .map_err(read_err)?;
        if head.len() as u64 > MAX {
            return Err(Error::Other(format!(
                "the Dockerfile read from the input is larger than {} MiB",
                MAX >> 20
            )));
        }
        return Ok((t, Some(head)));
    }
    let r = std::io::Read::chain(&head[..], r);
    // docker sends the context gzipped when asked (`--compress`).
    let r: Box<dyn std::io::Read + '_> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(r))
    } else {
        Box::new(r)
    };
    let mut a = tar::Archive::new(r);
    a.set_preserve_permissions(true);
    a.unpack(t.path())
        .map_err(|e| Error::Other(format!("unpacking the context: {e}")))?;
    Ok((t, None))
}

impl Ctx<'_> {
    fn emit(&self, e: Event) {
        (self.progress.borrow_mut())(e);
    }

    /// The image a step left (none while only its config changed).
    fn emit_image(&self, n: usize, st: &St) {
        if let (Some(r), false) = (&st.image, st.dirty) {
            self.emit(Event::Image {
                n,
                id: &r.id.to_string(),
            });
        }
    }

    fn step_err(&self, c: &Command, message: impl std::fmt::Display) -> Error {
        Error::Step {
            file: self.file.clone(),
            line: c.location.line,
            instruction: first_word(&c.original),
            message: message.to_string(),
        }
    }

    fn run(&mut self) -> Result<BuildResult> {
        // BuildKit ignores a `--no-cache-filter` name no stage has; said
        // here, the build goes on.
        for f in &self.req.no_cache_filter {
            let known = self
                .df
                .stages
                .iter()
                .any(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(f)));
            if !known {
                self.emit(Event::Warning {
                    message: &format!("--no-cache-filter: no stage is named {f:?}; ignored"),
                });
            }
        }
        let order = self.graph.needed();
        let total_stages = self.df.stages.len();
        let mut outs = self.build_stages(&order, total_stages)?;
        let target = self.graph.target;
        let mut out = outs.remove(&target).expect("target built");
        // `--label`: on the final image.
        if !self.req.labels.is_empty() {
            let cc = out.config.config.get_or_insert_with(Default::default);
            for (k, v) in &self.req.labels {
                cc.labels.insert(k.clone(), v.clone());
            }
            out.key = build::cache::step_key(
                &out.key,
                "LABEL --label",
                &serde_json::to_string(&self.req.labels).unwrap_or_default(),
            );
        }
        // The image is the build's, made now (or at SOURCE_DATE_EPOCH), even
        // when its stage only has FROM (its steps' commits and metadata set
        // it otherwise; steps from the cache keep the time they were made).
        if self.df.stages[target].commands.is_empty() {
            out.config.created = Some(self.created.clone());
        }
        let rec = self.finish_stage(&out)?;
        for t in &self.req.tags {
            self.engine.images().tag(&rec.id.to_string(), t)?;
        }
        self.result.id = rec.id.to_string();
        Ok(self.result.clone())
    }

    /// The final image of a stage whose last steps changed only the config.
    fn finish(&mut self, out: &StageOut) -> Result<ImageRecord> {
        if !self.req.no_cache {
            if let Some(rec) = self.cached(&out.key)? {
                return Ok(rec);
            }
        }
        let rec = self.engine.images().commit_config::<std::fs::File>(
            out.image.as_ref(),
            None,
            with_parent(&out.config, out.image.as_ref(), &self.created),
            None,
            &[],
        )?;
        self.cache.put(&out.key, &rec.id.to_string())?;
        Ok(rec)
    }

    fn cached(&self, key: &str) -> Result<Option<ImageRecord>> {
        let Some(id) = self.cache.get(key)? else {
            return Ok(None);
        };
        match self.engine.images().resolve(&id) {
            Ok(info) => Ok(Some(info.record)),
            Err(_) => Ok(None),
        }
    }

    /// An image by name, pulled when missing (or always with `--pull`).
    fn image(&mut self, name: &str) -> Result<ImageRecord> {
        if let Some(r) = self.images.get(name) {
            return Ok(r.clone());
        }
        let present = self.engine.images().resolve(name).ok();
        let rec = match present {
            Some(info) if !self.req.pull => info.record,
            _ => {
                let reference = Reference::parse(name)
                    .map_err(|e| Error::Other(format!("invalid reference format: {name}: {e}")))?;
                let Some(pull) = self.puller else {
                    return Err(Error::Other(format!("No such image: {name}")));
                };
                self.emit(Event::Pulling {
                    reference: &reference.familiar(),
                });
                pull(&reference).map_err(|e| Error::Other(format!("pull {name}: {e}")))?;
                self.engine.images().resolve(name)?.record
            }
        };
        self.images.insert(name.to_string(), rec.clone());
        Ok(rec)
    }

    /// BuildKit's stage name in the progress: none when the Dockerfile
    /// has one stage, else the stage's name or `stage-N`.
    fn stage_label(&self, i: usize, total: usize) -> String {
        match &self.df.stages[i].name {
            _ if total == 1 => String::new(),
            Some(n) => n.clone(),
            None => format!("stage-{i}"),
        }
    }

    fn stage(
        &mut self,
        i: usize,
        outs: &BTreeMap<usize, StageOut>,
        total_stages: usize,
    ) -> Result<StageOut> {
        let stage: Stage = self.df.stages[i].clone();
        let label = self.stage_label(i, total_stages);
        self.step += 1;
        let from_n = self.step;
        // The base (its FROM step is reported once its ONBUILD triggers,
        // which BuildKit's numbering counts, are known).
        let (image, cfg, base_key) = match self.graph.stages[i].base.clone() {
            Base::Scratch => {
                let p = image::Platform::host();
                let cfg = ImageConfig {
                    architecture: p.architecture.clone(),
                    os: p.os.clone(),
                    variant: p.variant.clone(),
                    config: Some(ContainerConfig {
                        env: vec![DEFAULT_PATH.to_string()],
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                (None, cfg, "scratch".to_string())
            }
            Base::Stage(j) => {
                let o = &outs[&j];
                (o.image.clone(), o.config.clone(), o.key.clone())
            }
            Base::Image(name) => {
                let (file, line) = (self.file.clone(), stage.location.line);
                let from_err = move |message: String| Error::Step {
                    file: file.clone(),
                    line,
                    instruction: "FROM".into(),
                    message,
                };
                let rec = self.image(&name).map_err(|e| from_err(e.to_string()))?;
                // `FROM --platform`: the host's, or the image's own (a
                // stage of another platform is not built here).
                if let Some(p) = self.graph.stages[i].platform.clone() {
                    let want = image::Platform::parse(&p)
                        .map_err(|e| from_err(format!("invalid --platform {p:?}: {e}")))?;
                    let same = |a: &image::Platform| {
                        a.os == want.os
                            && a.architecture == want.architecture
                            && (want.variant.is_none() || a.variant == want.variant)
                    };
                    let host = image::Platform::host();
                    if !same(&host) && !same(&rec.platform) {
                        return Err(from_err(format!(
                            "--platform={p} is not supported: the image {name} is {}/{} and only the host's platform ({}/{}) can be built",
                            rec.platform.os, rec.platform.architecture, host.os, host.architecture
                        )));
                    }
                }
                let mut cfg = self.engine.images().config(&rec)?;
                // A builder's view: the child's config starts from the base's.
                let cc = cfg.config.get_or_insert_with(Default::default);
                if cc.env.is_empty() {
                    cc.env = vec![DEFAULT_PATH.to_string()];
                }
                (Some(rec.clone()), cfg, rec.id.to_string())
            }
        };
        let base_image_cfg = image
            .as_ref()
            .map(|r| self.engine.images().config(r))
            .transpose()?;
        let mut st = St {
            dirty: base_image_cfg.as_ref() != Some(&cfg),
            image,
            cfg,
            args: EnvList::new(),
            cmd_set: false,
        };
        // A base image's ONBUILD triggers run first in the child's stage,
        // as if written after its FROM, and are not inherited further
        // (BuildKit's dispatcher; a stage based on a stage of the same
        // Dockerfile keeps its OnBuild and does not run it, as BuildKit).
        let mut stage = stage;
        let mut n_triggers = 0;
        if matches!(self.graph.stages[i].base, Base::Image(_)) {
            let triggers = st.cc().on_build.take().unwrap_or_default();
            if !triggers.is_empty() {
                let text = format!("FROM scratch\n{}\n", triggers.join("\n"));
                let parsed =
                    Dockerfile::parse("ONBUILD", text.as_bytes()).map_err(|e| Error::Step {
                        file: self.file.clone(),
                        line: stage.location.line,
                        instruction: "FROM".into(),
                        message: format!("the base image's ONBUILD triggers: {e}"),
                    })?;
                let mut cmds = parsed
                    .stages
                    .into_iter()
                    .next()
                    .map(|s| s.commands)
                    .unwrap_or_default();
                n_triggers = cmds.len();
                cmds.append(&mut stage.commands);
                stage.commands = cmds;
            }
        }
        let n_steps = stage.commands.len() + 1;
        // BuildKit's numbering (dockerfile2llb): FROM an image, and each
        // RUN, COPY, ADD and WORKDIR, and every ONBUILD trigger in the
        // total; a number for each step that makes a vertex.
        let from_vertex = matches!(self.graph.stages[i].base, Base::Image(_));
        let vertex_total = usize::from(from_vertex)
            + n_triggers
            + stage.commands[n_triggers..]
                .iter()
                .filter(|c| makes_vertex(c))
                .count();
        let mut vertex_index = 0;
        let from_text = format!("FROM {}", stage.base);
        let from_name = match &self.graph.stages[i].base {
            Base::Image(name) => format!(
                "FROM {}",
                image::Reference::parse(name).map_or_else(|_| name.clone(), |r| r.to_string())
            ),
            _ => from_text.clone(),
        };
        self.emit(Event::Step {
            n: from_n,
            stage: &label,
            index: 1,
            total: n_steps,
            text: &from_text,
            vertex: next_vertex(&mut vertex_index, vertex_total, from_vertex, &from_name),
        });
        self.emit(Event::Done { n: from_n });
        self.emit_image(from_n, &st);
        let keys = build::cache::stage_step_keys(
            &base_key,
            &stage,
            self.df.escape,
            &st.env(),
            &self.req.build_args,
            &self.graph.global_args,
            &self.context,
        )
        .map_err(|e| self.key_error(&stage, e))?;
        let mut key = build::cache::step_key("", &format!("FROM {}", stage.base), &base_key);
        let no_cache = self.no_cache(i);
        for (k, c) in stage.commands.iter().enumerate() {
            if self.req.cancel.is_canceled() {
                return Err(Error::Canceled);
            }
            self.step += 1;
            let n = self.step;
            let text = c.original.clone();
            self.emit(Event::Step {
                n,
                stage: &label,
                index: k + 2,
                total: n_steps,
                text: &text,
                vertex: next_vertex(&mut vertex_index, vertex_total, makes_vertex(c), &text),
            });
            // berth-build's key, chained with what it does not see: the
            // result of a `COPY --from` stage or image, the context files
            // a RUN bind-mounts.
            let extra = self.key_extra(&st, c, outs, i)?;
            key = build::cache::step_key(&key, &keys[k].chained, &extra);
            if !no_cache {
                if let Some(rec) = self.cached(&key)? {
                    st.cfg = self.engine.images().config(&rec)?;
                    st.image = Some(rec);
                    st.dirty = false;
                    self.apply_args(&mut st, c)?;
                    self.result.cached += 1;
                    self.emit(Event::Cached { n });
                    self.emit_image(n, &st);
                    continue;
                }
            }
            // COPY/ADD --link: its layer depends on the step alone (made
            // over nothing), keyed apart from the steps below it.
            let link_key = self.link_key(&st, c, &keys[k].own, &extra);
            if let (Some(lk), false) = (&link_key, no_cache) {
                if self.rebase_link(&mut st, lk)? {
                    if let Some(r) = &st.image {
                        self.cache.put(&key, &r.id.to_string())?;
                    }
                    self.result.cached += 1;
                    self.emit(Event::Cached { n });
                    self.emit_image(n, &st);
                    continue;
                }
            }
            self.linked = false;
            let wrote = self.instruction(&mut st, c, outs, n, i)?;
            if wrote {
                if let Some(r) = &st.image {
                    self.cache.put(&key, &r.id.to_string())?;
                    if let (Some(lk), true) = (&link_key, self.linked) {
                        self.cache.put(lk, &r.id.to_string())?;
                    }
                }
            }
            self.emit(Event::Done { n });
            self.emit_image(n, &st);
        }
        // What the stages built on this one see of it: its steps' keys
        // and the image they gave. A step that ran again (its results
        // evicted, `--no-cache-filter`) gives a new image: their steps
        // miss, as BuildKit's do; a stage all taken from the cache gives
        // the image it gave before: their steps hit.
        let result = st.image.as_ref().map(|r| r.id.to_string());
        let key = build::cache::step_key(&key, "stage result", &result.unwrap_or_default());
        Ok(StageOut {
            image: st.image,
            config: st.cfg,
            key,
        })
    }

    /// The key of a `COPY --link`/`ADD --link` step's layer: the step
    /// alone (`own`: its expanded text and context inputs; `extra`: the
    /// result of its `--from`, its URLs' content) and the directory a
    /// relative destination starts from. None for other steps.
    fn link_key(&self, st: &St, c: &Command, own: &str, extra: &str) -> Option<String> {
        let link = match &c.instruction {
            Instruction::Copy(cp) => cp.link,
            Instruction::Add(a) => a.link,
            _ => false,
        };
        if !link {
            return None;
        }
        let wd = st
            .cfg
            .config
            .as_ref()
            .and_then(|c| c.working_dir.clone())
            .unwrap_or_default();
        Some(build::cache::step_key(
            "COPY --link",
            own,
            &format!("{extra}\0{wd}"),
        ))
    }

    /// A `--link` step whose layer was made before (over another base):
    /// the layer (the top one of the image `link_key` names) put on the
    /// stage's image as it is, same blob, with the step's history entry.
    /// False when there is none.
    fn rebase_link(&mut self, st: &mut St, link_key: &str) -> Result<bool> {
        let Some(made) = self.cached(link_key)? else {
            return Ok(false);
        };
        let Some(layer) = made.layers.last().cloned() else {
            return Ok(false);
        };
        let made_cfg = self.engine.images().config(&made)?;
        let Some(created_by) = made_cfg
            .history
            .iter()
            .rev()
            .find(|h| !h.empty_layer)
            .and_then(|h| h.created_by.clone())
        else {
            return Ok(false);
        };
        let rec = self.engine.images().commit_existing_layer(
            st.image.as_ref(),
            &layer,
            with_parent(&st.cfg, st.image.as_ref(), &self.created),
            self.history(created_by),
            &[],
        )?;
        st.cfg = self.engine.images().config(&rec)?;
        st.image = Some(rec);
        st.dirty = false;
        Ok(true)
    }

    /// Whether stage `i`'s steps are taken from no cache: `--no-cache`, or
    /// `--no-cache-filter` names it (a named stage, case-insensitive, as
    /// BuildKit's dockerfile frontend matches them).
    fn no_cache(&self, i: usize) -> bool {
        self.req.no_cache
            || self.df.stages[i].name.as_deref().is_some_and(|n| {
                self.req
                    .no_cache_filter
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(n))
            })
    }

    fn key_extra(
        &mut self,
        st: &St,
        c: &Command,
        outs: &BTreeMap<usize, StageOut>,
        stage_index: usize,
    ) -> Result<String> {
        match &c.instruction {
            Instruction::Copy(cp) => {
                let Some(from) = &cp.from else {
                    return Ok(String::new());
                };
                match self.stage_of_from(from, stage_index) {
                    Some(k) => Ok(outs.get(&k).map(|o| o.key.clone()).unwrap_or_default()),
                    None => Ok(self
                        .image(from)
                        .map_err(|e| self.step_err(c, e))?
                        .id
                        .to_string()),
                }
            }
            Instruction::Add(a) => {
                // A URL's content is part of the key (BuildKit's http
                // source), or its --checksum: fetched once, here.
                let lex = Lex::new(self.df.escape);
                let env = self.expand_env(st);
                let mut extra = String::new();
                for s in &a.paths.sources {
                    let url = lex
                        .process_word(s, &env)
                        .map_err(|e| self.step_err(c, e.0))?;
                    if !is_url(&url) || is_git(&url) {
                        continue;
                    }
                    let checksum = lex
                        .process_word(&a.checksum, &env)
                        .map_err(|e| self.step_err(c, e.0))?;
                    let d = if checksum.is_empty() {
                        let f = crate::remote::fetch(&url, &self.engine.root().join("build"), "")
                            .map_err(|e| self.step_err(c, e))?;
                        let d = f.digest.clone();
                        self.fetched.insert(url.clone(), f);
                        self.url_digests.insert(url.clone(), d.clone());
                        d
                    } else {
                        checksum
                    };
                    extra.push_str(&format!("{url} {d}\0"));
                }
                Ok(extra)
            }
            Instruction::Run(r) => {
                let lex = Lex::new(self.df.escape);
                let env = self.expand_env(st);
                let mut srcs = vec![];
                let mut froms = vec![];
                for spec in &r.mount_specs {
                    let m = build::instructions::parse_mount(spec, &|v| {
                        lex.process_word(v, &env).map_err(|e| e.0)
                    })
                    .map_err(|e| self.step_err(c, e))?;
                    if m.typ != build::instructions::MountType::Bind {
                        continue;
                    }
                    if m.from.is_empty() {
                        srcs.push(if m.source.is_empty() {
                            ".".to_string()
                        } else {
                            m.source.clone()
                        });
                    } else {
                        // A bind of a stage's or image's files: its result.
                        froms.push(match self.stage_of_from(&m.from, stage_index) {
                            Some(k) => outs.get(&k).map(|o| o.key.clone()).unwrap_or_default(),
                            None => self
                                .image(&m.from)
                                .map_err(|e| self.step_err(c, e))?
                                .id
                                .to_string(),
                        });
                    }
                }
                if srcs.is_empty() && froms.is_empty() {
                    return Ok(String::new());
                }
                let mut extra = if srcs.is_empty() {
                    String::new()
                } else {
                    self.context
                        .sources_digest(&srcs)
                        .map_err(|e| self.step_err(c, e))?
                };
                for f in froms {
                    extra.push('\0');
                    extra.push_str(&f);
                }
                Ok(extra)
            }
            _ => Ok(String::new()),
        }
    }

    /// The stage `COPY --from=NAME|INDEX` names, if it names one.
    fn stage_of_from(&self, from: &str, stage_index: usize) -> Option<usize> {
        if let Ok(k) = from.parse::<usize>() {
            return (k < stage_index).then_some(k);
        }
        self.df.stages[..stage_index].iter().position(|s| {
            s.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(from))
        })
    }

    fn key_error(&self, stage: &Stage, e: build::cache::KeyError) -> Error {
        match e {
            build::cache::KeyError::Expand { line, message } => Error::Step {
                file: self.file.clone(),
                line,
                instruction: "expand".into(),
                message,
            },
            build::cache::KeyError::Context(ce) => {
                // Name the step whose sources fail.
                for c in &stage.commands {
                    let srcs = match &c.instruction {
                        Instruction::Copy(cp) if cp.from.is_none() => &cp.paths.sources,
                        Instruction::Add(a) => &a.paths.sources,
                        _ => continue,
                    };
                    for s in srcs {
                        if s.contains("://") {
                            continue;
                        }
                        if self.context.resolve(s).is_err() {
                            return self.step_err(c, &ce);
                        }
                    }
                }
                Error::Other(ce.to_string())
            }
        }
    }

    /// The context directory is still there: one removed while a step ran
    /// is named, rather than the first of its files a step misses.
    fn context_present(&self, c: &Command) -> Result<()> {
        let root = self.context.root();
        if std::fs::metadata(root).is_ok_and(|m| m.is_dir()) {
            return Ok(());
        }
        let abs = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        Err(self.step_err(
            c,
            format!(
                "the build context {} was removed during the build",
                abs.display()
            ),
        ))
    }

    /// ARG values of a cached step still enter the stage's state.
    fn apply_args(&self, st: &mut St, c: &Command) -> Result<()> {
        if let Instruction::Arg { args } = &c.instruction {
            self.arg(st, c, args)?;
        }
        Ok(())
    }

    fn arg(&self, st: &mut St, c: &Command, args: &[build::instructions::ArgDef]) -> Result<()> {
        let lex = Lex::new(self.df.escape);
        for a in args {
            let env = self.expand_env(st);
            let v = match (self.req.build_args.get(&a.key), &a.default) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(d)) => Some(
                    lex.process_word(d, &env)
                        .map_err(|e| self.step_err(c, e.0))?,
                ),
                (None, None) => self
                    .graph
                    .global_args
                    .iter()
                    .find(|(k, _)| *k == a.key)
                    .map(|(_, v)| v.to_string()),
            };
            if let Some(v) = v {
                st.args.set(&a.key, &v);
            }
        }
        Ok(())
    }

    /// The variables a word of a step sees: ENV over ARG.
    fn expand_env(&self, st: &St) -> EnvList {
        let mut e = st.args.clone();
        for (k, v) in st.env().iter() {
            e.set(k, v);
        }
        e
    }

    fn history(&self, created_by: String) -> History {
        History {
            created: Some(self.created.clone()),
            created_by: Some(created_by),
            comment: Some("buildkit.dockerfile.v0".into()),
            ..Default::default()
        }
    }

    /// A metadata step: the config changed, an empty-layer history entry.
    fn meta(&self, st: &mut St, created_by: String) {
        let mut h = self.history(created_by);
        h.empty_layer = true;
        st.cfg.history.push(h);
        st.cfg.created = Some(self.created.clone());
        st.dirty = true;
    }

    /// One instruction; returns whether it wrote an image.
    fn instruction(
        &mut self,
        st: &mut St,
        c: &Command,
        outs: &BTreeMap<usize, StageOut>,
        n: usize,
        stage_index: usize,
    ) -> Result<bool> {
        let lex = Lex::new(self.df.escape);
        let env = self.expand_env(st);
        let ex = |w: &str| -> Result<String> {
            lex.process_word(w, &env).map_err(|e| self.step_err(c, e.0))
        };
        match &c.instruction {
            Instruction::Env { env: kvs } => {
                let mut vals = vec![];
                for kv in kvs {
                    vals.push((ex(&kv.key)?, ex(&kv.value)?));
                }
                let mut parts = vec![];
                for (k, v) in &vals {
                    st.set_env(k, v);
                    parts.push(format!("{k}={v}"));
                }
                self.meta(st, format!("ENV {}", parts.join(" ")));
            }
            Instruction::Label { labels } => {
                let mut parts = vec![];
                for kv in labels {
                    let (k, v) = (ex(&kv.key)?, ex(&kv.value)?);
                    parts.push(format!("{k}={v}"));
                    st.cc().labels.insert(k, v);
                }
                self.meta(st, format!("LABEL {}", parts.join(" ")));
            }
            Instruction::Maintainer { maintainer } => {
                st.cfg.author = Some(maintainer.clone());
                self.meta(st, format!("MAINTAINER {maintainer}"));
            }
            Instruction::Arg { args } => {
                self.arg(st, c, args)?;
                let parts: Vec<String> = args
                    .iter()
                    .map(|a| match st.args.iter().find(|(k, _)| *k == a.key) {
                        Some((k, v)) => format!("{k}={v}"),
                        None => a.key.clone(),
                    })
                    .collect();
                self.meta(st, format!("ARG {}", parts.join(" ")));
            }
            Instruction::Workdir { path } => {
                let p = ex(path)?;
                let cur = st
                    .cfg
                    .config
                    .as_ref()
                    .and_then(|c| c.working_dir.clone())
                    .unwrap_or_else(|| "/".into());
                let wd = if p.starts_with('/') {
                    clean_path(&p)
                } else {
                    clean_path(&format!("{cur}/{p}"))
                };
                st.cc().working_dir = Some(wd.clone());
                // BuildKit makes the directory in its own layer.
                return self.mkdir_layer(st, c, &wd, format!("WORKDIR {wd}"));
            }
            Instruction::User { user } => {
                let u = ex(user)?;
                st.cc().user = Some(u.clone());
                self.meta(st, format!("USER {u}"));
            }
            Instruction::Volume { volumes } => {
                for v in volumes {
                    let v = ex(v)?;
                    st.cc().volumes.insert(v, serde_json::json!({}));
                }
                self.meta(st, format!("VOLUME {}", shown_list(volumes)));
            }
            Instruction::Stopsignal { signal } => {
                let s = ex(signal)?;
                // BuildKit's signal.ParseSignal: a name or a number > 0.
                engine::options::parse_signal("STOPSIGNAL", &s)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| self.step_err(c, format!("Invalid signal: {s}")))?;
                st.cc().stop_signal = Some(s.clone());
                self.meta(st, format!("STOPSIGNAL {s}"));
            }
            Instruction::Expose { ports } => {
                // BuildKit: nat.ParsePortSpecs over the expanded words (a
                // range is each of its ports); shown as Go prints the map.
                let mut shown = std::collections::BTreeSet::new();
                for p in ports {
                    for w in lex
                        .process_words(p, &env)
                        .map_err(|e| self.step_err(c, e.0))?
                    {
                        for port in build::instructions::expose_ports(&w)
                            .map_err(|e| self.step_err(c, e))?
                        {
                            shown.insert(port.clone());
                            st.cc().exposed_ports.insert(port, serde_json::json!({}));
                        }
                    }
                }
                self.meta(
                    st,
                    format!(
                        "EXPOSE map[{}]",
                        shown
                            .iter()
                            .map(|p| format!("{p}:{{}}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                );
            }
            Instruction::Shell { shell } => {
                st.cc().shell = Some(shell.clone());
                self.meta(st, format!("SHELL {}", json(shell)));
            }
            Instruction::Cmd(cl) => {
                let args = self.cmd_args(st, cl);
                st.cc().cmd = Some(args.clone());
                st.cmd_set = true;
                self.meta(st, format!("CMD {}", json(&args)));
            }
            Instruction::Entrypoint(cl) => {
                let args = self.cmd_args(st, cl);
                st.cc().entrypoint = Some(args.clone());
                if !st.cmd_set {
                    st.cc().cmd = None;
                }
                self.meta(st, format!("ENTRYPOINT {}", json(&args)));
            }
            Instruction::Healthcheck(h) => {
                let opt = |v: i64| (v != 0).then_some(v);
                let hc = image::manifest::Healthcheck {
                    test: h.test.clone(),
                    interval: opt(h.interval),
                    timeout: opt(h.timeout),
                    start_period: opt(h.start_period),
                    start_interval: opt(h.start_interval),
                    retries: opt(h.retries),
                };
                st.cc().healthcheck = Some(hc);
                self.meta(st, format!("HEALTHCHECK {}", json(&h.test)));
            }
            Instruction::Onbuild { expression, .. } => {
                st.cc()
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(expression.clone());
                self.meta(st, format!("ONBUILD {expression}"));
            }
            Instruction::Run(r) => return self.run_step(st, c, r, &env, n, outs, stage_index),
            Instruction::Copy(cp) => {
                if cp.parents && cp.from.is_some() {
                    return Err(self.step_err(c, "COPY --parents with --from is not supported yet"));
                }
                let spec = copy_spec(&ex, &cp.paths, &cp.chown, &cp.chmod)?;
                return self.copy_step(
                    st,
                    c,
                    CopySpec {
                        from: cp.from.clone(),
                        unpack: false,
                        exclude: cp.exclude.iter().map(|e| ex(e)).collect::<Result<_>>()?,
                        parents: cp.parents,
                        link: cp.link,
                        ..spec
                    },
                    outs,
                    stage_index,
                );
            }
            Instruction::Add(a) => {
                if a.keep_git_dir.is_some() {
                    return Err(self.step_err(
                        c,
                        "ADD --keep-git-dir: a git source is not supported (ADD of a git repository)",
                    ));
                }
                let spec = copy_spec(&ex, &a.paths, &a.chown, &a.chmod)?;
                if !a.checksum.is_empty() && !spec.sources.iter().all(|s| is_url(s)) {
                    return Err(
                        self.step_err(c, "checksum can't be specified for non-HTTP(S) sources")
                    );
                }
                if let Some(u) = spec.sources.iter().find(|s| is_git(s)) {
                    return Err(
                        self.step_err(c, format!("ADD of a git repository ({u}) is not supported"))
                    );
                }
                return self.copy_step(
                    st,
                    c,
                    CopySpec {
                        from: None,
                        unpack: a.unpack.unwrap_or(true),
                        exclude: a.exclude.iter().map(|e| ex(e)).collect::<Result<_>>()?,
                        link: a.link,
                        checksum: ex(&a.checksum)?,
                        ..spec
                    },
                    outs,
                    stage_index,
                );
            }
        }
        Ok(false)
    }

    fn cmd_args(&self, st: &St, cl: &build::instructions::CmdLine) -> Vec<String> {
        if cl.prepend_shell {
            let mut a = st.shell();
            a.extend(cl.cmd_line.iter().cloned());
            a
        } else {
            cl.cmd_line.clone()
        }
    }

    /// The stage's current image, an empty one for scratch.
    fn ensure_image(&mut self, st: &mut St) -> Result<ImageRecord> {
        if st.image.is_none() || st.dirty {
            let rec = self.engine.images().commit_config::<std::fs::File>(
                st.image.as_ref(),
                None,
                with_parent(&st.cfg, st.image.as_ref(), &self.created),
                None,
                &[],
            )?;
            st.image = Some(rec);
            st.dirty = false;
        }
        Ok(st.image.clone().expect("set"))
    }

    /// Container options of a build step on `image`.
    fn container_opts(&self, image: &ImageRecord, st: &St, cmd: Vec<String>) -> CreateOptions {
        let cc = st.cfg.config.clone().unwrap_or_default();
        let mut labels = BTreeMap::new();
        labels.insert(OWNER_LABEL.to_string(), self.owner.clone());
        CreateOptions {
            image: image.id.to_string(),
            // BuildKit's RUN: the image's VOLUMEs are plain directories of
            // the step's root, its writes there kept in the layer.
            no_image_volumes: true,
            cmd,
            entrypoint: Some(vec![]),
            env: cc.env.clone(),
            working_dir: cc.working_dir.clone(),
            user: cc.user.clone(),
            labels,
            network_mode: match self.req.network.as_deref() {
                None | Some("default") => None,
                Some(n) => Some(n.to_string()),
            },
            healthcheck: Some(HealthConfig {
                test: Some(HealthTest::None),
                ..Default::default()
            }),
            log_config: engine::logs::LogConfig {
                driver: engine::logs::LogDriver::None,
                config: BTreeMap::new(),
            },
            ..Default::default()
        }
    }

    /// Commits the changes of container `id` over `st.image` with
    /// `created_by`; removes the container.
    fn commit_container(
        &mut self,
        st: &mut St,
        id: &str,
        created_by: String,
        stubs: &[String],
    ) -> Result<()> {
        let changes = self.engine.changes_tar(id).and_then(|c| match c {
            Some(f) => crate::rewrite::rewrite_layer(
                f,
                stubs,
                self.epoch,
                &self.engine.root().join("build"),
            )
            .map_err(|e| engine::Error::io(format!("read the changes of container {id}"), e)),
            None => Ok(None),
        });
        let changes = match changes {
            Ok(c) => c,
            Err(e) => {
                let _ = self.engine.remove(id, true);
                return Err(e.into());
            }
        };
        let layer = changes.is_some();
        let r = self.engine.images().commit_config(
            st.image.as_ref(),
            changes.map(|f| std::io::BufReader::with_capacity(256 << 10, f)),
            with_parent(&st.cfg, st.image.as_ref(), &self.created),
            Some(self.history(created_by)),
            &[],
        );
        let _ = self.engine.remove(id, true);
        let rec = r?;
        if layer {
            self.result.layers += 1;
        }
        st.cfg = self.engine.images().config(&rec)?;
        st.image = Some(rec);
        st.dirty = false;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn run_step(
        &mut self,
        st: &mut St,
        c: &Command,
        r: &build::instructions::Run,
        env: &EnvList,
        n: usize,
        outs: &BTreeMap<usize, StageOut>,
        stage_index: usize,
    ) -> Result<bool> {
        if !r.devices.is_empty() {
            return Err(self.step_err(c, "RUN --device is not supported"));
        }
        if r.security != build::instructions::Security::Sandbox {
            return Err(self.step_err(
                c,
                "RUN --security=insecure is refused (no insecure entitlement)",
            ));
        }
        let cl = &r.cmd;
        // A lone heredoc starting with a shebang: BuildKit writes it to a
        // file (mode 0755) under /dev/pipes/ and runs that file.
        let mut script_file: Option<(String, String)> = None;
        let mut args: Vec<String> = if cl.prepend_shell {
            let line = cl.cmd_line.first().cloned().unwrap_or_default();
            let script = if cl.files.is_empty() {
                line
            } else if build::parser::parse_heredoc(&line).ok().flatten().is_some()
                && cl.files.len() == 1
            {
                let f = &cl.files[0];
                let data = if f.chomp {
                    build::parser::chomp_heredoc_content(&f.data)
                } else {
                    f.data.clone()
                };
                if data.starts_with("#!") {
                    script_file = Some((f.name.clone(), data.clone()));
                }
                data
            } else {
                let mut full = line;
                for f in &cl.files {
                    full.push('\n');
                    full.push_str(&f.data);
                    full.push_str(&f.name);
                }
                full
            };
            match &script_file {
                Some((name, _)) => vec![format!("/dev/pipes/{name}")],
                None => {
                    let mut a = st.shell();
                    a.push(script);
                    a
                }
            }
        } else {
            cl.cmd_line.clone()
        };
        if args.is_empty() {
            return Err(self.step_err(c, "RUN with no command"));
        }
        let shown = args.join(" ");
        // The RUN's environment: the image's, then the stage's ARGs that
        // ENV does not set, then proxy build args.
        let image = self.ensure_image(st)?;
        let mut opts = self.container_opts(&image, st, std::mem::take(&mut args));
        let img_env = st.env();
        let mut run_env = img_env.clone();
        for (k, v) in st.args.iter() {
            if !img_env.keys().any(|x| x == k) {
                run_env.set(k, v);
            }
        }
        for p in PROXY_ARGS {
            if let Some(v) = self.req.build_args.get(p) {
                run_env.set(p, v);
            }
        }
        opts.env = run_env.to_strings();
        let mut held = self.run_mounts(st, c, r, env, &mut opts, outs, stage_index)?;
        if let Some((name, data)) = &script_file {
            let dir = reap::temp_dir(self.engine.root())?;
            if name.contains('/') || name == "." || name == ".." {
                return Err(self.step_err(c, format!("invalid heredoc name {name:?}")));
            }
            let p = dir.path().join(name);
            std::fs::write(&p, data).map_err(other)?;
            use std::os::unix::fs::PermissionsExt;
            for q in [dir.path(), p.as_path()] {
                std::fs::set_permissions(q, std::fs::Permissions::from_mode(0o755))
                    .map_err(other)?;
            }
            opts.mounts.push(engine::options::mounts::Mount::Bind(
                engine::options::mounts::BindMount {
                    source: dir.path().to_string_lossy().into_owned(),
                    target: "/dev/pipes".into(),
                    read_only: true,
                    ..Default::default()
                },
            ));
            held.dirs.push(dir);
        }
        match r.network {
            Network::None => opts.network_mode = Some("none".into()),
            Network::Host => opts.network_mode = Some("host".into()),
            Network::Default => {}
        }
        self.result.ran += 1;
        // A start that fails leaves the created container (docker's run
        // keeps it): named here, so it can go.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!(
            "berth-build-{}-{}-{}",
            self.owner,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        opts.name = Some(name.clone());
        let attached = match self.engine.run(&opts) {
            Ok(a) => a,
            Err(e) => {
                let _ = self.engine.remove(&name, true);
                return Err(self.step_err(c, e));
            }
        };
        let id = attached.id().to_string();
        self.req.cancel.started(self.engine, &id);
        let tail = RefCell::new(Tail::default());
        let code = {
            let mut out = StepOut {
                n,
                cx: self,
                tail: &tail,
            };
            let mut err = StepOut {
                n,
                cx: self,
                tail: &tail,
            };
            attached.copy_output_and_wait(&mut out, &mut err)
        };
        self.req.cancel.ended(&id);
        if self.req.cancel.is_canceled() {
            let _ = self.engine.remove(&id, true);
            return Err(Error::Canceled);
        }
        let code = match code {
            Ok(c) => c,
            Err(e) => {
                let _ = self.engine.remove(&id, true);
                return Err(self.step_err(c, e));
            }
        };
        if code != 0 {
            let _ = self.engine.remove(&id, true);
            let t = tail.borrow().lines();
            return Err(Error::RunFailed {
                file: self.file.clone(),
                line: c.location.line,
                instruction: first_word(&c.original),
                command: shown,
                code,
                tail: t,
            });
        }
        // BuildKit's history of a RUN: the command, ARGs it saw first.
        let argv: Vec<String> = st
            .args
            .iter()
            .filter(|(k, _)| !PROXY_ARGS.contains(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let created_by = if argv.is_empty() {
            format!("RUN {shown} # buildkit")
        } else {
            format!("RUN |{} {} {shown} # buildkit", argv.len(), argv.join(" "))
        };
        self.commit_container(st, &id, created_by, &held.stubs)?;
        drop(held);
        Ok(true)
    }

    /// RUN --mount: cache mounts (a directory of the store per id, kept
    /// between builds, `sharing=locked` held under a lock, seeded from
    /// `from=` the first time), tmpfs, binds of the context or of a
    /// stage's or image's files (`rw`: on a copy, the changes discarded),
    /// secrets and ssh agents ([`crate::mounts`]). Returns what the mounts
    /// hold while the step runs.
    #[allow(clippy::too_many_arguments)]
    fn run_mounts(
        &mut self,
        st: &St,
        c: &Command,
        r: &build::instructions::Run,
        env: &EnvList,
        opts: &mut CreateOptions,
        outs: &BTreeMap<usize, StageOut>,
        stage_index: usize,
    ) -> Result<crate::mounts::Held> {
        use build::instructions::{MountType, Sharing};
        use engine::options::mounts::{BindMount, Mount, TmpfsMount};
        let lex = Lex::new(self.df.escape);
        let wd = st
            .cfg
            .config
            .as_ref()
            .and_then(|c| c.working_dir.clone())
            .unwrap_or_else(|| "/".into());
        // (declared first, dropped last: the ssh proxies in `held` are woken
        // through their sockets in it)
        let mut private: Option<tempfile::TempDir> = None;
        let mut held = crate::mounts::Held::default();
        let mut ssh_n = 0;
        let mut targets = vec![];
        for spec in &r.mount_specs {
            let m = build::instructions::parse_mount(spec, &|v| {
                lex.process_word(v, env).map_err(|e| e.0)
            })
            .map_err(|e| self.step_err(c, e))?;
            let abs = |t: &str| {
                if t.starts_with('/') {
                    clean_path(t)
                } else {
                    clean_path(&format!("{wd}/{t}"))
                }
            };
            let target = abs(&m.target);
            match m.typ {
                MountType::Cache => {
                    let id = if m.id.is_empty() { &m.target } else { &m.id };
                    let key = build::cache::step_key("", "cache-mount", id);
                    let dir = self
                        .engine
                        .root()
                        .join("build/cache-mounts")
                        .join(key.trim_start_matches("sha256:"));
                    // The directory is made first: a locked mount may be the
                    // store's first cache mount, and its lock file lives there.
                    std::fs::create_dir_all(dir.parent().expect("parent")).map_err(other)?;
                    if m.sharing == Some(Sharing::Locked) {
                        let l = berth_util::lock::FileLock::exclusive(&dir.with_extension("lock"))
                            .map_err(other)?;
                        held.locks.push(l);
                    }
                    // A link left where the cache goes (an older berth renamed
                    // a from='s symlink there) is dropped, never followed.
                    if std::fs::symlink_metadata(&dir)
                        .is_ok_and(|md| !(md.is_dir() || md.is_file()))
                    {
                        std::fs::remove_file(&dir).map_err(other)?;
                    }
                    if std::fs::symlink_metadata(&dir).is_err() {
                        if m.from.is_empty() {
                            std::fs::create_dir_all(&dir).map_err(other)?;
                        } else {
                            // The cache starts as the from's files.
                            let (t, src) = self.mount_source_files(
                                c,
                                &m.from,
                                &m.source,
                                st,
                                outs,
                                stage_index,
                            )?;
                            std::fs::create_dir_all(dir.parent().expect("parent"))
                                .map_err(other)?;
                            std::fs::rename(&src, &dir).map_err(|e| {
                                self.step_err(c, format!("cache mount from {}: {e}", m.from))
                            })?;
                            drop(t);
                        }
                        crate::mounts::set_mode_owner(
                            &dir,
                            m.mode.unwrap_or(0o755),
                            (m.uid.unwrap_or(0), m.gid.unwrap_or(0)),
                        )
                        .map_err(|e| self.step_err(c, format!("cache mount {id}: {e}")))?;
                    }
                    crate::mounts::check_plain(&dir)
                        .map_err(|e| self.step_err(c, format!("cache mount {id}: {e}")))?;
                    opts.mounts.push(Mount::Bind(BindMount {
                        source: dir.to_string_lossy().into_owned(),
                        target: target.clone(),
                        read_only: m.readonly,
                        ..Default::default()
                    }));
                }
                MountType::Tmpfs => opts.tmpfs.push(TmpfsMount {
                    target: target.clone(),
                    size: (m.size_limit > 0).then_some(m.size_limit),
                    mode: None,
                    read_only: false,
                    options: vec![],
                }),
                MountType::Bind => {
                    let source = if !m.from.is_empty() {
                        let (t, src) =
                            self.mount_source_files(c, &m.from, &m.source, st, outs, stage_index)?;
                        crate::mounts::check_plain(&src)
                            .map_err(|e| self.step_err(c, format!("mount from {}: {e}", m.from)))?;
                        held.dirs.push(t);
                        src
                    } else {
                        // Inside the context only.
                        self.context_present(c)?;
                        let src = if m.source.is_empty() { "." } else { &m.source };
                        self.context.resolve(src).map_err(|e| self.step_err(c, e))?;
                        let rel = clean_path(src);
                        let host = self.context.root().join(rel.trim_start_matches('/'));
                        let real = host.canonicalize().map_err(other)?;
                        let root = self.context.root().canonicalize().map_err(other)?;
                        if !real.starts_with(&root) {
                            return Err(self.step_err(
                                c,
                                format!("bind source {src:?} is outside the build context"),
                            ));
                        }
                        if m.readonly {
                            real
                        } else {
                            // rw: the step writes to a copy.
                            let (t, p) = self.context_copy(src).map_err(|e| self.step_err(c, e))?;
                            held.dirs.push(t);
                            p
                        }
                    };
                    opts.mounts.push(Mount::Bind(BindMount {
                        source: source.to_string_lossy().into_owned(),
                        target: target.clone(),
                        read_only: m.readonly,
                        ..Default::default()
                    }));
                }
                MountType::Secret => {
                    let id = if !m.source.is_empty() {
                        m.source.clone()
                    } else if !m.id.is_empty() {
                        m.id.clone()
                    } else {
                        base_name(&m.target)
                    };
                    let value = crate::mounts::secret_value(&self.req.secrets, &id)
                        .map_err(|e| self.step_err(c, e))?;
                    let Some(value) = value else {
                        if m.required {
                            return Err(self.step_err(c, format!("secret {id}: not found")));
                        }
                        continue;
                    };
                    if let Some(var) = &m.env {
                        let v = String::from_utf8_lossy(&value).into_owned();
                        opts.env
                            .retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != var);
                        opts.env.push(format!("{var}={v}"));
                        if m.target.is_empty() {
                            continue;
                        }
                    }
                    let target = if m.target.is_empty() {
                        format!("/run/secrets/{}", base_name(&id))
                    } else {
                        target.clone()
                    };
                    let dir = match &private {
                        Some(d) => d.path().to_path_buf(),
                        None => {
                            let d = reap::temp_dir(self.engine.root())?;
                            let p = d.path().to_path_buf();
                            private = Some(d);
                            p
                        }
                    };
                    let k = targets.len();
                    let file = crate::mounts::secret_file(
                        &dir,
                        &format!("secret-{k}"),
                        &value,
                        m.mode.unwrap_or(0o400),
                        (m.uid.unwrap_or(0), m.gid.unwrap_or(0)),
                    )
                    .map_err(|e| self.step_err(c, format!("secret {id}: {e}")))?;
                    opts.mounts.push(Mount::Bind(BindMount {
                        source: file.to_string_lossy().into_owned(),
                        target: target.clone(),
                        read_only: true,
                        ..Default::default()
                    }));
                    targets.push(target);
                    continue;
                }
                MountType::Ssh => {
                    let id = if m.id.is_empty() { "default" } else { &m.id };
                    let target = if m.target.is_empty() {
                        format!("/run/buildkit/ssh_agent.{ssh_n}")
                    } else {
                        target.clone()
                    };
                    let first = ssh_n == 0;
                    ssh_n += 1;
                    let Some(agent) = self.req.ssh.get(id) else {
                        if m.required {
                            return Err(self.step_err(
                                c,
                                format!("no SSH agent {id:?} forwarded: pass --ssh {id}=SOCKET"),
                            ));
                        }
                        continue;
                    };
                    let dir = match &private {
                        Some(d) => d.path().to_path_buf(),
                        None => {
                            let d = reap::temp_dir(self.engine.root())?;
                            let p = d.path().to_path_buf();
                            private = Some(d);
                            p
                        }
                    };
                    let proxy = crate::mounts::SshProxy::start(
                        &dir,
                        &format!("ssh-{}", targets.len()),
                        agent,
                        m.mode.unwrap_or(0o600),
                        (m.uid.unwrap_or(0), m.gid.unwrap_or(0)),
                    )
                    .map_err(|e| self.step_err(c, format!("ssh {id}: {e}")))?;
                    opts.mounts.push(Mount::Bind(BindMount {
                        source: proxy.path().to_string_lossy().into_owned(),
                        target: target.clone(),
                        read_only: false,
                        ..Default::default()
                    }));
                    if first {
                        opts.env.retain(|e| !e.starts_with("SSH_AUTH_SOCK="));
                        opts.env.push(format!("SSH_AUTH_SOCK={target}"));
                    }
                    held.proxies.push(proxy);
                    targets.push(target);
                    continue;
                }
            }
            targets.push(target);
        }
        if let Some(d) = private {
            held.dirs.push(d);
        }
        // The mount points missing from the image are stubs the layer
        // does not keep.
        let lowers = match &st.image {
            Some(r) => self.engine.images().prepare_rootfs(r)?,
            None => vec![],
        };
        let probe = Probe::Layers(lowers);
        let mut stubs = std::collections::BTreeSet::new();
        // The engine's own mount points too: an /etc it makes for them in
        // an image without one is no change of the step (BuildKit).
        let runtime = ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"];
        for t in targets.iter().map(String::as_str).chain(runtime) {
            let comps: Vec<&str> = t.split('/').filter(|c| !c.is_empty()).collect();
            for k in 1..=comps.len() {
                let sub = comps[..k].join("/");
                match self.probe(&probe, &format!("/{sub}")) {
                    PathKind::Dir => continue,
                    PathKind::Missing => {
                        for j in k..=comps.len() {
                            stubs.insert(comps[..j].join("/"));
                        }
                    }
                    _ => {}
                }
                break;
            }
        }
        held.stubs = stubs.into_iter().collect();
        Ok(held)
    }

    /// The files of `from` (a stage or an image) at `source`, copied out
    /// into a temp dir: (the dir, the path of `source` in it).
    ///
    /// `source` is resolved inside the image's root, its last component
    /// too: a symlink (`l -> /etc`, `d -> ../../..`) gives its in-image
    /// target's content, never a link of the host's (which a bind mount,
    /// or the chmod/chown of a cache seeded from it, would follow out to
    /// the host). Device nodes are refused; the copy is a plain directory
    /// or regular file.
    fn mount_source_files(
        &mut self,
        c: &Command,
        from: &str,
        source: &str,
        st: &St,
        outs: &BTreeMap<usize, StageOut>,
        stage_index: usize,
    ) -> Result<(tempfile::TempDir, std::path::PathBuf)> {
        let rec = self
            .image_of_from(from, outs, stage_index)
            .map_err(|e| self.step_err(c, e))?;
        let src = clean_path(&format!("/{source}"));
        let dir = reap::temp_dir(self.engine.root())?;
        let opts = self.container_opts(&rec, st, vec!["/nonexistent".into()]);
        let id = self.engine.create(&opts)?;
        let r = (|| -> std::result::Result<std::path::PathBuf, String> {
            let mut buf = tempfile::tempfile_in(dir.path()).map_err(|e| e.to_string())?;
            let follow = engine::cp::CopyOptions {
                follow_link: true,
                ..Default::default()
            };
            self.engine
                .copy_from_container(&id, &src, None, &mut buf, follow)
                .map_err(|e| match e {
                    engine::Error::NoSuchObject(_) => "no such file or directory".to_string(),
                    e => e.to_string(),
                })?;
            let sub = dir.path().join("m");
            std::fs::create_dir(&sub).map_err(|e| e.to_string())?;
            crate::mounts::unpack_plain(buf, &sub)?;
            let p = if src == "/" {
                sub
            } else {
                // The one entry the copy makes: `source`'s base name.
                let mut names = std::fs::read_dir(&sub).map_err(|e| e.to_string())?;
                match (names.next(), names.next()) {
                    (Some(Ok(e)), None) => e.path(),
                    _ => return Err("no such file or directory".into()),
                }
            };
            crate::mounts::check_plain(&p)?;
            Ok(p)
        })();
        let _ = self.engine.remove(&id, true);
        let p = r.map_err(|e| self.step_err(c, format!("mount from {from}: {src}: {e}")))?;
        Ok((dir, p))
    }

    /// A copy of context source `src` (for a read-write bind): (the temp
    /// dir, the copy's path).
    fn context_copy(
        &self,
        src: &str,
    ) -> std::result::Result<(tempfile::TempDir, std::path::PathBuf), String> {
        let t = reap::temp_dir(self.engine.root()).map_err(|e| e.to_string())?;
        let tmp = tempfile::tempfile_in(t.path()).map_err(|e| e.to_string())?;
        let mut p = Payload::new(tmp, self.mtime);
        let is_dir = src == "."
            || self
                .context
                .entries()
                .get(clean_path(src).trim_start_matches('/'))
                .is_some_and(|e| e.kind == build::context::Kind::Dir);
        if is_dir {
            std::fs::create_dir(t.path().join("m")).map_err(|e| e.to_string())?;
        }
        p.sources(
            &self.context,
            &[src.to_string()],
            "m",
            false,
            &Attrs::default(),
            false,
            &crate::copy::Select::default(),
        )?;
        let f = p.finish().map_err(|e| e.to_string())?;
        let mut a = tar::Archive::new(f);
        a.set_preserve_permissions(true);
        a.set_preserve_ownerships(true);
        a.unpack(t.path()).map_err(|e| e.to_string())?;
        let path = t.path().join("m");
        Ok((t, path))
    }

    /// WORKDIR's directory, in a layer when it is missing (made from the
    /// image's layers directly when they tell, else in a container).
    fn mkdir_layer(
        &mut self,
        st: &mut St,
        c: &Command,
        wd: &str,
        created_by: String,
    ) -> Result<bool> {
        let lowers = match &st.image {
            Some(r) => self.engine.images().prepare_rootfs(r)?,
            None => vec![],
        };
        let probe = Probe::Layers(lowers);
        let kind = self.probe(&probe, wd);
        if kind == PathKind::Dir {
            self.meta(st, created_by);
            // Written (config only) so that the step is cached.
            self.ensure_image(st)?;
            return Ok(true);
        }
        if kind == PathKind::Missing {
            let tmp = tempfile::tempfile_in(self.engine.root().join("build"))
                .map_err(|e| Error::Other(format!("temp file: {e}")))?;
            let mut p = Payload::new(tmp, self.mtime);
            if self.parents(&probe, &mut p, wd, true, (0, 0))? {
                let f = p.finish().map_err(other)?;
                self.commit_layer(st, f, created_by)?;
                return Ok(true);
            }
        }
        let image = self.ensure_image(st)?;
        let opts = self.container_opts(&image, st, vec!["/nonexistent".into()]);
        let id = self.engine.create(&opts).map_err(|e| self.step_err(c, e))?;
        let probe = Probe::Container(id.clone());
        if self.probe(&probe, wd) != PathKind::Missing {
            let _ = self.engine.remove(&id, true);
            self.meta(st, created_by);
            self.ensure_image(st)?;
            return Ok(true);
        }
        let r = (|| -> Result<()> {
            let tmp = tempfile::tempfile_in(self.engine.root().join("build"))
                .map_err(|e| Error::Other(format!("temp file: {e}")))?;
            let mut p = Payload::new(tmp, self.mtime);
            self.parents(&probe, &mut p, wd, true, (0, 0))?;
            let mut f = p.finish().map_err(other)?;
            self.engine.copy_to_container(
                None,
                &mut f,
                &id,
                "/",
                engine::cp::CopyOptions {
                    follow_link: false,
                    archive: true,
                },
            )?;
            Ok(())
        })();
        if let Err(e) = r {
            let _ = self.engine.remove(&id, true);
            return Err(self.step_err(c, e));
        }
        self.commit_container(st, &id, created_by, &[])?;
        Ok(true)
    }

    /// Directory entries for the missing components of `path` (itself too
    /// when `itself`).
    /// Directory entries for the missing components of `path` (itself too
    /// when `itself`); false when the probe cannot tell (a symlink or a
    /// file on the way).
    fn parents(
        &self,
        probe: &Probe,
        p: &mut Payload,
        path: &str,
        itself: bool,
        owner: (u32, u32),
    ) -> Result<bool> {
        let clean = path.trim_start_matches('/');
        let comps: Vec<&str> = clean.split('/').filter(|c| !c.is_empty()).collect();
        let upto = if itself {
            comps.len()
        } else {
            comps.len().saturating_sub(1)
        };
        let mut missing = false;
        for k in 1..=upto {
            let sub = comps[..k].join("/");
            if !missing {
                match self.probe(probe, &format!("/{sub}")) {
                    PathKind::Missing => {}
                    PathKind::Dir => continue,
                    PathKind::Other | PathKind::Symlink => {
                        if matches!(probe, Probe::Layers(_)) {
                            return Ok(false);
                        }
                        continue;
                    }
                }
            }
            missing = true;
            p.dir(&sub, 0o755, owner).map_err(other)?;
        }
        Ok(true)
    }

    /// What `path` is in the step's image, by its layers or its container.
    fn probe(&self, probe: &Probe, path: &str) -> PathKind {
        match probe {
            Probe::Layers(lowers) => crate::layers::lookup(lowers, path),
            Probe::Container(id) => match self.engine.path_stat(id, path) {
                Err(_) => PathKind::Missing,
                Ok(s) if s.mode & (1 << 31) != 0 => PathKind::Dir,
                Ok(s) if s.mode & (1 << 27) != 0 => PathKind::Symlink,
                Ok(_) => PathKind::Other,
            },
        }
    }

    fn copy_step(
        &mut self,
        st: &mut St,
        c: &Command,
        spec: CopySpec,
        outs: &BTreeMap<usize, StageOut>,
        stage_index: usize,
    ) -> Result<bool> {
        let cmd = first_word(&c.original);
        let mut shown: Vec<String> = spec.sources.clone();
        shown.extend(spec.contents.iter().map(|(p, _)| format!("<<{p}")));
        let from = spec
            .from
            .as_ref()
            .map(|f| format!("--from={f} "))
            .unwrap_or_default();
        let created_by = format!("{cmd} {from}{} {} # buildkit", shown.join(" "), spec.dest);
        // The direct way: the payload is the layer, when the image's layers
        // say plainly where it goes (no symlink on the way, a numeric
        // --chown); else through a container, as `cp` extracts.
        let numeric = spec.chown.is_empty()
            || spec
                .chown
                .split(':')
                .all(|p| !p.is_empty() && p.parse::<u32>().is_ok());
        if numeric {
            let lowers = match &st.image {
                Some(_) if spec.link => vec![],
                Some(r) => self.engine.images().prepare_rootfs(r)?,
                None => vec![],
            };
            let owner = if spec.chown.is_empty() {
                None
            } else {
                let mut it = spec.chown.split(':').map(|p| p.parse::<u32>().unwrap_or(0));
                let u = it.next().unwrap_or(0);
                Some((u, it.next().unwrap_or(u)))
            };
            let probe = Probe::Layers(lowers);
            if let Some(p) = self.copy_into(st, c, &probe, owner, &spec, outs, stage_index)? {
                let f = p.finish().map_err(other)?;
                self.commit_layer(st, f, created_by)?;
                self.linked = spec.link;
                return Ok(true);
            }
        }
        let image = self.ensure_image(st)?;
        let opts = self.container_opts(&image, st, vec!["/nonexistent".into()]);
        let id = self.engine.create(&opts).map_err(|e| self.step_err(c, e))?;
        let r = (|| -> Result<()> {
            let owner = if spec.chown.is_empty() {
                None
            } else {
                Some(
                    self.owner_of(&id, &spec.chown)
                        .map_err(|e| self.step_err(c, e))?,
                )
            };
            let probe = Probe::Container(id.clone());
            let p = self
                .copy_into(st, c, &probe, owner, &spec, outs, stage_index)?
                .ok_or_else(|| self.step_err(c, "cannot place the files"))?;
            let mut f = p.finish().map_err(other)?;
            self.engine
                .copy_to_container(
                    None,
                    &mut f,
                    &id,
                    "/",
                    engine::cp::CopyOptions {
                        follow_link: false,
                        archive: true,
                    },
                )
                .map_err(|e| self.step_err(c, e))?;
            Ok(())
        })();
        if let Err(e) = r {
            let _ = self.engine.remove(&id, true);
            return Err(e);
        }
        self.commit_container(st, &id, created_by, &[])?;
        Ok(true)
    }

    /// A layer tar made here (no container) committed over `st.image`.
    fn commit_layer(&mut self, st: &mut St, f: std::fs::File, created_by: String) -> Result<()> {
        // No stubs: the layer stays (Some).
        let f =
            crate::rewrite::rewrite_layer(f, &[], self.epoch, &self.engine.root().join("build"))
                .map_err(|e| Error::Other(format!("clamp the layer's times: {e}")))?;
        let layer = f.is_some();
        let rec = self.engine.images().commit_config(
            st.image.as_ref(),
            f.map(|f| std::io::BufReader::with_capacity(256 << 10, f)),
            with_parent(&st.cfg, st.image.as_ref(), &self.created),
            Some(self.history(created_by)),
            &[],
        )?;
        if layer {
            self.result.layers += 1;
        }
        st.cfg = self.engine.images().config(&rec)?;
        st.image = Some(rec);
        st.dirty = false;
        Ok(())
    }

    /// The payload of a COPY/ADD; `None` when `probe` (the image's layers)
    /// cannot say plainly where it goes.
    #[allow(clippy::too_many_arguments)]
    fn copy_into(
        &mut self,
        st: &St,
        c: &Command,
        probe: &Probe,
        owner: Option<(u32, u32)>,
        spec: &CopySpec,
        outs: &BTreeMap<usize, StageOut>,
        stage_index: usize,
    ) -> Result<Option<Payload>> {
        let wd = st
            .cfg
            .config
            .as_ref()
            .and_then(|c| c.working_dir.clone())
            .unwrap_or_else(|| "/".into());
        let dest_abs = if spec.dest.starts_with('/') {
            spec.dest.clone()
        } else {
            format!("{}/{}", wd.trim_end_matches('/'), spec.dest)
        };
        let dest = clean_path(&dest_abs).trim_start_matches('/').to_string();
        let n_src = spec.sources.len() + spec.contents.len();
        let wildcard = spec
            .sources
            .iter()
            .any(|s| !is_url(s) && s.contains(['*', '?', '[']));
        let trailing = spec.dest.ends_with('/') || spec.dest.ends_with("/.") || spec.dest == ".";
        let exists_dir = match self.probe(probe, &format!("/{dest}")) {
            PathKind::Dir => true,
            PathKind::Symlink => return Ok(None),
            _ => false,
        };
        if n_src > 1 && !trailing && !exists_dir {
            return Err(self.step_err(
                c,
                format!("When using {} with more than one source file, the destination must be a directory and end with a /", first_word(&c.original)),
            ));
        }
        let dest_dir = trailing || exists_dir || n_src > 1 || wildcard || spec.parents;
        let exclude = if spec.exclude.is_empty() {
            None
        } else {
            Some(
                PatternMatcher::new(&spec.exclude)
                    .map_err(|e| self.step_err(c, format!("invalid --exclude pattern: {e}")))?,
            )
        };
        let sel = crate::copy::Select {
            exclude: exclude.as_ref(),
            parents: spec.parents,
        };
        let mut attrs = Attrs {
            owner,
            ..Default::default()
        };
        if !spec.chmod.is_empty() {
            attrs.mode = Some(u32::from_str_radix(&spec.chmod, 8).map_err(|_| {
                self.step_err(
                    c,
                    format!(
                        "invalid --chmod value {:?}: an octal mode is expected",
                        spec.chmod
                    ),
                )
            })?);
        }
        let tmp = tempfile::tempfile_in(self.engine.root().join("build"))
            .map_err(|e| Error::Other(format!("temp file: {e}")))?;
        let mut p = Payload::new(tmp, self.mtime);
        // BuildKit makes the missing directories with --chown's owner.
        let owner = attrs.owner.unwrap_or((0, 0));
        if !self.parents(
            probe,
            &mut p,
            &format!("/{dest}"),
            dest_dir && !exists_dir,
            owner,
        )? {
            return Ok(None);
        }
        for (name, data) in &spec.contents {
            let d = if dest_dir {
                format!("{dest}/{name}").trim_start_matches('/').to_string()
            } else {
                dest.clone()
            };
            p.bytes(&d, data.as_bytes(), attrs.mode.unwrap_or(0o644), owner)
                .map_err(other)?;
        }
        // ADD's URLs: as files named after the URL's path.
        let (urls, locals): (Vec<String>, Vec<String>) =
            spec.sources.iter().cloned().partition(|s| is_url(s));
        for u in &urls {
            let mut f = match self.fetched.remove(u) {
                Some(f) => f,
                None => {
                    // Fetched again: the content must be what the key saw.
                    let want = if spec.checksum.is_empty() {
                        self.url_digests.get(u).cloned().unwrap_or_default()
                    } else {
                        spec.checksum.clone()
                    };
                    crate::remote::fetch(u, &self.engine.root().join("build"), &want)
                        .map_err(|e| self.step_err(c, e))?
                }
            };
            let d = if dest_dir {
                format!("{dest}/{}", f.name)
                    .trim_start_matches('/')
                    .to_string()
            } else {
                dest.clone()
            };
            p.file(
                &d,
                &mut f.file,
                f.len,
                attrs.mode.unwrap_or(0o600),
                owner,
                f.mtime.unwrap_or(self.mtime),
            )
            .map_err(other)?;
        }
        let _keep;
        match &spec.from {
            None => {
                if !locals.is_empty() {
                    self.context_present(c)?;
                }
                p.sources(
                    &self.context,
                    &locals,
                    &dest,
                    dest_dir,
                    &attrs,
                    spec.unpack,
                    &sel,
                )
                .map_err(|e| self.step_err(c, e))?;
            }
            Some(from) => {
                let rec = self
                    .image_of_from(from, outs, stage_index)
                    .map_err(|e| self.step_err(c, e))?;
                let (dir, sources) = self
                    .extract_sources(&rec, &spec.sources, st)
                    .map_err(|e| self.step_err(c, e))?;
                let ctx =
                    Context::from_dir(dir.path(), &PatternMatcher::default()).map_err(other)?;
                attrs.keep_owner = true;
                p.sources(&ctx, &sources, &dest, dest_dir, &attrs, false, &sel)
                    .map_err(|e| {
                        self.step_err(c, e.replace("COPY source", "COPY --from source"))
                    })?;
                _keep = dir;
            }
        }
        // Directly as a layer: every directory on the way of every entry
        // must be a plain directory of the image or one the payload makes.
        if let Probe::Layers(_) = probe {
            let made = p.paths().clone();
            let mut checked: BTreeMap<String, bool> = BTreeMap::new();
            for path in &made {
                let mut prefix = String::new();
                let comps: Vec<&str> = path.split('/').collect();
                for comp in &comps[..comps.len() - 1] {
                    prefix = if prefix.is_empty() {
                        comp.to_string()
                    } else {
                        format!("{prefix}/{comp}")
                    };
                    if made.contains(&prefix) {
                        continue;
                    }
                    let ok = *checked.entry(prefix.clone()).or_insert_with(|| {
                        self.probe(probe, &format!("/{prefix}")) == PathKind::Dir
                    });
                    if !ok {
                        return Ok(None);
                    }
                }
                // A file where the image has a directory (or the reverse)
                // is refused, as BuildKit's copy does.
                match self.probe(probe, &format!("/{path}")) {
                    PathKind::Symlink => return Ok(None),
                    PathKind::Dir if !p.is_dir(path) => {
                        return Err(self
                            .step_err(c, format!("cannot replace to directory /{path} with file")))
                    }
                    PathKind::Other if p.is_dir(path) => {
                        return Err(
                            self.step_err(c, format!("cannot copy to non-directory: /{path}"))
                        )
                    }
                    _ => {}
                }
            }
        }
        Ok(Some(p))
    }

    /// The image `COPY --from` names: a stage (by name or index) or an
    /// image.
    fn image_of_from(
        &mut self,
        from: &str,
        outs: &BTreeMap<usize, StageOut>,
        stage_index: usize,
    ) -> Result<ImageRecord> {
        let stage = if let Ok(k) = from.parse::<usize>() {
            (k < stage_index).then_some(k)
        } else {
            self.df.stages[..stage_index].iter().position(|s| {
                s.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(from))
            })
        };
        if let Some(k) = stage {
            let o = outs
                .get(&k)
                .cloned()
                .ok_or_else(|| Error::Other(format!("stage {from} was not built")))?;
            return self.finish_stage(&o);
        }
        self.image(from)
    }

    /// A stage's output as an image (its pending metadata committed).
    fn finish_stage(&mut self, o: &StageOut) -> Result<ImageRecord> {
        match &o.image {
            Some(r) if self.engine.images().config(r)? == o.config => Ok(r.clone()),
            _ => self.finish(o),
        }
    }

    /// The sources of `COPY --from` copied out of `rec` into a temp
    /// directory: each source's fixed directory prefix copied, the rest
    /// (wildcards) resolved there. Returns the dir and the sources in it.
    fn extract_sources(
        &self,
        rec: &ImageRecord,
        sources: &[String],
        st: &St,
    ) -> Result<(tempfile::TempDir, Vec<String>)> {
        let dir = reap::temp_dir(self.engine.root())?;
        let opts = self.container_opts(rec, st, vec!["/nonexistent".into()]);
        let id = self.engine.create(&opts)?;
        let r = (|| -> Result<Vec<String>> {
            let mut out = vec![];
            for (k, s) in sources.iter().enumerate() {
                let clean = clean_path(&format!("/{s}"));
                let comps: Vec<&str> = clean.split('/').filter(|c| !c.is_empty()).collect();
                let fixed = comps
                    .iter()
                    .position(|c| c.contains(['*', '?', '[']))
                    .unwrap_or(comps.len());
                let (prefix, rest) = if fixed == comps.len() && !comps.is_empty() {
                    (
                        comps[..comps.len() - 1].join("/"),
                        comps[comps.len() - 1..].join("/"),
                    )
                } else {
                    (comps[..fixed].join("/"), comps[fixed..].join("/"))
                };
                let sub = dir.path().join(k.to_string());
                std::fs::create_dir_all(&sub).map_err(other)?;
                let what = if prefix.is_empty() {
                    "/.".to_string()
                } else {
                    format!("/{prefix}/.")
                };
                let mut buf = tempfile::tempfile_in(dir.path()).map_err(other)?;
                self.engine
                    .copy_from_container(
                        &id,
                        &what,
                        None,
                        &mut buf,
                        engine::cp::CopyOptions::default(),
                    )
                    .map_err(|e| Error::Other(format!("{s}: {e}")))?;
                std::io::Seek::rewind(&mut buf).map_err(other)?;
                let mut a = tar::Archive::new(buf);
                a.set_preserve_permissions(true);
                a.set_preserve_ownerships(true);
                a.unpack(&sub)
                    .map_err(|e| Error::Other(format!("{s}: {e}")))?;
                out.push(if rest.is_empty() {
                    k.to_string()
                } else {
                    format!("{k}/{rest}")
                });
            }
            Ok(out)
        })();
        let _ = self.engine.remove(&id, true);
        Ok((dir, r?))
    }

    /// `--chown=user[:group]` in the image of container `id`.
    fn owner_of(&self, id: &str, spec: &str) -> std::result::Result<(u32, u32), String> {
        let (u, g) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let read = |path: &str| -> String {
            let mut buf = vec![];
            if self
                .engine
                .copy_from_container(id, path, None, &mut buf, engine::cp::CopyOptions::default())
                .is_err()
            {
                return String::new();
            }
            let mut a = tar::Archive::new(&buf[..]);
            let mut s = String::new();
            if let Ok(mut es) = a.entries() {
                if let Some(Ok(mut e)) = es.next() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut s);
                }
            }
            s
        };
        let lookup = |file: &str, name: &str| -> Option<(u32, u32)> {
            for l in file.lines() {
                let f: Vec<&str> = l.split(':').collect();
                if f.len() >= 4 && f[0] == name {
                    return Some((f[2].parse().ok()?, f[3].parse().ok()?));
                }
            }
            None
        };
        let (uid, pgid) = match u.parse::<u32>() {
            Ok(n) => (n, None),
            Err(_) => {
                let p = read("/etc/passwd");
                let builtin = engine::user::builtin_id(u).map(|n| (n, n));
                let (a, b) = lookup(&p, u).or(builtin).ok_or_else(|| {
                    format!("unable to find user {u}: no matching entries in passwd file")
                })?;
                (a, Some(b))
            }
        };
        let gid = match g {
            None => pgid.unwrap_or(uid),
            Some(g) => match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    let gr = read("/etc/group");
                    lookup(&gr, g)
                        .map(|(gid, _)| gid)
                        .or_else(|| {
                            gr.lines().find_map(|l| {
                                let f: Vec<&str> = l.split(':').collect();
                                (f.len() >= 3 && f[0] == g)
                                    .then(|| f[2].parse().ok())
                                    .flatten()
                            })
                        })
                        .or_else(|| engine::user::builtin_id(g))
                        .ok_or_else(|| {
                            format!("unable to find group {g}: no matching entries in group file")
                        })?
                }
            },
        };
        Ok((uid, gid))
    }
}

/// Where a step looks at its image's files.
enum Probe {
    /// The image's layers (lower dirs, top first), read directly.
    Layers(Vec<std::path::PathBuf>),
    /// A created container of the image (`cp`'s path rules).
    Container(String),
}

struct CopySpec {
    sources: Vec<String>,
    contents: Vec<(String, String)>,
    dest: String,
    chown: String,
    chmod: String,
    from: Option<String>,
    unpack: bool,
    /// `--exclude` patterns (expanded).
    exclude: Vec<String>,
    /// `--parents`.
    parents: bool,
    /// `--link`: the files made as a layer of their own, as if over an
    /// empty base (BuildKit copies onto scratch and merges the result).
    link: bool,
    /// ADD's `--checksum` of its URLs.
    checksum: String,
}

/// BuildKit's default PATH of a stage without one.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The last component of `p` (Go's `path.Base`).
/// The next of `total` vertices (`index` counts them) when the step
/// `makes` one.
fn next_vertex<'a>(
    index: &mut usize,
    total: usize,
    makes: bool,
    name: &'a str,
) -> Option<crate::Vertex<'a>> {
    (makes && total > 0).then(|| {
        *index += 1;
        crate::Vertex {
            index: *index,
            total,
            name,
        }
    })
}

/// Whether BuildKit makes a vertex of `c` (a step of its progress).
fn makes_vertex(c: &Command) -> bool {
    matches!(
        c.instruction,
        Instruction::Run(_)
            | Instruction::Copy(_)
            | Instruction::Add(_)
            | Instruction::Workdir { .. }
    )
}

fn base_name(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn first_word(s: &str) -> String {
    s.split_whitespace().next().unwrap_or("").to_uppercase()
}

fn json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn shown_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// A step's config names the image it starts from as its `parent`, as
/// docker's builder does (`images` hides such intermediates without `-a`).
/// The config an image of the build is committed with: its parent, and
/// the build's time as `created` (BuildKit's exporter: never the base's).
fn with_parent(cfg: &ImageConfig, base: Option<&ImageRecord>, created: &str) -> ImageConfig {
    let mut c = cfg.clone();
    c.parent = base.map(|b| b.id.to_string());
    c.created = Some(created.to_string());
    c
}

/// `p` as an absolute clean path (Go's `path.Clean` of `/p`).
fn clean_path(p: &str) -> String {
    berth_util::gostr::clean_path(&format!("/{p}"))
}

/// The last lines of a step's output.
#[derive(Default)]
struct Tail {
    buf: Vec<u8>,
}

impl Tail {
    fn push(&mut self, d: &[u8]) {
        self.buf.extend_from_slice(d);
        if self.buf.len() > 16 << 10 {
            let cut = self.buf.len() - (8 << 10);
            self.buf.drain(..cut);
        }
    }

    fn lines(&self) -> String {
        let s = String::from_utf8_lossy(&self.buf);
        let lines: Vec<&str> = s.lines().collect();
        let start = lines.len().saturating_sub(6);
        lines[start..].iter().map(|l| format!("\n{l}")).collect()
    }
}

struct StepOut<'a, 'b> {
    n: usize,
    cx: &'a Ctx<'b>,
    tail: &'a RefCell<Tail>,
}

impl Write for StepOut<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tail.borrow_mut().push(buf);
        self.cx.emit(Event::Output {
            n: self.n,
            data: buf,
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The expanded sources, inline heredoc files, destination and owner and
/// mode flags of a COPY or ADD (`from` and `unpack` are the caller's).
fn copy_spec(
    ex: &dyn Fn(&str) -> Result<String>,
    paths: &build::instructions::SourcesAndDest,
    chown: &str,
    chmod: &str,
) -> Result<CopySpec> {
    Ok(CopySpec {
        sources: paths.sources.iter().map(|s| ex(s)).collect::<Result<_>>()?,
        contents: paths
            .contents
            .iter()
            .map(|s| {
                let data = if s.expand {
                    ex(&s.data)?
                } else {
                    s.data.clone()
                };
                Ok((s.path.clone(), data))
            })
            .collect::<Result<_>>()?,
        dest: ex(&paths.dest)?,
        chown: ex(chown)?,
        chmod: ex(chmod)?,
        from: None,
        unpack: false,
        exclude: vec![],
        parents: false,
        link: false,
        checksum: String::new(),
    })
}

/// An http(s) source of ADD.
fn is_url(s: &str) -> bool {
    (s.starts_with("http://") || s.starts_with("https://")) && !is_git(s)
}

/// A git source of ADD (BuildKit's git URL forms).
fn is_git(s: &str) -> bool {
    s.starts_with("git@")
        || s.starts_with("git://")
        || ((s.starts_with("http://") || s.starts_with("https://"))
            && (s.ends_with(".git") || s.contains(".git#")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docker's IsArchive: a tar (a PAX header first too, as docker-py
    /// sends it) and compressed streams are archives; a Dockerfile is not.
    #[test]
    fn archive_or_dockerfile() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(2);
        h.set_mode(0o644);
        b.append_pax_extensions([("path", &b"Dockerfile"[..])])
            .unwrap();
        b.append_data(&mut h, "Dockerfile", &b"hi"[..]).unwrap();
        let t = b.into_inner().unwrap();
        assert!(is_archive(&t[..1024]));
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        b.append_data(&mut h, "a", &b"hi"[..]).unwrap();
        assert!(is_archive(&b.into_inner().unwrap()[..1024]));
        assert!(is_archive(&[0x1f, 0x8b, 8, 0]));
        assert!(!is_archive(b"FROM busybox\nRUN true\n"));
        assert!(!is_archive(&[b'F'; 1024]));
        assert!(!is_archive(&[0; 1024]));
    }
}
