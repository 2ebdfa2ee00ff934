//! `network ...`, `port`, `system prune`.

use serde_json::{json, Value};

use super::images::confirm;
use super::{out, out_raw, CmdResult};
use crate::cli::network::{
    NetCreateArgs, NetInspectArgs, NetLsArgs, NetRmArgs, NetworkCommand, PortArgs, SystemCommand,
};
use crate::error::CliError;
use crate::Globals;
use ::engine::network as net;

fn ne(e: ::network::Error) -> CliError {
    match e {
        ::network::Error::Flag { .. } | ::network::Error::Invalid(_) => {
            CliError::daemon(e.to_string())
        }
        e => CliError::new(e.to_string()),
    }
}

fn ee(e: ::engine::Error) -> CliError {
    match e {
        ::engine::Error::InvalidArgument(m) => CliError::daemon(m),
        e => CliError::new(e.to_string()),
    }
}

pub fn run(g: &Globals, cmd: NetworkCommand) -> CmdResult {
    match cmd {
        NetworkCommand::Create(a) => create(g, a),
        NetworkCommand::Ls(a) => ls(g, a),
        NetworkCommand::Inspect(a) => inspect(g, a),
        NetworkCommand::Rm(a) => rm(g, a),
        NetworkCommand::Connect(a) => {
            let eng = g.engine()?;
            let ip = match &a.ip {
                Some(s) => Some(s.parse().map_err(|_| {
                    CliError::daemon(format!(
                        "invalid argument {s:?} for \"--ip\" flag: not an IPv4 address"
                    ))
                })?),
                None => None,
            };
            let join = ::network::Join {
                aliases: a.alias.clone(),
                ip,
                ..Default::default()
            };
            net::connect(&eng, &a.container, &a.network, &join).map_err(ee)
        }
        NetworkCommand::Disconnect(a) => {
            let eng = g.engine()?;
            net::disconnect(&eng, &a.container, &a.network).map_err(ee)
        }
        NetworkCommand::Prune(a) => {
            let filters = ::engine::filters::Filters::parse_cli(&a.filter)
                .map(|f| ::engine::PruneOptions::new(false, f))
                .and_then(|o| o.networks())
                .map_err(ee)?;
            if !a.force {
                eprintln!("WARNING! This will remove all custom networks not used by at least one container.");
                if !confirm("Are you sure you want to continue?") {
                    return Ok(());
                }
            }
            let eng = g.engine()?;
            let r = eng.prune_networks_with(&filters).map_err(ee)?;
            if !r.networks_deleted.is_empty() {
                out("Deleted Networks:")?;
                for n in &r.networks_deleted {
                    out(n)?;
                }
            }
            report_errors(r.errors)
        }
    }
}

fn create(g: &Globals, a: NetCreateArgs) -> CmdResult {
    let labels = ::engine::options::parse_labels(&a.label).map_err(ee)?;
    let eng = g.engine()?;
    let c = ::network::CreateNetwork {
        name: a.name.clone(),
        subnet: a.subnet.clone(),
        gateway: a.gateway.clone(),
        driver: Some(a.driver.clone()),
        internal: a.internal,
        labels,
    };
    let n = net::manager(&eng).create(&c).map_err(ne)?;
    out(&n.id)
}

fn ls(g: &Globals, a: NetLsArgs) -> CmdResult {
    let filters = ::engine::filters::Filters::parse_cli(&a.filter).map_err(ee)?;
    let eng = g.engine()?;
    let nets = eng.list_networks_with(&filters).map_err(ee)?;
    let row = |n: &Value| {
        let id = n["Id"].as_str().unwrap_or_default();
        json!({
            "ID": if a.no_trunc { id } else { &id[..id.len().min(12)] },
            "Name": n["Name"],
            "Driver": n["Driver"],
            "Scope": "local",
            "IPv6": false,
            "Internal": n["Internal"],
            "CreatedAt": n["Created"],
            "Labels": n["Labels"].as_object().map(|o| o.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(",")).unwrap_or_default(),
        })
    };
    if a.quiet {
        let mut s = String::new();
        for n in &nets {
            s.push_str(row(n)["ID"].as_str().unwrap_or_default());
            s.push('\n');
        }
        return out_raw(&s);
    }
    let format = super::list_format(
        a.format.as_deref(),
        "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
    )?;
    let rows: Vec<Value> = nets.iter().map(row).collect();
    super::print_list(&format, NETWORK_HEADERS, &rows)
}

/// docker's column titles of `network ls`.
const NETWORK_HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv4", "IPV4"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

fn inspect(g: &Globals, a: NetInspectArgs) -> CmdResult {
    let eng = g.engine()?;
    let mut vals = Vec::new();
    let mut errs = Vec::new();
    for want in &a.networks {
        match eng.network_inspect(want) {
            Ok(v) => vals.push(v),
            Err(e) => errs.push(e.to_string()),
        }
    }
    let template = super::inspect_template(a.format.as_deref())?;
    super::print_inspect(&vals, template.as_ref(), errs)
}

fn rm(g: &Globals, a: NetRmArgs) -> CmdResult {
    let eng = g.engine()?;
    let mut last: Option<CliError> = None;
    for n in &a.networks {
        match eng.remove_network(n) {
            Ok(_) => out(n)?,
            Err(e) => {
                if let Some(prev) = last.take() {
                    eprintln!("berth: {}", prev.msg);
                }
                last = Some(ee(e));
            }
        }
    }
    match last {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

pub fn port(g: &Globals, a: PortArgs) -> CmdResult {
    let eng = g.engine()?;
    let ports = eng.port(&a.container, a.port.as_deref()).map_err(ee)?;
    let mut s = String::new();
    for m in &ports {
        if a.port.is_some() {
            s.push_str(&format!("{}:{}\n", m.host_ip, m.host_port));
        } else {
            s.push_str(&format!("{m}\n"));
        }
    }
    out_raw(&s)
}

pub fn system(g: &Globals, cmd: SystemCommand) -> CmdResult {
    let a = match cmd {
        SystemCommand::Prune(a) => a,
        SystemCommand::Boot => return super::system::boot(g),
        SystemCommand::Events(a) => return super::events::run(g, a),
        SystemCommand::Df(a) => return super::system::df(g, a),
        SystemCommand::Info(a) => return super::system::info(g, a),
        SystemCommand::Service(a) => return super::system::service(g, a),
    };
    let opts = ::engine::SystemPruneOptions {
        all: a.all,
        volumes: a.volumes,
        filters: ::engine::filters::Filters::parse_cli(&a.filter).map_err(ee)?,
    };
    opts.validate().map_err(ee)?;
    if !a.force {
        let mut w = String::from(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
        );
        if a.volumes {
            w.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        w.push_str(if a.all {
            "  - all images without at least one container associated to them\n"
        } else {
            "  - all dangling images\n"
        });
        w.push_str("  - network leftovers of crashed containers\n  - blobs and layers no image uses, and what interrupted pulls left");
        eprintln!("{w}");
        if !confirm("Are you sure you want to continue?") {
            return Ok(());
        }
    }
    let eng = g.engine()?;
    let r = eng.system_prune(&opts).map_err(ee)?;
    let section = |title: &str, lines: &[String]| -> CmdResult {
        if !lines.is_empty() {
            out(title)?;
            for l in lines {
                out(l)?;
            }
            out("")?;
        }
        Ok(())
    };
    section("Deleted Containers:", &r.containers.containers_deleted)?;
    section("Deleted Networks:", &r.networks.networks_deleted)?;
    if let Some(v) = &r.volumes {
        section("Deleted Volumes:", &v.volumes_deleted)?;
    }
    let images: Vec<String> = r
        .images
        .images_deleted
        .iter()
        .map(|i| match i {
            ::engine::images::ImageDeleteItem::Untagged(n) => format!("untagged: {n}"),
            ::engine::images::ImageDeleteItem::Deleted(d) => format!("deleted: {d}"),
        })
        .collect();
    section("Deleted Images:", &images)?;
    out(&format!(
        "Total reclaimed space: {}",
        crate::fmt::human_size(r.space_reclaimed)
    ))?;
    report_errors(r.errors)
}

/// Each error on stderr, the last as the command's.
fn report_errors(mut errs: Vec<String>) -> CmdResult {
    let Some(last) = errs.pop() else {
        return Ok(());
    };
    for e in &errs {
        eprintln!("berth: {e}");
    }
    Err(CliError::new(last))
}
