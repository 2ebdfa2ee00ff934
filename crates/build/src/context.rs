//! The build context: a directory walked once (metadata only, nothing
//! copied), `.dockerignore`d entries left out; each file's digest computed
//! when a step first needs it (sha256 over its type, mode, owner, link
//! target and content, streamed) and kept; COPY/ADD sources resolved inside
//! the context (globs, directories), never outside it: `../x` and symlinks
//! leading out are refused with the source named. A context sent as a tar
//! (`berth build -`) is unpacked into a directory first.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::ignore::{clean, PatternMatcher};

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("COPY source {0:?} is outside the build context")]
    Outside(String),
    #[error("COPY source {src:?}: symlink {link:?} points outside the build context")]
    LinkOutside { src: String, link: String },
    #[error("COPY source {0:?}: not found in the build context")]
    NotFound(String),
    #[error("COPY source {0:?}: too many levels of symbolic links")]
    Loop(String),
    #[error("bad .dockerignore pattern: {0}")]
    Pattern(String),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ContextError {
    let context = context.into();
    move |source| ContextError::Io { context, source }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink(String),
    Other,
}

/// One entry of the context (path relative to its root, slash-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// st_mode (type and permission bits).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
}

/// A build context.
#[derive(Debug)]
pub struct Context {
    root: PathBuf,
    entries: BTreeMap<String, Entry>,
    digests: Mutex<BTreeMap<String, String>>,
}

impl Context {
    /// Walks `root` once; entries the patterns exclude are left out.
    pub fn from_dir(root: &Path, ignore: &PatternMatcher) -> Result<Context, ContextError> {
        let mut entries = BTreeMap::new();
        walk(root, "", ignore, &[], &mut entries)?;
        Ok(Context {
            root: root.to_path_buf(),
            entries,
            digests: Mutex::new(BTreeMap::new()),
        })
    }

    /// A context sent as a tar: unpacked into `dest` (an empty directory
    /// of the caller's; entries cannot escape it), then walked.
    pub fn from_tar(
        tar: impl Read,
        dest: &Path,
        ignore: &PatternMatcher,
    ) -> Result<Context, ContextError> {
        let mut a = tar::Archive::new(tar);
        a.set_preserve_permissions(true);
        a.set_overwrite(true);
        a.unpack(dest).map_err(io_err(format!(
            "unpacking the context into {}",
            dest.display()
        )))?;
        Context::from_dir(dest, ignore)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn entries(&self) -> &BTreeMap<String, Entry> {
        &self.entries
    }

    /// The digest of one entry: `sha256:` over its kind, mode, owner, link
    /// target and (for a file) content.
    pub fn entry_digest(&self, rel: &str) -> Result<String, ContextError> {
        if let Some(d) = self
            .digests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(rel)
        {
            return Ok(d.clone());
        }
        let e = self
            .entries
            .get(rel)
            .ok_or_else(|| ContextError::NotFound(rel.to_string()))?;
        let mut h = Sha256::new();
        h.update(format!("mode={:o} uid={} gid={}\0", e.mode, e.uid, e.gid));
        match &e.kind {
            Kind::File => {
                let p = self.root.join(rel);
                let mut f =
                    std::fs::File::open(&p).map_err(io_err(format!("reading {}", p.display())))?;
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = f
                        .read(&mut buf)
                        .map_err(io_err(format!("reading {}", p.display())))?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
            }
            Kind::Symlink(t) => h.update(format!("link={t}")),
            Kind::Dir | Kind::Other => {}
        }
        let d = format!("sha256:{}", hex::encode(h.finalize()));
        self.digests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(rel.to_string(), d.clone());
        Ok(d)
    }

    /// The context entries a COPY/ADD source names: wildcards matched, a
    /// symlink on the way followed inside the context, a directory with
    /// all that is under it. Refuses what leaves the context.
    pub fn resolve(&self, src: &str) -> Result<Vec<String>, ContextError> {
        let lexical = clean(src.trim_start_matches('/'));
        if lexical == ".." || lexical.starts_with("../") {
            return Err(ContextError::Outside(src.to_string()));
        }
        // Expand wildcards component by component.
        let mut paths = vec![String::new()];
        if lexical != "." {
            for comp in lexical.split('/') {
                let mut next = vec![];
                for p in &paths {
                    let p = self.follow(src, p)?;
                    if has_wildcard(comp) {
                        let re = glob_regex(comp)
                            .ok_or_else(|| ContextError::NotFound(src.to_string()))?;
                        for name in self.children(&p) {
                            if re.is_match(&name) {
                                next.push(join(&p, &name));
                            }
                        }
                    } else {
                        next.push(join(&p, comp));
                    }
                }
                paths = next;
            }
        }
        let mut out = vec![];
        for p in paths {
            let p = self.follow(src, &p)?;
            if !p.is_empty() && !self.entries.contains_key(&p) {
                if has_wildcard(src) {
                    continue;
                }
                return Err(ContextError::NotFound(src.to_string()));
            }
            let is_dir = p.is_empty() || self.entries.get(&p).is_some_and(|e| e.kind == Kind::Dir);
            if !p.is_empty() {
                out.push(p.clone());
            }
            if is_dir {
                let prefix = if p.is_empty() {
                    String::new()
                } else {
                    format!("{p}/")
                };
                out.extend(
                    self.entries
                        .range(prefix.clone()..)
                        .take_while(|(k, _)| k.starts_with(&prefix))
                        .map(|(k, _)| k.clone()),
                );
            }
        }
        if out.is_empty() && !(lexical == "." && self.entries.is_empty()) {
            return Err(ContextError::NotFound(src.to_string()));
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// `p` with symlinks (of itself and its parents) followed, inside the
    /// context only.
    fn follow(&self, src: &str, p: &str) -> Result<String, ContextError> {
        let mut cur = p.to_string();
        for _ in 0..40 {
            let mut changed = false;
            let comps: Vec<&str> = cur.split('/').filter(|c| !c.is_empty()).collect();
            for i in 0..comps.len() {
                let prefix = comps[..=i].join("/");
                if let Some(Entry {
                    kind: Kind::Symlink(t),
                    ..
                }) = self.entries.get(&prefix)
                {
                    if t.starts_with('/') {
                        return Err(ContextError::LinkOutside {
                            src: src.to_string(),
                            link: prefix,
                        });
                    }
                    let parent = comps[..i].join("/");
                    let joined = clean(&join(&parent, t));
                    if joined == ".." || joined.starts_with("../") {
                        return Err(ContextError::LinkOutside {
                            src: src.to_string(),
                            link: prefix,
                        });
                    }
                    let rest = comps[i + 1..].join("/");
                    let joined = if joined == "." { String::new() } else { joined };
                    cur = join(&joined, &rest);
                    changed = true;
                    break;
                }
            }
            if !changed {
                return Ok(cur);
            }
        }
        Err(ContextError::Loop(src.to_string()))
    }

    fn children(&self, dir: &str) -> Vec<String> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| {
                let rest = &k[prefix.len()..];
                (!rest.contains('/')).then(|| rest.to_string())
            })
            .collect()
    }

    /// The digest of exactly what a list of sources takes: every entry's
    /// path and digest, in order.
    pub fn sources_digest(&self, sources: &[String]) -> Result<String, ContextError> {
        let mut h = Sha256::new();
        for s in sources {
            h.update(format!("src {s}\0"));
            for p in self.resolve(s)? {
                let d = self.entry_digest(&p)?;
                h.update(format!("{p}\0{d}\0"));
            }
        }
        Ok(format!("sha256:{}", hex::encode(h.finalize())))
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// One path component of a `filepath.Match` pattern as a regexp.
fn glob_regex(p: &str) -> Option<Regex> {
    let mut re = String::from("^");
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                re.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    re.push('^');
                }
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    if c == '\\' || c == '[' {
                        re.push('\\');
                    }
                    re.push(c);
                }
                re.push(']');
            }
            '\\' => {
                let n = chars.next()?;
                re.push_str(&regex::escape(&n.to_string()));
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re).ok()
}

fn walk(
    root: &Path,
    rel: &str,
    ignore: &PatternMatcher,
    parent: &[bool],
    out: &mut BTreeMap<String, Entry>,
) -> Result<(), ContextError> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let rd = std::fs::read_dir(&dir).map_err(io_err(format!("reading {}", dir.display())))?;
    let mut names: Vec<String> = vec![];
    for e in rd {
        let e = e.map_err(io_err(format!("reading {}", dir.display())))?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    for name in names {
        let p = join(rel, &name);
        let (excluded, info) = ignore
            .matches_using_parent_results(&p, parent)
            .map_err(|e| ContextError::Pattern(e.to_string()))?;
        let full = root.join(&p);
        let md = std::fs::symlink_metadata(&full)
            .map_err(io_err(format!("reading {}", full.display())))?;
        let ft = md.file_type();
        if excluded && !(ft.is_dir() && ignore.exclusions()) {
            continue;
        }
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            let t =
                std::fs::read_link(&full).map_err(io_err(format!("reading {}", full.display())))?;
            Kind::Symlink(t.to_string_lossy().into_owned())
        } else if ft.is_file() {
            Kind::File
        } else {
            Kind::Other
        };
        let is_dir = kind == Kind::Dir;
        let entry = Entry {
            kind,
            mode: md.mode(),
            uid: md.uid(),
            gid: md.gid(),
            size: md.len(),
        };
        if is_dir {
            let before = out.len();
            walk(root, &p, ignore, &info, out)?;
            // An excluded directory stays only as the parent of an
            // exception taken back.
            if !excluded || out.len() > before {
                out.insert(p, entry);
            }
        } else {
            out.insert(p, entry);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn ctx(dir: &Path, patterns: &[&str]) -> Context {
        Context::from_dir(dir, &PatternMatcher::new(patterns).unwrap()).unwrap()
    }

    #[test]
    fn walk_ignore_and_resolve() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir_all(d.join("src/sub")).unwrap();
        std::fs::write(d.join("a.txt"), "a").unwrap();
        std::fs::write(d.join("b.txt"), "b").unwrap();
        std::fs::write(d.join("c.md"), "c").unwrap();
        std::fs::write(d.join("src/x.rs"), "x").unwrap();
        std::fs::write(d.join("src/sub/y.rs"), "y").unwrap();
        std::fs::create_dir(d.join("node_modules")).unwrap();
        std::fs::write(d.join("node_modules/m.js"), "m").unwrap();
        symlink("src", d.join("link")).unwrap();
        symlink("../../etc/passwd", d.join("out")).unwrap();
        symlink("/etc", d.join("abs")).unwrap();
        let c = ctx(d, &["node_modules", "*.md"]);
        assert!(!c.entries().contains_key("node_modules/m.js"));
        assert!(!c.entries().contains_key("c.md"));
        assert_eq!(c.resolve("*.txt").unwrap(), ["a.txt", "b.txt"]);
        assert_eq!(c.resolve("/a.txt").unwrap(), ["a.txt"]);
        assert_eq!(
            c.resolve("src").unwrap(),
            ["src", "src/sub", "src/sub/y.rs", "src/x.rs"]
        );
        assert_eq!(c.resolve("link/x.rs").unwrap(), ["src/x.rs"]);
        assert_eq!(
            c.resolve("../x").unwrap_err().to_string(),
            "COPY source \"../x\" is outside the build context"
        );
        assert_eq!(
            c.resolve("a/../../x").unwrap_err().to_string(),
            "COPY source \"a/../../x\" is outside the build context"
        );
        assert_eq!(
            c.resolve("out").unwrap_err().to_string(),
            "COPY source \"out\": symlink \"out\" points outside the build context"
        );
        assert_eq!(
            c.resolve("abs/passwd").unwrap_err().to_string(),
            "COPY source \"abs/passwd\": symlink \"abs\" points outside the build context"
        );
        assert_eq!(
            c.resolve("c.md").unwrap_err().to_string(),
            "COPY source \"c.md\": not found in the build context"
        );
        assert!(c.resolve("*.nothing").is_err());
    }

    #[test]
    fn exception_under_excluded_dir() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir_all(d.join("docs")).unwrap();
        std::fs::write(d.join("docs/README.md"), "r").unwrap();
        std::fs::write(d.join("docs/other.md"), "o").unwrap();
        let c = ctx(d, &["docs", "!docs/README.md"]);
        assert!(c.entries().contains_key("docs/README.md"));
        assert!(!c.entries().contains_key("docs/other.md"));
    }

    #[test]
    fn digests_follow_content_and_mode() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("f"), "1").unwrap();
        let d1 = ctx(d, &[]).entry_digest("f").unwrap();
        std::fs::write(d.join("f"), "2").unwrap();
        let d2 = ctx(d, &[]).entry_digest("f").unwrap();
        assert_ne!(d1, d2);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("f"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let d3 = ctx(d, &[]).entry_digest("f").unwrap();
        assert_ne!(d2, d3);
    }

    #[test]
    fn tar_context() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "dir/hello.txt", &b"hello"[..])
            .unwrap();
        let data = b.into_inner().unwrap();
        let t = tempfile::tempdir().unwrap();
        let c = Context::from_tar(&data[..], t.path(), &PatternMatcher::default()).unwrap();
        assert_eq!(c.resolve("dir/*.txt").unwrap(), ["dir/hello.txt"]);
    }
}
