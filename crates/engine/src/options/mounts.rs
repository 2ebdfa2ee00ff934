//! Mounts of a container as typed values (docker's `mount.Mount` by type)
//! and their flags: `-v` ([`parse_volume_flag`]), `--mount`
//! ([`parse_mount_flag`], one parser per type) and `--tmpfs`
//! ([`parse_tmpfs_flag`]). Pure: no I/O.

use super::{clean_path, parse_bytes};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One mount of a container: docker's `mount.Mount` by type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Type", rename_all = "lowercase")]
pub enum Mount {
    Bind(BindMount),
    Volume(VolumeMount),
    Tmpfs(TmpfsMount),
}

/// A host path mounted in the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindMount {
    /// Absolute host path.
    pub source: String,
    pub target: String,
    pub read_only: bool,
    pub propagation: Propagation,
    /// `z` / `Z` (accepted; Berth applies no SELinux label).
    pub relabel: Option<Relabel>,
    /// `bind-recursive=disabled` / `bind-nonrecursive`: a plain bind.
    pub non_recursive: bool,
    /// docker's `Mode` (the `-v` options as given; `ro` for `--mount`).
    pub mode: String,
}

/// Mount propagation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    Shared,
    Rshared,
    Slave,
    Rslave,
    Private,
    #[default]
    Rprivate,
}

impl Propagation {
    pub fn as_str(&self) -> &'static str {
        match self {
            Propagation::Shared => "shared",
            Propagation::Rshared => "rshared",
            Propagation::Slave => "slave",
            Propagation::Rslave => "rslave",
            Propagation::Private => "private",
            Propagation::Rprivate => "rprivate",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Propagation> {
        Some(match s {
            "shared" => Propagation::Shared,
            "rshared" => Propagation::Rshared,
            "slave" => Propagation::Slave,
            "rslave" => Propagation::Rslave,
            "private" => Propagation::Private,
            "rprivate" => Propagation::Rprivate,
            _ => return None,
        })
    }
}

/// SELinux relabelling of a bind (`z`: shared, `Z`: private).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Relabel {
    Shared,
    Private,
}

/// A named or anonymous volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeMount {
    /// `None`: anonymous (a random name at create).
    pub name: Option<String>,
    pub target: String,
    pub read_only: bool,
    /// Do not fill a new volume from the image.
    pub no_copy: bool,
    /// `volume-label` (for a volume the mount creates).
    pub labels: BTreeMap<String, String>,
    /// `volume-opt` (`type`, `device`, `o`, `size`).
    pub driver_opts: BTreeMap<String, String>,
    /// docker's `Mode` (the `-v` options as given).
    pub mode: String,
}

/// A tmpfs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsMount {
    pub target: String,
    /// Bytes.
    pub size: Option<i64>,
    /// Permission bits of the root.
    pub mode: Option<u32>,
    pub read_only: bool,
    /// Other mount options given (`exec`, `uid=1000`, `noatime`...).
    pub options: Vec<String>,
}

impl TmpfsMount {
    /// The mount's options: `nosuid,nodev,noexec` unless their opposites
    /// are given, then the options given, size (KiB) and mode.
    pub fn mount_options(&self) -> Vec<String> {
        let mut out: Vec<String> = ["nosuid", "nodev", "noexec"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for o in &self.options {
            let opposite = match o.as_str() {
                "exec" => Some("noexec"),
                "noexec" => Some("exec"),
                "suid" => Some("nosuid"),
                "nosuid" => Some("suid"),
                "dev" => Some("nodev"),
                "nodev" => Some("dev"),
                _ => None,
            };
            if let Some(op) = opposite {
                out.retain(|x| x != op);
            }
            if !out.contains(o) {
                out.push(o.clone());
            }
        }
        if let Some(n) = self.size {
            out.push(format!("size={}k", (n + 1023) / 1024));
        }
        if let Some(m) = self.mode {
            out.push(format!("mode={m:o}"));
        }
        if self.read_only {
            out.push("ro".into());
        }
        out
    }

    /// docker's `HostConfig.Tmpfs` value.
    pub fn options_string(&self) -> String {
        let mut v = self.options.clone();
        if let Some(n) = self.size {
            v.push(format!("size={}k", (n + 1023) / 1024));
        }
        if let Some(m) = self.mode {
            v.push(format!("mode={m:o}"));
        }
        if self.read_only {
            v.push("ro".into());
        }
        v.join(",")
    }
}

impl Mount {
    pub fn target(&self) -> &str {
        match self {
            Mount::Bind(b) => &b.target,
            Mount::Volume(v) => &v.target,
            Mount::Tmpfs(t) => &t.target,
        }
    }

    pub fn read_only(&self) -> bool {
        match self {
            Mount::Bind(b) => b.read_only,
            Mount::Volume(v) => v.read_only,
            Mount::Tmpfs(t) => t.read_only,
        }
    }

    /// docker's `Binds` entry (`SRC:DST[:MODE]`, `DST` for an anonymous volume).
    pub fn bind_string(&self) -> String {
        let (src, mode) = match self {
            Mount::Bind(b) => (b.source.as_str(), b.mode.as_str()),
            Mount::Volume(v) => (v.name.as_deref().unwrap_or(""), v.mode.as_str()),
            Mount::Tmpfs(t) => return t.target.clone(),
        };
        let mut s = if src.is_empty() {
            self.target().to_string()
        } else {
            format!("{src}:{}", self.target())
        };
        if !mode.is_empty() {
            s.push(':');
            s.push_str(mode);
        }
        s
    }
}

/// Docker's rule for local volume names.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = name.len() >= 2
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        return Ok(());
    }
    if name.len() < 2 && name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::invalid(format!(
            "volume name is too short, names should be at least two alphanumeric characters: {name:?}"
        )));
    }
    Err(Error::invalid(format!(
        "{name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    )))
}

fn check_destination(flag: &str, s: &str, dst: &str) -> Result<String> {
    if !dst.starts_with('/') {
        return Err(Error::flag(
            flag,
            s,
            format!("invalid mount path: {dst:?} mount path must be absolute"),
        ));
    }
    let d = clean_path(dst);
    if d == "/" {
        return Err(Error::flag(
            flag,
            s,
            "invalid specification: destination can't be '/'",
        ));
    }
    Ok(d)
}

/// `-v /host:/ctr[:opts]`, `-v NAME:/ctr[:opts]`, `-v /ctr` (anonymous).
pub fn parse_volume_flag(s: &str) -> Result<Mount> {
    let flag = "--volume";
    let err = |why: &str| Error::flag(flag, s, why);
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => return Err(err("expected [SOURCE:]DESTINATION[:OPTIONS]")),
    };
    if src.is_empty() && parts.len() > 1 {
        return Err(err("empty source"));
    }
    let target = check_destination(flag, s, dst)?;
    let bind = src.starts_with('/');
    if !bind && !src.is_empty() {
        validate_name(src).map_err(|e| err(&e.to_string()))?;
    }
    let mut read_only = false;
    let mut seen_rw = false;
    let mut nocopy = false;
    let mut propagation = None;
    let mut relabel = None;
    for o in mode.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "rw" => {
                if seen_rw {
                    return Err(err("ro and rw given twice"));
                }
                seen_rw = true;
                read_only = o == "ro";
            }
            "nocopy" if !bind => nocopy = true,
            "z" => relabel = Some(Relabel::Shared),
            "Z" => relabel = Some(Relabel::Private),
            "consistent" | "cached" | "delegated" => {}
            p if bind && Propagation::parse(p).is_some() => propagation = Propagation::parse(p),
            _ => return Err(err(&format!("invalid mode: {o}"))),
        }
    }
    Ok(if bind {
        Mount::Bind(BindMount {
            source: src.to_string(),
            target,
            read_only,
            propagation: propagation.unwrap_or_default(),
            relabel,
            non_recursive: false,
            mode: mode.to_string(),
        })
    } else {
        Mount::Volume(VolumeMount {
            name: (!src.is_empty()).then(|| src.to_string()),
            target,
            read_only,
            no_copy: nocopy,
            labels: BTreeMap::new(),
            driver_opts: BTreeMap::new(),
            mode: mode.to_string(),
        })
    })
}

/// `--tmpfs /path[:opts]`.
pub fn parse_tmpfs_flag(s: &str) -> Result<TmpfsMount> {
    let flag = "--tmpfs";
    let (dst, opts) = s.split_once(':').unwrap_or((s, ""));
    if !dst.starts_with('/') {
        return Err(Error::flag(
            flag,
            s,
            "the destination must be an absolute path",
        ));
    }
    let mut t = TmpfsMount {
        target: clean_path(dst),
        ..Default::default()
    };
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        let (key, val) = o.split_once('=').unwrap_or((o, ""));
        match key {
            "size" => {
                t.size =
                    Some(parse_bytes(val).map_err(|e| Error::flag(flag, s, format!("size: {e}")))?)
            }
            "mode" => {
                t.mode = Some(
                    u32::from_str_radix(val, 8)
                        .map_err(|_| Error::flag(flag, s, format!("invalid octal mode {val:?}")))?,
                )
            }
            "ro" | "rw" => t.read_only = key == "ro",
            "tmpcopyup" | "notmpcopyup" => {}
            "uid" | "gid" | "nr_inodes" | "nr_blocks" | "exec" | "noexec" | "suid" | "nosuid"
            | "dev" | "nodev" | "atime" | "noatime" | "relatime" | "strictatime" | "nodiratime"
            | "sync" | "async" | "rprivate" | "private" | "rshared" | "shared" | "rslave"
            | "slave" => t.options.push(o.to_string()),
            _ => return Err(Error::flag(flag, s, format!("unknown option {o:?}"))),
        }
    }
    Ok(t)
}

fn parse_bool(flag: &str, s: &str, key: &str, v: Option<&str>) -> Result<bool> {
    match v.map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("1") | Some("true") => Ok(true),
        Some("0") | Some("false") => Ok(false),
        Some(v) => Err(Error::flag(
            flag,
            s,
            format!("invalid value for {key}: {v:?} (want true or false)"),
        )),
    }
}

/// Splits a `--mount` value at commas as docker's CSV reader does:
/// a field in double quotes may hold commas (`"volume-opt=o=a,b"`), `""`
/// is a quote.
fn csv_fields(s: &str) -> std::result::Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote");
    }
    out.push(cur);
    Ok(out)
}

/// The fields of one `--mount` value, with the errors of a field named.
struct MountFields<'a> {
    /// `--mount`, or the API's field.
    flag: &'a str,
    whole: &'a str,
    kind: &'static str,
    fields: Vec<(String, Option<String>)>,
    source: String,
    target: Option<String>,
    read_only: bool,
}

impl MountFields<'_> {
    fn err(&self, why: impl std::fmt::Display) -> Error {
        Error::flag(self.flag, self.whole, why)
    }

    fn value(&self, k: &str, v: &Option<String>) -> Result<String> {
        v.clone()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| self.err(format!("field {k}: a value is required")))
    }

    fn bool(&self, k: &str, v: &Option<String>) -> Result<bool> {
        parse_bool(self.flag, self.whole, k, v.as_deref())
    }

    /// A field of another mount type, or no field at all.
    fn unknown(&self, k: &str) -> Error {
        const OWNERS: [(&str, &[&str]); 3] = [
            (
                "bind",
                &["bind-propagation", "bind-recursive", "bind-nonrecursive"],
            ),
            (
                "volume",
                &[
                    "volume-nocopy",
                    "volume-driver",
                    "volume-label",
                    "volume-opt",
                ],
            ),
            ("tmpfs", &["tmpfs-size", "tmpfs-mode"]),
        ];
        match OWNERS.iter().find(|(_, keys)| keys.contains(&k)) {
            Some((t, _)) => self.err(format!("field {k}: only valid with type={t}")),
            None => self.err(format!("unknown field {k:?}")),
        }
    }

    fn target(&self) -> Result<String> {
        let t = self
            .target
            .clone()
            .ok_or_else(|| self.err("field target: must not be empty"))?;
        if !t.starts_with('/') {
            return Err(self.err(format!("field target: {t:?} mount path must be absolute")));
        }
        let d = clean_path(&t);
        if d == "/" {
            return Err(self.err("field target: cannot mount over /"));
        }
        Ok(d)
    }
}

/// Splits `--mount` into its type and fields; the fields every type has
/// (`source`, `target`, `readonly`) are taken out.
fn mount_fields<'a>(flag: &'a str, s: &'a str) -> Result<MountFields<'a>> {
    let mut m = MountFields {
        flag,
        whole: s,
        kind: "volume",
        fields: Vec::new(),
        source: String::new(),
        target: None,
        read_only: false,
    };
    for f in csv_fields(s).map_err(|e| m.err(e))? {
        let f = f.trim();
        if f.is_empty() {
            continue;
        }
        let (k, v) = match f.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
            None => (f.to_ascii_lowercase(), None),
        };
        match k.as_str() {
            "type" => {
                m.kind = match v.as_deref() {
                    Some("bind") => "bind",
                    Some("volume") => "volume",
                    Some("tmpfs") => "tmpfs",
                    Some(t) => {
                        return Err(m.err(format!(
                            "field type: invalid type {t:?} (bind, volume or tmpfs)"
                        )))
                    }
                    None => return Err(m.err("field type: a value is required")),
                }
            }
            "source" | "src" => m.source = m.value(&k, &v)?,
            "target" | "destination" | "dst" => m.target = Some(m.value(&k, &v)?),
            "readonly" | "ro" => m.read_only = m.bool(&k, &v)?,
            "consistency" => {}
            _ => m.fields.push((k, v)),
        }
    }
    Ok(m)
}

/// `--mount type=bind,...`.
fn parse_bind_mount(m: MountFields) -> Result<Mount> {
    let mut b = BindMount {
        read_only: m.read_only,
        ..Default::default()
    };
    for (k, v) in &m.fields {
        match k.as_str() {
            "bind-propagation" => {
                let p = m.value(k, v)?;
                b.propagation = Propagation::parse(&p)
                    .ok_or_else(|| m.err(format!("field {k}: invalid propagation {p:?}")))?;
            }
            "bind-nonrecursive" => b.non_recursive = m.bool(k, v)?,
            "bind-recursive" => {
                let r = m.value(k, v)?;
                b.non_recursive = match r.as_str() {
                    "enabled" => false,
                    "disabled" => true,
                    _ => return Err(m.err(format!("field {k}: expected enabled or disabled"))),
                }
            }
            _ => return Err(m.unknown(k)),
        }
    }
    b.target = m.target()?;
    if m.source.is_empty() {
        return Err(m.err("field source: must not be empty for type=bind"));
    }
    if !m.source.starts_with('/') {
        return Err(m.err(format!(
            "field source: {:?} must be an absolute host path for type=bind",
            m.source
        )));
    }
    b.source = m.source;
    if b.read_only {
        b.mode = "ro".into();
    }
    Ok(Mount::Bind(b))
}

/// `--mount type=volume,...` (the default type).
fn parse_volume_mount(m: MountFields) -> Result<Mount> {
    let mut vm = VolumeMount {
        read_only: m.read_only,
        ..Default::default()
    };
    for (k, v) in &m.fields {
        match k.as_str() {
            "volume-nocopy" => vm.no_copy = m.bool(k, v)?,
            "volume-driver" => {
                let d = m.value(k, v)?;
                if d != "local" {
                    return Err(m.err(format!(
                        "field {k}: only the local driver is supported, not {d:?}"
                    )));
                }
            }
            "volume-label" | "volume-opt" => {
                let kv = m.value(k, v)?;
                let (a, b) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
                if a.is_empty() {
                    return Err(m.err(format!("field {k}: empty key")));
                }
                if k == "volume-label" {
                    vm.labels.insert(a.into(), b.into());
                } else if matches!(a, "type" | "device" | "o" | "size") {
                    vm.driver_opts.insert(a.into(), b.into());
                } else {
                    return Err(m.err(format!("field volume-opt: unknown option {a:?}")));
                }
            }
            _ => return Err(m.unknown(k)),
        }
    }
    vm.target = m.target()?;
    if !m.source.is_empty() {
        validate_name(&m.source).map_err(|e| m.err(format!("field source: {e}")))?;
        vm.name = Some(m.source);
    }
    let mut mode = Vec::new();
    if vm.read_only {
        mode.push("ro");
    }
    if vm.no_copy {
        mode.push("nocopy");
    }
    vm.mode = mode.join(",");
    Ok(Mount::Volume(vm))
}

/// `--mount type=tmpfs,...`.
fn parse_tmpfs_mount(m: MountFields) -> Result<Mount> {
    let mut t = TmpfsMount {
        read_only: m.read_only,
        ..Default::default()
    };
    for (k, v) in &m.fields {
        match k.as_str() {
            "tmpfs-size" => {
                let v = m.value(k, v)?;
                t.size = Some(parse_bytes(&v).map_err(|e| m.err(format!("field {k}: {e}")))?);
            }
            "tmpfs-mode" => {
                let v = m.value(k, v)?;
                t.mode = Some(
                    u32::from_str_radix(&v, 8)
                        .map_err(|_| m.err(format!("field {k}: invalid octal mode {v:?}")))?,
                );
            }
            _ => return Err(m.unknown(k)),
        }
    }
    t.target = m.target()?;
    if !m.source.is_empty() {
        return Err(m.err("field source: must not be given for type=tmpfs"));
    }
    Ok(Mount::Tmpfs(t))
}

/// `--mount type=bind|volume|tmpfs,source=,target=,readonly,...` (docker's
/// keys; errors name the field).
pub fn parse_mount_flag(s: &str) -> Result<Mount> {
    parse_mount_as("--mount", s)
}

/// A `--mount` value given as `flag` (the Engine API's `HostConfig.Mounts`
/// entries are written in this syntax and read by the same rules).
pub fn parse_mount_as(flag: &str, s: &str) -> Result<Mount> {
    let m = mount_fields(flag, s)?;
    match m.kind {
        "bind" => parse_bind_mount(m),
        "tmpfs" => parse_tmpfs_mount(m),
        _ => parse_volume_mount(m),
    }
}
