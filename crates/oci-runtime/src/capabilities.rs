//! The five capability sets of `process.capabilities`.

use crate::error::{Error, Result};
use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};
use std::str::FromStr;

fn convert(set: &Option<Capabilities>, field: &str) -> Result<CapsHashSet> {
    let mut out = CapsHashSet::new();
    for c in set.iter().flatten() {
        let name = format!("CAP_{c}");
        let cap = Capability::from_str(&name).map_err(|_| {
            Error::msg(format!(
                "process.capabilities.{field}: unknown capability {name}"
            ))
        })?;
        out.insert(cap);
    }
    Ok(out)
}

/// The sets, converted and checked, ready to apply.
pub struct CapSets {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub permitted: CapsHashSet,
    pub ambient: CapsHashSet,
}

impl CapSets {
    pub fn from_spec(c: &LinuxCapabilities) -> Result<CapSets> {
        Ok(CapSets {
            bounding: convert(c.bounding(), "bounding")?,
            effective: convert(c.effective(), "effective")?,
            inheritable: convert(c.inheritable(), "inheritable")?,
            permitted: convert(c.permitted(), "permitted")?,
            ambient: convert(c.ambient(), "ambient")?,
        })
    }

    /// Drops from the bounding set what is not listed (needs CAP_SETPCAP, so
    /// it runs before the user switch).
    pub fn apply_bounding(&self) -> Result<()> {
        let known = caps::runtime::procfs_all_supported(None).unwrap_or_else(|_| caps::all());
        for cap in known {
            if !self.bounding.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(|e| {
                    Error::msg(format!(
                        "process.capabilities.bounding: cannot drop {cap}: {e}"
                    ))
                })?;
            }
        }
        Ok(())
    }

    /// Sets effective, permitted, inheritable and ambient (after the user switch).
    pub fn apply(&self) -> Result<()> {
        let supported = caps::runtime::procfs_all_supported(None).unwrap_or_else(|_| caps::all());
        let keep = |s: &CapsHashSet| -> CapsHashSet {
            s.iter()
                .filter(|c| supported.contains(c))
                .copied()
                .collect()
        };
        // Permitted must hold everything effective needs: set it together with effective.
        caps::set(None, CapSet::Inheritable, &keep(&self.inheritable))
            .map_err(|e| Error::msg(format!("process.capabilities.inheritable: {e}")))?;
        caps::set(
            None,
            CapSet::Effective,
            &keep(&self.effective)
                .intersection(&keep(&self.permitted))
                .copied()
                .collect(),
        )
        .map_err(|e| Error::msg(format!("process.capabilities.effective: {e}")))?;
        caps::set(None, CapSet::Permitted, &keep(&self.permitted))
            .map_err(|e| Error::msg(format!("process.capabilities.permitted: {e}")))?;
        caps::set(None, CapSet::Effective, &keep(&self.effective))
            .map_err(|e| Error::msg(format!("process.capabilities.effective: {e}")))?;
        if !self.ambient.is_empty() {
            caps::clear(None, CapSet::Ambient).ok();
            // The kernel raises an ambient capability only if it is both
            // permitted and inheritable; `runc spec` lists ambient ones
            // without inheritable. runc and crun go on past such a one.
            for c in keep(&self.ambient) {
                if let Err(e) = caps::raise(None, CapSet::Ambient, c) {
                    crate::log::warn(&format!(
                        "process.capabilities.ambient: cannot raise {c}: {e}"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Docker's default capability set.
pub const DOCKER_DEFAULT: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_names() {
        let c: LinuxCapabilities = serde_json::from_value(serde_json::json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_KILL"]
        }))
        .unwrap();
        let s = CapSets::from_spec(&c).unwrap();
        assert!(s.bounding.contains(&Capability::CAP_CHOWN));
        assert_eq!(s.effective.len(), 1);
        assert!(s.ambient.is_empty());
    }

    #[test]
    fn docker_defaults_parse() {
        for c in DOCKER_DEFAULT {
            Capability::from_str(c).unwrap();
        }
    }
}
