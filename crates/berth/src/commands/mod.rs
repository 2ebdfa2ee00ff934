//! One function per verb.

mod archive;
mod build;
mod build_progress;
pub mod changes;
pub mod compose;
mod compose_cmds;
mod compose_progress;
mod containers;
mod cp;
pub mod events;
mod images;
pub mod network;
mod stats;
pub mod system;
mod transfer;
mod volumes;

use std::io::Write;

use crate::cli::{Command, ContainerCommand, ImageCommand};

use crate::error::CliError;
use crate::Globals;
pub use containers::open_engine;

pub type CmdResult = Result<(), CliError>;

pub fn run(g: &Globals, cmd: Command) -> CmdResult {
    match cmd {
        Command::Pull(a) => transfer::pull(g, a),
        Command::Push(a) => transfer::push(g, a),
        Command::Images(a) => images::list(g, a),
        Command::Inspect(a) => containers::inspect(g, a),
        Command::Tag(a) => images::tag(g, a),
        Command::Rmi(a) => images::rmi(g, a),
        Command::Save(a) => archive::save(g, a),
        Command::Load(a) => archive::load(g, a),
        Command::Import(a) => archive::import(g, a),
        Command::Login(a) => transfer::login(a),
        Command::Logout(a) => transfer::logout(a),
        Command::History(a) => changes::history(g, a),
        Command::Diff(a) => changes::diff(g, a),
        Command::Export(a) => changes::export(g, a),
        Command::Commit(a) => changes::commit(g, a),
        Command::Build(a) => build::run(g, a),
        Command::Builder(crate::cli::build::BuilderCommand::Prune(a)) => build::prune(g, a),
        Command::Events(a) => events::run(g, a),
        Command::Version(a) => system::version(a),
        Command::Info(a) => system::info(g, a),
        Command::Volume(sub) => volumes::run(g, sub),
        Command::Cp(a) => cp::run(g, a),
        Command::Compose(a) => compose::run(g, a),
        Command::Stats(a) => stats::run(g, a),
        Command::Run(a) => containers::run(g, a),
        Command::Network(sub) => network::run(g, sub),
        Command::Port(a) => network::port(g, a),
        Command::System(sub) => network::system(g, sub),
        Command::Create(a) => containers::create(g, a),
        Command::Start(a) => containers::start(g, a),
        Command::Stop(a) => containers::stop(g, a),
        Command::Kill(a) => containers::kill(g, a),
        Command::Restart(a) => containers::restart(g, a),
        Command::Rm(a) => containers::rm(g, a),
        Command::Ps(a) => containers::ps(g, a),
        Command::Logs(a) => containers::logs(g, a),
        Command::Exec(a) => containers::exec(g, a),
        Command::Wait(a) => containers::wait(g, a),
        Command::Attach(a) => containers::attach(g, a),
        Command::Top(a) => containers::top(g, a),
        Command::Pause(a) => containers::pause(g, a),
        Command::Unpause(a) => containers::unpause(g, a),
        Command::Rename(a) => containers::rename(g, a),
        Command::Update(a) => containers::update(g, a),
        Command::Container(sub) => match sub {
            ContainerCommand::Ls(a) => containers::ps(g, a),
            ContainerCommand::Run(a) => containers::run(g, a),
            ContainerCommand::Create(a) => containers::create(g, a),
            ContainerCommand::Start(a) => containers::start(g, a),
            ContainerCommand::Stop(a) => containers::stop(g, a),
            ContainerCommand::Kill(a) => containers::kill(g, a),
            ContainerCommand::Restart(a) => containers::restart(g, a),
            ContainerCommand::Rm(a) => containers::rm(g, a),
            ContainerCommand::Logs(a) => containers::logs(g, a),
            ContainerCommand::Exec(a) => containers::exec(g, a),
            ContainerCommand::Inspect(mut a) => {
                a.r#type = Some("container".into());
                containers::inspect(g, a)
            }
            ContainerCommand::Wait(a) => containers::wait(g, a),
            ContainerCommand::Attach(a) => containers::attach(g, a),
            ContainerCommand::Top(a) => containers::top(g, a),
            ContainerCommand::Pause(a) => containers::pause(g, a),
            ContainerCommand::Unpause(a) => containers::unpause(g, a),
            ContainerCommand::Rename(a) => containers::rename(g, a),
            ContainerCommand::Update(a) => containers::update(g, a),
            ContainerCommand::Prune(a) => containers::prune(g, a),
            ContainerCommand::Cp(a) => cp::run(g, a),
            ContainerCommand::Stats(a) => stats::run(g, a),
            ContainerCommand::Diff(a) => changes::diff(g, a),
            ContainerCommand::Export(a) => changes::export(g, a),
            ContainerCommand::Commit(a) => changes::commit(g, a),
        },
        Command::Image(sub) => match sub {
            ImageCommand::Build(a) => build::run(g, *a),
            ImageCommand::Ls(a) => images::list(g, a),
            ImageCommand::Inspect(a) => images::inspect(g, a),
            ImageCommand::Pull(a) => transfer::pull(g, a),
            ImageCommand::Push(a) => transfer::push(g, a),
            ImageCommand::Tag(a) => images::tag(g, a),
            ImageCommand::Rm(a) => images::rmi(g, a),
            ImageCommand::Prune(a) => images::prune(g, a),
            ImageCommand::Save(a) => archive::save(g, a),
            ImageCommand::Load(a) => archive::load(g, a),
            ImageCommand::Import(a) => archive::import(g, a),
            ImageCommand::History(a) => changes::history(g, a),
        },
    }
}

/// Print a line to stdout; a closed pipe ends the command quietly.
pub fn out(s: &str) -> CmdResult {
    let mut o = std::io::stdout().lock();
    match writeln!(o, "{s}").and_then(|_| o.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::silent(0)),
        Err(e) => Err(CliError::new(format!("write to stdout: {e}"))),
    }
}

/// Print text (already newline-terminated) to stdout.
pub fn out_raw(s: &str) -> CmdResult {
    let mut o = std::io::stdout().lock();
    match o.write_all(s.as_bytes()).and_then(|_| o.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::silent(0)),
        Err(e) => Err(CliError::new(format!("write to stdout: {e}"))),
    }
}

/// Parse a reference with docker's wording on failure.
pub fn parse_ref(s: &str) -> Result<image::Reference, CliError> {
    image::Reference::parse(s).map_err(CliError::from)
}

/// Parse `--platform` (default: the host).
pub fn platform(p: Option<&str>) -> Result<image::Platform, CliError> {
    match p {
        None => Ok(image::Platform::host()),
        Some(s) => image::Platform::parse(s).map_err(|_| {
            CliError::new(format!(
                "invalid platform {s:?}: expected os/arch[/variant], e.g. linux/amd64"
            ))
        }),
    }
}

/// A bad `--format`: one line, docker's words, exit 125.
pub(super) fn template_err(e: String) -> CliError {
    CliError::daemon(format!("template parsing error: {e}"))
}

/// `--format` of an inspect verb: nothing or `json` for the JSON array,
/// else a Go template taken as written (docker's inspect neither strips
/// `table` nor turns `\t` into a tab).
pub(super) fn inspect_template(
    format: Option<&str>,
) -> Result<Option<crate::template::Template>, CliError> {
    match format {
        None | Some("") | Some("json") => Ok(None),
        Some(f) => crate::template::Template::parse(f)
            .map(Some)
            .map_err(template_err),
    }
}

/// A list command's `--format`.
pub(super) enum ListFormat {
    /// `json`: one JSON object a line.
    Json,
    Template(crate::template::Format),
}

/// Parse a list command's `--format`; none and a bare `table` are the
/// command's `default` table.
pub(super) fn list_format(format: Option<&str>, default: &str) -> Result<ListFormat, CliError> {
    let f = match format {
        Some("json") => return Ok(ListFormat::Json),
        None | Some("") | Some("table") => default,
        Some(f) => f,
    };
    crate::template::Format::parse(f)
        .map(ListFormat::Template)
        .map_err(template_err)
}

/// Print a list: JSON lines, or the template over each row (a table with
/// the header row from `headers`, docker's titles of the fields).
pub(super) fn print_list(
    format: &ListFormat,
    headers: &[(&str, &str)],
    rows: &[serde_json::Value],
) -> CmdResult {
    out_raw(&list_text(format, headers, rows)?)
}

/// The text [`print_list`] prints.
pub(super) fn list_text(
    format: &ListFormat,
    headers: &[(&str, &str)],
    rows: &[serde_json::Value],
) -> Result<String, CliError> {
    match format {
        ListFormat::Json => {
            let mut s = String::new();
            for r in rows {
                s.push_str(&r.to_string());
                s.push('\n');
            }
            Ok(s)
        }
        // A template that fails on the data (a field it lacks) fails the
        // operation: exit 1, as docker.
        ListFormat::Template(f) => f
            .list(headers, rows)
            .map_err(|e| CliError::new(format!("template parsing error: {e}"))),
    }
}

/// Prints what an inspect verb found (the JSON array, or the template once
/// per object), then, as docker, the earlier errors on stderr and the last
/// one as the command's error.
pub(super) fn print_inspect(
    values: &[serde_json::Value],
    template: Option<&crate::template::Template>,
    mut errors: Vec<String>,
) -> CmdResult {
    match template {
        None => out(&images::pretty(&values))?,
        Some(t) => {
            // As docker: an object the template fails on is an error of
            // its own, the others print.
            let mut s = String::new();
            for v in values {
                match t.render_inspect(v) {
                    Ok(text) => {
                        s.push_str(&text);
                        s.push('\n');
                    }
                    Err(e) => errors.push(format!("template parsing error: {e}")),
                }
            }
            out_raw(&s)?;
        }
    }
    finish_inspect(errors)
}

/// The end of an inspect verb: the earlier errors on stderr, the last one
/// as the command's error.
pub(super) fn finish_inspect(mut errors: Vec<String>) -> CmdResult {
    match errors.pop() {
        None => Ok(()),
        Some(last) => {
            for e in &errors {
                eprintln!("berth: {e}");
            }
            Err(CliError::new(last))
        }
    }
}
