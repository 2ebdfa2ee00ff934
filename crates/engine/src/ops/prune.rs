//! `container prune` and `network prune` (and `network rm`, which shares
//! the rule that a network a container being created attaches to is in use).

use crate::error::{Error, Result};
use crate::Engine;

impl Engine {
    /// `container prune`: removes every container that is not running
    /// (dead ones included); returns their ids. Containers that vanish,
    /// start or are being created meanwhile are left alone; an error on
    /// one does not stop the others (the first is returned at the end).
    pub fn prune(&self) -> Result<Vec<String>> {
        let (ids, errs) = self.prune_containers();
        match errs.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(ids),
        }
    }

    /// [`Engine::prune`]: the ids removed and the errors met on the way.
    pub fn prune_containers(&self) -> (Vec<String>, Vec<Error>) {
        let (mut out, mut errs) = (Vec::new(), Vec::new());
        let ids = match self.ids() {
            Ok(ids) => ids,
            Err(e) => return (out, vec![e]),
        };
        for id in ids {
            match self.readable_state(&id) {
                Ok(st) if st.running() => continue,
                Ok(_) => {}
                Err(Error::NoSuchContainer(_)) => continue,
                Err(e) => {
                    errs.push(e);
                    continue;
                }
            }
            match self.remove_stopped_unless(&id, true) {
                Ok(true) => out.push(id),
                // Being created, started meanwhile, or gone.
                Ok(false) | Err(Error::Conflict(_)) | Err(Error::NoSuchContainer(_)) => {}
                Err(e) => errs.push(e),
            }
        }
        (out, errs)
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

    /// `network prune`: the user networks no container uses or is about
    /// to (one being created); a network that vanishes or gets a user
    /// meanwhile is skipped. The names removed and the errors met.
    pub fn prune_networks(&self) -> (Vec<String>, Vec<String>) {
        let (mut out, mut errs) = (Vec::new(), Vec::new());
        let _s = match self.lock_store() {
            Ok(l) => l,
            Err(e) => return (out, vec![e.to_string()]),
        };
        let busy = self.networks_being_attached();
        let mut m = crate::network::manager(self);
        let list = match m.list() {
            Ok(l) => l,
            Err(e) => return (out, vec![e.to_string()]),
        };
        for n in list {
            if n.name == crate::network::DEFAULT_NETWORK || busy.contains(&n.name) {
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
        (out, errs)
    }
}
