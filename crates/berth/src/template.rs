//! Go's `text/template` over JSON values, with docker's template functions,
//! for every `--format` of the CLI.
//!
//! The whole language: text and actions with `{{-`/`-}}` trimming and
//! comments; pipelines with `|`, parenthesised pipelines and chained fields
//! (`(index .A 0).B`); variables (`$`, `$x := ...`, `$x = ...`); `if`,
//! `else if`, `with`, `else with`, `range` (over lists, maps in key order and
//! integers, with `$i, $v :=`, `else`, `break`, `continue`), `define`,
//! `template` and `block`; Go's built-in functions (`and`, `or`, `not`,
//! `len`, `index`, `slice`, `print`, `printf`, `println`, `eq`, `ne`, `lt`,
//! `le`, `gt`, `ge`, `html`, `js`, `urlquery`) and docker's (`json`, `join`,
//! `split`, `title`, `lower`, `upper`, `pad`, `truncate`, from docker/cli's
//! `templates/templates.go`). Values print as Go's `fmt` prints them
//! (`[a b]`, `map[k:v]`, `<nil>`).
//!
//! No crate did this for Berth: `gtmpl` 0.7 (the last release, "passively
//! maintained") prints lists as Rust's `Debug` (`[String("sh")]`), ranges
//! over maps in hash order and runs `range`'s `else` after a non-empty list;
//! `gotmpl` 0.6.1 accepts a stray `{{end}}` (ending the template there) and
//! unclosed blocks, gives runtime errors without Go's position and node,
//! prints `nil` as `<no value>` and `1e21` as `1000000000000000000000`, and
//! cannot call a field with arguments (docker's `.Label "k"`): the evidence
//! is in docs/INTERNALS.md, "Go templates"; `gotpl` binds Go's own library
//! through cgo.
//!
//! Data are JSON values in the place of docker's Go structs: a field of an
//! object is its key, and a missing key is an error as it is for docker
//! (`can't evaluate field`, or `map has no entry for key` under inspect's
//! `missingkey=error`). A field given arguments (`{{.Label "k"}}`, docker's
//! methods) indexes the object with them.

use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use std::fmt::Write as _;

// ---- lexing -----------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// `.A.B` (an empty path for `.`); `chained` when it follows `)` or
    /// another operand with no space, as in `(x).A`.
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Num(Value),
    Bool(bool),
    Nil,
    Ident(String),
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Whitespace before it (a field after `)` with none is chained).
    spaced: bool,
    /// Where it starts: line, and bytes from the line's start (Go's
    /// `template: :LINE:COL:` of an execution error).
    line: usize,
    col: usize,
}

/// One `{{...}}` or the text between two.
#[derive(Debug)]
enum Item {
    Text(String),
    Action { toks: Vec<Token>, line: usize },
}

fn err_at(line: usize, msg: impl std::fmt::Display) -> String {
    format!("template: :{line}: {msg}")
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Read a field path `.A.B` (after the first dot was consumed).
fn read_path(chars: &[char], i: &mut usize) -> Vec<String> {
    let mut path = Vec::new();
    loop {
        let start = *i;
        while *i < chars.len() && is_ident_char(chars[*i]) {
            *i += 1;
        }
        path.push(chars[start..*i].iter().collect());
        if *i < chars.len()
            && chars[*i] == '.'
            && *i + 1 < chars.len()
            && is_ident_char(chars[*i + 1])
        {
            *i += 1;
            continue;
        }
        return path;
    }
}

fn unquote_go(s: &[char], line: usize) -> Result<String, String> {
    // Go's interpreted string: the escapes of JSON plus \a \b \f \v \x \' \u \U and octal.
    let mut out = String::new();
    let mut i = 0;
    let bad = || err_at(line, "bad character in string literal");
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = *s.get(i).ok_or_else(bad)?;
        i += 1;
        let hex = |n: usize, i: &mut usize| -> Result<u32, String> {
            let h: String = s.get(*i..*i + n).ok_or_else(bad)?.iter().collect();
            *i += n;
            u32::from_str_radix(&h, 16).map_err(|_| bad())
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' => out.push(char::from_u32(hex(2, &mut i)?).ok_or_else(bad)?),
            'u' => out.push(char::from_u32(hex(4, &mut i)?).ok_or_else(bad)?),
            'U' => out.push(char::from_u32(hex(8, &mut i)?).ok_or_else(bad)?),
            '0'..='7' => {
                let o: String = s.get(i - 1..i + 2).ok_or_else(bad)?.iter().collect();
                i += 2;
                let v = u32::from_str_radix(&o, 8).map_err(|_| bad())?;
                out.push(char::from_u32(v).ok_or_else(bad)?);
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

fn parse_number(s: &str, line: usize) -> Result<Value, String> {
    let bad = || err_at(line, format!("bad number syntax: {s:?}"));
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let radix = if lower.starts_with("0x") {
        Some((16, &body[2..]))
    } else if lower.starts_with("0o") {
        Some((8, &body[2..]))
    } else if lower.starts_with("0b") {
        Some((2, &body[2..]))
    } else if body.len() > 1 && body.starts_with('0') && body.chars().all(|c| c.is_ascii_digit()) {
        Some((8, &body[1..]))
    } else {
        None
    };
    if let Some((r, digits)) = radix {
        let v = i64::from_str_radix(digits, r).map_err(|_| bad())?;
        return Ok(Value::from(if neg { -v } else { v }));
    }
    if let Ok(v) = body.parse::<i64>() {
        return Ok(Value::from(if neg { -v } else { v }));
    }
    if let Ok(v) = body.parse::<u64>() {
        if !neg {
            return Ok(Value::from(v));
        }
    }
    match body.parse::<f64>() {
        Ok(v)
            if body
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == '.') =>
        {
            Number::from_f64(if neg { -v } else { v })
                .map(Value::Number)
                .ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

/// Split the source into text and actions, applying trim markers.
fn lex(src: &str) -> Result<Vec<Item>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut items = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let mut text = String::new();
    let mut trim_next_text = false;
    let mut line_start = 0;
    let at = |i: usize, s: &str| {
        s.chars()
            .enumerate()
            .all(|(k, c)| chars.get(i + k) == Some(&c))
    };
    while i < chars.len() {
        if !at(i, "{{") {
            if chars[i] == '\n' {
                line += 1;
                line_start = i + 1;
            }
            text.push(chars[i]);
            i += 1;
            continue;
        }
        // An action: `{{- ` trims the text before it.
        let mut j = i + 2;
        if at(j, "- ") || at(j, "-\t") || at(j, "-\n") || at(j, "-\r") {
            text.truncate(text.trim_end().len());
            j += 1;
        }
        if trim_next_text {
            text = text.trim_start().to_string();
        }
        if !text.is_empty() {
            items.push(Item::Text(std::mem::take(&mut text)));
        }
        trim_next_text = false;
        let start_line = line;
        // Comments.
        let mut k = j;
        while k < chars.len() && chars[k].is_whitespace() {
            k += 1;
        }
        if at(k, "/*") {
            let mut e = k + 2;
            while e < chars.len() && !at(e, "*/") {
                if chars[e] == '\n' {
                    line += 1;
                    line_start = e + 1;
                }
                e += 1;
            }
            if e >= chars.len() {
                return Err(err_at(start_line, "unclosed comment"));
            }
            e += 2;
            while e < chars.len() && chars[e].is_whitespace() && !at(e, "-}}") {
                e += 1;
            }
            if at(e, "-}}") {
                trim_next_text = true;
                e += 1;
            }
            if !at(e, "}}") {
                return Err(err_at(start_line, "comment ends before closing delimiter"));
            }
            i = e + 2;
            continue;
        }
        let mut toks = Vec::new();
        let mut spaced = true;
        loop {
            let Some(&c) = chars.get(j) else {
                return Err(err_at(start_line, "unclosed action"));
            };
            if c.is_whitespace() {
                if at(j + 1, "-}}") {
                    trim_next_text = true;
                    j += 3;
                    break;
                }
                if c == '\n' {
                    line += 1;
                    line_start = j + 1;
                }
                spaced = true;
                j += 1;
                continue;
            }
            if at(j, "}}") {
                j += 1;
                break;
            }
            let (tok_line, col) = (
                line,
                chars[line_start..j].iter().map(|c| c.len_utf8()).sum(),
            );
            let tok = match c {
                '.' if chars
                    .get(j + 1)
                    .is_some_and(|&n| is_ident_char(n) && !n.is_ascii_digit()) =>
                {
                    j += 1;
                    Tok::Field(read_path(&chars, &mut j))
                }
                '.' if !chars.get(j + 1).is_some_and(|n| n.is_ascii_digit()) => {
                    j += 1;
                    Tok::Field(Vec::new())
                }
                '$' => {
                    j += 1;
                    let s = j;
                    while j < chars.len() && is_ident_char(chars[j]) {
                        j += 1;
                    }
                    let name = format!("${}", chars[s..j].iter().collect::<String>());
                    let path = if chars.get(j) == Some(&'.')
                        && chars.get(j + 1).is_some_and(|&n| is_ident_char(n))
                    {
                        j += 1;
                        read_path(&chars, &mut j)
                    } else {
                        Vec::new()
                    };
                    Tok::Var(name, path)
                }
                '"' => {
                    let s = j + 1;
                    j += 1;
                    while j < chars.len() && chars[j] != '"' {
                        if chars[j] == '\\' {
                            j += 1;
                        }
                        if chars.get(j) == Some(&'\n') {
                            return Err(err_at(line, "unterminated quoted string"));
                        }
                        j += 1;
                    }
                    if j >= chars.len() {
                        return Err(err_at(line, "unterminated quoted string"));
                    }
                    let v = unquote_go(&chars[s..j], line)?;
                    j += 1;
                    Tok::Str(v)
                }
                '`' => {
                    let s = j + 1;
                    j += 1;
                    while j < chars.len() && chars[j] != '`' {
                        if chars[j] == '\n' {
                            line += 1;
                            line_start = j + 1;
                        }
                        j += 1;
                    }
                    if j >= chars.len() {
                        return Err(err_at(line, "unterminated raw quoted string"));
                    }
                    j += 1;
                    Tok::Str(chars[s..j - 1].iter().collect())
                }
                '\'' => {
                    let s = j + 1;
                    j += 1;
                    while j < chars.len() && chars[j] != '\'' {
                        if chars[j] == '\\' {
                            j += 1;
                        }
                        j += 1;
                    }
                    if j >= chars.len() {
                        return Err(err_at(line, "unterminated character constant"));
                    }
                    let v = unquote_go(&chars[s..j], line)?;
                    j += 1;
                    let mut it = v.chars();
                    match (it.next(), it.next()) {
                        (Some(ch), None) => Tok::Num(Value::from(ch as u32)),
                        _ => return Err(err_at(line, "malformed character constant")),
                    }
                }
                '(' => {
                    j += 1;
                    Tok::LParen
                }
                ')' => {
                    j += 1;
                    Tok::RParen
                }
                '|' => {
                    j += 1;
                    Tok::Pipe
                }
                ',' => {
                    j += 1;
                    Tok::Comma
                }
                ':' if chars.get(j + 1) == Some(&'=') => {
                    j += 2;
                    Tok::Declare
                }
                '=' => {
                    j += 1;
                    Tok::Assign
                }
                c if c.is_ascii_digit()
                    || ((c == '-' || c == '+' || c == '.')
                        && chars.get(j + 1).is_some_and(|n| n.is_ascii_digit())) =>
                {
                    let s = j;
                    j += 1;
                    while j < chars.len()
                        && (chars[j].is_ascii_alphanumeric()
                            || matches!(chars[j], '.' | '_')
                            || (matches!(chars[j], '+' | '-')
                                && matches!(chars[j - 1], 'e' | 'E' | 'p' | 'P')))
                    {
                        j += 1;
                    }
                    Tok::Num(parse_number(&chars[s..j].iter().collect::<String>(), line)?)
                }
                c if is_ident_char(c) => {
                    let s = j;
                    while j < chars.len() && is_ident_char(chars[j]) {
                        j += 1;
                    }
                    let w: String = chars[s..j].iter().collect();
                    match w.as_str() {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        _ => Tok::Ident(w),
                    }
                }
                c => return Err(err_at(line, format!("unexpected {c:?} in command"))),
            };
            toks.push(Token {
                tok,
                spaced,
                line: tok_line,
                col,
            });
            spaced = false;
        }
        items.push(Item::Action {
            toks,
            line: start_line,
        });
        i = j + 1;
    }
    if trim_next_text {
        text = text.trim_start().to_string();
    }
    if !text.is_empty() {
        items.push(Item::Text(text));
    }
    Ok(items)
}

// ---- parsing ----------------------------------------------------------------

#[derive(Debug, Clone)]
enum Operand {
    /// A field chain on dot (`.A.B`, `.` when empty).
    Field(Vec<String>),
    /// A variable and a field chain on it.
    Var(String, Vec<String>),
    /// A parenthesised pipeline and a field chain on its value.
    Sub(Box<Pipe>, Vec<String>),
    Lit(Value),
    Func(String),
}

#[derive(Debug, Clone)]
struct Cmd {
    args: Vec<Operand>,
    /// Where each argument is, for error messages.
    ats: Vec<At>,
    /// Where the command is.
    at: At,
}

/// A node as written and where: Go's `template: :1:2: executing "" at <.X>`.
#[derive(Debug, Clone)]
struct At {
    text: String,
    line: usize,
    col: usize,
}

fn at_of(toks: &[Token]) -> At {
    At {
        text: toks
            .iter()
            .enumerate()
            .map(|(k, t)| {
                let sep = if k > 0 && t.spaced { " " } else { "" };
                format!("{sep}{}", describe(&t.tok))
            })
            .collect(),
        line: toks.first().map_or(0, |t| t.line),
        col: toks.first().map_or(0, |t| t.col),
    }
}

#[derive(Debug, Clone)]
struct Pipe {
    decl: Vec<String>,
    assign: bool,
    cmds: Vec<Cmd>,
    line: usize,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Print(Pipe),
    If(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    Call(String, Option<Pipe>, usize),
    Break,
    Continue,
}

/// Go's built-in functions and docker's.
const FUNCS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt",
    "le", "gt", "ge", "html", "js", "urlquery", "call", "json", "join", "split", "title", "lower",
    "upper", "pad", "truncate",
];

fn describe(t: &Tok) -> String {
    match t {
        Tok::Field(p) => format!(".{}", p.join(".")),
        Tok::Var(n, p) if p.is_empty() => n.clone(),
        Tok::Var(n, p) => format!("{n}.{}", p.join(".")),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Num(v) => v.to_string(),
        Tok::Bool(b) => b.to_string(),
        Tok::Nil => "nil".into(),
        Tok::Ident(s) => s.clone(),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Pipe => "|".into(),
        Tok::Declare => ":=".into(),
        Tok::Assign => "=".into(),
        Tok::Comma => ",".into(),
    }
}

/// End of a list: which keyword stopped it.
#[derive(Debug)]
enum Stop {
    Eof,
    End,
    Else(Vec<Token>),
}

struct Parser {
    items: std::vec::IntoIter<Item>,
    defs: HashMap<String, Vec<Node>>,
    line: usize,
    /// Depth of enclosing `range`s (for `break` and `continue`).
    ranges: usize,
}

impl Parser {
    fn list(&mut self) -> Result<(Vec<Node>, Stop), String> {
        let mut nodes = Vec::new();
        while let Some(item) = self.items.next() {
            let (toks, line) = match item {
                Item::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Item::Action { toks, line } => (toks, line),
            };
            self.line = line;
            let kw = match toks.first().map(|t| &t.tok) {
                Some(Tok::Ident(k)) => k.as_str(),
                None => return Err(err_at(line, "missing value for command")),
                _ => "",
            };
            let rest = toks.get(1..).unwrap_or_default().to_vec();
            match kw {
                "end" => {
                    if !rest.is_empty() {
                        return Err(err_at(line, "unexpected tokens after end"));
                    }
                    return Ok((nodes, Stop::End));
                }
                "else" => return Ok((nodes, Stop::Else(rest))),
                "if" | "with" | "range" => nodes.push(self.control(kw, rest, line)?),
                "break" | "continue" => {
                    if self.ranges == 0 {
                        return Err(err_at(line, format!("{{{{{kw}}}}} outside {{{{range}}}}")));
                    }
                    if !rest.is_empty() {
                        return Err(err_at(line, format!("unexpected tokens in {kw}")));
                    }
                    nodes.push(if kw == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    });
                }
                "define" | "block" | "template" => {
                    let name = match rest.first().map(|t| &t.tok) {
                        Some(Tok::Str(s)) => s.clone(),
                        _ => return Err(err_at(line, format!("unexpected name in {kw} clause"))),
                    };
                    let pipe = if rest.len() > 1 {
                        Some(self.pipe(&rest[1..], line, false)?)
                    } else {
                        None
                    };
                    if kw == "define" && pipe.is_some() {
                        return Err(err_at(line, "unexpected tokens in define clause"));
                    }
                    if kw != "template" {
                        let (body, stop) = self.list()?;
                        if !matches!(stop, Stop::End) {
                            return Err(err_at(line, "unexpected EOF"));
                        }
                        self.defs.insert(name.clone(), body);
                    }
                    if kw != "define" {
                        nodes.push(Node::Call(name, pipe, line));
                    }
                }
                _ => nodes.push(Node::Print(self.pipe(&toks, line, true)?)),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn control(&mut self, kw: &str, toks: Vec<Token>, line: usize) -> Result<Node, String> {
        let pipe = self.pipe(&toks, line, true)?;
        if kw == "range" {
            self.ranges += 1;
        }
        let body = self.list();
        if kw == "range" {
            self.ranges -= 1;
        }
        let (body, stop) = body?;
        let els = match stop {
            Stop::Eof => return Err(err_at(line, "unexpected EOF")),
            Stop::End => Vec::new(),
            Stop::Else(rest) if rest.is_empty() => {
                let (els, stop) = self.list()?;
                if !matches!(stop, Stop::End) {
                    return Err(err_at(self.line, format!("expected end; found {stop:?}")));
                }
                els
            }
            Stop::Else(rest) => {
                // `else if` / `else with`: a nested clause sharing our `end`.
                let inner = match rest.first().map(|t| &t.tok) {
                    Some(Tok::Ident(k)) if (k == "if" || k == "with") && kw != "range" => k.clone(),
                    _ => return Err(err_at(self.line, "unexpected tokens after else")),
                };
                vec![self.control(&inner, rest[1..].to_vec(), self.line)?]
            }
        };
        Ok(match kw {
            "if" => Node::If(pipe, body, els),
            "with" => Node::With(pipe, body, els),
            _ => Node::Range(pipe, body, els),
        })
    }

    fn pipe(&mut self, toks: &[Token], line: usize, allow_decl: bool) -> Result<Pipe, String> {
        let mut i = 0;
        let mut decl = Vec::new();
        let mut assign = false;
        // `$x :=`, `$x =`, `$i, $v :=`.
        let vars_end = toks
            .iter()
            .position(|t| matches!(t.tok, Tok::Declare | Tok::Assign));
        if let Some(e) = vars_end {
            let names: Vec<&Tok> = toks[..e].iter().map(|t| &t.tok).collect();
            let ok = match names.as_slice() {
                [Tok::Var(a, p)] if p.is_empty() => {
                    decl.push(a.clone());
                    true
                }
                [Tok::Var(a, p), Tok::Comma, Tok::Var(b, q)] if p.is_empty() && q.is_empty() => {
                    decl.push(a.clone());
                    decl.push(b.clone());
                    true
                }
                _ => false,
            };
            if ok {
                if !allow_decl {
                    return Err(err_at(line, "unexpected declaration"));
                }
                assign = toks[e].tok == Tok::Assign;
                i = e + 1;
            }
        }
        let mut cmds = Vec::new();
        let mut start = i;
        let mut depth = 0;
        for (k, t) in toks.iter().enumerate().skip(i) {
            match t.tok {
                Tok::LParen => depth += 1,
                Tok::RParen => depth -= 1,
                Tok::Pipe if depth == 0 => {
                    cmds.push(self.command(&toks[start..k], line)?);
                    start = k + 1;
                }
                _ => {}
            }
        }
        if depth != 0 {
            return Err(err_at(line, "unclosed left paren"));
        }
        cmds.push(self.command(&toks[start..], line)?);
        Ok(Pipe {
            decl,
            assign,
            cmds,
            line,
        })
    }

    fn command(&mut self, toks: &[Token], line: usize) -> Result<Cmd, String> {
        if toks.is_empty() {
            return Err(err_at(line, "missing command"));
        }
        let at = at_of(toks);
        let mut args = Vec::new();
        let mut ats = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            let t = &toks[i];
            let first = i;
            i += 1;
            let mut op = match &t.tok {
                Tok::Field(p) => Operand::Field(p.clone()),
                Tok::Var(n, p) => Operand::Var(n.clone(), p.clone()),
                Tok::Str(s) => Operand::Lit(Value::String(s.clone())),
                Tok::Num(v) => Operand::Lit(v.clone()),
                Tok::Bool(b) => Operand::Lit(Value::Bool(*b)),
                Tok::Nil => Operand::Lit(Value::Null),
                Tok::Ident(f) => {
                    if !FUNCS.contains(&f.as_str()) {
                        return Err(err_at(line, format!("function {f:?} not defined")));
                    }
                    Operand::Func(f.clone())
                }
                Tok::LParen => {
                    let mut depth = 1;
                    let s = i;
                    while i < toks.len() {
                        match toks[i].tok {
                            Tok::LParen => depth += 1,
                            Tok::RParen => depth -= 1,
                            _ => {}
                        }
                        i += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    if depth != 0 {
                        return Err(err_at(line, "unclosed left paren"));
                    }
                    Operand::Sub(
                        Box::new(self.pipe(&toks[s..i - 1], line, true)?),
                        Vec::new(),
                    )
                }
                other => {
                    return Err(err_at(
                        line,
                        format!("unexpected {:?} in operand", describe(other)),
                    ))
                }
            };
            // A field chained with no space: `(x).A`, `$x.A` was lexed whole.
            while let Some(Token {
                tok: Tok::Field(p),
                spaced: false,
                ..
            }) = toks.get(i)
            {
                if p.is_empty() {
                    return Err(err_at(line, "unexpected . after term"));
                }
                match &mut op {
                    Operand::Sub(_, chain) => chain.extend(p.iter().cloned()),
                    Operand::Field(chain) => chain.extend(p.iter().cloned()),
                    Operand::Var(_, chain) => chain.extend(p.iter().cloned()),
                    _ => {
                        return Err(err_at(
                            line,
                            format!("unexpected .{} after term", p.join(".")),
                        ))
                    }
                }
                i += 1;
            }
            args.push(op);
            ats.push(at_of(&toks[first..i]));
        }
        if args.len() > 1 {
            if let Operand::Lit(v) = &args[0] {
                return Err(err_at(
                    line,
                    format!("can't give argument to non-function {v}"),
                ));
            }
        }
        Ok(Cmd { args, ats, at })
    }
}

/// A parsed Go template.
#[derive(Debug, Clone)]
pub struct Template {
    root: Vec<Node>,
    defs: HashMap<String, Vec<Node>>,
}

impl Template {
    /// Parse Go template source as it is (inspect's `--format`).
    pub fn parse(src: &str) -> Result<Template, String> {
        let mut p = Parser {
            items: lex(src)?.into_iter(),
            defs: HashMap::new(),
            line: 1,
            ranges: 0,
        };
        let (root, stop) = p.list()?;
        match stop {
            Stop::Eof => Ok(Template { root, defs: p.defs }),
            Stop::End => Err(err_at(p.line, "unexpected {{end}}")),
            Stop::Else(_) => Err(err_at(p.line, "unexpected {{else}}")),
        }
    }

    /// Render against `data`; a missing object key is an error.
    pub fn render(&self, data: &Value) -> Result<String, String> {
        self.exec(data, Mode::Strict, "can't evaluate field")
    }

    /// Render as docker's inspect does on raw JSON (`missingkey=error`).
    pub fn render_inspect(&self, data: &Value) -> Result<String, String> {
        self.exec(data, Mode::Strict, "map has no entry for key")
    }

    /// Render a table header: docker's header functions (identity for
    /// `json`, `join`, `split`, `title`, `lower`, `upper`, `truncate`), a
    /// missing key is `<no value>`, and an error ends the header where it
    /// happened (docker ignores it).
    pub fn render_header(&self, headers: &Value) -> String {
        let mut ex = Exec {
            defs: &self.defs,
            vars: vec![("$".into(), headers.clone())],
            out: String::new(),
            mode: Mode::Header,
            missing: "",
            depth: 0,
        };
        let _ = ex.walk(&self.root, headers);
        ex.out
    }

    fn exec(&self, data: &Value, mode: Mode, missing: &'static str) -> Result<String, String> {
        let mut ex = Exec {
            defs: &self.defs,
            vars: vec![("$".into(), data.clone())],
            out: String::new(),
            mode,
            missing,
            depth: 0,
        };
        ex.walk(&self.root, data)?;
        Ok(ex.out)
    }
}

// ---- execution --------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Strict,
    Header,
}

enum Flow {
    Next,
    Break,
    Continue,
}

struct Exec<'a> {
    defs: &'a HashMap<String, Vec<Node>>,
    vars: Vec<(String, Value)>,
    out: String,
    mode: Mode,
    missing: &'static str,
    depth: usize,
}

/// A value, or Go's "no value" (a missing map key in a header).
type Val = Option<Value>;

fn exec_err(at: &At, msg: impl std::fmt::Display) -> String {
    format!(
        "template: :{}:{}: executing \"\" at <{}>: {msg}",
        at.line, at.col, at.text
    )
}

/// Go's truth: false, 0, nil and empty strings, lists and maps are false.
pub fn truth(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

impl Exec<'_> {
    fn walk(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, String> {
        for n in nodes {
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Print(p) => {
                    let v = self.pipe(p, dot)?;
                    if p.decl.is_empty() {
                        match v {
                            Some(v) => self.out.push_str(&go_print(&v)),
                            None => self.out.push_str("<no value>"),
                        }
                    }
                }
                Node::If(p, body, els) | Node::With(p, body, els) => {
                    let mark = self.vars.len();
                    let v = self.pipe(p, dot)?.unwrap_or(Value::Null);
                    let flow = if truth(&v) {
                        let d = if matches!(n, Node::With(..)) { &v } else { dot };
                        self.walk(body, d)
                    } else {
                        self.walk(els, dot)
                    };
                    self.vars.truncate(mark);
                    match flow? {
                        Flow::Next => {}
                        f => return Ok(f),
                    }
                }
                Node::Range(p, body, els) => {
                    let mark = self.vars.len();
                    let flow = self.range(p, body, els, dot);
                    self.vars.truncate(mark);
                    flow?;
                }
                Node::Call(name, p, line) => {
                    let d = match p {
                        Some(p) => self.pipe(p, dot)?.unwrap_or(Value::Null),
                        None => Value::Null,
                    };
                    let body = self
                        .defs
                        .get(name)
                        .ok_or_else(|| format!("template: :{line}: no such template {name:?}"))?;
                    self.depth += 1;
                    if self.depth > 1000 {
                        return Err(format!(
                            "template: :{line}: exceeded maximum template depth"
                        ));
                    }
                    let saved = std::mem::replace(&mut self.vars, vec![("$".into(), d.clone())]);
                    let r = self.walk(body, &d);
                    self.vars = saved;
                    self.depth -= 1;
                    r?;
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Next)
    }

    fn range(&mut self, p: &Pipe, body: &[Node], els: &[Node], dot: &Value) -> Result<(), String> {
        // The pipeline's variables are set per element, not to the list.
        let plain = Pipe {
            decl: Vec::new(),
            assign: false,
            cmds: p.cmds.clone(),
            line: p.line,
        };
        let v = self.pipe(&plain, dot)?.unwrap_or(Value::Null);
        let items: Vec<(Value, Value)> = match &v {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, x)| (Value::from(i), x.clone()))
                .collect(),
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                keys.into_iter()
                    .map(|k| (Value::String(k.clone()), m[k].clone()))
                    .collect()
            }
            Value::Number(n) if n.as_i64().is_some() => (0..n.as_i64().unwrap_or(0).max(0))
                .map(|i| (Value::from(i), Value::from(i)))
                .collect(),
            Value::Null => Vec::new(),
            other => {
                return Err(format!(
                    "template: :{}: range can't iterate over {}",
                    p.line,
                    go_print(other)
                ))
            }
        };
        if items.is_empty() {
            self.walk(els, dot)?;
            return Ok(());
        }
        let mark = self.vars.len();
        for (k, x) in items {
            match p.decl.as_slice() {
                [e] => self.set_var(e, x.clone(), p.assign),
                [i, e] => {
                    self.set_var(i, k, p.assign);
                    self.set_var(e, x.clone(), p.assign);
                }
                _ => {}
            }
            let flow = self.walk(body, &x)?;
            // What the body declared ends with the iteration (`$i, $v =`
            // assigned variables declared before the range).
            self.vars.truncate(mark);
            if let Flow::Break = flow {
                break;
            }
        }
        Ok(())
    }

    fn set_var(&mut self, name: &str, v: Value, assign: bool) {
        if assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v;
                return;
            }
        }
        self.vars.push((name.to_string(), v));
    }

    fn var(&self, name: &str, at: &At) -> Result<Value, String> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| exec_err(at, format!("undefined variable: {name}")))
    }

    fn pipe(&mut self, p: &Pipe, dot: &Value) -> Result<Val, String> {
        let mut prev: Option<Val> = None;
        for cmd in &p.cmds {
            prev = Some(self.cmd(cmd, dot, prev)?);
        }
        let v = prev.unwrap_or(None);
        if !p.decl.is_empty() {
            let val = v.clone().unwrap_or(Value::Null);
            if p.assign && !self.vars.iter().any(|(n, _)| *n == p.decl[0]) {
                return Err(format!(
                    "template: :{}: undefined variable: {}",
                    p.line, p.decl[0]
                ));
            }
            self.set_var(&p.decl[0], val, p.assign);
        }
        Ok(v)
    }

    /// A field chain on a value; `args` are given to the last field (a
    /// docker method such as `.Label "k"` indexes the object with them).
    fn fields(&self, at: &At, v: &Value, chain: &[String], args: &[Value]) -> Result<Val, String> {
        let mut v = v;
        for (n, f) in chain.iter().enumerate() {
            let last = n + 1 == chain.len();
            v = match v {
                Value::Object(m) => match m.get(f) {
                    Some(x) => x,
                    None if self.mode == Mode::Header && last && args.is_empty() => {
                        return Ok(None)
                    }
                    None => {
                        return Err(exec_err(
                            at,
                            if self.missing == "map has no entry for key" {
                                format!("map has no entry for key {f:?}")
                            } else {
                                format!("can't evaluate field {f}")
                            },
                        ))
                    }
                },
                Value::Null => {
                    return Err(exec_err(
                        at,
                        format!("nil pointer evaluating interface {{}}.{f}"),
                    ))
                }
                other => {
                    return Err(exec_err(
                        at,
                        format!("can't evaluate field {f} in type {}", type_name(other)),
                    ))
                }
            };
        }
        if args.is_empty() {
            return Ok(Some(v.clone()));
        }
        match (v, args) {
            // docker's methods (`Label`) give "" for a key not there.
            (Value::Object(m), [Value::String(k)]) => {
                Ok(Some(m.get(k).cloned().unwrap_or_else(|| Value::from(""))))
            }
            (Value::Object(_), _) => index(v, args).map(Some).map_err(|e| exec_err(at, e)),
            // A header: the column title.
            (Value::String(_), _) if self.mode == Mode::Header => Ok(Some(v.clone())),
            _ => Err(exec_err(
                at,
                format!(
                    "{} has arguments but cannot be invoked as function",
                    chain.last().map(String::as_str).unwrap_or(".")
                ),
            )),
        }
    }

    /// The `k`th argument of `cmd`.
    fn operand(&mut self, cmd: &Cmd, k: usize, dot: &Value) -> Result<Val, String> {
        let at = &cmd.ats[k];
        match &cmd.args[k] {
            Operand::Field(c) => self.fields(at, dot, c, &[]),
            Operand::Var(n, c) => {
                let v = self.var(n, at)?;
                self.fields(at, &v, c, &[])
            }
            Operand::Sub(sub, c) => {
                let v = self.pipe(sub, dot)?.unwrap_or(Value::Null);
                self.fields(at, &v, c, &[])
            }
            Operand::Lit(v) => Ok(Some(v.clone())),
            Operand::Func(f) => self.call(cmd, f, k + 1..k + 1, dot, None),
        }
    }

    fn cmd(&mut self, cmd: &Cmd, dot: &Value, prev: Option<Val>) -> Result<Val, String> {
        let n = cmd.args.len();
        let at = &cmd.ats[0];
        match &cmd.args[0] {
            Operand::Func(f) => self.call(cmd, f, 1..n, dot, prev),
            _ if n == 1 && prev.is_none() => self.operand(cmd, 0, dot),
            Operand::Lit(v) => Err(exec_err(
                at,
                format!("can't give argument to non-function {}", go_print(v)),
            )),
            first => {
                // A field given arguments: docker's methods.
                let mut args = Vec::new();
                for k in 1..n {
                    args.push(self.operand(cmd, k, dot)?.unwrap_or(Value::Null));
                }
                if let Some(v) = prev {
                    args.push(v.unwrap_or(Value::Null));
                }
                let (base, chain) = match first {
                    Operand::Var(name, c) => (self.var(name, at)?, c),
                    Operand::Sub(sub, c) => (self.pipe(sub, dot)?.unwrap_or(Value::Null), c),
                    Operand::Field(c) => (dot.clone(), c),
                    Operand::Lit(_) | Operand::Func(_) => (Value::Null, &Vec::new()),
                };
                if chain.is_empty() {
                    return Err(exec_err(at, "can't give argument to non-function"));
                }
                self.fields(at, &base, chain, &args)
            }
        }
    }

    /// Call `f` with the arguments `range` of `cmd`, then `prev` (the
    /// pipeline's value so far).
    fn call(
        &mut self,
        cmd: &Cmd,
        f: &str,
        range: std::ops::Range<usize>,
        dot: &Value,
        prev: Option<Val>,
    ) -> Result<Val, String> {
        // `and` and `or` stop at the first argument that decides.
        if f == "and" || f == "or" {
            if range.is_empty() && prev.is_none() {
                return Err(exec_err(
                    &cmd.at,
                    format!("wrong number of args for {f}: want at least 1 got 0"),
                ));
            }
            let mut last = Value::Null;
            for k in range {
                last = self.operand(cmd, k, dot)?.unwrap_or(Value::Null);
                if truth(&last) == (f == "or") {
                    return Ok(Some(last));
                }
            }
            if let Some(v) = prev {
                last = v.unwrap_or(Value::Null);
            }
            return Ok(Some(last));
        }
        let mut args = Vec::new();
        for k in range {
            args.push(self.operand(cmd, k, dot)?.unwrap_or(Value::Null));
        }
        if let Some(v) = prev {
            args.push(v.unwrap_or(Value::Null));
        }
        func(f, &args, self.mode == Mode::Header)
            .map(Some)
            .map_err(|e| exec_err(&cmd.at, format!("error calling {f}: {e}")))
    }
}

// ---- functions --------------------------------------------------------------

fn want(f: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {f}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn arg_str(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| {
        format!(
            "wrong type for value; expected string; got {}",
            type_name(v)
        )
    })
}

fn arg_int(v: &Value) -> Result<i64, String> {
    v.as_i64()
        .ok_or_else(|| format!("wrong type for value; expected int; got {}", type_name(v)))
}

fn index(v: &Value, keys: &[Value]) -> Result<Value, String> {
    let mut cur = v.clone();
    for k in keys {
        cur = match (&cur, k) {
            (Value::Array(a), k) => {
                let i = k.as_i64().ok_or_else(|| {
                    format!("cannot index slice/array with type {}", type_name(k))
                })?;
                a.get(usize::try_from(i).map_err(|_| format!("index out of range: {i}"))?)
                    .cloned()
                    .ok_or_else(|| format!("index out of range: {i}"))?
            }
            (Value::String(s), k) => {
                let i = k
                    .as_i64()
                    .ok_or_else(|| format!("cannot index string with type {}", type_name(k)))?;
                let b = usize::try_from(i)
                    .ok()
                    .and_then(|i| s.as_bytes().get(i))
                    .ok_or_else(|| format!("index out of range: {i}"))?;
                Value::from(*b)
            }
            (Value::Object(m), Value::String(key)) => match m.get(key) {
                Some(x) => x.clone(),
                // Go's zero value: "" in a map of strings (labels), else nil.
                None if !m.is_empty() && m.values().all(Value::is_string) => Value::from(""),
                None => Value::Null,
            },
            (Value::Object(_), k) => {
                return Err(format!("value has type {}; should be string", type_name(k)))
            }
            // A nil map gives its zero value; a nil slice has no index.
            (Value::Null, Value::String(_)) => Value::Null,
            (Value::Null, k) => return Err(format!("index out of range: {}", go_print(k))),
            (o, _) => return Err(format!("can't index item of type {}", type_name(o))),
        };
    }
    Ok(cur)
}

fn cmp(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Ok(x.cmp(&y)),
            _ => x
                .as_f64()
                .zip(y.as_f64())
                .and_then(|(x, y)| x.partial_cmp(&y))
                .ok_or_else(|| "incomparable numbers".to_string()),
        },
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (Value::Bool(_), Value::Bool(_)) => Err("invalid type for comparison".into()),
        _ => Err("incompatible types for comparison".into()),
    }
}

fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => Ok(cmp(a, b)? == std::cmp::Ordering::Equal),
        (Value::Null, _) | (_, Value::Null) => Ok(a == b),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
            Err("non-comparable type".into())
        }
        _ if std::mem::discriminant(a) != std::mem::discriminant(b) => {
            Err("incompatible types for comparison".into())
        }
        _ => Ok(a == b),
    }
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
fn sprint(args: &[Value]) -> String {
    let mut s = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            s.push(' ');
        }
        s.push_str(&go_print(a));
    }
    s
}

fn func(f: &str, args: &[Value], header: bool) -> Result<Value, String> {
    // docker's header functions: the column title as it is.
    if header
        && matches!(
            f,
            "json" | "join" | "split" | "title" | "lower" | "upper" | "truncate"
        )
    {
        // They take a string, as docker's: `{{json .}}` fails on the
        // header map and the header ends there.
        return match args.first() {
            Some(v) => arg_str(v).map(Value::from),
            None => Err(format!("wrong number of args for {f}: want 1 got 0")),
        };
    }
    Ok(match f {
        "not" => {
            want(f, args, 1)?;
            Value::Bool(!truth(&args[0]))
        }
        "len" => {
            want(f, args, 1)?;
            Value::from(match &args[0] {
                Value::String(s) => s.len(),
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                // A nil slice or map of docker's structs (JSON null).
                Value::Null => 0,
                v => return Err(format!("len of type {}", type_name(v))),
            })
        }
        "index" => {
            if args.is_empty() {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            }
            index(&args[0], &args[1..])?
        }
        "slice" => {
            if args.is_empty() {
                return Err("wrong number of args for slice: want at least 1 got 0".into());
            }
            let idx: Vec<i64> = args[1..].iter().map(arg_int).collect::<Result<_, _>>()?;
            let len = match &args[0] {
                Value::String(s) => s.len(),
                Value::Array(a) => a.len(),
                v => return Err(format!("can't slice item of type {}", type_name(v))),
            } as i64;
            let (i, j) = match idx.as_slice() {
                [] => (0, len),
                [i] => (*i, len),
                [i, j] => (*i, *j),
                _ => return Err("too many slice indexes".into()),
            };
            if i < 0 || j < i || j > len {
                return Err(format!("index out of range: {i}:{j}"));
            }
            match &args[0] {
                Value::String(s) => Value::from(
                    s.get(i as usize..j as usize)
                        .ok_or_else(|| format!("index out of range: {i}:{j}"))?,
                ),
                Value::Array(a) => Value::Array(a[i as usize..j as usize].to_vec()),
                _ => Value::Null,
            }
        }
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            let mut any = false;
            for b in &args[1..] {
                any |= equal(&args[0], b)?;
            }
            Value::Bool(any)
        }
        "ne" => {
            want(f, args, 2)?;
            Value::Bool(!equal(&args[0], &args[1])?)
        }
        "lt" | "le" | "gt" | "ge" => {
            want(f, args, 2)?;
            let o = cmp(&args[0], &args[1])?;
            Value::Bool(match f {
                "lt" => o.is_lt(),
                "le" => o.is_le(),
                "gt" => o.is_gt(),
                _ => o.is_ge(),
            })
        }
        "print" => Value::from(sprint(args)),
        "println" => {
            let mut s = args.iter().map(go_print).collect::<Vec<_>>().join(" ");
            s.push('\n');
            Value::from(s)
        }
        "printf" => {
            let (fmt, rest) = args
                .split_first()
                .ok_or("wrong number of args for printf: want at least 1 got 0")?;
            Value::from(sprintf(arg_str(fmt)?, rest))
        }
        "html" => Value::from(html_escape(&sprint(args))),
        "js" => Value::from(js_escape(&sprint(args))),
        "urlquery" => Value::from(url_query(&sprint(args))),
        "call" => return Err("call of a non-function".into()),
        "json" => {
            want(f, args, 1)?;
            Value::from(serde_json::to_string(&args[0]).map_err(|e| e.to_string())?)
        }
        "join" => {
            want(f, args, 2)?;
            let sep = arg_str(&args[1])?;
            Value::from(match &args[0] {
                Value::Null => String::new(),
                Value::Array(a) => a.iter().map(go_print).collect::<Vec<_>>().join(sep),
                Value::Object(m) => {
                    let mut vs: Vec<String> = m.values().map(go_print).collect();
                    vs.sort();
                    vs.join(sep)
                }
                v => return Err(format!("expected slice, got {}", type_name(v))),
            })
        }
        "split" => {
            want(f, args, 2)?;
            let (s, sep) = (arg_str(&args[0])?, arg_str(&args[1])?);
            if sep.is_empty() {
                Value::Array(s.chars().map(|c| Value::from(c.to_string())).collect())
            } else {
                Value::Array(s.split(sep).map(Value::from).collect())
            }
        }
        "title" => {
            want(f, args, 1)?;
            Value::from(title(arg_str(&args[0])?))
        }
        "lower" => {
            want(f, args, 1)?;
            Value::from(arg_str(&args[0])?.to_lowercase())
        }
        "upper" => {
            want(f, args, 1)?;
            Value::from(arg_str(&args[0])?.to_uppercase())
        }
        "pad" => {
            want(f, args, 3)?;
            let s = arg_str(&args[0])?;
            let (pre, post) = (arg_int(&args[1])?, arg_int(&args[2])?);
            if s.is_empty() {
                Value::from("")
            } else {
                let sp = |n: i64| " ".repeat(usize::try_from(n).unwrap_or(0));
                Value::from(format!("{}{s}{}", sp(pre), sp(post)))
            }
        }
        "truncate" => {
            want(f, args, 2)?;
            let s = arg_str(&args[0])?;
            let n = usize::try_from(arg_int(&args[1])?).unwrap_or(0);
            if s.len() < n {
                Value::from(s)
            } else {
                // Bytes as Go slices them, kept on a character boundary.
                let mut end = n;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                Value::from(&s[..end])
            }
        }
        _ => return Err(format!("function {f:?} not defined")),
    })
}

/// Go's `strings.Title`: the first letter of each word in upper case.
fn title(s: &str) -> String {
    let mut out = String::new();
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            c.is_whitespace()
        };
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '\'' => o.push_str("&#39;"),
            '"' => o.push_str("&#34;"),
            '\0' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

fn js_escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\'' => o.push_str("\\'"),
            '"' => o.push_str("\\\""),
            '<' => o.push_str("\\u003C"),
            '>' => o.push_str("\\u003E"),
            '&' => o.push_str("\\u0026"),
            '=' => o.push_str("\\u003D"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04X}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

fn url_query(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                o.push(b as char)
            }
            b' ' => o.push('+'),
            b => {
                let _ = write!(o, "%{b:02X}");
            }
        }
    }
    o
}

// ---- printing ----------------------------------------------------------------

/// A float as Go's `%v` prints it (`strconv.FormatFloat(f, 'g', -1, 64)`).
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return "0".into();
    }
    // Shortest digits, then Go's choice between %e and %f: strconv's 'g'
    // at the shortest precision uses %e below 1e-4 and from 1e6 up
    // (`fmt.Print(1e6)` is `1e+06`).
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

fn go_number(n: &Number) -> String {
    if n.is_f64() {
        go_float(n.as_f64().unwrap_or(0.0))
    } else {
        n.to_string()
    }
}

/// A value as Go's `fmt.Print` shows it.
pub fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            format!(
                "map[{}]",
                keys.iter()
                    .map(|k| format!("{k}:{}", go_print(&m[*k])))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    }
}

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad_to(s: String, sp: &Spec, numeric: bool) -> String {
    let w = sp.width.unwrap_or(0);
    let n = s.chars().count();
    if n >= w {
        return s;
    }
    let fill = w - n;
    if sp.minus {
        format!("{s}{}", " ".repeat(fill))
    } else if sp.zero && numeric {
        // Zeros go after the sign.
        let (sign, digits) = match s.strip_prefix(['-', '+', ' ']) {
            Some(d) => (&s[..1], d),
            None => ("", s.as_str()),
        };
        format!("{sign}{}{digits}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

fn bad_verb(verb: char, v: &Value) -> String {
    format!("%!{verb}({}={})", type_name(v), go_print(v))
}

fn fmt_one(verb: char, sp: &Spec, v: &Value) -> String {
    let signed = |s: String, neg: bool| -> String {
        if neg {
            format!("-{s}")
        } else if sp.plus {
            format!("+{s}")
        } else if sp.space {
            format!(" {s}")
        } else {
            s
        }
    };
    match verb {
        'v' | 's' => {
            if verb == 's' && !v.is_string() && !v.is_array() && !v.is_object() {
                return bad_verb(verb, v);
            }
            let mut s = go_print(v);
            if let Some(p) = sp.prec.filter(|_| v.is_string()) {
                s = s.chars().take(p).collect();
            }
            if verb == 'v' && sp.plus && v.is_number() && !s.starts_with('-') {
                s = format!("+{s}");
            }
            pad_to(s, sp, v.is_number())
        }
        'q' => match v {
            Value::String(s) => pad_to(berth_util::gostr::quote(s), sp, false),
            Value::Number(n) if n.as_i64().is_some() => {
                let c = char::from_u32(n.as_i64().unwrap_or(0) as u32).unwrap_or('\u{FFFD}');
                pad_to(format!("'{c}'"), sp, false)
            }
            _ => bad_verb(verb, v),
        },
        'd' | 'x' | 'X' | 'o' | 'b' | 'c' => {
            let Some(i) = v
                .as_i64()
                .map(i128::from)
                .or_else(|| v.as_u64().map(i128::from))
            else {
                if verb == 'x' || verb == 'X' {
                    if let Value::String(s) = v {
                        let h: String = s.bytes().map(|b| format!("{b:02x}")).collect();
                        let h = if verb == 'X' { h.to_uppercase() } else { h };
                        return pad_to(h, sp, false);
                    }
                }
                return bad_verb(verb, v);
            };
            if verb == 'c' {
                return pad_to(
                    char::from_u32(i as u32).unwrap_or('\u{FFFD}').to_string(),
                    sp,
                    false,
                );
            }
            let a = i.unsigned_abs();
            let mut digits = match verb {
                'd' => a.to_string(),
                'x' => format!("{a:x}"),
                'X' => format!("{a:X}"),
                'o' => format!("{a:o}"),
                _ => format!("{a:b}"),
            };
            if let Some(p) = sp.prec {
                while digits.len() < p {
                    digits.insert(0, '0');
                }
            }
            if sp.sharp {
                digits = match verb {
                    'x' => format!("0x{digits}"),
                    'X' => format!("0X{digits}"),
                    'o' => format!("0{digits}"),
                    'b' => format!("0b{digits}"),
                    _ => digits,
                };
            }
            pad_to(signed(digits, i < 0), sp, sp.prec.is_none())
        }
        'f' | 'F' | 'e' | 'E' | 'g' | 'G' => {
            let Some(f) = v.as_f64() else {
                return bad_verb(verb, v);
            };
            let a = f.abs();
            let s = match verb {
                'f' | 'F' => format!("{a:.*}", sp.prec.unwrap_or(6)),
                'e' | 'E' => {
                    let s = format!("{a:.*e}", sp.prec.unwrap_or(6));
                    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                    let e: i32 = e.parse().unwrap_or(0);
                    let s = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
                    if verb == 'E' {
                        s.to_uppercase()
                    } else {
                        s
                    }
                }
                _ => match sp.prec {
                    None => go_float(a),
                    Some(p) => berth_util::size::go_g(a, p.max(1)),
                },
            };
            pad_to(signed(s, f.is_sign_negative() && f != 0.0), sp, true)
        }
        't' => match v {
            Value::Bool(b) => pad_to(b.to_string(), sp, false),
            _ => bad_verb(verb, v),
        },
        _ => format!("%!{verb}({}={})", type_name(v), go_print(v)),
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use.
pub fn sprintf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut sp = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => sp.minus = true,
                '+' => sp.plus = true,
                ' ' => sp.space = true,
                '0' => sp.zero = true,
                '#' => sp.sharp = true,
                _ => break,
            }
            chars.next();
        }
        let mut num = |chars: &mut std::iter::Peekable<std::str::Chars>| -> Option<usize> {
            if chars.peek() == Some(&'*') {
                chars.next();
                let w = args.get(next).and_then(Value::as_u64).map(|w| w as usize);
                next += 1;
                return w;
            }
            let mut n = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            n
        };
        sp.width = num(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            sp.prec = Some(num(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(next) {
            Some(v) => out.push_str(&fmt_one(verb, &sp, v)),
            None => {
                let _ = write!(out, "%!{verb}(MISSING)");
            }
        }
        next += 1;
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|v| format!("{}={}", type_name(v), go_print(v)))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

// ---- docker's --format ------------------------------------------------------

/// A list command's `--format`: docker's `table` prefix (a header row and
/// columns aligned by its tabwriter), `\t` and `\n` written literally, and
/// the template.
#[derive(Debug, Clone)]
pub struct Format {
    tmpl: Template,
    table: bool,
    source: String,
}

impl Format {
    /// As docker's `Format.templateString`: a bare `table` is an empty
    /// template; `table ...` is a table of the rest; spaces at both ends go.
    pub fn parse(format: &str) -> Result<Format, String> {
        let table = format.starts_with("table");
        let mut f = if format == "table" {
            ""
        } else {
            format.strip_prefix("table").unwrap_or(format)
        };
        f = f.trim_matches(' ');
        let source = f.replace("\\t", "\t").replace("\\n", "\n");
        Ok(Format {
            tmpl: Template::parse(&source)?,
            table,
            source,
        })
    }

    /// Whether the template text mentions `s` (docker's `Format.Contains`,
    /// e.g. whether to compute sizes for `.Size`).
    pub fn contains(&self, s: &str) -> bool {
        self.source.contains(s)
    }

    /// The whole output of a list: each row rendered and ended by a
    /// newline; a table gets the header row (the template run on `headers`,
    /// a map of field name to column title) and is aligned as docker's
    /// tabwriter aligns it.
    pub fn list(&self, headers: &[(&str, &str)], rows: &[Value]) -> Result<String, String> {
        let mut body = String::new();
        for r in rows {
            body.push_str(&self.tmpl.render(r)?);
            body.push('\n');
        }
        if !self.table {
            return Ok(body);
        }
        let h: Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        let mut text = self.tmpl.render_header(&Value::Object(h));
        text.push('\n');
        text.push_str(&body);
        Ok(crate::fmt::tabwrite(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(f: &str, d: &Value) -> String {
        Template::parse(f)
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .render(d)
            .unwrap_or_else(|e| panic!("{f}: {e}"))
    }

    fn data() -> Value {
        json!({
            "Id": "abc123", "Name": "/web", "RepoTags": ["busybox:latest", "busybox:1"],
            "Args": ["-c", "sleep 1"], "N": 3, "F": 0.5, "Big": 1e21, "T": true, "Nil": null,
            "Config": {"Cmd": ["sh", "-c"], "Env": null, "Labels": {"x": "1", "com.y": "two"}},
            "NetworkSettings": {"Networks": {
                "zeta": {"IPAddress": "10.0.2.5"}, "bridge": {"IPAddress": "172.17.0.2"}}},
            "Label": {"a": "1"},
        })
    }

    #[test]
    fn issue_scripts() {
        let d = data();
        assert_eq!(
            r(
                "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                &d
            ),
            "172.17.0.2 10.0.2.5 "
        );
        assert_eq!(r("{{len .RepoTags}}", &d), "2");
        assert_eq!(r(r#"{{index .Config.Labels "x"}}"#, &d), "1");
        assert_eq!(r(r#"{{index .Config.Labels "nope"}}"#, &d), "");
        assert_eq!(
            r("{{json .Config}}", &d),
            serde_json::to_string(&d["Config"]).unwrap()
        );
        assert_eq!(r(r#"{{join .Args " "}}"#, &d), "-c sleep 1");
        assert_eq!(r("{{index .RepoTags 1}}", &d), "busybox:1");
    }

    #[test]
    fn printing_like_go() {
        let d = data();
        assert_eq!(r("{{.Config.Cmd}}", &d), "[sh -c]");
        assert_eq!(r("{{.Config.Labels}}", &d), "map[com.y:two x:1]");
        assert_eq!(r("{{.Config.Env}}", &d), "<nil>");
        assert_eq!(r("{{.N}} {{.F}} {{.Big}} {{.T}}", &d), "3 0.5 1e+21 true");
        assert_eq!(r("{{.}}", &json!("x")), "x");
        assert_eq!(r("a{{/* note */}}b", &d), "ab");
        assert_eq!(r("a  {{- .N -}}  b", &d), "a3b");
        assert_eq!(r("{{`raw\\t`}}", &d), "raw\\t");
        assert_eq!(
            r("{{'a'}} {{0x10}} {{1_000}} {{-2.5}}", &d),
            "97 16 1000 -2.5"
        );
    }

    #[test]
    fn control_flow() {
        let d = data();
        assert_eq!(r("{{if .T}}y{{else}}n{{end}}", &d), "y");
        assert_eq!(r("{{if .Nil}}y{{else if .N}}n{{.N}}{{end}}", &d), "n3");
        assert_eq!(r("{{with .Config}}{{.Cmd}}{{end}}", &d), "[sh -c]");
        assert_eq!(r("{{with .Nil}}x{{else with .N}}{{.}}{{end}}", &d), "3");
        assert_eq!(r("{{range .Config.Env}}x{{else}}none{{end}}", &d), "none");
        assert_eq!(
            r("{{range .Args}}[{{.}}]{{else}}none{{end}}", &d),
            "[-c][sleep 1]"
        );
        assert_eq!(
            r("{{range $i, $t := .RepoTags}}{{$i}}={{$t}};{{end}}", &d),
            "0=busybox:latest;1=busybox:1;"
        );
        assert_eq!(
            r(
                "{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}} {{end}}",
                &d
            ),
            "com.y:two x:1 "
        );
        assert_eq!(r("{{range 3}}{{.}}{{end}}", &d), "012");
        assert_eq!(
            r(
                "{{range .RepoTags}}{{if eq . \"busybox:1\"}}{{break}}{{end}}{{.}} {{end}}",
                &d
            ),
            "busybox:latest "
        );
        assert_eq!(
            r(
                "{{range .Args}}{{if eq . \"-c\"}}{{continue}}{{end}}{{.}}{{end}}",
                &d
            ),
            "sleep 1"
        );
        assert_eq!(r("{{$x := .N}}{{$x}}{{$x = 4}}{{$x}}", &d), "34");
        assert_eq!(r("{{range .Args}}{{$.Name}}{{end}}", &d), "/web/web");
        assert_eq!(
            r(
                r#"{{define "t"}}<{{.}}>{{end}}{{template "t" .N}}{{block "b" .Id}}[{{.}}]{{end}}"#,
                &d
            ),
            "<3>[abc123]"
        );
    }

    #[test]
    fn syntax_corners() {
        let d = data();
        assert_eq!(r(r#"{{"}}"}}|{{ .Id }}|{{`{{`}}"#, &d), "}}|abc123|{{");
        assert_eq!(r("a {{- /* c */ -}} b", &d), "ab");
        assert_eq!(
            r(
                "{{if .Nil}}1{{else if .Missing.X}}2{{else}}3{{end}}",
                &json!({"Nil": null, "Missing": {"X": 0}})
            ),
            "3"
        );
        assert_eq!(
            r("{{with $c := .Config}}{{$c.Cmd}} {{.Env}}{{end}}", &d),
            "[sh -c] <nil>"
        );
        assert_eq!(r("{{range\n .Args\n}}<{{.}}>{{end}}", &d), "<-c><sleep 1>");
        assert_eq!(r("{{-3}} {{ -3 }} {{1.5e3}}", &d), "-3 -3 1500");
        assert_eq!(r("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", &d), "2");
        assert_eq!(r("{{range $i, $e := .Args}}{{end}}{{.N}}", &d), "3");
        assert_eq!(r(r#"{{index .Config.Labels "com.y" | len}}"#, &d), "3");
        assert_eq!(r(r#"{{"x" | printf "%s-%s" "y"}}"#, &d), "y-x");
        assert_eq!(r(r#"{{$.N}} {{$}}"#, &json!({"N": 1})), "1 map[N:1]");
        let err = Template::parse("{{range $i, $e := .Args}}{{end}}{{$i}}")
            .unwrap()
            .render(&d)
            .unwrap_err();
        assert!(err.contains("undefined variable: $i"), "{err}");
    }

    #[test]
    fn builtin_functions() {
        let d = data();
        assert_eq!(
            r(
                "{{eq .N 3}} {{ne .N 3}} {{lt .N 4}} {{le 3 .N}} {{gt .F 1}} {{ge 2 2}}",
                &d
            ),
            "true false true true false true"
        );
        assert_eq!(r(r#"{{eq .Name "/x" "/web"}}"#, &d), "true");
        assert_eq!(
            r("{{and 1 0}} {{or 0 2}} {{not .T}} {{and .T .N}}", &d),
            "0 2 false 3"
        );
        // `and` stops before a failing argument.
        assert_eq!(r("{{and .Nil .Nil.X}}", &d), "<nil>");
        assert_eq!(
            r(
                r#"{{printf "%5d|%-4s|%v|%q|%03d|%.2f|%x" .N "ab" .Args "x" 7 .F 255}}"#,
                &d
            ),
            "    3|ab  |[-c sleep 1]|\"x\"|007|0.50|ff"
        );
        assert_eq!(r(r#"{{printf "%d %s"}}"#, &d), "%!d(MISSING) %!s(MISSING)");
        assert_eq!(r(r#"{{printf "%d" "x"}}"#, &d), "%!d(string=x)");
        assert_eq!(r(r#"{{print "a" 1 2 "b"}}"#, &d), "a1 2b");
        assert_eq!(r(r#"{{println "a" 1}}"#, &d), "a 1\n");
        assert_eq!(r(r#"{{.N | printf "%d!"}}"#, &d), "3!");
        assert_eq!(
            r(r#"{{slice .Id 1 3}} {{slice .Args 1}}"#, &d),
            "bc [sleep 1]"
        );
        assert_eq!(r(r#"{{len "héllo"}} {{len .Config.Labels}}"#, &d), "6 2");
        // JSON null stands for docker's nil slices and maps.
        assert_eq!(
            r(r#"{{len .Config.Env}} {{index .Nil "k"}}"#, &d),
            "0 <nil>"
        );
        assert_eq!(
            r(r#"{{html "<a&b>"}} {{urlquery "a b/c"}} {{js "it's"}}"#, &d),
            "&lt;a&amp;b&gt; a+b%2Fc it\\'s"
        );
        assert_eq!(r("{{(index .RepoTags 0)}} {{(index .NetworkSettings.Networks \"bridge\").IPAddress}}", &d),
            "busybox:latest 172.17.0.2");
    }

    #[test]
    fn docker_functions() {
        let d = data();
        assert_eq!(
            r(
                "{{upper .Name}} {{lower \"AbC\"}} {{title \"hello wide-world\"}}",
                &d
            ),
            "/WEB abc Hello Wide-World"
        );
        assert_eq!(
            r(r#"{{split "a,b,c" ","}} {{index (split "a:b" ":") 1}}"#, &d),
            "[a b c] b"
        );
        assert_eq!(
            r(r#"{{join .Config.Labels ","}} {{join .Nil ","}}"#, &d),
            "1,two "
        );
        assert_eq!(
            r(r#"[{{pad .Id 2 1}}] [{{pad "" 2 1}}]"#, &d),
            "[  abc123 ] []"
        );
        assert_eq!(
            r(r#"{{truncate .Id 3}} {{truncate .Id 10}}"#, &d),
            "abc abc123"
        );
        assert_eq!(
            r(r#"{{json .RepoTags}} {{json "a<b"}} {{json .Nil}}"#, &d),
            r#"["busybox:latest","busybox:1"] "a<b" null"#
        );
        assert_eq!(r(r#"{{.Label "a"}}|{{.Label "b"}}"#, &d), "1|");
    }

    #[test]
    fn errors_as_go_words_them() {
        let d = data();
        let parse = |f: &str| Template::parse(f).err().unwrap_or_default();
        assert_eq!(parse("{{.Tag"), "template: :1: unclosed action");
        assert_eq!(
            parse("{{nope .X}}"),
            r#"template: :1: function "nope" not defined"#
        );
        assert_eq!(parse("{{range .X}}"), "template: :1: unexpected EOF");
        assert_eq!(parse("{{end}}"), "template: :1: unexpected {{end}}");
        assert!(parse("{{break}}").contains("outside {{range}}"));
        assert!(parse(r#"{{"x" "y"}}"#).contains("can't give argument to non-function"));
        let exec = |f: &str| Template::parse(f).unwrap().render(&d).unwrap_err();
        assert_eq!(
            exec("{{.Nope}}"),
            r#"template: :1:2: executing "" at <.Nope>: can't evaluate field Nope"#
        );
        // The node that failed and where: line 2, byte 15 of it.
        assert_eq!(
            exec("{{.N}}\nab {{len .Id | upper}}"),
            r#"template: :2:15: executing "" at <upper>: error calling upper: wrong type for value; expected string; got int"#
        );
        assert_eq!(
            exec("{{printf \"%s\" .Config.Nope}}"),
            r#"template: :1:14: executing "" at <.Config.Nope>: can't evaluate field Nope"#
        );
        assert_eq!(
            exec("{{(index .RepoTags 0).X}}"),
            r#"template: :1:2: executing "" at <(index .RepoTags 0).X>: can't evaluate field X in type string"#
        );
        assert!(exec("{{.Nil.X}}").contains("nil pointer evaluating"));
        assert!(exec("{{index .RepoTags 5}}").contains("index out of range: 5"));
        assert!(exec("{{upper .N}}").contains("expected string; got int"));
        let t = Template::parse("{{.Nope}}").unwrap();
        assert!(t
            .render_inspect(&d)
            .unwrap_err()
            .contains(r#"map has no entry for key "Nope""#));
    }

    /// Go's text/template beyond docker's examples, with what Go prints:
    /// the guard for any change of engine (docs/INTERNALS.md, "Go
    /// templates": the gotmpl crate was measured against these).
    #[test]
    fn go_reference_features() {
        let d = json!({"Args": ["a", "b", "c"], "N": 3, "S": "hello", "A": [1, 2], "B": [1, 2, 3]});
        assert_eq!(
            r(
                r#"{{define "T"}}Hello, {{.}}!{{end}}{{template "T" "world"}}"#,
                &d
            ),
            "Hello, world!"
        );
        // A template calling itself on a shorter slice.
        assert_eq!(
            r(
                r#"{{define "r"}}{{if .}}{{len .}}{{template "r" (slice . 1)}}{{end}}{{end}}{{template "r" .Args}}"#,
                &d
            ),
            "321"
        );
        assert_eq!(
            r(
                r#"{{block "list" .Args}}{{range .}}-{{.}}{{end}}{{end}}"#,
                &d
            ),
            "-a-b-c"
        );
        // `$` in a called template is the dot it was given.
        assert_eq!(
            r(r#"{{define "d"}}{{$}}{{end}}{{template "d" .N}}"#, &d),
            "3"
        );
        assert_eq!(
            r(
                r#"{{lt "a" "b"}} {{ge 2 3}} {{eq 1 2 3 1}} {{ne "x" "x"}} {{le 1.5 1.5}} {{gt .N 2}}"#,
                &d
            ),
            "true false true false true true"
        );
        // `and`/`or` give the deciding value and evaluate no further
        // (`.Nope` would fail).
        assert_eq!(
            r(
                r#"{{and 1 2}} {{and 0 .Nope}} {{or 1 .Nope}} {{or 0 "" "x"}} [{{or 0 ""}}] {{not 0}}"#,
                &d
            ),
            "2 0 1 x [] true"
        );
        assert_eq!(
            r(
                "{{slice .Args 0 1}} {{slice .S 1}} {{slice .S}} {{slice .Args 1 1}}",
                &d
            ),
            "[a] ello hello []"
        );
        // break and continue end only the innermost range.
        assert_eq!(
            r(
                "{{range .A}}{{range $.B}}{{if eq . 2}}{{break}}{{end}}{{.}}{{end}}|{{end}}",
                &d
            ),
            "1|1|"
        );
        assert_eq!(
            r(
                "{{range .B}}{{if eq . 2}}{{continue}}{{end}}{{.}}{{end}}",
                &d
            ),
            "13"
        );
        assert_eq!(
            r(
                "{{range $i, $e := .Args}}{{if $i}}{{break}}{{end}}{{$e}}{{end}}",
                &d
            ),
            "a"
        );
        // Floats as Go's fmt prints a float64: %e from 1e6 up and below 1e-4.
        assert_eq!(
            r(
                "{{.A}} {{.B}} {{.C}} {{.D}} {{.E}} {{printf \"%v\" .A}}",
                &json!({"A": 1e6, "B": 123456789.0, "C": 100000.0, "D": 0.00001, "E": 0.0001})
            ),
            "1e+06 1.23456789e+08 100000 1e-05 0.0001 1e+06"
        );
        // Misplaced or missing ends are parse errors, as Go's parser has
        // them (gotmpl 0.6.1 ends the template at a stray {{end}} and
        // accepts an unclosed {{if}}).
        let parse = |f: &str| Template::parse(f).err().unwrap_or_default();
        assert_eq!(parse("a{{end}}b"), "template: :1: unexpected {{end}}");
        assert_eq!(parse("a{{else}}b"), "template: :1: unexpected {{else}}");
        assert_eq!(parse("{{if true}}x"), "template: :1: unexpected EOF");
        assert_eq!(
            parse("{{nope}}"),
            r#"template: :1: function "nope" not defined"#
        );
    }

    #[test]
    fn table_header_and_rows() {
        let f = Format::parse(r#"table {{.ID}}\t{{upper .Names}}\t{{.Label "x"}}"#).unwrap();
        assert!(f.table);
        let rows = vec![
            json!({"ID": "a", "Names": "short", "Label": {"x": "lx"}}),
            json!({"ID": "a-much-longer-id", "Names": "n", "Label": {}}),
        ];
        let out = f
            .list(
                &[
                    ("ID", "CONTAINER ID"),
                    ("Names", "NAMES"),
                    ("Label", "LABEL"),
                ],
                &rows,
            )
            .unwrap();
        assert_eq!(
            out,
            "CONTAINER ID       NAMES     LABEL\n\
             a                  SHORT     lx\n\
             a-much-longer-id   N         \n"
        );
        // `{{json .}}` in a table: docker's header function wants a string.
        let f = Format::parse(r"table {{.ID}}\t{{json .}}").unwrap();
        assert_eq!(
            f.list(&[("ID", "CONTAINER ID")], &rows[1..]).unwrap(),
            "CONTAINER ID       \na-much-longer-id   {\"ID\":\"a-much-longer-id\",\"Label\":{},\"Names\":\"n\"}\n"
        );
        // A bare `table`: an empty template, one empty line per row.
        let f = Format::parse("table").unwrap();
        assert_eq!(f.list(&[], &rows).unwrap(), "\n\n\n");
        let f = Format::parse(r"{{.ID}}\t{{.Names}}").unwrap();
        assert_eq!(f.list(&[], &rows[..1]).unwrap(), "a\tshort\n");
        assert!(f.contains(".Names"));
    }
}
