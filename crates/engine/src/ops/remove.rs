//! `rm` and the recovery after crashes (`cleanup`).

use crate::container::{Container, Status};
use crate::error::{Context, Error, Result};
use crate::fssys::is_mount_point as is_mounted;
use crate::fsutil::{self, Durability};
use crate::runtime;
use crate::store::{monitor_alive, CONFIG};
use crate::Engine;
use std::time::Duration;

impl Engine {
    /// Kills whatever is left of the OCI container, deletes its runtime
    /// state and cgroup, and unmounts the rootfs. Best effort.
    ///
    /// The one teardown, after an exit, a failed start, `rm` and crash
    /// recovery: every step is attempted, in this order, whatever failed
    /// before; the first failure is returned.
    pub(crate) fn release_runtime(&self, id: &str) -> Result<()> {
        let c = self.load_config(id).ok();
        self.release_runtime_of(id, c.as_ref())
    }

    /// [`Engine::release_runtime`] with the container's record, if
    /// readable, as the caller read it.
    pub(crate) fn release_runtime_of(&self, id: &str, c: Option<&Container>) -> Result<()> {
        let mut first: Option<Error> = None;
        let mut note = |r: Result<()>| {
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        };
        let rt = c.map_or_else(|| runtime::of(None), runtime::for_record);
        rt.delete_force(self, id);
        let rootfs = self.rootfs_path(id);
        note(crate::sys::unmount(&rootfs).ctx(|| format!("unmount {}", rootfs.display())));
        let shm = self.shm_path(id);
        note(crate::fssys::unmount(&shm).ctx(|| format!("unmount {}", shm.display())));
        if let Some(c) = c {
            self.release_volumes(c);
        }
        // `system prune` retries a network teardown that failed.
        if let Some(e) = crate::network::teardown(self, id).into_iter().next() {
            note(Err(Error::msg(format!("network teardown: {e}"))));
        }
        first.map_or(Ok(()), Err)
    }

    /// `rm [-f]`.
    pub fn remove(&self, container: &str, force: bool) -> Result<()> {
        let id = self.lookup(container)?;
        // A container whose records are unreadable is dead: removed as is.
        let st = match self.state(&id) {
            Err(Error::NoSuchContainer(_)) => return Err(Error::NoSuchContainer(container.into())),
            Err(_) => self.readable_state(&id)?,
            Ok(st) => st,
        };
        if st.running() {
            if !force {
                let what = if st.status == Status::Paused {
                    "paused"
                } else {
                    "running"
                };
                return Err(Error::Conflict(format!(
                    "cannot remove container {container}: container is {what}: stop the container before removing or force remove"
                )));
            }
            self.mark_stopped_by_user(&id);
            // (Unreadable: a dead container, still to be killed and removed.)
            let c = self.load_config(&id).ok();
            let rt = c
                .as_ref()
                .map_or_else(|| runtime::of(None), runtime::for_record);
            let signal = libc::SIGKILL.to_string();
            match &c {
                Some(c) => self.log_container(c, "kill", &[("signal", &signal)]),
                None => self.log_container_id(&id, "kill", &[("signal", &signal)]),
            }
            let _ = rt.kill(self, &id, libc::SIGKILL, true);
            let _ = rt.pause(self, &id, false);
            if !self.wait_exit(&id, Some(Duration::from_secs(10))) {
                return Err(Error::msg(format!(
                    "cannot remove container {container}: it did not exit after SIGKILL"
                )));
            }
        }
        self.remove_stopped(&id)
    }

    /// Removes a container that is not running: runtime state, cgroup,
    /// mounts, directory, name. Already gone is fine.
    pub(crate) fn remove_stopped(&self, id: &str) -> Result<()> {
        self.remove_stopped_unless(id, false, None).map(|_| ())
    }

    /// [`Engine::remove_stopped`]; with `pruning`, a container being
    /// created (or started by `run`) stays: false then. A removal killed
    /// half way leaves the container dead (its directory and name kept)
    /// or gone (its directory moved aside, reclaimed later), never in
    /// between. `record`: the container's record as the caller read it
    /// (else read here), for the runtime's teardown and the `destroy`
    /// event.
    pub(crate) fn remove_stopped_unless(
        &self,
        id: &str,
        pruning: bool,
        record: Option<&Container>,
    ) -> Result<bool> {
        let _s = self.lock_store()?;
        let dir = self.container_dir(id);
        if !dir.exists() {
            return Ok(!pruning);
        }
        if pruning && self.being_created(id) {
            return Ok(false);
        }
        let durability = self.durability(id);
        let trash = {
            let _c = self.lock_container(id)?;
            // (Unreadable: a dead container.)
            let st = self.load_state_raw(id).unwrap_or_default();
            if st.running() && monitor_alive(&st) {
                return Err(Error::Conflict(format!(
                    "container {} is running",
                    fsutil::short_id(id)
                )));
            }
            if self.start_in_progress(id) {
                if pruning {
                    return Ok(false);
                }
                return Err(Error::Conflict(format!(
                    "container {} is being started by its monitor; try again",
                    fsutil::short_id(id)
                )));
            }
            // (A --rm container's records are not kept over a crash.)
            if durability == Durability::Durable {
                let mut st2 = st.clone();
                st2.status = Status::Removing;
                let _ = self.save_state(id, &st2);
            }
            let loaded;
            let record = match record {
                Some(c) => Some(c),
                None => {
                    loaded = self.load_config(id).ok();
                    loaded.as_ref()
                }
            };
            // What is left mounted is checked next.
            let _ = self.release_runtime_of(id, record);
            // Neither mount may go aside with the directory (one read of
            // the mount table for both).
            let mounts = [self.rootfs_path(id), self.shm_path(id)];
            if let Some(m) = crate::fssys::first_mounted(&mounts) {
                return Err(Error::msg(format!(
                    "cannot remove container {}: {} is still mounted",
                    fsutil::short_id(id),
                    m.display()
                )));
            }
            // From here the container is gone, whatever happens to us.
            let trash = self.retire_dir(id)?;
            if let Some(c) = record {
                self.log_container(c, "destroy", &[]);
            }
            trash
        };
        let mut names = self.load_names()?;
        let before = names.len();
        names.retain(|_, v| v != id);
        if names.len() != before {
            self.save_names_with(&names, durability)?;
        }
        match self.net_deferral() {
            // the monitor's exit command: after the clients have the code
            Some(d) => d.defer_removal(trash),
            None => std::fs::remove_dir_all(&trash)
                .ctx(|| format!("cannot remove {}", trash.display()))?,
        }
        Ok(true)
    }

    /// Whether a monitor is starting the container (call with its lock
    /// held, the state not running): a start whose caller was killed goes
    /// on in the monitor it launched, without the lock. Its mounted rootfs
    /// and network are then no leftovers.
    pub(crate) fn start_in_progress(&self, id: &str) -> bool {
        is_mounted(&self.rootfs_path(id)) && crate::store::monitor_process(id)
    }

    /// Recovers after crashes: containers whose monitor died are marked
    /// exited, rootfs mounts of containers not running are unmounted,
    /// half-created directories and dangling names are removed. Returns
    /// the ids it changed.
    pub fn cleanup(&self) -> Result<Vec<String>> {
        let mut changed = Vec::new();
        for id in self.ids()? {
            // Gone meanwhile, or unreadable (dead, for `rm` and prune).
            let (Ok(before), Ok(st)) = (self.load_state_raw(&id), self.state(&id)) else {
                continue;
            };
            if st.running() {
                continue;
            }
            let rootfs = self.rootfs_path(&id);
            let mounted = is_mounted(&rootfs);
            let rt_state = self.run_root().join(&id).exists();
            if !(mounted || rt_state || before.status != st.status) {
                continue;
            }
            // A start (and a create filling volumes) holds the container
            // lock while the rootfs is mounted and the container not yet
            // running: not a leftover. Checked again under it.
            let Ok(_l) = self.lock_container(&id) else {
                continue;
            };
            if self.load_state_raw(&id).is_ok_and(|s| !s.running()) && !self.start_in_progress(&id)
            {
                // Best effort: what failed is retried by the next prune.
                let _ = self.release_runtime(&id);
                changed.push(id);
            }
        }
        let _s = self.lock_store()?;
        changed.extend(self.reclaim_leftovers());
        // The names are written under the store lock: a temp file of
        // theirs is what a killed writer left.
        if let Ok(rd) = std::fs::read_dir(&self.root) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(".container-names.json.tmp-")
                    && std::fs::remove_file(e.path()).is_ok()
                {
                    changed.push(n);
                }
            }
        }
        let mut names = self.load_names()?;
        let before = names.len();
        names.retain(|_, id| self.container_dir(id).join(CONFIG).exists());
        if names.len() != before {
            self.save_names(&names)?;
        }
        drop(_s);
        changed.extend(self.cleanup_volumes()?);
        Ok(changed)
    }
}
