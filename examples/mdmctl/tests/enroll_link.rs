//! `mdmctl enroll-link` against the real server (in this process, on loopback): the URL it
//! prints unlocks one enrollment profile, once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use device_sim::Method;
use device_sim::http::Connection;
use mdm_server::app::{Config, Server};

const KEY: &str = "enroll-link-key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_link_prints_a_url_that_unlocks_one_profile() {
    let dir = std::env::temp_dir().join(format!("mdmctl-enroll-link-{}", uuid::Uuid::new_v4()));
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), &dir).with_api_key(KEY);
    // Key generation is slow in debug builds.
    config.ca_key_bits = 1024;
    let server = Server::start(&config).await.unwrap();
    let base = format!("http://{}", server.local_addr);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));

    let run = |args: Vec<String>| async move {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_mdmctl"))
            .args(args)
            .output()
            .await
            .unwrap()
    };
    let args = |extra: &[&str]| {
        let mut v = vec![
            "--server".to_owned(),
            base.clone(),
            "--api-key".to_owned(),
            KEY.to_owned(),
            "enroll-link".to_owned(),
        ];
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    let out = run(args(&[])).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        url.starts_with(&format!("{base}/mdm/enroll?token=")),
        "{url}"
    );

    let get = |url: String| {
        let base = base.clone();
        async move {
            Connection::new(&base)
                .unwrap()
                .send(Method::GET, &url, &[], Vec::new())
                .await
                .unwrap()
                .status
        }
    };
    assert_eq!(get(url.clone()).await, 200);
    assert_eq!(get(url).await, 403, "a single-use link works once");

    // --json: the whole answer; bad options are the server's 400, one error line.
    let out = run(args(&["--uses", "3", "--device", "SERIAL-1", "--json"])).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (j["max_uses"].as_i64(), j["device"].as_str()),
        (Some(3), Some("SERIAL-1"))
    );
    let out = run(args(&["--uses", "0"])).await;
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error:") && err.contains("400"), "{err}");

    let _ = tx.send(());
    let _ = std::fs::remove_dir_all(&dir);
}
