//! A mock APNs HTTP/2 server for tests (feature `mock`).
//!
//! It listens on loopback with TLS, requires a client certificate signed by the CA it is
//! given, checks each push the way APNs does (method, path, token, `apns-topic` against the
//! certificate's UID, `apns-push-type: mdm`, priority, expiration, `apns-id`, body
//! `{"mdm": "..."}`), and can be told to answer with any error, to send GOAWAY, to drop
//! connections, to limit concurrent streams and to be slow. [`TestPki`] mints a CA, a
//! server certificate and client push certificates at run time.
//!
//! ```no_run
//! # async fn demo() -> Result<(), apns_client::Error> {
//! use apns_client::mock::{MockApns, MockReply, TestPki};
//! use apns_client::ErrorReason;
//! let pki = TestPki::new()?;
//! let mock = MockApns::builder(&pki).max_concurrent_streams(100).start().await?;
//! mock.reply_to_token("00ff", MockReply::unregistered(1_700_000_000_000));
//! mock.reply_next(2, MockReply::error(ErrorReason::TooManyRequests));
//! let endpoint = mock.endpoint(); // point the client here, trusting pki.ca_der()
//! # let _ = endpoint; Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use rustls::pki_types::CertificateDer;

use crate::tls::rustls_key;
use tokio::net::TcpListener;

use crate::{CertificateInfo, Endpoint, Error, ErrorReason, KeyFormat, PrivateKey, PushIdentity};

/// Largest push body the mock accepts (APNs' limit for MDM-sized payloads is 4 KiB).
pub const MAX_PUSH_BODY: usize = 4096;
/// Most pushes the mock records (see [`MockApns::received`]).
pub const MAX_RECORDED: usize = 100_000;

fn transport(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Transport(Box::new(e))
}

fn tls(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Tls(Box::new(e))
}

/// A throwaway PKI for tests: a CA, a server certificate for `localhost` and `127.0.0.1`,
/// and client push certificates (ECDSA P-256) with any topic.
#[derive(Debug)]
pub struct TestPki {
    ca_der: Vec<u8>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    server_chain: Vec<Vec<u8>>,
    server_key: PrivateKey,
}

fn rc(e: rcgen::Error) -> Error {
    Error::cert("test certificate", e)
}

impl TestPki {
    /// Mints a CA and a server certificate.
    pub fn new() -> Result<Self, Error> {
        let ca_key = rcgen::KeyPair::generate().map_err(rc)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Mock APNs test CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = params.self_signed(&ca_key).map_err(rc)?;
        let issuer = rcgen::Issuer::new(params, ca_key);
        let server_key = rcgen::KeyPair::generate().map_err(rc)?;
        let mut sp =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .map_err(rc)?;
        sp.distinguished_name
            .push(rcgen::DnType::CommonName, "mock APNs server");
        sp.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let server = sp.signed_by(&server_key, &issuer).map_err(rc)?;
        Ok(TestPki {
            ca_der: ca.der().to_vec(),
            issuer,
            server_chain: vec![server.der().to_vec()],
            server_key: PrivateKey::from_der(KeyFormat::Pkcs8, server_key.serialize_der()),
        })
    }

    /// The CA certificate (DER): the client must trust it to reach the mock.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// A client push certificate whose subject UID is `topic`, signed by this CA.
    pub fn client_identity(&self, topic: &str) -> Result<PushIdentity, Error> {
        let (chain, key) = self.client_parts(topic)?;
        PushIdentity::from_parts(chain, key)
    }

    /// A client certificate and key for `topic` without the MDM checks (for negative tests).
    pub fn client_parts(&self, topic: &str) -> Result<(Vec<Vec<u8>>, PrivateKey), Error> {
        let key = rcgen::KeyPair::generate().map_err(rc)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
        params.distinguished_name.push(
            rcgen::DnType::CustomDnType(vec![0, 9, 2342, 19_200_300, 100, 1, 1]),
            rcgen::DnValue::Utf8String(topic.to_owned()),
        );
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("APSP:{}", topic.rsplit('.').next().unwrap_or(topic)),
        );
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).map_err(rc)?;
        Ok((
            vec![cert.der().to_vec()],
            PrivateKey::from_der(KeyFormat::Pkcs8, key.serialize_der()),
        ))
    }
}

/// An answer the mock can be told to give.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MockReply {
    /// HTTP status.
    pub status: u16,
    /// `reason` of the JSON body (none for 200).
    pub reason: Option<String>,
    /// `timestamp` of the JSON body.
    pub timestamp: Option<u64>,
}

impl MockReply {
    /// 200 OK.
    pub fn ok() -> Self {
        MockReply {
            status: 200,
            reason: None,
            timestamp: None,
        }
    }

    /// An error with Apple's documented status for the reason (400 for unknown reasons).
    pub fn error(reason: ErrorReason) -> Self {
        MockReply {
            status: reason.documented_status().unwrap_or(400),
            reason: Some(reason.as_str().to_owned()),
            timestamp: None,
        }
    }

    /// Any status and reason string (for reasons Apple may add).
    pub fn custom(status: u16, reason: &str) -> Self {
        MockReply {
            status,
            reason: Some(reason.to_owned()),
            timestamp: None,
        }
    }

    /// 410 `Unregistered` with its timestamp (milliseconds since the epoch).
    pub fn unregistered(timestamp_ms: u64) -> Self {
        MockReply {
            status: 410,
            reason: Some("Unregistered".to_owned()),
            timestamp: Some(timestamp_ms),
        }
    }

    fn body(&self) -> Option<Bytes> {
        let reason = self.reason.as_ref()?;
        let mut obj = serde_json::Map::new();
        obj.insert("reason".into(), reason.clone().into());
        if let Some(t) = self.timestamp {
            obj.insert("timestamp".into(), t.into());
        }
        serde_json::to_vec(&serde_json::Value::Object(obj))
            .ok()
            .map(Bytes::from)
    }
}

/// One push the mock accepted for processing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedPush {
    /// Hex token from the path.
    pub token: String,
    /// `apns-topic`.
    pub topic: String,
    /// `apns-id`, if the client sent one.
    pub apns_id: Option<String>,
    /// The `mdm` value of the body.
    pub push_magic: String,
    /// `apns-priority`, if sent.
    pub priority: Option<u8>,
    /// `apns-expiration`, if sent.
    pub expiration: Option<u64>,
}

/// Counters kept by the mock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockStats {
    /// TLS connections that completed the HTTP/2 handshake.
    pub connections: u64,
    /// TLS handshakes that failed (for example a client certificate from another CA).
    pub tls_failures: u64,
    /// Requests received.
    pub requests: u64,
    /// Requests answered 200.
    pub delivered: u64,
    /// Highest number of requests in flight at once, over all connections.
    pub max_in_flight: u64,
    /// GOAWAY frames sent on purpose.
    pub goaways: u64,
}

#[derive(Default)]
struct Behavior {
    by_token: HashMap<String, MockReply>,
    next: VecDeque<MockReply>,
    delay: Duration,
    goaway_after: Option<u64>,
    drop_after: Option<u64>,
    received: Vec<ReceivedPush>,
    record: bool,
    /// Every push answered 200 goes to each of these (a device that wakes on it).
    subscribers: Vec<tokio::sync::mpsc::UnboundedSender<ReceivedPush>>,
}

#[derive(Default)]
struct Shared {
    behavior: Mutex<Behavior>,
    connections: AtomicU64,
    tls_failures: AtomicU64,
    requests: AtomicU64,
    delivered: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    goaways: AtomicU64,
}

impl Shared {
    fn behavior(&self) -> std::sync::MutexGuard<'_, Behavior> {
        self.behavior
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Configures a [`MockApns`].
#[derive(Debug)]
pub struct MockApnsBuilder {
    server_chain: Vec<Vec<u8>>,
    server_key: PrivateKey,
    client_roots: Vec<Vec<u8>>,
    max_concurrent_streams: Option<u32>,
    record: bool,
    addr: SocketAddr,
}

impl MockApnsBuilder {
    /// Limits the concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS).
    pub fn max_concurrent_streams(mut self, n: u32) -> Self {
        self.max_concurrent_streams = Some(n);
        self
    }

    /// Whether to keep every push for [`MockApns::received`] (default on; off for benches).
    pub fn record(mut self, on: bool) -> Self {
        self.record = on;
        self
    }

    /// Also trusts client certificates issued by this CA (DER).
    pub fn trust_client_ca(mut self, der: &[u8]) -> Self {
        self.client_roots.push(der.to_vec());
        self
    }

    /// Listens on this address instead of `127.0.0.1:0`.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(self) -> Result<MockApns, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for der in &self.client_roots {
            roots.add(CertificateDer::from(der.clone())).map_err(tls)?;
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(tls)?;
        let chain: Vec<CertificateDer<'static>> = self
            .server_chain
            .iter()
            .map(|c| CertificateDer::from(c.clone()))
            .collect();
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, rustls_key(&self.server_key))
            .map_err(tls)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind(self.addr).await.map_err(transport)?;
        let addr = listener.local_addr().map_err(transport)?;
        let shared = Arc::new(Shared::default());
        shared.behavior().record = self.record;
        let state = shared.clone();
        let max_streams = self.max_concurrent_streams;
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let state = state.clone();
                tokio::spawn(async move {
                    serve_connection(acceptor, tcp, state, max_streams).await;
                });
            }
        });
        Ok(MockApns { addr, shared, task })
    }
}

/// A running mock APNs server; it stops when dropped.
#[derive(Debug)]
pub struct MockApns {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}

impl Drop for MockApns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockApns {
    /// A builder with the server certificate of `pki`, trusting client certificates of `pki`.
    pub fn builder(pki: &TestPki) -> MockApnsBuilder {
        MockApnsBuilder {
            server_chain: pki.server_chain.clone(),
            server_key: pki.server_key.clone(),
            client_roots: vec![pki.ca_der.clone()],
            max_concurrent_streams: None,
            record: true,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }

    /// A builder with any server certificate and key, trusting the given client CAs (DER).
    pub fn builder_with(
        server_chain: Vec<Vec<u8>>,
        server_key: PrivateKey,
        client_roots: Vec<Vec<u8>>,
    ) -> MockApnsBuilder {
        MockApnsBuilder {
            server_chain,
            server_key,
            client_roots,
            max_concurrent_streams: None,
            record: true,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The endpoint to give a client.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::Custom(
            http::Uri::builder()
                .scheme("https")
                .authority(self.addr.to_string())
                .path_and_query("/")
                .build()
                .unwrap_or_default(),
        )
    }

    /// Answers every push to `token_hex` with `reply` (after the header checks).
    pub fn reply_to_token(&self, token_hex: &str, reply: MockReply) {
        self.shared
            .behavior()
            .by_token
            .insert(token_hex.to_ascii_lowercase(), reply);
    }

    /// Answers the next `n` valid pushes, whatever their token, with `reply`.
    pub fn reply_next(&self, n: usize, reply: MockReply) {
        let mut b = self.shared.behavior();
        for _ in 0..n {
            b.next.push_back(reply.clone());
        }
    }

    /// Waits this long before answering each push.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.behavior().delay = delay;
    }

    /// Sends GOAWAY (graceful: in-flight streams finish) after every `n` requests on a
    /// connection; `None` stops doing so.
    pub fn goaway_after(&self, n: Option<u64>) {
        self.shared.behavior().goaway_after = n;
    }

    /// Drops the TCP connection without a word after `n` requests on it; `None` stops.
    pub fn drop_after(&self, n: Option<u64>) {
        self.shared.behavior().drop_after = n;
    }

    /// Counters.
    pub fn stats(&self) -> MockStats {
        let s = &self.shared;
        MockStats {
            connections: s.connections.load(Ordering::Relaxed),
            tls_failures: s.tls_failures.load(Ordering::Relaxed),
            requests: s.requests.load(Ordering::Relaxed),
            delivered: s.delivered.load(Ordering::Relaxed),
            max_in_flight: s.max_in_flight.load(Ordering::Relaxed) as u64,
            goaways: s.goaways.load(Ordering::Relaxed),
        }
    }

    /// Every push answered 200 from now on, as the device it names would receive it: what a
    /// simulator reads to wake its devices. Unbounded; dropping the receiver unsubscribes.
    pub fn subscribe(&self) -> tokio::sync::mpsc::UnboundedReceiver<ReceivedPush> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.shared.behavior().subscribers.push(tx);
        rx
    }

    /// The pushes that passed the header checks so far (when recording).
    pub fn received(&self) -> Vec<ReceivedPush> {
        self.shared.behavior().received.clone()
    }
}

async fn serve_connection(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    state: Arc<Shared>,
    max_streams: Option<u32>,
) {
    let tls = match acceptor.accept(tcp).await {
        Ok(t) => t,
        Err(_) => {
            state.tls_failures.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let cert_topic: Result<String, String> = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| "no client certificate".to_owned())
        .and_then(|c| {
            CertificateInfo::from_der(c.as_ref())
                .map(|i| i.topic)
                .map_err(|e| e.to_string())
        });
    let cert_topic: Arc<Result<String, String>> = Arc::new(cert_topic);
    let mut builder = h2::server::Builder::new();
    builder.initial_window_size(1 << 20);
    builder.initial_connection_window_size(1 << 24);
    if let Some(n) = max_streams {
        builder.max_concurrent_streams(n);
    }
    let Ok(mut conn) = builder.handshake::<_, Bytes>(tls).await else {
        return;
    };
    state.connections.fetch_add(1, Ordering::Relaxed);
    let mut count = 0u64;
    let mut goaway_sent = false;
    let answered = Arc::new(AtomicU64::new(0));
    while let Some(next) = conn.accept().await {
        let Ok((req, respond)) = next else { break };
        count += 1;
        let (goaway_after, drop_after) = {
            let b = state.behavior();
            (b.goaway_after, b.drop_after)
        };
        if let Some(n) = drop_after
            && count > n
        {
            // Let the first n answers out, then drop the connection without a GOAWAY.
            drop((req, respond));
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while answered.load(Ordering::Relaxed) < n && tokio::time::Instant::now() < deadline {
                let _ = tokio::time::timeout(Duration::from_millis(2), conn.accept()).await;
            }
            let _ = tokio::time::timeout(Duration::from_millis(10), conn.accept()).await;
            return;
        }
        let state2 = state.clone();
        let topic = cert_topic.clone();
        let answered2 = answered.clone();
        tokio::spawn(async move {
            handle(req, respond, state2, topic).await;
            answered2.fetch_add(1, Ordering::Relaxed);
        });
        if !goaway_sent && goaway_after.is_some_and(|n| count >= n) {
            goaway_sent = true;
            state.goaways.fetch_add(1, Ordering::Relaxed);
            conn.graceful_shutdown();
        }
    }
}

struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn handle(
    req: Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    state: Arc<Shared>,
    cert_topic: Arc<Result<String, String>>,
) {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let now = state.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    state.max_in_flight.fetch_max(now, Ordering::Relaxed);
    let _guard = InFlight(&state);
    let (parts, mut body) = req.into_parts();
    let mut data = Vec::new();
    let mut too_large = false;
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        let _ = body.flow_control().release_capacity(chunk.len());
        if data.len() + chunk.len() > MAX_PUSH_BODY {
            too_large = true;
        } else {
            data.extend_from_slice(&chunk);
        }
    }
    let reply = decide(&parts, &data, too_large, &state, &cert_topic);
    let delay = state.behavior().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if reply.status == 200 {
        state.delivered.fetch_add(1, Ordering::Relaxed);
    }
    let apns_id = parts
        .headers
        .get("apns-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| crate::ApnsId::random().to_header_string());
    let body = reply.body();
    let Ok(response) = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("apns-id", apns_id)
        .body(())
    else {
        return;
    };
    match body {
        None => {
            let _ = respond.send_response(response, true);
        }
        Some(b) => {
            if let Ok(mut stream) = respond.send_response(response, false) {
                let _ = stream.send_data(b, true);
            }
        }
    }
}

fn single<'a>(parts: &'a http::request::Parts, name: &str) -> Result<Option<&'a str>, MockReply> {
    let mut values = parts.headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(MockReply::error(ErrorReason::DuplicateHeaders));
    }
    Ok(first.and_then(|v| v.to_str().ok()))
}

fn decide(
    parts: &http::request::Parts,
    body: &[u8],
    too_large: bool,
    state: &Shared,
    cert_topic: &Result<String, String>,
) -> MockReply {
    match check(parts, body, too_large, cert_topic) {
        Err(reply) => reply,
        Ok(push) => {
            let mut b = state.behavior();
            let reply = b
                .next
                .pop_front()
                .or_else(|| b.by_token.get(&push.token).cloned())
                .unwrap_or_else(MockReply::ok);
            if reply.status == 200 && !b.subscribers.is_empty() {
                b.subscribers.retain(|s| s.send(push.clone()).is_ok());
            }
            if b.record && b.received.len() < MAX_RECORDED {
                b.received.push(push);
            }
            reply
        }
    }
}

fn check(
    parts: &http::request::Parts,
    body: &[u8],
    too_large: bool,
    cert_topic: &Result<String, String>,
) -> Result<ReceivedPush, MockReply> {
    if parts.method != http::Method::POST {
        return Err(MockReply::error(ErrorReason::MethodNotAllowed));
    }
    let Some(token) = parts.uri.path().strip_prefix("/3/device/") else {
        return Err(MockReply::error(ErrorReason::BadPath));
    };
    if token.is_empty() {
        return Err(MockReply::error(ErrorReason::MissingDeviceToken));
    }
    if crate::DeviceToken::from_hex(token).is_err() {
        return Err(MockReply::error(ErrorReason::BadDeviceToken));
    }
    let Ok(cert_topic) = cert_topic else {
        return Err(MockReply::error(ErrorReason::BadCertificate));
    };
    if single(parts, "apns-push-type")? != Some("mdm") {
        return Err(MockReply::error(ErrorReason::InvalidPushType));
    }
    let topic = match single(parts, "apns-topic")? {
        None => return Err(MockReply::error(ErrorReason::MissingTopic)),
        Some(t) if t != cert_topic => return Err(MockReply::error(ErrorReason::TopicDisallowed)),
        Some(t) => t.to_owned(),
    };
    let priority = match single(parts, "apns-priority")? {
        None => None,
        Some(p @ ("1" | "5" | "10")) => p.parse().ok(),
        Some(_) => return Err(MockReply::error(ErrorReason::BadPriority)),
    };
    let expiration = match single(parts, "apns-expiration")? {
        None => None,
        Some(e) => match e.parse::<u64>() {
            Ok(v) => Some(v),
            Err(_) => return Err(MockReply::error(ErrorReason::BadExpirationDate)),
        },
    };
    let apns_id = match single(parts, "apns-id")? {
        None => None,
        Some(id) if uuid::Uuid::try_parse(id).is_ok() => Some(id.to_owned()),
        Some(_) => return Err(MockReply::error(ErrorReason::BadMessageId)),
    };
    if too_large {
        return Err(MockReply::error(ErrorReason::PayloadTooLarge));
    }
    if body.is_empty() {
        return Err(MockReply::error(ErrorReason::PayloadEmpty));
    }
    let push_magic = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => match map.get("mdm") {
            Some(serde_json::Value::String(s)) if map.len() == 1 => s.clone(),
            _ => return Err(MockReply::custom(400, "BadMdmPayload")),
        },
        _ => return Err(MockReply::custom(400, "BadMdmPayload")),
    };
    Ok(ReceivedPush {
        token: token.to_ascii_lowercase(),
        topic,
        apns_id,
        push_magic,
        priority,
        expiration,
    })
}
