//! `linux.seccomp`: builds a libseccomp filter from the spec and loads it.

use crate::error::{Error, Result};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use std::str::FromStr;

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

/// Loads the filter into the calling process; returns the notify fd when the
/// profile uses SCMP_ACT_NOTIFY.
pub fn load(s: &LinuxSeccomp) -> Result<Option<std::os::fd::OwnedFd>> {
    let ctx = build(s)?;
    ctx.load()
        .map_err(|x| Error::msg(format!("linux.seccomp: cannot load the filter: {x}")))?;
    if uses_notify(s) {
        let fd = ctx
            .get_notify_fd()
            .map_err(|x| Error::msg(format!("linux.seccomp: no notify fd: {x}")))?;
        // The fd stays owned by the filter context; keep a duplicate of our own.
        let owned =
            nix::unistd::dup(borrow(fd)).map_err(|x| Error::msg(format!("dup notify fd: {x}")))?;
        return Ok(Some(owned));
    }
    Ok(None)
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
