//! HTTPS from certificate and key files (feature `tls`).
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;

use mdm_server::app::{Config, Server};
use std::sync::Arc;
use support::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// A self-signed certificate for 127.0.0.1, made with the openssl CLI.
fn self_signed(dir: &std::path::Path) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-keyout",
        ])
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

#[tokio::test]
async fn serves_https_from_files() {
    let dir = TempDir::new();
    let Some((cert, key)) = self_signed(dir.path()) else {
        return;
    };
    support::seed_ca(&dir.path().join("data"));
    let config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"))
        .with_api_key("k")
        .with_tls(&cert, &key);
    let server = Server::start(&config).await.unwrap();
    assert_eq!(server.scheme(), "https");
    assert!(server.banner()[0].contains("https://"));
    let addr = server.local_addr;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));

    // A client that trusts the certificate.
    let pem = std::fs::read(&cert).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile_certs(&pem) {
        roots.add(c).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));

    // A silent client does not block others.
    let _silent = tokio::net::TcpStream::connect(addr).await.unwrap();

    let text = https_get(&connector, addr).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(env!("CARGO_PKG_VERSION")));

    // Plain HTTP on the TLS port gets no HTTP answer, and the server stays up.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = plain.read_to_end(&mut out).await;
    assert!(!out.starts_with(b"HTTP/"));
    let text = https_get(&connector, addr).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");

    let _ = tx.send(());
    task.await.unwrap().unwrap();
}

async fn https_get(connector: &tokio_rustls::TlsConnector, addr: std::net::SocketAddr) -> String {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name =
        rustls::pki_types::ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into());
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(
        b"GET /version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

#[tokio::test]
async fn bad_tls_files_fail_to_start() {
    let dir = TempDir::new();
    let missing = dir.path().join("missing.pem");
    let config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"))
        .with_api_key("k")
        .with_tls(&missing, &missing);
    let err = Server::start(&config).await.unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
}
