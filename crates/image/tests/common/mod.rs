#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;

use image::manifest::{media_type, Descriptor, ImageConfig, Index, Manifest, Platform, RootFs};
use image::{Digest, Store};
use tar::{EntryType, Header};

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Link(&'a str, &'a str),
}

pub fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = Header::new_gnu();
        h.set_mtime(1_700_000_000);
        match e {
            E::File(p, d) => {
                h.set_path(p).unwrap();
                h.set_entry_type(EntryType::Regular);
                h.set_size(d.len() as u64);
                h.set_mode(0o644);
                h.set_cksum();
                b.append(&h, *d).unwrap();
            }
            E::Dir(p) => {
                h.set_path(p).unwrap();
                h.set_entry_type(EntryType::Directory);
                h.set_size(0);
                h.set_mode(0o755);
                h.set_cksum();
                b.append(&h, &b""[..]).unwrap();
            }
            E::Link(p, t) => {
                h.set_path(p).unwrap();
                h.set_entry_type(EntryType::Symlink);
                h.set_link_name(t).unwrap();
                h.set_size(0);
                h.set_mode(0o777);
                h.set_cksum();
                b.append(&h, &b""[..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Put layers (plain tars; every other one gzipped, every third zstd),
/// a config and a Docker schema2 manifest into the store; returns the
/// manifest digest.
pub fn build_image(store: &Store, tars: &[Vec<u8>], arch: &str, cmd: &str) -> Digest {
    build_image_with(store, tars, arch, cmd, None)
}

pub fn build_image_with(
    store: &Store,
    tars: &[Vec<u8>],
    arch: &str,
    cmd: &str,
    diff_override: Option<Vec<Digest>>,
) -> Digest {
    let mut layers = Vec::new();
    let mut diffs = Vec::new();
    for (i, t) in tars.iter().enumerate() {
        diffs.push(Digest::of_bytes(t));
        let (blob, mt) = match i % 3 {
            0 => (gzip(t), media_type::DOCKER_LAYER_GZIP),
            1 => (t.clone(), media_type::OCI_LAYER_TAR),
            _ => (
                zstd::encode_all(&t[..], 3).unwrap(),
                media_type::OCI_LAYER_ZSTD,
            ),
        };
        let (d, n) = store.content().ingest(&blob[..], None).unwrap();
        layers.push(Descriptor::new(mt, d, n));
    }
    let config = ImageConfig {
        architecture: arch.into(),
        os: "linux".into(),
        config: Some(image::manifest::ContainerConfig {
            cmd: Some(vec![cmd.into()]),
            ..Default::default()
        }),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: diff_override.unwrap_or(diffs),
        },
        ..Default::default()
    };
    let cj = serde_json::to_vec(&config).unwrap();
    let cd = store.content().ingest_bytes(&cj).unwrap();
    let m = Manifest {
        schema_version: 2,
        media_type: Some(media_type::DOCKER_MANIFEST.into()),
        artifact_type: None,
        config: Descriptor::new(media_type::DOCKER_CONFIG, cd, cj.len() as u64),
        layers,
        annotations: BTreeMap::new(),
    };
    store
        .content()
        .ingest_bytes(&serde_json::to_vec(&m).unwrap())
        .unwrap()
}

/// An index over the given (platform, manifest digest) pairs.
pub fn build_index(store: &Store, entries: &[(Platform, Digest)]) -> Digest {
    let idx = Index {
        schema_version: 2,
        media_type: Some(media_type::DOCKER_MANIFEST_LIST.into()),
        manifests: entries
            .iter()
            .map(|(p, d)| {
                let mut desc = Descriptor::new(
                    media_type::DOCKER_MANIFEST,
                    d.clone(),
                    store.content().size(d).unwrap(),
                );
                desc.platform = Some(p.clone());
                desc
            })
            .collect(),
        annotations: BTreeMap::new(),
    };
    store
        .content()
        .ingest_bytes(&serde_json::to_vec(&idx).unwrap())
        .unwrap()
}
