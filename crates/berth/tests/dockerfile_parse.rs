//! `berth internal dockerfile-parse`: the parser's developer face prints the
//! typed instructions as JSON and a parse error as FILE:LINE:COL: message.

use std::io::Write;
use std::process::{Command, Stdio};

fn run(file: &str, stdin: &[u8]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["internal", "dockerfile-parse", file])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin).unwrap();
    let o = c.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn prints_typed_instructions() {
    let (code, out, err) = run(
        "-",
        b"FROM busybox AS b\nRUN --mount=type=secret,id=t,env=T --network=none true\n",
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let run = &v["stages"][0]["commands"][0];
    assert_eq!(run["instruction"], "RUN");
    assert_eq!(run["network"], "none");
    assert_eq!(run["mounts"][0]["type"], "secret");
    assert_eq!(run["mounts"][0]["env"], "T");
    assert_eq!(v["stages"][0]["name"], "b");
}

#[test]
fn names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("Dockerfile.dev");
    std::fs::write(&p, "FROM busybox\n\n  RUNN x\n").unwrap();
    let (code, _, err) = run(p.to_str().unwrap(), b"");
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        format!(
            "berth: {}:3:3: unknown instruction: RUNN (did you mean RUN?)",
            p.display()
        )
    );
}
