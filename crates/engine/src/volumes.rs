//! Volumes (docker's `local` driver) and the container mount flags.
//!
//! A volume lives in `<root>/volumes/<name>/`: `_data/` (what containers
//! see) and `volume.json` ([`Volume`]). Volumes are created under
//! `volumes/volumes.lock`; a volume is removed under the container store
//! lock then the volumes lock (in that order), so no container can start
//! using a volume while it is being removed. A volume is in use when a
//! container record (`config.v2.json`, running or not) mounts it.
//!
//! Mount flags: `-v` ([`parse_volume_flag`]), `--mount`
//! ([`parse_mount_flag`]) and `--tmpfs` ([`parse_tmpfs_flag`]) give
//! [`Mount`]s; [`plan`] adds the image's
//! `VOLUME`s as anonymous volumes (random 64-hex names, labelled
//! [`ANON_LABEL`], removed with the container by `rm -v` and `--rm`).

use crate::container::{Container, MountPoint};
use crate::error::{Context, Error, Result};
use crate::fsutil::{self, FileLock};
use crate::options::clean_path;
use crate::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Docker's label for anonymous volumes (docker 23+ prunes only these by default).
pub const ANON_LABEL: &str = "com.docker.volume.anonymous";
const META: &str = "volume.json";
/// Containers holding the mount of a `type=` volume.
const USERS: &str = "users.json";

/// `volume inspect`'s shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    pub created_at: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub mountpoint: String,
    pub name: String,
    pub options: BTreeMap<String, String>,
    pub scope: String,
}

impl Volume {
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANON_LABEL)
    }
}

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

    fn parse(s: &str) -> Option<Propagation> {
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
                t.size = Some(
                    crate::options::parse_bytes(val)
                        .map_err(|e| Error::flag(flag, s, format!("size: {e}")))?,
                )
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
    whole: &'a str,
    kind: &'static str,
    fields: Vec<(String, Option<String>)>,
    source: String,
    target: Option<String>,
    read_only: bool,
}

impl MountFields<'_> {
    fn err(&self, why: impl std::fmt::Display) -> Error {
        Error::flag("--mount", self.whole, why)
    }

    fn value(&self, k: &str, v: &Option<String>) -> Result<String> {
        v.clone()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| self.err(format!("field {k}: a value is required")))
    }

    fn bool(&self, k: &str, v: &Option<String>) -> Result<bool> {
        parse_bool("--mount", self.whole, k, v.as_deref())
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
fn mount_fields(s: &str) -> Result<MountFields<'_>> {
    let mut m = MountFields {
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
                t.size = Some(
                    crate::options::parse_bytes(&v)
                        .map_err(|e| m.err(format!("field {k}: {e}")))?,
                );
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
    let m = mount_fields(s)?;
    match m.kind {
        "bind" => parse_bind_mount(m),
        "tmpfs" => parse_tmpfs_mount(m),
        _ => parse_volume_mount(m),
    }
}

/// Every user mount of a container: `-v`, then `--mount`, then `--tmpfs`,
/// then the image's `VOLUME`s not already covered (as anonymous volumes).
/// Duplicate destinations are an error naming the flag. Bind sources of
/// `--mount` must exist (docker creates a missing `-v` source).
pub fn plan(
    binds: &[Mount],
    mounts: &[Mount],
    tmpfs: &[TmpfsMount],
    image_volumes: &[String],
) -> Result<Vec<Mount>> {
    let mut out: Vec<Mount> = Vec::new();
    let mut add = |m: Mount, flag: &str| -> Result<()> {
        if out.iter().any(|o| o.target() == m.target()) {
            return Err(Error::flag(flag, m.target(), "duplicate mount point"));
        }
        out.push(m);
        Ok(())
    };
    for m in binds {
        add(m.clone(), "--volume")?;
    }
    for m in mounts {
        if let Mount::Bind(b) = m {
            if !Path::new(&b.source).exists() {
                return Err(Error::invalid(format!(
                    "invalid --mount for {}: invalid mount config for type \"bind\": bind source path does not exist: {}",
                    b.target, b.source
                )));
            }
        }
        add(m.clone(), "--mount")?;
    }
    for t in tmpfs {
        add(Mount::Tmpfs(t.clone()), "--tmpfs")?;
    }
    for v in image_volumes {
        if !v.starts_with('/') {
            continue;
        }
        let d = clean_path(v);
        if d == "/" || out.iter().any(|o| o.target() == d) {
            continue;
        }
        out.push(Mount::Volume(VolumeMount {
            target: d,
            ..Default::default()
        }));
    }
    Ok(out)
}

/// Where every container has the kernel's own filesystems.
const KERNEL_FS: [&str; 2] = ["/proc", "/sys"];

fn kernel_fs_of(p: &str) -> Option<&'static str> {
    KERNEL_FS
        .into_iter()
        .find(|k| p == *k || p.strip_prefix(k).is_some_and(|r| r.starts_with('/')))
}

/// Refuses mount destinations (`-v`, `--mount`, `--tmpfs`, the image's
/// `VOLUME`s) under /proc or /sys: given so, or reached through the image's
/// symlinks, resolved inside the image as the runtime resolves them
/// (`/data` -> `/proc/self/attr`). A mount there would hide or stand in for
/// the kernel's files that the runtime and the process rely on
/// (CVE-2019-16884's class). One exception, which docker users rely on: a
/// host directory the user binds at a path written under /sys
/// (`-v /sys/fs/cgroup:/sys/fs/cgroup:ro` for systemd), never one reached
/// through the image's links. `destinations`: (path, is a user's bind).
pub fn refuse_kernel_fs<'a>(
    destinations: impl IntoIterator<Item = (&'a str, bool)>,
    view: &crate::user::LayerView,
) -> Result<()> {
    for (d, user_bind) in destinations {
        let d = clean_path(d);
        match kernel_fs_of(&d) {
            Some("/sys") if user_bind => continue,
            Some(k) => {
                return Err(Error::invalid(format!(
                    "invalid mount destination {d:?}: mounts under {k} are not allowed"
                )))
            }
            None => {}
        }
        let r = view.resolve(&d);
        if let Some(k) = kernel_fs_of(&r.path) {
            return Err(Error::invalid(format!(
                "invalid mount destination {d:?}: it resolves to {:?} in the image, and mounts under {k} are not allowed",
                r.path
            )));
        }
    }
    Ok(())
}

/// Whether a mount point of a container is a volume that should be filled
/// from the image.
pub(crate) fn wants_copy(m: &MountPoint) -> bool {
    m.kind == "volume" && !m.mode.split(',').any(|o| o == "nocopy")
}

fn now_rfc3339() -> String {
    // Docker prints volume times to the second.
    let t = crate::timeutil::now();
    match t.find('.') {
        Some(i) => format!("{}Z", &t[..i]),
        None => t,
    }
}

/// `du` of a directory (bytes of regular files), without following links.
pub(crate) fn dir_size(p: &Path) -> u64 {
    use rustix::fs::{self as rfs, Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rfs::open(p, flags, Mode::empty()) {
        Ok(fd) => size_below(fd),
        Err(_) => std::fs::symlink_metadata(p)
            .ok()
            .filter(|m| m.is_file())
            .map_or(0, |m| m.len()),
    }
}

/// The bytes of the regular files below the open directory `dir`, walked
/// by descriptors without following a symlink: a container that swaps a
/// directory of its tree for a link to / cannot make the walk leave it.
fn size_below(dir: std::os::fd::OwnedFd) -> u64 {
    use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let Ok(mut d) = rfs::Dir::read_from(&dir) else {
        return 0;
    };
    let mut total = 0;
    while let Some(Ok(e)) = d.read() {
        let name = e.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        let Ok(st) = rfs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => total += st.st_size.max(0) as u64,
            FileType::Directory => {
                if let Ok(sub) = rfs::openat(&dir, name, flags, Mode::empty()) {
                    total += size_below(sub);
                }
            }
            _ => {}
        }
    }
    total
}

impl Engine {
    pub fn volumes_dir(&self) -> PathBuf {
        self.root().join("volumes")
    }

    /// `volumes/<name>/_data`.
    pub fn volume_data_path(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name).join("_data")
    }

    fn lock_volumes(&self) -> Result<FileLock> {
        let d = self.volumes_dir();
        std::fs::create_dir_all(&d).ctx(|| format!("cannot create {}", d.display()))?;
        FileLock::exclusive(&d.join("volumes.lock"))
    }

    fn load_volume(&self, name: &str) -> Result<Option<Volume>> {
        let p = self.volumes_dir().join(name).join(META);
        if !p.exists() {
            return Ok(None);
        }
        fsutil::read_json(&p).map(Some)
    }

    /// `volume create`: a new volume (random name if `None`); an existing
    /// one of that name is returned as is (docker's behaviour), unless the
    /// options differ.
    pub fn create_volume(
        &self,
        name: Option<&str>,
        driver: &str,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Volume> {
        if driver != "local" {
            return Err(Error::invalid(format!(
                "invalid --driver {driver:?}: only the local driver is supported"
            )));
        }
        for (k, v) in &options {
            match k.as_str() {
                "type" | "device" | "o" => {}
                "size" => {
                    crate::options::parse_bytes(v)
                        .map_err(|e| Error::flag("--opt", &format!("{k}={v}"), e))?;
                }
                _ => {
                    return Err(Error::flag(
                        "--opt",
                        &format!("{k}={v}"),
                        "unknown option (type, device, o)",
                    ))
                }
            }
        }
        if options.contains_key("device") && !options.contains_key("type") {
            return Err(Error::flag(
                "--opt",
                "device",
                "a device needs type= (e.g. type=tmpfs)",
            ));
        }
        let name = match name {
            Some(n) => {
                validate_name(n)?;
                n.to_string()
            }
            None => fsutil::random_id()?,
        };
        let _l = self.lock_volumes()?;
        if let Some(v) = self.load_volume(&name)? {
            if !options.is_empty() && v.options != options {
                return Err(Error::Conflict(format!(
                    "volume {name} already exists with different options"
                )));
            }
            return Ok(v);
        }
        let dir = self.volumes_dir().join(&name);
        let tmp = self
            .volumes_dir()
            .join(format!(".tmp-{name}-{}", std::process::id()));
        let v = Volume {
            created_at: now_rfc3339(),
            driver: "local".into(),
            labels,
            mountpoint: dir.join("_data").to_string_lossy().into_owned(),
            name: name.clone(),
            options,
            scope: "local".into(),
        };
        let r = (|| -> Result<()> {
            let _ = std::fs::remove_dir_all(&tmp);
            std::fs::create_dir_all(tmp.join("_data"))
                .ctx(|| format!("cannot create {}", tmp.display()))?;
            fsutil::write_json(&tmp.join(META), &v)?;
            std::fs::rename(&tmp, &dir).ctx(|| format!("cannot create {}", dir.display()))?;
            std::fs::File::open(self.volumes_dir())
                .and_then(|f| f.sync_all())
                .ctx(|| "cannot sync the volumes directory")
        })();
        if r.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        r.map(|_| v)
    }

    /// `volume inspect NAME`.
    pub fn volume(&self, name: &str) -> Result<Volume> {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(Error::msg(format!("get {name}: no such volume")));
        }
        self.load_volume(name)?
            .ok_or_else(|| Error::msg(format!("get {name}: no such volume")))
    }

    /// `volume ls`, sorted by name.
    pub fn list_volumes(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(self.volumes_dir()) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io("cannot read the volumes directory", e)),
        };
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with('.') || !e.path().is_dir() {
                continue;
            }
            if let Ok(Some(v)) = self.load_volume(&n) {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Volume name → ids of the containers (running or not) mounting it.
    pub fn volume_users(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for id in self.ids()? {
            let Ok(c) = self.load_config(&id) else {
                continue;
            };
            for mp in c.mounts.iter().filter(|mp| mp.kind == "volume") {
                m.entry(mp.name.clone()).or_default().push(id.clone());
            }
        }
        Ok(m)
    }

    /// `volume rm [-f]`: refused while any container uses it; `force`
    /// only makes a missing volume not an error.
    pub fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        let _s = self.lock_store()?;
        let _l = self.lock_volumes()?;
        self.remove_volume_locked(name, force)
    }

    fn remove_volume_locked(&self, name: &str, force: bool) -> Result<()> {
        let v = match self.volume(name) {
            Ok(v) => v,
            Err(_) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        if let Some(ids) = self.volume_users()?.get(name) {
            return Err(Error::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                ids.join(", ")
            )));
        }
        let dir = self.volumes_dir().join(&v.name);
        let data = dir.join("_data");
        if v.options.contains_key("type") {
            crate::fssys::unmount(&data).ctx(|| format!("cannot unmount {}", data.display()))?;
        }
        // Rename first so a half-removed volume is never listed.
        let gone = self
            .volumes_dir()
            .join(format!(".rm-{name}-{}", std::process::id()));
        std::fs::rename(&dir, &gone).ctx(|| format!("cannot remove {}", dir.display()))?;
        std::fs::remove_dir_all(&gone).ctx(|| format!("cannot remove {}", gone.display()))
    }

    /// `volume prune`: unused volumes, only anonymous ones unless `all`;
    /// `filter` keeps those it accepts. Returns (name, bytes freed).
    pub fn prune_volumes(
        &self,
        all: bool,
        filter: &dyn Fn(&Volume) -> bool,
    ) -> Result<Vec<(String, u64)>> {
        let _s = self.lock_store()?;
        let _l = self.lock_volumes()?;
        let users = self.volume_users()?;
        let mut out = Vec::new();
        for v in self.list_volumes()? {
            if users.contains_key(&v.name) || !(all || v.anonymous()) || !filter(&v) {
                continue;
            }
            let size = dir_size(Path::new(&v.mountpoint));
            self.remove_volume_locked(&v.name, false)?;
            out.push((v.name, size));
        }
        Ok(out)
    }

    /// Removes what crashed `volume create`/`rm` left (`.tmp-*`, `.rm-*`);
    /// under the volumes lock none is in progress. Returns their names.
    pub(crate) fn cleanup_volumes(&self) -> Result<Vec<String>> {
        let _l = self.lock_volumes()?;
        let mut out = Vec::new();
        let rd = std::fs::read_dir(self.volumes_dir())
            .map_err(|e| Error::io("cannot read the volumes directory", e))?;
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if (n.starts_with(".tmp-") || n.starts_with(".rm-")) && e.path().is_dir() {
                let data = e.path().join("_data");
                let _ = crate::fssys::unmount(&data);
                if std::fs::remove_dir_all(e.path()).is_ok() {
                    out.push(n);
                }
            }
        }
        Ok(out)
    }

    /// Creates the volumes a new container mounts (called under the store
    /// lock while the container is created).
    pub(crate) fn ensure_volumes(&self, c: &Container, mounts: &[Mount]) -> Result<()> {
        for mp in c.mounts.iter().filter(|m| m.kind == "volume") {
            let spec = mounts.iter().find_map(|m| match m {
                Mount::Volume(v) if v.target == mp.destination => Some(v),
                _ => None,
            });
            let mut labels = spec.map(|s| s.labels.clone()).unwrap_or_default();
            if spec.map_or(true, |s| s.name.is_none()) {
                labels.insert(ANON_LABEL.into(), String::new());
            }
            let options = spec.map(|s| s.driver_opts.clone()).unwrap_or_default();
            if self.load_volume(&mp.name)?.is_none() {
                self.create_volume(Some(&mp.name), "local", labels, options)?;
            }
        }
        Ok(())
    }

    /// Removes the anonymous volumes among `mounts` (`rm -v`, `--rm`);
    /// volumes still used elsewhere stay. Errors are collected.
    pub(crate) fn remove_anonymous_volumes(&self, mounts: &[MountPoint]) -> Result<()> {
        let mut errs = Vec::new();
        for mp in mounts.iter().filter(|m| m.kind == "volume") {
            match self.volume(&mp.name) {
                Ok(v) if v.anonymous() => {
                    if let Err(e) = self.remove_volume(&mp.name, true) {
                        errs.push(e.to_string());
                    }
                }
                _ => {}
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::msg(errs.join("; ")))
        }
    }

    /// `rm [-f] -v`: the container, then its anonymous volumes.
    pub fn remove_with_volumes(&self, container: &str, force: bool) -> Result<()> {
        let id = self.lookup(container)?;
        let c = self.load_config(&id)?;
        self.remove(&id, force)?;
        self.remove_anonymous_volumes(&c.mounts)
    }

    /// At create (as docker): mounts the new container's rootfs for a
    /// moment and fills its empty volumes from it.
    pub(crate) fn fill_volumes(&self, c: &Container) -> Result<()> {
        if !c.mounts.iter().any(wants_copy) {
            return Ok(());
        }
        let _l = self.lock_container(&c.id)?;
        let rootfs = self.rootfs_path(&c.id);
        let was_mounted = crate::fssys::is_mount_point(&rootfs);
        if !was_mounted {
            self.mount_rootfs(c)?;
        }
        let r = self.populate_volumes(c, true);
        if !was_mounted {
            if let Err(e) = crate::sys::unmount(&rootfs) {
                let msg = format!("cannot unmount {}: {e}", rootfs.display());
                return Err(match r {
                    Ok(()) => Error::msg(msg),
                    Err(prev) => Error::msg(format!("{prev}; {msg}")),
                });
            }
        }
        r
    }

    /// `--rm`: removes a stopped container and its anonymous volumes.
    pub(crate) fn remove_auto(&self, id: &str) -> Result<()> {
        let mounts = self.load_config(id).map(|c| c.mounts).unwrap_or_default();
        self.remove_stopped(id)?;
        self.remove_anonymous_volumes(&mounts)
    }

    /// Fills the container's empty volumes from its rootfs (mounted by the
    /// caller) at their destinations: docker's copy-up (owners, modes,
    /// symlinks, hard links, xattrs), unless `nocopy`. `at_create`: plain
    /// volumes (docker fills them at create). Else (at start): volumes with
    /// `type=` options (`local` driver), which are mounted now, the
    /// container recorded as a user in `users.json` (unmounted when the
    /// last user is released, as docker's reference counting), and filled
    /// while empty.
    pub(crate) fn populate_volumes(&self, c: &Container, at_create: bool) -> Result<()> {
        let rootfs = self.rootfs_path(&c.id);
        for mp in c.mounts.iter().filter(|m| m.kind == "volume") {
            let _l = self.lock_volumes()?;
            let v = self.volume(&mp.name)?;
            let data = PathBuf::from(&v.mountpoint);
            let typed = v.options.get("type");
            if typed.is_some() == at_create {
                continue;
            }
            if let Some(ty) = typed {
                let mut users = self.volume_mount_users(&v.name);
                if !users.contains(&c.id) {
                    users.push(c.id.clone());
                    fsutil::write_json(&self.volumes_dir().join(&v.name).join(USERS), &users)?;
                }
                if !crate::fssys::is_mount_point(&data) {
                    let dev = v.options.get("device").map(String::as_str).unwrap_or(ty);
                    let o = v.options.get("o").map(String::as_str).unwrap_or("");
                    crate::fssys::mount(dev, &data, ty, o)
                        .ctx(|| format!("cannot mount volume {} ({ty} {dev} -o {o})", v.name))?;
                }
            }
            if !wants_copy(mp) {
                continue;
            }
            crate::fscopy::copy_up(&rootfs, &mp.destination, &data)
                .map_err(|e| Error::msg(format!("volume {}: copy from the image: {e}", v.name)))?;
        }
        Ok(())
    }

    fn volume_mount_users(&self, name: &str) -> Vec<String> {
        fsutil::read_json(&self.volumes_dir().join(name).join(USERS)).unwrap_or_default()
    }

    /// When a container stops: it no longer uses its volumes' mounts; a
    /// `type=` volume nobody else uses is unmounted. Best effort.
    pub(crate) fn release_volumes(&self, id: &str) {
        let Ok(c) = self.load_config(id) else {
            return;
        };
        if !c.mounts.iter().any(|m| m.kind == "volume") {
            return;
        }
        let Ok(_l) = self.lock_volumes() else {
            return;
        };
        for mp in c.mounts.iter().filter(|m| m.kind == "volume") {
            let Ok(v) = self.volume(&mp.name) else {
                continue;
            };
            if !v.options.contains_key("type") {
                continue;
            }
            let mut users = self.volume_mount_users(&v.name);
            let before = users.len();
            users.retain(|u| u != id);
            if users.len() != before {
                let _ = fsutil::write_json(&self.volumes_dir().join(&v.name).join(USERS), &users);
            }
            if users.is_empty() {
                let _ = crate::fssys::unmount(Path::new(&v.mountpoint));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(m: Mount) -> BindMount {
        match m {
            Mount::Bind(b) => b,
            m => panic!("not a bind: {m:?}"),
        }
    }

    fn volume(m: Mount) -> VolumeMount {
        match m {
            Mount::Volume(v) => v,
            m => panic!("not a volume: {m:?}"),
        }
    }

    fn tmpfs(m: Mount) -> TmpfsMount {
        match m {
            Mount::Tmpfs(t) => t,
            m => panic!("not a tmpfs: {m:?}"),
        }
    }

    #[test]
    fn volume_flags() {
        let m = volume(parse_volume_flag("data:/srv:ro,z").unwrap());
        assert_eq!(
            (m.name.as_deref(), m.target.as_str()),
            (Some("data"), "/srv")
        );
        assert!(m.read_only);
        let m = volume(parse_volume_flag("/var/x").unwrap());
        assert_eq!(m.name, None);
        let b = bind(parse_volume_flag("/h:/c:Z").unwrap());
        assert_eq!(b.propagation, Propagation::Rprivate);
        assert_eq!(b.relabel, Some(Relabel::Private));
        assert_eq!(
            parse_volume_flag("/h:/c:Z").unwrap().bind_string(),
            "/h:/c:Z"
        );
        assert!(volume(parse_volume_flag("vv:/c:nocopy").unwrap()).no_copy);
        assert!(parse_volume_flag("a:b").is_err());
        assert!(parse_volume_flag("x:/b")
            .unwrap_err()
            .to_string()
            .contains("too short"));
        assert!(parse_volume_flag("b@d:/b").is_err());
        assert!(parse_volume_flag("v:/").is_err());
        assert!(parse_volume_flag("/a:/b:bogus")
            .unwrap_err()
            .to_string()
            .starts_with("invalid --volume \"/a:/b:bogus\""));
    }

    #[test]
    fn mount_flags() {
        let m = volume(parse_mount_flag("type=volume,source=v1,target=/d,readonly").unwrap());
        assert_eq!(
            (m.name.as_deref(), m.target.as_str(), m.read_only),
            (Some("v1"), "/d", true)
        );
        let b =
            bind(parse_mount_flag("type=bind,src=/tmp,dst=/h,bind-propagation=rshared").unwrap());
        assert_eq!(b.propagation, Propagation::Rshared);
        let t =
            tmpfs(parse_mount_flag("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap());
        let o = t.mount_options();
        assert!(o.contains(&"size=1024k".to_string()));
        assert!(o.contains(&"mode=1770".to_string()));
        let m = volume(
            parse_mount_flag("target=/x,\"volume-opt=o=size=1m,uid=1\",volume-opt=type=tmpfs")
                .unwrap(),
        );
        assert_eq!(m.driver_opts["o"], "size=1m,uid=1");
        assert!(parse_mount_flag("target=/x,\"volume-opt=o=a").is_err());
        let m = volume(parse_mount_flag("target=/x,volume-nocopy,volume-label=a=b").unwrap());
        assert!(m.no_copy && m.name.is_none());
        assert_eq!(m.labels["a"], "b");
        let e = |s: &str| parse_mount_flag(s).unwrap_err().to_string();
        assert!(e("type=bind,target=/x").contains("field source"));
        assert!(e("type=volume,source=v").contains("field target"));
        assert!(e("type=nfs,target=/x").contains("field type"));
        assert!(e("type=volume,target=/x,bogus=1").contains("unknown field \"bogus\""));
        assert!(e("type=volume,target=/x,tmpfs-size=1m").contains("field tmpfs-size"));
        let missing = parse_mount_flag("type=bind,source=/surely/not/here,target=/x").unwrap();
        let pe = plan(&[], &[missing], &[], &[]).unwrap_err().to_string();
        assert!(pe.contains("does not exist"), "{pe}");
        assert!(e("type=volume,target=x").contains("field target"));
        assert!(e("type=volume,target=/x,readonly=maybe").contains("readonly"));
        assert!(e("type=volume,target=/x,bogus")
            .starts_with("invalid --mount \"type=volume,target=/x,bogus\": "));
    }

    #[test]
    fn tmpfs_flags() {
        let t = parse_tmpfs_flag("/run:size=10m,exec").unwrap();
        assert_eq!(t.target, "/run");
        assert_eq!(t.size, Some(10 << 20));
        assert_eq!(
            t.mount_options(),
            vec!["nosuid", "nodev", "exec", "size=10240k"]
        );
        assert_eq!(t.options_string(), "exec,size=10240k");
        assert!(parse_tmpfs_flag("run").is_err());
        assert!(parse_tmpfs_flag("/x:weird").is_err());
    }

    #[test]
    fn plans() {
        let v = |s: &str| parse_volume_flag(s).unwrap();
        let p = plan(
            &[v("vv:/a")],
            &[parse_mount_flag("type=tmpfs,target=/t").unwrap()],
            &[parse_tmpfs_flag("/b").unwrap()],
            &["/a".into(), "/b/".into(), "/c/".into()],
        )
        .unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p[3].target(), "/c");
        assert!(matches!(&p[3], Mount::Volume(v) if v.name.is_none()));
        assert!(plan(&[v("vv:/a"), v("/h:/a")], &[], &[], &[]).is_err());
        assert!(plan(
            &[v("vv:/a")],
            &[parse_mount_flag("target=/a").unwrap()],
            &[],
            &[]
        )
        .is_err());
    }

    #[test]
    fn create_list_remove_and_cleanup() {
        let t = tempfile::tempdir().unwrap();
        let e = Engine::open_with(t.path().join("root"), t.path().join("run")).unwrap();
        let v = e
            .create_volume(Some("one"), "local", BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert!(Path::new(&v.mountpoint).is_dir());
        assert_eq!(e.volume("one").unwrap().name, "one");
        // Creating again returns the same volume.
        let again = e
            .create_volume(Some("one"), "local", BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert_eq!(again.created_at, v.created_at);
        assert!(e
            .create_volume(Some("two"), "nfs", BTreeMap::new(), BTreeMap::new())
            .is_err());
        let anon = e
            .create_volume(None, "local", BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert_eq!(anon.name.len(), 64);
        std::fs::create_dir_all(e.volumes_dir().join(".tmp-x-1/_data")).unwrap();
        assert_eq!(e.cleanup_volumes().unwrap(), [".tmp-x-1"]);
        let names: Vec<String> = e
            .list_volumes()
            .unwrap()
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(names.len(), 2);
        e.remove_volume("one", false).unwrap();
        assert!(e.remove_volume("one", false).is_err());
        e.remove_volume("one", true).unwrap();
        assert!(e.volume("../x").is_err());
    }

    #[test]
    fn names() {
        assert!(validate_name("ok-1.x_y").is_ok());
        assert!(validate_name("a").is_err());
        assert!(validate_name("-a").is_err());
        assert!(validate_name("a/b").is_err());
    }

    #[test]
    fn dir_size_stays_in_the_tree() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join("a/b/f"), vec![0u8; 1000]).unwrap();
        std::fs::write(d.path().join("g"), vec![0u8; 24]).unwrap();
        std::os::unix::fs::symlink("/", d.path().join("root")).unwrap();
        std::os::unix::fs::symlink("/usr", d.path().join("a/usr")).unwrap();
        assert_eq!(dir_size(d.path()), 1024);
        assert_eq!(dir_size(&d.path().join("g")), 24);
        assert_eq!(dir_size(&d.path().join("root")), 0);
    }
}
