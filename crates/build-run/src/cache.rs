//! The persistent step cache: `<root>/build/cache.json` maps a step's
//! content-addressed key (`build::cache`) to the image that step made,
//! written atomically under `<root>/build/cache.lock`. An entry whose image
//! is gone from the store (pruned, removed) is a miss.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_util::lock::FileLock;

use crate::{Error, Result};

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct CacheFile {
    #[serde(default)]
    steps: BTreeMap<String, String>,
}

/// The step cache of one store.
#[derive(Debug, Clone)]
pub struct StepCache {
    dir: PathBuf,
}

fn io(what: String) -> impl FnOnce(berth_util::Error) -> Error {
    move |e| Error::Other(format!("{what}: {e}"))
}

impl StepCache {
    /// The cache under the store root `root`.
    pub fn open(root: &Path) -> Result<StepCache> {
        let dir = root.join("build");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Other(format!("cannot create {}: {e}", dir.display())))?;
        Ok(StepCache { dir })
    }

    fn file(&self) -> PathBuf {
        self.dir.join("cache.json")
    }

    fn read(&self) -> Result<CacheFile> {
        match std::fs::read(self.file()) {
            Ok(b) => Ok(serde_json::from_slice(&b).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CacheFile::default()),
            Err(e) => Err(Error::Other(format!(
                "cannot read {}: {e}",
                self.file().display()
            ))),
        }
    }

    /// The image recorded for `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<String>> {
        Ok(self.read()?.steps.get(key).cloned())
    }

    /// Records that step `key` made image `id`.
    pub fn put(&self, key: &str, id: &str) -> Result<()> {
        let lock = self.dir.join("cache.lock");
        let _l = FileLock::exclusive(&lock).map_err(io(format!("lock {}", lock.display())))?;
        let mut f = self.read()?;
        f.steps.insert(key.to_string(), id.to_string());
        berth_util::fs::write_json(&self.file(), &f)
            .map_err(io(format!("write {}", self.file().display())))
    }

    /// Every entry (key → image id).
    pub fn entries(&self) -> Result<BTreeMap<String, String>> {
        Ok(self.read()?.steps)
    }
}
