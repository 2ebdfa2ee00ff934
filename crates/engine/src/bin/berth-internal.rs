//! `berth-internal VERB ...`: the engine's `internal` commands as a
//! program of their own, for the engine's tests (the berth CLI serves them
//! as `berth internal VERB ...`): see `engine::internal_main`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match args.first().map(String::as_str) {
        Some("internal") => &args[1..],
        _ => &args[..],
    };
    std::process::exit(engine::internal_main(args))
}
