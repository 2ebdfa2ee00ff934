//! pull, push, login, logout.

use std::io::{IsTerminal, Read, Write};

use registry::{Client, Credentials, RegistryOptions};

use super::{out, parse_ref, platform, CmdResult};
use crate::cli::{LoginArgs, LogoutArgs, PullArgs, PushArgs, RegistryArgs};
use crate::error::CliError;
use crate::progress::{Direction, Mode, Transfer};
use crate::Globals;

/// A registry client for the flags (and registries.conf).
pub(super) fn client(a: &RegistryArgs) -> Result<Client, CliError> {
    let (c, warning) = registry::service::client(&RegistryOptions {
        tls_verify: a.tls_verify,
        auth_file: a.authfile.clone(),
        cert_dir: a.cert_dir.clone(),
    })?;
    if let Some(w) = warning {
        eprintln!("berth: warning: {w}");
    }
    Ok(c)
}

fn mode(quiet: bool) -> Mode {
    if quiet {
        Mode::Quiet
    } else if crate::stdout_is_tty() {
        Mode::Tty
    } else {
        Mode::Plain
    }
}

pub fn pull(g: &Globals, a: PullArgs) -> CmdResult {
    pull_with(g, a, false)
}

/// Pull for `run`/`create`: everything goes to stderr.
pub fn pull_for_run(g: &Globals, a: PullArgs) -> CmdResult {
    pull_with(g, a, true)
}

fn pull_with(g: &Globals, a: PullArgs, to_stderr: bool) -> CmdResult {
    let say = |s: &str| -> CmdResult {
        if to_stderr {
            eprintln!("{s}");
            Ok(())
        } else {
            out(s)
        }
    };
    let r = parse_ref(&a.image)?;
    let plat = platform(a.platform.as_deref())?;
    let store = g.store()?;
    let client = client(&a.registry)?;
    let progress = if to_stderr {
        let m = if a.quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Tty
        } else {
            Mode::Plain
        };
        Transfer::new_stderr(m, Direction::Pull)
    } else {
        Transfer::new(mode(a.quiet), Direction::Pull)
    };
    progress.println(&registry::service::pulling_line(&r));
    let res = client.pull_image(&store, &r, &plat, &progress);
    progress.finish();
    let rep = res?;
    if !a.quiet {
        say(&format!("Digest: {}", rep.digest))?;
        say(&rep.status(&r))?;
    }
    if to_stderr {
        return Ok(());
    }
    out(&r.to_string())
}

/// Where a push's progress and result go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutput {
    /// `docker push`'s: the progress on stdout (none with `-q`), then the
    /// digest line (the reference with `-q`).
    Docker,
    /// `compose push`'s: nothing (the runner's events say what was pushed).
    Silent,
}

pub fn push(g: &Globals, a: PushArgs) -> CmdResult {
    push_with(g, a, PushOutput::Docker)
}

/// The one push path: the image planned (resolved under a lease, its
/// mount sources), pushed for `--platform` if given, through the
/// registry service; `output` says what is shown.
pub fn push_with(g: &Globals, a: PushArgs, output: PushOutput) -> CmdResult {
    let store = g.store()?;
    let dest_s = a.destination.as_deref().unwrap_or(&a.image);
    let dest = parse_ref(dest_s)?;
    let platform = match a.platform.as_deref() {
        Some(p) => Some(platform(Some(p))?),
        None => None,
    };
    let plan = registry::service::PushPlan::new(&store, &a.image, &dest)?;
    let client = client(&a.registry)?;
    let progress = match output {
        PushOutput::Docker => Transfer::new(mode(a.quiet), Direction::Push)
            .hide(plan.info.record.config_digest.clone())
            .mounted_from(match plan.mount_from.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            }),
        PushOutput::Silent => Transfer::new_stderr(Mode::Quiet, Direction::Push),
    };
    if output == PushOutput::Docker {
        progress.println(&format!(
            "The push refers to repository [{}]",
            dest.repository()
        ));
    }
    let res = client.push_planned(&store, &plan, &dest, platform, &progress);
    progress.finish();
    let rep = res?;
    match output {
        PushOutput::Silent => Ok(()),
        PushOutput::Docker if a.quiet => out(&dest.to_string()),
        PushOutput::Docker => out(&rep.status(&dest)),
    }
}

fn prompt(label: &str, echo: bool) -> Result<String, CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::new(
            "Cannot perform an interactive login from a non TTY device",
        ));
    }
    eprint!("{label}");
    let _ = std::io::stderr().flush();
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let fd = std::io::stdin();
    // Without echo for a password; the terminal's settings restored after.
    let saved = if echo { None } else { tcgetattr(&fd).ok() };
    if let Some(s) = &saved {
        let mut t = s.clone();
        t.local_flags.remove(LocalFlags::ECHO);
        let _ = tcsetattr(&fd, SetArg::TCSANOW, &t);
    }
    let mut line = String::new();
    let res = stdin.read_line(&mut line);
    if let Some(s) = &saved {
        let _ = tcsetattr(&fd, SetArg::TCSANOW, s);
        eprintln!();
    }
    res.map_err(|e| CliError::new(format!("read from terminal: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn login(a: LoginArgs) -> CmdResult {
    let host = registry::service::server_host(a.server.as_deref());
    if a.password.is_some() && a.password_stdin {
        return Err(CliError::new(
            "--password and --password-stdin are mutually exclusive",
        ));
    }
    let username = match a.username {
        Some(u) => u,
        None if a.password_stdin => {
            return Err(CliError::new(
                "Must provide --username with --password-stdin",
            ))
        }
        None => prompt("Username: ", true)?,
    };
    if username.is_empty() {
        return Err(CliError::new("Username is required"));
    }
    let password = if a.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::new(format!("read password from stdin: {e}")))?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else {
        prompt("Password: ", false)?
    };
    if password.is_empty() {
        return Err(CliError::new("Password is required"));
    }
    let client = client(&RegistryArgs {
        tls_verify: a.tls_verify,
        authfile: a.authfile.clone(),
        cert_dir: None,
    })?;
    client.login(
        &host,
        &Credentials::new(username, password),
        a.authfile.as_deref(),
    )?;
    out("Login Succeeded")
}

pub fn logout(a: LogoutArgs) -> CmdResult {
    let host = registry::service::server_host(a.server.as_deref());
    if registry::logout(&host, a.authfile.as_deref())? {
        out(&format!("Removing login credentials for {host}"))
    } else {
        out(&format!("Not logged in to {host}"))
    }
}
