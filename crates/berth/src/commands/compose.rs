//! `berth compose`: docker compose v2's command line over the
//! `berth-compose` library. For now `config` (the loader's face); the
//! commands that run a project come with the engine's typed requests.

use berth_compose::{LoadOptions, Project};
use std::collections::BTreeSet;
use std::io::Write;

use super::CmdResult;
use crate::cli::compose::{ComposeArgs, ComposeCommand, ConfigArgs};
use crate::error::CliError;

pub fn run(a: ComposeArgs) -> CmdResult {
    let mut opts = LoadOptions::from_process();
    opts.files = a.files;
    opts.project_directory = a.project_directory;
    opts.project_name = a.project_name;
    opts.env_files = a.env_files;
    opts.profiles = a.profiles;
    match a.command {
        ComposeCommand::Config(c) => config(opts, c),
    }
}

fn load(opts: &LoadOptions) -> Result<Project, CliError> {
    let loaded = berth_compose::load(opts).map_err(|e| CliError::new(e.to_string()))?;
    for w in &loaded.warnings {
        eprintln!("berth: warning: {w}");
    }
    Ok(loaded.project)
}

fn print_lines(lines: impl IntoIterator<Item = String>) -> CmdResult {
    let mut out = std::io::stdout().lock();
    for l in lines {
        writeln!(out, "{l}").map_err(|e| CliError::new(e.to_string()))?;
    }
    Ok(())
}

/// Services in dependency order (compose's ForEachService).
fn in_dependency_order(p: &Project) -> Vec<String> {
    fn visit(p: &Project, n: &str, seen: &mut BTreeSet<String>, out: &mut Vec<String>) {
        if !seen.insert(n.to_string()) {
            return;
        }
        if let Some(s) = p.services.get(n) {
            for d in s.depends_on.keys() {
                visit(p, d, seen, out);
            }
            out.push(n.to_string());
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for n in p.services.keys() {
        visit(p, n, &mut seen, &mut out);
    }
    out
}

fn config(mut opts: LoadOptions, c: ConfigArgs) -> CmdResult {
    if c.resolve_image_digests || c.lock_image_digests {
        return Err(CliError::new(
            "compose config: --resolve-image-digests and --lock-image-digests need a registry lookup: not supported yet",
        ));
    }
    if c.no_path_resolution {
        return Err(CliError::new(
            "compose config: --no-path-resolution is not supported yet",
        ));
    }
    if c.format != "yaml" && c.format != "json" {
        return Err(CliError::new(format!("unsupported format {:?}", c.format)));
    }
    opts.interpolate = !c.no_interpolate;
    opts.normalize = !c.no_normalize;
    opts.consistency = !c.no_consistency;
    // the listing flags load without resolving env_file
    let listing =
        c.services || c.volumes || c.networks || c.profiles || c.images || c.hash.is_some();
    opts.resolve_env_files = !c.no_env_resolution && !listing;
    if let Some(h) = &c.hash {
        let p = load(&opts)?;
        let mut names: Vec<String> = if h == "*" {
            p.services.keys().cloned().collect()
        } else {
            h.split(',').map(str::to_string).collect()
        };
        names.sort();
        let mut lines = Vec::new();
        for n in names {
            let s = p
                .services
                .get(&n)
                .ok_or_else(|| CliError::new(format!("no such service: {n}")))?;
            lines.push(format!("{n} {}", Project::service_hash(s)));
        }
        return print_lines(lines);
    }
    if c.services {
        return print_lines(in_dependency_order(&load(&opts)?));
    }
    opts.services = c.service_names.clone();
    if c.volumes {
        return print_lines(load(&opts)?.volumes.into_keys());
    }
    if c.networks {
        return print_lines(load(&opts)?.networks.into_keys());
    }
    if c.profiles {
        let p = load(&opts)?;
        let set: BTreeSet<String> = p
            .services
            .values()
            .chain(p.disabled_services.values())
            .flat_map(|s| s.profiles.clone())
            .collect();
        return print_lines(set);
    }
    if c.images {
        let p = load(&opts)?;
        return print_lines(p.services.iter().map(|(n, s)| {
            if s.image.is_empty() {
                format!("{}-{n}", p.name)
            } else {
                s.image.clone()
            }
        }));
    }
    let content = if c.no_interpolate {
        let m = berth_compose::load_model(&opts).map_err(|e| CliError::new(e.to_string()))?;
        let v = serde_json::Value::Object(m.dict);
        if c.format == "json" {
            serde_json::to_string_pretty(&v).unwrap_or_default()
        } else {
            berth_compose::yaml_string(&v)
        }
    } else {
        let p = load(&opts)?;
        if c.format == "json" {
            p.to_json()
        } else {
            p.to_yaml()
        }
    };
    if c.quiet {
        return Ok(());
    }
    match &c.output {
        Some(f) => std::fs::write(f, content)
            .map_err(|e| CliError::new(format!("writing {}: {e}", f.display()))),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(content.as_bytes())
                .map_err(|e| CliError::new(e.to_string()))
        }
    }
}
