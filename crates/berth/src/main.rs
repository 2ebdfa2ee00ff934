//! `berth`: a daemonless, Docker-compatible container engine CLI. This
//! binary only parses arguments and formats output; the work is done by
//! the `image`, `registry` and `engine` libraries.
#![deny(unsafe_code)]

mod cli;
mod cli_ext;
mod commands;
mod error;
mod fmt;
mod progress;
mod template;
#[allow(unsafe_code)]
mod term;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;

use crate::cli::Cli;
use crate::error::CliError;

/// Exit status docker uses for its own failures (usage errors).
pub const EXIT_USAGE: u8 = 125;

/// Global settings every command sees.
pub struct Globals {
    pub root: PathBuf,
    pub debug: bool,
}

impl Globals {
    /// Open the container engine at the root (berth is its own monitor).
    pub fn engine(&self) -> Result<::engine::Engine, CliError> {
        if self.debug {
            eprintln!("berth: debug: container store at {}", self.root.display());
        }
        commands::open_engine(&self.root)
    }

    /// Open the image store at the root.
    pub fn store(&self) -> Result<image::Store, CliError> {
        if self.debug {
            eprintln!("berth: debug: image store at {}", self.root.display());
        }
        image::Store::open(&self.root).map_err(|e| {
            CliError::daemon(format!(
                "cannot open the image store at {}: {e}",
                self.root.display()
            ))
        })
    }
}

/// `/var/lib/berth` for root, `~/.local/share/berth` otherwise.
fn default_root() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from(image::DEFAULT_ROOT);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    match data {
        Some(d) => d.join("berth"),
        None => PathBuf::from(image::DEFAULT_ROOT),
    }
}

/// Print a clap error as docker does and pick the exit status: unknown
/// flags and bad flag values are usage errors (125), missing or extra
/// arguments exit 1.
fn usage_error(e: clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::from(EXIT_USAGE);
        }
        _ => {}
    }
    // One line: a bad value names the flag and the value (docker's
    // `invalid argument "abc" for "--pids-limit" flag: ...`); anything
    // else is clap's message, with the line naming missing arguments
    // folded in, and the hint on the same line.
    let line = match value_error(&e) {
        Some(l) => l,
        None => {
            let rendered = e.render().to_string();
            let mut lines = rendered.lines().filter(|l| !l.trim().is_empty());
            let mut first = lines
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_string();
            if first.ends_with(':') {
                if let Some(next) = lines.next().filter(|l| !l.starts_with("Usage:")) {
                    first = format!("{first} {}", next.trim());
                }
            }
            format!("{first}; see 'berth --help'")
        }
    };
    eprintln!("berth: {line}");
    let flag_problem = match e.kind() {
        ErrorKind::UnknownArgument => matches!(
            e.get(ContextKind::InvalidArg),
            Some(ContextValue::String(s)) if s.starts_with('-')
        ),
        ErrorKind::MissingRequiredArgument
        | ErrorKind::TooFewValues
        | ErrorKind::WrongNumberOfValues
        | ErrorKind::InvalidSubcommand
        | ErrorKind::MissingSubcommand => false,
        _ => true,
    };
    ExitCode::from(if flag_problem { EXIT_USAGE } else { 1 })
}

/// `invalid argument "VALUE" for "--FLAG" flag: REASON` for a flag value
/// clap refused (docker's wording), on one line.
fn value_error(e: &clap::Error) -> Option<String> {
    if !matches!(
        e.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue | ErrorKind::InvalidUtf8
    ) {
        return None;
    }
    let flag = match e.get(ContextKind::InvalidArg) {
        // "--pids-limit <INT>" → "--pids-limit"; "-m, --memory" → "--memory".
        Some(ContextValue::String(s)) => s
            .split_whitespace()
            .next()
            .unwrap_or(s)
            .trim_end_matches(',')
            .to_string(),
        _ => return None,
    };
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(v)) => v.clone(),
        _ => String::new(),
    };
    let has_valid = matches!(
        e.get(ContextKind::ValidValue),
        Some(ContextValue::Strings(v)) if !v.is_empty()
    );
    if e.kind() == ErrorKind::InvalidValue && value.is_empty() && !has_valid {
        // docker's wording for a flag given without its value.
        return Some(format!("flag needs an argument: {flag}"));
    }
    let reason = match (e.kind(), e.get(ContextKind::ValidValue)) {
        (ErrorKind::InvalidValue, Some(ContextValue::Strings(valid))) if has_valid => {
            format!("possible values: {}", valid.join(", "))
        }
        (ErrorKind::InvalidUtf8, _) => "not valid UTF-8".to_string(),
        _ => std::error::Error::source(e)
            .map(|s| s.to_string())
            .unwrap_or_else(|| "invalid value".to_string()),
    };
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(format!(
        "invalid argument {value:?} for {flag:?} flag: {reason}"
    ))
}

fn main() -> ExitCode {
    // `berth internal VERB ...`: what the container monitor (berth-monitor)
    // asks of the full program (create-start, cleanup, healthcheck).
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The embedded DNS of a user network: `berth __network-dns STATE RUN NET`.
    if args.get(1).is_some_and(|a| a == ::network::dns::ARGV1) && args.len() == 5 {
        return network_dns(&args);
    }
    if args.get(1).is_some_and(|a| a == "internal") {
        let args: Vec<String> = args[2..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        // A developer's face of the Dockerfile parser (issue 13).
        if args.first().map(String::as_str) == Some("dockerfile-parse") {
            return dockerfile_parse(&args[1..]);
        }
        // (The verbs that enter a container re-execute from a sealed copy
        // in there.)
        let code = ::engine::internal_main(&args);
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    let cli = match Cli::parse_run(&args).map_or_else(Cli::try_parse, Ok) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let g = Globals {
        root: cli.globals.root.clone().unwrap_or_else(default_root),
        debug: cli.globals.log_level == "debug",
    };
    // A closed stdout (`berth images | head -1`) is not an error.
    match commands::run(&g, cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.msg.is_empty() {
                eprintln!("berth: {}", e.msg);
            }
            ExitCode::from(e.code)
        }
    }
}

/// Whether stdout is a terminal.
pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// `berth internal dockerfile-parse FILE|-`: the typed instructions of a
/// Dockerfile as JSON, or its parse error (`FILE:LINE:COL: message`).
fn dockerfile_parse(args: &[String]) -> ExitCode {
    let [file] = args else {
        eprintln!("usage: berth internal dockerfile-parse FILE|-");
        return ExitCode::from(2);
    };
    let data = if file == "-" {
        let mut v = vec![];
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v).map(|_| v)
    } else {
        std::fs::read(file)
    };
    let data = match data {
        Ok(d) => d,
        Err(e) => {
            eprintln!("berth: reading {file}: {e}");
            return ExitCode::from(1);
        }
    };
    let name = if file == "-" {
        "Dockerfile"
    } else {
        file.as_str()
    };
    match ::build::instructions::Dockerfile::parse(name, &data) {
        Ok(df) => {
            println!("{}", serde_json::to_string_pretty(&df).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("berth: {e}");
            ExitCode::from(1)
        }
    }
}

fn network_dns(args: &[std::ffi::OsString]) -> ExitCode {
    let net = args[4].to_string_lossy().into_owned();
    let paths = ::network::Paths {
        state: PathBuf::from(&args[2]),
        run: PathBuf::from(&args[3]),
        table: String::new(),
        default_bridge: String::new(),
        keep_default_bridge: false,
    };
    match ::network::dns::serve(&paths, &net) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: dns of network {net}: {e}");
            ExitCode::from(1)
        }
    }
}
