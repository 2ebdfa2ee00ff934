//! The tree transformations of compose-go, in its order: merge (with the
//! spec's special rules), unicity, canonical form of every short syntax,
//! defaults, relative paths, environment lookups and normalisation.

use std::path::{Component, Path as FsPath, PathBuf};

use serde_json::{json, Map, Value};

use crate::tree::{self, matches, next, sprint, Path};
use crate::Error;

fn err(p: &[String], msg: impl std::fmt::Display) -> Error {
    Error::new(format!("{}: {msg}", tree::show(p)))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

// ---------------------------------------------------------------- merge

type Merger = fn(Value, Value, &[String]) -> Result<Value, Error>;

fn merge_special(p: &[String]) -> Option<Merger> {
    const TO_SEQ: &[&str] = &[
        "networks.*.labels",
        "volumes.*.labels",
        "services.*.annotations",
        "services.*.build.args",
        "services.*.build.additional_contexts",
        "services.*.build.labels",
        "services.*.deploy.labels",
        "services.*.dns",
        "services.*.dns_opt",
        "services.*.dns_search",
        "services.*.env_file",
        "services.*.label_file",
        "services.*.environment",
        "services.*.labels",
        "services.*.volumes.*.volume.labels",
        "services.*.sysctls",
        "services.*.tmpfs",
    ];
    if TO_SEQ.iter().any(|pat| matches(p, pat)) {
        return Some(|c, o, _| {
            let mut r = into_sequence(c);
            r.extend(into_sequence(o));
            Ok(Value::Array(r))
        });
    }
    for pat in [
        "services.*.command",
        "services.*.entrypoint",
        "services.*.healthcheck.test",
    ] {
        if matches(p, pat) {
            return Some(|_, o, _| Ok(o));
        }
    }
    if matches(p, "services.*.build.extra_hosts") || matches(p, "services.*.extra_hosts") {
        return Some(|c, o, _| {
            let mut r = into_sequence(c);
            for v in into_sequence(o) {
                if !r.contains(&v) {
                    r.push(v);
                }
            }
            Ok(Value::Array(r))
        });
    }
    if matches(p, "services.*.depends_on") {
        return Some(|c, o, p| {
            let d = json!({"condition": "service_started", "required": true});
            let l = into_mapping(c, Some(&d));
            let r = into_mapping(o, Some(&d));
            merge_mappings(l, r, p).map(Value::Object)
        });
    }
    if matches(p, "services.*.networks") || matches(p, "services.*.models") {
        return Some(|c, o, p| {
            merge_mappings(into_mapping(c, None), into_mapping(o, None), p).map(Value::Object)
        });
    }
    if matches(p, "services.*.build") {
        return Some(|c, o, p| {
            let to_build = |v: Value| match v {
                Value::String(s) => {
                    let mut m = Map::new();
                    m.insert("context".into(), Value::String(s));
                    m
                }
                Value::Object(m) => m,
                _ => Map::new(),
            };
            merge_mappings(to_build(c), to_build(o), p).map(Value::Object)
        });
    }
    if matches(p, "services.*.logging") {
        return Some(|c, o, p| match (c, o) {
            (Value::Object(c), Value::Object(o)) => {
                let same = match (c.get("driver"), o.get("driver")) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                };
                if same {
                    merge_mappings(c, o, p).map(Value::Object)
                } else {
                    Ok(Value::Object(o))
                }
            }
            (_, o) => Ok(o),
        });
    }
    if matches(p, "services.*.ulimits.*") {
        return Some(|_, o, _| Ok(o));
    }
    if matches(p, "networks.*.ipam.config") {
        return Some(merge_ipam_config);
    }
    None
}

fn merge_ipam_config(c: Value, o: Value, p: &[String]) -> Result<Value, Error> {
    let (Value::Array(configs), Value::Array(overrides)) = (c, o) else {
        return Err(err(p, "unexpected type"));
    };
    let mut out: Vec<Value> = Vec::new();
    for original in configs {
        let right = into_mapping(original, None);
        for ov in &overrides {
            let left = into_mapping(ov.clone(), None);
            if left.get("subnet") != right.get("subnet")
                && !out.iter().any(|a| a.get("subnet") == left.get("subnet"))
            {
                out.push(Value::Object(left));
                continue;
            }
            let merged = merge_mappings(right.clone(), left, p)?;
            match out
                .iter()
                .position(|a| a.get("subnet") == merged.get("subnet"))
            {
                Some(i) => out[i] = Value::Object(merged),
                None => out.push(Value::Object(merged)),
            }
        }
    }
    Ok(Value::Array(out))
}

fn into_sequence(v: Value) -> Vec<Value> {
    match v {
        Value::Object(m) => {
            let mut seq: Vec<String> = Vec::new();
            for (k, val) in m {
                match val {
                    Value::Null => seq.push(k),
                    Value::Array(a) => {
                        for e in a {
                            seq.push(format!("{k}={}", sprint(&e)));
                        }
                    }
                    other => seq.push(format!("{k}={}", sprint(&other))),
                }
            }
            seq.sort();
            seq.into_iter().map(Value::String).collect()
        }
        Value::Array(a) => a,
        Value::String(s) => vec![Value::String(s)],
        _ => Vec::new(),
    }
}

fn into_mapping(v: Value, default: Option<&Value>) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        Value::Array(a) => a
            .into_iter()
            .map(|s| (sprint(&s), default.cloned().unwrap_or(Value::Null)))
            .collect(),
        _ => Map::new(),
    }
}

/// compose-go's `override.mergeYaml`.
pub fn merge(e: Value, o: Value, p: &[String]) -> Result<Value, Error> {
    if let Some(f) = merge_special(p) {
        return f(e, o, p);
    }
    if o.is_null() {
        return Ok(e);
    }
    match e {
        Value::Object(m) => match o {
            Value::Object(other) => merge_mappings(m, other, p).map(Value::Object),
            _ => Err(Error::new(format!("cannot override {}", tree::show(p)))),
        },
        Value::Array(mut a) => match o {
            Value::Array(other) => {
                a.extend(other);
                Ok(Value::Array(a))
            }
            _ => Err(Error::new(format!("cannot override {}", tree::show(p)))),
        },
        _ => Ok(o),
    }
}

pub fn merge_mappings(
    mut m: Map<String, Value>,
    other: Map<String, Value>,
    p: &[String],
) -> Result<Map<String, Value>, Error> {
    for (k, v) in other {
        match m.remove(&k) {
            None => {
                m.insert(k, v);
            }
            Some(e) => {
                let merged = merge(e, v, &next(p, &k))?;
                m.insert(k, merged);
            }
        }
    }
    Ok(m)
}

// ---------------------------------------------------------------- unicity

type Indexer = fn(&Value, &[String]) -> Result<String, Error>;

fn indexer_for(p: &[String]) -> Option<Indexer> {
    const KV: &[&str] = &[
        "networks.*.labels",
        "networks.*.ipam.options",
        "services.*.annotations",
        "services.*.build.args",
        "services.*.build.additional_contexts",
        "services.*.build.platform",
        "services.*.build.tags",
        "services.*.build.labels",
        "services.*.cap_add",
        "services.*.cap_drop",
        "services.*.deploy.labels",
        "services.*.dns",
        "services.*.dns_opt",
        "services.*.dns_search",
        "services.*.environment",
        "services.*.labels",
        "services.*.links",
        "services.*.networks.*.aliases",
        "services.*.networks.*.link_local_ips",
        "services.*.profiles",
        "services.*.sysctls",
        "services.*.tmpfs",
    ];
    if KV.iter().any(|pat| matches(p, pat)) {
        return Some(|v, p| match v {
            Value::String(s) => Ok(s.split_once('=').map(|(k, _)| k).unwrap_or(s).to_string()),
            other => Err(err(p, format!("unexpected type {}", type_name(other)))),
        });
    }
    if matches(p, "services.*.volumes") {
        return Some(|v, p| match v {
            Value::Object(m) => match m.get("target") {
                Some(Value::String(t)) => Ok(t.clone()),
                _ => Err(Error::new(format!(
                    "service volume {} is missing a mount target",
                    tree::show(p)
                ))),
            },
            Value::String(s) => parse_volume(s).map(|v| v.target),
            _ => Ok(String::new()),
        });
    }
    if matches(p, "services.*.devices") {
        return Some(|v, p| match v {
            Value::Object(m) => match m.get("target") {
                Some(Value::String(t)) => Ok(t.clone()),
                _ => Err(Error::new(format!(
                    "service device {} is missing a mount target",
                    tree::show(p)
                ))),
            },
            Value::String(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                Ok(if parts.len() == 1 { parts[0] } else { parts[1] }.to_string())
            }
            _ => Ok(String::new()),
        });
    }
    if matches(p, "services.*.configs") {
        return Some(|v, p| mount_index(v, p, ""));
    }
    if matches(p, "services.*.secrets") {
        return Some(|v, p| mount_index(v, p, "/run/secrets"));
    }
    if matches(p, "services.*.expose") {
        return Some(|v, p| match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(err(
                p,
                format!("unsupported expose value {}", sprint(other)),
            )),
        });
    }
    if matches(p, "services.*.env_file") {
        return Some(|v, p| match v {
            Value::String(s) => Ok(s.clone()),
            Value::Object(m) => match m.get("path") {
                Some(x) => Ok(sprint(x)),
                None => Err(Error::new(format!(
                    "environment path attribute {} is missing",
                    tree::show(p)
                ))),
            },
            _ => Ok(String::new()),
        });
    }
    if matches(p, "services.*.ports") {
        return Some(|v, p| match v {
            Value::Number(n) => Ok(n.to_string()),
            Value::String(s) => Ok(s.clone()),
            Value::Object(m) => {
                let target = m.get("target").ok_or_else(|| {
                    Error::new(format!(
                        "service ports {} is missing a target port",
                        tree::show(p)
                    ))
                })?;
                let published = m
                    .get("published")
                    .map(sprint)
                    .unwrap_or_else(|| "%!s(<nil>)".into());
                let host = m
                    .get("host_ip")
                    .map(sprint)
                    .unwrap_or_else(|| "0.0.0.0".into());
                let proto = m
                    .get("protocol")
                    .map(sprint)
                    .unwrap_or_else(|| "tcp".into());
                Ok(format!("{host}:{published}:{}/{proto}", sprint(target)))
            }
            _ => Ok(String::new()),
        });
    }
    None
}

fn mount_index(v: &Value, p: &[String], default: &str) -> Result<String, Error> {
    match v {
        Value::String(s) => Ok(format!("{default}/{s}")),
        Value::Object(m) => match m.get("target") {
            Some(t) => Ok(sprint(t)),
            None => Ok(format!(
                "{default}/{}",
                m.get("source").map(sprint).unwrap_or_default()
            )),
        },
        other => Err(err(
            p,
            format!("unsupported expose value {}", sprint(other)),
        )),
    }
}

/// Later entries of a list with the same key (environment name, mount
/// target, port...) replace earlier ones.
pub fn enforce_unicity(v: &mut Value, p: &mut Path) -> Result<(), Error> {
    match v {
        Value::Object(m) => {
            for (k, e) in m.iter_mut() {
                p.push(k.clone());
                let r = enforce_unicity(e, p);
                p.pop();
                r?;
            }
        }
        Value::Array(a) => {
            if let Some(ix) = indexer_for(p) {
                let mut seq: Vec<Value> = Vec::new();
                let mut keys: std::collections::HashMap<String, usize> = Default::default();
                for (i, entry) in std::mem::take(a).into_iter().enumerate() {
                    let key = ix(&entry, &next(p, &format!("[{i}]")))?;
                    match keys.get(&key) {
                        Some(&j) => seq[j] = entry,
                        None => {
                            seq.push(entry);
                            keys.insert(key, seq.len() - 1);
                        }
                    }
                }
                *a = seq;
            }
        }
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------- canonical

/// Short syntax → long syntax (compose-go's `transform.Canonical`).
pub fn canonical(v: Value, p: &mut Path, lenient: bool) -> Result<Value, Error> {
    if let Some(r) = canonical_special(&v, p, lenient) {
        return r;
    }
    canonical_children(v, p, lenient)
}

fn canonical_children(v: Value, p: &mut Path, lenient: bool) -> Result<Value, Error> {
    Ok(match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, e) in m {
                p.push(k.clone());
                let r = canonical(e, p, lenient);
                p.pop();
                out.insert(k, r?);
            }
            Value::Object(out)
        }
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for e in a {
                p.push("[]".into());
                let r = canonical(e, p, lenient);
                p.pop();
                out.push(r?);
            }
            Value::Array(out)
        }
        other => other,
    })
}

fn string_or_list(v: Value) -> Value {
    match v {
        Value::String(s) => Value::Array(vec![Value::String(s)]),
        o => o,
    }
}

fn canonical_special(v: &Value, p: &mut Path, lenient: bool) -> Option<Result<Value, Error>> {
    let v = v.clone();
    let m = |pat: &str| matches(p, pat);
    Some(if m("services.*") {
        match v {
            Value::Object(_) => canonical_children(v, p, lenient),
            o => Ok(o),
        }
    } else if m("services.*.build.secrets.*")
        || m("services.*.secrets.*")
        || m("services.*.configs.*")
    {
        match v {
            Value::String(s) => Ok(json!({ "source": s })),
            Value::Object(_) => Ok(v),
            o => Err(err(p, format!("unsupported type {}", type_name(&o)))),
        }
    } else if m("services.*.build.provenance") || m("services.*.build.sbom") {
        match v {
            Value::String(_) => Ok(v),
            o => Ok(Value::String(sprint(&o))),
        }
    } else if m("services.*.build.additional_contexts") {
        match v {
            Value::Array(a) => {
                let mut out = Map::new();
                for e in &a {
                    match sprint(e).split_once('=') {
                        Some((k, val)) => {
                            out.insert(k.into(), Value::String(val.into()));
                        }
                        None if lenient => return Some(Ok(Value::Array(a))),
                        None => {
                            return Some(Err(err(
                                p,
                                format!("invalid value {}, expected key=value", sprint(e)),
                            )))
                        }
                    }
                }
                Ok(Value::Object(out))
            }
            Value::Object(_) => Ok(v),
            o => Err(err(p, format!("invalid type {}", type_name(&o)))),
        }
    } else if m("services.*.depends_on") {
        match v {
            Value::Object(mut mm) => {
                for (k, e) in mm.iter_mut() {
                    let Value::Object(d) = e else {
                        return Some(Err(err(p, format!("{k}: unsupported value"))));
                    };
                    d.entry("condition")
                        .or_insert_with(|| json!("service_started"));
                    d.entry("required").or_insert(json!(true));
                }
                Ok(Value::Object(mm))
            }
            Value::Array(a) => Ok(Value::Object(
                a.iter()
                    .map(|k| {
                        (
                            sprint(k),
                            json!({"condition": "service_started", "required": true}),
                        )
                    })
                    .collect(),
            )),
            o => Err(err(
                p,
                format!("invalid type {} for depend_on", type_name(&o)),
            )),
        }
    } else if m("services.*.env_file") {
        let one = |e: Value| match e {
            Value::String(s) => json!({"path": s, "required": true}),
            Value::Object(mut d) => {
                d.entry("required").or_insert(json!(true));
                Value::Object(d)
            }
            _ => Value::Null,
        };
        match v {
            Value::String(_) => Ok(Value::Array(vec![one(v)])),
            Value::Array(a) => Ok(Value::Array(a.into_iter().map(one).collect())),
            o => Err(err(
                p,
                format!("invalid type {} for env_file", type_name(&o)),
            )),
        }
    } else if m("services.*.label_file")
        || m("services.*.dns")
        || m("services.*.develop.watch.*.ignore")
        || m("services.*.develop.watch.*.include")
    {
        Ok(string_or_list(v))
    } else if m("services.*.extends") {
        match v {
            Value::String(s) => Ok(json!({ "service": s })),
            Value::Object(_) => canonical_children(v, p, lenient),
            o => Err(err(
                p,
                format!("invalid type {} for extends", type_name(&o)),
            )),
        }
    } else if m("services.*.gpus") {
        match v {
            Value::Array(_) => canonical_children(v, p, lenient),
            _ => Ok(json!([{"count": "all"}])),
        }
    } else if m("services.*.networks") || m("services.*.models") {
        match v {
            Value::Array(a) => Ok(Value::Object(
                a.iter().map(|n| (sprint(n), Value::Null)).collect(),
            )),
            o => canonical_children(o, p, lenient),
        }
    } else if m("services.*.volumes.*") {
        match v {
            Value::String(s) => match parse_volume(&s) {
                Ok(mut vol) => {
                    vol.target = clean_path(&vol.target);
                    Ok(vol.to_value())
                }
                Err(_) if lenient => Ok(Value::String(s)),
                Err(e) => Err(e),
            },
            Value::Object(_) => canonical_children(v, p, lenient),
            o => Err(err(
                p,
                format!("invalid type {} for service volume mount", type_name(&o)),
            )),
        }
    } else if m("services.*.devices.*") {
        match v {
            Value::String(s) => {
                let arr: Vec<&str> = s.split(':').collect();
                let (src, mut dst, perms) = match arr.len() {
                    3 => (arr[0], arr[1], arr[2]),
                    2 => (arr[0], arr[1], "rwm"),
                    1 => (arr[0], "", "rwm"),
                    _ if lenient => ("", "", "rwm"),
                    _ => {
                        return Some(Err(Error::new(format!(
                            "confusing device mapping, please use long syntax: {s}"
                        ))))
                    }
                };
                if dst.is_empty() {
                    dst = src;
                }
                Ok(json!({"source": src, "target": dst, "permissions": perms}))
            }
            Value::Object(_) => Ok(v),
            o => Err(err(
                p,
                format!("invalid type {} for service volume mount", type_name(&o)),
            )),
        }
    } else if m("services.*.ports") {
        match v {
            Value::Array(entries) => {
                let mut ports = Vec::new();
                for (i, e) in entries.iter().enumerate() {
                    match e {
                        Value::Number(_) | Value::String(_) => {
                            match parse_port_config(&sprint(e)) {
                                Ok(list) => ports.extend(list),
                                Err(_) if lenient => return Some(Ok(Value::Array(entries))),
                                Err(x) => {
                                    return Some(Err(Error::new(format!(
                                        "{}[{i}]: {x}",
                                        tree::show(p)
                                    ))))
                                }
                            }
                        }
                        Value::Object(_) => ports.push(e.clone()),
                        o => {
                            return Some(Err(err(
                                p,
                                format!("invalid type {} for port", type_name(o)),
                            )))
                        }
                    }
                }
                Ok(Value::Array(ports))
            }
            o => Err(err(p, format!("invalid type {} for port", type_name(&o)))),
        }
    } else if m("services.*.build") {
        match v {
            Value::Object(_) => canonical_children(v, p, lenient),
            Value::String(s) => Ok(json!({ "context": s })),
            o => Err(err(p, format!("invalid type {} for build", type_name(&o)))),
        }
    } else if m("services.*.build.ssh") {
        match v {
            Value::Array(a) => {
                let mut out = Map::new();
                for e in a {
                    let Value::String(s) = e else {
                        return Some(Err(Error::new("invalid ssh key type")));
                    };
                    match s.split_once('=') {
                        Some((id, path)) => {
                            out.insert(id.into(), Value::String(path.into()));
                        }
                        None if s == "default" => {
                            out.insert(s, Value::Null);
                        }
                        None => return Some(Err(Error::new(format!("invalid ssh key {s:?}")))),
                    }
                }
                Ok(Value::Object(out))
            }
            Value::Object(_) => Ok(v),
            o => Err(err(p, format!("invalid type {} for ssh", type_name(&o)))),
        }
    } else if m("volumes.*") || m("networks.*") || m("secrets.*") || m("configs.*") {
        match v {
            Value::Null => Ok(Value::Null),
            Value::Object(_) => {
                let r = canonical_children(v, p, lenient);
                let Ok(Value::Object(mut res)) = r else {
                    return Some(r);
                };
                if let Some(Value::Object(ext)) = res.get("external").cloned() {
                    res.insert("external".into(), Value::Bool(true));
                    if let Some(extname) = ext.get("name") {
                        match res.get("name") {
                            Some(n) if n != extname => {
                                return Some(Err(err(
                                    p,
                                    "name and external.name conflict; only use name",
                                )))
                            }
                            Some(_) => {}
                            None => {
                                res.insert("name".into(), extname.clone());
                            }
                        }
                    }
                }
                Ok(Value::Object(res))
            }
            o => Ok(o),
        }
    } else if m("include.*") {
        match v {
            Value::String(s) => Ok(json!({ "path": s })),
            o => Ok(o),
        }
    } else {
        return None;
    })
}

/// Go's `path.Clean`, except that an empty path stays empty.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return String::new();
    }
    berth_util::gostr::clean_path(p)
}

/// A volume's short syntax, parsed.
#[derive(Default, Debug)]
pub struct ShortVolume {
    pub kind: &'static str,
    pub source: String,
    pub target: String,
    pub read_only: bool,
    pub nocopy: Option<bool>,
    pub bind: Option<(String, String, bool)>, // selinux, propagation, create_host_path
}

impl ShortVolume {
    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), json!(self.kind));
        if !self.source.is_empty() {
            m.insert("source".into(), json!(self.source));
        }
        if !self.target.is_empty() {
            m.insert("target".into(), json!(self.target));
        }
        if self.read_only {
            m.insert("read_only".into(), json!(true));
        }
        if let Some((selinux, prop, create)) = &self.bind {
            let mut b = Map::new();
            if !selinux.is_empty() {
                b.insert("selinux".into(), json!(selinux));
            }
            if !prop.is_empty() {
                b.insert("propagation".into(), json!(prop));
            }
            if *create {
                b.insert("create_host_path".into(), json!(true));
            }
            m.insert("bind".into(), Value::Object(b));
        }
        if let Some(nocopy) = self.nocopy {
            let mut vm = Map::new();
            if nocopy {
                vm.insert("nocopy".into(), json!(true));
            }
            m.insert("volume".into(), Value::Object(vm));
        }
        Value::Object(m)
    }
}

fn is_file_path(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    if matches!(b[0], b'.' | b'/' | b'~') || s.starts_with("\\\\") {
        return true;
    }
    let mut chars = s.chars();
    let first = chars.next().unwrap_or(' ');
    chars.next() == Some(':') && first.is_alphabetic()
}

/// compose-go's `format.ParseVolume`.
pub fn parse_volume(spec: &str) -> Result<ShortVolume, Error> {
    let mut vol = ShortVolume {
        kind: "volume",
        ..Default::default()
    };
    match spec.chars().count() {
        0 => return Err(Error::new("invalid empty volume spec")),
        1 | 2 => {
            vol.target = spec.into();
            return Ok(vol);
        }
        _ => {}
    }
    let mut buffer: Vec<char> = Vec::new();
    let mut in_var = 0;
    let chars: Vec<char> = spec.chars().collect();
    let bytes = spec.as_bytes();
    let mut byte_i = 0usize;
    let mut idx = 0;
    let populate =
        |c: Option<char>, buffer: &[char], vol: &mut ShortVolume| -> Result<(), String> {
            let s: String = buffer.iter().collect();
            if buffer.is_empty() {
                return Err("empty section between colons".into());
            }
            if vol.source.is_empty() && c.is_none() {
                vol.target = s;
                return Ok(());
            }
            if vol.source.is_empty() {
                vol.source = s;
                return Ok(());
            }
            if vol.target.is_empty() {
                vol.target = s;
                return Ok(());
            }
            if c == Some(':') {
                return Err("too many colons".into());
            }
            for opt in s.split(',') {
                match opt {
                    "ro" => vol.read_only = true,
                    "rw" => vol.read_only = false,
                    "nocopy" => vol.nocopy = Some(true),
                    "rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave" => {
                        vol.bind.get_or_insert_with(Default::default).1 = opt.into()
                    }
                    "z" | "Z" => vol.bind.get_or_insert_with(Default::default).0 = opt.into(),
                    _ => {}
                }
            }
            Ok(())
        };
    loop {
        let c = chars.get(idx).copied();
        if let Some(ch) = c {
            if ch == '$' && byte_i + 1 < bytes.len() && bytes[byte_i + 1] == b'{' {
                in_var += 1;
                buffer.push(ch);
            } else if ch == '}' && in_var > 0 {
                in_var -= 1;
                buffer.push(ch);
            } else if ch == ':' && buffer.len() == 1 && buffer[0].is_alphabetic() {
                buffer.push(ch);
            } else if ch == ':' && in_var == 0 {
                populate(c, &buffer, &mut vol)
                    .map_err(|e| Error::new(format!("invalid spec: {spec}: {e}")))?;
                buffer.clear();
            } else {
                buffer.push(ch);
            }
            byte_i += ch.len_utf8();
            idx += 1;
        } else {
            if in_var == 0 {
                populate(None, &buffer, &mut vol)
                    .map_err(|e| Error::new(format!("invalid spec: {spec}: {e}")))?;
            }
            break;
        }
    }
    if is_file_path(&vol.source) {
        vol.kind = "bind";
        vol.bind.get_or_insert_with(Default::default).2 = true;
    } else {
        vol.kind = "volume";
        if vol.nocopy.is_none() {
            vol.nocopy = Some(false);
        }
    }
    Ok(vol)
}

fn parse_range(s: &str) -> Option<(u64, u64)> {
    let p = |x: &str| x.parse::<u16>().ok().map(u64::from);
    match s.split_once('-') {
        None => p(s).map(|v| (v, v)),
        Some((a, b)) => {
            let (a, b) = (p(a)?, p(b)?);
            (b >= a).then_some((a, b))
        }
    }
}

/// docker's `nat.ParsePortSpecs` as compose's `ParsePortConfig` uses it:
/// one long-syntax port per container port, sorted as strings.
pub fn parse_port_config(raw: &str) -> Result<Vec<Value>, String> {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let container = parts[n - 1];
    let (mut ip, host) = match n {
        1 => (String::new(), ""),
        2 => (String::new(), parts[0]),
        3 => (parts[0].to_string(), parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2]),
    };
    let (container, proto) = match container.split_once('/') {
        Some((c, p)) => (c, p),
        None => (container, "tcp"),
    };
    if ip.starts_with('[') {
        ip = ip.trim_start_matches('[').trim_end_matches(']').to_string();
    }
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("Invalid ip address: {ip}"));
    }
    if container.is_empty() {
        return Err(format!("No port specified: {raw}<empty>"));
    }
    let (start, end) =
        parse_range(container).ok_or_else(|| format!("Invalid containerPort: {container}"))?;
    let (hstart, hend) = if host.is_empty() {
        (0, 0)
    } else {
        parse_range(host).ok_or_else(|| format!("Invalid hostPort: {host}"))?
    };
    if !host.is_empty() && (end - start) != (hend - hstart) && end != start {
        return Err(format!(
            "Invalid ranges specified for container and host Ports: {container} and {host}"
        ));
    }
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("Invalid proto: {proto}"));
    }
    let mut out: Vec<(String, Value)> = Vec::new();
    for i in 0..=(end - start) {
        let cport = start + i;
        let mut hport = if host.is_empty() {
            String::new()
        } else {
            (hstart + i).to_string()
        };
        if start == end && hstart != hend {
            hport = format!("{hport}-{hend}");
        }
        let mut m = Map::new();
        m.insert("mode".into(), json!("ingress"));
        if !ip.is_empty() {
            m.insert("host_ip".into(), json!(ip));
        }
        m.insert("target".into(), json!(cport));
        if !hport.is_empty() {
            m.insert("published".into(), json!(hport));
        }
        m.insert("protocol".into(), json!(proto));
        out.push((format!("{cport}/{proto}"), Value::Object(m)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

// ---------------------------------------------------------------- defaults

/// compose-go's `transform.SetDefaultValues`.
pub fn set_defaults(v: &mut Value, p: &mut Path) {
    if matches(p, "services.*.build") {
        if let Value::Object(m) = v {
            m.entry("context").or_insert(json!("."));
        }
    } else if matches(p, "services.*.secrets.*") {
        if let Value::Object(m) = v {
            if !m.contains_key("target") {
                let src = m
                    .get("source")
                    .map(sprint)
                    .unwrap_or_else(|| "%!s(<nil>)".into());
                m.insert("target".into(), json!(format!("/run/secrets/{src}")));
            }
        }
        return;
    } else if matches(p, "services.*.ports.*") {
        if let Value::Object(m) = v {
            m.entry("mode").or_insert(json!("ingress"));
            m.entry("protocol").or_insert(json!("tcp"));
        }
        return;
    } else if matches(p, "services.*.deploy.resources.reservations.devices.*")
        || matches(p, "services.*.gpus.*")
    {
        if let Value::Object(m) = v {
            if !m.contains_key("count") && !m.contains_key("device_ids") {
                m.insert("count".into(), json!("all"));
            }
        }
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, e) in m.iter_mut() {
                p.push(k.clone());
                set_defaults(e, p);
                p.pop();
            }
        }
        Value::Array(a) => {
            for e in a.iter_mut() {
                p.push("[]".into());
                set_defaults(e, p);
                p.pop();
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------- paths

/// `~` expansion as compose does (`~user` is not a home: `$HOME/user`).
pub fn expand_user(p: &str) -> String {
    match p.strip_prefix('~') {
        Some(rest) => match std::env::var_os("HOME") {
            Some(h) => join(&h.to_string_lossy(), rest),
            None => p.into(),
        },
        None => p.into(),
    }
}

/// Go's `filepath.Join` (cleaned).
pub fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        return clean_path(b);
    }
    clean_path(&format!("{a}/{b}"))
}

fn abs_path(dir: &str, v: &str) -> String {
    let v = expand_user(v);
    if v.starts_with('/') || v.is_empty() {
        v
    } else {
        join(dir, &v)
    }
}

/// Makes the relative paths of the model absolute against `dir`.
pub fn resolve_relative_paths(v: &mut Value, dir: &str) -> Result<(), Error> {
    walk_paths(v, &mut Vec::new(), dir)
}

fn walk_paths(v: &mut Value, p: &mut Path, dir: &str) -> Result<(), Error> {
    let m = |pat: &str| matches(p, pat);
    if m("services.*.build.context") || m("services.*.build.additional_contexts.*") {
        if let Value::String(s) = v {
            let remote = s.contains("://")
                || s.starts_with("service:")
                || [
                    "https://",
                    "http://",
                    "git://",
                    "ssh://",
                    "github.com/",
                    "git@",
                ]
                .iter()
                .any(|x| s.starts_with(x));
            if !remote {
                *s = abs_path(dir, s);
            }
        }
        return Ok(());
    }
    if m("services.*.env_file.*.path")
        || m("services.*.label_file.*")
        || m("services.*.extends.file")
        || m("services.*.develop.watch.*.path")
        || m("include.path")
        || m("include.project_directory")
        || m("include.env_file")
    {
        match v {
            Value::String(s) => *s = abs_path(dir, s),
            Value::Array(a) => {
                for e in a {
                    if let Value::String(s) = e {
                        *s = abs_path(dir, s);
                    }
                }
            }
            _ => {}
        }
        return Ok(());
    }
    if m("services.*.build.ssh.*") || m("configs.*.file") || m("secrets.*.file") {
        if let Value::String(s) = v {
            *s = abs_path(dir, s);
        }
        return Ok(());
    }
    if m("services.*.volumes.*") {
        if let Value::Object(vol) = v {
            if vol.get("type") == Some(&json!("bind")) {
                match vol.get("source") {
                    Some(Value::String(s)) => {
                        let s = abs_path(dir, s);
                        vol.insert("source".into(), Value::String(s));
                    }
                    _ => return Err(Error::new(
                        "invalid mount config for type \"bind\": field Source must not be empty",
                    )),
                }
            }
        }
        return Ok(());
    }
    if m("volumes.*") {
        if let Value::Object(vol) = v {
            if vol.get("driver") == Some(&json!("local")) {
                if let Some(Value::Object(opts)) = vol.get_mut("driver_opts") {
                    if opts.get("o") == Some(&json!("bind")) {
                        if let Some(Value::String(d)) = opts.get_mut("device") {
                            *d = abs_path(dir, d);
                        }
                    }
                }
            }
        }
        return Ok(());
    }
    match v {
        Value::Object(mm) => {
            for (k, e) in mm.iter_mut() {
                p.push(k.clone());
                let r = walk_paths(e, p, dir);
                p.pop();
                r?;
            }
        }
        Value::Array(a) => {
            for e in a.iter_mut() {
                p.push("[]".into());
                let r = walk_paths(e, p, dir);
                p.pop();
                r?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A list `environment` entry without `=` takes its value from the
/// project's environment; secrets and configs from `environment`.
pub fn resolve_environment(dict: &mut Value, env: &dyn Fn(&str) -> Option<String>) {
    if let Some(Value::Object(services)) = dict.get_mut("services") {
        for s in services.values_mut() {
            if let Some(Value::Array(list)) = s.get_mut("environment") {
                let mut out = Vec::new();
                for e in list.drain(..) {
                    if let Value::String(k) = e {
                        match env(&k) {
                            Some(v) => out.push(Value::String(format!("{k}={v}"))),
                            None => out.push(Value::String(k)),
                        }
                    }
                }
                *list = out;
            }
        }
    }
    if let Some(Value::Object(secrets)) = dict.get_mut("secrets") {
        for s in secrets.values_mut() {
            if let Some(Value::String(e)) = s.get("environment").cloned() {
                if let (Some(v), Value::Object(m)) = (env(&e), s) {
                    m.insert("x-#value".into(), Value::String(v));
                }
            }
        }
    }
    if let Some(Value::Object(configs)) = dict.get_mut("configs") {
        for s in configs.values_mut() {
            if let Some(Value::String(e)) = s.get("environment").cloned() {
                if let (Some(v), Value::Object(m)) = (env(&e), s) {
                    m.insert("content".into(), Value::String(v));
                }
            }
        }
    }
}

// ---------------------------------------------------------------- normalize

fn resolve_list_or_map(a: Value, env: &dyn Fn(&str) -> Option<String>, keep_empty: bool) -> Value {
    match a {
        Value::Array(v) => Value::Array(
            v.into_iter()
                .filter_map(|e| match e {
                    Value::String(s) if !s.contains('=') => match env(&s) {
                        Some(val) => Some(Value::String(format!("{s}={val}"))),
                        None if keep_empty => Some(Value::String(s)),
                        None => None,
                    },
                    Value::String(s) => Some(Value::String(s)),
                    _ => None,
                })
                .collect(),
        ),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter_map(|(k, v)| {
                    if !v.is_null() {
                        return Some((k, v));
                    }
                    match env(&k) {
                        Some(s) => Some((k, Value::String(s))),
                        None if keep_empty => Some((k, Value::Null)),
                        None => None,
                    }
                })
                .collect(),
        ),
        o => o,
    }
}

/// compose-go's `loader.Normalize`: default network, build defaults,
/// implicit dependencies (links, `service:` namespaces, volumes_from),
/// resource names.
pub fn normalize(dict: &mut Map<String, Value>, env: &dyn Fn(&str) -> Option<String>) {
    // networks
    let mut networks = match dict.remove("networks") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut uses_default = false;
    if let Some(Value::Object(services)) = dict.get_mut("services") {
        for s in services.values_mut() {
            let Value::Object(s) = s else { continue };
            if s.contains_key("provider") || s.contains_key("network_mode") {
                continue;
            }
            match s.get("networks") {
                Some(Value::Object(n)) if !n.is_empty() => {
                    if n.contains_key("default") {
                        uses_default = true;
                    }
                }
                _ => {
                    s.insert("networks".into(), json!({"default": null}));
                    uses_default = true;
                }
            }
        }
    }
    if uses_default && !networks.contains_key("default") {
        networks.insert("default".into(), Value::Null);
    }
    if !networks.is_empty() {
        dict.insert("networks".into(), Value::Object(networks));
    }
    if let Some(Value::Object(services)) = dict.get_mut("services") {
        for s in services.values_mut() {
            let Value::Object(s) = s else { continue };
            if s.get("pull_policy") == Some(&json!("if_not_present")) {
                s.insert("pull_policy".into(), json!("missing"));
            }
            if let Some(Value::Object(build)) = s.get_mut("build") {
                if none_or_null(build.get("context")) {
                    build.insert("context".into(), json!("."));
                }
                if none_or_null(build.get("dockerfile"))
                    && none_or_null(build.get("dockerfile_inline"))
                {
                    build.insert("dockerfile".into(), json!("Dockerfile"));
                }
                if let Some(a) = build.remove("args") {
                    build.insert("args".into(), resolve_list_or_map(a, env, false));
                }
            }
            if let Some(e) = s.remove("environment") {
                s.insert("environment".into(), resolve_list_or_map(e, env, true));
            }
            let mut depends = match s.remove("depends_on") {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            if let Some(Value::Array(links)) = s.get("links") {
                for l in links {
                    let l = sprint(l);
                    let parts: Vec<&str> = l.split(':').collect();
                    let link = if parts.len() == 2 {
                        parts[0]
                    } else {
                        l.as_str()
                    };
                    depends.entry(link.to_string()).or_insert_with(
                        || json!({"condition": "service_started", "restart": true, "required": true}),
                    );
                }
            }
            for ns in ["network_mode", "ipc", "pid", "uts", "cgroup"] {
                if let Some(Value::String(r)) = s.get(ns) {
                    if let Some(shared) = r.strip_prefix("service:") {
                        depends.entry(shared.to_string()).or_insert_with(
                            || json!({"condition": "service_started", "restart": true, "required": true}),
                        );
                    }
                }
            }
            if let Some(Value::Array(vols)) = s.get_mut("volumes") {
                for vol in vols.iter_mut() {
                    if let Some(Value::String(t)) = vol.get_mut("target") {
                        *t = clean_path(t);
                    }
                }
            }
            if let Some(Value::Array(vf)) = s.get("volumes_from") {
                for v in vf {
                    let v = sprint(v);
                    if !v.starts_with("container:") {
                        let name = v.split(':').next().unwrap_or("").to_string();
                        depends.entry(name).or_insert_with(
                            || json!({"condition": "service_started", "restart": false, "required": true}),
                        );
                    }
                }
            }
            if !depends.is_empty() {
                s.insert("depends_on".into(), Value::Object(depends));
            }
        }
    }
    let project = dict.get("name").map(sprint).unwrap_or_default();
    for r in ["networks", "volumes", "configs", "secrets"] {
        let Some(Value::Object(top)) = dict.get_mut(r) else {
            continue;
        };
        for (key, res) in top.iter_mut() {
            if res.is_null() {
                *res = Value::Object(Map::new());
            }
            let Value::Object(m) = res else { continue };
            if none_or_null(m.get("name")) {
                let ext = m
                    .get("external")
                    .map(|x| {
                        matches!(
                            sprint(x).as_str(),
                            "true" | "1" | "t" | "T" | "TRUE" | "True"
                        )
                    })
                    .unwrap_or(false);
                let name = if ext {
                    key.clone()
                } else {
                    format!("{project}_{key}")
                };
                m.insert("name".into(), Value::String(name));
            }
        }
    }
}

fn none_or_null(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

/// `fixEmptyNotNull` and dropping empty `dns` entries.
pub fn omit_empty(v: &mut Value) {
    if let Some(Value::Object(services)) = v.get_mut("services") {
        for s in services.values_mut() {
            if let Some(Value::Array(dns)) = s.get_mut("dns") {
                dns.retain(|e| !(e.is_null() || e == &json!("")));
            }
        }
    }
}

/// The absolute form of `p` against the process's working directory.
pub fn absolute(p: &FsPath) -> PathBuf {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(p)
    };
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_short_syntax() {
        let p = parse_port_config("127.0.0.1:9000-9001:9000-9001/udp").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[1],
            json!({"mode": "ingress", "host_ip": "127.0.0.1", "target": 9001, "published": "9001", "protocol": "udp"})
        );
        assert_eq!(
            parse_port_config("80").unwrap(),
            vec![json!({"mode": "ingress", "target": 80, "protocol": "tcp"})]
        );
        assert_eq!(
            parse_port_config("8080-8081:80").unwrap()[0]["published"],
            json!("8080-8081")
        );
        assert_eq!(
            parse_port_config("[::1]:80:80").unwrap()[0]["host_ip"],
            json!("::1")
        );
        assert!(parse_port_config("127.0.1:80:80")
            .unwrap_err()
            .contains("Invalid ip address"));
        assert!(parse_port_config("80-81:90-99").is_err());
    }

    #[test]
    fn volumes_short_syntax() {
        let v = parse_volume("./data:/data:ro,z").unwrap().to_value();
        assert_eq!(
            v,
            json!({"type": "bind", "source": "./data", "target": "/data", "read_only": true, "bind": {"selinux": "z", "create_host_path": true}})
        );
        let v = parse_volume("named:/x:nocopy").unwrap().to_value();
        assert_eq!(
            v,
            json!({"type": "volume", "source": "named", "target": "/x", "volume": {"nocopy": true}})
        );
        let v = parse_volume("/anon").unwrap().to_value();
        assert_eq!(
            v,
            json!({"type": "volume", "target": "/anon", "volume": {}})
        );
        assert!(parse_volume("vol:/a:ro:x").is_err());
    }

    #[test]
    fn merge_rules() {
        let base = json!({"services": {"w": {"image": "a", "environment": {"A": "1"}, "command": ["x", "y"], "ports": ["80"], "depends_on": ["db"]}}});
        let over = json!({"services": {"w": {"environment": ["B=2"], "command": ["z"], "ports": ["81"], "depends_on": {"db": {"condition": "service_healthy"}}}}});
        let mut m = merge(base, over, &[]).unwrap();
        enforce_unicity(&mut m, &mut Vec::new()).unwrap();
        let w = &m["services"]["w"];
        assert_eq!(w["environment"], json!(["A=1", "B=2"]));
        assert_eq!(w["command"], json!(["z"]));
        assert_eq!(w["ports"], json!(["80", "81"]));
        assert_eq!(
            w["depends_on"]["db"],
            json!({"condition": "service_healthy", "required": true})
        );
        let mut dup = json!({"services": {"w": {"environment": ["A=1", "A=2"]}}});
        enforce_unicity(&mut dup, &mut Vec::new()).unwrap();
        assert_eq!(dup["services"]["w"]["environment"], json!(["A=2"]));
    }

    #[test]
    fn clean() {
        assert_eq!(clean_path("/a/./b/../c/"), "/a/c");
        assert_eq!(clean_path("a/.."), ".");
        assert_eq!(join("/p", "./x"), "/p/x");
    }
}

#[cfg(test)]
mod normalize_tests {
    use super::*;

    #[test]
    fn canonical_depends_on_env_file_networks() {
        let v = json!({"services": {"w": {
            "depends_on": ["db"], "env_file": "a.env", "networks": ["front"], "build": ".",
            "secrets": ["s"], "extends": "base", "dns": "1.1.1.1"
        }}});
        let c = canonical(v, &mut Vec::new(), false).unwrap();
        let w = &c["services"]["w"];
        assert_eq!(
            w["depends_on"]["db"],
            json!({"condition": "service_started", "required": true})
        );
        assert_eq!(w["env_file"], json!([{"path": "a.env", "required": true}]));
        assert_eq!(w["networks"], json!({"front": null}));
        assert_eq!(w["build"], json!({"context": "."}));
        assert_eq!(w["secrets"], json!([{"source": "s"}]));
        assert_eq!(w["extends"], json!({"service": "base"}));
        assert_eq!(w["dns"], json!(["1.1.1.1"]));
    }

    #[test]
    fn normalize_default_network_links_and_names() {
        let mut d = json!({"name": "p", "services": {
            "a": {"image": "x", "links": ["b:alias"], "environment": ["HOME_X", "UNSET"]},
            "b": {"image": "x", "network_mode": "service:a"}
        }, "volumes": {"v": null, "e": {"external": true}}})
        .as_object()
        .cloned()
        .unwrap();
        normalize(&mut d, &|k| (k == "HOME_X").then(|| "h".to_string()));
        assert_eq!(d["networks"]["default"], json!({"name": "p_default"}));
        assert_eq!(d["services"]["a"]["networks"], json!({"default": null}));
        assert!(d["services"]["b"].get("networks").is_none());
        assert_eq!(
            d["services"]["a"]["depends_on"]["b"]["restart"],
            json!(true)
        );
        assert_eq!(
            d["services"]["b"]["depends_on"]["a"]["condition"],
            json!("service_started")
        );
        assert_eq!(
            d["services"]["a"]["environment"],
            json!(["HOME_X=h", "UNSET"])
        );
        assert_eq!(d["volumes"]["v"]["name"], json!("p_v"));
        assert_eq!(d["volumes"]["e"]["name"], json!("e"));
    }
}
