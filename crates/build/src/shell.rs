//! BuildKit's shell lexer (`frontend/dockerfile/shell/lex.go`): word
//! splitting and variable substitution of Dockerfile arguments, rule for
//! rule: quotes, the escape token, `$VAR`, `${VAR}`, `${VAR:-w}`, `${VAR-w}`,
//! `${VAR:+w}`, `${VAR+w}`, `${VAR:?w}`, `${VAR?w}`, `${VAR#p}`, `${VAR##p}`,
//! `${VAR%p}`, `${VAR%%p}`, `${VAR/p/r}`, `${VAR//p/r}`.
//!
//! BuildKit's quirks are kept on purpose (they decide what docker builds):
//! one words buffer is shared by nested `${...}` words, so a `${x:-y}` in
//! `ProcessWords` drops what preceded it in the same word; `\` at the end of
//! a word is dropped; `${VAR:#p}` is an error.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

/// A lexer error; [`Lex::process_word`] words it as BuildKit
/// (`failed to process "${x": syntax error: missing '}'`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LexError(pub String);

fn err<T>(s: impl Into<String>) -> Result<T, LexError> {
    Err(LexError(s.into()))
}

/// Where variables come from.
pub trait Env {
    fn get(&self, key: &str) -> Option<&str>;
}

/// An ordered list of `KEY=value` (BuildKit's `llb.EnvList`): adding a key
/// that is there replaces its value in place.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct EnvList(Vec<(String, String)>);

impl EnvList {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn set(&mut self, key: &str, value: &str) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(kv) => kv.1 = value.to_string(),
            None => self.0.push((key.to_string(), value.to_string())),
        }
    }
    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// From `KEY=value` strings (a bare `KEY` is an empty value).
    pub fn from_strings<S: AsRef<str>>(items: &[S]) -> Self {
        let mut e = EnvList::new();
        for s in items {
            let (k, v) = s.as_ref().split_once('=').unwrap_or((s.as_ref(), ""));
            e.set(k, v);
        }
        e
    }
    /// `KEY=value` strings, in order.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

impl Env for EnvList {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key).map(String::as_str)
    }
}

/// No variables at all.
pub struct NoEnv;

impl Env for NoEnv {
    fn get(&self, _: &str) -> Option<&str> {
        None
    }
}

/// Two environments, the first one winning.
pub struct Layered<'a>(pub &'a dyn Env, pub &'a dyn Env);

impl Env for Layered<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).or_else(|| self.1.get(key))
    }
}

/// The shell lexer, with BuildKit's knobs.
#[derive(Debug, Clone, Copy)]
pub struct Lex {
    pub escape: char,
    /// Keep the quote characters in the result.
    pub raw_quotes: bool,
    /// Keep the escape characters in the result.
    pub raw_escapes: bool,
    /// Quotes are ordinary characters (heredoc bodies).
    pub skip_process_quotes: bool,
    /// Leave unset variables as written (`$x`, `${x:-y}`).
    pub skip_unset_env: bool,
}

/// What [`Lex::process`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Processed {
    /// The word with variables substituted (quotes removed).
    pub result: String,
    /// The words after splitting on unquoted blanks.
    pub words: Vec<String>,
    /// The variables that were set.
    pub matched: BTreeSet<String>,
    /// The variables that were referred to but not set.
    pub unmatched: BTreeSet<String>,
}

impl Lex {
    pub fn new(escape: char) -> Self {
        Lex {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// One word, variables substituted (`ProcessWord`).
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, LexError> {
        self.process(word, env).map(|p| p.result)
    }

    /// The words after substitution and splitting (`ProcessWords`).
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, LexError> {
        self.process(word, env).map(|p| p.words)
    }

    /// Both, with the variables used (`ProcessWordWithMatches`).
    pub fn process(&self, word: &str, env: &dyn Env) -> Result<Processed, LexError> {
        let mut sw = ShellWord {
            lex: self,
            chars: word.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            words_buf: String::new(),
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        };
        let raw = sw.raw_escapes;
        match sw.process_stop_on(None, raw) {
            Ok((result, words)) => Ok(Processed {
                result,
                words,
                matched: sw.matched,
                unmatched: sw.unmatched,
            }),
            Err(e) => err(format!("failed to process {}: {}", go_quote(word), e.0)),
        }
    }
}

/// Go's `%q` of a string.
pub use berth_util::gostr::quote as go_quote;

struct ShellWord<'a> {
    lex: &'a Lex,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Env,
    raw_escapes: bool,
    /// BuildKit's `sw.wordsBuffer`: one buffer for every nesting level.
    words_buf: String,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

/// `wordsStruct` without its buffer (that is [`ShellWord::words_buf`]).
#[derive(Default)]
struct Words {
    words: Vec<String>,
    in_word: bool,
}

impl ShellWord<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn add_char(&mut self, w: &mut Words, ch: char) {
        if ch.is_whitespace() && w.in_word {
            if !self.words_buf.is_empty() {
                w.words.push(std::mem::take(&mut self.words_buf));
                w.in_word = false;
            }
        } else if !ch.is_whitespace() {
            self.add_raw_char(w, ch);
        }
    }
    fn add_raw_char(&mut self, w: &mut Words, ch: char) {
        self.words_buf.push(ch);
        w.in_word = true;
    }
    fn add_string(&mut self, w: &mut Words, s: &str) {
        for c in s.chars() {
            self.add_char(w, c);
        }
    }
    fn add_raw_string(&mut self, w: &mut Words, s: &str) {
        self.words_buf.push_str(s);
        w.in_word = true;
    }
    fn get_words(&mut self, mut w: Words) -> Vec<String> {
        if !self.words_buf.is_empty() {
            w.words.push(std::mem::take(&mut self.words_buf));
        }
        w.words
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), LexError> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.process_stop_on_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn process_stop_on_inner(
        &mut self,
        stop: Option<char>,
    ) -> Result<(String, Vec<String>), LexError> {
        let mut result = String::new();
        self.words_buf.clear();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                let w = self.get_words(words);
                return Ok((result, w));
            }
            let special = match ch {
                '$' => Some(self.process_dollar()),
                '<' => Some(self.process_possible_heredoc()),
                '\'' if !self.lex.skip_process_quotes => Some(self.process_single_quote()),
                '"' if !self.lex.skip_process_quotes => Some(self.process_double_quote()),
                _ => None,
            };
            if let Some(tmp) = special {
                let tmp = tmp?;
                result.push_str(&tmp);
                if ch == '$' {
                    self.add_string(&mut words, &tmp);
                } else {
                    self.add_raw_string(&mut words, &tmp);
                }
                continue;
            }
            let mut ch = self.next().unwrap_or_default();
            if ch == self.lex.escape {
                if self.raw_escapes {
                    self.add_raw_char(&mut words, ch);
                    result.push(ch);
                }
                match self.next() {
                    None => break,
                    Some(c) => ch = c,
                }
                self.add_raw_char(&mut words, ch);
            } else {
                self.add_char(&mut words, ch);
            }
            result.push(ch);
        }
        if let Some(s) = stop {
            return err(format!(
                "unexpected end of statement while looking for matching {s}"
            ));
        }
        let w = self.get_words(words);
        Ok((result, w))
    }

    fn process_single_quote(&mut self) -> Result<String, LexError> {
        let mut result = String::new();
        let ch = self.next().unwrap_or_default();
        if self.lex.raw_quotes {
            result.push(ch);
        }
        loop {
            match self.next() {
                None => {
                    return err(
                        "unexpected end of statement while looking for matching single-quote",
                    )
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String, LexError> {
        let mut result = String::new();
        let ch = self.next().unwrap_or_default();
        if self.lex.raw_quotes {
            result.push(ch);
        }
        loop {
            match self.peek() {
                None => {
                    return err(
                        "unexpected end of statement while looking for matching double-quote",
                    )
                }
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(_) => {
                    let mut ch = self.next().unwrap_or_default();
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                ch = self.next().unwrap_or_default();
                            }
                            _ => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn get_env(&mut self, name: &str) -> Option<String> {
        match self.env.get(name) {
            Some(v) => {
                self.matched.insert(name.to_string());
                Some(v.to_string())
            }
            None => {
                self.unmatched.insert(name.to_string());
                None
            }
        }
    }

    fn process_dollar(&mut self) -> Result<String, LexError> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return err("syntax error: missing '}'"),
            Some('{' | '}' | ':') => return err("syntax error: bad substitution"),
            _ => {}
        }
        let name = self.process_name();
        let mut ch = self.next();
        // Go's string(scanner.EOF) is U+FFFD.
        let mut chs: String = ch.map(String::from).unwrap_or_else(|| "\u{fffd}".into());
        let mut null_is_unset = false;
        match ch {
            Some('}') => Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                if ch == Some(':') {
                    null_is_unset = true;
                    ch = self.next();
                    // Go falls through to the modifier's code whatever
                    // ch is: a word is read, then an odd ch refused.
                    chs.push(ch.unwrap_or('\u{fffd}'));
                }
                let raw = matches!(ch, Some('#' | '%'));
                if null_is_unset && raw {
                    return err(format!("unsupported modifier ({chs}) in substitution"));
                }
                let word = match self.process_stop_on(Some('}'), raw) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return err("syntax error: missing '}'");
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}{chs}{word}}}"));
                }
                let set = value.is_some();
                let value = value.unwrap_or_default();
                match ch {
                    Some('-') => {
                        if !set || (null_is_unset && value.is_empty()) {
                            Ok(word)
                        } else {
                            Ok(value)
                        }
                    }
                    Some('+') => {
                        if !set || (null_is_unset && value.is_empty()) {
                            Ok(String::new())
                        } else {
                            Ok(word)
                        }
                    }
                    Some('?') => {
                        if !set {
                            let m = if word.is_empty() {
                                "is not allowed to be unset"
                            } else {
                                &word
                            };
                            return err(format!("{name}: {m}"));
                        }
                        if null_is_unset && value.is_empty() {
                            let m = if word.is_empty() {
                                "is not allowed to be empty"
                            } else {
                                &word
                            };
                            return err(format!("{name}: {m}"));
                        }
                        Ok(value)
                    }
                    Some(c @ ('%' | '#')) => {
                        let mut word = word.as_str();
                        let mut greedy = false;
                        if word.starts_with(c) {
                            greedy = true;
                            word = &word[1..];
                        }
                        if c == '%' {
                            trim_suffix(word, &value, greedy)
                        } else {
                            trim_prefix(word, &value, greedy)
                        }
                    }
                    _ => err(format!("unsupported modifier ({chs}) in substitution")),
                }
            }
            Some('/') => {
                let replace_all = self.peek() == Some('/');
                if replace_all {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return err("syntax error: missing '/' in ${}");
                        }
                        return Err(e);
                    }
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return err("syntax error: missing '}'");
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                }
                let value = value.unwrap_or_default();
                let re = shell_pattern_regex(&pattern, true, false).map_err(|e| {
                    LexError(format!("invalid pattern ({pattern}) in substitution: {e}"))
                })?;
                if replace_all {
                    Ok(re.replace_all(&value, replacement.as_str()).into_owned())
                } else if let Some(m) = re.find(&value) {
                    Ok(format!(
                        "{}{}{}",
                        &value[..m.start()],
                        replacement,
                        &value[m.end()..]
                    ))
                } else {
                    Ok(value)
                }
            }
            _ => err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(c) = self.peek() {
                    if !c.is_numeric() {
                        break;
                    }
                    self.next();
                    name.push(c);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphabetic() && !ch.is_numeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    fn process_possible_heredoc(&mut self) -> Result<String, LexError> {
        self.next();
        if self.peek() != Some('<') {
            return Ok("<".into());
        }
        self.next();
        let mut result = String::from("<<");
        while let Some(c @ ('\t' | '\r' | ' ')) = self.peek() {
            result.push(c);
            self.next();
        }
        Ok(result)
    }
}

/// BuildKit's `convertShellPatternToRegex`: `?` one character, `*` the
/// shortest (or, greedy, the longest) string; no bracket expressions.
fn shell_pattern_regex(pattern: &str, greedy: bool, anchored: bool) -> Result<Regex, String> {
    let mut out = String::with_capacity(pattern.len() + 4);
    if anchored {
        out.push('^');
    }
    let star = if greedy { ".*" } else { ".*?" };
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let mut tok = chars[i];
        i += 1;
        match tok {
            '*' => {
                out.push_str(star);
                continue;
            }
            '?' => {
                out.push('.');
                continue;
            }
            '\\' => {
                if matches!(chars.get(i), Some('}' | '/')) {
                    continue;
                }
                out.push('\\');
                match chars.get(i) {
                    Some(&c) => {
                        tok = c;
                        i += 1;
                    }
                    None => return Err("invalid escape '\\'".into()),
                }
                if !matches!(tok, '*' | '?' | '\\') {
                    return Err(format!("invalid escape '\\{tok}'"));
                }
            }
            '[' | ']' | '{' | '}' | '.' | '+' | '(' | ')' | '|' | '^' | '$' => out.push('\\'),
            _ => {}
        }
        out.push(tok);
    }
    Regex::new(&out).map_err(|e| e.to_string())
}

fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, LexError> {
    let re = shell_pattern_regex(pattern, greedy, true)
        .map_err(|e| LexError(format!("invalid pattern ({pattern}) in substitution: {e}")))?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

/// Reverses a pattern keeping `\x` escapes in order (`a\*c` -> `c\*a`).
fn reverse_pattern(pattern: &str) -> String {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = vec!['\0'; p.len()];
    let last = p.len().wrapping_sub(1);
    let mut i = 0;
    while i < p.len() {
        let out_idx = last - i;
        if p[i] == '\\' && i != last {
            out[out_idx - 1] = p[i];
            out[out_idx] = p[i + 1];
            i += 2;
        } else {
            out[out_idx] = p[i];
            i += 1;
        }
    }
    out.into_iter().collect()
}

fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, LexError> {
    let pattern = reverse_pattern(pattern);
    let value: String = value.chars().rev().collect();
    let s = trim_prefix(&pattern, &value, greedy)?;
    Ok(s.chars().rev().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> EnvList {
        EnvList::from_strings(&["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="])
    }

    /// BuildKit's own table (shell/envVarTest), Unix and All rows.
    #[test]
    fn buildkit_env_var_table() {
        let table = include_str!("../tests/data/envVarTest");
        let lex = Lex::new('\\');
        let env = env();
        let mut n = 0;
        for (i, line) in table.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let parts: Vec<&str> = line.trim().split('|').collect();
            assert_eq!(parts.len(), 3, "line {}", i + 1);
            let (plat, src, want) = (parts[0].trim(), parts[1].trim(), parts[2].trim());
            if plat == "W" {
                continue;
            }
            n += 1;
            let got = lex.process_word(src, &env);
            if want == "error" {
                assert!(got.is_err(), "line {}: {src:?} gave {got:?}", i + 1);
            } else {
                assert_eq!(got.as_deref(), Ok(want), "line {}: {src:?}", i + 1);
            }
        }
        assert!(n > 150);
    }

    /// BuildKit's own table (shell/wordsTest).
    #[test]
    fn buildkit_words_table() {
        let table = include_str!("../tests/data/wordsTest");
        let lex = Lex::new('\\');
        let mut envs: Vec<String> = vec![];
        for (i, line) in table.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix("ENV ") {
                envs.push(rest.trim_start_matches(' ').to_string());
                continue;
            }
            let parts: Vec<&str> = line.split('|').collect();
            assert_eq!(parts.len(), 2, "line {}", i + 1);
            let src = parts[0].trim();
            let want: Vec<&str> = parts[1].trim_start_matches(' ').split(',').collect();
            let env = EnvList::from_strings(&envs);
            let got = lex
                .process_words(src, &env)
                .unwrap_or_else(|_| vec!["error".into()]);
            assert_eq!(got, want, "line {}: {src:?}", i + 1);
        }
    }

    #[test]
    fn pattern_regex_and_reverse() {
        // lex_test.go TestConvertShellPatternToRegex / TestReversePattern
        let re = shell_pattern_regex("a*b?c\\*d\\?e\\\\f[]{}.+()|^$", false, true).unwrap();
        assert_eq!(
            re.as_str(),
            "^a.*?b.c\\*d\\?e\\\\f\\[\\]\\{\\}\\.\\+\\(\\)\\|\\^\\$"
        );
        assert!(shell_pattern_regex("\\a", false, false).is_err());
        assert_eq!(reverse_pattern("a\\*c"), "c\\*a");
        assert_eq!(reverse_pattern("abc"), "cba");
    }

    #[test]
    fn modifiers() {
        let lex = Lex::new('\\');
        let e = EnvList::from_strings(&["x=abcabc", "e=", "p=/a/b/c.tar.gz"]);
        let w = |s: &str| lex.process_word(s, &e);
        assert_eq!(w("${x#a*}").unwrap(), "bcabc");
        assert_eq!(w("${x##a*}").unwrap(), "");
        assert_eq!(w("${p%.*}").unwrap(), "/a/b/c.tar");
        assert_eq!(w("${p%%.*}").unwrap(), "/a/b/c");
        assert_eq!(w("${p##*/}").unwrap(), "c.tar.gz");
        assert_eq!(w("${x/b/X}").unwrap(), "aXcabc");
        assert_eq!(w("${x//b/X}").unwrap(), "aXcaXc");
        assert_eq!(w("${e:-d}").unwrap(), "d");
        assert_eq!(w("${e-d}").unwrap(), "");
        assert_eq!(w("${u-d}").unwrap(), "d");
        assert_eq!(w("${e:+a}").unwrap(), "");
        assert_eq!(w("${e+a}").unwrap(), "a");
        assert_eq!(
            w("${u:?need it}").unwrap_err().0,
            "failed to process \"${u:?need it}\": u: need it"
        );
        assert_eq!(
            w("${e:?}").unwrap_err().0,
            "failed to process \"${e:?}\": e: is not allowed to be empty"
        );
        assert_eq!(
            w("${x:#a}").unwrap_err().0,
            "failed to process \"${x:#a}\": unsupported modifier (:#) in substitution"
        );
        assert_eq!(
            w("${x").unwrap_err().0,
            "failed to process \"${x\": unsupported modifier (\u{fffd}) in substitution"
        );
        assert_eq!(
            w("${x:-a").unwrap_err().0,
            "failed to process \"${x:-a\": syntax error: missing '}'"
        );
    }

    #[test]
    fn skip_unset_and_words_buffer_quirk() {
        let mut lex = Lex::new('\\');
        lex.skip_unset_env = true;
        assert_eq!(
            lex.process_word("$a ${b} ${c:-x}", &NoEnv).unwrap(),
            "$a ${b} ${c:-x}"
        );
        // BuildKit shares one words buffer between nesting levels.
        let lex = Lex::new('\\');
        assert_eq!(
            lex.process_words("foo${x:-bar}", &NoEnv).unwrap(),
            vec!["bar"]
        );
    }
}
