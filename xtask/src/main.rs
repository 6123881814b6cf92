//! Development tasks: the one code generator from Apple's YAML schemas and the JSON Schemas of
//! its web services, and the test command.
//!
//! `cargo run -p xtask -- test` runs the workspace's tests and ends with a skip report (see
//! `test_runner`).
//!
//! `cargo run -p xtask -- codegen [--schema DIR]... [--check]` reads Apple's
//! `device-management` trees (newest first; by default `../shared/apple-device-management-27`
//! then `../shared/apple-device-management` next to the repository root) into one model
//! ([`xtask::model`]), takes the union of the releases, and writes the `generated/` modules
//! of mdm-commands, mdm-ddm, mdm-checkin and mdm-profiles, and from the JSON Schemas of
//! ../shared/apple-device-services the `generated/` modules of dep-client and apple-services. With `--check` it regenerates in memory and
//! fails when a committed file differs, is missing or is stale.

mod checkin;
mod codegen;
mod ddm;
mod profiles;
mod services;
mod test_runner;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: cargo run -p xtask -- codegen [--schema DIR]... [--out ROOT] [--check]\n       cargo run -p xtask -- test [CARGO TEST ARGS]..."
    );
    ExitCode::from(2)
}

/// The generated files of one crate: its `src/` folder (relative to the workspace root)
/// and the files by path relative to it.
struct Output {
    src: &'static str,
    files: BTreeMap<String, String>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        return usage();
    };
    if task == "test" {
        return test_runner::run(rest);
    }
    if task != "codegen" {
        return usage();
    }
    let root = repo_root();
    let mut check = false;
    let mut schemas = Vec::new();
    let mut out_root = root.clone();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--schema" => match it.next() {
                Some(dir) => schemas.push(PathBuf::from(dir)),
                None => return usage(),
            },
            "--out" => match it.next() {
                Some(dir) => out_root = PathBuf::from(dir),
                None => return usage(),
            },
            _ => return usage(),
        }
    }
    if schemas.is_empty() {
        schemas = vec![
            root.join("../shared/apple-device-management-27"),
            root.join("../shared/apple-device-management"),
        ];
    }
    match run(&schemas, &root, &out_root, check) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(schemas: &[PathBuf], root: &Path, out_root: &Path, check: bool) -> Result<(), String> {
    let (trees, items) = xtask::model::load_union(schemas)?;
    for t in &trees {
        eprintln!(
            "codegen: {} items of release {} from {}",
            t.items.len(),
            t.release,
            t.root.display()
        );
    }
    let outputs = [
        Output {
            src: "mdm-commands/src",
            files: codegen::generate(&items),
        },
        Output {
            src: "mdm-ddm/src",
            files: ddm::generate(&items)?,
        },
        Output {
            src: "mdm-checkin/src",
            files: checkin::generate(&items)?,
        },
        Output {
            src: "mdm-profiles/src",
            files: profiles::generate(&items)?,
        },
        Output {
            src: "dep-client/src",
            files: services::generate(
                &root.join("../shared/apple-device-services"),
                &[services::DEP],
            )?,
        },
        Output {
            src: "apple-services/src",
            files: services::generate(
                &root.join("../shared/apple-device-services"),
                &[services::GDMF, services::ABM, services::ANB],
            )?,
        },
    ];
    let config = root.join("rustfmt.toml");
    let mut diffs = Vec::new();
    let mut count = 0;
    for out in outputs {
        let src = out_root.join(out.src);
        let mut formatted = BTreeMap::new();
        for (rel, text) in out.files {
            formatted.insert(rel, codegen::rustfmt(&text, &config)?);
        }
        count += formatted.len();
        diffs.extend(sync(&src, &formatted, check)?);
    }
    if check {
        if diffs.is_empty() {
            eprintln!("codegen: {count} files up to date");
            Ok(())
        } else {
            Err(format!(
                "generated code is out of date; run `cargo run -p xtask -- codegen`: {}",
                diffs.join(", ")
            ))
        }
    } else {
        eprintln!("codegen: wrote {count} files");
        Ok(())
    }
}

/// Writes `files` under `src` (removing stale files of `src/generated/`), or with `check`
/// lists the files that differ, are missing or are stale.
fn sync(src: &Path, files: &BTreeMap<String, String>, check: bool) -> Result<Vec<String>, String> {
    let gen_dir = src.join("generated");
    let mut diffs = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&gen_dir) {
        for e in entries.flatten() {
            let rel = format!("generated/{}", e.file_name().to_string_lossy());
            if !files.contains_key(&rel) {
                if check {
                    diffs.push(format!("{} (stale)", src.join(rel).display()));
                } else {
                    std::fs::remove_file(e.path())
                        .map_err(|err| format!("{}: {err}", e.path().display()))?;
                }
            }
        }
    }
    for (rel, text) in files {
        let path = src.join(rel);
        let current = std::fs::read_to_string(&path).ok();
        if current.as_deref() == Some(text.as_str()) {
            continue;
        }
        if check {
            diffs.push(path.display().to_string());
        } else {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(diffs)
}
