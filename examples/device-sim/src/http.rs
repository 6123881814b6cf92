//! The device's HTTP connection to its server, on the workspace's one HTTP client
//! (`mdm-http-client`: `http://` and `https://`, system roots or a CA file).

use std::sync::OnceLock;

use bytes::Bytes;
pub use mdm_http_client::{Client, Trust};

use crate::Error;

/// Largest answer body read, in bytes (a command plist is limited to 10 MiB by the server).
pub const MAX_ANSWER: usize = mdm_http_client::DEFAULT_MAX_ANSWER;

/// An answer from the server.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// Response body.
    pub body: Bytes,
}

/// The client of devices that were given none: HTTPS trusts the system's roots. Built once.
pub fn default_client() -> Result<Client, Error> {
    static DEFAULT: OnceLock<Result<Client, String>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| Client::new(&Trust::System).map_err(|e| e.to_string()))
        .clone()
        .map_err(Error::Http)
}

/// A device's connection to one server (kept alive by the client's pool).
#[derive(Debug, Clone)]
pub struct Connection {
    base: String,
    client: Client,
}

impl Connection {
    /// A connection to `base` (`http://host:port` or `https://host:port`) on the default
    /// client.
    pub fn new(base: &str) -> Result<Self, Error> {
        Self::with_client(base, default_client()?)
    }

    /// A connection to `base` on `client` (one with a CA file, or shared by many devices).
    pub fn with_client(base: &str, client: Client) -> Result<Self, Error> {
        mdm_http_client::check_url(base).map_err(|e| Error::Config(e.to_string()))?;
        let uri: http::Uri = base
            .parse()
            .map_err(|e| Error::Config(format!("bad server URL {base}: {e}")))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(Error::Config(format!("no host in {base}")));
        };
        Ok(Connection {
            base: format!("{scheme}://{authority}"),
            client,
        })
    }

    /// The client underneath.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends a request to a path (`/mdm`) on this server, or to a full URL.
    pub async fn send(
        &mut self,
        method: http::Method,
        path_or_url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Answer, Error> {
        let url = if path_or_url.starts_with('/') {
            format!("{}{path_or_url}", self.base)
        } else {
            path_or_url.to_owned()
        };
        let mut all = Vec::with_capacity(headers.len() + 1);
        all.push(("user-agent", "device-sim/0.1 MDM/1.0".to_owned()));
        all.extend(headers.iter().cloned());
        let answer = self
            .client
            .send(method, &url, &all, body)
            .await
            .map_err(|e| Error::Http(e.to_string()))?;
        Ok(Answer {
            status: answer.status,
            body: answer.body,
        })
    }
}
