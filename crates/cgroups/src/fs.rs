//! Small helpers for reading and writing cgroup interface files.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One planned write of `value` to the cgroup file `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Write {
    pub path: PathBuf,
    pub value: String,
}

impl Write {
    pub(crate) fn new(dir: &Path, file: &str, value: impl Into<String>) -> Write {
        Write {
            path: dir.join(file),
            value: value.into(),
        }
    }
}

/// Write `value` to an existing file (cgroup files are never created).
pub(crate) fn write_file(path: &Path, value: &str) -> Result<()> {
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(err)?;
    f.write_all(value.as_bytes()).map_err(err)
}

pub(crate) fn read_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Read a file that may not exist: `Ok(None)` when absent.
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Parse a single-number file; "max" reads as `u64::MAX`.
pub(crate) fn parse_u64(path: &Path, content: &str) -> Result<u64> {
    let t = content.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse::<u64>().map_err(|_| Error::Parse {
        path: path.to_path_buf(),
        what: "unsigned integer",
        content: t.to_string(),
    })
}

/// Read a number from a file that may be missing (0 when absent).
pub(crate) fn read_u64_or_zero(path: &Path) -> Result<u64> {
    match read_opt(path)? {
        Some(s) => parse_u64(path, &s),
        None => Ok(0),
    }
}

/// Parse "key value" lines (memory.stat, cpu.stat, ...).
pub(crate) fn parse_flat_keyed(
    path: &Path,
    content: &str,
) -> Result<std::collections::BTreeMap<String, u64>> {
    let mut m = std::collections::BTreeMap::new();
    for line in content.lines() {
        let mut it = line.split_whitespace();
        if let (Some(k), Some(v)) = (it.next(), it.next()) {
            m.insert(k.to_string(), parse_u64(path, v)?);
        }
    }
    Ok(m)
}

pub(crate) fn read_flat_keyed_opt(path: &Path) -> Result<std::collections::BTreeMap<String, u64>> {
    match read_opt(path)? {
        Some(s) => parse_flat_keyed(path, &s),
        None => Ok(Default::default()),
    }
}
