//! Secrets at rest: file modes after the first start, the CA key and the APNs push key
//! sealed with the key-encryption key, restarts with the right, a wrong and no key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;
use support::plist;

use apns_client::mock::{MockApns, TestPki};
use mdm_server::app::{Config, Server};
use scep_proto::key::pem_encode;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use support::{TempDir, request};

const KEY: &str = "k";
const TOPIC: &str = "com.apple.mgmt.External.11111111-2222-3333-4444-555555555555";
const TOKEN_HEX: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn config(data: &Path, secrets: Option<&Path>) -> Config {
    let mut c = Config::new("127.0.0.1:0".parse().unwrap(), data).without_signature_check();
    c.ca_key_bits = 1024;
    if let Some(path) = secrets {
        c = c.with_secrets_key_file(path);
    }
    c
}

#[tokio::test]
async fn files_are_private_and_secrets_sealed() {
    // SAFETY of the test: MDM_SECRETS_KEY would be used when no file is given.
    assert!(
        std::env::var_os(mdm_server::secrets::SECRETS_KEY_ENV).is_none(),
        "unset MDM_SECRETS_KEY to run this test"
    );
    let root = TempDir::new();
    let data = root.path().join("data");
    let key_file = root.path().join("kek");
    std::fs::write(&key_file, format!("{}\n", "5a".repeat(32))).unwrap();
    let wrong_key = root.path().join("wrong");
    std::fs::write(&wrong_key, "a5".repeat(32)).unwrap();

    // First start: a folder and files nobody else can read, the CA key sealed.
    let server = Server::start(&config(&data, Some(&key_file)))
        .await
        .unwrap();
    assert_eq!(mode(&data), 0o700);
    for name in [
        "mdm.sqlite",
        "api-key",
        mdm_server::pki::CA_KEY_FILE,
        mdm_server::pki::CA_CERT_FILE,
        mdm_server::pki::CHALLENGE_FILE,
    ] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    for name in ["mdm.sqlite-wal", "mdm.sqlite-shm"] {
        let path = data.join(name);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{name}");
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let stored = std::fs::read_to_string(data.join(mdm_server::pki::CA_KEY_FILE)).unwrap();
    assert!(stored.starts_with("mdm-sealed:v1:"), "{stored}");
    assert!(!stored.contains("PRIVATE KEY"));

    // The push key goes into the database sealed, and pushes still work.
    let pki = TestPki::new().unwrap();
    let mock = MockApns::builder(&pki).start().await.unwrap();
    let apns_ca = root.path().join("apns-ca.pem");
    std::fs::write(&apns_ca, pem_encode("CERTIFICATE", pki.ca_der())).unwrap();
    drop(server);
    let server = Server::start(
        &config(&data, Some(&key_file))
            .with_api_key(KEY)
            .with_apns(mock.url(), Some(apns_ca.clone())),
    )
    .await
    .unwrap();
    let addr = server.local_addr;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    let auth = [("Authorization", "Bearer k")];
    let (chain, key) = pki.client_parts(TOPIC).unwrap();
    let pem = format!(
        "{}{}",
        pem_encode("CERTIFICATE", &chain[0]),
        pem_encode("PRIVATE KEY", key.der())
    );
    let r = request(addr, "PUT", "/v1/pushcert", &auth, pem.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(hex::decode(TOKEN_HEX).unwrap());
    let tu = plist(&format!(
        "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>DEV-1</string>\
         <key>Topic</key><string>{TOPIC}</string><key>PushMagic</key><string>M</string>\
         <key>Token</key><data>{token}</data>"
    ));
    let r = request(addr, "PUT", "/mdm/checkin", &[], tu.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(addr, "GET", "/v1/push/DEV-1", &auth, b"").await;
    assert!(
        r.json()["status"]["DEV-1"]["push_result"].is_string(),
        "{}",
        r.text()
    );
    assert_eq!(mock.received().len(), 1);
    let _ = tx.send(());
    task.await.unwrap().unwrap();
    let store = mdm_server::storage::open(&format!("sqlite:{}", data.join("mdm.sqlite").display()))
        .await
        .unwrap();
    let cert = store.push_cert(TOPIC).await.unwrap().unwrap();
    assert!(
        cert.key_pem.starts_with("mdm-sealed:v1:"),
        "{}",
        cert.key_pem
    );
    drop(store);

    // Restarts: the same key opens everything; a wrong key and no key are clear errors.
    let again = Server::start(&config(&data, Some(&key_file))).await;
    assert!(again.is_ok(), "{:?}", again.err());
    drop(again);
    let e = Server::start(&config(&data, Some(&wrong_key)))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not decrypt"), "{e}");
    assert!(e.contains(mdm_server::pki::CA_KEY_FILE), "{e}");
    let e = Server::start(&config(&data, None))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("is encrypted"), "{e}");
    let bad = root.path().join("bad");
    std::fs::write(&bad, "not a key").unwrap();
    let e = Server::start(&config(&data, Some(&bad)))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("32 bytes"), "{e}");
}

#[tokio::test]
async fn a_plain_ca_key_is_sealed_in_place() {
    let dir = TempDir::new(); // seeded with a plain test CA
    let key_file = dir.path().join("kek");
    std::fs::write(&key_file, "7f".repeat(32)).unwrap();
    let before = std::fs::read_to_string(dir.path().join(mdm_server::pki::CA_KEY_FILE)).unwrap();
    assert!(before.contains("PRIVATE KEY"));
    let server = Server::start(&config(dir.path(), Some(&key_file)))
        .await
        .unwrap();
    let ca = server.pki.ca_der().to_vec();
    drop(server);
    let after = std::fs::read_to_string(dir.path().join(mdm_server::pki::CA_KEY_FILE)).unwrap();
    assert!(after.starts_with("mdm-sealed:v1:"));
    let server = Server::start(&config(dir.path(), Some(&key_file)))
        .await
        .unwrap();
    assert_eq!(server.pki.ca_der(), ca.as_slice());
}
