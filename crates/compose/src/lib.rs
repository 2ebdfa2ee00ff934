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
    Duration, EnvFile, HostsList, Labels, Mapping, MappingWithEquals, ShellCommand, UnitBytes,
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

    /// `config` (YAML): the same model; a null `command`/`entrypoint` and
    /// an empty `ipam` are left out as compose's YAML encoder does.
    pub fn to_yaml(&self) -> String {
        let mut v = self.to_json_value();
        if let Some(Value::Object(services)) = v.get_mut("services") {
            for s in services.values_mut() {
                if let Value::Object(s) = s {
                    s.retain(|k, x| !((k == "command" || k == "entrypoint") && x.is_null()));
                    if let Some(Value::Object(d)) = s.get_mut("deploy") {
                        d.retain(|k, x| {
                            !((k == "placement" || k == "resources")
                                && x == &Value::Object(Map::new()))
                        });
                    }
                }
            }
        }
        if let Some(Value::Object(nets)) = v.get_mut("networks") {
            for n in nets.values_mut() {
                if let Value::Object(n) = n {
                    n.retain(|k, x| !(k == "ipam" && x == &Value::Object(Map::new())));
                }
            }
        }
        yaml_string(&v).replace('$', "$$")
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
