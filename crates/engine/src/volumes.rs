//! Volumes (docker's `local` driver) and the container mount flags.
//!
//! A volume lives in `<root>/volumes/<name>/`: `_data/` (what containers
//! see) and `volume.json` ([`Volume`]). Volumes are created under
//! `volumes/volumes.lock`; a volume is removed under the container store
//! lock then the volumes lock (in that order), so no container can start
//! using a volume while it is being removed. A volume is in use when a
//! container record (`config.v2.json`, running or not) mounts it.
//!
//! Mount flags: `-v` ([`parse_volume_flag`]) and `--mount`
//! ([`parse_mount_flag`]) give [`MountSpec`]s; [`plan`] adds the image's
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

/// What a mount flag asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

/// One parsed `-v`/`--mount`/image `VOLUME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub kind: MountKind,
    /// Host path (bind), volume name (empty: anonymous), unused for tmpfs.
    pub source: String,
    pub destination: String,
    pub read_only: bool,
    pub propagation: String,
    /// The mode as given (`ro`, `z`, `nocopy`...): docker's `Mode`.
    pub mode: String,
    /// Volumes: do not fill a new volume from the image.
    pub nocopy: bool,
    /// tmpfs mount options.
    pub tmpfs_options: Vec<String>,
    /// `volume-label` / `volume-opt` of `--mount` (for a volume it creates).
    pub volume_labels: BTreeMap<String, String>,
    pub volume_options: BTreeMap<String, String>,
}

impl MountSpec {
    fn new(kind: MountKind, source: &str, destination: &str) -> MountSpec {
        MountSpec {
            kind,
            source: source.to_string(),
            destination: destination.to_string(),
            read_only: false,
            propagation: String::new(),
            mode: String::new(),
            nocopy: false,
            tmpfs_options: Vec::new(),
            volume_labels: BTreeMap::new(),
            volume_options: BTreeMap::new(),
        }
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
pub fn parse_volume_flag(s: &str) -> Result<MountSpec> {
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
    let destination = check_destination(flag, s, dst)?;
    let kind = if src.starts_with('/') {
        MountKind::Bind
    } else {
        if !src.is_empty() {
            validate_name(src).map_err(|e| err(&e.to_string()))?;
        }
        MountKind::Volume
    };
    let mut m = MountSpec::new(kind, src, &destination);
    m.mode = mode.to_string();
    let mut seen_rw = false;
    for o in mode.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "rw" => {
                if seen_rw {
                    return Err(err("ro and rw given twice"));
                }
                seen_rw = true;
                m.read_only = o == "ro";
            }
            "nocopy" if m.kind == MountKind::Volume => m.nocopy = true,
            "z" | "Z" | "consistent" | "cached" | "delegated" => {}
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate"
                if m.kind == MountKind::Bind =>
            {
                m.propagation = o.to_string()
            }
            _ => return Err(err(&format!("invalid mode: {o}"))),
        }
    }
    if m.kind == MountKind::Bind && m.propagation.is_empty() {
        m.propagation = "rprivate".into();
    }
    Ok(m)
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

/// `--mount type=bind|volume|tmpfs,source=,target=,readonly,...` (docker's
/// keys; errors name the field).
pub fn parse_mount_flag(s: &str) -> Result<MountSpec> {
    let flag = "--mount";
    let err = |why: String| Error::flag(flag, s, why);
    let mut kind = MountKind::Volume;
    let mut fields: Vec<(String, Option<String>)> = Vec::new();
    for f in csv_fields(s).map_err(|e| err(e.into()))? {
        let f = f.as_str();
        let f = f.trim();
        if f.is_empty() {
            continue;
        }
        let (k, v) = match f.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
            None => (f.to_ascii_lowercase(), None),
        };
        if k == "type" {
            kind = match v.as_deref() {
                Some("bind") => MountKind::Bind,
                Some("volume") => MountKind::Volume,
                Some("tmpfs") => MountKind::Tmpfs,
                Some(t) => {
                    return Err(err(format!(
                        "field type: invalid type {t:?} (bind, volume or tmpfs)"
                    )))
                }
                None => return Err(err("field type: a value is required".into())),
            };
        } else {
            fields.push((k, v));
        }
    }
    let mut m = MountSpec::new(kind.clone(), "", "");
    let mut target = None;
    let mut tmpfs_size = None;
    let mut tmpfs_mode = None;
    let only = |m: &MountSpec, key: &str, want: MountKind| -> Result<()> {
        if m.kind != want {
            let t = match want {
                MountKind::Bind => "bind",
                MountKind::Volume => "volume",
                MountKind::Tmpfs => "tmpfs",
            };
            return Err(err(format!("field {key}: only valid with type={t}")));
        }
        Ok(())
    };
    for (k, v) in &fields {
        let need = |v: &Option<String>| -> Result<String> {
            v.clone()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| err(format!("field {k}: a value is required")))
        };
        match k.as_str() {
            "source" | "src" => m.source = need(v)?,
            "target" | "destination" | "dst" => target = Some(need(v)?),
            "readonly" | "ro" => m.read_only = parse_bool(flag, s, k, v.as_deref())?,
            "consistency" | "bind-nonrecursive" | "bind-recursive" => {}
            "bind-propagation" => {
                only(&m, k, MountKind::Bind)?;
                let p = need(v)?;
                if !matches!(
                    p.as_str(),
                    "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate"
                ) {
                    return Err(err(format!("field {k}: invalid propagation {p:?}")));
                }
                m.propagation = p;
            }
            "volume-nocopy" => {
                only(&m, k, MountKind::Volume)?;
                m.nocopy = parse_bool(flag, s, k, v.as_deref())?;
            }
            "volume-driver" => {
                only(&m, k, MountKind::Volume)?;
                let d = need(v)?;
                if d != "local" {
                    return Err(err(format!(
                        "field {k}: only the local driver is supported, not {d:?}"
                    )));
                }
            }
            "volume-label" | "volume-opt" => {
                only(&m, k, MountKind::Volume)?;
                let kv = need(v)?;
                let (a, b) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
                if a.is_empty() {
                    return Err(err(format!("field {k}: empty key")));
                }
                if k == "volume-label" {
                    m.volume_labels.insert(a.into(), b.into());
                } else {
                    m.volume_options.insert(a.into(), b.into());
                }
            }
            "tmpfs-size" => {
                only(&m, k, MountKind::Tmpfs)?;
                let v = need(v)?;
                let n = berth_util::size::ram_in_bytes(&v)
                    .map_err(|e| err(format!("field {k}: {e}")))?;
                tmpfs_size = Some(n);
            }
            "tmpfs-mode" => {
                only(&m, k, MountKind::Tmpfs)?;
                let v = need(v)?;
                let n = u32::from_str_radix(&v, 8)
                    .map_err(|_| err(format!("field {k}: invalid octal mode {v:?}")))?;
                tmpfs_mode = Some(n);
            }
            _ => return Err(err(format!("unknown field {k:?}"))),
        }
    }
    let target = target.ok_or_else(|| err("field target: must not be empty".into()))?;
    if !target.starts_with('/') {
        return Err(err(format!(
            "field target: {target:?} mount path must be absolute"
        )));
    }
    m.destination = clean_path(&target);
    if m.destination == "/" {
        return Err(err("field target: cannot mount over /".into()));
    }
    match m.kind {
        MountKind::Bind => {
            if m.source.is_empty() {
                return Err(err("field source: must not be empty for type=bind".into()));
            }
            if !m.source.starts_with('/') {
                return Err(err(format!(
                    "field source: {:?} must be an absolute host path for type=bind",
                    m.source
                )));
            }
            if !Path::new(&m.source).exists() {
                return Err(err(format!(
                    "field source: bind source path does not exist: {}",
                    m.source
                )));
            }
            if m.propagation.is_empty() {
                m.propagation = "rprivate".into();
            }
        }
        MountKind::Volume => {
            if !m.source.is_empty() {
                validate_name(&m.source).map_err(|e| err(format!("field source: {e}")))?;
            }
            for k in m.volume_options.keys() {
                if !matches!(k.as_str(), "type" | "device" | "o" | "size") {
                    return Err(err(format!("field volume-opt: unknown option {k:?}")));
                }
            }
        }
        MountKind::Tmpfs => {
            if !m.source.is_empty() {
                return Err(err("field source: must not be given for type=tmpfs".into()));
            }
            let mut o = vec![
                "nosuid".to_string(),
                "nodev".to_string(),
                "noexec".to_string(),
            ];
            if let Some(n) = tmpfs_size {
                o.push(format!("size={}k", (n + 1023) / 1024));
            }
            if let Some(n) = tmpfs_mode {
                o.push(format!("mode={n:o}"));
            }
            if m.read_only {
                o.push("ro".into());
            }
            m.tmpfs_options = o;
        }
    }
    if m.read_only && m.kind != MountKind::Tmpfs {
        m.mode = "ro".into();
    }
    if m.nocopy {
        m.mode = if m.mode.is_empty() {
            "nocopy".into()
        } else {
            format!("{},nocopy", m.mode)
        };
    }
    Ok(m)
}

/// Every user mount of a container: `-v`, then `--mount`, then the image's
/// `VOLUME`s not already covered (as anonymous volumes). Duplicate
/// destinations are an error naming the flag. No I/O but the existence
/// check of `--mount` bind sources.
pub fn plan(
    volumes: &[String],
    mounts: &[String],
    image_volumes: &[String],
) -> Result<Vec<MountSpec>> {
    let mut out: Vec<MountSpec> = Vec::new();
    let mut add = |m: MountSpec, flag: &str| -> Result<()> {
        if out.iter().any(|o| o.destination == m.destination) {
            return Err(Error::flag(flag, &m.destination, "duplicate mount point"));
        }
        out.push(m);
        Ok(())
    };
    for v in volumes {
        add(parse_volume_flag(v)?, "--volume")?;
    }
    for v in mounts {
        add(parse_mount_flag(v)?, "--mount")?;
    }
    for v in image_volumes {
        if !v.starts_with('/') {
            continue;
        }
        let d = clean_path(v);
        if d == "/" || out.iter().any(|o| o.destination == d) {
            continue;
        }
        out.push(MountSpec::new(MountKind::Volume, "", &d));
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
        Ok(FileLock::exclusive(&d.join("volumes.lock"))?)
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
                    berth_util::size::ram_in_bytes(v)
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
            // Docker prints volume times to the second.
            created_at: berth_util::time::format_secs(std::time::SystemTime::now()),
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
            Ok(berth_util::fs::fsync_dir(&self.volumes_dir())?)
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
    pub(crate) fn ensure_volumes(&self, c: &Container, specs: &[MountSpec]) -> Result<()> {
        for mp in c.mounts.iter().filter(|m| m.kind == "volume") {
            let spec = specs.iter().find(|s| s.destination == mp.destination);
            let mut labels = spec.map(|s| s.volume_labels.clone()).unwrap_or_default();
            let anon = !matches!(spec, Some(s) if !s.source.is_empty());
            if anon {
                labels.insert(ANON_LABEL.into(), String::new());
            }
            let options = spec.map(|s| s.volume_options.clone()).unwrap_or_default();
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

    #[test]
    fn volume_flags() {
        let m = parse_volume_flag("data:/srv:ro,z").unwrap();
        assert_eq!(m.kind, MountKind::Volume);
        assert_eq!(
            (m.source.as_str(), m.destination.as_str()),
            ("data", "/srv")
        );
        assert!(m.read_only);
        let m = parse_volume_flag("/var/x").unwrap();
        assert_eq!((m.kind, m.source.as_str()), (MountKind::Volume, ""));
        let m = parse_volume_flag("/h:/c:Z").unwrap();
        assert_eq!(
            (m.kind, m.propagation.as_str()),
            (MountKind::Bind, "rprivate")
        );
        assert!(parse_volume_flag("vv:/c:nocopy").unwrap().nocopy);
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
        let m = parse_mount_flag("type=volume,source=v1,target=/d,readonly").unwrap();
        assert_eq!(
            (m.source.as_str(), m.destination.as_str(), m.read_only),
            ("v1", "/d", true)
        );
        let m = parse_mount_flag("type=bind,src=/tmp,dst=/h,bind-propagation=rshared").unwrap();
        assert_eq!(
            (m.kind.clone(), m.propagation.as_str()),
            (MountKind::Bind, "rshared")
        );
        let m = parse_mount_flag("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        assert!(m.tmpfs_options.contains(&"size=1024k".to_string()));
        assert!(m.tmpfs_options.contains(&"mode=1770".to_string()));
        let m = parse_mount_flag("target=/x,\"volume-opt=o=size=1m,uid=1\",volume-opt=type=tmpfs")
            .unwrap();
        assert_eq!(m.volume_options["o"], "size=1m,uid=1");
        assert!(parse_mount_flag("target=/x,\"volume-opt=o=a").is_err());
        let m = parse_mount_flag("target=/x,volume-nocopy,volume-label=a=b").unwrap();
        assert!(m.nocopy && m.source.is_empty());
        assert_eq!(m.volume_labels["a"], "b");
        let e = |s: &str| parse_mount_flag(s).unwrap_err().to_string();
        assert!(e("type=bind,target=/x").contains("field source"));
        assert!(e("type=volume,source=v").contains("field target"));
        assert!(e("type=nfs,target=/x").contains("field type"));
        assert!(e("type=volume,target=/x,bogus=1").contains("unknown field \"bogus\""));
        assert!(e("type=volume,target=/x,tmpfs-size=1m").contains("field tmpfs-size"));
        assert!(e("type=bind,source=/surely/not/here,target=/x").contains("does not exist"));
        assert!(e("type=volume,target=x").contains("field target"));
        assert!(e("type=volume,target=/x,readonly=maybe").contains("readonly"));
        assert!(e("type=volume,target=/x,bogus")
            .starts_with("invalid --mount \"type=volume,target=/x,bogus\": "));
    }

    #[test]
    fn plans() {
        let p = plan(
            &["vv:/a".into()],
            &["type=tmpfs,target=/t".into()],
            &["/a".into(), "/b/".into()],
        )
        .unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[2].destination, "/b");
        assert!(p[2].source.is_empty());
        assert!(plan(&["vv:/a".into(), "/h:/a".into()], &[], &[]).is_err());
        assert!(plan(&["vv:/a".into()], &["target=/a".into()], &[]).is_err());
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
