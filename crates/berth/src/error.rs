//! The one-line errors berth prints (`berth: <message>`) and their exit
//! statuses: 1 for a failed operation, 125 for berth's own failures
//! (usage, unusable store), as docker does.

use crate::EXIT_USAGE;

#[derive(Debug)]
pub struct CliError {
    pub msg: String,
    pub code: u8,
}

impl CliError {
    /// A failed operation (exit 1).
    pub fn new(msg: impl Into<String>) -> CliError {
        CliError {
            msg: one_line(msg.into()),
            code: 1,
        }
    }

    /// A usage or engine failure (exit 125).
    pub fn daemon(msg: impl Into<String>) -> CliError {
        CliError {
            msg: one_line(msg.into()),
            code: EXIT_USAGE,
        }
    }

    /// Exit with `code` without printing anything more.
    pub fn silent(code: u8) -> CliError {
        CliError {
            msg: String::new(),
            code,
        }
    }
}

fn one_line(s: String) -> String {
    if s.contains('\n') {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        s
    }
}

/// `invalid reference format: <reason>` (docker's wording, without the
/// quoted input our library appends).
pub fn reference_message(e: &image::ReferenceError) -> String {
    format!("invalid reference format: {}", e.reason)
}

/// Docker's wording for image store errors.
pub fn image_message(e: &image::Error) -> String {
    match e {
        image::Error::ImageNotFound(s) => format!("No such image: {s}"),
        image::Error::Reference(r) => reference_message(r),
        e => e.to_string(),
    }
}

impl From<image::Error> for CliError {
    fn from(e: image::Error) -> CliError {
        match e {
            image::Error::Metadata { .. } => CliError::daemon(image_message(&e)),
            e => CliError::new(image_message(&e)),
        }
    }
}

impl From<image::ReferenceError> for CliError {
    fn from(e: image::ReferenceError) -> CliError {
        CliError::new(reference_message(&e))
    }
}

impl From<registry::Error> for CliError {
    fn from(e: registry::Error) -> CliError {
        CliError::new(registry_message(&e))
    }
}

/// Docker's wording for registry errors where it has one.
pub fn registry_message(e: &registry::Error) -> String {
    match e {
        registry::Error::Status {
            registry,
            repository,
            what,
            status: 404,
            code,
            message,
        } if what.starts_with("manifest") => {
            let r = what.trim_start_matches("manifest ");
            let sep = if r.starts_with("sha256:") { '@' } else { ':' };
            let detail = match (code.as_deref(), message.as_deref()) {
                (_, Some(m)) => format!(": {m}"),
                (Some(c), None) => format!(": {}", c.to_lowercase().replace('_', " ")),
                _ => String::new(),
            };
            format!("manifest for {registry}/{repository}{sep}{r} not found{detail}")
        }
        registry::Error::Store { source, context } => match source {
            image::Error::ImageNotFound(_) => image_message(source),
            _ => format!("{context}: {}", image_message(source)),
        },
        registry::Error::Reference(r) => reference_message(r),
        e => e.to_string(),
    }
}
