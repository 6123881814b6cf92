//! `mdmctl inspect report --request-type T`: a report decoded as T's typed response.
#![allow(clippy::expect_used)] // a test helper: a failure to start mdmctl is the test failing

use std::process::Command;

/// A command report of `shared/corpus/command-results` (call [`have_shared`] first).
fn corpus(name: &str) -> String {
    let dir = mdm_test_support::shared::locate().expect("../shared");
    format!("{}/corpus/command-results/{name}", dir.display())
}

/// True when `shared/` is there; otherwise a visible skip.
fn have_shared() -> bool {
    mdm_test_support::shared::dir().is_some()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mdmctl"))
        .args(args)
        .output()
        .expect("mdmctl runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn typed_report_is_known_and_lossless() {
    if !have_shared() {
        return;
    }
    let file = corpus("commandment_SecurityInfo_macOS-10.13.1.xml");
    let (code, stdout, _) = run(&["inspect", "report", &file, "--request-type", "SecurityInfo"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["kind"], "report");
    assert_eq!(json["type"], "Acknowledged");
    assert_eq!(json["known"], true);
    assert_eq!(json["value"]["SecurityInfo"]["FDE_Enabled"], false);

    let (code, plain, _) = run(&["inspect", "report", &file]);
    assert_eq!(code, 0);
    let plain: serde_json::Value = serde_json::from_str(&plain).unwrap();
    assert_eq!(
        plain["value"], json["value"],
        "typing the response must not change it"
    );
}

#[test]
fn unknown_request_type_is_not_known_but_kept() {
    if !have_shared() {
        return;
    }
    let file = corpus("nanomdm_DeviceInformation.1.plist");
    let (code, stdout, _) = run(&["inspect", "report", &file, "--request-type", "FutureThing"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["known"], false);
    assert!(json["value"]["QueryResponses"].is_object());
}

#[test]
fn typed_reencode_gives_the_same_plist() {
    if !have_shared() {
        return;
    }
    let file = corpus("micromdm-v0_macos10.11_device_information.plist");
    let (code, xml, _) = run(&[
        "inspect",
        "report",
        &file,
        "--request-type",
        "DeviceInformation",
        "--reencode",
    ]);
    assert_eq!(code, 0);
    let original = plist::Value::from_file(&file).unwrap();
    let again = plist::Value::from_reader_xml(xml.as_bytes()).unwrap();
    assert_eq!(original, again);
}
