//! `berth build --progress tty` (and `auto` on a terminal): BuildKit's
//! live view on stderr. A header (`[+] Building 1.2s (3/7)`), one line
//! per running step (`=> [stage 2/5] RUN ...  1.2s`) with the last lines
//! of its output under it (`=> => # ...`), redrawn in place (cursor up,
//! clear to the end of the screen) as events come and every 100 ms for
//! the timers. Finished steps leave the live part for good, printed once
//! above it (`=> CACHED [..] ...`, `=> [..] ...  DONE 0.3s`): steps of
//! stages built at once each show while they run, and what stays on the
//! terminal at the end is the whole build, step by step.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use build_run::Event;

/// Output lines shown under a running step.
const TAIL: usize = 6;

struct Running {
    name: String,
    began: Instant,
    tail: VecDeque<String>,
    partial: Vec<u8>,
}

struct State {
    began: Instant,
    /// Running steps by number (shown in that order).
    running: BTreeMap<usize, Running>,
    started: usize,
    finished: usize,
    /// Lines to print once, above the live part, at the next draw.
    done: Vec<String>,
    /// Lines of the live part on the screen now.
    drawn: usize,
    last: Option<Instant>,
}

/// The live view; [`TtyView::event`] for each build event,
/// [`TtyView::finish`] at the end.
pub struct TtyView {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl TtyView {
    pub fn new() -> TtyView {
        let state = Arc::new(Mutex::new(State {
            began: Instant::now(),
            running: BTreeMap::new(),
            started: 0,
            finished: 0,
            done: vec![],
            drawn: 0,
            last: None,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                    if !s.running.is_empty() {
                        s.draw(false);
                    }
                }
            })
        };
        TtyView {
            state,
            stop,
            ticker: Some(ticker),
        }
    }

    pub fn event(&self, e: Event) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match e {
            Event::Step {
                n,
                stage,
                vertex: Some(v),
                ..
            } => {
                s.started += 1;
                s.running.insert(
                    n,
                    Running {
                        name: format!(
                            "{} {}",
                            build_run::step_label(stage, v.index, v.total),
                            one_line(v.name)
                        ),
                        began: now,
                        tail: VecDeque::new(),
                        partial: vec![],
                    },
                );
            }
            // No vertex: nothing to show (the caller's `Vertices` keeps
            // them out).
            Event::Step { .. } => return,
            Event::Cached { n } => {
                if let Some(r) = s.running.remove(&n) {
                    s.finished += 1;
                    s.done.push(format!("=> CACHED {}", r.name));
                }
            }
            Event::Done { n } => {
                if let Some(r) = s.running.remove(&n) {
                    s.finished += 1;
                    let secs = now.duration_since(r.began).as_secs_f64();
                    s.done.push(format!("=> {}  DONE {secs:.1}s", r.name));
                }
            }
            Event::Output { n, data } => {
                if let Some(r) = s.running.get_mut(&n) {
                    r.partial.extend_from_slice(data);
                    while let Some(k) = r.partial.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = r.partial.drain(..=k).collect();
                        r.tail.push_back(one_line(&String::from_utf8_lossy(&line)));
                        if r.tail.len() > TAIL {
                            r.tail.pop_front();
                        }
                    }
                }
                // Output alone redraws at most every 100 ms.
                if s.last
                    .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
                {
                    return;
                }
            }
            Event::Pulling { reference } => s.done.push(format!("=> pulling {reference}")),
            Event::Image { .. } => return,
            Event::Warning { message } => s.done.push(format!("WARNING: {message}")),
            Event::Exporting { what } => s.done.push(format!("=> exporting {what}")),
        }
        s.draw(false);
    }

    /// Stops the timers; the steps still running (a failed build) are
    /// left on the screen with their last output, marked `ERROR`/`CANCELED`
    /// (the first one failed, as the builder stops at its first error).
    pub fn finish(mut self, ok: bool) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let running = std::mem::take(&mut s.running);
        for (k, (_, r)) in running.into_iter().enumerate() {
            let secs = now.duration_since(r.began).as_secs_f64();
            let mark = if k == 0 && !ok { "ERROR" } else { "CANCELED" };
            s.done.push(format!("=> {mark} {}  {secs:.1}s", r.name));
            let mut tail = r.tail;
            if !r.partial.is_empty() {
                tail.push_back(one_line(&String::from_utf8_lossy(&r.partial)));
            }
            for l in tail {
                s.done.push(format!("=> => # {l}"));
            }
        }
        s.draw(true);
    }
}

impl State {
    /// Redraws: up over the live part, clear, the finished lines once,
    /// then the live part (fitted to the terminal, each line cut to its
    /// width so that none wraps).
    fn draw(&mut self, last: bool) {
        let (rows, cols) = crate::term::size(2).unwrap_or((24, 80));
        let cols = usize::from(cols).max(20);
        let now = Instant::now();
        let mut buf = String::new();
        if self.drawn > 0 {
            buf.push_str(&format!("\r\x1b[{}A", self.drawn));
        }
        buf.push_str("\x1b[J");
        for l in self.done.drain(..) {
            buf.push_str(&l);
            buf.push('\n');
        }
        let secs = now.duration_since(self.began).as_secs_f64();
        let mut live = vec![format!(
            "[+] Building {secs:.1}s ({}/{}){}",
            self.finished,
            self.started,
            if last { " FINISHED" } else { "" }
        )];
        for r in self.running.values() {
            let t = now.duration_since(r.began).as_secs_f64();
            live.push(with_time(&format!(" => {}", r.name), t, cols));
            for l in &r.tail {
                live.push(format!(" => => # {l}"));
            }
        }
        // Fits the screen: the header and the last lines.
        let room = usize::from(rows).saturating_sub(1).max(2);
        if live.len() > room {
            let cut = live.len() - (room - 1);
            live.drain(1..=cut);
        }
        for l in &live {
            buf.push_str(&cut_to(l, cols - 1));
            buf.push('\n');
        }
        self.drawn = if last {
            // The header stays: the view is done.
            0
        } else {
            live.len()
        };
        self.last = Some(now);
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(buf.as_bytes());
        let _ = err.flush();
    }
}

/// `line` with its time at the right edge (`  1.2s`).
fn with_time(line: &str, secs: f64, cols: usize) -> String {
    let t = format!("{secs:.1}s");
    let width = cols.saturating_sub(1);
    let room = width.saturating_sub(t.len() + 2);
    let l = cut_to(line, room);
    let pad = width.saturating_sub(l.chars().count() + t.len()).max(2);
    format!("{l}{}{t}", " ".repeat(pad))
}

/// At most `n` characters of `s`.
fn cut_to(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// `s` on one line: line breaks and tabs as spaces, other control
/// characters (a step's escape sequences) dropped.
fn one_line(s: &str) -> String {
    s.trim_end_matches(['\n', '\r'])
        .chars()
        .filter_map(|c| match c {
            '\n' | '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}
