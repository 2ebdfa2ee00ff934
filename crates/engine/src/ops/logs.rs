//! `logs`: the container's log, selected and followed.

use crate::error::{Error, Result};
use crate::logs::{self, LogsOptions};
use crate::Engine;
use std::io::Write;
use std::time::Duration;

impl Engine {
    /// `logs`: writes the selected entries; with `follow`, keeps going
    /// until the container stops.
    pub fn logs(
        &self,
        container: &str,
        opts: &LogsOptions,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<()> {
        let id = self.lookup(container)?;
        let path = self.log_path(&id);
        let filter = logs::Filter::new(opts)?;
        let (entries, mut pos) = logs::read_from(&path, 0)?;
        // --tail counts the entries of the selected streams.
        let entries: Vec<logs::Entry> = entries.into_iter().filter(|e| filter.keep(e)).collect();
        let start = opts
            .tail
            .map(|n| entries.len().saturating_sub(n))
            .unwrap_or(0);
        let io = |e: std::io::Error| Error::io("write logs", e);
        for e in &entries[start..] {
            filter.write(e, out, err).map_err(io)?;
        }
        if !opts.follow {
            return Ok(());
        }
        loop {
            let running = self.state(&id).map(|s| s.running()).unwrap_or(false);
            let (more, p) = logs::read_from(&path, pos)?;
            pos = p;
            for e in &more {
                filter.write(e, out, err).map_err(io)?;
            }
            let _ = out.flush();
            if !running {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
