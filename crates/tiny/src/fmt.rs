//! Allocation-free formatting: a fixed buffer, integers, docker's JSON
//! string escaping (as moby's json-file log driver writes it) and
//! RFC 3339 UTC times with nanoseconds.

/// Something bytes can be appended to.
pub trait Sink {
    fn put(&mut self, b: &[u8]);
}

/// A fixed-capacity byte buffer; what does not fit is dropped (and
/// recorded in `overflow`).
pub struct Buf<const N: usize> {
    b: [u8; N],
    len: usize,
    pub overflow: bool,
}

impl<const N: usize> Default for Buf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Buf<N> {
    pub const fn new() -> Self {
        Buf {
            b: [0; N],
            len: 0,
            overflow: false,
        }
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.b[..self.len]
    }

    pub fn push(&mut self, s: &[u8]) -> &mut Self {
        let room = N - self.len;
        let n = s.len().min(room);
        self.b[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
        if n < s.len() {
            self.overflow = true;
        }
        self
    }

    pub fn push_u64(&mut self, v: u64) -> &mut Self {
        let mut t = [0u8; 20];
        let s = u64_dec(v, &mut t);
        self.push(s)
    }

    pub fn push_i64(&mut self, v: i64) -> &mut Self {
        if v < 0 {
            self.push(b"-");
        }
        self.push_u64(v.unsigned_abs())
    }

    /// Appends `s` escaped as a JSON string body (no quotes).
    pub fn push_json_str(&mut self, s: &[u8]) -> &mut Self {
        json_escape(s, self);
        self
    }

    /// The contents as a NUL-terminated C string (a NUL is added; a
    /// contents with an inner NUL ends there).
    pub fn as_cstr(&mut self) -> &core::ffi::CStr {
        if self.len == N {
            self.len -= 1;
            self.overflow = true;
        }
        self.b[self.len] = 0;
        match core::ffi::CStr::from_bytes_until_nul(&self.b[..=self.len]) {
            Ok(c) => c,
            Err(_) => c"",
        }
    }
}

impl<const N: usize> Sink for Buf<N> {
    fn put(&mut self, b: &[u8]) {
        self.push(b);
    }
}

/// Decimal digits of `v` in `t`.
pub fn u64_dec(mut v: u64, t: &mut [u8; 20]) -> &[u8] {
    let mut i = t.len();
    loop {
        i -= 1;
        t[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &t[i..]
}

/// A decimal number (no sign, no spaces).
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(v)
}

pub fn parse_i64(s: &[u8]) -> Option<i64> {
    match s.split_first() {
        Some((b'-', rest)) => parse_u64(rest)
            .and_then(|v| i64::try_from(v).ok())
            .map(|v| -v),
        _ => parse_u64(s).and_then(|v| i64::try_from(v).ok()),
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn escape_valid(s: &[u8], out: &mut dyn Sink) {
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        let rep: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            b'<' => Some(b"\\u003c"),
            b'>' => Some(b"\\u003e"),
            b'&' => Some(b"\\u0026"),
            0xe2 if i + 2 < s.len() && s[i + 1] == 0x80 && s[i + 2] == 0xa8 => Some(b"\\u2028"),
            0xe2 if i + 2 < s.len() && s[i + 1] == 0x80 && s[i + 2] == 0xa9 => Some(b"\\u2029"),
            _ => None,
        };
        if let Some(r) = rep {
            out.put(&s[start..i]);
            out.put(r);
            i += if b == 0xe2 { 3 } else { 1 };
            start = i;
        } else if b < 0x20 {
            out.put(&s[start..i]);
            out.put(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 15) as usize],
            ]);
            i += 1;
            start = i;
        } else {
            i += 1;
        }
    }
    out.put(&s[start..]);
}

/// Escapes bytes as the body of a JSON string the way docker's json-file
/// driver does: `"` `\` and control characters, `<` `>` `&` as `\u00XX`,
/// U+2028/U+2029, and each byte of invalid UTF-8 as `\ufffd`.
pub fn json_escape(s: &[u8], out: &mut dyn Sink) {
    let mut i = 0;
    while i < s.len() {
        let end = s.len().min(i + 256);
        match core::str::from_utf8(&s[i..end]) {
            Ok(_) => {
                escape_valid(&s[i..end], out);
                i = end;
            }
            Err(e) => {
                let v = e.valid_up_to();
                escape_valid(&s[i..i + v], out);
                i += v;
                if e.error_len().is_none() && end < s.len() {
                    // A character cut by the window: look again from it.
                    continue;
                }
                out.put(b"\\ufffd");
                i += 1;
            }
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (docker's RFC3339NanoFixed, UTC).
pub fn rfc3339_nano(secs: i64, nanos: u32, t: &mut [u8; 30]) -> &[u8] {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    fn put(t: &mut [u8], mut v: u64) {
        for i in (0..t.len()).rev() {
            t[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    put(&mut t[0..4], y.clamp(0, 9999) as u64);
    t[4] = b'-';
    put(&mut t[5..7], m as u64);
    t[7] = b'-';
    put(&mut t[8..10], d as u64);
    t[10] = b'T';
    put(&mut t[11..13], (rem / 3600) as u64);
    t[13] = b':';
    put(&mut t[14..16], ((rem % 3600) / 60) as u64);
    t[16] = b':';
    put(&mut t[17..19], (rem % 60) as u64);
    t[19] = b'.';
    put(&mut t[20..29], nanos.min(999_999_999) as u64);
    t[29] = b'Z';
    &t[..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &[u8]) -> String {
        let mut b: Buf<4096> = Buf::new();
        b.push_json_str(s);
        String::from_utf8(b.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn integers() {
        let mut b: Buf<64> = Buf::new();
        b.push_u64(0)
            .push(b" ")
            .push_i64(-42)
            .push(b" ")
            .push_u64(u64::MAX);
        assert_eq!(b.as_bytes(), b"0 -42 18446744073709551615");
        assert_eq!(parse_u64(b"123"), Some(123));
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"1x"), None);
        assert_eq!(parse_u64(b"99999999999999999999"), None);
        assert_eq!(parse_i64(b"-7"), Some(-7));
    }

    #[test]
    fn overflow_truncates() {
        let mut b: Buf<4> = Buf::new();
        b.push(b"abcdef");
        assert_eq!(b.as_bytes(), b"abcd");
        assert!(b.overflow);
        assert_eq!(b.as_cstr().to_bytes(), b"abc");
    }

    #[test]
    fn json_like_docker() {
        assert_eq!(esc(b"hi\n"), "hi\\n");
        assert_eq!(esc(b"a\"b\\c\td\re"), "a\\\"b\\\\c\\td\\re");
        assert_eq!(esc(b"<a&b>"), "\\u003ca\\u0026b\\u003e");
        assert_eq!(esc(b"\x00\x1b["), "\\u0000\\u001b[");
        assert_eq!(
            esc("h\u{e9}llo \u{1f600}".as_bytes()),
            "h\u{e9}llo \u{1f600}"
        );
        assert_eq!(esc("x\u{2028}y\u{2029}".as_bytes()), "x\\u2028y\\u2029");
        // Each invalid byte is one replacement character (Go's DecodeRune).
        assert_eq!(esc(b"a\xffb"), "a\\ufffdb");
        assert_eq!(esc(b"\xe2\x82"), "\\ufffd\\ufffd");
        // The result is JSON that decodes to the lossy text.
        let s = esc("é<\n\x01".as_bytes());
        let v: String = serde_json_like_decode(&s);
        assert_eq!(v, "é<\n\x01");
    }

    #[test]
    fn json_long_and_split_characters() {
        // Multibyte characters straddling the 256-byte window.
        let mut s = Vec::new();
        for _ in 0..300 {
            s.extend_from_slice("é".as_bytes());
        }
        s.push(b'a');
        s.extend_from_slice(b"\xc3");
        let mut b: Buf<8192> = Buf::new();
        b.push_json_str(&s);
        let out = String::from_utf8(b.as_bytes().to_vec()).unwrap();
        assert_eq!(out, format!("{}a\\ufffd", "é".repeat(300)));
    }

    /// Minimal decoder for the escapes produced above.
    fn serde_json_like_decode(s: &str) -> String {
        let mut out = String::new();
        let mut it = s.chars();
        while let Some(c) = it.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match it.next().unwrap() {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'u' => {
                    let h: String = it.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&h, 16).unwrap()).unwrap());
                }
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn times() {
        let mut t = [0u8; 30];
        assert_eq!(
            rfc3339_nano(0, 0, &mut t),
            b"1970-01-01T00:00:00.000000000Z"
        );
        assert_eq!(
            rfc3339_nano(1_700_000_000, 5, &mut t),
            b"2023-11-14T22:13:20.000000005Z"
        );
        assert_eq!(
            rfc3339_nano(951_782_400, 123_456_789, &mut t),
            b"2000-02-29T00:00:00.123456789Z"
        );
        assert_eq!(
            rfc3339_nano(4_102_444_799, 999_999_999, &mut t),
            b"2099-12-31T23:59:59.999999999Z"
        );
    }
}
