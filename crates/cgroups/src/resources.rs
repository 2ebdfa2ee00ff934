//! Translation of `linux.resources` into cgroup file writes, for v1 and v2.
//!
//! [`plan`] is pure apart from reading a few files (to see which interface
//! files exist and the current memory limit/usage), so it is unit-tested on
//! fake trees; [`crate::Manager::set`] executes the plan.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxNetwork, LinuxResources};

use crate::devices::{self, DeviceRule};
use crate::error::{Error, Result};
use crate::fs::{self, Write};
use crate::{Hierarchy, Manager};

/// Everything `set` will do.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub writes: Vec<Write>,
    /// Files to read back after writing, with the value they must then hold.
    pub verify: Vec<(PathBuf, String, &'static str)>,
    /// cgroup2 directory and rules for the eBPF device filter.
    pub bpf_devices: Option<(PathBuf, Vec<DeviceRule>)>,
}

impl Plan {
    fn w(&mut self, dir: &Path, file: &str, value: impl Into<String>) {
        self.writes.push(Write::new(dir, file, value));
    }
}

struct Ctx<'a> {
    m: &'a Manager,
    plan: Plan,
}

fn unsupported(field: &str, value: impl ToString, reason: impl Into<String>) -> Error {
    Error::Unsupported {
        field: field.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

impl Ctx<'_> {
    /// The hierarchy for `controller`, or an error naming `field` and `value`.
    fn need(&self, controller: &str, field: &str, value: impl ToString) -> Result<&Hierarchy> {
        self.m.controller(controller).ok_or_else(|| {
            unsupported(
                field,
                value,
                format!("the {controller} cgroup controller is not available on this host"),
            )
        })
    }
}

/// `-1` (or any negative) → "max", else the number.
fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

pub(crate) fn plan(m: &Manager, r: &LinuxResources) -> Result<Plan> {
    let mut c = Ctx {
        m,
        plan: Plan::default(),
    };
    if let Some(mem) = r.memory() {
        memory(&mut c, mem)?;
    }
    if let Some(cpu) = r.cpu() {
        cpu_res(&mut c, cpu)?;
    }
    if let Some(p) = r.pids() {
        if p.limit() != 0 {
            let h = c.need("pids", "pids.limit", p.limit())?;
            let d = h.path.clone();
            c.plan.w(&d, "pids.max", max_or(p.limit()));
        }
    }
    if let Some(b) = r.block_io() {
        blkio(&mut c, b)?;
    }
    if let Some(hp) = r.hugepage_limits() {
        for l in hp {
            hugetlb(&mut c, l.page_size(), l.limit())?;
        }
    }
    if let Some(n) = r.network() {
        network(&mut c, n)?;
    }
    if let Some(rdma) = r.rdma() {
        let mut devs: Vec<_> = rdma.iter().collect();
        devs.sort_by(|a, b| a.0.cmp(b.0));
        for (dev, lim) in devs {
            let mut parts = vec![dev.clone()];
            if let Some(h) = lim.hca_handles() {
                parts.push(format!("hca_handle={h}"));
            }
            if let Some(o) = lim.hca_objects() {
                parts.push(format!("hca_object={o}"));
            }
            if parts.len() == 1 {
                continue;
            }
            if dev.is_empty() || dev.contains(char::is_whitespace) {
                return Err(Error::InvalidValue {
                    field: "rdma",
                    value: format!("{dev:?}"),
                    reason: "device name must be non-empty without spaces".into(),
                });
            }
            let value = parts.join(" ");
            let h = c.need("rdma", &format!("rdma.{dev}"), &value)?;
            let d = h.path.clone();
            c.plan.w(&d, "rdma.max", value);
        }
    }
    if let Some(devs) = r.devices() {
        let rules = devs
            .iter()
            .map(DeviceRule::from_oci)
            .collect::<Result<Vec<_>>>()?;
        if let Some(h) = m.v1("devices") {
            let w = devices::v1_writes(&h.path, &rules)?;
            c.plan.writes.extend(w);
        } else if let Some(u) = m.unified() {
            // Validate now so that set() fails before writing anything.
            devices::device_filter_program(&rules)?;
            c.plan.bpf_devices = Some((u.path.clone(), rules));
        } else if !rules.is_empty() {
            return Err(unsupported(
                "devices",
                rules[0].to_string(),
                "no devices controller and no cgroup2 hierarchy on this host",
            ));
        }
    }
    if let Some(u) = r.unified() {
        let mut keys: Vec<_> = u.iter().collect();
        keys.sort();
        for (k, v) in keys {
            let Some(h) = m.unified() else {
                return Err(unsupported(
                    &format!("unified.{k}"),
                    v,
                    "linux.resources.unified needs cgroup v2, and this host has only v1",
                ));
            };
            if k.is_empty() || k.contains('/') || k.starts_with('.') {
                return Err(Error::InvalidValue {
                    field: "unified",
                    value: format!("{k:?}"),
                    reason: "key must be a plain cgroup file name".into(),
                });
            }
            let path = h.path.join(k);
            if !path.exists() && !will_exist(&path) {
                return Err(Error::UnifiedKey {
                    key: k.clone(),
                    path,
                });
            }
            c.plan.w(&h.path, k, v.clone());
        }
    }
    Ok(c.plan)
}

/// Interface files appear only once the directory exists, so a plan made
/// before `create` cannot see them; accept keys whose directory is missing
/// (the write then fails naming the file).
fn will_exist(path: &Path) -> bool {
    path.parent().is_some_and(|d| !d.exists())
}

/// Check values read back after writing (the kernel may clamp cpu.shares).
pub(crate) fn verify(plan: &Plan) -> Result<()> {
    for (path, want, field) in &plan.verify {
        let got = fs::read_string(path)?;
        if got.trim() != want {
            return Err(Error::InvalidValue {
                field,
                value: want.clone(),
                reason: format!(
                    "the kernel stored {} in {} instead",
                    got.trim(),
                    path.display()
                ),
            });
        }
    }
    Ok(())
}

fn memory(c: &mut Ctx, mem: &LinuxMemory) -> Result<()> {
    let limit = mem.limit().unwrap_or(0);
    let swap = mem.swap().unwrap_or(0);
    let anything = limit != 0
        || swap != 0
        || mem.reservation().unwrap_or(0) != 0
        || mem.kernel().unwrap_or(0) != 0
        || mem.kernel_tcp().unwrap_or(0) != 0
        || mem.swappiness().is_some()
        || mem.disable_oom_killer() == Some(true)
        || mem.use_hierarchy().is_some();
    if !anything {
        return Ok(());
    }
    let field = if limit != 0 {
        "memory.limit"
    } else if swap != 0 {
        "memory.swap"
    } else {
        "memory"
    };
    let h = c.need("memory", field, limit)?.clone();
    let d = &h.path;
    if h.version == 1 {
        memory_v1(c, d, mem)
    } else {
        memory_v2(c, d, mem)
    }
}

fn check_before_update(mem: &LinuxMemory, usage_file: &Path) -> Result<()> {
    let limit = mem.limit().unwrap_or(0);
    if mem.check_before_update() == Some(true) && limit > 0 {
        if let Some(s) = fs::read_opt(usage_file)? {
            let usage = fs::parse_u64(usage_file, &s)?;
            if usage > limit as u64 {
                return Err(Error::InvalidValue {
                    field: "memory.limit",
                    value: limit.to_string(),
                    reason: format!(
                        "below current usage {usage} ({}) and checkBeforeUpdate is set",
                        usage_file.display()
                    ),
                });
            }
        }
    }
    Ok(())
}

fn memory_v1(c: &mut Ctx, d: &Path, mem: &LinuxMemory) -> Result<()> {
    check_before_update(mem, &d.join("memory.usage_in_bytes"))?;
    let limit = mem.limit().unwrap_or(0);
    let mut swap = mem.swap().unwrap_or(0);
    // Like runc: unlimited memory without an explicit swap means unlimited swap too.
    if limit == -1 && swap == 0 {
        swap = -1;
    }
    const MEMSW: &str = "memory.memsw.limit_in_bytes";
    if swap != 0 && !d.join(MEMSW).exists() && !will_exist(&d.join(MEMSW)) {
        if mem.swap().unwrap_or(0) != 0 {
            return Err(unsupported(
                "memory.swap",
                swap,
                format!("{MEMSW} does not exist (swap accounting is disabled)"),
            ));
        }
        swap = 0; // implied -1 only: nothing to do without swap accounting
    }
    if limit != 0 && swap != 0 {
        if swap != -1 && swap < limit {
            return Err(Error::InvalidValue {
                field: "memory.swap",
                value: swap.to_string(),
                reason: format!("memory+swap limit must be >= memory limit {limit}"),
            });
        }
        // Order the writes so that the kernel's memsw >= memory check holds at every step.
        let cur = match fs::read_opt(&d.join("memory.limit_in_bytes"))? {
            Some(s) => fs::parse_u64(&d.join("memory.limit_in_bytes"), &s).unwrap_or(u64::MAX),
            None => u64::MAX,
        };
        if swap == -1 || cur < swap as u64 {
            c.plan.w(d, MEMSW, swap.to_string());
            c.plan.w(d, "memory.limit_in_bytes", limit.to_string());
        } else {
            c.plan.w(d, "memory.limit_in_bytes", limit.to_string());
            c.plan.w(d, MEMSW, swap.to_string());
        }
    } else {
        if limit != 0 {
            c.plan.w(d, "memory.limit_in_bytes", limit.to_string());
        }
        if swap != 0 {
            c.plan.w(d, MEMSW, swap.to_string());
        }
    }
    if let Some(r) = mem.reservation().filter(|&r| r != 0) {
        c.plan.w(d, "memory.soft_limit_in_bytes", r.to_string());
    }
    if let Some(k) = mem.kernel().filter(|&k| k != 0) {
        v1_optional_file(c, d, "memory.kernel", "memory.kmem.limit_in_bytes", k)?;
    }
    if let Some(k) = mem.kernel_tcp().filter(|&k| k != 0) {
        v1_optional_file(
            c,
            d,
            "memory.kernelTCP",
            "memory.kmem.tcp.limit_in_bytes",
            k,
        )?;
    }
    if let Some(s) = mem.swappiness() {
        if s > 100 {
            return Err(Error::InvalidValue {
                field: "memory.swappiness",
                value: s.to_string(),
                reason: "must be between 0 and 100".into(),
            });
        }
        c.plan.w(d, "memory.swappiness", s.to_string());
    }
    if mem.disable_oom_killer() == Some(true) {
        c.plan.w(d, "memory.oom_control", "1");
    }
    if let Some(u) = mem.use_hierarchy() {
        c.plan
            .w(d, "memory.use_hierarchy", if u { "1" } else { "0" });
    }
    Ok(())
}

fn v1_optional_file(c: &mut Ctx, d: &Path, field: &str, file: &str, v: i64) -> Result<()> {
    let p = d.join(file);
    if !p.exists() && !will_exist(&p) {
        return Err(unsupported(
            field,
            v,
            format!("{} does not exist", p.display()),
        ));
    }
    c.plan.w(d, file, v.to_string());
    Ok(())
}

/// runc's ConvertMemorySwapToCgroupV2Value: OCI swap is memory+swap, cgroup2
/// memory.swap.max is swap only. Returns 0 for "unset", -1 for "max".
pub(crate) fn swap_v2(swap: i64, limit: i64) -> Result<i64> {
    if limit == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    let bad = |reason: String| Error::InvalidValue {
        field: "memory.swap",
        value: swap.to_string(),
        reason,
    };
    if limit == 0 || limit == -1 {
        return Err(bad("a swap limit needs a memory limit".into()));
    }
    if limit < 0 {
        return Err(bad(format!("invalid memory limit {limit}")));
    }
    if swap < limit {
        return Err(bad(format!(
            "memory+swap limit must be >= memory limit {limit}"
        )));
    }
    Ok(swap - limit)
}

fn memory_v2(c: &mut Ctx, d: &Path, mem: &LinuxMemory) -> Result<()> {
    check_before_update(mem, &d.join("memory.current"))?;
    let limit = mem.limit().unwrap_or(0);
    let swap_req = mem.swap().unwrap_or(0);
    let swap = swap_v2(swap_req, limit)?;
    let swap_val = if swap == 0 && swap_req > 0 {
        // memory == memory+swap: no swap at all
        Some("0".to_string())
    } else if swap != 0 {
        Some(max_or(swap))
    } else {
        None
    };
    if let Some(v) = swap_val {
        let p = d.join("memory.swap.max");
        if p.exists() || will_exist(&p) {
            c.plan.w(d, "memory.swap.max", v);
        } else if v != "max" && v != "0" {
            // Without swap accounting, "no swap" and "unlimited" are moot.
            return Err(unsupported(
                "memory.swap",
                swap_req,
                format!(
                    "{} does not exist (swap accounting is disabled)",
                    p.display()
                ),
            ));
        }
    }
    if limit != 0 {
        c.plan.w(d, "memory.max", max_or(limit));
    }
    if let Some(r) = mem.reservation().filter(|&r| r != 0) {
        c.plan.w(d, "memory.low", max_or(r));
    }
    // kernel, kernelTCP, swappiness, disableOOMKiller and useHierarchy have no
    // cgroup2 equivalent; like runc, they are ignored there.
    Ok(())
}

/// crun's conversion of cpu shares [2, 262144] to cpu.weight [1, 10000]:
/// a quadratic in log2 so that 1024 (the default) maps to 100.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    (10f64.powf(exponent).ceil() as u64).clamp(1, 10_000)
}

/// runc's blkio weight [10, 1000] → io.weight [1, 10000].
pub(crate) fn blkio_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    let w = u64::from(w.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

fn cpu_res(c: &mut Ctx, cpu: &LinuxCpu) -> Result<()> {
    let shares = cpu.shares().unwrap_or(0);
    let quota = cpu.quota().unwrap_or(0);
    let period = cpu.period().unwrap_or(0);
    let rt_runtime = cpu.realtime_runtime().unwrap_or(0);
    let rt_period = cpu.realtime_period().unwrap_or(0);
    let cpu_fields = shares != 0
        || quota != 0
        || period != 0
        || cpu.burst().is_some()
        || cpu.idle().unwrap_or(0) != 0
        || rt_runtime != 0
        || rt_period != 0;
    if cpu_fields {
        let field = if shares != 0 {
            "cpu.shares"
        } else if quota != 0 {
            "cpu.quota"
        } else {
            "cpu"
        };
        let h = c
            .need("cpu", field, shares.max(quota.unsigned_abs()))?
            .clone();
        let d = &h.path;
        if h.version == 1 {
            if shares != 0 {
                c.plan.w(d, "cpu.shares", shares.to_string());
                c.plan
                    .verify
                    .push((d.join("cpu.shares"), shares.to_string(), "cpu.shares"));
            }
            if period != 0 {
                c.plan.w(d, "cpu.cfs_period_us", period.to_string());
            }
            if quota != 0 {
                c.plan.w(d, "cpu.cfs_quota_us", quota.to_string());
            }
            if let Some(b) = cpu.burst() {
                v1_optional_file(c, d, "cpu.burst", "cpu.cfs_burst_us", b as i64)?;
            }
            if rt_period != 0 {
                v1_optional_file(
                    c,
                    d,
                    "cpu.realtimePeriod",
                    "cpu.rt_period_us",
                    rt_period as i64,
                )?;
            }
            if rt_runtime != 0 {
                v1_optional_file(c, d, "cpu.realtimeRuntime", "cpu.rt_runtime_us", rt_runtime)?;
            }
        } else {
            if rt_runtime != 0 || rt_period != 0 {
                return Err(unsupported(
                    "cpu.realtimeRuntime",
                    rt_runtime,
                    "realtime scheduling limits are not supported by cgroup v2",
                ));
            }
            if shares != 0 {
                c.plan
                    .w(d, "cpu.weight", shares_to_weight(shares).to_string());
            }
            if quota != 0 || period != 0 {
                let mut v = if quota > 0 {
                    quota.to_string()
                } else {
                    "max".to_string()
                };
                if period != 0 {
                    v.push_str(&format!(" {period}"));
                }
                c.plan.w(d, "cpu.max", v);
            }
            if let Some(b) = cpu.burst() {
                if b != 0 || d.join("cpu.max.burst").exists() {
                    v1_optional_file(c, d, "cpu.burst", "cpu.max.burst", b as i64)?;
                }
            }
        }
        if let Some(i) = cpu.idle() {
            if i != 0 || d.join("cpu.idle").exists() {
                v1_optional_file(c, d, "cpu.idle", "cpu.idle", i)?;
            }
        }
    }
    for (field, file, val) in [
        ("cpu.cpus", "cpuset.cpus", cpu.cpus()),
        ("cpu.mems", "cpuset.mems", cpu.mems()),
    ] {
        if let Some(v) = val.as_deref().filter(|v| !v.trim().is_empty()) {
            let h = c.need("cpuset", field, v)?;
            let d = h.path.clone();
            c.plan.w(&d, file, v.trim());
        }
    }
    Ok(())
}

fn blkio(c: &mut Ctx, b: &LinuxBlockIo) -> Result<()> {
    let weight = b.weight().unwrap_or(0);
    let leaf = b.leaf_weight().unwrap_or(0);
    let wdev = b.weight_device().as_deref().unwrap_or(&[]);
    let throttles = [
        (
            "blockIO.throttleReadBpsDevice",
            "read_bps_device",
            "rbps",
            b.throttle_read_bps_device(),
        ),
        (
            "blockIO.throttleWriteBpsDevice",
            "write_bps_device",
            "wbps",
            b.throttle_write_bps_device(),
        ),
        (
            "blockIO.throttleReadIOPSDevice",
            "read_iops_device",
            "riops",
            b.throttle_read_iops_device(),
        ),
        (
            "blockIO.throttleWriteIOPSDevice",
            "write_iops_device",
            "wiops",
            b.throttle_write_iops_device(),
        ),
    ];
    let any_throttle = throttles
        .iter()
        .any(|t| t.3.as_ref().is_some_and(|v| !v.is_empty()));
    if weight == 0 && leaf == 0 && wdev.is_empty() && !any_throttle {
        return Ok(());
    }
    let (ctrl, field) = if weight != 0 {
        ("blockIO.weight", weight.to_string())
    } else {
        ("blockIO", String::new())
    };
    let h = match c.m.v1("blkio") {
        Some(h) => h.clone(),
        None => c.need("io", ctrl, &field)?.clone(),
    };
    let d = &h.path;
    if h.version == 1 {
        // Prefer CFQ's blkio.weight; hosts with only BFQ have blkio.bfq.weight.
        let (wfile, wdfile) = if d.join("blkio.weight").exists() || will_exist(&d.join("x")) {
            ("blkio.weight", "blkio.weight_device")
        } else if d.join("blkio.bfq.weight").exists() {
            ("blkio.bfq.weight", "blkio.bfq.weight_device")
        } else {
            ("", "")
        };
        if weight != 0 {
            if wfile.is_empty() {
                return Err(unsupported(
                    "blockIO.weight",
                    weight,
                    format!(
                        "neither blkio.weight nor blkio.bfq.weight exists in {}",
                        d.display()
                    ),
                ));
            }
            c.plan.w(d, wfile, weight.to_string());
        }
        if leaf != 0 {
            v1_optional_file(
                c,
                d,
                "blockIO.leafWeight",
                "blkio.leaf_weight",
                i64::from(leaf),
            )?;
        }
        for wd in wdev {
            if let Some(w) = wd.weight() {
                if wdfile.is_empty() {
                    return Err(unsupported(
                        "blockIO.weightDevice",
                        format!("{}:{} {w}", wd.major(), wd.minor()),
                        format!("no blkio weight_device file in {}", d.display()),
                    ));
                }
                c.plan
                    .w(d, wdfile, format!("{}:{} {w}", wd.major(), wd.minor()));
            }
            if let Some(lw) = wd.leaf_weight() {
                let v = format!("{}:{} {lw}", wd.major(), wd.minor());
                let p = d.join("blkio.leaf_weight_device");
                if !p.exists() && !will_exist(&p) {
                    return Err(unsupported(
                        "blockIO.weightDevice.leafWeight",
                        v,
                        format!("{} does not exist", p.display()),
                    ));
                }
                c.plan.w(d, "blkio.leaf_weight_device", v);
            }
        }
        for (_, suffix, _, devs) in &throttles {
            for t in devs.as_deref().unwrap_or(&[]) {
                c.plan.w(
                    d,
                    &format!("blkio.throttle.{suffix}"),
                    format!("{}:{} {}", t.major(), t.minor(), t.rate()),
                );
            }
        }
    } else {
        let bfq = d.join("io.bfq.weight").exists();
        if weight != 0 {
            if bfq {
                c.plan.w(d, "io.bfq.weight", weight.to_string());
            } else {
                c.plan
                    .w(d, "io.weight", blkio_to_io_weight(weight).to_string());
            }
        }
        if leaf != 0 {
            return Err(unsupported(
                "blockIO.leafWeight",
                leaf,
                "leaf weights are not supported by cgroup v2",
            ));
        }
        for wd in wdev {
            if let Some(w) = wd.weight() {
                let (file, v) = if bfq {
                    ("io.bfq.weight", u64::from(w))
                } else {
                    ("io.weight", blkio_to_io_weight(w))
                };
                c.plan
                    .w(d, file, format!("{}:{} {v}", wd.major(), wd.minor()));
            }
            if let Some(lw) = wd.leaf_weight() {
                return Err(unsupported(
                    "blockIO.weightDevice.leafWeight",
                    lw,
                    "leaf weights are not supported by cgroup v2",
                ));
            }
        }
        for (_, _, key, devs) in &throttles {
            for t in devs.as_deref().unwrap_or(&[]) {
                c.plan.w(
                    d,
                    "io.max",
                    format!("{}:{} {key}={}", t.major(), t.minor(), t.rate()),
                );
            }
        }
    }
    Ok(())
}

/// "2MB", "1GB", "64KB": digits then K/M/G then B.
fn valid_page_size(s: &str) -> bool {
    let Some(num) = s
        .strip_suffix("KB")
        .or_else(|| s.strip_suffix("MB"))
        .or_else(|| s.strip_suffix("GB"))
    else {
        return false;
    };
    !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit())
}

fn hugetlb(c: &mut Ctx, size: &str, limit: i64) -> Result<()> {
    if !valid_page_size(size) {
        return Err(Error::InvalidValue {
            field: "hugepageLimits.pageSize",
            value: format!("{size:?}"),
            reason: "expected a size like 2MB or 1GB".into(),
        });
    }
    let field = format!("hugepageLimits.{size}");
    let h = c.need("hugetlb", &field, limit)?.clone();
    let d = &h.path;
    let (file, rsvd) = if h.version == 1 {
        (
            format!("hugetlb.{size}.limit_in_bytes"),
            format!("hugetlb.{size}.rsvd.limit_in_bytes"),
        )
    } else {
        (
            format!("hugetlb.{size}.max"),
            format!("hugetlb.{size}.rsvd.max"),
        )
    };
    let value = if h.version == 1 {
        limit.to_string()
    } else {
        max_or(limit)
    };
    let p = d.join(&file);
    if !p.exists() && !will_exist(&p) {
        return Err(unsupported(
            &field,
            limit,
            format!("{} does not exist (page size not supported)", p.display()),
        ));
    }
    c.plan.w(d, &file, value.clone());
    if d.join(&rsvd).exists() {
        c.plan.w(d, &rsvd, value);
    }
    Ok(())
}

fn network(c: &mut Ctx, n: &LinuxNetwork) -> Result<()> {
    if let Some(id) = n.class_id().filter(|&id| id != 0) {
        let h = c.m.v1("net_cls").ok_or_else(|| {
            unsupported(
                "network.classID",
                id,
                "no v1 net_cls hierarchy is mounted (cgroup v2 has no net_cls)",
            )
        })?;
        let d = h.path.clone();
        c.plan.w(&d, "net_cls.classid", id.to_string());
    }
    if let Some(prios) = n.priorities().as_ref().filter(|p| !p.is_empty()) {
        let first = format!("{} {}", prios[0].name(), prios[0].priority());
        let h = c.m.v1("net_prio").ok_or_else(|| {
            unsupported(
                "network.priorities",
                &first,
                "no v1 net_prio hierarchy is mounted (cgroup v2 has no net_prio)",
            )
        })?;
        let d = h.path.clone();
        for p in prios {
            c.plan.w(
                &d,
                "net_prio.ifpriomap",
                format!("{} {}", p.name(), p.priority()),
            );
        }
    }
    Ok(())
}
