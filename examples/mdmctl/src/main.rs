//! `mdmctl`: inspect MDM payloads offline, and talk to SCEP, DEP, APNs and the MDM server.
//!
//! Output contract of every `inspect` subcommand: on success, exit 0 and one JSON object on
//! stdout; on bad input, exit 1, nothing on stdout and one line on stderr starting `error:`.

mod abm_cmd;
mod api_cmd;
mod command_new;
mod dep_cmd;
mod gdmf_cmd;
mod inspect_checkin;
mod inspect_command;
mod inspect_ddm;
mod inspect_report;
mod inspect_scep;
mod output;
mod profile_cmd;
mod push_cmd;
mod scep_cmd;
mod schema_cmd;
mod vpp_cmd;

use clap::{Parser, Subcommand};

/// Apple MDM toolbox.
#[derive(Debug, Parser)]
#[command(name = "mdmctl", version, about)]
struct Cli {
    /// Base URL of the MDM server's admin API (for the API subcommands); the example
    /// server's default address when not given.
    #[arg(
        long,
        global = true,
        env = "MDMCTL_SERVER",
        default_value = "http://127.0.0.1:9000"
    )]
    server: Option<String>,
    /// API key of the MDM server (for the API subcommands). Never printed.
    #[arg(long, global = true, env = "MDMCTL_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// For `https://` servers (admin API, SCEP): trust only the certificates in this PEM
    /// file, as for a server with its own certificate. Without it, the system's roots.
    #[arg(long, global = true, env = "MDMCTL_CA_FILE")]
    ca_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: TopLevel,
}

#[derive(Debug, Subcommand)]
enum TopLevel {
    /// Decode a payload offline and print it as JSON.
    #[command(subcommand)]
    Inspect(Inspect),
    /// Apple's schema trees: what changed between two releases.
    #[command(subcommand)]
    Schema(schema_cmd::SchemaCmd),
    /// Configuration profiles (.mobileconfig): lint against Apple's schema, inspect,
    /// create, sign and verify.
    #[command(subcommand)]
    Profile(profile_cmd::ProfileCmd),
    /// Old name of `commands new` (kept so that scripts keep working).
    #[command(subcommand, hide = true)]
    Command(command_new::CommandCmd),
    /// SCEP client: capabilities, CA certificates, enrollment (polls while PENDING), and
    /// scep-server's pending requests (list, approve, reject).
    Scep(scep_cmd::Args),
    /// Send MDM push notifications through APNs.
    Push(push_cmd::Args),
    /// Apple's device enrollment (DEP/ABM) API.
    Dep(dep_cmd::Args),
    /// Apple Business (or School) Manager's API: devices, MDM servers, assign, unassign.
    Abm(abm_cmd::Args),
    /// Apple's Apps and Books (VPP) API: assets, assignments, events.
    Vpp(vpp_cmd::Args),
    /// Apple's OS release catalogue (GDMF): the latest release a device may be given.
    #[command(subcommand)]
    Gdmf(gdmf_cmd::Cmd),
    /// The MDM server's admin API: enrollments, commands, queues, pushes.
    #[command(flatten)]
    Api(api_cmd::ApiCmd),
}

#[derive(Debug, Subcommand)]
enum Inspect {
    /// A check-in message as a device PUTs it to the CheckInURL.
    Checkin(inspect_checkin::Args),
    /// A command report as a device PUTs it to the ServerURL.
    Report(inspect_report::Args),
    /// A command plist as a server sends it.
    Command(inspect_command::Args),
    /// A Declarative Device Management declaration (JSON).
    DdmDeclaration(inspect_ddm::DeclarationArgs),
    /// A Declarative Device Management status report (JSON).
    DdmStatus(inspect_ddm::StatusArgs),
    /// A SCEP pkiMessage (DER).
    Scep(inspect_scep::Args),
}

fn main() {
    let cli = Cli::parse();
    let api = api_cmd::Connection {
        server: cli.server,
        api_key: cli.api_key,
        ca_file: cli.ca_file.clone(),
    };
    let result = match cli.command {
        TopLevel::Inspect(Inspect::Checkin(args)) => inspect_checkin::run(args),
        TopLevel::Inspect(Inspect::Report(args)) => inspect_report::run(args),
        TopLevel::Inspect(Inspect::Command(args)) => inspect_command::run(args),
        TopLevel::Inspect(Inspect::DdmDeclaration(args)) => inspect_ddm::run_declaration(args),
        TopLevel::Inspect(Inspect::DdmStatus(args)) => inspect_ddm::run_status(args),
        TopLevel::Inspect(Inspect::Scep(args)) => inspect_scep::run(args),
        TopLevel::Schema(cmd) => schema_cmd::run(cmd),
        TopLevel::Command(cmd) => command_new::run(cmd),
        TopLevel::Profile(cmd) => profile_cmd::run(cmd),
        TopLevel::Scep(args) => scep_cmd::run(args, cli.ca_file.as_deref()),
        TopLevel::Push(args) => push_cmd::run(args, cli.ca_file.as_deref()),
        TopLevel::Dep(args) => dep_cmd::run(args),
        TopLevel::Gdmf(cmd) => gdmf_cmd::run(cmd),
        TopLevel::Abm(args) => abm_cmd::run(args),
        TopLevel::Vpp(args) => vpp_cmd::run(args),
        TopLevel::Api(cmd) => api_cmd::run(api, cmd),
    };
    if let Err(err) = result {
        output::fail(&err);
    }
}
