//! Mocks of Apple's web services over real HTTP (feature `services-mock`), with the quirks the
//! real services have.
//!
//! [`GdmfMock`] serves a GDMF catalogue at `/v2/pmv`; it can throttle (HTTP 429 or 503 with
//! `Retry-After`) for the next requests, or serve a raw body (a malformed catalogue).

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Default)]
struct GdmfState {
    body: Vec<u8>,
    /// Answers to give before the body: (status, Retry-After seconds).
    refusals: Vec<(u16, Option<u64>)>,
    requests: usize,
}

/// A GDMF mock on `127.0.0.1` (an ephemeral port); it stops when dropped.
#[derive(Debug)]
pub struct GdmfMock {
    /// The catalogue URL, such as `http://127.0.0.1:41234/v2/pmv`.
    pub url: String,
    state: Arc<Mutex<GdmfState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GdmfMock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pmv(State(state): State<Arc<Mutex<GdmfState>>>) -> Response {
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    s.requests += 1;
    if !s.refusals.is_empty() {
        let (status, retry) = s.refusals.remove(0);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut resp = (status, "Too many requests").into_response();
        if let Some(secs) = retry {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        return resp;
    }
    ([(header::CONTENT_TYPE, "application/json")], s.body.clone()).into_response()
}

impl GdmfMock {
    /// Serves `catalog` (normally [`sample_catalog`]).
    pub async fn start(catalog: &serde_json::Value) -> GdmfMock {
        let state = Arc::new(Mutex::new(GdmfState {
            body: serde_json::to_vec(catalog).unwrap_or_default(),
            ..GdmfState::default()
        }));
        let app = axum::Router::new()
            .route("/v2/pmv", axum::routing::get(pmv))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|e| panic!("GDMF mock: cannot bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("GDMF mock: no address: {e}"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        GdmfMock {
            url: format!("http://{addr}/v2/pmv"),
            state,
            task,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut GdmfState) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The next request is refused with `status` (429 or 503 as Apple throttles) and, if
    /// given, `Retry-After: retry_after` seconds; calls add up.
    pub fn refuse_next(&self, status: u16, retry_after: Option<u64>) {
        self.with(|s| s.refusals.push((status, retry_after)));
    }

    /// Serves `body` as is from now on (a malformed or truncated catalogue).
    pub fn set_raw_body(&self, body: impl Into<Vec<u8>>) {
        let body = body.into();
        self.with(|s| s.body = body);
    }

    /// How many requests reached the mock.
    pub fn requests(&self) -> usize {
        self.with(|s| s.requests)
    }
}

/// A catalogue of the form gdmf.apple.com serves (keys and value forms of Apple's answer and
/// of `other/schemas/gdmf.json`): iOS 18.2 then 18.2.1 in `AssetSets`, an expired 17.7, a
/// macOS 15.2 without an expiration date, a release posted in the future, and an unknown
/// top-level key.
pub fn sample_catalog() -> serde_json::Value {
    serde_json::json!({
        "PublicAssetSets": {
            "iOS": [
                {"ProductVersion": "18.2.1", "Build": "22C161", "PostingDate": "2025-01-06",
                 "ExpirationDate": "2025-07-07", "SupportedDevices": ["iPhone15,2", "iPad13,1"]}
            ]
        },
        "AssetSets": {
            "iOS": [
                {"ProductVersion": "17.7", "Build": "21H16", "PostingDate": "2024-09-16",
                 "ExpirationDate": "2025-01-10", "SupportedDevices": ["iPhone15,2", "iPhone10,3"]},
                {"ProductVersion": "18.2.1", "Build": "22C161", "PostingDate": "2025-01-06",
                 "ExpirationDate": "2025-07-07", "SupportedDevices": ["iPhone15,2", "iPad13,1"]},
                {"ProductVersion": "18.2", "Build": "22C152", "PostingDate": "2024-12-11",
                 "ExpirationDate": "2025-06-09", "SupportedDevices": ["iPhone15,2", "iPad13,1", "iPhone11,8"]},
                {"ProductVersion": "18.3", "Build": "22D63", "PostingDate": "2025-01-27",
                 "SupportedDevices": ["iPhone15,2"]}
            ],
            "macOS": [
                {"ProductVersion": "15.2", "Build": "24C101", "PostingDate": "2024-12-11",
                 "SupportedDevices": ["Mac14,3", "J413AP"]}
            ]
        },
        "PublicRapidSecurityResponses": {
            "iOS": [
                {"ProductVersion": "16.5.1", "Build": "20F770750b", "PostingDate": "2023-07-10",
                 "ExpirationDate": "2023-10-09", "SupportedDevices": ["iPhone15,2"],
                 "ProductVersionExtra": "(c)"}
            ]
        },
        "SomethingNew": {"kept": true}
    })
}

/// A device activity of [`AbmMock`].
#[derive(Debug)]
struct Activity {
    id: String,
    /// Polls left before it is COMPLETED (and applied).
    polls_left: u32,
    kind: String,
    server: Option<String>,
    devices: Vec<String>,
}

/// The state of [`AbmMock`].
#[derive(Debug, Default)]
struct AbmState {
    /// Serial numbers of the organisation's devices, in order, with their server.
    devices: Vec<(String, Option<String>)>,
    servers: Vec<String>,
    /// Issued tokens and when they expire.
    tokens: Vec<(String, std::time::Instant)>,
    token_lifetime: std::time::Duration,
    /// Calls to throttle before serving: Retry-After seconds.
    throttle: Vec<u64>,
    activities: Vec<Activity>,
    tokens_issued: usize,
    api_calls: usize,
}

/// A mock of the Apple Business Manager API and its token endpoint on `127.0.0.1`, with the
/// real service's quirks: tokens that expire (after a lifetime the test sets) and are checked
/// on every call (401 with a JSON:API error after), throttling (429 with `Retry-After` and
/// Apple's `RATE_LIMIT_EXCEEDED` body), cursors in `meta.paging.nextCursor`, and device
/// activities that stay `IN_PROGRESS` for some polls before `COMPLETED`.
#[derive(Debug)]
pub struct AbmMock {
    /// The token endpoint, such as `http://127.0.0.1:41234/auth/oauth2/token`.
    pub token_url: String,
    /// The API base URL, such as `http://127.0.0.1:41234`.
    pub base_url: String,
    state: Arc<Mutex<AbmState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AbmMock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Abm = State<Arc<Mutex<AbmState>>>;

fn json_error(status: StatusCode, code: &str, detail: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"errors": [{
            "id": "mock", "status": status.as_u16().to_string(), "code": code,
            "title": code, "detail": detail
        }]})),
    )
        .into_response()
}

/// Checks the bearer token and throttling; `Some` is the refusal to answer with.
fn gate(s: &mut AbmState, headers: &axum::http::HeaderMap) -> Option<Response> {
    s.api_calls += 1;
    if !s.throttle.is_empty() {
        let secs = s.throttle.remove(0);
        let mut r = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMIT_EXCEEDED",
            "We've received too many requests for this API.",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Some(r);
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let now = std::time::Instant::now();
    if s.tokens.iter().any(|(t, exp)| t == token && *exp > now) {
        None
    } else {
        Some(json_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "The access token is missing, invalid or expired.",
        ))
    }
}

fn device_json(serial: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "orgDevices", "id": serial,
        "attributes": {"serialNumber": serial, "deviceModel": "iPhone 16", "productFamily": "iPhone",
                       "status": "ASSIGNED", "addedToOrgDateTime": "2025-02-11T18:36:52.424Z"},
        "links": {"self": format!("/v1/orgDevices/{serial}")}
    })
}

fn page(
    items: Vec<serde_json::Value>,
    q: &std::collections::HashMap<String, String>,
    path: &str,
) -> Response {
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let start = q
        .get("cursor")
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(0)
        .min(items.len());
    let end = (start + limit).min(items.len());
    let mut paging = serde_json::json!({"limit": limit, "total": items.len()});
    let mut links = serde_json::json!({"self": path});
    if end < items.len() {
        paging["nextCursor"] = end.to_string().into();
        links["next"] = format!("{path}?cursor={end}&limit={limit}").into();
    }
    axum::Json(serde_json::json!({
        "data": items.get(start..end).unwrap_or_default(),
        "links": links,
        "meta": {"paging": paging}
    }))
    .into_response()
}

async fn abm_token(
    State(state): Abm,
    axum::Form(form): axum::Form<std::collections::HashMap<String, String>>,
) -> Response {
    let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.get("client_assertion_type").map(String::as_str)
            == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        && form
            .get("client_assertion")
            .is_some_and(|a| a.split('.').count() == 3)
        && form.get("client_id").is_some_and(|c| !c.is_empty());
    if !ok {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    s.tokens_issued += 1;
    let token = format!("mock-token-{}", s.tokens_issued);
    let lifetime = s.token_lifetime;
    s.tokens
        .push((token.clone(), std::time::Instant::now() + lifetime));
    axum::Json(serde_json::json!({
        "access_token": token, "token_type": "Bearer",
        "expires_in": lifetime.as_secs().max(1), "scope": form.get("scope")
    }))
    .into_response()
}

async fn abm_devices(
    State(state): Abm,
    headers: axum::http::HeaderMap,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(r) = gate(&mut s, &headers) {
        return r;
    }
    let items = s.devices.iter().map(|(d, _)| device_json(d)).collect();
    page(items, &q, "/v1/orgDevices")
}

async fn abm_device(
    State(state): Abm,
    headers: axum::http::HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(r) = gate(&mut s, &headers) {
        return r;
    }
    if s.devices.iter().any(|(d, _)| *d == id) {
        axum::Json(serde_json::json!({"data": device_json(&id), "links": {"self": format!("/v1/orgDevices/{id}")}}))
            .into_response()
    } else {
        json_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "There is no resource with this ID.",
        )
    }
}

async fn abm_assigned(
    State(state): Abm,
    headers: axum::http::HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(r) = gate(&mut s, &headers) {
        return r;
    }
    match s.devices.iter().find(|(d, _)| *d == id) {
        Some((_, server)) => {
            let data = server
                .as_ref()
                .map(|srv| serde_json::json!({"type": "mdmServers", "id": srv}));
            axum::Json(serde_json::json!({"data": data, "links": {"self": "/"}})).into_response()
        }
        None => json_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "There is no resource with this ID.",
        ),
    }
}

async fn abm_servers(
    State(state): Abm,
    headers: axum::http::HeaderMap,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(r) = gate(&mut s, &headers) {
        return r;
    }
    let items = s
        .servers
        .iter()
        .map(|id| {
            serde_json::json!({"type": "mdmServers", "id": id,
                "attributes": {"serverName": format!("Server {id}"), "serverType": "MDM",
                               "createdDateTime": "2025-01-01T00:00:00Z"}})
        })
        .collect();
    page(items, &q, "/v1/mdmServers")
}

async fn abm_server_devices(
    State(state): Abm,
    headers: axum::http::HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(r) = gate(&mut s, &headers) {
        return r;
    }
    if !s.servers.contains(&id) {
        return json_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "There is no resource with this ID.",
        );
    }
    let items = s
        .devices
        .iter()
        .filter(|(_, srv)| srv.as_deref() == Some(id.as_str()))
        .map(|(d, _)| serde_json::json!({"type": "orgDevices", "id": d}))
        .collect();
    page(items, &q, "/v1/mdmServers/devices")
}

fn activity_json(id: &str, left: u32, kind: &str) -> serde_json::Value {
    let status = if left == 0 {
        "COMPLETED"
    } else {
        "IN_PROGRESS"
    };
    let sub = if left == 0 {
        "COMPLETED_WITH_SUCCESS"
    } else {
        "SUBMITTED"
    };
    serde_json::json!({"data": {"type": "orgDeviceActivities", "id": id,
        "attributes": {"status": status, "subStatus": sub, "createdDateTime": "2025-06-01T10:00:00Z",
                       "activityType": kind}},
        "links": {"self": format!("/v1/orgDeviceActivities/{id}")}})
}

async fn abm_create_activity(
    State(state): Abm,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(r) = gate(&mut s, &headers) {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "PARAMETER_ERROR.INVALID",
            "The body is not JSON.",
        );
    };
    let data = &v["data"];
    let kind = data["attributes"]["activityType"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let server = data["relationships"]["mdmServer"]["data"]["id"]
        .as_str()
        .map(str::to_string);
    let devices: Vec<String> = data["relationships"]["devices"]["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let valid = data["type"] == "orgDeviceActivities"
        && !devices.is_empty()
        && match kind.as_str() {
            "ASSIGN_DEVICES" => server.as_ref().is_some_and(|srv| s.servers.contains(srv)),
            "UNASSIGN_DEVICES" => true,
            _ => false,
        };
    if !valid {
        return json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "ENTITY_ERROR",
            "The activity is not one the mock knows.",
        );
    }
    let id = format!("activity-{}", s.activities.len() + 1);
    s.activities.push(Activity {
        id: id.clone(),
        polls_left: 2,
        kind: kind.clone(),
        server,
        devices,
    });
    (
        StatusCode::CREATED,
        axum::Json(activity_json(&id, 2, &kind)),
    )
        .into_response()
}

async fn abm_activity(
    State(state): Abm,
    headers: axum::http::HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(r) = gate(&mut s, &headers) {
        return r;
    }
    let Some(i) = s.activities.iter().position(|a| a.id == id) else {
        return json_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "There is no resource with this ID.",
        );
    };
    let (left, kind) = {
        let a = &mut s.activities[i];
        a.polls_left = a.polls_left.saturating_sub(1);
        (a.polls_left, a.kind.clone())
    };
    if left == 0 {
        // Applied once complete.
        let (server, devices) = (
            s.activities[i].server.clone(),
            s.activities[i].devices.clone(),
        );
        for (d, srv) in &mut s.devices {
            if devices.contains(d) {
                *srv = if kind == "ASSIGN_DEVICES" {
                    server.clone()
                } else {
                    None
                };
            }
        }
    }
    axum::Json(activity_json(&id, left, &kind)).into_response()
}

impl AbmMock {
    /// A mock organisation with `devices` serial numbers (none assigned) and `servers` MDM
    /// server IDs; tokens live `token_lifetime`.
    pub async fn start(
        devices: &[&str],
        servers: &[&str],
        token_lifetime: std::time::Duration,
    ) -> AbmMock {
        use axum::routing::{get, post};
        let state = Arc::new(Mutex::new(AbmState {
            devices: devices.iter().map(|d| ((*d).to_string(), None)).collect(),
            servers: servers.iter().map(|s| (*s).to_string()).collect(),
            token_lifetime,
            ..AbmState::default()
        }));
        let app = axum::Router::new()
            .route("/auth/oauth2/token", post(abm_token))
            .route("/v1/orgDevices", get(abm_devices))
            .route("/v1/orgDevices/{id}", get(abm_device))
            .route(
                "/v1/orgDevices/{id}/relationships/assignedServer",
                get(abm_assigned),
            )
            .route("/v1/mdmServers", get(abm_servers))
            .route(
                "/v1/mdmServers/{id}/relationships/devices",
                get(abm_server_devices),
            )
            .route("/v1/orgDeviceActivities", post(abm_create_activity))
            .route("/v1/orgDeviceActivities/{id}", get(abm_activity))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|e| panic!("ABM mock: cannot bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("ABM mock: no address: {e}"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        AbmMock {
            token_url: format!("http://{addr}/auth/oauth2/token"),
            base_url: format!("http://{addr}"),
            state,
            task,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut AbmState) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The next API call is throttled with `Retry-After: secs`; calls add up.
    pub fn throttle_next(&self, secs: u64) {
        self.with(|s| s.throttle.push(secs));
    }

    /// Revokes every token issued so far (the next call gets 401).
    pub fn revoke_tokens(&self) {
        self.with(|s| s.tokens.clear());
    }

    /// How many tokens the token endpoint issued.
    pub fn tokens_issued(&self) -> usize {
        self.with(|s| s.tokens_issued)
    }

    /// How many API calls reached the mock (throttled and refused ones included).
    pub fn api_calls(&self) -> usize {
        self.with(|s| s.api_calls)
    }

    /// The server a device is assigned to.
    pub fn server_of(&self, serial: &str) -> Option<String> {
        self.with(|s| {
            s.devices
                .iter()
                .find(|(d, _)| d == serial)
                .and_then(|(_, srv)| srv.clone())
        })
    }
}

/// The state of [`AnbMock`].
#[derive(Debug, Default)]
struct AnbState {
    s_token: String,
    throttle: Vec<u64>,
    events: Vec<String>,
    calls: usize,
}

/// A mock of Apple's Apps and Books API on `127.0.0.1`: the sToken is checked on every call
/// (401 with `errorNumber` 9622 otherwise), throttling answers 503 with `Retry-After` and
/// `errorNumber` 9646, associate and disassociate answer with an `eventId`, whose status is
/// `COMPLETE`.
#[derive(Debug)]
pub struct AnbMock {
    /// The base URL, such as `http://127.0.0.1:41234/mdm/v2`.
    pub base_url: String,
    state: Arc<Mutex<AnbState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AnbMock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn anb_error(status: StatusCode, number: u32, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"errorNumber": number, "errorMessage": message})),
    )
        .into_response()
}

fn anb_gate(s: &mut AnbState, headers: &axum::http::HeaderMap) -> Option<Response> {
    s.calls += 1;
    if !s.throttle.is_empty() {
        let secs = s.throttle.remove(0);
        let mut r = anb_error(
            StatusCode::SERVICE_UNAVAILABLE,
            9646,
            "Too many recent calls to manage licenses.",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Some(r);
    }
    let ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        == Some(s.s_token.as_str());
    (!ok).then(|| {
        anb_error(
            StatusCode::UNAUTHORIZED,
            9622,
            "Invalid authentication token.",
        )
    })
}

async fn anb_any(
    State(state): State<Arc<Mutex<AnbState>>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(r) = anb_gate(&mut s, &headers) {
        return r;
    }
    let path = uri.path().trim_start_matches("/mdm/v2");
    match (method.as_str(), path) {
        ("GET", "/service/config") => axum::Json(serde_json::json!({
            "limits": {"maxAssets": 25, "maxSerialNumbers": 25},
            "urls": {"assets": "/mdm/v2/assets"}
        }))
        .into_response(),
        ("GET", "/assets") => axum::Json(serde_json::json!({
            "assets": [{"adamId": "361309726", "pricingParam": "STDQ", "availableCount": 10}],
            "currentPageIndex": 0, "size": 1, "totalPages": 1
        }))
        .into_response(),
        ("POST", "/assets/associate" | "/assets/disassociate") => {
            let id = format!("event-{}", s.events.len() + 1);
            s.events.push(id.clone());
            axum::Json(serde_json::json!({
                "eventId": id, "tokenExpirationDate": "2027-01-01T00:00:00+0000", "uId": "2049025000431439"
            }))
            .into_response()
        }
        ("GET", "/status") => {
            let id = uri
                .query()
                .and_then(|q| q.strip_prefix("eventId="))
                .unwrap_or_default();
            if s.events.iter().any(|e| e == id) {
                axum::Json(serde_json::json!({"eventStatus": "COMPLETE", "eventType": "ASSOCIATE"}))
                    .into_response()
            } else {
                anb_error(StatusCode::BAD_REQUEST, 9603, "The event is not known.")
            }
        }
        _ => anb_error(StatusCode::NOT_FOUND, 9600, "Not found."),
    }
}

impl AnbMock {
    /// A location whose content token is `s_token`.
    pub async fn start(s_token: &str) -> AnbMock {
        let state = Arc::new(Mutex::new(AnbState {
            s_token: s_token.to_string(),
            ..AnbState::default()
        }));
        let app = axum::Router::new()
            .fallback(anb_any)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|e| panic!("Apps and Books mock: cannot bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("Apps and Books mock: no address: {e}"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        AnbMock {
            base_url: format!("http://{addr}/mdm/v2"),
            state,
            task,
        }
    }

    /// The next call is throttled (503) with `Retry-After: secs`; calls add up.
    pub fn throttle_next(&self, secs: u64) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .throttle
            .push(secs);
    }

    /// How many calls reached the mock.
    pub fn calls(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .calls
    }
}
