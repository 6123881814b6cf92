//! The MDM server's admin API: `enrollments`, `commands`, `queue`, `push`.

use crate::output::{CliResult, not_yet};

/// Where the admin API is and how to authenticate.
#[derive(Debug)]
pub struct Connection {
    /// Base URL of the server.
    pub server: Option<String>,
    /// API key.
    pub api_key: Option<String>,
}

/// API subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ApiCmd {
    /// Enrollments known to the server.
    Enrollments,
}

/// Runs an API subcommand.
pub fn run(_conn: Connection, _cmd: ApiCmd) -> CliResult {
    not_yet("the admin API client")
}
