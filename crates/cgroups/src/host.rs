//! Discovering the cgroup layout of a host from /proc/self/mountinfo and
//! /proc/self/cgroup, and mapping a container's cgroups path onto it.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// What the crate needs to know about a host: its mountinfo and the calling
/// process's /proc/self/cgroup, plus a directory prefix under which every
/// mount point is looked up (`/` on a real host, a tempdir in unit tests).
#[derive(Clone, Debug)]
pub struct Host {
    /// Text of /proc/self/mountinfo.
    pub proc_self_mountinfo: String,
    /// Text of /proc/self/cgroup.
    pub proc_self_cgroup: String,
    /// Prefix prepended to every mount point found in mountinfo.
    pub root: PathBuf,
}

impl Host {
    /// The real host, read from /proc/self.
    pub fn current() -> Result<Host> {
        Ok(Host {
            proc_self_mountinfo: read_proc("/proc/self/mountinfo")?,
            proc_self_cgroup: read_proc("/proc/self/cgroup")?,
            root: PathBuf::from("/"),
        })
    }

    /// A host described by the given texts with mount points under `root`.
    pub fn new(
        proc_self_mountinfo: impl Into<String>,
        proc_self_cgroup: impl Into<String>,
        root: impl Into<PathBuf>,
    ) -> Host {
        Host {
            proc_self_mountinfo: proc_self_mountinfo.into(),
            proc_self_cgroup: proc_self_cgroup.into(),
            root: root.into(),
        }
    }

    /// Path of a host-absolute path under this host's root prefix.
    pub(crate) fn host_path(&self, p: &Path) -> PathBuf {
        let rel = p.strip_prefix("/").unwrap_or(p);
        if rel.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }
}

fn read_proc(p: &str) -> Result<String> {
    std::fs::read_to_string(p).map_err(|source| Error::Read {
        path: p.into(),
        source,
    })
}

/// v1 subsystems we recognise in the super options of a `cgroup` mount.
pub(crate) const V1_SUBSYSTEMS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// One cgroup mount found in mountinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CgroupMount {
    pub version: u8,
    /// v1: subsystems (and `name=X`) from the super options; v2: empty.
    pub controllers: Vec<String>,
    /// Root of the mount inside the hierarchy (field 4 of mountinfo).
    pub root: String,
    /// Mount point (field 5), host-absolute, unescaped.
    pub mount_point: PathBuf,
}

/// Undo the octal escapes (`\040` etc.) mountinfo uses for spaces and friends.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse the cgroup mounts out of mountinfo text. The first mount of each
/// v1 hierarchy (by controller set) and the first cgroup2 mount win.
pub(crate) fn parse_mountinfo(text: &str) -> Result<Vec<CgroupMount>> {
    let mut mounts: Vec<CgroupMount> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let (pre, post) = match line.split_once(" - ") {
            Some(x) => x,
            None => {
                return Err(Error::HostParse {
                    source_name: "mountinfo",
                    line: line.to_string(),
                    reason: "missing \" - \" separator",
                })
            }
        };
        let pre: Vec<&str> = pre.split_whitespace().collect();
        let post: Vec<&str> = post.split_whitespace().collect();
        if pre.len() < 6 || post.len() < 2 {
            return Err(Error::HostParse {
                source_name: "mountinfo",
                line: line.to_string(),
                reason: "too few fields",
            });
        }
        let fstype = post[0];
        let version = match fstype {
            "cgroup" => 1,
            "cgroup2" => 2,
            _ => continue,
        };
        let root = unescape(pre[3]);
        let mount_point = PathBuf::from(unescape(pre[4]));
        let controllers: Vec<String> = if version == 1 {
            let opts = post.get(2).copied().unwrap_or("");
            opts.split(',')
                .filter(|o| V1_SUBSYSTEMS.contains(o) || o.starts_with("name="))
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        };
        if version == 1 && controllers.is_empty() {
            continue;
        }
        let dup = mounts
            .iter()
            .any(|m| m.version == version && m.controllers == controllers);
        if !dup {
            mounts.push(CgroupMount {
                version,
                controllers,
                root,
                mount_point,
            });
        }
    }
    Ok(mounts)
}

/// Parsed /proc/self/cgroup: v1 controller → path, and the v2 (`0::`) path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct OwnCgroups {
    pub v1: BTreeMap<String, String>,
    pub v2: Option<String>,
}

pub(crate) fn parse_proc_cgroup(text: &str) -> Result<OwnCgroups> {
    let mut own = OwnCgroups::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.splitn(3, ':');
        let (id, ctrls, path) = match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => {
                return Err(Error::HostParse {
                    source_name: "/proc/self/cgroup",
                    line: line.to_string(),
                    reason: "expected id:controllers:path",
                })
            }
        };
        if id == "0" && ctrls.is_empty() {
            own.v2 = Some(path.to_string());
        } else {
            for c in ctrls.split(',').filter(|c| !c.is_empty()) {
                own.v1.insert(c.to_string(), path.to_string());
            }
        }
    }
    Ok(own)
}

/// The cgroups path requested for a container, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CgPath {
    /// Relative to each hierarchy's mount point.
    Absolute(PathBuf),
    /// Relative to the calling process's own cgroup in each hierarchy.
    Relative(PathBuf),
}

fn check_clean(orig: &str, p: &Path) -> Result<()> {
    for c in p.components() {
        match c {
            Component::Normal(_) | Component::RootDir | Component::CurDir => {}
            _ => {
                return Err(Error::InvalidPath {
                    path: orig.to_string(),
                    reason: "\"..\" components are not allowed".into(),
                })
            }
        }
    }
    Ok(())
}

/// Turn linux.cgroupsPath (or its absence) into a [`CgPath`].
pub(crate) fn requested_path(
    cgroups_path: Option<&str>,
    container_id: &str,
    systemd: bool,
) -> Result<CgPath> {
    if container_id.is_empty() || container_id.contains('/') || container_id == ".." {
        return Err(Error::InvalidPath {
            path: container_id.to_string(),
            reason: "container id must be non-empty and contain no '/'".into(),
        });
    }
    let p = match cgroups_path {
        Some(p) if !p.is_empty() => p,
        _ => {
            if systemd {
                return Ok(CgPath::Absolute(systemd_path(
                    "system.slice:berth:".to_string().as_str(),
                    container_id,
                )?));
            }
            return Ok(CgPath::Absolute(PathBuf::from("/").join(container_id)));
        }
    };
    if systemd {
        return Ok(CgPath::Absolute(systemd_path(p, container_id)?));
    }
    let pb = PathBuf::from(p);
    check_clean(p, &pb)?;
    if pb.is_absolute() {
        Ok(CgPath::Absolute(pb))
    } else {
        Ok(CgPath::Relative(pb))
    }
}

/// Map runc's systemd form `slice:prefix:name` onto a cgroupfs path, as runc
/// does: `system.slice:berth:abc` → `/system.slice/berth-abc.scope`.
/// An empty name falls back to the container id, an empty slice to
/// `system.slice`.
pub(crate) fn systemd_path(spec: &str, container_id: &str) -> Result<PathBuf> {
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.len() != 3 {
        return Err(Error::InvalidPath {
            path: spec.to_string(),
            reason: "systemd cgroups path must be of the form \"slice:prefix:name\"".into(),
        });
    }
    let slice = if parts[0].is_empty() {
        "system.slice"
    } else {
        parts[0]
    };
    let prefix = parts[1];
    let name = if parts[2].is_empty() {
        container_id
    } else {
        parts[2]
    };
    if name.contains('/') || prefix.contains('/') {
        return Err(Error::InvalidPath {
            path: spec.to_string(),
            reason: "prefix and name must not contain '/'".into(),
        });
    }
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    let mut path = expand_slice(slice).map_err(|reason| Error::InvalidPath {
        path: spec.to_string(),
        reason,
    })?;
    path.push(unit);
    Ok(path)
}

/// systemd's slice expansion: `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`,
/// `-.slice` → `/`.
pub(crate) fn expand_slice(slice: &str) -> std::result::Result<PathBuf, String> {
    const SUFFIX: &str = ".slice";
    if slice == "-.slice" {
        return Ok(PathBuf::from("/"));
    }
    let base = slice
        .strip_suffix(SUFFIX)
        .ok_or_else(|| format!("slice {slice:?} does not end in .slice"))?;
    if base.is_empty() || slice.contains('/') {
        return Err(format!("invalid slice name {slice:?}"));
    }
    let mut path = PathBuf::from("/");
    let mut prefix = String::new();
    for component in base.split('-') {
        if component.is_empty() {
            return Err(format!(
                "invalid slice name {slice:?}: empty component between dashes"
            ));
        }
        let unit = format!("{prefix}{component}{SUFFIX}");
        path.push(&unit);
        prefix = format!("{prefix}{component}-");
    }
    Ok(path)
}

/// Join a cgroup path onto a mount point, never escaping it.
pub(crate) fn join_under(base: &Path, rel: &Path) -> PathBuf {
    let mut out = base.to_path_buf();
    for c in rel.components() {
        if let Component::Normal(n) = c {
            out.push(n);
        }
    }
    out
}

/// The directory of the container's cgroup in one hierarchy.
pub(crate) fn resolve_dir(
    host: &Host,
    mount: &CgroupMount,
    own: Option<&str>,
    req: &CgPath,
) -> PathBuf {
    let mp = host.host_path(&mount.mount_point);
    match req {
        CgPath::Absolute(p) => join_under(&mp, p),
        CgPath::Relative(p) => {
            let own = own.unwrap_or("/");
            // The caller's cgroup as seen from this mount: strip the mount root.
            let own_rel = Path::new(own)
                .strip_prefix(&mount.root)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| PathBuf::from(own));
            join_under(&join_under(&mp, &own_rel), p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_octal() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/x\\0"), "/x\\0");
    }

    #[test]
    fn slices() {
        assert_eq!(
            expand_slice("a-b.slice").unwrap(),
            Path::new("/a.slice/a-b.slice")
        );
        assert_eq!(
            expand_slice("a-b-c.slice").unwrap(),
            Path::new("/a.slice/a-b.slice/a-b-c.slice")
        );
        assert_eq!(expand_slice("-.slice").unwrap(), Path::new("/"));
        assert!(expand_slice("foo").is_err());
        assert!(expand_slice("a--b.slice").is_err());
        assert!(expand_slice("a/b.slice").is_err());
    }

    #[test]
    fn systemd_form() {
        assert_eq!(
            systemd_path("system.slice:berth:abc", "x").unwrap(),
            Path::new("/system.slice/berth-abc.scope")
        );
        assert_eq!(
            systemd_path("user-1000.slice:docker:c1", "x").unwrap(),
            Path::new("/user.slice/user-1000.slice/docker-c1.scope")
        );
        assert_eq!(
            systemd_path(":berth:", "cid").unwrap(),
            Path::new("/system.slice/berth-cid.scope")
        );
        assert_eq!(
            systemd_path("machine.slice::n", "x").unwrap(),
            Path::new("/machine.slice/n.scope")
        );
        assert_eq!(
            systemd_path("system.slice::my-sub.slice", "x").unwrap(),
            Path::new("/system.slice/my-sub.slice")
        );
        let e = systemd_path("/foo/bar", "x").unwrap_err().to_string();
        assert!(e.contains("slice:prefix:name"), "{e}");
    }

    #[test]
    fn requested() {
        assert_eq!(
            requested_path(None, "c1", false).unwrap(),
            CgPath::Absolute("/c1".into())
        );
        assert_eq!(
            requested_path(None, "c1", true).unwrap(),
            CgPath::Absolute("/system.slice/berth-c1.scope".into())
        );
        assert_eq!(
            requested_path(Some("a/b"), "c1", false).unwrap(),
            CgPath::Relative("a/b".into())
        );
        assert!(requested_path(Some("/a/../b"), "c1", false).is_err());
        assert!(requested_path(None, "a/b", false).is_err());
        assert!(requested_path(None, "", false).is_err());
    }

    #[test]
    fn proc_cgroup() {
        let own = parse_proc_cgroup("4:memory:/x/y\n2:cpu,cpuacct:/\n1:name=systemd:/s\n0::/u\n")
            .unwrap();
        assert_eq!(own.v1["memory"], "/x/y");
        assert_eq!(own.v1["cpuacct"], "/");
        assert_eq!(own.v1["name=systemd"], "/s");
        assert_eq!(own.v2.as_deref(), Some("/u"));
        assert!(parse_proc_cgroup("garbage").is_err());
    }

    #[test]
    fn mountinfo_errors() {
        let e = parse_mountinfo("1 2 3").unwrap_err().to_string();
        assert!(e.contains("mountinfo") && e.contains("1 2 3"), "{e}");
    }
}
