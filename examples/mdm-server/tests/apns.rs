//! Push certificates and real pushes, against apns-client's mock APNs server over TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;
use support::plist;

use apns_client::ErrorReason;
use apns_client::mock::{MockApns, MockReply, TestPki};
use mdm_server::app::{Config, Server};
use scep_proto::key::pem_encode;
use support::{Response, TempDir, request};

const KEY: &str = "k";
const TOPIC: &str = "com.apple.mgmt.External.11111111-2222-3333-4444-555555555555";
const TOKEN_HEX: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

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

/// What the mock escrow-key-unlock endpoint saw: path and query, body, client cert DER.
type Seen = (String, String, Option<Vec<u8>>);

/// A one-connection HTTPS server standing in for Apple's escrow-key-unlock endpoint: it
/// asks for a client certificate issued by `pki`, records the request and answers `status`.
async fn mock_escrow(
    pki: &TestPki,
    status: &'static str,
) -> (String, Vec<u8>, tokio::sync::oneshot::Receiver<Seen>) {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(pki.ca_der().to_vec()))
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://127.0.0.1:{}/deviceservicesworkers/escrowKeyUnlock",
        listener.local_addr().unwrap().port()
    );
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
            .accept(tcp)
            .await
            .unwrap();
        let client_cert = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec());
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let (head, body) = loop {
            let n = tls.read(&mut buf).await.unwrap();
            assert!(n > 0, "request cut short");
            raw.extend_from_slice(&buf[..n]);
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).into_owned();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while raw.len() < end + 4 + length {
                    let n = tls.read(&mut buf).await.unwrap();
                    assert!(n > 0, "body cut short");
                    raw.extend_from_slice(&buf[..n]);
                }
                break (
                    head,
                    String::from_utf8_lossy(&raw[end + 4..end + 4 + length]).into_owned(),
                );
            }
        };
        let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
        assert!(head.starts_with("POST "), "{head}");
        assert!(
            head.to_lowercase()
                .contains("content-type: application/x-www-form-urlencoded"),
            "{head}"
        );
        let answer = "UNLOCKED";
        tls.write_all(
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let _ = tls.shutdown().await;
        let _ = tx.send((target, body, client_cert));
    });
    (url, cert.der().to_vec(), rx)
}

#[tokio::test]
async fn escrow_key_unlock_reaches_apple_with_the_push_certificate() {
    let pki = TestPki::new().unwrap();
    let (url, server_der, seen) = mock_escrow(&pki, "200 OK").await;
    let dir = TempDir::new();
    let ca = dir.path().join("escrow-ca.pem");
    std::fs::write(&ca, pem_encode("CERTIFICATE", &server_der)).unwrap();
    let config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path())
        .with_api_key(KEY)
        .without_signature_check()
        .with_escrow_key_unlock(url, Some(ca));
    let server = Server::start(&config).await.unwrap();
    let addr = server.local_addr;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    let form = |body: &str| {
        let body = body.to_owned();
        async move {
            request(
                addr,
                "POST",
                "/v1/escrowkeyunlock",
                &[
                    ("Authorization", "Bearer k"),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                ],
                body.as_bytes(),
            )
            .await
        }
    };
    let full = format!(
        "serial=C02TEST&productType=iPad4%2C1&orgName=Example+Org&guid=admin%40example.com\
         &escrowKey=ABCD-EFGH-1234&meid=A1000&topic={TOPIC}"
    );

    // Refused before Apple is asked: missing or over-long fields, no push certificate.
    let r = form("serial=C02TEST").await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert!(r.text().contains("productType"), "{}", r.text());
    let long = format!("{full}&imei={}", "1".repeat(65));
    let r = form(&long).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("imei"), "{}", r.text());
    let r = form(&full).await;
    assert_eq!(r.status, 404, "{}", r.text());

    // With the push certificate stored, the request goes to the mock, authenticated by it.
    let pem = push_cert_pem(&pki, TOPIC);
    let r = request(
        addr,
        "PUT",
        "/v1/pushcert",
        &[("Authorization", "Bearer k")],
        pem.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = form(&full).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "UNLOCKED");
    let (target, body, client_cert) = seen.await.unwrap();
    assert_eq!(
        target,
        "/deviceservicesworkers/escrowKeyUnlock?serial=C02TEST&productType=iPad4%2C1&meid=A1000"
    );
    assert_eq!(
        body,
        "orgName=Example%20Org&guid=admin%40example.com&escrowKey=ABCD-EFGH-1234"
    );
    let stored = apns_client::cert::certificates_from_pem(pem.as_bytes()).unwrap();
    assert_eq!(
        client_cert.as_ref(),
        stored.first(),
        "the push certificate was the TLS client certificate"
    );
    let _ = tx.send(());
}

#[tokio::test]
async fn escrow_key_unlock_passes_apples_refusal_on_as_it_came() {
    let pki = TestPki::new().unwrap();
    let (url, server_der, seen) = mock_escrow(&pki, "400 Bad Request").await;
    let dir = TempDir::new();
    let ca = dir.path().join("escrow-ca.pem");
    std::fs::write(&ca, pem_encode("CERTIFICATE", &server_der)).unwrap();
    let config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path())
        .with_api_key(KEY)
        .without_signature_check()
        .with_escrow_key_unlock(url, Some(ca));
    let server = Server::start(&config).await.unwrap();
    let addr = server.local_addr;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    let auth = [("Authorization", "Bearer k")];
    let pem = push_cert_pem(&pki, TOPIC);
    let r = request(addr, "PUT", "/v1/pushcert", &auth, pem.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body =
        format!("serial=S&productType=Mac14%2C2&orgName=O&guid=G&escrowKey=K-K&topic={TOPIC}");
    let r = request(
        addr,
        "POST",
        "/v1/escrowkeyunlock",
        &[
            auth[0],
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body.as_bytes(),
    )
    .await;
    // Apple's status, type and body, not turned into a problem document.
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.text(), "UNLOCKED");
    assert!(seen.await.is_ok());
    let _ = tx.send(());
}
