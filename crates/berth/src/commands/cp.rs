//! `cp`: between a container and the host, or a tar stream (`-`).

use ::engine::cp::CopyOptions;

use super::containers::op_err;
use super::CmdResult;
use crate::cli_ext::CpArgs;
use crate::error::CliError;
use crate::Globals;

/// Docker's split: a path starting with `/` or `.` is local; else
/// `CONTAINER:PATH` at the first `:`.
fn split(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') || arg.starts_with('.') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.is_empty() => (Some(c), p),
        _ => (None, arg),
    }
}

pub fn run(g: &Globals, a: CpArgs) -> CmdResult {
    let (sc, sp) = split(&a.src);
    let (dc, dp) = split(&a.dest);
    let opts = CopyOptions {
        follow_link: a.follow_link,
        archive: a.archive,
    };
    match (sc, dc) {
        (None, None) => Err(CliError::new("must specify at least one container source")),
        (Some(_), Some(_)) => Err(CliError::new("copying between containers is not supported")),
        (Some(c), None) => {
            if sp.is_empty() {
                return Err(CliError::new(format!("invalid source path {:?}", a.src)));
            }
            let eng = g.engine()?;
            let mut stdout = std::io::stdout().lock();
            let dest = (dp != "-").then_some(dp);
            eng.copy_from_container(c, sp, dest, &mut stdout, opts)
                .map_err(op_err)?;
            std::io::Write::flush(&mut stdout)
                .map_err(|e| CliError::new(format!("write to stdout: {e}")))
        }
        (None, Some(c)) => {
            if dp.is_empty() {
                return Err(CliError::new(format!(
                    "invalid destination path {:?}",
                    a.dest
                )));
            }
            let eng = g.engine()?;
            let mut stdin = std::io::stdin().lock();
            let src = (sp != "-").then_some(sp);
            eng.copy_to_container(src, &mut stdin, c, dp, opts)
                .map_err(op_err)
        }
    }
}
