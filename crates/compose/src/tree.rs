//! The untyped model compose-go works on: YAML read into a JSON-like tree
//! (string keys; anchors, aliases and `<<` merge keys resolved), with the
//! `!reset` and `!override` tags noted by path, and path patterns
//! (`services.*.ports`) to select nodes.

use serde_json::{Map, Number, Value};

use crate::Error;

/// A path in the tree: keys, and `[]` for any list item.
pub type Path = Vec<String>;

/// Renders a path as compose does: `services.web.ports`.
pub fn show(p: &[String]) -> String {
    p.join(".")
}

/// `pattern` is dot-separated; `*` matches any one element.
pub fn matches(p: &[String], pattern: &str) -> bool {
    let n = pattern.split('.').count();
    n == p.len() && pattern.split('.').zip(p).all(|(a, b)| a == "*" || a == b)
}

pub fn next(p: &[String], k: &str) -> Path {
    let mut v = p.to_vec();
    v.push(k.to_string());
    v
}

/// One YAML document of a compose file.
pub struct Document {
    pub value: Value,
    /// Paths tagged `!reset` (removed from this document) or `!override`.
    pub resets: Vec<String>,
}

/// Parses every document of `content` (a multi-document file is merged
/// document by document, as compose does).
pub fn parse_yaml(file: &str, content: &str) -> Result<Vec<Document>, Error> {
    use serde::Deserialize;
    let mut docs = Vec::new();
    for de in serde_norway::Deserializer::from_str(content) {
        let mut v = serde_norway::Value::deserialize(de)
            .map_err(|e| Error::new(format!("failed to parse {file}: {e}")))?;
        v.apply_merge()
            .map_err(|e| Error::new(format!("failed to parse {file}: {e}")))?;
        let mut resets = Vec::new();
        let value = convert(v, &mut Vec::new(), &mut resets)
            .map_err(|e| Error::new(format!("failed to parse {file}: {e}")))?;
        if let Some(value) = value {
            if !value.is_null() {
                docs.push(Document { value, resets });
            }
        }
    }
    Ok(docs)
}

fn key_string(k: serde_norway::Value, at: &[String]) -> Result<String, String> {
    use serde_norway::Value as Y;
    match k {
        Y::String(s) => Ok(s),
        Y::Number(n) => Ok(n.to_string()),
        Y::Bool(b) => Ok(b.to_string()),
        Y::Null => Ok("null".to_string()),
        other => Err(format!(
            "non-string key {}: {other:?}",
            if at.is_empty() {
                "at top level".to_string()
            } else {
                format!("in {}", show(at))
            }
        )),
    }
}

/// YAML → tree; `None` for a `!reset` node.
fn convert(
    v: serde_norway::Value,
    path: &mut Path,
    resets: &mut Vec<String>,
) -> Result<Option<Value>, String> {
    use serde_norway::Value as Y;
    Ok(Some(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Number(i.into())
            } else if let Some(u) = n.as_u64() {
                Value::Number(u.into())
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                Number::from_f64(f)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                path.push(i.to_string());
                let c = convert(item, path, resets);
                path.pop();
                if let Some(c) = c? {
                    out.push(c);
                }
            }
            Value::Array(out)
        }
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, val) in m {
                let k = key_string(k, path)?;
                path.push(k.clone());
                let c = convert(val, path, resets);
                path.pop();
                if let Some(c) = c? {
                    out.insert(k, c);
                }
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            match tag.as_str() {
                "!reset" => {
                    resets.push(show(path));
                    return Ok(None);
                }
                "!override" => {
                    resets.push(show(path));
                    return convert(t.value, path, resets);
                }
                _ => return convert(t.value, path, resets),
            }
        }
    }))
}

/// Removes from `target` the nodes a later document `!reset`s or
/// `!override`s (compose's ResetProcessor.Apply, run before the merge).
pub fn apply_resets(target: &mut Value, resets: &[String]) {
    fn walk(v: &mut Value, path: &mut Path, resets: &[String]) {
        if let Value::Object(m) = v {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                path.push(k.clone());
                if resets.iter().any(|r| matches(path, r)) {
                    m.remove(&k);
                } else if let Some(e) = m.get_mut(&k) {
                    walk(e, path, resets);
                }
                path.pop();
            }
        } else if let Value::Array(a) = v {
            for e in a {
                path.push("[]".to_string());
                walk(e, path, resets);
                path.pop();
            }
        }
    }
    if !resets.is_empty() {
        walk(target, &mut Vec::new(), resets);
    }
}

/// Go's `fmt.Sprint` of a scalar (what mapstructure's weak decoding and
/// compose's `fmt.Sprint(e)` give).
pub fn sprint(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            if n.is_f64() {
                let f = n.as_f64().unwrap_or(0.0);
                go_float(f)
            } else {
                n.to_string()
            }
        }
        Value::Array(a) => format!("[{}]", a.iter().map(sprint).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", sprint(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)` with
/// exponent for large/small magnitudes).
pub fn go_float(f: f64) -> String {
    if f == f.trunc() && f.abs() < 1e21 {
        return format!("{}", f as i64);
    }
    let exp = if f == 0.0 {
        0
    } else {
        f.abs().log10().floor() as i32
    };
    if !(-4..21).contains(&exp) {
        let s = format!("{f:e}");
        // Rust: 1e21 / 1.5e-7; Go: 1e+21 / 1.5e-07
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            return format!("{m}e{sign}{digits:0>2}");
        }
        return s;
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p: Path = vec!["services".into(), "web".into(), "ports".into()];
        assert!(matches(&p, "services.*.ports"));
        assert!(!matches(&p, "services.*"));
        assert!(!matches(&p, "services.*.ports.*"));
    }

    #[test]
    fn anchors_merge_keys_and_tags() {
        let docs = parse_yaml(
            "f",
            "x-base: &base\n  image: a\n  tty: true\nservices:\n  w:\n    <<: *base\n    image: b\n    ports: !reset []\n    command: !override [x]\n",
        )
        .unwrap();
        let v = &docs[0].value;
        assert_eq!(v["services"]["w"]["image"], "b");
        assert_eq!(v["services"]["w"]["tty"], true);
        assert!(v["services"]["w"].get("ports").is_none());
        assert_eq!(
            docs[0].resets,
            vec!["services.w.command", "services.w.ports"]
        );
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(2.0), "2");
        assert_eq!(go_float(1e21), "1e+21");
    }
}
