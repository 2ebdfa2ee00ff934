//! Local image verbs through the real binary: import, images, inspect,
//! tag, rmi, prune, save/load, and their errors.

mod common;

use common::{file_tar, Env};
use serde_json::Value;

#[test]
fn version_and_help() {
    let e = Env::new();
    let v = e.ok(&["--version"]);
    assert_eq!(
        v.trim(),
        format!("berth version {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(e.ok(&["-v"]), v);
    assert!(e.ok(&["--help"]).contains("pull"));
    // Unknown flag: docker's usage status.
    let err = e.fails(&["images", "--bogus"], 125);
    assert!(err.contains("--bogus"), "{err}");
    // A bad flag value: one line naming the flag and the value, 125.
    for args in [
        &["run", "--pids-limit", "abc", "bb", "true"][..],
        &["create", "--pids-limit=1x", "bb"],
        &["pull", "--tls-verify=maybe", "bb"],
        &["images", "--filter"],
    ] {
        let err = e.fails(args, 125);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    let err = e.fails(&["run", "--pids-limit", "abc", "bb", "true"], 125);
    assert!(
        err.starts_with("berth: invalid argument \"abc\" for \"--pids-limit\" flag: "),
        "{err}"
    );
    // Missing argument: 1, one line (message and hint).
    let err = e.fails(&["tag", "x"], 1);
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn import_lists_with_docker_columns() {
    let e = Env::new();
    let id = e.import_busybox(
        "busybox:latest",
        &[
            r#"CMD ["sh"]"#,
            "ENV PATH=/bin GREETING=hello",
            "WORKDIR /tmp",
            "EXPOSE 8080",
            "LABEL org.example.k=v",
            "USER 1000",
            "ENTRYPOINT /bin/sh -c",
        ],
    );
    let out = e.ok(&["images"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let header: Vec<&str> = lines[0]
        .split("   ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(header, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    // Columns line up under their headers.
    for (h, col) in
        ["TAG", "IMAGE ID", "CREATED", "SIZE"]
            .iter()
            .zip(["latest", &id[7..19], "second", "MB"])
    {
        let hpos = lines[0].find(h).unwrap();
        let cpos = lines[1]
            .find(col)
            .unwrap_or_else(|| panic!("{col} in {out}"));
        if *h != "CREATED" && *h != "SIZE" {
            assert_eq!(hpos, cpos, "{h} column in\n{out}");
        }
    }
    assert!(lines[1].starts_with("busybox "), "{out}");
    assert!(lines[1].contains(" ago "), "{out}");
    // Size: docker's decimal units with 3 significant digits.
    let size = lines[1].split_whitespace().last().unwrap();
    assert!(size.ends_with("MB") || size.ends_with("kB"), "{size}");
    assert!(size[..size.len() - 2].parse::<f64>().is_ok(), "{size}");

    // -q, --no-trunc, --digests, templates, json.
    assert_eq!(e.ok(&["images", "-q"]).trim(), &id[7..19]);
    assert_eq!(e.ok(&["images", "-q", "--no-trunc"]).trim(), id);
    let d = e.ok(&["images", "--digests"]);
    assert!(d.lines().next().unwrap().contains("DIGEST"), "{d}");
    assert_eq!(
        e.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]),
        format!("busybox:latest {}\n", &id[7..19])
    );
    let t = e.ok(&[
        "image",
        "ls",
        "--format",
        r"table {{.Repository}}\t{{.Size}}",
    ]);
    assert!(t.starts_with("REPOSITORY   SIZE\nbusybox      "), "{t}");
    let j = e.images_json();
    assert_eq!(j.len(), 1);
    assert_eq!(j[0]["Repository"], "busybox");
    assert_eq!(j[0]["Tag"], "latest");
    assert_eq!(j[0]["ID"], &id[7..19]);
    assert!(j[0]["CreatedAt"].as_str().unwrap().ends_with("+0000 UTC"));
    assert!(j[0]["CreatedSince"].as_str().unwrap().ends_with(" ago"));
    e.fails(&["images", "--format", "{{.Nope}}"], 1);

    // Inspect: docker's shape, the changes applied.
    let v: Value = serde_json::from_str(&e.ok(&["image", "inspect", "busybox"])).unwrap();
    let img = &v[0];
    assert_eq!(img["Id"], id.as_str());
    assert_eq!(img["RepoTags"][0], "busybox:latest");
    assert_eq!(img["Os"], "linux");
    assert!(img["Size"].as_u64().unwrap() > 100_000);
    assert_eq!(img["RootFS"]["Type"], "layers");
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    let c = &img["Config"];
    assert_eq!(c["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/bin/sh", "-c", "/bin/sh -c"])
    );
    assert_eq!(c["Env"], serde_json::json!(["PATH=/bin", "GREETING=hello"]));
    assert_eq!(c["WorkingDir"], "/tmp");
    assert_eq!(c["User"], "1000");
    assert_eq!(c["Labels"]["org.example.k"], "v");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object());
    assert!(img["Created"].as_str().unwrap().ends_with('Z'));
    // `inspect` and --format.
    let f = e.ok(&[
        "inspect",
        "--format",
        "{{.Os}} {{json .Config.Cmd}} {{.Config.WorkingDir}}",
        &id[7..19],
    ]);
    assert_eq!(f, "linux [\"sh\"] /tmp\n");
}

#[test]
fn tag_rmi_prune_change_the_list() {
    let e = Env::new();
    let id = e.import_busybox("busybox:latest", &[]);
    // The size is the unpacked one (docker's), not the compressed blob's.
    let tar_len = std::fs::metadata(e.path("busybox.tar")).unwrap().len();
    assert_eq!(
        e.ok(&["image", "inspect", "--format", "{{.Size}}", "busybox"]),
        format!("{tar_len}\n")
    );
    e.ok(&["tag", "busybox", "example.com/team/bb:v1"]);
    e.ok(&["tag", &id[7..19], "bb:2"]);
    assert_eq!(
        e.names(),
        ["bb:2", "busybox:latest", "example.com/team/bb:v1"]
    );
    // Removing one of several tags only untags.
    let out = e.ok(&["rmi", "bb:2"]);
    assert_eq!(out, "Untagged: bb:2\n");
    // By id with several tags needs -f.
    let err = e.fails(&["rmi", &id[7..19]], 1);
    assert!(err.contains("must be forced"), "{err}");
    assert_eq!(e.names(), ["busybox:latest", "example.com/team/bb:v1"]);
    let out = e.ok(&["rmi", "example.com/team/bb:v1"]);
    assert_eq!(out, "Untagged: example.com/team/bb:v1\n");
    // The last tag removes the image.
    let out = e.ok(&["rmi", "busybox"]);
    assert!(out.starts_with("Untagged: busybox:latest\n"), "{out}");
    assert!(out.contains(&format!("Deleted: {id}\n")), "{out}");
    assert!(e.names().is_empty());
    assert!(e.ok(&["images", "-q"]).is_empty());

    // Prune: dangling (untagged import) goes, tagged stays; -a takes all.
    let tagged = e.import_busybox("keep:1", &["CMD [\"true\"]"]);
    let dangling = e.import_busybox("", &["CMD [\"sh\"]"]);
    assert_ne!(tagged, dangling);
    let rows = e.ok(&["images"]);
    assert!(
        rows.lines()
            .any(|l| l.split_whitespace().take(2).eq(["<none>", "<none>"])),
        "{rows}"
    );
    let out = e.ok(&["image", "prune", "-f"]);
    assert!(out.contains(&format!("deleted: {dangling}")), "{out}");
    assert!(out
        .trim_end()
        .lines()
        .last()
        .unwrap()
        .starts_with("Total reclaimed space: "));
    assert_eq!(e.names(), ["keep:1"]);
    let out = e.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: keep:1"), "{out}");
    assert!(!out.contains("Total reclaimed space: 0B"), "{out}");
    assert!(e.names().is_empty());
    // Nothing left: blobs gone too.
    let blobs = std::fs::read_dir(e.root().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0);
    assert_eq!(
        e.ok(&["image", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
}

#[test]
fn bad_input_fails_and_leaves_the_store_alone() {
    let e = Env::new();
    e.import_busybox("busybox:latest", &[]);
    let before = e.snapshot();
    let err = e.fails(&["pull", "Busybox"], 1);
    assert_eq!(
        err,
        "berth: invalid reference format: repository name (library/Busybox) must be lowercase\n"
    );
    let err = e.fails(&["tag", "busybox", "UPPER:x"], 1);
    assert!(err.contains("invalid reference format"), "{err}");
    let err = e.fails(&["rmi", "nothere"], 1);
    assert_eq!(err, "berth: No such image: nothere:latest\n");
    let err = e.fails(&["tag", "nothere:1", "x:y"], 1);
    assert_eq!(err, "berth: No such image: nothere:1\n");
    // inspect prints what it found and fails for the rest.
    let o = e.output(&["image", "inspect", "nothere"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "berth: No such image: nothere\n"
    );
    let o = e.output(&["image", "inspect", "busybox", "nothere"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    // rmi of several: the good one goes on, the status says one failed.
    e.ok(&["tag", "busybox", "second:1"]);
    let o = e.output(&["rmi", "nothere", "second:1"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Untagged: second:1\n");
    // Load of something that is not a tar.
    let junk = e.path("junk.tar");
    std::fs::write(
        &junk,
        b"this is not a tar archive at all, just text\n".repeat(30),
    )
    .unwrap();
    let err = e.fails(&["load", "-i", junk.to_str().unwrap()], 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    // Load of a tar that is no image archive.
    let notimg = e.path("files.tar");
    std::fs::write(&notimg, file_tar("hello.txt", b"hi")).unwrap();
    e.fails(&["load", "-i", notimg.to_str().unwrap()], 1);
    // Import: bad change, missing file.
    let err = e.fails(
        &["import", "-c", "RUN rm -rf /", "/nonexistent.tar", "x:1"],
        1,
    );
    assert!(err.contains("RUN"), "{err}");
    e.fails(&["import", "/nonexistent.tar", "x:1"], 1);
    // Import of a file that is not a tar, or a tar cut short: one line
    // naming the file, and no image (none half-registered).
    let bb = std::fs::read(e.path("busybox.tar")).unwrap();
    let cut = e.path("cut.tar");
    std::fs::write(&cut, &bb[..bb.len() / 2]).unwrap();
    for f in [&junk, &cut] {
        let f = f.to_str().unwrap();
        let err = e.fails(&["import", f, "bad:1"], 1);
        assert!(
            err.starts_with(&format!("berth: import {f}: not a valid tar archive: ")),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // Load of an image archive cut short.
    let saved = e.path("saved.tar");
    e.ok(&["save", "-o", saved.to_str().unwrap(), "busybox"]);
    let whole = std::fs::read(&saved).unwrap();
    std::fs::write(&saved, &whole[..whole.len() / 2]).unwrap();
    let err = e.fails(&["load", "-i", saved.to_str().unwrap()], 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    // Save of an unknown image leaves no file.
    let out = e.path("out.tar");
    e.fails(
        &["save", "-o", out.to_str().unwrap(), "busybox", "nothere"],
        1,
    );
    assert!(!out.exists());
    assert_eq!(e.snapshot(), before);
    assert_eq!(e.names(), ["busybox:latest"]);
}

#[test]
fn save_load_keeps_the_id() {
    let e = Env::new();
    let id = e.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    e.ok(&["tag", "busybox", "localhost:5000/x/bb:2"]);
    for format in ["docker-archive", "oci-archive"] {
        let file = e.path(&format!("{format}.tar"));
        e.ok(&[
            "save",
            "--format",
            format,
            "-o",
            file.to_str().unwrap(),
            "busybox",
            "localhost:5000/x/bb:2",
        ]);
        let fresh = Env::new();
        let out = fresh.ok(&["load", "-i", file.to_str().unwrap()]);
        assert!(
            out.contains("Loaded image: busybox:latest"),
            "{format}: {out}"
        );
        assert!(
            out.contains("Loaded image: localhost:5000/x/bb:2"),
            "{format}: {out}"
        );
        assert_eq!(
            fresh
                .ok(&["images", "-q", "--no-trunc"])
                .lines()
                .next()
                .unwrap(),
            id
        );
        assert_eq!(fresh.names(), ["busybox:latest", "localhost:5000/x/bb:2"]);
        // And it can be saved again.
        let again = fresh.path("again.tar");
        fresh.ok(&["save", "-o", again.to_str().unwrap(), id.as_str()]);
    }
    // To stdout when it is not a terminal; load from stdin.
    let o = e.output(&["save", "busybox"]);
    assert!(o.status.success());
    assert!(o.stdout.len() > 100_000);
    let fresh = Env::new();
    let mut c = fresh.cmd(&["load"]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&o.stdout).unwrap();
    }
    let res = child.wait_with_output().unwrap();
    assert!(res.status.success());
    assert_eq!(
        String::from_utf8_lossy(&res.stdout),
        "Loaded image: busybox:latest\n"
    );
}

#[test]
fn import_from_stdin_untagged_then_tag() {
    let e = Env::new();
    let mut c = e.cmd(&["import", "-m", "from stdin", "-"]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&file_tar("etc/hello", b"hi\n"))
            .unwrap();
    }
    let res = child.wait_with_output().unwrap();
    assert!(res.status.success());
    let id = String::from_utf8(res.stdout).unwrap().trim().to_string();
    assert_eq!(
        e.ok(&["images", "--format", "{{.Repository}} {{.Tag}} {{.ID}}"]),
        format!("<none> <none> {}\n", &id[7..19])
    );
    let v: Value = serde_json::from_str(&e.ok(&["image", "inspect", &id])).unwrap();
    assert_eq!(v[0]["Comment"], "from stdin");
    assert_eq!(v[0]["RepoTags"], serde_json::json!([]));
    e.ok(&["tag", &id, "hello:world"]);
    assert_eq!(e.names(), ["hello:world"]);
    assert_eq!(e.ok(&["images", "--filter", "dangling=true", "-q"]), "");
    assert_eq!(e.ok(&["images", "hello", "-q"]).trim(), &id[7..19]);
    assert_eq!(e.ok(&["images", "other", "-q"]), "");
}
