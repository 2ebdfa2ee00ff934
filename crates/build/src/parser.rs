//! The Dockerfile's lines as BuildKit's parser reads them
//! (`frontend/dockerfile/parser`): parser directives (`# syntax=`,
//! `# escape=`, `# check=`) only at the very top, a BOM dropped, comments,
//! line continuations with the escape token (comments and empty lines
//! inside them skipped), builder flags (`--x=y` before the arguments),
//! each instruction's argument syntax (JSON form when the text is a JSON
//! array of strings, else the shell form; `ENV`/`LABEL` in both forms),
//! and heredocs (`<<EOF`, `<<-EOF`, quoted names, several on one line).
//!
//! The result is a list of [`Node`]s, one per instruction, whose arguments
//! are still unexpanded (quotes included where BuildKit keeps them).

use std::fmt;
use std::sync::OnceLock;

use regex::Regex;

use crate::shell::{go_quote, Lex, NoEnv};

/// A parse error, located (`Dockerfile:7:1: unknown instruction: RUNN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The Dockerfile's name as the user gave it.
    pub file: String,
    /// 1-based line where the instruction starts (0: no line).
    pub line: usize,
    /// 1-based column (the instruction's first character).
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for ParseError {}

/// A heredoc attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Heredoc {
    /// The delimiter word, quotes removed (`EOF`).
    pub name: String,
    /// `3<<EOF`: the file descriptor (0 when not given).
    pub file_descriptor: u32,
    /// Variables are expanded in the content (the delimiter was unquoted).
    pub expand: bool,
    /// `<<-`: leading tabs are removed from the content.
    pub chomp: bool,
    /// The lines between the instruction and the delimiter, newlines kept.
    pub content: String,
}

/// A parser directive from the top of the file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Directive {
    pub name: String,
    pub value: String,
    pub line: usize,
}

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The instruction word as written (`run`, `RUN`, `Run`).
    pub cmd: String,
    /// The joined line (continuations removed).
    pub original: String,
    /// Builder flags (`--mount=type=cache,target=/x`), quotes removed.
    pub flags: Vec<String>,
    /// The arguments after the instruction's own syntax (BuildKit's
    /// `nodeArgs`): for ENV and LABEL triples key, value, `=` or ``; for
    /// ONBUILD the inner instruction word then its arguments.
    pub args: Vec<String>,
    /// The arguments were a JSON array.
    pub json: bool,
    /// ONBUILD's instruction.
    pub sub: Option<Box<Node>>,
    pub heredocs: Vec<Heredoc>,
    /// 1-based first and last line (heredoc bodies included).
    pub start_line: usize,
    pub end_line: usize,
    /// 1-based column of the instruction word on its first line.
    pub column: usize,
}

impl Node {
    /// BuildKit's `Node.Dump` (the format of its parser test results).
    pub fn dump(&self) -> String {
        let mut s = self.cmd.to_lowercase();
        if !self.flags.is_empty() {
            let f: Vec<String> = self.flags.iter().map(|f| go_quote(f)).collect();
            s.push_str(&format!(" [{}]", f.join(" ")));
        }
        if let Some(sub) = &self.sub {
            s.push_str(&format!(" ({})", sub.dump()));
        } else {
            for a in &self.args {
                s.push(' ');
                s.push_str(&go_quote(a));
            }
        }
        s.trim().to_string()
    }
}

/// A warning of the parser (empty continuation lines).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    pub message: String,
    pub line: usize,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ast {
    pub directives: Vec<Directive>,
    /// The escape token in force (`\` or `` ` ``).
    pub escape: char,
    pub nodes: Vec<Node>,
    pub warnings: Vec<Warning>,
}

impl Ast {
    /// BuildKit's dump of the whole tree, one instruction a line.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            s.push('(');
            s.push_str(&n.dump());
            s.push_str(")\n");
        }
        s.trim().to_string()
    }
}

const MAX_LINE: usize = 64 * 1024;

struct Directives {
    escape: char,
    /// The directive parser stopped (a line that is no directive).
    done: bool,
    seen: Vec<Directive>,
}

impl Directives {
    fn set_escape(&mut self, v: &str) -> Result<(), String> {
        if v != "`" && v != "\\" {
            return Err(format!("invalid escape token '{v}' does not match ` or \\"));
        }
        self.escape = v.chars().next().unwrap_or('\\');
        Ok(())
    }

    /// `DirectiveParser.ParseLine`: whether the line is a directive.
    fn parse_line(&mut self, line: &str, line_no: usize) -> Result<bool, String> {
        static RE: OnceLock<Regex> = OnceLock::new();
        if self.done {
            return Ok(false);
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(false);
        };
        let rest = rest.trim_start();
        let re = RE.get_or_init(|| {
            Regex::new(r"^([a-zA-Z][a-zA-Z0-9]*)[\t\n\x0c\r ]*=[\t\n\x0c\r ]*(.+?)[\t\n\x0c\r ]*$")
                .expect("directive regex")
        });
        let Some(c) = re.captures(rest) else {
            self.done = true;
            return Ok(false);
        };
        let k = c[1].to_lowercase();
        if !matches!(k.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        if self.seen.iter().any(|d| d.name == k) {
            return Err(format!("only one {k} parser directive can be used"));
        }
        let v = c[2].to_string();
        if k == "escape" {
            self.set_escape(&v)?;
        }
        self.seen.push(Directive {
            name: k,
            value: v,
            line: line_no,
        });
        Ok(true)
    }
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn is_empty_continuation_line(line: &str) -> bool {
    trim_newline(line).trim_start().is_empty()
}

/// The line without a final escape token (and blanks after it), and
/// whether it ended the instruction (BuildKit's continuation regex:
/// `([^\\])\\[ \t]*$|^\\[ \t]*$`).
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    if let Some(before) = t.strip_suffix(escape) {
        match before.chars().last() {
            None => return (String::new(), false),
            Some(c) if c != escape => {
                return (before.to_string(), false);
            }
            _ => {}
        }
    }
    (line.to_string(), true)
}

/// `processLine`: newline (and left blanks) trimmed, directives noted, a
/// comment becomes an empty line.
fn process_line(
    d: &mut Directives,
    token: &str,
    strip_left: bool,
    line_no: usize,
) -> Result<String, String> {
    let mut token = trim_newline(token);
    if strip_left {
        token = token.trim_start();
    }
    d.parse_line(token, line_no)?;
    if is_comment(token) {
        return Ok(String::new());
    }
    Ok(token.to_string())
}

fn is_ws_re(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Go's `reWhitespace.Split(s, n)` for `[\t\v\f\r ]+`.
fn split_ws(s: &str, n: usize) -> Vec<String> {
    let mut out = vec![];
    let mut rest = s;
    loop {
        if n != 0 && out.len() + 1 == n {
            out.push(rest.to_string());
            return out;
        }
        match rest.find(is_ws_re) {
            None => {
                out.push(rest.to_string());
                return out;
            }
            Some(i) => {
                out.push(rest[..i].to_string());
                rest = rest[i..].trim_start_matches(is_ws_re);
            }
        }
    }
}

/// `splitCommand`: the instruction word, the builder flags and the rest.
fn split_command(line: &str, escape: char) -> (String, Vec<String>, String) {
    let parts = split_ws(line.trim(), 2);
    let cmd = parts[0].clone();
    if parts.len() == 2 {
        let (args, flags) = extract_builder_flags(&parts[1], escape);
        (cmd, flags, args.trim().to_string())
    } else {
        (cmd, vec![], String::new())
    }
}

/// `extractBuilderFlags`. Like BuildKit it reads bytes, not characters: a
/// byte of a multibyte character is taken as the character of that value.
fn extract_builder_flags(line: &str, escape: char) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let b = line.as_bytes();
    let mut words = vec![];
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    let esc = escape;
    while pos <= b.len() {
        let mut ch = if pos < b.len() { b[pos] as char } else { '\0' };
        if phase == Phase::Spaces {
            if pos == b.len() {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            if ch != '-' || pos + 1 == b.len() || b[pos + 1] != b'-' {
                return (bytes_from(b, pos), words);
            }
            phase = Phase::Word;
        }
        if pos == b.len() {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (bytes_from(b, pos), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            if ch == esc {
                if pos + 1 == b.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                ch = b[pos] as char;
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        if ch == esc {
            if pos + 1 == b.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            ch = b[pos] as char;
        }
        word.push(ch);
        pos += 1;
    }
    (String::new(), words)
}

/// The rest of a line from a byte offset that may fall inside a
/// character (BuildKit slices bytes).
fn bytes_from(b: &[u8], pos: usize) -> String {
    String::from_utf8_lossy(&b[pos..]).into_owned()
}

/// `parseWords`: blank-separated words, quotes and escapes kept.
fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = vec![];
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut w = String::new();
    let mut pos = 0;
    while pos <= chars.len() {
        let mut ch = chars.get(pos).copied().unwrap_or('\0');
        if phase == Phase::Spaces {
            if pos == chars.len() {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if pos == chars.len() {
            if blank_ok || !w.is_empty() {
                words.push(w);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !w.is_empty() {
                    words.push(std::mem::take(&mut w));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                w.push(ch);
                pos += 1;
                ch = chars[pos];
            }
            w.push(ch);
            pos += 1;
            continue;
        }
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            w.push(ch);
            ch = chars[pos];
        }
        w.push(ch);
        pos += 1;
    }
    words
}

/// What one instruction's argument syntax gave.
struct Parsed {
    args: Vec<String>,
    json: bool,
    sub: Option<Box<Node>>,
}

impl Parsed {
    fn list(args: Vec<String>) -> Self {
        Parsed {
            args,
            json: false,
            sub: None,
        }
    }
}

const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// `parseJSON`: Ok(None) when the text is no JSON array.
fn parse_json(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(v) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else {
        return Ok(None);
    };
    v.into_iter()
        .map(|x| match x {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(NOT_STRING_ARRAY.to_string()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn parse_maybe_json(rest: &str) -> Result<Parsed, String> {
    if rest.is_empty() {
        return Ok(Parsed::list(vec![]));
    }
    if let Some(v) = parse_json(rest)? {
        return Ok(Parsed {
            args: v,
            json: true,
            sub: None,
        });
    }
    Ok(Parsed::list(vec![rest.to_string()]))
}

fn parse_strings_ws(rest: &str) -> Parsed {
    if rest.is_empty() {
        return Parsed::list(vec![]);
    }
    Parsed::list(split_ws(rest, 0))
}

fn parse_maybe_json_to_list(rest: &str) -> Result<Parsed, String> {
    if let Some(v) = parse_json(rest)? {
        return Ok(Parsed {
            args: v,
            json: true,
            sub: None,
        });
    }
    Ok(parse_strings_ws(rest))
}

fn parse_name_val(rest: &str, key: &str, escape: char) -> Result<Parsed, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Ok(Parsed::list(vec![]));
    }
    if !words[0].contains('=') {
        let parts = split_ws(rest, 2);
        if parts.len() < 2 {
            return Err(format!("{key} must have two arguments"));
        }
        return Ok(Parsed::list(vec![
            parts[0].clone(),
            parts[1].clone(),
            String::new(),
        ]));
    }
    let mut args = vec![];
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                go_quote(&w)
            ));
        };
        args.extend([k.to_string(), v.to_string(), "=".to_string()]);
    }
    Ok(Parsed::list(args))
}

fn parse_health_config(rest: &str) -> Result<Parsed, String> {
    // Byte-wise, as BuildKit.
    let b = rest.as_bytes();
    let sep = b
        .iter()
        .position(|&c| (c as char).is_whitespace())
        .unwrap_or(b.len());
    let next = b[sep..]
        .iter()
        .position(|&c| !(c as char).is_whitespace())
        .map_or(b.len(), |i| sep + i);
    if sep == 0 {
        return Ok(Parsed::list(vec![]));
    }
    let typ = String::from_utf8_lossy(&b[..sep]).into_owned();
    let cmd = parse_maybe_json(&String::from_utf8_lossy(&b[next..]))?;
    let mut args = vec![typ];
    args.extend(cmd.args);
    Ok(Parsed {
        args,
        json: cmd.json,
        sub: None,
    })
}

/// `newNodeFromLine` (lines and heredocs are set by the caller).
fn node_from_line(line: &str, escape: char) -> Result<Node, String> {
    let (cmd, flags, rest) = split_command(line, escape);
    let p = match cmd.to_lowercase().as_str() {
        "add" | "copy" | "volume" => parse_maybe_json_to_list(&rest)?,
        "arg" => Parsed::list(parse_words(&rest, escape)),
        "cmd" | "entrypoint" | "run" | "shell" => parse_maybe_json(&rest)?,
        "env" => parse_name_val(&rest, "ENV", escape)?,
        "label" => parse_name_val(&rest, "LABEL", escape)?,
        "expose" | "from" => parse_strings_ws(&rest),
        "healthcheck" => parse_health_config(&rest)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            if rest.is_empty() {
                Parsed::list(vec![])
            } else {
                Parsed::list(vec![rest.clone()])
            }
        }
        "onbuild" => {
            if rest.is_empty() {
                Parsed::list(vec![])
            } else {
                let child = node_from_line(&rest, escape)?;
                let mut args = vec![child.cmd.clone()];
                args.extend(child.args.iter().cloned());
                Parsed {
                    args,
                    json: false,
                    sub: Some(Box::new(child)),
                }
            }
        }
        _ => Parsed::list(vec![]),
    };
    Ok(Node {
        cmd,
        original: line.to_string(),
        flags,
        args: p.args,
        json: p.json,
        sub: p.sub,
        heredocs: vec![],
        start_line: 0,
        end_line: 0,
        column: 1,
    })
}

fn can_contain_heredoc(n: &Node) -> bool {
    let n = match (&n.sub, n.cmd.eq_ignore_ascii_case("onbuild")) {
        (Some(s), true) => s,
        _ => n,
    };
    matches!(n.cmd.to_lowercase().as_str(), "add" | "copy" | "run") && !n.json
}

/// `ParseHeredoc`: the heredoc a word starts (`<<EOF`, `3<<-'EOF'`), if any.
pub fn parse_heredoc(src: &str) -> Result<Option<Heredoc>, String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"^([0-9]*)<<(-?)[\t\n\x0c\r ]*([^<]*)$").expect("heredoc regex")
    });
    let Some(c) = re.captures(src) else {
        return Ok(None);
    };
    let fd = c[1].parse::<u32>().unwrap_or(0);
    let chomp = &c[2] == "-";
    let rest = &c[3];
    if rest.is_empty() {
        return Ok(None);
    }
    let mut lex = Lex::new('\\');
    lex.skip_unset_env = true;
    let words = lex.process_words(rest, &NoEnv).map_err(|e| e.0)?;
    if words.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw = lex.process_words(rest, &NoEnv).map_err(|e| e.0)?;
    if raw.len() != words.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    let expand = quotes(&words[0]) == quotes(&raw[0]);
    Ok(Some(Heredoc {
        name: words[0].clone(),
        file_descriptor: fd,
        expand,
        chomp,
        content: String::new(),
    }))
}

/// `ChompHeredocContent`: leading tabs of every line removed.
pub fn chomp_heredoc_content(s: &str) -> String {
    s.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let mut lex = Lex::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset_env = true;
    let words = lex.process_words(line, &NoEnv).unwrap_or_default();
    let mut docs = vec![];
    for w in words {
        if let Some(h) = parse_heredoc(&w)? {
            docs.push(h);
        }
    }
    Ok(docs)
}

/// Parses a Dockerfile (`file` names it in errors).
pub fn parse(file: &str, src: &[u8]) -> Result<Ast, ParseError> {
    let text = String::from_utf8_lossy(src);
    let src: &str = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut lines = src.split_inclusive('\n');
    let fail = |line: usize, column: usize, message: String| ParseError {
        file: file.to_string(),
        line,
        column,
        message,
    };
    let mut d = Directives {
        escape: '\\',
        done: false,
        seen: vec![],
    };
    let mut nodes = vec![];
    let mut warnings = vec![];
    let mut current = 0usize;
    while let Some(raw) = lines.next() {
        if raw.len() > MAX_LINE {
            return Err(fail(
                current + 1,
                1,
                format!(
                    "dockerfile line greater than max allowed size of {}",
                    MAX_LINE - 1
                ),
            ));
        }
        let column = 1 + raw.chars().take_while(|c| c.is_whitespace()).count();
        let line =
            process_line(&mut d, raw, true, current + 1).map_err(|m| fail(current + 1, 1, m))?;
        current += 1;
        let start = current;
        let (first, mut end) = trim_continuation(&line, d.escape);
        if end && first.is_empty() {
            continue;
        }
        let mut buf = first;
        let mut empty_continuation = false;
        while !end {
            let Some(next) = lines.next() else { break };
            let b = process_line(&mut d, next, false, current + 1)
                .map_err(|m| fail(current + 1, 1, m))?;
            current += 1;
            if is_comment(next) {
                continue;
            }
            if is_empty_continuation_line(&b) {
                empty_continuation = true;
                continue;
            }
            let (b, e) = trim_continuation(&b, d.escape);
            end = e;
            buf.push_str(&b);
        }
        if empty_continuation {
            warnings.push(Warning {
                message: format!("Empty continuation line found in: {buf}"),
                line: current,
            });
        }
        let mut node = node_from_line(&buf, d.escape).map_err(|m| fail(start, column, m))?;
        if can_contain_heredoc(&node) && buf.contains("<<") {
            let docs = heredocs_from_line(&buf).map_err(|m| fail(start, column, m))?;
            for mut h in docs {
                let mut content = String::new();
                let mut terminated = false;
                for l in lines.by_ref() {
                    current += 1;
                    let mut t = trim_newline(l);
                    if h.chomp {
                        t = t.trim_start_matches('\t');
                    }
                    if t == h.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(l);
                }
                if !terminated {
                    return Err(fail(start, column, "unterminated heredoc".into()));
                }
                h.content = content;
                node.heredocs.push(h);
            }
        }
        node.start_line = start;
        node.end_line = current;
        node.column = column;
        if let Some(sub) = node.sub.as_mut() {
            sub.start_line = start;
            sub.end_line = current;
            sub.column = column;
        }
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(fail(current, 1, "file with no instructions".into()));
    }
    Ok(Ast {
        directives: d.seen,
        escape: d.escape,
        nodes,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        // parser_test.go TestParseWords
        assert_eq!(parse_words("foo", '\\'), ["foo"]);
        assert_eq!(parse_words("foo bar", '\\'), ["foo", "bar"]);
        assert_eq!(parse_words("foo\\ bar", '\\'), ["foo\\ bar"]);
        assert_eq!(parse_words("foo=bar", '\\'), ["foo=bar"]);
        assert_eq!(
            parse_words("foo bar 'abc xyz'", '\\'),
            ["foo", "bar", "'abc xyz'"]
        );
        assert_eq!(
            parse_words("foo bar \"abc xyz\"", '\\'),
            ["foo", "bar", "\"abc xyz\""]
        );
        assert_eq!(parse_words("àöû", '\\'), ["àöû"]);
        assert_eq!(parse_words("föo bàr", '\\'), ["föo", "bàr"]);
    }

    #[test]
    fn flags() {
        let (rest, f) = extract_builder_flags("--a=b --c=\"d e\" x y", '\\');
        assert_eq!(f, ["--a=b", "--c=d e"]);
        assert_eq!(rest, "x y");
        let (rest, f) = extract_builder_flags("--a -- --b", '\\');
        assert_eq!(f, ["--a"]);
        assert_eq!(rest, " --b");
        let (rest, f) = extract_builder_flags("--a", '\\');
        assert_eq!(f, ["--a"]);
        assert_eq!(rest, "");
    }

    #[test]
    fn continuation() {
        assert_eq!(trim_continuation("a \\", '\\'), ("a ".into(), false));
        assert_eq!(trim_continuation("\\  ", '\\'), ("".into(), false));
        assert_eq!(trim_continuation("a \\\\", '\\'), ("a \\\\".into(), true));
        assert_eq!(trim_continuation("a `", '`'), ("a ".into(), false));
        assert_eq!(trim_continuation("a", '\\'), ("a".into(), true));
    }
}
