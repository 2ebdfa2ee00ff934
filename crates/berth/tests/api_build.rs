//! `POST /build` (crates/api/src/build.rs) driven by the real docker CLI
//! (classic builder: DOCKER_BUILDKIT=0) and docker-py on the service's
//! socket, on a per-test store. Needs root (RUN runs containers).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::api::Service;

fn context(dir: &Path, dockerfile: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(dir.join("hello.txt"), "hello from the context\n").unwrap();
}

fn classic_build(s: &Service, args: &[&str]) -> std::process::Output {
    let mut a = vec!["build"];
    a.extend_from_slice(args);
    s.docker_cmd(&a)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("run docker build")
}

/// `docker build -t x .` with the classic builder: the steps are streamed,
/// the image is tagged and runs what it was built with; a second build
/// takes every step from the cache.
#[test]
fn docker_build_through_the_socket() {
    if !berth_testkit::require_root("containers") {
        return;
    }
    let Some(s) = Service::start() else { return };
    s.busybox();
    let dir = s.env.path("ctx");
    context(
        &dir,
        "FROM bb\nRUN echo built > /built.txt\nCOPY hello.txt /hello.txt\nCMD [\"sh\", \"-c\", \"cat /built.txt /hello.txt\"]\n",
    );
    let o = classic_build(&s, &["-t", "x", "-t", "y:2", dir.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "docker build failed:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("Step 1/4 : FROM bb"), "{out}");
    assert!(
        out.contains("Step 2/4 : RUN echo built > /built.txt"),
        "{out}"
    );
    assert!(out.contains("Successfully built "), "{out}");
    assert!(out.contains("Successfully tagged x:latest"), "{out}");
    assert!(out.contains("Successfully tagged y:2"), "{out}");
    let run = s.docker(&["run", "--rm", "x"]);
    assert_eq!(run, "built\nhello from the context\n");
    let id_x = s.docker(&["image", "inspect", "-f", "{{.Id}}", "x"]);
    // The classic builder's ` ---> <id>` after the steps, the final one
    // the image built.
    let short = &id_x.trim().trim_start_matches("sha256:")[..12];
    assert!(out.matches(" ---> ").count() >= 3, "{out}");
    assert!(
        out.contains(&format!(" ---> {short}\nSuccessfully built {short}")),
        "{out}"
    );
    let id_y = s.docker(&["image", "inspect", "-f", "{{.Id}}", "y:2"]);
    assert_eq!(id_x, id_y);

    // Again: every step from the cache, the same image; -q prints its id.
    let o = classic_build(&s, &["-q", "-t", "x", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), id_x);

    // Build args, labels, another Dockerfile name.
    std::fs::write(
        dir.join("Other.df"),
        "FROM bb\nARG WHO=nobody\nRUN echo \"hi $WHO\" > /who\nCMD [\"cat\", \"/who\"]\n",
    )
    .unwrap();
    let o = classic_build(
        &s,
        &[
            "-f",
            dir.join("Other.df").to_str().unwrap(),
            "--build-arg",
            "WHO=api",
            "--label",
            "k=v",
            "-t",
            "z",
            dir.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(s.docker(&["run", "--rm", "z"]), "hi api\n");
    assert_eq!(
        s.docker(&["image", "inspect", "-f", "{{.Config.Labels.k}}", "z"]),
        "v\n"
    );
}

/// A failing RUN: docker exits non-zero with the builder's error; a bad
/// Dockerfile and a bad parameter are reported too.
#[test]
fn docker_build_failures() {
    if !berth_testkit::require_root("containers") {
        return;
    }
    let Some(s) = Service::start() else { return };
    s.busybox();
    let dir = s.env.path("ctx");
    context(&dir, "FROM bb\nRUN echo before; exit 3\nCMD [\"true\"]\n");
    let o = classic_build(&s, &["-t", "bad", dir.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(err.contains("exit code: 3"), "{err}");
    assert!(err.contains("Dockerfile:2"), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("before"));
    let o = s.docker_out(&["image", "inspect", "bad"]);
    assert!(!o.status.success());

    context(&dir, "FROM bb\nFROBNICATE x\n");
    let o = classic_build(&s, &["-t", "bad", dir.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.to_lowercase().contains("frobnicate"), "{err}");

    let o = classic_build(
        &s,
        &[
            "--platform",
            "linux/s390x",
            "-t",
            "bad",
            dir.to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    if !cfg!(target_arch = "s390x") {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("platform"), "{err}");
    }
}

/// A client that hangs up mid-build cancels it, as docker's daemon does:
/// the RUN's container is killed and removed, no image is tagged, and the
/// next build works.
#[test]
fn a_client_hanging_up_cancels_its_build() {
    if !berth_testkit::require_root("containers") {
        return;
    }
    let Some(s) = Service::start() else { return };
    s.busybox();
    let dir = s.env.path("ctx");
    context(&dir, "FROM bb\nRUN sleep 120\n");
    let mut client = s
        .docker_cmd(&["build", "-t", "gone", dir.to_str().unwrap()])
        .env("DOCKER_BUILDKIT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let containers = || s.env.ok(&["ps", "-aq"]);
    s.until("the RUN's container", || !containers().trim().is_empty());
    client.kill().unwrap();
    client.wait().unwrap();
    s.until("the RUN's container to go", || {
        containers().trim().is_empty()
    });
    let o = s.docker_out(&["image", "inspect", "gone"]);
    assert!(!o.status.success(), "a canceled build tagged its image");
    context(&dir, "FROM bb\nRUN echo again > /again\n");
    let o = classic_build(&s, &["-t", "again", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// docker-py (tests/api/dockerpy_build.py): `client.images.build(path=…,
/// tag=…)` and running the result; a failing build raises BuildError.
#[test]
fn docker_py_build() {
    if !berth_testkit::require_root("containers") || !berth_testkit::require("python3") {
        return;
    }
    let has_module = Command::new("python3")
        .args(["-c", "import docker"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_module {
        common::skip("the python module docker (docker-py) is not installed");
        return;
    }
    let Some(s) = Service::start() else { return };
    s.busybox();
    let dir = s.env.path("ctx");
    context(
        &dir,
        "FROM bb\nRUN echo py > /py.txt\nCOPY hello.txt /\nCMD [\"cat\", \"/py.txt\", \"/hello.txt\"]\n",
    );
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/api/dockerpy_build.py");
    let o = Command::new("python3")
        .arg(&script)
        .env("DOCKER_HOST", format!("unix://{}", s.sock.display()))
        .env("BERTH_TEST_CONTEXT", &dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "docker-py failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
