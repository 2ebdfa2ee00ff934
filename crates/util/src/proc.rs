//! What `/proc/PID/stat` tells of a process: its state and start time,
//! which together with the pid name one process (a pid used again by
//! another process has another start time).

/// Field 3 (state) and field 22 (start time, clock ticks since boot) of
/// `/proc/PID/stat`; `None` if there is no such process.
pub fn stat(pid: i32) -> Option<(char, u64)> {
    if pid <= 0 {
        return None;
    }
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses.
    let rest = &s[s.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let start = f.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Whether process `pid` runs with start time `start_time` (a zombie or a
/// dead task does not count).
pub fn alive(pid: i32, start_time: u64) -> bool {
    match stat(pid) {
        Some((state, st)) => st == start_time && state != 'Z' && state != 'X',
        None => false,
    }
}

/// This process's start time, read once.
pub fn self_start_time() -> u64 {
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *START.get_or_init(|| stat(std::process::id() as i32).map_or(0, |(_, s)| s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_is_alive() {
        let me = std::process::id() as i32;
        let (state, start) = stat(me).unwrap();
        assert_ne!(state, 'Z');
        assert_eq!(start, self_start_time());
        assert!(alive(me, start));
        assert!(!alive(me, start + 1));
        assert_eq!(stat(0), None);
        assert_eq!(stat(-1), None);
    }
}
