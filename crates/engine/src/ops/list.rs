//! `ps`: the container list ([`Summary`], docker's API `ContainerSummary`
//! in the fields Berth has) with docker's filters ([`ListOptions`]):
//! `id`, `name`, `label`, `label!`, `exited`, `status`, `ancestor`,
//! `before`, `since`, `volume`, `network`, `publish`, `expose`, `health`,
//! `isolation`.

use std::collections::{BTreeMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::container::{Container, State, Status};
use crate::error::{Error, Result};
use crate::filters::{keys, Filters};
use crate::ops::inspect::status_text;
use crate::{timeutil, Engine};

/// One port of a `ps` row (docker's `Port`): published (`PublicPort`
/// set) or only exposed.
pub use crate::api::Port;

/// One row of `ps`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Summary {
    pub id: String,
    /// The image as the user named it.
    pub image: String,
    /// The image's id (`sha256:…`).
    #[serde(rename = "ImageID")]
    pub image_id: String,
    /// Path and arguments joined by spaces (the CLI quotes and truncates).
    pub command: String,
    pub created: String,
    /// `Up 3 seconds`, `Exited (0) 5 seconds ago`, `Created`...
    pub status: String,
    pub state: Status,
    pub exit_code: i32,
    /// The name, without docker's leading `/`.
    pub names: String,
    pub labels: BTreeMap<String, String>,
    /// Published ports, then exposed ones not published (running
    /// containers only, as docker's).
    pub ports: Vec<Port>,
    /// Docker's `Mounts`: each mount's volume name, else its source.
    pub mounts: Vec<String>,
    /// How many of those are `local` volumes.
    pub local_volumes: usize,
    /// The networks it is attached to (or configured for), sorted.
    pub networks: Vec<String>,
    /// With [`ListOptions::size`]: bytes written in the container's layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<u64>,
    /// With [`ListOptions::size`]: that plus the image's layers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<u64>,
}

/// What `ps` lists.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `-a`: stopped containers too (implied by `limit` and by a `status`
    /// or `exited` filter).
    pub all: bool,
    /// `-n N` / `-l`: the N newest.
    pub limit: Option<usize>,
    /// `-s`: compute [`Summary::size_rw`] and [`Summary::size_root_fs`].
    pub size: bool,
    pub filters: Filters,
}

/// Docker's container states, for the `status` filter.
const STATES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// `80`, `80/udp`, `8000-8080/tcp` → (port, proto) pairs.
fn port_set(key: &str, vals: &[&str]) -> Result<HashSet<(u16, String)>> {
    let mut out = HashSet::new();
    for v in vals {
        let bad = || Error::InvalidFilter(format!("invalid filter '{key}={v}'"));
        let (ports, proto) = match v.split_once('/') {
            Some((p, proto)) => (p, proto.to_ascii_lowercase()),
            None => (*v, "tcp".to_string()),
        };
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(bad());
        }
        let (lo, hi) = match ports.split_once('-') {
            Some((a, b)) => (a.parse::<u16>(), b.parse::<u16>()),
            None => (ports.parse::<u16>(), ports.parse::<u16>()),
        };
        let (Ok(lo), Ok(hi)) = (lo, hi) else {
            return Err(bad());
        };
        if lo > hi {
            return Err(bad());
        }
        for p in lo..=hi {
            out.insert((p, proto.clone()));
        }
    }
    Ok(out)
}

fn parse_time(s: &str) -> SystemTime {
    timeutil::parse(s).unwrap_or(UNIX_EPOCH)
}

/// The filters, checked and resolved once for a listing.
struct Query {
    f: Filters,
    before: Option<(String, SystemTime)>,
    since: Option<(String, SystemTime)>,
    /// `ancestor`: the images (and their descendants) named.
    ancestors: Option<HashSet<String>>,
    exited: Vec<i32>,
    publish: HashSet<(u16, String)>,
    expose: HashSet<(u16, String)>,
    /// Network name → id, for the `network` filter.
    network_ids: BTreeMap<String, String>,
}

impl Engine {
    fn query(&self, f: &Filters) -> Result<Query> {
        f.validate(keys::CONTAINERS)?;
        for v in f.get("status") {
            if !STATES.contains(&v) {
                return Err(Error::InvalidFilter(format!("invalid filter 'status={v}'")));
            }
        }
        for v in f.get("health") {
            if !matches!(v, "starting" | "healthy" | "unhealthy" | "none") {
                return Err(Error::InvalidFilter(format!(
                    "Unrecognised filter value for health: {v}"
                )));
            }
        }
        // Linux has one isolation, docker's `default`.
        for v in f.get("isolation") {
            if !v.eq_ignore_ascii_case("default") {
                return Err(Error::InvalidFilter(format!(
                    "Unrecognised filter value for isolation: {v}"
                )));
            }
        }
        let mut exited = Vec::new();
        for v in f.get("exited") {
            exited.push(v.parse::<i32>().map_err(|_| {
                Error::InvalidFilter(format!("strconv.Atoi: parsing {v:?}: invalid syntax"))
            })?);
        }
        let anchor = |key: &str| -> Result<Option<(String, SystemTime)>> {
            match f.get(key).first() {
                None => Ok(None),
                Some(v) => {
                    let (c, _) = self.container(v)?;
                    Ok(Some((c.id, parse_time(&c.created))))
                }
            }
        };
        let ancestors = if f.contains("ancestor") {
            Some(self.ancestor_ids(&f.get("ancestor")))
        } else {
            None
        };
        let network_ids = if f.contains("network") {
            crate::network::manager(self)
                .list()
                .unwrap_or_default()
                .into_iter()
                .map(|n| (n.name, n.id))
                .collect()
        } else {
            BTreeMap::new()
        };
        Ok(Query {
            before: anchor("before")?,
            since: anchor("since")?,
            ancestors,
            exited,
            publish: port_set("publish", &f.get("publish"))?,
            expose: port_set("expose", &f.get("expose"))?,
            network_ids,
            f: f.clone(),
        })
    }

    /// The ids of the images `names` name (by name, tag, id or digest)
    /// and of their descendants (images whose layers extend theirs);
    /// names of no image match nothing, as docker's.
    fn ancestor_ids(&self, names: &[&str]) -> HashSet<String> {
        let store = self.images();
        let mut roots = Vec::new();
        for n in names {
            if let Ok(info) = store.resolve(n) {
                roots.push(info);
            }
        }
        let mut out: HashSet<String> = roots.iter().map(|i| i.record.id.to_string()).collect();
        if roots.is_empty() {
            return out;
        }
        let all = store.list().unwrap_or_default();
        for root in &roots {
            let base: Vec<_> = root.record.layers.iter().map(|l| &l.diff_id).collect();
            for i in &all {
                let layers: Vec<_> = i.record.layers.iter().map(|l| &l.diff_id).collect();
                if layers.len() > base.len() && layers[..base.len()] == base[..] {
                    out.insert(i.record.id.to_string());
                }
            }
        }
        out
    }

    /// Whether a container passes the query.
    fn keep(&self, q: &Query, c: &Container, st: &State, ports: &[Port]) -> bool {
        let f = &q.f;
        // docker matches the name with and without its leading `/`.
        if !f.matches("id", &c.id)
            || !(f.matches("name", &format!("/{}", c.name)) || f.matches("name", &c.name))
        {
            return false;
        }
        if !f.match_kv_list("label", &c.config.labels)
            || (f.contains("label!") && f.match_kv_list("label!", &c.config.labels))
        {
            return false;
        }
        let state = serde_json::to_value(st.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        if !f.exact_match("status", &state) {
            return false;
        }
        // exited: a container that ran and stopped with one of the codes.
        let stopped = !st.running() && st.status != Status::Created;
        let exited_ok = q.exited.is_empty() || (stopped && q.exited.contains(&st.exit_code));
        if !exited_ok {
            return false;
        }
        if let Some(set) = &q.ancestors {
            if !set.contains(&c.image) {
                return false;
            }
        }
        let created = parse_time(&c.created);
        if let Some((id, t)) = &q.before {
            if *id == c.id || created >= *t {
                return false;
            }
        }
        if let Some((id, t)) = &q.since {
            if *id == c.id || created <= *t {
                return false;
            }
        }
        if f.contains("volume") {
            let vals = f.get("volume");
            let hit = c.mounts.iter().any(|m| {
                let name = if m.name.is_empty() {
                    &m.source
                } else {
                    &m.name
                };
                vals.iter().any(|v| *v == m.destination || v == name)
            });
            if !hit {
                return false;
            }
        }
        if f.contains("network") {
            let nets = crate::network::network_names(self, c);
            let hit = f.get("network").iter().any(|v| {
                nets.iter().any(|n| {
                    n == v
                        || q.network_ids
                            .get(n)
                            .is_some_and(|id| !v.is_empty() && id.starts_with(v))
                })
            });
            if !hit {
                return false;
            }
        }
        if !q.publish.is_empty() || !q.expose.is_empty() {
            let hit = ports.iter().any(|p| {
                (p.public_port != 0 && q.publish.contains(&(p.public_port, p.kind.clone())))
                    || q.expose.contains(&(p.private_port, p.kind.clone()))
            });
            if !hit {
                return false;
            }
        }
        if f.contains("health") {
            let h = if crate::health::check_of(c).is_none() {
                "none".to_string()
            } else {
                self.health(&c.id)
                    .map(|h| h.status)
                    .unwrap_or_else(|| "starting".into())
            };
            if !f.exact_match("health", &h) {
                return false;
            }
        }
        true
    }

    /// A running container's ports: the published mappings, then the
    /// exposed ports not published (docker's `Ports`).
    fn summary_ports(&self, c: &Container, st: &State) -> Vec<Port> {
        if !st.running() {
            return Vec::new();
        }
        let mut out: Vec<Port> = crate::network::ports(self, &c.id)
            .iter()
            .map(|m| Port {
                ip: m.host_ip.to_string(),
                private_port: m.container_port,
                public_port: m.host_port,
                kind: m.proto.to_string(),
            })
            .collect();
        for k in c.config.exposed_ports.keys() {
            let (p, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
            let Ok(p) = p.parse::<u16>() else {
                continue;
            };
            if !out.iter().any(|x| x.private_port == p && x.kind == proto) {
                out.push(Port {
                    ip: String::new(),
                    private_port: p,
                    public_port: 0,
                    kind: proto.to_string(),
                });
            }
        }
        out
    }

    /// `GET /containers/json`: the `ps` rows (same options and filters)
    /// in docker's `container.Summary` shape.
    pub fn containers_json(&self, opts: &ListOptions) -> Result<Vec<crate::api::ContainerSummary>> {
        // each record read once: the rows come with the configs ps read
        Ok(self
            .ps_rows(opts)?
            .into_iter()
            .map(|(s, c)| self.summary_of(s, c))
            .collect())
    }

    /// A `ps` row in docker's `container.Summary` shape (the list and
    /// `system df`'s containers): `/name`, unix seconds, each network
    /// with its endpoint.
    pub fn container_summary(&self, s: Summary) -> crate::api::ContainerSummary {
        // A container removed since, or unreadable: its row as ps has it.
        let c = self.container(&s.id).ok().map(|(c, _)| c);
        self.summary_of(s, c)
    }

    /// [`Engine::container_summary`] from the row's config, already read.
    fn summary_of(&self, s: Summary, c: Option<Container>) -> crate::api::ContainerSummary {
        let networks = c
            .as_ref()
            .map(|c| crate::network::settings(self, c).networks)
            .unwrap_or_default();
        crate::api::ContainerSummary {
            names: vec![format!("/{}", s.names)],
            image: s.image,
            image_id: s.image_id,
            command: s.command,
            created: timeutil::parse_unix(&s.created).map_or(0, |(secs, _)| secs),
            ports: s.ports,
            size_rw: s.size_rw.map(|v| v as i64),
            size_root_fs: s.size_root_fs.map(|v| v as i64),
            labels: s.labels,
            state: s.state.to_string(),
            status: s.status,
            host_config: crate::api::SummaryHostConfig {
                network_mode: c
                    .as_ref()
                    .map(|c| c.host_config.network_mode.clone())
                    .unwrap_or_default(),
            },
            network_settings: crate::api::SummaryNetworkSettings { networks },
            mounts: c.map(|c| c.mounts).unwrap_or_default(),
            id: s.id,
        }
    }

    /// `ps [-a]`, newest first.
    pub fn list(&self, all: bool) -> Result<Vec<Summary>> {
        self.ps(&ListOptions {
            all,
            ..Default::default()
        })
    }

    /// `ps` with docker's flags and filters, newest first.
    pub fn ps(&self, opts: &ListOptions) -> Result<Vec<Summary>> {
        Ok(self.ps_rows(opts)?.into_iter().map(|(s, _)| s).collect())
    }

    /// [`Engine::ps`]'s rows with the config each was made from (`None`:
    /// an unreadable record, shown dead).
    fn ps_rows(&self, opts: &ListOptions) -> Result<Vec<(Summary, Option<Container>)>> {
        let q = self.query(&opts.filters)?;
        let all = opts.all
            || opts.limit.is_some()
            || opts.filters.contains("status")
            || opts.filters.contains("exited");
        let mut out = Vec::new();
        let mut names = None;
        for id in self.ids()? {
            // Without `all`, a container that is not running is passed over
            // on its state alone: its config is not read (docker's `ps` of
            // a store of stopped containers).
            let st = self.state(&id);
            if !all && matches!(&st, Ok(s) if !s.running()) {
                continue;
            }
            let (c, st) = match (self.load_config(&id), st) {
                (Ok(c), Ok(st)) => (c, st),
                (Err(Error::NoSuchContainer(_)), _) | (_, Err(Error::NoSuchContainer(_))) => {
                    continue
                }
                // Unreadable records: shown dead (docker's state for a
                // container it cannot use), for `rm` to remove.
                _ => {
                    if all {
                        let names =
                            names.get_or_insert_with(|| self.load_names().unwrap_or_default());
                        let s = self.dead_summary(&id, names);
                        let c = Container {
                            id: id.clone(),
                            name: s.names.clone(),
                            created: s.created.clone(),
                            ..Default::default()
                        };
                        let st = State {
                            status: Status::Dead,
                            ..State::default()
                        };
                        if self.keep(&q, &c, &st, &[]) {
                            out.push((s, None));
                        }
                    }
                    continue;
                }
            };
            if !all && !st.running() {
                continue;
            }
            let ports = self.summary_ports(&c, &st);
            if !self.keep(&q, &c, &st, &ports) {
                continue;
            }
            let summary = Summary {
                id: id.clone(),
                image: c.image_ref.clone(),
                image_id: c.image.clone(),
                command: std::iter::once(c.path.clone())
                    .chain(c.args.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(" "),
                created: c.created.clone(),
                status: crate::health::with_health(status_text(&st), &st, self.health(&id)),
                state: st.status,
                exit_code: st.exit_code,
                names: c.name.clone(),
                labels: c.config.labels.clone(),
                ports,
                mounts: c
                    .mounts
                    .iter()
                    .map(|m| {
                        if m.name.is_empty() {
                            m.source.clone()
                        } else {
                            m.name.clone()
                        }
                    })
                    .collect(),
                local_volumes: c.mounts.iter().filter(|m| m.driver == "local").count(),
                networks: crate::network::network_names(self, &c),
                size_rw: None,
                size_root_fs: None,
            };
            out.push((summary, Some(c)));
        }
        out.sort_by(|a, b| b.0.created.cmp(&a.0.created));
        if let Some(n) = opts.limit {
            out.truncate(n);
        }
        if opts.size {
            for (s, _) in &mut out {
                if let Ok((rw, rootfs)) = self.size(&s.id) {
                    s.size_rw = Some(rw);
                    s.size_root_fs = Some(rootfs);
                }
            }
        }
        Ok(out)
    }

    /// The `ps` row of a container whose records cannot be read.
    fn dead_summary(&self, id: &str, names: &BTreeMap<String, String>) -> Summary {
        let created = std::fs::metadata(self.container_dir(id))
            .and_then(|m| m.modified())
            .map(timeutil::format)
            .unwrap_or_default();
        Summary {
            id: id.to_string(),
            image: String::new(),
            image_id: String::new(),
            command: String::new(),
            created,
            status: status_text(&State {
                status: Status::Dead,
                ..State::default()
            }),
            state: Status::Dead,
            exit_code: 0,
            names: names
                .iter()
                .find(|(_, v)| *v == id)
                .map(|(k, _)| k.clone())
                .unwrap_or_default(),
            labels: Default::default(),
            ports: Vec::new(),
            mounts: Vec::new(),
            local_volumes: 0,
            networks: Vec::new(),
            size_rw: None,
            size_root_fs: None,
        }
    }
}

/// Docker's predefined networks.
fn predefined(name: &str) -> bool {
    matches!(name, "bridge" | "host" | "none")
}

impl Engine {
    /// `volume ls` with docker's filters `dangling`, `driver`, `label`,
    /// `name`; sorted by name.
    pub fn list_volumes_with(&self, f: &Filters) -> Result<Vec<crate::volumes::Volume>> {
        f.validate(keys::VOLUMES)?;
        let dangling = f.bool_value("dangling")?;
        let users = if dangling.is_some() {
            self.volume_users()?
        } else {
            BTreeMap::new()
        };
        Ok(self
            .list_volumes()?
            .into_iter()
            .filter(|v| {
                f.matches("name", &v.name)
                    && f.exact_match("driver", &v.driver)
                    && f.match_kv_list("label", &v.labels)
                    && dangling.map_or(true, |d| users.contains_key(&v.name) != d)
            })
            .collect())
    }

    /// `network ls` with docker's filters `dangling`, `driver`, `id`,
    /// `label`, `name`, `scope`, `type` (`custom`, `builtin`): each
    /// network in `network inspect`'s shape, the user networks and
    /// docker's predefined `bridge` (always listed), `host` and `none`,
    /// sorted by name.
    pub fn list_networks_with(&self, f: &Filters) -> Result<Vec<serde_json::Value>> {
        f.validate(keys::NETWORKS)?;
        let dangling = f.bool_value("dangling")?;
        for t in f.get("type") {
            if !matches!(t, "custom" | "builtin") {
                return Err(Error::InvalidFilter(format!(
                    "invalid filter: 'type'='{t}'"
                )));
            }
        }
        let m = crate::network::manager(self);
        let list = m.list().map_err(|e| Error::msg(e.to_string()))?;
        let mut v: Vec<serde_json::Value> = list
            .iter()
            .map(|n| crate::network::inspect_network(self, n))
            .collect();
        // As docker, `bridge` is always listed; its bridge device and subnet
        // exist only while containers use it (as netavark's).
        if !list
            .iter()
            .any(|n| n.name == crate::network::DEFAULT_NETWORK)
        {
            v.extend(crate::network::builtin(crate::network::DEFAULT_NETWORK));
        }
        v.extend(
            ["host", "none"]
                .iter()
                .filter_map(|n| crate::network::builtin(n)),
        );
        v.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
        let text = |n: &serde_json::Value, k: &str| n[k].as_str().unwrap_or_default().to_string();
        v.retain(|n| {
            let name = text(n, "Name");
            let labels: BTreeMap<String, String> =
                serde_json::from_value(n["Labels"].clone()).unwrap_or_default();
            let used = n["Containers"].as_object().is_some_and(|c| !c.is_empty());
            let kind = if predefined(&name) {
                "builtin"
            } else {
                "custom"
            };
            f.exact_match("driver", &text(n, "Driver"))
                && f.matches("name", &name)
                && f.matches("id", &text(n, "Id"))
                && f.match_kv_list("label", &labels)
                && f.exact_match("scope", &text(n, "Scope"))
                && f.exact_match("type", kind)
                && dangling.map_or(true, |d| {
                    if d {
                        !predefined(&name) && !used
                    } else {
                        predefined(&name) || used
                    }
                })
        });
        Ok(v)
    }

    /// `port CONTAINER [PRIVATE_PORT[/PROTO]]`: the container's published
    /// mappings, those of one private port (tcp unless said) when given;
    /// none for that port is docker's error.
    pub fn port(
        &self,
        container: &str,
        private: Option<&str>,
    ) -> Result<Vec<network::PortMapping>> {
        let id = self.lookup(container)?;
        let ports = crate::network::ports(self, &id);
        let Some(p) = private else {
            return Ok(ports);
        };
        let want = if p.contains('/') {
            p.to_string()
        } else {
            format!("{p}/tcp")
        };
        let hits: Vec<_> = ports.into_iter().filter(|m| m.key() == want).collect();
        if hits.is_empty() {
            return Err(Error::NoSuchObject(format!(
                "No public port '{want}' published for {container}"
            )));
        }
        Ok(hits)
    }

    /// `network inspect NAME|ID`: a name, else a unique id prefix.
    pub fn network_inspect(&self, want: &str) -> Result<serde_json::Value> {
        let nets = self.list_networks_with(&Filters::new())?;
        if let Some(n) = nets.iter().find(|n| n["Name"] == want) {
            return Ok(n.clone());
        }
        let m: Vec<&serde_json::Value> = nets
            .iter()
            .filter(|n| !want.is_empty() && n["Id"].as_str().is_some_and(|i| i.starts_with(want)))
            .collect();
        match m.len() {
            1 => Ok(m[0].clone()),
            0 => Err(Error::NoSuchObject(format!("network {want} not found"))),
            _ => Err(Error::InvalidArgument(format!(
                "network {want} is ambiguous ({} matches found based on ID prefix)",
                m.len()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_filters_expand_ranges_and_protocols() {
        let s = port_set("publish", &["80", "53/udp", "8000-8002/tcp"]).unwrap();
        assert!(s.contains(&(80, "tcp".into())));
        assert!(s.contains(&(53, "udp".into())));
        assert!(s.contains(&(8001, "tcp".into())));
        assert_eq!(s.len(), 5);
        for bad in ["x", "80/xyz", "9-1", "70000"] {
            let e = port_set("publish", &[bad]).unwrap_err();
            assert_eq!(e.to_string(), format!("invalid filter 'publish={bad}'"));
        }
    }
}
