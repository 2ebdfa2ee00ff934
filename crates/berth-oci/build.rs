//! berth-oci is linked statically (scripts/berth-gcc): it starts without
//! the dynamic loader and maps fewer pages, which shows in every `run`.
fn main() {
    println!("cargo:rustc-link-arg-bins=-Wl,--defsym=__berth_static=0");
}
