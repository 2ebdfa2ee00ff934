//! `cp`.
use super::CmdResult;
use crate::cli_ext::CpArgs;
use crate::error::CliError;
use crate::Globals;

pub fn run(_g: &Globals, _a: CpArgs) -> CmdResult {
    Err(CliError::new("cp: not implemented yet"))
}
