//! Thin wrappers over syscalls that neither `nix` nor `std` expose:
//! extended attributes on paths without following symlinks. All `unsafe`
//! in the crate lives here.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstring(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in name"))
}

/// `lsetxattr(2)`: set an extended attribute on `path` itself (a symlink
/// is not followed).
pub fn lsetxattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let p = cstring(path.as_os_str().as_bytes())?;
    let n = cstring(name.as_bytes())?;
    // SAFETY: `p` and `n` are valid NUL-terminated strings that outlive the
    // call; `value` is a valid slice whose pointer and length are passed
    // together; the kernel only reads these buffers.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `lgetxattr(2)`: read an extended attribute of `path` itself;
/// `Ok(None)` if it is not set.
pub fn lgetxattr(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let p = cstring(path.as_os_str().as_bytes())?;
    let n = cstring(name.as_bytes())?;
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: `p` and `n` are valid NUL-terminated strings; `buf` is a
        // writable buffer of exactly `buf.len()` bytes, and the kernel
        // writes at most that many.
        let rc =
            unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if rc >= 0 {
            buf.truncate(rc as usize);
            return Ok(Some(buf));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENODATA) => return Ok(None),
            Some(libc::ERANGE) if buf.len() < (1 << 20) => buf.resize(buf.len() * 4, 0),
            _ => return Err(err),
        }
    }
}

/// `llistxattr(2)`: names of the extended attributes of `path` itself.
pub fn llistxattr(path: &Path) -> io::Result<Vec<String>> {
    let p = cstring(path.as_os_str().as_bytes())?;
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: `p` is a valid NUL-terminated string; `buf` is writable
        // for `buf.len()` bytes and the kernel writes at most that many.
        let rc = unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if rc >= 0 {
            buf.truncate(rc as usize);
            return Ok(buf
                .split(|&b| b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| OsStr::from_bytes(s).to_string_lossy().into_owned())
                .collect());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ERANGE) if buf.len() < (1 << 20) => buf.resize(buf.len() * 4, 0),
            _ => return Err(err),
        }
    }
}

/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`: start writeback of the dirty
/// pages in `[offset, offset + len)` of `f` without waiting for it, so the
/// disk works while the caller goes on producing data; a later fsync,
/// fdatasync or syncfs then finds little left to write. Best effort: an
/// error (a filesystem without support) only loses the head start.
pub fn start_writeback(f: &impl AsFd, offset: u64, len: u64) {
    let (Ok(off), Ok(n)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the fd is valid for the duration of the call (borrowed from
    // `f`); sync_file_range reads no user memory.
    unsafe {
        libc::sync_file_range(f.as_fd().as_raw_fd(), off, n, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_xattr_roundtrip_or_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        match lsetxattr(&f, "user.berth.test", b"v") {
            Ok(()) => {
                assert_eq!(lgetxattr(&f, "user.berth.test").unwrap().unwrap(), b"v");
                assert!(llistxattr(&f)
                    .unwrap()
                    .contains(&"user.berth.test".to_string()));
            }
            Err(e) => berth_testkit::skip_host(&format!("user xattrs unsupported here: {e}")),
        }
        assert_eq!(lgetxattr(&f, "user.berth.absent").ok().flatten(), None);
    }
}
