//! Push certificates and real pushes, against apns-client's mock APNs server over TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;

use apns_client::ErrorReason;
use apns_client::mock::{MockApns, MockReply, TestPki};
use mdm_server::app::{Config, Server};
use scep_proto::key::pem_encode;
use support::{Response, TempDir, request};

const KEY: &str = "k";
const TOPIC: &str = "com.apple.mgmt.External.11111111-2222-3333-4444-555555555555";
const TOKEN_HEX: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

fn plist(inner: &str) -> String {
    format!(r#"<?xml version="1.0"?><plist version="1.0"><dict>{inner}</dict></plist>"#)
}

fn token_update(udid: &str, topic: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(hex::decode(TOKEN_HEX).unwrap());
    plist(&format!(
        "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{udid}</string>\
         <key>Topic</key><string>{topic}</string><key>PushMagic</key><string>MAGIC-{udid}</string>\
         <key>Token</key><data>{token}</data>"
    ))
}

fn push_cert_pem(pki: &TestPki, topic: &str) -> String {
    let (chain, key) = pki.client_parts(topic).unwrap();
    format!(
        "{}{}",
        pem_encode("CERTIFICATE", &chain[0]),
        pem_encode("PRIVATE KEY", key.der())
    )
}

#[tokio::test]
async fn push_certificates_are_checked_and_pushes_reach_apns() {
    let pki = TestPki::new().unwrap();
    let mock = MockApns::builder(&pki).start().await.unwrap();
    let dir = TempDir::new();
    let ca = dir.path().join("apns-ca.pem");
    std::fs::write(&ca, pem_encode("CERTIFICATE", pki.ca_der())).unwrap();
    let config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path())
        .with_api_key(KEY)
        .without_signature_check()
        .with_apns(mock.url(), Some(ca));
    let server = Server::start(&config).await.unwrap();
    let addr = server.local_addr;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    let admin = |method: &'static str, path: String, body: Vec<u8>| async move {
        request(addr, method, &path, &[("Authorization", "Bearer k")], &body).await
    };
    let checkin = |body: String| async move {
        request(addr, "PUT", "/mdm/checkin", &[], body.as_bytes()).await
    };

    // Refused: garbage, a key that does not match, a certificate without a topic UID.
    let r: Response = admin("PUT", "/v1/pushcert".into(), b"no pem here".to_vec()).await;
    assert_eq!(r.status, 400);
    let (chain, _) = pki.client_parts(TOPIC).unwrap();
    let (_, other_key) = pki.client_parts(TOPIC).unwrap();
    let mismatched = format!(
        "{}{}",
        pem_encode("CERTIFICATE", &chain[0]),
        pem_encode("PRIVATE KEY", other_key.der())
    );
    let r = admin("PUT", "/v1/pushcert".into(), mismatched.into_bytes()).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let not_push = format!(
        "{}{}",
        pem_encode("CERTIFICATE", pki.ca_der()),
        pem_encode("PRIVATE KEY", other_key.der())
    );
    let r = admin("PUT", "/v1/pushcert".into(), not_push.into_bytes()).await;
    assert_eq!(r.status, 400, "{}", r.text());

    // Before any certificate: the profile has the configured topic, pushes fail and say why.
    assert_eq!(checkin(token_update("DEV-1", TOPIC)).await.status, 200);
    let r = admin("GET", "/v1/push/DEV-1".into(), Vec::new()).await;
    let err = r.json()["status"]["DEV-1"]["push_error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(err.contains("no push certificate"), "{err}");

    // A good certificate: its topic comes from the certificate.
    let r = admin(
        "PUT",
        "/v1/pushcert".into(),
        push_cert_pem(&pki, TOPIC).into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["topic"], TOPIC);
    assert!(r.json()["not_after"].is_string());
    let token = support::enrollment_token(addr, KEY, "{}").await;
    let path = format!(
        "/mdm/enroll?unsigned=1&token={}",
        token["token"].as_str().unwrap()
    );
    let r = request(addr, "GET", &path, &[], b"").await;
    let profile = mdm_proto::Profile::decode(&r.body).unwrap();
    assert_eq!(
        profile.payload("com.apple.mdm").unwrap().keys.get("Topic"),
        Some(&mdm_proto::plist::Value::String(TOPIC.into()))
    );

    // GET /v1/push sends a real push.
    let r = admin("GET", "/v1/push/DEV-1".into(), Vec::new()).await;
    assert_eq!(r.status, 200);
    assert!(
        r.json()["status"]["DEV-1"]["push_result"].is_string(),
        "{}",
        r.text()
    );
    let received = mock.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].token, TOKEN_HEX);
    assert_eq!(received[0].topic, TOPIC);
    assert_eq!(received[0].push_magic, "MAGIC-DEV-1");

    // Enqueue pushes unless nopush.
    let command = plist(
        "<key>CommandUUID</key><string>C1</string><key>Command</key><dict>\
         <key>RequestType</key><string>ProfileList</string></dict>",
    );
    let r = admin(
        "PUT",
        "/v1/enqueue/DEV-1?nopush=1".into(),
        command.into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(mock.received().len(), 1);
    let command = plist(
        "<key>CommandUUID</key><string>C2</string><key>Command</key><dict>\
         <key>RequestType</key><string>ProfileList</string></dict>",
    );
    let r = admin("PUT", "/v1/enqueue/DEV-1".into(), command.into_bytes()).await;
    assert!(
        r.json()["status"]["DEV-1"]["push_result"].is_string(),
        "{}",
        r.text()
    );
    assert_eq!(mock.received().len(), 2);

    // APNs refusals are reported.
    mock.reply_to_token(TOKEN_HEX, MockReply::error(ErrorReason::BadDeviceToken));
    let r = admin("GET", "/v1/push/DEV-1".into(), Vec::new()).await;
    let err = r.json()["status"]["DEV-1"]["push_error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(err.contains("BadDeviceToken"), "{err}");

    // A topic without a certificate.
    assert_eq!(
        checkin(token_update("DEV-2", "com.apple.mgmt.External.other"))
            .await
            .status,
        200
    );
    let r = admin("GET", "/v1/push/DEV-2".into(), Vec::new()).await;
    assert!(
        r.json()["status"]["DEV-2"]["push_error"]
            .as_str()
            .unwrap()
            .contains("no push certificate")
    );
    let _ = tx.send(());
}
