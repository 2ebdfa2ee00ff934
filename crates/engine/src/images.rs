//! The image rules every face applies, over an image store: `images` with
//! docker's filters ([`list`], [`ImageSummary`]), `image inspect`
//! ([`inspect`], [`ImageInspect`]), `rmi`'s removal rules ([`remove`],
//! [`ImageDeleteItem`]), `image prune` ([`prune`], [`ImagesPruneReport`])
//! and garbage collection of what no image nor container uses
//! ([`collect_garbage`]). The in-use rule is [`crate::inuse`]'s.

use std::collections::{BTreeMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use image::{ImageInfo, Reference, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::filters::{self, Filters};
use crate::inuse;

/// One image of `images` (docker's API `ImageSummary`). `RepoTags` and
/// `RepoDigests` are familiar names (`busybox:latest`,
/// `busybox@sha256:…`); with a `reference` filter, only the names it
/// matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    /// Containers using the image; -1: not computed (docker's default).
    pub containers: i64,
    /// Unix seconds; 0 when the image has no creation time.
    pub created: i64,
    pub id: String,
    pub labels: BTreeMap<String, String>,
    pub parent_id: String,
    pub repo_digests: Vec<String>,
    pub repo_tags: Vec<String>,
    /// -1: not computed (docker's default).
    pub shared_size: i64,
    /// The unpacked size of the layers.
    pub size: i64,
}

/// A record's creation time, if it has a valid one.
fn created_of(info: &ImageInfo) -> Option<SystemTime> {
    info.record
        .created
        .as_deref()
        .and_then(crate::timeutil::parse)
}

fn unix(t: Option<SystemTime>) -> i64 {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// An image of the store with what the rules read of its config, read
/// once: the `parent` it names (a commit's or a build step's base) and
/// its labels (none of either if the config is unreadable).
struct Known {
    info: ImageInfo,
    parent: Option<String>,
    labels: BTreeMap<String, String>,
}

/// The store's images (newest first), each config read once.
fn known(store: &Store) -> Result<Vec<Known>> {
    Ok(store
        .list()?
        .into_iter()
        .map(|info| {
            let cfg = store.config(&info.record).ok();
            let parent = cfg.as_ref().and_then(|c| c.parent.clone());
            let labels = cfg
                .and_then(|c| c.config)
                .map(|c| c.labels.into_iter().collect())
                .unwrap_or_default();
            Known {
                info,
                parent,
                labels,
            }
        })
        .collect())
}

/// Docker's parent relation: the ids of the images another of `images`
/// names as its parent (the builder's steps under the image built from
/// them), which `images` hides and `image prune` keeps.
fn with_children(images: &[Known]) -> HashSet<&str> {
    images.iter().filter_map(|k| k.parent.as_deref()).collect()
}

/// Docker's `reference.FamiliarMatch`: the pattern against the familiar
/// string (`busybox:latest`), else the familiar name (`busybox`).
fn familiar_match(pattern: &str, r: &Reference) -> bool {
    filters::glob_match(pattern, &r.familiar()) || filters::glob_match(pattern, &r.familiar_name())
}

/// The creation time of the image a `before`/`since` filter names.
fn time_of_image(store: &Store, key: &str, filters: &Filters) -> Result<Option<SystemTime>> {
    let Some(name) = filters.get(key).first().copied() else {
        return Ok(None);
    };
    let info = store.resolve(name)?;
    Ok(Some(created_of(&info).unwrap_or(UNIX_EPOCH)))
}

/// `images [--filter ...]`, newest first: docker's filters `dangling`,
/// `label`, `label!`, `before`, `since` and `reference` (globs as Go's
/// path.Match over the familiar names).
pub fn list(store: &Store, filters: &Filters) -> Result<Vec<ImageSummary>> {
    list_with(store, filters, true)
}

/// [`list`]; without `all` (docker's default), intermediate images are
/// left out: untagged images another image names as its `parent` (the
/// builder's steps).
pub fn list_with(store: &Store, filters: &Filters, all: bool) -> Result<Vec<ImageSummary>> {
    filters.validate(filters::keys::IMAGES)?;
    let dangling = filters.bool_value("dangling")?;
    let before = time_of_image(store, "before", filters)?;
    let since = time_of_image(store, "since", filters)?;
    let patterns = filters.get("reference");
    let want_labels = filters.contains("label") || filters.contains("label!");
    let images = known(store)?;
    let parents = if all {
        HashSet::new()
    } else {
        with_children(&images)
    };
    let mut out = Vec::new();
    for Known { info, labels, .. } in &images {
        let created = created_of(info);
        let t = created.unwrap_or(UNIX_EPOCH);
        if before.is_some_and(|b| t >= b) || since.is_some_and(|s| t <= s) {
            continue;
        }
        let keep =
            |r: &&Reference| patterns.is_empty() || patterns.iter().any(|p| familiar_match(p, r));
        let repo_tags: Vec<String> = info
            .repo_tags
            .iter()
            .filter(keep)
            .map(|r| r.familiar())
            .collect();
        let repo_digests: Vec<String> = info
            .repo_digests
            .iter()
            .filter(keep)
            .map(|r| r.familiar())
            .collect();
        if !patterns.is_empty() && repo_tags.is_empty() && repo_digests.is_empty() {
            continue;
        }
        if !all
            && info.repo_tags.is_empty()
            && parents.contains(info.record.id.to_string().as_str())
        {
            continue;
        }
        // Dangling: no tag (docker's rule: `dangling=false` lists the tagged).
        if dangling.is_some_and(|d| d != info.repo_tags.is_empty()) {
            continue;
        }
        if want_labels && !filters.match_labels(labels) {
            continue;
        }
        out.push(ImageSummary {
            containers: -1,
            created: unix(created),
            id: info.record.id.to_string(),
            labels: labels.clone(),
            parent_id: String::new(),
            repo_digests,
            repo_tags,
            shared_size: -1,
            size: store.image_size(&info.record) as i64,
        });
    }
    Ok(out)
}

// ---- inspect ----------------------------------------------------------------

/// `docker image inspect`'s shape (field order as docker prints it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    pub created: String,
    pub docker_version: String,
    pub author: String,
    pub config: ImageInspectConfig,
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub os: String,
    pub size: u64,
    #[serde(rename = "RootFS")]
    pub root_fs: ImageInspectRootFs,
    pub metadata: ImageInspectMetadata,
}

/// The image's `Config` as docker's inspect prints it (empty lists and
/// maps as null).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspectConfig {
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<image::manifest::Healthcheck>,
    pub volumes: Option<BTreeMap<String, Value>>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    pub on_build: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspectRootFs {
    pub r#type: String,
    pub layers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspectMetadata {
    pub last_tag_time: String,
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

/// `image inspect NAME` (name, id or unique id prefix).
pub fn inspect(store: &Store, name: &str) -> Result<ImageInspect> {
    let info = store.resolve(name)?;
    inspect_info(store, &info)
}

fn inspect_info(store: &Store, info: &ImageInfo) -> Result<ImageInspect> {
    let rec = &info.record;
    let cfg = store.config(rec)?;
    let c = cfg.config.clone().unwrap_or_default();
    let comment = cfg
        .history
        .last()
        .and_then(|h| h.comment.clone())
        .unwrap_or_default();
    Ok(ImageInspect {
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
        config: ImageInspectConfig {
            user: c.user.clone().unwrap_or_default(),
            exposed_ports: non_empty(&c.exposed_ports),
            env: non_empty(&c.env),
            cmd: c.cmd.clone(),
            healthcheck: c.healthcheck.clone(),
            volumes: non_empty(&c.volumes),
            working_dir: c.working_dir.clone().unwrap_or_default(),
            entrypoint: c.entrypoint.clone(),
            on_build: c.on_build.clone(),
            labels: non_empty(&c.labels),
            stop_signal: c.stop_signal.clone(),
            shell: c.shell.clone(),
        },
        architecture: cfg.architecture.clone(),
        variant: cfg.variant.clone(),
        os: cfg.os.clone(),
        size: store.image_size(rec),
        root_fs: ImageInspectRootFs {
            r#type: cfg.rootfs.kind.clone(),
            layers: cfg.rootfs.diff_ids.iter().map(|d| d.to_string()).collect(),
        },
        metadata: ImageInspectMetadata {
            last_tag_time: "0001-01-01T00:00:00Z".into(),
        },
    })
}

// ---- removal ------------------------------------------------------------------

/// One line of `rmi` / `image prune` (docker's `ImageDeleteResponseItem`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageDeleteItem {
    Untagged(String),
    Deleted(String),
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

fn looks_like_id(s: &str) -> bool {
    let h = s.strip_prefix("sha256:").unwrap_or(s);
    h.len() >= 4 && h.len() <= 64 && h.bytes().all(|b| b.is_ascii_hexdigit())
}

fn names(info: &ImageInfo) -> Vec<Reference> {
    info.repo_tags
        .iter()
        .chain(&info.repo_digests)
        .cloned()
        .collect()
}

fn not_found(s: &str) -> Error {
    Error::Image(image::Error::ImageNotFound(familiar_or(s)))
}

/// Removes one name or image with docker's rules; the caller holds the
/// store's GC lock (no create is under way, so "in use" stays true until
/// the image is gone). Returns what it untagged and deleted.
pub fn remove_locked(
    store: &Store,
    _held: &image::GcLock,
    s: &str,
    force: bool,
) -> Result<Vec<ImageDeleteItem>> {
    let info = match store.resolve(s) {
        Ok(i) => i,
        Err(image::Error::ImageNotFound(_)) => return Err(not_found(s)),
        Err(e) => return Err(e.into()),
    };
    let users = inuse::containers_using(store, &info.record.id)?;
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
            return Err(Error::Conflict(format!(
                "conflict: unable to remove repository reference \"{s}\" (must force) - container {} is using its referenced image {}",
                users[0].0,
                info.record.id.short()
            )));
        }
        if running.is_some() {
            store.untag_keep(r)?;
            return Ok(vec![ImageDeleteItem::Untagged(r.familiar())]);
        }
    } else if let Some(c) = &running {
        return Err(Error::Conflict(format!(
            "conflict: unable to delete {} (cannot be forced) - image is being used by running container {c}",
            info.record.id.short()
        )));
    } else if !force && !users.is_empty() {
        return Err(Error::Conflict(format!(
            "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
            info.record.id.short(),
            users[0].0
        )));
    }
    let deleted = store.remove(s, force).map_err(|e| match e {
        image::Error::ImageNotFound(_) => not_found(s),
        image::Error::Conflict(m) => Error::Conflict(format!(
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
    let mut items: Vec<ImageDeleteItem> = names(&info)
        .into_iter()
        .filter(|n| !after.contains(n))
        .map(|n| ImageDeleteItem::Untagged(n.familiar()))
        .collect();
    items.extend(
        deleted
            .iter()
            .map(|d| ImageDeleteItem::Deleted(d.to_string())),
    );
    Ok(items)
}

/// What `rmi NAME...` did: per name, its lines or its error; then the
/// snapshots garbage collection removed (none with `no_prune` or when no
/// image was deleted).
#[derive(Debug, Default)]
pub struct RemoveReport {
    pub results: Vec<(String, Result<Vec<ImageDeleteItem>>)>,
    pub collected: Vec<ImageDeleteItem>,
}

/// `rmi [-f] [--no-prune] NAME...`.
pub fn remove(
    store: &Store,
    names: &[String],
    force: bool,
    no_prune: bool,
) -> Result<RemoveReport> {
    let held = store.gc_lock()?;
    let mut report = RemoveReport::default();
    let mut any_deleted = false;
    for n in names {
        let r = remove_locked(store, &held, n, force);
        if let Ok(items) = &r {
            any_deleted |= items
                .iter()
                .any(|i| matches!(i, ImageDeleteItem::Deleted(_)));
        }
        report.results.push((n.clone(), r));
    }
    if any_deleted && !no_prune {
        let gc = collect_locked(store, &held)?;
        report.collected = gc
            .snapshots
            .iter()
            .map(|c| ImageDeleteItem::Deleted(c.to_string()))
            .collect();
    }
    Ok(report)
}

/// Reclaims what no image references any more (the GC lock held); the
/// layers in use are listed under the lock (no create is under way then).
pub fn collect_locked(store: &Store, held: &image::GcLock) -> Result<image::GcReport> {
    let keep = inuse::snapshots_in_use(store)?;
    Ok(store.gc_locked(held, &keep)?)
}

/// `system prune`'s part of the image store: garbage collection when no
/// pull, unpack or create holds a lease (without waiting for one), else
/// what killed processes left in `tmp/`. The bytes reclaimed.
pub fn collect_garbage(store: &Store) -> Result<u64> {
    match store.try_gc_lock()? {
        Some(held) => {
            let r = collect_locked(store, &held)?;
            Ok(r.bytes + r.temp_bytes)
        }
        None => Ok(store.content().reclaim_dead_temp()?.1),
    }
}

// ---- prune ----------------------------------------------------------------------

/// What `image prune` removed (docker's `ImagesPruneReport`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImagesPruneReport {
    pub images_deleted: Vec<ImageDeleteItem>,
    pub space_reclaimed: u64,
    /// What killed pulls, unpacks and creates left in `tmp/`, reclaimed
    /// by the same collection (not docker's; `system prune` counts it).
    #[serde(skip)]
    pub temp_reclaimed: u64,
    /// Images that could not be removed (one line each; not docker's).
    #[serde(skip)]
    pub errors: Vec<String>,
}

/// `image prune`'s filters (`dangling`, `until`, `label`, `label!`);
/// whether only dangling images go (the default).
pub(crate) fn check_prune(filters: &Filters) -> Result<bool> {
    filters.validate(filters::keys::IMAGE_PRUNE)?;
    filters.until()?;
    Ok(filters.bool_value("dangling")?.unwrap_or(true))
}

/// `image prune [-a] [--filter ...]`: images no container uses, dangling
/// ones only unless `dangling=false` (the CLI's `-a`), with docker's
/// filters `until`, `label`, `label!`.
pub fn prune(store: &Store, filters: &Filters) -> Result<ImagesPruneReport> {
    let dangling_only = check_prune(filters)?;
    let until = filters.until()?;
    let held = store.gc_lock()?;
    let mut report = ImagesPruneReport::default();
    // docker's ImagesPrune: only images no other image names as its
    // parent (the builder's steps stay under the image built from them),
    // then, as its ImageDelete does, the parents those leave childless
    // (rounds until none goes). The images are listed and their configs
    // read once: nothing registers an image under the GC lock.
    let mut images = known(store)?;
    let mut tried = HashSet::new();
    loop {
        let deleted = prune_round(
            store,
            &held,
            filters,
            dangling_only,
            until,
            &images,
            &mut tried,
            &mut report,
        )?;
        if deleted.is_empty() {
            break;
        }
        images.retain(|k| !deleted.contains(&k.info.record.id.to_string()));
    }
    let gc = collect_locked(store, &held)?;
    report.space_reclaimed = gc.bytes;
    report.temp_reclaimed = gc.temp_bytes;
    Ok(report)
}

/// One round of [`prune`] over `images`: those without children, not
/// `tried` before; the ids it deleted.
#[allow(clippy::too_many_arguments)]
fn prune_round(
    store: &Store,
    held: &image::GcLock,
    filters: &Filters,
    dangling_only: bool,
    until: Option<std::time::SystemTime>,
    images: &[Known],
    tried: &mut HashSet<String>,
    report: &mut ImagesPruneReport,
) -> Result<HashSet<String>> {
    let parents = with_children(images);
    let mut deleted = HashSet::new();
    for Known { info, labels, .. } in images {
        let id = info.record.id.to_string();
        if parents.contains(id.as_str()) || !tried.insert(id.clone()) {
            continue;
        }
        if dangling_only && !info.repo_tags.is_empty() {
            continue;
        }
        if let (Some(u), Some(c)) = (until, created_of(info)) {
            if c > u {
                continue;
            }
        }
        if (filters.contains("label") || filters.contains("label!"))
            && !filters.match_labels(labels)
        {
            continue;
        }
        if !inuse::containers_using(store, &info.record.id)?.is_empty() {
            continue;
        }
        // Tagged since the listing (a tag takes no lease, so the GC lock
        // does not keep it out): no longer dangling.
        if dangling_only
            && store
                .resolve(&id)
                .map_or(true, |now| !now.repo_tags.is_empty())
        {
            continue;
        }
        match remove_locked(store, held, &id, true) {
            Ok(items) => {
                for it in &items {
                    if let ImageDeleteItem::Deleted(d) = it {
                        deleted.insert(d.clone());
                    }
                }
                report.images_deleted.extend(items);
            }
            Err(e) => report.errors.push(e.to_string()),
        }
    }
    Ok(deleted)
}

// ---- pull policy ------------------------------------------------------------------

/// `tag SOURCE TARGET` with docker's rules: the target is a name with a
/// tag (a digest is refused), the source an image name or id; a missing
/// source is docker's `No such image: busybox:latest`.
pub fn tag(store: &Store, source: &str, target: &str) -> Result<()> {
    let t = image::Reference::parse(target).map_err(image::Error::from)?;
    if t.digest().is_some() {
        return Err(Error::InvalidArgument(format!(
            "refusing to create a tag with a digest reference: {target}"
        )));
    }
    if let Err(e) = image::Reference::parse(source) {
        if !looks_like_id(source) {
            return Err(image::Error::from(e).into());
        }
    }
    store.tag(source, &t).map_err(|e| match e {
        image::Error::ImageNotFound(_) => {
            Error::NoSuchObject(format!("No such image: {}", familiar_or(source)))
        }
        e => e.into(),
    })
}

/// `run`/`create --pull`: when the image is pulled first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PullPolicy {
    /// Always pull (the registry's image replaces the local one).
    Always,
    /// Pull only when the store does not have it (docker's default).
    #[default]
    Missing,
    /// Never pull: a missing image is an error.
    Never,
}

impl std::str::FromStr for PullPolicy {
    type Err = Error;

    fn from_str(s: &str) -> Result<PullPolicy> {
        match s {
            "always" => Ok(PullPolicy::Always),
            "missing" | "" => Ok(PullPolicy::Missing),
            "never" => Ok(PullPolicy::Never),
            _ => Err(Error::InvalidArgument(format!(
                "invalid pull option: '{s}': must be one of \"always\", \"missing\" or \"never\""
            ))),
        }
    }
}

/// What a create must do about its image under a [`PullPolicy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullDecision {
    /// The store has it and the policy does not ask for a pull.
    UseLocal,
    /// Pull `reference` first; `missing`: the store does not have it
    /// (docker then says "Unable to find image 'x' locally").
    Pull { reference: Reference, missing: bool },
}

/// Docker's pull policy for `run`/`create` of `name`: a missing image
/// with `never` is "No such image"; an id or a short id is never pulled.
pub fn pull_decision(store: &Store, name: &str, policy: PullPolicy) -> Result<PullDecision> {
    let present = match store.resolve(name) {
        Ok(_) => true,
        Err(image::Error::ImageNotFound(_)) => false,
        Err(e) => return Err(e.into()),
    };
    let pull = match policy {
        PullPolicy::Always => true,
        PullPolicy::Never => false,
        PullPolicy::Missing => !present,
    };
    if !pull {
        if !present {
            return Err(Error::NoSuchObject(format!("No such image: {name}")));
        }
        return Ok(PullDecision::UseLocal);
    }
    let reference = Reference::parse(name).map_err(image::Error::from)?;
    Ok(PullDecision::Pull {
        reference,
        missing: !present,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policies() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!("never".parse::<PullPolicy>().unwrap(), PullPolicy::Never);
        let e = "sometimes".parse::<PullPolicy>().unwrap_err();
        assert!(
            e.to_string().contains("invalid pull option: 'sometimes'"),
            "{e}"
        );
        let e = pull_decision(&store, "busybox", PullPolicy::Never).unwrap_err();
        assert_eq!(e.to_string(), "No such image: busybox");
        match pull_decision(&store, "busybox", PullPolicy::Missing).unwrap() {
            PullDecision::Pull { reference, missing } => {
                assert!(missing);
                assert_eq!(reference.familiar(), "busybox:latest");
            }
            d => panic!("{d:?}"),
        }
        assert!(pull_decision(&store, "Bad Name", PullPolicy::Always).is_err());
    }
}
