//! `berth build`, the builder gaps of issue 13: `--no-cache-filter`,
//! `--progress tty` (under `script`, stderr a terminal), a context removed
//! while a step runs, and `COPY --link`'s layer reused over a changed base.
//! Needs root.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::Env;

const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "true", "mkdir", "ls", "sleep", "touch", "test", "rm",
];

/// A store with `busybox` imported.
fn store() -> Option<Env> {
    if !berth_testkit::require_root("berth build runs containers") {
        return None;
    }
    let env = Env::new();
    let p = env.path("busybox.tar");
    std::fs::write(
        &p,
        berth_testkit::busybox_tar_with(&["bin/", "etc/", "tmp/"], APPLETS, &[]),
    )
    .unwrap();
    env.ok(&["import", p.to_str().unwrap(), "busybox"]);
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

/// `build --progress plain ARGS`, asserting success; stderr.
fn build(env: &Env, args: &[&str]) -> String {
    let mut a = vec!["build", "--progress", "plain"];
    a.extend_from_slice(args);
    let (code, out, err) = env.run(&a);
    assert_eq!(code, 0, "build {args:?} failed:\n{out}\n{err}");
    err
}

/// Whether a RUN printed `word` (its output line `#N word`: it ran).
fn printed(err: &str, word: &str) -> bool {
    err.lines().any(|l| {
        l.split_once(' ')
            .is_some_and(|(n, rest)| n.starts_with('#') && rest == word)
    })
}

const FILTER_DF: &str = "\
FROM busybox AS base
RUN echo base-ran && cat /proc/sys/kernel/random/uuid > /base
FROM base AS mid
RUN echo mid-ran && cat /proc/sys/kernel/random/uuid > /mid
FROM busybox AS other
RUN echo other-ran && cat /proc/sys/kernel/random/uuid > /other
FROM mid
COPY --from=other /other /other
RUN echo final-ran && cat /mid > /seen-mid
CMD [\"cat\", \"/seen-mid\"]
";

/// `--no-cache-filter`: the named stage's steps run again (a new result),
/// the stage built on it misses, the others hit; names are matched
/// case-insensitively, split at commas, repeated; an unknown one is
/// ignored (with a warning, BuildKit ignores it) and an empty one refused.
/// A build after it takes everything from the cache, the new results.
#[test]
fn no_cache_filter_reruns_the_named_stages() {
    let Some(env) = store() else { return };
    let ctx = context(&env, "ctx", &[("Dockerfile", FILTER_DF)]);
    let c = ctx.to_str().unwrap();
    let err = build(&env, &["-t", "f1", c]);
    for w in ["base-ran", "mid-ran", "other-ran", "final-ran"] {
        assert!(printed(&err, w), "{w}: {err}");
    }
    let mid1 = env.ok(&["run", "--rm", "f1"]);

    // Unfiltered: all cached.
    let err = build(&env, &["-t", "f1", c]);
    for w in ["base-ran", "mid-ran", "other-ran", "final-ran"] {
        assert!(!printed(&err, w), "{w}: {err}");
    }

    let err = build(&env, &["--no-cache-filter", "nosuch,MID", "-t", "f2", c]);
    assert!(!printed(&err, "base-ran"), "{err}");
    assert!(!printed(&err, "other-ran"), "{err}");
    assert!(printed(&err, "mid-ran"), "{err}");
    assert!(
        printed(&err, "final-ran"),
        "the stage on mid must miss: {err}"
    );
    assert!(
        err.contains("WARNING: --no-cache-filter: no stage is named \"nosuch\""),
        "{err}"
    );
    let mid2 = env.ok(&["run", "--rm", "f2"]);
    assert_ne!(mid1, mid2, "mid ran again: a new /mid");

    // The next plain build takes the new results, all from the cache.
    let err = build(&env, &["-t", "f3", c]);
    for w in ["base-ran", "mid-ran", "other-ran", "final-ran"] {
        assert!(!printed(&err, w), "{w}: {err}");
    }
    assert_eq!(env.ok(&["run", "--rm", "f3"]), mid2);

    // Repeated: base and other run again; mid (on base) and the final
    // stage miss.
    let err = build(
        &env,
        &["--no-cache-filter", "base", "--no-cache-filter", "other", c],
    );
    for w in ["base-ran", "mid-ran", "other-ran", "final-ran"] {
        assert!(printed(&err, w), "{w}: {err}");
    }

    let (code, _, e) = env.run(&["build", "--no-cache-filter", "mid,", c]);
    assert_ne!(code, 0);
    assert!(e.contains("invalid --no-cache-filter \"mid,\""), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "{e}");
}

/// `berth ARGS` under `script` (util-linux): stderr (and stdout) a
/// terminal; (exit code, what the terminal got).
fn on_tty(env: &Env, args: &[&str]) -> (i32, String) {
    let mut line = vec![
        common::BERTH.to_string(),
        "--root".into(),
        env.root().to_str().unwrap().into(),
    ];
    line.extend(args.iter().map(|a| a.to_string()));
    let line = line
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let o = std::process::Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .env("REGISTRY_AUTH_FILE", env.path("auth.json"))
        .env("CONTAINERS_REGISTRIES_CONF", env.path("registries.conf"))
        .env_remove("XDG_RUNTIME_DIR")
        .env("COLUMNS", "120")
        .stdin(Stdio::null())
        .output()
        .expect("run script");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// The step number of the plain progress line `#N TEXT...`.
fn step_no(err: &str, text: &str) -> String {
    err.lines()
        .find_map(|l| {
            let (n, rest) = l.split_once(' ')?;
            (n.starts_with('#') && rest.starts_with(text)).then(|| n.to_string())
        })
        .unwrap_or_else(|| panic!("no step {text:?} in:\n{err}"))
}

/// The lines the view wrote, each redraw's escapes (cursor up, clear)
/// taken out.
fn screen(out: &str) -> impl Iterator<Item = &str> {
    out.split("\x1b[J")
        .flat_map(|f| f.lines())
        .map(|l| l.trim_end_matches('\r'))
}

fn cached(err: &str, text: &str) -> bool {
    let n = step_no(err, text);
    err.lines().any(|l| l == format!("{n} CACHED"))
}

/// `--progress tty` under a terminal: the view is redrawn in place (cursor
/// up, clear), names each step, shows the two parallel stages' RUNs
/// running in one frame, marks finished steps `DONE`/`CACHED`, and a
/// failed step `ERROR` with its last output lines; the image is the one a
/// plain build gives (a plain build after it takes every step from the
/// cache). `auto` is the view on a terminal, plain without one.
#[test]
fn progress_tty_is_a_live_view() {
    if !berth_testkit::have("script") {
        berth_testkit::skip("script (util-linux) is not installed");
        return;
    }
    let Some(env) = store() else { return };
    let wait = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,target=/s,id=meet,sharing=shared echo {me}-started && touch /s/{me} && i=0 && \\\n  while ! test -e /s/{other} && test $i -lt 60; do sleep 1; i=$((i+1)); done && \\\n  test -e /s/{other} && echo {me} > /{me}\n"
        )
    };
    let df = format!(
        "FROM busybox AS a\n{}FROM busybox AS b\n{}FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\nCMD [\"cat\", \"/a\", \"/b\"]\n",
        wait("a", "b"),
        wait("b", "a")
    );
    let ctx = context(&env, "ctx", &[("Dockerfile", &df)]);
    let c = ctx.to_str().unwrap();
    let (code, out) = on_tty(&env, &["build", "--progress", "tty", "-t", "tty1", c]);
    assert_eq!(code, 0, "{out}");
    let frames: Vec<&str> = out.split("\x1b[J").collect();
    assert!(frames.len() > 2, "no redraws: {out:?}");
    assert!(
        out.contains("\r\x1b[") && out.contains("A\x1b[J"),
        "no cursor-up redraw: {out:?}"
    );
    for step in [
        "[a 1/2] FROM docker.io/library/busybox:latest",
        "[a 2/2] RUN --mount=type=cache",
        "[b 2/2] RUN --mount=type=cache",
        "[stage-2 3/3] COPY --from=b /b /b",
    ] {
        assert!(out.contains(step), "{step}: {out:?}");
    }
    let running = |f: &str, who: &str| {
        f.lines()
            .any(|l| l.trim_end().starts_with(&format!(" => [{who} 2/2] RUN")))
    };
    assert!(
        frames.iter().any(|f| running(f, "a") && running(f, "b")),
        "no frame with both stages' RUN running: {out:?}"
    );
    assert!(
        screen(&out).any(|l| l.starts_with("=> [a 2/2] RUN") && l.contains("DONE")),
        "{out:?}"
    );
    assert!(out.contains("FINISHED"), "{out:?}");
    assert_eq!(env.ok(&["run", "--rm", "tty1"]), "a\nb\n");

    // Plain after it: every step cached, the same image.
    let err = build(&env, &["-t", "plain1", c]);
    assert!(cached(&err, "[a 2/2] RUN"), "{err}");
    assert!(cached(&err, "[b 2/2] RUN"), "{err}");
    let id = |t: &str| env.ok(&["image", "inspect", "--format", "{{.Id}}", t]);
    assert_eq!(id("tty1"), id("plain1"));

    // `auto` on a terminal: the view, cached steps marked.
    let (code, out) = on_tty(&env, &["build", "-t", "tty2", c]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\x1b[J"), "{out:?}");
    assert!(
        screen(&out).any(|l| l.starts_with("=> CACHED [b 2/2] RUN")),
        "{out:?}"
    );
    assert_eq!(id("tty2"), id("plain1"));

    // `auto` without a terminal: plain.
    let (code, _, err) = env.run(&["build", "--progress", "auto", c]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("#1 [a 1/2] FROM docker.io/library/busybox:latest"),
        "{err}"
    );
    assert!(!err.contains('\x1b'), "{err:?}");

    // A failed step: ERROR, its last lines kept.
    let bad = context(
        &env,
        "bad",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo out-one && echo out-two && false\n",
        )],
    );
    let (code, out) = on_tty(&env, &["build", "--progress", "tty", bad.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    assert!(
        screen(&out).any(|l| l.starts_with("=> ERROR [2/2] RUN echo out-one")),
        "{out:?}"
    );
    assert!(out.contains("=> => # out-two"), "{out:?}");
    assert!(out.contains("did not complete successfully"), "{out:?}");
}

/// The plain progress numbers the steps as BuildKit does: only those
/// that make a vertex (FROM an image, RUN, COPY, ADD, WORKDIR), the index
/// padded to the total's width, ENV/ARG/LABEL/CMD not shown; FROM with its
/// name expanded and normalized; a stage built on another stage numbers
/// from its first RUN, named `stage-N` in a multi-stage Dockerfile.
#[test]
fn progress_numbers_the_steps_buildkit_shows() {
    let Some(env) = store() else { return };
    let df = "ARG BASE=busybox\nFROM ${BASE}\nENV A=1\nLABEL x=y\nWORKDIR /w\nRUN echo hi\nARG Z\nCOPY f.txt .\nCMD [\"sh\"]\n";
    let ctx = context(&env, "ctx", &[("Dockerfile", df), ("f.txt", "F\n")]);
    let err = build(&env, &[ctx.to_str().unwrap()]);
    let steps: Vec<&str> = err
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest))
        .filter(|l| l.starts_with('['))
        .collect();
    assert_eq!(
        steps,
        [
            "[1/4] FROM docker.io/library/busybox:latest",
            "[2/4] WORKDIR /w",
            "[3/4] RUN echo hi",
            "[4/4] COPY f.txt .",
        ],
        "{err}"
    );
    for hidden in ["ENV A=1", "LABEL x=y", "ARG Z", "CMD"] {
        assert!(!err.contains(hidden), "{hidden}: {err}");
    }

    let mut df = String::from("FROM busybox AS base\nENV B=1\n");
    for k in 1..=9 {
        df.push_str(&format!("RUN echo {k}\n"));
    }
    df.push_str("FROM base\nLABEL y=z\nRUN echo last\n");
    let ctx = context(&env, "ctx2", &[("Dockerfile", &df)]);
    let err = build(&env, &[ctx.to_str().unwrap()]);
    for want in [
        "[base  1/10] FROM docker.io/library/busybox:latest",
        "[base  2/10] RUN echo 1",
        "[base 10/10] RUN echo 9",
        "[stage-1 1/1] RUN echo last",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    assert!(!err.contains("FROM base"), "{err}");
}

/// Mounts under `root` (the store's overlays, a step's binds).
fn mounts_under(root: &Path) -> Vec<String> {
    let root = root.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(root))
        .map(String::from)
        .collect()
}

const VANISH_DF: &str = "\
FROM busybox
RUN --mount=type=bind,target=/ctx echo waiting && i=0 && while test -e /ctx/marker && test $i -lt 120; do sleep 1; i=$((i+1)); done && echo gone
COPY f.txt /f.txt
CMD [\"cat\", \"/f.txt\"]
";

/// The context removed while a RUN runs (the RUN waits for it through a
/// bind of the context): the COPY after it fails with one line naming the
/// removed directory, non-zero; nothing tagged, no container left, nothing
/// of the store mounted; the restored context then builds.
#[test]
fn context_removed_mid_build() {
    let Some(env) = store() else { return };
    let ctx = context(
        &env,
        "ctx",
        &[("Dockerfile", VANISH_DF), ("f.txt", "F\n"), ("marker", "")],
    );
    let mut child = env
        .cmd(&[
            "build",
            "--progress",
            "plain",
            "-t",
            "vanish",
            ctx.to_str().unwrap(),
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(child.stderr.take().unwrap());
    let mut err = String::new();
    loop {
        let mut l = String::new();
        assert!(
            r.read_line(&mut l).unwrap() > 0,
            "the RUN never started:\n{err}"
        );
        err.push_str(&l);
        if l.trim_end().ends_with(" waiting") {
            break;
        }
    }
    std::fs::remove_dir_all(&ctx).unwrap();
    std::io::Read::read_to_string(&mut r, &mut err).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "{err}");
    assert!(err.contains("gone"), "the RUN saw the context go: {err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("berth: ")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    let want = format!(
        "COPY: the build context {} was removed during the build",
        ctx.display()
    );
    assert!(errors[0].contains(&want), "{err}");
    assert!(!err.contains("  > "), "one line: {err}");

    let (code, _, _) = env.run(&["image", "inspect", "vanish"]);
    assert_ne!(code, 0, "a half-built image was tagged");
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(mounts_under(&env.root()), Vec::<String>::new());

    // Restored (without the marker the RUN waits on): it builds.
    let ctx = context(&env, "ctx", &[("Dockerfile", VANISH_DF), ("f.txt", "F\n")]);
    let err = build(&env, &["-t", "vanish", ctx.to_str().unwrap()]);
    assert!(err.contains("gone"), "{err}");
    assert_eq!(env.ok(&["run", "--rm", "vanish"]), "F\n");
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}

/// The diff ids of an image's layers, bottom first.
fn layers(env: &Env, image: &str) -> Vec<String> {
    let j = env.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        image,
    ]);
    serde_json::from_str(j.trim()).unwrap()
}

/// `COPY --link`: over a changed base (an earlier RUN changed), the step
/// is taken from the cache and its layer is the same (diff id and blob),
/// put on the new layers below; a plain COPY after it runs again. The
/// image has the new base's and the copied files.
#[test]
fn copy_link_layer_survives_a_new_base() {
    let Some(env) = store() else { return };
    let df = |v: &str| {
        format!(
            "FROM busybox\nRUN echo {v} > /base\nCOPY --link f.txt /app/f.txt\nCOPY g.txt /app/g.txt\nCMD [\"cat\", \"/base\", \"/app/f.txt\", \"/app/g.txt\"]\n"
        )
    };
    let ctx = context(
        &env,
        "ctx",
        &[
            ("Dockerfile", &df("one")),
            ("f.txt", "F\n"),
            ("g.txt", "G\n"),
        ],
    );
    let c = ctx.to_str().unwrap();
    let err = build(&env, &["-t", "l1", c]);
    assert!(!cached(&err, "[3/4] COPY --link f.txt"), "{err}");
    let l1 = layers(&env, "l1");

    std::fs::write(ctx.join("Dockerfile"), df("two")).unwrap();
    let err = build(&env, &["-t", "l2", c]);
    assert!(!cached(&err, "[2/4] RUN echo two"), "{err}");
    assert!(cached(&err, "[3/4] COPY --link f.txt"), "{err}");
    assert!(!cached(&err, "[4/4] COPY g.txt"), "{err}");
    let l2 = layers(&env, "l2");
    assert_eq!(l1.len(), l2.len());
    let k = l1.len() - 2;
    assert_ne!(l1[k - 1], l2[k - 1], "the RUN's layers differ");
    assert_eq!(l1[k], l2[k], "the --link layer is reused");
    // The same blob (compressed bytes), not only the same content.
    let b1 = blobs(&env, "l1");
    let b2 = blobs(&env, "l2");
    assert_eq!(b1[k], b2[k], "the --link layer's blob is reused");
    assert_eq!(env.ok(&["run", "--rm", "l2"]), "two\nF\nG\n");
    assert_eq!(env.ok(&["run", "--rm", "l1"]), "one\nF\nG\n");

    // Nothing changed: all cached.
    let err = build(&env, &["-t", "l3", c]);
    assert!(cached(&err, "[3/4] COPY --link f.txt"), "{err}");
    assert!(cached(&err, "[4/4] COPY g.txt"), "{err}");
}

/// The blob digests of an image's layers, bottom first (the store's
/// record of it).
fn blobs(env: &Env, image: &str) -> Vec<String> {
    let id = env.ok(&["image", "inspect", "--format", "{{.Id}}", image]);
    let db: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.root().join("images.json")).unwrap()).unwrap();
    db["images"][id.trim().trim_start_matches("sha256:")]["layers"]
        .as_array()
        .unwrap_or_else(|| panic!("no record of {id} in images.json"))
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}
