//! `--user`: `uid[:gid]` or names looked up in the image's /etc/passwd and
//! /etc/group (libcontainer's `GetExecUser` rules, as docker uses them).

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// A read-only view of an image's files through its layers (top first),
/// honouring whiteouts.
#[derive(Debug, Clone)]
pub struct LayerView {
    pub lowers: Vec<PathBuf>,
}

impl LayerView {
    pub fn read(&self, path: &str) -> Option<String> {
        let rel = path.trim_start_matches('/');
        let p = Path::new(rel);
        let (dir, name) = (p.parent()?, p.file_name()?.to_string_lossy().into_owned());
        for l in &self.lowers {
            if l.join(dir).join(format!(".wh.{name}")).exists() {
                return None;
            }
            let full = l.join(rel);
            if let Ok(m) = std::fs::symlink_metadata(&full) {
                if m.file_type().is_symlink() {
                    return None;
                }
                return std::fs::read_to_string(full).ok();
            }
            if l.join(dir).join(".wh..wh..opq").exists() {
                return None;
            }
        }
        None
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
}
