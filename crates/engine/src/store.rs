//! The container store: records, names, lookup, state, liveness of monitors.

use crate::container::{Container, State};
use crate::error::{Context, Error, Result};
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
/// Locked (flock) by the process creating the container, from the moment
/// its directory exists until `create` returns (or, for `run`, until it
/// has started): such a container is never pruned.
const CREATE_LOCK: &str = "create.lock";
/// A removed container's directory is renamed to `.rm-<id>-<pid>` before it is
/// deleted, so a removal killed half way leaves no half container.
const TRASH_PREFIX: &str = ".rm-";

/// Held while a container is being created (see [`CREATE_LOCK`]).
#[derive(Debug)]
pub(crate) struct CreateGuard {
    _lock: FileLock,
}

pub(crate) fn is_full_id(s: &str) -> bool {
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

    fn store_lock_path(&self) -> PathBuf {
        self.root.join("containers.lock")
    }

    /// The store-wide lock (names, creation, removal).
    pub(crate) fn lock_store(&self) -> Result<FileLock> {
        self.lock_waiting(&self.store_lock_path(), false)
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
            for e in self.net_deferral().map(|d| d.finish()).unwrap_or_default() {
                eprintln!("berth: network teardown: {e}");
            }
        }
        Ok(if dir {
            FileLock::directory(path)?
        } else {
            FileLock::exclusive(path)?
        })
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

    /// Ids of every container in the store. What killed processes left
    /// (directories without a record: a create or a removal that did not
    /// finish) is reclaimed on the way when the store lock is free.
    pub(crate) fn ids(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut leftovers = false;
        let rd = std::fs::read_dir(self.containers_dir())
            .map_err(|e| Error::io("cannot read the containers directory", e))?;
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if is_full_id(&n) && e.path().join(CONFIG).exists() {
                out.push(n);
            } else if is_leftover_name(&n) {
                leftovers = true;
            }
        }
        if leftovers {
            // Without waiting: the holder may be this very process.
            if let Ok(Some(_s)) = FileLock::try_exclusive(&self.store_lock_path(), false) {
                self.reclaim_leftovers();
            }
        }
        Ok(out)
    }

    /// Removes the container directories that have no record: creation and
    /// removal both run under the store lock (held by the caller) and write
    /// the record first (removal: moves the directory aside first), so
    /// these are what a killed `create` or `rm` left. Returns their names.
    pub(crate) fn reclaim_leftovers(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(self.containers_dir()) else {
            return out;
        };
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let p = e.path();
            if !is_leftover_name(&n) || !p.is_dir() || p.join(CONFIG).exists() {
                continue;
            }
            let rootfs = p.join("rootfs");
            let _ = crate::sys::unmount(&rootfs);
            if crate::fssys::is_mount_point(&rootfs) {
                continue;
            }
            if std::fs::remove_dir_all(&p).is_ok() {
                out.push(n);
            }
        }
        out
    }

    /// Marks container `id` (its directory just made, under the store
    /// lock) as being created until the guard is dropped.
    pub(crate) fn creating(&self, id: &str) -> Result<CreateGuard> {
        Ok(CreateGuard {
            _lock: FileLock::exclusive(&self.container_dir(id).join(CREATE_LOCK))?,
        })
    }

    /// Whether a live process is still creating (or, for `run`, starting)
    /// the container.
    pub(crate) fn being_created(&self, id: &str) -> bool {
        // (Opened without creating it: containers of older versions have none.)
        matches!(
            FileLock::try_exclusive(&self.container_dir(id).join(CREATE_LOCK), true),
            Ok(None)
        )
    }

    /// Moves the directory of container `id` out of sight (call under the
    /// store and container locks): from here on it does not exist, and
    /// what is left of it is reclaimed should this process die.
    pub(crate) fn retire_dir(&self, id: &str) -> Result<PathBuf> {
        let dir = self.container_dir(id);
        let trash = self
            .containers_dir()
            .join(format!("{TRASH_PREFIX}{id}-{}", std::process::id()));
        std::fs::rename(&dir, &trash).ctx(|| format!("cannot remove {}", dir.display()))?;
        Ok(trash)
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
        let d = fsutil::container_durability(c.host_config.auto_remove);
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
}

/// Whether a monitor of container `id` (a process other than this one
/// whose arguments hold `--id ID`) lives. A start whose caller was killed
/// goes on in the monitor it launched, without the container lock: until
/// it ends, the container's mounted rootfs is no leftover.
pub(crate) fn monitor_process(id: &str) -> bool {
    let me = std::process::id().to_string();
    let needle = [b"--id\0".as_slice(), id.as_bytes(), b"\0"].concat();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return false;
    };
    rd.flatten().any(|e| {
        use std::os::unix::fs::MetadataExt;
        let n = e.file_name();
        let n = n.to_string_lossy();
        // Root's berth-monitor only: a host user's process with the same
        // words in its command line must not stand for it.
        n.bytes().all(|b| b.is_ascii_digit())
            && n != me
            && std::fs::metadata(e.path()).is_ok_and(|m| m.uid() == 0)
            && std::fs::read_link(e.path().join("exe"))
                .is_ok_and(|x| x.file_name().is_some_and(|f| f == "berth-monitor"))
            && std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| c.windows(needle.len()).any(|w| w == needle))
    })
}

/// A directory in `containers/` a container's files may be left in.
fn is_leftover_name(n: &str) -> bool {
    is_full_id(n) || n.starts_with(TRASH_PREFIX)
}

/// Whether the state was recorded in an earlier boot of the machine: its
/// monitor died with it, whatever process now has the pid.
pub(crate) fn rebooted(st: &State) -> bool {
    !st.boot_id.is_empty() && st.boot_id != image::boot_id()
}

/// Whether the monitor (or whoever applies the restart policy) of a
/// running container lives: its pid with its start time, in this boot.
pub(crate) fn monitor_alive(st: &State) -> bool {
    st.monitor_pid > 0
        && !rebooted(st)
        && berth_util::proc::alive(st.monitor_pid, st.monitor_start_time)
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
