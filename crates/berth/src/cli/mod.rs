//! Command-line syntax: docker's verbs, flags and help texts.

pub mod build;
pub mod changes;
pub mod compose;
pub mod events;
pub mod network;
pub mod system;

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

pub const VERSION_TEXT: &str = concat!("version ", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    about = "A daemonless, Docker-compatible container engine",
    version = VERSION_TEXT,
    disable_version_flag = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(flatten)]
    pub globals: GlobalArgs,

    /// Print version information and quit
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,

    #[command(subcommand)]
    pub command: Command,
}

/// The options every verb takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Root directory of the image and container store [default: /var/lib/berth, or
    /// ~/.local/share/berth when not root]
    #[arg(long, global = true, env = "BERTH_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Set the logging level
    #[arg(
        long,
        global = true,
        value_name = "LEVEL",
        default_value = "info",
        value_parser = ["debug", "info", "warn", "error", "fatal"]
    )]
    pub log_level: String,
}

impl Cli {
    /// `berth [GLOBAL OPTIONS] run ...` parsed with a parser of the `run`
    /// verb alone: clap builds its whole command tree (every verb and
    /// flag) for a parse, about 0.6 ms and 200 page faults of each
    /// `berth run`. `None` (then the full parser decides, with its help
    /// and errors) for anything else, help, or a parse error.
    pub fn parse_run(args: &[std::ffi::OsString]) -> Option<Cli> {
        use clap::FromArgMatches;
        let mut i = 1;
        while let Some(a) = args.get(i).and_then(|a| a.to_str()) {
            match a {
                "--root" | "--log-level" => i += 2,
                _ if a.starts_with("--root=") || a.starts_with("--log-level=") => i += 1,
                _ => break,
            }
        }
        if args.get(i).and_then(|a| a.to_str()) != Some("run")
            || args[i..].iter().any(|a| a == "-h" || a == "--help")
        {
            return None;
        }
        let parser = GlobalArgs::augment_args(clap::Command::new("berth"))
            .subcommand(RunArgs::augment_args(clap::Command::new("run")));
        let m = parser.try_get_matches_from(args).ok()?;
        let (_, sub) = m.subcommand()?;
        Some(Cli {
            globals: GlobalArgs::from_arg_matches(&m).ok()?,
            version: None,
            command: Command::Run(RunArgs::from_arg_matches(sub).ok()?),
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage networks
    #[command(subcommand)]
    Network(self::network::NetworkCommand),
    /// List port mappings or a specific mapping for the container
    Port(self::network::PortArgs),
    /// Manage Berth
    #[command(subcommand)]
    System(self::network::SystemCommand),
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(ContainersArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// List images
    Images(ImagesArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Return low-level information on containers and images
    Inspect(InspectArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Show the history of an image
    History(self::changes::HistoryArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(self::changes::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(self::changes::ExportArgs),
    /// Create a new image from a container's changes
    Commit(self::changes::CommitArgs),
    /// Build an image from a Dockerfile
    Build(self::build::BuildArgs),
    /// Manage builds
    #[command(subcommand, visible_alias = "buildx")]
    Builder(self::build::BuilderCommand),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Get real time events from the engine
    Events(self::events::EventsArgs),
    /// Show the berth version information
    Version(self::system::VersionArgs),
    /// Display system-wide information
    Info(self::system::InfoArgs),
    /// Manage volumes
    #[command(subcommand)]
    Volume(crate::cli_ext::VolumeCommand),
    /// Copy files/folders between a container and the local filesystem
    Cp(crate::cli_ext::CpArgs),
    /// Define and run multi-container applications (the Compose Specification)
    Compose(self::compose::ComposeArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(crate::cli_ext::StatsArgs),
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers
    #[command(visible_aliases = ["list", "ps"])]
    Ls(PsArgs),
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Display detailed information on one or more containers
    Inspect(InspectArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(ContainersArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Remove all stopped containers
    Prune(ContainerPruneArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(crate::cli_ext::CpArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(crate::cli_ext::StatsArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(self::changes::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(self::changes::ExportArgs),
    /// Create a new image from a container's changes
    Commit(self::changes::CommitArgs),
}

/// Flags of `run` and `create`, then IMAGE [COMMAND] [ARG...]. As with
/// docker, `-h` is the hostname; help is `--help`.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,

    /// Override the key sequence for detaching a container
    #[arg(long, value_name = "string")]
    pub detach_keys: Option<String>,

    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,

    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,

    /// Assign a name to the container
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Set environment variables
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Read in a file of environment variables
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,

    /// Working directory inside the container
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,

    /// Add additional groups to join
    #[arg(long, value_name = "GROUP")]
    pub group_add: Vec<String>,

    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long, value_name = "COMMAND")]
    pub entrypoint: Option<String>,

    /// Bind mount a volume ([HOST-DIR|NAME:]CONTAINER-DIR[:OPTIONS])
    #[arg(short, long, value_name = "VOLUME")]
    pub volume: Vec<String>,

    /// Attach a filesystem mount to the container (type=bind|volume|tmpfs,source=,target=,...)
    #[arg(long, value_name = "MOUNT")]
    pub mount: Vec<String>,

    /// Mount a tmpfs directory (PATH[:OPTIONS])
    #[arg(long, value_name = "PATH")]
    pub tmpfs: Vec<String>,

    /// Connect a container to a network (bridge, none, host, container:NAME, NETWORK)
    #[arg(long, visible_alias = "net", value_name = "NETWORK")]
    pub network: Option<String>,

    /// Publish a container's port(s) to the host ([ip:][hostport:]containerport[/proto])
    #[arg(short = 'p', long, value_name = "PORT")]
    pub publish: Vec<String>,

    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long)]
    pub publish_all: bool,

    /// Expose a port or a range of ports
    #[arg(long, value_name = "PORT")]
    pub expose: Vec<String>,

    /// Add network-scoped alias for the container
    #[arg(long, value_name = "ALIAS")]
    pub network_alias: Vec<String>,

    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,

    /// Container host name
    #[arg(short = 'h', long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long, value_name = "HOST:IP")]
    pub add_host: Vec<String>,

    /// Set custom DNS servers
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,

    /// Set custom DNS search domains
    #[arg(long, value_name = "DOMAIN")]
    pub dns_search: Vec<String>,

    /// Set DNS options
    #[arg(long, visible_alias = "dns-opt", value_name = "OPTION")]
    pub dns_option: Vec<String>,

    /// Add Linux capabilities
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,

    /// Drop Linux capabilities
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,

    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,

    /// Security Options
    #[arg(long, value_name = "OPTION")]
    pub security_opt: Vec<String>,

    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub read_only: bool,

    /// Memory limit
    #[arg(short, long, value_name = "BYTES")]
    pub memory: Option<String>,

    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long, value_name = "BYTES")]
    pub memory_swap: Option<String>,

    /// Number of CPUs
    #[arg(long, value_name = "DECIMAL")]
    pub cpus: Option<String>,

    /// Memory soft limit
    #[arg(long, value_name = "BYTES")]
    pub memory_reservation: Option<String>,

    /// CPU shares (relative weight)
    #[arg(short = 'c', long, value_name = "INT")]
    pub cpu_shares: Option<i64>,

    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "CPUS")]
    pub cpuset_cpus: Option<String>,

    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "MEMS")]
    pub cpuset_mems: Option<String>,

    /// Add a host device to the container (HOST[:CONTAINER][:PERMISSIONS])
    #[arg(long, value_name = "DEVICE")]
    pub device: Vec<String>,

    /// Add a rule to the cgroup allowed devices list ('c 1:3 rwm')
    #[arg(long, value_name = "RULE")]
    pub device_cgroup_rule: Vec<String>,

    /// PID namespace to use (host, container:NAME)
    #[arg(long, value_name = "MODE")]
    pub pid: Option<String>,

    /// IPC mode to use (host, private, shareable, container:NAME, none)
    #[arg(long, value_name = "MODE")]
    pub ipc: Option<String>,

    /// User namespace to use (host)
    #[arg(long, value_name = "MODE")]
    pub userns: Option<String>,

    /// Sysctl options (KEY=VALUE)
    #[arg(long, value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,

    /// Add link to another container (NAME[:ALIAS])
    #[arg(long, value_name = "NAME[:ALIAS]")]
    pub link: Vec<String>,

    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "CONTAINER[:ro|rw]")]
    pub volumes_from: Vec<String>,

    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, value_name = "INT", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,

    /// Ulimit options (NAME=SOFT[:HARD])
    #[arg(long, value_name = "ULIMIT")]
    pub ulimit: Vec<String>,

    /// Size of /dev/shm
    #[arg(long, value_name = "BYTES")]
    pub shm_size: Option<String>,

    /// Set meta data on a container
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,

    /// Signal to stop the container
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,

    /// Timeout (in seconds) to stop a container
    #[arg(long, value_name = "INT", allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,

    /// Restart policy to apply when a container exits (recorded)
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,

    /// Path of an OCI runtime binary to use instead of the built-in one
    #[arg(long, value_name = "PATH")]
    pub runtime: Option<PathBuf>,

    /// Logging driver for the container (json-file, local, none)
    #[arg(long, value_name = "string")]
    pub log_driver: Option<String>,

    /// Log driver options
    #[arg(long, value_name = "list")]
    pub log_opt: Vec<String>,

    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,

    /// Command to run to check health
    #[arg(long, value_name = "STRING")]
    pub health_cmd: Option<String>,

    /// Time between running the check (ms|s|m|h)
    #[arg(long, value_name = "DURATION")]
    pub health_interval: Option<String>,

    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long, value_name = "DURATION")]
    pub health_timeout: Option<String>,

    /// Consecutive failures needed to report unhealthy
    #[arg(long, value_name = "INT")]
    pub health_retries: Option<i64>,

    /// Start period for the container to initialize before counting retries (ms|s|m|h)
    #[arg(long, value_name = "DURATION")]
    pub health_start_period: Option<String>,

    /// Time between running the check during the start period (ms|s|m|h)
    #[arg(long, value_name = "DURATION")]
    pub health_start_interval: Option<String>,

    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    pub no_healthcheck: bool,

    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,

    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,

    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,

    /// Pull image before running ("always", "missing", "never")
    #[arg(long, value_name = "POLICY", default_value = "missing",
          value_parser = ["always", "missing", "never"])]
    pub pull: String,

    /// Suppress the pull output
    #[arg(short, long)]
    pub quiet: bool,

    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,

    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,

    /// Override the key sequence for detaching a container
    #[arg(long, value_name = "string")]
    pub detach_keys: Option<String>,

    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long)]
    pub no_stdin: bool,

    /// Override the key sequence for detaching a container
    #[arg(long, value_name = "string")]
    pub detach_keys: Option<String>,

    /// Proxy all received signals to the process
    #[arg(long, default_value = "true", action = ArgAction::Set, value_name = "BOOL")]
    pub sig_proxy: bool,

    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        value_name = "SECONDS",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,

    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, value_name = "SIGNAL")]
    pub signal: Option<String>,

    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,

    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,

    /// Remove the specified link (not supported)
    #[arg(short, long)]
    pub link: bool,

    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,

    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,

    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,

    /// Show the latest created container
    #[arg(short, long)]
    pub latest: bool,

    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, value_name = "INT", allow_hyphen_values = true)]
    pub last: Option<i64>,

    /// Display total file sizes
    #[arg(short, long)]
    pub size: bool,

    /// Filter output based on conditions provided (id=, name=, label=,
    /// label!=, exited=, status=, ancestor=, before=, since=, volume=,
    /// network=, publish=, expose=, health=, isolation=)
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Format output: 'table', 'table TEMPLATE', 'json', or a Go template
    /// ({{.ID}} {{.Image}} {{.Command}} {{.CreatedAt}} {{.RunningFor}}
    /// {{.Status}} {{.State}} {{.Names}} {{.Labels}} {{.Ports}})
    #[arg(long, value_name = "STRING")]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,

    /// Number of lines to show from the end of the logs ("all" for all)
    #[arg(short = 'n', long, value_name = "N", default_value = "all")]
    pub tail: String,

    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,

    /// Show logs since timestamp or relative (e.g. 42m)
    #[arg(long, value_name = "STRING", allow_hyphen_values = true)]
    pub since: Option<String>,

    /// Show logs before a timestamp or relative (e.g. 42m)
    #[arg(long, value_name = "STRING", allow_hyphen_values = true)]
    pub until: Option<String>,

    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,

    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,

    /// Override the key sequence for detaching a container
    #[arg(long, value_name = "string")]
    pub detach_keys: Option<String>,

    /// Set environment variables
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Read in a file of environment variables
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,

    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,

    /// Working directory inside the container
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,

    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,

    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,

    /// CONTAINER COMMAND [ARG...]
    #[arg(
        required = true,
        num_args = 2..,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CONTAINER COMMAND [ARG...]"
    )]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ContainersArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// ps options (not supported; the default columns are shown)
    #[arg(value_name = "ps OPTIONS", allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `update`'s flags (docker's).
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short, long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long, value_name = "BYTES")]
    pub memory_reservation: Option<String>,
    /// Number of CPUs
    #[arg(long, value_name = "DECIMAL")]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long, value_name = "INT")]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "CPUS")]
    pub cpuset_cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, value_name = "INT", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,

    /// Provide filter values (e.g. "until=<timestamp>", "label=<key>=<value>")
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build an image from a Dockerfile
    Build(Box<self::build::BuildArgs>),
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Show the history of an image
    History(self::changes::HistoryArgs),
}

/// Registry connection flags shared by pull and push.
#[derive(Debug, Args, Clone)]
pub struct RegistryArgs {
    /// Require HTTPS and verify certificates when contacting registries
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    pub tls_verify: bool,

    /// Path of the authentication file
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,

    /// Use certificates at PATH (*.crt CAs, *.cert/*.key client
    /// certificate) for the registry, instead of certs.d/HOST:PORT
    #[arg(long, value_name = "PATH")]
    pub cert_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,

    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub registry: RegistryArgs,

    /// NAME[:TAG|@DIGEST]
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push a platform-specific manifest as a single-platform image to the
    /// registry. Image index won't be pushed (os[/arch[/variant]])
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,

    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub registry: RegistryArgs,

    /// Local image (NAME[:TAG] or ID)
    #[arg(value_name = "NAME[:TAG]")]
    pub image: String,

    /// Destination (podman's form: push LOCAL DEST); default: the name itself
    #[arg(value_name = "DESTINATION")]
    pub destination: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,

    /// Show digests
    #[arg(long)]
    pub digests: bool,

    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,

    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,

    /// Filter output based on conditions provided (dangling=true|false,
    /// reference=PATTERN)
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Format output: 'table', 'table TEMPLATE', 'json', or a Go template
    /// ({{.Repository}} {{.Tag}} {{.ID}} {{.Digest}} {{.CreatedSince}}
    /// {{.CreatedAt}} {{.Size}})
    #[arg(long, value_name = "STRING")]
    pub format: Option<String>,

    /// REPOSITORY[:TAG]
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub repository: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output: 'json' or a Go template
    #[arg(short, long, value_name = "STRING")]
    pub format: Option<String>,

    /// Return JSON for the specified type (container, image, network or volume)
    #[arg(long, value_name = "TYPE", value_parser = ["container", "image", "network", "volume"])]
    pub r#type: Option<String>,

    /// Display total file sizes if the type is container
    #[arg(short, long)]
    pub size: bool,

    #[arg(required = true, value_name = "NAME|ID")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,

    /// Do not delete untagged parents
    #[arg(long)]
    pub no_prune: bool,

    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,

    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,

    /// Provide filter values (e.g. "until=<timestamp>", "label=<key>=<value>")
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Archive format
    #[arg(
        long,
        value_name = "FORMAT",
        default_value = "docker-archive",
        value_parser = ["docker-archive", "oci-archive"]
    )]
    pub format: String,

    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long, value_name = "CHANGE")]
    pub change: Vec<String>,

    /// Set commit message for imported image
    #[arg(short, long, value_name = "MESSAGE")]
    pub message: Option<String>,

    /// Set platform of the imported image (os/arch[/variant])
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,

    /// Rootfs tarball (plain, gzip or zstd), or - for STDIN
    #[arg(value_name = "file|-")]
    pub file: String,

    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,

    /// Password
    #[arg(short, long)]
    pub password: Option<String>,

    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,

    /// Path of the authentication file
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,

    /// Require HTTPS and verify certificates when contacting the registry
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    pub tls_verify: bool,

    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Path of the authentication file
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,

    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
        args.iter().map(Into::into).collect()
    }

    /// The `run` fast path parses exactly as the full parser does.
    #[test]
    fn run_fast_path_matches_the_full_parser() {
        for args in [
            &[
                "berth", "run", "--rm", "-e", "A=1", "-p", "8080:80", "img", "sh", "-c", "x",
            ][..],
            &[
                "berth",
                "--root",
                "/r",
                "--log-level",
                "debug",
                "run",
                "-d",
                "--name",
                "n",
                "img",
            ],
            &[
                "berth",
                "--root=/r",
                "run",
                "-it",
                "--network",
                "none",
                "img",
                "ls",
                "-l",
            ],
        ] {
            let fast = Cli::parse_run(&os(args)).expect("fast path");
            let full = Cli::try_parse_from(args).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{args:?}");
        }
        // Help, other verbs and errors go to the full parser.
        for args in [
            &["berth", "run", "--help"][..],
            &["berth", "ps"],
            &["berth", "run", "--name"],
            &["berth", "--version"],
        ] {
            assert!(Cli::parse_run(&os(args)).is_none(), "{args:?}");
        }
    }
}
