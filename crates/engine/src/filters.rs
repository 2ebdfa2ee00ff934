//! Docker's filters (`--filter key=value`, the API's `filters` query
//! parameter `{"key":{"value":true}}`) as one type, with docker's matching
//! rules (moby api/types/filters): values of one key OR, keys AND, `label`
//! values AND; `Match` is an exact match or an unanchored regular
//! expression. Each object (ps, images, volumes, networks, prunes) accepts
//! its own keys ([`keys`]); any other is docker's "invalid filter 'x'".

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The keys each object takes (docker's accepted filters).
pub mod keys {
    /// `ps` (docker's, is-task aside; `label!` as the prunes').
    pub const CONTAINERS: &[&str] = &[
        "ancestor",
        "before",
        "exited",
        "expose",
        "health",
        "id",
        "isolation",
        "label",
        "label!",
        "name",
        "network",
        "publish",
        "since",
        "status",
        "volume",
    ];
    /// `images`.
    pub const IMAGES: &[&str] = &[
        "before",
        "dangling",
        "label",
        "label!",
        "reference",
        "since",
    ];
    /// `volume ls`.
    pub const VOLUMES: &[&str] = &["dangling", "driver", "label", "name"];
    /// `network ls`.
    pub const NETWORKS: &[&str] = &["dangling", "driver", "id", "label", "name", "scope", "type"];
    /// `container prune`.
    pub const CONTAINER_PRUNE: &[&str] = &["label", "label!", "until"];
    /// `image prune`.
    pub const IMAGE_PRUNE: &[&str] = &["dangling", "label", "label!", "until"];
    /// `volume prune` (`all`: docker 23's spelling of `-a`).
    pub const VOLUME_PRUNE: &[&str] = &["all", "label", "label!"];
    /// `network prune`.
    pub const NETWORK_PRUNE: &[&str] = &["label", "label!", "until"];
    /// `builder prune` (the keys berth's build cache has).
    pub const BUILDER_PRUNE: &[&str] = &["until"];
    /// `system prune`: what its parts take (each part checks its own).
    pub const SYSTEM_PRUNE: &[&str] = &["dangling", "label", "label!", "until"];
}

/// A set of filters: key → values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, BTreeSet<String>>);

impl Filters {
    pub fn new() -> Filters {
        Filters::default()
    }

    /// The CLI's `--filter key=value` flags (docker's opts.FilterOpt:
    /// whitespace around the key and value is trimmed).
    pub fn parse_cli<S: AsRef<str>>(args: &[S]) -> Result<Filters> {
        let mut f = Filters::new();
        for a in args {
            let a = a.as_ref();
            let Some((k, v)) = a.split_once('=') else {
                return Err(Error::invalid(format!(
                    "invalid argument {a:?} for \"-f, --filter\" flag: bad format of filter (expected name=value)"
                )));
            };
            f.add(k.trim().to_ascii_lowercase(), v.trim());
        }
        Ok(f)
    }

    /// The API's JSON form: `{"key":{"value":true}}`, or the older
    /// `{"key":["value"]}` docker still reads.
    pub fn from_json(s: &str) -> Result<Filters> {
        if s.trim().is_empty() {
            return Ok(Filters::new());
        }
        serde_json::from_str(s).map_err(|e| Error::InvalidFilter(format!("invalid filter: {e}")))
    }

    /// The API's JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Every (key, value), keys in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_str(), v.as_str())))
    }

    pub fn add(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Filters {
        self.0.entry(key.into()).or_default().insert(value.into());
        self
    }

    /// With `key=value` added.
    pub fn with(mut self, key: &str, value: &str) -> Filters {
        self.add(key, value);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The values of `key`, sorted.
    pub fn get(&self, key: &str) -> Vec<&str> {
        self.0
            .get(key)
            .map(|s| s.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Without `key`.
    pub fn without(&self, key: &str) -> Filters {
        let mut f = self.clone();
        f.0.remove(key);
        f
    }

    /// Refuses a key the object does not take: docker's
    /// "invalid filter 'x'".
    pub fn validate(&self, accepted: &[&str]) -> Result<()> {
        match self.0.keys().find(|k| !accepted.contains(&k.as_str())) {
            Some(k) => Err(Error::InvalidFilter(format!("invalid filter '{k}'"))),
            None => Ok(()),
        }
    }

    /// Docker's `Match`: true without `key`; else some value equals
    /// `source` or, as a regular expression, matches part of it.
    pub fn matches(&self, key: &str, source: &str) -> bool {
        let Some(vals) = self.0.get(key) else {
            return true;
        };
        vals.iter().any(|v| {
            v == source
                || regex::Regex::new(v)
                    .map(|r| r.is_match(source))
                    .unwrap_or(false)
        })
    }

    /// Docker's `ExactMatch`: true without `key`; else some value equals
    /// `source`.
    pub fn exact_match(&self, key: &str, source: &str) -> bool {
        self.0.get(key).map_or(true, |vals| vals.contains(source))
    }

    /// Docker's `MatchKVList`: true without `key`; else every value
    /// (`k` or `k=v`) is among `labels`.
    pub fn match_kv_list(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        let Some(vals) = self.0.get(key) else {
            return true;
        };
        if labels.is_empty() {
            return false;
        }
        vals.iter().all(|v| match v.split_once('=') {
            Some((k, want)) => labels.get(k).is_some_and(|x| x == want),
            None => labels.contains_key(v.as_str()),
        })
    }

    /// `label` and `label!` (docker's prune rule): every `label` value
    /// matches and, when there are `label!` values, not all of them match.
    pub fn match_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_kv_list("label", labels)
            && !(self.contains("label!") && self.match_kv_list("label!", labels))
    }

    /// A boolean filter (`dangling`): `true`/`1` or `false`/`0`, one value
    /// at most, with docker's errors.
    pub fn bool_value(&self, key: &str) -> Result<Option<bool>> {
        let vals = self.get(key);
        match vals.as_slice() {
            [] => Ok(None),
            [v] => match *v {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(Error::InvalidFilter(format!(
                    "invalid value for filter '{key}', must be \"true\" (or \"1\"), or \"false\" (or \"0\")"
                ))),
            },
            _ => Err(Error::InvalidFilter(format!(
                "got more than one value for filter key \"{key}\""
            ))),
        }
    }

    /// `until` of the prunes: one value, a time (RFC 3339, unix seconds)
    /// or a Go duration back from now.
    pub fn until(&self) -> Result<Option<SystemTime>> {
        self.time_value("until")
    }

    /// A time-valued filter (`until`), as [`Filters::until`].
    pub fn time_value(&self, key: &str) -> Result<Option<SystemTime>> {
        let vals = self.get(key);
        match vals.as_slice() {
            [] => Ok(None),
            // Docker's GetTimestamp: a time without a zone is local.
            [v] => crate::timeutil::parse_since_in(v, SystemTime::now(), &crate::sys::utc_offset)
                .map(Some)
                .ok_or_else(|| Error::InvalidFilter(format!("invalid filter '{key}={v}': not a time or a duration (RFC 3339, unix seconds, or a Go duration such as 10m or 1h30m)"))),
            _ => Err(Error::InvalidFilter(format!(
                "more than one {key} filter specified"
            ))),
        }
    }
}

/// Docker's `timetypes.GetTimestamp`: RFC 3339 (with or without zone and
/// fraction), a date `2006-01-02`, unix seconds, or a Go duration back
/// from now.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    if let Some(t) = crate::timeutil::parse_since(s) {
        return Some(t);
    }
    // Without a zone (docker takes local time; the store and the tests
    // use UTC) or a date alone.
    let with_zone = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        format!("{s}Z")
    };
    crate::timeutil::parse(&with_zone)
}

/// Go's `path.Match` (docker's `reference` filter): `*` any run of
/// non-`/` characters, `?` one, `[...]` a class (`^` or `!` negates,
/// ranges), `\` escapes. A malformed pattern matches nothing.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n).unwrap_or(false)
}

fn glob_at(p: &[char], n: &[char]) -> Option<bool> {
    if p.is_empty() {
        return Some(n.is_empty());
    }
    match p[0] {
        '*' => {
            // The longest run first, as Go; '*' stops at '/'.
            let mut i = 0;
            loop {
                if glob_at(&p[1..], &n[i..])? {
                    return Some(true);
                }
                if i == n.len() || n[i] == '/' {
                    return Some(false);
                }
                i += 1;
            }
        }
        '?' => {
            if n.first().is_some_and(|c| *c != '/') {
                glob_at(&p[1..], &n[1..])
            } else {
                Some(false)
            }
        }
        '[' => {
            let (matched, rest) = class(&p[1..], *n.first()?)?;
            if matched && n[0] != '/' {
                glob_at(rest, &n[1..])
            } else {
                Some(false)
            }
        }
        '\\' => {
            let c = *p.get(1)?;
            if n.first() == Some(&c) {
                glob_at(&p[2..], &n[1..])
            } else {
                Some(false)
            }
        }
        c => {
            if n.first() == Some(&c) {
                glob_at(&p[1..], &n[1..])
            } else {
                Some(false)
            }
        }
    }
}

/// A `[...]` class against `c`: (matched, the pattern after `]`); `None`
/// for a malformed class.
fn class(p: &[char], c: char) -> Option<(bool, &[char])> {
    let mut i = 0;
    let negate = matches!(p.first(), Some('^') | Some('!'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let ch = *p.get(i)?;
        if ch == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = if ch == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            ch
        };
        i += 1;
        let hi = if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|x| *x != ']') {
            i += 1;
            let h = if p[i] == '\\' {
                i += 1;
                *p.get(i)?
            } else {
                p[i]
            };
            i += 1;
            h
        } else {
            lo
        };
        if lo <= c && c <= hi {
            matched = true;
        }
    }
    Some((matched != negate, &p[i..]))
}

impl Serialize for Filters {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let m: BTreeMap<&str, BTreeMap<&str, bool>> = self
            .0
            .iter()
            .map(|(k, vs)| (k.as_str(), vs.iter().map(|v| (v.as_str(), true)).collect()))
            .collect();
        m.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Filters {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Filters, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Values {
            Map(BTreeMap<String, bool>),
            List(Vec<String>),
        }
        let m: BTreeMap<String, Values> = BTreeMap::deserialize(d)?;
        let mut f = Filters::new();
        for (k, vs) in m {
            let set = f.0.entry(k).or_default();
            match vs {
                Values::Map(m) => set.extend(m.into_iter().filter(|(_, on)| *on).map(|(v, _)| v)),
                Values::List(l) => set.extend(l),
            }
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn cli_and_json_forms_are_one_type() {
        let f = Filters::parse_cli(&["label=a=b", "label=c", "name=web"]).unwrap();
        assert_eq!(f.get("label"), ["a=b", "c"]);
        assert_eq!(
            f.to_json(),
            r#"{"label":{"a=b":true,"c":true},"name":{"web":true}}"#
        );
        assert_eq!(Filters::from_json(&f.to_json()).unwrap(), f);
        // docker's older list form.
        let old = Filters::from_json(r#"{"name":["web"],"label":["a=b","c"]}"#).unwrap();
        assert_eq!(old, f);
        assert!(Filters::from_json("").unwrap().is_empty());
        assert!(matches!(
            Filters::from_json("{\"name\": 3}"),
            Err(Error::InvalidFilter(_))
        ));
        let e = Filters::parse_cli(&["novalue"]).unwrap_err();
        assert!(e.to_string().contains("bad format of filter"), "{e}");
        assert!(matches!(e, Error::InvalidArgument(_)));
    }

    #[test]
    fn unknown_keys_are_docker_s_error() {
        let f = Filters::parse_cli(&["bogus=1"]).unwrap();
        let e = f.validate(keys::CONTAINERS).unwrap_err();
        assert_eq!(e.to_string(), "invalid filter 'bogus'");
        assert!(Filters::new()
            .with("until", "1h")
            .validate(keys::IMAGES)
            .is_err());
        assert!(Filters::new()
            .with("until", "1h")
            .validate(keys::IMAGE_PRUNE)
            .is_ok());
    }

    #[test]
    fn match_is_exact_or_a_regular_expression() {
        let f = Filters::new().with("name", "^web");
        assert!(f.matches("name", "web1"));
        assert!(!f.matches("name", "myweb"));
        let f = Filters::new().with("name", "eb");
        assert!(f.matches("name", "web"));
        // An invalid expression matches only itself.
        let f = Filters::new().with("name", "a(");
        assert!(f.matches("name", "a("));
        assert!(!f.matches("name", "xa(x"));
        assert!(Filters::new().matches("name", "anything"));
        assert!(Filters::new()
            .with("driver", "local")
            .exact_match("driver", "local"));
        assert!(!Filters::new()
            .with("driver", "loc")
            .exact_match("driver", "local"));
    }

    #[test]
    fn labels_and_not_labels() {
        let l = labels(&[("a", "1"), ("b", "2")]);
        let f = |v: &[&str]| Filters::parse_cli(v).unwrap();
        assert!(f(&["label=a"]).match_labels(&l));
        assert!(f(&["label=a=1"]).match_labels(&l));
        assert!(!f(&["label=a=2"]).match_labels(&l));
        // label values AND (docker's MatchKVList).
        assert!(f(&["label=a", "label=b=2"]).match_labels(&l));
        assert!(!f(&["label=a", "label=c"]).match_labels(&l));
        assert!(!f(&["label=a"]).match_labels(&BTreeMap::new()));
        // label!: excluded when every label! value matches.
        assert!(!f(&["label!=a"]).match_labels(&l));
        assert!(f(&["label!=c"]).match_labels(&l));
        assert!(f(&["label!=a=2"]).match_labels(&l));
        assert!(f(&["label!=a", "label!=c"]).match_labels(&l));
        assert!(f(&["label!=a"]).match_labels(&BTreeMap::new()));
    }

    #[test]
    fn booleans_and_until() {
        let f = Filters::new().with("dangling", "1");
        assert_eq!(f.bool_value("dangling").unwrap(), Some(true));
        assert_eq!(
            Filters::new()
                .with("dangling", "false")
                .bool_value("dangling")
                .unwrap(),
            Some(false)
        );
        assert!(Filters::new()
            .with("dangling", "maybe")
            .bool_value("dangling")
            .is_err());
        let two = Filters::new()
            .with("dangling", "true")
            .with("dangling", "false");
        assert!(two.bool_value("dangling").is_err());
        let now = SystemTime::now();
        let t = Filters::new().with("until", "1h").until().unwrap().unwrap();
        let back = now.duration_since(t).unwrap().as_secs();
        assert!((3599..=3601).contains(&back), "{back}");
        let t = Filters::new()
            .with("until", "2023-11-14T22:13:20Z")
            .until()
            .unwrap()
            .unwrap();
        assert_eq!(
            t,
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)
        );
        assert_eq!(
            Filters::new().with("until", "1700000000").until().unwrap(),
            Some(t)
        );
        assert_eq!(
            Filters::new()
                .with("until", "2023-11-14T22:13:20")
                .until()
                .unwrap(),
            Some(t)
        );
        assert!(Filters::new()
            .with("until", "2023-11-14")
            .until()
            .unwrap()
            .is_some());
        assert!(Filters::new().with("until", "soon").until().is_err());
        assert!(Filters::new()
            .with("until", "1h")
            .with("until", "2h")
            .until()
            .is_err());
    }

    #[test]
    fn globs_as_go_path_match() {
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("busybox:*", "busybox:latest"));
        assert!(!glob_match("busy*", "library/busybox"));
        assert!(glob_match("*/*", "library/busybox"));
        assert!(glob_match("b?sybox", "busybox"));
        assert!(glob_match("[a-c]usybox", "busybox"));
        assert!(!glob_match("[^a-c]usybox", "busybox"));
        assert!(glob_match("\\*x", "*x"));
        assert!(!glob_match("[a-", "a"));
        assert!(glob_match("example.com/*/bb:v?", "example.com/team/bb:v1"));
        assert!(!glob_match("*", "a/b"));
    }
}
