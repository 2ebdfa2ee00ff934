//! The build cache as a whole: what it holds ([`usage`], the rows of
//! `system df`), `builder prune` ([`prune`]) and the size cap a build
//! enforces when it ends ([`auto_gc`]).
//!
//! The cache is the step cache's entries (grouped by the image they name;
//! an entry's size is the bytes of the layers its image adds over its
//! parent) and the `RUN --mount=type=cache` directories. An entry whose
//! layers a tagged image also holds is *shared*: removing it frees nothing
//! and `prune` without `all` keeps it.
//!
//! Builds hold `<root>/build/gc.lock` shared while they run; `prune` takes
//! it exclusively and refuses while a build holds it, so nothing a running
//! build may still use is removed. Entries go least recently used first.
//!
//! The default cap ([`default_cap`]), as BuildKit's default GC policy:
//! 10% of the size of the filesystem holding the store, at least 2 GB and
//! at most 20 GB. A build that leaves the cache above it evicts the least
//! recently used unshared entries until it fits (when no other build runs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use berth_util::lock::{FileLock, LockKind};
use engine::system::BuildCacheRecord;

use crate::cache::StepCache;
use crate::{Error, Result};

/// What a cache record is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Step cache entries (keys) naming one image.
    Steps { keys: Vec<String>, image: String },
    /// A `RUN --mount=type=cache` directory.
    Mount(PathBuf),
}

/// One record of the build cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// BuildKit-like id (25 hex characters).
    pub id: String,
    pub item: Item,
    /// Bytes it alone holds.
    pub size: u64,
    /// A tagged image holds its layers too.
    pub shared: bool,
    pub usage_count: u64,
    /// Unix seconds.
    pub created: i64,
    pub last_used: i64,
}

impl Record {
    /// docker's record type: `regular` or `exec.cachemount`.
    pub fn kind(&self) -> &'static str {
        match self.item {
            Item::Steps { .. } => "regular",
            Item::Mount(_) => "exec.cachemount",
        }
    }

    /// The `/system/df` form.
    pub fn to_df(&self) -> BuildCacheRecord {
        let t = |s: i64| berth_util::time::rfc3339_nanos(s, 0);
        BuildCacheRecord {
            id: self.id.clone(),
            kind: self.kind().into(),
            size: self.size,
            in_use: false,
            shared: self.shared,
            usage_count: self.usage_count,
            created_at: t(self.created),
            last_used_at: (self.last_used > 0).then(|| t(self.last_used)),
        }
    }
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

fn gc_lock_path(root: &Path) -> PathBuf {
    root.join("build").join("gc.lock")
}

/// The lock a build holds (shared) while it runs.
pub(crate) fn lease(root: &Path) -> Result<FileLock> {
    let p = gc_lock_path(root);
    std::fs::create_dir_all(root.join("build")).map_err(|e| {
        Error::Other(format!(
            "cannot create {}: {e}",
            root.join("build").display()
        ))
    })?;
    FileLock::acquire(&p, LockKind::Shared)
        .map_err(|e| Error::Other(format!("lock {}: {e}", p.display())))
}

fn try_exclusive(root: &Path) -> Result<Option<FileLock>> {
    let p = gc_lock_path(root);
    std::fs::create_dir_all(root.join("build")).map_err(|e| {
        Error::Other(format!(
            "cannot create {}: {e}",
            root.join("build").display()
        ))
    })?;
    FileLock::try_acquire(&p, LockKind::Exclusive)
        .map_err(|e| Error::Other(format!("lock {}: {e}", p.display())))
}

fn short(s: &str) -> String {
    s.trim_start_matches("sha256:").chars().take(25).collect()
}

fn mounts_dir(root: &Path) -> PathBuf {
    root.join("build").join("cache-mounts")
}

/// Every record of the store's build cache, least recently used first.
pub fn usage(engine: &engine::Engine) -> Result<Vec<Record>> {
    let root = engine.root();
    let store = engine.images();
    let (cache, _) = StepCache::open(root)?;
    let mut by_image: BTreeMap<String, Record> = BTreeMap::new();
    for (key, e) in cache.records()? {
        let r = by_image.entry(e.id.clone()).or_insert_with(|| Record {
            id: short(&key),
            item: Item::Steps {
                keys: vec![],
                image: e.id.clone(),
            },
            size: 0,
            shared: false,
            usage_count: 0,
            created: e.created,
            last_used: e.last_used,
        });
        if let Item::Steps { keys, .. } = &mut r.item {
            keys.push(key.clone());
        }
        r.usage_count += e.usage_count;
        r.created = r.created.min(e.created);
        r.last_used = r.last_used.max(e.last_used);
    }
    // Layers of tagged images: what is shared.
    let infos = store.list()?;
    let tagged: BTreeSet<String> = infos
        .iter()
        .filter(|i| !i.repo_tags.is_empty())
        .flat_map(|i| i.record.layers.iter().map(|l| l.digest.to_string()))
        .collect();
    let records: BTreeMap<String, &image::ImageRecord> = infos
        .iter()
        .map(|i| (i.record.id.to_string(), &i.record))
        .collect();
    let mut out = vec![];
    let mut counted: BTreeSet<String> = BTreeSet::new();
    for (image, mut r) in by_image {
        let Some(rec) = records.get(&image) else {
            // Its image is gone: a miss, reclaimable at no cost.
            out.push(r);
            continue;
        };
        let parent_layers = store
            .config(rec)
            .ok()
            .and_then(|c| c.parent)
            .and_then(|p| records.get(&p).map(|p| p.layers.len()))
            .unwrap_or(0);
        let own = &rec.layers[parent_layers.min(rec.layers.len())..];
        r.shared = !own.is_empty() && own.iter().all(|l| tagged.contains(&l.digest.to_string()));
        r.size = own
            .iter()
            .filter(|l| counted.insert(l.digest.to_string()))
            .map(|l| l.size)
            .sum();
        out.push(r);
    }
    if let Ok(rd) = std::fs::read_dir(mounts_dir(root)) {
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if !m.is_dir() {
                continue;
            }
            let secs = |t: std::io::Result<std::time::SystemTime>| {
                t.ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs() as i64)
            };
            out.push(Record {
                id: short(&e.file_name().to_string_lossy()),
                item: Item::Mount(e.path()),
                size: engine::volumes::dir_size(&e.path()),
                shared: false,
                usage_count: 1,
                created: secs(m.created()).min(secs(m.modified())),
                last_used: secs(m.modified()),
            });
        }
    }
    out.sort_by_key(|r| (r.last_used, r.id.clone()));
    Ok(out)
}

/// The engine's `system df` with the build cache's records (least
/// recently used first) and totals.
/// The build cache's reclaimable bytes are what `builder prune` without
/// `-a` removes ([`reclaimable`]).
pub fn disk_usage(engine: &engine::Engine) -> Result<engine::system::DiskUsage> {
    let mut du = engine.disk_usage()?;
    let records = usage(engine)?;
    du.build_cache = records.iter().map(Record::to_df).collect();
    du.summarize();
    du.build_cache_usage.reclaimable = reclaimable(&records);
    Ok(du)
}

/// What `builder prune` without options would remove of `records`: the
/// sizes of the records [`select`] takes.
pub fn reclaimable(records: &[Record]) -> u64 {
    select(records, &PruneOptions::default())
        .into_iter()
        .map(|i| records[i].size)
        .sum()
}

/// `builder prune`'s options.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// `-a`: shared records too (not only those no tagged image holds).
    pub all: bool,
    /// `--filter until=…`: only records last used before that time.
    pub until: Option<SystemTime>,
    /// `--keep-storage`: stop once the cache is at most this big.
    pub keep_storage: Option<u64>,
}

impl PruneOptions {
    /// From docker's `--filter` values: `until` as the engine's prunes
    /// read it (a Go duration back from now, RFC 3339 or unix seconds,
    /// docker's `GetTimestamp`); other keys are refused by name.
    pub fn with_filters(mut self, filters: &[String]) -> Result<PruneOptions> {
        let f = engine::filters::Filters::parse_cli(filters)?;
        f.validate(engine::filters::keys::BUILDER_PRUNE)?;
        self.until = f.until()?;
        Ok(self)
    }
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Ids of the records removed.
    pub deleted: Vec<String>,
    /// Bytes reclaimed on disk.
    pub reclaimed: u64,
}

/// `t` in unix seconds (before the epoch: negative).
fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// The records a prune removes (indexes into `records`, which are least
/// recently used first).
pub fn select(records: &[Record], opts: &PruneOptions) -> Vec<usize> {
    let until = opts.until.map(unix_secs);
    let mut total: u64 = records.iter().map(|r| r.size).sum();
    let mut out = vec![];
    for (i, r) in records.iter().enumerate() {
        if let Some(k) = opts.keep_storage {
            if total <= k {
                break;
            }
        }
        if r.shared && !opts.all {
            continue;
        }
        if until.is_some_and(|u| r.last_used > u) {
            continue;
        }
        total = total.saturating_sub(r.size);
        out.push(i);
    }
    out
}

/// `builder prune`: refused while a build runs on the store.
pub fn prune(engine: &engine::Engine, opts: &PruneOptions) -> Result<PruneReport> {
    let Some(_held) = try_exclusive(engine.root())? else {
        return Err(Error::Other(
            "a build is running on this store: the build cache can be pruned once it ends".into(),
        ));
    };
    prune_locked(engine, opts)
}

fn prune_locked(engine: &engine::Engine, opts: &PruneOptions) -> Result<PruneReport> {
    let records = usage(engine)?;
    let chosen = select(&records, opts);
    let mut report = PruneReport::default();
    if chosen.is_empty() {
        return Ok(report);
    }
    let mut keys = BTreeSet::new();
    let mut images = BTreeSet::new();
    for &i in &chosen {
        let r = &records[i];
        match &r.item {
            Item::Steps { keys: k, image } => {
                keys.extend(k.iter().cloned());
                images.insert(image.clone());
            }
            Item::Mount(p) => {
                let size = engine::volumes::dir_size(p);
                if std::fs::remove_dir_all(p).is_ok() {
                    report.reclaimed += size;
                    let _ = std::fs::remove_file(p.with_extension("lock"));
                }
            }
        }
        report.deleted.push(r.id.clone());
    }
    let (cache, _) = StepCache::open(engine.root())?;
    cache.remove(&keys)?;
    // The images no entry names any more, untagged and unused, go.
    let left: BTreeSet<String> = cache.entries()?.into_values().collect();
    let store = engine.images();
    let held = store.gc_lock()?;
    for id in images.difference(&left) {
        let Ok(info) = store.resolve(id) else {
            continue;
        };
        if !info.repo_tags.is_empty() || !info.repo_digests.is_empty() {
            continue;
        }
        if !engine::inuse::containers_using(store, &info.record.id)
            .map_err(other)?
            .is_empty()
        {
            continue;
        }
        let _ = engine::images::remove_locked(store, &held, id, true);
    }
    let gc = engine::images::collect_locked(store, &held)?;
    report.reclaimed += gc.bytes;
    Ok(report)
}

/// BuildKit's default cap: 10% of the store's filesystem, 2 to 20 GB.
pub fn default_cap(root: &Path) -> u64 {
    const MIN: u64 = 2_000_000_000;
    const MAX: u64 = 20_000_000_000;
    let size = nix::sys::statvfs::statvfs(root)
        .map(|s| s.blocks().saturating_mul(s.fragment_size()))
        .unwrap_or(0);
    (size / 10).clamp(MIN, MAX)
}

/// The cap enforced at the end of a build (when no other build runs):
/// least recently used unshared records evicted until the cache fits.
pub(crate) fn auto_gc(engine: &engine::Engine) -> Result<Option<PruneReport>> {
    let Some(_held) = try_exclusive(engine.root())? else {
        return Ok(None);
    };
    let cap = default_cap(engine.root());
    let records = usage(engine)?;
    if records.iter().map(|r| r.size).sum::<u64>() <= cap {
        return Ok(None);
    }
    prune_locked(
        engine,
        &PruneOptions {
            all: false,
            until: None,
            keep_storage: Some(cap),
        },
    )
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rec(id: &str, size: u64, shared: bool, last_used: i64) -> Record {
        Record {
            id: id.into(),
            item: Item::Mount(PathBuf::from(id)),
            size,
            shared,
            usage_count: 1,
            created: 0,
            last_used,
        }
    }

    #[test]
    fn least_recently_used_first_down_to_keep_storage() {
        let rs = vec![
            rec("a", 10, false, 100),
            rec("b", 10, true, 200),
            rec("c", 10, false, 300),
            rec("d", 10, false, 400),
        ];
        let ids = |v: Vec<usize>| v.into_iter().map(|i| rs[i].id.clone()).collect::<Vec<_>>();
        // Everything unshared by default; shared too with all.
        assert_eq!(ids(select(&rs, &PruneOptions::default())), ["a", "c", "d"]);
        let all = PruneOptions {
            all: true,
            ..Default::default()
        };
        assert_eq!(ids(select(&rs, &all)), ["a", "b", "c", "d"]);
        // Keep 20 bytes: the oldest unshared go until 20 are left.
        let keep = PruneOptions {
            keep_storage: Some(20),
            ..Default::default()
        };
        assert_eq!(ids(select(&rs, &keep)), ["a", "c"]);
        // Last used by 350 only.
        let until = PruneOptions {
            until: Some(UNIX_EPOCH + Duration::from_secs(350)),
            ..Default::default()
        };
        assert_eq!(ids(select(&rs, &until)), ["a", "c"]);
        // system df's reclaimable: what the default prune takes.
        assert_eq!(reclaimable(&rs), 30);
    }

    #[test]
    fn filters() {
        let at = |v: &str| {
            PruneOptions::default()
                .with_filters(&[format!("until={v}")])
                .unwrap()
                .until
                .unwrap()
        };
        // A duration back from now, RFC 3339, unix seconds.
        let ago = SystemTime::now()
            .duration_since(at("24h"))
            .unwrap()
            .as_secs();
        assert!((86000..87000).contains(&ago), "{ago}");
        assert_eq!(
            at("2020-01-02T03:04:05Z"),
            UNIX_EPOCH + Duration::from_secs(1577934245)
        );
        assert_eq!(
            at("1577934245"),
            UNIX_EPOCH + Duration::from_secs(1577934245)
        );
        let e = PruneOptions::default()
            .with_filters(&["until=soon".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("until=soon"), "{e}");
        let e = PruneOptions::default()
            .with_filters(&["type=regular".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("'type'"), "{e}");
    }

    #[test]
    fn the_default_cap_is_bounded() {
        let c = default_cap(Path::new("/"));
        assert!((2_000_000_000..=20_000_000_000).contains(&c));
    }
}
