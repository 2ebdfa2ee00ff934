//! Tar entry paths and link targets through the layer unpacker: whatever a
//! malicious layer names (`..`, absolute paths, symlinks and hard links
//! swapped under later entries, whiteouts), nothing is written, linked or
//! removed outside the layer's directory.
//!
//! The input is a list of entries: a kind byte (file, directory, symlink,
//! hard link, whiteout-looking file), a NUL-terminated name, a
//! NUL-terminated link target, a length byte and that many content bytes.
//! Absolute link targets are placed in the fuzzer's sandbox (around the
//! layer directory), so that an escape lands where it is seen instead of
//! on the host.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn take<'a>(d: &mut &'a [u8]) -> &'a [u8] {
    let end = d.iter().position(|&b| b == 0).unwrap_or(d.len());
    let (s, rest) = d.split_at(end);
    *d = rest.get(1..).unwrap_or(&[]);
    s
}

fn build(mut d: &[u8], sandbox: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut n = 0;
    while let Some((&kind, rest)) = d.split_first() {
        d = rest;
        n += 1;
        if n > 24 {
            break;
        }
        let name = take(&mut d);
        let mut link = take(&mut d).to_vec();
        if link.first() == Some(&b'/') {
            let mut p = sandbox.as_os_str().as_encoded_bytes().to_vec();
            p.extend_from_slice(&link);
            link = p;
        }
        let len = d.first().copied().unwrap_or(0) as usize;
        d = d.get(1..).unwrap_or(&[]);
        let body = &d[..len.min(d.len())];
        d = &d[body.len()..];
        let mut h = tar::Header::new_ustar();
        let (ty, mode, body): (tar::EntryType, u32, &[u8]) = match kind % 5 {
            0 => (tar::EntryType::Regular, 0o644, body),
            1 => (tar::EntryType::Directory, 0o755, &[]),
            2 => (tar::EntryType::Symlink, 0o777, &[]),
            3 => (tar::EntryType::Link, 0o644, &[]),
            _ => (tar::EntryType::Regular, 0o600, body),
        };
        let old = h.as_old_mut();
        let nl = name.len().min(old.name.len());
        old.name[..nl].copy_from_slice(&name[..nl]);
        let ll = link.len().min(old.linkname.len());
        old.linkname[..ll].copy_from_slice(&link[..ll]);
        h.set_entry_type(ty);
        h.set_mode(mode);
        h.set_size(body.len() as u64);
        h.set_mtime(1);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(body);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fuzz_target!(|data: &[u8]| {
    let sandbox = tempfile::tempdir().unwrap();
    let root = sandbox.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let canary = sandbox.path().join("canary");
    std::fs::write(&canary, b"canary").unwrap();
    let tar = build(data, sandbox.path());
    let opts = image::UnpackOptions { same_owner: false };
    let _ = image::unpack::unpack_tar(&tar[..], &root, "fuzz", &opts);
    let mut names: Vec<String> = std::fs::read_dir(sandbox.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["canary", "root"],
        "an entry escaped the layer directory"
    );
    let m = std::fs::symlink_metadata(&canary).unwrap();
    assert!(
        m.is_file() && m.nlink() == 1 && m.len() == 6,
        "the canary was linked or changed"
    );
    assert_eq!(std::fs::read(&canary).unwrap(), b"canary");
    // The layer directory itself is still a directory (not replaced).
    assert!(std::fs::symlink_metadata(&root).unwrap().is_dir());
});
