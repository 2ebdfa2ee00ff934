//! Docker-like transfer progress for `pull` and `push`: one bar per layer
//! on a terminal (indicatif), one line per state change otherwise.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use image::Digest;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use registry::{LayerState, Progress};

use crate::fmt::human_size;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bars redrawn in place.
    Tty,
    /// A line per state change.
    Plain,
    /// Nothing.
    Quiet,
}

/// Pull or push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Pull,
    Push,
}

struct Entry {
    bar: Option<ProgressBar>,
    state: LayerState,
    /// Position in first-seen order.
    seq: usize,
}

/// Progress reporter for one transfer.
pub struct Transfer {
    mode: Mode,
    dir: Direction,
    multi: MultiProgress,
    entries: Mutex<HashMap<Digest, Entry>>,
    /// Blobs not shown (the config, on push).
    hidden: HashSet<Digest>,
    /// Repository blobs are mounted from, when there is only one candidate.
    mounted_from: Option<String>,
    /// Write to stderr instead of stdout (the pull `run` does first).
    to_stderr: bool,
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg:<11} [{bar:50}] {dpos:>7}/{dlen}")
        .expect("valid template")
        .progress_chars("=> ")
        .with_key("dpos", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}", human_size(s.pos()));
        })
        .with_key("dlen", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}", human_size(s.len().unwrap_or(0)));
        })
}

fn line_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg}").expect("valid template")
}

impl Transfer {
    pub fn new(mode: Mode, dir: Direction) -> Transfer {
        let target = if mode == Mode::Tty {
            ProgressDrawTarget::stdout_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        };
        Transfer {
            mode,
            dir,
            multi: MultiProgress::with_draw_target(target),
            entries: Mutex::new(HashMap::new()),
            hidden: HashSet::new(),
            mounted_from: None,
            to_stderr: false,
        }
    }

    /// Progress on stderr (for `run`/`create`, whose stdout is the
    /// container's output or id).
    pub fn new_stderr(mode: Mode, dir: Direction) -> Transfer {
        let target = if mode == Mode::Tty {
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        };
        let mut t = Transfer::new(Mode::Quiet, dir);
        t.mode = mode;
        t.multi = MultiProgress::with_draw_target(target);
        t.to_stderr = true;
        t
    }

    fn emit(&self, line: &str) {
        if self.to_stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    pub fn hide(mut self, d: Digest) -> Transfer {
        self.hidden.insert(d);
        self
    }

    pub fn mounted_from(mut self, repo: Option<String>) -> Transfer {
        self.mounted_from = repo;
        self
    }

    /// Print a header line (before any bar is drawn).
    pub fn println(&self, line: &str) {
        if self.mode != Mode::Quiet {
            self.emit(line);
        }
    }

    /// Replace the bars by one line per layer in its final state.
    pub fn finish(&self) {
        if self.mode != Mode::Tty {
            return;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<(&Digest, &Entry)> = entries.iter().collect();
        v.sort_by_key(|(_, e)| e.seq);
        for (_, e) in &v {
            if let Some(b) = &e.bar {
                b.finish_and_clear();
            }
        }
        let _ = self.multi.clear();
        for (d, e) in v {
            self.emit(&format!("{}: {}", d.short(), self.text(e.state)));
        }
    }

    fn text(&self, state: LayerState) -> String {
        match (self.dir, state) {
            (Direction::Pull, LayerState::Waiting) => "Pulling fs layer".into(),
            (Direction::Push, LayerState::Waiting) => "Preparing".into(),
            (Direction::Push, LayerState::Exists) => "Layer already exists".into(),
            (Direction::Push, LayerState::Mounted) => match &self.mounted_from {
                Some(r) => format!("Mounted from {r}"),
                None => state.docker_text().into(),
            },
            _ => state.docker_text().into(),
        }
    }
}

fn is_final(s: LayerState) -> bool {
    matches!(
        s,
        LayerState::Exists | LayerState::Complete | LayerState::Pushed | LayerState::Mounted
    )
}

fn is_transfer(s: LayerState) -> bool {
    matches!(s, LayerState::Downloading | LayerState::Pushing)
}

impl Progress for Transfer {
    fn note(&self, message: &str) {
        eprintln!("WARNING: {message}");
    }

    fn layer(&self, digest: &Digest, size: u64, state: LayerState) {
        if self.mode == Mode::Quiet || self.hidden.contains(digest) {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let text = self.text(state);
        let short = digest.short().to_string();
        match entries.get_mut(digest) {
            Some(e) if e.state == state => {}
            Some(e) => {
                e.state = state;
                if let Some(b) = &e.bar {
                    if is_transfer(state) {
                        b.set_style(bar_style());
                        b.set_length(size);
                    } else {
                        b.set_style(line_style());
                    }
                    if is_final(state) {
                        b.finish_with_message(text);
                    } else {
                        b.set_message(text);
                    }
                } else {
                    self.emit(&format!("{short}: {text}"));
                }
            }
            None => {
                let bar = if self.mode == Mode::Tty {
                    let b = self.multi.add(ProgressBar::new(size));
                    b.set_style(if is_transfer(state) {
                        bar_style()
                    } else {
                        line_style()
                    });
                    b.set_prefix(short.clone());
                    if is_final(state) {
                        b.finish_with_message(text);
                    } else {
                        b.set_message(text);
                        b.enable_steady_tick(Duration::from_millis(200));
                    }
                    Some(b)
                } else {
                    self.emit(&format!("{short}: {text}"));
                    None
                };
                let seq = entries.len();
                entries.insert(digest.clone(), Entry { bar, state, seq });
            }
        }
    }

    fn bytes(&self, digest: &Digest, done: u64, total: u64) {
        if self.mode != Mode::Tty {
            return;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Entry { bar: Some(b), .. }) = entries.get(digest) {
            if b.length() != Some(total) {
                b.set_length(total);
            }
            b.set_position(done);
        }
    }
}
