//! Progress reporting. The library prints nothing; a caller implements
//! [`Progress`] (e.g. docker-like bars on a terminal, plain lines
//! otherwise). Callbacks come from several threads at once.

use image::{Digest, Reference};

/// The state of one blob during a pull or push, as docker shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerState {
    /// Queued behind other transfers.
    Waiting,
    /// Already in the local store (pull) or on the registry (push).
    Exists,
    /// Being downloaded (and unpacked at the same time).
    Downloading,
    /// Being unpacked from a blob already in the store.
    Extracting,
    /// Downloaded, verified and unpacked.
    Complete,
    /// A transfer failed and is being retried.
    Retrying,
    /// Being uploaded.
    Pushing,
    /// Mounted from another repository of the same registry.
    Mounted,
    /// Uploaded.
    Pushed,
}

impl LayerState {
    /// Docker's wording for the state.
    pub fn docker_text(self) -> &'static str {
        match self {
            LayerState::Waiting => "Waiting",
            LayerState::Exists => "Already exists",
            LayerState::Downloading => "Downloading",
            LayerState::Extracting => "Extracting",
            LayerState::Complete => "Pull complete",
            LayerState::Retrying => "Retrying",
            LayerState::Pushing => "Pushing",
            LayerState::Mounted => "Mounted from another repository",
            LayerState::Pushed => "Pushed",
        }
    }
}

/// Receives progress events. All methods default to doing nothing.
pub trait Progress: Sync {
    /// The reference resolved to this manifest (or index) digest.
    fn resolved(&self, _reference: &Reference, _digest: &Digest) {}
    /// A layer (or config, on push) changed state; `size` is its size.
    fn layer(&self, _digest: &Digest, _size: u64, _state: LayerState) {}
    /// Bytes transferred so far for a blob.
    fn bytes(&self, _digest: &Digest, _done: u64, _total: u64) {}
    /// Something the user should know (e.g. why a push chose less than
    /// asked), one line.
    fn note(&self, _message: &str) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
