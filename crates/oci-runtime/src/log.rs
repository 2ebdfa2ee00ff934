//! Runtime logging, runc-style: `--log FILE` and `--log-format text|json`.
//! Errors and warnings also go to stderr.

use std::io::Write;
use std::sync::OnceLock;

struct Logger {
    file: Option<std::sync::Mutex<std::fs::File>>,
    json: bool,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets up logging once, at startup.
pub fn init(path: Option<&std::path::Path>, json: bool, debug: bool) {
    let file = path.and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    let _ = LOGGER.set(Logger {
        file: file.map(std::sync::Mutex::new),
        json,
        debug,
    });
}

fn write(level: &str, msg: &str, stderr: bool) {
    let l = LOGGER.get();
    if let Some(Logger {
        file: Some(f),
        json,
        ..
    }) = l
    {
        let time = berth_util::time::now();
        let line = if *json {
            serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
        } else {
            format!("time=\"{time}\" level={level} msg={msg:?}")
        };
        if let Ok(mut f) = f.lock() {
            let _ = writeln!(f, "{line}");
        }
    }
    if stderr {
        eprintln!("berth-oci: {msg}");
    }
}

pub fn error(msg: &str) {
    write("error", msg, true);
}

pub fn warn(msg: &str) {
    write("warning", msg, true);
}

pub fn debug(msg: &str) {
    if LOGGER.get().is_some_and(|l| l.debug) {
        write("debug", msg, false);
    }
}

/// Whether a log file was given (then errors need not also go to stderr).
pub fn has_file() -> bool {
    LOGGER.get().is_some_and(|l| l.file.is_some())
}
