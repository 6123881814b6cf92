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

/// What the table says about one endpoint, for logs, docs and mocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointInfo {
    /// The HTTP method, such as `POST`.
    pub method: &'static str,
    /// The path, such as `/server/devices`.
    pub path: &'static str,
    /// The name used in errors and logs.
    pub name: &'static str,
}

/// The endpoint table: every DEP call as one line of method, path, name, request and response
/// type (the bodies are the types generated from Apple's schemas or the crate's types over
/// them), and the check of its arguments. Three shapes:
/// - `Type: METHOD "path" => Response, "name";` a call without arguments (a unit struct);
/// - `Type(Request): METHOD "path" => Response, "name", check;` a JSON body;
/// - `Type{query}: METHOD "path" => Response, "name", check, query;` a struct defined beside
///   the table, sent as a query string.
macro_rules! endpoints {
    ($($(#[$m:meta])* $ty:ident $(($req:ty))? $({$q:ident})?: $method:ident $path:literal => $resp:ty, $name:literal $(, $check:expr $(, $query:expr)?)?;)*) => {
        $(endpoints!(@one $(#[$m])* $ty $(($req))? $({$q})?: $method $path => $resp, $name $(, $check $(, $query)?)?);)*

        /// Every endpoint of the table, in its order.
        pub const ENDPOINTS: &[EndpointInfo] = &[
            $(EndpointInfo { method: stringify!($method), path: $path, name: $name },)*
        ];
    };
    (@one $(#[$m:meta])* $ty:ident: $method:ident $path:literal => $resp:ty, $name:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $ty;

        impl Endpoint for $ty {
            type Response = $resp;
            const METHOD: Method = Method::$method;
            const PATH: &'static str = $path;
            const NAME: &'static str = $name;
        }
    };
    (@one $(#[$m:meta])* $ty:ident($req:ty): $method:ident $path:literal => $resp:ty, $name:literal, $check:expr) => {
        $(#[$m])*
        pub struct $ty(pub $req);

        impl Endpoint for $ty {
            type Response = $resp;
            const METHOD: Method = Method::$method;
            const PATH: &'static str = $path;
            const NAME: &'static str = $name;
            fn body(&self) -> Result<Option<Vec<u8>>, Error> {
                json(&self.0, $name)
            }
            fn validate(&self) -> Result<(), Error> {
                let check: fn(&$req) -> Result<(), Error> = $check;
                check(&self.0)
            }
        }
    };
    (@one $(#[$m:meta])* $ty:ident{query}: $method:ident $path:literal => $resp:ty, $name:literal, $check:expr, $query:expr) => {
        impl Endpoint for $ty {
            type Response = $resp;
            const METHOD: Method = Method::$method;
            const PATH: &'static str = $path;
            const NAME: &'static str = $name;
            fn query(&self) -> Result<Option<String>, Error> {
                let query: fn(&$ty) -> String = $query;
                Ok(Some(query(self)))
            }
            fn validate(&self) -> Result<(), Error> {
                let check: fn(&$ty) -> Result<(), Error> = $check;
                check(self)
            }
        }
    };
}

fn no_check<T>(_: &T) -> Result<(), Error> {
    Ok(())
}

fn check_sync(r: &DeviceListRequest) -> Result<(), Error> {
    if r.cursor.as_deref().unwrap_or_default().is_empty() {
        return Err(Error::InvalidInput {
            what: "cursor",
            reason: "a sync needs the cursor of an earlier fetch".into(),
        });
    }
    check_limit(r.limit)
}

fn check_activation_lock(r: &ActivationLockRequest) -> Result<(), Error> {
    if r.device.is_empty() {
        return Err(Error::InvalidInput {
            what: "device",
            reason: "empty serial number".into(),
        });
    }
    Ok(())
}

fn check_profile(p: &Profile) -> Result<(), Error> {
    if p.profile_name.is_empty() || p.url.is_empty() {
        return Err(Error::InvalidInput {
            what: "profile",
            reason: "profile_name and url are required".into(),
        });
    }
    Ok(())
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

endpoints! {
    /// `GET /account`.
    GetAccount: GET "/account" => AccountDetail, "/account";
    /// `POST /server/devices`: fetch every device assigned to this server, page by page.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    FetchDevices(DeviceListRequest): POST "/server/devices" => DeviceListResponse, "fetch devices",
        |r| check_limit(r.limit);
    /// `POST /devices/sync`: the changes since a cursor.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    SyncDevices(DeviceListRequest): POST "/devices/sync" => DeviceListResponse, "sync devices",
        check_sync;
    /// `POST /devices`: details of some devices.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    GetDeviceDetails(DeviceDetailsRequest): POST "/devices" => DeviceDetailsResponse,
        "device details", |r| check_devices(&r.devices);
    /// `POST /devices/disown`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    DisownDevices(DisownRequest): POST "/devices/disown" => DisownResponse, "disown devices",
        |r| check_devices(&r.devices);
    /// `POST /device/activationlock`.
    #[derive(Debug, Clone, Default, PartialEq)]
    ActivationLock(ActivationLockRequest): POST "/device/activationlock" => ActivationLockResponse,
        "activation lock", check_activation_lock;
    /// `POST /profile`: define a profile (and assign it to its `devices`).
    #[derive(Debug, Clone, Default, PartialEq)]
    DefineProfile(Profile): POST "/profile" => DefineProfileResponse, "define profile",
        check_profile;
    GetProfile{query}: GET "/profile" => Profile, "get profile",
        |g| if g.profile_uuid.is_empty() {
            Err(Error::InvalidInput { what: "profile_uuid", reason: "empty".into() })
        } else {
            Ok(())
        },
        |g| format!("profile_uuid={}", crate::session::percent_encode(&g.profile_uuid));
    /// `PUT /profile/devices`: assign a profile.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    AssignProfile(AssignProfileRequest): PUT "/profile/devices" => AssignProfileResponse,
        "assign profile", |r| check_devices(&r.devices);
    /// `DELETE /profile/devices`: remove the profile of some devices.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    RemoveProfile(RemoveProfileRequest): DELETE "/profile/devices" => RemoveProfileResponse,
        "remove profile", |r| check_devices(&r.devices);
    /// `GET /account-driven-enrollment/profile`.
    GetAccountDrivenEnrollmentProfile: GET "/account-driven-enrollment/profile"
        => AccountDrivenEnrollmentProfile, "/account-driven-enrollment/profile";
    /// `PUT /account-driven-enrollment/profile`: set the service discovery URL.
    #[derive(Debug, Clone, Default, PartialEq)]
    AssignAccountDrivenEnrollmentProfile(AccountDrivenEnrollmentProfile):
        PUT "/account-driven-enrollment/profile" => serde_json::Value,
        "assign account-driven enrollment profile", no_check;
    /// `DELETE /account-driven-enrollment/profile`.
    RemoveAccountDrivenEnrollmentProfile: DELETE "/account-driven-enrollment/profile"
        => serde_json::Value, "/account-driven-enrollment/profile";
    /// `GET /os-beta-enrollment/tokens`.
    GetBetaEnrollmentTokens: GET "/os-beta-enrollment/tokens" => BetaEnrollmentTokensResponse,
        "/os-beta-enrollment/tokens";
}

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
