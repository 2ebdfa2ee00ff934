//! `--init`: berth-init (a static, libc-free PID 1, `crates/init`) is
//! bind-mounted read-only at docker's path and runs the command.

use crate::error::{Error, Result};
use std::path::Path;

/// Where docker mounts its init in the container.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// Makes `spec` run `/sbin/docker-init -- ARGS...` with `init` mounted there.
pub fn apply(spec: &mut oci_spec::runtime::Spec, init: Option<&Path>) -> Result<()> {
    let Some(init) = init else {
        return Err(Error::invalid(
            "invalid --init: berth-init was not found next to the berth executable (or $BERTH_INIT)",
        ));
    };
    if let Some(p) = spec.process_mut() {
        let mut args = vec![INIT_PATH.to_string(), "--".to_string()];
        args.extend(p.args().clone().unwrap_or_default());
        p.set_args(Some(args));
    }
    let opts = ["rbind", "ro", "rprivate", "nosuid", "nodev"];
    let m = crate::spec::mount(INIT_PATH, "bind", init, opts.map(String::from).to_vec())?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(m);
    spec.set_mounts(Some(mounts));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepends_and_mounts() {
        let mut s = oci_spec::runtime::Spec::default();
        s.set_mounts(None);
        if let Some(p) = s.process_mut() {
            p.set_args(Some(vec!["sleep".into(), "1".into()]));
        }
        apply(&mut s, Some(Path::new("/usr/lib/berth/berth-init"))).unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v["process"]["args"],
            serde_json::json!(["/sbin/docker-init", "--", "sleep", "1"])
        );
        assert_eq!(v["mounts"][0]["source"], "/usr/lib/berth/berth-init");
        assert_eq!(v["mounts"][0]["destination"], INIT_PATH);
        let e = apply(&mut s, None).unwrap_err().to_string();
        assert!(e.contains("--init"), "{e}");
    }
}
