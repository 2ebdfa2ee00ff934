//! Image references, parsed and normalised the way docker does
//! (`busybox` → `docker.io/library/busybox:latest`).
//!
//! Grammar (from the distribution reference package):
//! ```text
//! reference   := name [ ":" tag ] [ "@" digest ]
//! name        := [domain '/'] path-component ['/' path-component]*
//! domain      := host [':' port-number]
//! host        := domain-name | IPv4 | '[' IPv6 ']'
//! domain-name := domain-component ['.' domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! path-component   := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric    := /[a-z0-9]+/
//! separator        := /[_.]|__|[-]+/
//! tag              := /[\w][\w.-]{0,127}/
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::Digest;

/// Registry used for names without a domain.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Legacy spelling of [`DEFAULT_DOMAIN`], normalised away.
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// Namespace of official images on the default registry.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// Tag used when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// Maximum length of a full repository name.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Why a reference was rejected. Displays as
/// `invalid reference format: <reason>: "<input>"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference format: {reason}: {input:?}")]
pub struct ReferenceError {
    /// The string that was being parsed.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A normalised, fully-qualified image reference.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parse and normalise a reference as `docker pull` does: add the
    /// default domain and `library/` namespace, and the `latest` tag when
    /// neither tag nor digest is given.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let mut r = Reference::parse_named(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// Parse and normalise a reference without adding a default tag:
    /// distribution/reference's `ParseNormalizedNamed`, rule for rule
    /// (splitDockerDomain, the lowercase check on the remote name, then
    /// `Parse` of `domain/remainder`). As there, a first component is a
    /// registry domain when it is `localhost` or contains `.` or `:`, or
    /// any uppercase letter (`UPPER/case` names the host `UPPER`; docker
    /// since distribution/reference ca2a562, 2019; podman's fork of the
    /// package lacks that rule and calls the name not lowercase).
    pub fn parse_named(s: &str) -> Result<Reference, ReferenceError> {
        let err = |reason: &str| ReferenceError {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(err("repository name must have at least one component"));
        }
        if is_identifier(s) {
            return Err(err(&format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder.split(':').next().unwrap_or("");
        if remote.to_lowercase() != remote {
            return Err(err(&format!(
                "repository name ({remote}) must be lowercase"
            )));
        }
        let full = format!("{domain}/{remainder}");
        let p = parse_raw(&full).map_err(|reason| err(&reason))?;
        let Some(domain) = p.domain else {
            // Cannot happen: `full` starts with a domain.
            return Err(err("repository name must have a domain"));
        };
        let domain = if domain == LEGACY_DEFAULT_DOMAIN {
            DEFAULT_DOMAIN.to_string()
        } else {
            domain.to_string()
        };
        Ok(Reference {
            domain,
            path: p.path.to_string(),
            tag: p.tag.map(str::to_string),
            digest: p.digest,
        })
    }

    /// Registry domain, e.g. `docker.io` or `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// Repository path on the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }
    /// Tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    /// Digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Full repository name: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// Short repository name as docker shows it: `busybox`,
    /// `user/app`, `localhost:5000/a/b`.
    /// A Docker Hub path whose first component reads as a registry
    /// (`docker.io/foo.bar/app`, `docker.io/docker.io/library/alpine`)
    /// keeps its domain: the short form must name the same repository when
    /// read back (docker drops it, and shows another image's name).
    pub fn familiar_name(&self) -> String {
        let first = self.path.split('/').next().unwrap_or("");
        if self.domain == DEFAULT_DOMAIN && !(first.contains(['.', ':']) || first == "localhost") {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// Short form of the whole reference: `busybox:latest`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// `name:tag` key used for tag records, if the reference has a tag.
    pub fn repo_tag(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.name()))
    }

    /// The same repository with a different tag (digest dropped).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !is_valid_tag(tag) {
            return Err(ReferenceError {
                input: format!("{}:{tag}", self.name()),
                reason: format!("invalid tag {tag:?}"),
            });
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository pinned to a digest (tag dropped).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// Just the repository, with neither tag nor digest.
    pub fn repository(&self) -> Reference {
        Reference {
            tag: None,
            digest: None,
            ..self.clone()
        }
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Reference::parse_named(&s).map_err(serde::de::Error::custom)
    }
}

/// True for a bare 64-hex-digit string (an image id, not a name).
pub fn is_identifier(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// distribution/reference's `splitDockerDomain`: the registry domain and
/// the rest (remote name, tag, digest), `library/` added for an official
/// image on the default registry.
fn split_docker_domain(name: &str) -> (&str, String) {
    let Some((first, rest)) = name.split_once('/') else {
        return (DEFAULT_DOMAIN, format!("{OFFICIAL_REPO_PREFIX}{name}"));
    };
    let (domain, remote) = if first == "localhost" {
        (first, rest)
    } else if first == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN, rest)
    } else if first.contains(['.', ':']) || first.to_lowercase() != first {
        (first, rest)
    } else {
        (DEFAULT_DOMAIN, name)
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        (domain, format!("{OFFICIAL_REPO_PREFIX}{remote}"))
    } else {
        (domain, remote.to_string())
    }
}

/// A reference split by [`parse_raw`].
#[derive(Debug)]
struct RawReference<'a> {
    domain: Option<&'a str>,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<Digest>,
}

/// distribution/reference's `Parse` (no normalisation): the anchored
/// `name [":" tag] ["@" digest]` grammar, the domain taken when the first
/// component is one and the rest is a valid path. Errors are its error
/// texts, made specific where the cause is known.
fn parse_raw(s: &str) -> Result<RawReference<'_>, String> {
    if s.is_empty() {
        return Err("repository name must have at least one component".into());
    }
    match match_reference(s) {
        Ok(r) => Ok(r),
        Err(reason) => {
            let lower = s.to_lowercase();
            if lower != s && match_reference(&lower).is_ok() {
                Err("repository name must be lowercase".into())
            } else {
                Err(reason)
            }
        }
    }
}

fn match_reference(s: &str) -> Result<RawReference<'_>, String> {
    // '@' appears in neither name nor tag: the first one starts the digest.
    let (rest, digest) = match s.split_once('@') {
        Some((rest, d)) => {
            if !is_digest_pattern(d) {
                return Err(format!("invalid digest {d:?}"));
            }
            (rest, Some(Digest::parse(d).map_err(|e| e.to_string())?))
        }
        None => (s, None),
    };
    // A ':' after the last '/' starts the tag (a port is always followed
    // by a '/').
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        if !is_valid_tag(t) {
            return Err(format!(
                "invalid tag {t:?} (must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})"
            ));
        }
    }
    if name.is_empty() {
        return Err("repository name must have at least one component".into());
    }
    // optional(domain "/") remote-name: the domain if it can be one.
    let (domain, path) = match name.split_once('/') {
        Some((d, p)) if is_valid_domain(d) && is_valid_path(p) => (Some(d), p),
        _ => (None, name),
    };
    if !is_valid_path(path) {
        return Err(match path.split('/').find(|c| !is_valid_path_component(c)) {
            Some("") => "repository name has an empty path component".into(),
            Some(c) => format!(
                "invalid repository path component {c:?} (allowed: lowercase letters, digits and separators '.', '_', '__', '-')"
            ),
            None => "invalid reference format".into(),
        });
    }
    if path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(format!(
            "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        ));
    }
    Ok(RawReference {
        domain,
        path,
        tag,
        digest,
    })
}

/// path-component ['/' path-component]*
fn is_valid_path(p: &str) -> bool {
    p.split('/').all(is_valid_path_component)
}

/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[[:xdigit:]]{32,}`
fn is_digest_pattern(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let comp_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(|x| x.is_ascii_alphanumeric())
    };
    alg.split(['-', '_', '+', '.']).all(comp_ok)
        && hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `[\w][\w.-]{0,127}`
pub fn is_valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

fn is_valid_path_component(c: &str) -> bool {
    // alpha-numeric (separator alpha-numeric)*, separator := [_.] | __ | -+
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    let mut expect_alnum = true;
    while i < b.len() {
        if alnum(b[i]) {
            while i < b.len() && alnum(b[i]) {
                i += 1;
            }
            expect_alnum = false;
            continue;
        }
        if expect_alnum {
            return false;
        }
        // separator
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        expect_alnum = true;
    }
    !b.is_empty() && !expect_alnum
}

fn is_valid_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
}

fn is_valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return false;
        };
        let v6 = &rest[..end];
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        let after = &rest[end + 1..];
        match after.strip_prefix(':') {
            Some(p) => (None, Some(p)),
            None if after.is_empty() => (None, None),
            None => return false,
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(d), None),
        }
    };
    if let Some(h) = host {
        if !h.split('.').all(is_valid_domain_component) {
            return false;
        }
    }
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";

    fn full(s: &str) -> String {
        Reference::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .to_string()
    }

    /// Found by fuzz/ (target `reference`): the short form of a Docker Hub
    /// path whose first component looks like a registry named another
    /// repository when read back.
    #[test]
    fn fuzz_familiar_form_reads_back_as_the_same_reference() {
        for s in [
            "docker.io/docker.io/library/alpinelibrary/alpine",
            "docker.io/docker.io/library/alpine",
            "docker.io/foo.bar/app:1",
            "docker.io/localhost/app",
            "docker.io/library/alpine",
            "busybox",
            "user/app",
        ] {
            for parse in [Reference::parse, Reference::parse_named] {
                let r = parse(s).unwrap();
                assert_eq!(parse(&r.familiar()).unwrap(), r, "{s} -> {}", r.familiar());
                assert_eq!(parse(&r.to_string()).unwrap(), r, "{s}");
            }
        }
        let r = Reference::parse("docker.io/docker.io/library/alpine").unwrap();
        assert_eq!(r.familiar(), "docker.io/docker.io/library/alpine:latest");
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(full("library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            full("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            full("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(full("user/app"), "docker.io/user/app:latest");
        assert_eq!(full("localhost:5000/a/b:t"), "localhost:5000/a/b:t");
        assert_eq!(full("localhost/a"), "localhost/a:latest");
        assert_eq!(full("quay.io/a/b"), "quay.io/a/b:latest");
        assert_eq!(
            full(&format!("busybox@{D}")),
            format!("docker.io/library/busybox@{D}")
        );
        assert_eq!(
            full(&format!("busybox:1@{D}")),
            format!("docker.io/library/busybox:1@{D}")
        );
        // no domain in "localhost:5000" without slash: that is name:tag
        assert_eq!(full("localhost:5000"), "docker.io/library/localhost:5000");
    }

    #[test]
    fn familiar_forms() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.familiar(), "busybox:latest");
        assert_eq!(r.familiar_name(), "busybox");
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(r.repo_tag().unwrap(), "docker.io/library/busybox:latest");
        let r = Reference::parse("docker.io/library/foo/bar:x").unwrap();
        assert_eq!(r.familiar(), "library/foo/bar:x");
        let r = Reference::parse("localhost:5000/a/b:t").unwrap();
        assert_eq!(r.familiar(), "localhost:5000/a/b:t");
        let r = Reference::parse(&format!("busybox:latest@{D}")).unwrap();
        assert_eq!(r.familiar(), format!("busybox:latest@{D}"));
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.digest().unwrap().to_string(), D);
        let r = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.repo_tag(), None);
    }

    // distribution/reference normalize_test.go: TestValidateReferenceName
    #[test]
    fn valid_repo_names() {
        for name in [
            "docker/docker",
            "library/debian",
            "debian",
            "docker.io/docker/docker",
            "docker.io/library/debian",
            "docker.io/debian",
            "index.docker.io/docker/docker",
            "index.docker.io/library/debian",
            "index.docker.io/debian",
            "127.0.0.1:5000/docker/docker",
            "127.0.0.1:5000/library/debian",
            "127.0.0.1:5000/debian",
            "192.168.0.1",
            "192.168.0.1:80",
            "192.168.0.1:8/debian",
            "192.168.0.2:25000/debian",
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
            "[fc00::1]:5000/docker",
            "[fc00::1]:5000/docker/docker",
            "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
            "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            "Docker/docker",
            "DOCKER/docker",
            // TestValidateRemoteName
            "docker-rules/docker",
            "docker---rules/docker",
            "doc/docker",
            "d/docker",
            "jess/t",
            "dock__er/docker",
        ] {
            if let Err(e) = Reference::parse_named(name) {
                panic!("{name} should be valid: {e}");
            }
        }
    }

    #[test]
    fn invalid_repo_names() {
        for name in [
            "https://github.com/docker/docker",
            "docker/Docker",
            "-docker",
            "-docker/docker",
            "-docker.io/docker/docker",
            "docker///docker",
            "docker.io/docker/Docker",
            "docker.io/docker///docker",
            "[fc00::1]",
            "[fc00::1]:5000",
            "fc00::1:5000/debian",
            "[fe80::1%eth0]:5000/debian",
            "[2001:db8:3:4::192.0.2.33]:5000/debian",
            "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            // TestValidateRemoteName
            "docker-/docker",
            "-docker-/docker",
            "____/____",
            "_docker/_docker",
            "dock..er/docker",
            "dock_.er/docker",
            "dock-.er/docker",
            "docker/",
            "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker",
            // others
            "",
            ":tag",
            "busybox:",
            "busybox:-tag",
            "busybox@sha256:abc",
            "busybox@md5:d41d8cd98f00b204e9800998ecf8427e",
            "busybox:tag:tag",
            "busy box",
            "a/b@",
        ] {
            assert!(
                Reference::parse_named(name).is_err(),
                "{name:?} should be invalid"
            );
        }
        let long_tag = "a".repeat(129);
        assert!(Reference::parse(&format!("busybox:{long_tag}")).is_err());
        assert!(Reference::parse(&format!("busybox:{}", &long_tag[1..])).is_ok());
    }

    #[test]
    fn error_messages_are_clear() {
        let e = Reference::parse("Busybox").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid reference format: repository name (library/Busybox) must be lowercase: \"Busybox\""
        );
        let e = Reference::parse("docker.io/docker/Docker").unwrap_err();
        assert!(e.to_string().contains("must be lowercase"), "{e}");
        let e = Reference::parse("").unwrap_err();
        assert!(e.to_string().contains("at least one component"), "{e}");
        let e = Reference::parse("busybox:-x").unwrap_err();
        assert!(e.to_string().contains("invalid tag \"-x\""), "{e}");
        let e = Reference::parse("busybox@sha256:00").unwrap_err();
        assert!(e.to_string().contains("sha256:00"), "{e}");
        let e = Reference::parse(&"a".repeat(300)).unwrap_err();
        assert!(e.to_string().contains("255"), "{e}");
        let e = Reference::parse(&"a".repeat(64).replace('a', "b")).unwrap_err();
        assert!(e.to_string().contains("64-byte hexadecimal"), "{e}");
    }

    // TestParseRepositoryInfo
    #[test]
    fn repository_info() {
        let cases: &[(&str, &str, &str, &str, &str)] = &[
            // remote, familiar, full, ambiguous, domain
            (
                "fooo/bar",
                "fooo/bar",
                "docker.io/fooo/bar",
                "index.docker.io/fooo/bar",
                "docker.io",
            ),
            (
                "library/ubuntu",
                "ubuntu",
                "docker.io/library/ubuntu",
                "library/ubuntu",
                "docker.io",
            ),
            (
                "nonlibrary/ubuntu",
                "nonlibrary/ubuntu",
                "docker.io/nonlibrary/ubuntu",
                "",
                "docker.io",
            ),
            (
                "other/library",
                "other/library",
                "docker.io/other/library",
                "",
                "docker.io",
            ),
            (
                "private/moonbase",
                "127.0.0.1:8000/private/moonbase",
                "127.0.0.1:8000/private/moonbase",
                "",
                "127.0.0.1:8000",
            ),
            (
                "privatebase",
                "127.0.0.1:8000/privatebase",
                "127.0.0.1:8000/privatebase",
                "",
                "127.0.0.1:8000",
            ),
            (
                "private/moonbase",
                "example.com/private/moonbase",
                "example.com/private/moonbase",
                "",
                "example.com",
            ),
            (
                "privatebase",
                "example.com/privatebase",
                "example.com/privatebase",
                "",
                "example.com",
            ),
            (
                "private/moonbase",
                "example.com:8000/private/moonbase",
                "example.com:8000/private/moonbase",
                "",
                "example.com:8000",
            ),
            (
                "privatebasee",
                "example.com:8000/privatebasee",
                "example.com:8000/privatebasee",
                "",
                "example.com:8000",
            ),
            (
                "library/ubuntu-12.04-base",
                "ubuntu-12.04-base",
                "docker.io/library/ubuntu-12.04-base",
                "index.docker.io/library/ubuntu-12.04-base",
                "docker.io",
            ),
            (
                "library/foo",
                "foo",
                "docker.io/library/foo",
                "docker.io/foo",
                "docker.io",
            ),
            (
                "library/foo/bar",
                "library/foo/bar",
                "docker.io/library/foo/bar",
                "",
                "docker.io",
            ),
            (
                "store/foo/bar",
                "store/foo/bar",
                "docker.io/store/foo/bar",
                "",
                "docker.io",
            ),
            ("bar", "Foo/bar", "Foo/bar", "", "Foo"),
            ("bar", "FOO/bar", "FOO/bar", "", "FOO"),
        ];
        for (remote, familiar, fullname, ambiguous, domain) in cases {
            let mut inputs = vec![*familiar, *fullname];
            if !ambiguous.is_empty() {
                inputs.push(ambiguous);
            }
            for input in inputs {
                let r = Reference::parse_named(input).unwrap_or_else(|e| panic!("{input}: {e}"));
                assert_eq!(r.familiar_name(), *familiar, "{input}");
                assert_eq!(r.name(), *fullname, "{input}");
                assert_eq!(r.domain(), *domain, "{input}");
                assert_eq!(r.path(), *remote, "{input}");
                assert_eq!(r.to_string(), *fullname, "{input}");
            }
        }
    }

    // TestParseAnyReference (named forms) and TestNormalizedSplitHostname
    #[test]
    fn equivalents_and_split() {
        for (input, eq) in [
            ("redis", "docker.io/library/redis"),
            ("redis:latest", "docker.io/library/redis:latest"),
            (
                "docker.io/library/redis:latest",
                "docker.io/library/redis:latest",
            ),
            (
                &format!("redis@{D}") as &str,
                &format!("docker.io/library/redis@{D}") as &str,
            ),
            ("dmcgowan/myapp", "docker.io/dmcgowan/myapp"),
            ("dmcgowan/myapp:latest", "docker.io/dmcgowan/myapp:latest"),
            (
                "docker.io/mcgowan/myapp:latest",
                "docker.io/mcgowan/myapp:latest",
            ),
            (
                &format!("dmcgowan/myapp@{D}"),
                &format!("docker.io/dmcgowan/myapp@{D}"),
            ),
            (
                "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
                "docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
            ),
            ("dbcc1", "docker.io/library/dbcc1"),
        ] {
            let r = Reference::parse_named(input).unwrap();
            assert_eq!(r.to_string(), eq);
        }
        for (input, domain, path) in [
            ("test.com/foo", "test.com", "foo"),
            ("test_com/foo", "docker.io", "test_com/foo"),
            ("docker/migrator", "docker.io", "docker/migrator"),
            ("test.com:8080/foo", "test.com:8080", "foo"),
            ("test-com:8080/foo", "test-com:8080", "foo"),
            ("foo", "docker.io", "library/foo"),
            ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
            ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
            ("docker.io/foo", "docker.io", "library/foo"),
            ("docker.io/library/foo", "docker.io", "library/foo"),
            ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
        ] {
            let r = Reference::parse_named(input).unwrap();
            assert_eq!((r.domain(), r.path()), (domain, path), "{input}");
        }
    }

    const F: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    // distribution/reference reference_test.go: TestReferenceParse, run
    // against `Parse` (no normalisation). Each case: input, expected
    // error text (substring) or (repository name, domain, tag, digest).
    #[test]
    fn distribution_reference_parse_table() {
        let a255 = "a".repeat(255);
        let a256 = "a".repeat(256);
        let long_path = format!("{}a", "a/".repeat(127));
        type Ok4<'a> = (&'a str, &'a str, &'a str, &'a str);
        let cases: Vec<(String, Result<Ok4, &str>)> = vec![
            ("test_com".into(), Ok(("test_com", "", "", ""))),
            ("test.com:tag".into(), Ok(("test.com", "", "tag", ""))),
            ("test.com:5000".into(), Ok(("test.com", "", "5000", ""))),
            (
                "test.com/repo:tag".into(),
                Ok(("test.com/repo", "test.com", "tag", "")),
            ),
            (
                "test:5000/repo".into(),
                Ok(("test:5000/repo", "test:5000", "", "")),
            ),
            (
                "test:5000/repo:tag".into(),
                Ok(("test:5000/repo", "test:5000", "tag", "")),
            ),
            (
                format!("test:5000/repo@{F}"),
                Ok(("test:5000/repo", "test:5000", "", F)),
            ),
            (
                format!("test:5000/repo:tag@{F}"),
                Ok(("test:5000/repo", "test:5000", "tag", F)),
            ),
            ("".into(), Err("at least one component")),
            (":justtag".into(), Err("at least one component")),
            (format!("@{F}"), Err("at least one component")),
            (
                "repo@sha256:ffffffffffffffffffffffffffffffffff".into(),
                Err("sha256"),
            ),
            (
                format!("validname@invaliddigest:{}", &F[7..]),
                Err("unsupported digest algorithm"),
            ),
            (
                format!("validname@sha512:{}{}", &F[7..], &F[7..]),
                Err("unsupported digest algorithm"),
            ),
            ("Uppercase:tag".into(), Err("must be lowercase")),
            // distribution's FIXME: "Uppercase" is taken as a domain here.
            (
                "Uppercase/lowercase:tag".into(),
                Ok(("Uppercase/lowercase", "Uppercase", "tag", "")),
            ),
            (
                "test:5000/Uppercase/lowercase:tag".into(),
                Err("must be lowercase"),
            ),
            (
                "lowercase:Uppercase".into(),
                Ok(("lowercase", "", "Uppercase", "")),
            ),
            (format!("domain/{a256}:tag"), Err("not be more than 255")),
            (
                format!("{long_path}:tag-puts-this-over-max"),
                Ok((long_path.as_str(), "a", "tag-puts-this-over-max", "")),
            ),
            (
                "aa/asdf$$^/aa".into(),
                Err("invalid repository path component"),
            ),
            (
                "sub-dom1.foo.com/bar/baz/quux".into(),
                Ok(("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "", "")),
            ),
            (
                "sub-dom1.foo.com/bar/baz/quux:some-long-tag".into(),
                Ok((
                    "sub-dom1.foo.com/bar/baz/quux",
                    "sub-dom1.foo.com",
                    "some-long-tag",
                    "",
                )),
            ),
            (
                "b.gcr.io/test.example.com/my-app:test.example.com".into(),
                Ok((
                    "b.gcr.io/test.example.com/my-app",
                    "b.gcr.io",
                    "test.example.com",
                    "",
                )),
            ),
            (
                "xn--n3h.com/myimage:xn--n3h.com".into(),
                Ok(("xn--n3h.com/myimage", "xn--n3h.com", "xn--n3h.com", "")),
            ),
            (
                format!("xn--7o8h.com/myimage:xn--7o8h.com@{F}"),
                Ok(("xn--7o8h.com/myimage", "xn--7o8h.com", "xn--7o8h.com", F)),
            ),
            (
                "foo_bar.com:8080".into(),
                Ok(("foo_bar.com", "", "8080", "")),
            ),
            (
                "foo/foo_bar.com:8080".into(),
                Ok(("foo/foo_bar.com", "foo", "8080", "")),
            ),
            ("192.168.1.1".into(), Ok(("192.168.1.1", "", "", ""))),
            ("192.168.1.1:tag".into(), Ok(("192.168.1.1", "", "tag", ""))),
            (
                "192.168.1.1:5000".into(),
                Ok(("192.168.1.1", "", "5000", "")),
            ),
            (
                "192.168.1.1/repo".into(),
                Ok(("192.168.1.1/repo", "192.168.1.1", "", "")),
            ),
            (
                "192.168.1.1:5000/repo".into(),
                Ok(("192.168.1.1:5000/repo", "192.168.1.1:5000", "", "")),
            ),
            (
                "192.168.1.1:5000/repo:5050".into(),
                Ok(("192.168.1.1:5000/repo", "192.168.1.1:5000", "5050", "")),
            ),
            ("[2001:db8::1]".into(), Err("")),
            ("[2001:db8::1]:5000".into(), Err("")),
            ("[2001:db8::1]:tag".into(), Err("")),
            (
                "[2001:db8::1]/repo".into(),
                Ok(("[2001:db8::1]/repo", "[2001:db8::1]", "", "")),
            ),
            (
                "[2001:db8:1:2:3:4:5:6]/repo:tag".into(),
                Ok((
                    "[2001:db8:1:2:3:4:5:6]/repo",
                    "[2001:db8:1:2:3:4:5:6]",
                    "tag",
                    "",
                )),
            ),
            (
                "[2001:db8::1]:5000/repo".into(),
                Ok(("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "", "")),
            ),
            (
                "[2001:db8::1]:5000/repo:tag".into(),
                Ok(("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "tag", "")),
            ),
            (
                format!("[2001:db8::1]:5000/repo@{F}"),
                Ok(("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "", F)),
            ),
            (
                format!("[2001:db8::1]:5000/repo:tag@{F}"),
                Ok(("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "tag", F)),
            ),
            (
                "[2001:db8::]:5000/repo".into(),
                Ok(("[2001:db8::]:5000/repo", "[2001:db8::]:5000", "", "")),
            ),
            (
                "[::1]:5000/repo".into(),
                Ok(("[::1]:5000/repo", "[::1]:5000", "", "")),
            ),
            ("[fe80::1%eth0]:5000/repo".into(), Err("")),
            ("[fe80::1%@invalidzone]:5000/repo".into(), Err("")),
            (
                format!("example.com/{a255}:tag"),
                Ok((
                    &*Box::leak(format!("example.com/{a255}").into_boxed_str()),
                    "example.com",
                    "tag",
                    "",
                )),
            ),
        ];
        for (input, want) in cases {
            let got = parse_raw(&input);
            match (got, want) {
                (Ok(r), Ok((repo, domain, tag, digest))) => {
                    let name = match r.domain {
                        Some(d) => format!("{d}/{}", r.path),
                        None => r.path.to_string(),
                    };
                    assert_eq!(name, repo, "{input}");
                    assert_eq!(r.domain.unwrap_or(""), domain, "{input}");
                    assert_eq!(r.tag.unwrap_or(""), tag, "{input}");
                    assert_eq!(
                        r.digest.map(|d| d.to_string()).unwrap_or_default(),
                        digest,
                        "{input}"
                    );
                }
                (Err(e), Err(want)) => assert!(e.contains(want), "{input}: {e}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    // normalize_test.go: ParseNormalizedNamed's lowercase rule and
    // splitDockerDomain (an uppercase first component is a domain).
    #[test]
    fn normalized_uppercase_and_domains() {
        let e = Reference::parse("UPPER:1").unwrap_err();
        assert_eq!(
            e.reason,
            "repository name (library/UPPER) must be lowercase"
        );
        let e = Reference::parse("docker.io/Upper/x").unwrap_err();
        assert_eq!(e.reason, "repository name (Upper/x) must be lowercase");
        let e = Reference::parse("localhost:5000/UP").unwrap_err();
        assert_eq!(e.reason, "repository name (UP) must be lowercase");
        let e = Reference::parse(&format!("Foo@{D}")).unwrap_err();
        assert!(e.reason.contains("must be lowercase"), "{e}");
        // As docker: UPPER/case names a registry host UPPER.
        let r = Reference::parse("UPPER/case:1").unwrap();
        assert_eq!(
            (r.domain(), r.path(), r.tag()),
            ("UPPER", "case", Some("1"))
        );
        let e = Reference::parse("UPPER/Case:1").unwrap_err();
        assert_eq!(e.reason, "repository name (Case) must be lowercase");
        let r = Reference::parse("LOCALDOMAIN/fooo/bar").unwrap();
        assert_eq!((r.domain(), r.path()), ("LOCALDOMAIN", "fooo/bar"));
        let r = Reference::parse("localhost/fooo").unwrap();
        assert_eq!((r.domain(), r.path()), ("localhost", "fooo"));
        // The length limit is on the path; the domain does not count.
        let long = "a".repeat(255);
        assert!(Reference::parse(&format!("example.com/{long}")).is_ok());
        assert!(Reference::parse(&format!("example.com/{long}a")).is_err());
        assert!(Reference::parse(&"a".repeat(247)).is_ok());
        assert!(Reference::parse(&"a".repeat(248)).is_err());
    }

    #[test]
    fn tag_and_digest_helpers() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.with_tag("1.0").unwrap().familiar(), "busybox:1.0");
        assert!(r.with_tag("-bad").is_err());
        let d = Digest::parse(D).unwrap();
        assert_eq!(r.with_digest(d).familiar(), format!("busybox@{D}"));
        assert_eq!(r.repository().to_string(), "docker.io/library/busybox");
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(j, "\"docker.io/library/busybox:latest\"");
        assert_eq!(serde_json::from_str::<Reference>(&j).unwrap(), r);
        assert!(is_valid_tag("A_b.c-1"));
        assert!(!is_valid_tag(".x"));
        assert!(!is_valid_tag(""));
    }
}
