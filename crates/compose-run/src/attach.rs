//! An attached `up`'s rules, as docker compose v2's runUp and upSession
//! decide them: which services' logs are printed (`--attach`,
//! `--no-attach`, `--attach-dependencies`, a service's `attach: false`),
//! whose exits are watched, and what the first exits do
//! (`--abort-on-container-exit`, `--abort-on-container-failure`,
//! `--exit-code-from`) to the project and to `up`'s exit code.

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::{msg, Compose, Result};

/// The attach flags of `up`.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// Services named on the command line (empty: all).
    pub services: Vec<String>,
    /// `--attach` (empty: not given).
    pub attach: Vec<String>,
    /// `--no-attach`.
    pub no_attach: Vec<String>,
    /// `--attach-dependencies`.
    pub attach_dependencies: bool,
    /// `--no-deps`: the services `up` takes are only those named.
    pub no_deps: bool,
}

/// What an attached `up` follows, in dependency order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachPlan {
    /// The services whose logs are printed.
    pub logs: Vec<String>,
    /// The services whose containers' exits are watched (printed, the
    /// `--abort-on-*` cascade, the end of `up`): those named, else the
    /// attached ones, else all (compose's monitor).
    pub watch: Vec<String>,
}

impl Compose {
    /// The services an attached `up` follows.
    pub fn attach_plan(&self, o: &AttachOptions) -> Result<AttachPlan> {
        if !o.attach.is_empty() && o.attach_dependencies {
            return Err(msg("cannot combine --attach and --attach-dependencies"));
        }
        let in_up: BTreeSet<String> = self.selected(&o.services, o.no_deps)?.into_iter().collect();
        let mut set: BTreeSet<String> = if !o.attach.is_empty() {
            let unknown: Vec<&str> = o
                .attach
                .iter()
                .filter(|n| !in_up.contains(*n))
                .map(String::as_str)
                .collect();
            if !unknown.is_empty() {
                return Err(msg(format!(
                    "cannot attach to services not included in up: {}",
                    unknown.join(", ")
                )));
            }
            o.attach.iter().cloned().collect()
        } else {
            // the services named (all if none), their dependencies only
            // with --attach-dependencies; `attach: false` opts out
            self.selected(&o.services, !o.attach_dependencies)?
                .into_iter()
                .filter(|n| self.project.services.get(n).and_then(|s| s.attach) != Some(false))
                .collect()
        };
        for n in &o.no_attach {
            set.remove(n);
        }
        let order = self.dependency_order()?;
        let logs: Vec<String> = order.iter().filter(|n| set.contains(*n)).cloned().collect();
        let watch = if !o.services.is_empty() {
            order
                .iter()
                .filter(|n| o.services.contains(n))
                .cloned()
                .collect()
        } else if !logs.is_empty() {
            logs.clone()
        } else {
            order.into_iter().filter(|n| in_up.contains(n)).collect()
        };
        Ok(AttachPlan { logs, watch })
    }
}

/// What the first exits of an attached `up` do to the project.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Cascade {
    /// Nothing: `up` ends when every watched container has exited.
    #[default]
    Ignore,
    /// `--abort-on-container-exit` (and `--exit-code-from`): the first
    /// exit stops the project.
    Stop,
    /// `--abort-on-container-failure`: the first non-zero exit does.
    Fail,
}

impl Cascade {
    /// From the flags, as compose's validateFlags: `--exit-code-from`
    /// implies `--abort-on-container-exit` unless the failure one is set;
    /// the two `--abort-on-*` flags exclude each other.
    pub fn from_flags(exit: bool, failure: bool, exit_code_from: bool) -> Result<Cascade> {
        match (exit || (exit_code_from && !failure), failure) {
            (true, true) => Err(msg(
                "--abort-on-container-failure cannot be combined with --abort-on-container-exit",
            )),
            (true, false) => Ok(Cascade::Stop),
            (false, true) => Ok(Cascade::Fail),
            (false, false) => Ok(Cascade::Ignore),
        }
    }
}

/// The exits of an attached `up`, as compose's stopOnFirstExit and
/// captureExitCodeFrom listeners record them; shared by the threads that
/// see the exits.
#[derive(Debug, Default)]
pub struct ExitTracker {
    cascade: Cascade,
    exit_code_from: Option<String>,
    state: Mutex<ExitState>,
}

#[derive(Debug, Default)]
struct ExitState {
    aborted: bool,
    captured: bool,
    code: i32,
}

impl ExitTracker {
    pub fn new(cascade: Cascade, exit_code_from: Option<String>) -> ExitTracker {
        ExitTracker {
            cascade,
            exit_code_from,
            state: Mutex::default(),
        }
    }

    /// A container of `service` exited with `code`; true when this exit
    /// is the one that stops the project (once).
    pub fn exited(&self, service: &str, code: i32) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut abort = false;
        let fires = match self.cascade {
            Cascade::Ignore => false,
            Cascade::Stop => true,
            Cascade::Fail => code != 0,
        };
        if fires && !s.aborted {
            s.aborted = true;
            s.code = code;
            abort = true;
        }
        if !s.captured && self.exit_code_from.as_deref() == Some(service) {
            s.captured = true;
            s.code = code;
        }
        abort
    }

    /// `up`'s exit code: the exit that stopped the project, or the first
    /// exit of `--exit-code-from`'s service (which wins); 0 otherwise.
    pub fn code(&self) -> i32 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cascade_flags_as_compose() {
        assert_eq!(
            Cascade::from_flags(false, false, false).unwrap(),
            Cascade::Ignore
        );
        assert_eq!(
            Cascade::from_flags(true, false, false).unwrap(),
            Cascade::Stop
        );
        assert_eq!(
            Cascade::from_flags(false, false, true).unwrap(),
            Cascade::Stop
        );
        assert_eq!(
            Cascade::from_flags(false, true, true).unwrap(),
            Cascade::Fail
        );
        assert_eq!(
            Cascade::from_flags(false, true, false).unwrap(),
            Cascade::Fail
        );
        assert!(Cascade::from_flags(true, true, false)
            .unwrap_err()
            .to_string()
            .contains("cannot be combined"));
    }

    #[test]
    fn first_exit_stops_and_gives_the_code() {
        let t = ExitTracker::new(Cascade::Stop, None);
        assert!(t.exited("a", 3));
        assert!(!t.exited("b", 0), "once");
        assert_eq!(t.code(), 3);
        // failure: a clean exit does not fire
        let t = ExitTracker::new(Cascade::Fail, None);
        assert!(!t.exited("a", 0));
        assert_eq!(t.code(), 0);
        assert!(t.exited("b", 2));
        assert_eq!(t.code(), 2);
        // nothing cascades without a flag, and the code stays 0
        let t = ExitTracker::new(Cascade::Ignore, None);
        assert!(!t.exited("a", 9));
        assert_eq!(t.code(), 0);
    }

    #[test]
    fn exit_code_from_wins_over_the_first_exit() {
        let t = ExitTracker::new(Cascade::Stop, Some("test".into()));
        assert!(t.exited("srv", 1));
        assert!(!t.exited("test", 143));
        assert!(!t.exited("test", 5), "its first exit only");
        assert_eq!(t.code(), 143);
    }
}
