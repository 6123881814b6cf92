//! `mdmctl inspect scep`.

use crate::output::{CliResult, not_yet};

/// Arguments (not yet defined).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> CliResult {
    not_yet("inspect scep")
}
