//! Times as docker writes and reads them: RFC 3339 with nanoseconds in UTC,
//! civil dates, the values `--since`/`--until` accept, and docker's human
//! durations (`units.HumanDuration`: "3 seconds", "About a minute").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Docker's zero time, used for StartedAt/FinishedAt never set.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The date `(year, month, day)` of a number of days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `(year, month, day, hour, minute, second)` in UTC of a Unix time.
pub fn split(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (y, m, d) = civil_from_days(secs.div_euclid(86400));
    let rem = secs.rem_euclid(86400);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// RFC 3339 in UTC with nine fractional digits, as docker and runc write
/// times: `2023-11-14T22:13:20.000000005Z`.
pub fn rfc3339_nanos(secs: i64, nanos: u32) -> String {
    let (y, m, d, h, mi, s) = split(secs);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{nanos:09}Z")
}

/// [`rfc3339_nanos`] of a `SystemTime` (times before 1970 as 1970).
pub fn format(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339_nanos(d.as_secs() as i64, d.subsec_nanos())
}

/// RFC 3339 in UTC to the second (`2023-11-14T22:13:20Z`), as docker
/// writes a volume's CreatedAt.
pub fn format_secs(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (y, m, d, h, mi, s) = split(secs);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// The current time as [`format`] writes it.
pub fn now() -> String {
    format(SystemTime::now())
}

/// Go's `time.Time.String()` of a Unix time, in UTC:
/// `2024-01-15 10:30:00 +0000 UTC` (docker's CreatedAt columns).
pub fn go_string(secs: i64) -> String {
    let (y, m, d, h, mi, s) = split(secs);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02} +0000 UTC")
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Go's `time.ANSIC` layout of a Unix time in UTC:
/// `Wed Feb 26 10:41:12 2025` (docker's `version` prints build times so).
pub fn ansic(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let (y, m, d, h, mi, s) = split(secs);
    let wd = DAYS[secs.div_euclid(86400).rem_euclid(7) as usize];
    let mon = MONTHS[(m - 1).clamp(0, 11) as usize];
    format!("{wd} {mon} {d:>2} {h:02}:{mi:02}:{s:02} {y}")
}

/// Parses an HTTP date (RFC 7231's IMF-fixdate, `Sun, 06 Nov 1994
/// 08:49:37 GMT`) into Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let f: Vec<&str> = s.split_whitespace().collect();
    if f.len() != 6 || !f[0].ends_with(',') || f[5] != "GMT" {
        return None;
    }
    let d: i64 = f[1].parse().ok()?;
    let m = MONTHS.iter().position(|m| *m == f[2])? as i64 + 1;
    let y: i64 = f[3].parse().ok()?;
    let t: Vec<i64> = f[4]
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if t.len() != 3 || !(1..=31).contains(&d) || t[0] > 23 || t[1] > 59 || t[2] > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86400 + t[0] * 3600 + t[1] * 60 + t[2])
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` (`T` may be `t` or a
/// space; fractions past nanoseconds are cut) into Unix seconds and
/// nanoseconds. Times before 1970 give negative seconds.
pub fn parse_unix(s: &str) -> Option<(i64, u32)> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let mut digits: String = r[..n].chars().take(9).collect();
        while digits.len() < 9 {
            digits.push('0');
        }
        nanos = digits.parse().ok()?;
        rest = &r[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let oh: i64 = o.get(1..3)?.parse().ok()?;
            let om: i64 = o.get(4..6)?.parse().ok()?;
            let v = oh * 3600 + om * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
    Some((secs, nanos))
}

/// [`parse_unix`] as a `SystemTime`; `None` before 1970 (docker's zero
/// time reads as "never").
pub fn parse(s: &str) -> Option<SystemTime> {
    let (secs, nanos) = parse_unix(s)?;
    if secs < 0 {
        return None;
    }
    Some(UNIX_EPOCH + Duration::new(secs as u64, nanos))
}

/// Time elapsed since an RFC 3339 time (zero if unparsable or future).
pub fn since(s: &str) -> Duration {
    parse(s)
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

/// Parses `--since`/`--until` values as docker's `GetTimestamp`, with
/// times without a zone in UTC (see [`parse_since_in`]).
pub fn parse_since(s: &str) -> Option<SystemTime> {
    parse_since_in(s, SystemTime::now(), &|_| 0)
}

/// Docker's `GetTimestamp`: a Go duration before `now` (`10m`, `1h30m`;
/// `-5s` is after it), an RFC 3339 time or a shorter form of it
/// (`2006-01-02`, `2006-01-02T15`, `2006-01-02T15:04`,
/// `2006-01-02T15:04:05[.frac]`), each with `Z` or an offset, or else in
/// the local zone, whose offset east of UTC at a Unix time `utc_offset`
/// gives; or Unix seconds (`1700000000[.5]`).
pub fn parse_since_in(
    s: &str,
    now: SystemTime,
    utc_offset: &dyn Fn(i64) -> i64,
) -> Option<SystemTime> {
    if s != "0" {
        if let Ok(n) = crate::duration::parse_nanos(s) {
            let d = Duration::from_nanos(n.unsigned_abs());
            return if n < 0 {
                now.checked_add(d)
            } else {
                now.checked_sub(d)
            };
        }
    }
    if s.contains('-') {
        return parse_date_time(s, utc_offset);
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

/// `2006-01-02[T15[:04[:05[.frac]]]][Z|±07:00]`; without a zone, local.
fn parse_date_time(s: &str, utc_offset: &dyn Fn(i64) -> i64) -> Option<SystemTime> {
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
            let guess = wall - utc_offset(wall);
            wall - utc_offset(guess)
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

/// Docker's `units.HumanDuration`: `Less than a second`, `1 second`,
/// `45 seconds`, `About a minute`, `10 minutes`, `About an hour`,
/// `2 hours`, `3 days`, `2 weeks`, `3 months`, `2 years`.
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

#[cfg(test)]
mod tests {

    #[test]
    fn http_dates() {
        use super::parse_http_date;
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"), None);
    }

    #[test]
    fn since_forms_as_docker() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let utc = |_| 0;
        let plus_one = |_| 3600;
        let at =
            |s: &str| parse_since_in(s, now, &utc).map(|t| t.duration_since(UNIX_EPOCH).unwrap());
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
        assert_eq!(at("2023-11-14T22:13:20"), secs(1_700_000_000));
        let local = parse_since_in("2023-11-14T23:13:20", now, &plus_one).unwrap();
        assert_eq!(local, UNIX_EPOCH + Duration::from_secs(1_700_000_000));
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
        assert_eq!(format_secs(t), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn formats() {
        assert_eq!(rfc3339_nanos(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339_nanos(1_700_000_000, 5),
            "2023-11-14T22:13:20.000000005Z"
        );
        assert_eq!(
            rfc3339_nanos(951_782_400, 0),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(go_string(1705314600), "2024-01-15 10:30:00 +0000 UTC");
        assert_eq!(ansic(1740566472), "Wed Feb 26 10:41:12 2025");
        assert_eq!(ansic(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(civil_from_days(days_from_civil(1600, 2, 29)), (1600, 2, 29));
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn parses() {
        assert_eq!(parse_unix("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(parse_unix("2024-01-15T10:30:00Z"), Some((1705314600, 0)));
        assert_eq!(
            parse_unix("2024-01-15T12:30:00.5+02:00"),
            Some((1705314600, 500_000_000))
        );
        assert_eq!(
            parse_unix(" 2024-01-15 10:30:00.0000000019Z "),
            Some((1705314600, 1))
        );
        assert_eq!(parse_unix(ZERO_TIME), Some((-62135596800, 0)));
        for bad in [
            "yesterday",
            "2024-01-15T10:30:00",
            "2024-13-15T10:30:00Z",
            "2024-01-15T10:30:00Zjunk",
            "2024-01-15T10:30:00.Z",
            "2024-01-15T10:30:00+0200",
            "2024-01-15T1a:30:00Z",
        ] {
            assert_eq!(parse_unix(bad), None, "{bad}");
        }
    }

    #[test]
    fn since_values() {
        assert_eq!(
            parse_since("1700000000.5"),
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_500))
        );
        assert_eq!(
            parse_since("2023-11-14T22:13:20Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        let t = parse_since("10m").unwrap();
        let ago = SystemTime::now().duration_since(t).unwrap();
        assert!(ago >= Duration::from_secs(600) && ago < Duration::from_secs(660));
        assert_eq!(parse_since("soon"), None);
    }

    #[test]
    fn human() {
        let h = |s: f64| human_duration(Duration::from_secs_f64(s));
        assert_eq!(h(0.2), "Less than a second");
        assert_eq!(h(1.0), "1 second");
        assert_eq!(h(3.0), "3 seconds");
        assert_eq!(h(45.0), "45 seconds");
        assert_eq!(h(61.0), "About a minute");
        assert_eq!(h(90.0), "About a minute");
        assert_eq!(h(600.0), "10 minutes");
        assert_eq!(h(3700.0), "About an hour");
        assert_eq!(h(7200.0), "2 hours");
        assert_eq!(h(3.0 * 3600.0), "3 hours");
        assert_eq!(h(86400.0 * 3.0), "3 days");
        assert_eq!(h(86400.0 * 20.0), "2 weeks");
        assert_eq!(h(86400.0 * 90.0), "3 months");
        assert_eq!(h(86400.0 * 800.0), "2 years");
    }
}
