//! The engine's side of the event journal (crate `berth-events`): container
//! and volume events with docker's attributes, written by whichever process
//! acts (the CLI, the monitor's cleanup, a healthcheck), and
//! [`Engine::events`], the one reader `berth events` and the API's
//! `/events` use: docker's `--since`/`--until` (times or durations) and
//! filters, the history, then following.

use crate::container::Container;
use crate::error::{Error, Result};
use crate::{timeutil, Engine};
use ::events::{Filters, Journal, Message, Query};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// What `events` reads: docker's `--since`, `--until` and `--filter`.
#[derive(Debug, Clone, Default)]
pub struct EventsOptions {
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    pub filters: Filters,
}

/// A `--since`/`--until` value as docker takes it (berth_util's
/// [`timeutil::parse_since_in`], docker's `GetTimestamp`): RFC 3339 (with
/// or without fraction), unix seconds with an optional fraction, a Go
/// duration counted back from now (`10m`, `1h30m`), or docker's shorter
/// date forms `2006-01-02`, `2006-01-02T15:04:05[.999999999]` and
/// `2006-01-02Z07:00`. A form without a zone is in the local zone (`$TZ`,
/// /etc/localtime), as docker reads it.
pub fn parse_time_flag(flag: &str, value: &str) -> Result<SystemTime> {
    parse_time_flag_in(flag, value, &crate::sys::utc_offset)
}

/// [`parse_time_flag`] with the local zone's offset east of UTC at a unix
/// time given by `utc_offset`.
fn parse_time_flag_in(
    flag: &str,
    value: &str,
    utc_offset: &dyn Fn(i64) -> i64,
) -> Result<SystemTime> {
    timeutil::parse_since_in(value, SystemTime::now(), utc_offset).ok_or_else(|| {
        Error::flag(
            flag,
            value,
            "not a timestamp (RFC 3339, unix seconds) or a duration (10m, 1h30m)",
        )
    })
}

impl EventsOptions {
    /// From the flags' strings (empty: not given).
    pub fn parse(since: &str, until: &str, filters: &[String]) -> Result<EventsOptions> {
        let t = |flag: &str, v: &str| -> Result<Option<SystemTime>> {
            if v.is_empty() {
                Ok(None)
            } else {
                parse_time_flag(flag, v).map(Some)
            }
        };
        let opts = EventsOptions {
            since: t("--since", since)?,
            until: t("--until", until)?,
            filters: Filters::parse(filters)
                .map_err(|e| Error::flag("--filter", &filters.join(","), e))?,
        };
        if let (Some(s), Some(u)) = (opts.since, opts.until) {
            if u < s {
                return Err(Error::invalid(format!(
                    "`since` time ({since}) cannot be after `until` time ({until})"
                )));
            }
        }
        Ok(opts)
    }

    /// The API's form: `filters` as the engine's typed [`crate::filters::Filters`]
    /// (docker's JSON), the same keys and values as `--filter`.
    pub fn with_filters(
        since: &str,
        until: &str,
        filters: &crate::filters::Filters,
    ) -> Result<EventsOptions> {
        let args: Vec<String> = filters.pairs().map(|(k, v)| format!("{k}={v}")).collect();
        EventsOptions::parse(since, until, &args)
    }

    fn query(&self) -> Query {
        Query {
            since: self.since.map(::events::unix_nanos),
            until: self.until.map(::events::unix_nanos),
            filters: self.filters.clone(),
        }
    }
}

/// docker's container event attributes: the container's labels, `image`
/// (as it was asked for) and `name`, then `extra`.
pub(crate) fn container_attrs(c: &Container, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut a: BTreeMap<String, String> = c
        .config
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let image = if c.config.image.is_empty() {
        &c.image_ref
    } else {
        &c.config.image
    };
    if !image.is_empty() {
        a.insert("image".into(), image.clone());
    }
    a.insert("name".into(), c.name.trim_start_matches('/').to_string());
    a.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    a
}

impl Engine {
    /// The store's event journal (`<root>/events`): one per engine, its
    /// files opened by the first append and kept.
    pub fn journal(&self) -> &Journal {
        self.images().journal()
    }

    /// Logs a container event (docker's `LogContainerEventWithAttributes`).
    pub(crate) fn log_container(&self, c: &Container, action: &str, extra: &[(&str, &str)]) {
        self.journal().log(Message::new(
            ::events::CONTAINER,
            action,
            c.id.clone(),
            container_attrs(c, extra),
        ));
    }

    /// [`Engine::log_container`] by ID (its record read; none: nothing logged).
    pub(crate) fn log_container_id(&self, id: &str, action: &str, extra: &[(&str, &str)]) {
        if let Ok(c) = self.load_config(id) {
            self.log_container(&c, action, extra);
        }
    }

    /// Logs a volume event: the volume's name as the actor, `driver` and
    /// `extra`.
    pub(crate) fn log_volume(&self, name: &str, action: &str, extra: &[(&str, &str)]) {
        let mut a = ::events::attrs([("driver", "local")]);
        a.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.journal()
            .log(Message::new(::events::VOLUME, action, name, a));
    }

    /// docker's `events`: with `since` or `until`, the journal's events
    /// within them; then, unless `until` is past, the events as they come,
    /// until `until` or until `stop` returns true. `stop` is called each
    /// time the reader has caught up with the journal (after the history,
    /// after each batch followed, and at least every 100 ms while waiting):
    /// a caller may flush its output there. `f` gets each event and
    /// returns false to end.
    pub fn events(
        &self,
        opts: &EventsOptions,
        stop: &dyn Fn() -> bool,
        f: &mut dyn FnMut(Message) -> bool,
    ) -> Result<()> {
        let q = opts.query();
        let journal = self.journal();
        let ioerr = |e| Error::io(format!("cannot read {}", journal.path().display()), e);
        let mut ended = false;
        let mut cursor = if opts.since.is_some() || opts.until.is_some() {
            journal
                .read(&q, |m| {
                    ended = !f(m);
                    !ended
                })
                .map_err(ioerr)?
        } else {
            journal.tail(&q).map_err(ioerr)?
        };
        loop {
            if ended || stop() {
                return Ok(());
            }
            let wait = match opts.until {
                Some(u) => match u.duration_since(SystemTime::now()) {
                    Ok(left) => left.min(Duration::from_millis(100)),
                    Err(_) => return Ok(()),
                },
                None => Duration::from_millis(100),
            };
            cursor
                .follow(wait, &mut |m| {
                    ended = !f(m);
                    !ended
                })
                .map_err(ioerr)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn dockers_time_forms() {
        // In UTC (the local zone is the next tests').
        let utc = |_: i64| 0;
        let t = |v: &str| {
            parse_time_flag_in("--since", v, &utc)
                .unwrap_or_else(|e| panic!("{v}: {e}"))
                .duration_since(UNIX_EPOCH)
                .unwrap()
        };
        let day = Duration::from_secs(1_483_574_400); // 2017-01-05T00:00:00Z
        assert_eq!(t("2017-01-05"), day);
        assert_eq!(t("2017-01-05T00:35:30"), day + Duration::from_secs(2130));
        assert_eq!(
            t("2017-01-05T00:35:30.5"),
            day + Duration::from_millis(2_130_500)
        );
        assert_eq!(t("2017-01-05T00:35:30Z"), day + Duration::from_secs(2130));
        assert_eq!(
            t("2017-01-05T08:35:30+08:00"),
            day + Duration::from_secs(2130)
        );
        assert_eq!(t("2017-01-05+01:00"), day - Duration::from_secs(3600));
        assert_eq!(t("1483574400"), day);
        assert_eq!(t("1483574400.25"), day + Duration::from_millis(250));
        assert!(parse_time_flag("--since", "2017-01-05T").is_err());
        assert!(parse_time_flag("--since", "10x").is_err());
    }

    /// Times without a zone are local: the zone's offset at that time
    /// applies; a zone given wins.
    #[test]
    fn zoneless_times_are_local() {
        let east9 = |_: i64| 9 * 3600;
        let t = |v: &str| {
            parse_time_flag_in("--until", v, &east9)
                .unwrap_or_else(|e| panic!("{v}: {e}"))
                .duration_since(UNIX_EPOCH)
                .unwrap()
        };
        let day = Duration::from_secs(1_483_574_400); // 2017-01-05T00:00:00Z
        assert_eq!(t("2017-01-05T09:00:00"), day);
        assert_eq!(t("2017-01-05"), day - Duration::from_secs(9 * 3600));
        assert_eq!(t("2017-01-05T09:00:00.5"), day + Duration::from_millis(500));
        assert_eq!(t("2017-01-05T00:00:00Z"), day);
        assert_eq!(t("2017-01-05T01:00:00+01:00"), day);
        assert_eq!(t("1483574400"), day);
        let e = parse_time_flag_in("--until", "2017-13-05", &east9).unwrap_err();
        assert!(e.to_string().contains("--until"), "{e}");
    }

    /// The same through `$TZ` (POSIX "XYZ-9", nine hours east of UTC, which
    /// needs no zoneinfo), in a child process: the C library reads `$TZ`
    /// once.
    #[test]
    fn zoneless_times_follow_tz() {
        let day = Duration::from_secs(1_483_574_400);
        if std::env::var_os("BERTH_TZ_CHILD").is_some() {
            let t = parse_time_flag("--since", "2017-01-05T09:00:00").unwrap();
            assert_eq!(t.duration_since(UNIX_EPOCH).unwrap(), day);
            let t = parse_time_flag("--since", "2017-01-05T00:00:00Z").unwrap();
            assert_eq!(t.duration_since(UNIX_EPOCH).unwrap(), day);
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "eventlog::tests::zoneless_times_follow_tz"])
            .env("BERTH_TZ_CHILD", "1")
            .env("TZ", "XYZ-9")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("1 passed"), "{text}");
    }
}
