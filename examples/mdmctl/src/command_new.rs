//! `mdmctl command new`.

use crate::output::{CliResult, print_bytes, read_input};
use mdm_commands::{AnyCommand, CommandEnvelope};

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
pub fn run(cmd: CommandCmd) -> CliResult {
    match cmd {
        CommandCmd::New { request_type, json } => new(&request_type, json.as_deref()),
    }
}

/// Prints a new command plist: the template of `request_type`, or the keys of `json`.
pub fn new(request_type: &str, json: Option<&std::path::Path>) -> CliResult {
    let command = match json {
        Some(path) => {
            let bytes = read_input(Some(path))?;
            let value: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
            if let Some(given) = value.get("RequestType").and_then(|v| v.as_str())
                && given != request_type
            {
                return Err(
                    format!("the JSON's RequestType {given} differs from {request_type}").into(),
                );
            }
            mdm_commands::json::payload_from_json(request_type, &value)?
        }
        None => AnyCommand::template(request_type).ok_or_else(|| {
            format!("unknown RequestType {request_type}: give its keys with --json")
        })?,
    };
    let envelope = CommandEnvelope::new(uuid::Uuid::new_v4().to_string().to_uppercase(), command);
    print_bytes(&envelope.encode()?)
}
