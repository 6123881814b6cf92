//! The async HTTP/2 client (feature `client`): hyper 1 over tokio-rustls with the push
//! certificate as the TLS client certificate.
//!
//! One [`ApnsClient`] holds a small pool of HTTP/2 connections per push certificate (topic).
//! Each connection carries as many pushes at once as the server's
//! `SETTINGS_MAX_CONCURRENT_STREAMS` allows; hyper queues the rest. A connection that
//! received GOAWAY or dropped is replaced on the next push. Answers that mean "retry later"
//! (429, 5xx) and transport failures are retried with exponential backoff until the push's
//! attempts or deadline run out. Every push gets its own [`PushResult`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::sync::Mutex;

use crate::{
    ApnsId, DeviceToken, Disposition, Endpoint, Error, MAX_RESPONSE_BODY, MdmPush, PushIdentity,
    PushResponse, parse_response,
};

/// The outcome of one push.
#[derive(Debug)]
#[non_exhaustive]
pub struct PushResult {
    /// The device token the push was for.
    pub token: DeviceToken,
    /// The topic it was sent on (`None` if no certificate could be chosen).
    pub topic: Option<String>,
    /// The `apns-id` sent (the same on every attempt).
    pub apns_id: ApnsId,
    /// How many times it was sent.
    pub attempts: u32,
    /// Time from the first attempt to the final answer.
    pub elapsed: Duration,
    /// APNs' final answer, or why there is none.
    pub outcome: Result<PushResponse, Error>,
}

impl PushResult {
    /// What the outcome means.
    pub fn disposition(&self) -> Disposition {
        match &self.outcome {
            Ok(r) => r.disposition(),
            Err(e) => e.disposition(),
        }
    }
}

/// Configures an [`ApnsClient`].
#[derive(Debug)]
pub struct ApnsClientBuilder {
    endpoint: Endpoint,
    identities: Vec<PushIdentity>,
    roots: Vec<Vec<u8>>,
    system_roots: bool,
    connections_per_topic: usize,
    max_attempts: u32,
    backoff_base: Duration,
    backoff_max: Duration,
    push_timeout: Duration,
    connect_timeout: Duration,
    max_in_flight: usize,
}

impl ApnsClientBuilder {
    /// Adds a push certificate; pushes for its topic use it. Call once per tenant.
    pub fn identity(mut self, identity: PushIdentity) -> Self {
        self.identities.push(identity);
        self
    }

    /// Trusts this CA certificate (DER) for the server, in addition to (or, for a custom
    /// endpoint, instead of) the system's.
    pub fn add_root_certificate(mut self, der: &[u8]) -> Self {
        self.roots.push(der.to_vec());
        self
    }

    /// Whether to load the system's CA bundle (default: yes for Apple's endpoints, no for
    /// custom ones).
    pub fn system_roots(mut self, on: bool) -> Self {
        self.system_roots = on;
        self
    }

    /// HTTP/2 connections kept per topic (default 1; each multiplexes many pushes).
    pub fn connections_per_topic(mut self, n: usize) -> Self {
        self.connections_per_topic = n.clamp(1, 64);
        self
    }

    /// Sends per push at most (default 3).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// First retry delay and its cap; the delay doubles each attempt (defaults 200 ms, 5 s).
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max.max(base);
        self
    }

    /// Deadline for one push, all attempts included (default 30 s).
    pub fn push_timeout(mut self, d: Duration) -> Self {
        self.push_timeout = d;
        self
    }

    /// Deadline for TCP connect plus TLS and HTTP/2 handshakes (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Most pushes [`ApnsClient::push_batch`] keeps in flight (default 1000).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Builds the client (loads CA certificates; opens no connection yet).
    pub fn build(self) -> Result<ApnsClient, Error> {
        if self.identities.is_empty() {
            return Err(Error::input("client", "no push certificate given"));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for der in &self.roots {
            roots
                .add(CertificateDer::from(der.clone()))
                .map_err(|e| Error::cert("root certificate", e))?;
        }
        if self.system_roots {
            load_system_roots(&mut roots);
        }
        if roots.is_empty() {
            return Err(Error::input(
                "client",
                "no CA certificate to verify the server with",
            ));
        }
        let roots = Arc::new(roots);
        let now = std::time::SystemTime::now();
        for identity in &self.identities {
            if identity.info().is_expired_at(now) {
                tracing::warn!(
                    topic = identity.topic(),
                    "push certificate is outside its validity period"
                );
            }
        }
        let mut pools = HashMap::new();
        for identity in &self.identities {
            let chain: Vec<CertificateDer<'static>> = identity
                .certificate_chain()
                .iter()
                .map(|c| CertificateDer::from(c.clone()))
                .collect();
            let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::Tls(Box::new(e)))?
                .with_root_certificates(roots.clone())
                .with_client_auth_cert(chain, crate::tls::rustls_key(identity.private_key()))
                .map_err(|e| Error::Tls(Box::new(e)))?;
            config.alpn_protocols = vec![b"h2".to_vec()];
            let slots = (0..self.connections_per_topic)
                .map(|_| Mutex::new(None))
                .collect();
            pools.insert(
                identity.topic().to_owned(),
                Pool {
                    tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
                    slots,
                    next: AtomicUsize::new(0),
                    generation: std::sync::atomic::AtomicU64::new(0),
                },
            );
        }
        let default_topic = if self.identities.len() == 1 {
            Some(self.identities[0].topic().to_owned())
        } else {
            None
        };
        let server_name = ServerName::try_from(self.endpoint.host().to_owned())
            .map_err(|e| Error::input("endpoint host", e.to_string()))?;
        Ok(ApnsClient {
            inner: Arc::new(Inner {
                endpoint: self.endpoint,
                server_name,
                pools,
                default_topic,
                max_attempts: self.max_attempts,
                backoff_base: self.backoff_base,
                backoff_max: self.backoff_max,
                push_timeout: self.push_timeout,
                connect_timeout: self.connect_timeout,
                max_in_flight: self.max_in_flight,
            }),
        })
    }
}

fn load_system_roots(roots: &mut rustls::RootCertStore) {
    let mut paths: Vec<std::path::PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("SSL_CERT_FILE") {
        paths.push(p.into());
    }
    for p in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ] {
        paths.push(p.into());
    }
    for path in paths {
        if let Ok(pem) = std::fs::read(&path)
            && let Ok(certs) = crate::cert::certificates_from_pem_max(&pem, 1000)
        {
            for der in certs {
                let _ = roots.add(CertificateDer::from(der));
            }
            if !roots.is_empty() {
                return;
            }
        }
    }
}

type Sender = SendRequest<Full<Bytes>>;

struct Pool {
    tls: tokio_rustls::TlsConnector,
    slots: Vec<Mutex<Option<(u64, Sender)>>>,
    next: AtomicUsize,
    generation: std::sync::atomic::AtomicU64,
}

struct Inner {
    endpoint: Endpoint,
    server_name: ServerName<'static>,
    pools: HashMap<String, Pool>,
    default_topic: Option<String>,
    max_attempts: u32,
    backoff_base: Duration,
    backoff_max: Duration,
    push_timeout: Duration,
    connect_timeout: Duration,
    max_in_flight: usize,
}

/// An APNs HTTP/2 client. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct ApnsClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ApnsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsClient")
            .field("endpoint", &self.inner.endpoint)
            .field("topics", &self.inner.pools.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Walks an error's sources: a rustls error anywhere means a TLS failure.
fn classify_transport(e: Box<dyn std::error::Error + Send + Sync>) -> Error {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e.as_ref());
    let mut is_tls = false;
    while let Some(err) = cur {
        if err.downcast_ref::<rustls::Error>().is_some() {
            is_tls = true;
            break;
        }
        // tokio-rustls reports every TLS failure (alerts included) as InvalidData; h2 keeps
        // only the kind and message of I/O errors, so the rustls type may be gone.
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && (io.kind() == std::io::ErrorKind::InvalidData
                || io
                    .get_ref()
                    .is_some_and(|inner| inner.is::<rustls::Error>()))
        {
            is_tls = true;
            break;
        }
        cur = err.source();
    }
    if is_tls {
        Error::Tls(e)
    } else {
        Error::Transport(e)
    }
}

impl ApnsClient {
    /// A builder for `endpoint`.
    pub fn builder(endpoint: Endpoint) -> ApnsClientBuilder {
        let system_roots = !matches!(endpoint, Endpoint::Custom(_));
        ApnsClientBuilder {
            endpoint,
            identities: Vec::new(),
            roots: Vec::new(),
            system_roots,
            connections_per_topic: 1,
            max_attempts: 3,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            push_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_in_flight: 1000,
        }
    }

    /// The topics this client holds certificates for.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.inner.pools.keys().map(String::as_str)
    }

    /// Sends one push, with retries, within the push deadline.
    pub async fn push(&self, push: &MdmPush) -> PushResult {
        let start = Instant::now();
        let apns_id = push.apns_id.unwrap_or_else(ApnsId::random);
        let topic = push
            .topic
            .clone()
            .or_else(|| self.inner.default_topic.clone());
        let attempts = AtomicU32::new(0);
        let outcome = match &topic {
            None => Err(Error::input(
                "topic",
                "the push names no topic and the client holds several certificates",
            )),
            Some(t) => match self.inner.pools.get(t) {
                None => Err(Error::UnknownTopic(t.clone())),
                Some(pool) => {
                    let fut = self.push_with_retries(pool, push, t, apns_id, &attempts);
                    match tokio::time::timeout(self.inner.push_timeout, fut).await {
                        Ok(r) => r,
                        Err(_) => Err(Error::Deadline(self.inner.push_timeout)),
                    }
                }
            },
        };
        PushResult {
            token: push.token.clone(),
            topic,
            apns_id,
            attempts: attempts.load(Ordering::Relaxed),
            elapsed: start.elapsed(),
            outcome,
        }
    }

    /// Sends many pushes concurrently (at most `max_in_flight` at once) and returns one
    /// result per push, in the order given.
    pub async fn push_batch(&self, pushes: Vec<MdmPush>) -> Vec<PushResult> {
        let total = pushes.len();
        let mut results: Vec<Option<PushResult>> = (0..total).map(|_| None).collect();
        let mut set = tokio::task::JoinSet::new();
        let mut iter = pushes.into_iter().enumerate();
        let mut tokens: Vec<Option<DeviceToken>> = vec![None; total];
        loop {
            while set.len() < self.inner.max_in_flight {
                let Some((i, push)) = iter.next() else { break };
                tokens[i] = Some(push.token.clone());
                let client = self.clone();
                set.spawn(async move { (i, client.push(&push).await) });
            }
            match set.join_next().await {
                None => break,
                Some(Ok((i, r))) => results[i] = Some(r),
                Some(Err(_)) => {}
            }
        }
        results
            .into_iter()
            .zip(tokens)
            .filter_map(|(r, token)| match r {
                Some(r) => Some(r),
                None => token.map(|token| PushResult {
                    token,
                    topic: None,
                    apns_id: ApnsId::random(),
                    attempts: 0,
                    elapsed: Duration::ZERO,
                    outcome: Err(Error::Transport("push task failed".into())),
                }),
            })
            .collect()
    }

    async fn push_with_retries(
        &self,
        pool: &Pool,
        push: &MdmPush,
        topic: &str,
        apns_id: ApnsId,
        attempts: &AtomicU32,
    ) -> Result<PushResponse, Error> {
        let request = push
            .clone()
            .with_apns_id(apns_id)
            .to_request(&self.inner.endpoint, Some(topic))?;
        let (parts, body) = request.into_parts();
        let body = Bytes::from(body);
        let mut delay = self.inner.backoff_base;
        let mut refused = 0u32;
        let mut attempt = 0u32;
        while attempt < self.inner.max_attempts {
            attempt += 1;
            attempts.store(attempt, Ordering::Relaxed);
            let req = http::Request::from_parts(parts.clone(), Full::new(body.clone()));
            let result = match self.send_once(pool, req).await {
                Ok(r) => Ok(r),
                // The server refused the stream before processing it (stream limit not yet
                // known, or GOAWAY): it never saw the push, so this attempt does not count.
                Err(Sent::Refused) if refused < MAX_REFUSED => {
                    refused += 1;
                    attempt -= 1;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                Err(Sent::Refused) => Err(Error::Transport(
                    "the server refused the stream too many times".into(),
                )),
                Err(Sent::Failed(e)) => Err(e),
            };
            let retry = match &result {
                Ok(r) => r.disposition() == Disposition::RetryLater,
                Err(e) => e.disposition() == Disposition::RetryLater,
            };
            if !retry || attempt == self.inner.max_attempts {
                return result;
            }
            // A dropped connection is replaced at once; APNs' "later" answers wait.
            let transport_first = attempt == 1 && matches!(result, Err(Error::Transport(_)));
            if !transport_first {
                tokio::time::sleep(jitter(delay, apns_id)).await;
                delay = (delay * 2).min(self.inner.backoff_max);
            }
        }
        Err(Error::input("client", "max_attempts is zero"))
    }

    async fn send_once(
        &self,
        pool: &Pool,
        req: http::Request<Full<Bytes>>,
    ) -> Result<PushResponse, Sent> {
        let (slot, generation, mut sender) = self.sender(pool).await.map_err(Sent::Failed)?;
        let response = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = ?e, "APNs request failed");
                if is_refused(&e) {
                    return Err(Sent::Refused);
                }
                // Forget this connection so that the retry opens a fresh one.
                let mut guard = pool.slots[slot].lock().await;
                if guard.as_ref().is_some_and(|(g, _)| *g == generation) {
                    *guard = None;
                }
                return Err(Sent::Failed(classify_transport(Box::new(e))));
            }
        };
        let (parts, body) = response.into_parts();
        let status = parts.status.as_u16();
        let bytes = Limited::new(body, MAX_RESPONSE_BODY)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    Error::InvalidResponse {
                        status,
                        what: format!("body (status {status})"),
                        reason: format!("more than {MAX_RESPONSE_BODY} bytes"),
                    }
                } else {
                    classify_transport(e)
                }
            })
            .map_err(Sent::Failed)?
            .to_bytes();
        parse_response(parts.status, &parts.headers, &bytes).map_err(Sent::Failed)
    }

    async fn sender(&self, pool: &Pool) -> Result<(usize, u64, Sender), Error> {
        let n = pool.slots.len();
        let i = pool.next.fetch_add(1, Ordering::Relaxed) % n;
        let mut slot = pool.slots[i].lock().await;
        if let Some((g, s)) = slot.as_ref()
            && !s.is_closed()
        {
            return Ok((i, *g, s.clone()));
        }
        *slot = None;
        let s = tokio::time::timeout(self.inner.connect_timeout, self.connect(pool))
            .await
            .map_err(|_| Error::Transport("connect timed out".into()))??;
        let g = pool.generation.fetch_add(1, Ordering::Relaxed);
        *slot = Some((g, s.clone()));
        Ok((i, g, s))
    }

    async fn connect(&self, pool: &Pool) -> Result<Sender, Error> {
        let endpoint = &self.inner.endpoint;
        let tcp = tokio::net::TcpStream::connect((endpoint.host(), endpoint.port()))
            .await
            .map_err(|e| Error::Transport(Box::new(e)))?;
        let _ = tcp.set_nodelay(true);
        let tls = pool
            .tls
            .connect(self.inner.server_name.clone(), tcp)
            .await
            .map_err(|e| classify_transport(Box::new(e)))?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(Error::Transport(
                "the server did not agree to HTTP/2 (ALPN h2)".into(),
            ));
        }
        let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(60))
            .keep_alive_while_idle(true)
            .initial_stream_window_size(1 << 20)
            .initial_connection_window_size(1 << 24)
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|e| classify_transport(Box::new(e)))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "APNs connection closed");
            }
        });
        Ok(sender)
    }
}

/// Retries of refused streams allowed per push (they do not count as attempts).
const MAX_REFUSED: u32 = 64;

enum Sent {
    Refused,
    Failed(Error),
}

/// REFUSED_STREAM, or a GOAWAY that did not cover the stream: the server did not process it.
fn is_refused(e: &hyper::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h2e) = err.downcast_ref::<h2::Error>() {
            return h2e.reason() == Some(h2::Reason::REFUSED_STREAM);
        }
        cur = err.source();
    }
    false
}

/// Up to +25% of `d`, derived from the push id (no RNG needed, spreads retries apart).
fn jitter(d: Duration, id: ApnsId) -> Duration {
    let b = id.0.as_bytes();
    let frac = u32::from(b[15]) + (u32::from(b[14]) << 8);
    d + d.mul_f64(f64::from(frac) / f64::from(u16::MAX) / 4.0)
}
