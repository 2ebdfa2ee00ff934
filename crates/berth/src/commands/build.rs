//! `berth build`: flags into a typed `build_run::BuildRequest`, the
//! builder's events printed as BuildKit's plain progress or, on a terminal,
//! its live view ([`super::build_progress`]).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use build_run::{
    BuildRequest, CacheRegistry, CacheSpec, ContextSource, DockerfileSource, Event, SecretSource,
};

use super::{out, parse_ref, CmdResult};
use crate::cli::build::{BuildArgs, BuilderPruneArgs};
use crate::cli::{PullArgs, RegistryArgs};
use crate::error::CliError;
use crate::Globals;

/// `KEY=VALUE`, or `KEY` taking the caller's environment (skipped when unset).
fn key_values(
    flag: &str,
    items: &[String],
    env: bool,
) -> Result<BTreeMap<String, String>, CliError> {
    let mut m = BTreeMap::new();
    for it in items {
        match it.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                m.insert(k.to_string(), v.to_string());
            }
            Some(_) => {
                return Err(CliError::daemon(format!(
                    "invalid {flag} {it:?}: an empty key"
                )))
            }
            None if env => {
                if let Ok(v) = std::env::var(it) {
                    m.insert(it.clone(), v);
                }
            }
            None => {
                m.insert(it.clone(), String::new());
            }
        }
    }
    Ok(m)
}

fn request(a: &BuildArgs) -> Result<BuildRequest, CliError> {
    if let Some(p) = &a.platform {
        let host = image::Platform::host();
        let want = image::Platform::parse(p)
            .map_err(|e| CliError::daemon(format!("invalid --platform {p:?}: {e}")))?;
        if want.os != host.os || want.architecture != host.architecture {
            return Err(CliError::daemon(format!(
                "berth build: --platform {p} is not supported: only the host's platform ({}/{}) can be built",
                host.os, host.architecture
            )));
        }
    }
    if !matches!(
        a.progress.as_str(),
        "auto" | "plain" | "tty" | "quiet" | "rawjson"
    ) {
        return Err(CliError::daemon(format!(
            "invalid --progress {:?}: must be one of auto, plain, tty, quiet",
            a.progress
        )));
    }
    if let Some(n) = &a.network {
        if !matches!(n.as_str(), "default" | "none" | "host" | "bridge") {
            return Err(CliError::daemon(format!(
                "invalid --network {n:?}: must be default, none, host or bridge"
            )));
        }
    }
    let git_ctx = build_run::git::is_git_url(&a.context);
    if !git_ctx && a.context.contains("://") {
        return Err(CliError::daemon(format!(
            "berth build: a remote context ({}) that is not a git repository is not supported yet",
            a.context
        )));
    }
    let stdin_ctx = a.context == "-";
    if stdin_ctx && a.file.as_deref() == Some("-") {
        return Err(CliError::daemon(
            "invalid argument: can't use stdin for both build context and dockerfile",
        ));
    }
    let context = if stdin_ctx {
        ContextSource::Tar(Box::new(std::io::stdin()))
    } else if git_ctx {
        ContextSource::Git(a.context.clone())
    } else {
        let d = PathBuf::from(&a.context);
        if !d.is_dir() {
            return Err(CliError::daemon(format!(
                "unable to prepare context: path {:?} not found",
                a.context
            )));
        }
        ContextSource::Dir(d)
    };
    let dockerfile = match a.file.as_deref() {
        None => DockerfileSource::InContext("Dockerfile".into()),
        Some("-") => {
            let mut data = vec![];
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut data)
                .map_err(|e| CliError::daemon(format!("read the Dockerfile from stdin: {e}")))?;
            DockerfileSource::Bytes {
                name: "Dockerfile".into(),
                data,
            }
        }
        Some(f) if stdin_ctx || git_ctx => DockerfileSource::InContext(f.to_string()),
        Some(f) => DockerfileSource::Path(PathBuf::from(f)),
    };
    // buildx passes the values joined with commas; the frontend splits them.
    let mut no_cache_filter = vec![];
    for v in &a.no_cache_filter {
        for name in v.split(',') {
            if name.trim().is_empty() {
                return Err(CliError::daemon(format!(
                    "invalid --no-cache-filter {v:?}: a stage name is expected"
                )));
            }
            no_cache_filter.push(name.trim().to_string());
        }
    }
    let mut tags = vec![];
    for t in &a.tag {
        tags.push(
            parse_ref(t).map_err(|e| CliError::daemon(format!("invalid tag {t:?}: {}", e.msg)))?,
        );
    }
    let lib = |e: build_run::Error| CliError::daemon(e.to_string());
    let outputs = a
        .output
        .iter()
        .map(|o| build_run::Output::parse(o))
        .collect::<Result<Vec<_>, _>>()
        .map_err(lib)?;
    let cache_from = a
        .cache_from
        .iter()
        .map(|c| CacheSpec::parse(c, false))
        .collect::<Result<Vec<_>, _>>()
        .map_err(lib)?;
    let cache_to = a
        .cache_to
        .iter()
        .map(|c| CacheSpec::parse(c, true))
        .collect::<Result<Vec<_>, _>>()
        .map_err(lib)?;
    Ok(BuildRequest {
        context,
        dockerfile,
        tags,
        build_args: key_values("--build-arg", &a.build_arg, true)?,
        target: a.target.clone(),
        no_cache: a.no_cache,
        no_cache_filter,
        pull: a.pull,
        labels: key_values("--label", &a.label, false)?,
        network: a.network.clone(),
        secrets: secrets(&a.secret)?,
        ssh: ssh(&a.ssh)?,
        outputs,
        cache_from,
        cache_to,
        cache_registry: None,
        cancel: build_run::Cancel::default(),
    })
}

/// Registry caches through the registry client (default TLS settings and
/// the auth file's credentials).
struct RegistryCache {
    client: registry::Client,
    store: image::Store,
}

impl CacheRegistry for RegistryCache {
    fn push_image(&self, id: &str, repo: &image::Reference) -> Result<(), String> {
        let rec = self.store.resolve(id).map_err(|e| e.to_string())?.record;
        let dest = image::Reference::parse(&format!("{}@{}", repo.name(), rec.manifest_digest))
            .map_err(|e| e.to_string())?;
        self.client
            .push(
                &self.store,
                id,
                &dest,
                &registry::PushOptions::default(),
                &registry::NoProgress,
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn put_index(&self, r: &image::Reference, bytes: &[u8]) -> Result<(), String> {
        self.client
            .put_manifest(r, image::manifest::media_type::OCI_INDEX, bytes)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn get_index(&self, r: &image::Reference) -> Result<Option<Vec<u8>>, String> {
        match self.client.fetch_manifest(r) {
            Ok(m) => Ok(Some(m.bytes)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn pull(&self, r: &image::Reference) -> Result<(), String> {
        self.client
            .pull_image(
                &self.store,
                r,
                &image::Platform::host(),
                &registry::NoProgress,
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn registry_cache(g: &Globals) -> Result<Box<dyn CacheRegistry>, CliError> {
    let client = super::transfer::client(&RegistryArgs {
        tls_verify: true,
        authfile: None,
        cert_dir: None,
    })?;
    Ok(Box::new(RegistryCache {
        client,
        store: g.store()?,
    }))
}

/// `builder prune [-a] [-f] [--filter until=…] [--keep-storage SIZE]`.
pub fn prune(g: &Globals, a: BuilderPruneArgs) -> CmdResult {
    let lib = |e: build_run::Error| CliError::new(e.to_string());
    let mut opts = build_run::prune::PruneOptions {
        all: a.all,
        ..Default::default()
    }
    .with_filters(&a.filter)
    .map_err(lib)?;
    if let Some(k) = &a.keep_storage {
        let n = berth_util::size::ram_in_bytes(k)
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                CliError::new(format!(
                    "invalid --keep-storage {k:?}: a size such as 512MB is expected"
                ))
            })?;
        opts.keep_storage = Some(n as u64);
    }
    if !a.force {
        let warning = if a.all {
            "WARNING! This will remove all build cache."
        } else {
            "WARNING! This will remove all dangling build cache."
        };
        eprintln!("{warning}");
        if !super::images::confirm("Are you sure you want to continue?") {
            return Ok(());
        }
    }
    let eng = g.engine()?;
    let report = build_run::prune::prune(&eng, &opts).map_err(lib)?;
    if !report.deleted.is_empty() {
        out("Deleted build cache objects:")?;
        for id in &report.deleted {
            out(id)?;
        }
        out("")?;
    }
    out(&format!(
        "Total reclaimed space: {}",
        berth_util::size::human_size(report.reclaimed)
    ))
}

/// `--secret id=ID[,src=FILE|,env=VAR][,type=file|env]` as buildx parses
/// it; without src or env, the variable named ID when set, else the file
/// ID (BuildKit's secrets provider). An env secret is read here.
fn secrets(items: &[String]) -> Result<BTreeMap<String, SecretSource>, CliError> {
    let mut m = BTreeMap::new();
    for it in items {
        let bad = |why: String| CliError::daemon(format!("invalid --secret {it:?}: {why}"));
        let (mut id, mut src, mut env, mut typ) = (None, None, None, None);
        for field in it.split(',') {
            let Some((k, v)) = field.split_once('=') else {
                return Err(bad(format!("field {field:?} must be a key=value pair")));
            };
            match k.to_lowercase().as_str() {
                "type" if v == "file" || v == "env" => typ = Some(v.to_string()),
                "type" => return Err(bad(format!("unsupported secret type {v:?}"))),
                "id" => id = Some(v.to_string()),
                "source" | "src" => src = Some(v.to_string()),
                "env" => env = Some(v.to_string()),
                _ => return Err(bad(format!("unexpected key {k:?}"))),
            }
        }
        if typ.as_deref() == Some("env") && env.is_none() {
            env = src.take();
        }
        let id = id
            .filter(|i| !i.is_empty())
            .ok_or_else(|| bad("secret missing ID".into()))?;
        if src.is_none() && env.is_none() {
            if std::env::var_os(&id).is_some() {
                env = Some(id.clone());
            } else {
                src = Some(id.clone());
            }
        }
        let s = match (src, env) {
            (Some(f), _) => SecretSource::File(PathBuf::from(f)),
            (None, Some(v)) => SecretSource::Value(
                std::env::var_os(&v)
                    .ok_or_else(|| bad(format!("environment variable {v} is not set")))?
                    .into_encoded_bytes(),
            ),
            (None, None) => unreachable!("one is set above"),
        };
        m.insert(id, s);
    }
    Ok(m)
}

/// `--ssh default|ID=SOCKET`: `default` alone is `$SSH_AUTH_SOCK`. Only
/// agent sockets are forwarded (BuildKit also loads key files into an
/// agent of its own; Berth refuses them, naming the path).
fn ssh(items: &[String]) -> Result<BTreeMap<String, PathBuf>, CliError> {
    use std::os::unix::fs::FileTypeExt;
    let mut m = BTreeMap::new();
    for it in items {
        let (id, paths) = match it.split_once('=') {
            Some((id, p)) => (id.to_string(), p.to_string()),
            None => (
                it.clone(),
                std::env::var("SSH_AUTH_SOCK").map_err(|_| {
                    CliError::daemon(format!(
                        "invalid --ssh {it:?}: SSH_AUTH_SOCK is not set; give a socket: --ssh {it}=PATH"
                    ))
                })?,
            ),
        };
        if id.is_empty() || paths.is_empty() {
            return Err(CliError::daemon(format!(
                "invalid --ssh {it:?}: expected ID[=SOCKET]"
            )));
        }
        if paths.contains(',') {
            return Err(CliError::daemon(format!(
                "invalid --ssh {it:?}: one agent socket per id is supported"
            )));
        }
        let p = PathBuf::from(&paths);
        let md = std::fs::metadata(&p)
            .map_err(|e| CliError::daemon(format!("invalid --ssh {it:?}: {paths}: {e}")))?;
        if !md.file_type().is_socket() {
            return Err(CliError::daemon(format!(
                "invalid --ssh {it:?}: {paths} is not an agent socket (key files are not supported)"
            )));
        }
        m.insert(id, p);
    }
    Ok(m)
}

/// SIGINT and SIGTERM blocked (before any thread starts) and taken by a
/// thread that cancels the build; the signal taken, for the exit code.
fn cancel_on_signals(
    eng: &::engine::Engine,
    cancel: &build_run::Cancel,
) -> std::sync::Arc<std::sync::atomic::AtomicI32> {
    use nix::sys::signal::{SigSet, Signal};
    let got = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    if set.thread_block().is_err() {
        return got;
    }
    let (eng, cancel, seen) = (eng.clone(), cancel.clone(), got.clone());
    std::thread::spawn(move || {
        if let Ok(sig) = set.wait() {
            seen.store(sig as i32, std::sync::atomic::Ordering::SeqCst);
            cancel.cancel(&eng);
        }
        // The cancel takes effect between steps (a pull, a big COPY or an
        // export runs on): a second signal ends the process at once, as
        // a kill would (the next build reaps what it left).
        if let Ok(sig) = set.wait() {
            std::process::exit(128 + sig as i32);
        }
    });
    got
}

pub fn run(g: &Globals, a: BuildArgs) -> CmdResult {
    let mut req = request(&a)?;
    let registry_caches = req
        .cache_from
        .iter()
        .chain(&req.cache_to)
        .any(|c| matches!(c.location, build_run::cache_io::CacheLocation::Registry(_)));
    if registry_caches {
        req.cache_registry = Some(registry_cache(g)?);
    }
    let stdout_output = req.outputs.iter().any(|o| {
        matches!(
            o,
            build_run::Output::Tar(build_run::output::Dest::Stdout)
                | build_run::Output::Oci {
                    dest: build_run::output::Dest::Stdout,
                    ..
                }
                | build_run::Output::Docker {
                    dest: Some(build_run::output::Dest::Stdout),
                    ..
                }
        )
    });
    let keeps_image = req.outputs.is_empty() || req.outputs.iter().any(|o| o.keeps_image());
    if stdout_output && std::io::stdout().is_terminal() {
        return Err(CliError::daemon(
            "berth build: refusing to write an archive to a terminal: redirect the output",
        ));
    }
    let eng = g.engine()?;
    let signal = cancel_on_signals(&eng, &req.cancel);
    let quiet = a.quiet || a.progress == "quiet";
    let mut err = std::io::stderr();
    // BuildKit's live view: `tty`, or `auto` when stderr is a terminal.
    let tty = !quiet && (a.progress == "tty" || (a.progress == "auto" && err.is_terminal()));
    let view = tty.then(super::build_progress::TtyView::new);
    // Each step's unfinished output line, printed once complete (or at
    // the step's end): steps of stages built at once interleave by whole
    // lines, each with its `#N`.
    let mut partial: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    let mut vertices = build_run::Vertices::default();
    let mut progress = |e: Event| {
        if quiet || !vertices.shows(&e) {
            return;
        }
        if let Some(v) = &view {
            v.event(e);
            return;
        }
        let _ = match e {
            Event::Step {
                n,
                stage,
                vertex: Some(v),
                ..
            } => {
                writeln!(
                    err,
                    "#{n} {} {}",
                    build_run::step_label(stage, v.index, v.total),
                    v.name
                )
            }
            Event::Step { .. } => Ok(()),
            Event::Cached { n } => writeln!(err, "#{n} CACHED"),
            Event::Output { n, data } => {
                let buf = partial.entry(n).or_default();
                buf.extend_from_slice(data);
                let mut r = Ok(());
                while let Some(k) = buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=k).collect();
                    r = r.and(write!(err, "#{n} {}", String::from_utf8_lossy(&line)));
                }
                r
            }
            Event::Done { n } => {
                let r = match partial.remove(&n) {
                    Some(rest) if !rest.is_empty() => {
                        writeln!(err, "#{n} {}", String::from_utf8_lossy(&rest))
                    }
                    _ => Ok(()),
                };
                r.and(writeln!(err, "#{n} DONE"))
            }
            Event::Pulling { reference } => writeln!(err, "#0 pulling {reference}"),
            Event::Image { .. } => Ok(()),
            Event::Warning { message } => writeln!(err, "WARNING: {message}"),
            Event::Exporting { what } => writeln!(err, "#0 exporting {what}"),
        };
    };
    let pull = |r: &image::Reference| -> Result<(), String> {
        super::transfer::pull_for_run(
            g,
            PullArgs {
                platform: None,
                quiet: true,
                registry: RegistryArgs {
                    tls_verify: true,
                    authfile: None,
                    cert_dir: None,
                },
                image: r.to_string(),
            },
        )
        .map_err(|e| e.msg)
    };
    let res = build_run::build(&eng, req, Some(&pull), &mut progress);
    if let Some(v) = view {
        v.finish(res.is_ok());
    }
    for (n, rest) in partial.iter().filter(|(_, r)| !r.is_empty()) {
        let _ = writeln!(err, "#{n} {}", String::from_utf8_lossy(rest));
    }
    let res = match res {
        Ok(r) => r,
        Err(build_run::Error::Canceled) => {
            // As a shell reports a process a signal ended: 128 + signal.
            let sig = signal.load(std::sync::atomic::Ordering::SeqCst);
            let mut e = CliError::new("build canceled");
            e.code = if sig > 0 { 128 + sig as u8 } else { 1 };
            return Err(e);
        }
        Err(e) => {
            let msg = e.to_string();
            let mut lines = msg.lines();
            let first = lines.next().unwrap_or("").to_string();
            for l in lines {
                eprintln!("  > {l}");
            }
            return Err(CliError::new(first));
        }
    };
    if let Some(f) = &a.iidfile {
        berth_util::fs::write_atomic(f, res.id.as_bytes())
            .map_err(|e| CliError::new(format!("write --iidfile {}: {e}", f.display())))?;
    }
    if quiet && !stdout_output {
        out(&res.id)
    } else if quiet {
        Ok(())
    } else {
        let mut w = std::io::stderr();
        let _ = writeln!(w, "#{} writing image {} done", 0, res.id);
        if keeps_image {
            for t in &a.tag {
                let _ = writeln!(w, "#0 naming to {t} done");
            }
        }
        Ok(())
    }
}
