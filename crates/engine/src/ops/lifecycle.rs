//! start, stop, kill, wait, pause, unpause, rename.

use crate::container::{State, Status};
use crate::error::{Error, Result};
use crate::monitor::{self, Launch};
use crate::runtime;
use crate::store::{monitor_alive, CONFIG};
use crate::{fsutil, timeutil, Engine};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// Whether a start or stop changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    Done,
    /// It was running (start) or not running (stop) already.
    Already,
}

/// docker's `wait` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    #[default]
    NotRunning,
    NextExit,
    Removed,
}

impl std::str::FromStr for WaitCondition {
    type Err = Error;

    /// docker's names (`""` is `not-running`).
    fn from_str(s: &str) -> Result<WaitCondition> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            _ => Err(Error::flag(
                "condition",
                s,
                "expected not-running, next-exit or removed",
            )),
        }
    }
}

impl Engine {
    pub(crate) fn start_inner(&self, id: &str, attach: Option<OwnedFd>) -> Result<i32> {
        self.start_as(id, attach, false)
    }

    /// Starts the container; `policy` is a restart policy's start, which a
    /// `stop` (or `rm -f`) since the exit cancels. A user's start clears
    /// that mark. Returns the init pid (0 when cancelled).
    pub(crate) fn start_as(&self, id: &str, attach: Option<OwnedFd>, policy: bool) -> Result<i32> {
        // A restart policy's start finds the container "Restarting".
        let restarting = |st: &State| policy && st.status == Status::Restarting;
        let st = self.state(id)?;
        if st.running() && !restarting(&st) {
            if st.status == Status::Paused {
                return Err(Error::Conflict(
                    "cannot start a paused container, try unpause instead".into(),
                ));
            }
            return Ok(st.pid);
        }
        let c = self.load_config(id)?;
        let lock = self.lock_container(id)?;
        let mut st = self.load_state_raw(id)?;
        if st.running() && monitor_alive(&st) && !restarting(&st) {
            return Ok(st.pid);
        }
        if st.stopped_by_user {
            if policy {
                return Ok(0);
            }
            st.stopped_by_user = false;
            self.save_state(id, &st)?;
        }
        // A start whose caller was killed goes on in its monitor: not a
        // leftover to delete, and not to start twice.
        if self.start_in_progress(id) {
            return Err(Error::Conflict(format!(
                "container {} is being started by its monitor",
                crate::fsutil::short_id(id)
            )));
        }
        let log_args = self.monitor_log_args(&c)?;
        // Leftovers of an earlier run.
        runtime::for_record(&c).delete_force(self, id);
        let ms = |d: std::time::Duration| d.as_millis().max(1) as u64;
        let (health_ms, health_start_ms) = match crate::health::intervals_of(&c) {
            Some((every, start)) => (ms(every), start.map_or(0, ms)),
            None => (0, 0),
        };
        let launch = Launch {
            id: id.to_string(),
            stdin: c.config.open_stdin,
            tty: c.config.tty,
            volatile: c.host_config.auto_remove,
            health_ms,
            health_start_ms,
            log_args,
        };
        // Volumes with mount options are mounted once the rootfs is up.
        let started = self
            .mount_rootfs(&c)
            .and_then(|()| self.mount_shareable_shm(&c))
            .and_then(|()| self.populate_volumes(&c, false))
            .and_then(|()| crate::network::setup(self, &c).map(|_| ()))
            .and_then(|()| monitor::spawn(self, &launch, attach));
        let e = match started {
            Ok(pid) => {
                self.log_container(&c, "start", &[]);
                return Ok(pid);
            }
            Err(e) => e,
        };
        // Whatever step failed, the one teardown undoes them all.
        let teardown = self.release_runtime_of(id, Some(&c));
        let mut st = self.load_state_raw(id).unwrap_or_default();
        st.status = if st.started_at == timeutil::ZERO_TIME {
            Status::Created
        } else {
            Status::Exited
        };
        st.exit_code = match e.exit_code() {
            126 => 126,
            127 => 127,
            _ => 128,
        };
        st.error = match teardown {
            Ok(()) => e.to_string(),
            Err(t) => format!("{e} (and cleaning up: {t})"),
        };
        st.pid = 0;
        st.monitor_pid = 0;
        let _ = self.save_state(id, &st);
        drop(lock);
        if c.host_config.auto_remove {
            let _ = self.remove_auto(&c);
        }
        Err(e)
    }

    /// `start` (detached): returns once the container's process runs.
    pub fn start(&self, container: &str) -> Result<()> {
        let id = self.lookup(container)?;
        self.start_inner(&id, None).map(|_| ())
    }

    /// [`Engine::start`], telling whether it was running already (docker's
    /// API answers 304 Not Modified then).
    pub fn start_changed(&self, container: &str) -> Result<Changed> {
        let id = self.lookup(container)?;
        let st = self.state(&id)?;
        if st.running() && st.status != Status::Paused {
            return Ok(Changed::Already);
        }
        self.start_inner(&id, None).map(|_| Changed::Done)
    }

    /// Waits until the container is not running; false on timeout.
    pub(crate) fn wait_exit(&self, id: &str, timeout: Option<Duration>) -> bool {
        let t = Instant::now();
        loop {
            match self.state(id) {
                Ok(st) if st.running() => {}
                _ => return true,
            }
            if timeout.is_some_and(|d| t.elapsed() >= d) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(crate) fn mark_stopped_by_user(&self, id: &str) {
        if let Ok(_l) = self.lock_container(id) {
            if let Ok(mut st) = self.load_state_raw(id) {
                st.stopped_by_user = true;
                let _ = self.save_state(id, &st);
            }
        }
    }

    /// `stop`: the stop signal, then SIGKILL after `timeout` seconds
    /// (default: the container's `--stop-timeout`, else 10; -1 waits forever).
    pub fn stop(&self, container: &str, timeout: Option<i64>) -> Result<()> {
        self.stop_with(container, timeout, None).map(|_| ())
    }

    /// [`Engine::stop`] with a signal other than the container's stop
    /// signal (docker's `stop --signal`), telling whether it was running
    /// (docker's API answers 304 Not Modified when it was not).
    pub fn stop_with(
        &self,
        container: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<Changed> {
        let id = self.lookup(container)?;
        let signal = signal
            .map(|s| crate::options::parse_signal("--signal", s))
            .transpose()?;
        // First, so a restart policy between two runs does not start it again.
        self.mark_stopped_by_user(&id);
        let st = self.state(&id)?;
        if !st.running() {
            return Ok(Changed::Already);
        }
        let c = self.load_config(&id)?;
        let sig = match (signal, &c.config.stop_signal) {
            (Some(s), _) => s,
            (None, Some(s)) => crate::options::parse_signal("--stop-signal", s)?,
            (None, None) => libc::SIGTERM,
        };
        let t = timeout.or(c.config.stop_timeout).unwrap_or(10);
        let rt = runtime::for_container(self, &id);
        // docker's sequence: kill (the stop signal), die, stop.
        self.log_container(&c, "kill", &[("signal", &sig.to_string())]);
        let _ = rt.kill(self, &id, sig, false);
        if st.status == Status::Paused {
            let _ = rt.pause(self, &id, false);
        }
        let limit = (t >= 0).then(|| Duration::from_secs(t as u64));
        if self.wait_exit(&id, limit) {
            self.log_container(&c, "stop", &[]);
            return Ok(Changed::Done);
        }
        self.log_container(&c, "kill", &[("signal", &libc::SIGKILL.to_string())]);
        let _ = rt.kill(self, &id, libc::SIGKILL, true);
        if self.wait_exit(&id, Some(Duration::from_secs(30))) {
            self.log_container(&c, "stop", &[]);
            return Ok(Changed::Done);
        }
        Err(Error::msg(format!(
            "cannot stop container {}: it did not exit after SIGKILL",
            fsutil::short_id(&id)
        )))
    }

    /// `restart`: stops the container if it runs (as [`Engine::stop`], with
    /// its timeout), then starts it; docker's `restart` event after them. A
    /// user's restart is not a restart policy's: `RestartCount` stays.
    pub fn restart(&self, container: &str, timeout: Option<i64>) -> Result<()> {
        self.stop(container, timeout)?;
        self.start(container)?;
        self.log_container_id(&self.lookup(container)?, "restart", &[]);
        Ok(())
    }

    /// `kill -s SIGNAL` (default KILL).
    pub fn kill(&self, container: &str, signal: Option<&str>) -> Result<()> {
        let id = self.lookup(container)?;
        let sig = match signal {
            Some(s) => crate::options::parse_signal("--signal", s)?,
            None => libc::SIGKILL,
        };
        let st = self.state(&id)?;
        if !st.running() {
            return Err(Error::Conflict(format!(
                "cannot kill container {container}: container {id} is not running"
            )));
        }
        // Docker (daemon/kill.go): SIGKILL, the container's stop signal,
        // or any signal when none is configured makes the container exit
        // on its next exit (restart policies do not apply); other signals
        // leave the policy alone.
        let c = self.load_config(&id)?;
        let stop_signal = match &c.config.stop_signal {
            Some(s) => Some(crate::options::parse_signal("--stop-signal", s)?),
            None => None,
        };
        if sig == libc::SIGKILL || stop_signal.map_or(true, |s| s == sig) {
            self.mark_stopped_by_user(&id);
        }
        if st.status == Status::Restarting {
            // No process to signal; the mark keeps it from starting again.
            return Ok(());
        }
        let rt = runtime::for_container(self, &id);
        rt.kill(self, &id, sig, sig == libc::SIGKILL)?;
        self.log_container(&c, "kill", &[("signal", &sig.to_string())]);
        if st.status == Status::Paused && sig == libc::SIGKILL {
            let _ = rt.pause(self, &id, false);
        }
        if sig == libc::SIGKILL {
            // As docker's kill: returns once the container has exited.
            self.wait_exit(&id, Some(Duration::from_secs(10)));
        }
        Ok(())
    }

    /// `wait`: blocks until the container's current run exits (docker's
    /// `not-running` condition: a restart policy starting it again does
    /// not keep it waiting); that run's exit code.
    pub fn wait(&self, container: &str) -> Result<i32> {
        let id = self.lookup(container)?;
        let first = self.state(&id)?;
        if !first.running() {
            return Ok(first.exit_code);
        }
        // As an attached client, the monitor's exit command sends us the
        // code once the container is torn down: a --rm container is gone
        // by then, and docker's wait still prints its code.
        if let Some(code) = monitor::connect(self, &id)
            .ok()
            .and_then(monitor::exit_frame)
        {
            return Ok(code);
        }
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let st = self.state(&id)?;
            if st.exits > first.exits {
                return Ok(st.last_exit_code);
            }
            if !st.running() {
                return Ok(st.exit_code);
            }
        }
    }

    /// docker's `wait --condition`: `not-running` is [`Engine::wait`];
    /// `next-exit` waits for the next exit even of a stopped container
    /// (its next run's); `removed` waits until the container is removed
    /// (its last exit code). `ready` is called once the container was
    /// found and the wait begins (the API sends its headers then).
    pub fn wait_for(
        &self,
        container: &str,
        condition: WaitCondition,
        ready: &mut dyn FnMut(),
    ) -> Result<i32> {
        let id = self.lookup(container)?;
        // The container's events from before the first look: between two
        // looks the wait sleeps until the next one (the journal's inotify
        // watch), not on a timer. A `--rm` container may run, exit and go
        // between two looks (docker's run waits before it starts): its
        // exit code is then its `die` event.
        let mut changes = ContainerChanges::new(self, &id);
        let first = self.state(&id)?;
        ready();
        match condition {
            WaitCondition::NotRunning => self.wait(&id),
            WaitCondition::NextExit => loop {
                if let Some(code) = monitor::connect(self, &id)
                    .ok()
                    .and_then(monitor::exit_frame)
                {
                    return Ok(code);
                }
                if let Some(code) = changes.died {
                    return Ok(code);
                }
                let st = match self.state(&id) {
                    Ok(st) => st,
                    // Removed (a --rm container) after its exit.
                    Err(Error::NoSuchContainer(_)) => return Ok(changes.code_or(first.exit_code)),
                    Err(e) => return Err(e),
                };
                if st.exits > first.exits {
                    return Ok(st.last_exit_code);
                }
                changes.next();
            },
            WaitCondition::Removed => {
                let mut code = first.exit_code;
                loop {
                    match self.state(&id) {
                        Ok(st) => {
                            if !st.running() {
                                code = st.exit_code;
                            } else if let Some(c) = monitor::connect(self, &id)
                                .ok()
                                .and_then(monitor::exit_frame)
                            {
                                code = c;
                                continue;
                            }
                        }
                        Err(Error::NoSuchContainer(_)) => return Ok(changes.code_or(code)),
                        Err(e) => return Err(e),
                    }
                    if !self.container_dir(&id).join(CONFIG).exists() {
                        return Ok(changes.code_or(code));
                    }
                    changes.next();
                }
            }
        }
    }

    pub fn pause(&self, container: &str) -> Result<()> {
        let id = self.lookup(container)?;
        let st = self.state(&id)?;
        match st.status {
            Status::Running => {}
            Status::Paused => {
                return Err(Error::Conflict(format!("container {id} is already paused")))
            }
            _ => return Err(Error::Conflict(format!("container {id} is not running"))),
        }
        let c = self.load_config(&id)?;
        runtime::for_record(&c).pause(self, &id, true)?;
        let _l = self.lock_container(&id)?;
        let mut st = self.load_state_raw(&id)?;
        if st.status == Status::Running {
            st.status = Status::Paused;
            self.save_state(&id, &st)?;
        }
        self.log_container(&c, "pause", &[]);
        Ok(())
    }

    pub fn unpause(&self, container: &str) -> Result<()> {
        let id = self.lookup(container)?;
        let st = self.state(&id)?;
        if st.status != Status::Paused {
            return Err(Error::Conflict(format!("container {id} is not paused")));
        }
        let c = self.load_config(&id)?;
        runtime::for_record(&c).pause(self, &id, false)?;
        let _l = self.lock_container(&id)?;
        let mut st = self.load_state_raw(&id)?;
        if st.status == Status::Paused {
            st.status = Status::Running;
            self.save_state(&id, &st)?;
        }
        self.log_container(&c, "unpause", &[]);
        Ok(())
    }

    /// `rename OLD NEW`.
    pub fn rename(&self, container: &str, new_name: &str) -> Result<()> {
        let id = self.lookup(container)?;
        let new = crate::store::validate_name(new_name)?;
        let _s = self.lock_store()?;
        // The record is also rewritten by `update` under the container's
        // lock: taken too (store first, as rm), so neither change is lost.
        let _c = self.lock_container(&id)?;
        let mut c = self.load_config(&id)?;
        if c.name == new {
            return Err(Error::Conflict(format!(
                "renaming a container with the same name as its current name: {new}"
            )));
        }
        let mut names = self.load_names()?;
        if let Some(other) = names.get(&new) {
            if self.container_dir(other).join(CONFIG).exists() {
                return Err(Error::Conflict(format!(
                    "Conflict. The container name \"/{new}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
        }
        names.retain(|_, v| *v != id);
        names.insert(new.clone(), id.clone());
        self.save_names(&names)?;
        let old = std::mem::replace(&mut c.name, new.clone());
        self.save_config(&c)?;
        self.log_container(&c, "rename", &[("oldName", &old)]);
        // As docker's: the user networks' DNS records follow the name.
        crate::network::rename(self, &id, &old, &new)
    }
}

/// A wait's view of one container's events (start, die, destroy, ...):
/// [`ContainerChanges::next`] sleeps until the next one, and keeps the
/// exit code of a `die`.
struct ContainerChanges {
    cursor: Option<::events::Cursor>,
    /// The exit code of the last `die` since the wait began.
    died: Option<i32>,
}

impl ContainerChanges {
    /// Longest sleep without an event: a change whose event could not be
    /// written (the journal's appends are best-effort) is still seen.
    const LOOK: Duration = Duration::from_millis(500);

    fn new(engine: &Engine, id: &str) -> ContainerChanges {
        let mut f = ::events::Filters::default();
        let _ = f.add("type", "container");
        let _ = f.add("container", id);
        let cursor = engine
            .journal()
            .tail(&::events::Query {
                since: None,
                until: None,
                filters: f,
            })
            .ok();
        ContainerChanges { cursor, died: None }
    }

    /// Waits for the container's next event (or [`Self::LOOK`]).
    fn next(&mut self) {
        let Some(c) = self.cursor.as_mut() else {
            // No journal to follow: a short poll.
            std::thread::sleep(Duration::from_millis(20));
            return;
        };
        let died = &mut self.died;
        if c.follow(Self::LOOK, &mut |m| note_die(&m, died)).is_err() {
            self.cursor = None;
        }
    }

    /// The code of the `die` seen (or that one logged since the last
    /// look), else `or`.
    fn code_or(&mut self, or: i32) -> i32 {
        if let Some(c) = self.cursor.as_mut() {
            let died = &mut self.died;
            let _ = c.follow(Duration::ZERO, &mut |m| note_die(&m, died));
        }
        self.died.unwrap_or(or)
    }
}

/// A `die` event's exit code into `died`; reading goes on.
fn note_die(m: &::events::Message, died: &mut Option<i32>) -> bool {
    if m.action == "die" {
        if let Some(code) = m
            .actor
            .attributes
            .get("exitCode")
            .and_then(|v| v.parse().ok())
        {
            *died = Some(code);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::WaitCondition;

    #[test]
    fn wait_conditions() {
        assert_eq!(
            "".parse::<WaitCondition>().unwrap(),
            WaitCondition::NotRunning
        );
        assert_eq!(
            "next-exit".parse::<WaitCondition>().unwrap(),
            WaitCondition::NextExit
        );
        assert_eq!(
            "removed".parse::<WaitCondition>().unwrap(),
            WaitCondition::Removed
        );
        let e = "gone".parse::<WaitCondition>().unwrap_err().to_string();
        assert!(e.contains("condition") && e.contains("gone"), "{e}");
    }
}
