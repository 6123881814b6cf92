//! The HTTP layer: routes, device endpoints, API-key authentication. Handlers decode the
//! request, call the [`Service`] (or, for read-only admin queries, the [`Storage`]) and
//! encode the answer; they decide nothing themselves.

use crate::device::{self, DeviceMessage, Endpoint};
use crate::identity::DeviceRequest;
use crate::pki::Pki;
use crate::service::{Reply, Service, ServiceError};
use crate::storage::Storage;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
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
    /// The CA behind `/scep` and `/mdm/enroll` (both answer 501 without one).
    pub pki: Option<Arc<Pki>>,
    /// The public base URL, for the enrollment profile.
    pub public_url: String,
    /// The topic put in profiles when no push certificate is stored.
    pub default_topic: String,
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
            pki: None,
            public_url: "http://localhost".into(),
            default_topic: "com.apple.mgmt.External.00000000-0000-0000-0000-000000000000".into(),
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
        .add(
            "/v1/enrollments/{id}/declarations",
            &["GET", "PUT"],
            get(list_declarations).put(put_declaration),
        )
        .add(
            "/v1/enrollments/{id}/declarations/{identifier}",
            &["GET", "DELETE"],
            get(get_declaration).delete(delete_declaration),
        )
        .add(
            "/v1/enrollments/{id}/return-to-service",
            &["GET", "PUT", "DELETE"],
            get(crate::return_to_service::get_settings)
                .put(crate::return_to_service::put_settings)
                .delete(crate::return_to_service::delete_settings),
        )
        .add("/v1/bad-reports", &["GET"], get(bad_reports))
}

/// The device-facing routes (no API key: devices prove who they are per message).
pub fn device_routes() -> Routes {
    Routes::new()
        .add("/mdm/checkin", &["PUT"], put(checkin))
        .add("/mdm", &["PUT"], put(server_url))
        .add("/mdm/enroll", &["GET"], get(enroll))
        .add("/scep", &["GET", "POST"], get(scep).post(scep))
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
        Ok(Reply::Json(body)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
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

/// Query of `GET /mdm/enroll`.
#[derive(Debug, serde::Deserialize)]
pub struct EnrollQuery {
    /// Any value but empty, `0` or `false`: the plain plist, not signed.
    unsigned: Option<String>,
}

fn no_pki() -> Response {
    error_response(&ServiceError::NotImplemented(
        "this server has no CA configured".into(),
    ))
}

/// `GET /mdm/enroll`: the enrollment profile, CMS-signed by the CA (`?unsigned=1`: plain).
async fn enroll(State(state): State<AppState>, Query(query): Query<EnrollQuery>) -> Response {
    let Some(pki) = state.pki.clone() else {
        return no_pki();
    };
    let topic = match state.storage.latest_push_cert().await {
        Ok(Some(cert)) => cert.topic,
        Ok(None) => state.default_topic.clone(),
        Err(e) => return error_response(&ServiceError::Storage(e)),
    };
    let unsigned = query
        .unsigned
        .as_deref()
        .is_some_and(|v| !matches!(v, "" | "0" | "false"));
    let base = state.public_url.clone();
    let built = tokio::task::spawn_blocking(move || {
        let profile = pki.enrollment_profile(&base, &topic)?;
        if unsigned {
            Ok(profile)
        } else {
            pki.sign_profile(&profile)
        }
    })
    .await;
    match built {
        Ok(Ok(body)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, crate::pki::PROFILE_CONTENT_TYPE),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"enroll.mobileconfig\"",
                ),
            ],
            body,
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "building the enrollment profile");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "building the enrollment profile");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
        }
    }
}

/// `GET|POST /scep`: SCEP (GetCACaps, GetCACert, PKIOperation).
async fn scep(
    State(state): State<AppState>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some(pki) = state.pki.clone() else {
        return no_pki();
    };
    let query = query.unwrap_or_default();
    let answer = match tokio::task::spawn_blocking(move || pki.scep(method.as_str(), &query, &body))
        .await
    {
        Ok(answer) => answer,
        Err(e) => {
            tracing::error!(error = %e, "SCEP task failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response();
        }
    };
    if let Some(renewal) = &answer.renewal
        && let Err(e) = state
            .storage
            .record_renewal(&renewal.old, &renewal.new, crate::storage::now())
            .await
    {
        return error_response(&ServiceError::Storage(e));
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, answer.content_type)],
        answer.body,
    )
        .into_response()
}
