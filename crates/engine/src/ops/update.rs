//! `update`: new resources for a container (its cgroup while it runs, its
//! spec and record for the next start) and a new restart policy, with
//! docker's rules.

use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};
use serde::Serialize;
use serde_json::Value;

use crate::container::RestartPolicy;
use crate::error::{Error, Result};
use crate::{fsutil, runtime, Engine};

/// `update`'s request: only what is set changes (docker's `UpdateConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateOptions {
    /// `--memory`, bytes.
    pub memory: Option<i64>,
    /// `--memory-swap`, bytes of memory plus swap; -1 unlimited.
    pub memory_swap: Option<i64>,
    /// `--memory-reservation`, bytes (a soft limit).
    pub memory_reservation: Option<i64>,
    /// `--cpus` as NanoCPUs.
    pub nano_cpus: Option<i64>,
    /// `--cpu-shares` (relative weight).
    pub cpu_shares: Option<i64>,
    /// `--cpuset-cpus` (`0-3`, `0,1`).
    pub cpuset_cpus: Option<String>,
    /// `--pids-limit` (0 or -1: unlimited).
    pub pids_limit: Option<i64>,
    /// `--restart` (`no`, `always`, `unless-stopped`, `on-failure[:N]`).
    pub restart: Option<String>,
}

/// `update`'s flags as docker's CLI writes them (unset: `None`), and
/// [`UpdateFlags::parse`] to [`UpdateOptions`] (as
/// [`crate::CreateFlags`] for `create`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateFlags {
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub memory_reservation: Option<String>,
    pub cpus: Option<String>,
    pub cpu_shares: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub restart: Option<String>,
}

impl UpdateFlags {
    /// Every flag through its parser (the first error names its flag and
    /// value); no flag at all is an error, as docker's.
    pub fn parse(&self) -> Result<UpdateOptions> {
        use crate::options::{parse_bytes, parse_cpus, parse_memory, parse_memory_swap};
        let opts = UpdateOptions {
            memory: self.memory.as_deref().map(parse_memory).transpose()?,
            memory_swap: self
                .memory_swap
                .as_deref()
                .map(parse_memory_swap)
                .transpose()?,
            memory_reservation: self
                .memory_reservation
                .as_deref()
                .map(|s| parse_bytes(s).map_err(|e| Error::flag("--memory-reservation", s, e)))
                .transpose()?,
            nano_cpus: self.cpus.as_deref().map(parse_cpus).transpose()?,
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus.clone(),
            pids_limit: self.pids_limit,
            restart: self.restart.clone(),
        };
        if opts == UpdateOptions::default() {
            return Err(Error::invalid(
                "you must provide one or more flags when using this command",
            ));
        }
        Ok(opts)
    }
}

/// What `update` did (docker's `ContainerUpdateResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateReport {
    pub warnings: Vec<String>,
}

/// Overlays the object `new` on `old`, skipping nulls.
fn merge(old: &mut Value, new: &Value) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                if v.is_null() {
                    continue;
                }
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b.clone(),
    }
}

impl Engine {
    /// `update [flags] CONTAINER`: applies the resources to a running
    /// container's cgroup through its runtime, then records them in its
    /// spec (kept by the next start) and `HostConfig`; the restart policy
    /// is read by the monitor at the next exit.
    pub fn update(&self, container: &str, u: &UpdateOptions) -> Result<UpdateReport> {
        let id = self.lookup(container)?;
        let _l = self.lock_container(&id)?;
        let mut c = self.load_config(&id)?;
        let st = self.state(&id)?;
        // A start going on in its monitor (its caller killed) may have read
        // the old spec and not be running yet: the cgroup would miss it.
        if !st.running() && self.start_in_progress(&id) {
            return Err(Error::Conflict(format!(
                "container {} is being started by its monitor; try again",
                crate::fsutil::short_id(&id)
            )));
        }
        let hc = &c.host_config;
        let restart = match &u.restart {
            Some(r) => {
                let policy = crate::options::parse_restart(r)?;
                if hc.auto_remove && policy != RestartPolicy::No {
                    return Err(Error::InvalidArgument(
                        "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                    ));
                }
                Some(policy)
            }
            None => None,
        };
        let (memory, swap) = crate::options::memory_limits(
            (hc.resources.memory, hc.resources.memory_swap),
            u.memory,
            u.memory_swap,
        )?;
        if let Some(r) = u.memory_reservation {
            if r < 0 || (memory > 0 && r > memory) {
                return Err(Error::InvalidArgument(
                    "Minimum memory limit can not be less than memory reservation limit, see usage"
                        .into(),
                ));
            }
        }
        if let Some(s) = &u.cpuset_cpus {
            crate::options::parse_cpuset("--cpuset-cpus", s)?;
        }
        if u.cpu_shares.is_some_and(|s| s < 0) {
            return Err(Error::flag(
                "--cpu-shares",
                &u.cpu_shares.unwrap_or_default().to_string(),
                "must be positive",
            ));
        }
        let res = self.update_resources(u, memory, swap)?;
        if st.running() {
            runtime::for_container(self, &id).update(self, &id, &res)?;
        }
        // The spec the next start uses.
        let spec_path = self.container_dir(&id).join("bundle/config.json");
        let mut spec: Value = fsutil::read_json(&spec_path)?;
        let new = serde_json::to_value(&res).map_err(|e| Error::msg(format!("update: {e}")))?;
        if let Some(linux) = spec.get_mut("linux").and_then(Value::as_object_mut) {
            let cur = linux
                .entry("resources")
                .or_insert_with(|| serde_json::json!({}));
            merge(cur, &new);
        }
        fsutil::write_json(&spec_path, &spec)?;
        let hc = &mut c.host_config;
        if u.memory.is_some() || u.memory_swap.is_some() {
            hc.resources.memory = memory;
            hc.resources.memory_swap = swap;
        }
        if let Some(r) = u.memory_reservation {
            hc.resources.memory_reservation = r;
        }
        if let Some(n) = u.nano_cpus {
            hc.resources.nano_cpus = n;
        }
        if let Some(s) = u.cpu_shares {
            hc.resources.cpu_shares = s;
        }
        if let Some(s) = &u.cpuset_cpus {
            hc.resources.cpuset_cpus = s.clone();
        }
        if let Some(p) = u.pids_limit {
            hc.resources.pids_limit = (p > 0).then_some(p);
        }
        if let Some(r) = restart {
            hc.restart_policy = r;
        }
        self.save_config(&c)?;
        Ok(UpdateReport::default())
    }

    /// The OCI resources of an update (only what it sets).
    fn update_resources(
        &self,
        u: &UpdateOptions,
        memory: i64,
        swap: i64,
    ) -> Result<LinuxResources> {
        let bad = |e: oci_spec::OciSpecError| Error::msg(format!("update: {e}"));
        let mut r = LinuxResourcesBuilder::default();
        if u.memory.is_some() || u.memory_swap.is_some() || u.memory_reservation.is_some() {
            let mut m = LinuxMemoryBuilder::default();
            if u.memory.is_some() || u.memory_swap.is_some() {
                m = m.limit(if memory > 0 { memory } else { -1 });
                if crate::spec::swap_supported() {
                    m = m.swap(if swap != 0 { swap } else { -1 });
                }
            }
            if let Some(v) = u.memory_reservation {
                m = m.reservation(v);
            }
            r = r.memory(m.build().map_err(bad)?);
        }
        if u.nano_cpus.is_some() || u.cpu_shares.is_some() || u.cpuset_cpus.is_some() {
            let mut c = LinuxCpuBuilder::default();
            if let Some(n) = u.nano_cpus {
                // 0 lifts the limit (cgroup v1: -1; v2: "max").
                c = c.period(100_000u64).quota(if n > 0 {
                    n * 100_000 / 1_000_000_000
                } else {
                    -1
                });
            }
            if let Some(s) = u.cpu_shares {
                c = c.shares(s as u64);
            }
            if let Some(s) = &u.cpuset_cpus {
                c = c.cpus(s.clone());
            }
            r = r.cpu(c.build().map_err(bad)?);
        }
        if let Some(p) = u.pids_limit {
            r = r.pids(
                LinuxPidsBuilder::default()
                    .limit(if p > 0 { p } else { -1 })
                    .build()
                    .map_err(bad)?,
            );
        }
        r.build().map_err(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        let f = UpdateFlags {
            memory: Some("64m".into()),
            memory_swap: Some("-1".into()),
            memory_reservation: Some("32m".into()),
            cpus: Some("0.5".into()),
            pids_limit: Some(-1),
            ..Default::default()
        };
        let o = f.parse().unwrap();
        assert_eq!(o.memory, Some(64 << 20));
        assert_eq!(o.memory_swap, Some(-1));
        assert_eq!(o.memory_reservation, Some(32 << 20));
        assert_eq!(o.nano_cpus, Some(500_000_000));
        assert_eq!(o.pids_limit, Some(-1));
        let e = UpdateFlags::default().parse().unwrap_err().to_string();
        assert!(e.contains("you must provide one or more flags"), "{e}");
        let bad = |f: UpdateFlags, flag: &str| {
            let e = f.parse().unwrap_err().to_string();
            assert!(e.contains(flag), "{e}");
        };
        bad(
            UpdateFlags {
                memory: Some("1x".into()),
                ..Default::default()
            },
            "--memory",
        );
        bad(
            UpdateFlags {
                memory_swap: Some("lots".into()),
                ..Default::default()
            },
            "--memory-swap",
        );
        bad(
            UpdateFlags {
                cpus: Some("many".into()),
                ..Default::default()
            },
            "--cpus",
        );
    }
}
