//! The build around the evaluator: the store's build lease (no prune
//! meanwhile), the step cache opened once (a corrupt one set aside with a
//! warning), a git context fetched, `--cache-from` imported, the stages
//! evaluated, the outputs and `--cache-to` written, then the cache held to
//! its cap.

use crate::cache::StepCache;
use crate::{
    cache_io, eval, git, output, prune, BuildRequest, BuildResult, ContextSource, Event, Output,
    Puller, Result,
};

/// Builds `req` with `engine`; `progress` sees each step; `puller` fetches
/// base images the store lacks.
pub fn build(
    engine: &engine::Engine,
    req: BuildRequest,
    puller: Option<Puller<'_>>,
    progress: &mut dyn FnMut(Event),
) -> Result<BuildResult> {
    // buildx stats each secret file before the build starts.
    for (id, src) in &req.secrets {
        if let crate::SecretSource::File(p) = src {
            std::fs::metadata(p).map_err(|e| {
                crate::Error::Other(format!(
                    "invalid --secret id={id}: failed to stat {}: {e}",
                    p.display()
                ))
            })?;
        }
    }
    let root = engine.root().to_path_buf();
    let lease = prune::lease(&root)?;
    let (cache, warning) = StepCache::open(&root)?;
    if let Some(w) = &warning {
        progress(Event::Warning { message: w });
    }
    let mut req = req;
    let _git_dir;
    if let ContextSource::Git(url) = &req.context {
        let (dir, ctx) = git::fetch(&root, url)?;
        req.context = ContextSource::Dir(ctx);
        _git_dir = dir;
    }
    let outputs = std::mem::take(&mut req.outputs);
    let cache_from = std::mem::take(&mut req.cache_from);
    let cache_to = std::mem::take(&mut req.cache_to);
    let registry = req.cache_registry.take();
    for spec in &cache_from {
        if let Err(e) = cache_io::import(engine, &cache, spec, registry.as_deref()) {
            progress(Event::Warning {
                message: &format!("failed to import the cache: {e}"),
            });
        }
    }
    // The names of archive outputs without `name=`.
    let tags = req.tags.clone();
    // With outputs none of which keeps the image, it is not tagged.
    if outputs.is_empty() || outputs.iter().any(Output::keeps_image) {
        for o in &outputs {
            for n in o.store_names() {
                if !req.tags.contains(n) {
                    req.tags.push(n.clone());
                }
            }
        }
    } else {
        req.tags.clear();
    }
    // An image no output keeps is never tagged: an image prune between its
    // last step and its export would take it as dangling. Held (shared)
    // until the exports and the cache export are done.
    let untagged_result = if req.tags.is_empty() && !outputs.is_empty() {
        Some(engine.images().lease()?)
    } else {
        None
    };
    let res = eval::build(engine, req, puller, progress, cache.clone());
    let flushed = cache.flush();
    let res = res?;
    flushed?;
    for o in &outputs {
        if !o.keeps_image() {
            progress(Event::Exporting { what: &describe(o) });
        }
        output::export(engine, &res.id, o, &tags)?;
    }
    for spec in &cache_to {
        progress(Event::Exporting {
            what: &format!("cache to {}", location(spec)),
        });
        cache_io::export(engine, &cache, &res.id, spec, registry.as_deref())?;
    }
    drop(untagged_result);
    drop(lease);
    // Only a build that added to the cache can have taken it past its cap.
    if !cache.grew() {
        return Ok(res);
    }
    if let Err(e) = prune::auto_gc(engine) {
        progress(Event::Warning {
            message: &format!("build cache garbage collection: {e}"),
        });
    }
    Ok(res)
}

fn dest(d: &output::Dest) -> String {
    match d {
        output::Dest::File(p) => p.display().to_string(),
        output::Dest::Stdout => "stdout".into(),
    }
}

fn describe(o: &Output) -> String {
    match o {
        Output::Local(p) => format!("to client directory {}", p.display()),
        Output::Tar(d) => format!("to tar {}", dest(d)),
        Output::Oci { dest: d, .. } => format!("to oci image format {}", dest(d)),
        Output::Docker { dest: Some(d), .. } => format!("to docker image format {}", dest(d)),
        Output::Image { .. } | Output::Docker { dest: None, .. } => "to image".into(),
    }
}

fn location(s: &cache_io::CacheSpec) -> String {
    match &s.location {
        cache_io::CacheLocation::Local(p) => p.display().to_string(),
        cache_io::CacheLocation::Registry(r) => r.to_string(),
    }
}
