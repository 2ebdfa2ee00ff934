//! `berth build`: flags into a typed `build_run::BuildRequest`, the
//! builder's events printed as BuildKit's plain progress.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use build_run::{BuildRequest, ContextSource, DockerfileSource, Event, SecretSource};

use super::{out, parse_ref, CmdResult};
use crate::cli::build::BuildArgs;
use crate::cli::{PullArgs, RegistryArgs};
use crate::error::CliError;
use crate::Globals;

fn unsupported(flag: &str) -> CliError {
    CliError::daemon(format!("berth build: {flag} is not supported yet"))
}

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
    for (flag, set) in [
        ("--output", !a.output.is_empty()),
        ("--cache-from", !a.cache_from.is_empty()),
        ("--cache-to", !a.cache_to.is_empty()),
    ] {
        if set {
            return Err(unsupported(flag));
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
    if a.context.contains("://") || a.context.starts_with("git@") {
        return Err(CliError::daemon(format!(
            "berth build: a remote context ({}) is not supported yet",
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
        Some(f) if stdin_ctx => DockerfileSource::InContext(f.to_string()),
        Some(f) => DockerfileSource::Path(PathBuf::from(f)),
    };
    let mut tags = vec![];
    for t in &a.tag {
        tags.push(
            parse_ref(t).map_err(|e| CliError::daemon(format!("invalid tag {t:?}: {}", e.msg)))?,
        );
    }
    Ok(BuildRequest {
        context,
        dockerfile,
        tags,
        build_args: key_values("--build-arg", &a.build_arg, true)?,
        target: a.target.clone(),
        no_cache: a.no_cache,
        pull: a.pull,
        labels: key_values("--label", &a.label, false)?,
        network: a.network.clone(),
        secrets: secrets(&a.secret)?,
        ssh: ssh(&a.ssh)?,
    })
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

pub fn run(g: &Globals, a: BuildArgs) -> CmdResult {
    let req = request(&a)?;
    let eng = g.engine()?;
    let quiet = a.quiet || a.progress == "quiet";
    let mut err = std::io::stderr();
    let _tty = err.is_terminal();
    let mut line_start = true;
    let mut progress = |e: Event| {
        if quiet {
            return;
        }
        let _ = match e {
            Event::Step {
                n,
                stage,
                index,
                total,
                text,
            } => {
                let st = if stage.is_empty() {
                    String::new()
                } else {
                    format!("{stage} ")
                };
                writeln!(err, "#{n} [{st}{index}/{total}] {text}")
            }
            Event::Cached { n } => writeln!(err, "#{n} CACHED"),
            Event::Output { n, data } => {
                let s = String::from_utf8_lossy(data);
                let mut r = Ok(());
                for piece in s.split_inclusive('\n') {
                    if line_start {
                        r = write!(err, "#{n} ");
                    }
                    r = r.and(write!(err, "{piece}"));
                    line_start = piece.ends_with('\n');
                }
                r
            }
            Event::Done { n } => {
                let r = if !line_start { writeln!(err) } else { Ok(()) };
                line_start = true;
                r.and(writeln!(err, "#{n} DONE"))
            }
            Event::Pulling { reference } => writeln!(err, "#0 pulling {reference}"),
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
    let res = match res {
        Ok(r) => r,
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
    if quiet {
        out(&res.id)
    } else {
        let mut w = std::io::stderr();
        let _ = writeln!(w, "#{} writing image {} done", 0, res.id);
        for t in &a.tag {
            let _ = writeln!(w, "#0 naming to {t} done");
        }
        Ok(())
    }
}
