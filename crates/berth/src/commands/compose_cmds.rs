//! `berth compose pull|push|create|wait|version|cp|events`: flags into
//! the runner's typed requests (berth-compose-run's `commands`), its
//! results printed as docker compose v2 prints them.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use berth_compose_run::{Compose, CopyOptions, ProjectEvent, PullOptions, PushOptions};

use super::compose::{parse_scale, print_event, rerr, CliPuller};
use super::CmdResult;
use crate::cli::compose as c;
use crate::error::CliError;
use crate::Globals;

/// The CLI's registry client for `compose push`.
struct CliPusher<'a>(&'a Globals);

impl berth_compose_run::Pusher for CliPusher<'_> {
    fn push(&self, image: &str) -> Result<(), String> {
        let pa = crate::cli::PushArgs {
            platform: None,
            quiet: true,
            registry: crate::cli::RegistryArgs {
                tls_verify: true,
                authfile: None,
                cert_dir: None,
            },
            image: image.to_string(),
            destination: None,
        };
        // (compose prints nothing on stdout: its events say it)
        super::transfer::push_with(self.0, pa, super::transfer::PushOutput::Silent)
            .map_err(|e| e.msg)
    }
}

/// The CLI's registry client for `compose pull -q`: no progress.
struct QuietPuller<'a>(&'a Globals);

impl berth_compose_run::Puller for QuietPuller<'_> {
    fn pull(&self, image: &str) -> Result<(), String> {
        let pa = crate::cli::PullArgs {
            platform: None,
            quiet: true,
            registry: crate::cli::RegistryArgs {
                tls_verify: true,
                authfile: None,
                cert_dir: None,
            },
            image: image.to_string(),
        };
        super::transfer::pull_for_run(self.0, pa).map_err(|e| e.msg)
    }
}

pub fn pull(g: &Globals, compose: &Compose, a: c::PullArgs) -> CmdResult {
    let o = PullOptions {
        services: a.services,
        include_deps: a.include_deps,
        ignore_buildable: a.ignore_buildable,
        ignore_failures: a.ignore_pull_failures,
        policy: a.policy.unwrap_or_default(),
    };
    let quiet = a.quiet;
    let (loud, silent) = (CliPuller(g), QuietPuller(g));
    let puller: &dyn berth_compose_run::Puller = if quiet { &silent } else { &loud };
    compose
        .pull(&o, puller, &mut |e| {
            if !quiet || e.kind == "Warning" {
                print_event(e)
            }
        })
        .map_err(rerr)
}

pub fn push(g: &Globals, compose: &Compose, a: c::PushArgs) -> CmdResult {
    let o = PushOptions {
        services: a.services,
        include_deps: a.include_deps,
        ignore_failures: a.ignore_push_failures,
    };
    let quiet = a.quiet;
    compose
        .push(&o, &CliPusher(g), &mut |e| {
            if !quiet || e.kind == "Warning" {
                print_event(e)
            }
        })
        .map_err(rerr)
}

/// `create`: `up --no-start`.
pub fn create(g: &Globals, compose: &Compose, a: c::CreateArgs) -> CmdResult {
    let o = berth_compose_run::UpOptions {
        services: a.services,
        force_recreate: a.force_recreate,
        no_recreate: a.no_recreate,
        remove_orphans: a.remove_orphans,
        scale: parse_scale(&a.scale)?,
        no_start: true,
        pull: a.pull,
        ..Default::default()
    };
    compose
        .up(&o, &CliPuller(g), &mut print_event)
        .map_err(rerr)
}

/// `wait`: docker compose prints each exit on stdout and exits with the
/// last one's code. A failure (no running container, a wait that failed)
/// is an error (exit 1): compose's Wait returns 42 with it, but the
/// error stops cobra before its PostRun would exit with that code.
pub fn wait(compose: &Compose, a: c::WaitArgs) -> CmdResult {
    let mut out = std::io::stdout();
    let res = compose.wait(
        &a.services,
        a.down_project,
        &mut |id, code| {
            let _ = writeln!(out, "container {id:?} exited with status code {code}");
            let _ = out.flush();
        },
        &mut print_event,
    );
    match res {
        Ok(w) if w.code == 0 => Ok(()),
        Ok(w) => Err(CliError::silent(w.code.clamp(0, 255) as u8)),
        Err(e) => Err(CliError::new(e.to_string())),
    }
}

/// `version`: `Docker Compose version vX` (the compose release whose
/// behaviour Berth follows), `--short`, `--format json`.
pub fn version(a: c::VersionArgs) -> CmdResult {
    let v = berth_compose_run::COMPOSE_VERSION;
    let line = if a.short {
        v.to_string()
    } else {
        match a.format.as_deref() {
            None | Some("") | Some("pretty") => format!("Docker Compose version v{v}"),
            Some("json") => serde_json::json!({ "version": format!("v{v}") }).to_string(),
            Some(f) => {
                return Err(CliError::new(format!(
                    "invalid --format {f:?}: expected pretty or json"
                )))
            }
        }
    };
    println!("{line}");
    Ok(())
}

pub fn cp(compose: &Compose, a: c::CpArgs) -> CmdResult {
    let dir = berth_compose_run::copy_direction(&a.src, &a.dest).map_err(rerr)?;
    let o = CopyOptions {
        index: a.index,
        all: a.all,
        archive: a.archive,
        follow_link: a.follow_link,
    };
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    compose
        .cp(&dir, &o, &mut stdin, &mut stdout, &mut print_event)
        .map_err(rerr)?;
    stdout
        .flush()
        .map_err(|e| CliError::new(format!("write to stdout: {e}")))
}

/// Go's `2006-01-02 15:04:05.000000` of a unix time in nanoseconds, in
/// the local zone as Go's time.Unix gives it (here: UTC offset applied).
fn text_time(nanos: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos.max(0) as u64);
    let s = ::engine::timeutil::format(t); // RFC 3339 with nanoseconds, UTC
                                           // 2026-12-06T23:10:00.123456789Z -> 2026-12-06 23:10:00.123456
    let (date, rest) = s.split_once('T').unwrap_or((&s, ""));
    let rest = rest.trim_end_matches('Z');
    let (hms, frac) = rest.split_once('.').unwrap_or((rest, ""));
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
    format!("{date} {hms}.{frac}")
}

/// docker compose's text line of an event (`api.Event.String()`).
pub fn event_text(e: &ProjectEvent) -> String {
    let attrs: Vec<String> = e
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!(
        "{} container {} {} ({})\n",
        text_time(e.time_nano),
        e.action,
        e.container,
        attrs.join(", ")
    )
}

/// Go's RFC3339Nano (trailing zeros of the fraction dropped), in UTC.
fn rfc3339_nano(t: std::time::SystemTime) -> String {
    let s = ::engine::timeutil::format(t);
    let body = s.trim_end_matches('Z');
    match body.split_once('.') {
        Some((whole, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{whole}Z")
            } else {
                format!("{whole}.{frac}Z")
            }
        }
        None => s,
    }
}

/// docker compose's `--json` object of an event.
pub fn event_json(e: &ProjectEvent) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(e.time_nano.max(0) as u64);
    serde_json::json!({
        "action": e.action,
        "attributes": e.attributes,
        "id": e.container,
        "service": e.service,
        "time": rfc3339_nano(t),
        "type": "container",
    })
    .to_string()
}

pub fn events(compose: &Compose, a: c::EventsArgs) -> CmdResult {
    let stop = Arc::new(AtomicBool::new(false));
    super::events::stop_on_signals(stop.clone());
    let mut out = std::io::stdout();
    let mut failed = None;
    let r = compose.events(
        &a.services,
        &a.since,
        &a.until,
        &|| stop.load(Ordering::Relaxed),
        &mut |e| {
            let line = if a.json {
                event_json(&e)
            } else {
                event_text(&e)
            };
            match writeln!(out, "{line}").and_then(|_| out.flush()) {
                Ok(()) => true,
                Err(e) => {
                    if e.kind() != std::io::ErrorKind::BrokenPipe {
                        failed = Some(CliError::new(format!("write to stdout: {e}")));
                    }
                    false
                }
            }
        },
    );
    if let Some(e) = failed {
        return Err(e);
    }
    r.map_err(rerr)
}

/// `config --variables`: the variables the files read (uninterpolated),
/// as compose's table (NAME, REQUIRED, DEFAULT VALUE, ALTERNATE VALUE) or
/// its json/yaml map.
pub fn config_variables(opts: &berth_compose::LoadOptions, format: &str) -> CmdResult {
    let mut o = opts.clone();
    o.interpolate = false;
    let m = berth_compose::load_model(&o).map_err(|e| CliError::new(e.to_string()))?;
    let vars = berth_compose::template::variables(&serde_json::Value::Object(m.dict));
    let text = match format {
        "json" => serde_json::to_string_pretty(&vars).unwrap_or_default() + "\n",
        _ => {
            // (compose's formatter.Print: minimum width 20, padding 3)
            let mut text = "NAME\tREQUIRED\tDEFAULT VALUE\tALTERNATE VALUE\n".to_string();
            for v in vars.values() {
                text.push_str(&format!(
                    "{}\t{}\t{}\t{}\n",
                    v.name, v.required, v.default_value, v.presence_value
                ));
            }
            crate::fmt::tabwrite_with(&text, 20, 3)
        }
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::new(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines_in_composes_shapes() {
        let e = ProjectEvent {
            time_nano: 1_700_000_000_123_456_789,
            service: "web".into(),
            container: "abc".into(),
            action: "start".into(),
            attributes: [("image".to_string(), "bb".to_string())].into(),
        };
        assert_eq!(
            event_text(&e),
            "2023-11-14 22:13:20.123456 container start abc (image=bb)\n"
        );
        let j: serde_json::Value = serde_json::from_str(&event_json(&e)).unwrap();
        assert_eq!(j["type"], "container");
        assert_eq!(j["service"], "web");
        assert_eq!(j["attributes"]["image"], "bb");
        assert_eq!(j["time"], "2023-11-14T22:13:20.123456789Z");
    }
}
