//! Development tasks: the code generator from Apple's YAML schemas.
//!
//! `cargo run -p xtask -- codegen [SCHEMA_DIR] [--check]` reads Apple's
//! `device-management` repository (by default `../shared/apple-device-management` next to
//! the repository root) and writes `mdm-commands/src/generated/`. With `--check` it
//! regenerates in memory and fails when the committed files differ.

mod codegen;
use xtask::names;
mod schema;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn usage() -> ExitCode {
    eprintln!("usage: cargo run -p xtask -- codegen [SCHEMA_DIR] [--check]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        return usage();
    };
    if task != "codegen" {
        return usage();
    }
    let mut check = false;
    let mut schema_dir = None;
    for arg in rest {
        match arg.as_str() {
            "--check" => check = true,
            flag if flag.starts_with('-') => return usage(),
            path => schema_dir = Some(PathBuf::from(path)),
        }
    }
    let root = repo_root();
    let schema_dir = schema_dir.unwrap_or_else(|| root.join("../shared/apple-device-management"));
    let out_dir = root.join("mdm-commands/src");
    match codegen::run(&schema_dir, &out_dir, check) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
