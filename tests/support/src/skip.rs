//! Visible skips: printed, recorded for the run's report, and failures under CI.

use std::io::Write;
use std::process::{Command, Stdio};

/// The environment variable naming the file skips are appended to (one line each:
/// `group<TAB>reason`). `cargo run -p xtask -- test` sets it and prints the report.
pub const SKIP_LOG_ENV: &str = "MDM_TEST_SKIP_LOG";

/// True when the `CI` environment variable is set (to anything but `false` or `0`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Skips the calling test: prints `SKIP: group: reason`, appends it to the skip log, and
/// returns. Under CI it panics instead: CI must run every test.
///
/// `group` names what is missing for all tests that need it (`../shared`, `openssl`,
/// `PostgreSQL`), so the report has one line per group.
pub fn skip(group: &str, reason: &str) {
    assert!(
        !in_ci(),
        "CI must run this test, but {group} is missing: {reason}"
    );
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_owned();
    println!("SKIP: {group}: {reason} ({test})");
    eprintln!("SKIP: {group}: {reason} ({test})");
    if let Some(path) = std::env::var_os(SKIP_LOG_ENV) {
        let line = format!(
            "{}\t{}\t{}\t{}\n",
            group.replace(['\t', '\n'], " "),
            reason.replace(['\t', '\n'], " "),
            std::env::var("CARGO_PKG_NAME").unwrap_or_default(),
            test.replace(['\t', '\n'], " ")
        );
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            // One write per line: appends of a short line do not interleave.
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// True if the command `name` can be found on `PATH`; otherwise [`skip`]s (group `name`) and
/// returns false.
pub fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v '{}'", name.replace('\'', "")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        skip(name, &format!("{name} is not installed"));
    }
    found
}
