//! save, load, import.

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Read, Write};
use std::time::SystemTime;

use image::{ArchiveFormat, ImportOptions};

use super::{out, parse_ref, platform, CmdResult};
use crate::cli::{ImportArgs, LoadArgs, SaveArgs};
use crate::error::{image_message, CliError};
use crate::Globals;
use berth_util::fs::{AtomicWrite, Durability};

pub fn save(g: &Globals, a: SaveArgs) -> CmdResult {
    let format = match a.format.as_str() {
        "oci-archive" => ArchiveFormat::Oci,
        _ => ArchiveFormat::Docker,
    };
    let store = g.store()?;
    // Check every name first so a typo does not leave a partial file.
    for n in &a.images {
        if let Err(e) = store.resolve(n) {
            return Err(CliError::new(image_message(&e)));
        }
    }
    let names: Vec<&str> = a.images.iter().map(String::as_str).collect();
    write_archive(a.output.as_deref(), "failed to save image", |w| {
        store
            .save(&names, format, w)
            .map_err(|e| match e.io_kind() {
                Some(std::io::ErrorKind::BrokenPipe) => CliError::silent(1),
                _ => e.into(),
            })
    })
}

/// Writes an archive (`save`, `export`) to `output`, or to stdout when
/// `None` (a terminal is refused, as docker does). A file is written beside
/// its target and renamed at the end, so a failure leaves no truncated
/// archive; a closed stdout ends quietly with status 1.
pub(super) fn write_archive(
    output: Option<&std::path::Path>,
    what: &str,
    write: impl FnOnce(&mut dyn Write) -> CmdResult,
) -> CmdResult {
    let Some(path) = output else {
        if std::io::stdout().is_terminal() {
            return Err(CliError::new(
                "cowardly refusing to save to a terminal. Use the -o flag or redirect",
            ));
        }
        let stdout = std::io::stdout();
        let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
        write(&mut w)?;
        return match w.flush() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::silent(1)),
            Err(e) => Err(CliError::new(format!("write to stdout: {e}"))),
        };
    };
    if path.file_name().is_none() {
        return Err(CliError::new(format!(
            "invalid output path {}",
            path.display()
        )));
    }
    // A new temp file (never through a link planted at its name), private
    // until complete, fsynced and renamed over the output.
    let f = AtomicWrite::new(Durability::Flushed)
        .mode(0o600)
        .create(path)
        .map_err(|e| CliError::new(format!("{what}: {e}")))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    write(&mut w)?;
    let f = w
        .into_inner()
        .map_err(|e| CliError::new(format!("write {}: {e}", path.display())))?;
    f.commit().map_err(|e| CliError::new(e.to_string()))
}

pub fn load(g: &Globals, a: LoadArgs) -> CmdResult {
    let input: Box<dyn Read> = match &a.input {
        Some(p) => Box::new(
            File::open(p).map_err(|e| CliError::new(format!("open {}: {e}", p.display())))?,
        ),
        None => {
            if std::io::stdin().is_terminal() {
                return Err(CliError::new(
                    "requested load from stdin, but stdin is empty",
                ));
            }
            Box::new(std::io::stdin())
        }
    };
    let store = g.store()?;
    let loaded = store
        .load_unpacked(BufReader::with_capacity(1 << 20, input))
        .map_err(|e| match e {
            image::Error::Archive(m) => CliError::new(format!("invalid archive: {m}")),
            e => e.into(),
        })?;
    for info in loaded {
        if info.repo_tags.is_empty() {
            out(&format!("Loaded image ID: {}", info.record.id))?;
        }
        for t in &info.repo_tags {
            out(&format!("Loaded image: {}", t.familiar()))?;
        }
    }
    Ok(())
}

pub fn import(g: &Globals, a: ImportArgs) -> CmdResult {
    let mut opts = ImportOptions::default();
    for c in &a.change {
        opts.apply_change(c)
            .map_err(|e| CliError::new(e.to_string()))?;
    }
    opts.comment = a.message.clone();
    if a.platform.is_some() {
        opts.platform = Some(platform(a.platform.as_deref())?);
    }
    opts.created = Some(berth_util::time::format(SystemTime::now()));
    let names = match &a.reference {
        Some(r) => vec![parse_ref(r)?],
        None => Vec::new(),
    };
    if a.file.starts_with("http://") || a.file.starts_with("https://") {
        return Err(CliError::new(format!(
            "importing from a URL is not supported: {}",
            a.file
        )));
    }
    let input: Box<dyn Read> = if a.file == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(&a.file).map_err(|e| CliError::new(format!("open {}: {e}", a.file)))?)
    };
    let store = g.store()?;
    let rec = store
        .import_unpacked(BufReader::with_capacity(1 << 20, input), &opts, &names)
        .map_err(|e| match e {
            image::Error::Archive(m) if a.file == "-" => {
                CliError::new(format!("import from stdin: {m}"))
            }
            image::Error::Archive(m) => CliError::new(format!("import {}: {m}", a.file)),
            e => e.into(),
        })?;
    out(&rec.id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_archive_never_writes_through_a_planted_link() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let out = d.path().join("out.tar");
        // A link at the temp name older versions used ({name}.berth-tmp-PID):
        // the temp name is now unique per call and made with O_EXCL
        // (berth_util::fs::AtomicWrite), so the link is neither followed
        // nor in the way.
        let tmp = d
            .path()
            .join(format!(".out.tar.berth-tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        // A writer that fails leaves neither the output nor a temp file.
        let r = write_archive(Some(&out), "failed to save image", |w| {
            w.write_all(b"half")
                .map_err(|e| CliError::new(e.to_string()))?;
            Err(CliError::new("interrupted"))
        });
        assert!(r.is_err());
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 2);
        write_archive(Some(&out), "failed to save image", |w| {
            w.write_all(b"archive")
                .map_err(|e| CliError::new(e.to_string()))
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "archive");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(tmp.symlink_metadata().unwrap().file_type().is_symlink());
    }
}
