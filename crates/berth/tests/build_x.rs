//! `berth build`, the builder gaps of issue 13: `--no-cache-filter`,
//! `--progress tty` (under `script`, stderr a terminal), a context removed
//! while a step runs, and `COPY --link`'s layer reused over a changed base.
//! Needs root.

mod common;

use std::path::PathBuf;

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
