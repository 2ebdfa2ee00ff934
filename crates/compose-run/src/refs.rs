//! A service's references to other containers, resolved when one of its
//! containers is created, as compose's `resolveServiceReferences`:
//! `network_mode`, `ipc` and `pid` of the form `service:NAME` join the
//! first container of service NAME (`container:ID`); `volumes_from`
//! (`NAME[:ro|rw]`, `container:X[:ro|rw]`) names that container in the
//! engine's `--volumes-from`. The loader already made each referenced service a dependency,
//! so it is up before.

use std::collections::BTreeMap;

use berth_compose::{Project, ServiceConfig};
use engine::options::mounts::Mount;
use engine::options::NamespaceMode;
use engine::CreateOptions;

use crate::{Compose, Error, Result};

/// The first container (lowest number, one-offs aside) of each service
/// of the project, from one listing: what a service's `service:NAME` and
/// `volumes_from` references name when one of its containers is created.
/// Made once per operation ([`Compose::first_containers`]) and handed to
/// both the config hash and the create options; empty (the default) for
/// a service that refers to no other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirstContainers(BTreeMap<String, String>);

impl FirstContainers {
    /// The id of service `name`'s first container.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// From a listing of the project's containers.
    pub(crate) fn of(rows: &[crate::ContainerRow]) -> FirstContainers {
        let mut m: BTreeMap<String, (u32, String)> = BTreeMap::new();
        for r in rows.iter().filter(|r| !r.oneoff()) {
            let e = m
                .entry(r.service.clone())
                .or_insert_with(|| (r.number, r.summary.id.clone()));
            if r.number < e.0 {
                *e = (r.number, r.summary.id.clone());
            }
        }
        FirstContainers(m.into_iter().map(|(k, (_, id))| (k, id)).collect())
    }
}

/// Whether `s` names other services' containers.
fn refers(s: &ServiceConfig) -> bool {
    [&s.network_mode, &s.ipc, &s.pid]
        .iter()
        .any(|m| m.starts_with("service:"))
        || !s.volumes_from.is_empty()
}

impl Compose {
    /// What `s`'s references name now: one listing of the project's
    /// containers if it has any, none otherwise.
    pub fn first_containers(&self, s: &ServiceConfig) -> Result<FirstContainers> {
        if !refers(s) {
            return Ok(FirstContainers::default());
        }
        Ok(FirstContainers::of(&self.containers(true)?))
    }

    /// The id of the first container of service `name` in `firsts`.
    fn first_container(
        firsts: &FirstContainers,
        svc: &str,
        field: &str,
        name: &str,
    ) -> Result<String> {
        firsts.get(name).map(str::to_string).ok_or_else(|| {
            Error::Msg(format!(
                "services.{svc}.{field}: service:{name}: service {name} has no container"
            ))
        })
    }

    /// The config hash of `s` as compose computes it: with its
    /// `service:` references and `volumes_from` resolved to the ids of
    /// the containers they name now (`firsts`; compose's
    /// serviceHashWithResolvedRefs), so that a container sharing the
    /// namespace or volumes of one that was replaced is replaced too.
    pub fn config_hash(&self, s: &ServiceConfig, firsts: &FirstContainers) -> String {
        if !refers(s) {
            return Project::service_hash(s);
        }
        let mut r = s.clone();
        for m in [&mut r.network_mode, &mut r.ipc, &mut r.pid] {
            if let Some(id) = m.strip_prefix("service:").and_then(|n| firsts.get(n)) {
                *m = format!("container:{id}");
            }
        }
        for v in r.volumes_from.iter_mut() {
            let mut spec = v.split(':');
            let head = spec.next().unwrap_or("");
            if head == "container" {
                *v = spec.next().unwrap_or("").to_string();
            } else if let Some(id) = firsts.get(head) {
                *v = id.to_string();
            }
        }
        Project::service_hash(&r)
    }

    /// Fills `o` with what `s` references (see the module).
    pub(crate) fn resolve_refs(
        &self,
        s: &ServiceConfig,
        firsts: &FirstContainers,
        o: &mut CreateOptions,
    ) -> Result<()> {
        let n = s.name.as_str();
        if let Some(dep) = s.network_mode.strip_prefix("service:") {
            let id = Self::first_container(firsts, n, "network_mode", dep)?;
            o.network_mode = Some(format!("container:{id}"));
            o.network_aliases.clear();
            o.ip = None;
        }
        if let Some(dep) = s.ipc.strip_prefix("service:") {
            o.ipc_mode = NamespaceMode::Container(Self::first_container(firsts, n, "ipc", dep)?);
        }
        if let Some(dep) = s.pid.strip_prefix("service:") {
            o.pid_mode = NamespaceMode::Container(Self::first_container(firsts, n, "pid", dep)?);
        }
        for (i, spec) in s.volumes_from.iter().enumerate() {
            let field = format!("volumes_from[{i}]");
            let bad = |why: String| Error::Msg(format!("services.{n}.{field}: {spec:?}: {why}"));
            let (source, rest) = match spec.strip_prefix("container:") {
                Some(r) => {
                    let (c, m) = r.split_once(':').unwrap_or((r, ""));
                    (c.to_string(), m)
                }
                None => {
                    let (svc, m) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
                    if !self.project.services.contains_key(svc) {
                        return Err(bad(format!("no such service {svc}")));
                    }
                    (Self::first_container(firsts, n, &field, svc)?, m)
                }
            };
            let given = if rest.is_empty() {
                source
            } else {
                format!("{source}:{rest}")
            };
            // The engine mounts what the container has (docker's
            // VolumesFrom, as compose passes it).
            let vf = engine::options::parse_volumes_from(&given).map_err(|e| bad(e.to_string()))?;
            o.volumes_from.push(vf);
        }
        Ok(())
    }
}

pub(crate) fn target_of(m: &Mount) -> &str {
    match m {
        Mount::Bind(b) => &b.target,
        Mount::Volume(v) => &v.target,
        Mount::Tmpfs(t) => &t.target,
    }
}
