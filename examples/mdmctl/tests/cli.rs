//! The command line itself: defaults that make the README's quickstart work as written, and
//! secrets that never show in help.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn help_names_the_default_server_and_never_the_api_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_mdmctl"))
        .arg("--help")
        .env("MDMCTL_API_KEY", "super-secret-key-value")
        .env_remove("MDMCTL_SERVER")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    // `mdmctl enrollments list` in the quickstart gives no --server: it must find the
    // example server at its default address.
    assert!(help.contains("[default: http://127.0.0.1:9000]"), "{help}");
    assert!(!help.contains("super-secret-key-value"), "{help}");
}

#[test]
fn an_unreachable_server_is_a_failure_that_names_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_mdmctl"))
        .args([
            "--server",
            "http://127.0.0.1:9",
            "--api-key",
            "k",
            "enrollments",
            "list",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1:9"), "{err}");
    assert!(!err.contains("Bearer k"), "{err}");
}
