//! The programs over HTTPS: `mdmctl` and device-sim's library against the real server in
//! its TLS mode (a self-signed certificate made by openssl), trusting it by `--ca-file`,
//! and refusing it without.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use device_sim::http::{Client, Trust};
use device_sim::{Device, DeviceInfo, EnrollOptions};
use mdm_server::app::{Config, Server};
use std::path::{Path, PathBuf};

const KEY: &str = "https-key";

/// A self-signed server certificate for 127.0.0.1 made by the openssl CLI, or `None`
/// (SKIP) when openssl is missing outside CI.
fn server_certificate(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join("tls-cert.pem"), dir.join("tls-key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => Some((cert, key)),
        Ok(s) if mdm_test_support::tool("openssl") => {
            panic!("openssl could not make a test certificate: {s}")
        }
        _ => {
            mdm_test_support::tool("openssl");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mdmctl_and_a_device_enroll_over_https_with_a_ca_file() {
    let dir = std::env::temp_dir().join(format!("mdmctl-https-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let Some((cert, key)) = server_certificate(&dir) else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let base = format!("https://{addr}");
    let mut config = Config::new(addr, dir.join("data"))
        .with_api_key(KEY)
        .with_tls(&cert, &key)
        .with_public_url(&base);
    config.ca_key_bits = 1024;
    let server = Server::start(&config).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));

    let mdmctl = |extra: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mdmctl"));
        command
            .args(["--server", &base, "--api-key", KEY])
            .args(extra)
            .env_remove("MDMCTL_CA_FILE");
        command
    };

    // Without the CA file the self-made certificate is refused, and says so.
    let out = mdmctl(&["enrollments", "list"]).output().await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        err.starts_with("error:") && err.contains("https://"),
        "{err}"
    );

    // With it: an enrollment link, then a device enrolls over HTTPS (profile, SCEP,
    // check-in) and mdmctl sees it.
    let ca = cert.to_str().unwrap();
    let out = mdmctl(&["--ca-file", ca, "enroll-link"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let token = link.split("token=").nth(1).unwrap().to_owned();
    assert!(link.starts_with(&format!("{base}/mdm/enroll?")), "{link}");

    let http = Client::new(&Trust::CaFile(cert.clone())).unwrap();
    let options = EnrollOptions::default()
        .with_key_bits(1024)
        .with_token(token)
        .with_http_client(http);
    let device = Device::enroll_from_profile(DeviceInfo::iphone(7), &base, &options)
        .await
        .unwrap();
    assert!(device.endpoints().server_url.starts_with("https://"));

    let out = mdmctl(&["--ca-file", ca, "enrollments", "list"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let udids: Vec<_> = j["enrollments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["udid"].as_str())
        .collect();
    assert_eq!(udids, [device.info.udid.as_str()]);

    // A device that trusts only the system's roots cannot even fetch the profile.
    let refused = Device::fetch_profile_with_token(&base, false, Some("x")).await;
    assert!(refused.is_err());

    let _ = tx.send(());
    let _ = std::fs::remove_dir_all(&dir);
}
