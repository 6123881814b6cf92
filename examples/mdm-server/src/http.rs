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
    /// What device routes accept before reading a body (see [`crate::limits`]).
    pub device_limits: crate::limits::DeviceLimits,
    /// Refusal counters and the rate limit of their log lines.
    pub refusals: Arc<crate::refusals::Refusals>,
    /// The key that seals the APNs push key in storage, when configured.
    pub secrets: Option<Arc<crate::secrets::SecretsKey>>,
    /// A header in which a TLS-terminating proxy forwards the device's client certificate.
    pub client_cert_header: Option<HeaderName>,
    /// The CA behind `/scep` and `/mdm/enroll` (both answer 501 without one).
    pub pki: Option<Arc<Pki>>,
    /// The public base URL, for the enrollment profile.
    pub public_url: String,
    /// The topic put in profiles when no push certificate is stored.
    pub default_topic: String,
    /// Enrollment open to anyone (`--open-enrollment`): no token needed, static challenge.
    pub open_enrollment: bool,
    /// The sources `client_cert_header` is read from (`--trusted-proxy`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Loopback addresses (`127.0.0.0/8`, `::1/128`): the default `--trusted-proxy`.
pub fn loopback() -> Vec<ipnet::IpNet> {
    vec![
        ipnet::IpNet::V4(ipnet::Ipv4Net::new_assert(std::net::Ipv4Addr::LOCALHOST, 8)),
        ipnet::IpNet::V6(ipnet::Ipv6Net::new_assert(
            std::net::Ipv6Addr::LOCALHOST,
            128,
        )),
    ]
}

/// The peer address of a connection, as the connection loop records it.
pub type Peer = Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>;

/// True when `peer` is one of `proxies` (an IPv4-mapped IPv6 peer counts as IPv4). A
/// request whose peer is not known is not from a trusted proxy.
pub fn is_trusted(proxies: &[ipnet::IpNet], peer: Option<std::net::SocketAddr>) -> bool {
    let Some(peer) = peer else {
        return false;
    };
    let ip = match peer.ip() {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        v4 => v4,
    };
    proxies.iter().any(|net| net.contains(&ip))
}

impl AppState {
    /// State with the default limits and no client-certificate header.
    pub fn new(service: Arc<dyn Service>, storage: Arc<dyn Storage>, api_key: ApiKey) -> Self {
        AppState {
            service,
            storage,
            api_key,
            limits: Limits::MDM,
            device_limits: crate::limits::DeviceLimits::default(),
            refusals: Arc::new(crate::refusals::Refusals::new()),
            secrets: None,
            client_cert_header: None,
            pki: None,
            public_url: "http://localhost".into(),
            default_topic: "com.apple.mgmt.External.00000000-0000-0000-0000-000000000000".into(),
            open_enrollment: false,
            trusted_proxies: loopback(),
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

use scep_proto::mdm_pki::constant_time_eq;

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
        .add("/v1/stats", &["GET"], get(stats))
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
        .add(
            "/v1/enrollment-tokens",
            &["GET", "POST"],
            get(list_enrollment_tokens).post(create_enrollment_token),
        )
        .add(
            "/v1/enrollment-tokens/{id}",
            &["DELETE"],
            axum::routing::delete(revoke_enrollment_token),
        )
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
    let body_limit = state
        .limits
        .max_bytes
        .max(state.device_limits.checkin_max)
        .max(state.device_limits.server_max);
    device_routes()
        .router
        .merge(admin)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::limits::guard,
        ))
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

fn reply_response(state: &AppState, result: Result<Reply, ServiceError>) -> Response {
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
            if (400..500).contains(&e.status()) {
                state.refusals.record(refusal_reason(&e), e.status(), &e);
            }
            error_response(&e)
        }
    }
}

async fn device_request(
    state: &AppState,
    peer: Peer,
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
    if let Some(name) = &state.client_cert_header
        && let Some(value) = text(name.as_str())
    {
        // Only a trusted proxy may say which certificate the device presented: from
        // anyone else the header is a forgery (or a proxy missing from --trusted-proxy).
        let peer = peer.map(|p| p.0.0);
        if !is_trusted(&state.trusted_proxies, peer) {
            tracing::warn!(?peer, header = %name, "client-certificate header from an untrusted address");
            return error_response(&ServiceError::Forbidden(format!(
                "the `{name}` header is accepted only from a trusted proxy (--trusted-proxy)"
            )));
        }
        request.client_cert = Some(value);
    }
    let result = match device::decode(&body, endpoint, &state.limits) {
        DeviceMessage::Checkin(message) => state.service.checkin(&request, &message).await,
        DeviceMessage::Report(report) => state.service.report(&request, &report).await,
        DeviceMessage::Undecodable(what) => state.service.undecodable(&request, &what).await,
    };
    reply_response(state, result)
}

/// The refusal counter a service error counts under.
fn refusal_reason(error: &ServiceError) -> &'static str {
    match error.status() {
        401 => "identity",
        403 => "forbidden",
        404 => "not-found",
        410 => "gone",
        _ => "bad-request",
    }
}

async fn checkin(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    device_request(&state, peer, &headers, body, Endpoint::Checkin).await
}

async fn server_url(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    device_request(&state, peer, &headers, body, Endpoint::Server).await
}

/// Query of `GET /mdm/enroll`.
#[derive(Debug, serde::Deserialize)]
pub struct EnrollQuery {
    /// Any value but empty, `0` or `false`: the plain plist, not signed.
    unsigned: Option<String>,
    /// The enrollment token (required unless `--open-enrollment`).
    token: Option<String>,
}

fn no_pki() -> Response {
    error_response(&ServiceError::NotImplemented(
        "this server has no CA configured".into(),
    ))
}

/// How long the one-time SCEP challenge of a downloaded profile stays valid, in seconds.
pub const CHALLENGE_VALIDITY: i64 = 24 * 3600;

/// The SCEP challenge for a profile: a new one-time challenge for the token (one use of
/// it taken), or the static one with `--open-enrollment` and no token.
async fn profile_challenge(
    state: &AppState,
    pki: &Pki,
    token: Option<&str>,
) -> Result<String, ServiceError> {
    let token = match token.map(str::trim) {
        Some(t) if !t.is_empty() => t,
        _ if state.open_enrollment => return Ok(pki.challenge().to_owned()),
        _ => {
            return Err(ServiceError::Forbidden(
                "an enrollment token is required: /mdm/enroll?token=... (POST \
                 /v1/enrollment-tokens, or mdmctl enroll-link)"
                    .into(),
            ));
        }
    };
    if token.len() > 256 {
        return Err(ServiceError::Forbidden("unknown enrollment token".into()));
    }
    let challenge = crate::pki::random_secret();
    let now = crate::storage::now();
    state
        .service
        .take_enrollment_token(
            &crate::pki::secret_hash(token),
            &crate::pki::secret_hash(&challenge),
            now.saturating_add(CHALLENGE_VALIDITY),
        )
        .await?;
    Ok(challenge)
}

/// `GET /mdm/enroll?token=...`: the enrollment profile, CMS-signed by the CA
/// (`&unsigned=1`: plain), with a one-time SCEP challenge. Never cacheable.
async fn enroll(State(state): State<AppState>, Query(query): Query<EnrollQuery>) -> Response {
    let no_store = |mut r: Response| {
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    };
    let Some(pki) = state.pki.clone() else {
        return no_pki();
    };
    let topic = match state.storage.latest_push_cert().await {
        Ok(Some(cert)) => cert.topic,
        Ok(None) => state.default_topic.clone(),
        Err(e) => return error_response(&ServiceError::Storage(e)),
    };
    let challenge = match profile_challenge(&state, &pki, query.token.as_deref()).await {
        Ok(c) => c,
        Err(e) => return no_store(error_response(&e)),
    };
    let unsigned = query
        .unsigned
        .as_deref()
        .is_some_and(|v| !matches!(v, "" | "0" | "false"));
    let base = state.public_url.clone();
    let built = tokio::task::spawn_blocking(move || {
        let profile = pki.enrollment_profile(&base, &topic, &challenge)?;
        if unsigned {
            Ok(profile)
        } else {
            pki.sign_profile(&profile)
        }
    })
    .await;
    no_store(match built {
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
    })
}

/// `GET|POST /scep`: SCEP (GetCACaps, GetCACert, PKIOperation), see
/// [`crate::pki::answer_scep`].
async fn scep(
    State(state): State<AppState>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some(pki) = state.pki.clone() else {
        return no_pki();
    };
    let answer = crate::pki::answer_scep(
        &pki,
        &state.storage,
        state.open_enrollment,
        method.as_str().to_owned(),
        query.unwrap_or_default(),
        body.to_vec(),
    )
    .await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, answer.content_type)],
        answer.body,
    )
        .into_response()
}
