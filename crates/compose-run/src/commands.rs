//! docker compose v2's `pull`, `push`, `wait`, `cp` and `events` on a
//! loaded project: which services and containers each addresses, what it
//! reports, and docker compose's errors and exit codes. The registry
//! transfers themselves are the caller's ([`Puller`], [`Pusher`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::sync::mpsc;

use crate::{labels, msg, Compose, ContainerRow, DownOptions, Event, Puller, Report, Result};

/// Pushes a local image to its registry (the CLI's registry client).
pub trait Pusher {
    fn push(&self, image: &str) -> std::result::Result<(), String>;
}

/// `pull`'s choices.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Services named (empty: all).
    pub services: Vec<String>,
    /// `--include-deps`: also the services they depend on.
    pub include_deps: bool,
    /// `--ignore-buildable`: skip services with a `build` section.
    pub ignore_buildable: bool,
    /// `--ignore-pull-failures`: report a failed pull, go on, succeed.
    pub ignore_failures: bool,
    /// `--policy missing|always` (empty: each service's pull_policy).
    pub policy: String,
}

/// `push`'s choices.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    pub services: Vec<String>,
    pub include_deps: bool,
    /// `--ignore-push-failures`.
    pub ignore_failures: bool,
}

/// Which way `cp` copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyDirection {
    /// `SERVICE:SRC DEST` (`DEST` `-`: a tar to the writer).
    FromService {
        service: String,
        src: String,
        dest: String,
    },
    /// `SRC SERVICE:DEST` (`SRC` `-`: a tar from the reader).
    ToService {
        src: String,
        service: String,
        dest: String,
    },
}

/// `cp`'s choices.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// `--index N`: only container number N.
    pub index: Option<u32>,
    /// `--all`: one-off (`run`) containers too.
    pub all: bool,
    /// `-a`.
    pub archive: bool,
    /// `-L`.
    pub follow_link: bool,
}

/// docker compose's split of a `cp` argument: `SERVICE:PATH` when a colon
/// comes before any `/` (a path starting with `/` or `.` is local).
fn split_service(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    match arg.split_once(':') {
        Some((s, p)) if !s.is_empty() && !s.contains('/') => Some((s, p)),
        _ => None,
    }
}

/// An image reference with a tag other than `latest` (a digest too), as
/// compose's imageAlreadyPresent reads it (an unparsable one is not).
fn has_pinned_tag(image: &str) -> bool {
    match image::Reference::parse(image) {
        Ok(r) => r.digest().is_some() || r.tag().is_some_and(|t| t != "latest"),
        Err(_) => false,
    }
}

/// `cp SRC DEST`'s direction, as docker compose reads its arguments.
pub fn copy_direction(src: &str, dest: &str) -> Result<CopyDirection> {
    match (split_service(src), split_service(dest)) {
        (Some(_), Some(_)) => Err(msg("copying between services is not supported")),
        (None, None) => Err(msg("unknown copy direction")),
        (Some((service, p)), None) => Ok(CopyDirection::FromService {
            service: service.into(),
            src: p.into(),
            dest: dest.into(),
        }),
        (None, Some((service, p))) => Ok(CopyDirection::ToService {
            src: src.into(),
            service: service.into(),
            dest: p.into(),
        }),
    }
}

/// One event of `compose events`: a container event of the project, with
/// its non-compose attributes (docker compose's `api.Event`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectEvent {
    pub time_nano: i64,
    pub service: String,
    pub container: String,
    pub action: String,
    pub attributes: BTreeMap<String, String>,
}

/// `compose wait`'s outcome: each container's exit as it came, and the
/// exit code compose returns.
#[derive(Debug, Clone, Default)]
pub struct WaitOutcome {
    /// `(container id, exit code)` in the order they exited.
    pub exits: Vec<(String, i32)>,
    pub code: i32,
}

/// A row of `compose images`: a container and its image, as docker
/// compose v2's `images` (its JSON field names).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageRow {
    #[serde(rename = "ID")]
    pub id: String,
    pub container_name: String,
    pub repository: String,
    pub tag: String,
    /// The image's size as `images` shows it (its unpacked layers).
    pub size: u64,
}

impl Compose {
    /// `images SERVICE...`: the image of each container of the services
    /// (all if none); repository and tag from the container's image name
    /// (`<none>` when it was an id), the size as the engine's `images`.
    pub fn images(&self, services: &[String]) -> Result<Vec<ImageRow>> {
        let store = self.engine.images();
        let mut out = Vec::new();
        for r in self.targets(services, None)? {
            let (repository, tag) = match image::Reference::parse(&r.summary.image) {
                Ok(rf) => (rf.familiar_name(), rf.tag().unwrap_or("latest").to_string()),
                Err(_) => ("<none>".to_string(), "<none>".to_string()),
            };
            let size = store
                .resolve(&r.summary.image_id)
                .map(|i| store.image_size(&i.record))
                .unwrap_or(0);
            out.push(ImageRow {
                id: r.summary.image_id.clone(),
                container_name: r.summary.names.clone(),
                repository,
                tag,
                size,
            });
        }
        Ok(out)
    }

    /// Stops (if it runs) and removes a container as docker compose
    /// reports it: `Stopping`, `Stopped`, `Removing`, `Removed`.
    pub(crate) fn remove_reporting(
        &self,
        r: &ContainerRow,
        timeout: Option<i64>,
        volumes: bool,
        report: Report,
    ) -> Result<()> {
        let ev = |status: &str| Event {
            kind: "Container",
            name: r.summary.names.clone(),
            status: status.into(),
        };
        let id = &r.summary.id;
        // the engine's state now, not the listing's (it may be stale)
        let active = match self.engine.state(id) {
            Ok(st) => st.status.is_active(),
            // gone meanwhile (an auto-remove, another down): nothing to do
            Err(engine::Error::NoSuchObject(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        report(ev("Stopping"));
        if active {
            // (stop thaws a paused container itself.)
            self.engine.stop(id, timeout)?;
        }
        report(ev("Stopped"));
        report(ev("Removing"));
        if volumes {
            self.engine.remove_with_volumes(id, true)?;
        } else {
            self.engine.remove(id, true)?;
        }
        report(ev("Removed"));
        Ok(())
    }

    fn with_deps(&self, names: &[String], include_deps: bool) -> Result<Vec<String>> {
        self.selected(names, !include_deps)
    }

    /// `pull`: each selected service's image, unless its policy or the
    /// flags skip it (docker compose's `Skipped - ...` lines).
    pub fn pull(&self, o: &PullOptions, puller: &dyn Puller, report: Report) -> Result<()> {
        match o.policy.as_str() {
            "" | "missing" | "always" => {}
            p => {
                return Err(msg(format!(
                    "invalid --policy {p:?}: expected missing or always"
                )))
            }
        }
        let names = self.with_deps(&o.services, o.include_deps)?;
        let mut being_pulled: BTreeMap<String, String> = BTreeMap::new();
        let mut errs = Vec::new();
        let mut must_build = Vec::new();
        let ev = |name: &str, status: &str| Event {
            kind: "",
            name: name.to_string(),
            status: status.to_string(),
        };
        for name in names {
            let s = self.service(&name)?;
            if s.image.is_empty() {
                report(ev(&name, "Skipped - No image to be pulled"));
                continue;
            }
            let policy = if o.policy.is_empty() {
                s.pull_policy.as_str()
            } else {
                o.policy.as_str()
            };
            match policy {
                "never" | "build" => {
                    report(ev(&name, "Skipped"));
                    continue;
                }
                // (compose: a `latest` tag is always pulled again)
                "missing" | "if_not_present"
                    if has_pinned_tag(&s.image) && self.image_id(&s.image).is_some() =>
                {
                    report(ev(&name, "Skipped - Image is already present locally"));
                    continue;
                }
                _ => {}
            }
            if s.build.is_some() && o.ignore_buildable {
                report(ev(&name, "Skipped - Image can be built"));
                continue;
            }
            if let Some(by) = being_pulled.get(&s.image) {
                report(ev(
                    &name,
                    &format!("Skipped - Image is already being pulled by {by}"),
                ));
                continue;
            }
            being_pulled.insert(s.image.clone(), name.clone());
            report(ev(&name, "Pulling"));
            match puller.pull(&s.image) {
                Ok(()) => report(ev(&name, "Pulled")),
                Err(e) => {
                    if s.build.is_some() {
                        report(ev(&name, "Warning"));
                        must_build.push(name.clone());
                        continue;
                    }
                    report(ev(&name, "Error"));
                    let e = format!("service {name}: pulling {}: {e}", s.image);
                    if !o.ignore_failures {
                        return Err(msg(e));
                    }
                    errs.push(e);
                }
            }
        }
        if !must_build.is_empty() {
            report(Event {
                kind: "Warning",
                name: self.name().to_string(),
                status: format!(
                    "Some service image(s) must be built from source by running:\n    docker compose build {}",
                    must_build.join(" ")
                ),
            });
        }
        for e in errs {
            report(Event {
                kind: "Warning",
                name: self.name().to_string(),
                status: e,
            });
        }
        Ok(())
    }

    /// `push`: the image (and `build.tags`) of each selected service that
    /// has both `build` and `image`; the others are `Skipped`.
    pub fn push(&self, o: &PushOptions, pusher: &dyn Pusher, report: Report) -> Result<()> {
        let names = self.with_deps(&o.services, o.include_deps)?;
        for name in names {
            let s = self.service(&name)?;
            let Some(b) = s.build.as_ref().filter(|_| !s.image.is_empty()) else {
                report(Event {
                    kind: "",
                    name,
                    status: "Skipped".into(),
                });
                continue;
            };
            let mut tags = vec![s.image.clone()];
            tags.extend(b.tags.iter().cloned());
            for tag in tags {
                report(Event {
                    kind: "Image",
                    name: tag.clone(),
                    status: "Pushing".into(),
                });
                match pusher.push(&tag) {
                    Ok(()) => report(Event {
                        kind: "Image",
                        name: tag,
                        status: "Pushed".into(),
                    }),
                    Err(e) if o.ignore_failures => report(Event {
                        kind: "Warning",
                        name: name.clone(),
                        status: format!("Pushing {name}: {e}"),
                    }),
                    Err(e) => return Err(msg(format!("service {name}: pushing {tag}: {e}"))),
                }
            }
        }
        Ok(())
    }

    /// `wait SERVICE...`, as docker compose v2's Wait: blocks until every
    /// running container of the services (one-offs included) has exited;
    /// `exited` is told of each as it does. None running is an error
    /// (`no containers for project "NAME"`). The code is the last exit's;
    /// with `down_project` the project goes down (orphans too) once all
    /// have exited, and the code is still the last exit's.
    pub fn wait(
        &self,
        services: &[String],
        down_project: bool,
        exited: &mut dyn FnMut(&str, i32),
        report: Report,
    ) -> Result<WaitOutcome> {
        let rows = self.ps(services, false, &[])?;
        if rows.is_empty() {
            return Err(msg(format!("no containers for project {:?}", self.name())));
        }
        let (tx, rx) = mpsc::channel();
        let mut out = WaitOutcome::default();
        // detached waiters: an error returns at once instead of joining
        // the others still blocked in their wait
        for r in &rows {
            let tx = tx.clone();
            let engine = self.engine.clone();
            let id = r.summary.id.clone();
            std::thread::spawn(move || {
                let res = engine.wait(&id);
                let _ = tx.send((id, res));
            });
        }
        drop(tx);
        for (id, res) in rx {
            let code = res?;
            exited(&id, code);
            out.exits.push((id, code));
            out.code = code;
        }
        if down_project {
            self.down(
                &DownOptions {
                    remove_orphans: true,
                    ..Default::default()
                },
                report,
            )?;
        }
        Ok(out)
    }

    /// The containers `cp` copies from or to: with `index` that one;
    /// else from a service its first container, to a service all of them.
    fn copy_targets(
        &self,
        service: &str,
        o: &CopyOptions,
        from: bool,
    ) -> Result<Vec<ContainerRow>> {
        if let Some(i) = o.index.filter(|i| *i > 0) {
            return Ok(vec![self.container_of(service, Some(i))?]);
        }
        let rows: Vec<ContainerRow> = self
            .ps(&[service.to_string()], true, &[])?
            .into_iter()
            .filter(|r| o.all || !r.oneoff())
            .collect();
        if rows.is_empty() {
            return Err(msg(format!("no container found for service {service:?}")));
        }
        Ok(if from {
            rows.into_iter().take(1).collect()
        } else {
            rows
        })
    }

    /// `cp`: between service containers and the host (or a tar stream:
    /// `-` as the host path), each copy reported (`Copying`, `Copied`).
    pub fn cp(
        &self,
        dir: &CopyDirection,
        o: &CopyOptions,
        stdin: &mut dyn Read,
        stdout: &mut dyn Write,
        report: Report,
    ) -> Result<()> {
        let opts = engine::cp::CopyOptions {
            follow_link: o.follow_link,
            archive: o.archive,
        };
        let (service, from) = match dir {
            CopyDirection::FromService { service, .. } => (service, true),
            CopyDirection::ToService { service, .. } => (service, false),
        };
        let rows = self.copy_targets(service, o, from)?;
        // A tar on stdin to several containers: read once, given to each.
        let mut stdin_tar = None;
        if let CopyDirection::ToService { src, .. } = dir {
            if src == "-" && rows.len() > 1 {
                let mut buf = Vec::new();
                stdin
                    .read_to_end(&mut buf)
                    .map_err(|e| msg(format!("reading the archive on stdin: {e}")))?;
                stdin_tar = Some(buf);
            }
        }
        for r in rows {
            let name = r.summary.names.clone();
            let what = match dir {
                CopyDirection::FromService { src, dest, .. } => format!("{name}:{src} to {dest}"),
                CopyDirection::ToService { src, dest, .. } => format!("{src} to {name}:{dest}"),
            };
            report(Event {
                kind: "",
                name: format!("{name} {what}"),
                status: "Copying".into(),
            });
            match dir {
                CopyDirection::FromService { src, dest, .. } => {
                    let d = (dest != "-").then_some(dest.as_str());
                    self.engine
                        .copy_from_container(&r.summary.id, src, d, stdout, opts)?;
                }
                CopyDirection::ToService { src, dest, .. } => {
                    let s = (src != "-").then_some(src.as_str());
                    let input: &mut dyn Read = match &stdin_tar {
                        Some(b) => &mut &b[..],
                        None => &mut *stdin,
                    };
                    self.engine
                        .copy_to_container(s, input, &r.summary.id, dest, opts)?;
                }
            }
            report(Event {
                kind: "",
                name: format!("{name} {what}"),
                status: "Copied".into(),
            });
        }
        Ok(())
    }

    /// `events [SERVICE...]`: the engine's container events of this
    /// project (not of one-off containers), `--since`/`--until` as docker
    /// reads them, compose's labels left out of the attributes. Ends when
    /// `stop` says so (checked whenever the reader catches up) or `f`
    /// returns false.
    pub fn events(
        &self,
        services: &[String],
        since: &str,
        until: &str,
        stop: &dyn Fn() -> bool,
        f: &mut dyn FnMut(ProjectEvent) -> bool,
    ) -> Result<()> {
        for s in services {
            self.service(s)?;
        }
        let filters = [
            format!("label={}={}", labels::PROJECT, self.name()),
            "type=container".to_string(),
        ];
        let opts = engine::EventsOptions::parse(since, until, &filters)?;
        let wanted: BTreeSet<&String> = services.iter().collect();
        self.engine.events(&opts, stop, &mut |m| {
            if m.typ != "container" {
                return true;
            }
            let a = &m.actor.attributes;
            if a.get(labels::ONEOFF).map(String::as_str) == Some("True") {
                return true;
            }
            let service = a.get(labels::SERVICE).cloned().unwrap_or_default();
            if !wanted.is_empty() && !wanted.contains(&service) {
                return true;
            }
            let attributes = a
                .iter()
                .filter(|(k, _)| !k.starts_with("com.docker.compose."))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let time_nano = if m.time_nano != 0 {
                m.time_nano
            } else {
                m.time * 1_000_000_000
            };
            f(ProjectEvent {
                time_nano,
                service,
                container: m.actor.id.clone(),
                action: m.action.clone(),
                attributes,
            })
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_tags_as_compose_reads_them() {
        assert!(has_pinned_tag("busybox:1.36"));
        assert!(has_pinned_tag("localhost:5000/app:v1"));
        assert!(has_pinned_tag(
            "busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000"
        ));
        assert!(!has_pinned_tag("busybox"));
        assert!(!has_pinned_tag("busybox:latest"));
        // a registry port is no tag
        assert!(!has_pinned_tag("localhost:5000/app"));
        assert!(!has_pinned_tag("Not/Valid:"));
    }

    #[test]
    fn copy_directions_as_compose_splits_them() {
        assert_eq!(
            copy_direction("web:/etc/hosts", "./out").unwrap(),
            CopyDirection::FromService {
                service: "web".into(),
                src: "/etc/hosts".into(),
                dest: "./out".into()
            }
        );
        assert_eq!(
            copy_direction("-", "web:/tmp").unwrap(),
            CopyDirection::ToService {
                src: "-".into(),
                service: "web".into(),
                dest: "/tmp".into()
            }
        );
        assert!(copy_direction("a:/x", "b:/y")
            .unwrap_err()
            .to_string()
            .contains("between services"));
        assert!(copy_direction("/x", "./y")
            .unwrap_err()
            .to_string()
            .contains("unknown copy direction"));
        // a local path with a colon after a slash is local
        assert!(copy_direction("dir/a:b", "web:/x").is_ok());
    }
}
