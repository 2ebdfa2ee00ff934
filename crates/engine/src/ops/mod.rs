//! Container operations, one concept per module: [`create`] (create, run),
//! [`lifecycle`] (start, stop, kill, wait, pause, unpause, rename),
//! [`attach`], [`exec`], [`logs`], [`list`] (ps and its filters), [`inspect`]
//! (inspect, size, top),
//! [`remove`] (rm, cleanup), [`prune`] (container and network prune),
//! [`healthcheck`] (one probe). Each is an `impl Engine` block; the OCI
//! runtime is reached through [`crate::runtime`].

pub mod attach;
pub mod create;
pub mod exec;
pub mod healthcheck;
pub mod inspect;
pub mod lifecycle;
pub mod list;
pub mod logs;
pub mod prune;
pub mod remove;
pub mod update;

pub use exec::ExecOptions;
pub use inspect::{
    status_text, ContainerInspect, ContainerState, GraphDriver, InspectObject, ObjectKind,
    TopOutput, VolumeInspect,
};
pub use list::{ListOptions, Port, Summary};
pub use prune::{
    ContainersPruneReport, NetworksPruneReport, PruneOptions, SystemPruneOptions,
    SystemPruneReport, VolumesPruneReport,
};
pub use update::{UpdateFlags, UpdateOptions, UpdateReport};
