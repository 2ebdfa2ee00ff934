//! A bundle's config.json (from podman, containerd, Kubernetes or a user):
//! parsed and validated as `berth-oci create` does, errors naming the
//! field (the JSON path scanner sees the malformed document).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_runtime::config;

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = config::parse(data, "config.json") {
        let _ = config::rootfs_path(&spec, std::path::Path::new("/bundle"));
    }
    let _ = config::parse_process(data, "process.json");
    // Any position in any document.
    let n = data.len();
    for (l, c) in [(1, 1), (1, n), (n / 7 + 1, n / 3 + 1), (n, 0), (0, 0)] {
        let _ = config::json_path_at(data, l, c);
    }
});
