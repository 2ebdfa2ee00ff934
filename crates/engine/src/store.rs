//! The container store: records, names, lookup, state, liveness of monitors.

use crate::container::{Container, State};
use crate::error::{Error, Result};
use crate::fsutil::{self, Durability, FileLock};
use crate::Engine;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub(crate) const CONFIG: &str = "config.v2.json";
pub(crate) const STATE: &str = "state.json";
/// Present in the directory of a `--rm` container: its records are written
/// atomically but not fsynced, and its overlay is mounted `volatile` (as
/// podman does for `--rm`): the container is gone after it exits, and a
/// power loss while it runs leaves nothing worth keeping.
pub(crate) const VOLATILE: &str = "volatile";

fn is_full_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Docker's container name rule.
pub fn validate_name(name: &str) -> Result<String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let ok = n.len() >= 2
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(n.to_string())
    } else {
        Err(Error::flag(
            "--name",
            name,
            "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters",
        ))
    }
}

const LEFT: &[&str] = &[
    "admiring",
    "brave",
    "busy",
    "calm",
    "clever",
    "cool",
    "dazzling",
    "eager",
    "elegant",
    "festive",
    "focused",
    "gallant",
    "gifted",
    "happy",
    "hopeful",
    "jolly",
    "keen",
    "kind",
    "loving",
    "modest",
    "nice",
    "optimistic",
    "peaceful",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "trusting",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
];
const RIGHT: &[&str] = &[
    "agnesi", "babbage", "bohr", "curie", "darwin", "einstein", "euler", "fermi", "gauss",
    "hopper", "hypatia", "johnson", "kepler", "lamport", "lovelace", "meitner", "newton",
    "noether", "pascal", "ritchie", "shannon", "thompson", "torvalds", "turing", "wozniak",
];

fn random_name(retry: u32) -> String {
    let r = fsutil::random_u64();
    let l = LEFT[(r % LEFT.len() as u64) as usize];
    let rr = RIGHT[((r >> 20) % RIGHT.len() as u64) as usize];
    if retry > 0 {
        format!("{l}_{rr}{}", (r >> 40) % 10)
    } else {
        format!("{l}_{rr}")
    }
}

impl Engine {
    pub(crate) fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    fn names_path(&self) -> PathBuf {
        self.root.join("container-names.json")
    }

    /// The store-wide lock (names, creation, removal).
    pub(crate) fn lock_store(&self) -> Result<FileLock> {
        self.lock_waiting(&self.root.join("containers.lock"), false)
    }

    /// A container's lock (state transitions).
    pub(crate) fn lock_container(&self, id: &str) -> Result<FileLock> {
        let dir = self.container_dir(id);
        if !dir.exists() {
            return Err(Error::NoSuchContainer(id.to_string()));
        }
        self.lock_waiting(&dir, true)
    }

    /// Takes the lock at `path` (a directory's own when `dir`). A deferred
    /// network teardown holds the network lock, which whoever holds the
    /// store or a container lock may be waiting for (`rm`, `rename` and
    /// `start` take those first): if this one is taken, that teardown is
    /// finished before waiting. Without one pending (every engine but the
    /// monitor's exit command's), a plain wait.
    fn lock_waiting(&self, path: &std::path::Path, dir: bool) -> Result<FileLock> {
        if self.net_deferral().is_some_and(|d| d.pending()) {
            if let Some(l) = FileLock::try_exclusive(path, dir)? {
                return Ok(l);
            }
            for e in crate::network::finish_deferred(self) {
                eprintln!("berth: network teardown: {e}");
            }
        }
        if dir {
            FileLock::directory(path)
        } else {
            FileLock::exclusive(path)
        }
    }

    pub(crate) fn load_names(&self) -> Result<BTreeMap<String, String>> {
        let p = self.names_path();
        if !p.exists() {
            return Ok(BTreeMap::new());
        }
        fsutil::read_json(&p)
    }

    pub(crate) fn save_names(&self, names: &BTreeMap<String, String>) -> Result<()> {
        self.save_names_with(names, Durability::Durable)
    }

    /// Writes the names; `Atomic` when only a `--rm` container's entry changed
    /// (lost on a power loss, the previous durable version remains).
    pub(crate) fn save_names_with(
        &self,
        names: &BTreeMap<String, String>,
        durability: Durability,
    ) -> Result<()> {
        fsutil::write_json_with(&self.names_path(), names, durability)
    }

    /// How the records of container `id` are written (see [`VOLATILE`]).
    pub(crate) fn durability(&self, id: &str) -> Durability {
        if self.container_dir(id).join(VOLATILE).exists() {
            Durability::Atomic
        } else {
            Durability::Durable
        }
    }

    /// Reserves `name` (or a generated one) for `id`; call under the store lock.
    pub(crate) fn reserve_name(
        &self,
        name: Option<&str>,
        id: &str,
        durability: Durability,
    ) -> Result<String> {
        let mut names = self.load_names()?;
        let name = match name {
            Some(n) => {
                let n = validate_name(n)?;
                if let Some(other) = names.get(&n) {
                    if self.container_dir(other).join(CONFIG).exists() {
                        return Err(Error::Conflict(format!(
                            "Conflict. The container name \"/{n}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                        )));
                    }
                }
                n
            }
            None => {
                let mut retry = 0;
                loop {
                    let n = random_name(retry);
                    if !names.contains_key(&n) {
                        break n;
                    }
                    retry += 1;
                }
            }
        };
        names.insert(name.clone(), id.to_string());
        self.save_names_with(&names, durability)?;
        Ok(name)
    }

    /// Ids of every container in the store.
    pub(crate) fn ids(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let rd = std::fs::read_dir(self.containers_dir())
            .map_err(|e| Error::io("cannot read the containers directory", e))?;
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if is_full_id(&n) && e.path().join(CONFIG).exists() {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// Finds a container by full id, name, or unique id prefix (docker's order).
    pub fn lookup(&self, s: &str) -> Result<String> {
        if s.is_empty() {
            return Err(Error::NoSuchContainer(s.to_string()));
        }
        if is_full_id(s) && self.container_dir(s).join(CONFIG).exists() {
            return Ok(s.to_string());
        }
        let name = s.strip_prefix('/').unwrap_or(s);
        if let Some(id) = self.load_names()?.get(name) {
            if self.container_dir(id).join(CONFIG).exists() {
                return Ok(id.clone());
            }
        }
        if s.bytes().all(|b| b.is_ascii_hexdigit()) {
            let lower = s.to_ascii_lowercase();
            let m: Vec<String> = self
                .ids()?
                .into_iter()
                .filter(|i| i.starts_with(&lower))
                .collect();
            match m.len() {
                0 => {}
                1 => return Ok(m[0].clone()),
                _ => {
                    return Err(Error::invalid(format!(
                        "multiple IDs found with provided prefix: {s}"
                    )))
                }
            }
        }
        Err(Error::NoSuchContainer(s.to_string()))
    }

    pub(crate) fn load_config(&self, id: &str) -> Result<Container> {
        let p = self.container_dir(id).join(CONFIG);
        if !p.exists() {
            return Err(Error::NoSuchContainer(id.to_string()));
        }
        fsutil::read_json(&p)
    }

    pub(crate) fn save_config(&self, c: &Container) -> Result<()> {
        let d = Durability::for_container(c.host_config.auto_remove);
        fsutil::write_json_with(&self.container_dir(&c.id).join(CONFIG), c, d)
    }

    pub(crate) fn load_state_raw(&self, id: &str) -> Result<State> {
        let p = self.container_dir(id).join(STATE);
        if !p.exists() {
            if !self.container_dir(id).exists() {
                return Err(Error::NoSuchContainer(id.to_string()));
            }
            return Ok(State::default());
        }
        fsutil::read_json(&p)
    }

    pub(crate) fn save_state(&self, id: &str, st: &State) -> Result<()> {
        fsutil::write_json_with(&self.container_dir(id).join(STATE), st, self.durability(id))
    }

    /// The container's state; a running container whose monitor is gone is
    /// marked exited (with a reason), its processes and mounts cleaned, and
    /// its restart policy applied ([`Engine::monitor_died`]).
    pub fn state(&self, id: &str) -> Result<State> {
        let st = self.load_state_raw(id)?;
        if !st.running() || monitor_alive(&st) {
            return Ok(st);
        }
        self.monitor_died(id, crate::exit::Restarter::Detached)
            .map(|(st, _)| st)
    }

    /// Kills whatever is left of the OCI container, deletes its runtime
    /// state and cgroup, and unmounts the rootfs. Best effort.
    pub(crate) fn release_runtime(&self, id: &str) {
        let rt = crate::ops::runtime_for(self, id);
        rt.delete_force(self, id);
        let _ = crate::sys::unmount(&self.rootfs_path(id));
        self.release_volumes(id);
        // Errors are reported by `system prune`, which retries.
        let _ = crate::network::teardown(self, id);
    }
}

/// Whether the monitor (or whoever applies the restart policy) of a
/// running container lives: its pid with its start time, in this boot.
pub(crate) fn monitor_alive(st: &State) -> bool {
    st.monitor_pid > 0
        && !crate::exit::rebooted(st)
        && oci_runtime::state::process_alive(st.monitor_pid, st.monitor_start_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(validate_name("/web").unwrap(), "web");
        assert!(validate_name("a").is_err());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("x y").is_err());
        assert!(validate_name("ok_name.1-2").is_ok());
        let n = random_name(1);
        assert!(validate_name(&n).is_ok(), "{n}");
    }
}
