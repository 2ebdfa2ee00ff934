//! Paths of a container or an image resolve inside its root, whatever links
//! it holds or a container process swaps in: `cp` into a running container,
//! user lookup, mount destinations under /proc and /sys, WORKDIR through a
//! link. The real `berth` binary on a per-test root. Needs root.

mod common;

use common::Env;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;

const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "true", "ln", "rm", "mkdir", "sleep", "id", "pwd", "ls", "test",
];

enum E<'a> {
    Dir,
    File(&'a [u8]),
    Link(&'a str),
}

/// busybox (bin/, tmp/) plus `entries`.
fn image_tar(entries: &[(&str, E)]) -> Vec<u8> {
    let mut base = berth_testkit::busybox_tar_with(&["bin/", "tmp/"], APPLETS, &[]);
    base.truncate(base.len() - 1024);
    let mut b = tar::Builder::new(base);
    for (path, e) in entries {
        let mut h = tar::Header::new_gnu();
        let (kind, data, link): (_, &[u8], _) = match e {
            E::Dir => (tar::EntryType::Directory, b"", None),
            E::File(d) => (tar::EntryType::Regular, d, None),
            E::Link(l) => (tar::EntryType::Symlink, b"", Some(*l)),
        };
        h.set_entry_type(kind);
        h.set_path(path).unwrap();
        h.set_mode(if matches!(e, E::File(_)) {
            0o644
        } else {
            0o755
        });
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

struct T {
    env: Env,
}

impl T {
    fn new() -> T {
        T { env: Env::new() }
    }

    fn import(&self, name: &str, changes: &[&str], entries: &[(&str, E)]) {
        let tar = self.env.path(&format!("{name}.tar"));
        std::fs::write(&tar, image_tar(entries)).unwrap();
        let mut args = vec!["import"];
        for c in changes {
            args.extend(["-c", c]);
        }
        args.extend([tar.to_str().unwrap(), name]);
        self.env.ok(&args);
    }

    /// A host directory, its path as a string.
    fn host_dir(&self, name: &str) -> String {
        let p = self.env.path(name);
        std::fs::create_dir_all(&p).unwrap();
        p.to_string_lossy().into_owned()
    }
}

impl Drop for T {
    fn drop(&mut self) {
        let ids = self.env.output(&["ps", "-a", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.env.output(&["rm", "-f", "-v", id]);
        }
    }
}

/// Mode, owner and times of a host path (not following a link).
fn meta(p: &Path) -> (u32, u32, u32, i64, i64) {
    let m = std::fs::symlink_metadata(p).unwrap();
    (m.mode(), m.uid(), m.gid(), m.mtime(), m.ctime())
}

fn set_old_mtime(p: &Path) {
    let past = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1000);
    std::fs::File::open(p)
        .unwrap()
        .set_times(
            std::fs::FileTimes::new()
                .set_modified(past)
                .set_accessed(past),
        )
        .unwrap();
}

/// A container process swaps the entries `berth cp` writes (`cp SRC` and
/// `cp -`) for symlinks to a host file and directory in a loop: no host
/// file outside the container's root may change (mode, owner, times,
/// content).
#[test]
fn cp_into_container_symlink_swap_stays_in_root() {
    let t = T::new();
    let s = t.host_dir("sentinel");
    let sentinel = Path::new(&s);
    std::fs::write(sentinel.join("f"), "host").unwrap();
    std::fs::create_dir(sentinel.join("d")).unwrap();
    for p in ["f", "d"] {
        let p = sentinel.join(p);
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        set_old_mtime(&p);
    }
    let before = (meta(&sentinel.join("f")), meta(&sentinel.join("d")));
    t.import("swap", &[], &[("dst/", E::Dir)]);
    let script = format!(
        "while :; do ln -sfn {s}/f /dst/x; rm -rf /dst/sub; ln -sfn {s}/d /dst/sub; \
         ln -sfn {s}/f /dst/sub/y; done"
    );
    let id = t.env.ok(&["run", "-d", "swap", "sh", "-c", &script]);
    let id = id.trim();
    // Big files: the swap lands while the data is written.
    let src = t.env.path("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("x"), vec![b'c'; 4 << 20]).unwrap();
    std::fs::write(src.join("sub/y"), vec![b'c'; 1 << 20]).unwrap();
    for p in ["x", "sub", "sub/y"] {
        std::fs::set_permissions(
            src.join(p),
            std::os::unix::fs::PermissionsExt::from_mode(0o4777),
        )
        .unwrap();
    }
    let from = format!("{}/.", src.display());
    let to = format!("{id}:/dst");
    for _ in 0..20 {
        // Failures are fine (the container pulls entries away); escapes are not.
        let _ = t.env.output(&["cp", "-a", &from, &to]);
        let _ = t.env.output(&["cp", &from, &to]);
    }
    let tar = {
        let mut b = tar::Builder::new(Vec::new());
        b.append_dir_all(".", &src).unwrap();
        b.into_inner().unwrap()
    };
    for _ in 0..10 {
        let mut c = t.env.cmd(&["cp", "-", &to]);
        c.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        let _ = child.stdin.take().unwrap().write_all(&tar);
        child.wait().unwrap();
    }
    t.env.ok(&["rm", "-f", id]);
    assert_eq!(
        (meta(&sentinel.join("f")), meta(&sentinel.join("d"))),
        before,
        "a host file outside the container changed"
    );
    assert_eq!(std::fs::read(sentinel.join("f")).unwrap(), b"host");
    assert_eq!(std::fs::read_dir(sentinel.join("d")).unwrap().count(), 0);
}

/// A destination through a symlink to an absolute host path (or climbing
/// out with `..`) lands inside the container's root, as docker resolves it
/// there; never on the host.
#[test]
fn cp_into_container_destination_symlink_lands_in_root() {
    let t = T::new();
    let h = t.host_dir("hostdir");
    let inside = format!("{}/", h.trim_start_matches('/'));
    t.import(
        "dlink",
        &[],
        &[
            ("dst/", E::Dir),
            (&inside, E::Dir),
            ("dst/link", E::Link(&h)),
            ("dst/up", E::Link("../../../../../../..")),
        ],
    );
    let id = t.env.ok(&["run", "-d", "dlink", "sleep", "1000"]);
    let id = id.trim();
    let f = t.env.path("f");
    std::fs::write(&f, "copied").unwrap();
    let f = f.to_str().unwrap();
    t.env.ok(&["cp", f, &format!("{id}:/dst/link/")]);
    t.env.ok(&["cp", f, &format!("{id}:/dst/up/climbed")]);
    let mut c = t.env.cmd(&["cp", "-", &format!("{id}:/dst")]);
    c.stdin(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&berth_testkit::file_tar("link/viatar", b"tar"))
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        std::fs::read_dir(&h).unwrap().count(),
        0,
        "cp wrote into the host's {h}"
    );
    assert!(!Path::new("/climbed").exists());
    let out = t.env.ok(&[
        "exec",
        id,
        "sh",
        "-c",
        &format!("cat {h}/f; echo; cat /climbed; echo; cat {h}/viatar"),
    ]);
    assert_eq!(out, "copied\ncopied\ntar");
}

/// An image whose /etc/passwd, or /etc itself, is a symlink to an absolute
/// host path where a user exists that the image does not have: `run -u`
/// does not find it.
#[test]
fn user_lookup_does_not_follow_links_out_of_root() {
    let t = T::new();
    let h = t.host_dir("hostetc");
    std::fs::write(format!("{h}/passwd"), "hostonly:x:4242:4242::/:/bin/sh\n").unwrap();
    std::fs::write(format!("{h}/group"), "hostgrp:x:4343:\n").unwrap();
    let passwd = format!("{h}/passwd");
    t.import(
        "ulink1",
        &[],
        &[("etc/", E::Dir), ("etc/passwd", E::Link(&passwd))],
    );
    t.import("ulink2", &[], &[("etc", E::Link(&h))]);
    for img in ["ulink1", "ulink2"] {
        let err = t
            .env
            .fails(&["run", "--rm", "-u", "hostonly", img, "id"], 125);
        assert!(err.contains("unable to find user hostonly"), "{img}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        let err = t
            .env
            .fails(&["run", "--rm", "-u", "0:hostgrp", img, "id"], 125);
        assert!(err.contains("unable to find group hostgrp"), "{img}: {err}");
    }
    // The image's own file behind an in-image link is read.
    t.import(
        "ulink3",
        &[],
        &[
            ("etc/", E::Dir),
            ("etc/passwd.real", E::File(b"img:x:7:8::/:/bin/sh\n")),
            ("etc/passwd", E::Link("/etc/passwd.real")),
        ],
    );
    assert_eq!(
        t.env
            .ok(&["run", "--rm", "-u", "img", "ulink3", "id", "-u"]),
        "7\n"
    );
}

/// `-v`, `--mount`, `--tmpfs` and `VOLUME` under /proc or /sys, given so
/// or through a symlink of the image, are refused: one line naming the
/// path, exit 125, nothing created.
#[test]
fn volume_under_proc_or_sys_is_refused() {
    let t = T::new();
    t.import(
        "kfs",
        &[],
        &[
            ("data", E::Link("/proc/self/attr")),
            ("k", E::Link("../sys/kernel")),
        ],
    );
    t.import("kfsvol", &["VOLUME /proc/foo"], &[]);
    t.import("kfsvol2", &["VOLUME /data/x"], &[("data", E::Link("/sys"))]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "--rm", "-v", "/tmp:/proc/foo", "kfs", "true"],
            "/proc/foo",
        ),
        (&["run", "--rm", "-v", "kfsv:/sys", "kfs", "true"], "/sys"),
        (
            &["create", "--mount", "type=tmpfs,dst=/sys/x", "kfs", "true"],
            "/sys/x",
        ),
        (
            &[
                "create",
                "--mount",
                "type=bind,src=/tmp,dst=/proc",
                "kfs",
                "true",
            ],
            "/proc",
        ),
        (
            &["run", "--rm", "--tmpfs", "/proc/sys", "kfs", "true"],
            "/proc/sys",
        ),
        (&["run", "--rm", "-v", "kfsv:/data", "kfs", "true"], "/data"),
        (&["run", "--rm", "-v", "/tmp:/k/y", "kfs", "true"], "/k/y"),
        (&["run", "--rm", "kfsvol", "true"], "/proc/foo"),
        (&["run", "--rm", "kfsvol2", "true"], "/data/x"),
    ];
    for (args, path) in cases {
        let err = t.env.fails(args, 125);
        assert!(err.contains(&format!("{path:?}")), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    assert_eq!(t.env.ok(&["ps", "-a", "-q"]), "");
    assert!(!t.env.ok(&["volume", "ls", "-q"]).contains("kfsv"));
    // A host directory the user binds at a path written under /sys stays
    // allowed, as in docker (systemd containers bind /sys/fs/cgroup).
    let out = t.env.ok(&[
        "run",
        "--rm",
        "-v",
        "/sys/fs/cgroup:/sys/fs/cgroup:ro",
        "kfs",
        "ls",
        "/sys/fs/cgroup",
    ]);
    assert!(!out.is_empty());
}

/// A WORKDIR (or `-w`) through a symlink of the image to a missing
/// directory: created at the link's target inside the root, as docker does.
#[test]
fn workdir_through_symlink_resolves_in_root() {
    let t = T::new();
    let h = t.host_dir("hostwd");
    t.import(
        "wdl",
        &["WORKDIR /app"],
        &[("app", E::Link("/srv/app")), ("out", E::Link(&h))],
    );
    assert_eq!(t.env.ok(&["run", "--rm", "wdl", "pwd"]), "/srv/app\n");
    assert_eq!(
        t.env.ok(&["run", "--rm", "-w", "/app/sub", "wdl", "pwd"]),
        "/srv/app/sub\n"
    );
    assert_eq!(
        t.env.ok(&["run", "--rm", "-w", "/out/w", "wdl", "pwd"]),
        format!("{h}/w\n")
    );
    assert_eq!(std::fs::read_dir(&h).unwrap().count(), 0);
}
