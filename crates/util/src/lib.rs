//! Small helpers shared by Berth's crates, each written once:
//!
//! - [`time`]: RFC 3339 with nanoseconds (docker's timestamps), civil
//!   dates, `--since`/`--until` values, docker's human durations
//!   ("3 seconds", "About a minute").
//! - [`duration`]: Go's `time.ParseDuration` and `Duration.String`.
//! - [`size`]: docker's units (`RAMInBytes`, `FromHumanSize`, `HumanSize`,
//!   `BytesSize`) and Go's `%g`.
//! - [`fs`]: atomic file replacement with a chosen durability, JSON
//!   documents, temp names that record their writer.
//! - [`lock`]: `flock(2)` locks, shared or exclusive, blocking or not.
//! - [`gostr`]: Go's `path.Clean` and `strconv.Quote`.
//!
//! The no-alloc formatter of the static helpers (crate `berth-tiny`) is not
//! here: those programs are `no_std` and must not link std.

#![deny(unsafe_code)]

pub mod duration;
mod error;
pub mod fs;
pub mod gostr;
pub mod lock;
pub mod proc;
pub mod size;
pub mod time;

pub use error::{Error, Result};
