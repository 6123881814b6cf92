//! Limits on what unauthenticated clients can make the server hold, applied to the device
//! routes before any body is read.
//!
//! - **Identity at header time.** With the identity check on, `PUT /mdm/checkin` and
//!   `PUT /mdm` without an `Mdm-Signature` header (or the configured proxy
//!   client-certificate header) are refused with `401` before their body is read.
//! - **Per-route body limits.** SCEP [`SCEP_MAX_BODY`], the enrollment profile no body,
//!   check-ins `--max-checkin-body`, the server URL (reports) `--max-body`. A declared
//!   `Content-Length` over the limit is refused (`413`) before reading; a chunked body is cut
//!   off when it passes the limit.
//! - **A budget for buffered bodies.** All device bodies being buffered at once share
//!   `--max-buffered-bytes`: a request reserves its declared length (or, chunked, each chunk
//!   as it arrives) and gets `503` when the budget is spent, so memory stays bounded whatever
//!   the number of clients.
//! - **A minimum read rate.** After a grace period of [`RATE_GRACE`], a body must keep
//!   arriving at `--min-body-rate` bytes per second on average, or the request ends with `408`.

use crate::refusals::Refusals;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Largest SCEP request body (a PKIOperation is a few KiB; go-pki-scep uses the same).
pub const SCEP_MAX_BODY: usize = 64 * 1024;
/// Default largest check-in body (`--max-checkin-body`).
pub const DEFAULT_CHECKIN_MAX_BODY: usize = 1024 * 1024;
/// Default budget of device bodies buffered at once (`--max-buffered-bytes`).
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 64 * 1024 * 1024;
/// Default minimum body rate in bytes per second (`--min-body-rate`).
pub const DEFAULT_MIN_BODY_RATE: u64 = 1024;
/// How long a body may take before the minimum rate applies.
pub const RATE_GRACE: Duration = Duration::from_secs(5);

/// The limits of the device routes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeviceLimits {
    /// Refuse device requests that carry no identity header (the identity check is on).
    pub require_identity_header: bool,
    /// Largest `PUT /mdm/checkin` body.
    pub checkin_max: usize,
    /// Largest `PUT /mdm` body (command reports, check-ins sent to the server URL).
    pub server_max: usize,
    /// Largest `/scep` body.
    pub scep_max: usize,
    /// Minimum body rate after [`RATE_GRACE`], bytes per second (0: none).
    pub min_rate: u64,
    /// How long a body may take before the minimum rate applies.
    pub grace: Duration,
    budget: Arc<Semaphore>,
    budget_bytes: usize,
}

impl Default for DeviceLimits {
    fn default() -> Self {
        Self::new(
            mdm_proto::Limits::MDM.max_bytes,
            DEFAULT_CHECKIN_MAX_BODY,
            DEFAULT_MAX_BUFFERED_BYTES,
            DEFAULT_MIN_BODY_RATE,
        )
    }
}

impl DeviceLimits {
    /// Limits with these sizes (bytes), rate (bytes per second) and identity header check
    /// on.
    pub fn new(server_max: usize, checkin_max: usize, budget_bytes: usize, min_rate: u64) -> Self {
        // A tokio semaphore holds fewer than 2^61 permits and one acquire takes at most
        // u32::MAX of them; no budget of real memory gets near either.
        let budget_bytes = budget_bytes.clamp(1, u32::MAX as usize);
        DeviceLimits {
            require_identity_header: true,
            checkin_max,
            server_max,
            scep_max: SCEP_MAX_BODY,
            min_rate,
            grace: RATE_GRACE,
            budget: Arc::new(Semaphore::new(budget_bytes)),
            budget_bytes,
        }
    }

    /// The buffered-bytes budget.
    pub fn budget_bytes(&self) -> usize {
        self.budget_bytes
    }

    /// Bytes of the budget free now.
    pub fn budget_available(&self) -> usize {
        self.budget.available_permits()
    }
}

/// Which device route a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Checkin,
    Server,
    Scep,
    Enroll,
}

fn route(method: &Method, path: &str) -> Option<Route> {
    match (method, path) {
        (&Method::PUT, "/mdm/checkin") => Some(Route::Checkin),
        (&Method::PUT, "/mdm") => Some(Route::Server),
        (&Method::GET | &Method::POST, "/scep") => Some(Route::Scep),
        (&Method::GET, "/mdm/enroll") => Some(Route::Enroll),
        _ => None,
    }
}

fn refuse(
    refusals: &Refusals,
    reason: &'static str,
    status: StatusCode,
    message: String,
) -> Response {
    refusals.record(reason, status.as_u16(), &message);
    let mut response = (status, message).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    }
    response
}

fn declared_length(headers: &HeaderMap) -> Result<Option<u64>, ()> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or(()),
    }
}

/// What [`guard`] needs, and nothing else of the application state (so this module does
/// not depend on the state module: no import cycle).
#[derive(Debug, Clone)]
pub struct Guard {
    /// The limits.
    pub limits: DeviceLimits,
    /// Where refusals are counted and logged.
    pub refusals: Arc<Refusals>,
    /// The proxy client-certificate header that stands in for `Mdm-Signature`, if any.
    pub client_cert_header: Option<HeaderName>,
}

impl Guard {
    /// A guard applying `limits`, counting refusals in `refusals`.
    pub fn new(
        limits: DeviceLimits,
        refusals: Arc<Refusals>,
        client_cert_header: Option<HeaderName>,
    ) -> Self {
        Guard {
            limits,
            refusals,
            client_cert_header,
        }
    }
}

/// The middleware in front of the whole router: applies [`DeviceLimits`] to the device
/// routes and passes everything else through.
pub async fn guard(State(state): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let Some(which) = route(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let limits = &state.limits;
    let refusals = &state.refusals;
    let headers = request.headers();
    if limits.require_identity_header && matches!(which, Route::Checkin | Route::Server) {
        let has = |name: &str| headers.get(name).is_some_and(|v| !v.is_empty());
        let proxy = state
            .client_cert_header
            .as_ref()
            .is_some_and(|h| has(h.as_str()));
        if !has("Mdm-Signature") && !proxy {
            let wanted = match &state.client_cert_header {
                Some(h) => format!("an Mdm-Signature or {h} header is required"),
                None => "an Mdm-Signature header is required".to_owned(),
            };
            return refuse(refusals, "no-identity", StatusCode::UNAUTHORIZED, wanted);
        }
    }
    let limit = match which {
        Route::Checkin => limits.checkin_max,
        Route::Server => limits.server_max,
        Route::Scep => limits.scep_max,
        Route::Enroll => 0,
    };
    let declared = match declared_length(headers) {
        Ok(d) => d,
        Err(()) => {
            return refuse(
                refusals,
                "bad-length",
                StatusCode::BAD_REQUEST,
                "Content-Length is not a number".into(),
            );
        }
    };
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    if which == Route::Enroll {
        if declared.unwrap_or(0) > 0 || chunked {
            return refuse(
                refusals,
                "body-too-large",
                StatusCode::PAYLOAD_TOO_LARGE,
                "the enrollment profile request takes no body".into(),
            );
        }
        return next.run(request).await;
    }
    if declared.is_some_and(|d| d > limit as u64) {
        return refuse(
            refusals,
            "body-too-large",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than this route's limit of {limit} bytes"),
        );
    }
    // Reserve the declared length up front; a chunked body reserves as it arrives.
    let mut permit: Option<OwnedSemaphorePermit> = None;
    if let Some(len) = declared
        && len > 0
    {
        match reserve(limits, len) {
            Some(p) => permit = Some(p),
            None => return busy(refusals),
        }
    }
    let (parts, body) = request.into_parts();
    let started = tokio::time::Instant::now();
    let mut body = body;
    let mut buffer: Vec<u8> = Vec::with_capacity(declared.map_or(0, |d| d as usize));
    loop {
        let deadline = if limits.min_rate == 0 {
            None
        } else {
            let secs = buffer.len() as f64 / limits.min_rate as f64;
            Some(started + limits.grace + Duration::from_secs_f64(secs))
        };
        let frame = match deadline {
            Some(at) => match tokio::time::timeout_at(at, body.frame()).await {
                Ok(frame) => frame,
                Err(_) => {
                    return refuse(
                        refusals,
                        "slow-body",
                        StatusCode::REQUEST_TIMEOUT,
                        format!(
                            "the body arrived slower than {} bytes per second",
                            limits.min_rate
                        ),
                    );
                }
            },
            None => body.frame().await,
        };
        let Some(frame) = frame else { break };
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                tracing::debug!(error = %e, "reading a device body failed");
                return refuse(
                    refusals,
                    "bad-body",
                    StatusCode::BAD_REQUEST,
                    "the body could not be read".into(),
                );
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buffer.len() + data.len() > limit {
            return refuse(
                refusals,
                "body-too-large",
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than this route's limit of {limit} bytes"),
            );
        }
        let reserved = permit.as_ref().map_or(0, |p| p.num_permits());
        let needed = buffer.len() + data.len();
        if needed > reserved {
            match reserve(limits, (needed - reserved) as u64) {
                Some(more) => match permit.as_mut() {
                    Some(p) => p.merge(more),
                    None => permit = Some(more),
                },
                None => return busy(refusals),
            }
        }
        buffer.extend_from_slice(&data);
    }
    let request = Request::from_parts(parts, Body::from(Bytes::from(buffer)));
    let response = next.run(request).await;
    drop(permit);
    response
}

fn reserve(limits: &DeviceLimits, bytes: u64) -> Option<OwnedSemaphorePermit> {
    let n = u32::try_from(bytes).ok()?;
    Arc::clone(&limits.budget).try_acquire_many_owned(n).ok()
}

fn busy(refusals: &Refusals) -> Response {
    refuse(
        refusals,
        "busy-bodies",
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is receiving too many uploads; retry later".into(),
    )
}
