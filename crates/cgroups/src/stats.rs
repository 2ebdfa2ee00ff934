//! Resource usage, serialised like the "data" object of runc's
//! `events --stats` (runc's types/events.go, including its omitempty fields).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fs;
use crate::Manager;

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// Nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuUsage {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pids {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current: u64,
    /// 0 means unlimited.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioEntry {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub value: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hugetlb {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

pub(crate) fn collect(m: &Manager) -> Result<Stats> {
    let mut s = Stats::default();
    cpu(m, &mut s)?;
    memory(m, &mut s)?;
    if let Some(h) = m.controller("pids") {
        s.pids.current = fs::read_u64_or_zero(&h.path.join("pids.current"))?;
        let lim = fs::read_u64_or_zero(&h.path.join("pids.max"))?;
        s.pids.limit = if lim == u64::MAX { 0 } else { lim };
    }
    blkio(m, &mut s)?;
    hugetlb(m, &mut s)?;
    Ok(s)
}

fn clk_tck() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(v)) if v > 0 => v as u64,
        _ => 100,
    }
}

fn read_list(path: &Path) -> Result<Vec<u64>> {
    match fs::read_opt(path)? {
        Some(s) => s
            .split_whitespace()
            .map(|t| fs::parse_u64(path, t))
            .collect(),
        None => Ok(Vec::new()),
    }
}

fn cpu(m: &Manager, s: &mut Stats) -> Result<()> {
    if let Some(h) = m.v1("cpuacct") {
        let d = &h.path;
        s.cpu.usage.total = fs::read_u64_or_zero(&d.join("cpuacct.usage"))?;
        s.cpu.usage.percpu = read_list(&d.join("cpuacct.usage_percpu"))?;
        s.cpu.usage.percpu_kernel = read_list(&d.join("cpuacct.usage_percpu_sys"))?;
        s.cpu.usage.percpu_user = read_list(&d.join("cpuacct.usage_percpu_user"))?;
        // cpuacct.stat is in USER_HZ ticks.
        let st = fs::read_flat_keyed_opt(&d.join("cpuacct.stat"))?;
        let tck = clk_tck();
        s.cpu.usage.user = st.get("user").copied().unwrap_or(0) * 1_000_000_000 / tck;
        s.cpu.usage.kernel = st.get("system").copied().unwrap_or(0) * 1_000_000_000 / tck;
    }
    if let Some(h) = m.v1("cpu") {
        let st = fs::read_flat_keyed_opt(&h.path.join("cpu.stat"))?;
        s.cpu.throttling.periods = st.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttling.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttling.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
    } else if let Some(u) = m.unified().filter(|_| m.v1("cpuacct").is_none()) {
        // cpu.stat exists in every cgroup2 directory, even without the cpu controller.
        let st = fs::read_flat_keyed_opt(&u.path.join("cpu.stat"))?;
        let g = |k: &str| st.get(k).copied().unwrap_or(0);
        s.cpu.usage.total = g("usage_usec") * 1000;
        s.cpu.usage.user = g("user_usec") * 1000;
        s.cpu.usage.kernel = g("system_usec") * 1000;
        s.cpu.throttling.periods = g("nr_periods");
        s.cpu.throttling.throttled_periods = g("nr_throttled");
        s.cpu.throttling.throttled_time = g("throttled_usec") * 1000;
    }
    Ok(())
}

fn v1_entry(d: &Path, prefix: &str) -> Result<MemoryEntry> {
    let f = |name: &str| fs::read_u64_or_zero(&d.join(format!("{prefix}.{name}")));
    Ok(MemoryEntry {
        limit: f("limit_in_bytes")?,
        usage: f("usage_in_bytes")?,
        max: f("max_usage_in_bytes")?,
        failcnt: f("failcnt")?,
    })
}

fn memory(m: &Manager, s: &mut Stats) -> Result<()> {
    let Some(h) = m.controller("memory") else {
        return Ok(());
    };
    let d = &h.path;
    if h.version == 1 {
        s.memory.usage = v1_entry(d, "memory")?;
        s.memory.swap = v1_entry(d, "memory.memsw")?;
        s.memory.kernel = v1_entry(d, "memory.kmem")?;
        s.memory.kernel_tcp = v1_entry(d, "memory.kmem.tcp")?;
        s.memory.raw = fs::read_flat_keyed_opt(&d.join("memory.stat"))?;
        s.memory.cache = s.memory.raw.get("cache").copied().unwrap_or(0);
    } else {
        s.memory.raw = fs::read_flat_keyed_opt(&d.join("memory.stat"))?;
        s.memory.cache = s.memory.raw.get("file").copied().unwrap_or(0);
        let events = fs::read_flat_keyed_opt(&d.join("memory.events"))?;
        s.memory.usage = MemoryEntry {
            usage: fs::read_u64_or_zero(&d.join("memory.current"))?,
            limit: fs::read_u64_or_zero(&d.join("memory.max"))?,
            max: fs::read_u64_or_zero(&d.join("memory.peak"))?,
            failcnt: events.get("max").copied().unwrap_or(0),
        };
        // Like runc, report swap as memory+swap so it compares with v1.
        let swap_cur = fs::read_u64_or_zero(&d.join("memory.swap.current"))?;
        let swap_max = fs::read_u64_or_zero(&d.join("memory.swap.max"))?;
        s.memory.swap = MemoryEntry {
            usage: swap_cur.saturating_add(s.memory.usage.usage),
            limit: swap_max.saturating_add(s.memory.usage.limit),
            max: 0,
            failcnt: 0,
        };
    }
    Ok(())
}

/// Processes of the cgroup the OOM killer killed: `oom_kill` in v1's
/// memory.oom_control (kernels from 4.13) or v2's memory.events; 0
/// without a memory controller.
pub(crate) fn oom_kills(m: &Manager) -> Result<u64> {
    let Some(h) = m.controller("memory") else {
        return Ok(0);
    };
    let file = if h.version == 1 {
        "memory.oom_control"
    } else {
        "memory.events"
    };
    let kv = fs::read_flat_keyed_opt(&h.path.join(file))?;
    Ok(kv.get("oom_kill").copied().unwrap_or(0))
}

/// Parse blkio v1 "maj:min Op value" lines (the "Total" line is skipped).
fn parse_blkio_v1(path: &Path) -> Result<Vec<BlkioEntry>> {
    let Some(text) = fs::read_opt(path)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 {
            continue;
        }
        let Some((maj, min)) = f[0].split_once(':') else {
            continue;
        };
        let bad = || Error::Parse {
            path: path.to_path_buf(),
            what: "blkio entry",
            content: line.to_string(),
        };
        out.push(BlkioEntry {
            major: maj.parse().map_err(|_| bad())?,
            minor: min.parse().map_err(|_| bad())?,
            op: f[1].to_string(),
            value: f[2].parse().map_err(|_| bad())?,
        });
    }
    Ok(out)
}

fn blkio(m: &Manager, s: &mut Stats) -> Result<()> {
    if let Some(h) = m.v1("blkio") {
        let d = &h.path;
        // CFQ files first, then BFQ, then the throttle (always present) files.
        for prefix in ["blkio", "blkio.bfq", "blkio.throttle"] {
            let bytes = d.join(format!("{prefix}.io_service_bytes_recursive"));
            if bytes.exists() {
                s.blkio.io_service_bytes_recursive = parse_blkio_v1(&bytes)?;
                s.blkio.io_serviced_recursive =
                    parse_blkio_v1(&d.join(format!("{prefix}.io_serviced_recursive")))?;
                break;
            }
        }
    } else if let Some(h) = m.controller("io") {
        let p = h.path.join("io.stat");
        let text = fs::read_opt(&p)?.unwrap_or_default();
        for line in text.lines() {
            let mut it = line.split_whitespace();
            let Some((maj, min)) = it.next().and_then(|d| d.split_once(':')) else {
                continue;
            };
            let (Ok(major), Ok(minor)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
                continue;
            };
            for kv in it {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                let Ok(value) = v.parse::<u64>() else {
                    continue;
                };
                let (list, op) = match k {
                    "rbytes" => (&mut s.blkio.io_service_bytes_recursive, "Read"),
                    "wbytes" => (&mut s.blkio.io_service_bytes_recursive, "Write"),
                    "rios" => (&mut s.blkio.io_serviced_recursive, "Read"),
                    "wios" => (&mut s.blkio.io_serviced_recursive, "Write"),
                    _ => continue,
                };
                list.push(BlkioEntry {
                    major,
                    minor,
                    op: op.into(),
                    value,
                });
            }
        }
    }
    Ok(())
}

fn hugetlb(m: &Manager, s: &mut Stats) -> Result<()> {
    let Some(h) = m.controller("hugetlb") else {
        return Ok(());
    };
    let d = &h.path;
    let Ok(rd) = std::fs::read_dir(d) else {
        return Ok(());
    };
    let mut sizes: Vec<String> = rd
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let rest = n.strip_prefix("hugetlb.")?;
            let (size, tail) = rest.split_once('.')?;
            let wanted = if h.version == 1 {
                "limit_in_bytes"
            } else {
                "max"
            };
            (tail == wanted).then(|| size.to_string())
        })
        .collect();
    sizes.sort();
    for size in sizes {
        let f = |name: &str| fs::read_u64_or_zero(&d.join(format!("hugetlb.{size}.{name}")));
        let entry = if h.version == 1 {
            Hugetlb {
                usage: f("usage_in_bytes")?,
                max: f("max_usage_in_bytes")?,
                failcnt: f("failcnt")?,
            }
        } else {
            let ev = fs::read_flat_keyed_opt(&d.join(format!("hugetlb.{size}.events")))?;
            Hugetlb {
                usage: f("current")?,
                max: 0,
                failcnt: ev.get("max").copied().unwrap_or(0),
            }
        };
        s.hugetlb.insert(size, entry);
    }
    Ok(())
}
