//! `inspect`, `ps --size` and `top` (`ps` itself: [`crate::ops::list`]).

use crate::container::{Container, State, Status};
use crate::error::{Error, Result};
use crate::runtime;
use crate::{fsutil, timeutil, Engine};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// What `inspect --type` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Container,
    Image,
    Network,
    Volume,
}

impl std::str::FromStr for ObjectKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<ObjectKind> {
        match s {
            "container" => Ok(ObjectKind::Container),
            "image" => Ok(ObjectKind::Image),
            "network" => Ok(ObjectKind::Network),
            "volume" => Ok(ObjectKind::Volume),
            _ => Err(Error::flag(
                "--type",
                s,
                "expected container, image, network or volume",
            )),
        }
    }
}

/// One object `inspect` found, serialized as its own shape.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum InspectObject {
    Container(Box<ContainerInspect>),
    Image(Box<crate::images::ImageInspect>),
    Network(Value),
    Volume(VolumeInspect),
}

/// `container inspect` (docker's `ContainerJSON`, field for field;
/// `HostConfig` and `NetworkSettings` are [`crate::api`]'s types).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerInspect {
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: ContainerState,
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    pub name: String,
    pub restart_count: u32,
    pub driver: String,
    pub platform: String,
    pub mount_label: String,
    pub process_label: String,
    pub app_armor_profile: String,
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    pub host_config: crate::api::HostConfig,
    pub graph_driver: GraphDriver,
    /// With `--size`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<u64>,
    /// With `--size`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<u64>,
    pub mounts: Vec<crate::container::MountPoint>,
    pub config: crate::container::Config,
    pub network_settings: crate::api::NetworkSettings,
}

/// Docker's `State` of `container inspect`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerState {
    pub status: Status,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub health: Option<crate::health::Health>,
}

/// Docker's `GraphDriver`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    pub name: String,
    pub data: BTreeMap<String, String>,
}

/// `volume inspect` (docker's `Volume`; empty maps as null).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeInspect {
    pub created_at: String,
    pub driver: String,
    pub labels: Option<BTreeMap<String, String>>,
    pub mountpoint: String,
    pub name: String,
    pub options: Option<BTreeMap<String, String>>,
    pub scope: String,
}

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
        let v = self.inspect_container(container, false)?;
        serde_json::to_value(v).map_err(|e| Error::msg(format!("inspect: {e}")))
    }

    /// `container inspect [--size]` (docker's `ContainerJSON`).
    pub fn inspect_container(&self, container: &str, size: bool) -> Result<ContainerInspect> {
        let (c, st) = self.container(container)?;
        let dir = self.container_dir(&c.id);
        let lower = c
            .lowers
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(":");
        let path = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
        let (size_rw, size_root_fs) = if size {
            let (rw, rootfs) = self.size(&c.id)?;
            (Some(rw), Some(rootfs))
        } else {
            (None, None)
        };
        Ok(ContainerInspect {
            id: c.id.clone(),
            created: c.created.clone(),
            path: c.path.clone(),
            args: c.args.clone(),
            state: ContainerState {
                status: st.status,
                running: matches!(st.status, Status::Running | Status::Paused),
                paused: st.status == Status::Paused,
                restarting: st.status == Status::Restarting,
                oom_killed: st.oom_killed,
                dead: st.status == Status::Dead,
                pid: if st.running() { st.pid } else { 0 },
                exit_code: st.exit_code,
                error: st.error.clone(),
                started_at: st.started_at.clone(),
                finished_at: st.finished_at.clone(),
                health: self
                    .health(&c.id)
                    .filter(|_| crate::health::check_of(&c).is_some()),
            },
            image: c.image.clone(),
            resolv_conf_path: path(dir.join("userdata/resolv.conf")),
            hostname_path: path(dir.join("userdata/hostname")),
            hosts_path: path(dir.join("userdata/hosts")),
            // docker's LogPath names the json-file log only.
            log_path: if c.host_config.log_config.driver == crate::logs::LogDriver::JsonFile {
                path(self.log_path(&c.id))
            } else {
                String::new()
            },
            name: format!("/{}", c.name),
            restart_count: st.restart_count,
            driver: "overlay".into(),
            platform: "linux".into(),
            mount_label: String::new(),
            process_label: String::new(),
            app_armor_profile: String::new(),
            exec_ids: Some(self.exec_ids(&c.id)).filter(|ids| !ids.is_empty()),
            host_config: crate::network::host_config(&c),
            graph_driver: GraphDriver {
                name: "overlay".into(),
                data: BTreeMap::from([
                    ("LowerDir".to_string(), lower),
                    ("MergedDir".to_string(), path(dir.join("rootfs"))),
                    ("UpperDir".to_string(), path(dir.join("upper"))),
                    ("WorkDir".to_string(), path(dir.join("work"))),
                ]),
            },
            size_rw,
            size_root_fs,
            mounts: c.mounts.clone(),
            network_settings: crate::network::settings(self, &c),
            config: c.config,
        })
    }

    /// `volume inspect NAME` (docker's `Volume`).
    pub fn inspect_volume(&self, name: &str) -> Result<VolumeInspect> {
        let v = self
            .volume(name)
            .map_err(|_| Error::NoSuchObject(format!("get {name}: no such volume")))?;
        let nullable = |m: &BTreeMap<String, String>| (!m.is_empty()).then(|| m.clone());
        Ok(VolumeInspect {
            created_at: v.created_at.clone(),
            driver: v.driver.clone(),
            labels: nullable(&v.labels),
            mountpoint: v.mountpoint.clone(),
            name: v.name.clone(),
            options: nullable(&v.options),
            scope: v.scope.clone(),
        })
    }

    /// docker's `inspect [--type T] [--size] NAME`: a container, image,
    /// network or volume by full id, unique id prefix or name; without a
    /// type, the first kind that has it in docker's order (container,
    /// image, network, volume). Each kind's own "no such" error when typed,
    /// docker's "No such object: NAME" when not.
    pub fn inspect_object(
        &self,
        name: &str,
        kind: Option<ObjectKind>,
        size: bool,
    ) -> Result<InspectObject> {
        let want = |k: ObjectKind| kind.map_or(true, |x| x == k);
        let missing = |e: &Error| {
            matches!(
                e,
                Error::NoSuchContainer(_)
                    | Error::NoSuchObject(_)
                    | Error::Image(image::Error::ImageNotFound(_))
            )
        };
        if want(ObjectKind::Container) {
            match self.inspect_container(name, size) {
                Ok(c) => return Ok(InspectObject::Container(Box::new(c))),
                Err(e) if missing(&e) && kind.is_none() => {}
                Err(e) => return Err(e),
            }
        }
        if want(ObjectKind::Image) {
            match crate::images::inspect(self.images(), name) {
                Ok(i) => return Ok(InspectObject::Image(Box::new(i))),
                Err(e) if missing(&e) && kind.is_none() => {}
                Err(Error::Image(image::Error::ImageNotFound(_))) => {
                    return Err(Error::NoSuchObject(format!("No such image: {name}")))
                }
                Err(e) => return Err(e),
            }
        }
        if want(ObjectKind::Network) {
            match self.network_inspect(name) {
                Ok(n) => return Ok(InspectObject::Network(n)),
                Err(e) if missing(&e) && kind.is_none() => {}
                Err(e) => return Err(e),
            }
        }
        if want(ObjectKind::Volume) {
            match self.inspect_volume(name) {
                Ok(v) => return Ok(InspectObject::Volume(v)),
                Err(e) if missing(&e) && kind.is_none() => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::NoSuchObject(format!("No such object: {name}")))
    }

    /// `top CONTAINER [ps OPTIONS]` (the API's `ps_args`): only ps's
    /// default columns are shown, so options other than docker's default
    /// `-ef` are refused.
    pub fn top_with(&self, container: &str, ps_args: &str) -> Result<TopOutput> {
        let a = ps_args.trim();
        if !a.is_empty() && a != "-ef" {
            return Err(Error::InvalidArgument(format!(
                "invalid ps_args {a:?}: only the default columns (-ef) are supported"
            )));
        }
        self.top(container)
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
