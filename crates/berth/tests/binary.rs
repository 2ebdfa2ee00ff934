//! The shipped binary's form, which `berth run` (three executions of it) depends on: a static PIE
//! (no dynamic loader; ASLR kept) whose relative relocations are packed
//! (DT_RELR), both made by scripts/berth-gcc.

#[test]
fn static_pie_with_packed_relocations() {
    berth_testkit::assert_static_pie_with_relr(env!("CARGO_BIN_EXE_berth"));
}
