//! Seccomp profiles in docker's format, turned into an OCI `linux.seccomp`
//! the way moby's `profiles/seccomp` (`setupSeccomp`) does.
//!
//! The default profile is Docker's: [`MOBY_DEFAULT`] is moby's
//! `profiles/seccomp/default.json` (github.com/moby/profiles, tag
//! seccomp/v0.2.3, commit 836ae4d37ef2ec995c77c99fc55f5b5f3af3a897,
//! Apache-2.0), the file moby's `default_linux.go` generates, unchanged. An
//! allow list with EPERM for everything else, and rules that depend on the
//! container:
//! - capabilities in the bounding set (`includes.caps`/`excludes.caps`): without
//!   CAP_SYS_ADMIN there is no mount, unshare, setns, bpf, and clone only
//!   without namespace flags (`(flags & 0x7e020000) == 0`), clone3 answers
//!   ENOSYS (so libcs fall back to clone); CAP_SYS_PTRACE, CAP_SYS_MODULE,
//!   CAP_SYS_TIME, ... each unlock their calls;
//! - the architecture (`archMap`: this machine's and its compat
//!   architectures; `includes.arches` such as arch_prctl on amd64);
//! - the kernel (`minKernel`).
//!
//! Argument filters come through as they are: socket(2) for every address
//! family but AF_ALG and AF_VSOCK, personality(2) for PER_LINUX,
//! PER_LINUX32, UNAME26 and the query value only.
//!
//! `$BERTH_SECCOMP_PROFILE` or /etc/berth/seccomp.json, when present, replace
//! the built-in default (as the daemon's `seccomp-profile` setting does for
//! docker).

use crate::error::{Error, Result};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSyscall,
};
use serde::{Deserialize, Deserializer};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

/// Docker's default profile (moby's profiles/seccomp/default.json).
pub const MOBY_DEFAULT: &str = include_str!("seccomp_default.json");

/// The administrator's replacement for the built-in default, if it exists
/// (after `$BERTH_SECCOMP_PROFILE`).
pub const PROFILE_OVERRIDE: &str = "/etc/berth/seccomp.json";

/// The file that replaces the built-in default profile:
/// `$BERTH_SECCOMP_PROFILE`, else [`PROFILE_OVERRIDE`] when it exists.
pub fn override_path() -> Option<PathBuf> {
    std::env::var_os("BERTH_SECCOMP_PROFILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from(PROFILE_OVERRIDE)).filter(|p| p.exists()))
}

/// The `linux.seccomp` of a container whose bounding set is `caps`, from
/// the default profile (the administrator's replacement, else Docker's).
pub fn default_for(caps: &[String]) -> Result<Option<LinuxSeccomp>> {
    if let Some(path) = override_path() {
        return from_file(&path, caps)
            .map_err(|e| Error::invalid(format!("seccomp profile {}: {e}", path.display())));
    }
    static PARSED: OnceLock<Profile> = OnceLock::new();
    let p = match PARSED.get() {
        Some(p) => p,
        None => {
            let p = parse(MOBY_DEFAULT)
                .map_err(|e| Error::msg(format!("built-in seccomp profile: {e}")))?;
            PARSED.get_or_init(|| p)
        }
    };
    let host = Host::this();
    resolve(p, caps, &host)
}

/// Reads and converts a docker-format profile file (`--security-opt
/// seccomp=FILE`). The caller names the file in its error.
pub fn from_file(path: &Path, caps: &[String]) -> Result<Option<LinuxSeccomp>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid(format!("cannot read the seccomp profile: {e}")))?;
    convert(&text, caps)
}

/// Converts a docker-format profile (JSON text) for a container whose
/// bounding set is `caps`. `None` if the profile enables nothing.
pub fn convert(profile: &str, caps: &[String]) -> Result<Option<LinuxSeccomp>> {
    resolve(&parse(profile)?, caps, &Host::this())
}

/// A profile in docker's format (moby's `seccomp.Seccomp`): an OCI
/// `linux.seccomp` plus `archMap` and conditional syscall rules. Unknown
/// fields are ignored and `null` reads as absent, as Go's decoder does.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(default, deserialize_with = "nullable")]
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    architectures: Vec<Arch>,
    #[serde(default, deserialize_with = "nullable")]
    arch_map: Vec<ArchMap>,
    #[serde(default)]
    listener_path: Option<PathBuf>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    flags: Vec<LinuxSeccompFilterFlag>,
    #[serde(default, deserialize_with = "nullable")]
    syscalls: Vec<Syscall>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: Arch,
    #[serde(default, deserialize_with = "nullable")]
    sub_architectures: Vec<Arch>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Syscall {
    /// The old format's single name.
    #[serde(default, deserialize_with = "nullable")]
    name: String,
    #[serde(default, deserialize_with = "nullable")]
    names: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    args: Vec<LinuxSeccompArg>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

/// moby's `seccomp.Filter`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default, deserialize_with = "nullable")]
    caps: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    arches: Vec<String>,
    #[serde(default, deserialize_with = "min_kernel")]
    min_kernel: Option<(u8, u8)>,
}

fn nullable<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `"<kernel>.<major>"` (each 0 to 255, not both 0), as moby's
/// `KernelVersion.UnmarshalJSON`; `""` and `null` mean no condition.
fn min_kernel<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<(u8, u8)>, D::Error> {
    let Some(s) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || {
        serde::de::Error::custom(format!(
            "invalid kernel version {s:?}, expected \"<kernel>.<major>\""
        ))
    };
    let (k, m) = s.split_once('.').ok_or_else(bad)?;
    let num = |p: &str| {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse::<u8>().ok()
    };
    match (num(k), num(m)) {
        (Some(0), Some(0)) | (None, _) | (_, None) => Err(bad()),
        (Some(k), Some(m)) => Ok(Some((k, m))),
    }
}

fn parse(text: &str) -> Result<Profile> {
    serde_json::from_str(text).map_err(|e| Error::invalid(format!("invalid seccomp profile: {e}")))
}

/// What the rules are matched against besides the capabilities.
#[derive(Debug, Clone)]
struct Host {
    /// libseccomp's name of the architecture, as moby's `goToNative` gives
    /// it ("amd64", "arm64", "ppc64le", ...): what `arches` lists.
    arch: &'static str,
    /// The seccomp architecture, to pick the `archMap` entry.
    scmp_arch: Option<Arch>,
    /// (kernel, major revision); `None` if unknown.
    kernel: Option<(u32, u32)>,
}

impl Host {
    fn this() -> Host {
        let (arch, scmp_arch) = native_arch();
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        Host {
            arch,
            scmp_arch,
            kernel: parse_release(release.trim()),
        }
    }
}

/// This machine's architecture, as moby's `goToNative` and
/// `nativeToSeccomp` map Go's GOARCH.
fn native_arch() -> (&'static str, Option<Arch>) {
    let le = cfg!(target_endian = "little");
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", Some(Arch::ScmpArchX86_64)),
        "x86" => ("x86", Some(Arch::ScmpArchX86)),
        "aarch64" => ("arm64", Some(Arch::ScmpArchAarch64)),
        "arm" => ("arm", Some(Arch::ScmpArchArm)),
        "loongarch64" => ("loongarch64", Some(Arch::ScmpArchLoongarch64)),
        "mips64" if le => ("mipsel64", Some(Arch::ScmpArchMipsel64)),
        "mips64" => ("mips64", Some(Arch::ScmpArchMips64)),
        "mips" if le => ("mipsel", Some(Arch::ScmpArchMipsel)),
        "mips" => ("mips", Some(Arch::ScmpArchMips)),
        "powerpc" => ("ppc", Some(Arch::ScmpArchPpc)),
        "powerpc64" if le => ("ppc64le", Some(Arch::ScmpArchPpc64le)),
        "powerpc64" => ("ppc64", Some(Arch::ScmpArchPpc64)),
        "riscv64" => ("riscv64", Some(Arch::ScmpArchRiscv64)),
        "s390x" => ("s390x", Some(Arch::ScmpArchS390x)),
        a => (a, None),
    }
}

/// "6.1.0-13-amd64" → (6, 1), as moby's `parseRelease` (`%d.%d`).
fn parse_release(s: &str) -> Option<(u32, u32)> {
    let (k, rest) = s.split_once('.')?;
    let m: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((k.parse().ok()?, m.parse().ok()?))
}

fn parse_action(field: &str, s: &str) -> Result<LinuxSeccompAction> {
    LinuxSeccompAction::from_str(s).map_err(|_| {
        Error::invalid(format!(
            "invalid seccomp profile: {field}: unknown action {s:?}"
        ))
    })
}

/// moby's `setupSeccomp`: picks the architectures and keeps the rules whose
/// conditions hold for this host and the bounding set `caps`.
fn resolve(p: &Profile, caps: &[String], host: &Host) -> Result<Option<LinuxSeccomp>> {
    if p.default_action.is_empty() && p.syscalls.is_empty() {
        return Ok(None);
    }
    let bad = |m: String| Error::invalid(format!("invalid seccomp profile: {m}"));
    if !p.architectures.is_empty() && !p.arch_map.is_empty() {
        return Err(bad(
            "both 'architectures' and 'archMap' are specified, use either 'architectures' or 'archMap'"
                .into(),
        ));
    }
    let default_action = parse_action("defaultAction", &p.default_action)?;
    let mut arches = p.architectures.clone();
    if let Some(native) = host.scmp_arch {
        if let Some(m) = p.arch_map.iter().find(|m| m.architecture == native) {
            arches.push(m.architecture);
            arches.extend(m.sub_architectures.iter().copied());
        }
    }
    // An unknown kernel version fails a profile that asks for one, as moby's
    // does when uname cannot be parsed.
    let kernel_ge = |i: usize, want: (u8, u8)| -> Result<bool> {
        let k = host.kernel.ok_or_else(|| {
            bad(format!(
                "syscalls[{i}]: cannot read the kernel version for minKernel"
            ))
        })?;
        Ok(k >= (u32::from(want.0), u32::from(want.1)))
    };
    let mut rules = Vec::new();
    for (i, call) in p.syscalls.iter().enumerate() {
        let mut names = call.names.clone();
        if !call.name.is_empty() {
            if !names.is_empty() {
                return Err(bad(format!(
                    "syscalls[{i}]: both 'name' and 'names' are specified, use either 'name' or 'names'"
                )));
            }
            names.push(call.name.clone());
        }
        if let Some(x) = &call.excludes {
            if x.arches.iter().any(|a| a == host.arch) || x.caps.iter().any(|c| caps.contains(c)) {
                continue;
            }
            if let Some(v) = x.min_kernel {
                if kernel_ge(i, v)? {
                    continue;
                }
            }
        }
        if let Some(inc) = &call.includes {
            if (!inc.arches.is_empty() && !inc.arches.iter().any(|a| a == host.arch))
                || inc.caps.iter().any(|c| !caps.contains(c))
            {
                continue;
            }
            if let Some(v) = inc.min_kernel {
                if !kernel_ge(i, v)? {
                    continue;
                }
            }
        }
        let action = parse_action(&format!("syscalls[{i}].action"), &call.action)?;
        if let Some(a) = call.args.iter().find(|a| a.index() > 5) {
            return Err(bad(format!(
                "syscalls[{i}].args: index {} is out of range (0 to 5)",
                a.index()
            )));
        }
        let mut r = LinuxSyscall::default();
        r.set_names(names);
        r.set_action(action);
        r.set_errno_ret(call.errno_ret);
        r.set_args((!call.args.is_empty()).then(|| call.args.clone()));
        rules.push(r);
    }
    let mut out = LinuxSeccomp::default();
    out.set_default_action(default_action);
    out.set_default_errno_ret(p.default_errno_ret);
    out.set_architectures((!arches.is_empty()).then_some(arches));
    out.set_flags((!p.flags.is_empty()).then(|| p.flags.clone()));
    out.set_listener_path(p.listener_path.clone());
    out.set_listener_metadata(p.listener_metadata.clone());
    out.set_syscalls(Some(rules));
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxSeccompOperator as Op;

    const AMD64: fn() -> Host = || Host {
        arch: "amd64",
        scmp_arch: Some(Arch::ScmpArchX86_64),
        kernel: Some((6, 1)),
    };

    fn caps_of(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn default_caps() -> Vec<String> {
        caps_of(crate::caps::DEFAULT)
    }

    fn moby(caps: &[String], host: &Host) -> LinuxSeccomp {
        resolve(&parse(MOBY_DEFAULT).unwrap(), caps, host)
            .unwrap()
            .unwrap()
    }

    /// The rules naming `name`.
    fn rules_for<'a>(s: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        s.syscalls()
            .iter()
            .flatten()
            .filter(|r| r.names().iter().any(|n| n == name))
            .collect()
    }

    /// Allowed without any argument condition.
    fn allowed_plainly(s: &LinuxSeccomp, name: &str) -> bool {
        rules_for(s, name)
            .iter()
            .any(|r| r.action() == LinuxSeccompAction::ScmpActAllow && r.args().is_none())
    }

    fn arg(index: usize, value: u64, op: Op) -> LinuxSeccompArg {
        serde_json::from_value(serde_json::json!({"index": index, "value": value, "op": op}))
            .unwrap()
    }

    /// The namespace flags moby's clone rule masks:
    /// CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP.
    const CLONE_NS_FLAGS: u64 = (libc::CLONE_NEWNS
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUSER
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWCGROUP) as u64;

    #[test]
    fn moby_default_for_default_caps() {
        let s = moby(&default_caps(), &AMD64());
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(libc::EPERM as u32));
        assert_eq!(
            s.architectures().clone().unwrap(),
            vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
        // CAP_SYS_ADMIN's calls are not allowed at all.
        for n in [
            "unshare",
            "mount",
            "umount2",
            "setns",
            "bpf",
            "fsopen",
            "open_tree",
            "move_mount",
            "pivot_root",
            "sethostname",
            "perf_event_open",
            "quotactl",
            "syslog",
        ] {
            assert!(rules_for(&s, n).is_empty(), "{n} has a rule");
        }
        // clone: only without namespace flags.
        assert_eq!(CLONE_NS_FLAGS, 0x7e02_0000);
        let clone = rules_for(&s, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].action(), LinuxSeccompAction::ScmpActAllow);
        assert_eq!(
            clone[0].args().clone().unwrap(),
            vec![arg(0, CLONE_NS_FLAGS, Op::ScmpCmpMaskedEq)]
        );
        assert_eq!(
            clone[0].args().as_ref().unwrap()[0]
                .value_two()
                .unwrap_or(0),
            0
        );
        // clone3: ENOSYS (its flags are in memory, out of the filter's reach).
        let clone3 = rules_for(&s, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3[0].errno_ret(), Some(libc::ENOSYS as u32));
        // Capabilities that are in docker's default set unlock their calls,
        // the others do not.
        assert!(allowed_plainly(&s, "chroot"), "CAP_SYS_CHROOT");
        for n in [
            "reboot",
            "init_module",
            "acct",
            "kcmp",
            "pidfd_getfd",
            "iopl",
            "settimeofday",
            "clock_settime",
            "vhangup",
            "mbind",
            "open_by_handle_at",
        ] {
            assert!(rules_for(&s, n).is_empty(), "{n} has a rule");
        }
        // ptrace comes from the minKernel 4.8 rule.
        assert!(allowed_plainly(&s, "ptrace"));
        assert!(allowed_plainly(&s, "arch_prctl") && allowed_plainly(&s, "modify_ldt"));
        assert!(
            rules_for(&s, "set_tls").is_empty() && rules_for(&s, "s390_runtime_instr").is_empty()
        );
        assert!(allowed_plainly(&s, "read") && allowed_plainly(&s, "execve"));
        // socket: every family but AF_ALG (38) and AF_VSOCK (40).
        assert_eq!(libc::AF_ALG, 38);
        assert_eq!(libc::AF_VSOCK, 40);
        let socket: Vec<Vec<LinuxSeccompArg>> = rules_for(&s, "socket")
            .iter()
            .map(|r| r.args().clone().unwrap())
            .collect();
        assert_eq!(
            socket,
            vec![
                vec![arg(0, 38, Op::ScmpCmpLt)],
                vec![arg(0, 39, Op::ScmpCmpEq)],
                vec![arg(0, 40, Op::ScmpCmpGt)],
            ]
        );
        // personality: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, query.
        let pers: Vec<Vec<LinuxSeccompArg>> = rules_for(&s, "personality")
            .iter()
            .map(|r| r.args().clone().unwrap())
            .collect();
        assert_eq!(
            pers,
            [0x0u64, 0x8, 0x20000, 0x20008, 0xffff_ffff]
                .iter()
                .map(|v| vec![arg(0, *v, Op::ScmpCmpEq)])
                .collect::<Vec<_>>()
        );
        // It is a valid OCI section, and libseccomp compiles it.
        let json = serde_json::to_value(&s).unwrap();
        serde_json::from_value::<LinuxSeccomp>(json).unwrap();
        oci_runtime::seccomp::compile(&s).unwrap();
    }

    #[test]
    fn moby_default_with_sys_admin() {
        let mut caps = default_caps();
        caps.push("CAP_SYS_ADMIN".into());
        let s = moby(&caps, &AMD64());
        for n in [
            "clone",
            "clone3",
            "unshare",
            "mount",
            "umount2",
            "setns",
            "fsopen",
            "fsmount",
            "move_mount",
            "open_tree",
            "mount_setattr",
            "sethostname",
            "setdomainname",
            "bpf",
            "syslog",
        ] {
            assert!(allowed_plainly(&s, n), "{n} not allowed");
        }
        // No conditional clone, no ENOSYS for clone3.
        assert!(rules_for(&s, "clone")
            .iter()
            .all(|r| r.args().is_none() && r.action() == LinuxSeccompAction::ScmpActAllow));
        assert!(rules_for(&s, "clone3")
            .iter()
            .all(|r| r.action() == LinuxSeccompAction::ScmpActAllow));
        oci_runtime::seccomp::compile(&s).unwrap();
        // Other capabilities, one at a time, as --cap-add gives them.
        for (cap, calls) in [
            (
                "CAP_SYS_PTRACE",
                &["kcmp", "pidfd_getfd", "process_madvise"][..],
            ),
            (
                "CAP_SYS_MODULE",
                &["init_module", "finit_module", "delete_module"],
            ),
            ("CAP_SYS_TIME", &["settimeofday", "clock_settime"]),
            ("CAP_SYS_BOOT", &["reboot"]),
            ("CAP_SYS_PACCT", &["acct"]),
            ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
            ("CAP_SYS_NICE", &["mbind", "set_mempolicy"]),
            ("CAP_SYSLOG", &["syslog"]),
            ("CAP_BPF", &["bpf"]),
            ("CAP_PERFMON", &["perf_event_open"]),
            ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
        ] {
            let mut caps = default_caps();
            caps.push(cap.into());
            let s = moby(&caps, &AMD64());
            for n in calls {
                assert!(allowed_plainly(&s, n), "{cap}: {n}");
            }
            assert!(rules_for(&s, "unshare").is_empty(), "{cap}");
        }
        // --cap-drop: CAP_SYS_CHROOT gone, chroot too.
        let caps: Vec<String> = default_caps()
            .into_iter()
            .filter(|c| c != "CAP_SYS_CHROOT")
            .collect();
        assert!(rules_for(&moby(&caps, &AMD64()), "chroot").is_empty());
    }

    #[test]
    fn moby_default_other_hosts() {
        // s390x: clone's flags are its second argument.
        let host = Host {
            arch: "s390x",
            scmp_arch: Some(Arch::ScmpArchS390x),
            kernel: Some((5, 10)),
        };
        let s = moby(&default_caps(), &host);
        assert_eq!(
            s.architectures().clone().unwrap(),
            vec![Arch::ScmpArchS390x, Arch::ScmpArchS390]
        );
        let clone = rules_for(&s, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(
            clone[0].args().clone().unwrap(),
            vec![arg(1, CLONE_NS_FLAGS, Op::ScmpCmpMaskedEq)]
        );
        assert!(allowed_plainly(&s, "s390_runtime_instr"));
        assert!(rules_for(&s, "arch_prctl").is_empty());
        // arm64 with arm; an old kernel loses the minKernel 4.8 rule.
        let host = Host {
            arch: "arm64",
            scmp_arch: Some(Arch::ScmpArchAarch64),
            kernel: Some((4, 4)),
        };
        let s = moby(&default_caps(), &host);
        assert_eq!(
            s.architectures().clone().unwrap(),
            vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
        );
        assert!(allowed_plainly(&s, "set_tls"));
        assert!(rules_for(&s, "ptrace").is_empty(), "kernel 4.4 < 4.8");
    }

    /// moby's fixtures/conditional_include.json and TestLoadConditional.
    #[test]
    fn conditional_rules() {
        let p = r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["chmod"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["syslog"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYSLOG"]}},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
        ]}"#;
        let p = parse(p).unwrap();
        for (caps, want) in [
            (vec![], vec!["chmod", "ptrace"]),
            (vec!["CAP_SYSLOG"], vec!["chmod", "syslog", "ptrace"]),
            (vec!["CAP_SYS_ADMIN"], vec!["chmod"]),
        ] {
            let s = resolve(&p, &caps_of(&caps), &AMD64()).unwrap().unwrap();
            let got: Vec<&str> = s
                .syscalls()
                .iter()
                .flatten()
                .map(|r| r.names()[0].as_str())
                .collect();
            assert_eq!(got, want, "{caps:?}");
            assert!(s.architectures().is_none());
        }
    }

    /// The format before docker 1.12 ("name", "architectures", "args": []),
    /// moby's fixtures/default-old-format.json.
    #[test]
    fn legacy_profile() {
        let s = convert(include_str!("seccomp_legacy_test.json"), &[])
            .unwrap()
            .unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(
            s.architectures().clone().unwrap(),
            vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
        let calls = s.syscalls().clone().unwrap();
        assert_eq!(calls.len(), 311);
        assert_eq!(calls[0].names(), &vec!["accept".to_string()]);
        assert!(calls[0].args().is_none());
        oci_runtime::seccomp::compile(&s).unwrap();
    }

    #[test]
    fn custom_profiles_and_errors() {
        let p = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#;
        let s = convert(p, &[]).unwrap().unwrap();
        let r = &s.syscalls().as_ref().unwrap()[0];
        assert_eq!(r.names(), &vec!["mkdir".to_string()]);
        assert_eq!(r.errno_ret(), Some(13));
        assert!(convert("{}", &[]).unwrap().is_none());
        assert!(convert(r#"{"syscalls": null}"#, &[]).unwrap().is_none());
        let err = |p: &str| convert(p, &[]).unwrap_err().to_string();
        assert!(err("not json").starts_with("invalid seccomp profile: "));
        assert!(err(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#)
            .contains("use either 'architectures' or 'archMap'"));
        assert!(err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"name":"accept","names":["accept"],"action":"SCMP_ACT_ALLOW"}]}"#)
            .contains("syscalls[0]: both 'name' and 'names'"));
        assert_eq!(
            err(r#"{"defaultAction":"SCMP_ACT_NOPE"}"#),
            "invalid seccomp profile: defaultAction: unknown action \"SCMP_ACT_NOPE\""
        );
        assert_eq!(
            err(r#"{"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#),
            "invalid seccomp profile: defaultAction: unknown action \"\""
        );
        assert!(err(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"ALLOW"}]}"#
        )
        .contains("syscalls[0].action: unknown action \"ALLOW\""));
        assert!(
            err(r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_VAX"]}"#)
                .contains("SCMP_ARCH_VAX")
        );
        assert!(err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#)
            .contains("syscalls[0].args: index 6"));
        for e in [
            &err("not json"),
            &err(r#"{"defaultAction":"SCMP_ACT_NOPE"}"#),
        ] {
            assert!(!e.contains('\n'), "{e}");
        }
    }

    /// moby's TestMarshalUnmarshalFilter.
    #[test]
    fn min_kernel_values() {
        let f = |v: &str| serde_json::from_str::<Filter>(&format!(r#"{{"minKernel":{v}}}"#));
        for bad in [
            "3",
            "3.12",
            "true",
            r#""0.0""#,
            r#""3""#,
            r#"".3""#,
            r#""3.""#,
            r#""true""#,
            r#""3.12.1""#,
            r#""4.15abc""#,
            r#""256.1""#,
        ] {
            assert!(f(bad).is_err(), "{bad}");
        }
        for (ok, want) in [
            ("null", None),
            (r#""""#, None),
            (r#""0.5""#, Some((0, 5))),
            (r#""0.50""#, Some((0, 50))),
            (r#""5.0""#, Some((5, 0))),
            (r#""4.15""#, Some((4, 15))),
        ] {
            assert_eq!(f(ok).unwrap().min_kernel, want, "{ok}");
        }
        assert_eq!(parse_release("6.1.0-13-amd64"), Some((6, 1)));
        assert_eq!(parse_release("3.12-1-amd64"), Some((3, 12)));
        assert_eq!(parse_release("6.18.44-fc-v1300"), Some((6, 18)));
        assert_eq!(parse_release("junk"), None);
        // A kernel older than the condition; an unknown one is an error.
        let p = parse(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.8"}}]}"#).unwrap();
        let mut h = AMD64();
        h.kernel = Some((4, 7));
        assert!(resolve(&p, &[], &h)
            .unwrap()
            .unwrap()
            .syscalls()
            .as_ref()
            .unwrap()
            .is_empty());
        h.kernel = Some((4, 8));
        assert_eq!(
            resolve(&p, &[], &h)
                .unwrap()
                .unwrap()
                .syscalls()
                .as_ref()
                .unwrap()
                .len(),
            1
        );
        h.kernel = None;
        assert!(resolve(&p, &[], &h).is_err());
    }

    /// Runs a classic-BPF seccomp program (as libseccomp exported it) on
    /// one `seccomp_data`: the kernel's decision, `SECCOMP_RET_*`.
    fn run_bpf(bpf: &[u8], arch: u32, nr: i32, args: [u64; 6]) -> u32 {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(&nr.to_ne_bytes());
        data.extend_from_slice(&arch.to_ne_bytes());
        data.extend_from_slice(&0u64.to_ne_bytes());
        for a in args {
            data.extend_from_slice(&a.to_ne_bytes());
        }
        let word = |off: u32| -> u32 {
            let o = off as usize;
            u32::from_ne_bytes(data[o..o + 4].try_into().unwrap())
        };
        let insns: Vec<(u16, u8, u8, u32)> = bpf
            .chunks_exact(8)
            .map(|c| {
                (
                    u16::from_ne_bytes([c[0], c[1]]),
                    c[2],
                    c[3],
                    u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
                )
            })
            .collect();
        let (mut a, mut x, mut mem, mut pc) = (0u32, 0u32, [0u32; 16], 0usize);
        loop {
            let (code, jt, jf, k) = insns[pc];
            pc += 1;
            let src = if code & 0x08 != 0 { x } else { k };
            match code & 0x07 {
                0x00 => match code & 0xe0 {
                    0x00 => a = k,
                    0x20 => a = word(k),
                    0x60 => a = mem[k as usize],
                    m => panic!("ld mode {m:#x}"),
                },
                0x01 => match code & 0xe0 {
                    0x00 => x = k,
                    0x60 => x = mem[k as usize],
                    m => panic!("ldx mode {m:#x}"),
                },
                0x02 => mem[k as usize] = a,
                0x03 => mem[k as usize] = x,
                0x04 => {
                    a = match code & 0xf0 {
                        0x00 => a.wrapping_add(src),
                        0x10 => a.wrapping_sub(src),
                        0x40 => a | src,
                        0x50 => a & src,
                        0x60 => a << src,
                        0x70 => a >> src,
                        0xa0 => a ^ src,
                        op => panic!("alu op {op:#x}"),
                    }
                }
                0x05 => {
                    let take = match code & 0xf0 {
                        0x00 => {
                            pc += k as usize;
                            continue;
                        }
                        0x10 => a == src,
                        0x20 => a > src,
                        0x30 => a >= src,
                        0x40 => a & src != 0,
                        op => panic!("jmp op {op:#x}"),
                    };
                    pc += if take { jt } else { jf } as usize;
                }
                0x06 => return if code & 0x18 == 0x10 { a } else { k },
                _ => {
                    if code & 0xf8 == 0x80 {
                        a = x
                    } else {
                        x = a
                    }
                }
            }
        }
    }

    /// The filters the runtime installs for Docker's profile decide as
    /// moby's rules say (this checks the runtime's translation of the
    /// argument conditions too: MASKED_EQ's mask and datum, LT/GT).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn moby_default_compiled_decisions() {
        const X86_64: u32 = 0xc000_003e;
        const I386: u32 = 0x4000_0003;
        const ALLOW: u32 = 0x7fff_0000;
        const EPERM: u32 = 0x0005_0000 | libc::EPERM as u32;
        const ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;
        let host = Host::this();
        let compile = |caps: &[String]| {
            oci_runtime::seccomp::compile(
                &resolve(&parse(MOBY_DEFAULT).unwrap(), caps, &host)
                    .unwrap()
                    .unwrap(),
            )
            .unwrap()
        };
        let one = |v: u64| [v, 0, 0, 0, 0, 0];
        let nr = |n: libc::c_long| n as i32;
        let bpf = compile(&default_caps());
        let d = |n: libc::c_long, args: [u64; 6]| run_bpf(&bpf, X86_64, nr(n), args);
        assert_eq!(d(libc::SYS_read, one(0)), ALLOW);
        assert_eq!(d(libc::SYS_unshare, one(libc::CLONE_NEWUSER as u64)), EPERM);
        assert_eq!(d(libc::SYS_unshare, one(0)), EPERM);
        assert_eq!(d(libc::SYS_mount, one(0)), EPERM);
        assert_eq!(d(libc::SYS_setns, one(0)), EPERM);
        // fork-like clone yes, any namespace flag no.
        assert_eq!(d(libc::SYS_clone, one(libc::SIGCHLD as u64)), ALLOW);
        let threads = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM
            | libc::CLONE_SETTLS
            | libc::CLONE_PARENT_SETTID
            | libc::CLONE_CHILD_CLEARTID) as u64;
        assert_eq!(d(libc::SYS_clone, one(threads)), ALLOW);
        for f in [
            libc::CLONE_NEWNS,
            libc::CLONE_NEWUTS,
            libc::CLONE_NEWIPC,
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWPID,
            libc::CLONE_NEWNET,
            libc::CLONE_NEWCGROUP,
        ] {
            assert_eq!(
                d(libc::SYS_clone, one(f as u64 | libc::SIGCHLD as u64)),
                EPERM,
                "{f:#x}"
            );
        }
        assert_eq!(d(libc::SYS_clone3, one(0)), ENOSYS);
        // socket: not AF_ALG, not AF_VSOCK.
        for (family, want) in [
            (libc::AF_UNIX, ALLOW),
            (libc::AF_INET, ALLOW),
            (libc::AF_INET6, ALLOW),
            (libc::AF_NETLINK, ALLOW),
            (libc::AF_ALG, EPERM),
            (39, ALLOW),
            (libc::AF_VSOCK, EPERM),
            (41, ALLOW),
        ] {
            assert_eq!(
                d(libc::SYS_socket, one(family as u64)),
                want,
                "family {family}"
            );
        }
        // personality: PER_LINUX, PER_LINUX32, UNAME26 (|PER_LINUX32), query.
        for (p, want) in [
            (0u64, ALLOW),
            (8, ALLOW),
            (0x20000, ALLOW),
            (0x20008, ALLOW),
            (0xffff_ffff, ALLOW),
            (0x40008, EPERM),
            (0x0040_0000, EPERM),
        ] {
            assert_eq!(d(libc::SYS_personality, one(p)), want, "personality {p:#x}");
        }
        assert_eq!(d(libc::SYS_chroot, one(0)), ALLOW);
        assert_eq!(d(libc::SYS_reboot, one(0)), EPERM);
        assert_eq!(d(libc::SYS_kexec_load, one(0)), EPERM);
        assert_eq!(d(libc::SYS_ptrace, one(0)), ALLOW);
        // The compat architectures are filtered too (i386: unshare 310,
        // personality 136); a process of any other architecture is killed
        // (libseccomp's bad-arch action, SECCOMP_RET_KILL_THREAD).
        assert_eq!(run_bpf(&bpf, I386, 310, one(0)), EPERM);
        assert_eq!(run_bpf(&bpf, I386, 136, one(0x40008)), EPERM);
        assert_eq!(run_bpf(&bpf, I386, 136, one(8)), ALLOW);
        assert_eq!(run_bpf(&bpf, 0xc000_00b7, 63, one(0)), 0);

        // runc's -ENOSYS stub: syscalls past the profile's largest answer
        // ENOSYS (a newer libc falls back), those below it the default EPERM.
        const X32: u64 = 0x4000_0000;
        assert_eq!(d(1000, one(0)), ENOSYS);
        assert_eq!(d(libc::SYS_kexec_load, one(0)), EPERM);
        // fchmodat2 and cachestat are allowed where libseccomp knows them,
        // else ENOSYS: never EPERM.
        assert_ne!(d(452, one(0)), EPERM);
        assert_ne!(d(451, one(0)), EPERM);
        assert_eq!(run_bpf(&bpf, X86_64, (X32 | 1000) as i32, one(0)), ENOSYS);
        assert_eq!(run_bpf(&bpf, X86_64, X32 as i32, one(0)), ALLOW);
        assert_eq!(run_bpf(&bpf, X86_64, (X32 | 246) as i32, one(0)), EPERM);
        assert_eq!(run_bpf(&bpf, I386, 1000, one(0)), ENOSYS);
        assert_eq!(run_bpf(&bpf, I386, 283, one(0)), EPERM);

        // CAP_SYS_ADMIN: namespaces and mounts.
        let mut caps = default_caps();
        caps.push("CAP_SYS_ADMIN".into());
        let bpf = compile(&caps);
        let d = |n: libc::c_long, args: [u64; 6]| run_bpf(&bpf, X86_64, nr(n), args);
        assert_eq!(d(libc::SYS_unshare, one(libc::CLONE_NEWUSER as u64)), ALLOW);
        assert_eq!(d(libc::SYS_mount, one(0)), ALLOW);
        assert_eq!(d(libc::SYS_clone, one(libc::CLONE_NEWPID as u64)), ALLOW);
        assert_eq!(d(libc::SYS_clone3, one(0)), ALLOW);
        assert_eq!(d(libc::SYS_socket, one(libc::AF_VSOCK as u64)), EPERM);
    }
}
