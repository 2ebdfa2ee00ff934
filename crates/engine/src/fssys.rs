//! Mount calls for volumes (`local` driver `type=`/`device=`/`o=`); the
//! only `unsafe` of the volume, cp and stats code.

use std::ffi::CString;
use std::io;
use std::path::Path;

fn cstr(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "contains NUL"))
}

/// `mount -t TYPE DEVICE TARGET -o OPTIONS`.
pub fn mount(device: &str, target: &Path, fstype: &str, options: &str) -> io::Result<()> {
    let d = cstr(device.as_bytes())?;
    let t = cstr(target.as_os_str().as_encoded_bytes())?;
    let ty = cstr(fstype.as_bytes())?;
    let o = cstr(options.as_bytes())?;
    // SAFETY: valid NUL-terminated strings that outlive the call.
    let r = unsafe {
        libc::mount(
            d.as_ptr(),
            t.as_ptr(),
            ty.as_ptr(),
            0,
            o.as_ptr() as *const libc::c_void,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Lazy unmount; not mounted is fine.
pub fn unmount(target: &Path) -> io::Result<()> {
    if !is_mount_point(target) {
        return Ok(());
    }
    crate::sys::unmount(target)
}

/// Whether `p` is a mount point in this mount namespace.
/// The first of `paths` that is a mount point, from one read of the
/// mount table.
pub fn first_mounted(paths: &[std::path::PathBuf]) -> Option<&Path> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let points: std::collections::HashSet<&str> =
        mi.lines().filter_map(|l| l.split(' ').nth(4)).collect();
    paths
        .iter()
        .map(|p| p.as_path())
        .find(|p| points.contains(p.to_string_lossy().as_ref()))
}

pub fn is_mount_point(p: &Path) -> bool {
    let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = p.to_string_lossy();
    mi.lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| m == want))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_mounted_takes_the_first_mount_point_in_order() {
        let paths = [
            std::path::PathBuf::from("/no/such/mount"),
            std::path::PathBuf::from("/proc"),
            std::path::PathBuf::from("/"),
        ];
        assert_eq!(first_mounted(&paths), Some(Path::new("/proc")));
        assert_eq!(first_mounted(&paths[..1]), None);
    }
}
