//! `berth build` against the defects of the builder's audit (issue 13):
//! each test checks BuildKit's behaviour where Berth differed. Needs root
//! (overlay mounts, namespaces).

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use common::Env;

const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "true", "mkdir", "touch", "test", "id", "sleep", "stat",
];

struct Ctx {
    env: Env,
}

impl Ctx {
    /// A store with `busybox` imported: /bin, /tmp and `extra` files, no
    /// /etc unless `extra` makes one.
    fn with(extra: &[(&str, &[u8])]) -> Option<Ctx> {
        if !berth_testkit::require_root("berth build runs containers") {
            return None;
        }
        let env = Env::new();
        let p = env.path("busybox.tar");
        std::fs::write(
            &p,
            berth_testkit::busybox_tar_with(&["bin/", "tmp/"], APPLETS, extra),
        )
        .unwrap();
        env.ok(&["import", p.to_str().unwrap(), "busybox"]);
        Some(Ctx { env })
    }

    fn new() -> Option<Ctx> {
        Ctx::with(&[])
    }

    fn context(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let d = self.env.path(name);
        std::fs::create_dir_all(&d).unwrap();
        for (p, data) in files {
            let p = d.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }
        d
    }

    /// `build ARGS`: (code, stdout, stderr).
    fn build(&self, args: &[&str]) -> (i32, String, String) {
        let mut a = vec!["build"];
        a.extend_from_slice(args);
        self.env.run(&a)
    }

    fn build_ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.build(args);
        assert_eq!(code, 0, "{err}");
        out
    }

    /// `run --rm IMAGE CMD...`'s stdout.
    fn run(&self, image: &str, cmd: &[&str]) -> String {
        let mut a = vec!["run", "--rm", image];
        a.extend_from_slice(cmd);
        self.env.ok(&a)
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let ids = self.env.output(&["ps", "-a", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.env.output(&["rm", "-f", id]);
        }
    }
}

#[test]
fn locked_cache_mount_on_a_fresh_store() {
    let Some(c) = Ctx::new() else { return };
    let d = c.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=cache,target=/c,sharing=locked echo hi > /c/f && cat /c/f > /out\n",
        )],
    );
    c.build_ok(&["-q", "-t", "locked", d.to_str().unwrap()]);
    assert_eq!(c.run("locked", &["cat", "/out"]), "hi\n");
}

/// `USER root` and `--chown=root:root` in an image without /etc/passwd:
/// root is 0 (BuildKit), and so is `run --user root` (docker).
#[test]
fn root_without_passwd() {
    let Some(c) = Ctx::new() else { return };
    let d = c.context(
        "ctx",
        &[
            ("f", "x"),
            (
                "Dockerfile",
                "FROM busybox\nUSER root\nCOPY --chown=root:root f /f\nRUN id -u > /uid\n",
            ),
        ],
    );
    c.build_ok(&["-q", "-t", "rooted", d.to_str().unwrap()]);
    assert_eq!(c.run("rooted", &["cat", "/uid"]), "0\n");
    assert_eq!(c.run("rooted", &["stat", "-c", "%u:%g", "/f"]), "0:0\n");
    assert_eq!(
        c.env
            .ok(&["run", "--rm", "--user", "root", "busybox", "id", "-u"]),
        "0\n"
    );
}

/// A RUN heredoc with a shebang runs as a file by its interpreter
/// (`#!/bin/cat` prints the script), not through /bin/sh (where `hello`
/// is no command).
#[test]
fn heredoc_with_shebang_runs_its_interpreter() {
    let Some(c) = Ctx::new() else { return };
    let d = c.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN <<EOT\n#!/bin/cat\nhello-from-cat\nEOT\n",
        )],
    );
    let (code, out, err) = c.build(&["--progress", "plain", d.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("hello-from-cat"),
        "{out}{err}"
    );
}

fn inspect(c: &Ctx, image: &str, format: &str) -> String {
    c.env
        .ok(&["image", "inspect", "--format", format, image])
        .trim()
        .to_string()
}

/// `Created` is the build's, not the base's, even for a stage of FROM and
/// RUN only, or FROM alone; SOURCE_DATE_EPOCH (a build arg too) sets it
/// and clamps the new layers' mtimes, so two builds give the same layers.
#[test]
fn created_and_source_date_epoch() {
    let Some(c) = Ctx::new() else { return };
    let base = inspect(&c, "busybox", "{{.Created}}");
    let d = c.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo hi > /f && mkdir /d && echo x > /d/x\n",
        )],
    );
    let ds = d.to_str().unwrap();
    c.build_ok(&["-q", "-t", "now", ds]);
    assert_ne!(inspect(&c, "now", "{{.Created}}"), base);

    let only_from = c.context("from", &[("Dockerfile", "FROM busybox\n")]);
    let epoch = ["--build-arg", "SOURCE_DATE_EPOCH=1000"];
    let mut args = vec!["-q", "-t", "from"];
    args.extend_from_slice(&epoch);
    args.push(only_from.to_str().unwrap());
    c.build_ok(&args);
    assert!(
        inspect(&c, "from", "{{.Created}}").starts_with("1970-01-01T00:16:40"),
        "{}",
        inspect(&c, "from", "{{.Created}}")
    );

    let mut layers = vec![];
    for tag in ["one", "two"] {
        let mut args = vec!["-q", "--no-cache", "-t", tag];
        args.extend_from_slice(&epoch);
        args.push(ds);
        c.build_ok(&args);
        assert!(inspect(&c, tag, "{{.Created}}").starts_with("1970-01-01T00:16:40"));
        layers.push(inspect(&c, tag, "{{json .RootFS.Layers}}"));
        assert_eq!(
            c.run(tag, &["stat", "-c", "%Y", "/f", "/d", "/d/x"]),
            "1000\n1000\n1000\n"
        );
    }
    assert_eq!(layers[0], layers[1]);
}

/// A RUN after `VOLUME /data` writes into its layer (BuildKit): no volume
/// is made, the next step sees the file. (BuildKit makes no directory for
/// a VOLUME either: the step makes it.)
#[test]
fn volume_paths_stay_in_the_layers() {
    let Some(c) = Ctx::new() else { return };
    let d = c.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nVOLUME /data\nRUN mkdir -p /data && echo a > /data/x\nRUN ls /data > /list\n",
        )],
    );
    c.build_ok(&["-q", "-t", "vol", d.to_str().unwrap()]);
    assert_eq!(c.env.ok(&["volume", "ls", "-q"]), "");
    assert_eq!(c.run("vol", &["cat", "/list"]), "x\n");
    assert_eq!(c.run("vol", &["cat", "/data/x"]), "a\n");
}

/// A tar's files by path (gzip undone).
fn tar_files(data: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut plain = vec![];
    let data = if data.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut plain)
            .unwrap();
        &plain[..]
    } else {
        data
    };
    let mut out = BTreeMap::new();
    let mut a = tar::Archive::new(data);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        let mut d = vec![];
        e.read_to_end(&mut d).unwrap();
        out.insert(p.trim_start_matches("./").to_string(), d);
    }
    out
}

/// The entries of `image`'s top layer, through `save`.
fn top_layer(c: &Ctx, image: &str) -> Vec<String> {
    let out = c.env.output(&["save", image]);
    assert!(out.status.success());
    let files = tar_files(&out.stdout);
    let m: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let top = m[0]["Layers"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap();
    tar_files(&files[top]).into_keys().collect()
}

/// RUN in an image without /etc: the /etc the engine made for /etc/hosts
/// and resolv.conf is not in the layer (BuildKit); one the step writes
/// into is.
#[test]
fn no_empty_etc_in_run_layers() {
    let Some(c) = Ctx::new() else { return };
    let d = c.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox AS a\nRUN echo x > /tmp/x\nFROM busybox\nRUN echo y > /etc/y\n",
        )],
    );
    let ds = d.to_str().unwrap();
    c.build_ok(&["-q", "--target", "a", "-t", "noetc", ds]);
    let layer = top_layer(&c, "noetc");
    assert!(layer.iter().any(|p| p.starts_with("tmp/x")), "{layer:?}");
    assert!(!layer.iter().any(|p| p.starts_with("etc")), "{layer:?}");
    c.build_ok(&["-q", "-t", "etc", ds]);
    let layer = top_layer(&c, "etc");
    assert!(layer.iter().any(|p| p.starts_with("etc/y")), "{layer:?}");
}

/// SIGINT while a RUN sleeps: the build kills and removes the step's
/// container (its rootfs unmounted), says "canceled" in one line, exits
/// 130.
#[test]
fn sigint_cancels_the_build() {
    let Some(c) = Ctx::new() else { return };
    let d = c.context("ctx", &[("Dockerfile", "FROM busybox\nRUN sleep 1000\n")]);
    let mut child = c
        .env
        .cmd(&["build", "--progress", "plain", d.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The step's container is up once it is listed as running.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while c.env.ok(&["ps", "-q"]).trim().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no RUN container");
        assert!(child.try_wait().unwrap().is_none(), "the build ended");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    let last = err.lines().last().unwrap_or("");
    assert_eq!(last, "berth: build canceled", "{err}");
    assert_eq!(c.env.ok(&["ps", "-a", "-q"]), "");
    let root = c.env.root().to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.lines().any(|l| l.contains(&root)),
        "left mounted:\n{mounts}"
    );
}

/// `build -` with a Dockerfile, not a tar, on stdin: the Dockerfile with
/// an empty context (docker's rule).
#[test]
fn stdin_dockerfile_without_context() {
    let Some(c) = Ctx::new() else { return };
    let run = |data: &[u8]| {
        let mut child = c
            .env
            .cmd(&["build", "-q", "-t", "stdin", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // (the build may stop reading early: a closed pipe is its answer)
        let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), data);
        child.wait_with_output().unwrap()
    };
    // A Dockerfile on stdin is bounded (16 MiB): a clear error, no build.
    let mut huge = b"FROM busybox\n".to_vec();
    huge.resize(17 << 20, b'#');
    let out = run(&huge);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("larger than 16 MiB"), "{err}");
    let out = run(b"FROM busybox\nRUN echo ok > /ok\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(c.run("stdin", &["cat", "/ok"]), "ok\n");
    // COPY sees an empty context.
    let out = run(b"FROM busybox\nCOPY Dockerfile /d\n");
    assert!(!out.status.success());
}

/// A `.dockerignore` naming the Dockerfile and itself: the build reads
/// both, COPY sees neither (docker's rule).
#[test]
fn ignored_build_files_are_not_copied() {
    let Some(c) = Ctx::new() else { return };
    let d = c.context(
        "ctx",
        &[
            ("a", "a"),
            (".dockerignore", "Dockerfile\n.dockerignore\n"),
            (
                "Dockerfile",
                "FROM busybox\nCOPY . /ctx/\nRUN ls -a /ctx > /list\n",
            ),
        ],
    );
    c.build_ok(&["-q", "-t", "ign", d.to_str().unwrap()]);
    assert_eq!(c.run("ign", &["cat", "/list"]), ".\n..\na\n");
}

/// EXPOSE ranges and bad ports, STOPSIGNAL names, FROM --platform of
/// another machine: BuildKit's parses, each refusal in one line.
#[test]
fn expose_stopsignal_and_from_platform() {
    let Some(c) = Ctx::new() else { return };
    let d = c.context(
        "ok",
        &[(
            "Dockerfile",
            "FROM busybox\nEXPOSE 9000-9001/udp 80\nSTOPSIGNAL SIGUSR1\n",
        )],
    );
    c.build_ok(&["-q", "-t", "exp", d.to_str().unwrap()]);
    assert_eq!(
        inspect(&c, "exp", "{{json .Config.ExposedPorts}}"),
        r#"{"80/tcp":{},"9000/udp":{},"9001/udp":{}}"#
    );
    let other = if std::env::consts::ARCH == "x86_64" {
        "linux/arm64"
    } else {
        "linux/amd64"
    };
    for (name, df, want) in [
        (
            "bad-port",
            "FROM busybox\nEXPOSE abc\n".to_string(),
            "invalid containerPort: abc",
        ),
        (
            "bad-sig",
            "FROM busybox\nSTOPSIGNAL FOO\n".to_string(),
            "Invalid signal: FOO",
        ),
        (
            "platform",
            format!("FROM --platform={other} busybox\nRUN true\n"),
            "only the host's platform",
        ),
    ] {
        let d = c.context(name, &[("Dockerfile", &df)]);
        let (code, _, err) = c.build(&["-q", d.to_str().unwrap()]);
        assert_ne!(code, 0, "{name}");
        let first = err.lines().next().unwrap_or("");
        assert!(first.contains(want), "{name}: {err}");
    }
}

/// A `--secret` file that is not there: refused before any step runs,
/// flag and path named.
#[test]
fn missing_secret_file_fails_first() {
    let Some(c) = Ctx::new() else { return };
    let d = c.context("ctx", &[("Dockerfile", "FROM busybox\nRUN echo ran\n")]);
    let (code, out, err) = c.build(&[
        "--progress",
        "plain",
        "--secret",
        "id=x,src=/nonexistent",
        d.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(!format!("{out}{err}").contains("ran"), "{err}");
    assert!(!err.contains("#1 "), "a step started: {err}");
    let first = err.lines().next().unwrap_or("");
    assert!(
        first.contains("--secret") && first.contains("id=x") && first.contains("/nonexistent"),
        "{err}"
    );
}

/// The media types of the one manifest of the OCI layout in archive
/// `files`: (manifest, config, layers).
fn layout_media_types(files: &BTreeMap<String, Vec<u8>>) -> (String, String, Vec<String>) {
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let desc = &index["manifests"][0];
    let digest = desc["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let man: serde_json::Value =
        serde_json::from_slice(&files[&format!("blobs/sha256/{digest}")]).unwrap();
    assert_eq!(desc["mediaType"], man["mediaType"], "{index}\n{man}");
    let s = |v: &serde_json::Value| v.as_str().unwrap().to_string();
    (
        s(&man["mediaType"]),
        s(&man["config"]["mediaType"]),
        man["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| s(&l["mediaType"]))
            .collect(),
    )
}

/// `oci-mediatypes` as BuildKit's exporters take it: type=docker writes
/// Docker media types unless it is true, type=oci OCI ones unless it is
/// false, converting a stored manifest of the other kind either way; a
/// docker archive has docker's manifest.json beside the layout, naming the
/// same blobs; `berth load` reads it back.
#[test]
fn archive_outputs_honour_oci_mediatypes() {
    let Some(c) = Ctx::new() else { return };
    let docker = (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.container.image.v1+json",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    );
    let oci = (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    );
    // A base with Docker media types (a docker archive loaded) and one
    // with OCI's (an OCI archive loaded).
    let bbd = c.env.path("bbd.tar");
    let bbo = c.env.path("bbo.tar");
    c.env.ok(&["save", "-o", bbd.to_str().unwrap(), "busybox"]);
    c.env.ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        bbo.to_str().unwrap(),
        "busybox",
    ]);
    c.env.ok(&["rmi", "busybox"]);
    c.env.ok(&["load", "-i", bbd.to_str().unwrap()]);
    c.env.ok(&["tag", "busybox", "bbd"]);
    c.env.ok(&["rmi", "busybox"]);
    c.env.ok(&["load", "-i", bbo.to_str().unwrap()]);
    c.env.ok(&["tag", "busybox", "bbo"]);
    let out = c.env.path("out.tar");
    for base in ["bbd", "bbo"] {
        let d = c.context(
            &format!("ctx-{base}"),
            &[("Dockerfile", &format!("FROM {base}\nRUN echo x > /x\n"))],
        );
        let ds = d.to_str().unwrap();
        for (typ, flag, want) in [
            ("docker", "", docker),
            ("docker", ",oci-mediatypes=true", oci),
            ("oci", "", oci),
            ("oci", ",oci-mediatypes=false", docker),
        ] {
            let o = format!("type={typ},dest={}{flag}", out.display());
            c.build_ok(&["-q", "--output", &o, "-t", "mt:1", ds]);
            let files = tar_files(&std::fs::read(&out).unwrap());
            let (m, cfg, layers) = layout_media_types(&files);
            let what = format!("{base} {o}");
            assert_eq!((m.as_str(), cfg.as_str()), (want.0, want.1), "{what}");
            assert!(layers.iter().all(|l| l == want.2), "{what}: {layers:?}");
            if typ == "docker" {
                let mj: serde_json::Value =
                    serde_json::from_slice(&files["manifest.json"]).unwrap();
                assert_eq!(mj[0]["RepoTags"], serde_json::json!(["mt:1"]), "{what}");
                for p in
                    std::iter::once(&mj[0]["Config"]).chain(mj[0]["Layers"].as_array().unwrap())
                {
                    assert!(files.contains_key(p.as_str().unwrap()), "{what}: {p}");
                }
            }
        }
        // (an archive output leaves no mt:1 in the store)
        c.env.ok(&["load", "-i", out.to_str().unwrap()]);
        assert_eq!(c.env.ok(&["run", "--rm", "mt:1", "cat", "/x"]), "x\n");
        c.env.ok(&["rmi", "mt:1"]);
    }
    let d = c.context("ctx-bad", &[("Dockerfile", "FROM bbd\n")]);
    let o = format!("type=oci,dest={},oci-mediatypes=maybe", out.display());
    let (code, _, err) = c.env.run(&["build", "--output", &o, d.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("oci-mediatypes"), "{err}");
}

/// `--output type=docker,dest=…` names the image with `-t` only (not the
/// store's other tags for it), nothing without `-t` or `name=`; `type=oci`
/// has OCI media types even over a base with Docker's.
#[test]
fn archive_outputs_names_and_media_types() {
    let Some(c) = Ctx::new() else { return };
    // A base with Docker media types: a docker archive loaded.
    let bb = c.env.path("bb.tar");
    c.env.ok(&["save", "-o", bb.to_str().unwrap(), "busybox"]);
    c.env.ok(&["rmi", "busybox"]);
    c.env.ok(&["load", "-i", bb.to_str().unwrap()]);
    let d = c.context("ctx", &[("Dockerfile", "FROM busybox\nRUN echo x > /x\n")]);
    let ds = d.to_str().unwrap();
    c.build_ok(&["-q", "-t", "other:tag", ds]);
    let f = c.env.path("f.tar");
    let out = format!("type=docker,dest={}", f.display());
    c.build_ok(&["-q", "--output", &out, "-t", "named:one", ds]);
    let files = tar_files(&std::fs::read(&f).unwrap());
    let m: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(m[0]["RepoTags"], serde_json::json!(["named:one"]), "{m}");
    // No -t and no name=: unnamed, though the store tags it other:tag.
    let g = c.env.path("g.tar");
    let out = format!("type=docker,dest={}", g.display());
    c.build_ok(&["-q", "--output", &out, ds]);
    let files = tar_files(&std::fs::read(&g).unwrap());
    let m: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(m[0]["RepoTags"], serde_json::Value::Null, "{m}");
    let out = format!("type=oci,dest={}", g.display());
    c.build_ok(&["-q", "--output", &out, ds]);
    let files = tar_files(&std::fs::read(&g).unwrap());
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "{index}");
    assert!(
        index["manifests"][0].get("annotations").is_none(),
        "{index}"
    );

    let o = c.env.path("o.tar");
    let out = format!("type=oci,dest={}", o.display());
    c.build_ok(&["-q", "--output", &out, "-t", "named:one", ds]);
    let files = tar_files(&std::fs::read(&o).unwrap());
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let desc = &index["manifests"][0];
    assert_eq!(
        desc["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert!(
        desc["annotations"]["io.containerd.image.name"]
            .as_str()
            .is_some_and(|n| n.ends_with("named:one")),
        "{index}"
    );
    let digest = desc["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let blob = &files[&format!("blobs/sha256/{digest}")];
    let man: serde_json::Value = serde_json::from_slice(blob).unwrap();
    assert_eq!(
        man["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        man["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    for l in man["layers"].as_array().unwrap() {
        assert!(
            l["mediaType"]
                .as_str()
                .unwrap()
                .starts_with("application/vnd.oci.image.layer.v1.tar"),
            "{man}"
        );
        let ld = l["digest"].as_str().unwrap().trim_start_matches("sha256:");
        assert!(files.contains_key(&format!("blobs/sha256/{ld}")));
    }
}
