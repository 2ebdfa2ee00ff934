//! The containers registries configuration (`registries.conf`, as podman
//! and skopeo read it): which registries are insecure (plain HTTP or
//! unverified TLS). Both the v2 form
//! ```toml
//! [[registry]]
//! location = "registry.local:5000"
//! insecure = true
//! ```
//! and the v1 form (`[registries.insecure] registries = [...]`) are read.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// System-wide registries configuration file.
pub const SYSTEM_REGISTRIES_CONF: &str = "/etc/containers/registries.conf";

#[derive(Debug, Default, Deserialize)]
struct Conf {
    #[serde(default)]
    registry: Vec<RegistryEntry>,
    #[serde(default)]
    registries: Option<V1>,
}

#[derive(Debug, Default, Deserialize)]
struct RegistryEntry {
    #[serde(default)]
    location: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    insecure: bool,
}

#[derive(Debug, Default, Deserialize)]
struct V1 {
    #[serde(default)]
    insecure: Option<V1List>,
}

#[derive(Debug, Default, Deserialize)]
struct V1List {
    #[serde(default)]
    registries: Vec<String>,
}

/// Insecure registries listed in the TOML text `conf`.
pub fn parse_insecure_registries(conf: &str) -> std::result::Result<Vec<String>, String> {
    let c: Conf = toml::from_str(conf).map_err(|e| e.to_string().replace('\n', " "))?;
    let mut out: Vec<String> = Vec::new();
    for r in c.registry.into_iter().filter(|r| r.insecure) {
        let loc = if r.location.is_empty() {
            r.prefix
        } else {
            r.location
        };
        // A location may carry a namespace (`host/ns`); the host is what
        // decides the transport.
        let host = loc.split('/').next().unwrap_or("").to_string();
        if !host.is_empty() && !out.contains(&host) {
            out.push(host);
        }
    }
    for h in c
        .registries
        .and_then(|r| r.insecure)
        .map(|l| l.registries)
        .unwrap_or_default()
    {
        if !out.contains(&h) {
            out.push(h);
        }
    }
    Ok(out)
}

/// Insecure registries from the file at `path`; none if it does not exist.
pub fn insecure_registries(path: &Path) -> Result<Vec<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Config(format!("read {}: {e}", path.display())));
        }
    };
    parse_insecure_registries(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

/// The registries.conf files in effect: `$CONTAINERS_REGISTRIES_CONF` if
/// set, else the system file.
pub fn registries_conf_path() -> PathBuf {
    std::env::var_os("CONTAINERS_REGISTRIES_CONF")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SYSTEM_REGISTRIES_CONF))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_and_v1_forms() {
        let conf = r#"
unqualified-search-registries = ["docker.io"]

[[registry]]
location = "reg.local:5000"
insecure = true

[[registry]]
location = "secure.example.com"

[[registry]]
prefix = "other.local/ns"
insecure = true

[registries.insecure]
registries = ["old.local"]
"#;
        assert_eq!(
            parse_insecure_registries(conf).unwrap(),
            vec!["reg.local:5000", "other.local", "old.local"]
        );
        assert!(parse_insecure_registries("[[registry]\n").is_err());
        assert_eq!(parse_insecure_registries("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn missing_file_is_empty() {
        assert!(
            insecure_registries(Path::new("/nonexistent/registries.conf"))
                .unwrap()
                .is_empty()
        );
    }
}
