//! `mdmctl inspect report`: decode a command report offline.

use crate::inspect_checkin::emit;
use crate::output::{CliResult, read_input};
use mdm_proto::CommandReport;
use std::path::PathBuf;

/// Arguments of `inspect report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The report body (XML or binary plist); `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
    /// Print the report re-encoded from its typed value as an XML plist, instead of JSON.
    #[arg(long)]
    pub reencode: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> CliResult {
    let bytes = read_input(args.file.as_deref())?;
    let report = CommandReport::decode(&bytes).map_err(|e| format!("command report: {e}"))?;
    let enrollment = report
        .enrollment()
        .map_err(|e| format!("command report: {e}"))?;
    emit(
        "report",
        report.status.as_str(),
        report.status.is_known(),
        &enrollment,
        report.to_dictionary(),
        args.reencode,
    )
}
