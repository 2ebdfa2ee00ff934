//! The shipped binary's form, which `berth run` (three executions of it) depends on: a static PIE
//! (no dynamic loader; ASLR kept) whose relative relocations are packed
//! (DT_RELR), both made by scripts/berth-gcc.

use std::process::Command;

fn readelf(args: &[&str]) -> String {
    let o = Command::new("readelf")
        .args(args)
        .arg(env!("CARGO_BIN_EXE_berth"))
        .output()
        .expect("readelf (binutils)");
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn static_pie_with_packed_relocations() {
    let headers = readelf(&["-hlW"]);
    assert!(
        headers.contains("DYN (Position-Independent Executable file)")
            || headers.contains("DYN (Shared object file)"),
        "{headers}"
    );
    assert!(
        !headers.contains("INTERP"),
        "dynamically linked:\n{headers}"
    );
    let sections = readelf(&["-SW"]);
    assert!(
        sections.contains(".relr.dyn"),
        "no packed relocations:\n{sections}"
    );
}
