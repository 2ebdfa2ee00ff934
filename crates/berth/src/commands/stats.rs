//! `stats`.
use super::CmdResult;
use crate::cli_ext::StatsArgs;
use crate::error::CliError;
use crate::Globals;

pub fn run(_g: &Globals, _a: StatsArgs) -> CmdResult {
    Err(CliError::new("stats: not implemented yet"))
}
