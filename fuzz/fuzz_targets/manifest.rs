//! A manifest or index from a registry or an archive, with the media type
//! the server or parent descriptor claims: parsed, a platform picked from
//! an index, the layers' compression from their media types.
#![no_main]

use image::manifest::{layer_compression, parse_manifest, ManifestKind};
use image::{Digest, ManifestDoc, Platform};
use libfuzzer_sys::fuzz_target;

const HINTS: &[&str] = &[
    "",
    "application/json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

fuzz_target!(|input: &[u8]| {
    let Some((&h, data)) = input.split_first() else {
        return;
    };
    let d = Digest::of_bytes(data);
    let hint = HINTS.get(h as usize % (HINTS.len() + 1)).copied();
    let Ok(doc) = parse_manifest(data, &d, hint) else {
        return;
    };
    let _ = doc.kind().media_type();
    match &doc {
        ManifestDoc::Index(_, idx) => {
            for want in [Platform::host(), Platform::new("linux", "arm", Some("v7"))] {
                let _ = idx.select(&want, &d).map(|m| m.digest.to_string());
            }
            for m in &idx.manifests {
                let _ = ManifestKind::from_media_type(&m.media_type);
                if let Some(p) = &m.platform {
                    let _ = Platform::parse(&p.to_string());
                }
            }
        }
        ManifestDoc::Image(_, m) => {
            for l in &m.layers {
                let _ = layer_compression(&l.media_type, &l.digest);
            }
        }
    }
});
