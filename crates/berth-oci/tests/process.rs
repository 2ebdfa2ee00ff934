//! process.*: args, env, cwd, user, umask, rlimits, noNewPrivileges,
//! capabilities, oomScoreAdj, and a missing executable.

mod common;
use common::*;
use serde_json::json;

/// Runs `script` in a fresh container built from `edit`; returns the output.
fn run_sh(edit: impl FnOnce(&mut serde_json::Value), script: &str) -> Out {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.edit(edit);
    b.sh(script);
    let id = unique_id("proc");
    rt.run(&b, &id)
}

#[test]
fn args_and_env() {
    let o = run_sh(
        |c| {
            c["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz", "EMPTY="]);
        },
        "echo \"$0|$1|$FOO|$EMPTY|$HOME|$PATH\"",
    );
    o.ok();
    assert_eq!(o.stdout, "sh||bar baz||/root|/bin\n", "{o}");

    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["echo", "a b", "", "c"]);
    let o = rt.run(&b, &unique_id("args"));
    o.ok();
    assert_eq!(o.stdout, "a b  c\n", "args must be passed verbatim: {o}");
}

#[test]
fn env_home_is_kept_when_given() {
    let o = run_sh(
        |c| c["process"]["env"] = json!(["PATH=/bin", "HOME=/custom"]),
        "echo $HOME",
    );
    o.ok();
    assert_eq!(o.stdout, "/custom\n");
}

#[test]
fn cwd_is_used() {
    let o = run_sh(|c| c["process"]["cwd"] = json!("/etc"), "pwd");
    o.ok();
    assert_eq!(o.stdout, "/etc\n", "{o}");
}

#[test]
fn cwd_created_if_missing() {
    let o = run_sh(
        |c| {
            c["process"]["cwd"] = json!("/work/sub/dir");
            c["root"]["readonly"] = json!(false);
        },
        "pwd",
    );
    o.ok();
    assert_eq!(o.stdout, "/work/sub/dir\n", "{o}");
}

#[test]
fn cwd_created_if_missing_with_readonly_root() {
    // runc creates the cwd before making the root read-only.
    let o = run_sh(
        |c| {
            c["process"]["cwd"] = json!("/work/ro-sub");
            c["root"]["readonly"] = json!(true);
        },
        "pwd",
    );
    o.ok();
    assert_eq!(o.stdout, "/work/ro-sub\n", "{o}");
}

#[test]
fn user_uid_gid_additional_gids() {
    let o = run_sh(
        |c| {
            c["process"]["user"] =
                json!({"uid": 1000, "gid": 1000, "additionalGids": [2000, 65534]});
        },
        "id; grep -E '^(Uid|Gid|Groups):' /proc/self/status; echo HOME=$HOME",
    );
    o.ok();
    let first = o.stdout.lines().next().unwrap();
    assert!(first.starts_with("uid=1000(user) gid=1000(user)"), "{o}");
    assert!(
        first.contains("2000(extra)") && first.contains("65534(nogroup)"),
        "{o}"
    );
    assert!(o.stdout.contains("Uid:\t1000\t1000\t1000\t1000"), "{o}");
    assert!(o.stdout.contains("Gid:\t1000\t1000\t1000\t1000"), "{o}");
    let groups = o.stdout.lines().find(|l| l.starts_with("Groups:")).unwrap();
    let mut g: Vec<&str> = groups["Groups:".len()..].split_whitespace().collect();
    g.sort();
    assert_eq!(g, vec!["2000", "65534"], "{o}");
    // HOME from /etc/passwd when the env has none.
    assert!(o.stdout.contains("HOME=/home/user"), "{o}");
}

#[test]
fn user_without_additional_gids_has_no_groups() {
    let o = run_sh(
        |c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000}),
        "grep '^Groups:' /proc/self/status",
    );
    o.ok();
    assert_eq!(o.stdout.trim(), "Groups:", "host groups leaked: {o}");
}

#[test]
fn umask_default_and_set() {
    let o = run_sh(|_| {}, "umask");
    o.ok();
    assert_eq!(o.stdout.trim(), "0022", "{o}");
    let o = run_sh(
        |c| c["process"]["user"] = json!({"uid": 0, "gid": 0, "umask": 0o077}),
        "umask",
    );
    o.ok();
    assert_eq!(o.stdout.trim(), "0077", "{o}");
}

#[test]
fn umask_applies_to_new_files() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 0, "gid": 0, "umask": 0o027});
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"}));
    });
    b.sh("touch /scratch/f; mkdir /scratch/d; stat -c %a /scratch/f /scratch/d");
    let o = rt.run(&b, &unique_id("umask"));
    o.ok();
    assert_eq!(o.stdout, "640\n750\n", "{o}");
}

#[test]
fn rlimit_nofile() {
    let o = run_sh(
        |c| {
            c["process"]["rlimits"] =
                json!([{"type": "RLIMIT_NOFILE", "soft": 1111, "hard": 2222}]);
        },
        "ulimit -n; ulimit -Hn; grep 'Max open files' /proc/self/limits",
    );
    o.ok();
    let mut l = o.stdout.lines();
    assert_eq!(l.next(), Some("1111"), "{o}");
    assert_eq!(l.next(), Some("2222"), "{o}");
    let lim: Vec<&str> = l.next().unwrap().split_whitespace().collect();
    assert_eq!(&lim[3..5], &["1111", "2222"], "{o}");
}

#[test]
fn rlimit_above_hard_limit_fails_cleanly() {
    // We lack CAP_SYS_RESOURCE: raising the hard limit above ours must fail
    // at create, with the field named, and leave nothing behind.
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.edit(|c| {
        c["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 10_000_000u64}]);
    });
    let id = unique_id("rlim");
    let o = rt.create(&b, &id);
    let e = o.fails();
    assert!(e.contains("process.rlimits"), "{o}");
    assert!(!rt.state_dir(&id).exists());
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
}

#[test]
fn no_new_privileges() {
    let o = run_sh(
        |c| c["process"]["noNewPrivileges"] = json!(true),
        "grep NoNewPrivs /proc/self/status",
    );
    o.ok();
    assert_eq!(o.stdout.split_whitespace().nth(1), Some("1"), "{o}");
    let o = run_sh(
        |c| c["process"]["noNewPrivileges"] = json!(false),
        "grep NoNewPrivs /proc/self/status",
    );
    o.ok();
    assert_eq!(o.stdout.split_whitespace().nth(1), Some("0"), "{o}");
}

fn caps_of(out: &str) -> std::collections::HashMap<String, u64> {
    out.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.starts_with("Cap")
                .then(|| (k.to_string(), u64::from_str_radix(v.trim(), 16).unwrap()))
        })
        .collect()
}

#[test]
fn capabilities_sets() {
    // CAP_CHOWN = 0, CAP_KILL = 5, CAP_NET_BIND_SERVICE = 10, CAP_SYS_ADMIN = 21
    let o = run_sh(
        |c| {
            c["process"]["capabilities"] = json!({
                "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_KILL"],
                "permitted": ["CAP_KILL", "CAP_CHOWN"],
                "inheritable": ["CAP_KILL"],
                "ambient": ["CAP_KILL"]
            });
        },
        "grep ^Cap /proc/self/status",
    );
    o.ok();
    let c = caps_of(&o.stdout);
    // After exec as root: permitted/effective come from the bounding set
    // intersected with (inheritable | ...) rules for uid 0: P' = bounding.
    assert_eq!(c["CapBnd"], 0b100_0010_0001, "{o}");
    assert_eq!(c["CapInh"], 1 << 5, "{o}");
    assert_eq!(c["CapAmb"], 1 << 5, "{o}");
    assert_eq!(
        c["CapEff"] & !c["CapBnd"],
        0,
        "effective outside bounding: {o}"
    );
    assert_eq!(c["CapEff"] & (1 << 21), 0, "{o}");
}

#[test]
fn capabilities_for_non_root_user() {
    // For uid != 0 what survives execve is the ambient set.
    let o = run_sh(
        |c| {
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            c["process"]["capabilities"] = json!({
                "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_NET_BIND_SERVICE"],
                "inheritable": ["CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_NET_BIND_SERVICE"]
            });
        },
        "grep ^Cap /proc/self/status",
    );
    o.ok();
    let c = caps_of(&o.stdout);
    assert_eq!(c["CapBnd"], (1 << 5) | (1 << 10), "{o}");
    assert_eq!(c["CapEff"], 1 << 10, "{o}");
    assert_eq!(c["CapPrm"], 1 << 10, "{o}");
    assert_eq!(c["CapAmb"], 1 << 10, "{o}");
}

#[test]
fn capabilities_empty_drops_everything() {
    let o = run_sh(
        |c| {
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            c["process"]["capabilities"] =
                json!({"bounding": [], "effective": [], "permitted": []});
        },
        "grep ^Cap /proc/self/status",
    );
    o.ok();
    let c = caps_of(&o.stdout);
    for k in ["CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"] {
        assert_eq!(c[k], 0, "{k}: {o}");
    }
}

#[test]
fn default_spec_capabilities() {
    // spec: bounding/effective/permitted = AUDIT_WRITE(29), KILL(5), NET_BIND_SERVICE(10)
    let o = run_sh(|_| {}, "grep ^Cap /proc/self/status");
    o.ok();
    let c = caps_of(&o.stdout);
    let want = (1u64 << 29) | (1 << 5) | (1 << 10);
    assert_eq!(c["CapBnd"], want, "{o}");
    assert_eq!(c["CapEff"], want, "{o}");
    assert_eq!(c["CapPrm"], want, "{o}");
}

#[test]
fn oom_score_adj() {
    let o = run_sh(
        |c| c["process"]["oomScoreAdj"] = json!(500),
        "cat /proc/self/oom_score_adj",
    );
    o.ok();
    assert_eq!(o.stdout.trim(), "500", "{o}");
}

#[test]
fn executable_not_found_fails_create_and_leaves_nothing() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["definitely-not-here"]);
    let id = unique_id("noexe");
    let o = rt.create(&b, &id);
    let e = o.fails();
    assert!(e.contains("executable file not found"), "{o}");
    assert_eq!(e.trim().lines().count(), 1, "one-line error: {o}");
    assert!(!rt.state_dir(&id).exists(), "state dir left behind");
    assert!(
        !cgroup_dir("memory", &id).exists(),
        "cgroup left behind: {:?}",
        leftover_cgroups(&id)
    );
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
    let l = rt.cmd(&["list", "-q"]);
    assert_eq!(l.stdout.trim(), "");

    // An absolute path that does not exist, and one that is not executable.
    b.args(&["/bin/nope"]);
    let o = rt.create(&b, &id);
    assert!(o.fails().contains("no such file"), "{o}");
    b.args(&["/etc/passwd"]);
    let o = rt.create(&b, &id);
    assert!(o.fails().contains("permission denied"), "{o}");
    assert!(!rt.state_dir(&id).exists());
    // `run` fails the same way.
    b.args(&["definitely-not-here"]);
    let o = rt.run(&b, &id);
    assert!(o.fails().contains("executable file not found"), "{o}");
    assert!(!rt.state_dir(&id).exists());
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
}

#[test]
fn path_lookup_uses_container_path() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    std::fs::create_dir_all(b.rootfs().join("opt/tools")).unwrap();
    b.edit(|c| c["process"]["env"] = json!(["PATH=/opt/tools"]));
    std::os::unix::fs::symlink("/bin/busybox", b.rootfs().join("opt/tools/echo")).unwrap();
    b.args(&["echo", "found"]);
    let o = rt.run(&b, &unique_id("path"));
    o.ok();
    assert_eq!(o.stdout, "found\n");
}
