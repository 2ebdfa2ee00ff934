//! A git repository as the build context (`berth build
//! https://host/repo.git#ref:subdir`, `git@host:repo.git`, `git://…`),
//! fetched with the `git` binary into a temp directory of the store (a
//! build killed meanwhile leaves it to the reaper): a shallow fetch of the
//! ref (default: the remote's HEAD), checked out, `.git` removed as
//! BuildKit does, the context being `subdir` inside it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::reap;
use crate::{Error, Result};

/// Whether `s` names a git repository as docker's CLI tells it:
/// `git://`, `git@`, `ssh://`, `github.com/`, or an `http(s)://` or
/// `file://` URL whose path ends with `.git` (before any `#fragment`).
pub fn is_git_url(s: &str) -> bool {
    if s.starts_with("git://")
        || s.starts_with("git@")
        || s.starts_with("ssh://")
        || s.starts_with("github.com/")
    {
        return true;
    }
    let base = s.split('#').next().unwrap_or("");
    (base.starts_with("https://") || base.starts_with("http://") || base.starts_with("file://"))
        && base.trim_end_matches('/').ends_with(".git")
}

/// A git context's parts: the repository, the ref, the subdirectory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef {
    pub remote: String,
    pub reference: Option<String>,
    pub subdir: Option<String>,
}

impl GitRef {
    /// `URL#ref:subdir` (either part may be empty).
    pub fn parse(s: &str) -> Result<GitRef> {
        let (base, frag) = match s.split_once('#') {
            Some((b, f)) => (b, f),
            None => (s, ""),
        };
        let remote = if let Some(r) = base.strip_prefix("github.com/") {
            format!("https://github.com/{r}")
        } else {
            base.to_string()
        };
        if remote.is_empty() || remote.starts_with('-') {
            return Err(Error::Other(format!("invalid git context {s:?}: no URL")));
        }
        let (r, sub) = match frag.split_once(':') {
            Some((r, d)) => (r, d),
            None => (frag, ""),
        };
        if r.starts_with('-') {
            return Err(Error::Other(format!(
                "invalid git context {s:?}: bad ref {r:?}"
            )));
        }
        let sub = sub.trim_matches('/');
        if sub.split('/').any(|c| c == "..") {
            return Err(Error::Other(format!(
                "invalid git context {s:?}: the subdirectory {sub:?} leaves the repository"
            )));
        }
        Ok(GitRef {
            remote,
            reference: (!r.is_empty()).then(|| r.to_string()),
            subdir: (!sub.is_empty()).then(|| sub.to_string()),
        })
    }
}

fn git(dir: &Path, args: &[&str], what: &str) -> Result<()> {
    let out = Command::new("git")
        .args(["-c", "protocol.ext.allow=never"])
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Other(format!(
                    "{what}: a git context needs the git binary, not found in PATH"
                ))
            } else {
                Error::Other(format!("{what}: cannot run git: {e}"))
            }
        })?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    Err(Error::Other(format!("{what}: git {}: {last}", args[0])))
}

/// Fetches `url` into a temp directory of the store at `root`; returns the
/// directory (removed when dropped) and the context inside it.
pub fn fetch(root: &Path, url: &str) -> Result<(tempfile::TempDir, PathBuf)> {
    let g = GitRef::parse(url)?;
    let tmp = reap::temp_dir(root)?;
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).map_err(|e| Error::Other(format!("git context: {e}")))?;
    let what = format!("fetch the git context {url}");
    git(&repo, &["init", "-q"], &what)?;
    git(&repo, &["remote", "add", "origin", &g.remote], &what)?;
    let r = g.reference.as_deref().unwrap_or("HEAD");
    // A shallow fetch of the ref; a commit a server will not serve shallow
    // is fetched with the history.
    if git(
        &repo,
        &["fetch", "-q", "--depth", "1", "--no-tags", "origin", r],
        &what,
    )
    .is_err()
    {
        git(&repo, &["fetch", "-q", "--tags", "origin"], &what)?;
        git(&repo, &["checkout", "-q", r], &what)?;
    } else {
        git(&repo, &["checkout", "-q", "FETCH_HEAD"], &what)?;
    }
    if repo.join(".gitmodules").exists() {
        git(
            &repo,
            &[
                "submodule",
                "update",
                "-q",
                "--init",
                "--recursive",
                "--depth",
                "1",
            ],
            &what,
        )?;
    }
    let _ = std::fs::remove_dir_all(repo.join(".git"));
    let ctx = match &g.subdir {
        None => repo.clone(),
        Some(s) => {
            let p = repo.join(s);
            let canon = p
                .canonicalize()
                .map_err(|e| Error::Other(format!("{what}: subdirectory {s:?}: {e}")))?;
            let base = repo
                .canonicalize()
                .map_err(|e| Error::Other(format!("{what}: {e}")))?;
            if !canon.starts_with(&base) || !canon.is_dir() {
                return Err(Error::Other(format!(
                    "{what}: subdirectory {s:?} is not a directory of the repository"
                )));
            }
            canon
        }
    };
    Ok((tmp, ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_fragments() {
        for u in [
            "git://h/r",
            "git@github.com:a/b.git",
            "https://h/r.git",
            "https://h/r.git#main:sub",
            "file:///srv/r.git",
            "github.com/a/b",
        ] {
            assert!(is_git_url(u), "{u}");
        }
        for u in ["https://h/x.tar.gz", ".", "/srv/r.git", "-"] {
            assert!(!is_git_url(u), "{u}");
        }
        let g = GitRef::parse("https://h/r.git#v1:a/b/").unwrap();
        assert_eq!(g.remote, "https://h/r.git");
        assert_eq!(g.reference.as_deref(), Some("v1"));
        assert_eq!(g.subdir.as_deref(), Some("a/b"));
        let g = GitRef::parse("git@h:r.git#:sub").unwrap();
        assert_eq!((g.reference, g.subdir.as_deref()), (None, Some("sub")));
        assert_eq!(
            GitRef::parse("github.com/a/b").unwrap().remote,
            "https://github.com/a/b"
        );
        assert!(GitRef::parse("git://h/r#main:../x").is_err());
        assert!(GitRef::parse("git://h/r#--upload-pack=x").is_err());
    }
}
