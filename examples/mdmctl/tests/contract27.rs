//! `mdmctl schema diff`, `inspect ddm-* --reencode`, `inspect report --request-type` fit,
//! and errors that name the key and value.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value as Json;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_mdmctl");

/// `shared/`, found by mdm-test-support (call [`have_shared`] first).
fn shared() -> PathBuf {
    mdm_test_support::shared::locate().expect("../shared")
}

/// True when `shared/` is there; otherwise a visible skip.
fn have_shared() -> bool {
    mdm_test_support::shared::dir().is_some()
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> (i32, Vec<u8>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn schema_diff_of_the_shared_trees() {
    if !have_shared() {
        return;
    }
    let (old, new) = (
        shared().join("apple-device-management"),
        shared().join("apple-device-management-27"),
    );
    let (code, out, err) = run(
        &[
            "schema",
            "diff",
            old.to_str().unwrap(),
            new.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("# Changes from 18.1 to 27.0"), "{text}");
    for line in [
        "## mdm/commands",
        "### Removed Objects",
        "- Removed: mdm/commands/system.update.schedule.yaml",
        "- New: mdm/commands/trigger.enhanced.log.collection.yaml",
        "- New: mdm/checkin/returntoservice.yaml",
        "- New: mdm/errors/psso.required.yaml",
        "- New: declarative/status/mdm.push-token.yaml",
        "- Removed: mdm/commands/information.device.yaml/Queries/OSUpdateSettings",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    let (code, out, _) = run(
        &[
            "schema",
            "diff",
            "--json",
            old.to_str().unwrap(),
            new.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0);
    let v: Json = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["new"]["release"], "27.0");
    assert!(
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "removed-object"
                && c["path"] == "mdm/commands/system.update.scan.yaml")
    );
    let (code, out, err) = run(&["schema", "diff", "/nonexistent", "/nonexistent2"], None);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn ddm_reencode_gives_back_the_document() {
    if !have_shared() {
        return;
    }
    for (kind, dir, name) in [
        ("ddm-status", "ddm", "kmfddm_status.1st.json"),
        ("ddm-status", "ddm", "kmfddm_A047820F.status.json"),
    ] {
        let path = shared().join("corpus").join(dir).join(name);
        let input: Json = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let (code, out, err) = run(
            &["inspect", kind, "--reencode", path.to_str().unwrap()],
            None,
        );
        assert_eq!(code, 0, "{name}: {err}");
        let back: Json = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, input, "{name}: not lossless");
    }
    let declaration = br#"{"Type":"com.apple.configuration.siri.settings","Identifier":"s1","ServerToken":"t1","Payload":{"AllowSiriAI":false,"Future":1}}"#;
    let (code, out, err) = run(
        &["inspect", "ddm-declaration", "--reencode"],
        Some(declaration),
    );
    assert_eq!(code, 0, "{err}");
    let back: Json = serde_json::from_slice(&out).unwrap();
    assert_eq!(back, serde_json::from_slice::<Json>(declaration).unwrap());
    let (code, out, _) = run(&["inspect", "ddm-declaration"], Some(declaration));
    assert_eq!(code, 0);
    let v: Json = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v["known"], true,
        "siri.settings is a 26/27 declaration: {v}"
    );
}

#[test]
fn a_report_that_does_not_fit_its_request_type_says_so() {
    if !have_shared() {
        return;
    }
    let path =
        shared().join("corpus/command-results/commandment_DeviceInformation_macOS-10.13.1.xml");
    let p = path.to_str().unwrap();
    let (code, out, err) = run(
        &["inspect", "report", "--request-type", "SecurityInfo", p],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let v: Json = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["fit"]["fits"], false, "{v}");
    assert_eq!(v["fit"]["unexpected_keys"][0], "QueryResponses");
    assert!(
        v["fit"]["reason"]
            .as_str()
            .unwrap()
            .contains("SecurityInfo")
    );
    let (_, out, _) = run(
        &[
            "inspect",
            "report",
            "--request-type",
            "DeviceInformation",
            p,
        ],
        None,
    );
    let v: Json = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["fit"]["fits"], true, "{v}");
    let (_, out, _) = run(&["inspect", "report", p], None);
    let v: Json = serde_json::from_slice(&out).unwrap();
    assert!(v.get("fit").is_none());
}

#[test]
fn errors_name_the_key_and_the_value() {
    let body = b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>U</string><key>Token</key><data>!!notbase64</data></dict></plist>";
    let (code, out, err) = run(&["inspect", "checkin"], Some(body));
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("key `Token`") && err.contains("`!!notbase64`"),
        "{err}"
    );
    assert!(!err.contains("InvalidDataString"), "{err}");
}
