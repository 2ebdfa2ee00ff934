//! Decoding of the canonical tree into the typed model with the weak typing
//! compose-go's mapstructure hooks allow (a string where a bool or a number
//! is expected, a number where a string is), and the JSON forms docker
//! compose prints (Go's `encoding/json` with its `omitempty` rules).

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::interp::to_bool;
use crate::tree::sprint;

pub fn is_false(b: &bool) -> bool {
    !*b
}
pub fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}
pub fn is_zero_f32(v: &f32) -> bool {
    *v == 0.0
}
pub fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

fn value<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    Value::deserialize(d)
}

pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match value(d)? {
        Value::String(s) => Ok(s),
        Value::Null => Ok(String::new()),
        Value::Number(n) if !n.is_f64() => Ok(n.to_string()),
        other => Err(D::Error::custom(format!(
            "expected a string, got {}",
            sprint(&other)
        ))),
    }
}

pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match value(d)? {
        Value::Bool(b) => Ok(b),
        Value::Null => Ok(false),
        Value::String(s) => to_bool(&s).map_err(D::Error::custom),
        other => Err(D::Error::custom(format!(
            "expected a boolean, got {}",
            sprint(&other)
        ))),
    }
}

pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match value(d)? {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        Value::String(s) => to_bool(&s).map(Some).map_err(D::Error::custom),
        other => Err(D::Error::custom(format!(
            "expected a boolean, got {}",
            sprint(&other)
        ))),
    }
}

pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match value(d)? {
        Value::Null => Ok(0),
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| D::Error::custom(format!("expected an integer, got {n}"))),
        Value::String(s) => s
            .parse()
            .map_err(|_| D::Error::custom(format!("expected an integer, got {s:?}"))),
        other => Err(D::Error::custom(format!(
            "expected an integer, got {}",
            sprint(&other)
        ))),
    }
}

pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = i64(d)?;
    u64::try_from(v).map_err(|_| D::Error::custom(format!("expected a positive integer, got {v}")))
}

pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match value(d)? {
        Value::Null => Ok(None),
        v => u64(v).map(Some).map_err(D::Error::custom),
    }
}

pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match value(d)? {
        Value::Null => Ok(None),
        v => i64(v).map(Some).map_err(D::Error::custom),
    }
}

pub fn f32<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    match value(d)? {
        Value::Null => Ok(0.0),
        Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0) as f32),
        Value::String(s) => s
            .parse::<f64>()
            .map(|f| f as f32)
            .map_err(|_| D::Error::custom(format!("expected a number, got {s:?}"))),
        other => Err(D::Error::custom(format!(
            "expected a number, got {}",
            sprint(&other)
        ))),
    }
}

pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match value(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .into_iter()
            .map(|e| match e {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                o => Err(D::Error::custom(format!(
                    "expected a string, got {}",
                    sprint(&o)
                ))),
            })
            .collect(),
        o => Err(D::Error::custom(format!(
            "expected a list, got {}",
            sprint(&o)
        ))),
    }
}

/// `StringList`: a string or a list of strings.
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match value(d)? {
        Value::String(s) => Ok(vec![s]),
        v => strings(v).map_err(D::Error::custom),
    }
}

/// `StringOrNumberList`.
pub fn string_or_number_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match value(d)? {
        Value::String(s) => Ok(vec![s]),
        Value::Array(a) => Ok(a.iter().map(sprint).collect()),
        Value::Null => Ok(Vec::new()),
        o => Err(D::Error::custom(format!(
            "invalid type for string list: {}",
            sprint(&o)
        ))),
    }
}

/// A command: a string is split as a shell would (`go-shellwords`), a
/// list is kept; absent is `null` in compose's JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellCommand(pub Option<Vec<String>>);

impl Serialize for ShellCommand {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ShellCommand {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match value(d)? {
            Value::Null => Ok(ShellCommand(None)),
            Value::String(s) => shlex::split(&s)
                .map(|v| ShellCommand(Some(v)))
                .ok_or_else(|| D::Error::custom(format!("invalid command line {s:?}"))),
            v => strings(v)
                .map(|v| ShellCommand(Some(v)))
                .map_err(D::Error::custom),
        }
    }
}

/// `environment`, `build.args`: a value may be absent (`null`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MappingWithEquals(pub BTreeMap<String, Option<String>>);

impl<'de> Deserialize<'de> for MappingWithEquals {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = BTreeMap::new();
        match value(d)? {
            Value::Object(m) => {
                for (k, v) in m {
                    let v = if v.is_null() { None } else { Some(sprint(&v)) };
                    out.insert(k, v);
                }
            }
            Value::Array(a) => {
                for e in a {
                    let s = sprint(&e);
                    let (k, v) = match s.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (s.clone(), None),
                    };
                    if k.ends_with(char::is_whitespace) {
                        return Err(D::Error::custom(format!(
                            "environment variable {k} is declared with a trailing space"
                        )));
                    }
                    out.insert(k, v);
                }
            }
            Value::Null => {}
            o => {
                return Err(D::Error::custom(format!(
                    "unexpected value {} for mapping",
                    sprint(&o)
                )))
            }
        }
        Ok(MappingWithEquals(out))
    }
}

impl MappingWithEquals {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `labels`: a list entry without `=` is a label with an empty value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Labels(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = BTreeMap::new();
        match value(d)? {
            Value::Object(m) => {
                for (k, v) in m {
                    out.insert(
                        k,
                        if v.is_null() {
                            String::new()
                        } else {
                            sprint(&v)
                        },
                    );
                }
            }
            Value::Array(a) => {
                for e in a {
                    let s = sprint(&e);
                    let (k, v) = s.split_once('=').unwrap_or((&s, ""));
                    out.insert(k.to_string(), v.to_string());
                }
            }
            Value::Null => {}
            o => {
                return Err(D::Error::custom(format!(
                    "unexpected value {} for labels",
                    sprint(&o)
                )))
            }
        }
        Ok(Labels(out))
    }
}

impl Labels {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `Mapping` (sysctls, annotations...): a list entry without `=` is dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Mapping(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Mapping {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = BTreeMap::new();
        match value(d)? {
            Value::Object(m) => {
                for (k, v) in m {
                    out.insert(
                        k,
                        if v.is_null() {
                            String::new()
                        } else {
                            sprint(&v)
                        },
                    );
                }
            }
            Value::Array(a) => {
                for e in a {
                    let s = sprint(&e);
                    if let Some((k, v)) = s.split_once('=') {
                        out.insert(k.to_string(), v.to_string());
                    }
                }
            }
            Value::Null => {}
            o => {
                return Err(D::Error::custom(format!(
                    "unexpected value {} for mapping",
                    sprint(&o)
                )))
            }
        }
        Ok(Mapping(out))
    }
}

impl Mapping {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `Options` (driver_opts, logging options): a map, values as strings.
pub fn options<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    match value(d)? {
        Value::Object(m) => Ok(m
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    if v.is_null() {
                        String::new()
                    } else {
                        sprint(&v)
                    },
                )
            })
            .collect()),
        Value::Null => Ok(BTreeMap::new()),
        o => Err(D::Error::custom(format!(
            "invalid type for options: {}",
            sprint(&o)
        ))),
    }
}

/// `MultiOptions` (provider options).
pub fn multi_options<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    match value(d)? {
        Value::Object(m) => Ok(m
            .into_iter()
            .map(|(k, v)| match v {
                Value::Array(a) => (k, a.iter().map(sprint).collect()),
                v => (k, vec![sprint(&v)]),
            })
            .collect()),
        Value::Null => Ok(BTreeMap::new()),
        o => Err(D::Error::custom(format!(
            "invalid type for options: {}",
            sprint(&o)
        ))),
    }
}

/// `extra_hosts`: printed as a sorted list of `host=ip`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostsList(pub BTreeMap<String, Vec<String>>);

impl HostsList {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn as_list(&self, sep: &str) -> Vec<String> {
        let mut l: Vec<String> = self
            .0
            .iter()
            .flat_map(|(k, ips)| ips.iter().map(move |ip| format!("{k}{sep}{ip}")))
            .collect();
        l.sort();
        l
    }
}

impl Serialize for HostsList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_list("=").serialize(s)
    }
}

impl<'de> Deserialize<'de> for HostsList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut list: BTreeMap<String, Vec<String>> = BTreeMap::new();
        match value(d)? {
            Value::Object(m) => {
                for (k, v) in m {
                    let ips = match v {
                        Value::Null => vec![String::new()],
                        Value::Array(a) => a.iter().map(sprint).collect(),
                        v => vec![sprint(&v)],
                    };
                    list.insert(k, ips);
                }
            }
            Value::Array(a) => {
                for e in a {
                    let s = sprint(&e);
                    let cut = s.split_once('=').or_else(|| s.split_once(':'));
                    let Some((host, ip)) = cut else {
                        return Err(D::Error::custom(format!(
                            "invalid additional host, missing IP: {s}"
                        )));
                    };
                    list.entry(host.to_string())
                        .or_default()
                        .extend(ip.split(',').map(str::to_string));
                }
            }
            Value::Null => {}
            o => {
                return Err(D::Error::custom(format!(
                    "unexpected value {} for extra_hosts",
                    sprint(&o)
                )))
            }
        }
        for (host, ips) in list.iter_mut() {
            if host.is_empty() || host.contains([':', '=']) {
                return Err(D::Error::custom(format!("bad host name '{host}'")));
            }
            for ip in ips.iter_mut() {
                if ip.len() > 2 && ip.starts_with('[') && ip.ends_with(']') {
                    *ip = ip[1..ip.len() - 1].to_string();
                }
            }
        }
        Ok(HostsList(list))
    }
}

/// A Go `time.Duration`, printed as Go prints it (`1m30s`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Duration(pub i64);

impl Duration {
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0;
        let s = berth_util::duration::format(std::time::Duration::from_nanos(n.unsigned_abs()));
        if n < 0 {
            write!(f, "-{s}")
        } else {
            f.write_str(&s)
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// str2duration's syntax: Go's, plus `d` (days) and `w` (weeks).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let mut total: i64 = 0;
    let mut rest = s;
    let mut extra = String::new();
    // peel leading `Nw` / `Nd` components
    loop {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            break;
        }
        let unit = rest.as_bytes().get(digits).copied();
        let mult: i64 = match unit {
            Some(b'w') => 7 * 24 * 3600 * 1_000_000_000,
            Some(b'd') => 24 * 3600 * 1_000_000_000,
            _ => break,
        };
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("time: invalid duration {s:?}"))?;
        total += n * mult;
        rest = &rest[digits + 1..];
    }
    extra.push_str(rest);
    if extra.is_empty() {
        if total == 0 {
            return Err(format!("time: invalid duration {s:?}"));
        }
        return Ok(total);
    }
    berth_util::duration::parse_nanos(&extra)
        .map(|n| total + n)
        .map_err(|_| format!("time: invalid duration {s:?}"))
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = value(d)?;
        parse_duration(&sprint(&v))
            .map(Duration)
            .map_err(D::Error::custom)
    }
}

/// Byte sizes (`1g`, `512m`, `1073741824`), printed as a decimal string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitBytes(pub i64);

impl UnitBytes {
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

impl Serialize for UnitBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for UnitBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match value(d)? {
            Value::Number(n) => Ok(UnitBytes(
                n.as_i64().unwrap_or(n.as_f64().unwrap_or(0.0) as i64),
            )),
            Value::String(s) => berth_util::size::ram_in_bytes(&s)
                .map(UnitBytes)
                .map_err(|e| D::Error::custom(format!("invalid size {s:?}: {e}"))),
            _ => Ok(UnitBytes(0)),
        }
    }
}

/// A file mode: octal in a string (`"0440"`) or a number; printed `"0440"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileMode(pub i64);

impl Serialize for FileMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0{:o}", self.0))
    }
}

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match value(d)? {
            Value::Number(n) => Ok(FileMode(n.as_i64().unwrap_or(0))),
            Value::String(s) => i64::from_str_radix(&s, 8)
                .map(FileMode)
                .map_err(|_| D::Error::custom(format!("invalid mode {s:?}"))),
            o => Err(D::Error::custom(format!(
                "unexpected value {} for mode",
                sprint(&o)
            ))),
        }
    }
}

/// An ulimit: one number (soft = hard) or `{soft, hard}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ulimit {
    pub single: i64,
    pub soft: i64,
    pub hard: i64,
}

impl Serialize for Ulimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if self.single != 0 {
            return s.serialize_i64(self.single);
        }
        let n = (self.soft != 0) as usize + (self.hard != 0) as usize;
        let mut m = s.serialize_map(Some(n))?;
        if self.soft != 0 {
            m.serialize_entry("soft", &self.soft)?;
        }
        if self.hard != 0 {
            m.serialize_entry("hard", &self.hard)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Ulimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match value(d)? {
            Value::Number(n) => Ok(Ulimit {
                single: n.as_i64().unwrap_or(0),
                ..Default::default()
            }),
            Value::String(s) => s
                .parse()
                .map(|single| Ulimit {
                    single,
                    ..Default::default()
                })
                .map_err(|_| D::Error::custom(format!("unexpected value {s:?} for ulimit"))),
            Value::Object(m) => {
                let get = |k: &str| -> Result<i64, D::Error> {
                    match m.get(k) {
                        None | Some(Value::Null) => Ok(0),
                        Some(v) => i64(v.clone()).map_err(D::Error::custom),
                    }
                };
                for k in m.keys() {
                    if k != "soft" && k != "hard" && !k.starts_with("x-") {
                        return Err(D::Error::custom(format!(
                            "unknown field `{k}`, expected `soft` or `hard`"
                        )));
                    }
                }
                Ok(Ulimit {
                    single: 0,
                    soft: get("soft")?,
                    hard: get("hard")?,
                })
            }
            o => Err(D::Error::custom(format!(
                "unexpected value {} for ulimit",
                sprint(&o)
            ))),
        }
    }
}

/// `healthcheck.test`: a string is `["CMD-SHELL", string]`.
pub fn healthcheck_test<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match value(d)? {
        Value::String(s) => Ok(vec!["CMD-SHELL".into(), s]),
        v => strings(v).map_err(D::Error::custom),
    }
}

/// A GPU/device count: a number or `all` (-1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeviceCount(pub i64);

impl DeviceCount {
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

impl<'de> Deserialize<'de> for DeviceCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match value(d)? {
            Value::Number(n) => Ok(DeviceCount(n.as_i64().unwrap_or(0))),
            Value::String(s) if s.eq_ignore_ascii_case("all") => Ok(DeviceCount(-1)),
            Value::String(s) => s.parse().map(DeviceCount).map_err(|_| {
                D::Error::custom(format!(
                    "invalid value {s:?}, the only value allowed is 'all' or a number"
                ))
            }),
            _ => Ok(DeviceCount(0)),
        }
    }
}

/// An `env_file` entry: printed as its path when required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvFile {
    #[serde(default, deserialize_with = "string")]
    pub path: String,
    #[serde(default, deserialize_with = "bool")]
    pub required: bool,
    #[serde(default, deserialize_with = "string")]
    pub format: String,
}

impl Serialize for EnvFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        if self.required {
            return s.serialize_str(&self.path);
        }
        let mut st = s.serialize_struct("EnvFile", 3)?;
        if !self.path.is_empty() {
            st.serialize_field("path", &self.path)?;
        }
        st.serialize_field("required", &self.required)?;
        if !self.format.is_empty() {
            st.serialize_field("format", &self.format)?;
        }
        st.end()
    }
}

/// build `ssh`: `default` or `id=path`, printed as such.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshKey {
    pub id: String,
    pub path: String,
}

impl Serialize for SshKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.path.is_empty() {
            s.serialize_str(&self.id)
        } else {
            s.serialize_str(&format!("{}={}", self.id, self.path))
        }
    }
}

pub fn ssh<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SshKey>, D::Error> {
    match value(d)? {
        Value::Object(m) => Ok(m
            .into_iter()
            .map(|(id, p)| SshKey {
                id,
                path: if p.is_null() {
                    String::new()
                } else {
                    sprint(&p)
                },
            })
            .collect()),
        Value::Null => Ok(Vec::new()),
        o => Err(D::Error::custom(format!(
            "invalid type {} for ssh",
            sprint(&o)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn de<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn durations_and_sizes_print_as_compose() {
        assert_eq!(de::<Duration>(json!("90s")).to_string(), "1m30s");
        assert_eq!(de::<Duration>(json!("1m30s")).to_string(), "1m30s");
        assert_eq!(de::<Duration>(json!("1d")).to_string(), "24h0m0s");
        assert_eq!(de::<Duration>(json!("1.5s")).to_string(), "1.5s");
        assert!(serde_json::from_value::<Duration>(json!(10)).is_err());
        assert_eq!(
            serde_json::to_value(de::<UnitBytes>(json!("1g"))).unwrap(),
            json!("1073741824")
        );
        assert_eq!(de::<UnitBytes>(json!("512m")).0, 512 << 20);
        assert_eq!(de::<UnitBytes>(json!(1024)).0, 1024);
    }

    #[test]
    fn short_syntaxes() {
        assert_eq!(
            de::<ShellCommand>(json!("sh -c 'echo \"a b\"'")).0.unwrap(),
            ["sh", "-c", "echo \"a b\""]
        );
        assert_eq!(
            serde_json::to_value(ShellCommand(None)).unwrap(),
            Value::Null
        );
        let env: MappingWithEquals = de(json!(["A=1", "B", "C=x=y", "D="]));
        assert_eq!(env.0["A"].as_deref(), Some("1"));
        assert_eq!(env.0["B"], None);
        assert_eq!(env.0["C"].as_deref(), Some("x=y"));
        assert_eq!(env.0["D"].as_deref(), Some(""));
        let env: MappingWithEquals = de(json!({"N": 1, "T": true, "U": null}));
        assert_eq!(
            (
                env.0["N"].as_deref(),
                env.0["T"].as_deref(),
                env.0["U"].clone()
            ),
            (Some("1"), Some("true"), None)
        );
        let l: Labels = de(json!(["a=b", "c"]));
        assert_eq!(l.0["c"], "");
        let m: Mapping = de(json!(["a=b", "c"]));
        assert!(!m.0.contains_key("c"));
        let h: HostsList = de(json!(["a:1.2.3.4", "b=::1", "a=[::2]"]));
        assert_eq!(
            serde_json::to_value(h).unwrap(),
            json!(["a=1.2.3.4", "a=::2", "b=::1"])
        );
        let u: Ulimit = de(json!(5));
        assert_eq!(serde_json::to_value(u).unwrap(), json!(5));
        let u: Ulimit = de(json!({"soft": 1, "hard": "2"}));
        assert_eq!(
            serde_json::to_value(u).unwrap(),
            json!({"soft": 1, "hard": 2})
        );
        assert_eq!(
            serde_json::to_value(de::<FileMode>(json!("0440"))).unwrap(),
            json!("0440")
        );
        let ef: EnvFile = de(json!({"path": "a.env", "required": true}));
        assert_eq!(serde_json::to_value(ef).unwrap(), json!("a.env"));
    }
}
