//! What happens when a container's process exits: the exit is recorded,
//! the runtime torn down ([`Engine::release_runtime`], the one teardown
//! path: OCI delete, cgroup, rootfs unmount), `--rm` containers removed,
//! and `--restart` policies applied with docker's backoff. A monitor found
//! dead by a later command ([`Engine::monitor_died`]) and `system boot`
//! ([`Engine::boot`]) go through the same record and restart.

use crate::container::{Container, RestartPolicy, State, Status};
use crate::error::{Error, Result};
use crate::fsutil::{self, FileLock};
use crate::store::{monitor_alive, rebooted, STATE};
use crate::{sys, timeutil, Engine};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Whether the policy restarts after `code`.
pub(crate) fn wants_restart(p: &RestartPolicy, st: &State, code: i32) -> bool {
    if st.stopped_by_user {
        return false;
    }
    match *p {
        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        RestartPolicy::OnFailure(max) => code != 0 && (max <= 0 || (st.restart_count as i64) < max),
        RestartPolicy::No => false,
    }
}

/// Docker's backoff: 100 ms doubling per restart, back to 100 ms after a
/// run of 10 s or more; at most a minute.
pub(crate) fn backoff(restart_count: u32, ran: Duration) -> Duration {
    if ran >= Duration::from_secs(10) {
        return Duration::from_millis(100);
    }
    let ms = 100u64 << restart_count.min(10);
    Duration::from_millis(ms.min(60_000))
}

/// Whether the OOM killer killed a process of the container's cgroup
/// (read before the teardown removes it).
fn oom_killed(e: &Engine, id: &str) -> bool {
    e.cgroup(id)
        .ok()
        .and_then(|cg| cg.oom_kills().ok())
        .is_some_and(|n| n > 0)
}

/// Who applies the restart policy of a container whose monitor was found
/// dead ([`Engine::monitor_died`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restarter {
    /// A detached `berth internal restart ID`: a command that only reads
    /// the store (`ps`, `inspect`) does not wait for the backoff and start.
    Detached,
    /// The caller (`system boot`), which then calls
    /// [`Engine::restart_after_exit`] itself.
    Inline,
}

/// The monitor's record of the exit (written atomically before cleanup).
pub(crate) const EXIT_FILE: &str = "exit";

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ExitRecord {
    pub exit_code: i32,
    pub finished_at: String,
}

pub(crate) fn read_exit(engine: &Engine, id: &str) -> Option<ExitRecord> {
    fsutil::read_json(&engine.container_dir(id).join(EXIT_FILE)).ok()
}

impl Engine {
    /// The container's state; a running container whose monitor is gone is
    /// marked exited (with a reason), its processes and mounts cleaned, and
    /// its restart policy applied ([`Engine::monitor_died`]).
    pub fn state(&self, id: &str) -> Result<State> {
        let st = self.load_state_raw(id)?;
        if st.status == Status::Removing {
            return self.removal_state(id, st);
        }
        if !st.running() || monitor_alive(&st) {
            return Ok(st);
        }
        self.monitor_died(id, crate::exit::Restarter::Detached)
            .map(|(st, _)| st)
    }

    /// A container read "Removing": while the process removing it lives it
    /// holds the container lock; once that process is gone (killed), the
    /// container is dead, as docker marks a removal that failed, and `rm`
    /// removes it.
    fn removal_state(&self, id: &str, st: State) -> Result<State> {
        let dir = self.container_dir(id);
        let Some(_l) = FileLock::try_exclusive(&dir, true).map_err(|e| {
            if dir.exists() {
                e.into()
            } else {
                Error::NoSuchContainer(id.to_string())
            }
        })?
        else {
            return Ok(st);
        };
        let mut st = self.load_state_raw(id)?;
        if st.status != Status::Removing {
            return Ok(st);
        }
        st.status = Status::Dead;
        st.error = "the removal of the container was interrupted (the process removing it died); remove it again".into();
        st.pid = 0;
        st.monitor_pid = 0;
        self.save_state(id, &st)?;
        Ok(st)
    }

    /// The state of a container whose records cannot be read (a truncated
    /// `config.v2.json` or `state.json`): dead, with the reason. Whether
    /// `id` is there at all is checked: `NoSuchContainer` otherwise.
    pub(crate) fn readable_state(&self, id: &str) -> Result<State> {
        let problem = match self.load_config(id) {
            Err(e @ Error::NoSuchContainer(_)) => return Err(e),
            Err(e) => e,
            Ok(_) => match self.state(id) {
                Err(e @ Error::NoSuchContainer(_)) => return Err(e),
                Err(e) if self.container_dir(id).join(STATE).exists() => e,
                r => return r,
            },
        };
        Ok(State {
            status: Status::Dead,
            error: format!("its record is unreadable: {problem}"),
            ..State::default()
        })
    }

    /// The container's init exited with `code` (the monitor's exit
    /// command, `berth internal cleanup`): records it in state.json, tears
    /// the runtime down, removes a `--rm` container. Returns whether the
    /// restart policy wants it started again (state `restarting`).
    pub fn container_exited(&self, id: &str, code: i32, finished_at: &str) -> Result<bool> {
        let c = self.load_config(id)?;
        let oom = oom_killed(self, id);
        let restart = {
            let _lock = self.lock_container(id)?;
            // Cgroup and mounts go first: once state.json says exited, they
            // are gone (as far as they can be: `rm` and prune retry).
            let _ = self.release_runtime_of(id, Some(&c));
            let mut st = self.load_state_raw(id).unwrap_or_default();
            self.record_exit(&c, &mut st, code, finished_at, oom)?
        };
        if c.host_config.auto_remove {
            self.remove_auto(&c)?;
        }
        Ok(restart)
    }

    /// Records the end of a run in `st` and saves it (under the
    /// container's lock, the runtime released): the one place where the
    /// restart policy is decided, for an exit the monitor saw and for a
    /// monitor found dead. Whether the policy restarts it.
    fn record_exit(
        &self,
        c: &Container,
        st: &mut State,
        code: i32,
        finished_at: &str,
        oom: bool,
    ) -> Result<bool> {
        let restart =
            !c.host_config.auto_remove && wants_restart(&c.host_config.restart_policy, st, code);
        st.status = if restart {
            Status::Restarting
        } else {
            Status::Exited
        };
        st.exit_code = code;
        st.exits += 1;
        st.last_exit_code = code;
        st.oom_killed = oom;
        st.pid = 0;
        if !restart {
            st.monitor_pid = 0;
        }
        st.finished_at = if finished_at.is_empty() {
            timeutil::now()
        } else {
            finished_at.to_string()
        };
        // docker's `oom`, then `die` with the exit code and the run's
        // length in whole seconds; before the state says exited, so that
        // `stop` (which waits for it) logs its `stop` after the `die`.
        if oom {
            self.log_container(c, "oom", &[]);
        }
        let ran = timeutil::parse(&st.started_at)
            .zip(timeutil::parse(&st.finished_at))
            .and_then(|(s, f)| f.duration_since(s).ok())
            .unwrap_or_default();
        self.log_container(
            c,
            "die",
            &[
                ("exitCode", &code.to_string()),
                ("execDuration", &ran.as_secs().to_string()),
            ],
        );
        self.save_state(&c.id, st)?;
        Ok(restart)
    }

    /// A running (or restarting) container whose monitor is gone: killed,
    /// or the machine restarted. Without a daemon, whichever command finds
    /// it first does what the monitor's exit command would have done: the
    /// run is recorded as ended, the runtime released (processes, cgroup,
    /// mounts, network), and the restart policy applied through the same
    /// [`Engine::record_exit`] and [`Engine::restart_after_exit`], by
    /// `who`. The container's processes may outlive the monitor (it is
    /// their subreaper, not their parent's parent): as containerd does
    /// when a shim dies, they are killed and the run ends with 137, since
    /// nothing is left to log their output, relay attach streams or
    /// collect their exit. Returns the state and, with
    /// [`Restarter::Inline`], whether the caller is to restart it.
    pub(crate) fn monitor_died(&self, id: &str, who: Restarter) -> Result<(State, bool)> {
        let c = self.load_config(id)?;
        let _lock = self.lock_container(id)?;
        let mut st = self.load_state_raw(id)?;
        // A run whose starter (a restarter, or `start`) was killed goes on
        // in the monitor it launched: alive, not to be applied again.
        if !st.running() || monitor_alive(&st) || self.start_in_progress(id) {
            return Ok((st, false));
        }
        let restart = if st.status == Status::Restarting {
            // The exit is recorded; whoever was applying the policy died
            // during the backoff: apply it again.
            !st.stopped_by_user
        } else {
            let rebooted = rebooted(&st);
            let killed =
                !rebooted && st.pid > 0 && berth_util::proc::alive(st.pid, st.pid_start_time);
            let oom = oom_killed(self, id);
            let _ = self.release_runtime_of(id, Some(&c));
            // The monitor may have recorded the exit before it died.
            let rec = (!killed).then(|| read_exit(self, id)).flatten();
            let (code, finished_at) = match rec {
                Some(r) => (r.exit_code, r.finished_at),
                None if killed => (137, String::new()),
                None => (255, String::new()),
            };
            st.error = if rebooted {
                "the machine restarted while the container ran".to_string()
            } else {
                format!(
                    "the container's monitor (pid {}) exited unexpectedly{}",
                    st.monitor_pid,
                    if killed {
                        "; the container was killed"
                    } else {
                        ""
                    }
                )
            };
            self.record_exit(&c, &mut st, code, &finished_at, oom)?
        };
        if !restart {
            if st.status == Status::Restarting {
                st.status = Status::Exited;
                st.monitor_pid = 0;
                self.save_state(id, &st)?;
            }
            return Ok((st, false));
        }
        // The process applying the policy stands for the monitor meanwhile:
        // should it die too, the next command finds it and applies it again.
        let applier = match who {
            Restarter::Inline => Ok(std::process::id() as i32),
            Restarter::Detached => self.spawn_restarter(id),
        }
        .and_then(|pid| {
            berth_util::proc::stat(pid)
                .map(|(_, start)| (pid, start))
                .ok_or_else(|| Error::msg(format!("the restarter (pid {pid}) exited at once")))
        });
        match applier {
            Ok((pid, start)) => {
                st.monitor_pid = pid;
                st.monitor_start_time = start;
                st.boot_id = image::boot_id().to_string();
            }
            Err(e) => {
                st.status = Status::Exited;
                st.monitor_pid = 0;
                st.error = format!("cannot apply the restart policy: {e}");
            }
        }
        self.save_state(id, &st)?;
        let inline = who == Restarter::Inline && st.status == Status::Restarting;
        Ok((st, inline))
    }

    /// Starts `berth internal restart ID` as a daemon (its own session,
    /// stdio on /dev/null, no descriptor of ours); its pid.
    fn spawn_restarter(&self, id: &str) -> Result<i32> {
        let exe = self.helper_exe().ok_or_else(|| {
            Error::msg("cannot find the berth executable to restart the container")
        })?;
        let args: Vec<String> = vec![
            "berth".into(),
            "internal".into(),
            "restart".into(),
            "--root".into(),
            self.root().to_string_lossy().into_owned(),
            "--run-root".into(),
            self.run_root().to_string_lossy().into_owned(),
            id.to_string(),
        ];
        let (r, w) = sys::pipe().map_err(|e| Error::io("pipe", e))?;
        match sys::fork().map_err(|e| Error::io("fork", e))? {
            sys::Forked::Child => {
                sys::close_fds_except(&[w.as_raw_fd()]);
                let _ = sys::setsid();
                if let Ok(sys::Forked::Child) = sys::fork() {
                    sys::stdio_to_dev_null();
                    let pid = std::process::id() as i32;
                    let _ = nix::unistd::write(&w, &pid.to_ne_bytes());
                    // The pipe is close-on-exec.
                    let _ = sys::execv(exe, &args);
                    sys::exit_now(127)
                }
                sys::exit_now(0)
            }
            sys::Forked::Parent(pid) => {
                drop(w);
                let _ = sys::waitpid(pid, false);
                let mut b = [0u8; 4];
                std::fs::File::from(r)
                    .read_exact(&mut b)
                    .map_err(|e| Error::io("cannot start the restarter", e))?;
                Ok(i32::from_ne_bytes(b))
            }
        }
    }

    /// `system boot` (once per boot, from contrib/systemd/berth-boot.service,
    /// as podman-restart.service): every container that was running when the
    /// machine went down (or whose monitor died since) has its run recorded
    /// as ended and its restart policy applied (`always`, `unless-stopped`;
    /// `on-failure` too, as docker's daemon does: such a run ends with 255),
    /// here and now. The ids started again, and the errors.
    pub fn boot(&self) -> Result<(Vec<String>, Vec<Error>)> {
        let mut started = Vec::new();
        let mut errors = Vec::new();
        for id in self.ids()? {
            let r = (|| -> Result<bool> {
                let st = self.load_state_raw(&id)?;
                if !st.running() || monitor_alive(&st) {
                    return Ok(false);
                }
                let (_, restart) = self.monitor_died(&id, Restarter::Inline)?;
                if restart {
                    self.restart_after_exit(&id)?;
                }
                Ok(restart && self.load_state_raw(&id)?.status == Status::Running)
            })();
            match r {
                Ok(true) => started.push(id),
                Ok(false) => {}
                Err(e) => errors.push(Error::msg(format!(
                    "container {}: {e}",
                    crate::fsutil::short_id(&id)
                ))),
            }
        }
        Ok((started, errors))
    }

    /// Waits the backoff, then starts the container again unless `stop`
    /// (or `rm -f`) marked it meanwhile.
    pub fn restart_after_exit(&self, id: &str) -> Result<()> {
        let st = self.load_state_raw(id)?;
        let ran = timeutil::parse(&st.finished_at)
            .zip(timeutil::parse(&st.started_at))
            .and_then(|(f, s)| f.duration_since(s).ok())
            .unwrap_or_default();
        let delay = backoff(st.restart_count, ran);
        let t = std::time::Instant::now();
        loop {
            let st = self.load_state_raw(id)?;
            if st.stopped_by_user || st.status != Status::Restarting {
                break;
            }
            if t.elapsed() >= delay {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        {
            let _lock = self.lock_container(id)?;
            let mut st = self.load_state_raw(id)?;
            let go = !st.stopped_by_user && st.status == Status::Restarting;
            if go {
                // Still "Restarting" (as docker shows it) until the new
                // run's monitor records it running.
                st.restart_count += 1;
            } else if st.status == Status::Restarting {
                // Stopped by the user during the backoff. (Any other status:
                // another run started meanwhile, and it is not ours to end.)
                st.status = Status::Exited;
                st.monitor_pid = 0;
            }
            if !go {
                if st.status == Status::Exited {
                    self.save_state(id, &st)?;
                }
                return Ok(());
            }
            self.save_state(id, &st)?;
        }
        if self.start_as(id, None, true)? == 0 {
            // A stop came between: that run did not happen.
            let _lock = self.lock_container(id)?;
            let mut st = self.load_state_raw(id)?;
            st.restart_count = st.restart_count.saturating_sub(1);
            if st.status == Status::Restarting {
                st.status = Status::Exited;
                st.monitor_pid = 0;
            }
            self.save_state(id, &st)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pol(name: &str, max: i64) -> RestartPolicy {
        serde_json::from_value(serde_json::json!({"Name": name, "MaximumRetryCount": max})).unwrap()
    }

    #[test]
    fn policies() {
        let mut st = State::default();
        assert!(!wants_restart(&pol("no", 0), &st, 1));
        assert!(wants_restart(&pol("always", 0), &st, 0));
        assert!(wants_restart(&pol("unless-stopped", 0), &st, 0));
        assert!(!wants_restart(&pol("on-failure", 2), &st, 0));
        assert!(wants_restart(&pol("on-failure", 2), &st, 1));
        st.restart_count = 2;
        assert!(!wants_restart(&pol("on-failure", 2), &st, 1));
        assert!(wants_restart(&pol("on-failure", 0), &st, 1));
        st.stopped_by_user = true;
        assert!(!wants_restart(&pol("always", 0), &st, 0));
    }

    #[test]
    fn a_monitor_of_another_boot_is_dead() {
        let mut st = State::default();
        // Recorded before boot ids were: the pid and start time decide.
        assert!(!rebooted(&st));
        let me = std::process::id() as i32;
        st.monitor_pid = me;
        st.monitor_start_time = berth_util::proc::stat(me).unwrap().1;
        assert!(monitor_alive(&st));
        st.boot_id = image::boot_id().to_string();
        assert!(!rebooted(&st) && monitor_alive(&st));
        // Another boot: whatever process has the pid now, it is not the monitor.
        st.boot_id = "00000000-0000-0000-0000-000000000000".into();
        assert!(rebooted(&st) && !monitor_alive(&st));
    }

    #[test]
    fn backoff_doubles_and_resets() {
        let short = Duration::from_secs(1);
        assert_eq!(backoff(0, short), Duration::from_millis(100));
        assert_eq!(backoff(1, short), Duration::from_millis(200));
        assert_eq!(backoff(3, short), Duration::from_millis(800));
        assert_eq!(backoff(20, short), Duration::from_secs(60));
        assert_eq!(
            backoff(5, Duration::from_secs(11)),
            Duration::from_millis(100)
        );
    }
}
