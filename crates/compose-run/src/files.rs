//! Secrets and configs as docker compose v2 gives them to a container
//! (its `create.go` and `secrets.go`): a `file` source is bind-mounted
//! read-only (secrets at `/run/secrets/<target>`, configs at `/<target>`);
//! an `environment` or `content` source is written into the container
//! after it is created and before it starts, with the entry's `uid`,
//! `gid` and `mode` (0444 by default). External ones, `driver` and
//! `template_driver` are swarm's: errors, as compose says.

use std::collections::BTreeMap;

use berth_compose::{FileObjectConfig, FileReferenceConfig, Project, ServiceConfig};
use engine::options::mounts::{BindMount, Mount};
use engine::Engine;

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Secret,
    Config,
}

impl Kind {
    /// The model's field name.
    fn field(self) -> &'static str {
        match self {
            Kind::Secret => "secrets",
            Kind::Config => "configs",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Config => "config",
        }
    }

    fn refs(self, s: &ServiceConfig) -> &[FileReferenceConfig] {
        match self {
            Kind::Secret => &s.secrets,
            Kind::Config => &s.configs,
        }
    }

    fn defs(self, p: &Project) -> &BTreeMap<String, FileObjectConfig> {
        match self {
            Kind::Secret => &p.secrets,
            Kind::Config => &p.configs,
        }
    }

    /// The path in the container (compose: a relative secret target is
    /// under /run/secrets, a relative config target under /).
    fn target(self, r: &FileReferenceConfig) -> String {
        let base = match self {
            Kind::Secret => "/run/secrets/",
            Kind::Config => "/",
        };
        if r.target.is_empty() {
            format!("{base}{}", r.source)
        } else if r.target.starts_with('/') {
            r.target.clone()
        } else {
            format!("{base}{}", r.target)
        }
    }
}

/// One entry of a service's `secrets`/`configs`, its definition checked.
struct Entry<'a> {
    kind: Kind,
    index: usize,
    r: &'a FileReferenceConfig,
    def: &'a FileObjectConfig,
    target: String,
}

impl Entry<'_> {
    fn err(&self, svc: &str, what: impl std::fmt::Display) -> Error {
        Error::Msg(format!(
            "services.{svc}.{}[{}] ({}): {what}",
            self.kind.field(),
            self.index,
            self.r.source
        ))
    }

    fn name(&self) -> &str {
        if self.def.name.is_empty() {
            &self.r.source
        } else {
            &self.def.name
        }
    }

    /// Its content when it is given by value (`environment`, `content`).
    fn content(&self, p: &Project) -> Result<Option<String>> {
        if !self.def.content.is_empty() {
            return Ok(Some(self.def.content.clone()));
        }
        if !self.def.environment.is_empty() {
            return match p.environment.get(&self.def.environment) {
                Some(v) => Ok(Some(v.clone())),
                None => Err(Error::Msg(format!(
                    "environment variable {:?} required by {} {:?} is not set",
                    self.def.environment,
                    self.kind.word(),
                    self.name()
                ))),
            };
        }
        Ok(None)
    }
}

fn entries<'a>(p: &'a Project, s: &'a ServiceConfig) -> Result<Vec<Entry<'a>>> {
    let mut out = Vec::new();
    for kind in [Kind::Secret, Kind::Config] {
        for (index, r) in kind.refs(s).iter().enumerate() {
            let def = kind.defs(p).get(&r.source).ok_or_else(|| {
                Error::Msg(format!(
                    "services.{}.{}[{index}]: undefined {} {:?}",
                    s.name,
                    kind.field(),
                    kind.word(),
                    r.source
                ))
            })?;
            let e = Entry {
                kind,
                index,
                r,
                def,
                target: kind.target(r),
            };
            let top = format!("{}.{}", kind.field(), r.source);
            if def.external {
                return Err(Error::Msg(format!(
                    "{top}: external {}s are swarm's: unsupported external {} {}",
                    kind.word(),
                    kind.word(),
                    e.name()
                )));
            }
            if !def.driver.is_empty() {
                return Err(Error::Msg(format!(
                    "{top}.driver: not supported (docker compose does not support {}.*.driver)",
                    kind.field()
                )));
            }
            if !def.template_driver.is_empty() {
                return Err(Error::Msg(format!(
                    "{top}.template_driver: not supported (docker compose does not support {}.*.template_driver)",
                    kind.field()
                )));
            }
            out.push(e);
        }
    }
    Ok(out)
}

/// The read-only bind mounts of the `file` sources (a target some
/// volume of the service already mounts is left to it, as compose);
/// warnings for what compose ignores on them. Checks the by-value ones
/// too, so that nothing is created for a service that cannot start.
pub(crate) fn bind_mounts(
    p: &Project,
    s: &ServiceConfig,
    taken: &[String],
    warnings: &mut Vec<String>,
) -> Result<Vec<Mount>> {
    let n = &s.name;
    let mut out: Vec<Mount> = Vec::new();
    for e in entries(p, s)? {
        if let Some(c) = e.content(p)? {
            // as compose (`if content == "" { continue }`): an empty
            // value is skipped, before the read-only check
            if c.is_empty() {
                continue;
            }
            if s.read_only {
                return Err(e.err(
                    n,
                    format!(
                        "cannot create {} {:?} in read-only service {n}: `file` is the sole supported option",
                        e.kind.word(),
                        e.name()
                    ),
                ));
            }
            parse_id(&e.r.uid).map_err(|x| e.err(n, format!("uid: {x}")))?;
            parse_id(&e.r.gid).map_err(|x| e.err(n, format!("gid: {x}")))?;
            continue;
        }
        if taken.contains(&e.target)
            || out
                .iter()
                .any(|m| matches!(m, Mount::Bind(b) if b.target == e.target))
        {
            continue;
        }
        if e.def.file.is_empty() {
            return Err(e.err(n, "no file, environment or content given"));
        }
        if !e.r.uid.is_empty() || !e.r.gid.is_empty() || e.r.mode.is_some() {
            warnings.push(format!(
                "services.{n}.{}[{}]: {} `uid`, `gid` and `mode` are not supported for a file source, ignored",
                e.kind.field(),
                e.index,
                e.kind.field()
            ));
        }
        if !std::path::Path::new(&e.def.file).exists() {
            return Err(Error::Msg(format!(
                "{}.{}.file: {}: no such file or directory",
                e.kind.field(),
                e.r.source,
                e.def.file
            )));
        }
        out.push(Mount::Bind(BindMount {
            source: e.def.file.clone(),
            target: e.target.clone(),
            read_only: true,
            mode: "ro".into(),
            ..Default::default()
        }));
    }
    Ok(out)
}

fn parse_id(s: &str) -> std::result::Result<u64, String> {
    if s.is_empty() {
        return Ok(0);
    }
    s.parse().map_err(|_| format!("{s:?} is not a numeric id"))
}

/// Writes the `environment`/`content` sources of `s` into created
/// container `id` (compose's injectSecrets/injectConfigs).
pub(crate) fn inject(e: &Engine, p: &Project, s: &ServiceConfig, id: &str) -> Result<()> {
    let n = &s.name;
    for ent in entries(p, s)? {
        let Some(content) = ent.content(p)? else {
            continue;
        };
        if content.is_empty() {
            continue;
        }
        let uid = parse_id(&ent.r.uid).map_err(|x| ent.err(n, format!("uid: {x}")))?;
        let gid = parse_id(&ent.r.gid).map_err(|x| ent.err(n, format!("gid: {x}")))?;
        let mode = ent.r.mode.as_ref().map(|m| m.0 as u32).unwrap_or(0o444);
        let tar =
            tar_of(&ent.target, content.as_bytes(), uid, gid, mode).map_err(|x| ent.err(n, x))?;
        let keep_owner = !ent.r.uid.is_empty() || !ent.r.gid.is_empty();
        e.copy_to_container(
            None,
            &mut tar.as_slice(),
            id,
            "/",
            engine::cp::CopyOptions {
                follow_link: false,
                archive: keep_owner,
            },
        )
        .map_err(|x| ent.err(n, format!("writing {}: {x}", ent.target)))?;
    }
    Ok(())
}

/// A tar of one file (what compose's createTar sends to the container).
fn tar_of(path: &str, data: &[u8], uid: u64, gid: u64, mode: u32) -> std::io::Result<Vec<u8>> {
    let mut h = tar::Header::new_gnu();
    h.set_path(path.trim_start_matches('/'))?;
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, data)?;
    b.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_as_compose() {
        let r = |source: &str, target: &str| FileReferenceConfig {
            source: source.into(),
            target: target.into(),
            ..Default::default()
        };
        assert_eq!(Kind::Secret.target(&r("tok", "")), "/run/secrets/tok");
        assert_eq!(Kind::Secret.target(&r("tok", "t2")), "/run/secrets/t2");
        assert_eq!(Kind::Secret.target(&r("tok", "/etc/t")), "/etc/t");
        assert_eq!(Kind::Config.target(&r("cfg", "")), "/cfg");
        assert_eq!(Kind::Config.target(&r("cfg", "a/b")), "/a/b");
    }

    #[test]
    fn an_empty_value_is_skipped_even_in_a_read_only_service() {
        let mut p = Project::default();
        p.environment.insert("EMPTY".into(), String::new());
        p.environment.insert("FULL".into(), "x".into());
        let def = |var: &str| berth_compose::FileObjectConfig {
            environment: var.into(),
            ..Default::default()
        };
        p.secrets.insert("e".into(), def("EMPTY"));
        p.secrets.insert("f".into(), def("FULL"));
        let mut s = ServiceConfig {
            name: "web".into(),
            read_only: true,
            ..Default::default()
        };
        s.secrets.push(FileReferenceConfig {
            source: "e".into(),
            ..Default::default()
        });
        let mut w = Vec::new();
        assert!(bind_mounts(&p, &s, &[], &mut w).unwrap().is_empty());
        s.secrets.push(FileReferenceConfig {
            source: "f".into(),
            ..Default::default()
        });
        let e = bind_mounts(&p, &s, &[], &mut w).unwrap_err().to_string();
        assert!(e.contains("read-only service web"), "{e}");
    }

    #[test]
    fn a_tar_of_one_file() {
        let t = tar_of("/run/secrets/x", b"hi", 7, 8, 0o400).unwrap();
        let mut a = tar::Archive::new(t.as_slice());
        let e = a.entries().unwrap().next().unwrap().unwrap();
        let h = e.header();
        assert_eq!(e.path().unwrap().to_str(), Some("run/secrets/x"));
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (7, 8));
        assert_eq!(h.mode().unwrap(), 0o400);
        assert_eq!(h.size().unwrap(), 2);
    }
}
