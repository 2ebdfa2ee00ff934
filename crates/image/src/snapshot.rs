//! Unpacked layers keyed by chain id: `snapshots/<chainid-hex>/fs` is an
//! overlayfs lower dir and `snapshots/<chainid-hex>/meta.json` describes
//! it. A snapshot is unpacked in `tmp/` and renamed into place when
//! complete, so a crash never leaves a half snapshot visible.
//!
//! Nothing of it is made durable, not even its name in `snapshots/`: it is
//! a cache of a layer blob, which is. Its meta records the boot it was
//! unpacked in (`unsynced_boot`); after a restart of the machine such a
//! snapshot counts as stale (its files may not have reached the disk) and,
//! like one that is missing, is unpacked again from its blob by the next
//! pull or `prepare_rootfs`, or by `Store::revalidate_lowers` for a
//! container's lowers (`gc` makes a kept one durable before its blob goes). Containerd, docker and podman do not sync
//! unpacked layers either, and never notice a torn one.

use std::fs;
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::{ChainId, Digest};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{boot_id, mkdir_all, now_secs};
use crate::unpack::{unpack_layer, UnpackOptions};
use berth_util::fs::{unique_name, write_atomic};
use berth_util::lock::{FileLock, LockKind};

/// Lock file (in `snapshots/`) serialising the replacement of stale snapshots.
const REPLACE_LOCK: &str = ".replace.lock";

/// Description of a snapshot, stored as `meta.json` beside `fs/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Chain id (the snapshot's key).
    pub chain_id: ChainId,
    /// Parent chain id (absent for the bottom layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ChainId>,
    /// Diff id of the layer unpacked here.
    pub diff_id: Digest,
    /// Digest of the (compressed) layer blob it was unpacked from.
    pub layer_digest: Digest,
    /// Media type of that blob.
    pub media_type: String,
    /// Uncompressed tar size.
    pub size: u64,
    /// Unix seconds when unpacked.
    pub created: u64,
    /// The boot (kernel `boot_id`) in which the tree was written without
    /// being synced; absent once it is known to be on disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsynced_boot: Option<String>,
}

/// What a snapshot directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotState {
    /// Nothing.
    Missing,
    /// A complete tree, usable.
    Ready,
    /// A tree that may be incomplete: written without a sync before the
    /// machine restarted, or with unreadable metadata. Unpacked again
    /// before use.
    Stale,
}

/// The snapshot directory of a store.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
    tmp: PathBuf,
}

impl SnapshotStore {
    /// Snapshots under `<root>/snapshots`, temp work under `<root>/tmp`.
    pub fn new(root: &Path) -> Result<SnapshotStore> {
        Ok(SnapshotStore {
            dir: mkdir_all(&root.join("snapshots"))?,
            tmp: mkdir_all(&root.join("tmp"))?,
        })
    }

    /// The `snapshots` directory.
    pub fn path_root(&self) -> &Path {
        &self.dir
    }

    /// `snapshots/<hex>`.
    pub fn path(&self, chain: &ChainId) -> PathBuf {
        self.dir.join(chain.hex())
    }

    /// `snapshots/<hex>/fs`, the overlay lower dir.
    pub fn fs_path(&self, chain: &ChainId) -> PathBuf {
        self.path(chain).join("fs")
    }

    /// Whether a complete, usable snapshot exists (not a [`SnapshotState::Stale`] one).
    pub fn exists(&self, chain: &ChainId) -> bool {
        self.ready_meta(chain).is_some()
    }

    /// Whether `chain` is missing, ready, or stale (see [`SnapshotState`]).
    pub fn state(&self, chain: &ChainId) -> SnapshotState {
        if self.ready_meta(chain).is_some() {
            SnapshotState::Ready
        } else if self.path(chain).exists() {
            SnapshotState::Stale
        } else {
            SnapshotState::Missing
        }
    }

    /// The metadata of a ready snapshot (its tree there, written in this
    /// boot or known to be on disk); `None` if it is missing or stale.
    fn ready_meta(&self, chain: &ChainId) -> Option<SnapshotMeta> {
        let data = fs::read(self.path(chain).join("meta.json")).ok()?;
        let m: SnapshotMeta = serde_json::from_slice(&data).ok()?;
        let ready = &m.chain_id == chain
            && self.fs_path(chain).is_dir()
            && m.unsynced_boot.as_deref().map_or(true, |b| b == boot_id());
        ready.then_some(m)
    }

    /// Make snapshots written without a sync durable (one `syncfs`) and
    /// clear their mark. Used before the blob they could be unpacked
    /// again from goes away.
    pub fn make_durable(&self, chains: &[ChainId]) -> Result<()> {
        let mut marked = Vec::new();
        for c in chains {
            if self.state(c) != SnapshotState::Ready {
                continue;
            }
            let m = self.meta(c)?;
            if m.unsynced_boot.is_some() {
                marked.push(m);
            }
        }
        if marked.is_empty() {
            return Ok(());
        }
        let d = fs::File::open(&self.dir).ctx(|| format!("open {}", self.dir.display()))?;
        nix::unistd::syncfs(&d).ctx(|| format!("syncfs {}", self.dir.display()))?;
        for mut m in marked {
            m.unsynced_boot = None;
            let json =
                serde_json::to_vec_pretty(&m).map_err(|e| Error::json("snapshot meta", e))?;
            write_atomic(&self.path(&m.chain_id).join("meta.json"), &json)?;
        }
        Ok(())
    }

    /// Read a snapshot's metadata.
    pub fn meta(&self, chain: &ChainId) -> Result<SnapshotMeta> {
        let p = self.path(chain).join("meta.json");
        let data = fs::read(&p).ctx(|| format!("read {}", p.display()))?;
        serde_json::from_slice(&data).map_err(|e| Error::json(p.display().to_string(), e))
    }

    /// All snapshots present, sorted.
    pub fn list(&self) -> Result<Vec<ChainId>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).ctx(|| format!("list {}", self.dir.display()))? {
            let e = e.ctx(|| format!("list {}", self.dir.display()))?;
            if let Some(d) = e
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Remove a snapshot: renamed out of sight first, then deleted.
    pub fn remove(&self, chain: &ChainId) -> Result<bool> {
        let src = self.path(chain);
        let trash = self.tmp.join(unique_name("del-"));
        match fs::rename(&src, &trash) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(format!("remove snapshot {}", src.display()), e)),
        }
        fs::remove_dir_all(&trash).ctx(|| format!("delete {}", trash.display()))?;
        Ok(true)
    }

    /// An always-empty directory, the lower dir for an image with no layers.
    pub fn empty_dir(&self) -> Result<PathBuf> {
        mkdir_all(&self.dir.join("empty"))
    }

    /// Unpack `blob` (the layer `layer_digest` of type `media_type`) as the
    /// snapshot `chain`, verifying its diff id. Does nothing if the
    /// snapshot already exists; if another process finishes first, its
    /// snapshot is kept; a stale one is replaced.
    #[allow(clippy::too_many_arguments)]
    pub fn create<R: BufRead>(
        &self,
        chain: &ChainId,
        parent: Option<&ChainId>,
        diff_id: &Digest,
        layer_digest: &Digest,
        media_type: &str,
        blob: R,
        opts: &UnpackOptions,
    ) -> Result<SnapshotMeta> {
        self.create_checked(
            chain,
            parent,
            diff_id,
            layer_digest,
            media_type,
            blob,
            opts,
            || Ok(()),
        )
    }

    /// Like [`SnapshotStore::create`], but `check` runs after the layer is
    /// unpacked and its diff id verified, just before the snapshot is
    /// published; if it fails nothing becomes visible. A registry pull
    /// uses it to unpack a layer while it downloads and publish the
    /// snapshot only once the downloaded blob's digest is verified.
    #[allow(clippy::too_many_arguments)]
    pub fn create_checked<R: BufRead>(
        &self,
        chain: &ChainId,
        parent: Option<&ChainId>,
        diff_id: &Digest,
        layer_digest: &Digest,
        media_type: &str,
        blob: R,
        opts: &UnpackOptions,
        check: impl FnOnce() -> Result<()>,
    ) -> Result<SnapshotMeta> {
        let staged = self.stage_checked(
            chain,
            parent,
            diff_id,
            layer_digest,
            media_type,
            blob,
            opts,
            check,
        )?;
        Ok(staged.publish()?.0)
    }

    /// [`SnapshotStore::create_checked`] up to, not including, publishing
    /// it: the caller calls [`StagedSnapshot::publish`]. Dropping the
    /// result unpublished removes the tree.
    #[allow(clippy::too_many_arguments)]
    pub fn stage_checked<R: BufRead>(
        &self,
        chain: &ChainId,
        parent: Option<&ChainId>,
        diff_id: &Digest,
        layer_digest: &Digest,
        media_type: &str,
        blob: R,
        opts: &UnpackOptions,
        check: impl FnOnce() -> Result<()>,
    ) -> Result<StagedSnapshot> {
        if let Some(meta) = self.ready_meta(chain) {
            return Ok(StagedSnapshot {
                meta,
                work: None,
                dest: self.path(chain),
                store: self.clone(),
            });
        }
        let work = self.tmp.join(unique_name("snap-"));
        let res = (|| {
            let fs_dir = mkdir_all(&work.join("fs"))?;
            let stats = unpack_layer(blob, Some(media_type), &fs_dir, layer_digest, opts)?;
            if &stats.diff_id != diff_id {
                return Err(Error::DiffIdMismatch {
                    layer: layer_digest.clone(),
                    expected: diff_id.clone(),
                    actual: stats.diff_id,
                });
            }
            check()?;
            let meta = SnapshotMeta {
                chain_id: chain.clone(),
                parent: parent.cloned(),
                diff_id: diff_id.clone(),
                layer_digest: layer_digest.clone(),
                media_type: media_type.to_string(),
                size: stats.uncompressed_size,
                created: now_secs(),
                unsynced_boot: Some(boot_id().to_string()),
            };
            let json =
                serde_json::to_vec_pretty(&meta).map_err(|e| Error::json("snapshot meta", e))?;
            let mp = work.join("meta.json");
            fs::write(&mp, json).ctx(|| format!("write {}", mp.display()))?;
            Ok(meta)
        })();
        match res {
            Ok(meta) => Ok(StagedSnapshot {
                meta,
                work: Some(work),
                dest: self.path(chain),
                store: self.clone(),
            }),
            Err(e) => {
                let _ = fs::remove_dir_all(&work);
                Err(e)
            }
        }
    }
}

/// An unpacked, verified snapshot waiting to be published (see
/// [`SnapshotStore::stage_checked`]); its tree is removed if it is dropped
/// unpublished.
pub struct StagedSnapshot {
    meta: SnapshotMeta,
    /// The temp tree; None if the snapshot already existed.
    work: Option<PathBuf>,
    dest: PathBuf,
    store: SnapshotStore,
}

impl StagedSnapshot {
    /// The snapshot's metadata.
    pub fn meta(&self) -> &SnapshotMeta {
        &self.meta
    }

    /// Whether the snapshot already existed (nothing to publish).
    pub fn existed(&self) -> bool {
        self.work.is_none()
    }

    /// Rename the tree into place (replacing a stale one). Returns the metadata and
    /// whether this call published it (false: it existed, or another
    /// process published the same snapshot first).
    pub fn publish(mut self) -> Result<(SnapshotMeta, bool)> {
        let Some(work) = self.work.take() else {
            return Ok((self.meta.clone(), false));
        };
        let res = self.place(&work);
        if !matches!(res, Ok((_, true))) {
            let _ = fs::remove_dir_all(&work);
        }
        res
    }

    fn place(&self, work: &Path) -> Result<(SnapshotMeta, bool)> {
        let chain = &self.meta.chain_id;
        let rename_err = |e| {
            Error::io(
                format!("rename {} to {}", work.display(), self.dest.display()),
                e,
            )
        };
        match fs::rename(work, &self.dest) {
            Ok(()) => return Ok((self.meta.clone(), true)),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST)) => {}
            Err(e) => return Err(rename_err(e)),
        }
        // Something is there: another process's snapshot, or a stale one
        // to move aside (one process at a time, so that none moves aside
        // what another has just put in place).
        let _lock = FileLock::acquire(&self.store.dir.join(REPLACE_LOCK), LockKind::Exclusive)?;
        if let Some(meta) = self.store.ready_meta(chain) {
            return Ok((meta, false));
        }
        let trash = self.store.tmp.join(unique_name("del-"));
        match fs::rename(&self.dest, &trash) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::io(
                    format!("move stale snapshot {} aside", self.dest.display()),
                    e,
                ))
            }
        }
        fs::rename(work, &self.dest).map_err(rename_err)?;
        let _ = fs::remove_dir_all(&trash);
        Ok((self.meta.clone(), true))
    }
}

impl Drop for StagedSnapshot {
    fn drop(&mut self) {
        if let Some(work) = self.work.take() {
            let _ = fs::remove_dir_all(work);
        }
    }
}

/// Overlay mount options: `lowerdir=<top>:...:<bottom>,upperdir=..,workdir=..`.
/// `lowers` must be ordered top first (as [`crate::Store::prepare_rootfs`]
/// returns them). Paths containing `,` or `:` cannot be expressed and are
/// rejected; a single lower with no upper gives a read-only mount.
pub fn overlay_options<P: AsRef<Path>>(
    lowers: &[P],
    upper: Option<&Path>,
    work: Option<&Path>,
) -> Result<String> {
    if lowers.is_empty() {
        return Err(Error::Overlay(
            "at least one lower directory is required".into(),
        ));
    }
    let check = |p: &Path| -> Result<String> {
        let s = p
            .to_str()
            .ok_or_else(|| Error::Overlay(format!("path {:?} is not UTF-8", p)))?;
        if s.contains([',', ':']) || s.is_empty() {
            return Err(Error::Overlay(format!(
                "path {s:?} cannot be used in overlay options (empty, or contains ',' or ':')"
            )));
        }
        Ok(s.to_string())
    };
    let lower: Vec<String> = lowers
        .iter()
        .map(|p| check(p.as_ref()))
        .collect::<Result<_>>()?;
    let mut opts = format!("lowerdir={}", lower.join(":"));
    match (upper, work) {
        (Some(u), Some(w)) => {
            opts.push_str(&format!(",upperdir={},workdir={}", check(u)?, check(w)?));
        }
        (None, None) => {}
        _ => {
            return Err(Error::Overlay(
                "upperdir and workdir must be given together".into(),
            ))
        }
    }
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(name: &str, data: &[u8]) -> (Vec<u8>, Digest) {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).unwrap();
        let t = b.into_inner().unwrap();
        let d = Digest::of_bytes(&t);
        (t, d)
    }

    #[test]
    fn create_is_atomic_and_verified() {
        let root = tempfile::tempdir().unwrap();
        let s = SnapshotStore::new(root.path()).unwrap();
        let (t, diff) = layer("a", b"A");
        let opts = UnpackOptions::default();
        let mt = crate::manifest::media_type::OCI_LAYER_TAR;
        // wrong diff id: nothing visible, temp cleaned
        let wrong = Digest::of_bytes(b"nope");
        let e = s
            .create(&wrong, None, &wrong, &diff, mt, &t[..], &opts)
            .unwrap_err();
        assert!(matches!(e, Error::DiffIdMismatch { .. }), "{e}");
        assert!(e.to_string().contains(&wrong.to_string()));
        assert!(s.list().unwrap().is_empty());
        assert_eq!(fs::read_dir(root.path().join("tmp")).unwrap().count(), 0);
        // right one
        let m = s
            .create(&diff, None, &diff, &diff, mt, &t[..], &opts)
            .unwrap();
        assert_eq!(m.size, t.len() as u64);
        assert!(s.exists(&diff));
        assert_eq!(fs::read(s.fs_path(&diff).join("a")).unwrap(), b"A");
        assert_eq!(s.meta(&diff).unwrap(), m);
        assert_eq!(s.list().unwrap(), vec![diff.clone()]);
        // second create is a no-op
        assert_eq!(
            s.create(&diff, None, &diff, &diff, mt, &b""[..], &opts)
                .unwrap(),
            m
        );
        assert!(s.remove(&diff).unwrap());
        assert!(!s.remove(&diff).unwrap());
        assert!(!s.exists(&diff));
    }

    #[test]
    fn failed_check_publishes_nothing() {
        let root = tempfile::tempdir().unwrap();
        let s = SnapshotStore::new(root.path()).unwrap();
        let (t, diff) = layer("a", b"A");
        let mt = crate::manifest::media_type::OCI_LAYER_TAR;
        let opts = UnpackOptions::default();
        let e = s
            .create_checked(&diff, None, &diff, &diff, mt, &t[..], &opts, || {
                Err(Error::Layer {
                    layer: "x".into(),
                    reason: "blob rejected".into(),
                })
            })
            .unwrap_err();
        assert!(e.to_string().contains("blob rejected"), "{e}");
        assert!(!s.exists(&diff));
        assert_eq!(fs::read_dir(root.path().join("tmp")).unwrap().count(), 0);
        let mut ran = false;
        s.create_checked(&diff, None, &diff, &diff, mt, &t[..], &opts, || {
            ran = true;
            Ok(())
        })
        .unwrap();
        assert!(ran && s.exists(&diff));
    }

    #[test]
    fn concurrent_creates_agree() {
        let root = tempfile::tempdir().unwrap();
        let s = SnapshotStore::new(root.path()).unwrap();
        let (t, diff) = layer("f", &vec![1u8; 100_000]);
        let mt = crate::manifest::media_type::OCI_LAYER_TAR;
        let create_4 = || {
            std::thread::scope(|sc| {
                for _ in 0..4 {
                    sc.spawn(|| {
                        s.create(
                            &diff,
                            None,
                            &diff,
                            &diff,
                            mt,
                            &t[..],
                            &UnpackOptions::default(),
                        )
                        .unwrap()
                    });
                }
            })
        };
        create_4();
        assert_eq!(s.list().unwrap(), vec![diff.clone()]);
        assert_eq!(fs::read_dir(root.path().join("tmp")).unwrap().count(), 0);
        // Stale (from before a restart, a file torn): replaced once, by
        // one of them, whole.
        let mut m = s.meta(&diff).unwrap();
        m.unsynced_boot = Some("another boot".into());
        fs::write(
            s.path(&diff).join("meta.json"),
            serde_json::to_vec(&m).unwrap(),
        )
        .unwrap();
        fs::write(s.fs_path(&diff).join("f"), b"torn").unwrap();
        assert_eq!(s.state(&diff), SnapshotState::Stale);
        create_4();
        assert_eq!(s.state(&diff), SnapshotState::Ready);
        assert_eq!(
            fs::read(s.fs_path(&diff).join("f")).unwrap(),
            vec![1u8; 100_000]
        );
        assert_eq!(fs::read_dir(root.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn overlay_option_strings() {
        let l = [PathBuf::from("/s/b"), PathBuf::from("/s/a")];
        assert_eq!(
            overlay_options(&l, Some(Path::new("/c/u")), Some(Path::new("/c/w"))).unwrap(),
            "lowerdir=/s/b:/s/a,upperdir=/c/u,workdir=/c/w"
        );
        assert_eq!(
            overlay_options(&l, None, None).unwrap(),
            "lowerdir=/s/b:/s/a"
        );
        assert!(overlay_options::<PathBuf>(&[], None, None).is_err());
        assert!(overlay_options(&[PathBuf::from("/a:b")], None, None).is_err());
        assert!(overlay_options(&[PathBuf::from("/a,b")], None, None).is_err());
        assert!(overlay_options(&l, Some(Path::new("/u")), None).is_err());
    }
}
