//! `diff`: what a container changed in its filesystem, read from its
//! overlay upper directory (docker's `GET /containers/{id}/changes`), and
//! the same walk as an OCI layer tar for `commit`.
//!
//! In the upper directory, a character device 0/0 is a whiteout (the
//! name was deleted), a directory with `trusted.overlay.opaque=y` replaced
//! the lower one wholesale, anything else was added or changed: changed
//! when a lower layer has the name. As docker: a directory that exists
//! below with the same mode, owner and time is not a change of its own,
//! and the parent of an added or deleted entry is reported changed. Mount
//! points the runtime made for the container's mounts (an empty file or
//! directory no layer has) are not changes (docker keeps them in its
//! init layer), nor is the time they gave their directory: such a
//! directory is reported (and archived) only when something below it
//! changed.
//!
//! Every tree is read through descriptors with `O_NOFOLLOW` (see
//! [`crate::fscopy`]): a symlink the container made never leads out.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};
use serde::{Serialize, Serializer};

use crate::error::{Error, Result};
use crate::fscopy::{Kind, Meta, TarSink, Walker};
use crate::Engine;

/// docker's change kinds (`Kind` of a change: 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// `C`: 0.
    Modified = 0,
    /// `A`: 1.
    Added = 1,
    /// `D`: 2.
    Deleted = 2,
}

impl ChangeKind {
    /// The letter `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

impl Serialize for ChangeKind {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u8(*self as u8)
    }
}

/// One item of `GET /containers/{id}/changes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerChange {
    /// Absolute path in the container.
    pub path: String,
    /// What happened to it.
    pub kind: ChangeKind,
}

/// What [`Engine::diff`] inspects.
#[derive(Debug, Clone, Default)]
pub struct DiffRequest {
    /// Container name or id.
    pub container: String,
}

const OPAQUE_XATTR: &[u8] = b"trusted.overlay.opaque";

fn ioe(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

fn open_tree(p: &Path) -> io::Result<OwnedFd> {
    rfs::open(
        p,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(ioe)
}

/// `rel` (`a/b/c`) below the directory `root`, every component looked up
/// without following a symlink: its stat, or None when a component is
/// missing or not a directory.
fn stat_below(root: BorrowedFd, rel: &str) -> Option<Stat> {
    let mut comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    let last = comps.pop()?;
    let mut dir: Option<OwnedFd> = None;
    for c in comps {
        let at = dir.as_ref().map_or(root, |d| d.as_fd());
        let next = rfs::openat(
            at,
            c,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        dir = Some(next);
    }
    let at = dir.as_ref().map_or(root, |d| d.as_fd());
    rfs::statat(at, last, AtFlags::SYMLINK_NOFOLLOW).ok()
}

/// The names in the directory `rel` below `root` (none when it is not one).
fn names_below(root: BorrowedFd, rel: &str) -> Vec<Vec<u8>> {
    let mut at: OwnedFd = match rfs::openat(
        root,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(f) => f,
        Err(_) => return Vec::new(),
    };
    for c in rel.split('/').filter(|c| !c.is_empty()) {
        at = match rfs::openat(
            &at,
            c,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(f) => f,
            Err(_) => return Vec::new(),
        };
    }
    let Ok(mut d) = rfs::Dir::read_from(&at) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while let Some(Ok(e)) = d.read() {
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(n.to_vec());
        }
    }
    out
}

/// A container's layers: its upper directory over the image's lowers.
pub(crate) struct Layers {
    upper: PathBuf,
    lowers: Vec<OwnedFd>,
    /// Mount destinations (relative, no leading `/`).
    mount_points: HashSet<String>,
}

/// What one entry of the upper directory is.
pub(crate) enum Entry {
    /// A whiteout: the name was deleted.
    Whiteout,
    /// A directory that hides what the lowers have below it.
    Opaque,
    /// A directory only the runtime's mount points in it changed.
    RuntimeDir,
    /// Anything else.
    Plain,
}

/// Called for each entry of the upper directory: relative path, kind,
/// meta, what it is, whether it lies in an opaque directory, the open file.
type UpperVisit<'a> =
    dyn FnMut(&str, &Kind, &Meta, Entry, bool, Option<&mut File>) -> io::Result<()> + 'a;

impl Layers {
    fn below(&self, rel: &str) -> Option<Stat> {
        self.lowers.iter().find_map(|l| stat_below(l.as_fd(), rel))
    }

    /// Walks the upper directory, calling `f` with each entry (relative
    /// path, kind, meta, what it is, whether it lies in an opaque
    /// directory, the open file), the runtime's mount points left out.
    /// A directory that differs from the one below only in the time the
    /// runtime gave it by making a mount point in it comes as
    /// [`Entry::RuntimeDir`], and only before an entry below it.
    fn walk(&self, f: &mut UpperVisit<'_>) -> io::Result<()> {
        let root = open_tree(&self.upper)?;
        let mut opaque: Vec<String> = Vec::new();
        let mut pending: Vec<(String, Kind, Meta)> = Vec::new();
        let under = |p: &str, d: &str| {
            p.len() > d.len() && p.starts_with(d) && p.as_bytes()[d.len()] == b'/'
        };
        let mut visit = |p: &str, k: &Kind, m: &Meta, file: Option<&mut File>| -> io::Result<()> {
            // The walk is depth first: a pending directory it has left had
            // nothing below it.
            pending.retain(|(d, _, _)| under(p, d));
            let in_opaque = opaque.iter().any(|o| under(p, o));
            let entry = match k {
                Kind::Char(0) => Entry::Whiteout,
                Kind::Dir
                    if m.xattrs
                        .iter()
                        .any(|(n, v)| n == OPAQUE_XATTR && v.as_slice() == b"y") =>
                {
                    opaque.push(p.to_string());
                    Entry::Opaque
                }
                _ => Entry::Plain,
            };
            if matches!(entry, Entry::Plain) && self.mount_points.contains(p) {
                let empty = match (k, &file) {
                    (Kind::File, Some(fh)) => {
                        fh.metadata().map(|md| md.len() == 0).unwrap_or(false)
                    }
                    (Kind::Dir, _) => true,
                    _ => false,
                };
                if empty && (in_opaque || self.below(p).is_none()) {
                    return Ok(());
                }
            }
            if matches!((k, &entry), (Kind::Dir, Entry::Plain)) && !in_opaque {
                let has_mount_point = self
                    .mount_points
                    .iter()
                    .any(|mp| mp.rsplit_once('/').map_or("", |(d, _)| d) == p);
                let same = self.below(p).is_some_and(|st| {
                    FileType::from_raw_mode(st.st_mode) == FileType::Directory
                        && st.st_mode & 0o7777 == m.mode
                        && st.st_uid == m.uid
                        && st.st_gid == m.gid
                });
                if has_mount_point && same {
                    pending.push((p.to_string(), k.clone(), m.clone()));
                    return Ok(());
                }
            }
            for (d, dk, dm) in pending.drain(..) {
                f(&d, &dk, &dm, Entry::RuntimeDir, false, None)?;
            }
            f(p, k, m, entry, in_opaque, file)
        };
        let mut w = Walker::new(&mut visit, true);
        w.children(root.as_fd(), "")
    }

    /// docker's changes, in its order.
    pub(crate) fn changes(&self) -> io::Result<Vec<ContainerChange>> {
        // Each change with whether it stands: a directory only the
        // runtime's mount points changed is reported only as the parent of
        // an added or deleted entry, but then in its own place (before its
        // children), as docker reports a directory whose time changed.
        let mut out: Vec<(ContainerChange, bool)> = Vec::new();
        let mut tentative: std::collections::HashMap<String, usize> = Default::default();
        let mut changed_dirs: HashSet<String> = HashSet::new();
        let upper_root = open_tree(&self.upper)?;
        self.walk(&mut |p, k, m, entry, in_opaque, _| {
            let path = format!("/{p}");
            if matches!(entry, Entry::RuntimeDir) {
                tentative.insert(path.clone(), out.len());
                out.push((
                    ContainerChange {
                        path,
                        kind: ChangeKind::Modified,
                    },
                    false,
                ));
                return Ok(());
            }
            let below = if in_opaque { None } else { self.below(p) };
            let kind = match entry {
                Entry::Whiteout => ChangeKind::Deleted,
                _ => match &below {
                    None => ChangeKind::Added,
                    Some(st) => {
                        let same_dir = matches!(k, Kind::Dir)
                            && matches!(entry, Entry::Plain)
                            && FileType::from_raw_mode(st.st_mode) == FileType::Directory
                            && st.st_mode & 0o7777 == m.mode
                            && st.st_uid == m.uid
                            && st.st_gid == m.gid
                            && st.st_mtime == m.mtime;
                        if same_dir {
                            return Ok(());
                        }
                        ChangeKind::Modified
                    }
                },
            };
            if matches!(k, Kind::Dir) {
                changed_dirs.insert(path.clone());
            }
            if kind != ChangeKind::Modified {
                let parent = match path.rfind('/') {
                    Some(0) | None => "/".to_string(),
                    Some(i) => path[..i].to_string(),
                };
                if parent != "/" && changed_dirs.insert(parent.clone()) {
                    match tentative.get(&parent) {
                        Some(&i) => out[i].1 = true,
                        None => out.push((
                            ContainerChange {
                                path: parent,
                                kind: ChangeKind::Modified,
                            },
                            true,
                        )),
                    }
                }
            }
            out.push((
                ContainerChange {
                    path: path.clone(),
                    kind,
                },
                true,
            ));
            // What an opaque directory hides and the container did not
            // make again is deleted.
            if matches!(entry, Entry::Opaque) && below.is_some() {
                let here: HashSet<Vec<u8>> =
                    names_below(upper_root.as_fd(), p).into_iter().collect();
                let mut hidden: Vec<Vec<u8>> = self
                    .lowers
                    .iter()
                    .flat_map(|l| names_below(l.as_fd(), p))
                    .filter(|n| !here.contains(n))
                    .collect();
                hidden.sort();
                hidden.dedup();
                for n in hidden {
                    out.push((
                        ContainerChange {
                            path: format!("{path}/{}", OsStr::from_bytes(&n).to_string_lossy()),
                            kind: ChangeKind::Deleted,
                        },
                        true,
                    ));
                }
            }
            Ok(())
        })?;
        Ok(out
            .into_iter()
            .filter_map(|(c, stands)| stands.then_some(c))
            .collect())
    }

    /// The upper directory as an OCI layer tar into `w`: a whiteout as an
    /// empty `.wh.NAME` file, an opaque directory with a `.wh..wh..opq`
    /// entry in it. Returns whether the layer has any entry.
    pub(crate) fn layer_tar<W: Write>(&self, w: W) -> io::Result<(W, bool)> {
        let mut tar = TarSink::new(w);
        let mut any = false;
        self.walk(&mut |p, k, m, entry, _, file| {
            any = true;
            match entry {
                Entry::Whiteout => {
                    let (dir, name) = match p.rsplit_once('/') {
                        Some((d, n)) => (format!("{d}/"), n),
                        None => (String::new(), p),
                    };
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_uid(0);
                    h.set_gid(0);
                    h.set_mtime(m.mtime.max(0) as u64);
                    h.set_size(0);
                    tar.builder
                        .append_data(&mut h, format!("{dir}.wh.{name}"), io::empty())
                }
                Entry::Opaque => {
                    tar.add(p, k, m, file)?;
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_mtime(m.mtime.max(0) as u64);
                    h.set_size(0);
                    tar.builder
                        .append_data(&mut h, format!("{p}/.wh..wh..opq"), io::empty())
                }
                Entry::Plain | Entry::RuntimeDir => tar.add(p, k, m, file),
            }
        })?;
        Ok((tar.finish()?, any))
    }
}

impl Engine {
    /// The layers of container `id`.
    pub(crate) fn layers(&self, id: &str) -> Result<Layers> {
        let c = self.load_config(id)?;
        let lowers = c
            .lowers
            .iter()
            .map(|l| open_tree(l).map_err(|e| Error::io(format!("open {}", l.display()), e)))
            .collect::<Result<Vec<_>>>()?;
        let spec = self.container_dir(id).join("bundle/config.json");
        let mut mount_points: HashSet<String> = c
            .mounts
            .iter()
            .map(|m| m.destination.trim_start_matches('/').to_string())
            .collect();
        if let Ok(data) = std::fs::read(&spec) {
            if let Ok(s) = serde_json::from_slice::<oci_spec::runtime::Spec>(&data) {
                for m in s.mounts().iter().flatten() {
                    let d = m.destination().to_string_lossy();
                    mount_points.insert(d.trim_start_matches('/').to_string());
                }
            }
        }
        Ok(Layers {
            upper: self.container_dir(id).join("upper"),
            lowers,
            mount_points,
        })
    }

    /// `diff`: the container's filesystem changes, docker's
    /// `GET /containers/{id}/changes`.
    pub fn diff(&self, req: &DiffRequest) -> Result<Vec<ContainerChange>> {
        let id = self.lookup(&req.container)?;
        let layers = self.layers(&id)?;
        layers
            .changes()
            .map_err(|e| Error::io(format!("read the changes of container {id}"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(upper: &Path, lower: &Path, mounts: &[&str]) -> Layers {
        Layers {
            upper: upper.to_path_buf(),
            lowers: vec![open_tree(lower).unwrap()],
            mount_points: mounts.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn list(l: &Layers) -> Vec<String> {
        l.changes()
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path))
            .collect()
    }

    #[test]
    fn changes_json_is_the_engine_api_shape() {
        let c = ContainerChange {
            path: "/a".into(),
            kind: ChangeKind::Deleted,
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"Path":"/a","Kind":2}"#
        );
    }

    /// Whiteouts, opaque directories, additions, modifications and the
    /// runtime's mount points, read from a real upper/lower pair; and the
    /// same upper as an OCI layer.
    #[test]
    fn upper_dir_changes_and_layer() {
        let t = tempfile::tempdir().unwrap();
        let (lower, upper) = (t.path().join("lower"), t.path().join("upper"));
        for d in ["etc", "opq/old", "keep"] {
            std::fs::create_dir_all(lower.join(d)).unwrap();
            std::fs::create_dir_all(upper.join(d)).unwrap();
        }
        std::fs::write(lower.join("etc/a"), "a").unwrap();
        std::fs::write(lower.join("etc/gone"), "g").unwrap();
        std::fs::write(lower.join("opq/x"), "x").unwrap();
        std::fs::write(upper.join("etc/a"), "changed").unwrap();
        std::fs::create_dir_all(upper.join("new/sub")).unwrap();
        std::fs::write(upper.join("new/sub/f"), "f").unwrap();
        let up = open_tree(&upper).unwrap();
        rfs::mknodat(
            &up,
            "etc/gone",
            FileType::CharacterDevice,
            Mode::from_raw_mode(0),
            0,
        )
        .unwrap();
        // The runtime's mount point in keep/, which gave keep/ a new time.
        std::fs::write(upper.join("keep/hosts"), "").unwrap();
        std::fs::remove_dir_all(upper.join("opq/old")).unwrap();
        std::fs::write(upper.join("opq/y"), "y").unwrap();
        let opaque = rfs::setxattr(
            upper.join("opq"),
            "trusted.overlay.opaque",
            b"y",
            rfs::XattrFlags::empty(),
        );
        // Directories with the lower's times: not changes of their own.
        for d in ["etc", "keep", "opq"] {
            let mt = std::fs::metadata(lower.join(d))
                .unwrap()
                .modified()
                .unwrap();
            std::fs::File::open(upper.join(d))
                .unwrap()
                .set_modified(mt)
                .unwrap();
        }
        let l = layers(&upper, &lower, &["keep/hosts"]);
        let got = list(&l);
        // (The parent of a deleted entry is changed; docker lists it when
        // it gets there.)
        let mut want = vec![
            "C /etc/a",
            "C /etc",
            "D /etc/gone",
            "A /new",
            "A /new/sub",
            "A /new/sub/f",
        ];
        if opaque.is_ok() {
            want.extend(["C /opq", "D /opq/old", "D /opq/x", "A /opq/y"]);
        } else {
            eprintln!("no trusted xattrs here: opaque directories not checked");
            want.extend(["C /opq", "A /opq/y"]);
        }
        assert_eq!(got, want);

        let (tar, any) = l.layer_tar(Vec::new()).unwrap();
        assert!(any);
        let mut names = Vec::new();
        let mut ar = tar::Archive::new(&tar[..]);
        for e in ar.entries().unwrap() {
            names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
        }
        assert!(names.contains(&"etc/.wh.gone".to_string()), "{names:?}");
        assert!(names.contains(&"new/sub/f".to_string()), "{names:?}");
        assert!(
            !names
                .iter()
                .any(|n| n.contains("hosts") || n.starts_with("keep")),
            "{names:?}"
        );
        if opaque.is_ok() {
            assert!(names.contains(&"opq/.wh..wh..opq".to_string()), "{names:?}");
        }

        // Nothing but the runtime's mount point: no change, an empty layer.
        std::fs::remove_dir_all(&upper).unwrap();
        std::fs::create_dir_all(upper.join("keep")).unwrap();
        std::fs::write(upper.join("keep/hosts"), "").unwrap();
        let l = layers(&upper, &lower, &["keep/hosts"]);
        assert!(list(&l).is_empty());
        assert!(!l.layer_tar(Vec::new()).unwrap().1);
    }
}
