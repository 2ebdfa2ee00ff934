//! .dockerignore files and patterns on arbitrary bytes: reading, compiling
//! and matching never panic. The input is the file, then after a NUL the
//! path to match.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (file, path) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"a/b/c"[..]),
    };
    let patterns = build::ignore::read_ignore_file(file);
    if let Ok(pm) = build::ignore::PatternMatcher::new(&patterns) {
        let path = String::from_utf8_lossy(path);
        let _ = pm.matches(&path);
        let _ = pm.matches_or_parent_matches(&path);
    }
});
