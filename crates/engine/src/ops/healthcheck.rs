//! One healthcheck probe (`berth internal healthcheck ID`, run by the
//! monitor on the check's interval): exec the check in the container,
//! record the result in its health record ([`crate::health`]).

use crate::error::Result;
use crate::health::{check_of, Check, Health, HealthLog, HEALTH_FILE, MAX_LOG, MAX_OUTPUT};
use crate::runtime::ExecStdio;
use crate::{fsutil, timeutil, Engine};
use std::io::Read;
use std::time::{Duration, Instant};

impl Engine {
    /// `berth internal healthcheck ID`: runs the check once in the
    /// running container and records the result.
    pub fn run_healthcheck(&self, id: &str) -> Result<()> {
        let c = self.load_config(id)?;
        let Some(check) = check_of(&c) else {
            return Ok(());
        };
        let st = self.state(id)?;
        if !st.running() {
            return Ok(());
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
        fsutil::write_json(&self.container_dir(id).join(HEALTH_FILE), &h)
    }
}

/// Execs the check with its output captured; (exit code, output). A
/// check running past the timeout is killed (SIGKILL, as docker kills the
/// exec'd probe) and counts as failed (-1) with docker's message.
fn probe(e: &Engine, id: &str, check: &Check) -> (i64, String) {
    let (r, w) = match crate::sys::pipe() {
        Ok(p) => p,
        Err(err) => return (-1, format!("cannot create a pipe: {err}")),
    };
    let w2 = match w.try_clone() {
        Ok(f) => f,
        Err(err) => return (-1, format!("cannot create a pipe: {err}")),
    };
    let stdio = ExecStdio {
        stdin: std::fs::File::open("/dev/null").ok().map(Into::into),
        stdout: Some(w),
        stderr: Some(w2),
    };
    let pid_file = e
        .container_dir(id)
        .join(format!("health-probe-{}.pid", std::process::id()));
    let _ = std::fs::remove_file(&pid_file);
    let opts = super::ExecOptions {
        cmd: check.argv.clone(),
        pid_file: Some(pid_file.clone()),
        ..Default::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let eng = e.clone();
    let ident = id.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(eng.exec(&ident, &opts, stdio));
    });
    // The output so far, shared: a timed-out probe reports what it said.
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    {
        let out = out.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::File::from(r);
            let mut buf = [0u8; 1024];
            loop {
                match f.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
                        let room = MAX_OUTPUT.saturating_sub(o.len());
                        o.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
            }
            let _ = done_tx.send(());
        });
    }
    let said = || {
        let o = out.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&o).into_owned()
    };
    let r = match rx.recv_timeout(check.timeout) {
        Ok(Ok(code)) => {
            // Descendants may hold the pipe open: do not wait for them long.
            let _ = done_rx.recv_timeout(Duration::from_secs(1));
            (code as i64, said())
        }
        Ok(Err(err)) => (-1, err.to_string()),
        Err(_) => {
            kill_probe(&pid_file, &rx);
            let limit = berth_util::duration::format(check.timeout);
            let s = said();
            let msg = if s.is_empty() {
                format!("Health check exceeded timeout ({limit})")
            } else {
                format!("Health check exceeded timeout ({limit}): {s}")
            };
            (-1, msg)
        }
    };
    let _ = std::fs::remove_file(&pid_file);
    r
}

/// Kills a probe past its timeout and waits (boundedly) for the exec to
/// return, so dying probes do not pile up. The probe is a child of the
/// exec helper, unreaped until it exits, so its pid is still its own.
fn kill_probe<T>(pid_file: &std::path::Path, exec_done: &std::sync::mpsc::Receiver<T>) {
    let t = Instant::now();
    let mut killed = false;
    while t.elapsed() < Duration::from_secs(10) {
        if !killed {
            let pid = std::fs::read_to_string(pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
                .filter(|p| *p > 0);
            if let Some(pid) = pid {
                let _ = oci_runtime::sys::kill(pid, libc::SIGKILL);
                killed = true;
            }
        }
        match exec_done.recv_timeout(Duration::from_millis(50)) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}
