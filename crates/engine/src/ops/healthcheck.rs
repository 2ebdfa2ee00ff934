//! One healthcheck probe (`berth internal healthcheck ID`, run by the
//! monitor on the check's interval): exec the check in the container,
//! record the result in its health record ([`crate::health`]).

use crate::error::Result;
use crate::health::{check_of, Check, Health, HealthLog, HEALTH_FILE, MAX_LOG, MAX_OUTPUT};
use crate::ops::exec::{ExecConfig, ExecIo, ExecStartOptions};
use crate::stream::{Chunk, OutputStream};
use crate::{fsutil, timeutil, Engine};
use std::time::{Duration, Instant};

impl Engine {
    /// `berth internal healthcheck ID`: runs the check once in the
    /// running container and records the result. True when the container
    /// is still `starting` within its start period (the next probe comes
    /// after the start interval).
    pub fn run_healthcheck(&self, id: &str) -> Result<bool> {
        let c = self.load_config(id)?;
        let Some(check) = check_of(&c) else {
            return Ok(false);
        };
        let st = self.state(id)?;
        if !st.running() {
            return Ok(false);
        }
        let start = timeutil::now();
        let (code, output) = probe(self, id, &check);
        let end = timeutil::now();
        let in_start_period = timeutil::since(&st.started_at) < check.start_period;
        let _l = self.lock_container(id)?;
        let mut h = self.health(id).unwrap_or(Health {
            status: "starting".into(),
            ..Default::default()
        });
        let old_status = h.status.clone();
        if code == 0 {
            h.status = "healthy".into();
            h.failing_streak = 0;
        } else if !(in_start_period && h.status == "starting") {
            h.failing_streak += 1;
            if h.failing_streak >= check.retries {
                h.status = "unhealthy".into();
            }
        }
        h.log.push(HealthLog {
            start,
            end,
            exit_code: code,
            output,
        });
        if h.log.len() > MAX_LOG {
            let n = h.log.len() - MAX_LOG;
            h.log.drain(..n);
        }
        fsutil::write_json(&self.container_dir(id).join(HEALTH_FILE), &h)?;
        // docker's `health_status: healthy|unhealthy` when it changes.
        if h.status != old_status {
            self.log_container(&c, &format!("health_status: {}", h.status), &[]);
        }
        let still_starting =
            h.status == "starting" && timeutil::since(&st.started_at) < check.start_period;
        Ok(still_starting)
    }
}

/// Execs the check with its output captured (docker's exec, not
/// attached to stdin); (exit code, output). A check running past the
/// timeout is killed (SIGKILL, as docker kills the exec'd probe) and
/// counts as failed (-1) with docker's message.
fn probe(e: &Engine, id: &str, check: &Check) -> (i64, String) {
    let cfg = ExecConfig {
        cmd: check.argv.clone(),
        attach_stdout: true,
        attach_stderr: true,
        ..Default::default()
    };
    let started = e
        .exec_create(id, &cfg)
        .and_then(|x| e.exec_start(&x, &ExecStartOptions::default(), ExecIo::Streams));
    let mut s = match started {
        Ok(s) => s,
        Err(err) => return (-1, err.to_string()),
    };
    let deadline = Instant::now() + check.timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let mut timed_out = false;
    // After a kill: what the probe said, but not forever.
    let mut limit = None;
    loop {
        let dl = if timed_out { limit } else { Some(deadline) };
        match s.next_chunk_until(&mut buf, dl) {
            Ok(Chunk::Data(_, n)) => {
                let room = MAX_OUTPUT.saturating_sub(out.len());
                out.extend_from_slice(&buf[..n.min(room)]);
            }
            Ok(Chunk::TimedOut) if !timed_out => {
                timed_out = true;
                let _ = oci_runtime::sys::kill(s.pid(), libc::SIGKILL);
                limit = Some(Instant::now() + Duration::from_secs(10));
            }
            Ok(Chunk::TimedOut) | Ok(Chunk::End) | Err(_) => break,
        }
    }
    let said = String::from_utf8_lossy(&out).into_owned();
    if timed_out {
        let limit = berth_util::duration::format(check.timeout);
        let msg = if said.is_empty() {
            format!("Health check exceeded timeout ({limit})")
        } else {
            format!("Health check exceeded timeout ({limit}): {said}")
        };
        return (-1, msg);
    }
    match s.wait() {
        Ok(code) => (code as i64, said),
        Err(err) => (-1, err.to_string()),
    }
}
