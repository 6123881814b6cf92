//! The Apple Business Manager API (and Apple School Manager's, which differs by scope and
//! host): the sans-I/O core.
//!
//! - [`Credentials::client_assertion`]: the ES256 client-assertion JWT signed with the
//!   organisation's P-256 key, as Apple issues it (client ID `BUSINESSAPI.…`, key ID);
//! - [`token_request`] and [`parse_token`]: OAuth 2.0 client credentials at
//!   `account.apple.com`; [`TokenCache`] keeps the access token and says when to renew it;
//! - [`Call`]: every call (org devices list/get, MDM servers and their devices, a device's
//!   assigned server, device activities create/get) as a request builder, and
//!   [`parse_response`] into the types generated from `abm/schemas`;
//! - [`Page`]: a JSON:API list document with its cursor ([`Page::next_cursor`]).
//!
//! Failed calls are [`Error::Api`] with Apple's error objects and `Retry-After`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::{Error, MAX_BODY, decode_body, retry_after};
pub use crate::generated::abm::*;

/// Which of Apple's two organisation kinds: they differ only by OAuth scope and API host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Program {
    /// Apple Business Manager (`business.api`, `api-business.apple.com`).
    #[default]
    Business,
    /// Apple School Manager (`school.api`, `api-school.apple.com`).
    School,
}

impl Program {
    /// The OAuth scope.
    pub fn scope(self) -> &'static str {
        match self {
            Program::Business => "business.api",
            Program::School => "school.api",
        }
    }

    /// The API's base URL.
    pub fn base_url(self) -> &'static str {
        match self {
            Program::Business => "https://api-business.apple.com",
            Program::School => "https://api-school.apple.com",
        }
    }
}

/// Apple's token endpoint.
pub const TOKEN_URL: &str = "https://account.apple.com/auth/oauth2/token";
/// The audience of the client assertion.
pub const ASSERTION_AUDIENCE: &str = "https://account.apple.com/auth/oauth2/v2/token";
/// The longest lifetime Apple accepts for a client assertion (180 days).
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(180 * 24 * 3600);
/// The largest page the API serves.
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// An API account's credentials: client ID, key ID and the P-256 private key.
pub struct Credentials {
    /// The client ID, such as `BUSINESSAPI.9703f56c-…`.
    pub client_id: String,
    /// The key ID Apple shows with the key.
    pub key_id: String,
    /// The private key.
    pub key: mdm_pki::EcKey,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("key_id", &self.key_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

#[derive(Serialize)]
struct JwtHeader<'a> {
    alg: &'static str,
    kid: &'a str,
    typ: &'static str,
}

/// The claims of a client assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AssertionClaims {
    /// The client ID.
    pub sub: String,
    /// The client ID.
    pub iss: String,
    /// [`ASSERTION_AUDIENCE`].
    pub aud: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// A unique ID.
    pub jti: String,
}

impl Credentials {
    /// The credentials of one API account.
    pub fn new(
        client_id: impl Into<String>,
        key_id: impl Into<String>,
        key: mdm_pki::EcKey,
    ) -> Self {
        Credentials {
            client_id: client_id.into(),
            key_id: key_id.into(),
            key,
        }
    }

    /// The ES256 client assertion, valid from `now` (Unix seconds) for `lifetime` (at most
    /// [`MAX_ASSERTION_LIFETIME`]), with `jti` as its unique ID.
    pub fn client_assertion(
        &self,
        now: u64,
        lifetime: Duration,
        jti: &str,
    ) -> Result<String, Error> {
        use p256::ecdsa::signature::Signer as _;
        if lifetime.is_zero() || lifetime > MAX_ASSERTION_LIFETIME {
            return Err(Error::InvalidInput {
                what: "assertion lifetime",
                reason: format!("{lifetime:?} is not between 1 second and 180 days"),
            });
        }
        let header = JwtHeader {
            alg: "ES256",
            kid: &self.key_id,
            typ: "JWT",
        };
        let claims = AssertionClaims {
            sub: self.client_id.clone(),
            iss: self.client_id.clone(),
            aud: ASSERTION_AUDIENCE.to_string(),
            iat: now,
            exp: now.saturating_add(lifetime.as_secs()),
            jti: jti.to_string(),
        };
        let enc = |v: &dyn erased::Ser| -> Result<String, Error> {
            let bytes = v.json().map_err(|e| Error::InvalidInput {
                what: "client assertion",
                reason: e.to_string(),
            })?;
            Ok(URL_SAFE_NO_PAD.encode(bytes))
        };
        let signing_input = format!("{}.{}", enc(&header)?, enc(&claims)?);
        let sig: p256::ecdsa::Signature = self.key.inner().sign(signing_input.as_bytes());
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(sig.to_bytes())
        ))
    }
}

mod erased {
    /// Serialises to JSON behind a trait object (the header and the claims).
    pub trait Ser {
        fn json(&self) -> serde_json::Result<Vec<u8>>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> serde_json::Result<Vec<u8>> {
            serde_json::to_vec(self)
        }
    }
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    out.push(char::from(b));
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(k, &mut out);
        out.push('=');
        enc(v, &mut out);
    }
    out
}

/// The `POST` of the client-credentials grant to `token_url` (normally [`TOKEN_URL`]).
pub fn token_request(
    token_url: &str,
    client_id: &str,
    assertion: &str,
    program: Program,
) -> Result<http::Request<Vec<u8>>, Error> {
    let body = form_encode(&[
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
        ("scope", program.scope()),
    ]);
    http::Request::post(token_url)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(http::header::ACCEPT, "application/json")
        .body(body.into_bytes())
        .map_err(|e| Error::InvalidInput {
            what: "token URL",
            reason: e.to_string(),
        })
}

/// The body of a token answer (RFC 6749 section 5.1).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds (Apple: 3600).
    pub expires_in: u64,
    /// The granted scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Other keys.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// An access token and when it expires (Unix seconds).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The bearer token.
    pub token: String,
    /// When it expires.
    pub expires_at: u64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Parses the token endpoint's answer received at `now` (Unix seconds). A refusal (`400
/// invalid_client`, …) is [`Error::Api`].
pub fn parse_token(
    status: http::StatusCode,
    headers: &http::HeaderMap,
    body: &[u8],
    now: u64,
) -> Result<AccessToken, Error> {
    check(status, headers, body, "token")?;
    let t: TokenResponse = decode_body(body, "token")?;
    if t.access_token.is_empty() || !t.token_type.eq_ignore_ascii_case("bearer") {
        return Err(Error::Invalid {
            field: "access_token".into(),
            value: crate::error::cut(&t.token_type),
            reason: "not a non-empty bearer token",
        });
    }
    Ok(AccessToken {
        token: t.access_token,
        expires_at: now.saturating_add(t.expires_in),
    })
}

/// Keeps the access token and says when it must be renewed: `margin` seconds before it
/// expires, or at once after the API answered 401.
#[derive(Debug, Clone, Default)]
pub struct TokenCache {
    token: Option<AccessToken>,
    margin: u64,
}

impl TokenCache {
    /// An empty cache renewing `margin` seconds before expiry.
    pub fn new(margin: Duration) -> Self {
        TokenCache {
            token: None,
            margin: margin.as_secs(),
        }
    }

    /// The token if it is still good at `now`.
    pub fn get(&self, now: u64) -> Option<&AccessToken> {
        self.token
            .as_ref()
            .filter(|t| now.saturating_add(self.margin) < t.expires_at)
    }

    /// Keeps a new token.
    pub fn put(&mut self, token: AccessToken) {
        self.token = Some(token);
    }

    /// Drops the token (the API said 401: it was revoked or expired early).
    pub fn invalidate(&mut self) {
        self.token = None;
    }
}

/// A JSON:API list document: `data`, `links` (with `next`), `meta.paging` (with
/// `nextCursor`). The schemas define only the MDM servers' list; this is the same shape for
/// every list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Page<T> {
    /// The resources of this page.
    pub data: Vec<T>,
    /// Included resources, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub included: Option<Vec<serde_json::Value>>,
    /// The document's links.
    pub links: PagedDocumentLinks,
    /// The paging information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<PagingInformation>,
    /// Other keys.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl<T> Page<T> {
    /// The cursor of the next page, or `None` on the last page.
    pub fn next_cursor(&self) -> Option<&str> {
        self.meta
            .as_ref()
            .and_then(|m| m.paging.next_cursor.as_deref())
            .filter(|c| !c.is_empty())
    }
}

/// A single-resource JSON:API document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Single<T> {
    /// The resource.
    pub data: T,
    /// The document's links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<DocumentLinks>,
    /// Other keys.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A resource linkage (`{"type": "orgDevices", "id": "…"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Linkage {
    /// The resource type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The resource ID.
    pub id: String,
}

/// One API call: its method, path and query, and body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Call {
    /// `GET /v1/orgDevices`: a page of the organisation's devices.
    ListOrgDevices {
        /// Page size (1 to [`MAX_PAGE_LIMIT`]).
        limit: Option<u32>,
        /// The cursor of the previous page.
        cursor: Option<String>,
    },
    /// `GET /v1/orgDevices/{id}`.
    GetOrgDevice(String),
    /// `GET /v1/orgDevices/{id}/relationships/assignedServer`.
    AssignedServer(String),
    /// `GET /v1/mdmServers`.
    ListMdmServers {
        /// Page size.
        limit: Option<u32>,
        /// The cursor of the previous page.
        cursor: Option<String>,
    },
    /// `GET /v1/mdmServers/{id}/relationships/devices`: the linkages of its devices.
    MdmServerDevices {
        /// The server's ID.
        server: String,
        /// Page size.
        limit: Option<u32>,
        /// The cursor of the previous page.
        cursor: Option<String>,
    },
    /// `POST /v1/orgDeviceActivities`: assign (with a server) or unassign devices.
    CreateActivity {
        /// `ASSIGN_DEVICES` or `UNASSIGN_DEVICES`.
        activity: OrgDeviceActivityType,
        /// The MDM server (required to assign).
        server: Option<String>,
        /// The devices' IDs (serial numbers).
        devices: Vec<String>,
    },
    /// `GET /v1/orgDeviceActivities/{id}`.
    GetActivity(String),
}

fn path_id(id: &str, what: &'static str) -> Result<String, Error> {
    if id.is_empty()
        || id.len() > 200
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(Error::InvalidInput {
            what,
            reason: format!(
                "{:?} is not an ID (letters, digits, - _ .)",
                crate::error::cut(id)
            ),
        });
    }
    Ok(id.to_string())
}

fn paging(limit: Option<u32>, cursor: Option<&str>) -> Result<Vec<(&'static str, String)>, Error> {
    let mut q = Vec::new();
    if let Some(l) = limit {
        if l == 0 || l > MAX_PAGE_LIMIT {
            return Err(Error::InvalidInput {
                what: "limit",
                reason: format!("{l} is not between 1 and {MAX_PAGE_LIMIT}"),
            });
        }
        q.push(("limit", l.to_string()));
    }
    if let Some(c) = cursor {
        q.push(("cursor", c.to_string()));
    }
    Ok(q)
}

impl Call {
    /// What the call is called in errors.
    pub fn name(&self) -> &'static str {
        match self {
            Call::ListOrgDevices { .. } => "list org devices",
            Call::GetOrgDevice(_) => "get org device",
            Call::AssignedServer(_) => "assigned server",
            Call::ListMdmServers { .. } => "list MDM servers",
            Call::MdmServerDevices { .. } => "MDM server devices",
            Call::CreateActivity { .. } => "create device activity",
            Call::GetActivity(_) => "get device activity",
        }
    }

    /// The request to `base_url` (normally [`Program::base_url`]) with the bearer `token`.
    pub fn request(&self, base_url: &str, token: &str) -> Result<http::Request<Vec<u8>>, Error> {
        let (method, path, query, body) = match self {
            Call::ListOrgDevices { limit, cursor } => (
                http::Method::GET,
                "/v1/orgDevices".to_string(),
                paging(*limit, cursor.as_deref())?,
                None,
            ),
            Call::GetOrgDevice(id) => (
                http::Method::GET,
                format!("/v1/orgDevices/{}", path_id(id, "device ID")?),
                Vec::new(),
                None,
            ),
            Call::AssignedServer(id) => (
                http::Method::GET,
                format!(
                    "/v1/orgDevices/{}/relationships/assignedServer",
                    path_id(id, "device ID")?
                ),
                Vec::new(),
                None,
            ),
            Call::ListMdmServers { limit, cursor } => (
                http::Method::GET,
                "/v1/mdmServers".to_string(),
                paging(*limit, cursor.as_deref())?,
                None,
            ),
            Call::MdmServerDevices {
                server,
                limit,
                cursor,
            } => (
                http::Method::GET,
                format!(
                    "/v1/mdmServers/{}/relationships/devices",
                    path_id(server, "server ID")?
                ),
                paging(*limit, cursor.as_deref())?,
                None,
            ),
            Call::CreateActivity {
                activity,
                server,
                devices,
            } => (
                http::Method::POST,
                "/v1/orgDeviceActivities".to_string(),
                Vec::new(),
                Some(activity_body(activity, server.as_deref(), devices)?),
            ),
            Call::GetActivity(id) => (
                http::Method::GET,
                format!("/v1/orgDeviceActivities/{}", path_id(id, "activity ID")?),
                Vec::new(),
                None,
            ),
        };
        let mut url = format!("{}{path}", base_url.trim_end_matches('/'));
        if !query.is_empty() {
            let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            url.push('?');
            url.push_str(&form_encode(&pairs));
        }
        let auth = http::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::InvalidInput {
                what: "access token",
                reason: "not a valid header value".into(),
            }
        })?;
        let mut b = http::Request::builder()
            .method(method)
            .uri(url)
            .header(http::header::AUTHORIZATION, auth)
            .header(http::header::ACCEPT, "application/json");
        if body.is_some() {
            b = b.header(http::header::CONTENT_TYPE, "application/json");
        }
        b.body(body.unwrap_or_default())
            .map_err(|e| Error::InvalidInput {
                what: "base URL",
                reason: e.to_string(),
            })
    }
}

fn activity_body(
    activity: &OrgDeviceActivityType,
    server: Option<&str>,
    devices: &[String],
) -> Result<Vec<u8>, Error> {
    if devices.is_empty() || devices.len() > MAX_PAGE_LIMIT as usize {
        return Err(Error::InvalidInput {
            what: "devices",
            reason: format!(
                "{} devices: 1 to {MAX_PAGE_LIMIT} per activity",
                devices.len()
            ),
        });
    }
    if *activity == OrgDeviceActivityType::AssignDevices && server.is_none() {
        return Err(Error::InvalidInput {
            what: "server",
            reason: "assigning devices needs an MDM server".into(),
        });
    }
    let devices: Vec<Linkage> = devices
        .iter()
        .map(|d| Linkage {
            kind: "orgDevices".into(),
            id: d.clone(),
        })
        .collect();
    let mut relationships = serde_json::json!({ "devices": { "data": devices } });
    if let Some(s) = server {
        relationships["mdmServer"] =
            serde_json::json!({ "data": { "type": "mdmServers", "id": s } });
    }
    // Through the generated type, so the body is what the schema describes.
    let request: OrgDeviceActivityCreateRequest = serde_json::from_value(serde_json::json!({
        "data": {
            "type": "orgDeviceActivities",
            "attributes": { "activityType": activity.as_str() },
            "relationships": relationships,
        }
    }))
    .map_err(|e| Error::InvalidInput {
        what: "device activity",
        reason: e.to_string(),
    })?;
    serde_json::to_vec(&request).map_err(|e| Error::InvalidInput {
        what: "device activity",
        reason: e.to_string(),
    })
}

fn check(
    status: http::StatusCode,
    headers: &http::HeaderMap,
    body: &[u8],
    context: &'static str,
) -> Result<(), Error> {
    if body.len() > MAX_BODY {
        return Err(Error::BodyTooLarge {
            context,
            len: body.len(),
            limit: MAX_BODY,
        });
    }
    if status.is_success() {
        return Ok(());
    }
    let errors = serde_json::from_slice::<ErrorResponse>(body)
        .ok()
        .and_then(|e| e.errors)
        .unwrap_or_default();
    Err(Error::Api {
        context,
        status: status.as_u16(),
        retry_after: retry_after(headers),
        errors: errors
            .into_iter()
            .map(|e| crate::error::ApiError {
                code: e.code,
                status: e.status,
                title: e.title,
                detail: e.detail,
            })
            .collect(),
    })
}

/// Parses the answer of a call into `T` (a [`Page`] or [`Single`] of the generated types):
/// [`Error::Api`] on a failed status, [`Error::Decode`] naming the field on a body that does
/// not match.
pub fn parse_response<T: serde::de::DeserializeOwned>(
    call: &Call,
    status: http::StatusCode,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<T, Error> {
    check(status, headers, body, call.name())?;
    decode_body(body, call.name())
}

/// Whether an activity is finished (`COMPLETED`, `FAILED` or `STOPPED`): polling stops.
pub fn activity_done(activity: &OrgDeviceActivity) -> bool {
    use OrgDeviceActivityAttributesStatus as S;
    activity
        .attributes
        .as_ref()
        .and_then(|a| a.status.as_ref())
        .is_some_and(|s| matches!(s, S::Completed | S::Failed | S::Stopped))
}

/// The async client (feature `client`): token caching and renewal, retries on throttling,
/// paging, activity polling; over the workspace's HTTP stack (reqwest, rustls).
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client {
    use std::sync::{Mutex, PoisonError};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::*;

    /// The most pages one listing follows (a bound on a service that never ends a listing).
    pub const MAX_PAGES: usize = 10_000;

    /// An Apple Business (or School) Manager API client for one API account.
    #[derive(Debug)]
    pub struct AbmClient {
        creds: Credentials,
        program: Program,
        token_url: String,
        base_url: String,
        http: reqwest::Client,
        cache: Mutex<TokenCache>,
        max_retries: u32,
        max_wait: Duration,
        timeout: Duration,
    }

    fn transport(e: reqwest::Error) -> Error {
        Error::Transport(Box::new(e))
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    impl AbmClient {
        /// A client for Apple's service.
        pub fn new(creds: Credentials, program: Program) -> Result<Self, Error> {
            Self::with_urls(creds, program, TOKEN_URL, program.base_url())
        }

        /// A client for other URLs (a mock, a proxy).
        pub fn with_urls(
            creds: Credentials,
            program: Program,
            token_url: impl Into<String>,
            base_url: impl Into<String>,
        ) -> Result<Self, Error> {
            Ok(AbmClient {
                creds,
                program,
                token_url: token_url.into(),
                base_url: base_url.into(),
                http: reqwest::Client::builder().build().map_err(transport)?,
                cache: Mutex::new(TokenCache::new(Duration::from_secs(60))),
                max_retries: 3,
                max_wait: Duration::from_secs(60),
                timeout: Duration::from_secs(60),
            })
        }

        /// How often a throttled call (429, 503) is retried, and the longest `Retry-After`
        /// honoured (a longer one is returned as the error). Defaults: 3 and 60 seconds.
        pub fn with_retries(mut self, max_retries: u32, max_wait: Duration) -> Self {
            self.max_retries = max_retries;
            self.max_wait = max_wait;
            self
        }

        /// Renews the token this long before it expires (60 seconds by default).
        pub fn with_token_margin(self, margin: Duration) -> Self {
            AbmClient {
                cache: Mutex::new(TokenCache::new(margin)),
                ..self
            }
        }

        async fn exchange(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> Result<(http::StatusCode, http::HeaderMap, Vec<u8>), Error> {
            let (parts, body) = request.into_parts();
            let mut resp = self
                .http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .timeout(self.timeout)
                .send()
                .await
                .map_err(transport)?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(transport)? {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(Error::BodyTooLarge {
                        context: "ABM response",
                        len: body.len() + chunk.len(),
                        limit: MAX_BODY,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok((status, headers, body))
        }

        /// The cached token, or a new one from the token endpoint.
        pub async fn token(&self) -> Result<String, Error> {
            let t = now();
            if let Some(tok) = self
                .cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(t)
            {
                return Ok(tok.token.clone());
            }
            let jti = uuid::Uuid::new_v4().to_string();
            let assertion = self
                .creds
                .client_assertion(t, Duration::from_secs(600), &jti)?;
            let req = token_request(
                &self.token_url,
                &self.creds.client_id,
                &assertion,
                self.program,
            )?;
            let (status, headers, body) = self.exchange(req).await?;
            let tok = parse_token(status, &headers, &body, t)?;
            let out = tok.token.clone();
            self.cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .put(tok);
            Ok(out)
        }

        /// Sends one call: renews the token once on 401, waits out throttling (`Retry-After`)
        /// up to the retry limit.
        pub async fn call<T: serde::de::DeserializeOwned>(&self, call: &Call) -> Result<T, Error> {
            let mut renewed = false;
            let mut retries = 0;
            loop {
                let token = self.token().await?;
                let req = call.request(&self.base_url, &token)?;
                let (status, headers, body) = self.exchange(req).await?;
                match parse_response::<T>(call, status, &headers, &body) {
                    Err(Error::Api { status: 401, .. }) if !renewed => {
                        renewed = true;
                        self.cache
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .invalidate();
                    }
                    Err(
                        e @ Error::Api {
                            status: 429 | 503, ..
                        },
                    ) if retries < self.max_retries => {
                        let wait = e.retry_after().unwrap_or(Duration::from_secs(1 << retries));
                        if wait > self.max_wait {
                            return Err(e);
                        }
                        retries += 1;
                        tokio::time::sleep(wait).await;
                    }
                    other => return other,
                }
            }
        }

        async fn all<T: serde::de::DeserializeOwned>(
            &self,
            mut make: impl FnMut(Option<String>) -> Call,
        ) -> Result<Vec<T>, Error> {
            let mut out = Vec::new();
            let mut cursor: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let page: Page<T> = self.call(&make(cursor.clone())).await?;
                out.extend(page.data);
                match page
                    .meta
                    .and_then(|m| m.paging.next_cursor)
                    .filter(|c| !c.is_empty())
                {
                    // An echoed cursor would loop forever: it ends the listing.
                    Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                    _ => return Ok(out),
                }
            }
            Err(Error::Invalid {
                field: "meta.paging.nextCursor".into(),
                value: cursor.unwrap_or_default(),
                reason: "the listing did not end within MAX_PAGES pages",
            })
        }

        /// Every device of the organisation, page by page (`limit` per page).
        pub async fn org_devices(&self, limit: Option<u32>) -> Result<Vec<OrgDevice>, Error> {
            self.all(|cursor| Call::ListOrgDevices { limit, cursor })
                .await
        }

        /// One device.
        pub async fn org_device(&self, id: &str) -> Result<OrgDevice, Error> {
            let s: Single<OrgDevice> = self.call(&Call::GetOrgDevice(id.into())).await?;
            Ok(s.data)
        }

        /// The MDM server a device is assigned to (`None` when unassigned).
        pub async fn assigned_server(&self, id: &str) -> Result<Option<Linkage>, Error> {
            let s: Single<Option<Linkage>> = self.call(&Call::AssignedServer(id.into())).await?;
            Ok(s.data)
        }

        /// Every MDM server of the organisation.
        pub async fn mdm_servers(&self) -> Result<Vec<MdmServer>, Error> {
            self.all(|cursor| Call::ListMdmServers {
                limit: None,
                cursor,
            })
            .await
        }

        /// The devices (linkages) of an MDM server.
        pub async fn mdm_server_devices(&self, server: &str) -> Result<Vec<Linkage>, Error> {
            self.all(|cursor| Call::MdmServerDevices {
                server: server.into(),
                limit: Some(MAX_PAGE_LIMIT),
                cursor,
            })
            .await
        }

        /// Starts assigning `devices` to `server`.
        pub async fn assign(
            &self,
            server: &str,
            devices: Vec<String>,
        ) -> Result<OrgDeviceActivity, Error> {
            let s: Single<OrgDeviceActivity> = self
                .call(&Call::CreateActivity {
                    activity: OrgDeviceActivityType::AssignDevices,
                    server: Some(server.into()),
                    devices,
                })
                .await?;
            Ok(s.data)
        }

        /// Starts unassigning `devices` from their server.
        pub async fn unassign(&self, devices: Vec<String>) -> Result<OrgDeviceActivity, Error> {
            let s: Single<OrgDeviceActivity> = self
                .call(&Call::CreateActivity {
                    activity: OrgDeviceActivityType::UnassignDevices,
                    server: None,
                    devices,
                })
                .await?;
            Ok(s.data)
        }

        /// One activity's state.
        pub async fn activity(&self, id: &str) -> Result<OrgDeviceActivity, Error> {
            let s: Single<OrgDeviceActivity> = self.call(&Call::GetActivity(id.into())).await?;
            Ok(s.data)
        }

        /// Polls an activity every `interval` until it is done ([`activity_done`]), at most
        /// `max_polls` times; the last state either way.
        pub async fn wait_activity(
            &self,
            id: &str,
            interval: Duration,
            max_polls: u32,
        ) -> Result<OrgDeviceActivity, Error> {
            let mut last = self.activity(id).await?;
            for _ in 1..max_polls {
                if activity_done(&last) {
                    break;
                }
                tokio::time::sleep(interval).await;
                last = self.activity(id).await?;
            }
            Ok(last)
        }
    }
}
