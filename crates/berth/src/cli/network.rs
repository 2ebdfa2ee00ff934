//! The flags of the network commands (parsed here, run by `crate::commands::network`).

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(NetCreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(NetLsArgs),
    /// Display detailed information on one or more networks
    Inspect(NetInspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(NetRmArgs),
    /// Connect a container to a network
    Connect(NetConnectArgs),
    /// Disconnect a container from a network
    Disconnect(NetDisconnectArgs),
    /// Remove all unused networks
    Prune(NetPruneArgs),
}

#[derive(Debug, Args)]
pub struct NetCreateArgs {
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_name = "SUBNET")]
    pub subnet: Option<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long, value_name = "IP")]
    pub gateway: Option<String>,
    /// Driver to manage the Network
    #[arg(short, long, value_name = "DRIVER", default_value = "bridge")]
    pub driver: String,
    /// Set metadata on a network
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    pub name: String,
}

#[derive(Debug, Args)]
pub struct NetLsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Format output using a Go template or json
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(Debug, Args)]
pub struct NetInspectArgs {
    /// Format output using a Go template or json
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetRmArgs {
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long, value_name = "ALIAS")]
    pub alias: Vec<String>,
    /// IPv4 address
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct NetDisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct NetPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>", "label=<key>=<value>")
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Remove stopped containers, unused networks and leftovers of crashes
    Prune(SystemPruneArgs),
    /// Start the containers a restart policy keeps running, after the machine booted (contrib/systemd/berth-boot.service)
    Boot,
    /// Get real time events from the engine
    Events(super::events::EventsArgs),
    /// Show disk usage
    Df(super::system::DfArgs),
    /// Display system-wide information
    Info(super::system::InfoArgs),
    /// Serve the Docker Engine API on a socket (docker CLI, compose, docker-py...)
    Service(super::system::ServiceArgs),
}

#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
}
