//! The default transport over TLS: a rustls terminator in front of the mock, with a
//! certificate made by OpenSSL for 127.0.0.1.

#![cfg(all(feature = "client", feature = "mock"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use dep_client::client::{DepClient, HyperTransport};
use dep_client::mock::{MockDep, OrgId};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn make_cert(dir: &std::path::Path) -> Option<(Vec<u8>, Vec<u8>)> {
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            Some((std::fs::read(cert).unwrap(), std::fs::read(key).unwrap()))
        }
        Ok(o) if mdm_test_support::tool("openssl") => {
            panic!("openssl req failed: {}", String::from_utf8_lossy(&o.stderr))
        }
        _ => {
            mdm_test_support::tool("openssl");
            None
        }
    }
}

#[tokio::test]
async fn client_talks_tls() {
    let dir = std::env::temp_dir().join(format!("dep-client-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let Some((cert_pem, key_pem)) = make_cert(&dir) else {
        return;
    };
    let _ = std::fs::remove_dir_all(&dir);

    let mock = MockDep::start().await.unwrap();
    mock.add_devices(OrgId(0), "TLS", 3);
    let backend = mock.base_url().trim_start_matches("http://").to_string();

    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(&key_pem).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let backend = backend.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });

    let url = format!("https://127.0.0.1:{port}");
    mock.set_public_url(&url);
    let transport = HyperTransport::new()
        .with_tls_config(HyperTransport::tls_config_from_pem(&cert_pem).unwrap())
        .with_timeout(Duration::from_secs(10));
    let client = DepClient::with_transport(
        mock.token(OrgId(0)),
        dep_client::Config::new().with_base_url(&url),
        transport,
    );
    let page = client
        .fetch_devices(dep_client::DeviceListRequest::new(None, Some(10)))
        .await
        .unwrap();
    assert_eq!(page.devices.len(), 3);

    // A client that does not trust the certificate fails with a transport error.
    let other = DepClient::with_transport(
        mock.token(OrgId(0)),
        dep_client::Config::new().with_base_url(&url),
        HyperTransport::new().with_timeout(Duration::from_secs(10)),
    );
    let err = other.account().await.unwrap_err();
    assert!(err.is_transport(), "{err}");
}
