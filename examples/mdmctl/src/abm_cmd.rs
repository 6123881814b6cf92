//! `mdmctl abm`: Apple Business Manager's (or School Manager's) REST API: the organisation's
//! devices, its MDM servers, and device activities that assign and unassign devices.
//!
//! Credentials: the API account's client ID, key ID and P-256 private key (PEM), from flags
//! or `MDMCTL_ABM_CLIENT_ID`, `MDMCTL_ABM_KEY_ID`, `MDMCTL_ABM_KEY_FILE`. Every answer is
//! printed as JSON, as Apple sent it (unknown keys kept).

use std::path::PathBuf;
use std::time::Duration;

use apple_services::abm::{self, Credentials, Program, client::AbmClient};
use serde_json::json;

use crate::output::{CliResult, print_json};

/// Arguments of `mdmctl abm`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The API account's client ID (`BUSINESSAPI.…` or `SCHOOLAPI.…`).
    #[arg(long, env = "MDMCTL_ABM_CLIENT_ID")]
    client_id: String,
    /// The key ID Apple shows with the private key.
    #[arg(long, env = "MDMCTL_ABM_KEY_ID")]
    key_id: String,
    /// The P-256 private key Apple issued (PEM).
    #[arg(long, env = "MDMCTL_ABM_KEY_FILE")]
    key: PathBuf,
    /// Apple School Manager instead of Apple Business Manager.
    #[arg(long)]
    school: bool,
    /// The OAuth token URL (a mock, a proxy).
    #[arg(long, default_value = abm::TOKEN_URL)]
    token_url: String,
    /// The API's base URL (default: the program's).
    #[arg(long)]
    base_url: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

/// `mdmctl abm` subcommands.
#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// The organisation's devices (every page), or one with `--id`.
    Devices {
        /// One device (its serial number), with the MDM server it is assigned to.
        #[arg(long)]
        id: Option<String>,
        /// Devices per page (at most 1000).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// The organisation's MDM servers, or the devices of one with `--devices`.
    Servers {
        /// List the devices assigned to this MDM server.
        #[arg(long)]
        devices: Option<String>,
    },
    /// Assigns devices (serial numbers) to an MDM server; prints the activity.
    Assign {
        /// The MDM server's ID.
        #[arg(long)]
        server: String,
        /// Serial numbers.
        #[arg(required = true)]
        serials: Vec<String>,
        /// Poll the activity until it is done.
        #[arg(long)]
        wait: bool,
    },
    /// Unassigns devices (serial numbers) from their MDM server; prints the activity.
    Unassign {
        /// Serial numbers.
        #[arg(required = true)]
        serials: Vec<String>,
        /// Poll the activity until it is done.
        #[arg(long)]
        wait: bool,
    },
    /// One device activity's state.
    Activity {
        /// The activity's ID.
        id: String,
        /// Poll until it is done.
        #[arg(long)]
        wait: bool,
    },
}

/// Polls every 2 seconds, 150 times at most (5 minutes).
const POLL: Duration = Duration::from_secs(2);
const MAX_POLLS: u32 = 150;

/// Runs `mdmctl abm`.
pub fn run(args: Args) -> CliResult {
    let pem = std::fs::read_to_string(&args.key)
        .map_err(|e| format!("--key {}: {e}", args.key.display()))?;
    let key = mdm_pki::EcKey::from_pem(&pem, None)
        .map_err(|e| format!("--key {}: not a P-256 private key: {e}", args.key.display()))?;
    let program = if args.school {
        Program::School
    } else {
        Program::Business
    };
    let base = args
        .base_url
        .clone()
        .unwrap_or_else(|| program.base_url().to_owned());
    let client = AbmClient::with_urls(
        Credentials::new(&args.client_id, &args.key_id, key),
        program,
        &args.token_url,
        base,
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answer = runtime.block_on(async {
        let value = match args.cmd {
            Cmd::Devices { id: Some(id), .. } => {
                let device = client.org_device(&id).await?;
                let server = client.assigned_server(&id).await?;
                json!({ "device": device, "assigned_server": server })
            }
            Cmd::Devices { id: None, limit } => json!(client.org_devices(limit).await?),
            Cmd::Servers { devices: Some(s) } => json!(client.mdm_server_devices(&s).await?),
            Cmd::Servers { devices: None } => json!(client.mdm_servers().await?),
            Cmd::Assign {
                server,
                serials,
                wait,
            } => {
                let activity = client.assign(&server, serials).await?;
                finish(&client, activity, wait).await?
            }
            Cmd::Unassign { serials, wait } => {
                let activity = client.unassign(serials).await?;
                finish(&client, activity, wait).await?
            }
            Cmd::Activity { id, wait } => {
                let activity = client.activity(&id).await?;
                finish(&client, activity, wait).await?
            }
        };
        Ok::<_, apple_services::Error>(value)
    })?;
    print_json(&answer)
}

async fn finish(
    client: &AbmClient,
    activity: apple_services::abm::OrgDeviceActivity,
    wait: bool,
) -> Result<serde_json::Value, apple_services::Error> {
    if !wait || abm::activity_done(&activity) {
        return Ok(json!(activity));
    }
    let id = activity.id.clone();
    Ok(json!(client.wait_activity(&id, POLL, MAX_POLLS).await?))
}
