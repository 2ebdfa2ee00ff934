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

/// `system service [--time SECONDS] [URI]`.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Exit after this many seconds without a request or an open stream (0: never)
    #[arg(short, long, default_value_t = 5, value_name = "SECONDS")]
    pub time: u64,
    /// Where to listen: unix:///PATH or tcp://127.0.0.1:PORT (loopback only, no TLS)
    #[arg(value_name = "URI")]
    pub uri: Option<String>,
}
