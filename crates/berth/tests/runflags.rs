//! The run/create flags Compose files use: --device, --device-cgroup-rule,
//! --pid, --ipc, --userns, --sysctl, --cpuset-cpus, --cpu-shares, --link.
//! Each is checked inside the container and in inspect's HostConfig.
mod common;

use common::Env;
use serde_json::Value;

/// A test root with the busybox image `bb`; removes its containers at the end.
struct Ctr {
    env: Env,
}

impl Ctr {
    fn new() -> Ctr {
        let env = Env::new();
        // The applets these tests use besides the usual ones.
        let applets = [
            "sh", "ls", "cat", "echo", "true", "sleep", "readlink", "ps", "grep", "head", "wc",
            "cut", "mknod", "ping",
        ];
        std::fs::write(
            env.path("busybox.tar"),
            berth_testkit::busybox_tar(&applets),
        )
        .unwrap();
        env.import_busybox("bb", &[]);
        Ctr { env }
    }

    fn ok(&self, args: &[&str]) -> String {
        self.env.ok(args)
    }

    fn host_config(&self, c: &str) -> Value {
        let v: Value = serde_json::from_str(&self.ok(&["inspect", c])).unwrap();
        v[0]["HostConfig"].clone()
    }

    /// `run` that must fail with 125 and a one-line message containing `want`.
    fn refused(&self, args: &[&str], want: &str) {
        let err = self.env.fails(args, 125);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let ids = self.env.output(&["ps", "-a", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.env.output(&["rm", "-f", id]);
        }
    }
}

fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn cpuset_cpus_and_cpu_shares() {
    let c = Ctr::new();
    let out = c.ok(&[
        "run",
        "--name",
        "cpu",
        "--network",
        "none",
        "--cpuset-cpus",
        "0",
        "--cpu-shares",
        "512",
        "bb",
        "sh",
        "-c",
        "grep Cpus_allowed_list /proc/self/status; \
         cat /sys/fs/cgroup/cpu.weight 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.shares \
         || cat /sys/fs/cgroup/cpu,cpuacct/cpu.shares",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["Cpus_allowed_list:", "0"]
    );
    // cgroup v1 cpu.shares, or v2 cpu.weight (512 shares → weight 20).
    assert!(lines[1] == "512" || lines[1] == "20", "{out}");
    let h = c.host_config("cpu");
    assert_eq!(h["CpusetCpus"], "0");
    assert_eq!(h["CpuShares"], 512);
    c.refused(
        &["run", "--cpu-shares", "1", "bb", "true"],
        "invalid --cpu-shares \"1\"",
    );
    c.refused(
        &["run", "--cpuset-cpus", "9999", "bb", "true"],
        "invalid --cpuset-cpus \"9999\"",
    );
    c.refused(
        &["run", "--cpuset-cpus", "x", "bb", "true"],
        "invalid --cpuset-cpus \"x\"",
    );
}

#[test]
fn devices_and_device_cgroup_rules() {
    let c = Ctr::new();
    let out = c.ok(&[
        "run",
        "--name",
        "dev",
        "--network",
        "none",
        "--device",
        "/dev/null:/dev/mynull:rw",
        "bb",
        "sh",
        "-c",
        "ls -l /dev/mynull | cut -c1; echo data > /dev/mynull && echo written",
    ]);
    assert_eq!(out, "c\nwritten\n");
    let out = c.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--device",
        "/dev/kmsg:/dev/k:w",
        "bb",
        "sh",
        "-c",
        "echo berth-test > /dev/k && echo k-written",
    ]);
    assert_eq!(out, "k-written\n");
    let h = c.host_config("dev");
    assert_eq!(h["Devices"][0]["PathOnHost"], "/dev/null");
    assert_eq!(h["Devices"][0]["PathInContainer"], "/dev/mynull");
    assert_eq!(h["Devices"][0]["CgroupPermissions"], "rw");
    // A node made in the container (/dev/kmsg's numbers): usable only with a rule for it.
    let script =
        "mknod /dev/k c 1 11 && (echo berth-test > /dev/k) 2>/dev/null && echo usable || echo denied";
    let out = c.ok(&["run", "--rm", "--network", "none", "bb", "sh", "-c", script]);
    assert_eq!(out, "denied\n");
    let out = c.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--device-cgroup-rule",
        "c 1:11 rwm",
        "bb",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(out, "usable\n");
    c.refused(
        &["run", "--device", "/etc/passwd", "bb", "true"],
        "is not a device",
    );
    c.refused(
        &["run", "--device", "/dev/null:/x:rwz", "bb", "true"],
        "invalid --device",
    );
    c.refused(
        &["run", "--device-cgroup-rule", "q 1:3 r", "bb", "true"],
        "invalid --device-cgroup-rule",
    );
}

#[test]
fn pid_host_and_container() {
    let c = Ctr::new();
    let out = c.ok(&[
        "run",
        "--name",
        "hostpid",
        "--network",
        "none",
        "--pid",
        "host",
        "bb",
        "readlink",
        "/proc/self/ns/pid",
    ]);
    assert_eq!(out.trim(), host_ns("pid"));
    assert_eq!(c.host_config("hostpid")["PidMode"], "host");
    let out = c.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb",
        "readlink",
        "/proc/self/ns/pid",
    ]);
    assert_ne!(out.trim(), host_ns("pid"));
    c.ok(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--network",
        "none",
        "bb",
        "sleep",
        "100",
    ]);
    let donor = c.ok(&["exec", "donor", "readlink", "/proc/self/ns/pid"]);
    let out = c.ok(&[
        "run",
        "--name",
        "joiner",
        "--network",
        "none",
        "--pid",
        "container:donor",
        "bb",
        "sh",
        "-c",
        "readlink /proc/self/ns/pid; ps -o comm | grep -c sleep",
    ]);
    assert_eq!(out, format!("{}1\n", donor));
    assert_eq!(c.host_config("joiner")["PidMode"], "container:donor");
    c.ok(&["create", "--name", "stopped", "bb", "true"]);
    c.refused(
        &["run", "--pid", "container:stopped", "bb", "true"],
        "cannot join PID of a non running container: stopped",
    );
    c.refused(
        &["run", "--pid", "private", "bb", "true"],
        "invalid --pid \"private\"",
    );
}

#[test]
fn ipc_modes() {
    let c = Ctr::new();
    let out = c.ok(&[
        "run",
        "--name",
        "hostipc",
        "--network",
        "none",
        "--ipc",
        "host",
        "bb",
        "readlink",
        "/proc/self/ns/ipc",
    ]);
    assert_eq!(out.trim(), host_ns("ipc"));
    assert_eq!(c.host_config("hostipc")["IpcMode"], "host");
    let out = c.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--ipc",
        "none",
        "bb",
        "sh",
        "-c",
        "grep -c ' /dev/shm ' /proc/mounts || true",
    ]);
    assert_eq!(out, "0\n");
    c.ok(&[
        "run",
        "-d",
        "--name",
        "shared",
        "--network",
        "none",
        "--ipc",
        "shareable",
        "bb",
        "sh",
        "-c",
        "echo hi > /dev/shm/f; sleep 100",
    ]);
    let donor = c.ok(&["exec", "shared", "readlink", "/proc/self/ns/ipc"]);
    let out = c.ok(&[
        "run",
        "--name",
        "ipcjoin",
        "--network",
        "none",
        "--ipc",
        "container:shared",
        "bb",
        "sh",
        "-c",
        "readlink /proc/self/ns/ipc; cat /dev/shm/f",
    ]);
    assert_eq!(out, format!("{donor}hi\n"));
    assert_eq!(c.host_config("ipcjoin")["IpcMode"], "container:shared");
    assert_eq!(c.host_config("shared")["IpcMode"], "shareable");
    c.ok(&[
        "run",
        "-d",
        "--name",
        "private",
        "--network",
        "none",
        "bb",
        "sleep",
        "100",
    ]);
    c.refused(
        &["run", "--ipc", "container:private", "bb", "true"],
        "non-shareable IPC",
    );
    c.refused(
        &["run", "--ipc", "bogus", "bb", "true"],
        "invalid --ipc \"bogus\"",
    );
}

#[test]
fn userns_host_only() {
    let c = Ctr::new();
    c.ok(&[
        "run",
        "--name",
        "uns",
        "--network",
        "none",
        "--userns",
        "host",
        "bb",
        "true",
    ]);
    assert_eq!(c.host_config("uns")["UsernsMode"], "host");
    // "" is docker's default (no remapping), as no flag.
    c.ok(&[
        "run",
        "--name",
        "uns2",
        "--network",
        "none",
        "--userns",
        "",
        "bb",
        "true",
    ]);
    assert_eq!(c.host_config("uns2")["UsernsMode"], "");
    // Anything else needs docker's daemon userns-remap: refused, naming
    // the flag and the value.
    c.refused(
        &["run", "--userns", "private", "bb", "true"],
        "invalid --userns \"private\": only \"host\" and \"\" (the default) are supported",
    );
}

#[test]
fn sysctls_in_their_namespaces() {
    let c = Ctr::new();
    let out = c.ok(&[
        "run",
        "--name",
        "sys",
        "--network",
        "none",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--sysctl",
        "kernel.shmmax=123456789",
        "--sysctl",
        "fs.mqueue.msg_max=20",
        "bb",
        "sh",
        "-c",
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax /proc/sys/fs/mqueue/msg_max",
    ]);
    assert_eq!(out, "1\n123456789\n20\n");
    let h = c.host_config("sys");
    assert_eq!(h["Sysctls"]["kernel.shmmax"], "123456789");
    assert_eq!(h["Sysctls"]["net.ipv4.ip_forward"], "1");
    c.refused(
        &[
            "run",
            "--network",
            "host",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "bb",
            "true",
        ],
        "net.* sysctls are not allowed",
    );
    c.refused(
        &[
            "run",
            "--network",
            "none",
            "--ipc",
            "host",
            "--sysctl",
            "kernel.shmmax=1",
            "bb",
            "true",
        ],
        "IPC sysctls are not allowed",
    );
    c.refused(
        &["run", "--sysctl", "kernel.hostname=x", "bb", "true"],
        "is not allowed",
    );
    c.refused(
        &["run", "--sysctl", "vm.swappiness", "bb", "true"],
        "expected KEY=VALUE",
    );
}

#[test]
fn links_add_hosts_entries() {
    let c = Ctr::new();
    c.ok(&["run", "-d", "--name", "db", "bb", "sleep", "100"]);
    let db: Value = serde_json::from_str(&c.ok(&["inspect", "db"])).unwrap();
    let ip = db[0]["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!ip.is_empty());
    let out = c.ok(&[
        "run",
        "--name",
        "web",
        "--link",
        "db:database",
        "bb",
        "sh",
        "-c",
        "grep -w database /etc/hosts; ping -c 1 -W 2 database >/dev/null && echo reached",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with(&format!("{ip}\tdatabase ")), "{out}");
    assert!(lines[0].ends_with(" db"), "{out}");
    assert_eq!(lines[1], "reached");
    assert_eq!(
        c.host_config("web")["Links"],
        serde_json::json!(["/db:/web/database"])
    );
    c.refused(
        &["run", "--link", "nope", "bb", "true"],
        "could not get container for nope",
    );
    c.refused(
        &["run", "--network", "none", "--link", "db", "bb", "true"],
        "none type networking can't be used with links",
    );
    c.ok(&["stop", "-t", "1", "db"]);
    c.refused(
        &["run", "--link", "db", "bb", "true"],
        "Cannot link to a non running container",
    );
}
