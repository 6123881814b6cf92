//! What the HTTP layers (device routes in [`crate::http`], the admin API in
//! [`crate::admin`]) share: the application state, the admin API key, the route list and
//! the HTTP form of a service error. It points at the service, never back at the layers.

use crate::pki::Pki;
use crate::service::{Service, ServiceError};
use crate::storage::Storage;
use axum::Router;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
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
    /// Apple's escrow-key-unlock endpoint (`POST /v1/escrowkeyunlock` answers 501 without).
    pub escrow: Option<Arc<crate::escrow::EscrowClient>>,
    /// The queue rules' policy (stall limit, `NotNow` back-off), for showing statuses.
    pub queue_policy: crate::queue::Policy,
    /// The metrics `GET /metrics` shows (the service reports to them as an observer).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// DEP organisations, sync and the ADE endpoint (`/v1/dep/...` and `/mdm/ade/enroll`
    /// answer 501 without).
    pub dep: Option<Arc<crate::service::dep::Dep>>,
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
            escrow: None,
            queue_policy: crate::queue::Policy::default(),
            metrics: Arc::new(crate::metrics::Metrics::new()),
            dep: None,
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

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    /// No routes yet.
    pub fn new() -> Self {
        Routes {
            router: Router::new(),
            list: Vec::new(),
        }
    }

    /// Adds a route for `methods` at `path`.
    pub fn add(
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

    /// The router, and every `(METHOD, path)` registered.
    pub fn into_parts(self) -> (Router<AppState>, Vec<(&'static str, &'static str)>) {
        (self.router, self.list)
    }

    /// Every `(METHOD, path)` registered.
    pub fn list(&self) -> &[(&'static str, &'static str)] {
        &self.list
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
    let mut response = (status, error.to_string()).into_response();
    if let ServiceError::DestructivePending {
        enrollment_id,
        command_uuid,
        request_type,
    } = error
    {
        let mut members = serde_json::Map::new();
        members.insert(
            "pending_command".into(),
            serde_json::json!({
                "enrollment_id": enrollment_id,
                "command_uuid": command_uuid,
                "request_type": request_type,
            }),
        );
        response
            .extensions_mut()
            .insert(crate::problem::Members(members));
    }
    if let ServiceError::ProfileRefused { findings, .. } = error {
        let mut members = serde_json::Map::new();
        members.insert("findings".into(), findings.clone());
        response
            .extensions_mut()
            .insert(crate::problem::Members(members));
    }
    if let ServiceError::TopicChange {
        current_topic,
        new_topic,
        enrollments,
    } = error
    {
        let mut members = serde_json::Map::new();
        members.insert("current_topic".into(), current_topic.clone().into());
        members.insert("new_topic".into(), new_topic.clone().into());
        members.insert("would_cut_off".into(), (*enrollments).into());
        response
            .extensions_mut()
            .insert(crate::problem::Members(members));
    }
    response
}
