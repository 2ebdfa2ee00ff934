//! Sizes in docker's units (github.com/docker/go-units): parsing with
//! `RAMInBytes` (1024-based: `--memory 512m`, `--shm-size 1g`) and
//! `FromHumanSize` (1000-based), printing with `HumanSize` (`4.26MB`) and
//! `BytesSize` (`1.5MiB`), through Go's `%g`.

/// Why a size did not parse. The text is go-units' without the value
/// (`invalid size`, `invalid suffix: 'q'`): the caller's message names the
/// flag and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a number (with an optional suffix) at all; holds the value.
    #[error("invalid size")]
    Size(String),
    /// A number with a suffix that is no unit; holds the suffix.
    #[error("invalid suffix: '{0}'")]
    Suffix(String),
    /// More bytes than an i64 holds; holds the value.
    #[error("size too large")]
    TooLarge(String),
}

/// go-units' `RAMInBytes`: `123`, `10k`, `1.5m`, `2g`, `1tb`, `4MiB`,
/// `1 GB` (units k, m, g, t, p as powers of 1024).
pub fn ram_in_bytes(s: &str) -> Result<i64, ParseError> {
    parse(s, 1024.0)
}

/// go-units' `FromHumanSize`: the same syntax as [`ram_in_bytes`] with
/// powers of 1000 (`1kB` = 1000).
pub fn from_human_size(s: &str) -> Result<i64, ParseError> {
    parse(s, 1000.0)
}

/// go-units' `parseSize`: a decimal number, an optional space, and an
/// optional suffix `b`, or `k`/`m`/`g`/`t`/`p` followed by nothing, `b` or
/// `ib` (any case).
fn parse(s: &str, base: f64) -> Result<i64, ParseError> {
    let bad = || ParseError::Size(s.to_string());
    let sep = s
        .rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
        .ok_or_else(bad)?;
    let (num, sfx) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..sep + 1], &s[sep + 1..])
    };
    // Go's ParseFloat: no space (the number ends at a digit or a period,
    // so no "inf"/"nan" either).
    if num.contains(' ') {
        return Err(bad());
    }
    let size: f64 = num.parse().map_err(|_| bad())?;
    if size < 0.0 {
        return Err(bad());
    }
    let mul = if sfx.is_empty() {
        1.0
    } else {
        let lower = sfx.to_ascii_lowercase();
        let b = lower.as_bytes();
        let bad_sfx = || ParseError::Suffix(lower.clone());
        if b.len() > 3 {
            return Err(ParseError::Suffix(lower.clone()));
        }
        if b[0] == b'b' {
            if b.len() > 1 {
                return Err(bad_sfx());
            }
            1.0
        } else {
            let exp = match b[0] {
                b'k' => 1,
                b'm' => 2,
                b'g' => 3,
                b't' => 4,
                b'p' => 5,
                _ => return Err(bad_sfx()),
            };
            match &lower[1..] {
                "" | "b" | "ib" => {}
                _ => return Err(bad_sfx()),
            }
            base.powi(exp)
        }
    };
    let v = size * mul;
    if !v.is_finite() || v >= i64::MAX as f64 {
        return Err(ParseError::TooLarge(s.to_string()));
    }
    Ok(v as i64)
}

/// Go's `fmt` verb `%.{prec}g`: `4.26`, `1e+03`, `0.0001`, `1e-05`.
pub fn go_g(v: f64, prec: usize) -> String {
    let prec = prec.max(1);
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    // Rounding may bump the exponent (999.6 -> 1e+03).
    let rounded: f64 = format!("{:.*e}", prec - 1, v).parse().unwrap_or(v);
    let exp = if rounded.abs() >= 10f64.powi(exp + 1) {
        exp + 1
    } else {
        exp
    };
    if exp < -4 || exp >= prec as i32 {
        let s = format!("{:.*e}", prec - 1, v);
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = trim_zeros(m);
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", e.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, v)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Decimal units of `HumanSize`.
pub const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
/// Binary units of `BytesSize`.
pub const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// go-units' `CustomSize` with `%.{prec}g`: divide by `base` while the
/// value is at least `base`, then print it with the unit reached.
pub fn custom_size(bytes: u64, prec: usize, base: f64, units: &[&str]) -> String {
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= base && i + 1 < units.len() {
        v /= base;
        i += 1;
    }
    format!("{}{}", go_g(v, prec), units.get(i).copied().unwrap_or(""))
}

/// go-units' `HumanSizeWithPrecision`: decimal units, `prec` significant
/// digits (docker's CLI prints sizes of images, containers and stats'
/// I/O with 3: `4.26MB`, `807kB`, `12B`).
pub fn human_size_with_precision(bytes: u64, prec: usize) -> String {
    custom_size(bytes, prec, 1000.0, &DECIMAL_UNITS)
}

/// go-units' `HumanSize`: decimal units, 4 significant digits
/// (`docker system df`: `1.132GB`).
pub fn human_size(bytes: u64) -> String {
    human_size_with_precision(bytes, 4)
}

/// go-units' `BytesSize`: binary units, 4 significant digits (`1.5MiB`,
/// stats' memory column).
pub fn bytes_size(bytes: u64) -> String {
    custom_size(bytes, 4, 1024.0, &BINARY_UNITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_in_bytes_like_go_units() {
        assert_eq!(ram_in_bytes("1024"), Ok(1024));
        assert_eq!(ram_in_bytes("100"), Ok(100));
        assert_eq!(ram_in_bytes("10k"), Ok(10240));
        assert_eq!(ram_in_bytes("1k"), Ok(1024));
        assert_eq!(ram_in_bytes("2M"), Ok(2 << 20));
        assert_eq!(ram_in_bytes("64m"), Ok(64 << 20));
        assert_eq!(ram_in_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(ram_in_bytes("2GB"), Ok(2 << 30));
        assert_eq!(ram_in_bytes("1MiB"), Ok(1 << 20));
        assert_eq!(ram_in_bytes("1 GB"), Ok(1 << 30));
        assert_eq!(ram_in_bytes("32b"), Ok(32));
        assert_eq!(ram_in_bytes("1p"), Ok(1 << 50));
        assert_eq!(ram_in_bytes("1e3"), Ok(1000));
        assert_eq!(ram_in_bytes("lots"), Err(ParseError::Size("lots".into())));
        assert_eq!(ram_in_bytes("10q"), Err(ParseError::Suffix("q".into())));
        for bad in ["", "-1", "k", "1kk", "1bb", "1kib2", "1mbb", " 1k", "1  k"] {
            assert!(ram_in_bytes(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            ram_in_bytes("9999999p"),
            Err(ParseError::TooLarge(_))
        ));
        assert_eq!(
            ram_in_bytes("10q").unwrap_err().to_string(),
            "invalid suffix: 'q'"
        );
    }

    #[test]
    fn from_human_size_is_decimal() {
        assert_eq!(from_human_size("1kB"), Ok(1000));
        assert_eq!(from_human_size("1.5MB"), Ok(1_500_000));
        assert_eq!(from_human_size("3"), Ok(3));
    }

    #[test]
    fn sizes_like_docker() {
        let h = |b| human_size_with_precision(b, 3);
        assert_eq!(h(0), "0B");
        assert_eq!(h(12), "12B");
        assert_eq!(h(1234), "1.23kB");
        assert_eq!(h(4_261_550), "4.26MB");
        assert_eq!(h(807_000), "807kB");
        assert_eq!(h(1_000_000), "1MB");
        assert_eq!(h(158_000_000), "158MB");
        assert_eq!(h(999_600), "1e+03kB");
        assert_eq!(h(2_500_000_000), "2.5GB");
        assert_eq!(human_size(1_132_000_000), "1.132GB");
        assert_eq!(human_size(16_430), "16.43kB");
        assert_eq!(bytes_size(1536 * 1024), "1.5MiB");
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(2 << 30), "2GiB");
    }

    #[test]
    fn g_like_go() {
        assert_eq!(go_g(0.0001, 3), "0.0001");
        assert_eq!(go_g(0.00001, 3), "1e-05");
        assert_eq!(go_g(123456.0, 3), "1.23e+05");
        assert_eq!(go_g(3.0, 3), "3");
        assert_eq!(go_g(-2.5, 2), "-2.5");
    }
}
