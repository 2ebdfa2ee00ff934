//! Namespaces: which to create, which to join, in which order.

use crate::error::{Context, Error, Result};
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The name under /proc/PID/ns/.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// The namespace plan of a container.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Namespaces to create (without user, which is unshared first on its own).
    pub new: CloneFlags,
    pub new_user: bool,
    /// Namespaces to join: (type, path), user first and mount last.
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
}

impl Plan {
    pub fn from_spec(spec: &Spec) -> Plan {
        Self::from_list(
            spec.linux()
                .as_ref()
                .and_then(|l| l.namespaces().clone())
                .unwrap_or_default()
                .as_slice(),
        )
    }

    pub fn from_list(list: &[LinuxNamespace]) -> Plan {
        let mut p = Plan {
            new: CloneFlags::empty(),
            new_user: false,
            join: Vec::new(),
        };
        for ns in list {
            match ns.path() {
                Some(path) if !path.as_os_str().is_empty() => p.join.push((ns.typ(), path.clone())),
                _ if ns.typ() == LinuxNamespaceType::User => p.new_user = true,
                _ => p.new |= flag(ns.typ()),
            }
        }
        let rank = |t: &LinuxNamespaceType| match t {
            LinuxNamespaceType::User => 0,
            LinuxNamespaceType::Mount => 2,
            _ => 1,
        };
        p.join.sort_by_key(|(t, _)| rank(t));
        p
    }

    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        (t == LinuxNamespaceType::User && self.new_user)
            || self.new.contains(flag(t))
            || self.join.iter().any(|(x, _)| *x == t)
    }

    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        (t == LinuxNamespaceType::User && self.new_user)
            || (t != LinuxNamespaceType::User && self.new.contains(flag(t)))
    }

    /// A pid or time namespace only applies to children: init must be forked after it.
    pub fn needs_fork(&self) -> bool {
        self.new.contains(CloneFlags::CLONE_NEWPID)
            || self.new.contains(flag(LinuxNamespaceType::Time))
            || self
                .join
                .iter()
                .any(|(t, _)| matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time))
    }
}

/// Opens every namespace to join (before any setns changes what paths mean).
pub fn open_joins(plan: &Plan) -> Result<Vec<(LinuxNamespaceType, OwnedFd)>> {
    plan.join
        .iter()
        .map(|(t, p)| {
            let f = std::fs::File::open(p).ctx(|| {
                format!(
                    "linux.namespaces: cannot open {} namespace {}",
                    proc_name(*t),
                    p.display()
                )
            })?;
            Ok((*t, OwnedFd::from(f)))
        })
        .collect()
}

pub fn setns(t: LinuxNamespaceType, fd: &OwnedFd) -> Result<()> {
    nix::sched::setns(fd, flag(t)).map_err(|e| Error::Io {
        context: format!("linux.namespaces: cannot join {} namespace", proc_name(t)),
        source: std::io::Error::from_raw_os_error(e as i32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_orders_joins() {
        let list: Vec<LinuxNamespace> = serde_json::from_value(serde_json::json!([
            {"type": "mount", "path": "/proc/1/ns/mnt"},
            {"type": "pid"},
            {"type": "network", "path": "/proc/1/ns/net"},
            {"type": "user", "path": "/proc/1/ns/user"},
            {"type": "uts"}
        ]))
        .unwrap();
        let p = Plan::from_list(&list);
        assert_eq!(
            p.join.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            vec![
                LinuxNamespaceType::User,
                LinuxNamespaceType::Network,
                LinuxNamespaceType::Mount
            ]
        );
        assert!(p
            .new
            .contains(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWUTS));
        assert!(!p.new_user);
        assert!(p.needs_fork());
        assert!(p.has(LinuxNamespaceType::Mount) && !p.creates(LinuxNamespaceType::Mount));
    }
}
