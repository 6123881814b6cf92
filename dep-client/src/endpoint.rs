//! Every endpoint as a typed request: method, path, body and response type, and the sans-I/O
//! request builder and response parser.

use http::{HeaderValue, Method, Request, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Error};
use crate::session::{OAuthParams, authorization_header};
use crate::types::*;

/// Apple's production DEP service.
pub const DEFAULT_BASE_URL: &str = "https://mdmenrollment.apple.com";
/// The `X-Server-Protocol-Version` this crate speaks.
pub const PROTOCOL_VERSION: &str = "3";
/// The largest page Apple serves for fetch and sync.
pub const MAX_PAGE_LIMIT: u32 = 1000;
/// The largest response body accepted (a full page of 1000 devices is well under 1 MiB).
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// The header that carries the session token.
pub const SESSION_HEADER: &str = "x-adm-auth-session";
/// The protocol version header.
pub const PROTOCOL_HEADER: &str = "x-server-protocol-version";

/// A DEP call: its method, path, query, body and the type of its answer.
pub trait Endpoint {
    /// What a successful call returns.
    type Response: DeserializeOwned;
    /// The HTTP method.
    const METHOD: Method;
    /// The path, such as `/server/devices`.
    const PATH: &'static str;
    /// A name for errors and logs.
    const NAME: &'static str;
    /// The query string (without `?`), if any.
    fn query(&self) -> Result<Option<String>, Error> {
        Ok(None)
    }
    /// The JSON body, if any.
    fn body(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(None)
    }
    /// Checks the arguments before anything is sent.
    fn validate(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn json<T: Serialize>(value: &T, what: &'static str) -> Result<Option<Vec<u8>>, Error> {
    serde_json::to_vec(value)
        .map(Some)
        .map_err(|e| Error::InvalidInput {
            what,
            reason: e.to_string(),
        })
}

fn check_limit(limit: Option<u32>) -> Result<(), Error> {
    match limit {
        Some(0) => Err(Error::InvalidInput {
            what: "limit",
            reason: "must be at least 1".into(),
        }),
        Some(n) if n > MAX_PAGE_LIMIT => Err(Error::InvalidInput {
            what: "limit",
            reason: format!("{n} is more than Apple's maximum of {MAX_PAGE_LIMIT}"),
        }),
        _ => Ok(()),
    }
}

fn check_devices(devices: &[String]) -> Result<(), Error> {
    if devices.is_empty() {
        return Err(Error::InvalidInput {
            what: "devices",
            reason: "the list of serial numbers is empty".into(),
        });
    }
    if devices.len() > MAX_PAGE_LIMIT as usize {
        return Err(Error::InvalidInput {
            what: "devices",
            reason: format!(
                "{} serial numbers, more than {MAX_PAGE_LIMIT} in one call",
                devices.len()
            ),
        });
    }
    Ok(())
}

macro_rules! endpoint {
    ($(#[$m:meta])* $ty:ident => $resp:ty, $method:ident, $path:literal) => {
        $(#[$m])*
        impl Endpoint for $ty {
            type Response = $resp;
            const METHOD: Method = Method::$method;
            const PATH: &'static str = $path;
            const NAME: &'static str = $path;
        }
    };
}

/// `GET /account`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GetAccount;
endpoint!(GetAccount => AccountDetail, GET, "/account");

/// `POST /server/devices`: fetch every device assigned to this server, page by page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchDevices(pub DeviceListRequest);

impl Endpoint for FetchDevices {
    type Response = DeviceListResponse;
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/server/devices";
    const NAME: &'static str = "fetch devices";
    fn body(&self) -> Result<Option<Vec<u8>>, Error> {
        json(&self.0, "fetch request")
    }
    fn validate(&self) -> Result<(), Error> {
        check_limit(self.0.limit)
    }
}

/// `POST /devices/sync`: the changes since a cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncDevices(pub DeviceListRequest);

impl Endpoint for SyncDevices {
    type Response = DeviceListResponse;
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/devices/sync";
    const NAME: &'static str = "sync devices";
    fn body(&self) -> Result<Option<Vec<u8>>, Error> {
        json(&self.0, "sync request")
    }
    fn validate(&self) -> Result<(), Error> {
        if self.0.cursor.as_deref().unwrap_or_default().is_empty() {
            return Err(Error::InvalidInput {
                what: "cursor",
                reason: "a sync needs the cursor of an earlier fetch".into(),
            });
        }
        check_limit(self.0.limit)
    }
}

/// `POST /devices`: details of some devices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetDeviceDetails(pub DeviceDetailsRequest);

impl Endpoint for GetDeviceDetails {
    type Response = DeviceDetailsResponse;
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/devices";
    const NAME: &'static str = "device details";
    fn body(&self) -> Result<Option<Vec<u8>>, Error> {
        json(&self.0, "device details request")
    }
    fn validate(&self) -> Result<(), Error> {
        check_devices(&self.0.devices)
    }
}

/// `POST /devices/disown`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisownDevices(pub DisownRequest);

impl Endpoint for DisownDevices {
    type Response = DisownResponse;
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/devices/disown";
    const NAME: &'static str = "disown devices";
    fn body(&self) -> Result<Option<Vec<u8>>, Error> {
        json(&self.0, "disown request")
    }
    fn validate(&self) -> Result<(), Error> {
        check_devices(&self.0.devices)
    }
}

/// `POST /device/activationlock`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivationLock(pub ActivationLockRequest);

impl Endpoint for ActivationLock {
    type Response = ActivationLockResponse;
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/device/activationlock";
    const NAME: &'static str = "activation lock";
    fn body(&self) -> Result<Option<Vec<u8>>, Error> {
        json(&self.0, "activation lock request")
    }
    fn validate(&self) -> Result<(), Error> {
        if self.0.device.is_empty() {
            return Err(Error::InvalidInput {
                what: "device",
                reason: "empty serial number".into(),
            });
        }
        Ok(())
    }
}

/// `POST /profile`: define a profile (and assign it to its `devices`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DefineProfile(pub Profile);

impl Endpoint for DefineProfile {
    type Response = DefineProfileResponse;
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/profile";
    const NAME: &'static str = "define profile";
    fn body(&self) -> Result<Option<Vec<u8>>, Error> {
        json(&self.0, "profile")
    }
    fn validate(&self) -> Result<(), Error> {
        if self.0.profile_name.is_empty() || self.0.url.is_empty() {
            return Err(Error::InvalidInput {
                what: "profile",
                reason: "profile_name and url are required".into(),
            });
        }
        Ok(())
    }
}

/// `GET /profile?profile_uuid=…`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GetProfile {
    /// The profile's UUID.
    pub profile_uuid: String,
}

impl GetProfile {
    /// Gets the profile `profile_uuid`.
    pub fn new(profile_uuid: impl Into<String>) -> Self {
        GetProfile {
            profile_uuid: profile_uuid.into(),
        }
    }
}

impl Endpoint for GetProfile {
    type Response = Profile;
    const METHOD: Method = Method::GET;
    const PATH: &'static str = "/profile";
    const NAME: &'static str = "get profile";
    fn query(&self) -> Result<Option<String>, Error> {
        Ok(Some(format!(
            "profile_uuid={}",
            crate::session::percent_encode(&self.profile_uuid)
        )))
    }
    fn validate(&self) -> Result<(), Error> {
        if self.profile_uuid.is_empty() {
            return Err(Error::InvalidInput {
                what: "profile_uuid",
                reason: "empty".into(),
            });
        }
        Ok(())
    }
}

/// `PUT /profile/devices`: assign a profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignProfile(pub AssignProfileRequest);

impl Endpoint for AssignProfile {
    type Response = AssignProfileResponse;
    const METHOD: Method = Method::PUT;
    const PATH: &'static str = "/profile/devices";
    const NAME: &'static str = "assign profile";
    fn body(&self) -> Result<Option<Vec<u8>>, Error> {
        json(&self.0, "assign profile request")
    }
    fn validate(&self) -> Result<(), Error> {
        check_devices(&self.0.devices)
    }
}

/// `DELETE /profile/devices`: remove the profile of some devices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoveProfile(pub RemoveProfileRequest);

impl Endpoint for RemoveProfile {
    type Response = RemoveProfileResponse;
    const METHOD: Method = Method::DELETE;
    const PATH: &'static str = "/profile/devices";
    const NAME: &'static str = "remove profile";
    fn body(&self) -> Result<Option<Vec<u8>>, Error> {
        json(&self.0, "remove profile request")
    }
    fn validate(&self) -> Result<(), Error> {
        check_devices(&self.0.devices)
    }
}

/// `GET /account-driven-enrollment/profile`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GetAccountDrivenEnrollmentProfile;
endpoint!(GetAccountDrivenEnrollmentProfile => AccountDrivenEnrollmentProfile, GET, "/account-driven-enrollment/profile");

/// `PUT /account-driven-enrollment/profile`: set the service discovery URL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssignAccountDrivenEnrollmentProfile(pub AccountDrivenEnrollmentProfile);

impl Endpoint for AssignAccountDrivenEnrollmentProfile {
    type Response = serde_json::Value;
    const METHOD: Method = Method::PUT;
    const PATH: &'static str = "/account-driven-enrollment/profile";
    const NAME: &'static str = "assign account-driven enrollment profile";
    fn body(&self) -> Result<Option<Vec<u8>>, Error> {
        json(&self.0, "account-driven enrollment profile")
    }
}

/// `DELETE /account-driven-enrollment/profile`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoveAccountDrivenEnrollmentProfile;
endpoint!(RemoveAccountDrivenEnrollmentProfile => serde_json::Value, DELETE, "/account-driven-enrollment/profile");

/// `GET /os-beta-enrollment/tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GetBetaEnrollmentTokens;
endpoint!(GetBetaEnrollmentTokens => BetaEnrollmentTokensResponse, GET, "/os-beta-enrollment/tokens");

/// Where and how requests are sent: base URL, User-Agent and protocol version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The service's base URL, without a trailing slash.
    pub base_url: String,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The `X-Server-Protocol-Version` header.
    pub protocol_version: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            base_url: DEFAULT_BASE_URL.to_string(),
            user_agent: concat!("dep-client-rs/", env!("CARGO_PKG_VERSION")).to_string(),
            protocol_version: PROTOCOL_VERSION.to_string(),
        }
    }
}

impl Config {
    /// Apple's service with this crate's User-Agent.
    pub fn new() -> Self {
        Config::default()
    }

    /// Another base URL (a mock, a proxy).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_string();
        self
    }

    /// Another User-Agent.
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The URL of the session endpoint (what the OAuth signature covers).
    pub fn session_url(&self) -> String {
        format!("{}/session", self.base_url)
    }

    fn header(value: &str, what: &'static str) -> Result<HeaderValue, Error> {
        HeaderValue::from_str(value).map_err(|_| Error::InvalidInput {
            what,
            reason: "not a valid HTTP header value".into(),
        })
    }

    /// The signed `GET /session` request.
    pub fn session_request(
        &self,
        token: &ServerToken,
        params: &OAuthParams,
    ) -> Result<Request<Vec<u8>>, Error> {
        let url = self.session_url();
        let auth = authorization_header(&url, token, params);
        Request::builder()
            .method(Method::GET)
            .uri(&url)
            .header(header::AUTHORIZATION, Self::header(&auth, "server token")?)
            .header(
                header::USER_AGENT,
                Self::header(&self.user_agent, "user agent")?,
            )
            .header(
                PROTOCOL_HEADER,
                Self::header(&self.protocol_version, "protocol version")?,
            )
            .body(Vec::new())
            .map_err(|e| Error::InvalidInput {
                what: "base URL",
                reason: e.to_string(),
            })
    }

    /// The request for an endpoint, authenticated by a session token.
    pub fn request<E: Endpoint>(
        &self,
        endpoint: &E,
        session_token: &str,
    ) -> Result<Request<Vec<u8>>, Error> {
        endpoint.validate()?;
        let mut url = format!("{}{}", self.base_url, E::PATH);
        if let Some(q) = endpoint.query()? {
            url.push('?');
            url.push_str(&q);
        }
        let body = endpoint.body()?;
        let mut builder = Request::builder()
            .method(E::METHOD)
            .uri(&url)
            .header(
                SESSION_HEADER,
                Self::header(session_token, "session token")?,
            )
            .header(
                header::USER_AGENT,
                Self::header(&self.user_agent, "user agent")?,
            )
            .header(
                PROTOCOL_HEADER,
                Self::header(&self.protocol_version, "protocol version")?,
            )
            .header(header::ACCEPT, "application/json");
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json;charset=UTF8");
        }
        builder
            .body(body.unwrap_or_default())
            .map_err(|e| Error::InvalidInput {
                what: "base URL",
                reason: e.to_string(),
            })
    }
}

/// Turns a failed status into [`Error::Api`] and checks the body size.
fn check_status(
    status: StatusCode,
    retry_after: Option<&str>,
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
    if !status.is_success() {
        return Err(ApiError::from_response(status.as_u16(), retry_after, body).into());
    }
    Ok(())
}

/// Parses a response for an endpoint: Apple's error on a failed status, else the typed body.
/// An empty body decodes as JSON `null` (for the endpoints that answer with nothing).
pub fn parse_response<E: Endpoint>(
    status: StatusCode,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<E::Response, Error> {
    let retry_after = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok());
    check_status(status, retry_after, body, E::NAME)?;
    decode_body(body, E::NAME)
}

/// Decodes a JSON body into `T` (an empty body as `null`).
pub fn decode_body<T: DeserializeOwned>(body: &[u8], context: &'static str) -> Result<T, Error> {
    if body.len() > MAX_BODY {
        return Err(Error::BodyTooLarge {
            context,
            len: body.len(),
            limit: MAX_BODY,
        });
    }
    let trimmed = body.trim_ascii();
    let input: &[u8] = if trimmed.is_empty() { b"null" } else { body };
    // serde_path_to_error (already in the tree through axum) tracks the path of the value
    // being decoded, so the error names the field that did not match the schema; serde_json
    // alone only gives a line and column.
    let mut de = serde_json::Deserializer::from_slice(input);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| Error::Decode {
        context,
        path: e.path().to_string(),
        source: e.into_inner(),
    })?;
    de.end().map_err(|source| Error::Decode {
        context,
        path: ".".to_string(),
        source,
    })?;
    Ok(value)
}

/// Parses the answer of `GET /session` into the session token.
pub fn parse_session_response(
    status: StatusCode,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<String, Error> {
    let retry_after = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok());
    check_status(status, retry_after, body, "session")?;
    let session: SessionResponse = decode_body(body, "session")?;
    if session.auth_session_token.is_empty() {
        return Err(Error::Decode {
            context: "session",
            path: "auth_session_token".to_string(),
            source: serde::de::Error::custom("auth_session_token is empty"),
        });
    }
    Ok(session.auth_session_token)
}

/// Same as [`parse_response`] for an [`http::Response`].
pub fn parse<E: Endpoint>(response: &http::Response<Vec<u8>>) -> Result<E::Response, Error> {
    parse_response::<E>(response.status(), response.headers(), response.body())
}
