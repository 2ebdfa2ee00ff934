//! docker's event filters (moby's `daemon/events/filter.go`): several values
//! of one key are OR, keys are AND. `container`, `network`, `volume`,
//! `daemon`, `plugin`, `node`, `service`, `secret` and `config` match the
//! actor's ID or `name` attribute exactly or by prefix, for events of that
//! type; `image` matches an image event's ID or `name`, a container event's
//! `image`, with or without the tag; `event` matches the action (by prefix
//! for `health_status`, `exec_create` and `exec_start`, whose actions carry
//! a suffix); `type` and `scope` exactly; `label=KEY[=VALUE]` needs every
//! label given among the attributes, and Berth's `label!=KEY[=VALUE]` (as
//! its prune filters) none of them.

use crate::message::Message;
use std::collections::BTreeMap;
use std::fmt;

/// The keys docker's `events` accepts, and Berth's `label!`.
pub const KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "label!",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// A filter the reader refuses: not `KEY=VALUE`, or an unknown key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

/// Event filters: key → values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    map: BTreeMap<String, Vec<String>>,
}

impl Filters {
    /// From `KEY=VALUE` strings (`--filter` flags).
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Filters, FilterError> {
        let mut f = Filters::default();
        for a in args {
            let a = a.as_ref();
            let (k, v) = a.split_once('=').ok_or_else(|| {
                FilterError(format!("bad format of filter (expected name=value): {a:?}"))
            })?;
            f.add(k, v)?;
        }
        Ok(f)
    }

    /// Adds one value of a key (the API's `filters` JSON gives them so).
    pub fn add(&mut self, key: &str, value: &str) -> Result<(), FilterError> {
        let key = key.trim().to_ascii_lowercase();
        if !KEYS.contains(&key.as_str()) {
            return Err(FilterError(format!("invalid filter '{key}'")));
        }
        let vals = self.map.entry(key).or_default();
        if !vals.iter().any(|v| v == value) {
            vals.push(value.to_string());
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, key: &str) -> &[String] {
        self.map.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether the filters let a journal line through before it is parsed:
    /// only the `type` filter is tested, on the line's leading `{"Type":"X"`
    /// (the journal's own writer puts it first); a line of another shape
    /// passes, for [`Filters::matches`] to decide.
    pub fn may_match_line(&self, line: &[u8]) -> bool {
        let types = self.get("type");
        if types.is_empty() {
            return true;
        }
        const P: &[u8] = b"{\"Type\":\"";
        let Some(rest) = line.strip_prefix(P) else {
            return true;
        };
        types.iter().any(|t| {
            rest.strip_prefix(t.as_bytes())
                .is_some_and(|r| r.first() == Some(&b'"'))
        })
    }

    /// docker's `Filter.Include`.
    pub fn matches(&self, m: &Message) -> bool {
        if self.map.is_empty() {
            return true;
        }
        self.match_event(m)
            && exact(self.get("type"), &m.typ)
            && exact(self.get("scope"), &m.scope)
            && [
                "daemon",
                "container",
                "plugin",
                "volume",
                "network",
                "node",
                "service",
                "secret",
                "config",
            ]
            .iter()
            .all(|t| self.fuzzy_name(m, t))
            && self.match_image(m)
            && self.match_labels(m)
    }

    fn match_event(&self, m: &Message) -> bool {
        let vals = self.get("event");
        let fuzzy = vals
            .iter()
            .any(|v| matches!(v.as_str(), "health_status" | "exec_create" | "exec_start"));
        if fuzzy {
            fuzzy_match(vals, &m.action)
        } else {
            exact(vals, &m.action)
        }
    }

    /// A filter on `typ` (e.g. `container=`) passes an event whose actor's
    /// ID or name it matches. As docker, it applies to every event, so
    /// `container=web` keeps only events whose actor is named or IDed `web…`.
    fn fuzzy_name(&self, m: &Message, typ: &str) -> bool {
        let vals = self.get(typ);
        if vals.is_empty() {
            return true;
        }
        let name = m.actor.attributes.get("name").map(String::as_str);
        fuzzy_match(vals, &m.actor.id) || name.is_some_and(|n| fuzzy_match(vals, n))
    }

    fn match_image(&self, m: &Message) -> bool {
        let vals = self.get("image");
        if vals.is_empty() {
            return true;
        }
        let attr = if m.typ == crate::message::IMAGE {
            "name"
        } else {
            "image"
        };
        let name = m
            .actor
            .attributes
            .get(attr)
            .map(String::as_str)
            .unwrap_or("");
        let id = m.actor.id.as_str();
        [id, name, strip_tag(id), strip_tag(name)]
            .iter()
            .any(|s| vals.iter().any(|v| v == s))
    }

    fn match_labels(&self, m: &Message) -> bool {
        let has = |want: &str| {
            let (k, v) = match want.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (want, None),
            };
            match m.actor.attributes.get(k) {
                None => false,
                Some(actual) => v.is_none_or_eq(actual),
            }
        };
        let want = self.get("label");
        if !want.is_empty() && (m.actor.attributes.is_empty() || !want.iter().all(|w| has(w))) {
            return false;
        }
        !self.get("label!").iter().any(|w| has(w))
    }
}

trait NoneOrEq {
    fn is_none_or_eq(&self, s: &str) -> bool;
}

impl NoneOrEq for Option<&str> {
    fn is_none_or_eq(&self, s: &str) -> bool {
        match self {
            None => true,
            Some(v) => *v == s,
        }
    }
}

/// No values: everything; else one of them exactly.
fn exact(vals: &[String], s: &str) -> bool {
    vals.is_empty() || vals.iter().any(|v| v == s)
}

/// No values: everything; else one of them exactly or as a prefix.
fn fuzzy_match(vals: &[String], s: &str) -> bool {
    vals.is_empty() || vals.iter().any(|v| s.starts_with(v.as_str()))
}

/// docker's `stripTag`: the familiar repository name of a reference, without
/// tag or digest (`docker.io/library/busybox:1` → `busybox`); other strings
/// (an image ID) as they are.
pub fn strip_tag(s: &str) -> &str {
    if s.is_empty() || s.starts_with("sha256:") {
        return s;
    }
    let s = s.split_once('@').map_or(s, |(n, _)| n);
    let last_slash = s.rfind('/').map_or(0, |i| i + 1);
    let s = match s[last_slash..].rfind(':') {
        Some(i) => &s[..last_slash + i],
        None => s,
    };
    s.strip_prefix("docker.io/library/")
        .or_else(|| s.strip_prefix("docker.io/"))
        .or_else(|| s.strip_prefix("index.docker.io/library/"))
        .or_else(|| s.strip_prefix("index.docker.io/"))
        .unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{attrs, Message, CONTAINER, IMAGE, NETWORK, VOLUME};

    fn f(args: &[&str]) -> Filters {
        Filters::parse(args).unwrap()
    }

    fn ctr(action: &str, id: &str, name: &str, image: &str) -> Message {
        Message::new(
            CONTAINER,
            action,
            id,
            attrs([("name", name), ("image", image), ("com.example", "x")]),
        )
    }

    #[test]
    fn and_across_keys_or_within() {
        let a = ctr("start", "588a23dac085", "test", "alpine:latest");
        let b = ctr("stop", "a8f7720b8c22", "other", "alpine");
        let c = ctr("start", "d9cdb1525ea8", "third", "busybox");
        let both = f(&["container=588a23dac085", "container=a8f7720b8c22"]);
        assert!(both.matches(&a) && both.matches(&b) && !both.matches(&c));
        let and = f(&["container=588a23dac085", "event=start"]);
        assert!(and.matches(&a) && !and.matches(&b) && !and.matches(&c));
        // by name, and by ID prefix
        assert!(f(&["container=test"]).matches(&a));
        assert!(f(&["container=588a"]).matches(&a));
        assert!(!f(&["container=588b"]).matches(&a));
    }

    #[test]
    fn image_with_and_without_tag() {
        let a = ctr("create", "1", "x", "alpine:latest");
        let b = ctr("create", "2", "y", "docker.io/library/alpine:3");
        assert!(f(&["image=alpine"]).matches(&a));
        assert!(f(&["image=alpine"]).matches(&b));
        assert!(f(&["image=alpine:latest"]).matches(&a));
        assert!(!f(&["image=alpine:latest"]).matches(&b));
        let tag = Message::new(IMAGE, "tag", "sha256:ab", attrs([("name", "busybox:1")]));
        assert!(f(&["image=busybox"]).matches(&tag));
        assert!(f(&["image=sha256:ab"]).matches(&tag));
        assert_eq!(strip_tag("localhost:5000/a/b:1"), "localhost:5000/a/b");
        assert_eq!(strip_tag("localhost:5000/a"), "localhost:5000/a");
        assert_eq!(strip_tag("busybox@sha256:00"), "busybox");
    }

    #[test]
    fn types_events_labels() {
        let v = Message::new(VOLUME, "create", "vol1", attrs([("driver", "local")]));
        let n = Message::new(
            NETWORK,
            "connect",
            "8b11",
            attrs([("name", "net1"), ("type", "bridge"), ("container", "b4be")]),
        );
        let c = ctr("health_status: healthy", "1", "x", "alpine");
        assert!(f(&["type=volume"]).matches(&v) && !f(&["type=volume"]).matches(&n));
        assert!(f(&["type=volume", "type=network"]).matches(&n));
        assert!(f(&["network=net1"]).matches(&n) && !f(&["network=net1"]).matches(&v));
        assert!(f(&["volume=vol1"]).matches(&v));
        assert!(f(&["event=health_status"]).matches(&c));
        assert!(!f(&["event=health"]).matches(&c));
        assert!(f(&["label=com.example"]).matches(&c));
        assert!(f(&["label=com.example=x"]).matches(&c));
        assert!(!f(&["label=com.example=y"]).matches(&c));
        assert!(!f(&["label=com.example"]).matches(&v));
        assert!(!f(&["label!=com.example"]).matches(&c));
        assert!(f(&["label!=com.example"]).matches(&v));
        assert!(f(&["scope=local"]).matches(&v) && !f(&["scope=swarm"]).matches(&v));
    }

    #[test]
    fn raw_line_prefilter() {
        let v = Message::new(VOLUME, "create", "vol1", Default::default()).to_line();
        assert!(f(&["type=volume"]).may_match_line(&v));
        assert!(!f(&["type=vol"]).may_match_line(&v));
        assert!(!f(&["type=network"]).may_match_line(&v));
        assert!(f(&["event=create"]).may_match_line(&v));
    }

    #[test]
    fn bad_filters() {
        assert!(Filters::parse(&["nokey"]).is_err());
        assert_eq!(
            Filters::parse(&["colour=red"]).unwrap_err().to_string(),
            "invalid filter 'colour'"
        );
    }
}
