//! `mdmctl command new`.

use crate::output::{CliResult, not_yet};

/// Subcommands of `mdmctl command`.
#[derive(Debug, clap::Subcommand)]
pub enum CommandCmd {
    /// Print a new command plist with a fresh CommandUUID.
    New {
        /// The command's RequestType.
        request_type: String,
        /// JSON file with the command's keys (Apple's names).
        #[arg(long)]
        json: Option<std::path::PathBuf>,
    },
}

/// Runs the subcommand.
pub fn run(_cmd: CommandCmd) -> CliResult {
    not_yet("command new")
}
