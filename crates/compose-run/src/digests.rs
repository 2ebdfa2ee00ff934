//! `config --resolve-image-digests` / `--lock-image-digests`: compose-go's
//! `WithImagesResolved` with compose v2's resolver, each service's image
//! pinned to a digest.

use berth_compose::{Project, ServiceConfig};
use engine::Engine;
use image::Reference;

use crate::{msg, Result};

/// Pins each service's image to its digest (compose-go's
/// `WithImagesResolved`): the reference normalised as `ParseDockerRef`
/// (`docker.io/library/bb:latest`), then `@digest`. A reference with a
/// digest keeps it (its tag dropped). The digest is the one the local
/// store recorded for that repository (a pull or push), else the one the
/// registry serves for the tag (compose's `DistributionInspect`).
pub fn resolve_image_digests(
    engine: &Engine,
    registry: &registry::Client,
    project: &mut Project,
) -> Result<()> {
    for (name, s) in project.services.iter_mut() {
        if s.image.is_empty() {
            continue;
        }
        let r = Reference::parse(&s.image).map_err(|e| {
            msg(format!(
                "service {name}: invalid image reference {:?}: {e}",
                s.image
            ))
        })?;
        if let Some(d) = r.digest() {
            s.image = r.with_digest(d.clone()).to_string();
            continue;
        }
        let local = engine.images().resolve(&s.image).ok().and_then(|info| {
            info.repo_digests
                .iter()
                .find(|d| d.name() == r.name())
                .and_then(|d| d.digest().cloned())
        });
        let digest = match local {
            Some(d) => d,
            None => registry
                .fetch_manifest(&r)
                .map(|m| m.digest)
                .map_err(|e| msg(format!("failed to resolve digest for {r}: {e}")))?,
        };
        s.image = format!("{r}@{digest}");
    }
    Ok(())
}

/// `--lock-image-digests`' override file: the services with their
/// resolved images only (compose v2's `imagesOnly`).
pub fn images_only(project: &Project) -> Project {
    Project {
        services: project
            .services
            .iter()
            .map(|(n, s)| {
                (
                    n.clone(),
                    ServiceConfig {
                        image: s.image.clone(),
                        ..Default::default()
                    },
                )
            })
            .collect(),
        ..Default::default()
    }
}
