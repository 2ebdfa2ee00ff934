//! A static program without libc: our own `_start` (berth-tiny).
fn main() {
    for a in ["-nostartfiles", "-nostdlib", "-static", "-no-pie"] {
        println!("cargo:rustc-link-arg-bins={a}");
    }
}
