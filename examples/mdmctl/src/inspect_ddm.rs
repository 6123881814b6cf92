//! `mdmctl inspect ddm-declaration` and `ddm-status`.

use crate::output::{CliResult, not_yet};

/// Arguments (not yet defined).
#[derive(Debug, clap::Args)]
pub struct DeclarationArgs {}

/// Arguments (not yet defined).
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

/// Runs `inspect ddm-declaration`.
pub fn run_declaration(_args: DeclarationArgs) -> CliResult {
    not_yet("inspect ddm-declaration")
}

/// Runs `inspect ddm-status`.
pub fn run_status(_args: StatusArgs) -> CliResult {
    not_yet("inspect ddm-status")
}
