//! The mock's own checks, driven by a raw HTTP/2 client that can send malformed pushes.

#![cfg(feature = "mock")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use apns_client::mock::{MockApns, TestPki};
use bytes::Bytes;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

const TOPIC: &str = "com.apple.mgmt.External.11111111-2222-3333-4444-555555555555";
const TOKEN: &str = "00000000000000000000000000000000000000000000000000000000000000aa";

async fn connect(pki: &TestPki, mock: &MockApns) -> h2::client::SendRequest<Bytes> {
    let (chain, key) = pki.client_parts(TOPIC).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(pki.ca_der().to_vec()))
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from(chain[0].clone())],
            PrivateKeyDer::Pkcs8(key.der().to_vec().into()),
        )
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(mock.addr()).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let (send, conn) = h2::client::handshake(tls).await.unwrap();
    tokio::spawn(conn);
    send.ready().await.unwrap()
}

struct Req {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static [u8],
}

fn good() -> Req {
    Req {
        method: "POST",
        path: format!("/3/device/{TOKEN}"),
        headers: vec![
            ("apns-topic", TOPIC),
            ("apns-push-type", "mdm"),
            ("apns-priority", "10"),
        ],
        body: br#"{"mdm":"magic"}"#,
    }
}

async fn send(h2: &mut h2::client::SendRequest<Bytes>, req: Req) -> (u16, String) {
    let mut b = http::Request::builder()
        .method(req.method)
        .uri(format!("https://127.0.0.1{}", req.path));
    for (k, v) in req.headers {
        b = b.header(k, v);
    }
    let (resp, mut stream) = h2.send_request(b.body(()).unwrap(), false).unwrap();
    stream
        .send_data(Bytes::from_static(req.body), true)
        .unwrap();
    let resp = resp.await.unwrap();
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    let reason = if out.is_empty() {
        String::new()
    } else {
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        v["reason"].as_str().unwrap_or_default().to_owned()
    };
    (status, reason)
}

#[tokio::test]
async fn mock_checks_headers_and_body() {
    let pki = TestPki::new().unwrap();
    let mock = MockApns::builder(&pki).start().await.unwrap();
    let mut h2 = connect(&pki, &mock).await;
    assert_eq!(send(&mut h2, good()).await, (200, String::new()));

    let cases: Vec<(Req, u16, &str)> = vec![
        (
            Req {
                method: "GET",
                ..good()
            },
            405,
            "MethodNotAllowed",
        ),
        (
            Req {
                path: "/3/other".into(),
                ..good()
            },
            404,
            "BadPath",
        ),
        (
            Req {
                path: "/3/device/".into(),
                ..good()
            },
            400,
            "MissingDeviceToken",
        ),
        (
            Req {
                path: "/3/device/xyz".into(),
                ..good()
            },
            400,
            "BadDeviceToken",
        ),
        (
            Req {
                headers: vec![("apns-topic", TOPIC), ("apns-push-type", "alert")],
                ..good()
            },
            400,
            "InvalidPushType",
        ),
        (
            Req {
                headers: vec![("apns-push-type", "mdm")],
                ..good()
            },
            400,
            "MissingTopic",
        ),
        (
            Req {
                headers: vec![
                    ("apns-topic", "com.apple.mgmt.External.other"),
                    ("apns-push-type", "mdm"),
                ],
                ..good()
            },
            400,
            "TopicDisallowed",
        ),
        (
            Req {
                headers: vec![
                    ("apns-topic", TOPIC),
                    ("apns-topic", TOPIC),
                    ("apns-push-type", "mdm"),
                ],
                ..good()
            },
            400,
            "DuplicateHeaders",
        ),
        (
            Req {
                headers: vec![
                    ("apns-topic", TOPIC),
                    ("apns-push-type", "mdm"),
                    ("apns-priority", "7"),
                ],
                ..good()
            },
            400,
            "BadPriority",
        ),
        (
            Req {
                headers: vec![
                    ("apns-topic", TOPIC),
                    ("apns-push-type", "mdm"),
                    ("apns-expiration", "soon"),
                ],
                ..good()
            },
            400,
            "BadExpirationDate",
        ),
        (
            Req {
                headers: vec![
                    ("apns-topic", TOPIC),
                    ("apns-push-type", "mdm"),
                    ("apns-id", "nope"),
                ],
                ..good()
            },
            400,
            "BadMessageId",
        ),
        (
            Req {
                body: b"",
                ..good()
            },
            400,
            "PayloadEmpty",
        ),
        (
            Req {
                body: br#"{"aps":{}}"#,
                ..good()
            },
            400,
            "BadMdmPayload",
        ),
        (
            Req {
                body: &[b' '; 5000],
                ..good()
            },
            413,
            "PayloadTooLarge",
        ),
    ];
    for (req, status, reason) in cases {
        assert_eq!(
            send(&mut h2, req).await,
            (status, reason.to_owned()),
            "{reason}"
        );
    }
    assert_eq!(mock.received().len(), 1, "only the good push is recorded");
}
