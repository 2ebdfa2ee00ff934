//! Docker Engine API shapes (API 1.50), typed: what the engine accepts and
//! what it returns, field for field as docker's JSON, so that an API face
//! (`crates/api`) only routes requests and (de)serializes these types.
//!
//! - Requests: [`ContainerCreateBody`] is the body of
//!   `POST /containers/create` (docker's `ContainerConfig` with its
//!   `HostConfig` and `NetworkingConfig`); [`ContainerCreateBody::into_options`]
//!   turns it into the typed [`CreateOptions`](crate::CreateOptions) by the
//!   same parsers and rules as the CLI's flags
//!   ([`CreateOptions::validate`](crate::CreateOptions::validate) for the
//!   values, the flags' parsers for the strings docker's API keeps in flag
//!   syntax: `Binds`, `Tmpfs`, `SecurityOpt`, `ExtraHosts`...). Unknown fields
//!   are ignored, as docker does; a field Berth cannot honour (a GPU
//!   request, an isolation, a runtime it cannot find, blkio weights...) is
//!   an error naming the field.
//! - Results: [`HostConfig`] is also `HostConfig` of `container inspect`
//!   (docker uses one type for both); [`EndpointSettings`] is also an entry
//!   of `NetworkSettings.Networks`; [`NetworkSettings`] is `container
//!   inspect`'s; [`ContainerSummary`] is an entry of `GET /containers/json`
//!   ([`Engine::containers_json`](crate::Engine::containers_json)). Image
//!   list and inspect entries are [`crate::images::ImageSummary`] and
//!   [`crate::images::ImageInspect`].
//!
//! Values are docker's: sizes in bytes, CPUs in billionths (`NanoCpus`),
//! durations in nanoseconds, ports as `{"80/tcp": [{"HostIp": "",
//! "HostPort": "8080"}]}`. The engine depends on no HTTP crate.

mod create;
mod inspect;
mod update;

pub use create::*;
pub use inspect::*;
pub use update::*;
