//! compose's graph traversal (`InDependencyOrder`,
//! `InReverseDependencyOrder`): each service is visited on its own thread
//! once every service it depends on (or, going down, every service that
//! depends on it) has been visited; independent ones run at the same time,
//! at most `limit` at once (0: no limit, compose's default). The first
//! error stops new visits; those under way finish; it is returned.
//! Events of the visits reach `report` on the calling thread.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;

use crate::{Event, Report, Result};

/// Which way the edges are followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Dependencies first (up, start).
    Up,
    /// Dependents first (down, stop).
    Down,
}

enum Msg {
    Event(Event),
    Done(String, Result<()>),
}

/// Visits `nodes` (`deps`: each node's dependencies among them) in
/// `dir` order with `visit(node, report)`.
pub fn traverse<F>(
    nodes: &[String],
    deps: &BTreeMap<String, BTreeSet<String>>,
    dir: Direction,
    limit: usize,
    report: Report,
    visit: F,
) -> Result<()>
where
    F: Fn(&str, Report) -> Result<()> + Sync,
{
    let set: BTreeSet<&String> = nodes.iter().collect();
    // waits[n]: what must be visited before n
    let mut waits: BTreeMap<&str, BTreeSet<&str>> = nodes
        .iter()
        .map(|n| (n.as_str(), BTreeSet::new()))
        .collect();
    for n in nodes {
        for d in deps.get(n).into_iter().flatten() {
            if !set.contains(d) || d == n {
                continue;
            }
            match dir {
                Direction::Up => waits.get_mut(n.as_str()).map(|w| w.insert(d.as_str())),
                Direction::Down => waits.get_mut(d.as_str()).map(|w| w.insert(n.as_str())),
            };
        }
    }
    let visit = &visit;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Msg>();
        let mut pending: Vec<&str> = nodes.iter().map(String::as_str).collect();
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut running = 0usize;
        let mut first_err = None;
        loop {
            if first_err.is_none() {
                let mut i = 0;
                while i < pending.len() {
                    if limit > 0 && running >= limit {
                        break;
                    }
                    let n = pending[i];
                    if waits[n].iter().all(|d| done.contains(d)) {
                        pending.remove(i);
                        running += 1;
                        let tx = tx.clone();
                        scope.spawn(move || {
                            let sink = tx.clone();
                            let mut rep = move |e: Event| {
                                let _ = sink.send(Msg::Event(e));
                            };
                            // a panicking visit still reports back: the
                            // loop below waits for every Done
                            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                visit(n, &mut rep)
                            }))
                            .unwrap_or_else(|p| {
                                let why = p
                                    .downcast_ref::<&str>()
                                    .map(|s| s.to_string())
                                    .or_else(|| p.downcast_ref::<String>().cloned())
                                    .unwrap_or_default();
                                Err(crate::Error::Msg(format!(
                                    "service {n}: internal error (panic: {why})"
                                )))
                            });
                            let _ = tx.send(Msg::Done(n.to_string(), r));
                        });
                    } else {
                        i += 1;
                    }
                }
            }
            if running == 0 {
                break;
            }
            match rx.recv() {
                Ok(Msg::Event(e)) => report(e),
                Ok(Msg::Done(n, r)) => {
                    running -= 1;
                    if let Some(k) = nodes.iter().find(|x| **x == n) {
                        done.insert(k.as_str());
                    }
                    if let Err(e) = r {
                        first_err.get_or_insert(e);
                    }
                }
                Err(_) => break,
            }
        }
        drop(tx);
        // events sent after the last Done
        while let Ok(Msg::Event(e)) = rx.try_recv() {
            report(e);
        }
        if pending.is_empty() || first_err.is_some() {
            first_err.map_or(Ok(()), Err)
        } else {
            Err(crate::Error::Msg(format!(
                "dependency cycle between services {}",
                pending.join(", ")
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier, Mutex};

    fn graph(edges: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
        }
        g
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn independent_ones_run_together_dependents_after() {
        // a and b meet at a barrier: only possible if they run at once
        let barrier = Arc::new(Barrier::new(2));
        let log = Mutex::new(Vec::new());
        let g = graph(&[("c", "a"), ("c", "b")]);
        let mut events = Vec::new();
        traverse(
            &names(&["a", "b", "c"]),
            &g,
            Direction::Up,
            0,
            &mut |e| events.push(e.name),
            |n, rep| {
                if n != "c" {
                    barrier.wait();
                }
                log.lock().unwrap().push(n.to_string());
                rep(Event {
                    kind: "Container",
                    name: n.to_string(),
                    status: "Started".into(),
                });
                Ok(())
            },
        )
        .unwrap();
        let log = log.into_inner().unwrap();
        assert_eq!(log[2], "c");
        assert_eq!(events.len(), 3);
    }

    #[test]
    fn down_visits_dependents_first_and_an_error_stops_the_rest() {
        let g = graph(&[("web", "db"), ("db", "vol")]);
        let log = Mutex::new(Vec::new());
        traverse(
            &names(&["db", "vol", "web"]),
            &g,
            Direction::Down,
            1,
            &mut |_| {},
            |n, _| {
                log.lock().unwrap().push(n.to_string());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(log.into_inner().unwrap(), names(&["web", "db", "vol"]));
        let log = Mutex::new(Vec::new());
        let r = traverse(
            &names(&["db", "vol", "web"]),
            &g,
            Direction::Up,
            0,
            &mut |_| {},
            |n, _| {
                log.lock().unwrap().push(n.to_string());
                if n == "vol" {
                    return Err(crate::Error::Msg("boom".into()));
                }
                Ok(())
            },
        );
        assert!(r.unwrap_err().to_string().contains("boom"));
        assert_eq!(log.into_inner().unwrap(), names(&["vol"]));
    }

    #[test]
    fn a_panicking_visit_is_an_error_not_a_hang() {
        let g = graph(&[("web", "db")]);
        let log = Mutex::new(Vec::new());
        let r = traverse(
            &names(&["db", "cache", "web"]),
            &g,
            Direction::Up,
            0,
            &mut |_| {},
            |n, _| {
                log.lock().unwrap().push(n.to_string());
                if n == "db" {
                    panic!("visit of db blew up");
                }
                Ok(())
            },
        );
        let e = r.unwrap_err().to_string();
        assert!(e.contains("service db") && e.contains("blew up"), "{e}");
        // web depends on db: never visited
        assert!(!log.into_inner().unwrap().contains(&"web".to_string()));
    }
}
