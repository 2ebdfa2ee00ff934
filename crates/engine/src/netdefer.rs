//! A network teardown, and the deletion of removed containers'
//! directories, held back by the monitor's exit command (see
//! [`Deferral`]).

use network::RealHost;

/// A network teardown held back (with the network lock) by an engine that
/// defers them: the monitor's exit command sends the exit code to the
/// waiting `berth run` before the veth deletion's RCU wait in the kernel.
/// A removed container's directory (already moved aside, so nothing
/// sees it) is deleted then too: `docker run --rm` has its exit code
/// without waiting for the files to go; a crash before leaves the
/// `.rm-*` directory for the next command's cleanup.
#[derive(Default, Clone)]
pub struct Deferral(
    std::sync::Arc<std::sync::Mutex<Option<Pending>>>,
    std::sync::Arc<std::sync::Mutex<Vec<std::path::PathBuf>>>,
);

impl Deferral {
    /// Whether a teardown is held back (and the network lock with it).
    pub(crate) fn pending(&self) -> bool {
        self.0.lock().map(|s| s.is_some()).unwrap_or(true)
    }

    /// Holds back container `id`'s teardown (made by `make`, which takes
    /// the network lock); one held for another container is finished
    /// first. The errors of that one.
    pub(crate) fn defer(
        &self,
        id: &str,
        make: impl FnOnce() -> network::DeferredTeardown<RealHost>,
    ) -> Vec<String> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut errs = Vec::new();
        if slot.as_ref().is_some_and(|(other, _)| other != id) {
            if let Some((_, t)) = slot.take() {
                errs.extend(t.finish().into_iter().map(|er| er.to_string()));
            }
        }
        if slot.is_none() {
            *slot = Some((id.to_string(), make()));
        }
        errs
    }

    /// Holds back the deletion of `dir` (a container's directory moved
    /// aside by its removal).
    pub(crate) fn defer_removal(&self, dir: std::path::PathBuf) {
        self.1.lock().unwrap_or_else(|p| p.into_inner()).push(dir);
    }

    /// Does the deferred teardown and deletions, if any; returns every
    /// error.
    pub(crate) fn finish(&self) -> Vec<String> {
        let t = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut errs: Vec<String> = t
            .map(|(_, t)| t.finish().into_iter().map(|er| er.to_string()).collect())
            .unwrap_or_default();
        let dirs = std::mem::take(&mut *self.1.lock().unwrap_or_else(|p| p.into_inner()));
        for d in dirs {
            // (a command's reclaim of leftovers may have taken it first)
            match std::fs::remove_dir_all(&d) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    errs.push(format!("cannot remove {}: {e}", d.display()))
                }
                _ => {}
            }
        }
        errs
    }
}

/// A container's id and its held-back teardown.
type Pending = (String, network::DeferredTeardown<RealHost>);

impl std::fmt::Debug for Deferral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deferral")
    }
}
