//! The async HTTP/2 client (feature `client`): h2 over tokio-rustls with the push
//! certificate as the TLS client certificate.
//!
//! One [`ApnsClient`] holds a small pool of HTTP/2 connections per push certificate (topic).
//! Each connection is driven by one task that opens the streams, reads the answers and
//! hands them back; a batch goes to it in one message and its answers come back in one, so
//! a push costs no task, timer or cross-thread wake-up of its own. Each connection carries
//! up to `max_in_flight` pushes at once; h2 holds back those beyond the server's
//! `SETTINGS_MAX_CONCURRENT_STREAMS`. A connection that received GOAWAY or dropped is
//! replaced on the next push. Answers that mean "retry later"
//! (429, 5xx) and transport failures are retried with exponential backoff until the push's
//! attempts or deadline run out. Every push gets its own [`PushResult`].

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::request::RequestTemplate;
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
    /// A result built by hand (for tests of code that consumes results).
    pub fn new(
        token: DeviceToken,
        topic: Option<String>,
        apns_id: ApnsId,
        attempts: u32,
        elapsed: Duration,
        outcome: Result<PushResponse, Error>,
    ) -> Self {
        PushResult {
            token,
            topic,
            apns_id,
            attempts,
            elapsed,
            outcome,
        }
    }

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

    /// Most pushes one connection keeps in flight (default 1000); the rest wait their turn
    /// in its task.
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
                    template: RequestTemplate::new(&self.endpoint, identity.topic())?,
                    slots,
                    next: AtomicUsize::new(0),
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
                ids: IdSource::new(),
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

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// What one stream's exchange produced, for the connection task to hand back.
type Answer = Result<PushResponse, Sent>;

/// A request for a connection task: the head, the body and where the answer goes.
struct Item {
    request: http::Request<()>,
    body: Bytes,
    /// `None`: the deadline starts when the stream is opened (batches).
    deadline: Option<tokio::time::Instant>,
    reply: Reply,
}

enum Reply {
    One(oneshot::Sender<Answer>),
    Batch { sink: usize, index: usize },
}

/// Work sent to a connection task.
enum Job {
    One(Box<Item>),
    /// Many requests; all answers come back together, each with its index and the time its
    /// stream was opened.
    Batch {
        items: Vec<BatchItem>,
        reply: oneshot::Sender<Vec<BatchAnswer>>,
    },
}

/// A first attempt in a batch: the push's index, the request head and the body.
type BatchItem = (usize, http::Request<()>, Bytes);

/// Attempts made, when the first was sent, and the outcome.
type Settled = (u32, Instant, Result<PushResponse, Error>);

struct BatchAnswer {
    index: usize,
    started: Instant,
    answer: Answer,
}

/// A handle on one connection task.
#[derive(Clone)]
struct Handle {
    jobs: mpsc::UnboundedSender<Job>,
    /// Set by the task once the connection takes no new streams (GOAWAY, failure, end).
    closed: Arc<AtomicBool>,
}

impl Handle {
    fn usable(&self) -> bool {
        !self.closed.load(Ordering::Relaxed) && !self.jobs.is_closed()
    }
}

struct Pool {
    tls: tokio_rustls::TlsConnector,
    template: RequestTemplate,
    slots: Vec<Mutex<Option<Handle>>>,
    next: AtomicUsize,
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
    ids: IdSource,
}

/// `apns-id`s for pushes that name none: unique per client, distinct across clients,
/// without a system call each (the ids are not secrets).
struct IdSource {
    key: u64,
    salt: u64,
    counter: AtomicU64,
}

impl IdSource {
    fn new() -> Self {
        let seed = uuid::Uuid::new_v4().as_u64_pair();
        IdSource {
            key: seed.0,
            salt: seed.1,
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self) -> ApnsId {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        // `mix` is a bijection: the low half is distinct for every n (up to the 6 bits that
        // the UUID version and variant overwrite).
        let lo = mix(n ^ self.key);
        let hi = mix(lo ^ self.salt);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&hi.to_be_bytes());
        bytes[8..].copy_from_slice(&lo.to_be_bytes());
        ApnsId(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }
}

/// SplitMix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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

/// Whether an I/O error is a TLS failure: tokio-rustls reports every TLS failure (alerts
/// included) as InvalidData, and h2 keeps only the kind and message of I/O errors.
fn io_is_tls(io: &std::io::Error) -> bool {
    io.kind() == std::io::ErrorKind::InvalidData
        || io
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>())
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
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io_is_tls(io)
        {
            is_tls = true;
            break;
        }
        if let Some(io) = err.downcast_ref::<h2::Error>().and_then(h2::Error::get_io)
            && io_is_tls(io)
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

/// What to do after one attempt.
enum Next {
    Done(Result<PushResponse, Error>),
    /// The server never saw the push: send again without counting an attempt.
    Refused,
    /// Worth another attempt (after a backoff unless `at_once`).
    Retry {
        at_once: bool,
    },
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

    /// The topic and pool for a push.
    fn route(&self, push: &MdmPush) -> Result<(&str, &Pool), Error> {
        let topic = match push
            .topic
            .as_deref()
            .or(self.inner.default_topic.as_deref())
        {
            Some(t) => t,
            None => {
                return Err(Error::input(
                    "topic",
                    "the push names no topic and the client holds several certificates",
                ));
            }
        };
        match self.inner.pools.get_key_value(topic) {
            Some((t, pool)) => Ok((t.as_str(), pool)),
            None => Err(Error::UnknownTopic(topic.to_owned())),
        }
    }

    /// Sends one push, with retries, within the push deadline.
    pub async fn push(&self, push: &MdmPush) -> PushResult {
        let start = Instant::now();
        let apns_id = push.apns_id.unwrap_or_else(|| self.inner.ids.next());
        let (topic, attempts, outcome) = match self.route(push) {
            Err(e) => (
                push.topic
                    .clone()
                    .or_else(|| self.inner.default_topic.clone()),
                0,
                Err(e),
            ),
            Ok((topic, pool)) => {
                let (attempts, outcome) = self.with_retries(pool, push, apns_id, start, None).await;
                (Some(topic.to_owned()), attempts, outcome)
            }
        };
        PushResult {
            token: push.token.clone(),
            topic,
            apns_id,
            attempts,
            elapsed: start.elapsed(),
            outcome,
        }
    }

    /// Sends many pushes and returns one result per push, in the order given.
    ///
    /// First attempts go to the connection tasks in chunks of up to 256, one message each
    /// way per chunk: no task, channel or timer per push on the way. Pushes whose first
    /// answer asks for a retry go through the same retry logic as [`ApnsClient::push`],
    /// concurrently with the rest of the batch. Each connection keeps at most
    /// `max_in_flight` pushes in flight.
    pub async fn push_batch(&self, pushes: Vec<MdmPush>) -> Vec<PushResult> {
        let total = pushes.len();
        let mut ids = Vec::with_capacity(total);
        let mut routes: Vec<Result<(&str, &Pool), Error>> = Vec::with_capacity(total);
        let mut outcomes: Vec<Option<Settled>> = (0..total).map(|_| None).collect();
        // Requests go out in chunks, each to the pool's next connection, with a bounded
        // number of chunks unanswered: memory stays proportional to what is in flight.
        let mut open: Vec<(&Pool, Vec<BatchItem>)> = Vec::new();
        let mut handles: Vec<(&Pool, usize, Handle)> = Vec::new();
        let mut waiting: VecDeque<Waiting> = VecDeque::new();
        let connections = self.inner.pools.values().map(|p| p.slots.len()).max();
        let max_waiting = (2 * self.inner.max_in_flight * connections.unwrap_or(1))
            .div_ceil(CHUNK)
            .max(2);
        let pushes_ref = &pushes;
        let retry = |i: usize, apns_id: ApnsId, started: Instant, next: Next| async move {
            let r = match pushes_ref.get(i).map(|p| (p, self.route(p))) {
                Some((push, Ok((_, pool)))) => {
                    self.with_retries(pool, push, apns_id, started, Some(next))
                        .await
                }
                Some((_, Err(e))) => (1, Err(e)),
                None => (0, Err(connection_lost())),
            };
            (i, started, r)
        };
        let mut retries = FuturesUnordered::new();
        // Waits for a chunk's answers while the retries so far make progress, then settles
        // what the answers settle and starts retries for the rest.
        macro_rules! settle {
            ($w:expr) => {{
                let fut = $w.answers();
                tokio::pin!(fut);
                let answers = loop {
                    tokio::select! {
                        biased;
                        a = &mut fut => break a,
                        Some((i, started, (attempts, result))) = retries.next(),
                            if !retries.is_empty() =>
                        {
                            outcomes[i] = Some((attempts, started, result));
                        }
                    }
                };
                for (i, started, answer) in answers {
                    match self.next_step(answer, 1) {
                        Next::Done(result) => outcomes[i] = Some((1, started, result)),
                        next => retries.push(retry(i, ids[i], started, next)),
                    }
                }
            }};
        }
        for (i, push) in pushes.iter().enumerate() {
            let apns_id = push.apns_id.unwrap_or_else(|| self.inner.ids.next());
            ids.push(apns_id);
            let route = self.route(push);
            if let Ok((_, pool)) = &route {
                match pool.template.request(push, Some(apns_id)) {
                    Err(e) => {
                        routes.push(Err(e));
                        continue;
                    }
                    Ok(request) => {
                        let (parts, body) = request.into_parts();
                        let item = (i, http::Request::from_parts(parts, ()), Bytes::from(body));
                        let k = match open.iter().position(|(p, _)| std::ptr::eq(*p, *pool)) {
                            Some(k) => k,
                            None => {
                                open.push((pool, Vec::with_capacity(CHUNK)));
                                open.len() - 1
                            }
                        };
                        open[k].1.push(item);
                        if open[k].1.len() >= CHUNK {
                            let items =
                                std::mem::replace(&mut open[k].1, Vec::with_capacity(CHUNK));
                            let sent = self.dispatch(pool, &mut handles, items).await;
                            waiting.push_back(sent);
                            while waiting.len() > max_waiting {
                                if let Some(w) = waiting.pop_front() {
                                    settle!(w);
                                }
                            }
                        }
                    }
                }
            }
            routes.push(route);
        }
        for (pool, items) in std::mem::take(&mut open) {
            if !items.is_empty() {
                let sent = self.dispatch(pool, &mut handles, items).await;
                waiting.push_back(sent);
            }
        }
        drop(handles);
        while let Some(w) = waiting.pop_front() {
            settle!(w);
        }
        while let Some((i, started, (attempts, result))) = retries.next().await {
            outcomes[i] = Some((attempts, started, result));
        }
        drop(retries);
        let mut results = Vec::with_capacity(total);
        for (((push, apns_id), route), outcome) in
            pushes.into_iter().zip(ids).zip(routes).zip(outcomes)
        {
            let (topic, attempts, elapsed, outcome) = match (route, outcome) {
                (Err(e), _) => (
                    push.topic.or_else(|| self.inner.default_topic.clone()),
                    0,
                    Duration::ZERO,
                    Err(e),
                ),
                (Ok((topic, _)), Some((attempts, started, result))) => {
                    (Some(topic.to_owned()), attempts, started.elapsed(), result)
                }
                (Ok((topic, _)), None) => (
                    Some(topic.to_owned()),
                    0,
                    Duration::ZERO,
                    Err(connection_lost()),
                ),
            };
            results.push(PushResult {
                token: push.token,
                topic,
                apns_id,
                attempts,
                elapsed,
                outcome,
            });
        }
        results
    }

    /// Sends one chunk of first attempts to the pool's next connection (opened or replaced
    /// as needed; connections are remembered in `handles` for the batch).
    async fn dispatch<'a>(
        &self,
        pool: &'a Pool,
        handles: &mut Vec<(&'a Pool, usize, Handle)>,
        items: Vec<BatchItem>,
    ) -> Waiting {
        let started = Instant::now();
        let indexes: Vec<usize> = items.iter().map(|(i, _, _)| *i).collect();
        let slot = pool.next.fetch_add(1, Ordering::Relaxed) % pool.slots.len();
        let known = handles
            .iter()
            .position(|(p, s, h)| std::ptr::eq(*p, pool) && *s == slot && h.usable());
        let handle = match known {
            Some(k) => Ok(handles[k].2.clone()),
            None => match self.handle(pool, slot).await {
                Ok(h) => {
                    handles.retain(|(p, s, _)| !(std::ptr::eq(*p, pool) && *s == slot));
                    handles.push((pool, slot, h.clone()));
                    Ok(h)
                }
                Err(e) => Err(e),
            },
        };
        let answers = match handle {
            Err(e) => Err(e),
            Ok(handle) => {
                let (tx, rx) = oneshot::channel();
                match handle.jobs.send(Job::Batch { items, reply: tx }) {
                    Ok(()) => Ok(rx),
                    Err(_) => Err(Error::Transport("the connection closed".into())),
                }
            }
        };
        Waiting {
            indexes,
            started,
            answers,
        }
    }

    /// Classifies the answer to attempt number `attempt`.
    fn next_step(&self, answer: Answer, attempt: u32) -> Next {
        let result = match answer {
            Ok(r) => Ok(r),
            Err(Sent::Refused) => return Next::Refused,
            Err(Sent::Failed(e)) => Err(e),
        };
        let retry = match &result {
            Ok(r) => r.disposition() == Disposition::RetryLater,
            Err(e) => {
                e.disposition() == Disposition::RetryLater && !matches!(e, Error::Deadline(_))
            }
        };
        if !retry || attempt >= self.inner.max_attempts {
            return Next::Done(result);
        }
        // A dropped connection is replaced at once; APNs' "later" answers wait.
        let at_once = attempt == 1 && matches!(result, Err(Error::Transport(_)));
        Next::Retry { at_once }
    }

    /// Sends `push` until it is settled or its attempts or deadline (from `start`) run out;
    /// `first` is what the first attempt already gave, if it was made elsewhere. Returns
    /// the attempts made and the outcome.
    async fn with_retries(
        &self,
        pool: &Pool,
        push: &MdmPush,
        apns_id: ApnsId,
        start: Instant,
        first: Option<Next>,
    ) -> (u32, Result<PushResponse, Error>) {
        let attempts = AtomicU32::new(u32::from(first.is_some()));
        let deadline = tokio::time::Instant::from_std(start + self.inner.push_timeout);
        let fut = self.attempt_loop(pool, push, apns_id, first, &attempts, deadline);
        let outcome = match tokio::time::timeout_at(deadline, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::Deadline(self.inner.push_timeout)),
        };
        (attempts.load(Ordering::Relaxed), outcome)
    }

    async fn attempt_loop(
        &self,
        pool: &Pool,
        push: &MdmPush,
        apns_id: ApnsId,
        mut pending: Option<Next>,
        attempts: &AtomicU32,
        deadline: tokio::time::Instant,
    ) -> Result<PushResponse, Error> {
        let (parts, body) = pool.template.request(push, Some(apns_id))?.into_parts();
        let body = Bytes::from(body);
        let mut delay = self.inner.backoff_base;
        let mut refused = 0u32;
        let mut attempt = attempts.load(Ordering::Relaxed);
        loop {
            let next = match pending.take() {
                Some(next) => next,
                None => {
                    attempt += 1;
                    attempts.store(attempt, Ordering::Relaxed);
                    let request = http::Request::from_parts(parts.clone(), ());
                    let answer = self.send_once(pool, request, body.clone(), deadline).await;
                    self.next_step(answer, attempt)
                }
            };
            match next {
                Next::Done(result) => return result,
                Next::Refused if refused < MAX_REFUSED => {
                    // The server refused the stream before processing it (stream limit not
                    // yet known, or GOAWAY): it never saw the push, so this does not count.
                    refused += 1;
                    attempt = attempt.saturating_sub(1);
                    attempts.store(attempt, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Next::Refused => {
                    return Err(Error::Transport(
                        "the server refused the stream too many times".into(),
                    ));
                }
                Next::Retry { at_once, .. } => {
                    if !at_once {
                        tokio::time::sleep(jitter(delay, apns_id)).await;
                        delay = (delay * 2).min(self.inner.backoff_max);
                    }
                }
            }
        }
    }

    /// One attempt through one of the pool's connections.
    async fn send_once(
        &self,
        pool: &Pool,
        request: http::Request<()>,
        body: Bytes,
        deadline: tokio::time::Instant,
    ) -> Answer {
        let slot = pool.next.fetch_add(1, Ordering::Relaxed) % pool.slots.len();
        let handle = self.handle(pool, slot).await.map_err(Sent::Failed)?;
        let (tx, rx) = oneshot::channel();
        let item = Item {
            request,
            body,
            deadline: Some(deadline),
            reply: Reply::One(tx),
        };
        if handle.jobs.send(Job::One(Box::new(item))).is_err() {
            // The connection task ended before it took the request: nothing was sent.
            return Err(Sent::Refused);
        }
        rx.await
            .unwrap_or_else(|_| Err(Sent::Failed(connection_lost())))
    }

    /// The connection of `slot`, opened if it is missing or closed.
    async fn handle(&self, pool: &Pool, slot: usize) -> Result<Handle, Error> {
        let Some(cell) = pool.slots.get(slot) else {
            return Err(Error::input("client", "no connection slot"));
        };
        let mut cell = cell.lock().await;
        if let Some(h) = cell.as_ref()
            && h.usable()
        {
            return Ok(h.clone());
        }
        *cell = None;
        let h = tokio::time::timeout(self.inner.connect_timeout, self.connect(pool))
            .await
            .map_err(|_| Error::Transport("connect timed out".into()))??;
        *cell = Some(h.clone());
        Ok(h)
    }

    async fn connect(&self, pool: &Pool) -> Result<Handle, Error> {
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
        let (send, conn) = h2::client::Builder::new()
            .initial_window_size(1 << 20)
            .initial_connection_window_size(1 << 24)
            .handshake::<_, Bytes>(tls)
            .await
            .map_err(|e| classify_transport(Box::new(e)))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let closed = Arc::new(AtomicBool::new(false));
        let task = Connection {
            conn,
            send,
            jobs: rx,
            closed: closed.clone(),
            max_in_flight: self.inner.max_in_flight,
            push_timeout: self.inner.push_timeout,
        };
        tokio::spawn(task.run());
        Ok(Handle { jobs: tx, closed })
    }
}

/// First attempts per message to a connection task.
const CHUNK: usize = 256;

/// A chunk of first attempts handed to a connection task.
struct Waiting {
    indexes: Vec<usize>,
    started: Instant,
    answers: Result<oneshot::Receiver<Vec<BatchAnswer>>, Error>,
}

impl Waiting {
    /// Waits for the chunk's answers: (index, when its stream was opened, answer).
    async fn answers(self) -> Vec<(usize, Instant, Answer)> {
        let failed = match self.answers {
            Ok(rx) => match rx.await {
                Ok(answers) => {
                    return answers
                        .into_iter()
                        .map(|a| (a.index, a.started, a.answer))
                        .collect();
                }
                Err(_) => (false, connection_lost().to_string()),
            },
            Err(e) => (matches!(e, Error::Tls(_)), e.to_string()),
        };
        let started = self.started;
        self.indexes
            .into_iter()
            .map(|i| {
                let answer = Err(Sent::Failed(copy_error(failed.0, &failed.1)));
                (i, started, answer)
            })
            .collect()
    }
}

fn connection_lost() -> Error {
    Error::Transport("the connection closed before the answer".into())
}

/// A fresh error of the same kind and text (errors are not `Clone`).
fn copy_error(tls: bool, text: &str) -> Error {
    let source: Box<dyn std::error::Error + Send + Sync> = text.to_owned().into();
    if tls {
        Error::Tls(source)
    } else {
        Error::Transport(source)
    }
}

/// How often an idle or busy connection is PINGed; a PING unanswered until the next one
/// ends the connection.
const KEEPALIVE: Duration = Duration::from_secs(60);

/// One HTTP/2 connection, driven by one task: it takes requests from its channel, opens
/// their streams, reads the answers and hands them back. Every stream's future and the
/// connection's I/O are polled by this task, so a push costs no task and no cross-thread
/// wake-up of its own.
struct Connection {
    conn: h2::client::Connection<Tls, Bytes>,
    send: h2::client::SendRequest<Bytes>,
    jobs: mpsc::UnboundedReceiver<Job>,
    closed: Arc<AtomicBool>,
    max_in_flight: usize,
    push_timeout: Duration,
}

struct Sink {
    answers: Vec<BatchAnswer>,
    remaining: usize,
    reply: Option<oneshot::Sender<Vec<BatchAnswer>>>,
}

#[derive(Default)]
struct Sinks {
    slots: Vec<Option<Sink>>,
    free: Vec<usize>,
}

impl Sinks {
    fn open(&mut self, sink: Sink) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(sink);
                i
            }
            None => {
                self.slots.push(Some(sink));
                self.slots.len() - 1
            }
        }
    }

    fn deliver(&mut self, reply: Reply, started: Instant, answer: Answer) {
        match reply {
            Reply::One(tx) => {
                let _ = tx.send(answer);
            }
            Reply::Batch { sink, index } => {
                let Some(Some(s)) = self.slots.get_mut(sink) else {
                    return;
                };
                s.answers.push(BatchAnswer {
                    index,
                    started,
                    answer,
                });
                s.remaining = s.remaining.saturating_sub(1);
                if s.remaining == 0 {
                    if let Some(tx) = s.reply.take() {
                        let _ = tx.send(std::mem::take(&mut s.answers));
                    }
                    self.slots[sink] = None;
                    self.free.push(sink);
                }
            }
        }
    }
}

/// Why the connection ended, kept to answer the requests that were still waiting.
struct Ended {
    tls: bool,
    text: String,
}

impl Connection {
    async fn run(self) {
        let Connection {
            mut conn,
            mut send,
            mut jobs,
            closed,
            max_in_flight,
            push_timeout,
        } = self;
        let mut queue: VecDeque<Item> = VecDeque::new();
        let mut streams = FuturesUnordered::new();
        let mut sinks = Sinks::default();
        let mut conn_done = false;
        let mut ended: Option<Ended> = None;
        let mut jobs_done = false;
        let mut ping = conn.ping_pong();
        let mut ping_out = false;
        let mut ping_timer = Box::pin(tokio::time::sleep(KEEPALIVE));
        std::future::poll_fn(|cx| {
            loop {
                let mut progress = false;
                if !conn_done && let Poll::Ready(r) = Pin::new(&mut conn).poll(cx) {
                    conn_done = true;
                    closed.store(true, Ordering::Relaxed);
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "APNs connection failed");
                        let tls = e.get_io().is_some_and(io_is_tls);
                        ended = Some(Ended {
                            tls,
                            text: e.to_string(),
                        });
                    }
                    progress = true;
                }
                while !jobs_done {
                    match jobs.poll_recv(cx) {
                        Poll::Ready(Some(Job::One(item))) => queue.push_back(*item),
                        Poll::Ready(Some(Job::Batch { items, reply })) => {
                            if items.is_empty() {
                                let _ = reply.send(Vec::new());
                                continue;
                            }
                            let sink = sinks.open(Sink {
                                answers: Vec::with_capacity(items.len()),
                                remaining: items.len(),
                                reply: Some(reply),
                            });
                            queue.extend(items.into_iter().map(|(index, request, body)| Item {
                                request,
                                body,
                                deadline: None,
                                reply: Reply::Batch { sink, index },
                            }));
                        }
                        Poll::Ready(None) => jobs_done = true,
                        Poll::Pending => break,
                    }
                    progress = true;
                }
                // Open streams while there is room.
                while streams.len() < max_in_flight && !queue.is_empty() {
                    if conn_done || closed.load(Ordering::Relaxed) {
                        // Never sent: the caller may try another connection.
                        while let Some(item) = queue.pop_front() {
                            let answer = match &ended {
                                Some(e) => Err(Sent::Failed(copy_error(e.tls, &e.text))),
                                None => Err(Sent::Refused),
                            };
                            sinks.deliver(item.reply, Instant::now(), answer);
                        }
                        break;
                    }
                    match send.poll_ready(cx) {
                        Poll::Pending => break,
                        Poll::Ready(Err(e)) => {
                            tracing::debug!(error = %e, "APNs connection takes no new streams");
                            closed.store(true, Ordering::Relaxed);
                            progress = true;
                            continue;
                        }
                        Poll::Ready(Ok(())) => {}
                    }
                    let Some(item) = queue.pop_front() else { break };
                    progress = true;
                    let started = Instant::now();
                    match send.send_request(item.request, false) {
                        Ok((response, mut stream)) => {
                            // A failure here shows in the response future.
                            let _ = stream.send_data(item.body, true);
                            let deadline = item.deadline.unwrap_or_else(|| {
                                tokio::time::Instant::from_std(started + push_timeout)
                            });
                            streams.push(exchange(
                                response,
                                stream,
                                item.reply,
                                started,
                                deadline,
                                push_timeout,
                            ));
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "APNs stream not opened");
                            closed.store(true, Ordering::Relaxed);
                            sinks.deliver(item.reply, started, Err(Sent::Refused));
                        }
                    }
                }
                while let Poll::Ready(Some((reply, started, answer))) = streams.poll_next_unpin(cx)
                {
                    sinks.deliver(reply, started, answer);
                    progress = true;
                }
                if let Some(p) = ping.as_mut() {
                    if ping_out && p.poll_pong(cx).is_ready() {
                        ping_out = false;
                    }
                    if ping_timer.as_mut().poll(cx).is_ready() {
                        if ping_out {
                            tracing::debug!("APNs connection did not answer PING");
                            closed.store(true, Ordering::Relaxed);
                            return Poll::Ready(());
                        }
                        ping_out = p.send_ping(h2::Ping::opaque()).is_ok();
                        ping_timer
                            .as_mut()
                            .reset(tokio::time::Instant::now() + KEEPALIVE);
                        progress = true;
                    }
                }
                if conn_done && streams.is_empty() && queue.is_empty() {
                    return Poll::Ready(());
                }
                if jobs_done && streams.is_empty() && queue.is_empty() {
                    // Every client handle is gone: close the connection.
                    closed.store(true, Ordering::Relaxed);
                    return Poll::Ready(());
                }
                if !progress {
                    return Poll::Pending;
                }
            }
        })
        .await;
    }
}

/// Waits for one stream's answer (headers, then the error body if any).
async fn exchange(
    response: h2::client::ResponseFuture,
    stream: h2::SendStream<Bytes>,
    reply: Reply,
    started: Instant,
    deadline: tokio::time::Instant,
    push_timeout: Duration,
) -> (Reply, Instant, Answer) {
    let answer = match tokio::time::timeout_at(deadline, read_response(response)).await {
        Ok(answer) => answer,
        Err(_) => Err(Sent::Failed(Error::Deadline(push_timeout))),
    };
    drop(stream);
    (reply, started, answer)
}

async fn read_response(response: h2::client::ResponseFuture) -> Answer {
    let response = response.await.map_err(stream_error)?;
    let (parts, mut body) = response.into_parts();
    let status = parts.status.as_u16();
    let mut data = Vec::new();
    if !body.is_end_stream() {
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(stream_error)?;
            let _ = body.flow_control().release_capacity(chunk.len());
            if data.len() + chunk.len() > MAX_RESPONSE_BODY {
                return Err(Sent::Failed(Error::InvalidResponse {
                    status,
                    what: format!("body (status {status})"),
                    reason: format!("more than {MAX_RESPONSE_BODY} bytes"),
                }));
            }
            data.extend_from_slice(&chunk);
        }
    }
    parse_response(parts.status, &parts.headers, &data).map_err(Sent::Failed)
}

/// REFUSED_STREAM, or a GOAWAY that did not cover the stream: the server did not process it.
fn stream_error(e: h2::Error) -> Sent {
    if e.reason() == Some(h2::Reason::REFUSED_STREAM) || (e.is_go_away() && e.is_remote()) {
        Sent::Refused
    } else {
        tracing::debug!(error = %e, "APNs stream failed");
        Sent::Failed(classify_transport(Box::new(e)))
    }
}

/// Retries of refused streams allowed per push (they do not count as attempts).
const MAX_REFUSED: u32 = 64;

enum Sent {
    Refused,
    Failed(Error),
}

/// Up to +25% of `d`, derived from the push id (no RNG needed, spreads retries apart).
fn jitter(d: Duration, id: ApnsId) -> Duration {
    let b = id.0.as_bytes();
    let frac = u32::from(b[15]) + (u32::from(b[14]) << 8);
    d + d.mul_f64(f64::from(frac) / f64::from(u16::MAX) / 4.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_made_ids_are_distinct_v4_uuids() {
        let ids = IdSource::new();
        let other = IdSource::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20_000 {
            let id = ids.next();
            assert_eq!(id.0.get_version_num(), 4);
            assert_eq!(id.0.get_variant(), uuid::Variant::RFC4122);
            assert!(seen.insert(id.0), "duplicate {id}");
            assert!(seen.insert(other.next().0), "two clients made the same id");
        }
    }
}
