//! What happens when a container's process exits: the exit is recorded,
//! the runtime torn down ([`Engine::release_runtime`], the one teardown
//! path: OCI delete, cgroup, rootfs unmount), `--rm` containers removed,
//! and `--restart` policies applied with docker's backoff.

use crate::container::{RestartPolicy, State, Status};
use crate::error::Result;
use crate::{timeutil, Engine};
use std::time::Duration;

/// Whether the policy restarts after `code`.
pub(crate) fn wants_restart(p: &RestartPolicy, st: &State, code: i32) -> bool {
    if st.stopped_by_user {
        return false;
    }
    match p.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            code != 0
                && (p.maximum_retry_count <= 0 || (st.restart_count as i64) < p.maximum_retry_count)
        }
        _ => false,
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

fn oom_killed(id: &str) -> bool {
    let files = [
        format!("/sys/fs/cgroup/memory/berth/{id}/memory.oom_control"),
        format!("/sys/fs/cgroup/berth/{id}/memory.events"),
        format!("/sys/fs/cgroup/memory/{id}/memory.oom_control"),
        format!("/sys/fs/cgroup/{id}/memory.events"),
    ];
    files.iter().any(|f| {
        std::fs::read_to_string(f)
            .map(|s| {
                s.lines().any(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .is_some_and(|n| n > 0)
                })
            })
            .unwrap_or(false)
    })
}

impl Engine {
    /// The container's init exited with `code` (the monitor's exit
    /// command, `berth internal cleanup`): records it in state.json, tears
    /// the runtime down, removes a `--rm` container. Returns whether the
    /// restart policy wants it started again (state `restarting`).
    pub fn container_exited(&self, id: &str, code: i32, finished_at: &str) -> Result<bool> {
        let c = self.load_config(id)?;
        let oom = oom_killed(id);
        let restart = {
            let _lock = self.lock_container(id)?;
            // Cgroup and mounts go first: once state.json says exited, they are gone.
            self.release_runtime(id);
            let mut st = self.load_state_raw(id).unwrap_or_default();
            let restart = !c.host_config.auto_remove
                && wants_restart(&c.host_config.restart_policy, &st, code);
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
            self.save_state(id, &st)?;
            restart
        };
        if c.host_config.auto_remove {
            self.remove_auto(id)?;
        }
        Ok(restart)
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
            } else {
                st.status = Status::Exited;
                st.monitor_pid = 0;
            }
            self.save_state(id, &st)?;
            if !go {
                return Ok(());
            }
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
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: max,
        }
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
