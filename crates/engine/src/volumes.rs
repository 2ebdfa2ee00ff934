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

pub use crate::options::mounts::{
    parse_mount_flag, parse_tmpfs_flag, parse_volume_flag, validate_name, BindMount, Mount,
    Propagation, Relabel, TmpfsMount, VolumeMount,
};

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
                    "invalid --mount for {}: field source: bind source path does not exist: {}",
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

/// `du` of a directory (bytes of regular files), without following links.
pub fn dir_size(p: &Path) -> u64 {
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

/// In a container's directory while its volumes are mounted (from start to
/// stop): the `volume unmount` events are logged once.
const VOLUMES_MOUNTED: &str = "volumes-mounted";

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

    pub(crate) fn load_volume(&self, name: &str) -> Result<Option<Volume>> {
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
        r?;
        self.log_volume(&v.name, "create", &[]);
        Ok(v)
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
        self.log_volume(&v.name, "destroy", &[]);
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
    /// volumes still used elsewhere (`--volumes-from` consumers) stay, not
    /// an error, as docker. Other errors are collected.
    pub(crate) fn remove_anonymous_volumes(&self, mounts: &[MountPoint]) -> Result<()> {
        let mut errs = Vec::new();
        for mp in mounts.iter().filter(|m| m.kind == "volume") {
            match self.volume(&mp.name) {
                Ok(v) if v.anonymous() => match self.remove_volume(&mp.name, true) {
                    Ok(()) | Err(Error::Conflict(_)) => {}
                    Err(e) => errs.push(e.to_string()),
                },
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

    /// `--rm`: removes a stopped container (its record `c`, read by the
    /// caller) and its anonymous volumes.
    pub(crate) fn remove_auto(&self, c: &Container) -> Result<()> {
        self.remove_stopped_unless(&c.id, false, Some(c))?;
        self.remove_anonymous_volumes(&c.mounts)
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
            if !at_create {
                // docker's `volume mount` as the container starts; the
                // mark makes the stop's `unmount` one per mount.
                let _ = std::fs::write(self.container_dir(&c.id).join(VOLUMES_MOUNTED), b"");
                self.log_volume(
                    &v.name,
                    "mount",
                    &[
                        ("container", &c.id),
                        ("destination", &mp.destination),
                        ("propagation", &mp.propagation),
                        ("read/write", if mp.rw { "true" } else { "false" }),
                    ],
                );
            }
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
    pub(crate) fn release_volumes(&self, c: &Container) {
        let id = c.id.as_str();
        if !c.mounts.iter().any(|m| m.kind == "volume") {
            return;
        }
        let Ok(_l) = self.lock_volumes() else {
            return;
        };
        let was_mounted =
            std::fs::remove_file(self.container_dir(id).join(VOLUMES_MOUNTED)).is_ok();
        for mp in c.mounts.iter().filter(|m| m.kind == "volume") {
            let Ok(v) = self.volume(&mp.name) else {
                continue;
            };
            // docker's `volume unmount` as the container stops.
            if was_mounted {
                self.log_volume(&v.name, "unmount", &[("container", id)]);
            }
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
