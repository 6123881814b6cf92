//! A small async SCEP client over HTTP (`http://` and `https://` URLs, on reqwest with
//! rustls), with enrollment and PENDING polling. Feature `client`.

use std::time::Duration;

use x509_cert::Certificate;

use crate::algorithm::{ContentCipher, DigestAlgorithm};
use crate::capabilities::Capabilities;
use crate::client::{CertRepOutcome, ClientRequest};
use crate::cms;
use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::operation::{Operation, request_target};

/// The HTTP client crate underneath, for [`HttpClient::with_reqwest_client`].
pub use reqwest;

/// Largest response body read, in bytes.
pub const MAX_RESPONSE: usize = 1024 * 1024;

/// A SCEP server at one URL.
#[derive(Debug, Clone)]
pub struct HttpClient {
    origin: String,
    path: String,
    timeout: Duration,
    client: reqwest::Client,
}

/// One HTTP answer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content-Type, if any.
    pub content_type: Option<String>,
    /// Body.
    pub body: Vec<u8>,
}

fn transport(e: reqwest::Error) -> Error {
    Error::Transport(Box::new(e))
}

impl HttpClient {
    /// A client for `url` (`http://host:port/path` or `https://...`; HTTPS trusts the
    /// system's roots until [`HttpClient::with_ca_pem`] says otherwise).
    pub fn new(url: &str) -> Result<Self> {
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
            ("https", rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            ("http", rest)
        } else {
            return Err(Error::Usage(format!(
                "only http:// and https:// URLs are supported: {url}"
            )));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(Error::Usage(format!("no host in {url}")));
        }
        let path = path.split('?').next().unwrap_or("/");
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| Error::Usage(format!("HTTP client: {e}")))?;
        Ok(Self {
            origin: format!("{scheme}://{authority}"),
            path: path.to_owned(),
            timeout: Duration::from_secs(30),
            client,
        })
    }

    /// Trusts only the certificates in `pem` for HTTPS (a private CA).
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<Self> {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| Error::Usage(format!("CA certificates: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Usage("CA certificates: no PEM certificate".into()));
        }
        self.client = reqwest::Client::builder()
            .tls_certs_only(certs)
            .build()
            .map_err(|e| Error::Usage(format!("HTTP client: {e}")))?;
        Ok(self)
    }

    /// Sends through `client` (shared by many SCEP clients, or set up by the caller).
    pub fn with_reqwest_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    /// Sets the timeout of each request.
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    async fn send(&self, target: &str, post: Option<Vec<u8>>) -> Result<Response> {
        let url = format!("{}{target}", self.origin);
        let request = match post {
            Some(body) => self
                .client
                .post(&url)
                .header(
                    http::header::CONTENT_TYPE,
                    crate::ca::content_type::PKI_MESSAGE,
                )
                .body(body),
            None => self.client.get(&url),
        };
        let mut resp = request
            .timeout(self.timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let too_large =
            || Error::Transport(format!("response larger than {MAX_RESPONSE} bytes").into());
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_RESPONSE {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        if !(200..300).contains(&status) {
            return Err(Error::Http {
                status,
                body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            });
        }
        Ok(Response {
            status,
            content_type,
            body,
        })
    }

    /// GetCACaps.
    pub async fn get_ca_caps(&self) -> Result<Capabilities> {
        let r = self
            .send(&request_target(&self.path, &Operation::GetCaCaps), None)
            .await?;
        Ok(Capabilities::parse(&String::from_utf8_lossy(&r.body)))
    }

    /// GetCACert: the CA certificate, or the CA/RA chain.
    pub async fn get_ca_cert(&self) -> Result<Vec<Certificate>> {
        let r = self
            .send(&request_target(&self.path, &Operation::GetCaCert), None)
            .await?;
        cms::parse_certificates(&r.body)
    }

    /// GetNextCACert (raw SignedData; check it with [`next_ca_certificates`](crate::client::next_ca_certificates)).
    pub async fn get_next_ca_cert(&self) -> Result<Vec<u8>> {
        let r = self
            .send(&request_target(&self.path, &Operation::GetNextCaCert), None)
            .await?;
        Ok(r.body)
    }

    /// PKIOperation, by POST or by GET with a base64 `message`.
    pub async fn pki_operation(&self, der: &[u8], post: bool) -> Result<Vec<u8>> {
        let r = if post {
            let t = format!("{}?operation=PKIOperation", self.path);
            self.send(&t, Some(der.to_vec())).await?
        } else {
            let t = request_target(&self.path, &Operation::PkiOperation(der.to_vec()));
            self.send(&t, None).await?
        };
        Ok(r.body)
    }
}

/// Enrollment settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EnrollOptions {
    /// Digest; `None` picks the best the server advertises.
    pub digest: Option<DigestAlgorithm>,
    /// Cipher; `None` picks the best the server advertises.
    pub cipher: Option<ContentCipher>,
    /// challengePassword.
    pub challenge: Option<String>,
    /// Wait between polls while PENDING.
    pub poll_interval: Duration,
    /// Most polls before giving up.
    pub max_polls: u32,
    /// The current time (Unix seconds) for the temporary signer certificate.
    pub now: i64,
}

impl EnrollOptions {
    /// Defaults: negotiated algorithms, no challenge, 5 polls one second apart.
    pub fn new(now: i64) -> Self {
        Self {
            digest: None,
            cipher: None,
            challenge: None,
            poll_interval: Duration::from_secs(1),
            max_polls: 5,
            now,
        }
    }
}

/// Result of an enrollment.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Enrolled {
    /// The issued certificate.
    pub certificate: Certificate,
    /// The CA certificates from GetCACert.
    pub ca_certs: Vec<Certificate>,
    /// The digest used.
    pub digest: DigestAlgorithm,
    /// The cipher used.
    pub cipher: ContentCipher,
}

/// Enrolls `key` for `subject_der`: GetCACaps, GetCACert, PKCSReq, and CertPoll while PENDING.
pub async fn enroll(
    client: &HttpClient,
    key: &dyn PrivateKey,
    subject_der: &[u8],
    opts: &EnrollOptions,
) -> Result<Enrolled> {
    enroll_observed(client, key, subject_der, opts, |_| {}).await
}

/// One PENDING answer during [`enroll_observed`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PendingNotice<'a> {
    /// The transactionID the CA keeps the request under.
    pub transaction_id: &'a str,
    /// How many polls were sent before this answer (0: the PKCSReq itself).
    pub polls: u32,
    /// The wait before the next poll, or `None` when no poll is left.
    pub next_poll_in: Option<Duration>,
}

/// [`enroll`], calling `on_pending` for every PENDING answer (to show progress).
pub async fn enroll_observed(
    client: &HttpClient,
    key: &dyn PrivateKey,
    subject_der: &[u8],
    opts: &EnrollOptions,
    mut on_pending: impl FnMut(&PendingNotice<'_>),
) -> Result<Enrolled> {
    let caps = client.get_ca_caps().await?;
    let ca_certs = client.get_ca_cert().await?;
    let mut enrollment = crate::Enrollment::new(key, subject_der);
    if let Some(challenge) = &opts.challenge {
        enrollment = enrollment.challenge(challenge.clone());
    }
    let digest = opts.digest.unwrap_or_else(|| caps.best_digest());
    let cipher = opts.cipher.unwrap_or_else(|| caps.best_cipher());
    let enrollment = enrollment.digest(digest).cipher(cipher);
    let req = enrollment.request(&ca_certs, &caps, opts.now)?;
    let post = caps.post_supported();
    let mut current: ClientRequest = req.clone();
    for attempt in 0..=opts.max_polls {
        let rep = client.pki_operation(&current.der, post).await?;
        match current.open_response(&rep, key, &ca_certs)? {
            CertRepOutcome::Issued { certificate, .. } => {
                return Ok(Enrolled {
                    certificate: *certificate,
                    ca_certs,
                    digest,
                    cipher,
                });
            }
            CertRepOutcome::Failed { fail_info, text } => {
                return Err(Error::invalid(
                    "enrollment",
                    format!(
                        "CA answered FAILURE ({fail_info}){}",
                        text.map(|t| format!(": {t}")).unwrap_or_default()
                    ),
                ));
            }
            CertRepOutcome::Pending => {
                let last = attempt == opts.max_polls;
                on_pending(&PendingNotice {
                    transaction_id: &req.transaction_id,
                    polls: attempt,
                    next_poll_in: (!last).then_some(opts.poll_interval),
                });
                if last {
                    break;
                }
                tokio::time::sleep(opts.poll_interval).await;
                current = enrollment.poll(&req, &ca_certs, &caps)?;
            }
        }
    }
    Err(Error::invalid(
        "enrollment",
        "still PENDING after the last poll",
    ))
}
