//! `berth build` end to end: each instruction on a busybox image, the
//! corpus under tests/build/corpus compared with buildah (config fields and
//! the flattened filesystem), the step cache, bad input, kill -9 mid-build.
//! Needs root (overlay mounts, namespaces).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::Env;
use serde_json::Value;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/build/corpus")
        .join(name)
}

const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "true", "false", "mkdir", "rm", "ln", "chmod", "touch", "sleep",
    "id", "env", "test",
];
const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
const GROUP: &[u8] = b"root:x:0:\napp:x:1000:\nstaff:x:50:\n";

fn busybox_tar() -> Vec<u8> {
    berth_testkit::busybox_tar_with(
        &["bin/", "etc/", "tmp/"],
        APPLETS,
        &[("etc/passwd", PASSWD), ("etc/group", GROUP)],
    )
}

/// A store with `busybox` imported; removes its containers at the end.
struct Ctx {
    env: Env,
}

impl Ctx {
    fn new() -> Option<Ctx> {
        if !berth_testkit::require_root("berth build runs containers") {
            return None;
        }
        let env = Env::new();
        let p = env.path("busybox.tar");
        std::fs::write(&p, busybox_tar()).unwrap();
        env.ok(&["import", p.to_str().unwrap(), "busybox"]);
        Some(Ctx { env })
    }

    /// `build ARGS` with stdin closed; (code, stdout, stderr).
    fn build(&self, args: &[&str]) -> (i32, String, String) {
        let mut a = vec!["build"];
        a.extend_from_slice(args);
        self.env.run(&a)
    }

    /// `build -q ARGS`: the image id.
    fn build_ok(&self, args: &[&str]) -> String {
        let mut a = vec!["build", "-q"];
        a.extend_from_slice(args);
        let id = self.env.ok(&a).trim().to_string();
        assert!(id.starts_with("sha256:"), "{id}");
        id
    }

    /// The raw image config (as written in the blob store).
    fn config(&self, image: &str) -> Value {
        let id = self
            .env
            .ok(&["image", "inspect", "--format", "{{.Id}}", image])
            .trim()
            .to_string();
        let blob = self
            .env
            .root()
            .join("blobs/sha256")
            .join(id.trim_start_matches("sha256:"));
        serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap()
    }

    /// The image's flattened filesystem (`create` + `export`).
    fn files(&self, image: &str) -> Tree {
        let cid = self.env.ok(&["create", image, "true"]).trim().to_string();
        let out = self.env.output(&["export", &cid]);
        assert!(out.status.success());
        self.env.ok(&["rm", &cid]);
        tree_of_tar(&out.stdout)
    }

    fn containers(&self) -> String {
        self.env.ok(&["ps", "-a", "-q"])
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

/// A flattened filesystem: path → (type, mode, uid, gid, link target,
/// content).
type Tree = BTreeMap<String, (char, u32, u64, u64, String, Vec<u8>)>;

fn tree_of_tar(data: &[u8]) -> Tree {
    let mut t = Tree::new();
    let mut a = tar::Archive::new(data);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let path = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if path.is_empty() || path == "." {
            continue;
        }
        let h = e.header().clone();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            tar::EntryType::Regular => 'f',
            _ => 'o',
        };
        let link = e
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut content = vec![];
        if kind == 'f' {
            e.read_to_end(&mut content).unwrap();
        }
        t.insert(
            path,
            (
                kind,
                h.mode().unwrap() & 0o7777,
                h.uid().unwrap(),
                h.gid().unwrap(),
                link,
                content,
            ),
        );
    }
    t
}

fn file<'a>(t: &'a Tree, p: &str) -> &'a (char, u32, u64, u64, String, Vec<u8>) {
    t.get(p)
        .unwrap_or_else(|| panic!("{p} missing: {:?}", t.keys()))
}

fn text(t: &Tree, p: &str) -> String {
    String::from_utf8(file(t, p).5.clone()).unwrap()
}

#[test]
fn metadata_instructions_set_the_config_and_history() {
    let Some(c) = Ctx::new() else { return };
    c.build_ok(&["-t", "meta", corpus("meta").to_str().unwrap()]);
    let cfg = c.config("meta");
    let cc = &cfg["config"];
    assert_eq!(
        cc["Env"],
        serde_json::json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "FOO=bar",
            "BAZ=q 1",
            "GL=g1",
            "LEGACY=legacy value"
        ])
    );
    assert_eq!(
        cc["Labels"],
        serde_json::json!({"org.example.a": "b", "with space": "x y", "v": "1"})
    );
    assert_eq!(
        cc["ExposedPorts"],
        serde_json::json!({"80/tcp": {}, "53/udp": {}, "8080/tcp": {}})
    );
    assert_eq!(cc["WorkingDir"], "/app/sub");
    assert_eq!(cc["User"], "1000:1000");
    assert_eq!(
        cc["Volumes"],
        serde_json::json!({"/data": {}, "/cache": {}})
    );
    assert_eq!(cc["StopSignal"], "SIGINT");
    assert_eq!(
        cc["Healthcheck"],
        serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000i64,
            "Timeout": 2_000_000_000i64, "Retries": 4})
    );
    assert_eq!(cc["OnBuild"], serde_json::json!(["RUN echo triggered"]));
    assert_eq!(cc["Shell"], serde_json::json!(["/bin/sh", "-ec"]));
    assert_eq!(cc["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    // Shell form under SHELL; set after ENTRYPOINT, so kept.
    assert_eq!(
        cc["Cmd"],
        serde_json::json!(["/bin/sh", "-ec", "echo $FOO"])
    );
    assert_eq!(cfg["author"], "someone@example.com");
    // `image inspect` shows them too.
    let shown = c.env.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Shell}}",
        "meta",
    ]);
    assert_eq!(shown.trim(), r#"["/bin/sh","-ec"]"#);
    let shown = c.env.ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.Healthcheck.Retries}}",
        "meta",
    ]);
    assert_eq!(shown.trim(), "4");
    // History: the base's, then one per instruction; only WORKDIR (which
    // makes its directory) adds layers here.
    let h = cfg["history"].as_array().unwrap();
    let steps: Vec<(&str, bool)> = h[1..]
        .iter()
        .map(|e| {
            (
                e["created_by"].as_str().unwrap(),
                e["empty_layer"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(steps.len(), 17, "{steps:?}");
    assert_eq!(steps[0], ("ARG GLOBAL=g1", true));
    assert_eq!(steps[2], ("ENV FOO=bar BAZ=q 1 GL=g1", true));
    assert_eq!(steps[7], ("WORKDIR /app", false));
    assert_eq!(steps[8], ("WORKDIR /app/sub", false));
    assert_eq!(steps[16], ("CMD [\"/bin/sh\",\"-ec\",\"echo $FOO\"]", true));
    let layers = cfg["rootfs"]["diff_ids"].as_array().unwrap().len();
    assert_eq!(layers, 3, "busybox + two WORKDIR directories");
    let t = c.files("meta");
    assert_eq!(file(&t, "app/sub").0, 'd');
    // The image runs with the ENV, as USER, in WORKDIR.
    assert_eq!(
        c.env
            .ok(&[
                "run",
                "--rm",
                "--entrypoint",
                "/bin/sh",
                "meta",
                "-c",
                "echo $FOO $(id -u) $PWD"
            ])
            .trim(),
        "bar 1000 /app/sub"
    );
    assert_eq!(c.containers(), "", "build containers are removed");
    // The steps' images are intermediates: `images` hides them, `-a` not.
    let listed = c.env.ok(&["images", "--format", "{{.Repository}}"]);
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort();
    assert_eq!(listed, ["busybox", "meta"]);
    let all = c.env.ok(&["images", "-a", "-q"]);
    assert!(all.lines().count() > 2, "{all}");
}

#[test]
fn run_forms_whiteouts_and_build_args() {
    let Some(c) = Ctx::new() else { return };
    c.build_ok(&[
        "-t",
        "run",
        "--build-arg",
        "WHO=berth",
        corpus("run").to_str().unwrap(),
    ]);
    let t = c.files("run");
    assert_eq!(text(&t, "hello"), "hello berth\n");
    assert_eq!(text(&t, "exec"), "exec\n");
    assert!(!t.contains_key("etc/group"), "a base file removed");
    assert!(t.contains_key("tree/a") && !t.contains_key("tree/a/b"));
    assert!(!t.contains_key("opaque"));
    assert_eq!(file(&t, "link").4, "/hello");
    assert_eq!(file(&t, "tmp").1, 0o700);
    // The ARG is in the RUN's history entry as BuildKit writes it.
    let cfg = c.config("run");
    let h = cfg["history"].as_array().unwrap();
    assert!(
        h.iter().any(|e| e["created_by"]
            == "RUN |1 WHO=berth /bin/sh -c echo \"hello $WHO\" > /hello && mkdir -p /tree/a/b && echo deep > /tree/a/b/f # buildkit"),
        "{h:?}"
    );
    // ... but not in the image's environment.
    assert!(!cfg["config"]["Env"].to_string().contains("WHO"));
}

#[test]
fn heredocs() {
    let Some(c) = Ctx::new() else { return };
    c.build_ok(&["-t", "hd", corpus("heredoc").to_str().unwrap()]);
    let t = c.files("hd");
    assert_eq!(text(&t, "heredoc"), "from heredoc world\n");
    assert_eq!(file(&t, "heredoc").1, 0o750);
    assert_eq!(text(&t, "cat-heredoc"), "line one\nline two\n");
    assert_eq!(text(&t, "inline.txt"), "inline world\n");
    assert_eq!(text(&t, "raw.txt"), "raw ${WHO}\n");
}

#[test]
fn copy_and_add_semantics() {
    let Some(c) = Ctx::new() else { return };
    c.build_ok(&["-t", "cp", corpus("copy").to_str().unwrap()]);
    let t = c.files("cp");
    assert_eq!(text(&t, "new/a.txt"), "file a\n");
    assert_eq!(text(&t, "multi/b.txt"), "b content\n");
    assert!(t.contains_key("glob/a.txt") && t.contains_key("glob/b.txt"));
    // A directory source copies its contents.
    assert_eq!(text(&t, "copied-dir/sub/s1"), "in sub\n");
    assert_eq!(text(&t, "etc/d1"), "in dir\n");
    assert!(t.contains_key("etc/passwd"), "existing directory kept");
    assert_eq!(file(&t, "owned/run.sh").1, 0o755);
    assert_eq!(
        (file(&t, "owned/run.sh").2, file(&t, "owned/run.sh").3),
        (1000, 50)
    );
    assert_eq!((file(&t, "owned").2, file(&t, "owned").3), (1000, 50));
    assert_eq!((file(&t, "named").2, file(&t, "named").3), (1000, 50));
    assert_eq!(file(&t, "private").1, 0o600);
    assert_eq!((file(&t, "new/a.txt").2, file(&t, "new/a.txt").3), (0, 0));
    assert_eq!(file(&t, "links/to-a").4, "a.txt");
    assert_eq!(file(&t, "links/to-b").4, "../b.txt");
    assert_eq!(text(&t, "work/rel.txt"), "file a\n");
    assert_eq!(text(&t, "unpacked/pkg/inner"), "packed\n");
    assert_eq!(text(&t, "added"), "b content\n");
    assert!(
        !t.keys().any(|k| k.ends_with(".key")),
        ".dockerignore applied"
    );
}

#[test]
fn stages_the_target_needs_only() {
    let Some(c) = Ctx::new() else { return };
    // The `unused` stage fails if run: the default target does not need it.
    c.build_ok(&["-t", "ms", corpus("multistage").to_str().unwrap()]);
    let t = c.files("ms");
    assert_eq!(text(&t, "usr/local/bin/tool"), "built\n");
    assert_eq!(file(&t, "usr/local/bin/tool").1, 0o755);
    assert_eq!(text(&t, "etc/tool.conf"), "cfg\n");
    assert_eq!(text(&t, "more"), "more\n");
    assert_eq!(text(&t, "globbed/tool"), "built\n");
    assert!(!t.contains_key("out"), "only the copied files");
    // --target names a stage: the failing one now runs.
    let (code, _, err) = c.build(&["--target", "unused", corpus("multistage").to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("Dockerfile:7: RUN: process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3"),
        "{err}"
    );
    c.build_ok(&[
        "--target",
        "builder",
        "-t",
        "b",
        corpus("multistage").to_str().unwrap(),
    ]);
    assert_eq!(text(&c.files("b"), "out/conf"), "cfg\n");
}

/// A context dir in the test's temp dir.
fn context(c: &Ctx, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let d = c.env.path(name);
    for (p, data) in files {
        let p = d.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    d
}

const CACHE_DF: &str = "FROM busybox\nRUN echo one > /one\nCOPY app.txt /app.txt\nRUN cat /app.txt > /copy-of-app\nENV X=1\nWORKDIR /tmp\n";

/// `build --progress plain`: the steps that ran a container (`#N` lines
/// whose step ends without `CACHED`), by instruction text.
fn ran_steps(err: &str) -> Vec<String> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut cached = vec![];
    for l in err.lines() {
        let Some(rest) = l.strip_prefix('#') else {
            continue;
        };
        let (n, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        if let Some(i) = tail.find("] ") {
            if tail.starts_with('[') {
                names.insert(n.to_string(), tail[i + 2..].to_string());
            }
        }
        if tail == "CACHED" {
            cached.push(n.to_string());
        }
    }
    names
        .into_iter()
        .filter(|(n, t)| !cached.contains(n) && (t.starts_with("RUN") || t.starts_with("COPY")))
        .map(|(_, t)| t)
        .collect()
}

fn blobs(c: &Ctx) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(c.env.root().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn cache_reuses_steps_and_reruns_exactly_what_changed() {
    let Some(c) = Ctx::new() else { return };
    let d = context(
        &c,
        "cachectx",
        &[
            ("Dockerfile", CACHE_DF),
            ("app.txt", "v1"),
            ("unrelated.txt", "u"),
        ],
    );
    let ds = d.to_str().unwrap();
    let (code, _, err) = c.build(&["--progress", "plain", "-t", "c1", ds]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ran_steps(&err).len(), 3, "{err}");
    let id1 = c.build_ok(&["-t", "c1", ds]);
    // Nothing changed: no step runs, no container is made (WORKDIR's look
    // for its directory included), no blob is written, same image.
    let before = blobs(&c);
    let now = || {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
    };
    let since = now();
    let (code, _, err) = c.build(&["--progress", "plain", "-t", "c1", ds]);
    assert_eq!(code, 0, "{err}");
    let until = now();
    let created = c.env.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=create",
    ]);
    assert_eq!(created, "", "no container created by a cached build");
    assert_eq!(ran_steps(&err), Vec::<String>::new(), "{err}");
    assert_eq!(blobs(&c), before);
    assert_eq!(c.build_ok(&[ds]), id1);
    // An unrelated file changes: still all cached.
    std::fs::write(d.join("unrelated.txt"), "changed").unwrap();
    std::fs::write(d.join("new.txt"), "new").unwrap();
    let (_, _, err) = c.build(&["--progress", "plain", ds]);
    assert_eq!(ran_steps(&err), Vec::<String>::new(), "{err}");
    assert_eq!(blobs(&c), before);
    // The copied file changes: the COPY and every step after it re-run.
    std::fs::write(d.join("app.txt"), "v2").unwrap();
    let (code, _, err) = c.build(&["--progress", "plain", "-t", "c2", ds]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        ran_steps(&err),
        vec!["COPY app.txt /app.txt", "RUN cat /app.txt > /copy-of-app"],
        "{err}"
    );
    assert_eq!(text(&c.files("c2"), "copy-of-app"), "v2");
    // `image prune` keeps the steps under a tagged image (docker's rule:
    // only images no other image names as parent go), so the cache holds
    let pruned = c.env.ok(&["image", "prune", "-f"]);
    let (_, _, err) = c.build(&["--progress", "plain", "-t", "c2", ds]);
    assert_eq!(ran_steps(&err), Vec::<String>::new(), "{pruned}\n{err}");
    // --no-cache runs everything again.
    let (_, _, err) = c.build(&["--progress", "plain", "--no-cache", ds]);
    assert_eq!(ran_steps(&err).len(), 3, "{err}");
    assert_eq!(c.containers(), "");
}

#[test]
fn flags_stdin_iidfile_labels_target() {
    let Some(c) = Ctx::new() else { return };
    let d = context(
        &c,
        "flagctx",
        &[
            ("Dockerfile", "FROM busybox\nCOPY f /f\n"),
            (
                "other.Dockerfile",
                "FROM busybox AS a\nARG X=def\nRUN echo $X > /x\nFROM a AS b\nRUN echo b > /b\n",
            ),
            ("f", "from context"),
        ],
    );
    let ds = d.to_str().unwrap();
    // -f FILE, --target, --build-arg, several -t, --label, --iidfile.
    let iid = c.env.path("iid");
    let (code, out, err) = c.build(&[
        "-f",
        d.join("other.Dockerfile").to_str().unwrap(),
        "--target",
        "a",
        "--build-arg",
        "X=given",
        "-t",
        "one",
        "-t",
        "two:v2",
        "--label",
        "com.example=yes",
        "--iidfile",
        iid.to_str().unwrap(),
        ds,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "");
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(id.starts_with("sha256:"));
    assert_eq!(c.config("one"), c.config("two:v2"));
    assert_eq!(c.config("one")["config"]["Labels"]["com.example"], "yes");
    let t = c.files("one");
    assert_eq!(text(&t, "x"), "given\n");
    assert!(!t.contains_key("b"));
    // -f - (the Dockerfile on stdin).
    let mut ch = c
        .env
        .cmd(&["build", "-q", "-f", "-", "-t", "stdin-df", ds])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    ch.stdin
        .take()
        .unwrap()
        .write_all(b"FROM busybox\nCOPY f /g\n")
        .unwrap();
    assert!(ch.wait_with_output().unwrap().status.success());
    assert_eq!(text(&c.files("stdin-df"), "g"), "from context");
    // A context as a tar on stdin.
    let mut b = tar::Builder::new(Vec::new());
    b.append_dir_all(".", &d).unwrap();
    let tarball = b.into_inner().unwrap();
    let mut ch = c
        .env
        .cmd(&["build", "-q", "-t", "stdin-ctx", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ch.stdin.take().unwrap().write_all(&tarball).unwrap();
    let o = ch.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(text(&c.files("stdin-ctx"), "f"), "from context");
    // Unsupported flags are named.
    let other = if std::env::consts::ARCH == "s390x" {
        "linux/amd64"
    } else {
        "linux/s390x"
    };
    let (code, _, err) = c.build(&["--platform", other, ds]);
    assert_eq!(code, 125);
    assert!(
        err.contains(&format!("--platform {other} is not supported")),
        "{err}"
    );
    let (code, _, err) = c.build(&["--ssh", "default=/nonexistent.sock", ds]);
    assert_eq!(code, 125);
    assert!(err.contains("invalid --ssh"), "{err}");
}

#[test]
fn bad_input_is_named() {
    let Some(c) = Ctx::new() else { return };
    let d = context(&c, "bad/ctx", &[("f", "x")]);
    std::fs::write(c.env.path("bad/outside"), "secret").unwrap();
    std::os::unix::fs::symlink("../outside", d.join("link-out")).unwrap();
    let ds = d.to_str().unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "FROM busybox\nRUNN true\n",
            "Dockerfile:2:1: unknown instruction: RUNN",
        ),
        (
            "FROM busybox\nCOPY ../outside /x\n",
            "Dockerfile:2: COPY: COPY source \"../outside\" is outside the build context",
        ),
        (
            "FROM busybox\nCOPY link-out/ /x\n",
            "points outside the build context",
        ),
        (
            "FROM busybox\nCOPY missing /x\n",
            "Dockerfile:2: COPY: COPY source \"missing\": not found in the build context",
        ),
        (
            "FROM busybox AS a\nFROM a\nCOPY --from=a /f /f\n",
            "COPY --from source",
        ),
    ];
    for (df, want) in cases {
        std::fs::write(d.join("Dockerfile"), df).unwrap();
        let (code, _, err) = c.build(&[ds]);
        assert_eq!(code, 1, "{df}: {err}");
        assert!(err.contains(want), "{df}: want {want:?} in {err}");
    }
    let (code, _, err) = c.build(&["--target", "nope", ds]);
    assert_ne!(code, 0);
    assert!(
        err.contains("target stage \"nope\" could not be found"),
        "{err}"
    );
    // A failing RUN: its exit code and its last lines of output.
    std::fs::write(
        d.join("Dockerfile"),
        "FROM busybox\nRUN echo first; echo second >&2; exit 7\n",
    )
    .unwrap();
    let (code, _, err) = c.build(&["-t", "never", ds]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Dockerfile:2: RUN: process \"/bin/sh -c echo first; echo second >&2; exit 7\" did not complete successfully: exit code: 7"),
        "{err}"
    );
    assert!(err.contains("first") && err.contains("second"), "{err}");
    assert!(!c.env.ok(&["images"]).contains("never"));
    assert_eq!(c.containers(), "");
    // A RUN whose command cannot even start (the runtime fails in the
    // start, not the process): its created container goes too.
    std::fs::write(
        d.join("Dockerfile"),
        "FROM busybox\nRUN [\"/no/such/program\"]\n",
    )
    .unwrap();
    let (code, _, err) = c.build(&[ds]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Dockerfile:2"), "{err}");
    assert_eq!(c.containers(), "");
    // A context file named as a layer whiteout would delete the image's
    // file below instead of being copied: refused.
    std::fs::write(d.join(".wh.passwd"), "x").unwrap();
    std::fs::write(
        d.join("Dockerfile"),
        "FROM busybox\nCOPY .wh.passwd /etc/\n",
    )
    .unwrap();
    let (code, _, err) = c.build(&[ds]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("reserved for layer whiteouts"), "{err}");
    std::fs::remove_file(d.join(".wh.passwd")).unwrap();
}

#[test]
fn kill_9_mid_build_leaves_nothing_behind() {
    let Some(c) = Ctx::new() else { return };
    let d = context(
        &c,
        "killctx",
        &[("Dockerfile", "FROM busybox\nRUN echo started; sleep 60\n")],
    );
    let mut ch = c
        .env
        .cmd(&[
            "build",
            "--progress",
            "plain",
            "-t",
            "half",
            d.to_str().unwrap(),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the RUN's container prints.
    let mut err = ch.stderr.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains(" started\n") {
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0, "build ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert_ne!(c.containers(), "", "the RUN's container runs");
    ch.kill().unwrap();
    ch.wait().unwrap();
    // The next build removes the dead build's container.
    std::fs::write(d.join("Dockerfile"), "FROM busybox\nENV A=1\n").unwrap();
    c.build_ok(&["-t", "next", d.to_str().unwrap()]);
    assert_eq!(c.containers(), "");
    assert!(!c.env.ok(&["images"]).contains("half"));
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !mounts.contains(c.env.root().to_str().unwrap()),
        "nothing of the store mounted"
    );
}

// ---------------------------------------------------------------------
// Differential: the same Dockerfiles built by buildah (Debian's package)
// from the same busybox, imported into a private containers-storage.

struct Buildah {
    dir: tempfile::TempDir,
}

impl Buildah {
    fn args(&self) -> Vec<String> {
        let d = self.dir.path();
        vec![
            "--root".into(),
            d.join("root").to_string_lossy().into_owned(),
            "--runroot".into(),
            d.join("run").to_string_lossy().into_owned(),
            "--storage-driver".into(),
            "overlay".into(),
        ]
    }

    fn run(&self, tool: &str, args: &[&str]) -> Vec<u8> {
        let o = Command::new(tool)
            .args(self.args())
            .args(args)
            .env(
                "CONTAINERS_REGISTRIES_CONF",
                self.dir.path().join("registries.conf"),
            )
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    }
}

/// The config fields the issue names, with buildah's extras normalised
/// (its `io.buildah.version` label; `[]` for an unset Entrypoint).
fn fields(cc: &Value) -> BTreeMap<&'static str, Value> {
    let mut m = BTreeMap::new();
    for (k, name) in [
        ("Env", "Env"),
        ("Cmd", "Cmd"),
        ("Entrypoint", "Entrypoint"),
        ("WorkingDir", "WorkingDir"),
        ("User", "User"),
        ("Labels", "Labels"),
        ("ExposedPorts", "ExposedPorts"),
        ("Volumes", "Volumes"),
        ("StopSignal", "StopSignal"),
        ("Healthcheck", "Healthcheck"),
        ("OnBuild", "OnBuild"),
        ("Shell", "Shell"),
    ] {
        let mut v = cc.get(name).cloned().unwrap_or(Value::Null);
        if let Value::Object(o) = &mut v {
            o.remove("io.buildah.version");
            if o.is_empty() {
                v = Value::Null;
            }
        }
        if v == Value::Array(vec![]) || v == Value::String(String::new()) {
            v = Value::Null;
        }
        m.insert(k, v);
    }
    m
}

#[test]
fn differential_against_buildah() {
    if !berth_testkit::require("buildah") || !berth_testkit::require("podman") {
        return;
    }
    let Some(c) = Ctx::new() else { return };
    let b = Buildah {
        dir: tempfile::Builder::new()
            .prefix("bb")
            .tempdir_in("/tmp")
            .unwrap(),
    };
    std::fs::write(b.dir.path().join("registries.conf"), "").unwrap();
    let tar = c.env.path("busybox.tar");
    b.run(
        "podman",
        &[
            "import",
            tar.to_str().unwrap(),
            "docker.io/library/busybox:latest",
        ],
    );
    for name in ["meta", "run", "copy", "multistage", "mounts"] {
        let dir = corpus(name);
        let ds = dir.to_str().unwrap();
        c.build_ok(&["-t", name, ds]);
        b.run(
            "buildah",
            &[
                "bud",
                // runc: crun 1.8 refuses a hybrid host whose cgroup2
                // hierarchy holds a controller (hugetlb here until make
                // test moves it, after the workspace's tests)
                "--runtime",
                "runc",
                "-q",
                "--format",
                "docker",
                "--pull=never",
                "--layers=false",
                "-t",
                name,
                ds,
            ],
        );
        // The config.
        let inspect: Value =
            serde_json::from_slice(&b.run("buildah", &["inspect", "--type", "image", name]))
                .unwrap();
        let mut theirs = fields(&inspect["Docker"]["config"]);
        if name == "meta" {
            // A shell-form CMD after SHELL: BuildKit (and docker's builder)
            // run it with the SHELL, buildah with /bin/sh -c; Berth
            // follows BuildKit.
            theirs.insert("Cmd", serde_json::json!(["/bin/sh", "-ec", "echo $FOO"]));
        }
        let ours = fields(&c.config(name)["config"]);
        assert_eq!(ours, theirs, "{name}: config");
        // The flattened filesystem.
        let cid = String::from_utf8(b.run("podman", &["create", "--pull=never", name, "true"]))
            .unwrap()
            .trim()
            .to_string();
        let exported = b.run("podman", &["export", &cid]);
        b.run("podman", &["rm", &cid]);
        let mut theirs = tree_of_tar(&exported);
        // buildah leaves the mount points of its RUN containers (/dev,
        // /proc, /sys, /run, empty /etc/hosts, /etc/hostname,
        // /etc/resolv.conf) and makes VOLUME directories; BuildKit does
        // neither, and Berth follows BuildKit.
        for p in [
            "dev",
            "proc",
            "sys",
            "run",
            "etc/hosts",
            "etc/hostname",
            "etc/resolv.conf",
        ] {
            theirs.remove(p);
        }
        if name == "meta" {
            theirs.remove("data");
            theirs.remove("cache");
        }
        if name == "mounts" {
            // buildah leaves its RUN mounts' mount points; BuildKit removes
            // the stubs it made, and Berth follows BuildKit.
            for p in ["tmp/m", "tmp/cc", "tmp/t", "tmp/d"] {
                theirs.remove(p);
            }
        }
        let ours = c.files(name);
        let diff: Vec<String> = ours
            .keys()
            .chain(theirs.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|k| ours.get(*k) != theirs.get(*k))
            .map(|k| {
                format!(
                    "{k}: berth {:?} buildah {:?}",
                    ours.get(k).map(|e| (e.0, e.1, e.2, e.3, &e.4)),
                    theirs.get(k).map(|e| (e.0, e.1, e.2, e.3, &e.4))
                )
            })
            .collect();
        assert!(
            diff.is_empty(),
            "{name}: filesystems differ:\n{}",
            diff.join("\n")
        );
    }
    let _ = b.run("buildah", &["rm", "--all"]);
    let _ = Command::new("podman")
        .args(b.args())
        .args(["rmi", "--all", "--force"])
        .output();
}

#[test]
fn from_pulls_a_missing_base_image() {
    if !berth_testkit::require_root("berth build runs containers") {
        return;
    }
    let Some(reg) = common::DockerRegistry::start(None) else {
        return;
    };
    let Some(c) = Ctx::new() else { return };
    let name = reg.name("test/bb:1");
    c.env.ok(&["push", "busybox", &name]);
    // A fresh store: the base comes from the registry.
    let other = Ctx { env: Env::new() };
    let d = context(
        &other,
        "pullctx",
        &[(
            "Dockerfile",
            &format!("FROM {name}\nRUN echo pulled > /p\n"),
        )],
    );
    let (code, _, err) = other.build(&["--progress", "plain", "-t", "p", d.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        other.env.ok(&["images"]).contains("test/bb"),
        "the base is in the store"
    );
    assert_eq!(text(&other.files("p"), "p"), "pulled\n");
}

#[test]
fn run_mounts_cache_tmpfs_and_context_bind() {
    let Some(c) = Ctx::new() else { return };
    let d = context(
        &c,
        "mountctx",
        &[
            (
                "Dockerfile",
                "FROM busybox\n\
                 RUN --mount=type=cache,target=/cache,id=c1 echo x >> /cache/log && cat /cache/log > /count\n\
                 RUN --mount=type=tmpfs,target=/scratch touch /scratch/f && test -f /scratch/f\n\
                 RUN --mount=type=bind,source=data,target=/mnt cat /mnt/in > /from-bind\n",
            ),
            ("data/in", "bound"),
        ],
    );
    let ds = d.to_str().unwrap();
    c.build_ok(&["-t", "m1", ds]);
    let t = c.files("m1");
    assert_eq!(text(&t, "count"), "x\n");
    assert_eq!(text(&t, "from-bind"), "bound");
    assert!(
        !t.contains_key("cache/log"),
        "a cache mount is no layer content"
    );
    assert!(!t.contains_key("scratch/f"));
    // The cache keeps its contents between builds.
    c.build_ok(&["--no-cache", "-t", "m2", ds]);
    assert_eq!(text(&c.files("m2"), "count"), "x\nx\n");
    // A bind source outside the context is refused.
    std::fs::write(
        d.join("Dockerfile"),
        "FROM busybox\nRUN --mount=type=bind,source=../..,target=/mnt true\n",
    )
    .unwrap();
    let (code, _, err) = c.build(&[ds]);
    assert_eq!(code, 1);
    assert!(err.contains("outside the build context"), "{err}");
    assert_eq!(c.containers(), "");
}

#[test]
fn cache_follows_copy_from_stages_and_bind_mounts() {
    let Some(c) = Ctx::new() else { return };
    let d = context(
        &c,
        "fromctx",
        &[
            (
                "Dockerfile",
                "FROM busybox AS builder\nCOPY src.txt /src.txt\nRUN cat /src.txt > /built\n\
                 FROM busybox\nCOPY --from=builder /built /built\n\
                 RUN --mount=type=bind,source=bound.txt,target=/b.txt cat /b.txt > /from-bind\n",
            ),
            ("src.txt", "one"),
            ("bound.txt", "b1"),
        ],
    );
    let ds = d.to_str().unwrap();
    c.build_ok(&["-t", "f1", ds]);
    assert_eq!(text(&c.files("f1"), "built"), "one");
    // The builder's input changes: the final stage's COPY --from re-runs.
    std::fs::write(d.join("src.txt"), "two").unwrap();
    c.build_ok(&["-t", "f2", ds]);
    assert_eq!(text(&c.files("f2"), "built"), "two");
    // A bind-mounted context file changes: that RUN re-runs.
    std::fs::write(d.join("bound.txt"), "b2").unwrap();
    c.build_ok(&["-t", "f3", ds]);
    assert_eq!(text(&c.files("f3"), "from-bind"), "b2");
}
