//! docker compose v2's progress output (on stderr) of the runner's
//! [`Event`]s: `--progress auto|tty|plain|json|quiet`. `tty` is a live
//! view (one spinner line per resource, `✔` and the time it took once
//! done; indicatif), `plain` one line per change as compose's plain
//! writer prints it, `json` one object per change, `quiet` nothing.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use berth_compose_run::Event;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::CliError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tty,
    Plain,
    Json,
    Quiet,
}

impl Mode {
    /// The `--progress` value (`auto`: tty on a terminal, else plain).
    pub fn parse(v: &str) -> Result<Mode, CliError> {
        Ok(match v {
            "" | "auto" => {
                if std::io::stderr().is_terminal() {
                    Mode::Tty
                } else {
                    Mode::Plain
                }
            }
            "tty" => Mode::Tty,
            "plain" => Mode::Plain,
            "json" => Mode::Json,
            "quiet" => Mode::Quiet,
            v => {
                return Err(CliError::new(format!(
                    "invalid --progress {v:?}: expected auto, tty, plain, json or quiet"
                )))
            }
        })
    }
}

struct Line {
    bar: ProgressBar,
    began: Instant,
    done: bool,
}

struct TtyView {
    multi: MultiProgress,
    lines: HashMap<String, Line>,
}

struct Progress {
    mode: Mode,
    tty: Mutex<Option<TtyView>>,
}

static PROGRESS: OnceLock<Progress> = OnceLock::new();

/// Chooses the output for this process (once; later calls are ignored).
pub fn init(mode: Mode) {
    let _ = PROGRESS.set(Progress {
        mode,
        tty: Mutex::new(None),
    });
}

/// The identity docker compose prints first: `Container p-web-1`,
/// `Network p_default`, or the bare name (a service's pull, a copy).
fn id_of(e: &Event) -> String {
    if e.kind.is_empty() {
        e.name.clone()
    } else {
        format!("{} {}", e.kind, e.name)
    }
}

/// A status still in progress (a spinner on a tty) rather than an outcome.
fn working(status: &str) -> bool {
    matches!(
        status,
        "Creating"
            | "Starting"
            | "Stopping"
            | "Removing"
            | "Recreate"
            | "Restarting"
            | "Pulling"
            | "Pushing"
            | "Waiting"
            | "Copying"
            | "Killing"
    )
}

/// docker compose's line for an event on plain output.
pub fn plain_line(e: &Event) -> String {
    if e.kind == "Warning" {
        return format!("WARN[0000] {}", e.status);
    }
    if e.kind == "Build" || e.kind == "Watch" {
        // the builder's step lines and the watch's messages, as they are
        return e.status.clone();
    }
    format!(" {}  {}", id_of(e), e.status)
}

/// docker compose's `--progress json` object for an event.
pub fn json_line(e: &Event) -> String {
    if e.kind == "Warning" {
        return serde_json::json!({"tail": true, "text": e.status}).to_string();
    }
    // (compose 2.40's shape: the status text under "status")
    serde_json::json!({"id": id_of(e), "status": e.status}).to_string()
}

/// Reports one event in the chosen mode (plain if none was chosen).
pub fn event(e: Event) {
    let mode = PROGRESS.get().map(|p| p.mode).unwrap_or(Mode::Plain);
    match mode {
        Mode::Quiet => {
            if e.kind == "Warning" {
                eprintln!("{}", plain_line(&e));
            }
        }
        Mode::Plain => eprintln!("{}", plain_line(&e)),
        Mode::Json => eprintln!("{}", json_line(&e)),
        Mode::Tty => {
            let Some(p) = PROGRESS.get() else { return };
            let mut g = p.tty.lock().unwrap_or_else(|e| e.into_inner());
            let view = g.get_or_insert_with(|| TtyView {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
                lines: HashMap::new(),
            });
            if e.kind == "Warning" || e.kind == "Build" || e.kind == "Watch" {
                let _ = view.multi.println(plain_line(&e));
                return;
            }
            let id = id_of(&e);
            let spinner = || {
                ProgressStyle::with_template(" {spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner())
                    .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✔")
            };
            let line = view.lines.entry(id.clone()).or_insert_with(|| {
                let bar = view.multi.add(ProgressBar::new_spinner());
                bar.set_style(spinner());
                bar.enable_steady_tick(Duration::from_millis(100));
                Line {
                    bar,
                    began: Instant::now(),
                    done: false,
                }
            });
            let took = format!("{:.1}s", line.began.elapsed().as_secs_f64());
            if working(&e.status) {
                if line.done {
                    line.bar.set_style(spinner());
                }
                line.done = false;
                line.bar.set_message(format!("{id}  {}  {took}", e.status));
            } else {
                let mark = if e.status == "Error" { "✘" } else { "✔" };
                line.bar.set_style(
                    ProgressStyle::with_template(" {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                line.bar
                    .set_message(format!("{mark} {id}  {}  {took}", e.status));
                line.bar.tick();
                line.done = true;
            }
        }
    }
}

/// Ends the live view (every line left as last drawn).
pub fn finish() {
    let Some(p) = PROGRESS.get() else { return };
    let mut g = p.tty.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(view) = g.take() {
        for l in view.lines.values() {
            if l.done {
                l.bar.finish();
            } else {
                l.bar.abandon();
            }
        }
        let _ = view.multi.clear();
        // draw the final state once more as plain lines
        let mut lines: Vec<(&String, &Line)> = view.lines.iter().collect();
        lines.sort_by_key(|(_, l)| l.began);
        for (_, l) in lines {
            eprintln!(" {}", l.bar.message());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_json_lines() {
        let e = Event {
            kind: "Container",
            name: "p-web-1".into(),
            status: "Started".into(),
        };
        assert_eq!(plain_line(&e), " Container p-web-1  Started");
        assert_eq!(
            json_line(&e),
            r#"{"id":"Container p-web-1","status":"Started"}"#
        );
        let w = Event {
            kind: "",
            name: "web".into(),
            status: "Pulling".into(),
        };
        assert_eq!(plain_line(&w), " web  Pulling");
        assert!(Mode::parse("fancy").is_err());
        assert_eq!(Mode::parse("plain").unwrap(), Mode::Plain);
    }
}
