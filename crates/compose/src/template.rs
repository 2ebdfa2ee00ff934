//! Variable substitution in strings, as compose-go's `template` package
//! does it: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?err}`, `${VAR?err}`, `${VAR:+alt}`, `${VAR+alt}`, nested
//! templates in defaults, and `$$` for a literal `$`.

use std::sync::OnceLock;

use regex::Regex;

/// Why a substitution failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// `${` without a valid name: the whole template.
    Invalid(String),
    /// `${VAR:?msg}` / `${VAR?msg}` on an unset (or empty) variable.
    Required { variable: String, reason: String },
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateError::Invalid(t) => write!(f, "invalid template: {t:?}"),
            TemplateError::Required { variable, reason } if reason.is_empty() => {
                write!(f, "required variable {variable} is missing a value")
            }
            TemplateError::Required { variable, reason } => {
                write!(
                    f,
                    "required variable {variable} is missing a value: {reason}"
                )
            }
        }
    }
}

fn pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)|\{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?](.*))?)\}|(?P<invalid>)))",
        )
        .expect("static pattern")
    })
}

/// Substitutes the variables of `template` through `lookup`. `unset` is
/// called with the name of each plain variable that is not set (compose
/// warns "The X variable is not set. Defaulting to a blank string.").
pub fn substitute(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    let mut first_err: Option<TemplateError> = None;
    let re = pattern();
    let mut out = String::with_capacity(template.len());
    let mut last = 0;
    for m in re.find_iter(template) {
        out.push_str(&template[last..m.start()]);
        last = m.end();
        match replacement(m.as_str(), lookup) {
            Ok(s) => out.push_str(&s),
            Err(e) => {
                let e = match e {
                    TemplateError::Invalid(t) if t.is_empty() => {
                        TemplateError::Invalid(template.to_string())
                    }
                    e => e,
                };
                first_err.get_or_insert(e);
            }
        }
    }
    out.push_str(&template[last..]);
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

type SubstFn = fn(&str, &dyn Fn(&str) -> Option<String>) -> Result<Option<String>, TemplateError>;

fn function_for(template: &str) -> SubstFn {
    let table: [(&str, SubstFn); 6] = [
        (":?", |s, l| required(s, l, ":?", |v| !v.is_empty())),
        ("?", |s, l| required(s, l, "?", |_| true)),
        (":-", |s, l| default_absent(s, l, true)),
        ("-", |s, l| default_absent(s, l, false)),
        (":+", |s, l| default_present(s, l, true)),
        ("+", |s, l| default_present(s, l, false)),
    ];
    let mut best: Option<(usize, SubstFn)> = None;
    let mut fallback = table[0].1;
    for (i, (sep, f)) in table.iter().enumerate() {
        if i == 0 {
            fallback = *f;
        }
        if let Some(idx) = template.find(sep) {
            if best.map_or(true, |(b, _)| idx < b) {
                best = Some((idx, *f));
            }
        }
    }
    best.map(|(_, f)| f).unwrap_or(fallback)
}

fn first_brace_closing(s: &[u8]) -> Option<usize> {
    let mut open = 0i32;
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'}' {
            open -= 1;
            if open == 0 {
                return Some(i);
            }
        }
        if s[i] == b'{' {
            open += 1;
            i += 1;
        }
        i += 1;
    }
    None
}

fn replacement(
    substring: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    let subs = function_for(substring);
    let (substring, rest) = match first_brace_closing(substring.as_bytes()) {
        Some(i) => (&substring[..=i], &substring[i + 1..]),
        None => (substring, ""),
    };
    let caps = pattern()
        .captures(substring)
        .ok_or_else(|| TemplateError::Invalid(String::new()))?;
    if caps.name("escaped").is_some_and(|m| !m.as_str().is_empty()) {
        return Ok("$".to_string());
    }
    let (name, braced) = match caps
        .name("named")
        .map(|m| m.as_str())
        .filter(|s| !s.is_empty())
    {
        Some(n) => (n, false),
        None => (caps.name("braced").map(|m| m.as_str()).unwrap_or(""), true),
    };
    if name.is_empty() {
        return Err(TemplateError::Invalid(String::new()));
    }
    if braced {
        if let Some(value) = subs(name, lookup)? {
            let nested = substitute(rest, lookup)?;
            return Ok(value + &nested);
        }
    }
    Ok(lookup(name).unwrap_or_default())
}

fn partition<'a>(s: &'a str, sep: &str) -> (&'a str, &'a str) {
    s.split_once(sep).unwrap_or((s, ""))
}

fn default_absent(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    empty_or_unset: bool,
) -> Result<Option<String>, TemplateError> {
    let sep = if empty_or_unset { ":-" } else { "-" };
    if !s.contains(sep) {
        return Ok(None);
    }
    let (name, default) = partition(s, sep);
    let default = substitute(default, lookup)?;
    match lookup(name) {
        Some(v) if !(empty_or_unset && v.is_empty()) => Ok(Some(v)),
        _ => Ok(Some(default)),
    }
}

fn default_present(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    not_empty: bool,
) -> Result<Option<String>, TemplateError> {
    let sep = if not_empty { ":+" } else { "+" };
    if !s.contains(sep) {
        return Ok(None);
    }
    let (name, alt) = partition(s, sep);
    let alt = substitute(alt, lookup)?;
    match lookup(name) {
        Some(v) if !not_empty || !v.is_empty() => Ok(Some(alt)),
        Some(v) => Ok(Some(v)),
        None => Ok(Some(String::new())),
    }
}

fn required(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    sep: &str,
    valid: fn(&str) -> bool,
) -> Result<Option<String>, TemplateError> {
    if !s.contains(sep) {
        return Ok(None);
    }
    let (name, msg) = partition(s, sep);
    let msg = substitute(msg, lookup)?;
    match lookup(name) {
        Some(v) if valid(&v) => Ok(Some(v)),
        _ => Err(TemplateError::Required {
            variable: name.to_string(),
            reason: msg,
        }),
    }
}

/// The names of the variables a template reads (for warnings).
pub fn unset_variables(template: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut out = Vec::new();
    for caps in pattern().captures_iter(template) {
        if let Some(n) = caps.name("named").filter(|m| !m.as_str().is_empty()) {
            if lookup(n.as_str()).is_none() {
                out.push(n.as_str().to_string());
            }
        } else if let Some(b) = caps.name("braced") {
            let s = b.as_str();
            if !s.contains(['-', '+', '?']) && lookup(s).is_none() {
                out.push(s.to_string());
            }
        }
    }
    out
}

/// A variable a model reads, as compose-go's `ExtractVariables` reports
/// it (`config --variables`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Variable {
    pub name: String,
    /// `${X:-d}` / `${X-d}`.
    pub default_value: String,
    /// `${X:+a}` / `${X+a}`.
    pub presence_value: String,
    /// `${X:?e}` / `${X?e}`.
    pub required: bool,
}

/// Every variable the strings of `v` (an uninterpolated model) read, by
/// name (a later mention of a name replaces an earlier one, as in Go's map).
pub fn variables(v: &serde_json::Value) -> std::collections::BTreeMap<String, Variable> {
    fn walk(v: &serde_json::Value, out: &mut std::collections::BTreeMap<String, Variable>) {
        match v {
            serde_json::Value::String(s) => {
                for var in template_variables(s) {
                    out.insert(var.name.clone(), var);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(v, &mut out);
    out
}

/// The variables one template reads.
pub fn template_variables(template: &str) -> Vec<Variable> {
    let mut out = Vec::new();
    for caps in pattern().captures_iter(template) {
        let val = match (caps.name("named"), caps.name("braced")) {
            (Some(n), _) if !n.as_str().is_empty() => n.as_str(),
            (_, Some(_)) => {
                // the greedy match may run past this template's closing
                // brace: cut there, and read what follows on its own
                let whole = caps.get(0).map(|m| m.as_str()).unwrap_or("");
                match first_brace_closing(whole.as_bytes()) {
                    Some(i) if i > 2 => {
                        out.extend(template_variables(&whole[i + 1..]));
                        &whole[2..i]
                    }
                    _ => continue,
                }
            }
            _ => continue,
        };
        let mut var = Variable {
            name: val.to_string(),
            ..Default::default()
        };
        if let Some(i) = val.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            var.name = val[..i].to_string();
            let rest = &val[i..];
            if rest.starts_with(":?") || rest.starts_with('?') {
                var.required = true;
            } else if let Some(d) = rest.strip_prefix(":-").or_else(|| rest.strip_prefix('-')) {
                var.default_value = d.to_string();
            } else if let Some(a) = rest.strip_prefix(":+").or_else(|| rest.strip_prefix('+')) {
                var.presence_value = a.to_string();
            }
        }
        out.push(var);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn variables_as_compose_extracts_them() {
        let v = serde_json::json!({"services": {"web": {
            "image": "${IMG:-bb}:${TAG?need a tag}",
            "environment": ["A=$PLAIN", "B=${ALT:+yes}", "C=$$NOT"],
        }}});
        let vars = variables(&v);
        let names: Vec<&String> = vars.keys().collect();
        assert_eq!(names, ["ALT", "IMG", "PLAIN", "TAG"]);
        assert_eq!(vars["IMG"].default_value, "bb");
        assert!(vars["TAG"].required);
        assert_eq!(vars["ALT"].presence_value, "yes");
        assert!(!vars["PLAIN"].required && vars["PLAIN"].default_value.is_empty());
    }

    fn sub(t: &str) -> Result<String, TemplateError> {
        let env: HashMap<&str, &str> = [("FOO", "foo"), ("EMPTY", ""), ("BAR", "bar")]
            .into_iter()
            .collect();
        substitute(t, &|k| env.get(k).map(|s| s.to_string()))
    }

    #[test]
    fn forms() {
        assert_eq!(sub("$FOO ${FOO}").unwrap(), "foo foo");
        assert_eq!(
            sub("${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}").unwrap(),
            "d d  d"
        );
        assert_eq!(
            sub("${FOO:+a} ${EMPTY:+a} ${EMPTY+a} ${UNSET+a}").unwrap(),
            "a  a "
        );
        assert_eq!(sub("$$FOO $${FOO}").unwrap(), "$FOO ${FOO}");
        assert_eq!(sub("${UNSET:-${FOO:-x}}/${BAR}").unwrap(), "foo/bar");
        assert_eq!(sub("${UNSET:-${ALSO:-x}}").unwrap(), "x");
        assert_eq!(sub("$UNSET-x").unwrap(), "-x");
        assert_eq!(sub("${FOO:?err} ${EMPTY?e}").unwrap(), "foo ");
    }

    #[test]
    fn errors() {
        assert_eq!(
            sub("${EMPTY:?must be set}").unwrap_err(),
            TemplateError::Required {
                variable: "EMPTY".into(),
                reason: "must be set".into()
            }
        );
        assert!(matches!(
            sub("${UNSET?}"),
            Err(TemplateError::Required { .. })
        ));
        assert_eq!(
            sub("a ${ b").unwrap_err(),
            TemplateError::Invalid("a ${ b".into())
        );
        assert!(sub("${FOO").is_err());
    }
}
