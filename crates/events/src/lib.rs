//! Berth's event journal: docker's event messages ([`Message`]) appended to
//! an append-only, size-bounded journal under the store ([`Journal`]) by
//! whichever process acts (the CLI, a container's monitor and cleanup, a
//! healthcheck), with no daemon; read, filtered ([`Filters`]) and followed
//! ([`Cursor`]) by `berth events` and the API's `/events`.
//!
//! The image, network and engine crates write to it; of Berth's crates it
//! depends only on `berth-util` (its file lock and size parsing).
#![deny(unsafe_code)]

pub mod filter;
pub mod journal;
pub mod message;

pub use filter::{FilterError, Filters};
pub use journal::{Cursor, Journal, Query, DEFAULT_MAX_SIZE};
pub use message::{attrs, unix_nanos, Actor, Message, CONTAINER, IMAGE, NETWORK, VOLUME};
