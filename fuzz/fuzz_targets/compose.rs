//! A compose file as a user writes it: the loader never panics, and what
//! `config --format json` prints of a project it accepts loads again into
//! the same project (the printed model is itself a valid compose file).
#![no_main]

use std::sync::OnceLock;

use berth_compose::{load, LoadOptions};
use libfuzzer_sys::fuzz_target;

fn dir() -> &'static tempfile::TempDir {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(|| tempfile::tempdir().expect("tempdir"))
}

fn load_text(text: &[u8]) -> Result<berth_compose::Project, berth_compose::Error> {
    let d = dir().path().join("p");
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::write(d.join("compose.yaml"), text).expect("write");
    let mut o = LoadOptions::from_process();
    o.os_env = [("HOME".to_string(), "/home/fuzz".to_string())].into_iter().collect();
    o.cwd = d;
    load(&o).map(|l| l.project)
}

fuzz_target!(|data: &[u8]| {
    let Ok(p) = load_text(data) else { return };
    let json = p.to_json();
    let again = load_text(json.as_bytes()).expect("the printed model loads");
    assert_eq!(again.to_json(), json);
});
