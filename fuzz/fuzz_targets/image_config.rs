//! An image config blob (from a registry, `load` or `import`): parsed, and
//! what the store derives from it (platform, chain ids, the healthcheck and
//! the container config the engine turns into a spec).
#![no_main]

use image::{chain_ids, Digest, ImageConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let d = Digest::of_bytes(data);
    if let Ok(c) = ImageConfig::parse(data, &d) {
        let _ = c.platform().to_string();
        let _ = chain_ids(&c.rootfs.diff_ids);
        // What is stored is read back the same.
        let again = serde_json::to_vec(&c).unwrap();
        let c2 = ImageConfig::parse(&again, &d).expect("a parsed config serializes to a valid one");
        assert_eq!(serde_json::to_vec(&c2).unwrap(), again);
    }
});
