//! `inspect`, `ps --size` and `top` (`ps` itself: [`crate::ops::list`]).

use crate::container::{Container, State, Status};
use crate::error::{Error, Result};
use crate::runtime;
use crate::{fsutil, timeutil, Engine};
use serde_json::{json, Value};

/// `top`: column titles and one row per process.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopOutput {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

impl Engine {
    /// `ps --size`: (bytes written in the container's layer, that plus
    /// the image's layers), docker's SizeRw and SizeRootFs.
    pub fn size(&self, container: &str) -> Result<(u64, u64)> {
        let id = self.lookup(container)?;
        let c = self.load_config(&id)?;
        let rw = crate::volumes::dir_size(&self.container_dir(&id).join("upper"));
        let image: u64 = c.lowers.iter().map(|l| crate::volumes::dir_size(l)).sum();
        Ok((rw, rw + image))
    }

    /// The stored record of a container. One whose records cannot be read
    /// is an error that says so, in one line.
    pub fn container(&self, container: &str) -> Result<(Container, State)> {
        let id = self.lookup(container)?;
        let unreadable = |e: Error| match e {
            e @ Error::NoSuchContainer(_) => e,
            e => Error::msg(format!(
                "container {} is dead: its record is unreadable ({e}); remove it with rm -f",
                fsutil::short_id(&id)
            )),
        };
        let c = self.load_config(&id).map_err(unreadable)?;
        let st = self.state(&id).map_err(unreadable)?;
        Ok((c, st))
    }

    /// `inspect`, in docker's JSON shape.
    pub fn inspect(&self, container: &str) -> Result<Value> {
        let (c, st) = self.container(container)?;
        let dir = self.container_dir(&c.id);
        let lower = c
            .lowers
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(":");
        Ok(json!({
            "Id": c.id,
            "Created": c.created,
            "Path": c.path,
            "Args": c.args,
            "State": {
                "Status": st.status,
                "Running": matches!(st.status, Status::Running | Status::Paused),
                "Paused": st.status == Status::Paused,
                "Restarting": st.status == Status::Restarting,
                "OOMKilled": st.oom_killed,
                "Dead": st.status == Status::Dead,
                "Pid": if st.running() { st.pid } else { 0 },
                "ExitCode": st.exit_code,
                "Error": st.error,
                "StartedAt": st.started_at,
                "FinishedAt": st.finished_at,
                "Health": self.health(&c.id).filter(|_| crate::health::check_of(&c).is_some()),
            },
            "Image": c.image,
            "ResolvConfPath": dir.join("userdata/resolv.conf"),
            "HostnamePath": dir.join("userdata/hostname"),
            "HostsPath": dir.join("userdata/hosts"),
            "LogPath": self.log_path(&c.id),
            "Name": format!("/{}", c.name),
            "RestartCount": st.restart_count,
            "Driver": "overlay",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": Value::Null,
            "HostConfig": crate::network::host_config_json(&c),
            "GraphDriver": {
                "Name": "overlay",
                "Data": {
                    "LowerDir": lower,
                    "MergedDir": dir.join("rootfs"),
                    "UpperDir": dir.join("upper"),
                    "WorkDir": dir.join("work"),
                },
            },
            "Mounts": c.mounts,
            "Config": c.config,
            "NetworkSettings": crate::network::settings(self, &c),
        }))
    }

    /// `top`: the container's processes (UID, PID, PPID, CMD).
    pub fn top(&self, container: &str) -> Result<TopOutput> {
        let id = self.lookup(container)?;
        let st = self.state(&id)?;
        if !st.running() {
            return Err(Error::Conflict(format!(
                "container {container} is not running"
            )));
        }
        let mut pids = runtime::for_container(self, &id).pids(self, &id)?;
        pids.sort_unstable();
        let mut rows = Vec::new();
        for p in pids {
            let status = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
            let field = |k: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(k))
                    .and_then(|v| v.split_whitespace().next())
                    .unwrap_or("?")
                    .to_string()
            };
            let cmd = std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|b| {
                    b.split(|c| *c == 0)
                        .filter(|s| !s.is_empty())
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            rows.push(vec![field("Uid:"), p.to_string(), field("PPid:"), cmd]);
        }
        Ok(TopOutput {
            titles: ["UID", "PID", "PPID", "CMD"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            processes: rows,
        })
    }
}

/// The STATUS column of `ps`.
pub fn status_text(st: &State) -> String {
    match st.status {
        Status::Created => "Created".into(),
        Status::Running => format!(
            "Up {}",
            timeutil::human_duration(timeutil::since(&st.started_at))
        ),
        Status::Paused => format!(
            "Up {} (Paused)",
            timeutil::human_duration(timeutil::since(&st.started_at))
        ),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            st.exit_code,
            timeutil::human_duration(timeutil::since(&st.finished_at))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            st.exit_code,
            timeutil::human_duration(timeutil::since(&st.finished_at))
        ),
        Status::Dead => "Dead".into(),
    }
}
