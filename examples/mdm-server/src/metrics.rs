//! Prometheus metrics (`GET /metrics`, OpenMetrics text from `prometheus-client`).
//!
//! Counters follow what the service does ([`Metrics`] is a [`ServiceObserver`]): check-ins
//! by `MessageType`, command reports by status, push outcomes, NotNow back-offs, stalled
//! commands re-sent, refusals by reason. Request latency is a histogram by route, method and
//! status class ([`Metrics::observe_request`], called by the HTTP layer). Gauges are read from
//! storage at each scrape: queue depth, the age of the oldest waiting command, stalled
//! commands, enrolled devices that cannot be pushed.

use crate::queue::Policy;
use crate::refusals::Refusals;
use crate::service::{ServiceEvent, ServiceObserver};
use crate::storage::{Storage, StorageError, Timestamp};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// One label.
type Labels = Vec<(String, String)>;

/// The labels of a request's latency: the route template, and two values from fixed sets, so
/// a request costs one allocation (the route) and a lookup.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: &'static str,
}

fn label(name: &str, value: &str) -> Labels {
    vec![(name.to_owned(), value.to_owned())]
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    checkins: Family<Labels, Counter>,
    reports: Family<Labels, Counter>,
    pushes: Family<Labels, Counter>,
    commands_queued: Counter,
    not_now_backoffs: Counter,
    commands_requeued: Counter,
    refusals: Family<Labels, Counter>,
    queue_depth: Gauge,
    oldest_pending_age: Gauge,
    stalled: Gauge,
    unpushable: Gauge,
    webhook_deliveries: Family<Labels, Counter>,
    webhook_backlog: Family<Labels, Gauge>,
    request_seconds: Family<RequestLabels, Histogram, fn() -> Histogram>,
}

/// Request latency buckets: 0.5 ms to about 8 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mdm");
        let checkins = Family::<Labels, Counter>::default();
        registry.register(
            "checkins",
            "Check-ins accepted, by MessageType",
            checkins.clone(),
        );
        let reports = Family::<Labels, Counter>::default();
        registry.register(
            "command_reports",
            "Command reports recorded, by status (Acknowledged, Error, NotNow...)",
            reports.clone(),
        );
        let pushes = Family::<Labels, Counter>::default();
        registry.register(
            "pushes",
            "Pushes sent through the pusher, by outcome (delivered, failed, token_dead)",
            pushes.clone(),
        );
        let commands_queued = Counter::default();
        registry.register(
            "commands_queued",
            "Commands queued",
            commands_queued.clone(),
        );
        let not_now_backoffs = Counter::default();
        registry.register(
            "not_now_backoffs",
            "Commands moved back after a NotNow",
            not_now_backoffs.clone(),
        );
        let commands_requeued = Counter::default();
        registry.register(
            "commands_resent",
            "In-flight or stalled targets put back at the head of their queue",
            commands_requeued.clone(),
        );
        let refusals = Family::<Labels, Counter>::default();
        registry.register("refusals", "Requests refused, by reason", refusals.clone());
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Targets waiting (queued or NotNow, not expired), all enrollments",
            queue_depth.clone(),
        );
        let oldest_pending_age = Gauge::default();
        registry.register(
            "queue_oldest_pending_age_seconds",
            "Age of the oldest waiting target (0 when none)",
            oldest_pending_age.clone(),
        );
        let stalled = Gauge::default();
        registry.register(
            "queue_stalled",
            "Targets sent and not answered within --stall-after",
            stalled.clone(),
        );
        let unpushable = Gauge::default();
        registry.register(
            "enrollments_unpushable",
            "Enrolled devices that cannot be pushed now: no token, a token APNs called dead, or no push certificate for their topic",
            unpushable.clone(),
        );
        let webhook_deliveries = Family::<Labels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook POSTs by outcome (delivered, failed: retried later)",
            webhook_deliveries.clone(),
        );
        let webhook_backlog = Family::<Labels, Gauge>::default();
        registry.register(
            "webhook_backlog",
            "Events in the outbox not yet past each webhook endpoint's cursor",
            webhook_backlog.clone(),
        );
        let request_seconds: Family<RequestLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route (the router's template), method and status class",
            request_seconds.clone(),
        );
        Metrics {
            registry,
            unpushable,
            webhook_deliveries,
            webhook_backlog,
            request_seconds,
            checkins,
            reports,
            pushes,
            commands_queued,
            not_now_backoffs,
            commands_requeued,
            refusals,
            queue_depth,
            oldest_pending_age,
            stalled,
        }
    }

    /// The metrics as OpenMetrics text, the gauges read from `storage` at `now` and the
    /// refusal counters brought up to `refusals`.
    pub async fn render(
        &self,
        storage: &dyn Storage,
        refusals: &Refusals,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<String, StorageError> {
        let stats = storage
            .queue_stats(now, now.saturating_sub(policy.stall_after))
            .await?;
        self.queue_depth
            .set(i64::try_from(stats.depth).unwrap_or(i64::MAX));
        self.oldest_pending_age.set(
            stats
                .oldest_created_at
                .map_or(0, |t| now.saturating_sub(t).max(0)),
        );
        self.stalled
            .set(i64::try_from(stats.stalled).unwrap_or(i64::MAX));
        let unpushable = storage.unpushable_count().await?;
        self.unpushable
            .set(i64::try_from(unpushable).unwrap_or(i64::MAX));
        for (reason, n) in refusals.counts() {
            let counter = self.refusals.get_or_create(&label("reason", reason));
            let seen = counter.get();
            if n > seen {
                counter.inc_by(n - seen);
            }
        }
        let mut out = String::new();
        encode(&mut out, &self.registry)
            .map_err(|e| StorageError::Config(format!("encoding metrics: {e}")))?;
        Ok(out)
    }
}

impl Metrics {
    /// Counts one webhook POST.
    pub fn webhook_delivery(&self, delivered: bool) {
        let outcome = if delivered { "delivered" } else { "failed" };
        self.webhook_deliveries
            .get_or_create(&label("outcome", outcome))
            .inc();
    }

    /// Sets how many events wait for the endpoint at `url`.
    pub fn webhook_backlog(&self, url: &str, events: i64) {
        self.webhook_backlog
            .get_or_create(&label("endpoint", url))
            .set(events);
    }

    /// Records one answered request: its route template (`unmatched` for none), method,
    /// status and how long it took.
    pub fn observe_request(&self, route: String, method: &http::Method, status: u16, seconds: f64) {
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let method = match *method {
            http::Method::GET => "GET",
            http::Method::POST => "POST",
            http::Method::PUT => "PUT",
            http::Method::DELETE => "DELETE",
            http::Method::PATCH => "PATCH",
            http::Method::HEAD => "HEAD",
            http::Method::OPTIONS => "OPTIONS",
            _ => "other",
        };
        self.request_seconds
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .observe(seconds);
    }
}

impl ServiceObserver for Metrics {
    fn observe(&self, event: &ServiceEvent) {
        match event {
            ServiceEvent::CheckinReceived { message_type, .. } => {
                self.checkins
                    .get_or_create(&label("type", message_type))
                    .inc();
            }
            ServiceEvent::ReportRecorded { status, .. } => {
                self.reports.get_or_create(&label("status", status)).inc();
            }
            ServiceEvent::PushResult {
                delivered,
                token_dead,
                ..
            } => {
                let outcome = match (delivered, token_dead) {
                    (true, _) => "delivered",
                    (false, true) => "token_dead",
                    (false, false) => "failed",
                };
                self.pushes.get_or_create(&label("outcome", outcome)).inc();
            }
            ServiceEvent::CommandQueued { .. } => {
                self.commands_queued.inc();
            }
            ServiceEvent::CommandDeferred { .. } => {
                self.not_now_backoffs.inc();
            }
            ServiceEvent::CommandRequeued { requeued, .. } => {
                self.commands_requeued.inc_by(*requeued);
            }
            _ => {}
        }
    }
}
