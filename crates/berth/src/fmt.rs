//! Output formatting as docker prints it: sizes (`4.26MB`), durations
//! (`2 hours ago`), timestamps, and tab-aligned tables.

use std::time::{SystemTime, UNIX_EPOCH};

/// `%.{prec}g` as Go's fmt prints it.
pub fn go_g(v: f64, prec: usize) -> String {
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

/// Docker's `units.HumanSizeWithPrecision(size, 3)`: decimal units,
/// three significant digits (`4.26MB`, `807kB`, `12B`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g(v, 3), UNITS[i])
}

/// Docker's `units.HumanDuration` of a number of seconds (the engine's).
pub fn human_duration(secs: f64) -> String {
    let d = std::time::Duration::try_from_secs_f64(secs).unwrap_or_default();
    ::engine::timeutil::human_duration(d)
}

/// `2 hours ago` for a Unix time in seconds (`N/A` for none).
pub fn since(ts: Option<f64>) -> String {
    match ts {
        Some(t) => format!("{} ago", human_duration(now_f64() - t)),
        None => "N/A".into(),
    }
}

pub fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parse an RFC 3339 timestamp (`2024-01-15T10:30:00.5Z`,
/// `...+02:00`) into Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut frac = 0.0;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        frac = format!("0.{}", &r[..n]).parse().ok()?;
        rest = &r[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let oh: i64 = o[1..3].parse().ok()?;
            let om: i64 = o[4..6].parse().ok()?;
            let v = oh * 3600 + om * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some((days * 86400 + h * 3600 + mi * 60 + se - offset) as f64 + frac)
}

fn split_time(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Go's `time.Time.String()` in UTC: `2024-01-15 10:30:00 +0000 UTC`.
pub fn go_time(ts: f64) -> String {
    let (y, m, d, h, mi, s) = split_time(ts.floor() as i64);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02} +0000 UTC")
}

/// RFC 3339 with nanoseconds in UTC, as docker writes `Created`.
pub fn rfc3339_nanos(ts: SystemTime) -> String {
    let d = ts.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (y, m, dd, h, mi, s) = split_time(d.as_secs() as i64);
    format!(
        "{y:04}-{m:02}-{dd:02}T{h:02}:{mi:02}:{s:02}.{:09}Z",
        d.subsec_nanos()
    )
}

/// The columns a character takes on a terminal, as go-runewidth counts them
/// for docker's tabwriter: 2 for East Asian wide and fullwidth characters
/// and emoji, 0 for combining marks and zero-width characters, else 1.
fn char_width(c: char) -> usize {
    let u = c as u32;
    match u {
        0x0300..=0x036F | 0x200B..=0x200F | 0x20D0..=0x20FF | 0xFE00..=0xFE0F => 0,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// Display width of a cell.
pub fn text_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// docker's tabwriter (`tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)` in
/// docker/cli's formatter): a cell is text ended by a tab; a column is as
/// wide as its widest cell plus 3, at least 10, counted over a block of
/// consecutive lines that all have that cell (a line with fewer cells ends
/// the block); the text after a line's last tab is not aligned.
pub fn tabwrite(text: &str) -> String {
    const MIN_WIDTH: usize = 10;
    const PADDING: usize = 3;
    let segs: Vec<&str> = text.split('\n').collect();
    let mut lines: Vec<Vec<&str>> = segs.iter().map(|l| l.split('\t').collect()).collect();
    // The unterminated end: an empty last piece is no cell.
    if let Some(last) = lines.last_mut() {
        if last.last() == Some(&"") {
            last.pop();
        }
    }
    struct Tw<'a> {
        lines: Vec<Vec<&'a str>>,
        widths: Vec<usize>,
        out: String,
    }
    impl Tw<'_> {
        fn has_cell(&self, line: usize, column: usize) -> bool {
            column + 1 < self.lines[line].len()
        }
        fn write_lines(&mut self, line0: usize, line1: usize) {
            for i in line0..line1 {
                for (j, c) in self.lines[i].iter().enumerate() {
                    self.out.push_str(c);
                    if let Some(w) = self.widths.get(j) {
                        let n = w.saturating_sub(text_width(c));
                        self.out.extend(std::iter::repeat(' ').take(n));
                    }
                }
                if i + 1 < self.lines.len() {
                    self.out.push('\n');
                }
            }
        }
        fn format(&mut self, mut line0: usize, line1: usize) {
            let column = self.widths.len();
            let mut this = line0;
            while this < line1 {
                if !self.has_cell(this, column) {
                    this += 1;
                    continue;
                }
                self.write_lines(line0, this);
                line0 = this;
                let mut width = MIN_WIDTH;
                while this < line1 && self.has_cell(this, column) {
                    width = width.max(text_width(self.lines[this][column]) + PADDING);
                    this += 1;
                }
                self.widths.push(width);
                self.format(line0, this);
                self.widths.pop();
                line0 = this;
            }
            self.write_lines(line0, line1);
        }
    }
    let n = lines.len();
    let mut tw = Tw {
        lines: std::mem::take(&mut lines),
        widths: Vec::new(),
        out: String::new(),
    };
    tw.format(0, n);
    tw.out
}

/// [`tabwrite`] of whole lines.
pub fn tabwrite_lines(lines: &[String]) -> String {
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    tabwrite(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(12), "12B");
        assert_eq!(human_size(1234), "1.23kB");
        assert_eq!(human_size(4_261_550), "4.26MB");
        assert_eq!(human_size(807_000), "807kB");
        assert_eq!(human_size(1_000_000), "1MB");
        assert_eq!(human_size(158_000_000), "158MB");
        assert_eq!(human_size(999_600), "1e+03kB");
        assert_eq!(human_size(2_500_000_000), "2.5GB");
    }

    #[test]
    fn durations_like_docker() {
        assert_eq!(human_duration(0.2), "Less than a second");
        assert_eq!(human_duration(1.0), "1 second");
        assert_eq!(human_duration(45.0), "45 seconds");
        assert_eq!(human_duration(61.0), "About a minute");
        assert_eq!(human_duration(600.0), "10 minutes");
        assert_eq!(human_duration(3700.0), "About an hour");
        assert_eq!(human_duration(7200.0), "2 hours");
        assert_eq!(human_duration(86400.0 * 3.0), "3 days");
        assert_eq!(human_duration(86400.0 * 20.0), "2 weeks");
        assert_eq!(human_duration(86400.0 * 90.0), "3 months");
        assert_eq!(human_duration(86400.0 * 800.0), "2 years");
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_rfc3339("2024-01-15T10:30:00Z"), Some(1705314600.0));
        assert_eq!(
            parse_rfc3339("2024-01-15T12:30:00.5+02:00"),
            Some(1705314600.5)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(go_time(1705314600.0), "2024-01-15 10:30:00 +0000 UTC");
        let t = UNIX_EPOCH + std::time::Duration::new(1705314600, 5);
        assert_eq!(rfc3339_nanos(t), "2024-01-15T10:30:00.000000005Z");
        assert_eq!(
            parse_rfc3339(&rfc3339_nanos(t)).map(|v| v as i64),
            Some(1705314600)
        );
    }

    #[test]
    fn table() {
        let t = tabwrite_lines(&[
            "REPOSITORY\tTAG\tSIZE".into(),
            "busybox\tlatest\t4MB".into(),
        ]);
        assert_eq!(
            t,
            "REPOSITORY   TAG       SIZE\nbusybox      latest    4MB\n"
        );
    }

    /// Go's tabwriter: widths hold over blocks of lines having the cell; a
    /// line with no tab ends every block; the last cell is not padded.
    #[test]
    fn tabwriter_blocks_like_go() {
        assert_eq!(
            tabwrite("a\tb\tc\nlonger-cell-here\tx\ny\n"),
            "a                  b         c\nlonger-cell-here   x\ny\n"
        );
        // A line with one cell splits the table in two blocks.
        assert_eq!(
            tabwrite("aaaaaaaaaaaaaaa\tb\nplain\nc\td\n"),
            "aaaaaaaaaaaaaaa   b\nplain\nc         d\n"
        );
        // Column 1 is aligned only over the lines that have it.
        assert_eq!(
            tabwrite("a\tbbbbbbbbbbbbbb\tc\nd\te\nf\tg\th\n"),
            "a         bbbbbbbbbbbbbb   c\nd         e\nf         g         h\n"
        );
        // Trailing text with no newline; wide characters count twice.
        assert_eq!(
            tabwrite("\u{4e2d}\u{6587}\tx\nab\ty"),
            "\u{4e2d}\u{6587}      x\nab        y"
        );
        assert_eq!(tabwrite(""), "");
        assert_eq!(tabwrite("a\t\n"), "a         \n");
    }
}
