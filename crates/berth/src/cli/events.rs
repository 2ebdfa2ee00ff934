//! The flags of the events commands (parsed here, run by `crate::commands::events`).

use clap::Args;

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Format output using a custom template: 'json' (JSON lines) or a Go template
    #[arg(long, value_name = "STRING")]
    pub format: Option<String>,

    /// Show all events created since timestamp
    #[arg(long, value_name = "STRING", default_value = "")]
    pub since: String,

    /// Stream events until this timestamp
    #[arg(long, value_name = "STRING", default_value = "")]
    pub until: String,
}
