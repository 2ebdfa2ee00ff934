//! images, image inspect, tag, rmi, image prune.

use std::io::{BufRead, IsTerminal, Write};

use ::engine::filters::Filters;
use ::engine::images::{ImageDeleteItem, ImageSummary};
use serde::Serialize;
use serde_json::{json, Value};

use super::{out, out_raw, CmdResult};
use crate::cli::{ImagesArgs, InspectArgs, PruneArgs, RmiArgs, TagArgs};
use crate::error::{image_message, CliError};
use crate::fmt::{go_time, human_size, since};
use crate::Globals;

const NONE: &str = "<none>";

/// docker's column titles of `images` (its `ImageContext` header).
const IMAGE_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
];

struct Row {
    repository: String,
    tag: String,
    digest: String,
    info: ImageSummary,
}

/// `busybox:latest` → (`busybox`, `latest`); `localhost:5000/x:1` keeps
/// its port.
fn split_tag(t: &str) -> (&str, &str) {
    match t.rfind(':') {
        Some(i) if !t[i..].contains('/') => (&t[..i], &t[i + 1..]),
        _ => (t, NONE),
    }
}

/// One row per tag; an untagged image gets one row per digest name, or a
/// single `<none>` row (docker's table).
fn rows(images: Vec<ImageSummary>) -> Vec<Row> {
    let mut out = Vec::new();
    for info in images {
        let digest_for = |repo: &str| {
            info.repo_digests
                .iter()
                .find_map(|d| d.split_once('@').filter(|(n, _)| *n == repo))
                .map(|(_, d)| d.to_string())
                .unwrap_or_else(|| NONE.into())
        };
        let mut rs: Vec<Row> = Vec::new();
        for t in &info.repo_tags {
            let (repo, tag) = split_tag(t);
            rs.push(Row {
                repository: repo.to_string(),
                tag: tag.to_string(),
                digest: digest_for(repo),
                info: info.clone(),
            });
        }
        if rs.is_empty() {
            for d in &info.repo_digests {
                let (repo, digest) = d.split_once('@').unwrap_or((d, ""));
                rs.push(Row {
                    repository: repo.to_string(),
                    tag: NONE.into(),
                    digest: digest.to_string(),
                    info: info.clone(),
                });
            }
        }
        if rs.is_empty() {
            rs.push(Row {
                repository: NONE.into(),
                tag: NONE.into(),
                digest: NONE.into(),
                info: info.clone(),
            });
        }
        out.extend(rs);
    }
    out
}

fn created_ts(info: &ImageSummary) -> Option<f64> {
    (info.created != 0).then_some(info.created as f64)
}

fn row_value(r: &Row, no_trunc: bool) -> Value {
    let id = if no_trunc {
        r.info.id.clone()
    } else {
        ::engine::fsutil::short_id(&r.info.id).to_string()
    };
    let size = human_size(r.info.size.max(0) as u64);
    let created_at = created_ts(&r.info).map(go_time).unwrap_or_default();
    json!({
        "Containers": "N/A",
        "CreatedAt": created_at,
        "CreatedSince": since(created_ts(&r.info)),
        "Digest": r.digest,
        "ID": id,
        "Repository": r.repository,
        "SharedSize": "N/A",
        "Size": size,
        "Tag": r.tag,
        "UniqueSize": "N/A",
        "VirtualSize": size,
    })
}

pub fn list(g: &Globals, a: ImagesArgs) -> CmdResult {
    let mut filters = Filters::parse_cli(&a.filter).map_err(img_err)?;
    // As docker's CLI: `images REPOSITORY[:TAG]` is a reference filter.
    if let Some(r) = &a.repository {
        filters.add("reference", r.as_str());
    }
    let mut default = String::from("table {{.Repository}}\t{{.Tag}}");
    if a.digests {
        default.push_str("\t{{.Digest}}");
    }
    default.push_str("\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}");
    let format = super::list_format(a.format.as_deref(), &default)?;
    let store = g.store()?;
    let list = ::engine::images::list_with(&store, &filters, a.all).map_err(img_err)?;
    let rows: Vec<Row> = rows(list);
    if a.quiet {
        let mut s = String::new();
        for r in &rows {
            let v = row_value(r, a.no_trunc);
            s.push_str(v["ID"].as_str().unwrap_or_default());
            s.push('\n');
        }
        return out_raw(&s);
    }
    let values: Vec<Value> = rows.iter().map(|r| row_value(r, a.no_trunc)).collect();
    super::print_list(&format, IMAGE_HEADERS, &values)
}

/// JSON with 4-space indentation, as docker prints it.
pub(super) fn pretty<T: Serialize>(v: &T) -> String {
    let mut buf = Vec::new();
    let f = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, f);
    serde::Serialize::serialize(v, &mut ser).expect("serialise JSON value");
    String::from_utf8(buf).expect("JSON is UTF-8")
}

/// An engine error of the image verbs: docker's wording for the store's
/// errors; a bad flag value or an unreadable store is berth's own (125).
pub(super) fn img_err(e: ::engine::Error) -> CliError {
    match e {
        ::engine::Error::Image(e) => CliError::from(e),
        ::engine::Error::Conflict(m) | ::engine::Error::InvalidFilter(m) => CliError::new(m),
        e => CliError::daemon(e.to_string()),
    }
}

pub fn inspect(g: &Globals, a: InspectArgs) -> CmdResult {
    if let Some(t) = a.r#type.as_deref() {
        if t != "image" {
            return Err(CliError::daemon(format!(
                "invalid --type {t:?}: image inspect takes only image"
            )));
        }
    }
    let template = super::inspect_template(a.format.as_deref())?;
    let store = g.store()?;
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for name in &a.images {
        match ::engine::images::inspect(&store, name) {
            Ok(v) => values.push(v),
            Err(::engine::Error::Image(image::Error::ImageNotFound(_))) => {
                errors.push(format!("No such image: {name}"))
            }
            Err(::engine::Error::Image(e)) => errors.push(image_message(&e)),
            Err(e) => return Err(img_err(e)),
        }
    }
    // The JSON array keeps docker's field order (the structs'); a template
    // reads the objects as JSON values.
    if template.is_none() {
        out(&pretty(&values))?;
        return super::finish_inspect(errors);
    }
    let mut json = Vec::new();
    for v in &values {
        json.push(serde_json::to_value(v).map_err(|e| CliError::new(format!("inspect: {e}")))?);
    }
    super::print_inspect(&json, template.as_ref(), errors)
}

pub fn tag(g: &Globals, a: TagArgs) -> CmdResult {
    let store = g.store()?;
    ::engine::images::tag(&store, &a.source, &a.target).map_err(|e| match e {
        ::engine::Error::InvalidArgument(m) | ::engine::Error::NoSuchObject(m) => CliError::new(m),
        e => img_err(e),
    })
}

/// docker's line for a removal: `Untagged: x` / `Deleted: x`.
fn delete_line(i: &ImageDeleteItem) -> String {
    match i {
        ImageDeleteItem::Untagged(n) => format!("Untagged: {n}"),
        ImageDeleteItem::Deleted(d) => format!("Deleted: {d}"),
    }
}

pub fn rmi(g: &Globals, a: RmiArgs) -> CmdResult {
    let store = g.store()?;
    let report =
        ::engine::images::remove(&store, &a.images, a.force, a.no_prune).map_err(img_err)?;
    let mut last_err: Option<CliError> = None;
    for (_, r) in report.results {
        match r {
            Ok(items) => {
                for i in &items {
                    out(&delete_line(i))?;
                }
            }
            Err(e) => {
                if let Some(prev) = last_err.take() {
                    eprintln!("berth: {}", prev.msg);
                }
                last_err = Some(img_err(e));
            }
        }
    }
    for i in &report.collected {
        out(&delete_line(i))?;
    }
    match last_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

pub(super) fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let stdin = std::io::stdin();
    if !stdin.is_terminal() && stdin.lock().read_line(&mut line).unwrap_or(0) == 0 {
        return false;
    }
    if line.is_empty() && stdin.lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes" | "Yes")
}

pub fn prune(g: &Globals, a: PruneArgs) -> CmdResult {
    let filters = Filters::parse_cli(&a.filter)
        .map(|f| ::engine::PruneOptions::new(a.all, f))
        .and_then(|o| o.images())
        .map_err(img_err)?;
    if !a.force {
        let warning = if a.all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        };
        eprintln!("{warning}");
        if !confirm("Are you sure you want to continue?") {
            return Ok(());
        }
    }
    let store = g.store()?;
    let report = ::engine::images::prune(&store, &filters).map_err(img_err)?;
    for e in &report.errors {
        eprintln!("berth: {e}");
    }
    if !report.images_deleted.is_empty() {
        out("Deleted Images:")?;
        for i in &report.images_deleted {
            out(&match i {
                ImageDeleteItem::Untagged(n) => format!("untagged: {n}"),
                ImageDeleteItem::Deleted(d) => format!("deleted: {d}"),
            })?;
        }
        out("")?;
    }
    out(&format!(
        "Total reclaimed space: {}",
        human_size(report.space_reclaimed)
    ))
}
