//! The HTTP layer: the router (device endpoints, the admin API of [`crate::admin`] behind the
//! API key, limits). Handlers decode the request, call the [`crate::service::Service`] (or,
//! for read-only admin queries, the storage) and encode the answer; they decide nothing
//! themselves.

pub mod ade;
pub mod device;
pub mod enroll;

pub use crate::admin::admin_routes;
pub use crate::state::{ApiKey, AppState, Peer, Routes, error_response, is_trusted, loopback};
pub use enroll::{CHALLENGE_VALIDITY, EnrollQuery};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, put};
use std::sync::Arc;
use tracing::Instrument;

/// The device-facing routes (no API key: devices prove who they are per message).
pub fn device_routes() -> Routes {
    Routes::new()
        .add("/mdm/checkin", &["PUT"], put(device::checkin))
        .add("/mdm", &["PUT"], put(device::server_url))
        .add("/mdm/enroll", &["GET"], get(enroll::enroll))
        .add(
            crate::service::dep::ADE_PATH,
            &["POST"],
            axum::routing::post(ade::enroll)
                .layer(DefaultBodyLimit::max(crate::service::dep::MAX_MACHINE_INFO)),
        )
        .add(
            "/scep",
            &["GET", "POST"],
            get(enroll::scep).post(enroll::scep),
        )
}

/// The whole application: device endpoints, the admin API behind the key (but for
/// [`crate::admin::PUBLIC_PATHS`]; its errors as problem details, [`crate::problem`]), and limits.
pub fn router(state: AppState) -> Router {
    let admin = admin_routes()
        .into_parts()
        .0
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_api_key,
        ))
        .layer(middleware::from_fn(crate::problem::layer));
    let body_limit = state
        .limits
        .max_bytes
        .max(state.device_limits.checkin_max)
        .max(state.device_limits.server_max);
    device_routes()
        .into_parts()
        .0
        .merge(admin)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(
            Arc::new(crate::limits::Guard::new(
                state.device_limits.clone(),
                Arc::clone(&state.refusals),
                state.client_cert_header.clone(),
            )),
            crate::limits::guard,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Every request in a `request` span (method, route template, and the enrollment and
/// command the service records once it knows them, so every log line of the request names
/// them), timed into the latency histogram of [`crate::metrics`].
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // The route's template, never the raw path: label values stay few.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    let span = tracing::info_span!(
        "request",
        %method,
        %route,
        enrollment = tracing::field::Empty,
        command_uuid = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let response = next.run(request).instrument(span).await;
    state.metrics.observe_request(
        route,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

async fn require_api_key(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let public = crate::admin::PUBLIC_PATHS.contains(&request.uri().path());
    if public || state.api_key.authorizes(request.headers()) {
        next.run(request).await
    } else {
        let mut response = crate::problem::response(
            StatusCode::UNAUTHORIZED,
            Some("an API key is required: HTTP Basic (any user, key as password) or Bearer"),
            Some(request.uri().path()),
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"mdm-server\""),
        );
        response
    }
}
