//! What a `berth create`/`run` asks for, as the CLI gives it (strings as
//! typed, so errors can name the flag and value), and the parsers that turn
//! flag values into settings.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Options of `create`/`run`. Field names follow the docker flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateOptions {
    /// Image reference or id.
    pub image: String,
    /// `--name`.
    pub name: Option<String>,
    /// Arguments after the image (override the image's CMD).
    pub cmd: Vec<String>,
    /// `--entrypoint` (`Some("")` clears the image's entrypoint).
    pub entrypoint: Option<String>,
    /// `-e KEY=VALUE` / `-e KEY` (taken from the caller's environment).
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u user[:group]`.
    pub user: Option<String>,
    /// `--group-add`.
    pub group_add: Vec<String>,
    /// `-h`.
    pub hostname: Option<String>,
    /// `--label KEY=VALUE`.
    pub labels: Vec<String>,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `--security-opt` (`seccomp=unconfined|FILE`, `no-new-privileges[=true]`,
    /// `systempaths=unconfined`; `apparmor=`/`label=` are accepted and ignored).
    pub security_opt: Vec<String>,
    /// `--read-only`.
    pub read_only: bool,
    /// `-m, --memory` (`512m`, `1g`, bytes).
    pub memory: Option<String>,
    /// `--memory-swap` (`-1` for unlimited).
    pub memory_swap: Option<String>,
    /// `--cpus` (`1.5`).
    pub cpus: Option<String>,
    /// `--pids-limit` (0 or -1: unlimited).
    pub pids_limit: Option<i64>,
    /// `--ulimit name=soft[:hard]`.
    pub ulimits: Vec<String>,
    /// `-v /host:/container[:opts]`, `-v NAME:/container[:opts]`, `-v /container`.
    pub volumes: Vec<String>,
    /// `--mount type=bind|volume|tmpfs,...`.
    pub mounts: Vec<String>,
    /// `--tmpfs /path[:options]`.
    pub tmpfs: Vec<String>,
    /// `--shm-size` (default 64m).
    pub shm_size: Option<String>,
    /// `--add-host host:ip`.
    pub add_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--network`: `bridge` (default), `none`, `host`, `container:NAME`
    /// or a user network's name (see `crate::network`).
    pub network: Option<String>,
    /// `-p [ip:][hostport:]containerport[/proto]`.
    pub publish: Vec<String>,
    /// `-P`: publish the image's exposed ports on random host ports.
    pub publish_all: bool,
    /// `--network-alias`.
    pub network_aliases: Vec<String>,
    /// `--ip`.
    pub ip: Option<String>,
    /// `--stop-signal`.
    pub stop_signal: Option<String>,
    /// `--stop-timeout` seconds.
    pub stop_timeout: Option<i64>,
    /// `--restart no|always|on-failure[:N]|unless-stopped`.
    pub restart: Option<String>,
    /// `--rm`.
    pub auto_remove: bool,
    /// `-t`: the process gets a pty (the monitor holds the master).
    pub tty: bool,
    /// `-i`.
    pub interactive: bool,
    /// With `-t`: the caller's terminal size (rows, cols), the pty's
    /// initial size (as docker's ConsoleSize).
    pub console_size: Option<(u16, u16)>,
    /// `--init`: berth-init as PID 1 (forwards signals, reaps zombies).
    pub init: bool,
    /// `--health-*` / `--no-healthcheck` (see [`crate::health`]).
    pub health: HealthOptions,
    /// `--runtime`: an OCI runtime binary (`crun`, `runc`, a path) to exec
    /// instead of the built-in runtime library.
    pub runtime: Option<PathBuf>,
}

/// The `--health-*` flags as given (see [`crate::health`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthOptions {
    /// `--health-cmd` (run by /bin/sh -c).
    pub cmd: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<i64>,
    pub start_period: Option<String>,
    /// `--no-healthcheck`.
    pub disable: bool,
}

impl HealthOptions {
    pub(crate) fn any(&self) -> bool {
        self.cmd.is_some()
            || self.interval.is_some()
            || self.timeout.is_some()
            || self.retries.is_some()
            || self.start_period.is_some()
    }
}

/// `--memory`: at least 6 MiB, as docker.
pub fn parse_memory(s: &str) -> Result<i64> {
    let v = berth_util::size::ram_in_bytes(s).map_err(|e| Error::flag("--memory", s, e))?;
    if v < 6 * 1024 * 1024 {
        return Err(Error::flag(
            "--memory",
            s,
            "minimum memory limit allowed is 6MB",
        ));
    }
    Ok(v)
}

/// `--cpus` → NanoCPUs.
pub fn parse_cpus(s: &str) -> Result<i64> {
    let f: f64 = s
        .trim()
        .parse()
        .map_err(|_| Error::flag("--cpus", s, "not a number"))?;
    if !f.is_finite() || f <= 0.0 {
        return Err(Error::flag("--cpus", s, "must be a positive number"));
    }
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let nano = (f * 1e9).round() as i64;
    if nano < 10_000_000 || f > ncpu {
        return Err(Error::flag(
            "--cpus",
            s,
            format!(
                "range of CPUs is from 0.01 to {ncpu:.2}, as there are only {ncpu} CPUs available"
            ),
        ));
    }
    Ok(nano)
}

const ULIMITS: &[(&str, &str)] = &[
    ("as", "RLIMIT_AS"),
    ("core", "RLIMIT_CORE"),
    ("cpu", "RLIMIT_CPU"),
    ("data", "RLIMIT_DATA"),
    ("fsize", "RLIMIT_FSIZE"),
    ("locks", "RLIMIT_LOCKS"),
    ("memlock", "RLIMIT_MEMLOCK"),
    ("msgqueue", "RLIMIT_MSGQUEUE"),
    ("nice", "RLIMIT_NICE"),
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("rss", "RLIMIT_RSS"),
    ("rtprio", "RLIMIT_RTPRIO"),
    ("rttime", "RLIMIT_RTTIME"),
    ("sigpending", "RLIMIT_SIGPENDING"),
    ("stack", "RLIMIT_STACK"),
];

/// A parsed `--ulimit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

impl Ulimit {
    pub fn rlimit_type(&self) -> &'static str {
        ULIMITS
            .iter()
            .find(|(n, _)| *n == self.name)
            .map(|(_, t)| *t)
            .unwrap_or("RLIMIT_NOFILE")
    }
}

/// `name=soft[:hard]` (docker's `units.ParseUlimit`; -1 is unlimited).
pub fn parse_ulimit(s: &str) -> Result<Ulimit> {
    let err = |why: &str| Error::flag("--ulimit", s, why);
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| err("expected name=soft[:hard]"))?;
    if !ULIMITS.iter().any(|(n, _)| *n == name) {
        return Err(err(&format!("invalid ulimit type: {name}")));
    }
    let num = |v: &str| -> Result<i64> {
        let n: i64 = v
            .parse()
            .map_err(|_| err(&format!("invalid ulimit value {v:?}")))?;
        if n < -1 {
            return Err(err("ulimit values must be -1 (unlimited) or >= 0"));
        }
        Ok(n)
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let v = num(vals)?;
            (v, v)
        }
    };
    let as_u = |v: i64| if v == -1 { u64::MAX } else { v as u64 };
    if as_u(soft) > as_u(hard) {
        return Err(err(&format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// A bind mount from `-v`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindMount {
    pub source: PathBuf,
    pub destination: String,
    pub read_only: bool,
    /// `rprivate` unless given.
    pub propagation: String,
    /// The mode string as given (`ro`, `rw,z`, ...).
    pub mode: String,
}

/// `-v SRC:DST[:OPTS]`, host paths only for now.
pub fn parse_volume(s: &str) -> Result<BindMount> {
    let err = |why: &str| Error::flag("--volume", s, why);
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        [_] => {
            return Err(err(
                "anonymous volumes are not supported yet; give /host/path:/container/path",
            ))
        }
        _ => return Err(err("expected /host/path:/container/path[:options]")),
    };
    if !src.starts_with('/') {
        return Err(err(
            "named volumes are not supported yet; the source must be an absolute host path",
        ));
    }
    if !dst.starts_with('/') {
        return Err(err("the destination must be an absolute path"));
    }
    if dst == "/" {
        return Err(err("cannot mount over /"));
    }
    let mut read_only = false;
    let mut propagation = "rprivate".to_string();
    let mut seen_rw = false;
    for o in mode.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "rw" => {
                if seen_rw {
                    return Err(err("ro and rw given twice"));
                }
                seen_rw = true;
                read_only = o == "ro";
            }
            "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated" => {}
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                propagation = o.to_string()
            }
            _ => return Err(err(&format!("unknown option {o:?}"))),
        }
    }
    Ok(BindMount {
        source: PathBuf::from(src),
        destination: clean_path(dst),
        read_only,
        propagation,
        mode: mode.to_string(),
    })
}

/// `--tmpfs /path[:opts]` → (destination, options).
pub fn parse_tmpfs(s: &str) -> Result<(String, Vec<String>)> {
    let (dst, opts) = s.split_once(':').unwrap_or((s, ""));
    if !dst.starts_with('/') {
        return Err(Error::flag(
            "--tmpfs",
            s,
            "the destination must be an absolute path",
        ));
    }
    let mut options = vec![
        "noexec".to_string(),
        "nosuid".to_string(),
        "nodev".to_string(),
    ];
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        let key = o.split('=').next().unwrap_or(o);
        let valid = matches!(
            key,
            "size"
                | "mode"
                | "uid"
                | "gid"
                | "nr_inodes"
                | "nr_blocks"
                | "exec"
                | "noexec"
                | "suid"
                | "nosuid"
                | "dev"
                | "nodev"
                | "ro"
                | "rw"
                | "atime"
                | "noatime"
                | "relatime"
                | "strictatime"
                | "nodiratime"
                | "sync"
                | "async"
                | "tmpcopyup"
                | "notmpcopyup"
                | "rprivate"
                | "private"
                | "rshared"
                | "shared"
                | "rslave"
                | "slave"
        );
        if !valid {
            return Err(Error::flag("--tmpfs", s, format!("unknown option {o:?}")));
        }
        if key == "size" {
            let v = o.split_once('=').map(|x| x.1).unwrap_or("");
            berth_util::size::ram_in_bytes(v)
                .map_err(|e| Error::flag("--tmpfs", s, format!("size: {e}")))?;
        }
        if key == "tmpcopyup" || key == "notmpcopyup" {
            continue;
        }
        // A later flag overrides its opposite.
        let opposite = match key {
            "exec" => Some("noexec"),
            "noexec" => Some("exec"),
            "suid" => Some("nosuid"),
            "nosuid" => Some("suid"),
            "dev" => Some("nodev"),
            "nodev" => Some("dev"),
            _ => None,
        };
        if let Some(op) = opposite {
            options.retain(|x| x != op);
        }
        if !options.iter().any(|x| x == o) {
            options.push(o.to_string());
        }
    }
    Ok((clean_path(dst), options))
}

/// `--add-host name:ip` (or `name=ip`).
pub fn parse_add_host(s: &str) -> Result<(String, String)> {
    let (host, ip) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(|| Error::flag("--add-host", s, "expected host:ip"))?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(Error::flag("--add-host", s, "invalid host name"));
    }
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if ip.parse::<std::net::IpAddr>().is_err() {
        return Err(Error::flag("--add-host", s, "invalid IP address"));
    }
    Ok((host.to_string(), ip.to_string()))
}

pub fn parse_dns(s: &str) -> Result<String> {
    s.parse::<std::net::IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| Error::flag("--dns", s, "not an IP address"))
}

/// `--label KEY=VALUE` / `KEY`.
pub fn parse_labels(labels: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for l in labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.is_empty() {
            return Err(Error::flag("--label", l, "empty key"));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// `-e` values: `KEY=VALUE`; `KEY` alone takes the caller's value (dropped if unset).
pub fn parse_env(env: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for e in env {
        match e.split_once('=') {
            Some(("", _)) => {
                return Err(Error::flag(
                    "--env",
                    e,
                    "invalid environment variable (empty name)",
                ))
            }
            Some(_) => out.push(e.clone()),
            None => {
                if e.is_empty() {
                    return Err(Error::flag(
                        "--env",
                        e,
                        "invalid environment variable (empty)",
                    ));
                }
                if let Ok(v) = std::env::var(e) {
                    out.push(format!("{e}={v}"));
                }
            }
        }
    }
    Ok(out)
}

/// Signal names or numbers (`TERM`, `SIGTERM`, `15`).
pub fn parse_signal(flag: &str, s: &str) -> Result<i32> {
    oci_runtime::ops::parse_signal(s).map_err(|_| Error::flag(flag, s, "unknown signal"))
}

/// Docker's `--hostname` check (RFC 1123 labels).
pub fn validate_hostname(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 255
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::flag("--hostname", s, "invalid hostname format"))
    }
}

/// Restart policies (`no`, `always`, `unless-stopped`, `on-failure[:N]`).
pub fn parse_restart(s: &str) -> Result<(String, i64)> {
    let (name, n) = s.split_once(':').unwrap_or((s, ""));
    match name {
        "" | "no" | "always" | "unless-stopped" if n.is_empty() => {
            Ok((if name.is_empty() { "no" } else { name }.to_string(), 0))
        }
        "on-failure" => {
            let max = if n.is_empty() {
                0
            } else {
                n.parse::<i64>()
                    .ok()
                    .filter(|v| *v >= 0)
                    .ok_or_else(|| Error::flag("--restart", s, "invalid maximum retry count"))?
            };
            Ok((name.to_string(), max))
        }
        _ => Err(Error::flag("--restart", s, "unknown restart policy")),
    }
}

/// Lexically cleaned absolute path (`/a/./b/../c` → `/a/c`).
pub fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        let e = parse_memory("5m").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid --memory \"5m\": minimum memory limit allowed is 6MB"
        );
        let e = parse_memory("x").unwrap_err().to_string();
        assert_eq!(e, "invalid --memory \"x\": invalid size");
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("0.5").unwrap(), 500_000_000);
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("abc")
            .unwrap_err()
            .to_string()
            .starts_with("invalid --cpus \"abc\""));
        assert!(parse_cpus("100000").is_err());
    }

    #[test]
    fn ulimits() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!(
            (u.soft, u.hard, u.rlimit_type()),
            (1024, 2048, "RLIMIT_NOFILE")
        );
        assert_eq!(parse_ulimit("nproc=10").unwrap().hard, 10);
        assert!(parse_ulimit("nofile=10:5").is_err());
        assert!(parse_ulimit("bogus=1")
            .unwrap_err()
            .to_string()
            .contains("invalid ulimit type"));
        assert!(parse_ulimit("nofile").is_err());
    }

    #[test]
    fn volumes() {
        let b = parse_volume("/src:/dst:ro").unwrap();
        assert!(b.read_only);
        assert_eq!(b.destination, "/dst");
        assert!(!parse_volume("/a:/b").unwrap().read_only);
        assert!(parse_volume("name:/b").is_err());
        assert!(parse_volume("/a:b").is_err());
        assert!(parse_volume("/a:/b:bogus")
            .unwrap_err()
            .to_string()
            .starts_with("invalid --volume \"/a:/b:bogus\""));
    }

    #[test]
    fn tmpfs() {
        let (d, o) = parse_tmpfs("/run:size=10m,exec").unwrap();
        assert_eq!(d, "/run");
        assert_eq!(o, vec!["nosuid", "nodev", "size=10m", "exec"]);
        assert!(parse_tmpfs("run").is_err());
        assert!(parse_tmpfs("/x:weird").is_err());
    }

    #[test]
    fn hosts_dns_labels_env() {
        assert_eq!(
            parse_add_host("db:10.0.0.2").unwrap(),
            ("db".into(), "10.0.0.2".into())
        );
        assert_eq!(parse_add_host("v6=::1").unwrap().1, "::1");
        assert!(parse_add_host("db:nope").is_err());
        assert!(parse_dns("1.1.1.1").is_ok());
        assert!(parse_dns("x").is_err());
        let l = parse_labels(&["a=b".into(), "c".into()]).unwrap();
        assert_eq!(l["a"], "b");
        assert_eq!(l["c"], "");
        assert!(parse_env(&["=x".into()]).is_err());
        assert_eq!(
            parse_env(&["A=1".into(), "BERTH_SURELY_UNSET_VAR".into()]).unwrap(),
            vec!["A=1"]
        );
    }

    #[test]
    fn misc() {
        assert_eq!(clean_path("/a/./b/../c/"), "/a/c");
        assert!(validate_hostname("web-1.example").is_ok());
        assert!(validate_hostname("-bad").is_err());
        assert_eq!(
            parse_restart("on-failure:3").unwrap(),
            ("on-failure".into(), 3)
        );
        assert!(parse_restart("sometimes").is_err());
        assert_eq!(parse_signal("--stop-signal", "TERM").unwrap(), 15);
        assert!(parse_signal("--stop-signal", "NOPE").is_err());
    }
}
