//! A whole layer blob as a registry or an archive sends it (gzip, zstd or
//! plain tar, detected from its first bytes, GNU and PAX headers, long
//! names, sparse files...) through the unpacker: errors, never a crash or a
//! write outside the layer's directory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let sandbox = tempfile::tempdir().unwrap();
    let root = sandbox.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let opts = image::UnpackOptions { same_owner: false };
    let digest = image::Digest::of_bytes(data);
    let _ = image::unpack_layer(std::io::BufReader::new(data), None, &root, &digest, &opts);
    let names: Vec<String> = std::fs::read_dir(sandbox.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["root"], "an entry escaped the layer directory");
    assert!(std::fs::symlink_metadata(&root).unwrap().is_dir());
});
