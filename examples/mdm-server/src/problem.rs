//! Errors of the admin API as problem details (RFC 9457): `application/problem+json` with
//! `type`, `title`, `status`, `detail` and `instance`. Device routes keep their own answers.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The media type of a problem details document.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// The most bytes of an error body kept as a problem's `detail`.
const MAX_DETAIL: usize = 16 * 1024;

/// A problem details response: `type` is `about:blank` (the status says it all), `title`
/// the status's reason phrase, `detail` what was wrong, `instance` the request path.
pub fn response(status: StatusCode, detail: Option<&str>, instance: Option<&str>) -> Response {
    let body = crate::admin::bodies::ProblemDetails {
        kind: "about:blank".into(),
        title: status.canonical_reason().unwrap_or("Error").into(),
        status: status.as_u16(),
        detail: detail
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        instance: instance.map(str::to_owned),
    };
    let body = serde_json::to_string(&body).unwrap_or_default();
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// A response extension: members [`layer`] adds to the problem it makes of an error answer
/// (RFC 9457 extension members, e.g. the command a refusal names).
#[derive(Debug, Clone)]
pub struct Members(pub serde_json::Map<String, serde_json::Value>);

/// A response extension that keeps [`layer`] off an error answer: one passed on from
/// elsewhere as it came (Apple's answer to `POST /v1/escrowkeyunlock`).
#[derive(Debug, Clone, Copy)]
pub struct PassedOn;

/// `problem` (made by [`response`]) with extension members added (never replacing the
/// standard ones).
async fn with_members(
    problem: Response,
    members: &serde_json::Map<String, serde_json::Value>,
) -> Response {
    let (mut parts, body) = problem.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_DETAIL * 2).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response();
    };
    let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if let serde_json::Value::Object(map) = &mut value {
        for (k, v) in members {
            map.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(value.to_string()))
}

fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(CONTENT_TYPE))
}

/// Middleware for the admin routes: every error answer (status 400 and up) that is not
/// already a problem becomes one, its text the `detail`, the request path the `instance`;
/// other headers (`WWW-Authenticate`, `Allow`...) are kept. Covers the handlers' errors,
/// the API key check and axum's own refusals (bad query, body too large, wrong media type).
pub async fn layer(request: Request, next: Next) -> Response {
    let instance = request.uri().path().to_owned();
    let answer = next.run(request).await;
    let status = answer.status();
    if !(status.is_client_error() || status.is_server_error())
        || is_problem(&answer)
        || answer.extensions().get::<PassedOn>().is_some()
    {
        return answer;
    }
    let (parts, body) = answer.into_parts();
    let detail = axum::body::to_bytes(body, MAX_DETAIL)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let mut problem = response(status, detail.as_deref(), Some(&instance));
    if let Some(Members(members)) = parts.extensions.get::<Members>() {
        problem = with_members(problem, members).await;
    }
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}
