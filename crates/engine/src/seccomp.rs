//! Seccomp profiles in docker's format: the default profile (the one the
//! distribution's containers-common package installs, Docker's default with
//! podman's additions; see [`default_profile`]) and custom profiles, turned
//! into an OCI `linux.seccomp` the way moby's `profiles/seccomp/seccomp_linux.go`
//! (`setupSeccomp`) does: the architecture map picks this machine's
//! architectures, and rules whose `includes`/`excludes` (capabilities in the
//! bounding set, architectures, minimum kernel) do not match are dropped.

use crate::error::{Error, Result};
use serde::Deserialize;
use serde_json::{json, Value};

/// Where the default profile is looked for, in order (after `$BERTH_SECCOMP_PROFILE`).
pub const DEFAULT_PROFILE_PATHS: &[&str] = &[
    "/etc/berth/seccomp.json",
    "/etc/containers/seccomp.json",
    "/usr/share/containers/seccomp.json",
];

/// The default profile's text: `$BERTH_SECCOMP_PROFILE`, else the first of
/// [`DEFAULT_PROFILE_PATHS`] that exists. Debian's
/// golang-github-containers-common package (a dependency of podman and
/// buildah) installs /usr/share/containers/seccomp.json.
pub fn default_profile() -> Result<String> {
    let env = std::env::var_os("BERTH_SECCOMP_PROFILE").map(std::path::PathBuf::from);
    let candidates = env
        .into_iter()
        .chain(DEFAULT_PROFILE_PATHS.iter().map(std::path::PathBuf::from));
    for p in candidates {
        if let Ok(text) = std::fs::read_to_string(&p) {
            return Ok(text);
        }
    }
    Err(Error::Msg(format!(
        "no default seccomp profile found (looked in $BERTH_SECCOMP_PROFILE and {}): install \
         golang-github-containers-common, or run with --security-opt seccomp=unconfined",
        DEFAULT_PROFILE_PATHS.join(", ")
    )))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(default)]
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    arch_map: Vec<ArchMap>,
    #[serde(default)]
    listener_path: Option<String>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    syscalls: Vec<Syscall>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Syscall {
    #[serde(default)]
    name: String,
    #[serde(default)]
    names: Vec<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Value>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// Go's GOARCH for this machine.
fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "mips64" => "mips64le",
        a => a,
    }
}

fn native_scmp_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "x86" => "SCMP_ARCH_X86",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "arm" => "SCMP_ARCH_ARM",
        "powerpc64" => "SCMP_ARCH_PPC64LE",
        "s390x" => "SCMP_ARCH_S390X",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "mips64" => "SCMP_ARCH_MIPSEL64",
        _ => "",
    }
}

fn kernel_version() -> (u32, u32) {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    parse_kernel(r.trim()).unwrap_or((0, 0))
}

fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Converts a docker-format profile (JSON text) for a container whose
/// bounding set is `caps`. `None` if the profile enables nothing.
pub fn convert(profile: &str, caps: &[String]) -> Result<Option<Value>> {
    convert_for(
        profile,
        caps,
        goarch(),
        native_scmp_arch(),
        kernel_version(),
    )
}

fn convert_for(
    profile: &str,
    caps: &[String],
    arch: &str,
    scmp_arch: &str,
    kernel: (u32, u32),
) -> Result<Option<Value>> {
    let p: Profile = serde_json::from_str(profile)
        .map_err(|e| Error::invalid(format!("invalid seccomp profile: {e}")))?;
    if p.default_action.is_empty() && p.syscalls.is_empty() {
        return Ok(None);
    }
    if !p.architectures.is_empty() && !p.arch_map.is_empty() {
        return Err(Error::invalid(
            "invalid seccomp profile: use either 'architectures' or 'archMap'",
        ));
    }
    let mut arches = p.architectures.clone();
    for a in &p.arch_map {
        if a.architecture == scmp_arch {
            arches.push(a.architecture.clone());
            arches.extend(a.sub_architectures.clone().unwrap_or_default());
        }
    }
    let kernel_ge = |v: &str| parse_kernel(v).map(|want| kernel >= want).unwrap_or(false);
    let mut rules = Vec::new();
    for (i, call) in p.syscalls.iter().enumerate() {
        let mut names = call.names.clone();
        if !call.name.is_empty() {
            if !names.is_empty() {
                return Err(Error::invalid(format!(
                    "invalid seccomp profile: syscalls[{i}]: use either 'name' or 'names'"
                )));
            }
            names.push(call.name.clone());
        }
        if let Some(x) = &call.excludes {
            if x.arches.iter().any(|a| a == arch)
                || x.caps.iter().any(|c| caps.contains(c))
                || x.min_kernel.as_deref().is_some_and(kernel_ge)
            {
                continue;
            }
        }
        if let Some(inc) = &call.includes {
            if (!inc.arches.is_empty() && !inc.arches.iter().any(|a| a == arch))
                || inc.caps.iter().any(|c| !caps.contains(c))
                || inc.min_kernel.as_deref().is_some_and(|v| !kernel_ge(v))
            {
                continue;
            }
        }
        let mut r = json!({"names": names, "action": call.action});
        if let Some(e) = call.errno_ret {
            r["errnoRet"] = json!(e);
        }
        if let Some(args) = &call.args {
            r["args"] = json!(args);
        }
        rules.push(r);
    }
    let mut out = json!({"defaultAction": p.default_action, "syscalls": rules});
    if !arches.is_empty() {
        out["architectures"] = json!(arches);
    }
    if let Some(e) = p.default_errno_ret {
        out["defaultErrnoRet"] = json!(e);
    }
    if let Some(l) = p.listener_path {
        out["listenerPath"] = json!(l);
    }
    if let Some(l) = p.listener_metadata {
        out["listenerMetadata"] = json!(l);
    }
    if !p.flags.is_empty() {
        out["flags"] = json!(p.flags);
    }
    // Check it is a valid OCI seccomp section.
    serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(out.clone())
        .map_err(|e| Error::invalid(format!("invalid seccomp profile: {e}")))?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small profile in docker's format, written for these tests, with one
    /// rule of each kind the default profile has.
    const FIXTURE: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
        ],
        "syscalls": [
            {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
            {"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm", "arm64"]}},
            {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
            {"names": ["reboot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_BOOT"]}},
            {"names": ["mount", "clone3"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
             "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
        ]
    }"#;

    fn names(v: &Value) -> Vec<String> {
        v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                r["names"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_str().unwrap().to_string())
            })
            .collect()
    }

    #[test]
    fn default_profile_for_default_caps() {
        let caps: Vec<String> = crate::caps::DEFAULT.iter().map(|s| s.to_string()).collect();
        let v = convert_for(FIXTURE, &caps, "amd64", "SCMP_ARCH_X86_64", (6, 1))
            .unwrap()
            .unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 1);
        assert_eq!(
            v["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        let n = names(&v);
        assert!(n.contains(&"read".to_string()));
        assert!(n.contains(&"arch_prctl".to_string()));
        assert!(
            n.contains(&"chroot".to_string()),
            "CAP_SYS_CHROOT is in the default set"
        );
        assert!(n.contains(&"ptrace".to_string()), "minKernel 4.8 is met");
        assert!(!n.contains(&"mount".to_string()), "needs CAP_SYS_ADMIN");
        assert!(!n.contains(&"set_tls".to_string()), "arm only");
        assert!(!n.contains(&"reboot".to_string()));
        // clone without namespace flags, clone3 answered ENOSYS.
        let clone = v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["names"] == json!(["clone"]))
            .unwrap();
        assert_eq!(clone["args"][0]["value"], 2114060288u64);
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        let clone3 = v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["names"] == json!(["clone3"]))
            .unwrap();
        assert_eq!(clone3["errnoRet"], 38);
        serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(v).unwrap();
    }

    #[test]
    fn sys_admin_and_old_kernel() {
        let caps = vec!["CAP_SYS_ADMIN".to_string()];
        let v = convert_for(FIXTURE, &caps, "amd64", "SCMP_ARCH_X86_64", (4, 4))
            .unwrap()
            .unwrap();
        let n = names(&v);
        assert!(n.contains(&"mount".to_string()));
        assert!(
            !n.contains(&"clone3".to_string()) || {
                // clone3 is allowed through the CAP_SYS_ADMIN rule, not answered ENOSYS.
                !v["syscalls"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["errnoRet"] == 38)
            }
        );
        assert!(!n.contains(&"ptrace".to_string()), "kernel 4.4 < 4.8");
        let v = convert_for(FIXTURE, &caps, "arm64", "SCMP_ARCH_AARCH64", (6, 1))
            .unwrap()
            .unwrap();
        assert_eq!(
            v["architectures"],
            json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        );
        assert!(names(&v).contains(&"set_tls".to_string()));
    }

    #[test]
    fn custom_profiles() {
        let p = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO"}]}"#;
        let v = convert(p, &[]).unwrap().unwrap();
        assert_eq!(v["syscalls"][0]["names"], json!(["mkdir"]));
        assert!(convert("{}", &[]).unwrap().is_none());
        assert!(convert("not json", &[]).is_err());
        let both = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#;
        assert!(convert(both, &[]).is_err());
    }
}
