//! SOURCE_DATE_EPOCH on a build's layers (BuildKit's rewrite-timestamp):
//! every entry of a new layer newer than the epoch gets the epoch as its
//! mtime, so the same steps give the same layer whenever they run.

use std::io::{self, Read, Seek, Write};
use std::path::Path;

/// `tar_file` with each entry's mtime clamped to `epoch`, written to a
/// temp file in `tmp_in` (rewound).
pub(crate) fn clamp_mtimes(
    tar_file: std::fs::File,
    epoch: u64,
    tmp_in: &Path,
) -> io::Result<std::fs::File> {
    let mut f = &tar_file;
    f.rewind()?;
    let mut a = tar::Archive::new(f);
    let out = tempfile::tempfile_in(tmp_in)?;
    let mut b = tar::Builder::new(io::BufWriter::new(out));
    for e in a.entries()? {
        let mut e = e?;
        let raw = e.path()?.into_owned();
        let mut h = e.header().clone();
        if h.mtime()? > epoch {
            h.set_mtime(epoch);
        }
        match h.entry_type() {
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
    let mut out = b.into_inner()?.into_inner().map_err(|e| e.into_error())?;
    out.flush()?;
    out.rewind()?;
    Ok(out)
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
        let out = clamp_mtimes(f, 1000, d.path()).unwrap();
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
}
