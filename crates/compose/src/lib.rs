//! The Compose Specification as docker compose v2 reads it: finding the
//! files, the environment and the project name, merging several files,
//! interpolation, `extends`, `include`, profiles, the canonical form of
//! every short syntax, and the normalised, typed [`Project`] that
//! `berth compose config` prints — the same JSON as `docker compose config
//! --format json`, and the same per-service config hash.
//!
//! The loader follows compose-go (v2.9, the library of docker compose
//! v2.40) step by step on an untyped tree ([`tree`]), then decodes the
//! result into [`types`]. It has no dependency on the engine: running a
//! project is a separate layer.

#![deny(unsafe_code)]

mod de;
pub mod dotenv;
pub mod interp;
pub mod loader;
pub mod template;
pub mod transform;
pub mod tree;
pub mod types;

use std::fmt;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use de::{
    Duration, EnvFile, HostsList, Labels, Mapping, MappingWithEquals, ShellCommand, SshKey,
    UnitBytes,
};
pub use loader::{load, load_model, normalize_project_name, LoadOptions, Loaded, Model};
pub use types::*;

/// A loading error: one line (or a few, for a cycle) naming the file, the
/// field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    msg: String,
}

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error { msg: msg.into() }
    }

    /// Prefixes the message with the file it is about (once).
    pub fn in_file(self, file: &str) -> Self {
        if self.msg.contains(file) {
            self
        } else {
            Error {
                msg: format!("{file}: {}", self.msg),
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl Project {
    /// The project as docker compose's `Project.MarshalJSON` builds it.
    pub fn to_json_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), Value::String(self.name.clone()));
        m.insert("services".into(), to_value(&self.services));
        if !self.networks.is_empty() {
            m.insert("networks".into(), to_value(&self.networks));
        }
        if !self.volumes.is_empty() {
            m.insert("volumes".into(), to_value(&self.volumes));
        }
        if !self.secrets.is_empty() {
            // a secret's content is never printed
            let secrets: std::collections::BTreeMap<_, _> = self
                .secrets
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        FileObjectConfig {
                            content: String::new(),
                            ..v.clone()
                        },
                    )
                })
                .collect();
            m.insert("secrets".into(), to_value(&secrets));
        }
        if !self.configs.is_empty() {
            let configs: std::collections::BTreeMap<_, _> = self
                .configs
                .iter()
                .map(|(k, v)| {
                    let mut v = v.clone();
                    if !v.environment.is_empty() {
                        v.content.clear();
                    }
                    (k.clone(), v)
                })
                .collect();
            m.insert("configs".into(), to_value(&configs));
        }
        if !self.models.is_empty() {
            m.insert("models".into(), to_value(&self.models));
        }
        for (k, v) in &self.extensions {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }

    /// `config --format json`: indented by two spaces, `$` escaped as `$$`
    /// (the output is itself a loadable compose file).
    pub fn to_json(&self) -> String {
        let s = serde_json::to_string_pretty(&self.to_json_value()).unwrap_or_default();
        go_html_escape(&s).replace('$', "$$")
    }

    /// `config` (YAML): the same model in compose-go's field order; a null
    /// `command`/`entrypoint` and empty `ipam`, `resources`, `placement`
    /// are left out as compose's YAML encoder does.
    pub fn to_yaml(&self) -> String {
        use serde_norway::{Mapping as YMap, Value as Y};
        fn y<T: serde::Serialize>(t: &T) -> Y {
            serde_norway::to_value(t).unwrap_or(Y::Null)
        }
        fn drop_keys(v: &mut Y, f: &dyn Fn(&str, &Y) -> bool) {
            if let Y::Mapping(m) = v {
                m.retain(|k, x| !f(k.as_str().unwrap_or(""), x));
            }
        }
        let empty = |x: &Y| matches!(x, Y::Mapping(m) if m.is_empty());
        let full = self.to_json_value();
        let mut top = YMap::new();
        // `name,omitempty` in compose-go's yaml tags (a lock file has none)
        if !self.name.is_empty() {
            top.insert("name".into(), Y::String(self.name.clone()));
        }
        let mut services = YMap::new();
        for (n, s) in &self.services {
            let mut v = y(s);
            drop_keys(&mut v, &|k, x| {
                (k == "command" || k == "entrypoint") && x.is_null()
            });
            if let Y::Mapping(m) = &mut v {
                if let Some(d) = m.get_mut("deploy") {
                    drop_keys(d, &|k, x| {
                        (k == "placement" || k == "resources") && empty(x)
                    });
                }
            }
            services.insert(n.as_str().into(), v);
        }
        top.insert("services".into(), Y::Mapping(services));
        if !self.networks.is_empty() {
            let mut nets = YMap::new();
            for (n, c) in &self.networks {
                let mut v = y(c);
                drop_keys(&mut v, &|k, x| k == "ipam" && empty(x));
                nets.insert(n.as_str().into(), v);
            }
            top.insert("networks".into(), Y::Mapping(nets));
        }
        for k in ["volumes", "secrets", "configs", "models"] {
            if let Some(v) = full.get(k) {
                // maps of structs already in field order through serde
                let typed = match k {
                    "volumes" => y(&self.volumes),
                    _ => y(v),
                };
                top.insert(k.into(), typed);
            }
        }
        for (k, v) in &self.extensions {
            top.insert(k.as_str().into(), y(v));
        }
        serde_norway::to_string(&Y::Mapping(top))
            .unwrap_or_default()
            .replace('$', "$$")
    }

    /// The service's config hash, as docker compose computes it
    /// (`compose.ServiceHash`): sha256 of the service's JSON without its
    /// build, pull policy, scale, replicas, dependencies and profiles.
    pub fn service_hash(service: &ServiceConfig) -> String {
        let mut o = service.clone();
        o.build = None;
        o.pull_policy.clear();
        o.scale = None;
        if let Some(d) = &mut o.deploy {
            d.replicas = None;
        }
        o.depends_on.clear();
        o.profiles.clear();
        let json = serde_json::to_string(&o).unwrap_or_default();
        hex::encode(Sha256::digest(go_html_escape(&json).as_bytes()))
    }
}

fn to_value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// Go's `encoding/json` escapes `<`, `>`, `&`, U+2028 and U+2029.
fn go_html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// YAML text of a JSON-like value.
pub fn yaml_string(v: &Value) -> String {
    serde_norway::to_string(v).unwrap_or_default()
}
