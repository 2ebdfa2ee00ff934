//! `--cache-to` / `--cache-from`: the step cache shared between stores (CI).
//!
//! The exported cache is an OCI image index (the *cache manifest*) whose
//! entries are the images of the build's steps, each descriptor annotated
//! with the step's key ([`KEY_ANNOTATION`]):
//! - `type=local,dest=DIR`: DIR is an OCI image layout (`oci-layout`,
//!   `index.json` = the cache manifest, `blobs/sha256/…`); blobs of older
//!   exports stay, the index is replaced.
//! - `type=registry,ref=NAME:TAG`: the images are pushed to NAME by
//!   digest, then the cache manifest under TAG (see `crate::registry`'s
//!   caller-provided transport, [`CacheRegistry`]).
//!
//! `mode=min` (the default) exports the steps of the final image (its
//! parent chain); `mode=max` every step the build used. An import loads the
//! images into the store and records their keys in the step cache, so the
//! build hits them; a cache that cannot be read is a warning, not a failure
//! (as BuildKit).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use image::manifest::{media_type, Descriptor, Index};
use image::{Digest, Reference};

use crate::cache::StepCache;
use crate::{Error, Result};

/// The annotation naming a cache entry's step key.
pub const KEY_ANNOTATION: &str = "dev.berth.build.cache.key";

/// Where a cache goes to or comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLocation {
    Local(PathBuf),
    Registry(Reference),
}

/// One `--cache-to` or `--cache-from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSpec {
    pub location: CacheLocation,
    /// `mode=max` (exports only).
    pub max: bool,
}

fn bad(flag: &str, spec: &str, why: impl std::fmt::Display) -> Error {
    Error::Unsupported(format!("invalid {flag} {spec:?}: {why}"))
}

impl CacheSpec {
    /// `--cache-to` (`export`) or `--cache-from`: `type=local,dest=|src=DIR`,
    /// `type=registry,ref=NAME[,mode=min|max]`, or a bare image name (a
    /// registry cache).
    pub fn parse(spec: &str, export: bool) -> Result<CacheSpec> {
        let flag = if export { "--cache-to" } else { "--cache-from" };
        if !spec.contains('=') {
            let r = Reference::parse(spec).map_err(|e| bad(flag, spec, e))?;
            return Ok(CacheSpec {
                location: CacheLocation::Registry(r),
                max: false,
            });
        }
        let mut f: BTreeMap<String, String> = BTreeMap::new();
        for field in spec.split(',') {
            let (k, v) = field
                .split_once('=')
                .ok_or_else(|| bad(flag, spec, format!("{field:?} is not key=value")))?;
            f.insert(k.trim().to_string(), v.to_string());
        }
        let max = match f.remove("mode").as_deref() {
            None | Some("min") => false,
            Some("max") => true,
            Some(m) => return Err(bad(flag, spec, format!("mode={m}: min or max"))),
        };
        let location = match f.remove("type").as_deref() {
            Some("local") => {
                let key = if export { "dest" } else { "src" };
                let d = f
                    .remove(key)
                    .filter(|d| !d.is_empty())
                    .ok_or_else(|| bad(flag, spec, format!("type=local needs {key}=")))?;
                CacheLocation::Local(PathBuf::from(d))
            }
            Some("registry") => {
                let r = f
                    .remove("ref")
                    .ok_or_else(|| bad(flag, spec, "type=registry needs ref="))?;
                CacheLocation::Registry(Reference::parse(&r).map_err(|e| bad(flag, spec, e))?)
            }
            Some(t) => {
                return Err(bad(
                    flag,
                    spec,
                    format!("type={t} is not supported: local or registry"),
                ))
            }
            None => return Err(bad(flag, spec, "type= is required")),
        };
        // Attributes that change nothing here.
        for k in [
            "compression",
            "compression-level",
            "force-compression",
            "oci-mediatypes",
            "ignore-error",
            "image-manifest",
        ] {
            f.remove(k);
        }
        if let Some(k) = f.keys().next() {
            return Err(bad(
                flag,
                spec,
                format!("the attribute {k:?} is not supported"),
            ));
        }
        Ok(CacheSpec { location, max })
    }
}

/// How a registry cache is sent and fetched: the caller's registry client
/// (credentials and TLS settings are the caller's).
pub trait CacheRegistry {
    /// Pushes the store's image `id` to `repo` (by digest).
    fn push_image(&self, id: &str, repo: &Reference) -> std::result::Result<(), String>;
    /// Puts the cache manifest `bytes` (an OCI index) at `reference`.
    fn put_index(&self, reference: &Reference, bytes: &[u8]) -> std::result::Result<(), String>;
    /// The cache manifest at `reference`, `None` if there is none.
    fn get_index(&self, reference: &Reference) -> std::result::Result<Option<Vec<u8>>, String>;
    /// Pulls `reference` (`repo@digest`) into the store.
    fn pull(&self, reference: &Reference) -> std::result::Result<(), String>;
}

/// The keys and images `--cache-to` exports.
fn selected(
    engine: &engine::Engine,
    cache: &StepCache,
    final_id: &str,
    max: bool,
) -> Result<Vec<(String, image::ImageRecord)>> {
    let store = engine.images();
    let entries = cache.entries()?;
    let mut chain = BTreeSet::new();
    if !max {
        let mut cur = Some(final_id.to_string());
        while let Some(id) = cur.take() {
            let Ok(info) = store.resolve(&id) else { break };
            if !chain.insert(id) {
                break;
            }
            cur = store.config(&info.record)?.parent;
        }
    }
    let mut out = vec![];
    for k in cache.used() {
        let Some(id) = entries.get(&k) else { continue };
        if !max && !chain.contains(id) {
            continue;
        }
        if let Ok(info) = store.resolve(id) {
            out.push((k, info.record));
        }
    }
    Ok(out)
}

fn cache_index(
    sel: &[(String, image::ImageRecord)],
    sizes: &dyn Fn(&Digest) -> Result<u64>,
) -> Result<Index> {
    let mut idx = Index {
        schema_version: 2,
        media_type: Some(media_type::OCI_INDEX.into()),
        manifests: vec![],
        annotations: BTreeMap::new(),
    };
    for (k, rec) in sel {
        let mut d = Descriptor::new(
            &rec.manifest_media_type,
            rec.manifest_digest.clone(),
            sizes(&rec.manifest_digest)?,
        );
        d.platform = Some(rec.platform.clone());
        d.annotations.insert(KEY_ANNOTATION.into(), k.clone());
        idx.manifests.push(d);
    }
    Ok(idx)
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::Other(format!("{what}: {e}"))
}

/// `--cache-to`: returns how many entries were exported.
pub(crate) fn export(
    engine: &engine::Engine,
    cache: &StepCache,
    final_id: &str,
    spec: &CacheSpec,
    reg: Option<&dyn CacheRegistry>,
) -> Result<usize> {
    let sel = selected(engine, cache, final_id, spec.max)?;
    let store = engine.images();
    let idx = cache_index(&sel, &|d| Ok(store.content().size(d)?))?;
    let idx_bytes = serde_json::to_vec(&idx).map_err(|e| Error::Other(e.to_string()))?;
    match &spec.location {
        CacheLocation::Local(dir) => {
            let what = format!("--cache-to {}", dir.display());
            let blobs = dir.join("blobs").join("sha256");
            std::fs::create_dir_all(&blobs).map_err(io_err(what.clone()))?;
            let mut digests = BTreeSet::new();
            for (_, rec) in &sel {
                digests.extend(rec.blobs());
            }
            for d in digests {
                let dst = blobs.join(d.hex());
                if dst.exists() {
                    continue;
                }
                let mut src = store.content().open(&d)?;
                let mut tmp =
                    tempfile::NamedTempFile::new_in(&blobs).map_err(io_err(what.clone()))?;
                std::io::copy(&mut src, &mut tmp).map_err(io_err(what.clone()))?;
                tmp.persist(&dst)
                    .map_err(|e| Error::Other(format!("{what}: {}", e.error)))?;
            }
            berth_util::fs::write_atomic(
                &dir.join("oci-layout"),
                br#"{"imageLayoutVersion":"1.0.0"}"#,
            )
            .map_err(|e| Error::Other(format!("{what}: {e}")))?;
            berth_util::fs::write_atomic(&dir.join("index.json"), &idx_bytes)
                .map_err(|e| Error::Other(format!("{what}: {e}")))?;
        }
        CacheLocation::Registry(r) => {
            let reg = reg.ok_or_else(|| {
                Error::Unsupported("--cache-to type=registry: no registry client here".into())
            })?;
            let ids: BTreeSet<String> = sel.iter().map(|(_, r)| r.id.to_string()).collect();
            for id in ids {
                reg.push_image(&id, r)
                    .map_err(|e| Error::Other(format!("--cache-to {r}: {e}")))?;
            }
            reg.put_index(r, &idx_bytes)
                .map_err(|e| Error::Other(format!("--cache-to {r}: {e}")))?;
        }
    }
    Ok(sel.len())
}

/// The keyed manifests of a cache manifest.
fn keyed(bytes: &[u8], what: &str) -> Result<Vec<(String, Descriptor)>> {
    let idx: Index = serde_json::from_slice(bytes)
        .map_err(|e| Error::Other(format!("{what}: not a cache manifest: {e}")))?;
    Ok(idx
        .manifests
        .into_iter()
        .filter_map(|d| Some((d.annotations.get(KEY_ANNOTATION)?.clone(), d)))
        .collect())
}

/// `--cache-from`: returns how many entries were imported.
pub(crate) fn import(
    engine: &engine::Engine,
    cache: &StepCache,
    spec: &CacheSpec,
    reg: Option<&dyn CacheRegistry>,
) -> Result<usize> {
    let store = engine.images();
    let mut entries: Vec<(String, String)> = vec![];
    match &spec.location {
        CacheLocation::Local(dir) => {
            let what = format!("--cache-from {}", dir.display());
            let idx_bytes = std::fs::read(dir.join("index.json"))
                .map_err(io_err(format!("{what}: index.json")))?;
            let keyed = keyed(&idx_bytes, &what)?;
            // The images the store lacks, loaded as one OCI layout.
            let mut manifests: BTreeMap<Digest, (Descriptor, Digest)> = BTreeMap::new();
            for (k, d) in &keyed {
                let m = std::fs::read(dir.join("blobs/sha256").join(d.digest.hex()))
                    .map_err(io_err(format!("{what}: manifest {}", d.digest)))?;
                let m: image::Manifest = serde_json::from_slice(&m)
                    .map_err(|e| Error::Other(format!("{what}: manifest {}: {e}", d.digest)))?;
                entries.push((k.clone(), m.config.digest.to_string()));
                if store.resolve(&m.config.digest.to_string()).is_err() {
                    let mut plain = d.clone();
                    plain.annotations.clear();
                    manifests.insert(d.digest.clone(), (plain, m.config.digest.clone()));
                }
            }
            if !manifests.is_empty() {
                load_layout(
                    engine,
                    dir,
                    manifests.values().map(|(d, _)| d.clone()).collect(),
                )?;
            }
        }
        CacheLocation::Registry(r) => {
            let reg = reg.ok_or_else(|| {
                Error::Unsupported("--cache-from type=registry: no registry client here".into())
            })?;
            let what = format!("--cache-from {r}");
            let Some(bytes) = reg
                .get_index(r)
                .map_err(|e| Error::Other(format!("{what}: {e}")))?
            else {
                return Ok(0);
            };
            let mut pulled: BTreeMap<Digest, String> = BTreeMap::new();
            for (k, d) in keyed(&bytes, &what)? {
                if let Some(id) = pulled.get(&d.digest) {
                    entries.push((k, id.clone()));
                    continue;
                }
                let by_digest = Reference::parse(&format!("{}@{}", r.name(), d.digest))
                    .map_err(|e| Error::Other(format!("{what}: {e}")))?;
                reg.pull(&by_digest)
                    .map_err(|e| Error::Other(format!("{what}: {e}")))?;
                let id = store.resolve(&by_digest.to_string())?.record.id.to_string();
                // The pull named it by digest: a cache image stays unnamed.
                let _ = store.untag_keep(&by_digest);
                pulled.insert(d.digest.clone(), id.clone());
                entries.push((k, id));
            }
        }
    }
    cache.put_many(&entries)?;
    Ok(entries.len())
}

/// Loads the images `manifests` of the OCI layout `dir` into the store.
fn load_layout(engine: &engine::Engine, dir: &Path, manifests: Vec<Descriptor>) -> Result<()> {
    let what = format!("--cache-from {}", dir.display());
    let mut blobs = BTreeSet::new();
    for d in &manifests {
        let m: image::Manifest = serde_json::from_slice(
            &std::fs::read(dir.join("blobs/sha256").join(d.digest.hex()))
                .map_err(io_err(what.clone()))?,
        )
        .map_err(|e| Error::Other(format!("{what}: {e}")))?;
        blobs.insert(d.digest.clone());
        blobs.insert(m.config.digest.clone());
        blobs.extend(m.layers.iter().map(|l| l.digest.clone()));
    }
    let idx = Index {
        schema_version: 2,
        media_type: Some(media_type::OCI_INDEX.into()),
        manifests,
        annotations: BTreeMap::new(),
    };
    let mut tmp =
        tempfile::tempfile_in(engine.root().join("build")).map_err(io_err(what.clone()))?;
    {
        let mut b = tar::Builder::new(std::io::BufWriter::new(&mut tmp));
        let mut small = |name: &str, data: &[u8]| -> std::io::Result<()> {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data)
        };
        small("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io_err(what.clone()))?;
        let ij = serde_json::to_vec(&idx).map_err(|e| Error::Other(e.to_string()))?;
        small("index.json", &ij).map_err(io_err(what.clone()))?;
        for d in &blobs {
            b.append_path_with_name(
                dir.join("blobs/sha256").join(d.hex()),
                format!("blobs/sha256/{}", d.hex()),
            )
            .map_err(io_err(format!("{what}: blob {d}")))?;
        }
        b.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(io_err(what.clone()))?;
    }
    std::io::Seek::rewind(&mut tmp).map_err(io_err(what.clone()))?;
    engine
        .images()
        .load(std::io::BufReader::new(tmp))
        .map_err(|e| Error::Other(format!("{what}: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_specs() {
        let s = CacheSpec::parse("type=local,dest=/c,mode=max", true).unwrap();
        assert_eq!(s.location, CacheLocation::Local("/c".into()));
        assert!(s.max);
        let s = CacheSpec::parse("type=local,src=/c", false).unwrap();
        assert!(!s.max);
        let s = CacheSpec::parse("type=registry,ref=localhost:5000/c:buildcache", true).unwrap();
        assert!(matches!(s.location, CacheLocation::Registry(_)));
        assert!(matches!(
            CacheSpec::parse("localhost:5000/app:cache", false)
                .unwrap()
                .location,
            CacheLocation::Registry(_)
        ));
        for (spec, export, want) in [
            ("type=local,src=/c", true, "dest="),
            ("type=local,dest=/c", false, "src="),
            ("type=gha", true, "type=gha"),
            ("type=local,dest=/c,mode=all", true, "mode=all"),
            ("type=local,dest=/c,foo=1", true, "\"foo\""),
        ] {
            let e = CacheSpec::parse(spec, export).unwrap_err().to_string();
            assert!(e.contains(want), "{spec}: {e}");
        }
    }
}
