//! `linux.seccomp`: builds a libseccomp filter from the spec and loads it.
//!
//! Compiling a profile of docker's size takes libseccomp several
//! milliseconds, on every container start. The runtime (on the host, before
//! it forks) compiles a profile once into classic BPF and keeps it in
//! `<root>/@seccomp-cache/<sha256>.bpf`, keyed by the profile's JSON, libseccomp's
//! version and API level, the kernel release and the architecture; the
//! container's process then installs that program with seccomp(2).
//! Profiles with SCMP_ACT_NOTIFY keep the libseccomp path (the listener fd
//! comes from it).
//!
//! As runc does, the program starts with a stub that answers ENOSYS for
//! syscalls numbered above the largest one the profile names, so that a C
//! library newer than the profile (or than libseccomp) falls back from new
//! calls instead of failing with the default EPERM.

use crate::error::{Error, Result};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek};
use std::path::Path;
use std::str::FromStr;
use std::sync::OnceLock;

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> ScmpAction {
    match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => {
            ScmpAction::Errno(errno.unwrap_or(libc::EPERM as u32) as i32)
        }
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActTrace => {
            ScmpAction::Trace(errno.unwrap_or(libc::EPERM as u32) as u16)
        }
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    }
}

fn op(o: LinuxSeccompOperator, value_two: Option<u64>) -> ScmpCompareOp {
    match o {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value_two.unwrap_or(0)),
    }
}

/// One argument condition. For SCMP_CMP_MASKED_EQ the spec's `value` is the
/// mask and `valueTwo` the datum, `(arg & value) == valueTwo`, as runc passes
/// them to libseccomp (datum_a, datum_b).
fn arg_compare(a: &oci_spec::runtime::LinuxSeccompArg) -> ScmpArgCompare {
    match a.op() {
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpArgCompare::new(
            a.index() as u32,
            ScmpCompareOp::MaskedEqual(a.value()),
            a.value_two().unwrap_or(0),
        ),
        o => ScmpArgCompare::new(a.index() as u32, op(o, a.value_two()), a.value()),
    }
}

/// Whether the profile sends any syscall to a user-space listener.
pub fn uses_notify(s: &LinuxSeccomp) -> bool {
    s.default_action() == LinuxSeccompAction::ScmpActNotify
        || s.syscalls()
            .iter()
            .flatten()
            .any(|r| r.action() == LinuxSeccompAction::ScmpActNotify)
}

/// Builds the filter (without loading it).
pub fn build(s: &LinuxSeccomp) -> Result<ScmpFilterContext> {
    let e = |field: &str, m: String| Error::msg(format!("linux.seccomp.{field}: {m}"));
    let default = action(s.default_action(), s.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default).map_err(|x| e("defaultAction", x.to_string()))?;
    ctx.set_ctl_nnp(false)
        .map_err(|x| e("defaultAction", x.to_string()))?;
    for (i, a) in s.architectures().iter().flatten().enumerate() {
        let name = serde_json::to_value(a)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let arch = ScmpArch::from_str(&name)
            .map_err(|_| e(&format!("architectures[{i}]"), format!("unknown {name}")))?;
        if !ctx.is_arch_present(arch).unwrap_or(false) {
            ctx.add_arch(arch)
                .map_err(|x| e(&format!("architectures[{i}]"), x.to_string()))?;
        }
    }
    for f in s.flags().iter().flatten() {
        let r = match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true).map(|_| ()),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true).map(|_| ()),
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true).map(|_| ()),
            #[allow(unreachable_patterns)]
            _ => Ok(()),
        };
        r.map_err(|x| e("flags", format!("{f:?}: {x}")))?;
    }
    for (i, rule) in s.syscalls().iter().flatten().enumerate() {
        let act = action(rule.action(), rule.errno_ret());
        if act == default {
            continue;
        }
        let args = rule.args().clone().unwrap_or_default();
        let conds: Vec<ScmpArgCompare> = args.iter().map(arg_compare).collect();
        // Conditions on the same argument cannot be ANDed by libseccomp: as
        // runc does, each becomes a rule of its own (OR).
        let mut idx: Vec<usize> = args.iter().map(|a| a.index()).collect();
        idx.sort_unstable();
        let repeated = idx.windows(2).any(|w| w[0] == w[1]);
        for name in rule.names() {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                // Unknown to this libseccomp or architecture: skipped, like runc and crun.
                continue;
            };
            let r = if conds.is_empty() {
                ctx.add_rule(act, sc)
            } else if repeated {
                conds
                    .iter()
                    .try_for_each(|c| {
                        ctx.add_rule_conditional(act, sc, std::slice::from_ref(c))
                            .map(|_| ())
                    })
                    .map(|_| &mut ctx)
            } else {
                ctx.add_rule_conditional(act, sc, &conds)
            };
            r.map_err(|x| e(&format!("syscalls[{i}]"), format!("{name}: {x}")))?;
        }
    }
    Ok(ctx)
}

/// The cache's directory in a state root: '@' is not allowed in container
/// ids, so no container's directory can take its name.
pub const CACHE_DIR: &str = "@seccomp-cache";

/// A profile compiled to classic BPF, with the seccomp(2) flags it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    /// The profile's JSON, to recognise it.
    profile: Vec<u8>,
    bpf: Vec<u8>,
    flags: u32,
}

/// The program prepared in this process before it forked the container's.
static PREPARED: OnceLock<Compiled> = OnceLock::new();

fn filter_flags(s: &LinuxSeccomp) -> u32 {
    s.flags()
        .iter()
        .flatten()
        .map(|f| match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            #[allow(unreachable_patterns)]
            _ => 0,
        } as u32)
        .fold(0, |a, b| a | b)
}

/// Changes when [`compile`] makes different programs from the same
/// profile, so that older cached programs are not used.
const PROGRAM_FORMAT: &str = "program 2 (enosys stub)";

/// What the compiled program depends on besides the profile.
fn environment() -> String {
    let v = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{PROGRAM_FORMAT} libseccomp {v} api {} kernel {release} arch {}",
        libseccomp::get_api(),
        std::env::consts::ARCH
    )
}

/// Compiles `s` (or finds it in `cache_dir`) and keeps the program for
/// [`load`] in this process and the ones it forks. Without a usable cache
/// directory it compiles every time. Nothing is prepared for profiles that
/// notify a listener.
pub fn prepare(s: &LinuxSeccomp, cache_dir: Option<&Path>) -> Result<()> {
    if uses_notify(s) {
        return Ok(());
    }
    let profile = serde_json::to_vec(s).map_err(|e| Error::msg(format!("linux.seccomp: {e}")))?;
    if PREPARED.get().is_some_and(|c| c.profile == profile) {
        return Ok(());
    }
    let mut h = Sha256::new();
    h.update(environment().as_bytes());
    h.update([0]);
    h.update(&profile);
    let key: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let cached = cache_dir.map(|d| d.join(format!("{key}.bpf")));
    let bpf = match cached.as_ref().and_then(|p| std::fs::read(p).ok()) {
        Some(b) if !b.is_empty() && b.len() % 8 == 0 => b,
        _ => {
            let b = compile(s)?;
            if let (Some(d), Some(p)) = (cache_dir, cached.as_ref()) {
                // Best effort: a cache that cannot be written costs time only.
                let _ = store(d, p, &b);
            }
            b
        }
    };
    let _ = PREPARED.set(Compiled {
        profile,
        bpf,
        flags: filter_flags(s),
    });
    Ok(())
}

/// Compiles `s` to classic BPF (`sock_filter` records, 8 bytes each), the
/// program [`load`] installs: libseccomp's filter behind runc's -ENOSYS
/// stub ([`enosys_stub`]).
pub fn compile(s: &LinuxSeccomp) -> Result<Vec<u8>> {
    let ctx = build(s)?;
    let mut f = scratch_file()?;
    ctx.export_bpf(&f)
        .map_err(|x| Error::msg(format!("linux.seccomp: cannot compile the filter: {x}")))?;
    let mut b = Vec::new();
    f.rewind()
        .and_then(|_| f.read_to_end(&mut b))
        .map_err(|x| Error::msg(format!("linux.seccomp: {x}")))?;
    let mut out = enosys_stub(s)?;
    if out.len() / 8 + b.len() / 8 > BPF_MAXINSNS {
        // Too long with the stub: the filter alone, as libseccomp made it.
        out.clear();
    }
    out.extend_from_slice(&b);
    Ok(out)
}

/// The kernel's limit on a filter's length.
const BPF_MAXINSNS: usize = 4096;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const RET_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;

/// The kernel's AUDIT_ARCH_* value of a libseccomp architecture (x32 shares
/// x86_64's, its syscalls have [`X32_SYSCALL_BIT`] set).
fn audit_arch(a: ScmpArch) -> Option<u32> {
    Some(match a {
        ScmpArch::X86 => 0x4000_0003,
        ScmpArch::X8664 | ScmpArch::X32 => 0xc000_003e,
        ScmpArch::Arm => 0x4000_0028,
        ScmpArch::Aarch64 => 0xc000_00b7,
        ScmpArch::Mips => 0x0000_0008,
        ScmpArch::Mips64 => 0x8000_0008,
        ScmpArch::Mips64N32 => 0xa000_0008,
        ScmpArch::Mipsel => 0x4000_0008,
        ScmpArch::Mipsel64 => 0xc000_0008,
        ScmpArch::Mipsel64N32 => 0xe000_0008,
        ScmpArch::Ppc => 0x0000_0014,
        ScmpArch::Ppc64 => 0x8000_0015,
        ScmpArch::Ppc64Le => 0xc000_0015,
        ScmpArch::S390 => 0x0000_0016,
        ScmpArch::S390X => 0x8000_0016,
        ScmpArch::Riscv64 => 0xc000_00f3,
        ScmpArch::Loongarch64 => 0xc000_0102,
        _ => return None,
    })
}

/// A jump target in the stub: a fixed skip, the ENOSYS return, or the
/// first instruction of libseccomp's filter.
#[derive(Clone, Copy)]
enum To {
    Skip(u8),
    Enosys,
    Filter,
}

/// runc's -ENOSYS stub (libcontainer/seccomp/patchbpf): for each
/// architecture of the profile, a syscall numbered above the largest one the
/// profile names (that this libseccomp knows) returns ENOSYS instead of the
/// default action. Syscalls newer than the profile (or than libseccomp) then
/// look unimplemented, and the C library falls back to the old ones (clone3,
/// fchmodat2, ...) instead of failing with EPERM. Nothing when the default
/// action allows, or already answers ENOSYS.
fn enosys_stub(s: &LinuxSeccomp) -> Result<Vec<u8>> {
    let default_enosys = s.default_action() == LinuxSeccompAction::ScmpActErrno
        && s.default_errno_ret() == Some(libc::ENOSYS as u32);
    if default_enosys
        || matches!(
            s.default_action(),
            LinuxSeccompAction::ScmpActAllow
                | LinuxSeccompAction::ScmpActLog
                | LinuxSeccompAction::ScmpActTrace
        )
    {
        return Ok(Vec::new());
    }
    let mut arches = vec![ScmpArch::native()];
    for a in s.architectures().iter().flatten() {
        let name = serde_json::to_value(a)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        match ScmpArch::from_str(&name) {
            Ok(a) if !arches.contains(&a) => arches.push(a),
            Ok(_) => {}
            Err(_) => {
                return Err(Error::msg(format!(
                    "linux.seccomp.architectures: unknown {name}"
                )))
            }
        }
    }
    // audit arch -> [(libseccomp arch, largest syscall number)]
    let mut last: Vec<(u32, Vec<(ScmpArch, u32)>)> = Vec::new();
    for arch in arches {
        let Some(audit) = audit_arch(arch) else {
            continue;
        };
        let largest = s
            .syscalls()
            .iter()
            .flatten()
            .flat_map(|r| r.names())
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
            .map(|n| n.as_raw_syscall())
            .filter(|n| *n > 0)
            .max();
        let Some(largest) = largest else { continue };
        match last.iter_mut().find(|(a, _)| *a == audit) {
            Some((_, v)) => v.push((arch, largest as u32)),
            None => last.push((audit, vec![(arch, largest as u32)])),
        }
    }
    const LD_ARCH: (u16, u32) = (0x20, 4); // ld [4]: seccomp_data.arch
    const LD_NR: (u16, u32) = (0x20, 0); // ld [0]: seccomp_data.nr
    const JEQ: u16 = 0x15;
    const JGT: u16 = 0x25;
    const JSET: u16 = 0x45;
    let mut prog: Vec<(u16, To, To, u32)> = Vec::new();
    let none = To::Skip(0);
    for (audit, maxes) in &last {
        let mut block: Vec<(u16, To, To, u32)> = vec![(LD_NR.0, none, none, LD_NR.1)];
        let max_of = |a: ScmpArch| maxes.iter().find(|m| m.0 == a).map(|m| m.1);
        if *audit == 0xc000_003e {
            // x86_64 and x32 share the architecture: the bit tells them apart.
            let (x64, x32) = (max_of(ScmpArch::X8664), max_of(ScmpArch::X32));
            let gt = |m: Option<u32>| match m {
                Some(m) => (JGT, To::Enosys, To::Filter, m),
                // Not in the profile: libseccomp's filter decides.
                None => (JSET, To::Filter, To::Filter, 0),
            };
            block.push((JSET, To::Skip(1), none, X32_SYSCALL_BIT));
            block.push(gt(x64));
            block.push(gt(x32.map(|m| m | X32_SYSCALL_BIT)));
        } else {
            if matches!(maxes[0].0, ScmpArch::S390 | ScmpArch::S390X) {
                // s390's syscall 0 multiplexes the numbers above 255.
                block.push((JEQ, To::Enosys, none, 0));
            }
            block.push((JGT, To::Enosys, To::Filter, maxes[0].1));
        }
        let skip = u8::try_from(block.len()).map_err(|_| Error::msg("seccomp stub too long"))?;
        prog.push((LD_ARCH.0, none, none, LD_ARCH.1));
        prog.push((JEQ, none, To::Skip(skip), *audit));
        prog.extend(block);
    }
    if prog.is_empty() {
        return Ok(Vec::new());
    }
    // Another architecture: libseccomp's filter decides.
    let ja = prog.len();
    prog.push((0x05, none, none, 0));
    let enosys = prog.len();
    prog.push((0x06, none, none, RET_ENOSYS));
    let filter = prog.len();
    let mut out = Vec::with_capacity(prog.len() * 8);
    for (i, (code, jt, jf, mut k)) in prog.into_iter().enumerate() {
        let off = |t: To| -> Result<u8> {
            let target = match t {
                To::Skip(n) => return Ok(n),
                To::Enosys => enosys,
                To::Filter => filter,
            };
            u8::try_from(target - i - 1).map_err(|_| Error::msg("seccomp stub too long"))
        };
        if i == ja {
            k = (filter - i - 1) as u32;
        }
        out.extend_from_slice(&code.to_ne_bytes());
        out.push(off(jt)?);
        out.push(off(jf)?);
        out.extend_from_slice(&k.to_ne_bytes());
    }
    Ok(out)
}

fn scratch_file() -> Result<std::fs::File> {
    crate::sys::memfd(c"berth-seccomp")
        .map(std::fs::File::from)
        .map_err(|x| Error::msg(format!("linux.seccomp: memfd_create: {x}")))
}

/// Writes the program atomically (temp, fsync, rename), the directory
/// private to root.
fn store(dir: &Path, path: &Path, bpf: &[u8]) -> std::result::Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    berth_util::fs::AtomicWrite::new(berth_util::fs::Durability::Flushed)
        .mode(0o600)
        .write(path, bpf)
        .map_err(|e| e.to_string())
}

/// Loads the filter into the calling process; returns the notify fd when the
/// profile uses SCMP_ACT_NOTIFY. A program [`prepare`]d for this profile is
/// installed as it is.
pub fn load(s: &LinuxSeccomp) -> Result<Option<std::os::fd::OwnedFd>> {
    if let Some(c) = PREPARED.get() {
        if serde_json::to_vec(s).is_ok_and(|p| p == c.profile) {
            crate::sys::seccomp_set_filter(&c.bpf, c.flags)
                .map_err(|x| Error::msg(format!("linux.seccomp: cannot load the filter: {x}")))?;
            return Ok(None);
        }
    }
    if !uses_notify(s) {
        let bpf = compile(s)?;
        crate::sys::seccomp_set_filter(&bpf, filter_flags(s))
            .map_err(|x| Error::msg(format!("linux.seccomp: cannot load the filter: {x}")))?;
        return Ok(None);
    }
    // The listener's fd comes from libseccomp's own load (no ENOSYS stub).
    let ctx = build(s)?;
    ctx.load()
        .map_err(|x| Error::msg(format!("linux.seccomp: cannot load the filter: {x}")))?;
    let fd = ctx
        .get_notify_fd()
        .map_err(|x| Error::msg(format!("linux.seccomp: no notify fd: {x}")))?;
    // The fd stays owned by the filter context; keep a duplicate of our own.
    let owned =
        nix::unistd::dup(borrow(fd)).map_err(|x| Error::msg(format!("dup notify fd: {x}")))?;
    Ok(Some(owned))
}

fn borrow(fd: i32) -> std::os::fd::BorrowedFd<'static> {
    crate::sys::borrow_fd(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_profile_with_args_and_unknown_names() {
        let s: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["read", "write", "no_such_syscall_xyz"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}
            ]
        }))
        .unwrap();
        build(&s).unwrap();
        assert!(!uses_notify(&s));
    }

    #[test]
    fn enosys_stub_only_with_a_denying_default() {
        let profile = |default: &str, errno: Option<u32>| -> LinuxSeccomp {
            let mut v = serde_json::json!({
                "defaultAction": default,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [{"names": ["read", "write", "futex_waitv"], "action": "SCMP_ACT_ALLOW"},
                             {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
            });
            if let Some(e) = errno {
                v["defaultErrnoRet"] = e.into();
            }
            serde_json::from_value(v).unwrap()
        };
        let exported = |s: &LinuxSeccomp| {
            let ctx = build(s).unwrap();
            let mut f = scratch_file().unwrap();
            ctx.export_bpf(&f).unwrap();
            let mut b = Vec::new();
            f.rewind().unwrap();
            f.read_to_end(&mut b).unwrap();
            b
        };
        for (default, errno) in [
            ("SCMP_ACT_ALLOW", None),
            ("SCMP_ACT_LOG", None),
            ("SCMP_ACT_ERRNO", Some(libc::ENOSYS as u32)),
        ] {
            let s = profile(default, errno);
            assert!(enosys_stub(&s).unwrap().is_empty(), "{default}");
            assert_eq!(compile(&s).unwrap(), exported(&s), "{default}");
        }
        let s = profile("SCMP_ACT_ERRNO", None);
        let stub = enosys_stub(&s).unwrap();
        assert!(!stub.is_empty() && stub.len() % 8 == 0);
        let c = compile(&s).unwrap();
        assert_eq!(&c[..stub.len()], &stub[..]);
        assert_eq!(&c[stub.len()..], &exported(&s)[..]);
        // The stub's last instruction is the ENOSYS return, right before the filter.
        let last = &stub[stub.len() - 8..];
        assert_eq!(u16::from_ne_bytes([last[0], last[1]]), 0x06);
        assert_eq!(
            u32::from_ne_bytes([last[4], last[5], last[6], last[7]]),
            RET_ENOSYS
        );
    }

    #[test]
    fn masked_eq_value_is_the_mask() {
        let a: oci_spec::runtime::LinuxSeccompArg = serde_json::from_value(
            serde_json::json!({"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}),
        )
        .unwrap();
        assert_eq!(
            arg_compare(&a),
            ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(2114060288), 0)
        );
    }
}
