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
/// Docker's (≥ 25) probe interval during the start period.
const DEFAULT_START_INTERVAL: i64 = 5_000_000_000;
/// `berth internal healthcheck`'s exit code when the container is still
/// `starting` within its start period: the monitor probes again after the
/// start interval (`--health-start MS`) rather than the interval.
pub const HEALTH_STARTING_EXIT: i32 = 3;
/// Docker keeps the last five results.
pub(crate) const MAX_LOG: usize = 5;
/// And 4 KiB of each output.
pub(crate) const MAX_OUTPUT: usize = 4096;

pub use crate::options::{parse_duration, HealthConfig, HealthFlags, HealthTest};

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

/// The check to run, if any: (argv, interval, timeout, retries, start
/// period, and the interval during the start period).
pub struct Check {
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: i64,
    pub start_period: Duration,
    pub start_interval: Duration,
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
        start_interval: d(hc.start_interval, DEFAULT_START_INTERVAL),
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

pub(crate) const HEALTH_FILE: &str = "health.json";

impl Engine {
    /// The recorded health (docker's `State.Health`) of a container with a
    /// healthcheck.
    pub fn health(&self, id: &str) -> Option<Health> {
        fsutil::read_json(&self.container_dir(id).join(HEALTH_FILE)).ok()
    }

    /// Resets the health to `starting` (the container starts).
    pub(crate) fn reset_health(&self, c: &Container) {
        let p = self.container_dir(&c.id).join(HEALTH_FILE);
        if check_of(c).is_some() {
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
}

/// The healthcheck intervals of a container, if it has one: the interval,
/// and the start interval when it has a start period (docker ≥ 25 probes
/// every start interval while the container is `starting` in its start
/// period).
pub(crate) fn intervals_of(c: &Container) -> Option<(Duration, Option<Duration>)> {
    check_of(c).map(|c| {
        let start = (!c.start_period.is_zero()).then_some(c.start_interval);
        (c.interval, start)
    })
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
        assert!(parse_duration("f", "-1s").is_err());
    }
}
