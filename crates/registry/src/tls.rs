//! Whom a registry's TLS certificate must be signed by: the system trust
//! store, plus the per-registry directories docker and podman read,
//! `certs.d/HOST[:PORT]/`:
//!
//! * `*.crt`: CA certificates (PEM) trusted for that registry only;
//! * `*.cert` with the `*.key` of the same name: a client certificate.
//!
//! The directories searched are `/etc/containers/certs.d` then
//! `/etc/docker/certs.d` (the first that has the registry wins, as in
//! containers/image), or the colon-separated list in `$BERTH_CERTS_D`;
//! a client may name one directory for every registry instead (podman's
//! `--cert-dir`).

use std::path::{Path, PathBuf};

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey};

use crate::error::{Error, Result};

/// podman's per-registry certificate directories.
pub const CONTAINERS_CERTS_D: &str = "/etc/containers/certs.d";
/// docker's per-registry certificate directories.
pub const DOCKER_CERTS_D: &str = "/etc/docker/certs.d";
/// Environment variable replacing the list of certs.d directories
/// (colon-separated), e.g. for tests.
pub const CERTS_D_ENV: &str = "BERTH_CERTS_D";

/// The certs.d directories to search: `$BERTH_CERTS_D` if set, else
/// podman's then docker's.
pub fn default_certs_dirs() -> Vec<PathBuf> {
    match std::env::var_os(CERTS_D_ENV).filter(|v| !v.is_empty()) {
        Some(v) => std::env::split_paths(&v).collect(),
        None => vec![
            PathBuf::from(CONTAINERS_CERTS_D),
            PathBuf::from(DOCKER_CERTS_D),
        ],
    }
}

/// What a registry's certificate directory holds.
pub(crate) struct HostTrust {
    /// CA certificates to trust (besides the system's).
    pub cas: Vec<Certificate<'static>>,
    /// A client certificate and key.
    pub client: Option<ClientCert>,
}

/// The directory for `host` (`host[:port]`): `cert_dir` itself if given,
/// else `DIR/host` in the first of `dirs` where it exists.
pub(crate) fn host_dir(dirs: &[PathBuf], cert_dir: Option<&Path>, host: &str) -> Option<PathBuf> {
    if let Some(d) = cert_dir {
        return Some(d.to_path_buf());
    }
    dirs.iter().map(|d| d.join(host)).find(|d| d.is_dir())
}

fn config_err(path: &Path, what: &str) -> Error {
    Error::Config(format!("{}: {what}", path.display()))
}

/// Read `dir` (see the module docs).
pub(crate) fn read_host_dir(dir: &Path) -> Result<HostTrust> {
    let rd = std::fs::read_dir(dir).map_err(|e| config_err(dir, &e.to_string()))?;
    let mut names: Vec<PathBuf> = Vec::new();
    for e in rd {
        let e = e.map_err(|e| config_err(dir, &e.to_string()))?;
        names.push(e.path());
    }
    names.sort();
    let read = |p: &Path| std::fs::read(p).map_err(|e| config_err(p, &e.to_string()));
    let mut cas = Vec::new();
    let mut client = None;
    for p in &names {
        match p.extension().and_then(|e| e.to_str()) {
            Some("crt") => {
                let pem = read(p)?;
                let before = cas.len();
                for item in ureq::tls::parse_pem(&pem) {
                    match item {
                        Ok(PemItem::Certificate(c)) => cas.push(c),
                        Ok(_) => {}
                        Err(e) => {
                            return Err(config_err(p, &format!("not a PEM certificate: {e}")))
                        }
                    }
                }
                if cas.len() == before {
                    return Err(config_err(p, "no PEM certificate in it"));
                }
            }
            Some("cert") => {
                let key_path = p.with_extension("key");
                if !key_path.exists() {
                    return Err(config_err(
                        p,
                        &format!("client certificate without its key {}", key_path.display()),
                    ));
                }
                let pem = read(p)?;
                let chain: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                    .filter_map(|i| match i {
                        Ok(PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                if chain.is_empty() {
                    return Err(config_err(p, "no PEM certificate in it"));
                }
                let key = PrivateKey::from_pem(&read(&key_path)?)
                    .map_err(|e| config_err(&key_path, &format!("not a PEM private key: {e}")))?;
                client = Some(ClientCert::new_with_certs(&chain, key));
            }
            Some("key") if !p.with_extension("cert").exists() => {
                return Err(config_err(
                    p,
                    "private key without its client certificate (NAME.cert)",
                ));
            }
            _ => {}
        }
    }
    Ok(HostTrust { cas, client })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_dir_search_order_and_override() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        let b = t.path().join("b");
        std::fs::create_dir_all(b.join("reg:5000")).unwrap();
        let dirs = vec![a.clone(), b.clone()];
        assert_eq!(host_dir(&dirs, None, "reg:5000"), Some(b.join("reg:5000")));
        std::fs::create_dir_all(a.join("reg:5000")).unwrap();
        assert_eq!(host_dir(&dirs, None, "reg:5000"), Some(a.join("reg:5000")));
        assert_eq!(host_dir(&dirs, None, "other"), None);
        assert_eq!(
            host_dir(&dirs, Some(t.path()), "other"),
            Some(t.path().to_path_buf())
        );
    }

    #[test]
    fn bad_files_are_named() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("ca.crt"), "not pem").unwrap();
        let e = read_host_dir(t.path()).err().unwrap().to_string();
        assert!(e.contains("ca.crt") && !e.contains('\n'), "{e}");
        std::fs::remove_file(t.path().join("ca.crt")).unwrap();
        std::fs::write(t.path().join("client.cert"), "x").unwrap();
        let e = read_host_dir(t.path()).err().unwrap().to_string();
        assert!(e.contains("client.key"), "{e}");
        std::fs::remove_file(t.path().join("client.cert")).unwrap();
        let h = read_host_dir(t.path()).unwrap();
        assert!(h.cas.is_empty() && h.client.is_none());
    }
}
