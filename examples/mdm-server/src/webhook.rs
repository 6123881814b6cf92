//! Webhooks: the events of the outbox ([`crate::events`]) POSTed to each configured
//! endpoint, in order, at least once.
//!
//! - One task per endpoint walks the outbox from its cursor (stored, so a restart, even
//!   after `kill -9`, goes on where it stopped): an event its topic filter wants is POSTed
//!   until the endpoint answers 2xx, with back-off between tries (0.5 s doubling up to the
//!   maximum); then the cursor moves past it. An event is sent again only when the server
//!   stopped between the endpoint's answer and the cursor's write: receivers de-duplicate by
//!   `event_id`.
//! - The body is the event's JSON as stored (MicroMDM's and NanoMDM's shape), with
//!   `Content-Type: application/json`, `X-Event-Id` and, with a secret,
//!   `X-Hmac-Signature: base64(HMAC-SHA256(secret, body))`.
//! - Delivery never runs inside a device's request: the service only writes the outbox.

use crate::events::StoredEvent;
use crate::storage::Storage;
use base64::Engine;
use hmac::{KeyInit, Mac};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// The header carrying the body's HMAC-SHA256, base64.
pub const SIGNATURE_HEADER: &str = "X-Hmac-Signature";
/// The header carrying the event's ID.
pub const EVENT_ID_HEADER: &str = "X-Event-Id";
/// Events read from the outbox at a time.
const BATCH: u32 = 100;
/// How often an idle deliverer looks at the outbox without being woken (other instances
/// sharing the database write events too).
const POLL: Duration = Duration::from_secs(1);

/// One endpoint: a URL and the topics it wants (all when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Where events are POSTed (`http://` or `https://`).
    pub url: String,
    /// The topics it is sent; `None`: all.
    pub topics: Option<BTreeSet<String>>,
}

impl Endpoint {
    /// Reads `URL` or `URL;topics=mdm.Connect,mdm.CheckOut` (the `--webhook` syntax).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (url, options) = match spec.split_once(';') {
            Some((url, options)) => (url.trim(), Some(options.trim())),
            None => (spec.trim(), None),
        };
        mdm_http_client::check_url(url).map_err(|e| format!("webhook `{spec}`: {e}"))?;
        let topics = match options {
            None => None,
            Some(o) => {
                let list = o.strip_prefix("topics=").ok_or_else(|| {
                    format!("webhook `{spec}`: after `;` only `topics=a,b` is understood")
                })?;
                let topics: BTreeSet<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect();
                if let Some(unknown) = topics
                    .iter()
                    .find(|t| !crate::events::TOPICS.contains(&t.as_str()))
                {
                    return Err(format!(
                        "webhook `{spec}`: unknown topic `{unknown}` (known: {})",
                        crate::events::TOPICS.join(", ")
                    ));
                }
                Some(topics)
            }
        };
        Ok(Endpoint {
            url: url.to_owned(),
            topics,
        })
    }

    /// The name its cursor is stored under: the URL and its filter.
    pub fn key(&self) -> String {
        match &self.topics {
            None => self.url.clone(),
            Some(t) => format!(
                "{};topics={}",
                self.url,
                t.iter().cloned().collect::<Vec<_>>().join(",")
            ),
        }
    }

    /// Whether it is sent events of `topic`.
    pub fn wants(&self, topic: &str) -> bool {
        self.topics.as_ref().is_none_or(|t| t.contains(topic))
    }
}

/// How deliveries are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The time limit of one POST.
    pub timeout: Duration,
    /// The longest wait between two tries of one event.
    pub max_backoff: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            timeout: Duration::from_secs(10),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// `base64(HMAC-SHA256(secret, body))`, the value of [`SIGNATURE_HEADER`].
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this is never reached.
        Err(_) => return String::new(),
    };
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Sets the cursor of every endpoint never seen to the newest event, so a new endpoint
/// starts with what happens from now on (and nothing written after this is skipped).
pub async fn init_cursors(storage: &dyn Storage, endpoints: &[Endpoint]) -> Result<(), String> {
    let newest = storage.last_event_seq().await.map_err(|e| e.to_string())?;
    for endpoint in endpoints {
        let key = endpoint.key();
        if storage
            .webhook_cursor(&key)
            .await
            .map_err(|e| e.to_string())?
            .is_none()
        {
            storage
                .set_webhook_cursor(&key, newest, crate::storage::now())
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// What one endpoint's deliverer needs.
#[derive(Debug, Clone)]
pub struct Deliverer {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The outbox.
    pub storage: Arc<dyn Storage>,
    /// The HMAC key, when events are signed.
    pub secret: Option<Arc<Vec<u8>>>,
    /// Notified when events are written.
    pub wake: Arc<tokio::sync::Notify>,
    /// Delivery counters and the backlog gauge.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Timing.
    pub timing: Timing,
}

impl Deliverer {
    /// POSTs one event once; `Err` says why it was not accepted.
    async fn post(&self, client: &mdm_http_client::Client, e: &StoredEvent) -> Result<(), String> {
        let mut headers = vec![
            ("Content-Type", "application/json; charset=utf-8".to_owned()),
            (EVENT_ID_HEADER, e.event.id.clone()),
        ];
        if let Some(secret) = &self.secret {
            headers.push((SIGNATURE_HEADER, signature(secret, &e.event.body)));
        }
        let answer = client
            .send(
                http::Method::POST,
                &self.endpoint.url,
                &headers,
                e.event.body.clone(),
            )
            .await
            .map_err(|e| e.to_string())?;
        if (200..300).contains(&answer.status) {
            Ok(())
        } else {
            Err(format!("HTTP {}", answer.status))
        }
    }

    /// Delivers `e`, trying until the endpoint accepts it.
    async fn deliver(&self, client: &mdm_http_client::Client, e: &StoredEvent) {
        let mut wait = Duration::from_millis(500);
        let mut tries = 0u32;
        loop {
            tries = tries.saturating_add(1);
            match self.post(client, e).await {
                Ok(()) => {
                    self.metrics.webhook_delivery(true);
                    tracing::debug!(endpoint = %self.endpoint.url, event = %e.event.id,
                        topic = %e.event.topic, tries, "webhook delivered");
                    return;
                }
                Err(why) => {
                    self.metrics.webhook_delivery(false);
                    tracing::warn!(endpoint = %self.endpoint.url, event = %e.event.id,
                        topic = %e.event.topic, tries, error = %why,
                        retry_in_ms = wait.as_millis() as u64, "webhook not accepted; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.timing.max_backoff);
                }
            }
        }
    }

    /// Runs forever (the server aborts it at shutdown).
    pub async fn run(self) {
        let client = match mdm_http_client::Client::with_timeout(
            &mdm_http_client::Trust::System,
            self.timing.timeout,
        ) {
            Ok(c) => c.with_max_answer(64 * 1024),
            Err(e) => {
                tracing::error!(endpoint = %self.endpoint.url, error = %e,
                    "webhook client could not be built; no deliveries to this endpoint");
                return;
            }
        };
        let key = self.endpoint.key();
        // Read once: this task is the only writer of its cursor, so it is kept in memory.
        let mut cursor = None;
        loop {
            // Registered before reading, so a write after the read still wakes this loop.
            let woken = self.wake.notified();
            match self.step(&client, &key, &mut cursor).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(endpoint = %self.endpoint.url, error = %e,
                    "webhook outbox read failed; retrying"),
            }
            let _ = tokio::time::timeout(POLL, woken).await;
        }
    }

    /// Delivers one batch after the cursor; says whether there was anything.
    ///
    /// The cursor is written after every delivered event (so a restart repeats at most the
    /// one in flight) and once at the end for the events the filter skipped.
    async fn step(
        &self,
        client: &mdm_http_client::Client,
        key: &str,
        cursor: &mut Option<i64>,
    ) -> Result<bool, String> {
        let err = |e: crate::storage::StorageError| e.to_string();
        let from = match *cursor {
            Some(c) => c,
            None => {
                let c = self
                    .storage
                    .webhook_cursor(key)
                    .await
                    .map_err(err)?
                    .unwrap_or(0);
                *cursor = Some(c);
                c
            }
        };
        let batch = self
            .storage
            .events_after(from, None, BATCH)
            .await
            .map_err(err)?;
        let Some(last) = batch.last().map(|e| e.seq) else {
            self.metrics.webhook_backlog(&self.endpoint.url, 0);
            return Ok(false);
        };
        // A short batch ends at the newest event; only a full one needs to ask.
        let newest = if batch.len() < BATCH as usize {
            last
        } else {
            self.storage.last_event_seq().await.map_err(err)?.max(last)
        };
        self.metrics
            .webhook_backlog(&self.endpoint.url, newest.saturating_sub(from));
        let mut stored = from;
        for e in &batch {
            if self.endpoint.wants(&e.event.topic) {
                self.deliver(client, e).await;
                self.storage
                    .set_webhook_cursor(key, e.seq, crate::storage::now())
                    .await
                    .map_err(err)?;
                stored = e.seq;
            }
            *cursor = Some(e.seq);
            self.metrics
                .webhook_backlog(&self.endpoint.url, newest.saturating_sub(e.seq));
        }
        if stored != last {
            self.storage
                .set_webhook_cursor(key, last, crate::storage::now())
                .await
                .map_err(err)?;
        }
        Ok(true)
    }
}
