//! Raw bpf(2) calls for cgroup device programs. The only module with `unsafe`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;

const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// `union bpf_attr` as a zero-padded buffer; every command's struct is a
/// prefix of it. 128 bytes is larger than any field we set, and the kernel
/// requires the unused tail to be zero.
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 128])
    }
    fn u32_at(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64_at(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn get_u32(&self, off: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.0[off..off + 4]);
        u32::from_ne_bytes(b)
    }
}

fn bpf(cmd: libc::c_long, attr: &mut Attr) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a valid, writable, 8-aligned buffer of the size we
    // pass; any pointers stored in it (set by the callers below) point to
    // buffers that outlive this call. bpf(2) reads/writes only within it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.0.as_mut_ptr(),
            std::mem::size_of::<Attr>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned_fd(r: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(r).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned `fd` as a new file descriptor that
    // nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// BPF_PROG_LOAD a BPF_PROG_TYPE_CGROUP_DEVICE program (`insns` is the
/// 8-byte-per-instruction encoding). On failure, returns the verifier log too.
pub(crate) fn load_cgroup_device_prog(
    insns: &[u8],
    license: &str,
) -> Result<OwnedFd, (io::Error, String)> {
    let lic = std::ffi::CString::new(license)
        .map_err(|_| (io::Error::from_raw_os_error(libc::EINVAL), String::new()))?;
    let mut log = vec![0u8; 64 * 1024];
    let load = |log_level: u32, log: &mut [u8]| {
        let mut a = Attr::new();
        a.u32_at(0, BPF_PROG_TYPE_CGROUP_DEVICE)
            .u32_at(4, (insns.len() / 8) as u32)
            .u64_at(8, insns.as_ptr() as u64)
            .u64_at(16, lic.as_ptr() as u64)
            .u32_at(24, log_level)
            .u32_at(28, if log_level > 0 { log.len() as u32 } else { 0 })
            .u64_at(
                32,
                if log_level > 0 {
                    log.as_mut_ptr() as u64
                } else {
                    0
                },
            );
        bpf(BPF_PROG_LOAD, &mut a)
    };
    match load(0, &mut log) {
        Ok(r) => owned_fd(r).map_err(|e| (e, String::new())),
        Err(e) => {
            // Retry with the verifier log enabled to explain the failure.
            let _ = load(1, &mut log);
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err((e, String::from_utf8_lossy(&log[..end]).into_owned()))
        }
    }
}

/// BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI to a cgroup2 directory fd.
pub(crate) fn attach_device_prog(cgroup: &OwnedFd, prog: &OwnedFd) -> io::Result<()> {
    let mut a = Attr::new();
    a.u32_at(0, cgroup.as_raw_fd() as u32)
        .u32_at(4, prog.as_raw_fd() as u32)
        .u32_at(8, BPF_CGROUP_DEVICE)
        .u32_at(12, BPF_F_ALLOW_MULTI);
    bpf(BPF_PROG_ATTACH, &mut a).map(|_| ())
}

/// BPF_PROG_DETACH one program from a cgroup2 directory fd.
pub(crate) fn detach_device_prog(cgroup: &OwnedFd, prog: &OwnedFd) -> io::Result<()> {
    let mut a = Attr::new();
    a.u32_at(0, cgroup.as_raw_fd() as u32)
        .u32_at(4, prog.as_raw_fd() as u32)
        .u32_at(8, BPF_CGROUP_DEVICE);
    bpf(BPF_PROG_DETACH, &mut a).map(|_| ())
}

/// Ids of the device programs attached directly to a cgroup.
pub(crate) fn query_device_progs(cgroup: &OwnedFd) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut a = Attr::new();
    a.u32_at(0, cgroup.as_raw_fd() as u32)
        .u32_at(4, BPF_CGROUP_DEVICE)
        .u64_at(16, ids.as_mut_ptr() as u64)
        .u32_at(24, ids.len() as u32);
    bpf(BPF_PROG_QUERY, &mut a)?;
    let n = (a.get_u32(24) as usize).min(ids.len());
    ids.truncate(n);
    Ok(ids)
}

/// A new fd for the program with this id.
pub(crate) fn prog_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut a = Attr::new();
    a.u32_at(0, id);
    owned_fd(bpf(BPF_PROG_GET_FD_BY_ID, &mut a)?)
}
