//! The HTTP layer: routes, device endpoints, API-key authentication. Handlers decode the
//! request, call the [`Service`] (or, for read-only admin queries, the [`Storage`]) and
//! encode the answer; they decide nothing themselves.

use crate::device::{self, DeviceMessage, Endpoint};
use crate::identity::DeviceRequest;
use crate::service::{Reply, Service, ServiceError};
use crate::storage::Storage;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, put};
use base64::Engine;
use mdm_proto::Limits;
use std::sync::Arc;

/// Everything the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The service devices and the admin API talk to.
    pub service: Arc<dyn Service>,
    /// Storage, for read-only admin queries.
    pub storage: Arc<dyn Storage>,
    /// The admin API key.
    pub api_key: ApiKey,
    /// Limits on device bodies.
    pub limits: Limits,
    /// A header in which a TLS-terminating proxy forwards the device's client certificate.
    pub client_cert_header: Option<HeaderName>,
}

impl AppState {
    /// State with the default limits and no client-certificate header.
    pub fn new(service: Arc<dyn Service>, storage: Arc<dyn Storage>, api_key: ApiKey) -> Self {
        AppState {
            service,
            storage,
            api_key,
            limits: Limits::MDM,
            client_cert_header: None,
        }
    }
}

/// The admin API key. Its `Debug` form does not show it.
#[derive(Clone)]
pub struct ApiKey(Arc<str>);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl ApiKey {
    /// A key.
    pub fn new(key: impl Into<Arc<str>>) -> Self {
        ApiKey(key.into())
    }

    /// A new random key: 32 bytes from the OS's random source, as hex.
    pub fn generate() -> Self {
        let a = uuid::Uuid::new_v4();
        let b = uuid::Uuid::new_v4();
        ApiKey(format!("{}{}", a.simple(), b.simple()).into())
    }

    /// The key.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the `Authorization` header carries this key: HTTP Basic with any user
    /// name and the key as password, or `Bearer <key>`.
    pub fn authorizes(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            constant_time_eq(rest.as_bytes(), self.0.as_bytes())
        } else if scheme.eq_ignore_ascii_case("basic") {
            base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|raw| {
                    let colon = raw.iter().position(|&b| b == b':')?;
                    Some(constant_time_eq(&raw[colon + 1..], self.0.as_bytes()))
                })
                .unwrap_or(false)
        } else {
            false
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A router that remembers each route it was given, so the OpenAPI document can be
/// checked against the real routes.
#[derive(Debug)]
pub struct Routes {
    router: Router<AppState>,
    list: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn new() -> Self {
        Routes {
            router: Router::new(),
            list: Vec::new(),
        }
    }

    fn add(
        mut self,
        path: &'static str,
        methods: &[&'static str],
        route: MethodRouter<AppState>,
    ) -> Self {
        for m in methods {
            self.list.push((m, path));
        }
        self.router = self.router.route(path, route);
        self
    }

    /// Every `(METHOD, path)` registered.
    pub fn list(&self) -> &[(&'static str, &'static str)] {
        &self.list
    }
}

/// The admin API's routes (all behind the API key).
pub fn admin_routes() -> Routes {
    use crate::admin::*;
    use axum::routing::post;
    Routes::new()
        .add("/version", &["GET"], get(version))
        .add("/v1/openapi.json", &["GET"], get(openapi))
        .add("/v1/enqueue/{ids}", &["PUT"], put(enqueue))
        .add("/v1/push/{ids}", &["GET"], get(push))
        .add("/v1/pushcert", &["PUT"], put(push_cert))
        .add("/v1/commands", &["POST"], post(create_command))
        .add(
            "/v1/commands/{uuid}",
            &["GET", "DELETE"],
            get(command_status).delete(cancel_command),
        )
        .add("/v1/enrollments", &["GET"], get(list_enrollments))
        .add("/v1/enrollments/{id}", &["GET"], get(enrollment))
        .add(
            "/v1/enrollments/{id}/queue",
            &["GET", "DELETE"],
            get(queue).delete(clear_queue),
        )
        .add("/v1/bad-reports", &["GET"], get(bad_reports))
}

/// The device-facing routes (no API key: devices prove who they are per message).
pub fn device_routes() -> Routes {
    Routes::new()
        .add("/mdm/checkin", &["PUT"], put(checkin))
        .add("/mdm", &["PUT"], put(server_url))
        .add("/mdm/enroll", &["GET"], get(not_yet_enroll))
        .add(
            "/scep",
            &["GET", "POST"],
            get(not_yet_scep).post(not_yet_scep),
        )
}

/// The whole application: device endpoints, the admin API behind the key, and limits.
pub fn router(state: AppState) -> Router {
    let admin = admin_routes()
        .router
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_api_key,
        ));
    device_routes()
        .router
        .merge(admin)
        .layer(DefaultBodyLimit::max(state.limits.max_bytes))
        .with_state(state)
}

async fn require_api_key(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.api_key.authorizes(request.headers()) {
        next.run(request).await
    } else {
        let mut response = (
            StatusCode::UNAUTHORIZED,
            "an API key is required: HTTP Basic (any user, key as password) or Bearer",
        )
            .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"mdm-server\""),
        );
        response
    }
}

/// The HTTP response for a service error: its status and message as text (storage
/// failures are logged, not shown).
pub fn error_response(error: &ServiceError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
        tracing::error!(%error, "request failed");
        return (status, "internal server error").into_response();
    }
    (status, error.to_string()).into_response()
}

fn reply_response(result: Result<Reply, ServiceError>) -> Response {
    match result {
        Ok(Reply::Empty) => StatusCode::OK.into_response(),
        Ok(Reply::Plist(body)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::info!(status = e.status(), error = %e, "device request refused");
            error_response(&e)
        }
    }
}

async fn device_request(
    state: &AppState,
    headers: &HeaderMap,
    body: Bytes,
    endpoint: Endpoint,
) -> Response {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut request = DeviceRequest::new(body.to_vec());
    request.mdm_signature = text("Mdm-Signature");
    request.client_cert = state
        .client_cert_header
        .as_ref()
        .and_then(|h| text(h.as_str()));
    let result = match device::decode(&body, endpoint, &state.limits) {
        DeviceMessage::Checkin(message) => state.service.checkin(&request, &message).await,
        DeviceMessage::Report(report) => state.service.report(&request, &report).await,
        DeviceMessage::Undecodable(what) => state.service.undecodable(&request, &what).await,
    };
    reply_response(result)
}

async fn checkin(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    device_request(&state, &headers, body, Endpoint::Checkin).await
}

async fn server_url(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    device_request(&state, &headers, body, Endpoint::Server).await
}

async fn not_yet_enroll() -> Response {
    error_response(&ServiceError::NotImplemented(
        "enrollment profiles need profile signing and SCEP (scep-proto), not wired in yet".into(),
    ))
}

async fn not_yet_scep() -> Response {
    error_response(&ServiceError::NotImplemented(
        "the SCEP endpoint needs scep-proto, not wired in yet".into(),
    ))
}
