//! `mdmctl inspect command` and `mdmctl command new`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

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

fn mdmctl(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdmctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let _ = input.write_all(stdin.unwrap_or_default());
    drop(input);
    child.wait_with_output().unwrap()
}

fn json_of(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON object on one line");
    serde_json::from_str(&text).unwrap()
}

fn assert_failed(out: &Output) {
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn inspect_command_prints_the_typed_command() {
    if !have_shared() {
        return;
    }
    let file = shared().join("corpus/commands/micromdm_InstallProfile.plist");
    let v = json_of(&mdmctl(
        &["inspect", "command", file.to_str().unwrap()],
        None,
    ));
    assert_eq!(v["kind"], "command");
    assert_eq!(v["type"], "InstallProfile");
    assert_eq!(v["known"], true);
    // Data as base64: "foobarbaz".
    assert_eq!(v["value"]["Command"]["Payload"], "Zm9vYmFyYmF6");
    assert!(v["value"]["CommandUUID"].is_string());

    let file = shared().join("corpus/commands/micromdm-hist_Settings_hostname_devicename.plist");
    let v = json_of(&mdmctl(
        &["inspect", "command", file.to_str().unwrap()],
        None,
    ));
    assert_eq!(v["type"], "Settings");
    assert_eq!(
        v["value"]["Command"]["Settings"].as_array().unwrap().len(),
        2
    );
}

#[test]
fn inspect_command_reencodes_losslessly() {
    if !have_shared() {
        return;
    }
    let file = shared().join("corpus/commands/micromdm-hist_DeviceInformation.plist");
    let out = mdmctl(
        &["inspect", "command", file.to_str().unwrap(), "--reencode"],
        None,
    );
    assert!(out.status.success());
    let again: plist::Value = plist::from_bytes(&out.stdout).unwrap();
    let original: plist::Value = plist::from_file(&file).unwrap();
    assert_eq!(again, original);
}

#[test]
fn inspect_command_reads_stdin_and_keeps_unknown_commands() {
    let plist = br#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>CommandUUID</key><string>X</string>
<key>Command</key><dict><key>RequestType</key><string>FutureThing</string>
<key>When</key><date>2024-01-02T03:04:05Z</date></dict></dict></plist>"#;
    let v = json_of(&mdmctl(&["inspect", "command", "-"], Some(plist)));
    assert_eq!(v["type"], "FutureThing");
    assert_eq!(v["known"], false);
    assert_eq!(v["value"]["Command"]["When"], "2024-01-02T03:04:05Z");
}

#[test]
fn inspect_command_bad_input_fails_cleanly() {
    assert_failed(&mdmctl(&["inspect", "command", "-"], Some(b"not a plist")));
    let no_uuid = br#"<plist version="1.0"><dict><key>Command</key><dict><key>RequestType</key><string>DeviceInformation</string></dict></dict></plist>"#;
    let out = mdmctl(&["inspect", "command", "-"], Some(no_uuid));
    assert_failed(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("CommandUUID"));
    let no_queries = br#"<plist version="1.0"><dict><key>CommandUUID</key><string>X</string><key>Command</key><dict><key>RequestType</key><string>DeviceInformation</string></dict></dict></plist>"#;
    let out = mdmctl(&["inspect", "command", "-"], Some(no_queries));
    assert_failed(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Command.Queries"));
    assert_failed(&mdmctl(&["inspect", "command", "/nonexistent/file"], None));
}

#[test]
fn command_new_from_template_and_json() {
    let out = mdmctl(&["commands", "new", "DeviceInformation"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: plist::Dictionary = plist::from_bytes(&out.stdout).unwrap();
    let uuid = v.get("CommandUUID").unwrap().as_string().unwrap();
    assert_eq!(uuid.len(), 36);
    let cmd = v.get("Command").unwrap().as_dictionary().unwrap();
    assert_eq!(
        cmd.get("RequestType").unwrap().as_string(),
        Some("DeviceInformation")
    );
    // Without --json, every query Apple lists: a command worth sending as it is.
    let queries = cmd.get("Queries").unwrap().as_array().unwrap();
    assert!(queries.len() > 20, "{queries:?}");
    assert!(queries.iter().any(|q| q.as_string() == Some("UDID")));

    // Two runs give two UUIDs; `command new` is the old name of `commands new`.
    let again = mdmctl(&["command", "new", "DeviceInformation"], None);
    let w: plist::Dictionary = plist::from_bytes(&again.stdout).unwrap();
    assert_ne!(w.get("CommandUUID"), v.get("CommandUUID"));

    let dir = std::env::temp_dir().join(format!("mdmctl-commands-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("install.json");
    std::fs::write(&json, r#"{"Payload": "Zm9vYmFyYmF6"}"#).unwrap();
    let out = mdmctl(
        &[
            "command",
            "new",
            "InstallProfile",
            "--json",
            json.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: plist::Dictionary = plist::from_bytes(&out.stdout).unwrap();
    let cmd = v.get("Command").unwrap().as_dictionary().unwrap();
    assert_eq!(
        cmd.get("Payload").unwrap().as_data(),
        Some(&b"foobarbaz"[..])
    );

    // The output is a command `inspect command` reads back.
    let path = dir.join("cmd.plist");
    std::fs::write(&path, &out.stdout).unwrap();
    let i = json_of(&mdmctl(
        &["inspect", "command", path.to_str().unwrap()],
        None,
    ));
    assert_eq!(i["type"], "InstallProfile");

    // Bad JSON values name the key.
    std::fs::write(&json, r#"{"Payload": "%%%"}"#).unwrap();
    let out = mdmctl(
        &[
            "command",
            "new",
            "InstallProfile",
            "--json",
            json.to_str().unwrap(),
        ],
        None,
    );
    assert_failed(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Command.Payload"));
    std::fs::remove_dir_all(&dir).ok();

    assert_failed(&mdmctl(&["command", "new", "NoSuchCommand"], None));
}
