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
