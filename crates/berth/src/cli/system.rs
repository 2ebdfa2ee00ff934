//! The flags of the system commands (parsed here, run by `crate::commands::system`).

use clap::Args;

/// `version [--format]`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template ('json' for JSON)
    #[arg(short, long)]
    pub format: Option<String>,
}

/// `info [--format]` and `system info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template ('json' for JSON)
    #[arg(short, long)]
    pub format: Option<String>,
}

/// `system df [-v] [--format]`.
#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template
    #[arg(long)]
    pub format: Option<String>,
}
