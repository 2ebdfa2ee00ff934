//! A service's `build:` section built by Berth's builder library
//! (`build_run`, no subprocess), as docker compose v2's `build.go` does it:
//!
//! - the image is named `image:` if set, else `<project>-<service>`; the
//!   section's `tags` name it too;
//! - build args are the section's `args` overridden by `--build-arg`, a
//!   key without a value taking the project's environment (skipped when
//!   unset);
//! - the image carries the section's `labels` plus
//!   `com.docker.compose.project`, `.service` and `.version` (compose v2's
//!   `getImageBuildLabels` puts these three on every built image);
//! - on `up`, a service with `build:` is built when its image is missing,
//!   always with `pull_policy: build` or `up --build`, never with
//!   `--no-build`; a pull that fails for a service that can be built falls
//!   back to the build (compose's `pullRequiredImages`).
//!
//! What the builder cannot do is an error naming the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_compose::{BuildConfig, Project, ServiceConfig};
use build_run::{BuildRequest, ContextSource, DockerfileSource, SecretSource};

use crate::{labels, Compose, Error, Event, Puller, Report, Result, COMPOSE_VERSION};

/// `compose build`'s choices (and `up`'s build).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Services named on the command line (empty: all with `build:`).
    pub services: Vec<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--pull`: pull every base image.
    pub pull: bool,
    /// `--build-arg KEY[=VALUE]` (no value: the project's environment).
    pub args: BTreeMap<String, Option<String>>,
}

/// How `up` treats services with a `build:` section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BuildMode {
    /// Built when the image is missing or `pull_policy: build` (compose's
    /// default).
    #[default]
    Policy,
    /// `up --build`: every service with `build:` is built.
    Always,
    /// `up --no-build`: none is.
    Never,
}

/// The image a service runs: `image:`, or `<project>-<service>` for a
/// service that only has `build:` (compose's `GetImageNameOrDefault`).
pub fn image_name(p: &Project, s: &ServiceConfig) -> String {
    if s.image.is_empty() {
        format!("{}-{}", p.name, s.name)
    } else {
        s.image.clone()
    }
}

fn err(svc: &str, field: &str, why: impl std::fmt::Display) -> Error {
    Error::Msg(format!("services.{svc}.build.{field}: {why}"))
}

/// The builder's request for service `s` (and warnings for the fields
/// that do not change what is built).
pub fn build_request(
    p: &Project,
    s: &ServiceConfig,
    o: &BuildOptions,
) -> Result<(BuildRequest, Vec<String>)> {
    let n = s.name.as_str();
    let b: &BuildConfig = s
        .build
        .as_ref()
        .ok_or_else(|| Error::Msg(format!("service {n} has no build section")))?;
    let mut warnings = Vec::new();
    let unsupported = |field: &str| err(n, field, "not supported by berth's builder");
    if !b.additional_contexts.0.is_empty() {
        return Err(unsupported("additional_contexts"));
    }
    if !b.extra_hosts.is_empty() {
        return Err(unsupported("extra_hosts"));
    }
    if !b.shm_size.is_zero() {
        return Err(unsupported("shm_size"));
    }
    if !b.ulimits.is_empty() {
        return Err(unsupported("ulimits"));
    }
    if b.privileged {
        return Err(unsupported("privileged"));
    }
    if !b.entitlements.is_empty() {
        return Err(unsupported("entitlements"));
    }
    if !b.isolation.is_empty() {
        return Err(unsupported("isolation"));
    }
    let host = image::Platform::host();
    for pl in &b.platforms {
        let want = image::Platform::parse(pl).map_err(|e| err(n, "platforms", e))?;
        if want.os != host.os || want.architecture != host.architecture {
            return Err(err(
                n,
                "platforms",
                format!(
                    "{pl} cannot be built: only the host's platform ({}/{})",
                    host.os, host.architecture
                ),
            ));
        }
    }
    for (field, set) in [
        ("cache_from", !b.cache_from.is_empty()),
        ("cache_to", !b.cache_to.is_empty()),
        ("provenance", !b.provenance.is_empty()),
        ("sbom", !b.sbom.is_empty()),
    ] {
        if set {
            warnings.push(format!(
                "services.{n}.build.{field}: not supported, ignored"
            ));
        }
    }
    let ctx = &b.context;
    if ctx.contains("://") || ctx.starts_with("git@") || ctx.starts_with("github.com/") {
        return Err(err(
            n,
            "context",
            format!("a remote context ({ctx}) is not supported"),
        ));
    }
    let dir = PathBuf::from(if ctx.is_empty() { "." } else { ctx });
    if !dir.is_dir() {
        return Err(err(
            n,
            "context",
            format!("{} is not a directory", dir.display()),
        ));
    }
    let dockerfile = if !b.dockerfile_inline.is_empty() {
        DockerfileSource::Bytes {
            name: "Dockerfile".into(),
            data: b.dockerfile_inline.clone().into_bytes(),
        }
    } else if b.dockerfile.is_empty() {
        DockerfileSource::InContext("Dockerfile".into())
    } else if Path::new(&b.dockerfile).is_absolute() {
        DockerfileSource::Path(PathBuf::from(&b.dockerfile))
    } else {
        // compose joins it to the context (it may lie outside)
        DockerfileSource::Path(dir.join(&b.dockerfile))
    };
    let mut tags = Vec::new();
    let name = image_name(p, s);
    for t in std::iter::once(&name).chain(b.tags.iter()) {
        tags.push(image::Reference::parse(t).map_err(|e| {
            if *t == name {
                Error::Msg(format!("services.{n}: invalid image name {t:?}: {e}"))
            } else {
                err(n, "tags", format!("invalid tag {t:?}: {e}"))
            }
        })?);
    }
    let mut args: BTreeMap<String, Option<String>> = b.args.0.clone();
    args.extend(o.args.iter().map(|(k, v)| (k.clone(), v.clone())));
    let build_args = args
        .into_iter()
        .filter_map(|(k, v)| {
            let v = v.or_else(|| p.environment.get(&k).cloned())?;
            Some((k, v))
        })
        .collect();
    let mut image_labels = b.labels.0.clone();
    image_labels.insert(labels::VERSION.into(), COMPOSE_VERSION.into());
    image_labels.insert(labels::PROJECT.into(), p.name.clone());
    image_labels.insert(labels::SERVICE.into(), s.name.clone());
    let network = match b.network.as_str() {
        "" => None,
        x @ ("default" | "none" | "host" | "bridge") => Some(x.to_string()),
        x => {
            return Err(err(
                n,
                "network",
                format!("{x:?} is not one of default, none, host, bridge"),
            ))
        }
    };
    let (secrets, ssh) = secrets_and_ssh(p, s, &mut warnings)?;
    Ok((
        BuildRequest {
            context: ContextSource::Dir(dir),
            dockerfile,
            tags,
            build_args,
            target: (!b.target.is_empty()).then(|| b.target.clone()),
            no_cache: b.no_cache || o.no_cache,
            pull: b.pull || o.pull,
            labels: image_labels,
            network,
            secrets,
            ssh,
            ..Default::default()
        },
        warnings,
    ))
}

type Secrets = BTreeMap<String, SecretSource>;

/// `build.secrets` (top-level secrets given by `file` or `environment`,
/// under the target's name if any, as compose's addSecretsConfig) and
/// `build.ssh` (`default`: `$SSH_AUTH_SOCK`).
fn secrets_and_ssh(
    p: &Project,
    s: &ServiceConfig,
    warnings: &mut Vec<String>,
) -> Result<(Secrets, BTreeMap<String, PathBuf>)> {
    let n = s.name.as_str();
    let mut secrets = BTreeMap::new();
    let Some(b) = s.build.as_ref() else {
        return Ok((secrets, BTreeMap::new()));
    };
    for (i, r) in b.secrets.iter().enumerate() {
        let field = format!("secrets[{i}]");
        let def = p
            .secrets
            .get(&r.source)
            .ok_or_else(|| err(n, &field, format!("undefined secret {:?}", r.source)))?;
        let id = if r.target.is_empty() {
            r.source.clone()
        } else {
            r.target.clone()
        };
        let src = if !def.file.is_empty() {
            SecretSource::File(Path::new(&p.working_dir).join(&def.file))
        } else if !def.environment.is_empty() {
            let v = p
                .environment
                .get(&def.environment)
                .cloned()
                .or_else(|| std::env::var(&def.environment).ok())
                .ok_or_else(|| {
                    err(
                        n,
                        &field,
                        format!(
                            "environment variable {:?} of secret {:?} is not set",
                            def.environment, r.source
                        ),
                    )
                })?;
            SecretSource::Value(v.into_bytes())
        } else {
            return Err(err(
                n,
                &field,
                format!(
                    "build.secrets only supports environment or file-based secrets: {:?}",
                    r.source
                ),
            ));
        };
        if !r.uid.is_empty() || !r.gid.is_empty() || r.mode.is_some() {
            warnings.push(
                "secrets `uid`, `gid` and `mode` are not supported by BuildKit, they will be ignored"
                    .into(),
            );
        }
        secrets.insert(id, src);
    }
    let mut ssh = BTreeMap::new();
    for k in &b.ssh {
        let path = if k.path.is_empty() {
            p.environment
                .get("SSH_AUTH_SOCK")
                .cloned()
                .or_else(|| std::env::var("SSH_AUTH_SOCK").ok())
                .ok_or_else(|| {
                    err(
                        n,
                        "ssh",
                        format!(
                            "{:?}: SSH_AUTH_SOCK is not set; give a socket: {}=PATH",
                            k.id, k.id
                        ),
                    )
                })?
        } else {
            k.path.clone()
        };
        ssh.insert(k.id.clone(), Path::new(&p.working_dir).join(path));
    }
    Ok((secrets, ssh))
}

impl Compose {
    /// Builds service `s`'s image; its id.
    pub fn build_service(
        &self,
        s: &ServiceConfig,
        o: &BuildOptions,
        puller: &dyn Puller,
        report: Report,
    ) -> Result<String> {
        let (req, warnings) = build_request(&self.project, s, o)?;
        for w in warnings {
            report(Event {
                kind: "Warning",
                name: s.name.clone(),
                status: w,
            });
        }
        let name = image_name(&self.project, s);
        report(Event {
            kind: "Image",
            name: name.clone(),
            status: "Building".into(),
        });
        let pull = |r: &image::Reference| puller.pull(&r.to_string());
        let svc = s.name.clone();
        let mut line_start = true;
        let mut vertices = build_run::Vertices::default();
        let mut progress = |e: build_run::Event| {
            if !vertices.shows(&e) {
                return;
            }
            let line = |status: String| Event {
                kind: "Build",
                name: svc.clone(),
                status,
            };
            match e {
                build_run::Event::Step {
                    n,
                    stage,
                    vertex: Some(v),
                    ..
                } => report(line(format!(
                    "#{n} {} {}",
                    build_run::step_label(format!("{svc} {stage}").trim_end(), v.index, v.total),
                    v.name
                ))),
                build_run::Event::Step { .. } => {}
                build_run::Event::Cached { n } => report(line(format!("#{n} CACHED"))),
                build_run::Event::Output { n, data } => {
                    for piece in String::from_utf8_lossy(data).split_inclusive('\n') {
                        let text = piece.trim_end_matches('\n');
                        if !text.is_empty() || line_start {
                            report(line(format!("#{n} {text}")));
                        }
                        line_start = piece.ends_with('\n');
                    }
                }
                build_run::Event::Done { n } => report(line(format!("#{n} DONE"))),
                build_run::Event::Pulling { reference } => {
                    report(line(format!("#0 pulling {reference}")))
                }
                build_run::Event::Warning { message } => report(Event {
                    kind: "Warning",
                    name: svc.clone(),
                    status: message.to_string(),
                }),
                build_run::Event::Image { .. } | build_run::Event::Exporting { .. } => {}
            }
        };
        let res = build_run::build(&self.engine, req, Some(&pull), &mut progress)
            .map_err(|e| Error::Msg(format!("service {}: build: {e}", s.name)))?;
        report(Event {
            kind: "Image",
            name,
            status: "Built".into(),
        });
        Ok(res.id)
    }

    /// `compose build`: the services named (all if none) that have a
    /// `build:` section, in dependency order.
    pub fn build(&self, o: &BuildOptions, puller: &dyn Puller, report: Report) -> Result<()> {
        let services = self.selected(&o.services, true)?;
        for n in services {
            let s = &self.project.services[&n];
            if s.build.is_some() {
                self.build_service(s, o, puller, report)?;
            }
        }
        Ok(())
    }

    /// The image id service `s` (which has `build:`) runs on `up`:
    /// built, pulled or found as `policy` (the `--pull` value or
    /// `policy` for the service's `pull_policy`) and `mode` say.
    pub(crate) fn image_for_build(
        &self,
        s: &ServiceConfig,
        policy: &str,
        mode: BuildMode,
        puller: &dyn Puller,
        report: Report,
    ) -> Result<String> {
        let name = image_name(&self.project, s);
        let have = self.image_id(&name);
        let policy = match (mode, policy) {
            (BuildMode::Always, _) => "build",
            (_, "" | "policy") => match s.pull_policy.as_str() {
                "" | "if_not_present" => "missing",
                p => p,
            },
            (_, p) => p,
        };
        let build = |report: Report| -> Result<String> {
            if mode == BuildMode::Never {
                return Err(Error::Msg(format!(
                    "service {}: no such image: {name} (and --no-build)",
                    s.name
                )));
            }
            self.build_service(s, &BuildOptions::default(), puller, report)
        };
        match policy {
            "build" if mode != BuildMode::Never => build(report),
            "always" if !s.image.is_empty() => match puller.pull(&name) {
                Ok(()) => self.image_id(&name).ok_or_else(|| {
                    Error::Msg(format!("service {}: no such image: {name}", s.name))
                }),
                Err(e) => {
                    report(Event {
                        kind: "Warning",
                        name: s.name.clone(),
                        status: format!("pulling {name}: {e}; building it instead"),
                    });
                    build(report)
                }
            },
            _ => match have {
                Some(id) => Ok(id),
                None if policy == "missing" && !s.image.is_empty() => match puller.pull(&name) {
                    Ok(()) => self.image_id(&name).ok_or_else(|| {
                        Error::Msg(format!("service {}: no such image: {name}", s.name))
                    }),
                    Err(_) => build(report),
                },
                None => build(report),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(build: BuildConfig, image: &str) -> (Project, ServiceConfig) {
        let s = ServiceConfig {
            name: "web".into(),
            image: image.into(),
            build: Some(build),
            ..Default::default()
        };
        let p = Project {
            name: "proj".into(),
            environment: [("FROM_ENV".to_string(), "e".to_string())].into(),
            ..Default::default()
        };
        (p, s)
    }

    #[test]
    fn image_names_as_compose() {
        let (p, s) = project(BuildConfig::default(), "");
        assert_eq!(image_name(&p, &s), "proj-web");
        let (p, s) = project(BuildConfig::default(), "x/y:1");
        assert_eq!(image_name(&p, &s), "x/y:1");
    }

    #[test]
    fn request_args_labels_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = BuildConfig {
            context: dir.path().to_string_lossy().into_owned(),
            target: "t".into(),
            ..Default::default()
        };
        b.args.0.insert("A".into(), Some("1".into()));
        b.args.0.insert("FROM_ENV".into(), None);
        b.args.0.insert("UNSET".into(), None);
        b.labels.0.insert("l".into(), "v".into());
        let (p, s) = project(b.clone(), "");
        let o = BuildOptions {
            args: [("A".to_string(), Some("2".to_string()))].into(),
            no_cache: true,
            ..Default::default()
        };
        let (r, w) = build_request(&p, &s, &o).unwrap();
        assert!(w.is_empty());
        assert_eq!(r.build_args.get("A").unwrap(), "2");
        assert_eq!(r.build_args.get("FROM_ENV").unwrap(), "e");
        assert!(!r.build_args.contains_key("UNSET"));
        assert_eq!(r.labels.get(labels::PROJECT).unwrap(), "proj");
        assert_eq!(r.labels.get(labels::SERVICE).unwrap(), "web");
        assert_eq!(r.labels.get("l").unwrap(), "v");
        assert_eq!(r.target.as_deref(), Some("t"));
        assert!(r.no_cache);
        assert_eq!(r.tags[0].to_string(), "docker.io/library/proj-web:latest");

        let mut bad = b.clone();
        bad.additional_contexts.0.insert("x".into(), "/tmp".into());
        let (p, s) = project(bad, "");
        let e = build_request(&p, &s, &o).err().unwrap().to_string();
        assert!(e.contains("services.web.build.additional_contexts"), "{e}");

        let mut bad = b.clone();
        bad.network = "mynet".into();
        let (p, s) = project(bad, "");
        let e = build_request(&p, &s, &o).err().unwrap().to_string();
        assert!(e.contains("services.web.build.network"), "{e}");

        let mut warn = b;
        warn.cache_from = vec!["x".into()];
        let (p, s) = project(warn, "");
        let (_, w) = build_request(&p, &s, &o).unwrap();
        assert!(w[0].contains("build.cache_from"), "{w:?}");
    }

    #[test]
    fn build_secrets_and_ssh_reach_the_request() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = BuildConfig {
            context: dir.path().to_string_lossy().into_owned(),
            ..Default::default()
        };
        let r = |source: &str, target: &str| berth_compose::FileReferenceConfig {
            source: source.into(),
            target: target.into(),
            ..Default::default()
        };
        b.secrets = vec![r("f", ""), r("e", "tok")];
        b.ssh = vec![berth_compose::SshKey {
            id: "git".into(),
            path: "/run/agent.sock".into(),
        }];
        let (mut p, s) = project(b, "");
        p.working_dir = "/proj".into();
        p.secrets.insert(
            "f".into(),
            berth_compose::FileObjectConfig {
                file: "s.txt".into(),
                ..Default::default()
            },
        );
        p.secrets.insert(
            "e".into(),
            berth_compose::FileObjectConfig {
                environment: "FROM_ENV".into(),
                ..Default::default()
            },
        );
        let (req, _) = build_request(&p, &s, &BuildOptions::default()).unwrap();
        assert!(
            matches!(req.secrets.get("f"), Some(SecretSource::File(f)) if f == Path::new("/proj/s.txt"))
        );
        assert!(matches!(req.secrets.get("tok"), Some(SecretSource::Value(v)) if v == b"e"));
        assert_eq!(req.ssh.get("git").unwrap(), Path::new("/run/agent.sock"));

        // content-only secrets are refused, naming the field
        p.secrets.insert(
            "e".into(),
            berth_compose::FileObjectConfig {
                content: "x".into(),
                ..Default::default()
            },
        );
        let e = build_request(&p, &s, &BuildOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("services.web.build.secrets[1]"), "{e}");
    }
}
