//! The container monitor as a small program of its own (its memory is not
//! a copy of the caller's): see `engine::monitor_process_main`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    engine::monitor_process_main(&args)
}
