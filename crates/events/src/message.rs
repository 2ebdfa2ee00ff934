//! Docker's event message (`events.Message` of moby's API types), field for
//! field: `Type`, `Action`, `Actor{ID, Attributes}`, `scope`, `time`,
//! `timeNano`, and the deprecated `status`, `id`, `from` that docker still
//! fills for container and image events below API 1.52 (the docker CLI
//! reference's `--format` examples read `.Status` and `.ID`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Event types (docker's `events.Type`) Berth emits.
pub const CONTAINER: &str = "container";
pub const IMAGE: &str = "image";
pub const NETWORK: &str = "network";
pub const VOLUME: &str = "volume";

/// What generates an event: its ID and attributes (a container's labels,
/// `image`, `name`; a network's `name`, `type`; ...). Attributes are a
/// sorted map, as Go's JSON encoder writes maps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event, as docker's `/events` streams it and `docker events
/// --format json` prints it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Deprecated (API < 1.52): the action, for container and image events.
    #[serde(rename = "status", default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Deprecated (API < 1.52): the actor's ID, for container and image events.
    #[serde(rename = "id", default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Deprecated (API < 1.52): a container's image.
    #[serde(rename = "from", default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type")]
    pub typ: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    #[serde(rename = "scope", default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub time: i64,
    #[serde(rename = "timeNano", default, skip_serializing_if = "is_zero")]
    pub time_nano: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Nanoseconds since the epoch of `t` (0 before it).
pub fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}

impl Message {
    /// An event of now, scope `local`.
    pub fn new(
        typ: &str,
        action: impl Into<String>,
        id: impl Into<String>,
        attributes: BTreeMap<String, String>,
    ) -> Message {
        let nanos = unix_nanos(SystemTime::now());
        Message {
            typ: typ.to_string(),
            action: action.into(),
            actor: Actor {
                id: id.into(),
                attributes,
            },
            scope: "local".to_string(),
            time: nanos.div_euclid(1_000_000_000),
            time_nano: nanos,
            ..Message::default()
        }
    }

    /// The message with docker's deprecated fields filled as docker fills
    /// them for clients below API 1.52: `status` and `id` for container and
    /// image events, `from` (the image) for container events. The journal
    /// stores messages without them; readers add them.
    pub fn with_legacy_fields(mut self) -> Message {
        if self.typ == CONTAINER || self.typ == IMAGE {
            self.status = self.action.clone();
            self.id = self.actor.id.clone();
        }
        if self.typ == CONTAINER {
            self.from = self
                .actor
                .attributes
                .get("image")
                .cloned()
                .unwrap_or_default();
        }
        self
    }

    /// The message without the deprecated fields (docker's API 1.52 shape).
    pub fn without_legacy_fields(mut self) -> Message {
        self.status.clear();
        self.id.clear();
        self.from.clear();
        self
    }

    /// The journal's line: the JSON object and a newline.
    pub fn to_line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// docker's default `docker events` line (without the newline):
    /// `TIME TYPE ACTION ID (k=v, k=v)`, attributes sorted by key, the time
    /// as Go's RFC 3339 with nine fraction digits, given by `time` (which
    /// formats the event's nanoseconds since the epoch).
    pub fn pretty(&self, time: impl Fn(i64) -> String) -> String {
        let mut out = String::new();
        if self.time_nano != 0 {
            out.push_str(&time(self.time_nano));
            out.push(' ');
        } else if self.time != 0 {
            out.push_str(&time(self.time.saturating_mul(1_000_000_000)));
            out.push(' ');
        }
        out.push_str(&self.typ);
        out.push(' ');
        out.push_str(&self.action);
        out.push(' ');
        out.push_str(&self.actor.id);
        if !self.actor.attributes.is_empty() {
            out.push_str(" (");
            for (i, (k, v)) in self.actor.attributes.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                out.push_str(v);
            }
            out.push(')');
        }
        out
    }

    /// The value Go's templates see: docker's struct field names (`Type`,
    /// `Action`, `Actor.ID`, `Actor.Attributes`, `Scope`, `Time`,
    /// `TimeNano`, and the deprecated `Status`, `ID`, `From`).
    pub fn template_value(&self) -> serde_json::Value {
        serde_json::json!({
            "Status": self.status,
            "ID": self.id,
            "From": self.from,
            "Type": self.typ,
            "Action": self.action,
            "Actor": {"ID": self.actor.id, "Attributes": self.actor.attributes},
            "Scope": self.scope,
            "Time": self.time,
            "TimeNano": self.time_nano,
        })
    }
}

/// Attributes from pairs.
pub fn attrs<K: Into<String>, V: Into<String>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_dockers() {
        let mut m = Message::new(
            CONTAINER,
            "start",
            "abc",
            attrs([("name", "web"), ("image", "busybox")]),
        );
        m.time = 1_700_000_000;
        m.time_nano = 1_700_000_000_123_456_789;
        let line = String::from_utf8(m.to_line()).unwrap();
        assert_eq!(
            line,
            "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"abc\",\"Attributes\":\
             {\"image\":\"busybox\",\"name\":\"web\"}},\"scope\":\"local\",\"time\":1700000000,\
             \"timeNano\":1700000000123456789}\n"
        );
        let legacy = serde_json::to_string(&m.clone().with_legacy_fields()).unwrap();
        assert!(
            legacy
                .starts_with("{\"status\":\"start\",\"id\":\"abc\",\"from\":\"busybox\",\"Type\""),
            "{legacy}"
        );
        let back: Message = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn pretty_line() {
        let mut m = Message::new(
            CONTAINER,
            "die",
            "0fdb",
            attrs([
                ("name", "test"),
                ("image", "alpine:latest"),
                ("exitCode", "143"),
            ]),
        );
        m.time_nano = 5;
        assert_eq!(
            m.pretty(|n| format!("T{n}")),
            "T5 container die 0fdb (exitCode=143, image=alpine:latest, name=test)"
        );
        m.actor.attributes.clear();
        assert_eq!(m.pretty(|n| format!("T{n}")), "T5 container die 0fdb");
    }
}
