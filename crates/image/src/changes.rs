//! Dockerfile instructions applied to an image config, as `docker import
//! --change` and `docker commit --change` take them: `CMD`, `ENTRYPOINT`,
//! `ENV`, `EXPOSE`, `LABEL`, `ONBUILD`, `STOPSIGNAL`, `USER`, `VOLUME`,
//! `WORKDIR`,
//! in JSON (`CMD ["sh"]`) or shell form (`CMD sh -c x`).

use crate::archive::ImportOptions;

/// Instructions [`ImportOptions::apply_change`] accepts.
pub const SUPPORTED: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Why a change was rejected. Displays as one line naming the change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid change '{change}': {reason}")]
pub struct ChangeError {
    /// The change as given.
    pub change: String,
    /// What is wrong with it.
    pub reason: String,
}

/// JSON array of strings, if `s` is one.
fn json_form(s: &str) -> Option<Vec<String>> {
    let t = s.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

/// `CMD`/`ENTRYPOINT` argument: JSON form as is, shell form through
/// `/bin/sh -c`.
fn exec_form(s: &str) -> Vec<String> {
    json_form(s).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), s.trim().to_string()])
}

/// Split words as the Dockerfile parser does for `ENV`/`LABEL`: spaces
/// separate words; double and single quotes group; a backslash escapes
/// the next character (inside double quotes too).
fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => cur.push('\\'),
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n) => cur.push(n),
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(n) => cur.push(n),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `KEY=value` pairs (`ENV`, `LABEL`), or the legacy `KEY value...` form.
fn key_values(rest: &str, legacy: bool) -> Result<Vec<(String, String)>, String> {
    let ws = words(rest)?;
    if ws.is_empty() {
        return Err("requires at least one argument".into());
    }
    if !ws[0].contains('=') {
        if !legacy {
            return Err(format!("{:?} is not of the form KEY=value", ws[0]));
        }
        // `ENV KEY value with spaces`: the rest of the line, unsplit.
        let trimmed = rest.trim_start();
        let key_len = trimmed
            .find(char::is_whitespace)
            .ok_or_else(|| format!("{:?} needs a value", ws[0]))?;
        let value = trimmed[key_len..].trim().to_string();
        let value = words(&value)?.join(" ");
        return Ok(vec![(ws[0].clone(), value)]);
    }
    ws.into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err(format!("{w:?} has an empty key")),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!("{w:?} is not of the form KEY=value")),
        })
        .collect()
}

impl ImportOptions {
    /// Apply one Dockerfile instruction (`CMD ["sh"]`, `ENV A=1 B=2`,
    /// `EXPOSE 80/tcp`, ...) to these options.
    pub fn apply_change(&mut self, change: &str) -> Result<(), ChangeError> {
        let err = |reason: String| ChangeError {
            change: change.to_string(),
            reason,
        };
        let line = change.trim();
        let (inst, rest) = match line.find(char::is_whitespace) {
            Some(i) => (&line[..i], line[i..].trim()),
            None => (line, ""),
        };
        let upper = inst.to_ascii_uppercase();
        if !SUPPORTED.contains(&upper.as_str()) {
            return Err(err(format!(
                "{inst} is not a valid change command (allowed: {})",
                SUPPORTED.join(", ")
            )));
        }
        if rest.is_empty() {
            return Err(err(format!("{upper} requires at least one argument")));
        }
        match upper.as_str() {
            "CMD" => self.cmd = Some(exec_form(rest)),
            "ENTRYPOINT" => self.entrypoint = Some(exec_form(rest)),
            "ENV" => {
                for (k, v) in key_values(rest, true).map_err(err)? {
                    let prefix = format!("{k}=");
                    self.env.retain(|e| !e.starts_with(&prefix) && e != &k);
                    self.env.push(format!("{k}={v}"));
                }
            }
            "LABEL" => {
                for (k, v) in key_values(rest, false).map_err(err)? {
                    self.labels.insert(k, v);
                }
            }
            "EXPOSE" => {
                for w in words(rest).map_err(err)? {
                    let (port, proto) = match w.split_once('/') {
                        Some((p, proto)) => (p.to_string(), proto.to_ascii_lowercase()),
                        None => (w.clone(), "tcp".to_string()),
                    };
                    let valid_port = |p: &str| p.parse::<u16>().is_ok_and(|n| n > 0);
                    let ok = match port.split_once('-') {
                        Some((a, b)) => valid_port(a) && valid_port(b),
                        None => valid_port(&port),
                    };
                    if !ok || !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
                        return Err(err(format!("invalid port {w:?}")));
                    }
                    let p = format!("{port}/{proto}");
                    if !self.exposed_ports.contains(&p) {
                        self.exposed_ports.push(p);
                    }
                }
            }
            "VOLUME" => {
                let vs = match json_form(rest) {
                    Some(v) => v,
                    None => words(rest).map_err(err)?,
                };
                for v in vs {
                    if v.is_empty() {
                        return Err(err("volume path is empty".into()));
                    }
                    if !self.volumes.contains(&v) {
                        self.volumes.push(v);
                    }
                }
            }
            "WORKDIR" => {
                let w = rest.to_string();
                self.working_dir = Some(if w.starts_with('/') {
                    w
                } else {
                    let base = self.working_dir.clone().unwrap_or_else(|| "/".into());
                    format!("{}/{w}", base.trim_end_matches('/'))
                });
            }
            "ONBUILD" => {
                // As docker's builder: the trigger is kept as written; it
                // may not be ONBUILD, FROM or MAINTAINER.
                let trigger = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                match trigger.as_str() {
                    "ONBUILD" => {
                        return Err(err(
                            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()
                        ))
                    }
                    "FROM" | "MAINTAINER" => {
                        return Err(err(format!(
                            "{trigger} isn't allowed as an ONBUILD trigger"
                        )))
                    }
                    _ => self.on_build.push(rest.to_string()),
                }
            }
            "USER" => self.user = Some(rest.to_string()),
            "STOPSIGNAL" => self.stop_signal = Some(rest.to_string()),
            _ => unreachable!(),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> ImportOptions {
        let mut o = ImportOptions::default();
        for c in changes {
            o.apply_change(c).unwrap();
        }
        o
    }

    #[test]
    fn cmd_and_entrypoint_forms() {
        let o = apply(&[r#"CMD ["sh", "-c", "echo hi"]"#, "ENTRYPOINT /bin/app --x"]);
        assert_eq!(o.cmd.unwrap(), vec!["sh", "-c", "echo hi"]);
        assert_eq!(o.entrypoint.unwrap(), vec!["/bin/sh", "-c", "/bin/app --x"]);
        let o = apply(&["cmd echo [x]"]);
        assert_eq!(o.cmd.unwrap(), vec!["/bin/sh", "-c", "echo [x]"]);
    }

    #[test]
    fn env_and_labels() {
        let o = apply(&[
            r#"ENV A=1 B="two words" C=x\ y"#,
            "ENV D legacy value here",
            "ENV A=3",
            r#"LABEL org.x="a b" y=z"#,
        ]);
        assert_eq!(
            o.env,
            vec!["B=two words", "C=x y", "D=legacy value here", "A=3"]
        );
        assert_eq!(o.labels["org.x"], "a b");
        assert_eq!(o.labels["y"], "z");
    }

    #[test]
    fn expose_volume_workdir_user() {
        let o = apply(&[
            "EXPOSE 80 53/udp 8000-8010",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /cache",
            "WORKDIR /app",
            "WORKDIR sub",
            "USER 1000:1000",
            "STOPSIGNAL SIGQUIT",
            "ONBUILD RUN echo hi",
        ]);
        assert_eq!(o.on_build, vec!["RUN echo hi"]);
        assert_eq!(o.exposed_ports, vec!["80/tcp", "53/udp", "8000-8010/tcp"]);
        assert_eq!(o.volumes, vec!["/data", "/logs", "/cache"]);
        assert_eq!(o.working_dir.as_deref(), Some("/app/sub"));
        assert_eq!(o.user.as_deref(), Some("1000:1000"));
        assert_eq!(o.stop_signal.as_deref(), Some("SIGQUIT"));
    }

    #[test]
    fn errors_name_the_change() {
        let mut o = ImportOptions::default();
        for bad in [
            "RUN echo",
            "CMD",
            "EXPOSE 99999",
            "LABEL novalue",
            "ENV A=\"x",
            "ONBUILD ONBUILD RUN x",
            "ONBUILD FROM x",
        ] {
            let e = o.apply_change(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
        assert_eq!(o.cmd, None);
    }
}
