//! The App and Book Management (Apps and Books, VPP) API: the sans-I/O core.
//!
//! Every call is authenticated by the location's content token (sToken) as a bearer token;
//! [`Call`] builds the requests (service config, assets, associate, disassociate, event
//! status) and [`parse_response`] decodes answers into the types generated from
//! `anb/schemas`. A refusal is [`Error::Api`] with Apple's `errorNumber` as its code and
//! `Retry-After` (Apple throttles with 429 and 503).

use crate::error::{ApiError, Error, MAX_BODY, decode_body, retry_after};
pub use crate::generated::anb::*;

/// Apple's Apps and Books service.
pub const BASE_URL: &str = "https://vpp.itunes.apple.com/mdm/v2";

/// The most serial numbers or users plus assets one associate or disassociate call takes.
pub const MAX_MANAGE: usize = 25;

/// One API call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Call {
    /// `GET /service/config`: the service's URLs and limits.
    ServiceConfig,
    /// `GET /assets?pageIndex=N`: one page of the location's assets.
    Assets {
        /// The page (0 first).
        page_index: u32,
    },
    /// `POST /assets/associate`: assign assets to devices (serial numbers) or users.
    Associate(ManageAssetsRequest),
    /// `POST /assets/disassociate`.
    Disassociate(ManageAssetsRequest),
    /// `GET /status?eventId=…`: the state of an asynchronous event.
    EventStatus(String),
}

fn check_manage(r: &ManageAssetsRequest) -> Result<(), Error> {
    let serials = r.serial_numbers.as_ref().map_or(0, Vec::len);
    let users = r.client_user_ids.as_ref().map_or(0, Vec::len);
    if r.assets.is_empty() || serials + users == 0 {
        return Err(Error::InvalidInput {
            what: "manage assets request",
            reason: "needs assets and serial numbers or users".into(),
        });
    }
    if serials > MAX_MANAGE || users > MAX_MANAGE || r.assets.len() > MAX_MANAGE {
        return Err(Error::InvalidInput {
            what: "manage assets request",
            reason: format!("more than {MAX_MANAGE} assets, serial numbers or users"),
        });
    }
    Ok(())
}

impl Call {
    /// What the call is called in errors.
    pub fn name(&self) -> &'static str {
        match self {
            Call::ServiceConfig => "service config",
            Call::Assets { .. } => "assets",
            Call::Associate(_) => "associate assets",
            Call::Disassociate(_) => "disassociate assets",
            Call::EventStatus(_) => "event status",
        }
    }

    /// The request to `base_url` (normally [`BASE_URL`]) with the location's sToken.
    pub fn request(&self, base_url: &str, s_token: &str) -> Result<http::Request<Vec<u8>>, Error> {
        let (method, target, body) = match self {
            Call::ServiceConfig => (http::Method::GET, "/service/config".to_string(), None),
            Call::Assets { page_index } => (
                http::Method::GET,
                format!("/assets?pageIndex={page_index}"),
                None,
            ),
            Call::Associate(r) | Call::Disassociate(r) => {
                check_manage(r)?;
                let path = if matches!(self, Call::Associate(_)) {
                    "/assets/associate"
                } else {
                    "/assets/disassociate"
                };
                let body = serde_json::to_vec(r).map_err(|e| Error::InvalidInput {
                    what: "manage assets request",
                    reason: e.to_string(),
                })?;
                (http::Method::POST, path.to_string(), Some(body))
            }
            Call::EventStatus(id) => {
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(Error::InvalidInput {
                        what: "event ID",
                        reason: format!("{:?} is not an event ID", crate::error::cut(id)),
                    });
                }
                (http::Method::GET, format!("/status?eventId={id}"), None)
            }
        };
        let auth = http::HeaderValue::from_str(&format!("Bearer {s_token}")).map_err(|_| {
            Error::InvalidInput {
                what: "sToken",
                reason: "not a valid header value".into(),
            }
        })?;
        let mut b = http::Request::builder()
            .method(method)
            .uri(format!("{}{target}", base_url.trim_end_matches('/')))
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

/// Parses an answer into `T` ([`EventResponse`] for associate and disassociate, or a
/// `serde_json::Value` for the calls the schemas do not describe yet). A failed status is
/// [`Error::Api`] with Apple's `errorNumber` (as the code) and `errorMessage`.
pub fn parse_response<T: serde::de::DeserializeOwned>(
    call: &Call,
    status: http::StatusCode,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<T, Error> {
    let context = call.name();
    if body.len() > MAX_BODY {
        return Err(Error::BodyTooLarge {
            context,
            len: body.len(),
            limit: MAX_BODY,
        });
    }
    if !status.is_success() {
        let errors = serde_json::from_slice::<ErrorResponse>(body)
            .ok()
            .filter(|e| e.error_number.is_some() || e.error_message.is_some())
            .map(|e| ApiError {
                code: e.error_number.map(|n| n.to_string()).unwrap_or_default(),
                status: status.as_u16().to_string(),
                title: String::new(),
                detail: e.error_message.unwrap_or_default(),
            })
            .into_iter()
            .collect();
        return Err(Error::Api {
            context,
            status: status.as_u16(),
            retry_after: retry_after(headers),
            errors,
        });
    }
    decode_body(body, context)
}

/// The async client (feature `client`): the sToken on every call, throttled calls retried
/// after `Retry-After` (bounded), over the workspace's HTTP stack (reqwest, rustls).
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client {
    use std::time::Duration;

    use super::*;

    /// An Apps and Books client for one location (one sToken).
    pub struct AnbClient {
        s_token: String,
        base_url: String,
        http: reqwest::Client,
        max_retries: u32,
        max_wait: Duration,
    }

    impl std::fmt::Debug for AnbClient {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("AnbClient")
                .field("s_token", &"<redacted>")
                .field("base_url", &self.base_url)
                .finish_non_exhaustive()
        }
    }

    fn transport(e: reqwest::Error) -> Error {
        Error::Transport(Box::new(e))
    }

    impl AnbClient {
        /// A client for `base_url` (normally [`BASE_URL`]) with the location's sToken.
        pub fn new(s_token: impl Into<String>, base_url: impl Into<String>) -> Result<Self, Error> {
            Ok(AnbClient {
                s_token: s_token.into(),
                base_url: base_url.into(),
                http: reqwest::Client::builder().build().map_err(transport)?,
                max_retries: 3,
                max_wait: Duration::from_secs(60),
            })
        }

        /// How often a throttled call (429, 503) is retried, and the longest `Retry-After`
        /// honoured. Defaults: 3 and 60 seconds.
        pub fn with_retries(mut self, max_retries: u32, max_wait: Duration) -> Self {
            self.max_retries = max_retries;
            self.max_wait = max_wait;
            self
        }

        /// Sends one call.
        pub async fn call<T: serde::de::DeserializeOwned>(&self, call: &Call) -> Result<T, Error> {
            let mut retries = 0;
            loop {
                let (parts, body) = call.request(&self.base_url, &self.s_token)?.into_parts();
                let mut resp = self
                    .http
                    .request(parts.method, parts.uri.to_string())
                    .headers(parts.headers)
                    .body(body)
                    .timeout(Duration::from_secs(60))
                    .send()
                    .await
                    .map_err(transport)?;
                let status = resp.status();
                let headers = resp.headers().clone();
                let mut bytes = Vec::new();
                while let Some(chunk) = resp.chunk().await.map_err(transport)? {
                    if bytes.len() + chunk.len() > MAX_BODY {
                        return Err(Error::BodyTooLarge {
                            context: call.name(),
                            len: bytes.len() + chunk.len(),
                            limit: MAX_BODY,
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                match parse_response::<T>(call, status, &headers, &bytes) {
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

        /// The service configuration (as sent; the schemas do not describe it yet).
        pub async fn service_config(&self) -> Result<serde_json::Value, Error> {
            self.call(&Call::ServiceConfig).await
        }

        /// One page of assets (as sent).
        pub async fn assets(&self, page_index: u32) -> Result<serde_json::Value, Error> {
            self.call(&Call::Assets { page_index }).await
        }

        /// Assigns assets; the answer names the event to poll.
        pub async fn associate(
            &self,
            request: ManageAssetsRequest,
        ) -> Result<EventResponse, Error> {
            self.call(&Call::Associate(request)).await
        }

        /// Unassigns assets; the answer names the event to poll.
        pub async fn disassociate(
            &self,
            request: ManageAssetsRequest,
        ) -> Result<EventResponse, Error> {
            self.call(&Call::Disassociate(request)).await
        }

        /// The state of an event (as sent: `eventStatus`, failures per asset).
        pub async fn event_status(&self, event_id: &str) -> Result<serde_json::Value, Error> {
            self.call(&Call::EventStatus(event_id.into())).await
        }
    }
}
