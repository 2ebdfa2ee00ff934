//! The Dockerfile parser and typing on arbitrary bytes: never a panic; a
//! parsed file's stage graph is built too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(df) = build::instructions::Dockerfile::parse("Dockerfile", data) {
        let _ = serde_json::to_string(&df);
        let _ = build::stages::Graph::new("Dockerfile", &df, &Default::default());
    }
});
