//! The one rewrite of a build's new layer, in a single buffered pass:
//!
//! - SOURCE_DATE_EPOCH (BuildKit's rewrite-timestamp): every entry newer
//!   than the epoch gets the epoch as its mtime, so the same steps give the
//!   same layer whenever they run;
//! - a RUN's mount stubs (the mount points its mounts made in the root, see
//!   `mounts`) leave the layer as BuildKit removes them: an empty file or a
//!   directory stub goes unless the step wrote something below it.

use std::collections::BTreeSet;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Buffer of the pass's reads and writes.
const BUF: usize = 256 << 10;

/// `tar_file` (a layer tar) with the entries of `stubs` (clean paths
/// without the leading slash) that hold nothing of the step dropped and
/// every mtime newer than `epoch` clamped to it, written to a temp file in
/// `tmp_in` (rewound); `tar_file` itself when there is nothing to do.
/// `None` when no entry is left.
///
/// One read: an empty stub is held back (a header, no data) until an
/// entry below it comes, then written just before that entry; the ones
/// still held at the end go. The changes tar is a depth-first walk, so a
/// kept stub keeps its place.
pub(crate) fn rewrite_layer(
    tar_file: std::fs::File,
    stubs: &[String],
    epoch: Option<u64>,
    tmp_in: &Path,
) -> io::Result<Option<std::fs::File>> {
    if stubs.is_empty() && epoch.is_none() {
        return Ok(Some(tar_file));
    }
    let stubs: BTreeSet<&str> = stubs.iter().map(|s| s.as_str()).collect();
    let mut f = &tar_file;
    f.rewind()?;
    let mut a = tar::Archive::new(BufReader::with_capacity(BUF, f));
    let out = tempfile::tempfile_in(tmp_in)?;
    let mut b = tar::Builder::new(BufWriter::with_capacity(BUF, out));
    // Held stubs: clean path, raw path, header (mtime clamped).
    let mut held: Vec<(String, PathBuf, tar::Header)> = Vec::new();
    let mut any = false;
    for e in a.entries()? {
        let mut e = e?;
        let raw = e.path()?.into_owned();
        let p = clean(&raw.to_string_lossy());
        let mut h = e.header().clone();
        if let Some(epoch) = epoch {
            if h.mtime()? > epoch {
                h.set_mtime(epoch);
            }
        }
        let kind = h.entry_type();
        if stubs.contains(p.as_str()) && (kind.is_dir() || (kind.is_file() && h.size()? == 0)) {
            held.push((p, raw, h));
            continue;
        }
        // The held stubs above this entry stay, parents first.
        let mut i = 0;
        while i < held.len() {
            if under(&p, &held[i].0) {
                let (_, sraw, mut sh) = held.remove(i);
                b.append_data(&mut sh, &sraw, io::empty())?;
            } else {
                i += 1;
            }
        }
        any = true;
        match kind {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let t = e.link_name()?.map(|t| t.into_owned()).unwrap_or_default();
                b.append_link(&mut h, &raw, t)?;
            }
            _ => {
                let size = h.size()?;
                b.append_data(&mut h, &raw, (&mut e).take(size))?;
            }
        }
    }
    if !any && !held.is_empty() {
        return Ok(None);
    }
    let mut out = b.into_inner()?.into_inner().map_err(|e| e.into_error())?;
    out.flush()?;
    out.rewind()?;
    Ok(Some(out))
}

/// A tar entry's path as the stubs are written: no `./`, no leading or
/// trailing slash.
fn clean(p: &str) -> String {
    p.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

/// Whether `p` is below directory `d`.
fn under(p: &str, d: &str) -> bool {
    p.len() > d.len() && p.starts_with(d) && p.as_bytes()[d.len()] == b'/'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_entries_get_the_epoch() {
        let d = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(tempfile::tempfile_in(d.path()).unwrap());
        for (name, mtime) in [("old", 100u64), ("new", 5000)] {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_mtime(mtime);
            h.set_size(2);
            b.append_data(&mut h, name, &b"hi"[..]).unwrap();
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mtime(9000);
        h.set_size(0);
        b.append_link(&mut h, "link", "old").unwrap();
        let f = b.into_inner().unwrap();
        let out = rewrite_layer(f, &[], Some(1000), d.path())
            .unwrap()
            .unwrap();
        let mut a = tar::Archive::new(out);
        let got: Vec<(String, u64, Vec<u8>)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut data = vec![];
                e.read_to_end(&mut data).unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().mtime().unwrap(),
                    data,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("old".into(), 100, b"hi".to_vec()),
                ("new".into(), 1000, b"hi".to_vec()),
                ("link".into(), 1000, vec![]),
            ]
        );
    }

    fn tar_of(entries: &[(&str, &[u8], bool, u64)]) -> std::fs::File {
        let f = tempfile::tempfile().unwrap();
        let mut b = tar::Builder::new(f);
        for (p, data, dir, mtime) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(if *dir {
                tar::EntryType::Directory
            } else {
                tar::EntryType::Regular
            });
            h.set_mode(0o755);
            h.set_mtime(*mtime);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, p, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// Names and mtimes of the entries of `f`.
    fn entries(f: Option<std::fs::File>) -> Vec<(String, u64)> {
        let Some(f) = f else { return vec![] };
        let mut a = tar::Archive::new(f);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().mtime().unwrap(),
                )
            })
            .collect()
    }

    fn names(f: Option<std::fs::File>) -> Vec<String> {
        entries(f).into_iter().map(|(n, _)| n).collect()
    }

    fn stubs() -> Vec<String> {
        vec![
            "run".to_string(),
            "run/secrets".into(),
            "run/secrets/a".into(),
        ]
    }

    #[test]
    fn stubs_leave_the_layer_unless_the_step_wrote_there() {
        let tmp = std::env::temp_dir();
        let t = tar_of(&[
            ("run/", b"", true, 0),
            ("run/secrets/", b"", true, 0),
            ("run/secrets/a", b"", false, 0),
            ("out", b"x", false, 0),
        ]);
        assert_eq!(
            names(rewrite_layer(t, &stubs(), None, &tmp).unwrap()),
            vec!["out"]
        );
        let t = tar_of(&[
            ("run/", b"", true, 0),
            ("run/kept", b"k", false, 0),
            ("run/secrets/", b"", true, 0),
            ("run/secrets/a", b"", false, 0),
        ]);
        assert_eq!(
            names(rewrite_layer(t, &stubs(), None, &tmp).unwrap()),
            vec!["run/", "run/kept"]
        );
        // A stub the step wrote into stays, its parents before it.
        let t = tar_of(&[
            ("run/", b"", true, 0),
            ("run/secrets/", b"", true, 0),
            ("run/secrets/a", b"data", false, 0),
            ("z", b"", false, 0),
        ]);
        assert_eq!(
            names(rewrite_layer(t, &stubs(), None, &tmp).unwrap()),
            vec!["run/", "run/secrets/", "run/secrets/a", "z"]
        );
        let t = tar_of(&[("run/secrets/a", b"", false, 0)]);
        assert!(rewrite_layer(t, &stubs(), None, &tmp).unwrap().is_none());
    }

    /// Stubs and the epoch in the same pass: the kept stub is clamped too.
    #[test]
    fn stubs_and_epoch_in_one_pass() {
        let tmp = std::env::temp_dir();
        let t = tar_of(&[
            ("run/", b"", true, 5000),
            ("run/secrets/", b"", true, 5000),
            ("run/secrets/a", b"", false, 5000),
            ("run/x", b"x", false, 200),
            ("y", b"y", false, 7000),
        ]);
        assert_eq!(
            entries(rewrite_layer(t, &stubs(), Some(1000), &tmp).unwrap()),
            vec![
                ("run/".to_string(), 1000),
                ("run/x".into(), 200),
                ("y".into(), 1000)
            ]
        );
    }

    /// Nothing to do: the tar is given back as it is, not copied.
    #[test]
    fn nothing_to_do_is_no_copy() {
        use std::os::unix::fs::MetadataExt;
        let t = tar_of(&[("a", b"a", false, 9000)]);
        let ino = t.metadata().unwrap().ino();
        let out = rewrite_layer(t, &[], None, &std::env::temp_dir())
            .unwrap()
            .unwrap();
        assert_eq!(out.metadata().unwrap().ino(), ino);
    }
}
