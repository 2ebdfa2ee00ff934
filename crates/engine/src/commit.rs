//! `commit`: a new image from a container: the image's layers plus one
//! layer made from the container's upper directory (see
//! [`crate::diff`]), the container's config with `--change` instructions
//! applied, and a history entry with docker's author, comment and
//! `created_by` (the container's command). A running container is paused
//! for the commit unless asked not to be; a stopped one is held under its
//! lock, so it cannot start while its layer is read.

use std::io::{Seek, SeekFrom};

use serde::Serialize;

use image::{CommitOptions, ImportOptions, Reference};

use crate::container::Config;
use crate::error::{Error, Result};
use crate::{Engine, Status};

/// What [`Engine::commit`] does (docker's `POST /commit` query).
#[derive(Debug, Clone)]
pub struct CommitRequest {
    /// Container name or id.
    pub container: String,
    /// `REPOSITORY[:TAG]` for the new image (none: untagged).
    pub reference: Option<Reference>,
    /// `--author`.
    pub author: Option<String>,
    /// `--message`.
    pub comment: Option<String>,
    /// `--change` Dockerfile instructions.
    pub changes: Vec<String>,
    /// `--pause`: pause a running container during the commit.
    pub pause: bool,
}

impl Default for CommitRequest {
    fn default() -> Self {
        CommitRequest {
            container: String::new(),
            reference: None,
            author: None,
            comment: None,
            changes: Vec::new(),
            pause: true,
        }
    }
}

/// docker's `IDResponse`: `{"Id": "sha256:..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommitResult {
    /// The new image's id.
    pub id: String,
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The new image's execution config: the base image's (for what a
/// container does not carry), overlaid with the container's, then the
/// `changes` applied with `import --change`'s parser.
fn image_config(
    base: Option<image::manifest::ContainerConfig>,
    c: &Config,
    changes: &[String],
) -> Result<image::manifest::ContainerConfig> {
    let mut o = ImportOptions {
        cmd: c.cmd.clone(),
        entrypoint: c.entrypoint.clone(),
        env: c.env.clone(),
        working_dir: opt(&c.working_dir),
        user: opt(&c.user),
        labels: c.labels.clone(),
        exposed_ports: c.exposed_ports.keys().cloned().collect(),
        volumes: c.volumes.keys().cloned().collect(),
        stop_signal: c.stop_signal.clone(),
        on_build: base
            .as_ref()
            .and_then(|b| b.on_build.clone())
            .unwrap_or_default(),
        ..Default::default()
    };
    for ch in changes {
        o.apply_change(ch).map_err(|e| Error::msg(e.to_string()))?;
    }
    let mut out = base.unwrap_or_default();
    out.cmd = o.cmd;
    out.entrypoint = o.entrypoint;
    out.env = o.env;
    out.working_dir = o.working_dir;
    out.user = o.user;
    out.labels = o.labels;
    out.exposed_ports = o
        .exposed_ports
        .into_iter()
        .map(|p| (p, serde_json::json!({})))
        .collect();
    out.volumes = o
        .volumes
        .into_iter()
        .map(|v| (v, serde_json::json!({})))
        .collect();
    out.stop_signal = o.stop_signal;
    out.on_build = (!o.on_build.is_empty()).then_some(o.on_build);
    out.healthcheck = c.healthcheck.clone().or(out.healthcheck);
    Ok(out)
}

impl Engine {
    /// `commit`: the container's changes as a new image; returns its id.
    pub fn commit(&self, req: &CommitRequest) -> Result<CommitResult> {
        let id = self.lookup(&req.container)?;
        let c = self.load_config(&id)?;
        let base = match self.images().resolve(&c.image) {
            Ok(info) => info.record,
            Err(image::Error::ImageNotFound(_)) => {
                return Err(Error::msg(format!(
                    "cannot commit container {}: its image {} is no longer in the store",
                    crate::fsutil::short_id(&id),
                    c.image
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let base_cfg = self.images().config(&base)?;
        let config = image_config(base_cfg.config.clone(), &c.config, &req.changes)?;
        if !self.state(&id)?.running() {
            let lock = self.lock_container(&id)?;
            if !self.load_state_raw(&id)?.running() {
                // Held while the layer is read: it cannot start meanwhile.
                let r = self.commit_layers(&id, &base, config, &c.config, req);
                drop(lock);
                return r;
            }
        }
        let paused = req.pause && self.state(&id)?.status == Status::Running;
        if paused {
            self.pause(&id)?;
        }
        let r = self.commit_layers(&id, &base, config, &c.config, req);
        if paused {
            let u = self.unpause(&id);
            if r.is_ok() {
                u?;
            }
        }
        r
    }

    /// The changes of container `id` (its overlay upper directory against
    /// its image's layers) as a layer tar with whiteouts, in an unlinked
    /// temp file rewound to its start; `None` when it changed nothing.
    /// What `commit` and the builder's RUN steps take as the new layer.
    /// The caller keeps the container from running meanwhile.
    pub fn changes_tar(&self, id: &str) -> Result<Option<std::fs::File>> {
        let layers = self.layers(id)?;
        let dir = self.container_dir(id);
        let tmp = dir.join(format!(".commit-{}.tar", std::process::id()));
        let made = (|| -> std::io::Result<(std::fs::File, bool)> {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            let _ = std::fs::remove_file(&tmp);
            let (mut f, any) = layers.layer_tar(std::io::BufWriter::new(f))?;
            std::io::Write::flush(&mut f)?;
            let mut f = f.into_inner().map_err(|e| e.into_error())?;
            f.seek(SeekFrom::Start(0))?;
            Ok((f, any))
        })();
        let (file, any) = made.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(format!("read the changes of container {id}"), e)
        })?;
        Ok(any.then_some(file))
    }

    fn commit_layers(
        &self,
        id: &str,
        base: &image::ImageRecord,
        config: image::manifest::ContainerConfig,
        cc: &Config,
        req: &CommitRequest,
    ) -> Result<CommitResult> {
        let changes = self.changes_tar(id)?;
        let opts = CommitOptions {
            config,
            author: req.author.clone().filter(|a| !a.is_empty()),
            comment: req.comment.clone().filter(|m| !m.is_empty()),
            created_by: cc.cmd.clone().unwrap_or_default().join(" "),
            created: crate::timeutil::now(),
        };
        let names: Vec<Reference> = req.reference.iter().cloned().collect();
        let rec = self.images().commit(
            base,
            changes.map(|f| std::io::BufReader::with_capacity(256 << 10, f)),
            &opts,
            &names,
        )?;
        self.images().prepare_rootfs(&rec)?;
        Ok(CommitResult {
            id: rec.id.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_is_docker_id_response() {
        let r = CommitResult {
            id: "sha256:ab".into(),
        };
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"Id":"sha256:ab"}"#);
    }

    #[test]
    fn changes_apply_over_the_container_config() {
        let c = Config {
            cmd: Some(vec!["sh".into()]),
            env: vec!["A=1".into()],
            working_dir: "/w".into(),
            ..Default::default()
        };
        let base = image::manifest::ContainerConfig {
            on_build: Some(vec!["RUN x".into()]),
            ..Default::default()
        };
        let out = image_config(
            Some(base),
            &c,
            &[
                r#"CMD ["x"]"#.into(),
                "ENV B=2".into(),
                "EXPOSE 80".into(),
                "ONBUILD RUN y".into(),
            ],
        )
        .unwrap();
        assert_eq!(out.cmd, Some(vec!["x".to_string()]));
        assert_eq!(out.env, vec!["A=1", "B=2"]);
        assert_eq!(out.working_dir.as_deref(), Some("/w"));
        assert!(out.exposed_ports.contains_key("80/tcp"));
        assert_eq!(
            out.on_build,
            Some(vec!["RUN x".to_string(), "RUN y".to_string()])
        );
        let e = image_config(None, &c, &["RUN x".into()]).unwrap_err();
        assert!(e.to_string().contains("RUN x"), "{e}");
    }
}
