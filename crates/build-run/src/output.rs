//! `--output`, as BuildKit's exporters: `type=local,dest=DIR` and
//! `type=tar,dest=FILE|-` write the final stage's flattened filesystem;
//! `type=oci,dest=FILE` and `type=docker,dest=FILE[,name=…]` write image
//! archives (the image store's `save`); `type=image[,name=…]` and
//! `type=docker` without a destination keep the image in the store under
//! its tags (`-t`) and the names given. `-o DIR` is `type=local,dest=DIR`
//! and `-o -` `type=tar,dest=-`. With outputs none of which keeps the
//! image, it is not tagged (its steps stay in the build cache).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::reap::{self, OWNER_LABEL};
use crate::{Error, Result};

/// Where an exporter writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    File(PathBuf),
    /// `dest=-`: the caller's standard output.
    Stdout,
}

/// One `--output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `type=image`: in the store, tagged with `-t` and `names`.
    Image { names: Vec<image::Reference> },
    /// `type=local,dest=DIR`.
    Local(PathBuf),
    /// `type=tar,dest=FILE|-`.
    Tar(Dest),
    /// `type=oci,dest=FILE|-[,name=…][,oci-mediatypes=…]`.
    Oci {
        dest: Dest,
        names: Vec<image::Reference>,
        /// `oci-mediatypes` (BuildKit's default for oci: true).
        oci_media_types: bool,
    },
    /// `type=docker[,dest=FILE|-][,name=…][,oci-mediatypes=…]`: without
    /// `dest`, loaded (as `type=image`).
    Docker {
        dest: Option<Dest>,
        names: Vec<image::Reference>,
        /// `oci-mediatypes` (BuildKit's default for docker: false).
        oci_media_types: bool,
    },
}

fn bad(spec: &str, why: impl std::fmt::Display) -> Error {
    Error::Unsupported(format!("invalid --output {spec:?}: {why}"))
}

impl Output {
    /// Parses one `--output` value (BuildKit's CSV form or the `-o DIR`
    /// shorthand).
    pub fn parse(spec: &str) -> Result<Output> {
        if !spec.contains('=') {
            return Ok(match spec {
                "" => return Err(bad(spec, "empty")),
                "-" => Output::Tar(Dest::Stdout),
                d => Output::Local(PathBuf::from(d)),
            });
        }
        let mut typ = None;
        let mut dest = None;
        let mut names = vec![];
        let mut oci_media_types = None;
        for field in spec.split(',') {
            let (k, v) = field
                .split_once('=')
                .ok_or_else(|| bad(spec, format!("{field:?} is not key=value")))?;
            match k.trim() {
                "type" => typ = Some(v.to_string()),
                "dest" => dest = Some(v.to_string()),
                "name" => {
                    for n in v.split(';').filter(|n| !n.is_empty()) {
                        names.push(
                            image::Reference::parse(n)
                                .map_err(|e| bad(spec, format!("name {n:?}: {e}")))?,
                        );
                    }
                }
                "push" | "push-by-digest" | "registry.insecure" if v == "false" => {}
                "oci-mediatypes" => {
                    oci_media_types = Some(match v {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad(spec, format!("oci-mediatypes={v:?}: true or false"))),
                    })
                }
                "compression" | "force-compression" | "platform-split" => {}
                other => {
                    return Err(bad(
                        spec,
                        format!("the attribute {other:?} is not supported"),
                    ))
                }
            }
        }
        let typ = typ.ok_or_else(|| bad(spec, "type= is required"))?;
        let file = |d: Option<String>, t: &str| -> Result<Dest> {
            match d.as_deref() {
                None | Some("") => Err(bad(spec, format!("type={t} needs dest="))),
                Some("-") => Ok(Dest::Stdout),
                Some(p) => Ok(Dest::File(PathBuf::from(p))),
            }
        };
        Ok(match typ.as_str() {
            "image" | "moby" => Output::Image { names },
            "local" => match file(dest, "local")? {
                Dest::File(p) => Output::Local(p),
                Dest::Stdout => Output::Tar(Dest::Stdout),
            },
            "tar" => Output::Tar(file(dest, "tar")?),
            "oci" => Output::Oci {
                dest: file(dest, "oci")?,
                names,
                oci_media_types: oci_media_types.unwrap_or(true),
            },
            "docker" => Output::Docker {
                dest: match dest {
                    None => None,
                    d => Some(file(d, "docker")?),
                },
                names,
                oci_media_types: oci_media_types.unwrap_or(false),
            },
            "registry" => {
                return Err(bad(
                    spec,
                    "type=registry is not supported: build, then push",
                ))
            }
            t => {
                return Err(bad(
                    spec,
                    format!("unknown type {t:?}: local, tar, oci, docker or image"),
                ))
            }
        })
    }

    /// Whether the image stays in the store, tagged.
    pub fn keeps_image(&self) -> bool {
        matches!(
            self,
            Output::Image { .. } | Output::Docker { dest: None, .. }
        )
    }

    /// The names the image gets in the store besides `-t`.
    pub(crate) fn store_names(&self) -> &[image::Reference] {
        match self {
            Output::Image { names }
            | Output::Docker {
                dest: None, names, ..
            } => names,
            _ => &[],
        }
    }
}

fn other(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Other(format!("{what}: {e}"))
}

/// Writes to `dest` through `f`: a file is written next to it and renamed
/// into place once complete.
fn write_dest(dest: &Dest, f: &mut dyn FnMut(&mut dyn Write) -> Result<()>) -> Result<()> {
    match dest {
        Dest::Stdout => {
            let out = std::io::stdout();
            let mut w = std::io::BufWriter::new(out.lock());
            f(&mut w)?;
            w.flush().map_err(other("write the output to stdout"))
        }
        Dest::File(p) => {
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let what = format!("write the output {}", p.display());
            let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(other(&what))?;
            {
                let mut w = std::io::BufWriter::new(tmp.as_file_mut());
                f(&mut w)?;
                w.flush().map_err(other(&what))?;
            }
            tmp.as_file().sync_all().map_err(other(&what))?;
            tmp.persist(p).map_err(|e| other(&what)(e.error))?;
            Ok(())
        }
    }
}

/// The flattened filesystem of image `id` as a tar written to `w`, read
/// through a created (never started) container of it.
fn filesystem(engine: &engine::Engine, id: &str, w: &mut dyn Write) -> Result<()> {
    let owner = reap::own(engine.root())?;
    let mut labels = std::collections::BTreeMap::new();
    labels.insert(OWNER_LABEL.to_string(), owner.pid.clone());
    let c = engine.create(&engine::CreateOptions {
        image: id.to_string(),
        cmd: vec!["/nonexistent".into()],
        entrypoint: Some(vec![]),
        labels,
        ..Default::default()
    })?;
    let r = engine.export(
        &engine::export::ExportRequest {
            container: c.clone(),
        },
        w,
    );
    let _ = engine.remove(&c, true);
    Ok(r?)
}

/// Writes the image `id` to `out`; an archive without `name=` is named
/// with `tags` (the build's `-t`, as buildx passes them on).
pub(crate) fn export(
    engine: &engine::Engine,
    id: &str,
    out: &Output,
    tags: &[image::Reference],
) -> Result<()> {
    let named = |names: &'_ [image::Reference]| -> Vec<image::Reference> {
        if names.is_empty() {
            tags.to_vec()
        } else {
            names.to_vec()
        }
    };
    match out {
        Output::Image { .. } | Output::Docker { dest: None, .. } => Ok(()),
        Output::Tar(dest) => write_dest(dest, &mut |w| filesystem(engine, id, w)),
        Output::Local(dir) => local(engine, id, dir),
        // BuildKit's exporters: oci-mediatypes (oci: true by default,
        // docker: false) says which media types the manifests have.
        Output::Oci {
            dest,
            names,
            oci_media_types,
        } => archive(
            engine,
            id,
            dest,
            &named(names),
            if *oci_media_types {
                image::ArchiveFormat::OciMediaTypes
            } else {
                image::ArchiveFormat::OciDockerMediaTypes
            },
        ),
        Output::Docker {
            dest: Some(dest),
            names,
            oci_media_types,
        } => archive(
            engine,
            id,
            dest,
            &named(names),
            image::ArchiveFormat::DockerOci {
                oci_media_types: *oci_media_types,
            },
        ),
    }
}

fn local(engine: &engine::Engine, id: &str, dir: &Path) -> Result<()> {
    let what = format!("write the output {}", dir.display());
    std::fs::create_dir_all(dir).map_err(other(&what))?;
    let mut tmp = tempfile::tempfile_in(engine.root().join("build")).map_err(other(&what))?;
    filesystem(engine, id, &mut std::io::BufWriter::new(&mut tmp))?;
    std::io::Seek::rewind(&mut tmp).map_err(other(&what))?;
    let mut a = tar::Archive::new(std::io::BufReader::new(tmp));
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(true);
    a.set_overwrite(true);
    a.unpack(dir).map_err(other(&what))
}

/// An image archive of `id` named exactly `names` (none: unnamed, not
/// the store's other tags of it), under a lease (an untagged build result
/// is not taken for dangling while it is written).
fn archive(
    engine: &engine::Engine,
    id: &str,
    dest: &Dest,
    names: &[image::Reference],
    format: image::ArchiveFormat,
) -> Result<()> {
    let store = engine.images();
    let _lease = store.lease()?;
    write_dest(dest, &mut |w| Ok(store.save_named(id, names, format, w)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_outputs() {
        assert_eq!(
            Output::parse("out").unwrap(),
            Output::Local(PathBuf::from("out"))
        );
        assert_eq!(Output::parse("-").unwrap(), Output::Tar(Dest::Stdout));
        assert_eq!(
            Output::parse("type=local,dest=/x").unwrap(),
            Output::Local(PathBuf::from("/x"))
        );
        assert_eq!(
            Output::parse("type=tar,dest=-").unwrap(),
            Output::Tar(Dest::Stdout)
        );
        let d = Output::parse("type=docker,dest=a.tar,name=app:1").unwrap();
        assert!(!d.keeps_image());
        assert!(Output::parse("type=docker").unwrap().keeps_image());
        assert!(Output::parse("type=image,name=x").unwrap().keeps_image());
        // oci-mediatypes: BuildKit's defaults, true for oci, false for docker.
        let media = |spec: &str| match Output::parse(spec).unwrap() {
            Output::Oci {
                oci_media_types, ..
            }
            | Output::Docker {
                oci_media_types, ..
            } => oci_media_types,
            o => panic!("{o:?}"),
        };
        assert!(media("type=oci,dest=a"));
        assert!(!media("type=oci,dest=a,oci-mediatypes=false"));
        assert!(!media("type=docker,dest=a"));
        assert!(media("type=docker,oci-mediatypes=true"));
        for (spec, want) in [
            ("type=oci", "dest="),
            ("type=nope,dest=x", "unknown type"),
            ("dest=x", "type="),
            ("type=local,dest=x,foo=1", "\"foo\""),
            ("type=image,push=true", "\"push\""),
            ("type=oci,dest=a,oci-mediatypes=yes", "oci-mediatypes"),
        ] {
            let e = Output::parse(spec).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("--output"), "{spec}: {e}");
        }
    }
}
