//! Berth's OCI runtime: from a bundle's config.json to a running container.
//!
//! The faces of the crate:
//! - [`create::create`], [`ops::start`], [`ops::kill`], [`ops::delete`],
//!   [`ops::list`], [`exec::exec`] and friends: the container lifecycle of the
//!   OCI runtime spec, as the `berth-oci` binary and the engine use it.
//! - [`config`]: parsing and validation of config.json with errors naming the field.
//! - [`spec::default_spec`] and [`spec::features`]: what `spec` and `features` print.
//!
//! All `unsafe` code lives in [`sys`].
#![deny(unsafe_code)]

pub mod capabilities;
pub mod config;
pub mod create;
pub mod error;
pub mod exec;
pub mod foreground;
pub mod hooks;
pub mod idmap;
pub mod log;
pub mod mountopts;
pub mod namespaces;
pub mod ops;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod sync;
#[allow(unsafe_code)]
pub mod sys;

pub use error::{Error, Result};
