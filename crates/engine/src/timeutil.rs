//! Times: RFC 3339 with nanoseconds (docker's format), parsing, and the
//! human durations of `ps` ("Up 3 seconds", "5 seconds ago").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Docker's zero time, used for StartedAt/FinishedAt never set.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub fn now() -> String {
    oci_runtime::state::now_rfc3339()
}

pub fn format(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    oci_runtime::state::rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub fn parse(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b't') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    let mut i = 19;
    let mut nanos: u64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[st..i];
        let mut digits: String = frac.chars().take(9).collect();
        while digits.len() < 9 {
            digits.push('0');
        }
        nanos = digits.parse().ok()?;
    }
    let off = match b.get(i)? {
        b'Z' | b'z' => 0,
        b'+' | b'-' => {
            let sign = if b[i] == b'-' { -1 } else { 1 };
            let oh = s.get(i + 1..i + 3)?.parse::<i64>().ok()?;
            let om = s.get(i + 4..i + 6)?.parse::<i64>().ok()?;
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    if secs < 0 {
        return None;
    }
    Some(UNIX_EPOCH + Duration::new(secs as u64, nanos as u32))
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 1 {
        return "Less than a second".into();
    }
    if secs == 1 {
        return "1 second".into();
    }
    if secs < 60 {
        return format!("{secs} seconds");
    }
    let mins = secs / 60;
    if mins == 1 {
        return "About a minute".into();
    }
    if mins < 60 {
        return format!("{mins} minutes");
    }
    let hours = (secs as f64 / 3600.0).round() as u64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", hours / 24 / 365)
}

/// Go's `time.Duration.String`: `1h2m3.5s`, `1m30s`, `2s`, `500ms`,
/// `1.5µs`, `0s`.
pub fn go_duration(d: Duration) -> String {
    fn frac(whole: u128, rem: u128, digits: u32) -> String {
        if rem == 0 {
            return whole.to_string();
        }
        let f = format!("{rem:0width$}", width = digits as usize);
        format!("{whole}.{}", f.trim_end_matches('0'))
    }
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", frac(ns / 1_000, ns % 1_000, 3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", frac(ns / 1_000_000, ns % 1_000_000, 6));
    }
    let secs = ns / 1_000_000_000;
    let s = format!("{}s", frac(secs % 60, ns % 1_000_000_000, 9));
    let (m, h) = ((secs / 60) % 60, secs / 3600);
    if h > 0 {
        format!("{h}h{m}m{s}")
    } else if m > 0 {
        format!("{m}m{s}")
    } else {
        s
    }
}

/// Time elapsed since an RFC 3339 time (zero if unparsable or future).
pub fn since(s: &str) -> Duration {
    parse(s)
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

/// Parses `--since`/`--until` values as docker's `GetTimestamp`: a Go
/// duration before now (`10m`, `1h30m`, `-5s` after now), an RFC 3339 time
/// or a shorter form of it (`2006-01-02`, `2006-01-02T15`,
/// `2006-01-02T15:04`, `2006-01-02T15:04:05[.frac]`, each with `Z` or an
/// offset, or else in local time), or unix seconds (`1700000000[.5]`).
pub fn parse_since(s: &str) -> Option<SystemTime> {
    parse_since_at(s, SystemTime::now())
}

fn parse_since_at(s: &str, now: SystemTime) -> Option<SystemTime> {
    if s != "0" {
        let (neg, d) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        if let Some(d) = parse_go_duration(d) {
            return if neg {
                now.checked_add(d)
            } else {
                now.checked_sub(d)
            };
        }
    }
    if s.contains('-') {
        return parse_date_time(s);
    }
    // Unix seconds, with up to nine digits of fraction.
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// `2006-01-02[T15[:04[:05[.frac]]]][Z|±07:00]`; without a zone, local time.
fn parse_date_time(s: &str) -> Option<SystemTime> {
    if let Some(t) = parse(s) {
        return Some(t);
    }
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut rest = &s[10..];
    let (mut h, mut mi, mut se, mut nanos) = (0, 0, 0, 0u32);
    if let Some(r) = rest.strip_prefix('T').or_else(|| rest.strip_prefix('t')) {
        let clock_end = r.find(['Z', 'z', '+', '-']).unwrap_or(r.len());
        let (clock, zone) = r.split_at(clock_end);
        let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
        let parts: Vec<&str> = hms.split(':').collect();
        let two = |p: &str, max: i64| -> Option<i64> {
            (p.len() == 2 && p.bytes().all(|c| c.is_ascii_digit()))
                .then(|| p.parse().ok())?
                .filter(|v| *v <= max)
        };
        match parts.as_slice() {
            [a] => h = two(a, 23)?,
            [a, b] => (h, mi) = (two(a, 23)?, two(b, 59)?),
            [a, b, c] => (h, mi, se) = (two(a, 23)?, two(b, 59)?, two(c, 60)?),
            _ => return None,
        }
        if !frac.is_empty() {
            if parts.len() != 3 || !frac.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            nanos = format!("{:0<9}", &frac[..frac.len().min(9)]).parse().ok()?;
        }
        rest = zone;
    }
    let wall = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    let secs = match rest {
        "" => {
            // Local time: the zone's offset at that moment.
            let guess = wall - crate::sys::utc_offset(wall);
            wall - crate::sys::utc_offset(guess)
        }
        "Z" | "z" => wall,
        z => {
            let (sign, hm) = match z.as_bytes()[0] {
                b'+' => (1, &z[1..]),
                b'-' => (-1, &z[1..]),
                _ => return None,
            };
            let (oh, om) = hm.split_once(':')?;
            let (oh, om): (i64, i64) = (oh.parse().ok()?, om.parse().ok()?);
            wall - sign * (oh * 3600 + om * 60)
        }
    };
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Go's `time.ParseDuration` for the units h, m, s, ms, us, ns.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return None;
    }
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let numlen = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if numlen == 0 {
            return None;
        }
        let num: f64 = rest[..numlen].parse().ok()?;
        rest = &rest[numlen..];
        let unitlen = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unitlen] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unitlen..];
        total += num * mult;
    }
    Some(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let s = format(t);
        assert_eq!(s, "2023-11-14T22:13:20.123456789Z");
        assert_eq!(parse(&s), Some(t));
        assert_eq!(
            parse("2023-11-14T23:13:20+01:00"),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert_eq!(parse(ZERO_TIME), None);
    }

    #[test]
    fn human() {
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::from_secs(3)), "3 seconds");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(600)), "10 minutes");
        assert_eq!(human_duration(Duration::from_secs(3 * 3600)), "3 hours");
    }

    #[test]
    fn since_forms_as_docker() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let at = |s: &str| parse_since_at(s, now).map(|t| t.duration_since(UNIX_EPOCH).unwrap());
        let secs = |n: u64| Some(Duration::from_secs(n));
        assert_eq!(at("10m"), secs(1_700_000_000 - 600));
        assert_eq!(at("1h30m"), secs(1_700_000_000 - 5400));
        assert_eq!(at("-5s"), secs(1_700_000_005));
        assert_eq!(at("0"), secs(0));
        assert_eq!(at("1699999999"), secs(1_699_999_999));
        assert_eq!(
            at("1699999999.5"),
            Some(Duration::new(1_699_999_999, 500_000_000))
        );
        assert_eq!(at("2023-11-14T22:13:20Z"), secs(1_700_000_000));
        assert_eq!(at("2023-11-14T23:13:20+01:00"), secs(1_700_000_000));
        assert_eq!(
            at("2023-11-14T22:13:20.25Z"),
            Some(Duration::new(1_700_000_000, 250_000_000))
        );
        assert_eq!(at("2023-11-14T22:13Z"), secs(1_700_000_000 - 20));
        assert_eq!(at("2023-11-14T22Z"), secs(1_700_000_000 - 13 * 60 - 20));
        assert_eq!(at("2023-11-14Z"), secs(1_699_920_000));
        // Local forms: the same wall clock, shifted by the local zone.
        let local = at("2023-11-14T22:13:20").unwrap().as_secs() as i64;
        assert_eq!(local + crate::sys::utc_offset(local), 1_700_000_000);
        assert!(at("2023-11-14").is_some());
        for bad in [
            "",
            "yesterday",
            "2023-13-01",
            "2023-11-14T25:00",
            "12x",
            "1.2.3",
            "10q",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("5x"), None);
        let g = |ns: u64| go_duration(Duration::from_nanos(ns));
        assert_eq!(g(0), "0s");
        assert_eq!(g(1_000_000_000), "1s");
        assert_eq!(g(1_500_000_000), "1.5s");
        assert_eq!(g(500_000_000), "500ms");
        assert_eq!(g(1_500), "1.5µs");
        assert_eq!(g(90_000_000_000), "1m30s");
        assert_eq!(g(3_600_000_000_000), "1h0m0s");
        assert_eq!(g(3_723_000_000_000), "1h2m3s");
    }
}
