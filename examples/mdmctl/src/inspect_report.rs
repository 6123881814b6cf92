//! `mdmctl inspect report`: decode a command report offline, optionally as the typed
//! response of a given command.

use crate::inspect_checkin::emit;
use crate::output::{CliResult, read_input};
use mdm_commands::AnyResponse;
use mdm_proto::CommandReport;
use mdm_proto::plist::Value;
use std::path::PathBuf;

/// Arguments of `inspect report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The report body (XML or binary plist); `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
    /// Decode the report as the response of this command (its RequestType); `known` then
    /// says whether the library types that command.
    #[arg(long)]
    pub request_type: Option<String>,
    /// Print the report re-encoded from its typed value as an XML plist, instead of JSON.
    #[arg(long)]
    pub reencode: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> CliResult {
    let bytes = read_input(args.file.as_deref())?;
    let mut report = CommandReport::decode(&bytes).map_err(|e| format!("command report: {e}"))?;
    let enrollment = report
        .enrollment()
        .map_err(|e| format!("command report: {e}"))?;
    let known = match &args.request_type {
        None => report.status.is_known(),
        Some(request_type) => {
            let typed = mdm_commands::decode_response(request_type, &report)
                .map_err(|e| format!("{request_type} response: {e}"))?;
            // Re-encode from the typed response, so that `--reencode` shows what the
            // typed value holds (every key, unknown ones included).
            if let Value::Dictionary(keys) = typed.to_value() {
                report.response = keys;
            }
            !matches!(typed, AnyResponse::Unknown { .. })
        }
    };
    emit(
        "report",
        report.status.as_str(),
        known,
        &enrollment,
        report.to_dictionary(),
        args.reencode,
    )
}
