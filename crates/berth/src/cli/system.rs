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
    /// Where to listen: unix:///PATH or tcp://IP:PORT (without TLS: loopback only)
    #[arg(value_name = "URI")]
    pub uri: Option<String>,
    /// Serve tcp:// over TLS (--tlscert, --tlskey); clients are not checked
    #[arg(long)]
    pub tls: bool,
    /// Serve tcp:// over TLS and accept only clients with a certificate signed by --tlscacert
    #[arg(long)]
    pub tlsverify: bool,
    /// The CA that signs the clients' certificates (with --tlsverify)
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<std::path::PathBuf>,
    /// The service's certificate (PEM)
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<std::path::PathBuf>,
    /// The service's private key (PEM)
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<std::path::PathBuf>,
}
