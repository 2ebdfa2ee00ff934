//! `container prune`, `network prune`, `volume prune` and `system prune`
//! with docker's filters and reports (and `network rm`, which shares the
//! rule that a network a container being created attaches to is in use).

use serde::Serialize;

use crate::error::{Error, Result};
use crate::filters::{keys, Filters};
use crate::images::ImagesPruneReport;
use crate::Engine;

/// What `container prune` removed (docker's `ContainersPruneReport`).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainersPruneReport {
    pub containers_deleted: Vec<String>,
    /// The bytes of their writable layers.
    pub space_reclaimed: u64,
    /// Containers that could not be removed (not docker's).
    #[serde(skip)]
    pub errors: Vec<Error>,
}

/// What `network prune` removed (docker's `NetworksPruneReport`).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworksPruneReport {
    pub networks_deleted: Vec<String>,
    #[serde(skip)]
    pub errors: Vec<String>,
}

/// What `volume prune` removed (docker's `VolumesPruneReport`).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumesPruneReport {
    pub volumes_deleted: Vec<String>,
    pub space_reclaimed: u64,
}

/// A `container|network|volume|image prune` request: `-a` and docker's
/// filters. Each kind's method checks the filters (before a face asks for
/// confirmation; the prune checks them again through the same function)
/// and gives the filters that prune applies.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// `-a`: images, every unused one (the filter `dangling=false`);
    /// volumes, named ones too (`all=true`). Not taken by the others.
    pub all: bool,
    pub filters: Filters,
}

/// `container prune`'s filters: `until`, `label`, `label!`.
pub(crate) fn check_containers(f: &Filters) -> Result<()> {
    f.validate(keys::CONTAINER_PRUNE)?;
    f.until().map(|_| ())
}

/// `network prune`'s filters: `until`, `label`, `label!`.
pub(crate) fn check_networks(f: &Filters) -> Result<()> {
    f.validate(keys::NETWORK_PRUNE)?;
    f.until().map(|_| ())
}

/// `volume prune`'s filters (`all`, `label`, `label!`); whether named
/// volumes go too.
pub(crate) fn check_volumes(f: &Filters) -> Result<bool> {
    f.validate(keys::VOLUME_PRUNE)?;
    Ok(f.bool_value("all")?.unwrap_or(false))
}

impl PruneOptions {
    pub fn new(all: bool, filters: Filters) -> PruneOptions {
        PruneOptions { all, filters }
    }

    /// `container prune`'s filters, checked.
    pub fn containers(&self) -> Result<Filters> {
        check_containers(&self.filters)?;
        Ok(self.filters.clone())
    }

    /// `network prune`'s filters, checked.
    pub fn networks(&self) -> Result<Filters> {
        check_networks(&self.filters)?;
        Ok(self.filters.clone())
    }

    /// `volume prune`'s filters (`-a`: `all=true`, as docker's CLI),
    /// checked, and whether named volumes go too.
    pub fn volumes(&self) -> Result<(Filters, bool)> {
        let f = if self.all {
            self.filters.without("all").with("all", "true")
        } else {
            self.filters.clone()
        };
        let all = check_volumes(&f)?;
        Ok((f, all))
    }

    /// `image prune`'s filters (`-a`: `dangling=false`, as docker's CLI),
    /// checked.
    pub fn images(&self) -> Result<Filters> {
        let f = if self.all {
            self.filters.without("dangling").with("dangling", "false")
        } else {
            self.filters.clone()
        };
        crate::images::check_prune(&f)?;
        Ok(f)
    }
}

/// `system prune`'s flags.
#[derive(Debug, Clone, Default)]
pub struct SystemPruneOptions {
    /// `-a`: every unused image, not only dangling ones.
    pub all: bool,
    /// `--volumes`: anonymous volumes no container uses too.
    pub volumes: bool,
    /// `until`, `label`, `label!` for each part.
    pub filters: Filters,
}

impl SystemPruneOptions {
    /// The filters' keys and values, as `system_prune` checks them before
    /// removing anything (a face asks for confirmation after this).
    pub fn validate(&self) -> Result<()> {
        let f = &self.filters;
        f.validate(keys::SYSTEM_PRUNE)?;
        if self.volumes && f.contains("until") {
            return Err(Error::InvalidFilter(
                "The \"until\" filter is not supported with \"--volumes\"".into(),
            ));
        }
        f.until().map(|_| ())
    }
}

/// What `system prune` removed, in docker's order.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SystemPruneReport {
    pub containers: ContainersPruneReport,
    pub networks: NetworksPruneReport,
    /// With [`SystemPruneOptions::volumes`].
    pub volumes: Option<VolumesPruneReport>,
    pub images: ImagesPruneReport,
    /// Unreferenced blobs and layers, and what killed pulls, unpacks and
    /// creates left (Berth's build cache: the image store's leftovers).
    pub cache_reclaimed: u64,
    /// The total of every part.
    pub space_reclaimed: u64,
    /// What failed on the way, one line each.
    #[serde(skip)]
    pub errors: Vec<String>,
}

impl Engine {
    /// `container prune [--filter until=…|label=…|label!=…]`: the stopped
    /// containers the filters keep (`until`: created before that time).
    pub fn prune_containers_with(&self, filters: &Filters) -> Result<ContainersPruneReport> {
        check_containers(filters)?;
        let until = filters.until()?;
        let mut report = ContainersPruneReport::default();
        let (out, errs) = (&mut report.containers_deleted, &mut report.errors);
        let mut bytes = 0;
        for id in self.ids()? {
            match self.readable_state(&id) {
                Ok(st) if st.running() => continue,
                Ok(_) => {}
                Err(Error::NoSuchContainer(_)) => continue,
                Err(e) => {
                    errs.push(e);
                    continue;
                }
            }
            // A dead container's unreadable config has no labels nor time.
            if until.is_some() || !filters.is_empty() {
                let c = self.load_config(&id).unwrap_or_default();
                let created = crate::timeutil::parse(&c.created);
                if until.is_some_and(|u| created.is_some_and(|t| t > u))
                    || !filters.match_labels(&c.config.labels)
                {
                    continue;
                }
            }
            let size = crate::volumes::dir_size(&self.container_dir(&id).join("upper"));
            match self.remove_stopped_unless(&id, true, None) {
                Ok(true) => {
                    out.push(id);
                    bytes += size;
                }
                // Being created, started meanwhile, or gone.
                Ok(false) | Err(Error::Conflict(_)) | Err(Error::NoSuchContainer(_)) => {}
                Err(e) => errs.push(e),
            }
        }
        report.space_reclaimed = bytes;
        Ok(report)
    }

    /// Networks that containers being created will attach to.
    fn networks_being_attached(&self) -> std::collections::HashSet<String> {
        self.ids()
            .unwrap_or_default()
            .iter()
            .filter(|id| self.being_created(id))
            .filter_map(|id| self.load_config(id).ok())
            .map(|c| c.host_config.network_mode)
            .collect()
    }

    /// `network rm`: as the network manager's, but a network a container
    /// being created is about to attach to is in use too.
    pub fn remove_network(&self, name_or_id: &str) -> Result<network::Network> {
        if name_or_id == "host" || name_or_id == "none" {
            return Err(Error::Conflict(format!(
                "{name_or_id} is a pre-defined network and cannot be removed"
            )));
        }
        let _s = self.lock_store()?;
        let mut m = crate::network::manager(self);
        let n = m.get(name_or_id).map_err(|e| Error::msg(e.to_string()))?;
        if self.networks_being_attached().contains(&n.name) {
            return Err(Error::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        m.remove(&n.name).map_err(|e| match e {
            network::Error::Conflict(m) => Error::Conflict(m),
            network::Error::Invalid(m) => Error::InvalidArgument(m),
            e => Error::msg(e.to_string()),
        })
    }

    /// `network prune [--filter until=…|label=…|label!=…]`.
    pub fn prune_networks_with(&self, filters: &Filters) -> Result<NetworksPruneReport> {
        check_networks(filters)?;
        let until = filters.until()?;
        let mut report = NetworksPruneReport::default();
        let (out, errs) = (&mut report.networks_deleted, &mut report.errors);
        let _s = self.lock_store()?;
        let busy = self.networks_being_attached();
        let mut m = crate::network::manager(self);
        let list = m.list().map_err(|e| Error::msg(e.to_string()))?;
        for n in list {
            if n.name == crate::network::DEFAULT_NETWORK || busy.contains(&n.name) {
                continue;
            }
            let created = crate::timeutil::parse(&n.created);
            if until.is_some_and(|u| created.is_some_and(|t| t > u))
                || !filters.match_labels(&n.labels)
            {
                continue;
            }
            if !m.users(&n).is_ok_and(|u| u.is_empty()) {
                continue;
            }
            match m.remove(&n.name) {
                Ok(_) => out.push(n.name),
                Err(network::Error::NotFound(_)) | Err(network::Error::Conflict(_)) => {}
                Err(e) => errs.push(e.to_string()),
            }
        }
        Ok(report)
    }

    /// `volume prune [-a] [--filter label=…|label!=…|all=true]`: unused
    /// anonymous volumes, every unused one with `all` (docker 23's rule).
    pub fn prune_volumes_with(&self, filters: &Filters) -> Result<VolumesPruneReport> {
        let all = check_volumes(filters)?;
        let removed = self.prune_volumes(all, &|v| filters.match_labels(&v.labels))?;
        Ok(VolumesPruneReport {
            space_reclaimed: removed.iter().map(|(_, s)| s).sum(),
            volumes_deleted: removed.into_iter().map(|(n, _)| n).collect(),
        })
    }

    /// `system prune`: what crashes left, then (docker's order) stopped
    /// containers, unused networks, with `volumes` unused anonymous
    /// volumes, dangling images (every unused image with `all`), and the
    /// image store's leftovers. An error in one part does not stop the
    /// others; a bad filter stops all before anything is removed.
    pub fn system_prune(&self, opts: &SystemPruneOptions) -> Result<SystemPruneReport> {
        opts.validate()?;
        let f = &opts.filters;
        let parts = f.without("dangling");
        let image_filters = PruneOptions::new(opts.all, parts.clone()).images()?;
        let mut r = SystemPruneReport::default();
        if let Err(e) = self.cleanup() {
            r.errors.push(e.to_string());
        }
        r.containers = self.prune_containers_with(&parts)?;
        r.errors
            .extend(r.containers.errors.iter().map(|e| e.to_string()));
        r.errors.extend(crate::network::prune_leftovers(self).1);
        match self.prune_networks_with(&parts) {
            Ok(n) => {
                r.errors.extend(n.errors.iter().cloned());
                r.networks = n;
            }
            Err(e) => r.errors.push(e.to_string()),
        }
        if opts.volumes {
            match self.prune_volumes_with(&parts) {
                Ok(v) => r.volumes = Some(v),
                Err(e) => r.errors.push(e.to_string()),
            }
        }
        match crate::images::prune(self.images(), &image_filters) {
            Ok(i) => {
                r.errors.extend(i.errors.iter().cloned());
                r.images = i;
            }
            Err(e) => r.errors.push(e.to_string()),
        }
        match crate::images::collect_garbage(self.images()) {
            Ok(b) => r.cache_reclaimed = b + r.images.temp_reclaimed,
            Err(e) => r.errors.push(e.to_string()),
        }
        r.space_reclaimed = r.containers.space_reclaimed
            + r.volumes.as_ref().map_or(0, |v| v.space_reclaimed)
            + r.images.space_reclaimed
            + r.cache_reclaimed;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(all: bool, f: &[&str]) -> PruneOptions {
        PruneOptions::new(all, Filters::parse_cli(f).unwrap())
    }

    #[test]
    fn each_kind_checks_its_filters() {
        assert!(opts(false, &["until=1h", "label=a"]).containers().is_ok());
        assert!(opts(false, &["dangling=true"]).containers().is_err());
        assert!(opts(false, &["until=soon"]).containers().is_err());
        assert!(opts(false, &["until=1h"]).networks().is_ok());
        assert!(opts(false, &["until=x"]).networks().is_err());
        assert!(opts(false, &["until=1h"]).volumes().is_err());
        assert!(opts(false, &["all=maybe"]).volumes().is_err());
        assert!(opts(false, &["until=x"]).images().is_err());
        assert!(opts(false, &["name=x"]).images().is_err());
    }

    #[test]
    fn dash_a_is_a_filter() {
        // image prune -a: dangling=false, whatever was asked.
        let f = opts(true, &["dangling=true"]).images().unwrap();
        assert_eq!(f.get("dangling"), ["false"]);
        let f = opts(false, &["label=a"]).images().unwrap();
        assert!(!f.contains("dangling"));
        // volume prune -a: all=true, and named volumes go.
        let (f, all) = opts(true, &[]).volumes().unwrap();
        assert!(all);
        assert_eq!(f.get("all"), ["true"]);
        let (_, all) = opts(false, &["label=a"]).volumes().unwrap();
        assert!(!all);
    }
}
