//! Loading and validating config.json.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use std::path::{Path, PathBuf};

/// Reads and parses `<bundle>/config.json`, naming the failing field.
pub fn load(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let data = std::fs::read(&path).map_err(|e| Error::Io {
        context: format!("cannot read {}", path.display()),
        source: e,
    })?;
    parse(&data, &path.display().to_string())
}

/// Parses a config.json document; `file` names it in errors.
pub fn parse(data: &[u8], file: &str) -> Result<Spec> {
    let spec: Spec = serde_json::from_slice(data).map_err(|e| json_error(data, file, &e))?;
    validate(&spec, file)?;
    Ok(spec)
}

/// One line naming the file, the JSON path of the failing field and why.
pub fn json_error(data: &[u8], file: &str, e: &serde_json::Error) -> Error {
    let msg = e.to_string();
    // serde_json appends " at line L column C": the path says it better.
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    let field = if e.is_syntax() || e.is_eof() {
        format!("line {} column {}", e.line(), e.column())
    } else {
        json_path_at(data, e.line(), e.column())
    };
    Error::config(file, field, msg)
}

/// The path (`process.user.uid`, `mounts[2].destination`) of the value at
/// (line, column) of a JSON document: a small scan that tracks keys and
/// array indices, so error messages name fields without a second,
/// path-tracking deserializer in the binary.
pub fn json_path_at(data: &[u8], line: usize, column: usize) -> String {
    enum Frame {
        Obj(Option<String>),
        Arr(usize),
    }
    let mut stack: Vec<Frame> = Vec::new();
    let (mut l, mut c) = (1usize, 0usize);
    let mut i = 0;
    let mut last_string = String::new();
    while i < data.len() {
        let b = data[i];
        if b == b'\n' {
            l += 1;
            c = 0;
        } else {
            c += 1;
        }
        if l > line || (l == line && c >= column) {
            break;
        }
        match b {
            b'"' => {
                let mut j = i + 1;
                let mut st = Vec::new();
                while j < data.len() && data[j] != b'"' {
                    if data[j] == b'\\' {
                        j += 1;
                    }
                    if j < data.len() {
                        st.push(data[j]);
                    }
                    j += 1;
                }
                c += j - i;
                i = j;
                last_string = String::from_utf8_lossy(&st).into_owned();
            }
            b':' => {
                if let Some(Frame::Obj(k)) = stack.last_mut() {
                    *k = Some(std::mem::take(&mut last_string));
                }
            }
            b'{' => stack.push(Frame::Obj(None)),
            b'[' => stack.push(Frame::Arr(0)),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Arr(n)) => *n += 1,
                Some(Frame::Obj(k)) => *k = None,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    let mut out = String::new();
    for f in &stack {
        match f {
            Frame::Obj(Some(k)) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Frame::Obj(None) => {}
            Frame::Arr(n) => out.push_str(&format!("[{n}]")),
        }
    }
    if out.is_empty() {
        "(document)".to_string()
    } else {
        out
    }
}

/// Checks what serde cannot: required fields, consistency between fields.
pub fn validate(spec: &Spec, file: &str) -> Result<()> {
    let err = |field: &str, msg: &str| Err(Error::config(file, field, msg));
    if !spec.version().starts_with("1.") {
        return err(
            "ociVersion",
            &format!("unsupported version {:?} (want 1.x)", spec.version()),
        );
    }
    let Some(root) = spec.root() else {
        return err("root", "missing");
    };
    if root.path().as_os_str().is_empty() {
        return err("root.path", "empty");
    }
    if let Some(p) = spec.process() {
        validate_process_in(p, file)?;
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    // Fields this runtime cannot honour are refused, never ignored.
    if linux.intel_rdt().is_some() {
        return err(
            "linux.intelRdt",
            "not supported by berth-oci (no resctrl support)",
        );
    }
    if linux.memory_policy().is_some() {
        return err("linux.memoryPolicy", "not supported by berth-oci yet");
    }
    if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
        return err("linux.netDevices", "not supported by berth-oci yet");
    }
    if spec
        .process()
        .as_ref()
        .is_some_and(|p| p.exec_cpu_affinity().is_some())
    {
        return err("process.execCPUAffinity", "not supported by berth-oci yet");
    }
    let mut seen = Vec::new();
    let mut has_user = false;
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if seen.contains(&ns.typ()) {
            return err(
                &format!("linux.namespaces[{i}]"),
                &format!("duplicate namespace {}", ns.typ()),
            );
        }
        seen.push(ns.typ());
        if ns.typ() == LinuxNamespaceType::User {
            has_user = true;
        }
        if let Some(path) = ns.path() {
            if !path.is_absolute() {
                return err(
                    &format!("linux.namespaces[{i}].path"),
                    &format!("{path:?} is not absolute"),
                );
            }
        }
    }
    let has = |t| seen.contains(&t);
    if !has_user && (linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())) {
        return err("linux.uidMappings", "set, but there is no user namespace");
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return err(
            "hostname",
            "cannot set a hostname without a new UTS namespace",
        );
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return err(
            "domainname",
            "cannot set a domainname without a new UTS namespace",
        );
    }
    for key in linux.sysctl().iter().flat_map(|m| m.keys()) {
        if key.contains("..") || key.starts_with('/') || key.is_empty() {
            return err(&format!("linux.sysctl[{key:?}]"), "invalid key");
        }
        let ns_ok = if key.starts_with("net.") {
            has(LinuxNamespaceType::Network)
        } else if key.starts_with("kernel.")
            && ["kernel.domainname", "kernel.hostname"].contains(&key.as_str())
        {
            has(LinuxNamespaceType::Uts)
        } else if key.starts_with("kernel.msg")
            || key.starts_with("kernel.sem")
            || key.starts_with("kernel.shm")
            || key.starts_with("fs.mqueue.")
        {
            has(LinuxNamespaceType::Ipc)
        } else {
            true
        };
        if !ns_ok {
            return err(
                &format!("linux.sysctl[{key:?}]"),
                "not allowed: the container does not have its own namespace for it",
            );
        }
    }
    if let Some(p) = linux.rootfs_propagation() {
        if ![
            "",
            "private",
            "rprivate",
            "slave",
            "rslave",
            "shared",
            "rshared",
            "unbindable",
            "runbindable",
        ]
        .contains(&p.as_str())
        {
            return err("linux.rootfsPropagation", &format!("unknown value {p:?}"));
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            return err(
                &format!("mounts[{i}].destination"),
                &format!("{:?} is not absolute", m.destination()),
            );
        }
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        if !d.path().starts_with("/dev") {
            return err(
                &format!("linux.devices[{i}].path"),
                &format!("{:?} is not under /dev", d.path()),
            );
        }
    }
    Ok(())
}

/// Parses a process.json (`exec --process`), naming the failing field.
pub fn parse_process(data: &[u8], file: &str) -> Result<Process> {
    let p: Process = serde_json::from_slice(data).map_err(|e| json_error(data, file, &e))?;
    validate_process_in(&p, file)?;
    Ok(p)
}

/// Checks a process (from config.json or `exec --process`).
pub fn validate_process(p: &Process) -> Result<()> {
    validate_process_in(p, "process.json")
}

fn validate_process_in(p: &Process, file: &str) -> Result<()> {
    let err = |field: &str, msg: &str| Err(Error::config(file, field, msg));
    if p.cwd().as_os_str().is_empty() || !p.cwd().is_absolute() {
        return err(
            "process.cwd",
            &format!("must be an absolute path, got {:?}", p.cwd()),
        );
    }
    if p.args().as_ref().map_or(true, |a| a.is_empty()) && p.command_line().is_none() {
        return err("process.args", "must not be empty");
    }
    // setresuid(2)/setresgid(2) read -1 as "unchanged": the process would
    // keep the runtime's (root) ids.
    let u = p.user();
    let ids = [("process.user.uid", u.uid()), ("process.user.gid", u.gid())];
    let extra = u
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| ("process.user.additionalGids", *g));
    for (field, id) in ids.into_iter().chain(extra) {
        if id == u32::MAX {
            return err(
                field,
                &format!("{id} is not a valid id (it means \"unchanged\" to the kernel)"),
            );
        }
    }
    for (i, e) in p.env().iter().flatten().enumerate() {
        if !e.contains('=') {
            return err(
                &format!("process.env[{i}]"),
                &format!("{e:?} is not of the form KEY=VALUE"),
            );
        }
    }
    Ok(())
}

/// The rootfs as an absolute path (relative paths are relative to the bundle).
pub fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::config("config.json", "root", "missing"))?;
    let p = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    std::fs::canonicalize(&p).map_err(|e| Error::Io {
        context: format!("root.path {}", p.display()),
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}]}
        })
    }

    fn parse_v(v: serde_json::Value) -> Result<Spec> {
        parse(v.to_string().as_bytes(), "config.json")
    }

    #[test]
    fn accepts_minimal() {
        parse_v(base()).unwrap();
    }

    #[test]
    fn names_bad_field() {
        let mut v = base();
        v["process"]["user"]["uid"] = serde_json::json!("root");
        let e = parse_v(v).unwrap_err().to_string();
        assert!(e.contains("process.user.uid"), "{e}");
        let mut v = base();
        v["process"]["capabilities"] = serde_json::json!({"bounding": ["CAP_TEST"]});
        let e = parse_v(v).unwrap_err().to_string();
        assert!(e.contains("process.capabilities.bounding"), "{e}");
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        let mut v = base();
        v["linux"]["intelRdt"] = serde_json::json!({"closID": "x"});
        assert!(parse_v(v)
            .unwrap_err()
            .to_string()
            .contains("linux.intelRdt"));
        let mut v = base();
        v["linux"]["memoryPolicy"] = serde_json::json!({"mode": "MPOL_BIND", "nodes": "0"});
        assert!(parse_v(v)
            .unwrap_err()
            .to_string()
            .contains("linux.memoryPolicy"));
    }

    /// Mutated configs (bytes flipped, truncated, fields swapped) never
    /// panic the parser: they parse or give an error naming the file.
    #[test]
    fn fuzz_mutated_configs() {
        let spec = crate::spec::default_spec(false).to_string().into_bytes();
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"{}[]\",:0123456789-.eE truefalsnul\\/\x00\xff";
        for _ in 0..20_000 {
            let mut d = spec.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % d.len();
                match next() % 3 {
                    0 => d[i] = alphabet[(next() as usize) % alphabet.len()],
                    1 => {
                        d.remove(i);
                    }
                    _ => d.truncate(i),
                }
                if d.is_empty() {
                    break;
                }
            }
            if let Err(e) = parse(&d, "config.json") {
                assert!(e.to_string().starts_with("config.json: "), "{e}");
            }
        }
    }

    #[test]
    fn json_paths() {
        let d = br#"{"a": {"b": [1, {"c": "x"}]}, "d": 2}"#;
        let col = |needle: &str| String::from_utf8_lossy(d).find(needle).unwrap() + needle.len();
        assert_eq!(json_path_at(d, 1, col(r#""x""#)), "a.b[1].c");
        assert_eq!(json_path_at(d, 1, col("2")), "d");
        assert_eq!(json_path_at(d, 1, col("[1")), "a.b[0]");
    }

    #[test]
    fn not_json() {
        let e = parse(b"{nope", "b/config.json").unwrap_err().to_string();
        assert!(e.starts_with("b/config.json"), "{e}");
    }

    #[test]
    fn rejects_inconsistent() {
        let mut v = base();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}]);
        v["hostname"] = serde_json::json!("h");
        assert!(parse_v(v).unwrap_err().to_string().contains("hostname"));
        let mut v = base();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "pid"}]);
        assert!(parse_v(v).unwrap_err().to_string().contains("duplicate"));
        let mut v = base();
        v["process"]["cwd"] = serde_json::json!("rel");
        assert!(parse_v(v).unwrap_err().to_string().contains("process.cwd"));
        let mut v = base();
        v["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"});
        assert!(parse_v(v)
            .unwrap_err()
            .to_string()
            .contains("net.ipv4.ip_forward"));
        let mut v = base();
        v["ociVersion"] = serde_json::json!("0.9");
        assert!(parse_v(v).unwrap_err().to_string().contains("ociVersion"));
        let mut v = base();
        v["mounts"] =
            serde_json::json!([{"destination": "relative", "type": "tmpfs", "source": "tmpfs"}]);
        assert!(parse_v(v)
            .unwrap_err()
            .to_string()
            .contains("mounts[0].destination"));
    }
}
