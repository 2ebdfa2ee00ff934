//! images, image inspect, tag, rmi, image prune.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, IsTerminal, Write};

use image::{Digest, ImageInfo, Reference, Store};
use serde::Serialize;
use serde_json::{json, Value};

use super::{out, out_raw, parse_ref, CmdResult};
use crate::cli::{ImagesArgs, InspectArgs, PruneArgs, RmiArgs, TagArgs};
use crate::error::{image_message, reference_message, CliError};
use crate::fmt::{go_time, human_size, parse_rfc3339, since};
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
    info: ImageInfo,
    /// Uncompressed size of the layers.
    size: u64,
}

/// One row per tag; an untagged image gets one row per digest name, or a
/// single `<none>` row (docker's rules).
fn rows(store: &Store, images: Vec<ImageInfo>) -> Vec<Row> {
    let mut out = Vec::new();
    for info in images {
        let size = store.image_size(&info.record);
        let digest_for = |repo: &Reference| {
            info.repo_digests
                .iter()
                .find(|d| d.name() == repo.name())
                .and_then(|d| d.digest())
                .map(|d| d.to_string())
                .unwrap_or_else(|| NONE.into())
        };
        let mut rs: Vec<Row> = Vec::new();
        for t in &info.repo_tags {
            rs.push(Row {
                repository: t.familiar_name(),
                tag: t.tag().unwrap_or(NONE).to_string(),
                digest: digest_for(t),
                info: info.clone(),
                size,
            });
        }
        if rs.is_empty() {
            for d in &info.repo_digests {
                rs.push(Row {
                    repository: d.familiar_name(),
                    tag: NONE.into(),
                    digest: d.digest().map(|d| d.to_string()).unwrap_or_default(),
                    info: info.clone(),
                    size,
                });
            }
        }
        if rs.is_empty() {
            rs.push(Row {
                repository: NONE.into(),
                tag: NONE.into(),
                digest: NONE.into(),
                info: info.clone(),
                size,
            });
        }
        out.extend(rs);
    }
    out
}

fn created_ts(info: &ImageInfo) -> Option<f64> {
    info.record.created.as_deref().and_then(parse_rfc3339)
}

fn row_value(r: &Row, no_trunc: bool) -> Value {
    let id = if no_trunc {
        r.info.record.id.to_string()
    } else {
        r.info.record.id.short().to_string()
    };
    let size = human_size(r.size);
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

/// `busybox` or `busybox:1.36` against a row (`*` globs in the last
/// path component are not supported; exact names only).
fn matches_repo(r: &Row, want: &str) -> bool {
    let (repo, tag) = match want.rfind(':') {
        Some(i) if !want[i..].contains('/') => (&want[..i], Some(&want[i + 1..])),
        _ => (want, None),
    };
    let norm = |s: &str| {
        Reference::parse_named(s)
            .map(|r| r.name())
            .unwrap_or_else(|_| s.to_string())
    };
    let row_name = if r.repository == NONE {
        String::new()
    } else {
        norm(&r.repository)
    };
    row_name == norm(repo) && tag.map_or(true, |t| t == r.tag)
}

fn filter_row(r: &Row, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(k, v)| match k.as_str() {
        "dangling" => (r.info.repo_tags.is_empty()) == (v == "true"),
        "reference" => matches_repo(r, v),
        _ => true,
    })
}

pub fn list(g: &Globals, a: ImagesArgs) -> CmdResult {
    let mut filters = Vec::new();
    for f in &a.filter {
        match f.split_once('=') {
            Some((k, v)) if matches!(k, "dangling" | "reference") => {
                if k == "dangling" && !matches!(v, "true" | "false") {
                    return Err(CliError::new(format!(
                        "invalid filter 'dangling={v}': expected true or false"
                    )));
                }
                filters.push((k.to_string(), v.to_string()))
            }
            _ => return Err(CliError::new(format!("invalid filter '{f}'"))),
        }
    }
    let mut default = String::from("table {{.Repository}}\t{{.Tag}}");
    if a.digests {
        default.push_str("\t{{.Digest}}");
    }
    default.push_str("\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}");
    let format = super::list_format(a.format.as_deref(), &default)?;
    let store = g.store()?;
    let all = store.list()?;
    let rows: Vec<Row> = rows(&store, all)
        .into_iter()
        .filter(|r| a.repository.as_deref().map_or(true, |w| matches_repo(r, w)))
        .filter(|r| filter_row(r, &filters))
        .collect();
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

/// `docker image inspect`'s shape (field order as docker prints it).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Inspect {
    id: String,
    repo_tags: Vec<String>,
    repo_digests: Vec<String>,
    parent: String,
    comment: String,
    created: String,
    docker_version: String,
    author: String,
    config: InspectConfig,
    architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
    os: String,
    size: u64,
    #[serde(rename = "RootFS")]
    root_fs: InspectRootFs,
    metadata: InspectMetadata,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InspectConfig {
    user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    exposed_ports: Option<BTreeMap<String, Value>>,
    env: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    volumes: Option<BTreeMap<String, Value>>,
    working_dir: String,
    entrypoint: Option<Vec<String>>,
    on_build: Option<Vec<String>>,
    labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_signal: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InspectRootFs {
    r#type: String,
    layers: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InspectMetadata {
    last_tag_time: String,
}

fn non_empty<T: IntoIterator + Clone>(v: &T) -> Option<T>
where
    T::IntoIter: ExactSizeIterator,
{
    if v.clone().into_iter().len() == 0 {
        None
    } else {
        Some(v.clone())
    }
}

/// The image in `docker image inspect`'s shape.
fn inspect_value(store: &Store, info: &ImageInfo) -> Result<Inspect, CliError> {
    let rec = &info.record;
    let cfg = store.config(rec)?;
    let c = cfg.config.clone().unwrap_or_default();
    let comment = cfg
        .history
        .last()
        .and_then(|h| h.comment.clone())
        .unwrap_or_default();
    let v = Inspect {
        id: rec.id.to_string(),
        repo_tags: info.repo_tags.iter().map(|r| r.familiar()).collect(),
        repo_digests: info.repo_digests.iter().map(|r| r.familiar()).collect(),
        parent: String::new(),
        comment,
        created: cfg
            .created
            .clone()
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        docker_version: String::new(),
        author: cfg.author.clone().unwrap_or_default(),
        config: InspectConfig {
            user: c.user.clone().unwrap_or_default(),
            exposed_ports: non_empty(&c.exposed_ports),
            env: non_empty(&c.env),
            cmd: c.cmd.clone(),
            volumes: non_empty(&c.volumes),
            working_dir: c.working_dir.clone().unwrap_or_default(),
            entrypoint: c.entrypoint.clone(),
            on_build: c.on_build.clone(),
            labels: non_empty(&c.labels),
            stop_signal: c.stop_signal.clone(),
        },
        architecture: cfg.architecture.clone(),
        variant: cfg.variant.clone(),
        os: cfg.os.clone(),
        size: store.image_size(rec),
        root_fs: InspectRootFs {
            r#type: cfg.rootfs.kind.clone(),
            layers: cfg.rootfs.diff_ids.iter().map(|d| d.to_string()).collect(),
        },
        metadata: InspectMetadata {
            last_tag_time: "0001-01-01T00:00:00Z".into(),
        },
    };
    Ok(v)
}

/// JSON with 4-space indentation, as docker prints it.
pub(super) fn pretty<T: Serialize>(v: &T) -> String {
    let mut buf = Vec::new();
    let f = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, f);
    serde::Serialize::serialize(v, &mut ser).expect("serialise JSON value");
    String::from_utf8(buf).expect("JSON is UTF-8")
}

/// One image in `inspect`'s JSON shape; `Ok(None)` when there is none.
pub(super) fn image_json(store: &Store, name: &str) -> Result<Option<Value>, CliError> {
    match store.resolve(name) {
        Ok(info) => {
            let v = inspect_value(store, &info)?;
            Ok(Some(
                serde_json::to_value(&v).map_err(|e| CliError::new(format!("inspect: {e}")))?,
            ))
        }
        Err(image::Error::ImageNotFound(_)) => Ok(None),
        Err(e) => Err(CliError::new(image_message(&e))),
    }
}

pub fn inspect(g: &Globals, a: InspectArgs) -> CmdResult {
    if let Some(t) = a.r#type.as_deref() {
        if t != "image" {
            return Err(CliError::new(format!(
                "type {t:?} is not supported yet: only images can be inspected"
            )));
        }
    }
    let template = super::inspect_template(a.format.as_deref())?;
    let store = g.store()?;
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for name in &a.images {
        match store.resolve(name) {
            Ok(info) => values.push(inspect_value(&store, &info)?),
            Err(image::Error::ImageNotFound(_)) => errors.push(format!("No such image: {name}")),
            Err(e) => errors.push(image_message(&e)),
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
    let target = parse_ref(&a.target)?;
    if target.digest().is_some() {
        return Err(CliError::new(format!(
            "refusing to create a tag with a digest reference: {}",
            a.target
        )));
    }
    if let Err(e) = Reference::parse(&a.source) {
        if !looks_like_id(&a.source) {
            return Err(CliError::new(reference_message(&e)));
        }
    }
    let store = g.store()?;
    store.tag(&a.source, &target).map_err(|e| match e {
        image::Error::ImageNotFound(_) => {
            CliError::new(format!("No such image: {}", familiar_or(&a.source)))
        }
        e => CliError::from(e),
    })
}

fn looks_like_id(s: &str) -> bool {
    let h = s.strip_prefix("sha256:").unwrap_or(s);
    h.len() >= 4 && h.len() <= 64 && h.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `busybox` → `busybox:latest` (how docker names a missing image).
fn familiar_or(s: &str) -> String {
    if looks_like_id(s) {
        return s.to_string();
    }
    Reference::parse(s)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| s.to_string())
}

fn names(info: &ImageInfo) -> Vec<Reference> {
    info.repo_tags
        .iter()
        .chain(&info.repo_digests)
        .cloned()
        .collect()
}

/// Remove one name or image; the lines docker prints for it.
fn remove_one(store: &Store, s: &str, force: bool) -> Result<(Vec<String>, bool), CliError> {
    let not_found = || CliError::new(format!("No such image: {}", familiar_or(s)));
    let info = match store.resolve(s) {
        Ok(i) => i,
        Err(image::Error::ImageNotFound(_)) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    let users = ::engine::inuse::containers_using(store, &info.record.id).map_err(daemon_err)?;
    let all_names = names(&info);
    let by_name = Reference::parse(s).ok().filter(|r| all_names.contains(r));
    let running = users.iter().find(|(_, r)| *r).map(|(c, _)| c.clone());
    // docker's rules: a name may go while other names remain; the last name
    // of an image a container uses, or the image by id, needs -f; with -f,
    // the last name of an image a running container uses is removed but the
    // image stays, and the image itself cannot be deleted under it.
    // docker's isSingleReference: at most one tag, and any digest names in
    // that tag's repository.
    let single_repo = info.repo_tags.len() <= 1
        && all_names
            .iter()
            .all(|n| all_names.first().is_some_and(|f| f.name() == n.name()));
    if let Some(r) = &by_name {
        if !force && single_repo && !users.is_empty() {
            return Err(CliError::new(format!(
                "conflict: unable to remove repository reference \"{s}\" (must force) - container {} is using its referenced image {}",
                users[0].0,
                info.record.id.short()
            )));
        }
        if running.is_some() {
            store.untag_keep(r)?;
            return Ok((vec![format!("Untagged: {}", r.familiar())], false));
        }
    } else if let Some(c) = &running {
        return Err(CliError::new(format!(
            "conflict: unable to delete {} (cannot be forced) - image is being used by running container {c}",
            info.record.id.short()
        )));
    } else if !force && !users.is_empty() {
        return Err(CliError::new(format!(
            "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
            info.record.id.short(),
            users[0].0
        )));
    }
    let deleted = store.remove(s, force).map_err(|e| match e {
        image::Error::ImageNotFound(_) => not_found(),
        image::Error::Conflict(m) => CliError::new(format!(
            "conflict: unable to delete {} (must be forced) - {m}",
            info.record.id.short()
        )),
        e => e.into(),
    })?;
    let after: HashSet<Reference> = if deleted.is_empty() {
        store
            .resolve(&info.record.id.to_string())
            .map(|i| names(&i).into_iter().collect())
            .unwrap_or_default()
    } else {
        HashSet::new()
    };
    let mut lines: Vec<String> = names(&info)
        .into_iter()
        .filter(|n| !after.contains(n))
        .map(|n| format!("Untagged: {}", n.familiar()))
        .collect();
    for d in &deleted {
        lines.push(format!("Deleted: {d}"));
    }
    Ok((lines, !deleted.is_empty()))
}

/// Reclaim what no image references any more (the GC lock held); the
/// deleted snapshots. The layers in use are listed under the lock: no
/// container create is under way then.
fn collect(store: &Store, held: &image::GcLock) -> Result<image::GcReport, CliError> {
    let keep = ::engine::inuse::snapshots_in_use(store).map_err(daemon_err)?;
    store.gc_locked(held, &keep).map_err(CliError::from)
}

/// `system prune`'s part of the image store: garbage collection when no
/// pull, unpack or create holds a lease (without waiting for one), else
/// what killed processes left in `tmp/`. The bytes reclaimed.
pub(super) fn collect_garbage(store: &Store) -> Result<u64, CliError> {
    match store.try_gc_lock()? {
        Some(held) => {
            let r = collect(store, &held)?;
            Ok(r.bytes + r.temp_bytes)
        }
        None => Ok(store.content().reclaim_dead_temp()?.1),
    }
}

pub fn rmi(g: &Globals, a: RmiArgs) -> CmdResult {
    let store = g.store()?;
    // Whether an image is in use is decided with no create under way
    // (a create holds a lease from resolving its image to writing its
    // record), and stays true until the image is gone.
    let held = store.gc_lock()?;
    let mut last_err: Option<CliError> = None;
    let mut any_deleted = false;
    for s in &a.images {
        match remove_one(&store, s, a.force) {
            Ok((lines, deleted)) => {
                any_deleted |= deleted;
                for l in lines {
                    out(&l)?;
                }
            }
            Err(e) => {
                if let Some(prev) = last_err.take() {
                    eprintln!("berth: {}", prev.msg);
                }
                last_err = Some(e);
            }
        }
    }
    if any_deleted && !a.no_prune {
        let report = collect(&store, &held)?;
        for c in &report.snapshots {
            out(&format!("Deleted: {c}"))?;
        }
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
    // (See rmi: no create is under way while it is held.)
    let held = store.gc_lock()?;
    let mut lines = Vec::new();
    for info in store.list()? {
        let dangling = info.repo_tags.is_empty();
        if !(a.all || dangling) {
            continue;
        }
        if !::engine::inuse::containers_using(&store, &info.record.id)
            .map_err(daemon_err)?
            .is_empty()
        {
            continue;
        }
        let id: &Digest = &info.record.id;
        match remove_one(&store, &id.to_string(), true) {
            Ok((ls, _)) => lines.extend(ls.into_iter().map(|l| {
                l.replacen("Untagged:", "untagged:", 1)
                    .replacen("Deleted:", "deleted:", 1)
            })),
            Err(e) => eprintln!("berth: {}", e.msg),
        }
    }
    let report = collect(&store, &held)?;
    if !lines.is_empty() {
        out("Deleted Images:")?;
        for l in lines {
            out(&l)?;
        }
        out("")?;
    }
    out(&format!(
        "Total reclaimed space: {}",
        human_size(report.bytes)
    ))
}

/// An in-use check that could not read the store: berth's own failure.
fn daemon_err(e: ::engine::Error) -> CliError {
    CliError::daemon(e.to_string())
}
