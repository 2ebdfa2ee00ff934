//! `volume create|ls|inspect|rm|prune` over the engine's volumes.

use std::collections::BTreeMap;

use ::engine::filters::Filters;
use ::engine::volumes::Volume;
use serde_json::{json, Value};

use super::containers::op_err;
use super::images::confirm;
use super::{out, out_raw, CmdResult};
use crate::cli_ext::{
    VolumeCommand, VolumeCreateArgs, VolumeInspectArgs, VolumeLsArgs, VolumePruneArgs, VolumeRmArgs,
};
use crate::error::CliError;
use crate::fmt::human_size;
use crate::Globals;

pub fn run(g: &Globals, cmd: VolumeCommand) -> CmdResult {
    match cmd {
        VolumeCommand::Create(a) => create(g, a),
        VolumeCommand::Ls(a) => ls(g, a),
        VolumeCommand::Inspect(a) => inspect(g, a),
        VolumeCommand::Rm(a) => rm(g, a),
        VolumeCommand::Prune(a) => prune(g, a),
    }
}

fn key_values(flag: &str, list: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut m = BTreeMap::new();
    for kv in list {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        if k.is_empty() {
            return Err(CliError::daemon(format!(
                "invalid {flag} {kv:?}: empty key"
            )));
        }
        m.insert(k.to_string(), v.to_string());
    }
    Ok(m)
}

fn create(g: &Globals, a: VolumeCreateArgs) -> CmdResult {
    let name = match (&a.name, &a.name_flag) {
        (Some(x), Some(y)) if x != y => {
            return Err(CliError::daemon(format!(
                "conflicting options: either specify --name or provide positional arg, not both ({y:?}, {x:?})"
            )))
        }
        (Some(x), _) | (None, Some(x)) => Some(x.clone()),
        (None, None) => None,
    };
    let labels = key_values("--label", &a.label)?;
    let opts = key_values("--opt", &a.opt)?;
    let eng = g.engine()?;
    let v = eng
        .create_volume(name.as_deref(), &a.driver, labels, opts)
        .map_err(op_err)?;
    out(&v.name)
}

fn ls(g: &Globals, a: VolumeLsArgs) -> CmdResult {
    let filters = Filters::parse_cli(&a.filter).map_err(op_err)?;
    let eng = g.engine()?;
    let list = eng.list_volumes_with(&filters).map_err(op_err)?;
    let users = eng.volume_users().map_err(op_err)?;
    if a.quiet {
        let mut s = String::new();
        for v in &list {
            s.push_str(&v.name);
            s.push('\n');
        }
        return out_raw(&s);
    }
    let row = |v: &Volume| -> Value {
        let labels = v
            .labels
            .iter()
            .map(|(k, x)| format!("{k}={x}"))
            .collect::<Vec<_>>()
            .join(",");
        json!({
            "Availability": "N/A",
            "Driver": v.driver,
            "Group": "N/A",
            "Labels": labels,
            "Links": users.get(&v.name).map(|u| u.len()).unwrap_or(0).to_string(),
            "Mountpoint": v.mountpoint,
            "Name": v.name,
            "Scope": v.scope,
            "Size": "N/A",
            "Status": "N/A",
        })
    };
    let format = super::list_format(a.format.as_deref(), "table {{.Driver}}\t{{.Name}}")?;
    let rows: Vec<Value> = list.iter().map(row).collect();
    super::print_list(&format, VOLUME_HEADERS, &rows)
}

/// docker's column titles of `volume ls`.
const VOLUME_HEADERS: &[(&str, &str)] = &[
    ("ID", "ID"),
    ("Name", "VOLUME NAME"),
    ("Group", "GROUP"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Availability", "AVAILABILITY"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
    ("Status", "STATUS"),
];

fn inspect(g: &Globals, a: VolumeInspectArgs) -> CmdResult {
    let template = super::inspect_template(a.format.as_deref())?;
    let eng = g.engine()?;
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for n in &a.volumes {
        match eng.inspect_volume(n) {
            Ok(v) => values.push(serde_json::to_value(v).unwrap_or_default()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    super::print_inspect(&values, template.as_ref(), errors)
}

fn rm(g: &Globals, a: VolumeRmArgs) -> CmdResult {
    let eng = g.engine()?;
    let mut last: Option<CliError> = None;
    for n in &a.volumes {
        match eng.remove_volume(n, a.force) {
            Ok(()) => out(n)?,
            Err(e) => {
                if let Some(p) = last.take() {
                    eprintln!("berth: {}", p.msg);
                }
                last = Some(CliError::new(e.to_string()));
            }
        }
    }
    match last {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn prune(g: &Globals, a: VolumePruneArgs) -> CmdResult {
    let (filters, all) = Filters::parse_cli(&a.filter)
        .map(|f| ::engine::PruneOptions::new(a.all, f))
        .and_then(|o| o.volumes())
        .map_err(op_err)?;
    if !a.force {
        let warning = if all {
            "WARNING! This will remove all local volumes not used by at least one container."
        } else {
            "WARNING! This will remove anonymous local volumes not used by at least one container."
        };
        eprintln!("{warning}");
        if !confirm("Are you sure you want to continue?") {
            return Ok(());
        }
    }
    let eng = g.engine()?;
    let r = eng.prune_volumes_with(&filters).map_err(op_err)?;
    if !r.volumes_deleted.is_empty() {
        out("Deleted Volumes:")?;
        for n in &r.volumes_deleted {
            out(n)?;
        }
        out("")?;
    }
    out(&format!(
        "Total reclaimed space: {}",
        human_size(r.space_reclaimed)
    ))
}
