//! A mock of Apple's DEP service, served over real HTTP on loopback, for tests.
//!
//! It verifies the OAuth signature of `GET /session`, hands out sessions that can expire,
//! pages fetch and sync with opaque cursors that can expire, throttles on demand, can echo a
//! sync cursor with `more_to_follow` as Apple sometimes does, and keeps profiles and their
//! assignment. Several organisations (tokens) are kept apart.
//!
//! A whole sync against it (the same code runs against Apple):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use dep_client::client::{DepClient, HyperTransport};
//! use dep_client::driver::{BoxError, MemoryCursorStore, PageHandler, SyncDriver};
//! use dep_client::mock::{MockDep, OrgId};
//! use dep_client::sync::Page;
//!
//! let mock = MockDep::start().await?;
//! mock.add_devices(OrgId(0), "SER", 250);
//!
//! /// Stores each page; the cursor is saved only after this returns Ok.
//! struct Upsert(usize);
//! impl PageHandler for Upsert {
//!     async fn handle(&mut self, _org: &str, page: &Page) -> Result<(), BoxError> {
//!         self.0 += page.response.devices.len(); // write to your database here
//!         Ok(())
//!     }
//! }
//!
//! let client = DepClient::with_transport(mock.token(OrgId(0)), mock.config(), HyperTransport::new());
//! let store = MemoryCursorStore::new();
//! let driver = SyncDriver::new("acme", &client, &store).with_limit(100);
//! let mut handler = Upsert(0);
//! let report = driver.run_round(&mut handler).await?; // fetch: 3 pages
//! assert_eq!((report.pages, handler.0), (3, 250));
//! mock.remove_device(OrgId(0), "SER0042");
//! let report = driver.run_round(&mut handler).await?; // sync: the deletion
//! assert_eq!(report.devices, 1);
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Serialize;

use crate::error::Error;
use crate::session::verify_authorization_header;
use crate::types::*;

/// An organisation in the mock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrgId(pub usize);

/// How the mock refuses a throttled call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Throttle {
    /// HTTP 400 with body `THROTTLED`.
    Code,
    /// HTTP 429 with a `Retry-After` header in seconds.
    TooManyRequests {
        /// The `Retry-After` value.
        retry_after_secs: u64,
    },
    /// HTTP 503 with a `Retry-After` header in seconds.
    Unavailable {
        /// The `Retry-After` value.
        retry_after_secs: u64,
    },
}

/// Counters of what the mock served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockStats {
    /// Sessions opened.
    pub sessions: usize,
    /// Calls refused because the session was unknown or expired.
    pub expired_session_refusals: usize,
    /// Fetch calls answered (any status).
    pub fetches: usize,
    /// Sync calls answered (any status).
    pub syncs: usize,
    /// Calls refused by throttling.
    pub throttled: usize,
    /// The last `User-Agent` seen.
    pub last_user_agent: Option<String>,
    /// The last `X-Server-Protocol-Version` seen.
    pub last_protocol_version: Option<String>,
}

#[derive(Debug)]
struct Org {
    token: ServerToken,
    account: AccountDetail,
    devices: Vec<Device>,
    events: Vec<Device>,
    profiles: HashMap<String, Profile>,
    escrow_keys: HashMap<String, String>,
    adde: Option<String>,
    cursor_epoch: u64,
}

#[derive(Debug)]
struct Session {
    org: usize,
    remaining: Option<u32>,
}

#[derive(Debug, Default)]
struct MockState {
    base_url: String,
    orgs: Vec<Org>,
    sessions: HashMap<String, Session>,
    nonces: HashSet<(String, String)>,
    session_lifetime: Option<u32>,
    expire_with_403: bool,
    throttle: VecDeque<Throttle>,
    echo_cursor: bool,
    stats: MockStats,
    clock: u64,
}

/// The mock service, running on a loopback port until dropped.
#[derive(Debug)]
pub struct MockDep {
    state: Arc<Mutex<MockState>>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for MockDep {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    for b in bytes.iter_mut() {
        *b = rand::random();
    }
    hex::encode_upper(bytes)
}

fn new_org(index: usize) -> Org {
    let token = ServerToken::new(
        format!("CK_{}", random_hex(16)),
        format!("CS_{}", random_hex(16)),
        format!("AT_{}", random_hex(16)),
        format!("AS_{}", random_hex(16)),
    );
    let account: AccountDetail = serde_json::from_value(serde_json::json!({
        "server_name": format!("mock-{index}"),
        "server_uuid": random_hex(16),
        "admin_id": "admin@example.invalid",
        "org_name": format!("Mock Organisation {index}"),
        "org_email": "dep@example.invalid",
        "org_id": format!("{}", 1000 + index),
        "org_type": "org",
        "org_version": "v2",
        "urls": [
            {"uri": "/server/devices", "http_method": ["POST"], "limit": {"default": 100, "maximum": 1000}},
            {"uri": "/devices/sync", "http_method": ["POST"], "limit": {"default": 100, "maximum": 1000}}
        ]
    }))
    .unwrap_or_default();
    Org {
        token,
        account,
        devices: Vec::new(),
        events: Vec::new(),
        profiles: HashMap::new(),
        escrow_keys: HashMap::new(),
        adde: None,
        cursor_epoch: 0,
    }
}

impl MockDep {
    /// Starts the mock on `127.0.0.1` (a free port) with one organisation, [`OrgId`]`(0)`.
    pub async fn start() -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Error::Transport(e.into()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Transport(e.into()))?;
        let state = Arc::new(Mutex::new(MockState {
            base_url: format!("http://{addr}"),
            orgs: vec![new_org(0)],
            ..Default::default()
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(MockDep {
            state,
            addr,
            shutdown: Some(tx),
        })
    }

    fn lock(&self) -> MutexGuard<'_, MockState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The base URL to put in [`crate::Config::with_base_url`].
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the URL clients use to reach the mock, when it differs from [`MockDep::base_url`]
    /// (a TLS terminator or a proxy in front): the OAuth signature of `/session` covers it.
    pub fn set_public_url(&self, url: &str) {
        self.lock().base_url = url.trim_end_matches('/').to_string();
    }

    /// A client configuration pointing at the mock.
    pub fn config(&self) -> crate::Config {
        crate::Config::new().with_base_url(self.base_url())
    }

    /// Adds an organisation with its own token, devices and cursors.
    pub fn add_org(&self) -> OrgId {
        let mut s = self.lock();
        let index = s.orgs.len();
        s.orgs.push(new_org(index));
        OrgId(index)
    }

    /// The server token of an organisation.
    pub fn token(&self, org: OrgId) -> ServerToken {
        self.lock()
            .orgs
            .get(org.0)
            .map(|o| o.token.clone())
            .unwrap_or_default()
    }

    /// Adds (or replaces) a device; it appears in fetches and as `added` in syncs.
    pub fn add_device(&self, org: OrgId, device: Device) {
        let mut s = self.lock();
        let now = s.tick();
        let Some(o) = s.orgs.get_mut(org.0) else {
            return;
        };
        let mut event = device.clone();
        event.op_type = Some(OpType::Added);
        event.op_date = Some(now);
        match o
            .devices
            .iter_mut()
            .find(|d| d.serial_number == device.serial_number)
        {
            Some(d) => *d = device,
            None => o.devices.push(device),
        }
        o.events.push(event);
    }

    /// Adds `n` devices with serial numbers `<prefix>0000`, `<prefix>0001`…
    pub fn add_devices(&self, org: OrgId, prefix: &str, n: usize) {
        for i in 0..n {
            let mut d = Device::new(format!("{prefix}{i:04}"));
            d.model = Some("iPad".into());
            d.os = Some("iOS".into());
            d.device_family = Some("iPad".into());
            d.profile_status = Some(ProfileStatus::Empty);
            self.add_device(org, d);
        }
    }

    /// Removes a device; it shows as `deleted` in syncs.
    pub fn remove_device(&self, org: OrgId, serial: &str) {
        let mut s = self.lock();
        let now = s.tick();
        if let Some(o) = s.orgs.get_mut(org.0) {
            remove_device(o, serial, now);
        }
    }

    /// The devices of an organisation as the mock holds them.
    pub fn devices(&self, org: OrgId) -> Vec<Device> {
        self.lock()
            .orgs
            .get(org.0)
            .map(|o| o.devices.clone())
            .unwrap_or_default()
    }

    /// A stored profile.
    pub fn profile(&self, org: OrgId, uuid: &str) -> Option<Profile> {
        self.lock().orgs.get(org.0)?.profiles.get(uuid).cloned()
    }

    /// The escrow key sent for a device with Activation Lock.
    pub fn escrow_key(&self, org: OrgId, serial: &str) -> Option<String> {
        self.lock()
            .orgs
            .get(org.0)?
            .escrow_keys
            .get(serial)
            .cloned()
    }

    /// Expires every session now.
    pub fn expire_sessions(&self) {
        self.lock().sessions.clear();
    }

    /// Sessions expire after this many calls (`None`: never).
    pub fn set_session_lifetime(&self, calls: Option<u32>) {
        self.lock().session_lifetime = calls;
    }

    /// Answer expired sessions with 403 "token expired" instead of 401.
    pub fn set_expire_with_403(&self, yes: bool) {
        self.lock().expire_with_403 = yes;
    }

    /// Expires every cursor issued so far for an organisation.
    pub fn expire_cursors(&self, org: OrgId) {
        if let Some(o) = self.lock().orgs.get_mut(org.0) {
            o.cursor_epoch += 1;
        }
    }

    /// Refuses the next calls (other than `/session`), one per entry.
    pub fn throttle_next(&self, refusals: impl IntoIterator<Item = Throttle>) {
        self.lock().throttle.extend(refusals);
    }

    /// When a sync has nothing new, echo the request's cursor with `more_to_follow: true`.
    pub fn set_echo_cursor(&self, yes: bool) {
        self.lock().echo_cursor = yes;
    }

    /// What the mock served so far.
    pub fn stats(&self) -> MockStats {
        self.lock().stats.clone()
    }
}

impl MockState {
    fn tick(&mut self) -> String {
        self.clock += 1;
        // 2026-01-01T00:00:00Z plus one second per event.
        let t = time::OffsetDateTime::from_unix_timestamp(1_767_225_600 + self.clock as i64)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }
}

fn remove_device(o: &mut Org, serial: &str, now: String) -> bool {
    let Some(pos) = o.devices.iter().position(|d| d.serial_number == serial) else {
        return false;
    };
    let mut event = o.devices.remove(pos);
    event.op_type = Some(OpType::Deleted);
    event.op_date = Some(now);
    o.events.push(event);
    true
}

fn text(status: StatusCode, body: &str) -> Response {
    (status, body.to_string()).into_response()
}

fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR"),
    }
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response>> {
    serde_json::from_slice(body)
        .map_err(|_| Box::new(text(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST_BODY")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fetch,
    Sync,
}

fn encode_cursor(kind: Kind, org: &str, epoch: u64, offset: usize, events: usize) -> String {
    let k = if kind == Kind::Fetch { "f" } else { "s" };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{k}:{org}:{epoch}:{offset}:{events}"))
}

fn decode_cursor(cursor: &str, org: &str) -> Option<(Kind, u64, usize, usize)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.split(':');
    let kind = match parts.next()? {
        "f" => Kind::Fetch,
        "s" => Kind::Sync,
        _ => return None,
    };
    if parts.next()? != org {
        return None;
    }
    let epoch = parts.next()?.parse().ok()?;
    let offset = parts.next()?.parse().ok()?;
    let events = parts.next()?.parse().ok()?;
    parts
        .next()
        .is_none()
        .then_some((kind, epoch, offset, events))
}

async fn handle(
    State(state): State<Arc<Mutex<MockState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    s.stats.last_user_agent = header("user-agent");
    s.stats.last_protocol_version = header("x-server-protocol-version");
    let path = uri.path().to_string();

    if path == "/session" {
        if method != Method::GET {
            return text(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
        }
        let Some(auth) = header("authorization") else {
            return text(
                StatusCode::BAD_REQUEST,
                "Missing required authorization parameter",
            );
        };
        let url = format!("{}/session", s.base_url);
        let Some(org) = s
            .orgs
            .iter()
            .position(|o| verify_authorization_header(&url, &o.token, &auth))
        else {
            return text(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        };
        let params = crate::session::parse_authorization_header(&auth).unwrap_or_default();
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let nonce = (get("oauth_timestamp"), get("oauth_nonce"));
        if !s.nonces.insert(nonce) {
            return text(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        }
        let token = random_hex(24);
        let remaining = s.session_lifetime;
        s.sessions.insert(token.clone(), Session { org, remaining });
        s.stats.sessions += 1;
        return json(&serde_json::json!({ "auth_session_token": token }));
    }

    // Every other call needs a live session.
    let session = header("x-adm-auth-session").unwrap_or_default();
    let org = match s.sessions.get_mut(&session) {
        Some(sess) if sess.remaining != Some(0) => {
            if let Some(r) = sess.remaining.as_mut() {
                *r -= 1;
            }
            sess.org
        }
        _ => {
            s.stats.expired_session_refusals += 1;
            return if s.expire_with_403 {
                text(StatusCode::FORBIDDEN, "FORBIDDEN: oauth token expired")
            } else {
                text(StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
            };
        }
    };

    if let Some(t) = s.throttle.pop_front() {
        s.stats.throttled += 1;
        if path == "/server/devices" {
            s.stats.fetches += 1;
        } else if path == "/devices/sync" {
            s.stats.syncs += 1;
        }
        return match t {
            Throttle::Code => text(StatusCode::BAD_REQUEST, "THROTTLED"),
            Throttle::TooManyRequests { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                [(
                    axum::http::header::RETRY_AFTER,
                    retry_after_secs.to_string(),
                )],
                "TOO_MANY_REQUESTS",
            )
                .into_response(),
            Throttle::Unavailable { retry_after_secs } => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(
                    axum::http::header::RETRY_AFTER,
                    retry_after_secs.to_string(),
                )],
                "SERVICE_UNAVAILABLE",
            )
                .into_response(),
        };
    }

    let now = s.tick();
    let echo = s.echo_cursor;
    match (method.clone(), path.as_str()) {
        (Method::POST, "/server/devices") | (Method::POST, "/devices/sync") => {
            let kind = if path == "/server/devices" {
                s.stats.fetches += 1;
                Kind::Fetch
            } else {
                s.stats.syncs += 1;
                Kind::Sync
            };
            let Some(o) = s.orgs.get_mut(org) else {
                return text(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR");
            };
            let req: DeviceListRequest = if body.is_empty() {
                DeviceListRequest::default()
            } else {
                match parse_body(&body) {
                    Ok(r) => r,
                    Err(resp) => return *resp,
                }
            };
            list_devices(o, kind, req, echo, now)
        }
        (Method::GET, "/account") => match s.orgs.get(org) {
            Some(o) => json(&o.account),
            None => text(StatusCode::NOT_FOUND, "NOT_FOUND"),
        },
        (Method::POST, "/devices") => {
            let req: DeviceDetailsRequest = match parse_body(&body) {
                Ok(r) => r,
                Err(resp) => return *resp,
            };
            let Some(o) = s.orgs.get(org) else {
                return text(StatusCode::NOT_FOUND, "NOT_FOUND");
            };
            let mut out = DeviceDetailsResponse::default();
            for serial in req.devices {
                let mut d = o
                    .devices
                    .iter()
                    .find(|d| d.serial_number == serial)
                    .cloned()
                    .unwrap_or_else(|| Device::new(serial.clone()));
                d.response_status = Some(if d.model.is_some() || d.os.is_some() {
                    DeviceStatus::Success
                } else {
                    DeviceStatus::NotAccessible
                });
                out.devices.insert(serial, d);
            }
            json(&out)
        }
        (Method::POST, "/devices/disown") => {
            let req: DisownRequest = match parse_body(&body) {
                Ok(r) => r,
                Err(resp) => return *resp,
            };
            let Some(o) = s.orgs.get_mut(org) else {
                return text(StatusCode::NOT_FOUND, "NOT_FOUND");
            };
            let mut out = DisownResponse::default();
            for serial in req.devices {
                let ok = remove_device(o, &serial, now.clone());
                out.devices.insert(
                    serial,
                    if ok {
                        DeviceStatus::Success
                    } else {
                        DeviceStatus::NotAccessible
                    },
                );
            }
            json(&out)
        }
        (Method::POST, "/device/activationlock") => {
            let req: ActivationLockRequest = match parse_body(&body) {
                Ok(r) => r,
                Err(resp) => return *resp,
            };
            let Some(o) = s.orgs.get_mut(org) else {
                return text(StatusCode::NOT_FOUND, "NOT_FOUND");
            };
            let known = o.devices.iter().any(|d| d.serial_number == req.device);
            let status = if !known {
                DeviceStatus::NotAccessible
            } else if o.escrow_keys.contains_key(&req.device) {
                DeviceStatus::DeviceAlreadyLocked
            } else {
                o.escrow_keys
                    .insert(req.device.clone(), req.escrow_key.unwrap_or_default());
                DeviceStatus::Success
            };
            json(&ActivationLockResponse {
                serial_number: req.device,
                response_status: Some(status),
                ..Default::default()
            })
        }
        (Method::POST, "/profile") => {
            let mut profile: Profile = match parse_body(&body) {
                Ok(r) => r,
                Err(resp) => return *resp,
            };
            if profile.profile_name.is_empty() {
                return text(StatusCode::BAD_REQUEST, "CONFIG_NAME_REQUIRED");
            }
            if profile.url.is_empty() {
                return text(StatusCode::BAD_REQUEST, "CONFIG_URL_REQUIRED");
            }
            let Some(o) = s.orgs.get_mut(org) else {
                return text(StatusCode::NOT_FOUND, "NOT_FOUND");
            };
            let uuid = random_hex(16);
            let devices = profile.devices.take().unwrap_or_default();
            profile.profile_uuid = Some(uuid.clone());
            o.profiles.insert(uuid.clone(), profile);
            json(&DefineProfileResponse {
                devices: assign(o, &uuid, &devices, now),
                profile_uuid: uuid,
                ..Default::default()
            })
        }
        (Method::GET, "/profile") => {
            let uuid = uri
                .query()
                .unwrap_or_default()
                .split('&')
                .find_map(|kv| kv.strip_prefix("profile_uuid="))
                .unwrap_or_default()
                .to_string();
            match s.orgs.get(org).and_then(|o| o.profiles.get(&uuid)) {
                Some(p) => json(p),
                None => text(StatusCode::BAD_REQUEST, "PROFILE_NOT_FOUND"),
            }
        }
        (Method::PUT, "/profile/devices") | (Method::POST, "/profile/devices") => {
            let req: AssignProfileRequest = match parse_body(&body) {
                Ok(r) => r,
                Err(resp) => return *resp,
            };
            let Some(o) = s.orgs.get_mut(org) else {
                return text(StatusCode::NOT_FOUND, "NOT_FOUND");
            };
            if !o.profiles.contains_key(&req.profile_uuid) {
                return text(StatusCode::BAD_REQUEST, "PROFILE_NOT_FOUND");
            }
            json(&AssignProfileResponse {
                devices: assign(o, &req.profile_uuid, &req.devices, now),
                profile_uuid: Some(req.profile_uuid),
                ..Default::default()
            })
        }
        (Method::DELETE, "/profile/devices") => {
            let req: RemoveProfileRequest = match parse_body(&body) {
                Ok(r) => r,
                Err(resp) => return *resp,
            };
            let Some(o) = s.orgs.get_mut(org) else {
                return text(StatusCode::NOT_FOUND, "NOT_FOUND");
            };
            let mut out = RemoveProfileResponse::default();
            for serial in req.devices {
                let status = match o.devices.iter_mut().find(|d| d.serial_number == serial) {
                    Some(d) => {
                        d.profile_uuid = None;
                        d.profile_status = Some(ProfileStatus::Empty);
                        let mut e = d.clone();
                        e.op_type = Some(OpType::Modified);
                        e.op_date = Some(now.clone());
                        o.events.push(e);
                        DeviceStatus::Success
                    }
                    None => DeviceStatus::NotAccessible,
                };
                out.devices.insert(serial, status);
            }
            json(&out)
        }
        (Method::GET, "/account-driven-enrollment/profile") => match s.orgs.get(org) {
            Some(o) => json(&AccountDrivenEnrollmentProfile::new(
                o.adde.clone().unwrap_or_default(),
            )),
            None => text(StatusCode::NOT_FOUND, "NOT_FOUND"),
        },
        (Method::PUT, "/account-driven-enrollment/profile") => {
            let req: AccountDrivenEnrollmentProfile = match parse_body(&body) {
                Ok(r) => r,
                Err(resp) => return *resp,
            };
            if let Some(o) = s.orgs.get_mut(org) {
                o.adde = Some(req.mdm_service_discovery_url);
            }
            StatusCode::OK.into_response()
        }
        (Method::DELETE, "/account-driven-enrollment/profile") => {
            if let Some(o) = s.orgs.get_mut(org) {
                o.adde = None;
            }
            StatusCode::OK.into_response()
        }
        (Method::GET, "/os-beta-enrollment/tokens") => json(&serde_json::json!({
            "betaEnrollmentTokens": [
                {"title": "iOS Developer Beta", "os": "iOS", "token": "mock-ios-beta-token"},
                {"title": "macOS Public Beta", "os": "OSX", "token": "mock-macos-beta-token"}
            ]
        })),
        _ => text(StatusCode::NOT_FOUND, "NOT_FOUND"),
    }
}

fn assign(
    o: &mut Org,
    uuid: &str,
    serials: &[String],
    now: String,
) -> std::collections::BTreeMap<String, DeviceStatus> {
    let mut out = std::collections::BTreeMap::new();
    for serial in serials {
        let status = match o.devices.iter_mut().find(|d| &d.serial_number == serial) {
            Some(d) => {
                d.profile_uuid = Some(uuid.to_string());
                d.profile_status = Some(ProfileStatus::Assigned);
                d.profile_assign_time = Some(now.clone());
                let mut e = d.clone();
                e.op_type = Some(OpType::Modified);
                e.op_date = Some(now.clone());
                o.events.push(e);
                DeviceStatus::Success
            }
            None => DeviceStatus::NotAccessible,
        };
        out.insert(serial.clone(), status);
    }
    out
}

fn list_devices(
    o: &mut Org,
    kind: Kind,
    req: DeviceListRequest,
    echo: bool,
    now: String,
) -> Response {
    let limit = req.limit.unwrap_or(100);
    if limit == 0 || limit > crate::MAX_PAGE_LIMIT {
        return text(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST_BODY");
    }
    let limit = limit as usize;
    let cursor = match req.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => match decode_cursor(c, &o.token.consumer_key) {
            None => return text(StatusCode::BAD_REQUEST, "INVALID_CURSOR"),
            Some((_, epoch, ..)) if epoch != o.cursor_epoch => {
                return text(StatusCode::BAD_REQUEST, "EXPIRED_CURSOR");
            }
            Some(parsed) => Some(parsed),
        },
    };
    let mut out = DeviceListResponse {
        fetched_until: Some(now),
        ..Default::default()
    };
    match kind {
        Kind::Fetch => {
            let (offset, events) = match cursor {
                None => (0, o.events.len()),
                Some((Kind::Fetch, _, offset, events)) => (offset, events),
                Some((Kind::Sync, ..)) => {
                    return text(StatusCode::BAD_REQUEST, "INVALID_CURSOR");
                }
            };
            let offset = offset.min(o.devices.len());
            let end = (offset + limit).min(o.devices.len());
            out.devices = o.devices[offset..end].to_vec();
            out.more_to_follow = end < o.devices.len();
            out.cursor = Some(encode_cursor(
                Kind::Fetch,
                &o.token.consumer_key,
                o.cursor_epoch,
                end,
                events,
            ));
        }
        Kind::Sync => {
            let Some((_, _, _, from)) = cursor else {
                return text(StatusCode::BAD_REQUEST, "CURSOR_REQUIRED");
            };
            let from = from.min(o.events.len());
            let end = (from + limit).min(o.events.len());
            if from == end && echo {
                out.more_to_follow = true;
                out.cursor = req.cursor;
                return json(&out);
            }
            out.devices = o.events[from..end].to_vec();
            out.more_to_follow = end < o.events.len();
            out.cursor = Some(encode_cursor(
                Kind::Sync,
                &o.token.consumer_key,
                o.cursor_epoch,
                0,
                end,
            ));
        }
    }
    json(&out)
}

/// Runs the mock until the process ends (for manual testing with other tools).
pub async fn serve_forever(mock: MockDep) {
    let _keep = mock;
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
