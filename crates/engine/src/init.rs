//! `--init`: berth-init (a static, libc-free PID 1, `crates/init`) is
//! bind-mounted read-only at docker's path and runs the command.

use crate::error::{Error, Result};
use serde_json::{json, Value};
use std::path::Path;

/// Where docker mounts its init in the container.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// Makes `spec` run `/sbin/docker-init -- ARGS...` with `init` mounted there.
pub fn apply(spec: &mut Value, init: Option<&Path>) -> Result<()> {
    let Some(init) = init else {
        return Err(Error::invalid(
            "invalid --init: berth-init was not found next to the berth executable (or $BERTH_INIT)",
        ));
    };
    let args = spec["process"]["args"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut new = vec![json!(INIT_PATH), json!("--")];
    new.extend(args);
    spec["process"]["args"] = json!(new);
    let m = json!({
        "destination": INIT_PATH,
        "type": "bind",
        "source": init,
        "options": ["rbind", "ro", "rprivate", "nosuid", "nodev"],
    });
    match spec["mounts"].as_array_mut() {
        Some(a) => a.push(m),
        None => spec["mounts"] = json!([m]),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepends_and_mounts() {
        let mut s = json!({"process": {"args": ["sleep", "1"]}, "mounts": []});
        apply(&mut s, Some(Path::new("/usr/lib/berth/berth-init"))).unwrap();
        assert_eq!(
            s["process"]["args"],
            json!(["/sbin/docker-init", "--", "sleep", "1"])
        );
        assert_eq!(s["mounts"][0]["source"], "/usr/lib/berth/berth-init");
        assert_eq!(s["mounts"][0]["destination"], INIT_PATH);
        let e = apply(&mut s, None).unwrap_err().to_string();
        assert!(e.contains("--init"), "{e}");
    }
}
