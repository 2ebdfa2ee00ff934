//! berth is linked statically (scripts/berth-gcc), as berth-oci: every
//! `berth run` executes it three times (the command, then `internal
//! create-start` and `internal cleanup` from the monitor), and a static
//! binary starts without the dynamic loader's relocations and lookups.
fn main() {
    println!("cargo:rustc-link-arg-bins=-Wl,--defsym=__berth_static=0");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../scripts/link-order/berth.txt");
    println!("cargo:rerun-if-changed=../../scripts/berth-gcc");
}
