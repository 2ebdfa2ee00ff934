//! ADD of a URL as BuildKit's dockerfile frontend does it: fetched over
//! the registry client's HTTP stack (its TLS settings and retries), named
//! after the URL path's last component (`__unnamed__` without one), mode
//! 0600 unless `--chmod`, its time the `Last-Modified` header's, never
//! unpacked; `--checksum=sha256:…` verified.

use std::io::{Read, Seek, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

/// A fetched URL.
pub(crate) struct Fetched {
    /// The body, rewound.
    pub file: std::fs::File,
    pub len: u64,
    /// The name in the destination directory.
    pub name: String,
    /// `Last-Modified` as Unix seconds.
    pub mtime: Option<u64>,
    /// `sha256:…` of the body.
    pub digest: String,
}

/// The name BuildKit gives the file of `url`.
pub(crate) fn file_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .split_once('/')
        .map_or("", |(_, p)| p);
    let clean = berth_util::gostr::clean_path(&format!("/{path}"));
    match clean.rsplit('/').next() {
        Some(b) if !b.is_empty() => b.to_string(),
        _ => "__unnamed__".to_string(),
    }
}

/// Fetches `url` into a temp file of `tmp_dir`; `checksum` (when not
/// empty) must be its `sha256:` digest.
pub(crate) fn fetch(url: &str, tmp_dir: &Path, checksum: &str) -> Result<Fetched, String> {
    if !checksum.is_empty() && !checksum.starts_with("sha256:") {
        return Err(format!(
            "invalid --checksum {checksum:?}: only sha256:<hex> is supported"
        ));
    }
    let client = registry::Client::new(registry::ClientConfig::default())
        .map_err(|e| format!("{url}: {e}"))?;
    let mut r = client.get_url(url).map_err(|e| format!("{url}: {e}"))?;
    if !(200..300).contains(&r.status) {
        return Err(format!("{url}: invalid response status {}", r.status));
    }
    let mut f = tempfile::tempfile_in(tmp_dir).map_err(|e| format!("temp file: {e}"))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut len = 0u64;
    loop {
        let n = r.body.read(&mut buf).map_err(|e| format!("{url}: {e}"))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        f.write_all(&buf[..n])
            .map_err(|e| format!("temp file: {e}"))?;
        len += n as u64;
    }
    f.rewind().map_err(|e| format!("temp file: {e}"))?;
    let digest = format!("sha256:{}", hex::encode(h.finalize()));
    if !checksum.is_empty() && checksum != digest {
        return Err(format!("digest mismatch {digest}: {checksum}"));
    }
    Ok(Fetched {
        file: f,
        len,
        name: file_name(url),
        mtime: r
            .last_modified
            .as_deref()
            .and_then(berth_util::time::parse_http_date)
            .and_then(|s| u64::try_from(s).ok()),
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_buildkit() {
        assert_eq!(file_name("http://h:80/a/b.tar.gz?x=1"), "b.tar.gz");
        assert_eq!(file_name("https://h/"), "__unnamed__");
        assert_eq!(file_name("https://h"), "__unnamed__");
        assert_eq!(file_name("https://h/dir/"), "dir");
    }
}
