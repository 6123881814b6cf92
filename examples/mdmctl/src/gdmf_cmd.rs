//! `mdmctl gdmf latest`: the newest OS release Apple's catalogue (GDMF) lets device management
//! push to a device, and until when it can be installed.
//!
//! Prints one JSON object: `{"model", "platform", "version", "build", "posted", "expires"}`
//! (`version` null when no release fits).

use std::path::PathBuf;

use apple_services::gdmf::{self, AssetSet, client::GdmfClient};
use serde_json::json;
use time::OffsetDateTime;

use crate::output::{CliResult, print_json, read_input};

/// Arguments of `mdmctl gdmf`.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// The latest supported release for a device model.
    Latest(LatestArgs),
}

/// Arguments of `mdmctl gdmf latest`.
#[derive(Debug, clap::Args)]
pub struct LatestArgs {
    /// The device's product type (its ProductName), such as `iPhone15,2` or `Mac14,3`.
    #[arg(long)]
    model: String,
    /// The catalogue's platform key: `iOS` (also iPadOS), `macOS` or `visionOS`.
    #[arg(long, default_value = "iOS")]
    platform: String,
    /// Read the catalogue from this file (`-` for standard input) instead of fetching it.
    #[arg(long)]
    file: Option<PathBuf>,
    /// The catalogue's URL.
    #[arg(long, default_value = gdmf::URL)]
    url: String,
    /// Also trust the certificates of this PEM file (gdmf.apple.com's chain ends at Apple's
    /// root CA, which not every system store holds).
    #[arg(long)]
    extra_roots: Option<PathBuf>,
    /// The list to read: `managed` (AssetSets, default) or `public` (PublicAssetSets).
    #[arg(long, default_value = "managed")]
    list: String,
    /// The date to answer for (YYYY-MM-DD); today (UTC) by default.
    #[arg(long)]
    date: Option<String>,
}

/// Runs `mdmctl gdmf`.
pub fn run(cmd: Cmd) -> CliResult {
    let Cmd::Latest(args) = cmd;
    let set = match args.list.as_str() {
        "managed" => AssetSet::Managed,
        "public" => AssetSet::Public,
        other => return Err(format!("--list {other:?}: expected managed or public").into()),
    };
    let today = match &args.date {
        Some(d) => time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| format!("--date {d:?}: expected YYYY-MM-DD"))?,
        None => OffsetDateTime::now_utc().date(),
    };
    let catalog = match &args.file {
        Some(path) => gdmf::parse(&read_input(Some(path))?)?,
        None => {
            let mut client = GdmfClient::with_url(&args.url)?;
            if let Some(pem) = &args.extra_roots {
                client = client.with_extra_roots_pem(&std::fs::read(pem)?)?;
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(client.fetch())?
        }
    };
    let found = gdmf::latest_in(&catalog, set, &args.model, &args.platform, today)?;
    let fmt = |d: Option<time::Date>| d.map(|d| d.to_string());
    print_json(&json!({
        "model": args.model,
        "platform": args.platform,
        "date": today.to_string(),
        "version": found.as_ref().map(|s| s.version.clone()),
        "build": found.as_ref().and_then(|s| s.build.clone()),
        "posted": fmt(found.as_ref().and_then(|s| s.posted)),
        "expires": fmt(found.as_ref().and_then(|s| s.expires)),
    }))
}
