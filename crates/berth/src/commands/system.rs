//! `system boot`: what podman-restart.service does, for a daemonless
//! engine: run once at boot (contrib/systemd/berth-boot.service), it starts
//! again the containers that were running when the machine went down and
//! whose restart policy asks for it ([`engine::Engine::boot`]).

use super::{out, CmdResult};
use crate::error::CliError;
use crate::Globals;

pub fn boot(g: &Globals) -> CmdResult {
    let eng = g.engine()?;
    let (started, errors) = eng.boot().map_err(|e| CliError::new(e.to_string()))?;
    for id in &started {
        out(id)?;
    }
    match errors.split_last() {
        None => Ok(()),
        Some((last, rest)) => {
            for e in rest {
                eprintln!("berth: {e}");
            }
            Err(CliError::new(last.to_string()))
        }
    }
}
