//! Go's durations: `time.ParseDuration` (`1h30m`, `1.5s`, `500ms`, `-2m`)
//! and `time.Duration.String` (`1h2m3.5s`, `1.5µs`, `0s`).

use std::time::Duration;

/// Why a duration did not parse. The text is Go's without the value
/// (`invalid duration`, `missing unit in duration`): the caller's message
/// names the flag and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why}")]
pub struct ParseError {
    why: &'static str,
}

fn err(why: &'static str) -> ParseError {
    ParseError { why }
}

/// Nanoseconds of a unit of Go's `unitMap`.
fn unit(u: &str) -> Option<u64> {
    Some(match u {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Go's `time.ParseDuration`, to signed nanoseconds: a sequence of
/// decimal numbers, each with an optional fraction and a unit (`ns`, `us`,
/// `µs`, `ms`, `s`, `m`, `h`), optionally signed; `0` alone needs no unit.
pub fn parse_nanos(s: &str) -> Result<i64, ParseError> {
    let mut s = s.as_bytes();
    let mut neg = false;
    if let Some(&c) = s.first() {
        if c == b'-' || c == b'+' {
            neg = c == b'-';
            s = &s[1..];
        }
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(err("invalid duration"));
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(err("invalid duration"));
        }
        // [0-9]*
        let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
        let pre = n > 0;
        let mut v: u64 = 0;
        for &c in &s[..n] {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c - b'0')))
                .filter(|&v| v <= 1 << 63)
                .ok_or_else(|| err("invalid duration"))?;
        }
        s = &s[n..];
        // (\.[0-9]*)?
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
            post = n > 0;
            let mut overflow = false;
            for &c in &s[..n] {
                if overflow {
                    continue;
                }
                match f
                    .checked_mul(10)
                    .and_then(|x| x.checked_add(u64::from(c - b'0')))
                    .filter(|&x| x <= 1 << 63)
                {
                    Some(x) => {
                        f = x;
                        scale *= 10.0;
                    }
                    None => overflow = true,
                }
            }
            s = &s[n..];
        }
        if !pre && !post {
            return Err(err("invalid duration"));
        }
        // The unit: up to the next digit or period.
        let n = s
            .iter()
            .take_while(|&&c| c != b'.' && !c.is_ascii_digit())
            .count();
        if n == 0 {
            return Err(err("missing unit in duration"));
        }
        let u = std::str::from_utf8(&s[..n]).ok().and_then(unit);
        let Some(u) = u else {
            return Err(err("unknown unit in duration"));
        };
        s = &s[n..];
        if v > (1 << 63) / u {
            return Err(err("invalid duration"));
        }
        v *= u;
        if f > 0 {
            v += (f as f64 * (u as f64 / scale)) as u64;
            if v > 1 << 63 {
                return Err(err("invalid duration"));
            }
        }
        d += v;
        if d > 1 << 63 {
            return Err(err("invalid duration"));
        }
    }
    if neg {
        return Ok((d as i64).wrapping_neg());
    }
    if d > i64::MAX as u64 {
        return Err(err("invalid duration"));
    }
    Ok(d as i64)
}

/// [`parse_nanos`] of a duration that is not negative.
pub fn parse(s: &str) -> Option<Duration> {
    let n = parse_nanos(s).ok()?;
    (n >= 0).then(|| Duration::from_nanos(n as u64))
}

/// Go's `time.Duration.String`: `1h2m3.5s`, `1m30s`, `2s`, `500ms`,
/// `1.5µs`, `0s`.
pub fn format(d: Duration) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        assert_eq!(parse("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse("5x"), None);
        let n = |s: &str| parse_nanos(s);
        assert_eq!(n("30s"), Ok(30_000_000_000));
        assert_eq!(n("1m30s"), Ok(90_000_000_000));
        assert_eq!(n("500ms"), Ok(500_000_000));
        assert_eq!(n("0"), Ok(0));
        assert_eq!(n("-0"), Ok(0));
        assert_eq!(n("0.3s"), Ok(300_000_000));
        assert_eq!(n(".5h"), Ok(1_800_000_000_000));
        assert_eq!(n("1.s"), Ok(1_000_000_000));
        assert_eq!(n("-1.5h"), Ok(-5_400_000_000_000));
        assert_eq!(n("+2us"), Ok(2_000));
        assert_eq!(n("3µs2ns"), Ok(3_002));
        assert_eq!(n("2562047h47m16.854775807s"), Ok(i64::MAX));
        assert_eq!(n("-2562047h47m16.854775808s"), Ok(i64::MIN));
        assert!(n("2562047h47m16.854775808s").is_err());
        assert_eq!(n("10").unwrap_err().to_string(), "missing unit in duration");
        assert_eq!(n("5x").unwrap_err().to_string(), "unknown unit in duration");
        assert_eq!(n("x").unwrap_err().to_string(), "invalid duration");
        for bad in ["", "x", ".", "-", "1.5", "s", "1h-2m"] {
            assert!(n(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_like_go() {
        let g = |ns: u64| format(Duration::from_nanos(ns));
        assert_eq!(g(0), "0s");
        assert_eq!(g(1), "1ns");
        assert_eq!(g(1_000_000_000), "1s");
        assert_eq!(g(1_500_000_000), "1.5s");
        assert_eq!(g(500_000_000), "500ms");
        assert_eq!(g(1_500), "1.5µs");
        assert_eq!(g(90_000_000_000), "1m30s");
        assert_eq!(g(3_600_000_000_000), "1h0m0s");
        assert_eq!(g(3_723_000_000_000), "1h2m3s");
    }
}
