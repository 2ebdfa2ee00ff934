//! Device access rules: the v1 `devices.allow`/`devices.deny` writes and the
//! cgroup2 eBPF filter (BPF_PROG_TYPE_CGROUP_DEVICE), generated the way
//! runc's `devicefilter` package does it: rules are first normalised by an
//! emulator of the v1 devices controller, then each remaining rule becomes a
//! block of "if type/access/major/minor do not match, jump to the next block;
//! else return allow/deny", ending in the default action.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Error, Result};
use crate::fs::Write;
use crate::sys;

/// One device cgroup rule. `None` major/minor is the `*` wildcard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    /// 'a', 'b' or 'c'.
    pub typ: char,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// Subset of "rwm".
    pub access: String,
}

impl std::fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |x: Option<u32>| x.map_or_else(|| "*".to_string(), |v| v.to_string());
        write!(
            f,
            "{} {}:{} {}",
            self.typ,
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

impl DeviceRule {
    /// Convert and validate an OCI rule (missing type = 'a', missing access = "rwm").
    pub fn from_oci(d: &LinuxDeviceCgroup) -> Result<DeviceRule> {
        let typ = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => 'a',
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::C | LinuxDeviceType::U => 'c',
            LinuxDeviceType::P => {
                return Err(Error::DeviceRule {
                    rule: d.to_string(),
                    reason: "type 'p' cannot be used in device cgroup rules".into(),
                })
            }
        };
        let num = |v: Option<i64>| -> Result<Option<u32>> {
            match v {
                None => Ok(None),
                Some(x) if x < 0 => Ok(None),
                Some(x) => u32::try_from(x).map(Some).map_err(|_| Error::DeviceRule {
                    rule: d.to_string(),
                    reason: format!("device number {x} out of range"),
                }),
            }
        };
        let access = d.access().clone().unwrap_or_else(|| "rwm".into());
        let rule = DeviceRule {
            allow: d.allow(),
            typ,
            major: num(d.major())?,
            minor: num(d.minor())?,
            access: if access.is_empty() {
                "rwm".into()
            } else {
                access
            },
        };
        rule.validate()?;
        Ok(rule)
    }

    fn validate(&self) -> Result<()> {
        if !matches!(self.typ, 'a' | 'b' | 'c') {
            return Err(self.err("type must be a, b or c"));
        }
        if self.access.is_empty() || !self.access.chars().all(|c| "rwm".contains(c)) {
            return Err(self.err("access must be a non-empty subset of \"rwm\""));
        }
        Ok(())
    }

    fn err(&self, reason: &str) -> Error {
        Error::DeviceRule {
            rule: self.to_string(),
            reason: reason.into(),
        }
    }

    fn perms(&self) -> u8 {
        perms_of(&self.access)
    }
}

const R: u8 = 1;
const W: u8 = 2;
const M: u8 = 4;

fn perms_of(s: &str) -> u8 {
    s.chars().fold(0, |acc, c| {
        acc | match c {
            'r' => R,
            'w' => W,
            'm' => M,
            _ => 0,
        }
    })
}

fn perms_str(p: u8) -> String {
    let mut s = String::new();
    if p & R != 0 {
        s.push('r');
    }
    if p & W != 0 {
        s.push('w');
    }
    if p & M != 0 {
        s.push('m');
    }
    s
}

/// Key of an exception: (major, minor, type) with `-1` for wildcard, which
/// also gives runc's sort order.
type Meta = (i64, i64, char);

/// An insertion-ordered map: the kernel lists v1 exceptions in the order
/// they were written, and the OCI spec asks for the listed order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ordered(Vec<(Meta, u8)>);

impl Ordered {
    fn get(&self, k: &Meta) -> Option<&u8> {
        self.0.iter().find(|(m, _)| m == k).map(|(_, v)| v)
    }
    fn get_mut(&mut self, k: &Meta) -> Option<&mut u8> {
        self.0.iter_mut().find(|(m, _)| m == k).map(|(_, v)| v)
    }
    fn remove(&mut self, k: &Meta) {
        self.0.retain(|(m, _)| m != k);
    }
    fn entry_or_zero(&mut self, k: Meta) -> &mut u8 {
        if let Some(i) = self.0.iter().position(|(m, _)| *m == k) {
            return &mut self.0[i].1;
        }
        self.0.push((k, 0));
        &mut self.0.last_mut().expect("just pushed").1
    }
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Meta, &u8)> {
        self.0.iter().map(|(m, v)| (m, v))
    }
    #[allow(dead_code)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// Emulation of the v1 devices controller state (runc's devices emulator),
/// keeping the order in which exceptions were given.
#[derive(Clone, Debug, Default)]
pub(crate) struct Emulator {
    pub default_allow: bool,
    pub rules: Ordered,
}

fn wild(x: Option<u32>) -> i64 {
    x.map_or(-1, i64::from)
}

impl Emulator {
    pub(crate) fn from_rules(rules: &[DeviceRule]) -> Result<Emulator> {
        let mut e = Emulator::default();
        for r in rules {
            e.apply(r)?;
        }
        Ok(e)
    }

    fn apply(&mut self, r: &DeviceRule) -> Result<()> {
        if r.typ == 'a' {
            // Any 'a' rule switches the whole cgroup (runc treats every 'a' rule as a *:* rwm).
            *self = Emulator {
                default_allow: r.allow,
                rules: Ordered::default(),
            };
            return Ok(());
        }
        let meta = (wild(r.major), wild(r.minor), r.typ);
        if r.allow == self.default_allow {
            // An exception being removed.
            for partial in [(-1, meta.1, r.typ), (meta.0, -1, r.typ), (-1, -1, r.typ)] {
                if partial == meta {
                    continue;
                }
                if self.rules.get(&partial).copied().unwrap_or(0) & r.perms() != 0 {
                    return Err(r.err("cannot punch a hole in an existing wildcard rule"));
                }
            }
            if let Some(p) = self.rules.get_mut(&meta) {
                *p &= !r.perms();
                if *p == 0 {
                    self.rules.remove(&meta);
                }
            }
        } else {
            *self.rules.entry_or_zero(meta) |= r.perms();
        }
        Ok(())
    }

    /// The exceptions in runc's order (by major, minor, type): for the eBPF
    /// program, where order does not change the verdict.
    pub(crate) fn sorted_exceptions(&self) -> Vec<DeviceRule> {
        let mut e: Vec<(Meta, DeviceRule)> = self
            .rules
            .iter()
            .map(|(m, _)| *m)
            .zip(self.exceptions())
            .collect();
        e.sort_by_key(|(m, _)| *m);
        e.into_iter().map(|(_, r)| r).collect()
    }

    /// The normalised exceptions, in the order given, each with the non-default action.
    pub(crate) fn exceptions(&self) -> Vec<DeviceRule> {
        let num = |x: i64| u32::try_from(x).ok();
        self.rules
            .iter()
            .map(|(&(maj, min, typ), &p)| DeviceRule {
                allow: !self.default_allow,
                typ,
                major: num(maj),
                minor: num(min),
                access: perms_str(p),
            })
            .collect()
    }
}

/// The writes that bring a fresh v1 devices cgroup to `rules`: first the
/// disruptive `a *:* rwm` to set the default, then every exception.
pub(crate) fn v1_writes(dir: &Path, rules: &[DeviceRule]) -> Result<Vec<Write>> {
    let emu = Emulator::from_rules(rules)?;
    let file = |allow: bool| {
        if allow {
            "devices.allow"
        } else {
            "devices.deny"
        }
    };
    let mut w = vec![Write::new(dir, file(emu.default_allow), "a *:* rwm")];
    for r in emu.exceptions() {
        w.push(Write::new(dir, file(r.allow), r.to_string()));
    }
    Ok(w)
}

// --- eBPF program generation ---------------------------------------------

/// One eBPF instruction (struct bpf_insn).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// The kernel's 8-byte encoding.
    pub fn encode(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.dst & 0x0f) | ((self.src & 0x0f) << 4);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

const BPF_LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const BPF_ALU_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const BPF_ALU_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const BPF_ALU_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const BPF_ALU_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const BPF_JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const BPF_JMP_JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const BPF_JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

const BPF_DEVCG_ACC_MKNOD: i32 = 1;
const BPF_DEVCG_ACC_READ: i32 = 2;
const BPF_DEVCG_ACC_WRITE: i32 = 4;
const BPF_DEVCG_DEV_BLOCK: i32 = 1;
const BPF_DEVCG_DEV_CHAR: i32 = 2;

fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

/// Generate the device filter program for `rules` (in OCI order).
pub fn device_filter_program(rules: &[DeviceRule]) -> Result<Vec<Insn>> {
    for r in rules {
        r.validate()?;
    }
    let emu = Emulator::from_rules(rules)?;
    // Each block: instructions with `None` jump targets meaning "next block".
    let mut prog: Vec<Insn> = vec![
        // r2 = type (low 16 bits of access_type), r3 = access (high 16 bits)
        ins(BPF_LDX_MEM_W, 2, 1, 0, 0),
        ins(BPF_ALU_AND_K, 2, 0, 0, 0xffff),
        ins(BPF_LDX_MEM_W, 3, 1, 0, 0),
        ins(BPF_ALU_RSH_K, 3, 0, 0, 16),
        // r4 = major, r5 = minor
        ins(BPF_LDX_MEM_W, 4, 1, 4, 0),
        ins(BPF_LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in emu.sorted_exceptions() {
        let bpf_type = match rule.typ {
            'c' => BPF_DEVCG_DEV_CHAR,
            'b' => BPF_DEVCG_DEV_BLOCK,
            _ => return Err(rule.err("wildcard type in a normalised rule")),
        };
        let mut acc = 0;
        for c in rule.access.chars() {
            acc |= match c {
                'r' => BPF_DEVCG_ACC_READ,
                'w' => BPF_DEVCG_ACC_WRITE,
                _ => BPF_DEVCG_ACC_MKNOD,
            };
        }
        let full = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
        let mut block = vec![ins(BPF_JMP_JNE_K, 2, 0, 0, bpf_type)];
        if acc != full {
            // if (r3 & acc) != r3 goto next: the request must be a subset.
            block.push(ins(BPF_ALU_MOV_X, 1, 3, 0, 0));
            block.push(ins(BPF_ALU_AND_K, 1, 0, 0, acc));
            block.push(ins(BPF_JMP_JNE_X, 1, 3, 0, 0));
        }
        if let Some(maj) = rule.major {
            block.push(ins(BPF_JMP_JNE_K, 4, 0, 0, maj as i32));
        }
        if let Some(min) = rule.minor {
            block.push(ins(BPF_JMP_JNE_K, 5, 0, 0, min as i32));
        }
        block.push(ins(BPF_ALU_MOV_K, 0, 0, 0, i32::from(rule.allow)));
        block.push(ins(BPF_JMP_EXIT, 0, 0, 0, 0));
        // Jumps go to the first instruction after this block.
        let len = block.len();
        for (i, insn) in block.iter_mut().enumerate() {
            if insn.code == BPF_JMP_JNE_K || insn.code == BPF_JMP_JNE_X {
                insn.off = (len - i - 1) as i16;
            }
        }
        prog.extend(block);
    }
    prog.push(ins(BPF_ALU_MOV_K, 0, 0, 0, i32::from(emu.default_allow)));
    prog.push(ins(BPF_JMP_EXIT, 0, 0, 0, 0));
    Ok(prog)
}

/// Load a device filter for `rules` and attach it to the cgroup2 directory
/// `dir` (BPF_F_ALLOW_MULTI), then detach any device programs that were
/// attached there before, so that updates replace the filter.
pub fn attach_device_filter(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    let prog = device_filter_program(rules)?;
    let bytes: Vec<u8> = prog.iter().flat_map(|i| i.encode()).collect();
    let bpf_err = |op: &'static str, log: String, source: std::io::Error| Error::Bpf {
        op,
        path: PathBuf::from(dir),
        log,
        source,
    };
    let cg = nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| bpf_err("open cgroup", String::new(), e.into()))?;
    let old =
        sys::query_device_progs(&cg).map_err(|e| bpf_err("BPF_PROG_QUERY", String::new(), e))?;
    let prog_fd = sys::load_cgroup_device_prog(&bytes, "Apache")
        .map_err(|(e, log)| bpf_err("BPF_PROG_LOAD", verifier_log(&log), e))?;
    sys::attach_device_prog(&cg, &prog_fd)
        .map_err(|e| bpf_err("BPF_PROG_ATTACH", String::new(), e))?;
    for id in old {
        // A program that vanished in between is fine; anything else is reported.
        match sys::prog_fd_by_id(id) {
            Ok(fd) => sys::detach_device_prog(&cg, &fd)
                .or_else(|e| {
                    if e.raw_os_error() == Some(libc::ENOENT) {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .map_err(|e| bpf_err("BPF_PROG_DETACH", String::new(), e))?,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(bpf_err("BPF_PROG_GET_FD_BY_ID", String::new(), e)),
        }
    }
    Ok(())
}

fn verifier_log(log: &str) -> String {
    let t = log.trim().replace('\n', " | ");
    if t.is_empty() {
        String::new()
    } else {
        format!(" (verifier: {t})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: bool, typ: char, major: i64, minor: i64, access: &str) -> DeviceRule {
        DeviceRule {
            allow,
            typ,
            major: u32::try_from(major).ok(),
            minor: u32::try_from(minor).ok(),
            access: access.into(),
        }
    }

    /// Render like cilium/ebpf's asm listing used in runc's tests, jump
    /// targets as absolute instruction indexes.
    fn render(p: &[Insn]) -> Vec<String> {
        p.iter()
            .enumerate()
            .map(|(i, x)| {
                let tgt = i as i64 + 1 + x.off as i64;
                match x.code {
                    BPF_LDX_MEM_W => format!("LdXMemW r{} r{} {}", x.dst, x.src, x.off),
                    BPF_ALU_AND_K => format!("AndImm32 r{} {}", x.dst, x.imm),
                    BPF_ALU_RSH_K => format!("RShImm32 r{} {}", x.dst, x.imm),
                    BPF_ALU_MOV_X => format!("MovReg32 r{} r{}", x.dst, x.src),
                    BPF_ALU_MOV_K => format!("MovImm32 r{} {}", x.dst, x.imm),
                    BPF_JMP_JNE_K => format!("JNEImm r{} {} ->{}", x.dst, x.imm, tgt),
                    BPF_JMP_JNE_X => format!("JNEReg r{} r{} ->{}", x.dst, x.src, tgt),
                    BPF_JMP_EXIT => "Exit".to_string(),
                    c => format!("?{c:#x}"),
                }
            })
            .collect()
    }

    const PROLOGUE: [&str; 6] = [
        "LdXMemW r2 r1 0",
        "AndImm32 r2 65535",
        "LdXMemW r3 r1 0",
        "RShImm32 r3 16",
        "LdXMemW r4 r1 4",
        "LdXMemW r5 r1 8",
    ];

    fn expect(rest: &[&str]) -> Vec<String> {
        PROLOGUE.iter().chain(rest).map(|s| s.to_string()).collect()
    }

    #[test]
    fn nil_rules_deny_all() {
        let p = device_filter_program(&[]).unwrap();
        assert_eq!(render(&p), expect(&["MovImm32 r0 0", "Exit"]));
    }

    #[test]
    fn privileged() {
        let p = device_filter_program(&[rule(true, 'a', -1, -1, "rwm")]).unwrap();
        assert_eq!(render(&p), expect(&["MovImm32 r0 1", "Exit"]));
    }

    #[test]
    fn privileged_except_one() {
        let p = device_filter_program(&[
            rule(true, 'a', -1, -1, "rwm"),
            rule(false, 'b', 8, 0, "rwm"),
        ])
        .unwrap();
        assert_eq!(
            render(&p),
            expect(&[
                "JNEImm r2 1 ->11",
                "JNEImm r4 8 ->11",
                "JNEImm r5 0 ->11",
                "MovImm32 r0 0",
                "Exit",
                "MovImm32 r0 1",
                "Exit"
            ])
        );
    }

    #[test]
    fn weird_order_matches_runc() {
        // 8:1 is allowed (reset by the later 'a'), 8:2 denied.
        let p = device_filter_program(&[
            rule(false, 'b', 8, 1, "rwm"),
            rule(true, 'a', -1, -1, "rwm"),
            rule(false, 'b', 8, 2, "rwm"),
        ])
        .unwrap();
        assert_eq!(
            render(&p),
            expect(&[
                "JNEImm r2 1 ->11",
                "JNEImm r4 8 ->11",
                "JNEImm r5 2 ->11",
                "MovImm32 r0 0",
                "Exit",
                "MovImm32 r0 1",
                "Exit"
            ])
        );
    }

    #[test]
    fn builtin_allow_list_matches_runc() {
        let rules = vec![
            rule(true, 'c', -1, -1, "m"),
            rule(true, 'b', -1, -1, "m"),
            rule(true, 'c', 1, 3, "rwm"),
            rule(true, 'c', 1, 8, "rwm"),
            rule(true, 'c', 1, 7, "rwm"),
            rule(true, 'c', 5, 0, "rwm"),
            rule(true, 'c', 1, 5, "rwm"),
            rule(true, 'c', 1, 9, "rwm"),
            rule(true, 'c', 136, -1, "rwm"),
            rule(true, 'c', 5, 2, "rwm"),
            rule(true, 'c', 10, 200, "rwm"),
        ];
        let p = device_filter_program(&rules).unwrap();
        let r = render(&p);
        assert_eq!(r.len(), 64, "{r:#?}");
        // block-0: (b, *, *, m)
        assert_eq!(
            &r[6..12],
            &[
                "JNEImm r2 1 ->12",
                "MovReg32 r1 r3",
                "AndImm32 r1 1",
                "JNEReg r1 r3 ->12",
                "MovImm32 r0 1",
                "Exit"
            ]
        );
        // block-1: (c, *, *, m)
        assert_eq!(&r[12], "JNEImm r2 2 ->18");
        // block-2: c 1:3
        assert_eq!(
            &r[18..23],
            &[
                "JNEImm r2 2 ->23",
                "JNEImm r4 1 ->23",
                "JNEImm r5 3 ->23",
                "MovImm32 r0 1",
                "Exit"
            ]
        );
        // block-9: tuntap, block-10: /dev/pts
        assert_eq!(&r[54], "JNEImm r4 10 ->58");
        assert_eq!(&r[55], "JNEImm r5 200 ->58");
        assert_eq!(
            &r[58..64],
            &[
                "JNEImm r2 2 ->62",
                "JNEImm r4 136 ->62",
                "MovImm32 r0 1",
                "Exit",
                "MovImm32 r0 0",
                "Exit"
            ]
        );
    }

    #[test]
    fn encoding() {
        let i = ins(BPF_JMP_JNE_X, 1, 3, 5, 0);
        assert_eq!(i.encode(), [0x5d, 0x31, 5, 0, 0, 0, 0, 0]);
        let i = ins(BPF_ALU_AND_K, 2, 0, 0, 0xffff);
        assert_eq!(i.encode(), [0x54, 0x02, 0, 0, 0xff, 0xff, 0, 0]);
    }

    #[test]
    fn punching_holes_is_refused() {
        let e =
            Emulator::from_rules(&[rule(true, 'c', -1, -1, "rwm"), rule(false, 'c', 1, 3, "r")])
                .unwrap_err()
                .to_string();
        assert!(e.contains("c 1:3 r") && e.contains("punch"), "{e}");
    }

    #[test]
    fn removing_allow_exception() {
        let e = Emulator::from_rules(&[
            rule(false, 'a', -1, -1, "rwm"),
            rule(true, 'c', 1, 3, "rwm"),
            rule(false, 'c', 1, 3, "w"),
        ])
        .unwrap();
        assert_eq!(e.exceptions(), vec![rule(true, 'c', 1, 3, "rm")]);
    }

    #[test]
    fn v1_writes_start_with_deny_all() {
        let d = Path::new("/cg");
        let w = v1_writes(
            d,
            &[
                rule(false, 'a', -1, -1, "rwm"),
                rule(true, 'c', 1, 3, "rwm"),
                rule(true, 'c', 136, -1, "rw"),
            ],
        )
        .unwrap();
        let got: Vec<(String, String)> = w
            .iter()
            .map(|w| (w.path.display().to_string(), w.value.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/cg/devices.deny".into(), "a *:* rwm".into()),
                ("/cg/devices.allow".into(), "c 1:3 rwm".into()),
                ("/cg/devices.allow".into(), "c 136:* rw".into()),
            ]
        );
    }

    #[test]
    fn bad_rules() {
        let mut d = LinuxDeviceCgroup::default();
        d.set_access(Some("rwx".into()));
        let e = DeviceRule::from_oci(&d).unwrap_err().to_string();
        assert!(e.contains("rwx"), "{e}");
        let mut d = LinuxDeviceCgroup::default();
        d.set_typ(Some(LinuxDeviceType::P));
        assert!(DeviceRule::from_oci(&d).is_err());
        let mut d = LinuxDeviceCgroup::default();
        d.set_typ(Some(LinuxDeviceType::C));
        d.set_major(Some(1 << 40));
        assert!(DeviceRule::from_oci(&d).is_err());
    }
}
