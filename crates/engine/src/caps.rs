//! Capabilities: docker's default set and `--cap-add`/`--cap-drop`
//! (moby's `caps.TweakCapabilities`).

use crate::error::{Error, Result};

/// Every capability, in bit order.
pub const ALL: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's default set (effective mask 0xa80425fb).
pub const DEFAULT: &[&str] = oci_runtime::capabilities::DOCKER_DEFAULT;

/// "All" capabilities: those this kernel knows (up to
/// /proc/sys/kernel/cap_last_cap) that the engine itself may pass on (its
/// bounding set; inside a restricted sandbox that is fewer).
pub fn host_all() -> Vec<String> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(ALL.len() - 1);
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL.iter()
        .enumerate()
        .take(last + 1)
        .filter(|(i, _)| bounding & (1u64 << i) != 0)
        .map(|(_, s)| s.to_string())
        .collect()
}

fn normalize(flag: &str, list: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for c in list {
        let up = c.trim().to_ascii_uppercase();
        if up == "ALL" {
            out.push(up);
            continue;
        }
        let name = if up.starts_with("CAP_") {
            up
        } else {
            format!("CAP_{up}")
        };
        if !ALL.contains(&name.as_str()) {
            return Err(Error::flag(flag, c, "unknown capability"));
        }
        out.push(name);
    }
    Ok(out)
}

/// The container's capability set.
pub fn tweak(adds: &[String], drops: &[String], privileged: bool) -> Result<Vec<String>> {
    if privileged {
        return Ok(host_all());
    }
    let add = normalize("--cap-add", adds)?;
    let drop = normalize("--cap-drop", drops)?;
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") {
        host_all()
            .into_iter()
            .filter(|c| !drop.contains(c))
            .collect()
    } else if drop.iter().any(|c| c == "ALL") {
        add
    } else {
        let mut v: Vec<String> = DEFAULT
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !drop.contains(c))
            .collect();
        v.extend(add);
        v
    };
    let mut seen = std::collections::HashSet::new();
    caps.retain(|c| seen.insert(c.clone()));
    Ok(caps)
}

/// Bit mask of a set, as /proc/PID/status shows it.
pub fn mask(caps: &[String]) -> u64 {
    caps.iter()
        .filter_map(|c| ALL.iter().position(|a| a == c))
        .fold(0u64, |m, i| m | (1u64 << i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn default_mask_is_dockers() {
        assert_eq!(mask(&tweak(&[], &[], false).unwrap()), 0xa80425fb);
    }

    #[test]
    fn add_drop() {
        let c = tweak(&s(&["sys_admin"]), &s(&["CAP_NET_RAW", "mknod"]), false).unwrap();
        assert!(c.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(!c.contains(&"CAP_NET_RAW".to_string()));
        assert!(!c.contains(&"CAP_MKNOD".to_string()));
        assert_eq!(
            tweak(&s(&["kill"]), &s(&["ALL"]), false).unwrap(),
            s(&["CAP_KILL"])
        );
        let all = tweak(&s(&["ALL"]), &s(&["chown"]), false).unwrap();
        assert!(!all.contains(&"CAP_CHOWN".to_string()));
        assert!(all.contains(&"CAP_SYS_ADMIN".to_string()));
        let e = tweak(&s(&["NOPE"]), &[], false).unwrap_err().to_string();
        assert_eq!(e, "invalid --cap-add \"NOPE\": unknown capability");
        assert_eq!(tweak(&[], &[], true).unwrap(), host_all());
    }
}
