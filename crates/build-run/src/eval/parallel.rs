//! Independent stages build in parallel, as BuildKit's solver runs the
//! DAG: the stages the target needs go in waves (each stage once the
//! stages it reads are built); a wave of several stages runs one thread
//! per stage, each with its own evaluator state, their events sent to the
//! builder's thread, which alone calls `progress`. Step numbers are fixed
//! beforehand (the stages' steps in dependency order), so each line of the
//! plain progress keeps its step's `#N` whatever the interleaving.
//!
//! The images the stages name (bases, `COPY --from=image`) are resolved,
//! and pulled if need be, on the builder's thread first; should one fail,
//! the stages are built one after the other, as before, to report it.

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc};

use build::stages::Base;

use super::{Ctx, StageOut};
use crate::{BuildRequest, BuildResult, Event, Result};

/// An [`Event`] with its data owned, sent between threads.
enum Owned {
    Step {
        n: usize,
        stage: String,
        index: usize,
        total: usize,
        text: String,
        /// A [`crate::Vertex`]: index, total, name.
        vertex: Option<(usize, usize, String)>,
    },
    Cached(usize),
    Output(usize, Vec<u8>),
    Done(usize),
    Pulling(String),
    Image(usize, String),
    Warning(String),
    Exporting(String),
}

impl Owned {
    fn of(e: &Event) -> Owned {
        match *e {
            Event::Step {
                n,
                stage,
                index,
                total,
                text,
                vertex,
            } => Owned::Step {
                n,
                stage: stage.into(),
                index,
                total,
                text: text.into(),
                vertex: vertex.map(|v| (v.index, v.total, v.name.to_string())),
            },
            Event::Cached { n } => Owned::Cached(n),
            Event::Output { n, data } => Owned::Output(n, data.to_vec()),
            Event::Done { n } => Owned::Done(n),
            Event::Pulling { reference } => Owned::Pulling(reference.into()),
            Event::Image { n, id } => Owned::Image(n, id.into()),
            Event::Warning { message } => Owned::Warning(message.into()),
            Event::Exporting { what } => Owned::Exporting(what.into()),
        }
    }

    fn emit(&self, f: &mut dyn FnMut(Event)) {
        f(match self {
            Owned::Step {
                n,
                stage,
                index,
                total,
                text,
                vertex,
            } => Event::Step {
                n: *n,
                stage,
                index: *index,
                total: *total,
                text,
                vertex: vertex.as_ref().map(|(index, total, name)| crate::Vertex {
                    index: *index,
                    total: *total,
                    name,
                }),
            },
            Owned::Cached(n) => Event::Cached { n: *n },
            Owned::Output(n, data) => Event::Output { n: *n, data },
            Owned::Done(n) => Event::Done { n: *n },
            Owned::Pulling(reference) => Event::Pulling { reference },
            Owned::Image(n, id) => Event::Image { n: *n, id },
            Owned::Warning(message) => Event::Warning { message },
            Owned::Exporting(what) => Event::Exporting { what },
        })
    }
}

/// What a stage's thread needs of the request (a `BuildRequest` is not
/// `Sync`: each thread makes its own).
#[derive(Clone)]
struct ReqParts {
    dockerfile: crate::DockerfileSource,
    build_args: BTreeMap<String, String>,
    target: Option<String>,
    no_cache: bool,
    no_cache_filter: Vec<String>,
    pull: bool,
    labels: BTreeMap<String, String>,
    network: Option<String>,
    secrets: BTreeMap<String, crate::SecretSource>,
    ssh: BTreeMap<String, std::path::PathBuf>,
    cancel: crate::Cancel,
}

impl ReqParts {
    fn request(&self) -> BuildRequest {
        BuildRequest {
            dockerfile: self.dockerfile.clone(),
            build_args: self.build_args.clone(),
            target: self.target.clone(),
            no_cache: self.no_cache,
            no_cache_filter: self.no_cache_filter.clone(),
            pull: self.pull,
            labels: self.labels.clone(),
            network: self.network.clone(),
            secrets: self.secrets.clone(),
            ssh: self.ssh.clone(),
            cancel: self.cancel.clone(),
            ..Default::default()
        }
    }
}

impl Ctx<'_> {
    /// Builds the stages of `order` (dependency order); returns their
    /// outputs.
    pub(super) fn build_stages(
        &mut self,
        order: &[usize],
        total_stages: usize,
    ) -> Result<BTreeMap<usize, StageOut>> {
        let mut first = BTreeMap::new();
        let mut n = self.step;
        for &i in order {
            first.insert(i, n);
            n += self.df.stages[i].commands.len() + 1;
        }
        let mut parallel = order.len() > 1;
        if parallel {
            let names: Vec<String> = order
                .iter()
                .flat_map(|&i| {
                    let s = &self.graph.stages[i];
                    let base = match &s.base {
                        Base::Image(b) => Some(b.clone()),
                        _ => None,
                    };
                    base.into_iter().chain(s.images.iter().cloned())
                })
                .collect();
            for name in names {
                if self.image(&name).is_err() {
                    parallel = false;
                }
            }
        }
        let parts = ReqParts {
            dockerfile: self.req.dockerfile.clone(),
            build_args: self.req.build_args.clone(),
            target: self.req.target.clone(),
            no_cache: self.req.no_cache,
            no_cache_filter: self.req.no_cache_filter.clone(),
            pull: self.req.pull,
            labels: self.req.labels.clone(),
            network: self.req.network.clone(),
            secrets: self.req.secrets.clone(),
            ssh: self.req.ssh.clone(),
            cancel: self.req.cancel.clone(),
        };
        let mut outs: BTreeMap<usize, StageOut> = BTreeMap::new();
        let mut left: Vec<usize> = order.to_vec();
        while !left.is_empty() {
            let ready: Vec<usize> = if parallel {
                left.iter()
                    .copied()
                    .filter(|&i| {
                        self.graph.stages[i]
                            .deps
                            .iter()
                            .all(|d| outs.contains_key(d) || !order.contains(d))
                    })
                    .collect()
            } else {
                vec![left[0]]
            };
            let ready = if ready.is_empty() {
                vec![left[0]]
            } else {
                ready
            };
            left.retain(|i| !ready.contains(i));
            if ready.len() == 1 {
                let i = ready[0];
                self.step = first[&i];
                let out = self.stage(i, &outs, total_stages)?;
                outs.insert(i, out);
                continue;
            }
            let (tx, rx) = mpsc::channel::<Owned>();
            let done: Vec<(usize, Result<StageOut>, BuildResult, _)> = std::thread::scope(|s| {
                let handles: Vec<_> = ready
                    .iter()
                    .map(|&i| {
                        let tx = tx.clone();
                        let outs = &outs;
                        let parts = parts.clone();
                        let step = first[&i];
                        let me = &*self;
                        // The fork is made on this thread (the evaluator
                        // is not Sync), moved into the stage's.
                        let seed = Seed {
                            engine: me.engine,
                            file: me.file.clone(),
                            df: me.df.clone(),
                            graph: me.graph.clone(),
                            context: Arc::clone(&me.context),
                            cache: me.cache.clone(),
                            owner: me.owner.clone(),
                            images: me.images.clone(),
                            created: me.created.clone(),
                            mtime: me.mtime,
                            epoch: me.epoch,
                        };
                        s.spawn(move || {
                            let req = parts.request();
                            let mut send = |e: Event| {
                                let _ = tx.send(Owned::of(&e));
                            };
                            let mut cx = seed.ctx(&req, &mut send);
                            cx.step = step;
                            let r = cx.stage(i, outs, total_stages);
                            (i, r, cx.result.clone(), cx.images.clone())
                        })
                    })
                    .collect();
                drop(tx);
                for ev in rx {
                    let mut p = self.progress.borrow_mut();
                    ev.emit(&mut **p);
                }
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a stage's thread panicked"))
                    .collect()
            });
            let mut first_err = None;
            for (i, r, res, images) in done {
                self.result.cached += res.cached;
                self.result.ran += res.ran;
                self.result.layers += res.layers;
                self.images.extend(images);
                match r {
                    Ok(out) => {
                        outs.insert(i, out);
                    }
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
        }
        self.step = n;
        Ok(outs)
    }
}

/// The parts of an evaluator a stage's thread starts from (all `Send`).
struct Seed<'a> {
    engine: &'a engine::Engine,
    file: String,
    df: build::instructions::Dockerfile,
    graph: build::stages::Graph,
    context: Arc<build::context::Context>,
    cache: crate::cache::StepCache,
    owner: String,
    images: BTreeMap<String, image::ImageRecord>,
    created: String,
    mtime: u64,
    epoch: Option<u64>,
}

impl<'a> Seed<'a> {
    fn ctx<'b>(self, req: &'b BuildRequest, progress: &'b mut dyn FnMut(Event)) -> Ctx<'b>
    where
        'a: 'b,
    {
        Ctx {
            engine: self.engine,
            req,
            puller: None,
            progress: std::cell::RefCell::new(progress),
            file: self.file,
            df: self.df,
            graph: self.graph,
            context: self.context,
            cache: self.cache,
            owner: self.owner,
            step: 0,
            result: BuildResult {
                id: String::new(),
                cached: 0,
                ran: 0,
                layers: 0,
            },
            images: self.images,
            created: self.created,
            mtime: self.mtime,
            epoch: self.epoch,
            fetched: BTreeMap::new(),
            url_digests: BTreeMap::new(),
            linked: false,
        }
    }
}
