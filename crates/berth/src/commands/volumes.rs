//! `volume create|ls|inspect|rm|prune` over the engine's volumes.

use std::collections::BTreeMap;

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

/// The JSON `volume inspect` prints (docker's nulls for empty maps).
pub(super) fn volume_json(v: &Volume) -> Value {
    let nullable = |m: &BTreeMap<String, String>| {
        if m.is_empty() {
            Value::Null
        } else {
            json!(m)
        }
    };
    json!({
        "CreatedAt": v.created_at,
        "Driver": v.driver,
        "Labels": nullable(&v.labels),
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": nullable(&v.options),
        "Scope": v.scope,
    })
}

fn label_match(v: &Volume, want: &str) -> bool {
    match want.split_once('=') {
        Some((k, val)) => v.labels.get(k).is_some_and(|x| x == val),
        None => v.labels.contains_key(want),
    }
}

fn ls(g: &Globals, a: VolumeLsArgs) -> CmdResult {
    let mut filters: Vec<(String, String)> = Vec::new();
    for f in &a.filter {
        match f.split_once('=') {
            Some((k, v)) if matches!(k, "dangling" | "name" | "label" | "driver") => {
                if k == "dangling" && !matches!(v, "true" | "false" | "1" | "0") {
                    return Err(CliError::new(format!(
                        "invalid filter 'dangling={v}': expected true or false"
                    )));
                }
                filters.push((k.to_string(), v.to_string()))
            }
            _ => return Err(CliError::new(format!("invalid filter '{f}'"))),
        }
    }
    let eng = g.engine()?;
    let users = eng.volume_users().map_err(op_err)?;
    let keep = |v: &Volume| {
        let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort();
        keys.dedup();
        keys.iter().all(|key| {
            filters
                .iter()
                .filter(|(k, _)| k == key)
                .any(|(k, val)| match k.as_str() {
                    "dangling" => {
                        let want = matches!(val.as_str(), "true" | "1");
                        users.contains_key(&v.name) != want
                    }
                    "name" => v.name.contains(val.as_str()),
                    "label" => label_match(v, val),
                    "driver" => v.driver == *val,
                    _ => false,
                })
        })
    };
    let list: Vec<Volume> = eng
        .list_volumes()
        .map_err(op_err)?
        .into_iter()
        .filter(|v| keep(v))
        .collect();
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
        match eng.volume(n) {
            Ok(v) => values.push(volume_json(&v)),
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
    let mut labels: Vec<(String, bool)> = Vec::new();
    for f in &a.filter {
        if let Some(v) = f.strip_prefix("label!=") {
            labels.push((v.to_string(), false));
        } else if let Some(v) = f.strip_prefix("label=") {
            labels.push((v.to_string(), true));
        } else if f.starts_with("all=") {
            // docker's hidden spelling of -a
        } else {
            return Err(CliError::new(format!("invalid filter '{f}'")));
        }
    }
    let all = a.all || a.filter.iter().any(|f| f == "all=true" || f == "all=1");
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
    let filter = |v: &Volume| labels.iter().all(|(l, want)| label_match(v, l) == *want);
    let removed = eng.prune_volumes(all, &filter).map_err(op_err)?;
    if !removed.is_empty() {
        out("Deleted Volumes:")?;
        for (n, _) in &removed {
            out(n)?;
        }
        out("")?;
    }
    let total: u64 = removed.iter().map(|(_, s)| s).sum();
    out(&format!("Total reclaimed space: {}", human_size(total)))
}
