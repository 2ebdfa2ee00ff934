//! `POST /containers/{id}/update`'s body: docker's `UpdateConfig`.

use crate::UpdateOptions;
use serde::Deserialize;

/// docker's `UpdateConfig`: the resources and the restart policy. Zeros
/// and empty strings mean "not given" (docker's CLI sends every field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerUpdateBody {
    pub memory: i64,
    pub memory_swap: i64,
    pub memory_reservation: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpuset_cpus: String,
    pub pids_limit: Option<i64>,
    pub restart_policy: Option<UpdateRestartPolicy>,
}

/// `RestartPolicy` of an update body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateRestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

impl ContainerUpdateBody {
    /// The typed request (`update`'s rules then check the values): a
    /// zero or empty field is not changed; `on-failure` with a count is
    /// `on-failure:N`, as the CLI's `--restart`.
    pub fn into_options(self) -> UpdateOptions {
        let nz = |v: i64| (v != 0).then_some(v);
        let restart = self.restart_policy.filter(|r| !r.name.is_empty()).map(|r| {
            if r.name == "on-failure" && r.maximum_retry_count > 0 {
                format!("on-failure:{}", r.maximum_retry_count)
            } else {
                r.name
            }
        });
        UpdateOptions {
            memory: nz(self.memory),
            memory_swap: nz(self.memory_swap),
            memory_reservation: nz(self.memory_reservation),
            nano_cpus: nz(self.nano_cpus),
            cpu_shares: nz(self.cpu_shares),
            cpuset_cpus: Some(self.cpuset_cpus).filter(|s| !s.is_empty()),
            pids_limit: self.pids_limit.filter(|n| *n != 0),
            restart,
        }
    }
}
