//! `mdmctl inspect ddm-declaration` and `ddm-status`: the output contract.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// `shared/`, found by mdm-test-support (call [`have_shared`] first).
fn shared() -> PathBuf {
    mdm_test_support::shared::locate().expect("../shared")
}

/// True when `shared/` is there; otherwise a visible skip.
fn have_shared() -> bool {
    mdm_test_support::shared::dir().is_some()
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdmctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn success(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "one line of JSON: {text}");
    serde_json::from_str(&text).unwrap()
}

fn failure(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "one error line: {err}");
    assert!(err.starts_with("error:"), "{err}");
    err
}

#[test]
fn status_reports_from_the_corpus() {
    if !have_shared() {
        return;
    }
    for name in ["kmfddm_A047820F.status.json", "kmfddm_status.1st.json"] {
        let path = shared().join("corpus/ddm").join(name);
        let out = run(&["inspect", "ddm-status", path.to_str().unwrap()], None);
        let v = success(&out);
        assert_eq!(v["kind"], "ddm-status");
        assert_eq!(v["type"], "StatusReport");
        assert_eq!(v["known"], true);
        let original: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["value"], original, "{name} is shown losslessly");
    }
}

#[test]
fn declarations_known_and_unknown() {
    let decl = json!({"Type": "com.apple.configuration.passcode.settings",
        "Identifier": "p", "ServerToken": "t",
        "Payload": {"MinimumLength": 6, "FutureKey": [1]}, "Extra": true});
    let out = run(
        &["inspect", "ddm-declaration", "-"],
        Some(decl.to_string().as_bytes()),
    );
    let v = success(&out);
    assert_eq!(v["kind"], "ddm-declaration");
    assert_eq!(v["type"], "com.apple.configuration.passcode.settings");
    assert_eq!(v["known"], true);
    assert_eq!(v["value"], decl);

    let unknown = json!({"Type": "com.apple.configuration.future", "Identifier": "f",
        "ServerToken": "t", "Payload": {"X": null}});
    let out = run(
        &["inspect", "ddm-declaration"],
        Some(unknown.to_string().as_bytes()),
    );
    let v = success(&out);
    assert_eq!(v["known"], false);
    assert_eq!(v["value"], unknown);
}

#[test]
fn bad_input_fails_with_one_error_line() {
    let missing = json!({"Type": "com.apple.asset.data", "Identifier": "a",
        "ServerToken": "t", "Payload": {"Reference": {}}});
    let err = failure(&run(
        &["inspect", "ddm-declaration"],
        Some(missing.to_string().as_bytes()),
    ));
    assert!(err.contains("Payload.Reference.DataURL"), "{err}");

    let err = failure(&run(&["inspect", "ddm-declaration"], Some(b"{\"Type\":")));
    assert!(err.contains("JSON"), "{err}");

    let err = failure(&run(
        &["inspect", "ddm-status"],
        Some(br#"{"StatusItems":{"passcode":{"is-present":"yes"}},"Errors":[]}"#),
    ));
    assert!(err.contains("StatusItems.passcode.is-present"), "{err}");

    let err = failure(&run(
        &["inspect", "ddm-status", "/nonexistent/report.json"],
        None,
    ));
    assert!(err.contains("/nonexistent/report.json"), "{err}");

    let deep = "[".repeat(100_000);
    let err = failure(&run(&["inspect", "ddm-status"], Some(deep.as_bytes())));
    assert!(err.contains("deeper"), "{err}");
}
