//! `--user`: `uid[:gid]` or names looked up in the image's /etc/passwd and
//! /etc/group (libcontainer's `GetExecUser` rules, as docker uses them).

use crate::error::{Error, Result};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use std::collections::VecDeque;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

/// A read-only view of an image's files through its layers (top first),
/// merged as overlayfs merges them (whiteouts, opaque directories).
///
/// Every lookup stays inside the image: a path is walked one component at
/// a time with `*at` calls on directory descriptors (`O_NOFOLLOW`), and a
/// symlink met on the way is resolved in the merged view with the root of
/// the image as `/` (as `RESOLVE_IN_ROOT` does): `/etc` → `/etc` of the
/// host, or `../../..`, still lands in the image.
#[derive(Debug, Clone)]
pub struct LayerView {
    pub lowers: Vec<PathBuf>,
}

/// What a path of a [`LayerView`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Dir,
    /// A regular file.
    File,
    /// A device node, FIFO or socket.
    Other,
    /// Nothing (or a component before the last one is not a directory).
    Missing,
}

/// A path of a [`LayerView`] with its symlinks resolved inside the image.
#[derive(Debug)]
pub struct Resolved {
    /// Absolute, cleaned, without symlinks (missing components appended as
    /// given, `..` applied lexically).
    pub path: String,
    pub found: Found,
    /// The entry (`O_PATH`), when it exists and is not a directory.
    entry: Option<OwnedFd>,
}

/// Symlinks followed in one lookup before giving up (the kernel's limit).
const MAX_LINKS: usize = 40;
/// Largest image file read (passwd, group).
const MAX_READ: u64 = 16 << 20;

enum Entry {
    Missing,
    Symlink(Vec<u8>),
    /// The directory's descriptors in the layers that make it, top first.
    Dir(Vec<OwnedFd>),
    NonDir(OwnedFd, Found),
}

fn ftype(st: &rfs::Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// Whether `dir` hides the layers below it (overlay's opaque xattr, or an
/// OCI `.wh..wh..opq` marker).
fn opaque(dir: BorrowedFd) -> bool {
    let mut v = [0u8; 4];
    matches!(rfs::fgetxattr(dir, "trusted.overlay.opaque", &mut v[..]), Ok(1) if v[0] == b'y')
        || rfs::statat(dir, ".wh..wh..opq", AtFlags::SYMLINK_NOFOLLOW).is_ok()
}

/// `name` in the merged directory made of `dirs` (top layer first).
fn lookup(dirs: &[OwnedFd], name: &str) -> Entry {
    let open_dir = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut merged: Vec<OwnedFd> = Vec::new();
    for d in dirs {
        if rfs::statat(d, format!(".wh.{name}").as_str(), AtFlags::SYMLINK_NOFOLLOW).is_ok() {
            break;
        }
        let Ok(st) = rfs::statat(d, name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        let kind = ftype(&st);
        if kind == FileType::CharacterDevice && st.st_rdev == 0 {
            break; // an overlay whiteout
        }
        if kind != FileType::Directory {
            if !merged.is_empty() {
                break; // a non-directory below a directory: hidden, and hides the rest
            }
            if kind == FileType::Symlink {
                return match rfs::readlinkat(d, name, Vec::new()) {
                    Ok(t) => Entry::Symlink(t.into_bytes()),
                    Err(_) => Entry::Missing,
                };
            }
            let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            return match rfs::openat(d, name, flags, Mode::empty()) {
                Ok(fd) => {
                    let found = if kind == FileType::RegularFile {
                        Found::File
                    } else {
                        Found::Other
                    };
                    Entry::NonDir(fd, found)
                }
                Err(_) => Entry::Missing,
            };
        }
        let Ok(fd) = rfs::openat(d, name, open_dir, Mode::empty()) else {
            break;
        };
        let stop = opaque(fd.as_fd());
        merged.push(fd);
        if stop {
            break;
        }
    }
    if merged.is_empty() {
        Entry::Missing
    } else {
        Entry::Dir(merged)
    }
}

fn components(p: &[u8]) -> impl Iterator<Item = String> + '_ {
    p.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| String::from_utf8_lossy(c).into_owned())
}

impl LayerView {
    /// Resolves `path` inside the image, following its symlinks the way
    /// the kernel does with the image's root as `/`.
    pub fn resolve(&self, path: &str) -> Resolved {
        let root_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let roots: Vec<OwnedFd> = self
            .lowers
            .iter()
            .filter_map(|l| rfs::open(l, root_flags, Mode::empty()).ok())
            .collect();
        let mut todo: VecDeque<String> = components(path.as_bytes()).collect();
        // The directories walked so far: (name, its layers).
        let mut stack: Vec<(String, Vec<OwnedFd>)> = Vec::new();
        let mut links = 0;
        let joined = |stack: &[(String, Vec<OwnedFd>)], rest: &mut VecDeque<String>| {
            let mut names: Vec<String> = stack.iter().map(|(n, _)| n.clone()).collect();
            for c in rest.drain(..) {
                if c == ".." {
                    names.pop();
                } else {
                    names.push(c);
                }
            }
            format!("/{}", names.join("/"))
        };
        while let Some(c) = todo.pop_front() {
            if c == ".." {
                stack.pop();
                continue;
            }
            let cur = stack.last().map_or(&roots, |(_, d)| d);
            match lookup(cur, &c) {
                Entry::Dir(dirs) => stack.push((c, dirs)),
                Entry::Symlink(target) => {
                    links += 1;
                    if links > MAX_LINKS {
                        todo.push_front(c);
                        return Resolved {
                            path: joined(&stack, &mut todo),
                            found: Found::Missing,
                            entry: None,
                        };
                    }
                    if target.first() == Some(&b'/') {
                        stack.clear();
                    }
                    let t: Vec<String> = components(&target).collect();
                    for x in t.into_iter().rev() {
                        todo.push_front(x);
                    }
                }
                Entry::NonDir(fd, found) => {
                    let last = todo.is_empty();
                    todo.push_front(c);
                    return Resolved {
                        path: joined(&stack, &mut todo),
                        found: if last { found } else { Found::Missing },
                        entry: last.then_some(fd),
                    };
                }
                Entry::Missing => {
                    todo.push_front(c);
                    return Resolved {
                        path: joined(&stack, &mut todo),
                        found: Found::Missing,
                        entry: None,
                    };
                }
            }
        }
        Resolved {
            path: joined(&stack, &mut todo),
            found: Found::Dir,
            entry: None,
        }
    }

    /// The content of the regular file `path` of the image (symlinks
    /// followed inside the image), or `None`.
    pub fn read(&self, path: &str) -> Option<String> {
        let r = self.resolve(path);
        let fd = r.entry.filter(|_| r.found == Found::File)?;
        let (f, _) = crate::fscopy::open_regular(&fd).ok()?;
        let mut data = Vec::new();
        f.take(MAX_READ).read_to_end(&mut data).ok()?;
        Some(String::from_utf8_lossy(&data).into_owned())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).unwrap_or(&"/").to_string(),
            })
        })
        .collect()
}

fn groups(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|x| !x.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The id of group `name` in an /etc/group text.
pub fn group_id(etc_group: &str, name: &str) -> Option<u32> {
    groups(etc_group)
        .into_iter()
        .find(|g| g.name == name)
        .map(|g| g.gid)
}

/// The id of the host's group `name` (read from /etc/group, without NSS:
/// the static binary has none).
pub fn host_group_id(name: &str) -> Option<u32> {
    group_id(&std::fs::read_to_string("/etc/group").ok()?, name)
}

/// The id of a user or group name the image's passwd/group file does not
/// list: `root` is 0 (BuildKit's parseUID, docker's `--user root` on an
/// image without /etc/passwd); any other name is unknown.
pub fn builtin_id(name: &str) -> Option<u32> {
    (name == "root").then_some(0)
}

/// Resolves `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`) plus
/// `--group-add` entries against the image's files.
pub fn resolve(spec: &str, group_add: &[String], view: &LayerView) -> Result<ExecUser> {
    let pw = passwd(&view.read("/etc/passwd").unwrap_or_default());
    let gr = groups(&view.read("/etc/group").unwrap_or_default());
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let bad = |why: String| Error::flag("--user", spec, why);
    let mut user = ExecUser {
        uid: 0,
        gid: 0,
        additional_gids: vec![],
        home: "/".into(),
    };
    let mut found_name: Option<String> = None;
    if !u.is_empty() {
        let entry = match u.parse::<u32>() {
            Ok(n) => pw.iter().find(|e| e.uid == n),
            Err(_) => pw.iter().find(|e| e.name == u),
        };
        match (entry, u.parse::<u32>()) {
            (Some(e), _) => {
                user.uid = e.uid;
                user.gid = e.gid;
                user.home = e.home.clone();
                found_name = Some(e.name.clone());
            }
            (None, Ok(n)) => user.uid = n,
            (None, Err(_)) if builtin_id(u).is_some() => {
                user.uid = builtin_id(u).unwrap_or(0);
                user.gid = user.uid;
            }
            (None, Err(_)) => {
                return Err(bad(format!(
                    "unable to find user {u}: no matching entries in passwd file"
                )))
            }
        }
    }
    match g {
        Some(g) if !g.is_empty() => {
            user.gid = match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => gr
                    .iter()
                    .find(|e| e.name == g)
                    .map(|e| e.gid)
                    .or_else(|| builtin_id(g))
                    .ok_or_else(|| {
                        bad(format!(
                            "unable to find group {g}: no matching entries in group file"
                        ))
                    })?,
            }
        }
        _ => {
            if let Some(name) = &found_name {
                for e in gr.iter().filter(|e| e.members.iter().any(|m| m == name)) {
                    if !user.additional_gids.contains(&e.gid) {
                        user.additional_gids.push(e.gid);
                    }
                }
            }
        }
    }
    // The primary group is always a supplementary group too (as containerd's
    // WithAdditionalGIDs and current docker do).
    if !user.additional_gids.contains(&user.gid) {
        user.additional_gids.insert(0, user.gid);
    }
    for a in group_add {
        let gid = match a.parse::<u32>() {
            Ok(n) => n,
            Err(_) => gr
                .iter()
                .find(|e| e.name == *a)
                .map(|e| e.gid)
                .ok_or_else(|| {
                    Error::flag("--group-add", a, "no matching entries in group file")
                })?,
        };
        if !user.additional_gids.contains(&gid) {
            user.additional_gids.push(gid);
        }
    }
    // setresuid(2) reads -1 (4294967295) as "leave unchanged": the process
    // would stay root. Docker (moby/sys/user) allows 0 to 2^31-1.
    let ids = [user.uid, user.gid]
        .into_iter()
        .chain(user.additional_gids.iter().copied());
    if let Some(id) = ids.into_iter().find(|id| *id > MAX_ID) {
        return Err(bad(format!(
            "uid or gid {id} out of range: uids and gids must be in range 0-{MAX_ID}"
        )));
    }
    Ok(user)
}

/// The largest uid or gid a container process may have.
pub const MAX_ID: u32 = i32::MAX as u32;

#[cfg(test)]
mod tests {

    #[test]
    fn group_ids_from_etc_group() {
        let t = "# c\nroot:x:0:\nberth:x:998:alice,bob\nbad line\n";
        assert_eq!(group_id(t, "berth"), Some(998));
        assert_eq!(group_id(t, "root"), Some(0));
        assert_eq!(group_id(t, "docker"), None);
    }

    use super::*;

    fn view() -> (tempfile::TempDir, LayerView) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nwww:x:33:\nstaff:x:50:www,other\n",
        )
        .unwrap();
        let v = LayerView {
            lowers: vec![d.path().to_path_buf()],
        };
        (d, v)
    }

    #[test]
    fn names_and_numbers() {
        let (_d, v) = view();
        let u = resolve("www", &[], &v).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (33, 33, "/var/www"));
        assert_eq!(u.additional_gids, vec![33, 50]);
        let u = resolve("www:root", &[], &v).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids.clone()), (33, 0, vec![0]));
        let u = resolve("1234:5", &["staff".into(), "7".into()], &v).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone()),
            (1234, 5, vec![5, 50, 7])
        );
        assert_eq!(resolve("", &[], &v).unwrap().uid, 0);
        let e = resolve("nobody", &[], &v).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid --user \"nobody\": unable to find user nobody"),
            "{e}"
        );
        assert!(resolve("www:nogroup", &[], &v).is_err());
    }

    /// `root` without a passwd/group file is 0 (BuildKit, docker); other
    /// names still need an entry.
    #[test]
    fn root_without_passwd_is_zero() {
        let d = tempfile::tempdir().unwrap();
        let v = LayerView {
            lowers: vec![d.path().to_path_buf()],
        };
        for spec in ["root", "root:root", "0:root", "root:0"] {
            let u = resolve(spec, &[], &v).unwrap();
            assert_eq!((u.uid, u.gid), (0, 0), "{spec}");
        }
        assert!(resolve("daemon", &[], &v).is_err());
        assert!(resolve("root:wheel", &[], &v).is_err());
    }

    /// An image whose /etc, or /etc/passwd, is a symlink to an absolute
    /// host path: the lookup resolves it inside the image, never on the
    /// host (where a user exists that the image does not have).
    #[test]
    fn user_lookup_does_not_follow_links_out_of_root() {
        let host = tempfile::tempdir().unwrap();
        let host_etc = host.path().join("etc");
        std::fs::create_dir_all(&host_etc).unwrap();
        std::fs::write(
            host_etc.join("passwd"),
            "hostonly:x:4242:4242::/h:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(host_etc.join("group"), "hostgrp:x:4343:\n").unwrap();
        let img = tempfile::tempdir().unwrap();
        let v = LayerView {
            lowers: vec![img.path().to_path_buf()],
        };
        // /etc -> <host etc> (absolute).
        std::os::unix::fs::symlink(&host_etc, img.path().join("etc")).unwrap();
        assert!(v.read("/etc/passwd").is_none());
        let e = resolve("hostonly", &[], &v).unwrap_err().to_string();
        assert!(e.contains("unable to find user hostonly"), "{e}");
        assert!(resolve("0:hostgrp", &[], &v).is_err());
        // /etc/passwd -> ../../../<host passwd>, and a relative climb.
        std::fs::remove_file(img.path().join("etc")).unwrap();
        std::fs::create_dir(img.path().join("etc")).unwrap();
        let climb = format!("../../../../../..{}", host_etc.join("passwd").display());
        std::os::unix::fs::symlink(&climb, img.path().join("etc/passwd")).unwrap();
        assert!(v.read("/etc/passwd").is_none());
        assert!(resolve("hostonly", &[], &v).is_err());
        // The same link target made inside the image is what is read.
        let inside = img.path().join(host_etc.strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside).unwrap();
        std::fs::write(inside.join("passwd"), "img:x:7:8::/i:/bin/sh\n").unwrap();
        assert_eq!(resolve("img", &[], &v).unwrap().uid, 7);
        assert!(resolve("hostonly", &[], &v).is_err());
        // A FIFO is not read (nor waited on).
        std::fs::remove_file(img.path().join("etc/passwd")).unwrap();
        nix::unistd::mkfifo(
            &img.path().join("etc/passwd"),
            nix::sys::stat::Mode::S_IRWXU,
        )
        .unwrap();
        assert!(v.read("/etc/passwd").is_none());
    }

    #[test]
    fn layer_view_merges_like_overlay() {
        let (lower, upper) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (l, u) = (lower.path(), upper.path());
        for d in ["etc", "opq", "w"] {
            std::fs::create_dir_all(l.join(d)).unwrap();
        }
        std::fs::write(l.join("etc/passwd"), "low:x:1:1::/:/bin/sh\n").unwrap();
        std::fs::write(l.join("etc/group"), "g:x:1:\n").unwrap();
        std::fs::write(l.join("opq/f"), "x").unwrap();
        std::fs::create_dir_all(u.join("etc")).unwrap();
        std::fs::create_dir_all(u.join("opq")).unwrap();
        std::fs::write(u.join("etc/.wh.group"), "").unwrap();
        std::fs::write(u.join("opq/.wh..wh..opq"), "").unwrap();
        // /app -> w/app (relative, missing) and /abs -> /w/../w/new.
        std::os::unix::fs::symlink("w/app", u.join("app")).unwrap();
        std::os::unix::fs::symlink("/w/../w/new", u.join("abs")).unwrap();
        let v = LayerView {
            lowers: vec![u.to_path_buf(), l.to_path_buf()],
        };
        assert_eq!(v.read("/etc/passwd").unwrap(), "low:x:1:1::/:/bin/sh\n");
        assert!(v.read("/etc/group").is_none(), "whited out");
        assert_eq!(v.resolve("/opq/f").found, Found::Missing, "opaque");
        let r = v.resolve("/app/sub/../x");
        assert_eq!((r.path.as_str(), r.found), ("/w/app/x", Found::Missing));
        let r = v.resolve("/abs");
        assert_eq!((r.path.as_str(), r.found), ("/w/new", Found::Missing));
        let r = v.resolve("/../etc/./");
        assert_eq!((r.path.as_str(), r.found), ("/etc", Found::Dir));
        let r = v.resolve("/etc/passwd/x");
        assert_eq!(r.found, Found::Missing);
        // A loop ends.
        std::os::unix::fs::symlink("/loop", u.join("loop")).unwrap();
        assert_eq!(v.resolve("/loop/x").found, Found::Missing);
    }
}
