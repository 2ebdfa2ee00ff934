//! Healthchecks: `--health-cmd`, `--health-interval`, `--health-timeout`,
//! `--health-retries`, `--health-start-period`, `--no-healthcheck` and the
//! image's HEALTHCHECK resolve at create into `Config.Healthcheck`. The
//! monitor runs `berth internal healthcheck ID` at the interval, which
//! execs the test in the container and records `State.Health` in
//! `health.json` (atomically, under the container's lock).

use crate::container::Container;
use crate::error::{Error, Result};
use crate::{fsutil, Engine};
use image::manifest::{ContainerConfig, Healthcheck};
use serde::{Deserialize, Serialize};

use std::time::Duration;

const DEFAULT_INTERVAL: i64 = 30_000_000_000;
const DEFAULT_TIMEOUT: i64 = 30_000_000_000;
const DEFAULT_RETRIES: i64 = 3;
/// Docker keeps the last five results.
pub(crate) const MAX_LOG: usize = 5;
/// And 4 KiB of each output.
pub(crate) const MAX_OUTPUT: usize = 4096;

pub use crate::options::HealthOptions;

/// A `--health-*` duration: Go's `time.ParseDuration` (`1h2m3.5s`,
/// `500ms`), not negative (docker: "cannot be negative").
pub fn parse_duration(flag: &str, s: &str) -> Result<i64> {
    let d = berth_util::duration::parse_nanos(s).map_err(|e| Error::flag(flag, s, e))?;
    if d < 0 {
        return Err(Error::flag(flag, s, "cannot be negative"));
    }
    Ok(d)
}

/// Resolves the container's healthcheck from the flags and the image.
pub(crate) fn apply(h: &HealthOptions, image: &ContainerConfig, c: &mut Container) -> Result<()> {
    if h.disable {
        if h.any() {
            return Err(Error::invalid(
                "--no-healthcheck conflicts with --health-* options",
            ));
        }
        c.config.healthcheck = Some(Healthcheck {
            test: vec!["NONE".into()],
            ..Default::default()
        });
        return Ok(());
    }
    let mut hc = image.healthcheck.clone().unwrap_or_default();
    if let Some(cmd) = &h.cmd {
        hc.test = vec!["CMD-SHELL".into(), cmd.clone()];
    }
    let dur = |flag: &str, v: &Option<String>, slot: &mut Option<i64>| -> Result<()> {
        if let Some(v) = v {
            let d = parse_duration(flag, v)?;
            if d != 0 && d < 1_000_000 {
                return Err(Error::flag(flag, v, "must be at least 1ms"));
            }
            *slot = Some(d);
        }
        Ok(())
    };
    dur("--health-interval", &h.interval, &mut hc.interval)?;
    dur("--health-timeout", &h.timeout, &mut hc.timeout)?;
    dur(
        "--health-start-period",
        &h.start_period,
        &mut hc.start_period,
    )?;
    if let Some(r) = h.retries {
        if r < 0 {
            return Err(Error::flag(
                "--health-retries",
                &r.to_string(),
                "cannot be negative",
            ));
        }
        hc.retries = Some(r);
    }
    if hc.test.is_empty() && !h.any() && image.healthcheck.is_none() {
        return Ok(());
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
pub(crate) struct Check {
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: i64,
    pub start_period: Duration,
}

pub(crate) fn check_of(c: &Container) -> Option<Check> {
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
pub(crate) fn with_health(
    status: String,
    st: &crate::container::State,
    h: Option<Health>,
) -> String {
    match h {
        Some(h) if st.status == crate::container::Status::Running => match h.status.as_str() {
            "starting" => format!("{status} (health: starting)"),
            "" => status,
            s => format!("{status} ({s})"),
        },
        _ => status,
    }
}

pub(crate) const HEALTH_FILE: &str = "health.json";

impl Engine {
    /// The recorded health of a container with a healthcheck.
    pub(crate) fn health(&self, id: &str) -> Option<Health> {
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
        let mut o = crate::options::CreateOptions::default();
        apply(&o.health, &image, &mut c).unwrap();
        let ch = check_of(&c).unwrap();
        assert_eq!(ch.argv, ["/bin/check", "-q"]);
        assert_eq!(ch.interval, Duration::from_secs(5));
        assert_eq!(ch.retries, 7);
        assert_eq!(ch.timeout, Duration::from_secs(30));
        // --health-cmd replaces the test and keeps the image's timings.
        o.health.cmd = Some("exit 0".into());
        o.health.timeout = Some("2s".into());
        apply(&o.health, &image, &mut c).unwrap();
        let ch = check_of(&c).unwrap();
        assert_eq!(ch.argv, ["/bin/sh", "-c", "exit 0"]);
        assert_eq!(
            (ch.interval, ch.timeout),
            (Duration::from_secs(5), Duration::from_secs(2))
        );
        // --no-healthcheck disables it, and conflicts with --health-*.
        let mut o = crate::options::CreateOptions::default();
        o.health.disable = true;
        apply(&o.health, &image, &mut c).unwrap();
        assert!(check_of(&c).is_none());
        o.health.retries = Some(1);
        assert!(apply(&o.health, &image, &mut c).is_err());
        // Flags without a test anywhere.
        let mut c = Container::default();
        let mut o = crate::options::CreateOptions::default();
        o.health.interval = Some("1s".into());
        let e = apply(&o.health, &ContainerConfig::default(), &mut c).unwrap_err();
        assert!(e.to_string().contains("--health-cmd"), "{e}");
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
        assert!(parse_duration("f", "-1s").is_err());
    }
}
