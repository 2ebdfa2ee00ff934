//! The persistent step cache: `<root>/build/cache.json` maps a step's
//! content-addressed key (`build::cache`) to the image that step made, with
//! when it was made and last used (the LRU order of [`crate::prune`]),
//! written atomically under `<root>/build/cache.lock`. An entry whose image
//! is gone from the store (pruned, removed) is a miss.
//!
//! The file is read once per build; the hits of a build update their
//! last-use time in one write at its end ([`StepCache::flush`]). A file
//! that does not parse is renamed `cache.json.corrupt-<unix secs>` (named
//! in the warning [`StepCache::open`] returns) and the build starts with
//! an empty cache rather than failing or silently dropping it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_util::lock::FileLock;

use crate::{Error, Result};

/// One cache entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The image the step made (`sha256:…`).
    pub id: String,
    /// Unix seconds when the step was first recorded.
    #[serde(default)]
    pub created: i64,
    /// Unix seconds of its last use (record or hit).
    #[serde(default)]
    pub last_used: i64,
    /// How many builds used it.
    #[serde(default)]
    pub usage_count: u64,
}

/// An entry as stored: an object, or the bare image id of older files.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Stored {
    Id(String),
    Entry(Entry),
}

#[derive(Default, serde::Deserialize)]
struct RawFile {
    #[serde(default)]
    steps: BTreeMap<String, Stored>,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
struct CacheFile {
    steps: BTreeMap<String, Entry>,
}

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[derive(Debug, Default)]
struct Mem {
    steps: BTreeMap<String, Entry>,
    /// Keys hit by this build (their last use written by `flush`).
    touched: BTreeSet<String>,
    /// Keys hit or recorded by this build (what `--cache-to` exports).
    used: BTreeSet<String>,
    /// Entries this build recorded (none: the cache did not grow).
    recorded: usize,
}

/// The step cache of one store.
#[derive(Debug, Clone)]
pub struct StepCache {
    dir: PathBuf,
    mem: Arc<Mutex<Mem>>,
}

fn io(what: String) -> impl FnOnce(berth_util::Error) -> Error {
    move |e| Error::Other(format!("{what}: {e}"))
}

impl StepCache {
    /// The cache under the store root `root`, and a warning when its file
    /// was corrupt (and set aside).
    pub fn open(root: &Path) -> Result<(StepCache, Option<String>)> {
        let dir = root.join("build");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Other(format!("cannot create {}: {e}", dir.display())))?;
        let c = StepCache {
            dir,
            mem: Arc::default(),
        };
        let (f, warning) = {
            let _l = c.lock()?;
            c.read()?
        };
        c.mem().steps = f.steps;
        Ok((c, warning))
    }

    fn mem(&self) -> std::sync::MutexGuard<'_, Mem> {
        self.mem.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn file(&self) -> PathBuf {
        self.dir.join("cache.json")
    }

    fn lock(&self) -> Result<FileLock> {
        let lock = self.dir.join("cache.lock");
        FileLock::exclusive(&lock).map_err(io(format!("lock {}", lock.display())))
    }

    /// The file's entries (the lock held); a corrupt file is set aside and
    /// named in the warning.
    fn read(&self) -> Result<(CacheFile, Option<String>)> {
        let path = self.file();
        let data = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((CacheFile::default(), None))
            }
            Err(e) => return Err(Error::Other(format!("cannot read {}: {e}", path.display()))),
        };
        match serde_json::from_slice::<RawFile>(&data) {
            Ok(raw) => {
                let steps = raw
                    .steps
                    .into_iter()
                    .map(|(k, v)| {
                        let e = match v {
                            Stored::Entry(e) => e,
                            Stored::Id(id) => Entry {
                                id,
                                created: 0,
                                last_used: 0,
                                usage_count: 0,
                            },
                        };
                        (k, e)
                    })
                    .collect();
                Ok((CacheFile { steps }, None))
            }
            Err(e) => {
                let aside = self.dir.join(format!("cache.json.corrupt-{}", now_secs()));
                std::fs::rename(&path, &aside).map_err(|re| {
                    Error::Other(format!(
                        "{} is corrupt ({e}) and cannot be set aside: {re}",
                        path.display()
                    ))
                })?;
                Ok((
                    CacheFile::default(),
                    Some(format!(
                        "the build cache {} was corrupt ({e}): moved to {}, starting with an empty cache",
                        path.display(),
                        aside.display()
                    )),
                ))
            }
        }
    }

    /// Rewrites the file (the lock held) after `f` changed its entries.
    fn update(
        &self,
        durability: berth_util::fs::Durability,
        f: impl FnOnce(&mut BTreeMap<String, Entry>),
    ) -> Result<()> {
        let _l = self.lock()?;
        let (mut file, _) = self.read()?;
        f(&mut file.steps);
        berth_util::fs::write_json_with(&self.file(), &file, durability)
            .map_err(io(format!("write {}", self.file().display())))?;
        self.mem().steps = file.steps;
        Ok(())
    }

    /// The image recorded for `key`, if any (a hit is remembered for
    /// [`StepCache::flush`]).
    pub fn get(&self, key: &str) -> Result<Option<String>> {
        let mut m = self.mem();
        let id = m.steps.get(key).map(|e| e.id.clone());
        if id.is_some() {
            m.touched.insert(key.to_string());
            m.used.insert(key.to_string());
        }
        Ok(id)
    }

    /// Records that step `key` made image `id`.
    pub fn put(&self, key: &str, id: &str) -> Result<()> {
        self.mem().used.insert(key.to_string());
        self.put_many(&[(key.to_string(), id.to_string())])
    }

    /// Records several entries in one write (an imported cache).
    pub fn put_many(&self, entries: &[(String, String)]) -> Result<()> {
        let now = now_secs();
        self.mem().recorded += entries.len();
        self.update(berth_util::fs::Durability::Durable, |steps| {
            for (key, id) in entries {
                let e = steps.entry(key.clone()).or_insert_with(|| Entry {
                    id: id.clone(),
                    created: now,
                    last_used: now,
                    usage_count: 0,
                });
                e.id = id.clone();
                e.last_used = now;
                e.usage_count += 1;
            }
        })
    }

    /// Whether this build recorded entries (the cache may have grown).
    pub fn grew(&self) -> bool {
        self.mem().recorded > 0
    }

    /// The keys this build hit or recorded.
    pub fn used(&self) -> BTreeSet<String> {
        self.mem().used.clone()
    }

    /// Writes the last use of the entries this build hit.
    pub fn flush(&self) -> Result<()> {
        let touched = std::mem::take(&mut self.mem().touched);
        if touched.is_empty() {
            return Ok(());
        }
        let now = now_secs();
        // Last-use times only order the eviction: no fsync on a cached
        // build's path (a torn file is set aside, see `read`).
        self.update(berth_util::fs::Durability::Flushed, |steps| {
            for k in &touched {
                if let Some(e) = steps.get_mut(k) {
                    e.last_used = now;
                    e.usage_count += 1;
                }
            }
        })
    }

    /// Every entry (key → image id).
    pub fn entries(&self) -> Result<BTreeMap<String, String>> {
        Ok(self
            .mem()
            .steps
            .iter()
            .map(|(k, e)| (k.clone(), e.id.clone()))
            .collect())
    }

    /// Every entry with its times, as the file has them now.
    pub fn records(&self) -> Result<BTreeMap<String, Entry>> {
        let _l = self.lock()?;
        Ok(self.read()?.0.steps)
    }

    /// Removes the entries `keys`.
    pub fn remove(&self, keys: &BTreeSet<String>) -> Result<()> {
        self.update(berth_util::fs::Durability::Durable, |steps| {
            steps.retain(|k, _| !keys.contains(k))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_entries_read_and_hits_flushed() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("build")).unwrap();
        std::fs::write(
            d.path().join("build/cache.json"),
            r#"{"steps":{"k1":"sha256:aa"}}"#,
        )
        .unwrap();
        let (c, w) = StepCache::open(d.path()).unwrap();
        assert!(w.is_none());
        assert_eq!(c.get("k1").unwrap().as_deref(), Some("sha256:aa"));
        assert_eq!(c.get("k2").unwrap(), None);
        c.put("k2", "sha256:bb").unwrap();
        c.flush().unwrap();
        let r = c.records().unwrap();
        assert_eq!(r["k1"].usage_count, 1);
        assert!(r["k1"].last_used > 0);
        assert_eq!(r["k2"].id, "sha256:bb");
    }

    #[test]
    fn a_corrupt_file_is_set_aside_and_named() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("build")).unwrap();
        std::fs::write(d.path().join("build/cache.json"), b"{\"steps\": {tru").unwrap();
        let (c, w) = StepCache::open(d.path()).unwrap();
        let w = w.expect("a warning");
        assert!(w.contains("cache.json") && w.contains("corrupt"), "{w}");
        assert!(c.entries().unwrap().is_empty());
        let aside: Vec<_> = std::fs::read_dir(d.path().join("build"))
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("cache.json.corrupt-")
            })
            .collect();
        assert_eq!(aside.len(), 1);
        assert_eq!(
            std::fs::read(aside[0].path()).unwrap(),
            b"{\"steps\": {tru".to_vec()
        );
        // The next put writes a good file.
        c.put("k", "sha256:cc").unwrap();
        let (_, w) = StepCache::open(d.path()).unwrap();
        assert!(w.is_none());
    }
}
