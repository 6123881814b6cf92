//! `mdmctl inspect command`.

use crate::output::{CliResult, print_bytes, print_json, read_input};
use mdm_commands::CommandEnvelope;
use std::path::PathBuf;

/// Arguments of `mdmctl inspect command`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The command plist as a server sends it (XML or binary); `-` or nothing for stdin.
    pub file: Option<PathBuf>,
    /// Write the decoded command back as an XML plist instead of JSON.
    #[arg(long)]
    pub reencode: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> CliResult {
    let bytes = read_input(args.file.as_deref())?;
    let envelope = CommandEnvelope::decode(&bytes)?;
    if args.reencode {
        return print_bytes(&envelope.encode()?);
    }
    print_json(&serde_json::json!({
        "kind": "command",
        "type": envelope.command.request_type(),
        "known": envelope.command.is_known(),
        "value": mdm_commands::json::envelope_to_json(&envelope),
    }))
}
