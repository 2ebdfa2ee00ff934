//! `berth build`'s outputs and shared caches (issue 13): `--output` of each
//! type (read back by skopeo and `berth load`), `--cache-to`/`--cache-from`
//! through a directory and a loopback docker-registry into a fresh store,
//! `builder prune` and the build cache in `system df`, a corrupt cache
//! file, and git contexts (file:// and `git daemon`). Needs root.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::Env;

const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "true", "mkdir", "ls", "sleep", "touch", "test",
];

/// A store with `busybox` (loaded from `bb.tar` when given, so that two
/// stores share its id).
fn store(bb: Option<&Path>) -> Option<Env> {
    if !berth_testkit::require_root("berth build runs containers") {
        return None;
    }
    let env = Env::new();
    match bb {
        Some(p) => {
            env.ok(&["load", "-i", p.to_str().unwrap()]);
        }
        None => {
            let p = env.path("busybox.tar");
            std::fs::write(
                &p,
                berth_testkit::busybox_tar_with(&["bin/", "etc/", "tmp/"], APPLETS, &[]),
            )
            .unwrap();
            env.ok(&["import", p.to_str().unwrap(), "busybox"]);
        }
    }
    Some(env)
}

fn context(env: &Env, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let d = env.path(name);
    for (p, data) in files {
        let f = d.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, data).unwrap();
    }
    d
}

/// `build ARGS`, asserting success; stderr (the plain progress).
fn build(env: &Env, args: &[&str]) -> String {
    let mut a = vec!["build", "--progress", "plain"];
    a.extend_from_slice(args);
    let (code, out, err) = env.run(&a);
    assert_eq!(code, 0, "build {args:?} failed:\n{out}\n{err}");
    err
}

/// Paths and contents of the regular files of a tar.
fn tar_files(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(data);
    let mut out = vec![];
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let mut v = vec![];
        e.read_to_end(&mut v).unwrap();
        out.push((p, v));
    }
    out
}

fn has_file(files: &[(String, Vec<u8>)], path: &str, data: &[u8]) -> bool {
    files.iter().any(|(p, v)| p == path && v == data)
}

const DOCKERFILE: &str =
    "FROM busybox\nRUN echo $((6*7)) && echo $((6*7)) > /answer\nCOPY f.txt /f.txt\nCMD [\"cat\", \"/answer\"]\n";

/// Every output type; with outputs that do not keep the image, `-t` tags
/// nothing.
#[test]
fn outputs_local_tar_oci_docker() {
    let Some(env) = store(None) else { return };
    let ctx = context(
        &env,
        "ctx",
        &[("Dockerfile", DOCKERFILE), ("f.txt", "from the context\n")],
    );
    let ctx_s = ctx.to_str().unwrap();

    // type=local: the flattened filesystem in a directory.
    let dir = env.path("out-local");
    let err = build(
        &env,
        &[
            "-t",
            "notkept",
            "-o",
            &format!("type=local,dest={}", dir.display()),
            ctx_s,
        ],
    );
    assert!(err.contains("exporting to client directory"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("answer")).unwrap(), "42\n");
    assert_eq!(
        std::fs::read_to_string(dir.join("f.txt")).unwrap(),
        "from the context\n"
    );
    assert!(dir.join("bin/sh").exists());
    assert!(
        !env.names().iter().any(|n| n.contains("notkept")),
        "an image tagged with a local output: {:?}",
        env.names()
    );
    // The -o DIR shorthand.
    let dir2 = env.path("out-short");
    build(&env, &["-o", dir2.to_str().unwrap(), ctx_s]);
    assert_eq!(
        std::fs::read_to_string(dir2.join("answer")).unwrap(),
        "42\n"
    );

    // type=tar to a file and `-o -` to stdout.
    let t = env.path("fs.tar");
    build(
        &env,
        &["-o", &format!("type=tar,dest={}", t.display()), ctx_s],
    );
    let files = tar_files(&std::fs::read(&t).unwrap());
    assert!(
        has_file(&files, "answer", b"42\n"),
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    let o = env.output(&["build", "-q", "-o", "-", ctx_s]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(has_file(
        &tar_files(&o.stdout),
        "f.txt",
        b"from the context\n"
    ));

    // type=oci and type=docker: image archives skopeo and `berth load` read.
    let oci = env.path("img-oci.tar");
    build(
        &env,
        &["-o", &format!("type=oci,dest={}", oci.display()), ctx_s],
    );
    let dock = env.path("img-docker.tar");
    build(
        &env,
        &[
            "-o",
            &format!("type=docker,dest={},name=built/app:1", dock.display()),
            ctx_s,
        ],
    );
    assert!(
        !env.names().iter().any(|n| n.contains("built/app")),
        "the archive's name stayed in the store: {:?}",
        env.names()
    );
    if common::have("skopeo") {
        for src in [
            format!("oci-archive:{}", oci.display()),
            format!("docker-archive:{}", dock.display()),
        ] {
            let o = Command::new("skopeo")
                .args(["inspect", "--config", &src])
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "skopeo inspect {src}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let cfg: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(
                cfg["config"]["Cmd"],
                serde_json::json!(["cat", "/answer"]),
                "{src}"
            );
        }
    }
    let other = Env::new();
    other.ok(&["load", "-i", dock.to_str().unwrap()]);
    let run = other.ok(&["run", "--rm", "built/app:1"]);
    assert_eq!(run, "42\n");
    let other = Env::new();
    other.ok(&["load", "-i", oci.to_str().unwrap()]);
    assert_eq!(other.images_json().len(), 1);

    // type=docker without dest (and type=image): loaded, tagged.
    build(&env, &["-t", "kept:1", "-o", "type=docker", ctx_s]);
    build(&env, &["-o", "type=image,name=named:2", ctx_s]);
    let names = env.names();
    assert!(names.iter().any(|n| n.contains("kept:1")), "{names:?}");
    assert!(names.iter().any(|n| n.contains("named:2")), "{names:?}");

    // A bad output is named.
    let (code, _, err) = env.run(&["build", "-o", "type=s3,dest=x", ctx_s]);
    assert_ne!(code, 0);
    assert!(err.contains("--output") && err.contains("s3"), "{err}");
}

/// The RUN steps that ran (their output, `#N 42`, is printed only then).
fn ran(err: &str) -> bool {
    err.lines().any(|l| {
        l.split_once(' ')
            .is_some_and(|(n, rest)| n.starts_with('#') && rest == "42")
    })
}

fn save_busybox(env: &Env) -> PathBuf {
    let p = env.path("bb-save.tar");
    env.ok(&["save", "-o", p.to_str().unwrap(), "busybox"]);
    p
}

const TWO_STAGES: &str = "FROM busybox AS tool\nRUN echo $((6*7)) && echo $((6*7)) > /tool\nFROM busybox\nCOPY --from=tool /tool /tool\nRUN echo $((6*7)) && echo $((6*7)) > /answer\n";

/// `--cache-to type=local` then `--cache-from` in a fresh store: every step
/// hit, no RUN executed; mode=min exports only the final image's steps.
#[test]
fn cache_to_and_from_a_directory() {
    let Some(a) = store(None) else { return };
    let bb = save_busybox(&a);
    let ctx = context(&a, "ctx", &[("Dockerfile", TWO_STAGES)]);
    let ctx_s = ctx.to_str().unwrap();
    let max = a.path("cache-max");
    let min = a.path("cache-min");
    let err = build(
        &a,
        &[
            "--cache-to",
            &format!("type=local,dest={},mode=max", max.display()),
            ctx_s,
        ],
    );
    assert!(ran(&err), "{err}");
    build(
        &a,
        &[
            "--cache-to",
            &format!("type=local,dest={}", min.display()),
            ctx_s,
        ],
    );
    assert!(max.join("index.json").exists() && max.join("oci-layout").exists());
    let n = |d: &Path| {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("index.json")).unwrap()).unwrap();
        v["manifests"].as_array().unwrap().len()
    };
    assert!(n(&max) > n(&min), "mode=max {} vs min {}", n(&max), n(&min));

    // A fresh store with the same base: all hits from the max cache.
    let Some(b) = store(Some(&bb)) else { return };
    let err = build(
        &b,
        &[
            "--cache-from",
            &format!("type=local,src={}", max.display()),
            ctx_s,
        ],
    );
    assert!(!ran(&err), "a RUN ran despite the imported cache:\n{err}");
    assert!(err.matches("CACHED").count() >= 3, "{err}");
    // Without the cache, another fresh store runs them.
    let Some(c) = store(Some(&bb)) else { return };
    assert!(ran(&build(&c, &[ctx_s])));
    // A missing cache directory is a warning, not a failure.
    let err = build(
        &c,
        &["--cache-from", "type=local,src=/nonexistent/cache", ctx_s],
    );
    assert!(
        err.contains("WARNING") && err.contains("/nonexistent/cache"),
        "{err}"
    );
}

/// The same through a loopback docker-registry: the cache manifest is an
/// OCI index pushed with the registry client.
#[test]
fn cache_to_and_from_a_registry() {
    let Some(reg) = common::DockerRegistry::start(None) else {
        return;
    };
    let Some(a) = store(None) else { return };
    let bb = save_busybox(&a);
    let ctx = context(&a, "ctx", &[("Dockerfile", DOCKERFILE), ("f.txt", "x\n")]);
    let ctx_s = ctx.to_str().unwrap();
    let r = reg.name("cache/app:buildcache");
    build(
        &a,
        &[
            "--cache-to",
            &format!("type=registry,ref={r},mode=max"),
            ctx_s,
        ],
    );
    let Some(b) = store(Some(&bb)) else { return };
    let err = build(
        &b,
        &["--cache-from", &format!("type=registry,ref={r}"), ctx_s],
    );
    assert!(!ran(&err), "a RUN ran despite the registry cache:\n{err}");
    // The cache images stay unnamed in the store.
    assert!(
        !b.names().iter().any(|n| n.contains("cache/app")),
        "{:?}",
        b.names()
    );
}

/// `system df` lists the build cache; `builder prune` (and `buildx
/// prune`) empties it, refused while a build holds the store's lease; a
/// corrupt cache.json is set aside with a warning.
#[test]
fn builder_prune_and_system_df() {
    let Some(env) = store(None) else { return };
    let ctx = context(&env, "ctx", &[("Dockerfile", DOCKERFILE), ("f.txt", "x\n")]);
    let ctx_s = ctx.to_str().unwrap();
    build(&env, &[ctx_s]);
    let df = env.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    let count = df
        .lines()
        .find_map(|l| l.strip_prefix("Build Cache "))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or_else(|| panic!("{df}"));
    assert!(count >= 2, "{df}");
    // Untagged, the steps' layers are the cache's alone: what a prune
    // without -a frees, reclaimable.
    let df = env.ok(&["system", "df", "--format", "{{.Type}}:{{.Reclaimable}}"]);
    let reclaimable = df
        .lines()
        .find_map(|l| l.strip_prefix("Build Cache:"))
        .unwrap_or_else(|| panic!("{df}"));
    assert_ne!(reclaimable.trim(), "0B", "{df}");
    let v = env.ok(&["system", "df", "-v"]);
    assert!(v.contains("CACHE ID") && v.contains("regular"), "{v}");

    // While a build holds the lease, prune is refused.
    let lock = env.root().join("build/gc.lock");
    let mut holder = Command::new("flock")
        .args(["-s", lock.to_str().unwrap(), "-c", "echo held; exec cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "held\n");
    let err = env.fails(&["builder", "prune", "-f"], 1);
    assert!(err.contains("a build is running"), "{err}");
    drop(holder.stdin.take());
    holder.wait().unwrap();

    let out = env.ok(&["buildx", "prune", "-f"]);
    assert!(out.contains("Deleted build cache objects:"), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    // Nothing cached any more: the RUN runs again.
    assert!(ran(&build(&env, &[ctx_s])));
    let out = env.ok(&["builder", "prune", "-a", "-f", "--filter", "until=1h"]);
    assert!(
        !out.contains("Deleted"),
        "entries used just now went: {out}"
    );
    // `until` as the engine's prunes take it (docker's GetTimestamp):
    // RFC 3339 and unix seconds besides durations.
    let out = env.ok(&[
        "builder",
        "prune",
        "-a",
        "-f",
        "--filter",
        "until=2000-01-01T00:00:00Z",
    ]);
    assert!(
        !out.contains("Deleted"),
        "entries used after 2000 went: {out}"
    );
    let err = env.fails(&["builder", "prune", "-f", "--filter", "until=soon"], 1);
    assert!(err.contains("until=soon"), "{err}");
    // Everything was last used before 2100.
    let out = env.ok(&[
        "builder",
        "prune",
        "-a",
        "-f",
        "--filter",
        "until=4102444800",
    ]);
    assert!(out.contains("Deleted build cache objects:"), "{out}");
    assert!(ran(&build(&env, &[ctx_s])));
    let err = env.fails(&["builder", "prune", "-f", "--filter", "type=x"], 1);
    assert!(err.contains("type"), "{err}");
    let err = env.fails(&["builder", "prune", "-f", "--keep-storage", "lots"], 1);
    assert!(err.contains("--keep-storage"), "{err}");
    env.ok(&["builder", "prune", "-a", "-f"]);

    // A corrupt cache file: set aside, named, the build goes on.
    build(&env, &[ctx_s]);
    let cj = env.root().join("build/cache.json");
    std::fs::write(&cj, b"{\"steps\": {oops").unwrap();
    let err = build(&env, &[ctx_s]);
    assert!(
        err.contains("WARNING") && err.contains("cache.json") && err.contains("corrupt"),
        "{err}"
    );
    assert!(ran(&err));
    let aside = std::fs::read_dir(env.root().join("build"))
        .unwrap()
        .flatten()
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("cache.json.corrupt-")
        });
    assert!(aside);
    assert!(!ran(&build(&env, &[ctx_s])), "the cache was not rebuilt");
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A git repository as the context: `URL#ref:subdir` over file:// and
/// `git daemon` (git://); the ref and the subdirectory are honoured.
#[test]
fn git_contexts() {
    if !common::require("git") {
        return;
    }
    let Some(env) = store(None) else { return };
    let work = env.path("work");
    std::fs::create_dir_all(work.join("app")).unwrap();
    git(&work, &["init", "-q"]);
    std::fs::write(
        work.join("app/Dockerfile"),
        "FROM busybox\nCOPY v.txt /v.txt\nCMD [\"cat\", \"/v.txt\"]\n",
    )
    .unwrap();
    std::fs::write(work.join("app/v.txt"), "v1\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-qm", "v1"]);
    git(&work, &["tag", "v1"]);
    std::fs::write(work.join("app/v.txt"), "v2\n").unwrap();
    git(&work, &["commit", "-qam", "v2"]);
    let srv = env.path("srv");
    std::fs::create_dir_all(&srv).unwrap();
    git(
        &srv,
        &["clone", "-q", "--bare", work.to_str().unwrap(), "repo.git"],
    );
    let url = format!("file://{}/repo.git", srv.display());

    build(&env, &["-t", "g:tag", &format!("{url}#v1:app")]);
    assert_eq!(env.ok(&["run", "--rm", "g:tag"]), "v1\n");
    build(&env, &["-t", "g:head", &format!("{url}#:app")]);
    assert_eq!(env.ok(&["run", "--rm", "g:head"]), "v2\n");
    let (code, _, err) = env.run(&["build", &format!("{url}#v1:nope")]);
    assert_ne!(code, 0);
    assert!(err.contains("nope"), "{err}");
    let (code, _, err) = env.run(&["build", &format!("{url}#no-such-ref:app")]);
    assert_ne!(code, 0);
    assert!(err.contains("git") && err.contains("no-such-ref"), "{err}");

    // git daemon (git://).
    let port = common::free_port();
    let mut d = Command::new("git")
        .args([
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            &format!("--base-path={}", srv.display()),
            srv.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if up {
        build(
            &env,
            &[
                "-t",
                "g:daemon",
                &format!("git://127.0.0.1:{port}/repo.git#v1:app"),
            ],
        );
        assert_eq!(env.ok(&["run", "--rm", "g:daemon"]), "v1\n");
    }
    let _ = d.kill();
    let _ = d.wait();
    assert!(up, "git daemon did not come up");
}

/// Two independent stages build at once: each RUN waits (through a shared
/// cache mount) for the other's to have started, which one after the other
/// never happens (they give up after a minute and fail). Their plain
/// progress lines keep their own step numbers.
#[test]
fn independent_stages_build_in_parallel() {
    let Some(env) = store(None) else { return };
    let wait = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,target=/s,id=meet,sharing=shared touch /s/{me} && i=0 && \\\n  while ! test -e /s/{other} && test $i -lt 60; do sleep 1; i=$((i+1)); done && \\\n  test -e /s/{other} && echo {me}-saw-{other} && echo {me} > /{me}\n"
        )
    };
    let df = format!(
        "FROM busybox AS a\n{}FROM busybox AS b\n{}FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\nCMD [\"cat\", \"/a\", \"/b\"]\n",
        wait("a", "b"),
        wait("b", "a")
    );
    let ctx = context(&env, "ctx", &[("Dockerfile", &df)]);
    let err = build(&env, &["-t", "par", ctx.to_str().unwrap()]);
    assert_eq!(env.ok(&["run", "--rm", "par"]), "a\nb\n");
    // Step numbers as in dependency order: a's RUN #2, b's RUN #4.
    assert!(err.lines().any(|l| l == "#2 a-saw-b"), "{err}");
    assert!(err.lines().any(|l| l == "#4 b-saw-a"), "{err}");
    assert!(
        err.contains("#2 [a 2/2] RUN") && err.contains("#4 [b 2/2] RUN"),
        "{err}"
    );
}
