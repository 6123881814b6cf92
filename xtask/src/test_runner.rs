//! `cargo run -p xtask -- test [ARGS]...`: the workspace's test command.
//!
//! Runs `cargo test --workspace --all-features [ARGS]...` with `MDM_TEST_SKIP_LOG` pointing at
//! a fresh file, then prints one line per skipped group (what was missing, why, how many
//! tests). Tests skip through `mdm-test-support`, which records each skip in that file and
//! fails the test instead when `CI` is set. The exit code is cargo's; a skip under CI fails too.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// Where the skip log goes: inside the target folder, which is the build's scratch space.
fn skip_log_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::repo_root().join("target"));
    target.join("mdm-test-skips.log")
}

/// One skipped group: its reasons and the tests that skipped.
#[derive(Default)]
struct Group {
    reasons: Vec<String>,
    tests: Vec<String>,
}

/// Reads the skip log into groups, by group name.
fn read_groups(text: &str) -> BTreeMap<String, Group> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for line in text.lines() {
        let mut fields = line.split('\t');
        let (Some(group), Some(reason)) = (fields.next(), fields.next()) else {
            continue;
        };
        let package = fields.next().unwrap_or("?");
        let test = fields.next().unwrap_or("?");
        let entry = groups.entry(group.to_owned()).or_default();
        if !entry.reasons.iter().any(|r| r == reason) {
            entry.reasons.push(reason.to_owned());
        }
        entry.tests.push(format!("{package}: {test}"));
    }
    groups
}

/// Runs the tests and prints the skip report.
pub fn run(args: &[String]) -> ExitCode {
    let log = skip_log_path();
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(&log, "") {
        eprintln!("error: cannot create the skip log {}: {e}", log.display());
        return ExitCode::FAILURE;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["test", "--workspace", "--all-features"])
        .args(args)
        .env(mdm_test_support::SKIP_LOG_ENV, &log)
        .status();
    let passed = match status {
        Ok(status) => status.success(),
        Err(e) => {
            eprintln!("error: cannot run cargo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let groups = read_groups(&std::fs::read_to_string(&log).unwrap_or_default());
    println!();
    if groups.is_empty() {
        println!("skip report: no test skipped");
    } else {
        println!("skip report: {} group(s) skipped", groups.len());
        for (name, group) in &groups {
            println!(
                "SKIPPED {name}: {} test(s): {}",
                group.tests.len(),
                group.reasons.join("; ")
            );
            for test in &group.tests {
                println!("    {test}");
            }
        }
    }
    if !passed {
        return ExitCode::FAILURE;
    }
    if !groups.is_empty() && mdm_test_support::in_ci() {
        println!("CI is set: a skipped test is a failure");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::read_groups;

    #[test]
    fn groups_count_tests_and_keep_distinct_reasons() {
        let log = "openssl\topenssl is not installed\tmdm-pki\ta\n\
                   openssl\topenssl is not installed\tscep-proto\tb\n\
                   ../shared\tmissing\tmdm-proto\tc\n\
                   torn line without tabs\n";
        let groups = read_groups(log);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups["openssl"].tests.len(), 2);
        assert_eq!(groups["openssl"].reasons, ["openssl is not installed"]);
        assert_eq!(groups["../shared"].tests, ["mdm-proto: c"]);
    }
}
