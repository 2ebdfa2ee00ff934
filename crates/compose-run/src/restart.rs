//! Recreate as compose v2 does it (create the new container under a
//! temporary name, stop and remove the old one, rename the new: a failed
//! create leaves the old one running), `depends_on.restart: true` (the
//! dependents of a recreated or restarted service are stopped and started
//! again), and `compose restart`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use berth_compose::ServiceConfig;

use crate::order::{self, Direction};
use crate::{stop_timeout, Compose, ContainerRow, Event, FirstContainers, Report, Result};

/// What an `up` did that later services of the same `up` need to know.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Containers stopped because a dependency (`restart: true`) was
    /// recreated.
    pub stopped: BTreeSet<String>,
    /// Services with a container recreated.
    pub recreated: BTreeSet<String>,
}

impl Compose {
    /// Replaces container `old` of `s` (number `number`, name `name`);
    /// the `restart: true` dependents among `existing` are stopped (and
    /// noted in `progress`) once the new container exists; `inherit`: the
    /// new container takes over the old one's anonymous volumes.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn recreate(
        &self,
        s: &ServiceConfig,
        number: u32,
        name: &str,
        image_id: &str,
        firsts: &FirstContainers,
        old: &ContainerRow,
        existing: &[ContainerRow],
        inherit: bool,
        progress: &Mutex<Progress>,
        report: Report,
    ) -> Result<String> {
        let old_id = &old.summary.id;
        let inherit = if inherit {
            self.engine
                .container(old_id)
                .map(|(c, _)| c.mounts)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let tmp = format!("{}_{name}", &old_id[..old_id.len().min(12)]);
        let id = self.create_container(s, number, &tmp, image_id, firsts, &inherit, report)?;
        // the `restart: true` dependents stop only once the new container
        // exists: a failed create leaves them running
        if let Err(e) = self.stop_dependents(s, existing, progress, report) {
            let _ = self.engine.remove(&id, true);
            return Err(e);
        }
        if let Err(e) = self.remove_container(old, stop_timeout(s), false) {
            let _ = self.engine.remove(&id, true);
            return Err(e);
        }
        self.engine.rename(&id, name).map_err(|e| {
            crate::Error::Msg(format!(
                "recreating {name}: renaming {tmp} to {name}: {e} (the next up finishes it)"
            ))
        })?;
        Ok(id)
    }

    /// The containers of `s` among `mine` once the recreates cut short
    /// are dealt with: a container under a recreate's temporary name
    /// (`<12 hex>_<name>`: its rename failed, or the `up` was killed)
    /// takes its name if the container it replaced is gone (the recreate
    /// finished), or goes if that one is still there (the recreate
    /// undone; the usual hash comparison decides again).
    pub(crate) fn finish_recreates<'a>(
        &self,
        s: &ServiceConfig,
        mine: Vec<&'a ContainerRow>,
        report: Report,
    ) -> Result<Vec<std::borrow::Cow<'a, ContainerRow>>> {
        let mut out = Vec::new();
        for r in &mine {
            let name = self.container_name(s, r.number);
            if !is_recreate_temp(&r.summary.names, &name) {
                out.push(std::borrow::Cow::Borrowed(*r));
                continue;
            }
            let replaced_left = mine
                .iter()
                .any(|o| o.number == r.number && o.summary.names == name);
            if replaced_left {
                self.engine.remove(&r.summary.id, true)?;
                report(Event {
                    kind: "Warning",
                    name: r.summary.names.clone(),
                    status: format!(
                        "container {}: a recreate of {name} cut short, removed",
                        r.summary.names
                    ),
                });
                continue;
            }
            self.engine.rename(&r.summary.id, &name).map_err(|e| {
                crate::Error::Msg(format!(
                    "finishing the recreate of {name}: renaming {} to {name}: {e}",
                    r.summary.names
                ))
            })?;
            report(Event {
                kind: "Warning",
                name: name.clone(),
                status: format!(
                    "container {}: a recreate of {name} cut short, finished (renamed {name})",
                    r.summary.names
                ),
            });
            let mut done = (*r).clone();
            done.summary.names = name;
            out.push(std::borrow::Cow::Owned(done));
        }
        Ok(out)
    }

    /// The services that depend on `service` with `restart: true`.
    fn restart_dependents(&self, service: &str) -> Vec<&ServiceConfig> {
        self.project
            .services
            .values()
            .filter(|d| d.depends_on.get(service).is_some_and(|c| c.restart))
            .collect()
    }

    /// Before `s` is recreated: the running containers of the services
    /// depending on it with `restart: true` stopped (compose's
    /// planStopDependents); they start again after it.
    pub(crate) fn stop_dependents(
        &self,
        s: &ServiceConfig,
        existing: &[ContainerRow],
        progress: &Mutex<Progress>,
        report: Report,
    ) -> Result<()> {
        for d in self.restart_dependents(&s.name) {
            for r in existing
                .iter()
                .filter(|r| r.service == d.name && !r.oneoff())
            {
                if progress
                    .lock()
                    .map(|p| p.stopped.contains(&r.summary.id))
                    .unwrap_or(false)
                {
                    continue;
                }
                let running = self
                    .engine
                    .state(&r.summary.id)
                    .map(|st| st.status.is_active())
                    .unwrap_or(false);
                if !running {
                    continue;
                }
                self.engine.stop(&r.summary.id, stop_timeout(d))?;
                if let Ok(mut p) = progress.lock() {
                    p.stopped.insert(r.summary.id.clone());
                }
                report(Event {
                    kind: "Container",
                    name: r.summary.names.clone(),
                    status: "Stopped".into(),
                });
            }
        }
        Ok(())
    }

    /// After a failed `up`: the containers it stopped for a dependency's
    /// recreate started again, best effort (the error being returned is
    /// the one that matters).
    pub(crate) fn restart_stopped(&self, progress: &Mutex<Progress>) {
        let stopped = match progress.lock() {
            Ok(mut p) => std::mem::take(&mut p.stopped),
            Err(_) => return,
        };
        for id in stopped {
            let _ = self.engine.start(&id);
        }
    }

    /// Whether a service whose namespace or volumes `s` shares
    /// (`service:NAME`, `volumes_from`) was recreated: its containers
    /// must be too (compose's parentNamespaceRecreated).
    pub(crate) fn parent_recreated(&self, s: &ServiceConfig, progress: &Mutex<Progress>) -> bool {
        let Ok(p) = progress.lock() else {
            return false;
        };
        let modes = [&s.network_mode, &s.ipc, &s.pid];
        let by_mode = modes
            .iter()
            .filter_map(|m| m.strip_prefix("service:"))
            .any(|n| p.recreated.contains(n));
        let by_volumes = s
            .volumes_from
            .iter()
            .filter(|v| !v.starts_with("container:"))
            .any(|v| p.recreated.contains(v.split(':').next().unwrap_or("")));
        by_mode || by_volumes
    }

    /// `restart`: the containers of `services` (all if empty) and of
    /// the services depending on them with `restart: true`, dependencies
    /// first (in parallel where independent), each service once the
    /// services it depends on are running again.
    pub fn restart(&self, services: &[String], timeout: Option<i64>, report: Report) -> Result<()> {
        for n in services {
            self.service(n)?;
        }
        // only the `restart: true` edges matter (compose's
        // prepareRestartProject)
        let graph: BTreeMap<String, BTreeSet<String>> = self
            .project
            .services
            .iter()
            .map(|(n, s)| {
                let deps = s
                    .depends_on
                    .iter()
                    .filter(|(_, c)| c.restart)
                    .map(|(d, _)| d.clone())
                    .collect();
                (n.clone(), deps)
            })
            .collect();
        let mut want: BTreeSet<String> = if services.is_empty() {
            self.project.services.keys().cloned().collect()
        } else {
            services.iter().cloned().collect()
        };
        loop {
            let more: Vec<String> = graph
                .iter()
                .filter(|(n, deps)| !want.contains(*n) && deps.iter().any(|d| want.contains(d)))
                .map(|(n, _)| n.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            want.extend(more);
        }
        let want: Vec<String> = want.into_iter().collect();
        let rows = self.targets(&want, None)?;
        let want_ref = &want;
        order::traverse(&want, &graph, Direction::Up, 0, report, |n, report| {
            let t = timeout.or_else(|| self.project.services.get(n).and_then(stop_timeout));
            // as compose: the conditions of the dependencies restarted
            // before it hold again first
            if let Some(s) = self.project.services.get(n) {
                for (dep, c) in s.depends_on.iter().filter(|(_, c)| c.restart) {
                    if want_ref.contains(dep) {
                        self.wait_dependency(n, dep, &c.condition, None)?;
                    }
                }
            }
            for r in rows.iter().filter(|r| r.service == n) {
                report(Event {
                    kind: "Container",
                    name: r.summary.names.clone(),
                    status: "Restarting".into(),
                });
                self.engine
                    .restart(&r.summary.id, t)
                    .map_err(|e| crate::Error::Msg(format!("{}: {e}", r.summary.names)))?;
                report(Event {
                    kind: "Container",
                    name: r.summary.names.clone(),
                    status: "Started".into(),
                });
            }
            Ok(())
        })
    }
}

/// Whether `actual` is the temporary name a recreate gives the container
/// that replaces `name` (`<the old id's first 12 hex digits>_<name>`).
fn is_recreate_temp(actual: &str, name: &str) -> bool {
    actual
        .strip_suffix(name)
        .and_then(|p| p.strip_suffix('_'))
        .is_some_and(|p| p.len() == 12 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::is_recreate_temp;

    #[test]
    fn a_recreates_temporary_name_is_told_from_others() {
        assert!(is_recreate_temp("0123456789ab_proj-web-1", "proj-web-1"));
        assert!(!is_recreate_temp("proj-web-1", "proj-web-1"));
        assert!(!is_recreate_temp("x_proj-web-1", "proj-web-1"));
        assert!(!is_recreate_temp("0123456789ab_proj-web-12", "proj-web-1"));
        assert!(!is_recreate_temp("0123456789zz_proj-web-1", "proj-web-1"));
    }
}
