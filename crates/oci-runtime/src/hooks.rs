//! Running OCI hooks: the state JSON on stdin, a timeout, in order.

use crate::error::{Error, Result};
use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs one hook; `kind` names it in errors ("prestart[0]").
pub fn run_hook(hook: &Hook, state: &[u8], kind: &str) -> Result<()> {
    let path = hook.path();
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = Command::new(path);
    if let Some(a0) = args.first() {
        cmd.arg0(a0);
    }
    cmd.args(args.iter().skip(1));
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::msg(format!("hooks.{kind}: cannot run {}: {e}", path.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error.
        let _ = stdin.write_all(state);
    }
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t.max(1) as u64));
    let status = loop {
        if let Some(st) = child
            .try_wait()
            .map_err(|e| Error::msg(format!("hooks.{kind}: wait: {e}")))?
        {
            break st;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::msg(format!(
                "hooks.{kind}: {} timed out after {}s",
                path.display(),
                hook.timeout().unwrap_or(0)
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        let err = err.trim();
        return Err(Error::msg(format!(
            "hooks.{kind}: {} failed ({status}){}{}",
            path.display(),
            if err.is_empty() { "" } else { ": " },
            err
        )));
    }
    Ok(())
}

/// Runs a list of hooks in order, stopping at the first failure.
pub fn run_hooks(hooks: Option<&Vec<Hook>>, state: &[u8], kind: &str) -> Result<()> {
    for (i, h) in hooks.into_iter().flatten().enumerate() {
        run_hook(h, state, &format!("{kind}[{i}]"))?;
    }
    Ok(())
}

/// Runs every hook of a list, logging (not returning) failures, as the spec
/// asks for poststart and poststop.
pub fn run_hooks_warn(hooks: Option<&Vec<Hook>>, state: &[u8], kind: &str) {
    for (i, h) in hooks.into_iter().flatten().enumerate() {
        if let Err(e) = run_hook(h, state, &format!("{kind}[{i}]")) {
            crate::log::warn(&e.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(v: serde_json::Value) -> Hook {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn passes_state_and_env() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let h = hook(serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}; echo \"$FOO\" >> {}", out.display(), out.display())],
            "env": ["FOO=bar"]
        }));
        run_hook(&h, b"{\"id\":\"x\"}", "prestart[0]").unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"id\":\"x\"}bar\n"
        );
    }

    #[test]
    fn failure_and_timeout_are_errors() {
        let h = hook(
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "echo boom >&2; exit 3"]}),
        );
        let e = run_hook(&h, b"{}", "prestart[1]").unwrap_err().to_string();
        assert!(e.contains("prestart[1]") && e.contains("boom"), "{e}");
        let h =
            hook(serde_json::json!({"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1}));
        let t = Instant::now();
        let e = run_hook(&h, b"{}", "poststart[0]").unwrap_err().to_string();
        assert!(e.contains("timed out"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
        let h = hook(serde_json::json!({"path": "/nonexistent/hook"}));
        assert!(run_hook(&h, b"{}", "x")
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/hook"));
    }
}
