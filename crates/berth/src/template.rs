//! A small subset of Go's text/template, enough for docker's `--format`:
//! `{{.Field}}`, `{{.A.B}}`, `{{.}}`, and the functions `json`, `upper`,
//! `lower`, `title`, `join .List "sep"`, `println`. Data is a JSON value;
//! values print as Go prints them (`[a b]`, `map[k:v]`).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Path(Vec<String>),
    Str(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action {
        func: Option<String>,
        args: Vec<Arg>,
    },
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
    /// Started with `table`: print a header and align columns.
    pub table: bool,
}

const FUNCS: &[&str] = &["json", "upper", "lower", "title", "join", "println"];

/// The internal function of a method call `.Field "arg"`.
const METHOD: &str = "\0method";

fn parse_arg(tok: &str) -> Result<Arg, String> {
    if tok == "." {
        return Ok(Arg::Path(Vec::new()));
    }
    if let Some(p) = tok.strip_prefix('.') {
        let parts: Vec<String> = p.split('.').map(str::to_string).collect();
        if parts
            .iter()
            .any(|s| s.is_empty() || !s.chars().all(|c| c.is_alphanumeric() || c == '_'))
        {
            return Err(format!("bad field reference {tok:?}"));
        }
        return Ok(Arg::Path(parts));
    }
    if tok.len() >= 2 && tok.starts_with('"') && tok.ends_with('"') {
        return serde_json::from_str::<String>(tok)
            .map(Arg::Str)
            .map_err(|_| format!("bad string {tok}"));
    }
    Err(format!("function {tok:?} not defined"))
}

/// Split an action into tokens, keeping quoted strings whole.
fn tokens(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '"' {
            cur.push(c);
            loop {
                match chars.next() {
                    Some('\\') => {
                        cur.push('\\');
                        cur.extend(chars.next());
                    }
                    Some('"') => {
                        cur.push('"');
                        break;
                    }
                    Some(n) => cur.push(n),
                    None => return Err("unterminated quoted string".into()),
                }
            }
        } else if c.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

impl Template {
    /// Parse a docker format string. A leading `table` is noted and
    /// removed; `\t` and `\n` written literally become tab and newline.
    pub fn parse(format: &str) -> Result<Template, String> {
        let mut f = format;
        let table = f.starts_with("table");
        if table {
            f = &f["table".len()..];
        }
        let f = f
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let mut nodes = Vec::new();
        let mut rest = f.as_str();
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                nodes.push(Node::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| "unclosed action".to_string())?;
            let inner = after[..end].trim_start_matches('-').trim_end_matches('-');
            let toks = tokens(inner.trim())?;
            if toks.is_empty() {
                return Err("missing value for command".into());
            }
            let (func, args) = if FUNCS.contains(&toks[0].as_str()) {
                (Some(toks[0].clone()), &toks[1..])
            } else {
                (None, &toks[..])
            };
            let args = args
                .iter()
                .map(|t| parse_arg(t))
                .collect::<Result<Vec<_>, _>>()?;
            // `.Method "arg"` (docker's `{{.Label "k"}}`): the field is a
            // map indexed by the arguments.
            let func = match (&func, args.as_slice()) {
                (None, [Arg::Path(_), rest @ ..]) if !rest.is_empty() => Some(METHOD.to_string()),
                (None, [_, _, ..]) => {
                    return Err(format!("can't give argument to non-function {}", toks[0]))
                }
                _ => func,
            };
            nodes.push(Node::Action { func, args });
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            nodes.push(Node::Text(rest.to_string()));
        }
        Ok(Template { nodes, table })
    }

    /// Field names used at top level, in order (for table headers).
    pub fn fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        for n in &self.nodes {
            if let Node::Action { args, .. } = n {
                for a in args {
                    if let Arg::Path(p) = a {
                        if let Some(f) = p.first() {
                            out.push(f.clone());
                        }
                    }
                }
            }
        }
        out
    }

    /// Render against `data`.
    pub fn render(&self, data: &Value) -> Result<String, String> {
        let mut out = String::new();
        for n in &self.nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action { func, args } => {
                    let vals = args
                        .iter()
                        .map(|a| match a {
                            Arg::Str(s) => Ok(Value::String(s.clone())),
                            Arg::Path(p) => lookup(data, p),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    out.push_str(&call(func.as_deref(), &vals)?);
                }
            }
        }
        Ok(out)
    }
}

fn lookup(data: &Value, path: &[String]) -> Result<Value, String> {
    let mut cur = data;
    for p in path {
        match cur {
            Value::Object(m) => match m.get(p) {
                Some(v) => cur = v,
                None => return Err(format!("can't evaluate field {p}")),
            },
            Value::Null => return Ok(Value::Null),
            _ => return Err(format!("can't evaluate field {p} in a non-object value")),
        }
    }
    Ok(cur.clone())
}

fn call(func: Option<&str>, vals: &[Value]) -> Result<String, String> {
    let one = || -> Result<&Value, String> {
        match vals {
            [v] => Ok(v),
            _ => Err(format!(
                "wrong number of args for {}: want 1 got {}",
                func.unwrap_or("value"),
                vals.len()
            )),
        }
    };
    Ok(match func {
        None => go_print(one()?),
        Some("json") => serde_json::to_string(one()?).map_err(|e| e.to_string())?,
        Some("upper") => go_print(one()?).to_uppercase(),
        Some("lower") => go_print(one()?).to_lowercase(),
        Some("title") => {
            let s = go_print(one()?);
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => s,
            }
        }
        Some("println") => {
            let parts: Vec<String> = vals.iter().map(go_print).collect();
            format!("{}\n", parts.join(" "))
        }
        Some(METHOD) => match vals {
            [Value::Object(m), Value::String(k)] => m.get(k).map(go_print).unwrap_or_default(),
            // A header row: the column's title.
            [Value::String(s), ..] => s.clone(),
            [Value::Null, ..] => String::new(),
            _ => return Err("wrong arguments for a method call".into()),
        },
        Some("join") => match vals {
            [Value::Array(a), Value::String(sep)] => {
                a.iter().map(go_print).collect::<Vec<_>>().join(sep)
            }
            [Value::Null, Value::String(_)] => String::new(),
            _ => return Err("join expects a list and a separator string".into()),
        },
        Some(f) => return Err(format!("function {f:?} not defined")),
    })
}

/// A value as Go's `fmt.Print` shows it.
pub fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_print(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_functions_and_table() {
        let d = json!({"Repository": "busybox", "Tag": "latest",
            "Config": {"Cmd": ["sh", "-c"], "Env": null, "Labels": {"a": "1"}}});
        let t = Template::parse("{{.Repository}}:{{.Tag}}").unwrap();
        assert!(!t.table);
        assert_eq!(t.render(&d).unwrap(), "busybox:latest");
        let t = Template::parse(r"table {{.Repository}}\t{{ .Tag }}").unwrap();
        assert!(t.table);
        assert_eq!(t.fields(), vec!["Repository", "Tag"]);
        assert_eq!(t.render(&d).unwrap(), "busybox\tlatest");
        let r = |f: &str| Template::parse(f).unwrap().render(&d).unwrap();
        assert_eq!(r("{{.Config.Cmd}}"), "[sh -c]");
        assert_eq!(r("{{json .Config.Cmd}}"), r#"["sh","-c"]"#);
        assert_eq!(r("{{.Config.Labels}}"), "map[a:1]");
        assert_eq!(r("{{.Config.Env}}"), "<nil>");
        assert_eq!(r(r#"{{join .Config.Cmd ","}}"#), "sh,-c");
        assert_eq!(r("{{upper .Tag}}"), "LATEST");
        assert!(Template::parse("{{.Nope}}").unwrap().render(&d).is_err());
        assert!(Template::parse("{{range .X}}").is_err());
        assert!(Template::parse("{{.Tag").is_err());
        // Method calls: docker's {{.Label "k"}}.
        let d = json!({"Label": {"a": "1"}});
        assert_eq!(r2(r#"{{.Label "a"}}|{{.Label "b"}}"#, &d), "1|");
        let t = Template::parse(r#"table {{.Label "a"}}"#).unwrap();
        assert_eq!(t.fields(), vec!["Label"]);
        assert_eq!(t.render(&json!({"Label": "LABEL"})).unwrap(), "LABEL");
        assert!(Template::parse(r#"{{"x" "y"}}"#).is_err());
    }

    fn r2(f: &str, d: &Value) -> String {
        Template::parse(f).unwrap().render(d).unwrap()
    }
}
