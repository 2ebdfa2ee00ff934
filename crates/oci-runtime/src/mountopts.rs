//! Parsing of mount options (`ro`, `nosuid`, `rbind`, `rslave`, `mode=755`…)
//! into mount(2) flags, propagation changes and filesystem data.

use nix::mount::MsFlags;

#[derive(Debug, Clone, PartialEq)]
pub struct MountOptions {
    /// Flags for the mount call itself.
    pub flags: MsFlags,
    /// Propagation changes applied after the mount, in order.
    pub propagation: Vec<MsFlags>,
    /// Filesystem-specific data (`mode=755,size=65536k`).
    pub data: String,
    /// Bind mount (`bind` or `rbind`).
    pub bind: bool,
    /// Recursive bind (`rbind`).
    pub recursive: bool,
    /// Recursive read-only etc. (`rro`, `rnosuid`…) applied with mount_setattr.
    pub recursive_attrs: Vec<String>,
    /// crun's `tmpcopyup`: copy what the mountpoint held into the new tmpfs.
    pub tmpcopyup: bool,
    /// `idmap` / `ridmap`: an id-mapped mount.
    pub idmap: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
            bind: false,
            recursive: false,
            recursive_attrs: Vec::new(),
            tmpcopyup: false,
            idmap: false,
        }
    }
}

impl MountOptions {
    /// Flags that need a remount to take effect on a bind mount.
    pub fn remount_flags(&self) -> MsFlags {
        self.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
    }
}

pub fn parse(options: &[String], typ: Option<&str>) -> MountOptions {
    let mut o = MountOptions::default();
    let mut data = Vec::new();
    for opt in options {
        let (set, clear, prop): (MsFlags, MsFlags, Option<MsFlags>) = match opt.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty(), None),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY, None),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty(), None),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID, None),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty(), None),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV, None),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty(), None),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC, None),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty(), None),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS, None),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty(), None),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty(), None),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty(), None),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK, None),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME, None),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty(), None),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME, None),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty(), None),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty(), None),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME, None),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty(), None),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME, None),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty(), None),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME, None),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty(), None),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT, None),
            "bind" => {
                o.bind = true;
                (MsFlags::MS_BIND, MsFlags::empty(), None)
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty(), None)
            }
            "private" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_PRIVATE),
            ),
            "rprivate" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
            ),
            "shared" => (MsFlags::empty(), MsFlags::empty(), Some(MsFlags::MS_SHARED)),
            "rshared" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_SHARED | MsFlags::MS_REC),
            ),
            "slave" => (MsFlags::empty(), MsFlags::empty(), Some(MsFlags::MS_SLAVE)),
            "rslave" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_SLAVE | MsFlags::MS_REC),
            ),
            "unbindable" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_UNBINDABLE),
            ),
            "runbindable" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
            ),
            "tmpcopyup" => {
                o.tmpcopyup = true;
                continue;
            }
            "idmap" | "ridmap" => {
                o.idmap = true;
                continue;
            }
            "rro" | "rrw" | "rnosuid" | "rsuid" | "rnodev" | "rdev" | "rnoexec" | "rexec"
            | "rnoatime" | "ratime" | "rrelatime" | "rnorelatime" | "rstrictatime"
            | "rnodiratime" | "rdiratime" | "rnosymfollow" | "rsymfollow" => {
                o.recursive_attrs.push(opt.clone());
                continue;
            }
            // Options consumed by user-space mount helpers, meaningless to the kernel.
            "defaults" | "auto" | "noauto" | "user" | "nouser" | "_netdev" | "nofail" => continue,
            other => {
                data.push(other.to_string());
                continue;
            }
        };
        o.flags |= set;
        o.flags &= !clear;
        if let Some(p) = prop {
            o.propagation.push(p);
        }
    }
    if typ == Some("bind") && !o.bind {
        o.bind = true;
        o.flags |= MsFlags::MS_BIND;
    }
    o.data = data.join(",");
    o
}

/// MOUNT_ATTR_* bits (set, clear) for recursive options like `rro`.
pub fn recursive_attr_bits(opts: &[String]) -> (u64, u64) {
    const RDONLY: u64 = 0x1;
    const NOSUID: u64 = 0x2;
    const NODEV: u64 = 0x4;
    const NOEXEC: u64 = 0x8;
    const ATIME_MASK: u64 = 0x70;
    const NOATIME: u64 = 0x10;
    const STRICTATIME: u64 = 0x20;
    const NODIRATIME: u64 = 0x80;
    const NOSYMFOLLOW: u64 = 0x0020_0000;
    let (mut set, mut clr) = (0u64, 0u64);
    for o in opts {
        let (s, c) = match o.as_str() {
            "rro" => (RDONLY, 0),
            "rrw" => (0, RDONLY),
            "rnosuid" => (NOSUID, 0),
            "rsuid" => (0, NOSUID),
            "rnodev" => (NODEV, 0),
            "rdev" => (0, NODEV),
            "rnoexec" => (NOEXEC, 0),
            "rexec" => (0, NOEXEC),
            "rnodiratime" => (NODIRATIME, 0),
            "rdiratime" => (0, NODIRATIME),
            "rnosymfollow" => (NOSYMFOLLOW, 0),
            "rsymfollow" => (0, NOSYMFOLLOW),
            // The atime mode is one field: clear it, then set the wanted mode.
            "rrelatime" | "ratime" => (0, ATIME_MASK),
            "rnoatime" => (NOATIME, ATIME_MASK),
            "rstrictatime" => (STRICTATIME, ATIME_MASK),
            "rnorelatime" => (STRICTATIME, ATIME_MASK),
            _ => (0, 0),
        };
        set = (set & !c) | s;
        clr = (clr & !s) | c;
    }
    (set, clr)
}

/// The propagation flag for `linux.rootfsPropagation`.
pub fn propagation(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str], typ: Option<&str>) -> MountOptions {
        parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>(), typ)
    }

    #[test]
    fn flags_and_data() {
        let o = p(
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
            Some("tmpfs"),
        );
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(!o.bind);
    }

    #[test]
    fn later_option_wins() {
        let o = p(&["ro", "rw"], None);
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        let o = p(&["rw", "ro"], None);
        assert!(o.flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn binds_and_propagation() {
        let o = p(&["rbind", "ro", "rslave"], None);
        assert!(o.bind && o.recursive);
        assert_eq!(o.remount_flags(), MsFlags::MS_RDONLY);
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        let o = p(&[], Some("bind"));
        assert!(o.bind && !o.recursive);
    }

    #[test]
    fn extensions() {
        let o = p(&["tmpcopyup", "rro", "idmap", "defaults"], None);
        assert!(o.tmpcopyup && o.idmap);
        assert_eq!(o.recursive_attrs, vec!["rro".to_string()]);
        assert_eq!(o.data, "");
    }

    #[test]
    fn recursive_bits() {
        let v =
            |x: &[&str]| recursive_attr_bits(&x.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(v(&["rro", "rnosuid"]), (0x3, 0));
        assert_eq!(v(&["rro", "rrw"]), (0, 0x1));
        assert_eq!(v(&["rnoatime"]), (0x10, 0x70));
    }

    #[test]
    fn rootfs_propagation() {
        assert_eq!(
            propagation("rslave"),
            Some(MsFlags::MS_SLAVE | MsFlags::MS_REC)
        );
        assert_eq!(propagation("bogus"), None);
    }
}
