//! A network teardown held back by the monitor's exit command (see
//! [`Deferral`]).

use network::RealHost;

/// A network teardown held back (with the network lock) by an engine that
/// defers them: the monitor's exit command sends the exit code to the
/// waiting `berth run` before the veth deletion's RCU wait in the kernel.
#[derive(Default, Clone)]
pub struct Deferral(std::sync::Arc<std::sync::Mutex<Option<Pending>>>);

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

    /// Does the deferred teardown, if any; returns every error.
    pub(crate) fn finish(&self) -> Vec<String> {
        let t = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        t.map(|(_, t)| t.finish().into_iter().map(|er| er.to_string()).collect())
            .unwrap_or_default()
    }
}

/// A container's id and its held-back teardown.
type Pending = (String, network::DeferredTeardown<RealHost>);

impl std::fmt::Debug for Deferral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deferral")
    }
}
