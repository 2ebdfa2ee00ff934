//! Credentials (docker/podman compatible auth files) and parsing of
//! `WWW-Authenticate` challenges.
//!
//! Auth file format: `{"auths":{"HOST":{"auth":"base64(user:pass)"}}}`.
//! Read order when no file is named: `$REGISTRY_AUTH_FILE`,
//! `$XDG_RUNTIME_DIR/containers/auth.json`,
//! `$HOME/.config/containers/auth.json`, `$DOCKER_CONFIG/config.json`
//! (default `$HOME/.docker/config.json`); the first file with an entry for
//! the host wins. [`default_auth_file`] is where `login` writes.
//!
//! Credential helpers, as docker: a file's `credHelpers.HOST` or
//! `credsStore` names a program `docker-credential-NAME` (found on PATH)
//! that is asked with `get`/`store`/`erase` and the server on stdin; its
//! answer wins over the file's `auths` entry, which then stays empty.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use berth_util::fs::{AtomicWrite, Durability};

/// A username and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or access token.
    pub password: String,
}

impl Credentials {
    /// Build credentials.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }

    /// `Basic base64(user:pass)` header value.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            B64.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

/// Where `login` stores credentials when no file is named:
/// `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`,
/// else `$HOME/.docker/config.json`.
pub fn default_auth_file() -> PathBuf {
    if let Some(p) = env_path("REGISTRY_AUTH_FILE") {
        return p;
    }
    if let Some(p) = env_path("XDG_RUNTIME_DIR") {
        return p.join("containers").join("auth.json");
    }
    docker_config_file()
}

/// Files searched for credentials, in order.
pub fn auth_file_candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = env_path("REGISTRY_AUTH_FILE") {
        v.push(p);
    }
    if let Some(p) = env_path("XDG_RUNTIME_DIR") {
        v.push(p.join("containers").join("auth.json"));
    }
    if let Some(h) = env_path("HOME") {
        v.push(h.join(".config").join("containers").join("auth.json"));
    }
    v.push(docker_config_file());
    v
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn docker_config_file() -> PathBuf {
    if let Some(d) = env_path("DOCKER_CONFIG") {
        return d.join("config.json");
    }
    env_path("HOME")
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".docker")
        .join("config.json")
}

/// The keys an auth file may use for `host`.
fn host_keys(host: &str) -> Vec<String> {
    let mut v = vec![
        host.to_string(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v2/"),
        format!("https://{host}/v1/"),
    ];
    if matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        for k in [
            "https://index.docker.io/v1/",
            "index.docker.io",
            "docker.io",
            "registry-1.docker.io",
        ] {
            v.push(k.to_string());
        }
    }
    v
}

/// Normalise an auth-file key (`https://host/v1/`) to a host.
fn key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    match fs::read(path) {
        Ok(data) if data.iter().all(|b| b.is_ascii_whitespace()) => {
            Ok(Some(Value::Object(Map::new())))
        }
        Ok(data) => serde_json::from_slice(&data)
            .map(Some)
            .map_err(|e| Error::AuthFile {
                path: path.to_path_buf(),
                reason: format!("invalid JSON: {e}"),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::AuthFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

fn decode_entry(path: &Path, host: &str, entry: &Value) -> Result<Option<Credentials>> {
    let bad = |reason: String| Error::AuthFile {
        path: path.to_path_buf(),
        reason: format!("entry for {host}: {reason}"),
    };
    if let Some(auth) = entry.get("auth").and_then(Value::as_str) {
        if !auth.is_empty() {
            let raw = B64
                .decode(auth.trim())
                .map_err(|e| bad(format!("auth is not base64: {e}")))?;
            let s = String::from_utf8(raw).map_err(|_| bad("auth is not UTF-8".into()))?;
            let (u, p) = s
                .split_once(':')
                .ok_or_else(|| bad("auth is not base64(user:password)".into()))?;
            return Ok(Some(Credentials::new(u, p)));
        }
    }
    if let (Some(u), Some(p)) = (
        entry.get("username").and_then(Value::as_str),
        entry.get("password").and_then(Value::as_str),
    ) {
        return Ok(Some(Credentials::new(u, p)));
    }
    Ok(None)
}

/// The credential helper a parsed auth file names for `host`
/// (`credHelpers` first, then `credsStore`).
fn helper_for(doc: &Value, host: &str) -> Option<String> {
    let keys = host_keys(host);
    if let Some(h) = doc.get("credHelpers").and_then(Value::as_object) {
        for k in &keys {
            if let Some(n) = h.get(k).and_then(Value::as_str).filter(|n| !n.is_empty()) {
                return Some(n.to_string());
            }
        }
    }
    doc.get("credsStore")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

/// What docker hands a helper as the server: the hub's v1 URL, else the host.
fn helper_server(host: &str) -> String {
    if host == "docker.io" {
        "https://index.docker.io/v1/".into()
    } else {
        host.to_string()
    }
}

/// Runs `docker-credential-NAME VERB` with `input` on stdin; its stdout.
/// `Ok(None)` when the helper reports no credentials for the server.
fn run_helper(path: &Path, name: &str, verb: &str, input: &str) -> Result<Option<String>> {
    let prog = format!("docker-credential-{name}");
    let bad = |reason: String| Error::AuthFile {
        path: path.to_path_buf(),
        reason: format!("credential helper {prog} {verb}: {reason}"),
    };
    let mut child = std::process::Command::new(&prog)
        .arg(verb)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| bad(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| bad(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| bad(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() {
        return Ok(Some(stdout));
    }
    // The helpers' protocol: this exact message means "none stored".
    if stdout.contains("credentials not found") {
        return Ok(None);
    }
    let msg = if stdout.is_empty() {
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    } else {
        stdout
    };
    Err(bad(if msg.is_empty() {
        format!("exited with {}", out.status)
    } else {
        msg
    }))
}

fn helper_get(path: &Path, name: &str, host: &str) -> Result<Option<Credentials>> {
    let Some(out) = run_helper(path, name, "get", &helper_server(host))? else {
        return Ok(None);
    };
    let v: Value = serde_json::from_str(&out).map_err(|e| Error::AuthFile {
        path: path.to_path_buf(),
        reason: format!("credential helper docker-credential-{name} get: invalid JSON: {e}"),
    })?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
    if field("Username").is_empty() && field("Secret").is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials::new(field("Username"), field("Secret"))))
}

/// Credentials for `host` (`registry.example.com`, `127.0.0.1:5000`) from
/// `authfile`, or from the standard files when `None`.
pub fn load_credentials(host: &str, authfile: Option<&Path>) -> Result<Option<Credentials>> {
    let files = match authfile {
        Some(p) => vec![p.to_path_buf()],
        None => auth_file_candidates(),
    };
    let keys = host_keys(host);
    for f in files {
        let Some(doc) = read_json(&f)? else { continue };
        if let Some(name) = helper_for(&doc, host) {
            if let Some(c) = helper_get(&f, &name, host)? {
                return Ok(Some(c));
            }
        }
        let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
            continue;
        };
        for k in &keys {
            if let Some(entry) = auths.get(k) {
                if let Some(c) = decode_entry(&f, host, entry)? {
                    return Ok(Some(c));
                }
            }
        }
        // Any key whose host part matches (e.g. `https://host/v2/foo`).
        for (k, entry) in auths {
            if key_host(k) == host {
                if let Some(c) = decode_entry(&f, host, entry)? {
                    return Ok(Some(c));
                }
            }
        }
    }
    Ok(None)
}

fn write_json(path: &Path, doc: &Value) -> Result<()> {
    let mut data = serde_json::to_vec_pretty(doc).expect("JSON value serialises");
    data.push(b'\n');
    // Credentials: private to the user; made again by a new login if a
    // power loss takes the change (no fsync of the directory).
    AtomicWrite::new(Durability::Flushed)
        .mode(0o600)
        .create_dir()
        .write(path, &data)
        .map_err(|e| Error::AuthFile {
            path: path.to_path_buf(),
            reason: match e {
                berth_util::Error::Io { source, .. } => source.to_string(),
                e => e.to_string(),
            },
        })
}

/// Store `creds` for `host` in `path`, keeping everything else the file
/// holds.
pub fn store_credentials(path: &Path, host: &str, creds: &Credentials) -> Result<()> {
    let mut doc = read_json(path)?.unwrap_or_else(|| Value::Object(Map::new()));
    let obj = doc.as_object_mut().ok_or_else(|| Error::AuthFile {
        path: path.to_path_buf(),
        reason: "top level is not a JSON object".into(),
    })?;
    let auths = obj
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    let auths = auths.as_object_mut().expect("just made an object");
    // Drop other spellings of the same host so the new entry wins.
    let keys = host_keys(host);
    auths.retain(|k, _| !keys.contains(k));
    let key = if host == "docker.io" {
        "https://index.docker.io/v1/".to_string()
    } else {
        host.to_string()
    };
    let mut entry = Map::new();
    match helper_for(&doc, host) {
        // The secret goes to the helper; the file only lists the server.
        Some(name) => {
            let input = serde_json::json!({
                "ServerURL": helper_server(host),
                "Username": creds.username,
                "Secret": creds.password,
            });
            run_helper(path, &name, "store", &input.to_string())?;
        }
        None => {
            entry.insert(
                "auth".into(),
                Value::String(B64.encode(format!("{}:{}", creds.username, creds.password))),
            );
        }
    }
    let auths = doc
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .expect("made above");
    auths.insert(key, Value::Object(entry));
    write_json(path, &doc)
}

/// Remove the entry for `host` from `path`; `Ok(false)` if there was none.
pub fn remove_credentials(path: &Path, host: &str) -> Result<bool> {
    let Some(mut doc) = read_json(path)? else {
        return Ok(false);
    };
    let keys = host_keys(host);
    let mut erased = false;
    if let Some(name) = helper_for(&doc, host) {
        erased = run_helper(path, &name, "erase", &helper_server(host))?.is_some();
    }
    let removed = erased
        | match doc.get_mut("auths").and_then(Value::as_object_mut) {
            Some(auths) => {
                let before = auths.len();
                auths.retain(|k, _| !keys.contains(k));
                auths.len() != before
            }
            None => false,
        };
    if removed {
        write_json(path, &doc)?;
    }
    Ok(removed)
}

/// One parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="..."`.
    Basic,
    /// `Bearer realm=...,service=...,scope=...`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parse a `WWW-Authenticate` header value. Unknown schemes give `None`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = match header.find(char::is_whitespace) {
        Some(i) => (&header[..i], header[i..].trim_start()),
        None => (header, ""),
    };
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        })
    } else {
        None
    }
}

/// `k=v, k="quoted, \"v\""` → pairs.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b',' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' {
            i += 1;
        }
        let name = s[start..i].trim().to_string();
        if i >= b.len() || b[i] == b',' {
            continue;
        }
        i += 1; // '='
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                // Push whole UTF-8 characters.
                let ch = s[i..].chars().next().expect("in bounds");
                value.push(ch);
                i += ch.len_utf8();
            }
            i += 1; // closing quote
        } else {
            let vs = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            value = s[vs..i].trim().to_string();
        }
        if !name.is_empty() {
            out.push((name, value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:samalba/my-app:pull,push".into()),
            }
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge("bearer realm=http://x/t, service=s"),
            Some(Challenge::Bearer {
                realm: "http://x/t".into(),
                service: Some("s".into()),
                scope: None
            })
        );
        assert_eq!(parse_challenge("Negotiate abc"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn auth_file_roundtrip_keeps_other_fields() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/auth.json");
        assert_eq!(load_credentials("r:5000", Some(&p)).unwrap(), None);
        store_credentials(&p, "r:5000", &Credentials::new("u", "p:w")).unwrap();
        let mut doc: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        assert_eq!(doc["auths"]["r:5000"]["auth"], B64.encode("u:p:w"));
        doc["psFormat"] = Value::String("keep".into());
        fs::write(&p, serde_json::to_vec(&doc).unwrap()).unwrap();
        store_credentials(&p, "other", &Credentials::new("a", "b")).unwrap();
        assert_eq!(
            load_credentials("r:5000", Some(&p)).unwrap(),
            Some(Credentials::new("u", "p:w"))
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(remove_credentials(&p, "r:5000").unwrap());
        assert!(!remove_credentials(&p, "r:5000").unwrap());
        assert_eq!(load_credentials("r:5000", Some(&p)).unwrap(), None);
        let doc: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        assert_eq!(doc["psFormat"], "keep");
        assert!(doc["auths"]["other"].is_object());
    }

    #[test]
    fn docker_hub_and_url_keys() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        fs::write(
            &p,
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}},"https://reg.example/v2/x":{{"username":"n","password":"q"}}}}}}"#,
                B64.encode("hub:pw")
            ),
        )
        .unwrap();
        assert_eq!(
            load_credentials("docker.io", Some(&p)).unwrap(),
            Some(Credentials::new("hub", "pw"))
        );
        assert_eq!(
            load_credentials("reg.example", Some(&p)).unwrap(),
            Some(Credentials::new("n", "q"))
        );
        fs::write(&p, r#"{"auths":{"h":{"auth":"!!"}}}"#).unwrap();
        let e = load_credentials("h", Some(&p)).unwrap_err().to_string();
        assert!(e.contains("not base64") && e.contains("entry for h"), "{e}");
        assert!(format!("{:?}", Credentials::new("u", "secret")).contains("redacted"));
    }
}
