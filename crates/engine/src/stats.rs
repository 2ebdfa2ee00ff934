//! `stats`: one resource-usage sample of a container, read from its
//! cgroup through the `cgroups` crate (v1, hybrid and v2 alike) and from
//! `/proc/<pid>/net/dev` of its network namespace. The CLI takes two
//! samples about a second apart for CPU %, as docker does.

use crate::error::{Error, Result};
use crate::Engine;
use serde::Serialize;

/// One sample, in docker's terms.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatsSample {
    pub id: String,
    pub name: String,
    pub running: bool,
    /// Cumulative CPU time of the container (ns).
    pub cpu_total_ns: u64,
    /// Cumulative CPU time of the host (ns, /proc/stat), docker's system_cpu_usage.
    pub system_ns: u64,
    pub online_cpus: u32,
    /// Usage without the inactive page cache (docker's MEM USAGE).
    pub memory_usage: u64,
    /// The limit, or the host's memory when unlimited.
    pub memory_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
    /// The pids limit (0: none).
    pub pids_limit: u64,
    /// CPU time in kernel and user mode (ns), per CPU (ns).
    pub cpu_kernel_ns: u64,
    pub cpu_user_ns: u64,
    pub percpu_ns: Vec<u64>,
    /// CFS throttling: periods, throttled periods, throttled time (ns).
    pub throttling: (u64, u64, u64),
    /// The memory cgroup's raw usage and its stat file (docker's `stats`).
    pub memory_raw_usage: u64,
    pub memory_stat: std::collections::BTreeMap<String, u64>,
    /// When the sample was taken (RFC 3339 nanos).
    pub read: String,
}

impl StatsSample {
    /// docker's CPU %: container CPU delta over host CPU delta, times CPUs.
    pub fn cpu_percent(&self, prev: &StatsSample) -> f64 {
        let cpu = self.cpu_total_ns.saturating_sub(prev.cpu_total_ns) as f64;
        let sys = self.system_ns.saturating_sub(prev.system_ns) as f64;
        if cpu > 0.0 && sys > 0.0 {
            cpu / sys * self.online_cpus.max(1) as f64 * 100.0
        } else {
            0.0
        }
    }

    /// CPU, memory (docker's: usage less the inactive file cache, `total_inactive_file`
    /// on cgroup v1, `inactive_file` on v2; the limit capped at the host's memory),
    /// block I/O and pids from the cgroup's statistics.
    pub fn fill_from_cgroup(&mut self, cs: &cgroups::Stats, host_memory: u64) {
        self.cpu_total_ns = cs.cpu.usage.total;
        self.cpu_kernel_ns = cs.cpu.usage.kernel;
        self.cpu_user_ns = cs.cpu.usage.user;
        self.percpu_ns = cs.cpu.usage.percpu.clone();
        let t = &cs.cpu.throttling;
        self.throttling = (t.periods, t.throttled_periods, t.throttled_time);
        self.memory_raw_usage = cs.memory.usage.usage;
        self.memory_stat = cs.memory.raw.clone();
        let m = &cs.memory;
        let inactive = m
            .raw
            .get("total_inactive_file")
            .or_else(|| m.raw.get("inactive_file"))
            .copied()
            .unwrap_or(0);
        self.memory_usage = if inactive < m.usage.usage {
            m.usage.usage - inactive
        } else {
            m.usage.usage
        };
        self.memory_limit = match m.usage.limit {
            0 => host_memory,
            l if host_memory > 0 && l > host_memory => host_memory,
            l => l,
        };
        self.block_read = 0;
        self.block_write = 0;
        for e in &cs.blkio.io_service_bytes_recursive {
            match e.op.to_ascii_lowercase().as_str() {
                "read" => self.block_read += e.value,
                "write" => self.block_write += e.value,
                _ => {}
            }
        }
        self.pids = cs.pids.current;
        self.pids_limit = cs.pids.limit;
    }

    /// Docker's `/containers/{id}/stats` JSON (`types.StatsJSON`) of this
    /// sample, `prev` as its `precpu_stats` (docker's first sample of a
    /// stream has an empty one).
    pub fn to_docker(&self, prev: Option<&StatsSample>) -> DockerStats {
        let cpu = |s: &StatsSample| DockerCpuStats {
            cpu_usage: DockerCpuUsage {
                total_usage: s.cpu_total_ns,
                percpu_usage: (!s.percpu_ns.is_empty()).then(|| s.percpu_ns.clone()),
                usage_in_kernelmode: s.cpu_kernel_ns,
                usage_in_usermode: s.cpu_user_ns,
            },
            system_cpu_usage: s.system_ns,
            online_cpus: s.online_cpus,
            throttling_data: DockerThrottling {
                periods: s.throttling.0,
                throttled_periods: s.throttling.1,
                throttled_time: s.throttling.2,
            },
        };
        let io = |op: &str, value: u64| DockerBlkioEntry {
            major: 0,
            minor: 0,
            op: op.to_string(),
            value,
        };
        let mut networks = std::collections::BTreeMap::new();
        if self.running {
            networks.insert(
                "eth0".to_string(),
                DockerNetworkStats {
                    rx_bytes: self.net_rx,
                    tx_bytes: self.net_tx,
                    ..Default::default()
                },
            );
        }
        DockerStats {
            read: self.read.clone(),
            preread: prev
                .map(|p| p.read.clone())
                .unwrap_or_else(|| crate::timeutil::ZERO_TIME.to_string()),
            pids_stats: DockerPidsStats {
                current: self.pids,
                limit: (self.pids_limit > 0).then_some(self.pids_limit),
            },
            blkio_stats: DockerBlkioStats {
                io_service_bytes_recursive: vec![
                    io("read", self.block_read),
                    io("write", self.block_write),
                ],
            },
            num_procs: 0,
            cpu_stats: cpu(self),
            precpu_stats: prev.map(cpu).unwrap_or_default(),
            memory_stats: DockerMemoryStats {
                // docker's CLI subtracts the inactive file cache from
                // `usage` itself (from `stats`): the raw figures go out.
                usage: self.memory_raw_usage,
                stats: self.memory_stat.clone(),
                limit: self.memory_limit,
            },
            name: format!("/{}", self.name),
            id: self.id.clone(),
            networks,
        }
    }

    pub fn memory_percent(&self) -> f64 {
        if self.memory_limit == 0 {
            0.0
        } else {
            self.memory_usage as f64 / self.memory_limit as f64 * 100.0
        }
    }
}

/// Docker's `types.StatsJSON` (the API's stats stream and one-shot).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DockerStats {
    pub read: String,
    pub preread: String,
    pub pids_stats: DockerPidsStats,
    pub blkio_stats: DockerBlkioStats,
    pub num_procs: u32,
    pub cpu_stats: DockerCpuStats,
    pub precpu_stats: DockerCpuStats,
    pub memory_stats: DockerMemoryStats,
    pub name: String,
    pub id: String,
    pub networks: std::collections::BTreeMap<String, DockerNetworkStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DockerPidsStats {
    pub current: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DockerBlkioStats {
    pub io_service_bytes_recursive: Vec<DockerBlkioEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DockerBlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DockerCpuStats {
    pub cpu_usage: DockerCpuUsage,
    pub system_cpu_usage: u64,
    pub online_cpus: u32,
    pub throttling_data: DockerThrottling,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DockerCpuUsage {
    pub total_usage: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percpu_usage: Option<Vec<u64>>,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DockerThrottling {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DockerMemoryStats {
    pub usage: u64,
    pub stats: std::collections::BTreeMap<String, u64>,
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DockerNetworkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// Host CPU time (ns) from the first line of /proc/stat (user..softirq).
fn system_cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(l) = s.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let ticks: u64 = l
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    // USER_HZ is 100 on Linux.
    ticks * (1_000_000_000 / 100)
}

fn host_memory() -> u64 {
    let s = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// (rx, tx) bytes of every interface but lo in the namespace of `pid`.
pub fn net_io(pid: i32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    parse_net_dev(&s)
}

fn parse_net_dev(s: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0, 0);
    for l in s.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if f.len() >= 9 {
            rx += f[0];
            tx += f[8];
        }
    }
    (rx, tx)
}

fn same_netns(pid: i32) -> bool {
    let a = std::fs::read_link(format!("/proc/{pid}/ns/net"));
    let b = std::fs::read_link("/proc/self/ns/net");
    matches!((a, b), (Ok(a), Ok(b)) if a == b)
}

impl Engine {
    /// The container's cgroup, where its spec (`linux.cgroupsPath`) puts
    /// it on this host's hierarchies.
    pub(crate) fn cgroup(&self, id: &str) -> Result<cgroups::Manager> {
        let spec: serde_json::Value =
            crate::fsutil::read_json(&self.container_dir(id).join("bundle/config.json"))?;
        let path = spec["linux"]["cgroupsPath"].as_str().map(str::to_string);
        cgroups::Manager::new(path.as_deref(), id, false)
            .map_err(|e| Error::msg(format!("cgroup of {}: {e}", crate::fsutil::short_id(id))))
    }

    /// One sample of `container` (zeros but the name when it is not running).
    pub fn stats_sample(&self, container: &str) -> Result<StatsSample> {
        let id = self.lookup(container)?;
        let c = self.load_config(&id)?;
        let st = self.state(&id)?;
        let mut s = StatsSample {
            read: crate::timeutil::now(),
            id: id.clone(),
            name: c.name.clone(),
            running: st.running(),
            system_ns: system_cpu_ns(),
            online_cpus: std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1),
            ..Default::default()
        };
        if !s.running {
            return Ok(s);
        }
        let cg = self.cgroup(&id)?;
        let cs = cg.stats().map_err(|e| {
            Error::msg(format!(
                "cgroup stats of {}: {e}",
                crate::fsutil::short_id(&id)
            ))
        })?;
        s.fill_from_cgroup(&cs, host_memory());
        if st.pid > 0 && !same_netns(st.pid) {
            (s.net_rx, s.net_tx) = net_io(st.pid);
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_and_percent() {
        let dev = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    1500      10    0    0    0     0          0         0      700       5    0    0    0     0       0          0\n";
        assert_eq!(parse_net_dev(dev), (1500, 700));
        let a = StatsSample {
            cpu_total_ns: 0,
            system_ns: 0,
            online_cpus: 2,
            ..Default::default()
        };
        let b = StatsSample {
            cpu_total_ns: 500,
            system_ns: 1000,
            online_cpus: 2,
            memory_usage: 16,
            memory_limit: 64,
            ..Default::default()
        };
        assert_eq!(b.cpu_percent(&a), 100.0);
        assert_eq!(b.memory_percent(), 25.0);
    }

    #[test]
    fn from_cgroup_v1_and_v2() {
        let entry = |op: &str, value| cgroups::BlkioEntry {
            major: 8,
            minor: 0,
            op: op.into(),
            value,
        };
        // v1: unlimited is a huge number, the cache is total_inactive_file.
        let mut v1 = cgroups::Stats::default();
        v1.memory.usage.usage = 10 << 20;
        v1.memory.usage.limit = 9223372036854771712;
        v1.memory.raw.insert("total_inactive_file".into(), 4 << 20);
        v1.blkio.io_service_bytes_recursive =
            vec![entry("Read", 100), entry("Write", 50), entry("Total", 150)];
        v1.pids.current = 3;
        let mut s = StatsSample::default();
        s.fill_from_cgroup(&v1, 1 << 30);
        assert_eq!((s.memory_usage, s.memory_limit), (6 << 20, 1 << 30));
        assert_eq!((s.block_read, s.block_write, s.pids), (100, 50, 3));
        // v2: "max" reads as u64::MAX; inactive_file; a real limit is kept.
        let mut v2 = cgroups::Stats::default();
        v2.memory.usage.usage = 10 << 20;
        v2.memory.usage.limit = 64 << 20;
        v2.memory.raw.insert("inactive_file".into(), 1 << 20);
        v2.cpu.usage.total = 5;
        let mut s = StatsSample::default();
        s.fill_from_cgroup(&v2, 1 << 30);
        assert_eq!(
            (s.memory_usage, s.memory_limit, s.cpu_total_ns),
            (9 << 20, 64 << 20, 5)
        );
        v2.memory.usage.limit = u64::MAX;
        s.fill_from_cgroup(&v2, 1 << 30);
        assert_eq!(s.memory_limit, 1 << 30);
    }

    #[test]
    fn dockers_stats_json() {
        let prev = StatsSample {
            read: "2026-12-06T07:00:00.000000001Z".into(),
            cpu_total_ns: 100,
            system_ns: 1000,
            online_cpus: 2,
            ..Default::default()
        };
        let cur = StatsSample {
            id: "abc".into(),
            name: "web".into(),
            running: true,
            read: "2026-12-06T07:00:01.000000001Z".into(),
            cpu_total_ns: 600,
            cpu_user_ns: 400,
            cpu_kernel_ns: 200,
            percpu_ns: vec![300, 300],
            system_ns: 3000,
            online_cpus: 2,
            memory_limit: 64 << 20,
            memory_raw_usage: 5 << 20,
            memory_stat: [("inactive_file".to_string(), 1 << 20)].into(),
            block_read: 7,
            block_write: 9,
            pids: 3,
            pids_limit: 50,
            net_rx: 11,
            net_tx: 13,
            ..Default::default()
        };
        let v = serde_json::to_value(cur.to_docker(Some(&prev))).unwrap();
        assert_eq!(v["name"], "/web");
        assert_eq!(v["preread"], "2026-12-06T07:00:00.000000001Z");
        assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 600);
        assert_eq!(v["cpu_stats"]["cpu_usage"]["percpu_usage"][1], 300);
        assert_eq!(v["precpu_stats"]["cpu_usage"]["total_usage"], 100);
        assert_eq!(v["precpu_stats"]["system_cpu_usage"], 1000);
        assert_eq!(v["cpu_stats"]["online_cpus"], 2);
        assert_eq!(v["memory_stats"]["usage"], 5 << 20);
        assert_eq!(v["memory_stats"]["stats"]["inactive_file"], 1 << 20);
        assert_eq!(v["memory_stats"]["limit"], 64 << 20);
        assert_eq!(
            v["pids_stats"],
            serde_json::json!({"current": 3, "limit": 50})
        );
        assert_eq!(
            v["blkio_stats"]["io_service_bytes_recursive"][1],
            serde_json::json!({"major": 0, "minor": 0, "op": "write", "value": 9})
        );
        assert_eq!(v["networks"]["eth0"]["rx_bytes"], 11);
        // A first sample: docker's zero precpu and preread.
        let v = serde_json::to_value(cur.to_docker(None)).unwrap();
        assert_eq!(v["preread"], "0001-01-01T00:00:00Z");
        assert_eq!(v["precpu_stats"]["cpu_usage"]["total_usage"], 0);
    }
}
