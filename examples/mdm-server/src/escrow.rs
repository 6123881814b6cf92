//! The client of Apple's escrow-key-unlock endpoint: one HTTP/1.1 POST over TLS with the
//! push certificate as client certificate (what [`mod@crate::admin::escrow_key_unlock`] builds).

use crate::admin::escrow_key_unlock::UnlockRequest;
use apns_client::PushIdentity;
use apns_client::cert::KeyFormat;
use axum::body::Bytes;
use http_body_util::BodyExt;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::sync::Arc;
use std::time::Duration;

/// The most bytes of Apple's answer passed on.
pub const MAX_ANSWER: usize = 1024 * 1024;
/// How long one unlock request may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Where unlock requests go and which CAs are trusted for it.
#[derive(Debug, Clone)]
pub struct EscrowClient {
    url: axum::http::Uri,
    roots: Arc<rustls::RootCertStore>,
}

/// Apple's answer: status, content type and body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// Its `Content-Type`, if any.
    pub content_type: Option<axum::http::HeaderValue>,
    /// The body (at most [`MAX_ANSWER`] bytes).
    pub body: Bytes,
}

/// The system's CA bundle (DER certificates), from `SSL_CERT_FILE` or the usual paths.
pub fn system_roots() -> Vec<Vec<u8>> {
    let mut paths: Vec<std::path::PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("SSL_CERT_FILE") {
        paths.push(p.into());
    }
    paths.push("/etc/ssl/certs/ca-certificates.crt".into());
    paths.push("/etc/pki/tls/certs/ca-bundle.crt".into());
    paths.push("/etc/ssl/cert.pem".into());
    for path in paths {
        if let Ok(pem) = std::fs::read(&path)
            && let Ok(certs) = apns_client::cert::certificates_from_pem(&pem)
            && !certs.is_empty()
        {
            return certs;
        }
    }
    Vec::new()
}

impl EscrowClient {
    /// A client for `url` (an `https://` URL) trusting `roots` (DER).
    pub fn new(url: &str, roots: &[Vec<u8>]) -> Result<Self, String> {
        let url: axum::http::Uri = url
            .parse()
            .map_err(|e| format!("escrow key unlock URL `{url}`: {e}"))?;
        if url.scheme_str() != Some("https") || url.host().is_none() {
            return Err(format!(
                "escrow key unlock URL `{url}`: not an https:// URL"
            ));
        }
        let mut store = rustls::RootCertStore::empty();
        for der in roots {
            // A bundle may hold certificates rustls does not take; skip them.
            let _ = store.add(CertificateDer::from(der.clone()));
        }
        Ok(EscrowClient {
            url,
            roots: Arc::new(store),
        })
    }

    /// Sends `request` authenticated by `identity` and returns Apple's answer.
    pub async fn send(
        &self,
        identity: &PushIdentity,
        request: &UnlockRequest,
    ) -> Result<Answer, String> {
        tokio::time::timeout(TIMEOUT, self.exchange(identity, request))
            .await
            .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
    }

    async fn exchange(
        &self,
        identity: &PushIdentity,
        request: &UnlockRequest,
    ) -> Result<Answer, String> {
        let host = self.url.host().unwrap_or_default().to_owned();
        let port = self.url.port_u16().unwrap_or(443);
        let chain: Vec<CertificateDer<'static>> = identity
            .certificate_chain()
            .iter()
            .map(|d| CertificateDer::from(d.clone()))
            .collect();
        let key_der = identity.private_key().der().to_vec();
        let key = match identity.private_key().format() {
            KeyFormat::Pkcs1 => PrivateKeyDer::Pkcs1(key_der.into()),
            KeyFormat::Pkcs8 => PrivateKeyDer::Pkcs8(key_der.into()),
            KeyFormat::Sec1 => PrivateKeyDer::Sec1(key_der.into()),
            _ => return Err("the push key is in a format TLS cannot use".into()),
        };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(Arc::clone(&self.roots))
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("the push certificate as TLS client certificate: {e}"))?;
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
            .map_err(|e| format!("server name `{host}`: {e}"))?;
        let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host}: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| format!("HTTP with {host}: {e}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let path = format!("{}?{}", self.url.path(), request.query);
        let http_request = axum::http::Request::post(path)
            .header(axum::http::header::HOST, host.as_str())
            .header(
                axum::http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(http_body_util::Full::new(Bytes::from(request.body.clone())))
            .map_err(|e| format!("building the request: {e}"))?;
        let response = sender
            .send_request(http_request)
            .await
            .map_err(|e| format!("sending to {host}: {e}"))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .cloned();
        let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("reading the answer of {host}: {e}"))?
            .to_bytes();
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }
}
