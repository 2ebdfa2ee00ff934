//! pull, push, login, logout.

use std::io::{IsTerminal, Read, Write};

use registry::{Client, ClientConfig, Credentials, PushOptions};

use super::{out, parse_ref, platform, CmdResult};
use crate::cli::{LoginArgs, LogoutArgs, PullArgs, PushArgs, RegistryArgs};
use crate::error::{image_message, CliError};
use crate::progress::{Direction, Mode, Transfer};
use crate::Globals;

/// A registry client configured from flags and registries.conf.
fn client(a: &RegistryArgs) -> Result<Client, CliError> {
    let conf = registry::regconf::registries_conf_path();
    let insecure = match registry::regconf::insecure_registries(&conf) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("berth: warning: ignoring {e}");
            Vec::new()
        }
    };
    Client::new(ClientConfig {
        tls_verify: a.tls_verify,
        insecure_registries: insecure,
        auth_file: a.authfile.clone(),
        cert_dir: a.cert_dir.clone(),
        ..Default::default()
    })
    .map_err(CliError::from)
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
    let before = store.resolve(&r.to_string()).ok().map(|i| i.record);
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
    let what = match (r.tag(), r.digest()) {
        (_, Some(d)) => d.to_string(),
        (Some(t), None) => t.to_string(),
        (None, None) => "latest".into(),
    };
    progress.println(&format!("{what}: Pulling from {}", r.path()));
    let res = client.pull(&store, &r, &plat, &progress);
    progress.finish();
    let rec = res?;
    let top = progress
        .resolved
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(|| rec.manifest_digest.clone());
    if !a.quiet {
        let same = before.is_some_and(|b| {
            b.id == rec.id && (b.manifest_digest == top || b.index_digest.as_ref() == Some(&top))
        });
        say(&format!("Digest: {top}"))?;
        if same {
            say(&format!("Status: Image is up to date for {}", r.familiar()))?;
        } else {
            say(&format!(
                "Status: Downloaded newer image for {}",
                r.familiar()
            ))?;
        }
    }
    if to_stderr {
        return Ok(());
    }
    out(&r.to_string())
}

pub fn push(g: &Globals, a: PushArgs) -> CmdResult {
    let store = g.store()?;
    let dest_s = a.destination.as_deref().unwrap_or(&a.image);
    let dest = parse_ref(dest_s)?;
    let info = match store.resolve(&a.image) {
        Ok(i) => i,
        Err(image::Error::ImageNotFound(_)) => {
            return Err(CliError::new(format!(
                "An image does not exist locally with the tag: {}",
                a.image
            )))
        }
        Err(e) => return Err(CliError::new(image_message(&e))),
    };
    // Blobs may already be in another repository of the same registry
    // this image came from: offer those for a cross-repository mount.
    let mut mount_from: Vec<String> = Vec::new();
    for n in info.repo_tags.iter().chain(&info.repo_digests) {
        if n.domain() == dest.domain()
            && n.path() != dest.path()
            && !mount_from.iter().any(|m| m == n.path())
        {
            mount_from.push(n.path().to_string());
        }
    }
    let client = client(&a.registry)?;
    let progress = Transfer::new(mode(a.quiet), Direction::Push)
        .hide(info.record.config_digest.clone())
        .mounted_from(if mount_from.len() == 1 {
            Some(mount_from[0].clone())
        } else {
            None
        });
    progress.println(&format!(
        "The push refers to repository [{}]",
        dest.repository()
    ));
    let local = info.record.id.to_string();
    let platform = match a.platform.as_deref() {
        Some(p) => Some(platform(Some(p))?),
        None => None,
    };
    let res = client.push(
        &store,
        &local,
        &dest,
        &PushOptions {
            mount_from,
            platform,
        },
        &progress,
    );
    progress.finish();
    let digest = res?;
    // Record `repo@digest` as docker does after a push (the index, when it
    // was pushed whole).
    let rec = &info.record;
    if (rec.index_digest.is_none() && digest == rec.manifest_digest)
        || rec.index_digest.as_ref() == Some(&digest)
    {
        let _ = store.register(
            &digest,
            &rec.platform,
            &[dest.repository().with_digest(digest.clone())],
        );
    }
    let size = store.content().size(&digest).unwrap_or(0);
    let tag = match (dest.tag(), dest.digest()) {
        (Some(t), _) => t.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => "latest".into(),
    };
    if a.quiet {
        out(&dest.to_string())
    } else {
        out(&format!("{tag}: digest: {digest} size: {size}"))
    }
}

/// `https://host/v1/` → `host`; no server means Docker Hub.
fn server_host(s: Option<&str>) -> String {
    let Some(s) = s else {
        return "docker.io".into();
    };
    let s = s
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        h => h.to_string(),
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
    let host = server_host(a.server.as_deref());
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
    let host = server_host(a.server.as_deref());
    if registry::logout(&host, a.authfile.as_deref())? {
        out(&format!("Removing login credentials for {host}"))
    } else {
        out(&format!("Not logged in to {host}"))
    }
}
