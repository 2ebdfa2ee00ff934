//! Volumes, `--mount`, `cp` and `stats` end to end: the real `berth`
//! binary on a per-test root with a busybox image that has `/data/seed`
//! (uid 1000, mode 0640) baked in. Needs root.

mod common;

use std::path::Path;

use common::Env;

/// busybox plus more applet links, `/data/seed` and a `VOLUME /anon`.
fn image_tar() -> Vec<u8> {
    let mut base = common::busybox_tar();
    // Drop the two end-of-archive blocks and keep appending.
    base.truncate(base.len() - 1024);
    let mut b = tar::Builder::new(base);
    let mut add =
        |path: &str, kind: tar::EntryType, data: &[u8], mode: u32, uid: u64, link: Option<&str>| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_path(path).unwrap();
            h.set_mode(mode);
            h.set_uid(uid);
            h.set_gid(uid);
            h.set_size(data.len() as u64);
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            h.set_cksum();
            b.append(&h, data).unwrap();
        };
    for l in [
        "sleep", "mkdir", "ln", "rm", "stat", "touch", "id", "head", "wc",
    ] {
        add(
            &format!("bin/{l}"),
            tar::EntryType::Symlink,
            b"",
            0o777,
            0,
            Some("busybox"),
        );
    }
    add("data/", tar::EntryType::Directory, b"", 0o750, 1000, None);
    add(
        "data/seed",
        tar::EntryType::Regular,
        b"from-image\n",
        0o640,
        1000,
        None,
    );
    add(
        "data/lnk",
        tar::EntryType::Symlink,
        b"",
        0o777,
        0,
        Some("seed"),
    );
    add("etc/", tar::EntryType::Directory, b"", 0o755, 0, None);
    add(
        "etc/passwd",
        tar::EntryType::Regular,
        b"root:x:0:0:root:/root:/bin/sh\n",
        0o644,
        0,
        None,
    );
    b.into_inner().unwrap()
}

struct T {
    env: Env,
}

impl T {
    fn new() -> T {
        let env = Env::new();
        let tar = env.path("img.tar");
        std::fs::write(&tar, image_tar()).unwrap();
        env.ok(&["import", "-c", "VOLUME /anon", tar.to_str().unwrap(), "vbb"]);
        T { env }
    }

    fn ok(&self, args: &[&str]) -> String {
        self.env.ok(args)
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.env.run(args)
    }

    fn volumes(&self) -> Vec<String> {
        self.ok(&["volume", "ls", "-q"])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for T {
    fn drop(&mut self) {
        let ids = self.env.output(&["ps", "-a", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.env.output(&["rm", "-f", "-v", id]);
        }
        let _ = self.env.output(&["volume", "prune", "-f", "-a"]);
    }
}

#[test]
fn named_volume_is_shared_and_filled_from_the_image_once() {
    let t = T::new();
    assert_eq!(
        t.ok(&["volume", "create", "--label", "k=v", "shared"]),
        "shared\n"
    );
    // First use: the image's /data is copied up, owner and mode kept.
    let out = t.ok(&[
        "run",
        "--rm",
        "-v",
        "shared:/data",
        "vbb",
        "sh",
        "-c",
        "cat /data/seed; stat -c '%u %a' /data/seed /data; cat /data/lnk; echo written > /data/new",
    ]);
    assert_eq!(out, "from-image\n1000 640\n1000 750\nfrom-image\n");
    // Another container sees what the first wrote.
    let out = t.ok(&[
        "run",
        "--rm",
        "-v",
        "shared:/elsewhere",
        "vbb",
        "cat",
        "/elsewhere/new",
    ]);
    assert_eq!(out, "written\n");

    // A volume that is not empty is not filled again.
    t.ok(&[
        "run",
        "--rm",
        "-v",
        "pre:/other",
        "vbb",
        "sh",
        "-c",
        "echo mine > /other/f",
    ]);
    let out = t.ok(&["run", "--rm", "-v", "pre:/data", "vbb", "ls", "/data"]);
    assert_eq!(out, "f\n");
    // nocopy leaves a new volume empty.
    let out = t.ok(&[
        "run",
        "--rm",
        "-v",
        "empty:/data:nocopy",
        "vbb",
        "ls",
        "/data",
    ]);
    assert_eq!(out, "");

    let v: serde_json::Value =
        serde_json::from_str(&t.ok(&["volume", "inspect", "shared"])).unwrap();
    assert_eq!(v[0]["Name"], "shared");
    assert_eq!(v[0]["Driver"], "local");
    assert_eq!(v[0]["Labels"]["k"], "v");
    let mp = v[0]["Mountpoint"].as_str().unwrap();
    assert!(Path::new(mp).join("new").exists());
    assert_eq!(
        t.ok(&["inspect", "--format", "{{.Name}} {{.Scope}}", "shared"]),
        "shared local\n"
    );
    assert_eq!(
        t.ok(&[
            "inspect",
            "--type",
            "volume",
            "-f",
            "{{.Labels.k}}",
            "shared"
        ]),
        "v\n"
    );
    let ls = t.ok(&["volume", "ls", "--filter", "label=k=v"]);
    assert_eq!(
        ls.lines().collect::<Vec<_>>(),
        ["DRIVER    VOLUME NAME", "local     shared"]
    );
    assert_eq!(
        t.ok(&["volume", "ls", "-q", "--filter", "name=pre"]),
        "pre\n"
    );
    assert_eq!(
        t.ok(&[
            "volume",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}}",
            "--filter",
            "name=shared"
        ]),
        "shared local\n"
    );
}

#[test]
fn read_only_volumes_refuse_writes() {
    let t = T::new();
    let (code, _, err) = t.run(&[
        "run",
        "--rm",
        "-v",
        "ro1:/data:ro",
        "vbb",
        "sh",
        "-c",
        "echo x > /data/f",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("Read-only file system"), "{err}");
    let (code, _, _) = t.run(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,source=ro1,target=/data,readonly",
        "vbb",
        "touch",
        "/data/f",
    ]);
    assert_ne!(code, 0);
    // The data is intact and the volume writable through a rw mount.
    t.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=ro1,dst=/data",
        "vbb",
        "touch",
        "/data/f",
    ]);
    let host = t.env.path("bindsrc");
    std::fs::create_dir(&host).unwrap();
    let m = format!("type=bind,source={},target=/h,readonly", host.display());
    let (code, _, _) = t.run(&["run", "--rm", "--mount", &m, "vbb", "touch", "/h/f"]);
    assert_ne!(code, 0);
    assert!(!host.join("f").exists());
    let m = format!("type=bind,source={},target=/h", host.display());
    t.ok(&[
        "run",
        "--rm",
        "--mount",
        &m,
        "--mount",
        "type=tmpfs,target=/t,tmpfs-size=1m",
        "vbb",
        "sh",
        "-c",
        "touch /h/f /t/f",
    ]);
    assert!(host.join("f").exists());
}

#[test]
fn mount_flag_errors_name_the_field() {
    let t = T::new();
    let cases: &[(&str, &str)] = &[
        ("type=bind,target=/x", "field source"),
        ("type=volume,source=v", "field target"),
        ("type=nfs,target=/x", "field type"),
        (
            "type=volume,target=/x,colour=red",
            "unknown field \"colour\"",
        ),
        ("type=volume,target=/x,tmpfs-size=1m", "field tmpfs-size"),
        (
            "type=bind,source=/surely/not/here,target=/x",
            "field source",
        ),
        ("type=volume,target=relative", "field target"),
        ("type=volume,target=/x,readonly=maybe", "readonly"),
    ];
    for (m, want) in cases {
        let err = t
            .env
            .fails(&["run", "--rm", "--mount", m, "vbb", "true"], 125);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want) && err.contains("--mount"), "{m}: {err}");
    }
    let err = t
        .env
        .fails(&["run", "--rm", "-v", "x:/data", "vbb", "true"], 125);
    assert!(err.contains("--volume"), "{err}");
    let err = t.env.fails(
        &[
            "run",
            "--rm",
            "-v",
            "v1:/d",
            "--mount",
            "target=/d",
            "vbb",
            "true",
        ],
        125,
    );
    assert!(err.contains("duplicate mount point"), "{err}");
    // Nothing was created by the failed runs.
    assert!(t.volumes().is_empty());
}

/// `run`/`create --volumes-from CONTAINER[:ro|rw]`: the source's named
/// volume and the anonymous one of its image's `VOLUME` (which the
/// consumer's same `VOLUME` does not replace), `:ro` read-only, recorded
/// for inspect; the volumes are in use by the consumer, whose source can
/// be removed with `-v` (the anonymous volume it uses stays).
#[test]
fn volumes_from_flag() {
    let t = T::new();
    t.ok(&[
        "create",
        "--name",
        "src",
        "-v",
        "shared:/data",
        "vbb",
        "true",
    ]);
    t.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "src",
        "vbb",
        "sh",
        "-c",
        "echo w > /data/w && echo a > /anon/a",
    ]);
    let out = t.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        "vbb",
        "sh",
        "-c",
        "cat /data/w /anon/a; touch /data/x 2>/dev/null; echo rc=$?",
    ]);
    assert_eq!(out, "w\na\nrc=1\n");
    assert_eq!(t.volumes().len(), 2, "{:?}", t.volumes());
    let id = t
        .ok(&["create", "--volumes-from", "src:ro", "vbb", "true"])
        .trim()
        .to_string();
    let vf = t.ok(&[
        "inspect",
        "--format",
        "{{json .HostConfig.VolumesFrom}}",
        &id,
    ]);
    assert_eq!(vf.trim(), r#"["src:ro"]"#);
    t.ok(&["rm", "-v", "src"]);
    assert_eq!(t.volumes().len(), 2, "{:?}", t.volumes());
    let err = t.env.fails(&["volume", "rm", "shared"], 1);
    assert!(
        err.contains("volume is in use") && err.contains(&id),
        "{err}"
    );
    let (code, _, err) = t.run(&["run", "--volumes-from", "nosuch", "vbb", "true"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("--volumes-from") && err.contains("nosuch"),
        "{err}"
    );
    let (code, _, err) = t.run(&["create", "--volumes-from", "x:rx", "vbb", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("invalid --volumes-from \"x:rx\""), "{err}");
}

#[test]
fn volume_in_use_is_refused() {
    let t = T::new();
    let id = t
        .ok(&["create", "-v", "busy:/data", "vbb", "true"])
        .trim()
        .to_string();
    let err = t.env.fails(&["volume", "rm", "busy"], 1);
    assert!(
        err.contains("remove busy: volume is in use - [") && err.contains(&id),
        "{err}"
    );
    let err = t.env.fails(&["volume", "rm", "nosuch"], 1);
    assert!(err.contains("no such volume"), "{err}");
    t.ok(&["volume", "rm", "-f", "nosuch"]);
    let insp: serde_json::Value = serde_json::from_str(&t.ok(&["inspect", &id])).unwrap();
    let mounts = insp[0]["Mounts"].as_array().unwrap();
    let named = mounts.iter().find(|m| m["Destination"] == "/data").unwrap();
    assert_eq!(named["Type"], "volume");
    assert_eq!(named["Name"], "busy");
    assert_eq!(named["Driver"], "local");
    assert_eq!(named["RW"], true);
    assert!(named["Source"]
        .as_str()
        .unwrap()
        .ends_with("/volumes/busy/_data"));
    let anon = mounts.iter().find(|m| m["Destination"] == "/anon").unwrap();
    assert_eq!(anon["Type"], "volume");
    assert_eq!(anon["Name"].as_str().unwrap().len(), 64);
    // Removing the container (without -v) leaves both volumes; then rm works.
    t.ok(&["rm", &id]);
    assert_eq!(t.volumes().len(), 2);
    assert_eq!(t.ok(&["volume", "rm", "busy"]), "busy\n");
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_run_rm_and_prune() {
    let t = T::new();
    t.ok(&["volume", "create", "keep"]);
    // --rm removes the anonymous volumes (-v /scratch and the image's /anon), not named ones.
    t.ok(&[
        "run",
        "--rm",
        "-v",
        "/scratch",
        "-v",
        "keep:/k",
        "vbb",
        "touch",
        "/scratch/f",
        "/k/f",
    ]);
    assert_eq!(t.volumes(), ["keep"]);
    // rm -v removes them too.
    let id = t
        .ok(&["create", "-v", "/scratch", "vbb", "true"])
        .trim()
        .to_string();
    assert_eq!(t.volumes().len(), 3);
    t.ok(&["rm", "-v", &id]);
    assert_eq!(t.volumes(), ["keep"]);
    // rm without -v leaves them dangling; prune removes anonymous ones only, -a all.
    let id = t.ok(&["create", "vbb", "true"]).trim().to_string();
    let used = t
        .ok(&["create", "-v", "used:/u", "vbb", "true"])
        .trim()
        .to_string();
    t.ok(&["rm", &id]);
    let dangling = t.ok(&["volume", "ls", "-q", "--filter", "dangling=true"]);
    assert_eq!(dangling.lines().count(), 2, "{dangling}"); // keep + the anonymous one
    let out = t.ok(&["volume", "prune", "-f"]);
    assert!(out.starts_with("Deleted Volumes:\n"), "{out}");
    assert!(out.ends_with("\nTotal reclaimed space: 0B\n"), "{out}");
    let mut left = t.volumes();
    left.retain(|v| v.len() != 64);
    assert_eq!(left, ["keep", "used"]);
    let out = t.ok(&["volume", "prune", "-f", "-a"]);
    assert!(out.contains("keep\n") && !out.contains("used\n"), "{out}");
    assert!(t.volumes().contains(&"used".to_string()));
    t.ok(&["rm", "-v", &used]);
}

fn tar_names(data: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(data);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn mounted(p: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(p))
}

#[test]
fn cp_both_ways_running_and_stopped() {
    let t = T::new();
    let host = t.env.path("host");
    std::fs::create_dir_all(host.join("tree/sub")).unwrap();
    std::fs::write(host.join("f1"), "hostfile\n").unwrap();
    std::fs::write(host.join("tree/sub/x"), "deep\n").unwrap();
    let h = |p: &str| host.join(p).to_str().unwrap().to_string();

    // A running container, copying into its volume and its rootfs.
    let r = t.ok(&["run", "-d", "-v", "cpvol:/data", "vbb", "sleep", "1000"]);
    let r = r.trim();
    // /etc/hostname is the container's own file (bind-mounted), as docker's cp shows it.
    t.ok(&["cp", &format!("{r}:/etc/hostname"), &h("hn")]);
    assert_eq!(
        std::fs::read_to_string(host.join("hn")).unwrap(),
        format!("{}\n", &r[..12])
    );
    t.ok(&["cp", &h("f1"), &format!("{r}:/data/")]);
    t.ok(&["cp", &h("tree"), &format!("{r}:/newdir")]);
    t.ok(&["cp", &h("tree"), &format!("{r}:/data")]);
    let out = t.ok(&[
        "exec",
        r,
        "sh",
        "-c",
        "cat /data/f1 /newdir/sub/x /data/tree/sub/x; stat -c %u /data/f1",
    ]);
    assert_eq!(out, "hostfile\ndeep\ndeep\n0\n");
    // Through a symlink to the volume's mount point: into the volume, as docker.
    t.ok(&["exec", r, "ln", "-s", "/data", "/dlink"]);
    t.ok(&["cp", &h("f1"), &format!("{r}:/dlink/via-link")]);
    assert_eq!(t.ok(&["exec", r, "cat", "/data/via-link"]), "hostfile\n");
    t.ok(&["cp", &format!("{r}:/dlink/via-link"), &h("via-link.out")]);
    assert_eq!(
        std::fs::read_to_string(host.join("via-link.out")).unwrap(),
        "hostfile\n"
    );
    // Out of it: a file under a new name, a directory's content into an existing directory.
    t.ok(&["cp", &format!("{r}:/data/seed"), &h("seed.out")]);
    assert_eq!(
        std::fs::read_to_string(host.join("seed.out")).unwrap(),
        "from-image\n"
    );
    std::fs::create_dir(host.join("into")).unwrap();
    t.ok(&["cp", &format!("{r}:/newdir/."), &h("into")]);
    assert_eq!(
        std::fs::read_to_string(host.join("into/sub/x")).unwrap(),
        "deep\n"
    );
    t.ok(&["cp", &format!("{r}:/newdir"), &h("into")]);
    assert!(host.join("into/newdir/sub/x").is_file());
    // A symlink is copied as such, with -L its target.
    t.ok(&["cp", &format!("{r}:/data/lnk"), &h("lnk")]);
    assert_eq!(
        std::fs::read_link(host.join("lnk")).unwrap(),
        Path::new("seed")
    );
    t.ok(&["cp", "-L", &format!("{r}:/data/lnk"), &h("lnk-followed")]);
    assert_eq!(
        std::fs::read_to_string(host.join("lnk-followed")).unwrap(),
        "from-image\n"
    );
    // docker's errors: missing source, dir onto a file, missing dir/.
    let err = t.env.fails(&["cp", &format!("{r}:/nope"), &h("x")], 1);
    assert!(err.contains("Could not find the file /nope"), "{err}");
    t.env.fails(&["cp", &format!("{r}:/newdir"), &h("f1")], 1);
    t.env.fails(&["cp", &h("f1"), &format!("{r}:/missing/")], 1);
    t.env.fails(&["cp", &h("f1"), &h("f2")], 1);

    // A stopped (never started) container: its rootfs is mounted for the copy only.
    let s = t.ok(&["create", "vbb", "cat", "/f1", "/fromtar/x"]);
    let s = s.trim();
    std::os::unix::fs::chown(host.join("f1"), Some(1234), Some(1234)).unwrap();
    t.ok(&["cp", "-a", &h("f1"), &format!("{s}:/")]);
    t.ok(&["cp", &h("f1"), &format!("{s}:/f1-root")]);
    let owner = |p: &str| {
        let o = t.env.output(&["cp", &format!("{s}:{p}"), "-"]);
        let mut a = tar::Archive::new(&o.stdout[..]);
        let e = a.entries().unwrap().next().unwrap().unwrap();
        (e.header().uid().unwrap(), e.header().gid().unwrap())
    };
    assert_eq!(owner("/f1"), (1234, 1234), "-a keeps the owner");
    assert_eq!(owner("/f1-root"), (0, 0), "without -a files belong to root");
    // A tar on stdin into a directory.
    let mut tarball = Vec::new();
    {
        let mut b = tar::Builder::new(&mut tarball);
        let mut hd = tar::Header::new_gnu();
        hd.set_size(7);
        hd.set_mode(0o644);
        b.append_data(&mut hd, "fromtar/x", &b"in tar\n"[..])
            .unwrap();
        b.finish().unwrap();
    }
    let mut cmd = t.env.cmd(&["cp", "-", &format!("{s}:/")]);
    cmd.stdin(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &tarball).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let err = {
        let mut cmd = t.env.cmd(&["cp", "-", &format!("{s}:/f1")]);
        cmd.stdin(std::process::Stdio::piped());
        cmd.stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        // refused before stdin is read: the write may meet a closed pipe
        let _ = std::io::Write::write_all(child.stdin.as_mut().unwrap(), &tarball);
        drop(child.stdin.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(1));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(err.contains("must be a directory"), "{err}");
    assert!(!mounted(&format!("containers/{s}/rootfs")));
    // A tar on stdout.
    let o = t.env.output(&["cp", &format!("{s}:/etc"), "-"]);
    assert!(o.status.success());
    let names = tar_names(&o.stdout);
    assert!(names.contains(&"etc/passwd".to_string()), "{names:?}");
    let o = t.env.output(&["cp", &format!("{s}:/fromtar/."), "-"]);
    assert_eq!(tar_names(&o.stdout), ["x"]);
    assert_eq!(t.ok(&["start", "-a", s]), "hostfile\nin tar\n");
}

#[test]
fn cp_cannot_escape_the_container_through_symlinks() {
    let t = T::new();
    let host = t.env.path("victim");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("secret"), "secret\n").unwrap();
    let hp = host.to_str().unwrap();
    let file = t.env.path("payload");
    std::fs::write(&file, "payload\n").unwrap();
    let name = format!("esc{}", std::process::id());
    // Symlinks in the container pointing at host paths (absolute and via /).
    t.ok(&[
        "run",
        "--name",
        &name,
        "vbb",
        "sh",
        "-c",
        &format!("ln -s {hp} /esc; ln -s / /up; ln -s {hp}/secret /leak; mkdir -p /inside {hp}"),
    ]);
    let f = file.to_str().unwrap();
    // Into the directory the link names: it resolves inside the container.
    t.ok(&["cp", f, &format!("{name}:/esc/")]);
    t.ok(&["cp", f, &format!("{name}:/up{hp}/via-root")]);
    // Reading through a link to a host file finds nothing.
    t.env.fails(
        &[
            "cp",
            "-L",
            &format!("{name}:/leak"),
            t.env.path("leak").to_str().unwrap(),
        ],
        1,
    );
    assert!(!t.env.path("leak").exists());
    // A tar whose entries go through the link or climb with .. stays inside too.
    let mut tarball = Vec::new();
    {
        let mut b = tar::Builder::new(&mut tarball);
        for p in ["up/tmp-escape", "../../../../x"] {
            let mut hd = tar::Header::new_gnu();
            hd.set_size(4);
            hd.set_mode(0o644);
            // Raw name bytes: the tar crate refuses to write `..` itself.
            hd.as_old_mut().name[..p.len()].copy_from_slice(p.as_bytes());
            hd.set_cksum();
            b.append(&hd, &b"bad\n"[..]).unwrap();
        }
        b.finish().unwrap();
    }
    let mut cmd = t.env.cmd(&["cp", "-", &format!("{name}:/inside")]);
    cmd.stdin(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &tarball).unwrap();
    drop(child.stdin.take());
    let _ = child.wait().unwrap();
    // The host directory is untouched.
    let mut left: Vec<String> = std::fs::read_dir(&host)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["secret"]);
    assert!(!Path::new("/tmp-escape").exists() && !Path::new("/x").exists());
    // What was copied is in the container.
    let o = t.env.output(&["cp", &format!("{name}:{hp}/payload"), "-"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = t.env.output(&["cp", &format!("{name}:{hp}/via-root"), "-"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = t
        .env
        .output(&["cp", &format!("{name}:/inside/up/tmp-escape"), "-"]);
    assert!(!o.status.success() || tar_names(&o.stdout) == ["tmp-escape"]);
}

#[test]
fn cp_into_a_read_only_volume_is_refused() {
    let t = T::new();
    let s = t.ok(&["create", "-v", "rocp:/ro:ro", "vbb", "true"]);
    let file = t.env.path("f");
    std::fs::write(&file, "x").unwrap();
    let err = t.env.fails(
        &["cp", file.to_str().unwrap(), &format!("{}:/ro/", s.trim())],
        1,
    );
    assert!(err.contains("read-only"), "{err}");
}

#[test]
fn cp_into_a_tmpfs_of_a_stopped_container_writes_the_rootfs_below() {
    // Docker's cp sees the container's filesystem without its tmpfs
    // mounts: into a stopped container, the file lands in the rootfs
    // directory under the mount point, hidden by the tmpfs once it runs.
    let t = T::new();
    let name = format!("tc{}", std::process::id());
    t.ok(&[
        "run",
        "--name",
        &name,
        "--tmpfs",
        "/t",
        "--mount",
        "type=tmpfs,target=/m",
        "vbb",
        "sh",
        "-c",
        "ls -A /t /m",
    ]);
    let file = t.env.path("f");
    std::fs::write(&file, "under the tmpfs").unwrap();
    for dir in ["/t", "/m"] {
        t.ok(&["cp", file.to_str().unwrap(), &format!("{name}:{dir}/f")]);
        let o = t.env.output(&["cp", &format!("{name}:{dir}/f"), "-"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut a = tar::Archive::new(&o.stdout[..]);
        let mut e = a.entries().unwrap().next().unwrap().unwrap();
        let mut body = String::new();
        std::io::Read::read_to_string(&mut e, &mut body).unwrap();
        assert_eq!(body, "under the tmpfs");
    }
    // Running again, the tmpfs mounts hide it.
    let out = t.ok(&["start", "-a", &name]);
    assert_eq!(out, "/m:\n\n/t:\n", "{out}");
}

#[test]
fn stats_shows_the_memory_limit() {
    let t = T::new();
    let name = format!("st{}", std::process::id());
    t.ok(&[
        "run", "-d", "--name", &name, "--memory", "64m", "vbb", "sleep", "1000",
    ]);
    let out = t.ok(&["stats", "--no-stream", &name]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let cols: Vec<&str> = lines[0]
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        cols,
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ]
    );
    assert!(
        lines[1].contains(&name) && lines[1].contains(" / 64MiB "),
        "{out}"
    );
    let out = t.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}|{{.MemUsage}}|{{.PIDs}}|{{.CPUPerc}}|{{.NetIO}}",
        &name,
    ]);
    let f: Vec<&str> = out.trim().split('|').collect();
    assert_eq!(f[0], name);
    assert!(f[1].ends_with(" / 64MiB"), "{out}");
    assert_eq!(f[2], "1");
    assert!(f[3].ends_with('%'), "{out}");
    // On the default bridge: traffic of its own netns (IPv6 router
    // solicitations and the like), in docker's "rx / tx" form.
    assert!(f[4].contains(" / ") && f[4].ends_with('B'), "{out}");
    // All running containers by default.
    assert!(t
        .ok(&["stats", "--no-stream", "--format", "{{.Name}}"])
        .contains(&name));
}

#[test]
fn local_driver_tmpfs_volume() {
    let t = T::new();
    let name = format!("tv{}", std::process::id());
    t.ok(&[
        "volume",
        "create",
        "-d",
        "local",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        &name,
    ]);
    let v = format!("{name}:/data");
    let mp = serde_json::from_str::<serde_json::Value>(&t.ok(&["volume", "inspect", &name]))
        .unwrap()[0]["Mountpoint"]
        .as_str()
        .unwrap()
        .to_string();
    let out = t.ok(&[
        "run",
        "--rm",
        "-v",
        &v,
        "vbb",
        "sh",
        "-c",
        "grep ' /data ' /proc/mounts; ls /data; echo hi > /data/f",
    ]);
    assert!(
        out.starts_with("tmpfs /data tmpfs") && out.contains("size=1024k"),
        "{out}"
    );
    assert!(
        out.ends_with("\nlnk\nseed\n"),
        "filled from the image: {out}"
    );
    // Unmounted with its last user, as docker's local driver: a fresh tmpfs next time.
    assert!(!mounted(&mp));
    assert_eq!(
        t.ok(&["run", "--rm", "-v", &v, "vbb", "ls", "/data"]),
        "lnk\nseed\n"
    );
    // Shared while a container holds it.
    let d = t.ok(&["run", "-d", "-v", &v, "vbb", "sleep", "1000"]);
    let d = d.trim();
    t.ok(&[
        "run",
        "--rm",
        "-v",
        &v,
        "vbb",
        "sh",
        "-c",
        "echo shared > /data/s",
    ]);
    assert!(mounted(&mp));
    assert_eq!(t.ok(&["exec", d, "cat", "/data/s"]), "shared\n");
    t.ok(&["rm", "-f", d]);
    assert!(!mounted(&mp));
    t.ok(&["volume", "rm", &name]);
    let err = t
        .env
        .fails(&["volume", "create", "-o", "colour=red", "x2"], 125);
    assert!(err.contains("--opt"), "{err}");
}

#[test]
fn volumes_are_filled_at_create_so_cp_before_start_adds_to_the_image_content() {
    let t = T::new();
    let id = t.ok(&["create", "-v", "early:/data", "vbb", "ls", "/data", "/anon"]);
    let id = id.trim();
    let file = t.env.path("f1");
    std::fs::write(&file, "x").unwrap();
    t.ok(&["cp", file.to_str().unwrap(), &format!("{id}:/data/")]);
    assert_eq!(
        t.ok(&["start", "-a", id]),
        "/anon:\n\n/data:\nf1\nlnk\nseed\n"
    );
}
