//! Healthchecks: `--health-cmd`, `--health-interval`, `--health-timeout`,
//! `--health-retries`, `--health-start-period`, `--no-healthcheck` and the
//! image's HEALTHCHECK resolve at create into `Config.Healthcheck`. The
//! monitor runs `berth internal healthcheck ID` at the interval, which
//! execs the test in the container and records `State.Health` in
//! `health.json` (atomically, under the container's lock).

use crate::container::Container;
use crate::error::{Error, Result};
use crate::{fsutil, timeutil, Engine};
use image::manifest::{ContainerConfig, Healthcheck};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::time::{Duration, Instant};

const DEFAULT_INTERVAL: i64 = 30_000_000_000;
const DEFAULT_TIMEOUT: i64 = 30_000_000_000;
const DEFAULT_RETRIES: i64 = 3;
/// Docker keeps the last five results.
const MAX_LOG: usize = 5;
/// And 4 KiB of each output.
const MAX_OUTPUT: usize = 4096;

/// The `--health-*` flags as given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthFlags {
    /// `--health-cmd` (run by /bin/sh -c).
    pub cmd: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<i64>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    /// `--no-healthcheck`.
    pub disable: bool,
}

impl HealthFlags {
    fn any(&self) -> bool {
        self.cmd.is_some()
            || self.interval.is_some()
            || self.timeout.is_some()
            || self.retries.is_some()
            || self.start_period.is_some()
            || self.start_interval.is_some()
    }

    /// Docker's CLI rules: `--no-healthcheck` is `Test: ["NONE"]` and
    /// conflicts with the others; `--health-cmd` is a `CMD-SHELL` test;
    /// durations of at least 1ms (or 0), retries not negative. `None`
    /// when no flag is given (the image's healthcheck applies).
    pub fn parse(&self) -> Result<Option<HealthConfig>> {
        if self.disable {
            if self.any() {
                return Err(Error::invalid(
                    "--no-healthcheck conflicts with --health-* options",
                ));
            }
            return Ok(Some(HealthConfig {
                test: Some(HealthTest::None),
                ..Default::default()
            }));
        }
        if !self.any() {
            return Ok(None);
        }
        let dur = |flag: &str, v: &Option<String>| -> Result<Option<i64>> {
            let Some(v) = v else { return Ok(None) };
            let d = parse_duration(flag, v)?;
            if d != 0 && d < 1_000_000 {
                return Err(Error::flag(flag, v, "must be at least 1ms"));
            }
            Ok(Some(d))
        };
        if let Some(r) = self.retries.filter(|r| *r < 0) {
            return Err(Error::flag(
                "--health-retries",
                &r.to_string(),
                "cannot be negative",
            ));
        }
        Ok(Some(HealthConfig {
            test: self.cmd.clone().map(HealthTest::CmdShell),
            interval: dur("--health-interval", &self.interval)?,
            timeout: dur("--health-timeout", &self.timeout)?,
            start_period: dur("--health-start-period", &self.start_period)?,
            start_interval: dur("--health-start-interval", &self.start_interval)?,
            retries: self.retries,
        }))
    }
}

/// docker's healthcheck `Test`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Vec<String>", try_from = "Vec<String>")]
pub enum HealthTest {
    /// `["NONE"]`: no healthcheck (also none of the image's).
    None,
    /// `["CMD", args...]`: run directly.
    Cmd(Vec<String>),
    /// `["CMD-SHELL", command]`: run by `/bin/sh -c`.
    CmdShell(String),
}

impl From<HealthTest> for Vec<String> {
    fn from(t: HealthTest) -> Vec<String> {
        match t {
            HealthTest::None => vec!["NONE".into()],
            HealthTest::Cmd(a) => std::iter::once("CMD".to_string()).chain(a).collect(),
            HealthTest::CmdShell(c) => vec!["CMD-SHELL".into(), c],
        }
    }
}

impl TryFrom<Vec<String>> for HealthTest {
    type Error = String;
    fn try_from(v: Vec<String>) -> std::result::Result<Self, String> {
        match v.first().map(String::as_str) {
            Some("NONE") => Ok(HealthTest::None),
            Some("CMD") if v.len() > 1 => Ok(HealthTest::Cmd(v[1..].to_vec())),
            Some("CMD-SHELL") if v.len() == 2 => Ok(HealthTest::CmdShell(v[1].clone())),
            _ => Err(format!(
                "invalid healthcheck test {v:?}: expected [\"NONE\"], [\"CMD\", ...] or [\"CMD-SHELL\", command]"
            )),
        }
    }
}

/// A container's healthcheck request (docker's `HealthConfig`): fields
/// not given come from the image's HEALTHCHECK. Durations in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<HealthTest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// Go's time.ParseDuration subset docker accepts: `1h2m3.5s`, `500ms`...
pub fn parse_duration(flag: &str, s: &str) -> Result<i64> {
    let bad = || Error::flag(flag, s, "expected a duration such as 30s, 1m30s or 500ms");
    if s == "0" {
        return Ok(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let v: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += v * mult;
        rest = &rest[u..];
    }
    if total > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(total as i64)
}

/// Resolves the container's healthcheck: the request's fields over the
/// image's (docker's merge); `NONE` disables it.
pub(crate) fn apply(
    h: Option<&HealthConfig>,
    image: &ContainerConfig,
    c: &mut Container,
) -> Result<()> {
    let Some(h) = h else {
        c.config.healthcheck = image.healthcheck.clone();
        return Ok(());
    };
    if h.test == Some(HealthTest::None) {
        c.config.healthcheck = Some(Healthcheck {
            test: vec!["NONE".into()],
            ..Default::default()
        });
        return Ok(());
    }
    let mut hc = image.healthcheck.clone().unwrap_or_default();
    if let Some(t) = &h.test {
        hc.test = t.clone().into();
    }
    for (v, slot) in [
        (h.interval, &mut hc.interval),
        (h.timeout, &mut hc.timeout),
        (h.start_period, &mut hc.start_period),
        (h.start_interval, &mut hc.start_interval),
        (h.retries, &mut hc.retries),
    ] {
        if v.is_some() {
            *slot = v;
        }
    }
    if hc.test.is_empty() {
        return Err(Error::invalid(
            "--health-* options need a test: --health-cmd or an image HEALTHCHECK",
        ));
    }
    c.config.healthcheck = Some(hc);
    Ok(())
}

/// The check to run, if any: (argv, interval, timeout, retries, start period).
pub struct Check {
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: i64,
    pub start_period: Duration,
}

/// The check a container runs (none when it has no healthcheck or `NONE`).
pub fn check_of(c: &Container) -> Option<Check> {
    let hc = c.config.healthcheck.as_ref()?;
    let argv = match hc.test.first().map(String::as_str) {
        Some("CMD") => hc.test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), hc.test.get(1)?.clone()],
        _ => return None,
    };
    if argv.is_empty() {
        return None;
    }
    let d =
        |v: Option<i64>, def: i64| Duration::from_nanos(v.filter(|v| *v > 0).unwrap_or(def) as u64);
    Some(Check {
        argv,
        interval: d(hc.interval, DEFAULT_INTERVAL),
        timeout: d(hc.timeout, DEFAULT_TIMEOUT),
        retries: hc.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES),
        start_period: Duration::from_nanos(hc.start_period.unwrap_or(0).max(0) as u64),
    })
}

/// One probe's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthLog {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// Docker's `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<HealthLog>,
}

/// `ps`'s STATUS of a running container with a healthcheck: `Up 5
/// minutes (healthy)`, `(health: starting)`.
pub fn with_health(status: String, st: &crate::container::State, h: Option<Health>) -> String {
    match h {
        Some(h) if st.status == crate::container::Status::Running => match h.status.as_str() {
            "starting" => format!("{status} (health: starting)"),
            "" => status,
            s => format!("{status} ({s})"),
        },
        _ => status,
    }
}

const HEALTH_FILE: &str = "health.json";

impl Engine {
    /// The recorded health (docker's `State.Health`) of a container with a
    /// healthcheck.
    pub fn health(&self, id: &str) -> Option<Health> {
        fsutil::read_json(&self.container_dir(id).join(HEALTH_FILE)).ok()
    }

    /// Resets the health to `starting` (the container starts).
    pub(crate) fn reset_health(&self, id: &str) {
        let p = self.container_dir(id).join(HEALTH_FILE);
        let has = self
            .load_config(id)
            .ok()
            .is_some_and(|c| check_of(&c).is_some());
        if has {
            let _ = fsutil::write_json(
                &p,
                &Health {
                    status: "starting".into(),
                    ..Default::default()
                },
            );
        } else {
            let _ = std::fs::remove_file(p);
        }
    }

    /// The healthcheck interval of a container, if it has one.
    pub(crate) fn health_interval(&self, id: &str) -> Option<Duration> {
        self.load_config(id)
            .ok()
            .and_then(|c| check_of(&c))
            .map(|c| c.interval)
    }

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
    let stdio = crate::ops::ExecStdio {
        stdin: std::fs::File::open("/dev/null").ok().map(Into::into),
        stdout: Some(w),
        stderr: Some(w2),
    };
    let pid_file = e
        .container_dir(id)
        .join(format!("health-probe-{}.pid", std::process::id()));
    let _ = std::fs::remove_file(&pid_file);
    let opts = crate::ops::ExecOptions {
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
            let limit = timeutil::go_duration(check.timeout);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_healthcheck_and_flags() {
        let image = ContainerConfig {
            healthcheck: Some(Healthcheck {
                test: vec!["CMD".into(), "/bin/check".into(), "-q".into()],
                interval: Some(5_000_000_000),
                retries: Some(7),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut c = Container::default();
        let apply_flags = |f: &HealthFlags, img: &ContainerConfig, c: &mut Container| {
            f.parse().and_then(|h| apply(h.as_ref(), img, c))
        };
        let mut o = HealthFlags::default();
        apply_flags(&o, &image, &mut c).unwrap();
        let ch = check_of(&c).unwrap();
        assert_eq!(ch.argv, ["/bin/check", "-q"]);
        assert_eq!(ch.interval, Duration::from_secs(5));
        assert_eq!(ch.retries, 7);
        assert_eq!(ch.timeout, Duration::from_secs(30));
        // --health-cmd replaces the test and keeps the image's timings.
        o.cmd = Some("exit 0".into());
        o.timeout = Some("2s".into());
        apply_flags(&o, &image, &mut c).unwrap();
        let ch = check_of(&c).unwrap();
        assert_eq!(ch.argv, ["/bin/sh", "-c", "exit 0"]);
        assert_eq!(
            (ch.interval, ch.timeout),
            (Duration::from_secs(5), Duration::from_secs(2))
        );
        // --no-healthcheck disables it, and conflicts with --health-*.
        let mut o = HealthFlags {
            disable: true,
            ..Default::default()
        };
        apply_flags(&o, &image, &mut c).unwrap();
        assert!(check_of(&c).is_none());
        o.retries = Some(1);
        assert!(apply_flags(&o, &image, &mut c).is_err());
        // Flags without a test anywhere.
        let mut c = Container::default();
        let o = HealthFlags {
            interval: Some("1s".into()),
            ..Default::default()
        };
        let e = apply_flags(&o, &ContainerConfig::default(), &mut c).unwrap_err();
        assert!(e.to_string().contains("--health-cmd"), "{e}");
        // The API's CMD form, in docker's JSON.
        let h: HealthConfig = serde_json::from_str(
            r#"{"Test": ["CMD", "/bin/true", "x"], "Interval": 2000000000, "StartInterval": 1000000}"#,
        )
        .unwrap();
        assert_eq!(
            h.test,
            Some(HealthTest::Cmd(vec!["/bin/true".into(), "x".into()]))
        );
        apply(Some(&h), &ContainerConfig::default(), &mut c).unwrap();
        let hc = c.config.healthcheck.clone().unwrap();
        assert_eq!(hc.test, ["CMD", "/bin/true", "x"]);
        assert_eq!(hc.start_interval, Some(1_000_000));
        assert_eq!(check_of(&c).unwrap().argv, ["/bin/true", "x"]);
        assert!(serde_json::from_str::<HealthConfig>(r#"{"Test": ["BOGUS"]}"#).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("f", "30s").unwrap(), 30_000_000_000);
        assert_eq!(parse_duration("f", "1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration("f", "500ms").unwrap(), 500_000_000);
        assert_eq!(parse_duration("f", "1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse_duration("f", "0").unwrap(), 0);
        assert!(parse_duration("--health-interval", "10").is_err());
        assert!(parse_duration("f", "x").is_err());
        assert!(parse_duration("f", "").is_err());
    }
}
