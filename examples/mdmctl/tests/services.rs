//! `mdmctl abm` and `mdmctl vpp` against the Apple Business Manager and Apps and Books mocks
//! over real HTTP: every subcommand, throttling (Retry-After) and a wrong token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use mdm_test_support::services_mock::{AbmMock, AnbMock};

const SERIALS: &[&str] = &["C02AAA0001", "C02AAA0002", "C02AAA0003"];

async fn run(args: Vec<String>) -> (bool, serde_json::Value, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_mdmctl"))
            .args(&args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        (
            out.status.success(),
            serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn abm_devices_servers_assign_unassign_activity() {
    let mock = AbmMock::start(SERIALS, &["SRV1", "SRV2"], Duration::from_secs(3600)).await;
    let dir = mdm_test_support::TempDir::new("mdmctl-abm");
    let key = dir.path().join("key.pem");
    let pem = mdm_pki::EcKey::generate().unwrap().to_pkcs8_pem().unwrap();
    std::fs::write(&key, pem).unwrap();
    let abm = |rest: &[&str]| {
        let mut args: Vec<String> = [
            "abm",
            "--client-id",
            "BUSINESSAPI.test",
            "--key-id",
            "kid-1",
            "--key",
            key.to_str().unwrap(),
            "--token-url",
            &mock.token_url,
            "--base-url",
            &mock.base_url,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(rest.iter().map(|s| (*s).to_owned()));
        args
    };

    let (ok, v, err) = run(abm(&["devices", "--limit", "2"])).await;
    assert!(ok, "{err}");
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, SERIALS, "every page: {v}");

    let (ok, v, err) = run(abm(&["servers"])).await;
    assert!(ok, "{err}");
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");

    // Throttled once: the client waits Retry-After and the command still succeeds.
    mock.throttle_next(1);
    let (ok, v, err) = run(abm(&[
        "assign", "--server", "SRV1", "--wait", SERIALS[0], SERIALS[1],
    ]))
    .await;
    assert!(ok, "{err}");
    let activity = v["id"].as_str().unwrap().to_owned();
    assert_eq!(mock.server_of(SERIALS[0]).as_deref(), Some("SRV1"));
    assert_eq!(mock.server_of(SERIALS[1]).as_deref(), Some("SRV1"));

    let (ok, v, err) = run(abm(&["activity", &activity])).await;
    assert!(ok, "{err}");
    assert_eq!(v["id"], activity.as_str());

    let (ok, v, err) = run(abm(&["devices", "--id", SERIALS[0]])).await;
    assert!(ok, "{err}");
    assert_eq!(v["device"]["id"], SERIALS[0], "{v}");
    assert_eq!(v["assigned_server"]["id"], "SRV1", "{v}");

    let (ok, v, err) = run(abm(&["servers", "--devices", "SRV1"])).await;
    assert!(ok, "{err}");
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");

    let (ok, _, err) = run(abm(&["unassign", "--wait", SERIALS[0]])).await;
    assert!(ok, "{err}");
    assert_eq!(mock.server_of(SERIALS[0]), None);

    // A key that is not P-256 PEM is refused before anything is sent.
    std::fs::write(&key, "not a key").unwrap();
    let calls = mock.api_calls();
    let (ok, _, err) = run(abm(&["servers"])).await;
    assert!(!ok);
    assert!(err.contains("--key"), "{err}");
    assert_eq!(mock.api_calls(), calls);
}

#[tokio::test(flavor = "multi_thread")]
async fn vpp_assets_assign_and_events() {
    let mock = AnbMock::start("s-token-1").await;
    let dir = mdm_test_support::TempDir::new("mdmctl-vpp");
    let token = dir.path().join("location.vpptoken");
    std::fs::write(&token, "s-token-1\n").unwrap();
    let vpp = |token: &std::path::Path, rest: &[&str]| {
        let mut args: Vec<String> = [
            "vpp",
            "--token-file",
            token.to_str().unwrap(),
            "--base-url",
            &mock.base_url,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(rest.iter().map(|s| (*s).to_owned()));
        args
    };

    let (ok, v, err) = run(vpp(&token, &["assets"])).await;
    assert!(ok, "{err}");
    assert_eq!(v["assets"][0]["adamId"], "361309726", "{v}");

    mock.throttle_next(1);
    let (ok, v, err) = run(vpp(
        &token,
        &["assign", "--adam-id", "361309726", "--serial", "C02AAA0001"],
    ))
    .await;
    assert!(ok, "{err}");
    let event = v["eventId"].as_str().unwrap().to_owned();

    let (ok, v, err) = run(vpp(&token, &["events", &event])).await;
    assert!(ok, "{err}");
    assert_eq!(v["eventStatus"], "COMPLETE", "{v}");

    let (ok, _, err) = run(vpp(
        &token,
        &["assign", "--adam-id", "1", "--serial", "S", "--user", "U"],
    ))
    .await;
    assert!(!ok);
    assert!(err.contains("--serial or --user"), "{err}");

    // A wrong token: Apple's error comes back typed, the command fails.
    let wrong = dir.path().join("wrong.vpptoken");
    std::fs::write(&wrong, "other").unwrap();
    let (ok, _, err) = run(vpp(&wrong, &["assets"])).await;
    assert!(!ok);
    assert!(err.contains("9622"), "{err}");
}
