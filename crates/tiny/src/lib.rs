//! A libc-free runtime for Berth's small static programs (`berth-init`,
//! `berth-monitor`): raw Linux syscalls ([`sys`], all the unsafe code),
//! the `_start` glue and panic handler ([`rt`], [`entry!`]), and
//! allocation-free formatting ([`fmt`]: integers, docker's JSON string
//! escaping, RFC 3339 times).
//!
//! Programs using it are `#![no_std] #![no_main]` and are linked with
//! `-nostartfiles -nostdlib -static -no-pie` (see `crates/init/build.rs`).
//! The formatting is tested on the host (`cargo test -p berth-tiny`), where
//! the crate builds with std.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

pub mod fmt;
#[cfg(not(test))]
#[allow(unsafe_code)]
pub mod rt;
#[allow(unsafe_code)]
pub mod sys;

pub use fmt::Buf;
