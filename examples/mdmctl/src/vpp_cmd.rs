//! `mdmctl vpp`: Apple's App and Book Management (Apps and Books, formerly VPP) API for one
//! location: its assets, assigning them to devices or users (and back), and the state of the
//! asynchronous event an assignment starts.
//!
//! The location's content token (sToken) comes from `--token-file` or `MDMCTL_VPP_TOKEN_FILE`.
//! Every answer is printed as JSON, as Apple sent it.

use std::path::PathBuf;

use apple_services::anb::{self, Asset, ManageAssetsRequest, client::AnbClient};
use serde_json::json;

use crate::output::{CliResult, print_json};

/// Arguments of `mdmctl vpp`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file holding the location's content token (the `.vpptoken` Apple gives).
    #[arg(long, env = "MDMCTL_VPP_TOKEN_FILE")]
    token_file: PathBuf,
    /// The service's base URL (a mock, a proxy).
    #[arg(long, default_value = anb::BASE_URL)]
    base_url: String,
    #[command(subcommand)]
    cmd: Cmd,
}

/// `mdmctl vpp` subcommands.
#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// One page of the location's assets.
    Assets {
        /// The page (from 0).
        #[arg(long, default_value_t = 0)]
        page: u32,
    },
    /// Assigns an asset to devices (`--serial`) or users (`--user`); with `--remove`,
    /// takes it back. Prints the event to poll with `mdmctl vpp events`.
    Assign {
        /// The asset's store ID (`adamId`).
        #[arg(long)]
        adam_id: String,
        /// The asset's pricing (`STDQ` standard, `PLUS` high quality).
        #[arg(long, default_value = "STDQ")]
        pricing: String,
        /// Device serial numbers.
        #[arg(long = "serial")]
        serials: Vec<String>,
        /// Users' client user IDs.
        #[arg(long = "user")]
        users: Vec<String>,
        /// Disassociate instead of associate.
        #[arg(long)]
        remove: bool,
    },
    /// The state of an asynchronous event (from an assignment).
    Events {
        /// The event's ID.
        id: String,
    },
}

/// Runs `mdmctl vpp`.
pub fn run(args: Args) -> CliResult {
    let token = std::fs::read_to_string(&args.token_file)
        .map_err(|e| format!("--token-file {}: {e}", args.token_file.display()))?;
    let client = AnbClient::new(token.trim(), &args.base_url)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answer = match args.cmd {
        Cmd::Assets { page } => runtime.block_on(client.assets(page))?,
        Cmd::Events { id } => runtime.block_on(client.event_status(&id))?,
        Cmd::Assign {
            adam_id,
            pricing,
            serials,
            users,
            remove,
        } => {
            if serials.is_empty() == users.is_empty() {
                return Err("give --serial or --user (one kind, at least one)".into());
            }
            let total = serials.len() + users.len();
            if total > anb::MAX_MANAGE {
                return Err(format!(
                    "{total} targets: Apple takes at most {} per call",
                    anb::MAX_MANAGE
                )
                .into());
            }
            let mut asset = Asset::default();
            asset.adam_id = Some(adam_id);
            asset.pricing_param = Some(anb::AssetPricingParam::from(pricing));
            let mut request = ManageAssetsRequest::default();
            request.assets = vec![asset];
            request.serial_numbers = (!serials.is_empty()).then_some(serials);
            request.client_user_ids = (!users.is_empty()).then_some(users);
            let event = if remove {
                runtime.block_on(client.disassociate(request))?
            } else {
                runtime.block_on(client.associate(request))?
            };
            json!(event)
        }
    };
    print_json(&answer)
}
