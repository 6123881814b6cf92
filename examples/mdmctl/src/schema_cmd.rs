//! `mdmctl schema diff OLD NEW`: what changed between two trees of Apple's schema
//! (`device-management` checkouts), from the same model the code generator uses.
//!
//! Output: CHANGES.md's layout (a section per folder, one per kind of change, one bullet per
//! change), or with `--json` one JSON object `{"old":{..},"new":{..},"changes":[..]}`.

use crate::output::{CliResult, print_json};
use serde_json::json;
use std::path::PathBuf;
use xtask::diff::{diff, markdown};
use xtask::model::load_tree;

/// `mdmctl schema`.
#[derive(Debug, clap::Subcommand)]
pub enum SchemaCmd {
    /// What changed from one schema tree to another: new, removed and changed items and
    /// keys, and OS support, per folder.
    Diff(DiffArgs),
}

/// Arguments of `schema diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The older tree (such as ../shared/apple-device-management).
    pub old: PathBuf,
    /// The newer tree (such as ../shared/apple-device-management-27).
    pub new: PathBuf,
    /// Print JSON instead of Markdown.
    #[arg(long)]
    pub json: bool,
}

/// Runs `mdmctl schema …`.
pub fn run(cmd: SchemaCmd) -> CliResult {
    match cmd {
        SchemaCmd::Diff(args) => {
            let old = load_tree(&args.old)?;
            let new = load_tree(&args.new)?;
            let changes = diff(&old, &new);
            if args.json {
                let tree = |t: &xtask::model::Tree| {
                    json!({
                        "root": t.root.display().to_string(),
                        "release": t.release,
                        "items": t.items.len(),
                    })
                };
                print_json(&json!({
                    "old": tree(&old),
                    "new": tree(&new),
                    "changes": changes
                        .iter()
                        .map(|c| json!({
                            "folder": c.folder,
                            "kind": c.kind.name(),
                            "path": c.path,
                            "detail": c.detail,
                        }))
                        .collect::<Vec<_>>(),
                }))
            } else {
                crate::output::print_bytes(markdown(&old, &new, &changes).as_bytes())
            }
        }
    }
}
