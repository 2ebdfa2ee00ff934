//! Command-line syntax of `volume`, `cp` and `stats` (docker's flags).

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(VolumeCreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more volumes
    Inspect(VolumeInspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(VolumeRmArgs),
    /// Remove unused local volumes
    Prune(VolumePruneArgs),
}

#[derive(Debug, Args)]
pub struct VolumeCreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local", value_name = "STRING")]
    pub driver: String,

    /// Set metadata for a volume
    #[arg(long, value_name = "LABEL")]
    pub label: Vec<String>,

    /// Set driver specific options (type, device, o)
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub opt: Vec<String>,

    /// Specify volume name (also as the argument)
    #[arg(long = "name", value_name = "STRING")]
    pub name_flag: Option<String>,

    #[arg(value_name = "VOLUME")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct VolumeLsArgs {
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,

    /// Provide filter values (dangling=true|false, name=, label=, driver=)
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Format output: 'table', 'table TEMPLATE', 'json', or a Go template
    /// ({{.Name}} {{.Driver}} {{.Scope}} {{.Mountpoint}} {{.Labels}} {{.Links}} {{.Size}})
    #[arg(long, value_name = "STRING")]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct VolumeInspectArgs {
    /// Format output: 'json' or a Go template
    #[arg(short, long, value_name = "STRING")]
    pub format: Option<String>,

    #[arg(required = true, value_name = "VOLUME")]
    pub volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VolumeRmArgs {
    /// Do not error on missing volumes
    #[arg(short, long)]
    pub force: bool,

    #[arg(required = true, value_name = "VOLUME")]
    pub volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    pub all: bool,

    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,

    /// Provide filter values (label=, label!=)
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,

    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,

    /// Suppress progress output during copy (always quiet)
    #[arg(short, long)]
    pub quiet: bool,

    /// CONTAINER:SRC_PATH, SRC_PATH or - (a tar stream on stdin)
    #[arg(value_name = "SRC")]
    pub src: String,

    /// CONTAINER:DEST_PATH, DEST_PATH or - (a tar stream on stdout)
    #[arg(value_name = "DEST")]
    pub dest: String,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,

    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,

    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,

    /// Format output: 'table', 'table TEMPLATE', 'json', or a Go template
    /// ({{.Container}} {{.ID}} {{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.MemPerc}}
    /// {{.NetIO}} {{.BlockIO}} {{.PIDs}})
    #[arg(long, value_name = "STRING")]
    pub format: Option<String>,

    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}
