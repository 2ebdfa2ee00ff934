//! push / pull / login / logout against a real docker-registry, and
//! interop with skopeo and podman.

mod common;

use std::process::Command;

use common::{free_port, require, DockerRegistry, Env};
use serde_json::Value;

#[test]
fn push_then_pull_by_tag_and_digest_into_fresh_roots() {
    let Some(reg) = DockerRegistry::start(None) else {
        return;
    };
    let e = Env::new();
    let id = e.import_busybox("busybox:latest", &[r#"CMD ["sh"]"#]);
    let dest = reg.name("test/busybox:1.0");
    // podman's form: push LOCAL DEST.
    let out = e.ok(&["push", "busybox", &dest]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "The push refers to repository [{}]",
            reg.name("test/busybox")
        )
    );
    assert!(out.contains(": Pushed\n"), "{out}");
    let last = lines.last().unwrap();
    assert!(last.starts_with("1.0: digest: sha256:"), "{out}");
    let digest = last.split_whitespace().nth(2).unwrap().to_string();
    let size: u64 = last.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(size > 200, "{last}");
    // Again: the layer exists.
    let out = e.ok(&["push", "busybox", &dest]);
    assert!(out.contains(": Layer already exists\n"), "{out}");
    // docker's form: push NAME; another repository of the same registry
    // gets the layer by a cross-repository mount.
    let other = reg.name("other/bb:2");
    e.ok(&["tag", "busybox", &other]);
    let out = e.ok(&["push", &other]);
    assert!(out.contains(": Mounted from test/busybox\n"), "{out}");

    // Pull by tag into a fresh root.
    let a = Env::new();
    let out = a.ok(&["pull", &dest]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1.0: Pulling from test/busybox");
    assert!(out.contains(": Pull complete\n"), "{out}");
    assert!(out.contains(&format!("Digest: {digest}\n")), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {dest}\n")),
        "{out}"
    );
    assert_eq!(*lines.last().unwrap(), dest);
    assert_eq!(a.ok(&["images", "-q", "--no-trunc"]).trim(), id);
    assert_eq!(a.names(), std::slice::from_ref(&dest));
    let digests = a.ok(&["images", "--format", "{{.Digest}}"]);
    assert_eq!(digests.trim(), digest);
    // Pulled layers are unpacked, ready to run.
    let snaps = std::fs::read_dir(a.root().join("snapshots"))
        .unwrap()
        .count();
    assert!(snaps >= 1);
    // Pulling again: up to date.
    let out = a.ok(&["pull", &dest]);
    assert!(out.contains("Status: Image is up to date for"), "{out}");
    // -q prints just the name.
    assert_eq!(a.ok(&["pull", "-q", &dest]), format!("{dest}\n"));

    // Pull by digest into another fresh root.
    let b = Env::new();
    let by_digest = format!("{}@{digest}", reg.name("test/busybox"));
    let out = b.ok(&["pull", &by_digest]);
    assert_eq!(out.lines().last().unwrap(), by_digest);
    assert_eq!(b.ok(&["images", "-q", "--no-trunc"]).trim(), id);
    let v: Value = serde_json::from_str(&b.ok(&["image", "inspect", &by_digest])).unwrap();
    assert_eq!(v[0]["Id"], id.as_str());
    assert_eq!(v[0]["RepoDigests"][0], by_digest.as_str());
    assert_eq!(v[0]["Config"]["Cmd"], serde_json::json!(["sh"]));

    // skopeo copies what berth pushed.
    if require("skopeo") {
        let oci = e.path("skopeo-oci");
        let st = Command::new("skopeo")
            .args(["copy", "--src-tls-verify=false"])
            .arg(format!("docker://{dest}"))
            .arg(format!("oci:{}:x", oci.display()))
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let inspect = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{dest}"))
            .output()
            .unwrap();
        assert!(inspect.status.success());
        let v: Value = serde_json::from_slice(&inspect.stdout).unwrap();
        assert_eq!(v["Digest"], digest.as_str());
    }
}

#[test]
fn pull_errors_leave_the_store_alone() {
    let Some(reg) = DockerRegistry::start(None) else {
        return;
    };
    let e = Env::new();
    e.import_busybox("busybox:latest", &[]);
    let before = e.snapshot();
    // Missing tag.
    let err = e.fails(&["pull", &reg.name("test/none:nope")], 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "berth: manifest for {} not found",
            reg.name("test/none:nope")
        )),
        "{err}"
    );
    // Missing digest.
    let missing = format!("{}@sha256:{}", reg.name("test/none"), "ab".repeat(32));
    e.fails(&["pull", &missing], 1);
    // A registry that is down.
    let down = format!("127.0.0.1:{}/x/y:1", free_port());
    let err = e.fails(&["pull", &down], 1);
    assert!(err.contains("connection refused"), "{err}");
    assert_eq!(err.lines().count(), 1);
    // Pushing an image that does not exist.
    let err = e.fails(&["push", &reg.name("test/nothere:1")], 1);
    assert!(err.contains("does not exist locally"), "{err}");
    // Bad platform.
    e.fails(&["pull", "--platform", "linux//x", &reg.name("a/b:1")], 1);
    // push --platform: a single-platform image of another platform.
    let err = e.fails(
        &[
            "push",
            "--platform",
            "linux/s390x",
            "busybox",
            &reg.name("test/p:1"),
        ],
        1,
    );
    assert!(err.contains("not linux/s390x"), "{err}");
    assert_eq!(e.snapshot(), before);
    assert_eq!(e.names(), ["busybox:latest"]);
    // Its own platform pushes as usual.
    let own = e.ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Os}}/{{.Architecture}}",
        "busybox",
    ]);
    let out = e.ok(&[
        "push",
        "--platform",
        own.trim(),
        "busybox",
        &reg.name("test/p:1"),
    ]);
    assert!(out.contains("1: digest: sha256:"), "{out}");
}

#[test]
fn login_logout_with_htpasswd() {
    let Some(reg) = DockerRegistry::start(Some(("alice", "s3cret"))) else {
        return;
    };
    let e = Env::new();
    e.import_busybox("busybox:latest", &[]);
    let dest = reg.name("priv/bb:1");
    // Without credentials the push is refused.
    let err = e.fails(&["push", "busybox", &dest], 1);
    assert!(err.contains("401") || err.contains("auth"), "{err}");
    // Wrong password.
    let o = e.output(&["login", "-u", "alice", "-p", "wrong", &reg.addr]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("WARNING! Using --password"), "{err}");
    assert!(err.contains("invalid username or password"), "{err}");
    assert!(!e.path("auth.json").exists());
    // --password-stdin.
    let mut c = e.cmd(&["login", "-u", "alice", "--password-stdin", &reg.addr]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Login Succeeded\n");
    // docker's auth file format.
    let auth: Value =
        serde_json::from_str(&std::fs::read_to_string(e.path("auth.json")).unwrap()).unwrap();
    assert!(auth["auths"][&reg.addr]["auth"].is_string(), "{auth}");
    e.ok(&["push", "busybox", &dest]);
    let f = Env::new();
    let out = f
        .cmd(&["pull", &dest])
        .env("REGISTRY_AUTH_FILE", e.path("auth.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        e.ok(&["logout", &reg.addr]),
        format!("Removing login credentials for {}\n", reg.addr)
    );
    assert_eq!(
        e.ok(&["logout", &reg.addr]),
        format!("Not logged in to {}\n", reg.addr)
    );
    e.fails(&["push", "busybox", &dest], 1);
}

/// podman loads what `berth save` writes, and berth loads `podman save`.
#[test]
fn podman_interop() {
    if !require("podman") {
        return;
    }
    let e = Env::new();
    let id = e.import_busybox("busybox:latest", &[r#"CMD ["sh"]"#]);
    let storage = e.path("podman-storage");
    let run = e.path("podman-run");
    let podman = |args: &[&str]| {
        let o = Command::new("podman")
            .arg("--root")
            .arg(&storage)
            .arg("--runroot")
            .arg(&run)
            .arg("--storage-driver")
            .arg("vfs")
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    for (format, name) in [
        ("docker-archive", "busybox:latest"),
        ("oci-archive", "busybox:latest"),
    ] {
        let file = e.path(&format!("{format}.tar"));
        e.ok(&[
            "save",
            "--format",
            format,
            "-o",
            file.to_str().unwrap(),
            name,
        ]);
        podman(&["load", "-i", file.to_str().unwrap()]);
        let ids = podman(&["images", "--no-trunc", "--format", "{{.ID}}"]);
        assert!(ids.contains(&id[7..]), "{format}: {ids}");
    }
    let names = podman(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(names.contains("busybox:latest"), "{names}");
    // podman save → berth load into a fresh root.
    let out = e.path("podman-save.tar");
    podman(&[
        "save",
        "-o",
        out.to_str().unwrap(),
        "docker.io/library/busybox:latest",
    ]);
    let fresh = Env::new();
    let loaded = fresh.ok(&["load", "-i", out.to_str().unwrap()]);
    assert_eq!(loaded, "Loaded image: busybox:latest\n");
    assert_eq!(fresh.ok(&["images", "-q", "--no-trunc"]).trim(), id);
    // And an OCI archive from podman.
    let out = e.path("podman-oci.tar");
    podman(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        out.to_str().unwrap(),
        "docker.io/library/busybox:latest",
    ]);
    let fresh = Env::new();
    fresh.ok(&["load", "-i", out.to_str().unwrap()]);
    assert_eq!(fresh.ok(&["images", "-q", "--no-trunc"]).trim(), id);
}

/// A credential helper named by `credsStore` keeps the secret: login
/// stores through it, push and pull get from it, logout erases.
#[test]
fn login_through_a_credential_helper() {
    let Some(reg) = DockerRegistry::start(Some(("carol", "pw-helper"))) else {
        return;
    };
    let e = Env::new();
    e.import_busybox("busybox:latest", &[]);
    // docker-credential-fake: one file per server under $FAKE_STORE.
    let bin = e.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-fake");
    std::fs::write(
        &helper,
        r#"#!/bin/sh
read -r input
key=$(printf %s "$input" | sed 's/{.*"ServerURL":"\([^"]*\)".*/\1/' | tr -c 'a-zA-Z0-9.\n' _)
case "$1" in
store) printf %s "$input" > "$FAKE_STORE/$key" ;;
get) f="$FAKE_STORE/$(printf %s "$input" | tr -c 'a-zA-Z0-9.\n' _)"
     [ -f "$f" ] || { echo "credentials not found in native keychain"; exit 1; }
     cat "$f" ;;
erase) f="$FAKE_STORE/$(printf %s "$input" | tr -c 'a-zA-Z0-9.\n' _)"
     [ -f "$f" ] || { echo "credentials not found in native keychain"; exit 1; }
     rm "$f" ;;
*) echo "unknown verb" >&2; exit 2 ;;
esac
"#,
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let store = e.path("fake-store");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(e.path("auth.json"), r#"{"credsStore":"fake"}"#).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let run = |args: &[&str]| {
        let o = e
            .cmd(args)
            .env("PATH", &path)
            .env("FAKE_STORE", &store)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["login", "-u", "carol", "-p", "pw-helper", &reg.addr]);
    assert_eq!(code, Some(0), "{out}{err}");
    // The secret is in the helper's store, not in the file.
    let file = std::fs::read_to_string(e.path("auth.json")).unwrap();
    assert!(!file.contains("auth\""), "{file}");
    let auth: Value = serde_json::from_str(&file).unwrap();
    assert_eq!(auth["credsStore"], "fake");
    assert!(auth["auths"][&reg.addr].is_object(), "{auth}");
    let stored: Vec<_> = std::fs::read_dir(&store).unwrap().collect();
    assert_eq!(stored.len(), 1);
    let dest = reg.name("helper/bb:1");
    let (code, out, err) = run(&["push", "busybox", &dest]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, _) = run(&["logout", &reg.addr]);
    assert_eq!(code, Some(0));
    assert_eq!(
        out,
        format!("Removing login credentials for {}\n", reg.addr)
    );
    assert_eq!(std::fs::read_dir(&store).unwrap().count(), 0);
    // Without the secret the registry refuses again.
    let (code, _, err) = run(&["push", "busybox", &dest]);
    assert_eq!(code, Some(1), "{err}");
    // A helper that is missing is named in the error.
    std::fs::write(e.path("auth.json"), r#"{"credsStore":"absent"}"#).unwrap();
    let (code, _, err) = run(&["push", "busybox", &dest]);
    assert_eq!(code, Some(1));
    assert!(err.contains("docker-credential-absent"), "{err}");
}

/// Write `data` as a blob of the OCI layout at `dir`; its descriptor.
fn layout_blob(dir: &std::path::Path, media_type: &str, data: &[u8]) -> Value {
    let d = image::Digest::of_bytes(data);
    std::fs::write(dir.join("blobs/sha256").join(d.hex()), data).unwrap();
    serde_json::json!({"mediaType": media_type, "digest": d.to_string(), "size": data.len()})
}

/// An OCI layout at `dir` whose tag `1` is an index of two images:
/// linux/amd64 (busybox) and linux/arm64 (one file; never run).
fn two_platform_layout(dir: &std::path::Path) {
    use std::io::Write;
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let mut platforms = Vec::new();
    for (arch, tar) in [
        ("amd64", common::busybox_tar()),
        ("arm64", common::file_tar("etc/arch", b"arm64\n")),
    ] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let layer = layout_blob(
            dir,
            "application/vnd.oci.image.layer.v1.tar+gzip",
            &gz.finish().unwrap(),
        );
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch, "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers",
                       "diff_ids": [image::Digest::of_bytes(&tar).to_string()]},
        }))
        .unwrap();
        let config = layout_blob(dir, "application/vnd.oci.image.config.v1+json", &config);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": [layer],
        }))
        .unwrap();
        let mut desc = layout_blob(dir, "application/vnd.oci.image.manifest.v1+json", &manifest);
        desc["platform"] = serde_json::json!({"architecture": arch, "os": "linux"});
        platforms.push(desc);
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": platforms,
    }))
    .unwrap();
    let mut top = layout_blob(dir, "application/vnd.oci.image.index.v1+json", &index);
    top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "1"});
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [top]})).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// Run skopeo; assert success; stdout.
fn skopeo(args: &[&str]) -> Vec<u8> {
    let o = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// The exact manifest bytes a registry serves for `name`.
fn raw_manifest(name: &str) -> Vec<u8> {
    skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ])
}

/// An image pulled from a two-platform index: `push` sends the whole
/// index (the same bytes) once the store holds both platforms, the image's
/// own manifest with a warning while it holds one (after a plain pull),
/// and one platform's manifest with `--platform`.
#[test]
fn push_of_an_image_from_a_multi_platform_index() {
    if !require("skopeo") {
        return;
    }
    let Some(reg) = DockerRegistry::start(None) else {
        return;
    };
    let e = Env::new();
    let layout = e.path("layout");
    two_platform_layout(&layout);
    let src = reg.name("src/multi:1");
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{src}"),
    ]);
    let index = raw_manifest(&src);
    let index_digest = image::Digest::of_bytes(&index).to_string();
    let v: Value = serde_json::from_slice(&index).unwrap();
    let child = |arch: &str| -> String {
        let m = v["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"]["architecture"] == arch)
            .unwrap_or_else(|| panic!("no {arch} in {v}"));
        m["digest"].as_str().unwrap().to_string()
    };
    let (amd64, arm64) = (child("amd64"), child("arm64"));
    let src_repo = reg.name("src/multi");
    let amd64_bytes = raw_manifest(&format!("{src_repo}@{amd64}"));
    let arm64_bytes = raw_manifest(&format!("{src_repo}@{arm64}"));

    // A pull fetches one platform (linux/amd64, berth's default on this
    // host; named so the test does not depend on the host) and records
    // the index it came from, but not the arm64 image's content.
    let out = e.ok(&["pull", "--platform", "linux/amd64", &src]);
    assert!(out.contains(&format!("Digest: {index_digest}\n")), "{out}");
    let inspect: Value = serde_json::from_str(&e.ok(&["image", "inspect", &src])).unwrap();
    assert_eq!(inspect[0]["Architecture"], "amd64");
    assert_eq!(
        inspect[0]["RepoDigests"],
        serde_json::json!([format!("{src_repo}@{index_digest}")])
    );

    // Incomplete: the amd64 manifest is pushed, with a warning.
    let dest = reg.name("dst/one:1");
    let o = e.output(&["push", &src, &dest]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(
        err,
        format!(
            "WARNING: not pushing index {index_digest}: the local store lacks the content of \
             linux/arm64; pushing the linux/amd64 manifest only\n"
        )
    );
    assert!(out.contains(&format!("1: digest: {amd64} ")), "{out}");
    assert_eq!(raw_manifest(&dest), amd64_bytes);

    // Pulling the other platform too completes the store; the tag then
    // names the arm64 image (as docker does), a plain pull moves it back.
    e.ok(&["pull", "--platform", "linux/arm64", &src]);
    assert_eq!(
        e.ok(&["image", "inspect", "--format", "{{.Architecture}}", &src]),
        "arm64\n"
    );
    e.ok(&["pull", "--platform", "linux/amd64", &src]);
    assert_eq!(
        e.ok(&["image", "inspect", "--format", "{{.Architecture}}", &src]),
        "amd64\n"
    );

    // Complete: the whole index, byte for byte, with both platforms'
    // manifests and blobs (skopeo copies all of it back out).
    let dest = reg.name("dst/all:1");
    let o = e.output(&["push", &src, &dest]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{out}{err}");
    assert!(!err.contains("WARNING"), "{err}");
    assert!(
        out.contains(&format!("1: digest: {index_digest} ")),
        "{out}"
    );
    assert_eq!(raw_manifest(&dest), index);
    let dest_repo = reg.name("dst/all");
    assert_eq!(raw_manifest(&format!("{dest_repo}@{amd64}")), amd64_bytes);
    assert_eq!(raw_manifest(&format!("{dest_repo}@{arm64}")), arm64_bytes);
    let copy = e.path("copy");
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{dest}"),
        &format!("oci:{}:1", copy.display()),
    ]);

    // --platform: that platform's manifest alone, without a warning.
    for (platform, digest, bytes, tag) in [
        ("linux/amd64", &amd64, &amd64_bytes, "dst/p:amd64"),
        ("linux/arm64", &arm64, &arm64_bytes, "dst/p:arm64"),
    ] {
        let dest = reg.name(tag);
        let o = e.output(&["push", "--platform", platform, &src, &dest]);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        assert!(o.status.success(), "{out}{err}");
        assert!(!err.contains("WARNING"), "{err}");
        assert!(out.contains(&format!(": digest: {digest} ")), "{out}");
        assert_eq!(&raw_manifest(&dest), bytes);
    }
}

/// `berth push` and `pull` over HTTPS to a registry whose certificate a
/// CA made at test time signed: the CA from a certs.d tree
/// ($BERTH_CERTS_D, as /etc/containers/certs.d/HOST:PORT/ca.crt) or from
/// `--cert-dir`; an unknown CA is refused with one line and nothing
/// stored; `--tls-verify=false` only when asked.
#[test]
fn push_and_pull_over_https_with_a_registry_ca() {
    let pkidir = tempfile::tempdir().unwrap();
    let Some(pki) = berth_testkit::pki::Pki::new(pkidir.path()) else {
        return;
    };
    let (cert, key) = pki.server("srv", "ca", "IP:127.0.0.1");
    let Some(reg) = DockerRegistry::start_with(None, Some((&cert, &key))) else {
        return;
    };
    let certs_d = pki.certs_d(&reg.addr, "ca");
    let other_d = pki.certs_d(&reg.addr, "other-ca");
    let e = Env::new();
    e.import_busybox("busybox:latest", &[]);
    let dest = reg.name("tls/busybox:1");
    let run = |env: &Env, d: &std::path::Path, args: &[&str]| {
        env.cmd(args).env("BERTH_CERTS_D", d).output().unwrap()
    };
    // An unknown CA: refused, one line, exit 1.
    let o = run(&e, &other_d, &["push", "busybox", &dest]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("certificate signed by unknown authority"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // The CA in certs.d: pushed over HTTPS.
    let o = run(&e, &certs_d, &["push", "busybox", &dest]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Pull into a fresh root: refused with the other CA, nothing stored.
    let f = Env::new();
    let o = run(&f, &other_d, &["pull", &dest]);
    assert_eq!(o.status.code(), Some(1));
    assert!(f.names().is_empty());
    // --cert-dir names the directory directly (podman's flag).
    let dir = certs_d.join(&reg.addr);
    let o = run(
        &f,
        &other_d,
        &["pull", "--cert-dir", dir.to_str().unwrap(), &dest],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(f.names(), std::slice::from_ref(&dest));
    // --tls-verify=false: no certificate check, when asked.
    let g = Env::new();
    let o = run(&g, &other_d, &["pull", "--tls-verify=false", &dest]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A registry that is not on loopback speaks HTTPS, verified against the
/// system trust store ($SSL_CERT_FILE here; /etc/ssl/certs otherwise):
/// trusted there, no certs.d is needed; not trusted, it is refused.
#[test]
fn https_registry_trusted_through_the_system_store() {
    // A global (non-loopback) address of this machine.
    let out = Command::new("hostname").arg("-I").output().unwrap();
    let Some(ip) = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
        .map(str::to_string)
    else {
        eprintln!("skipping: no non-loopback IPv4 address");
        return;
    };
    let pkidir = tempfile::tempdir().unwrap();
    let Some(pki) = berth_testkit::pki::Pki::new(pkidir.path()) else {
        return;
    };
    let (cert, key) = pki.server("srv", "ca", &format!("IP:{ip}"));
    let Some(reg) = DockerRegistry::start_on(&ip, None, Some((&cert, &key))) else {
        return;
    };
    let e = Env::new();
    e.import_busybox("busybox:latest", &[]);
    let dest = reg.name("sys/busybox:1");
    let nowhere = pkidir.path().join("no-certs.d");
    let run = |e: &Env, bundle: &std::path::Path, args: &[&str]| {
        e.cmd(args)
            .env("BERTH_CERTS_D", &nowhere)
            .env("SSL_CERT_FILE", bundle)
            .output()
            .unwrap()
    };
    // The system store holds the other CA only: refused.
    let o = run(&e, &pki.path("other-ca.crt"), &["push", "busybox", &dest]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("unknown authority"), "{err}");
    // It holds the registry's CA: pushed and pulled over HTTPS.
    let o = run(&e, &pki.path("ca.crt"), &["push", "busybox", &dest]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f = Env::new();
    let o = run(&f, &pki.path("ca.crt"), &["pull", &dest]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(f.names(), std::slice::from_ref(&dest));
}
