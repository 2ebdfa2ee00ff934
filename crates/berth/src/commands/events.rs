//! `berth events` (`system events`): flags to [`engine::EventsOptions`],
//! the engine's reader, and docker's output (its default line, `--format`
//! templates, `json`).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::containers::op_err;
use super::CmdResult;
use crate::cli::events::EventsArgs;
use crate::error::CliError;
use crate::template::Template;
use crate::Globals;
use ::engine::events::Message;

/// How each event prints.
enum Output {
    Pretty,
    Json,
    Template(Template),
}

/// docker's `--format`: `json` and `{{json .}}` print the message's JSON
/// (its API field names: `scope`, `timeNano`...), a template sees Go's
/// field names (`.Scope`, `.TimeNano`, `.Actor.Attributes`).
fn output(format: Option<&str>) -> Result<Output, CliError> {
    let Some(f) = format.filter(|f| !f.is_empty()) else {
        return Ok(Output::Pretty);
    };
    let compact: String = f.chars().filter(|c| !c.is_whitespace()).collect();
    if f == "json" || compact == "{{json.}}" {
        return Ok(Output::Json);
    }
    let parse_err = |e: String| CliError {
        msg: format!("Error parsing format: {e}"),
        code: 64,
    };
    let t = Template::parse(f).map_err(parse_err)?;
    // As docker: run it on an empty message to refuse `{{.NoSuchField}}` now.
    t.render(&Message::default().template_value())
        .map_err(parse_err)?;
    Ok(Output::Template(t))
}

/// docker's `rfc3339NanoFixed` (nine fraction digits), in UTC.
fn fixed_time(nanos: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos.max(0) as u64);
    ::engine::timeutil::format(t)
}

pub fn run(g: &Globals, a: EventsArgs) -> CmdResult {
    let out_kind = output(a.format.as_deref())?;
    let opts = ::engine::EventsOptions::parse(&a.since, &a.until, &a.filter).map_err(op_err)?;
    let eng = g.engine()?;
    // SIGINT and SIGTERM end the stream cleanly (exit 0, output flushed).
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(stop.clone());
    // Buffered: the history is written in large writes, and the buffer is
    // flushed whenever the reader has caught up (before it waits).
    let out = std::cell::RefCell::new(std::io::BufWriter::with_capacity(
        64 << 10,
        std::io::stdout().lock(),
    ));
    let failure: std::cell::RefCell<Option<CliError>> = std::cell::RefCell::new(None);
    let write_failed = |e: std::io::Error| {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            *failure.borrow_mut() = Some(CliError::new(format!("write to stdout: {e}")));
        }
    };
    let mut print = |m: Message| -> bool {
        let line = match &out_kind {
            Output::Pretty => m.pretty(fixed_time),
            Output::Json => serde_json::to_string(&m).unwrap_or_default(),
            Output::Template(t) => match t.render(&m.template_value()) {
                Ok(s) => s,
                Err(e) => {
                    *failure.borrow_mut() = Some(CliError::new(e));
                    return false;
                }
            },
        };
        match writeln!(out.borrow_mut(), "{line}") {
            Ok(()) => true,
            Err(e) => {
                write_failed(e);
                false
            }
        }
    };
    let caught_up = || {
        if let Err(e) = out.borrow_mut().flush() {
            write_failed(e);
            return true;
        }
        stop.load(Ordering::Relaxed) || failure.borrow().is_some()
    };
    let r = eng.events(&opts, &caught_up, &mut print);
    if let Err(e) = out.borrow_mut().flush() {
        write_failed(e);
    }
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    r.map_err(op_err)
}

/// Sets `stop` when SIGINT or SIGTERM arrives (they are blocked and taken
/// by a thread, so the reader ends between two events).
pub(crate) fn stop_on_signals(stop: Arc<AtomicBool>) {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    if set.thread_block().is_err() {
        return;
    }
    std::thread::spawn(move || {
        if set.wait().is_ok() {
            stop.store(true, Ordering::Relaxed);
        }
    });
}
