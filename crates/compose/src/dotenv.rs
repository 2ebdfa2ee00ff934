//! `.env` files as compose-go's `dotenv` parser reads them: `KEY=value`,
//! `export KEY=value`, `KEY: value`, quotes (single: literal; double:
//! escapes and interpolation), inline ` #` comments, `KEY` alone to inherit.

use std::collections::BTreeMap;

use crate::template;
use crate::Error;

fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

/// Parses `src`; `lookup` resolves variables not defined earlier in the file.
pub fn parse(
    src: &str,
    out: &mut BTreeMap<String, String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let src = src
        .strip_prefix('\u{feff}')
        .unwrap_or(src)
        .replace("\r\n", "\n");
    let mut rest: &str = &src;
    let mut line = 1;
    loop {
        // statement start: skip blanks and comment lines
        let trimmed = rest.trim_start_matches(|c: char| c.is_whitespace());
        line += rest[..rest.len() - trimmed.len()].matches('\n').count();
        rest = trimmed;
        if rest.is_empty() {
            break;
        }
        if rest.starts_with('#') {
            match rest.find('\n') {
                Some(i) => {
                    rest = &rest[i..];
                    continue;
                }
                None => break,
            }
        }
        // key
        let mut s = rest;
        if let Some(after) = s.strip_prefix("export") {
            if after.starts_with([' ', '\t']) {
                s = after.trim_start_matches(is_space);
            }
        }
        let mut key_end = None;
        let mut inherited = false;
        for (i, c) in s.char_indices() {
            if is_space(c) {
                continue;
            }
            match c {
                '=' | ':' | '\n' => {
                    key_end = Some(i);
                    inherited = c == '\n';
                    break;
                }
                '_' | '.' | '-' | '[' | ']' => {}
                c if c.is_alphanumeric() => {}
                c => {
                    return Err(format!(
                        "line {line}: unexpected character {:?} in variable name {:?}",
                        c.to_string(),
                        s.lines().next().unwrap_or("")
                    ))
                }
            }
        }
        let (key, after) = match key_end {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => {
                // a last line without `=`: inherited
                inherited = true;
                (s, "")
            }
        };
        let key = key.trim_end().to_string();
        if key.contains(' ') {
            return Err(format!("line {line}: key cannot contain a space"));
        }
        if inherited {
            line += 1;
            if let Some(v) = lookup(&key) {
                out.insert(key, v);
            }
            rest = after;
            continue;
        }
        let after = after.trim_start_matches(is_space);
        let lookup_all = |k: &str| lookup(k).or_else(|| out.get(k).cloned());
        let (value, left) = match after.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let mut chars = String::new();
                let mut escape = false;
                let mut end = None;
                for (i, c) in after.char_indices().skip(1) {
                    if c == '\n' {
                        line += 1;
                    }
                    if c != q {
                        if !escape && c == '\\' {
                            escape = true;
                            continue;
                        }
                        if escape {
                            escape = false;
                            chars.push('\\');
                        }
                        chars.push(c);
                        continue;
                    }
                    if escape {
                        escape = false;
                        chars.push(c);
                        continue;
                    }
                    end = Some(i);
                    break;
                }
                let Some(end) = end else {
                    return Err(format!(
                        "line {line}: unterminated quoted value {}",
                        after.lines().next().unwrap_or("")
                    ));
                };
                let v = if q == '"' {
                    template::substitute(&expand_escapes(&chars), &lookup_all)
                        .map_err(|e| e.to_string())?
                } else {
                    chars
                };
                (v, &after[end + 1..])
            }
            _ => {
                let (v, left) = after.split_once('\n').unwrap_or((after, ""));
                line += 1;
                let v = v.split(" #").next().unwrap_or("").trim_end();
                let v = template::substitute(v, &lookup_all).map_err(|e| e.to_string())?;
                (v, left)
            }
        };
        out.insert(key, value);
        rest = left;
        // the rest of a quoted value's line
        if let Some(i) = rest.find('\n') {
            if rest[..i].trim().is_empty() || rest[..i].trim_start().starts_with('#') {
                rest = &rest[i..];
            }
        }
    }
    Ok(())
}

fn expand_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('\'') => out.push('\''),
            Some('$') => out.push_str("$$"),
            Some('a') => out.push('\u{7}'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// compose-go's `GetEnvFromFile`: files in order, each seeing `current`
/// (the environment) first, then what earlier lines defined.
pub fn env_from_files(
    current: &BTreeMap<String, String>,
    files: &[String],
) -> Result<BTreeMap<String, String>, Error> {
    let mut env = BTreeMap::new();
    for f in files {
        let meta =
            std::fs::metadata(f).map_err(|_| Error::new(format!("couldn't find env file: {f}")))?;
        if meta.is_dir() {
            return Err(Error::new(format!("{f} is a directory")));
        }
        let content = std::fs::read_to_string(f)
            .map_err(|e| Error::new(format!("couldn't read env file: {f}: {e}")))?;
        let mut out = env.clone();
        parse(&content, &mut out, &|k| current.get(k).cloned())
            .map_err(|e| Error::new(format!("failed to read {f}: {e}")))?;
        env = out;
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let mut out = BTreeMap::new();
        let src = "# c\nA=1\nexport B = two words # comment\nC='lit $A'\nD=\"x\\n${A}\"\nE: 5\nINHERIT\nF=${A:-z}-${NOPE:-d}\n";
        parse(src, &mut out, &|k| {
            (k == "INHERIT").then(|| "from-env".to_string())
        })
        .unwrap();
        assert_eq!(out["A"], "1");
        assert_eq!(out["B"], "two words");
        assert_eq!(out["C"], "lit $A");
        assert_eq!(out["D"], "x\n1");
        assert_eq!(out["E"], "5");
        assert_eq!(out["INHERIT"], "from-env");
        assert_eq!(out["F"], "1-d");
        assert!(parse("A B=1", &mut out, &|_| None).is_err());
    }
}
