//! berth-oci is linked statically (scripts/berth-gcc): it starts without
//! the dynamic loader and maps fewer pages, which shows in every `run`.
//! The link also places the functions of scripts/link-order/berth-oci.txt
//! together, so relink when that list changes.
fn main() {
    println!("cargo:rustc-link-arg-bins=-Wl,--defsym=__berth_static=0");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../scripts/link-order/berth-oci.txt");
    println!("cargo:rerun-if-changed=../../scripts/berth-gcc");
}
