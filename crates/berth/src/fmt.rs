//! Output formatting as docker prints it: sizes (`4.26MB`), durations
//! (`2 hours ago`), timestamps, and tab-aligned tables.

use std::time::{SystemTime, UNIX_EPOCH};

/// Sizes as docker's CLI prints them in `images`, `ps -s` and prune
/// reports: `units.HumanSizeWithPrecision(size, 3)` (`4.26MB`, `807kB`).
pub fn human_size(bytes: u64) -> String {
    berth_util::size::human_size_with_precision(bytes, 3)
}

/// Docker's `units.HumanDuration` of a number of seconds (the engine's).
pub fn human_duration(secs: f64) -> String {
    let d = std::time::Duration::try_from_secs_f64(secs).unwrap_or_default();
    berth_util::time::human_duration(d)
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

/// An RFC 3339 timestamp (`2024-01-15T10:30:00.5Z`, `...+02:00`) as Unix
/// seconds.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    berth_util::time::parse_unix(s).map(|(secs, nanos)| secs as f64 + f64::from(nanos) / 1e9)
}

/// Go's `time.Time.String()` in UTC: `2024-01-15 10:30:00 +0000 UTC`.
pub fn go_time(ts: f64) -> String {
    berth_util::time::go_string(ts.floor() as i64)
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
    tabwrite_with(text, 10, 3)
}

/// Go's tabwriter with another minimum cell width and padding (`docker
/// version` uses `tabwriter.NewWriter(out, 20, 1, 1, ' ', 0)`).
pub fn tabwrite_with(text: &str, min_width: usize, padding: usize) -> String {
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
        min_width: usize,
        padding: usize,
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
                let mut width = self.min_width;
                while this < line1 && self.has_cell(this, column) {
                    width = width.max(text_width(self.lines[this][column]) + self.padding);
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
        min_width,
        padding,
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
        assert_eq!(human_size(4_261_550), "4.26MB");
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
