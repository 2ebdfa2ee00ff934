//! `stats`: docker's columns from two samples about a second apart.

use std::time::Duration;

use ::engine::stats::StatsSample;
use serde_json::{json, Value};

use super::containers::op_err;
use super::{out_raw, CmdResult};
use crate::cli_ext::StatsArgs;
use crate::error::CliError;
use crate::fmt::human_size;
use crate::Globals;
use berth_util::size::bytes_size;

/// docker's sampling interval.
const INTERVAL: Duration = Duration::from_secs(1);

fn row(given: &str, prev: &StatsSample, s: &StatsSample, no_trunc: bool) -> Value {
    let id = if no_trunc {
        s.id.clone()
    } else {
        ::engine::fsutil::short_id(&s.id).to_string()
    };
    if !s.running {
        return json!({
            "BlockIO": "--", "CPUPerc": "--", "Container": given, "ID": id,
            "MemPerc": "--", "MemUsage": "-- / --", "Name": s.name, "NetIO": "--", "PIDs": "--",
        });
    }
    json!({
        "BlockIO": format!("{} / {}", human_size(s.block_read), human_size(s.block_write)),
        "CPUPerc": format!("{:.2}%", s.cpu_percent(prev)),
        "Container": given,
        "ID": id,
        "MemPerc": format!("{:.2}%", s.memory_percent()),
        "MemUsage": format!("{} / {}", bytes_size(s.memory_usage), bytes_size(s.memory_limit)),
        "Name": s.name,
        "NetIO": format!("{} / {}", human_size(s.net_rx), human_size(s.net_tx)),
        "PIDs": s.pids.to_string(),
    })
}

/// docker's column titles of `stats`.
const STATS_HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("ID", "CONTAINER ID"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

pub fn run(g: &Globals, a: StatsArgs) -> CmdResult {
    let format = super::list_format(
        a.format.as_deref(),
        "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
    )?;
    let eng = g.engine()?;
    let names: Vec<String> = if a.containers.is_empty() {
        eng.list(a.all)
            .map_err(op_err)?
            .into_iter()
            .map(|s| s.id)
            .collect()
    } else {
        a.containers.clone()
    };
    let sample_all = |names: &[String]| -> Result<Vec<StatsSample>, CliError> {
        names
            .iter()
            .map(|n| eng.stats_sample(n).map_err(op_err))
            .collect()
    };
    let mut prev = sample_all(&names)?;
    loop {
        std::thread::sleep(INTERVAL);
        let cur = sample_all(&names)?;
        let rows: Vec<Value> = names
            .iter()
            .zip(prev.iter().zip(cur.iter()))
            .map(|(n, (p, c))| row(n, p, c, a.no_trunc))
            .collect();
        let mut text = super::list_text(&format, STATS_HEADERS, &rows)?;
        if a.no_stream {
            return out_raw(&text);
        }
        if crate::stdout_is_tty() {
            // Clear the screen and redraw, as docker does.
            text = format!("\x1b[2J\x1b[H{text}");
        }
        out_raw(&text)?;
        prev = cur;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(bytes_size(64 << 20), "64MiB");
        assert_eq!(bytes_size(1536 * 1024), "1.5MiB");
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(human_size(1234), "1.23kB");
        assert_eq!(human_size(0), "0B");
    }
}
