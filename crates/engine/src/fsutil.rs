//! The engine's file helpers: durable writes and locks (berth_util's,
//! returning the engine's errors), container ids.

use crate::error::{Context, Result};
use std::fs::File;
use std::path::Path;

pub use berth_util::fs::Durability;
pub use berth_util::lock::FileLock;

/// How a container's records are written: `--rm` ones are not kept over a
/// crash (their upper directory is volatile), so a rename is enough.
pub fn container_durability(auto_remove: bool) -> Durability {
    if auto_remove {
        Durability::Atomic
    } else {
        Durability::Durable
    }
}

/// [`berth_util::fs::write_atomic`]: temp file, fsync, rename, fsync of the
/// directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    Ok(berth_util::fs::write_atomic(path, data)?)
}

/// [`berth_util::fs::write_atomic_with`].
pub fn write_atomic_with(path: &Path, data: &[u8], durability: Durability) -> Result<()> {
    Ok(berth_util::fs::write_atomic_with(path, data, durability)?)
}

/// [`berth_util::fs::write_json`].
pub fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> Result<()> {
    Ok(berth_util::fs::write_json(path, v)?)
}

/// [`berth_util::fs::write_json_with`].
pub fn write_json_with<T: serde::Serialize>(
    path: &Path,
    v: &T,
    durability: Durability,
) -> Result<()> {
    Ok(berth_util::fs::write_json_with(path, v, durability)?)
}

/// [`berth_util::fs::read_json`].
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    Ok(berth_util::fs::read_json(path)?)
}

/// 64 hex digits from /dev/urandom whose 12-digit short form is not all
/// decimal (docker's rule, so a short id never reads as a number).
pub fn random_id() -> Result<String> {
    use std::io::Read;
    let mut f = File::open("/dev/urandom").ctx(|| "cannot open /dev/urandom")?;
    loop {
        let mut b = [0u8; 32];
        f.read_exact(&mut b).ctx(|| "cannot read /dev/urandom")?;
        let id: String = b.iter().map(|x| format!("{x:02x}")).collect();
        if !id[..12].bytes().all(|c| c.is_ascii_digit()) {
            return Ok(id);
        }
    }
}

/// A random number from /dev/urandom (for names).
pub fn random_u64() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    if let Ok(mut f) = File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    u64::from_le_bytes(b)
}

/// docker's `stringid.TruncateID`, the one ID truncation of every face:
/// without an algorithm prefix (`sha256:`), the first 12 characters.
pub fn short_id(id: &str) -> &str {
    let hex = id.split_once(':').map_or(id, |(_, h)| h);
    hex.char_indices().nth(12).map_or(hex, |(i, _)| &hex[..i])
}

#[cfg(test)]
mod tests {
    use super::short_id;

    #[test]
    fn short_ids_as_docker() {
        let hex = "0123456789abcdef0123";
        assert_eq!(short_id(hex), "0123456789ab");
        assert_eq!(short_id(&format!("sha256:{hex}")), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(short_id(""), "");
    }
}
