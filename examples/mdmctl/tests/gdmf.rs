//! `mdmctl gdmf latest` against the GDMF mock over real HTTP, and from a file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use mdm_test_support::services_mock::{GdmfMock, sample_catalog};

fn run(args: &[&str]) -> (bool, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mdmctl"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn latest_over_http() {
    let mock = GdmfMock::start(&sample_catalog()).await;
    let url = mock.url.clone();
    let (ok, v, err) = tokio::task::spawn_blocking(move || {
        run(&[
            "gdmf",
            "latest",
            "--model",
            "iPhone15,2",
            "--url",
            &url,
            "--date",
            "2025-01-20",
        ])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert_eq!(v["version"], "18.2.1");
    assert_eq!(v["expires"], "2025-07-07");
    assert_eq!(mock.requests(), 1);
}

#[test]
fn latest_from_a_file_and_bad_input() {
    let dir = mdm_test_support::TempDir::new("mdmctl-gdmf");
    let path = dir.path().join("pmv.json");
    std::fs::write(&path, serde_json::to_vec(&sample_catalog()).unwrap()).unwrap();
    let p = path.to_str().unwrap();
    let (ok, v, _) = run(&[
        "gdmf",
        "latest",
        "--model",
        "Mac14,3",
        "--platform",
        "macOS",
        "--file",
        p,
        "--date",
        "2025-01-20",
    ]);
    assert!(ok);
    assert_eq!(
        (v["version"].as_str(), v["expires"].is_null()),
        (Some("15.2"), true)
    );
    let (ok, v, _) = run(&[
        "gdmf",
        "latest",
        "--model",
        "iPhone99,9",
        "--file",
        p,
        "--date",
        "2025-01-20",
    ]);
    assert!(ok);
    assert!(v["version"].is_null());

    std::fs::write(
        &path,
        br#"{"AssetSets":{"iOS":[{"SupportedDevices":"x"}]}}"#,
    )
    .unwrap();
    let (ok, v, err) = run(&["gdmf", "latest", "--model", "X", "--file", p]);
    assert!(!ok && v.is_null());
    assert!(
        err.starts_with("error:") && err.contains("AssetSets.iOS[0]"),
        "{err}"
    );
}
