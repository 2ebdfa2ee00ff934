//! `berth build` flags (docker's `build`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag (format: "name:tag")
    #[arg(short, long, value_name = "list")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"; "-": read it from STDIN)
    #[arg(short, long, value_name = "string")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long, value_name = "list")]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long, value_name = "string")]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Do not cache specified stages
    #[arg(long, value_name = "stringArray")]
    pub no_cache_filter: Vec<String>,
    /// Always attempt to pull all referenced images
    #[arg(long)]
    pub pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the image ID to the file
    #[arg(long, value_name = "string")]
    pub iidfile: Option<PathBuf>,
    /// Set metadata for an image
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Set type of progress output ("auto", "plain", "tty", "quiet")
    #[arg(long, value_name = "string", default_value = "auto")]
    pub progress: String,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, value_name = "string")]
    pub network: Option<String>,
    /// Set target platform for build (only the host's)
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")
    #[arg(long, value_name = "stringArray")]
    pub secret: Vec<String>,
    /// SSH agent socket to expose to the build (format: "default|<id>[=<socket>]")
    #[arg(long, value_name = "stringArray")]
    pub ssh: Vec<String>,
    /// Output destination (format: "type=local,dest=path"; types local, tar, oci, docker, image)
    #[arg(short, long, value_name = "stringArray")]
    pub output: Vec<String>,
    /// External cache sources (e.g., "type=local,src=path/to/dir", "type=registry,ref=user/app:cache")
    #[arg(long, value_name = "stringArray")]
    pub cache_from: Vec<String>,
    /// Cache export destinations (e.g., "type=local,dest=path/to/dir,mode=max")
    #[arg(long, value_name = "stringArray")]
    pub cache_to: Vec<String>,
    /// Build context: a directory, a git URL (URL#ref:subdir), or "-" (a tar on STDIN)
    #[arg(value_name = "PATH | URL | -")]
    pub context: String,
}

/// `berth builder` (and `berth buildx`): the build cache.
#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

#[derive(Debug, Args)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Amount of disk space to keep for cache
    #[arg(long, value_name = "bytes")]
    pub keep_storage: Option<String>,
}
