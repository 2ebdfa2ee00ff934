//! The flags of `berth compose` (parsed here, run by `crate::commands::compose`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// docker compose's global flags.
#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// Compose configuration files
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Specify an alternate working directory (default: the path of the first Compose file)
    #[arg(long, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Specify an alternate environment file
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Specify a profile to enable
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,
    #[command(subcommand)]
    pub command: ComposeCommand,
}

#[derive(Debug, Subcommand)]
pub enum ComposeCommand {
    /// Parse, resolve and render compose file in canonical format
    #[command(visible_alias = "convert")]
    Config(ConfigArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Format the output. Values: [yaml | json]
    #[arg(long, default_value = "yaml", value_name = "FORMAT")]
    pub format: String,
    /// Only validate the configuration, don't print anything
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the service names, one per line
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    pub volumes: bool,
    /// Print the network names, one per line
    #[arg(long)]
    pub networks: bool,
    /// Print the profile names, one per line
    #[arg(long)]
    pub profiles: bool,
    /// Print the image names, one per line
    #[arg(long)]
    pub images: bool,
    /// Print the service config hash, one per line (SERVICE,... or '*')
    #[arg(long, value_name = "SERVICES")]
    pub hash: Option<String>,
    /// Don't interpolate environment variables
    #[arg(long)]
    pub no_interpolate: bool,
    /// Don't normalize compose model
    #[arg(long)]
    pub no_normalize: bool,
    /// Don't resolve file paths
    #[arg(long)]
    pub no_path_resolution: bool,
    /// Don't check model consistency - warning: may produce invalid Compose output
    #[arg(long)]
    pub no_consistency: bool,
    /// Don't resolve service env files
    #[arg(long)]
    pub no_env_resolution: bool,
    /// Pin image tags to digests
    #[arg(long)]
    pub resolve_image_digests: bool,
    /// Produces an override file with image digests
    #[arg(long)]
    pub lock_image_digests: bool,
    /// Save to file (default to stdout)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Services to render
    pub service_names: Vec<String>,
}
