//! GDMF, Apple's public catalogue of OS releases (`https://gdmf.apple.com/v2/pmv`): the
//! sans-I/O core (request, parse) and [`latest_supported`], the answer to "which version may
//! this device be told to install, and until when".
//!
//! The types are generated from `other/schemas/gdmf.json` ([`crate::generated::gdmf`]).

use time::Date;
use time::macros::format_description;

use crate::error::{Error, check_status, cut, decode_body};
pub use crate::generated::gdmf::{Gdmf as Catalog, Os, Release};

/// Apple's catalogue URL.
pub const URL: &str = "https://gdmf.apple.com/v2/pmv";

/// Which list of the catalogue to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AssetSet {
    /// `AssetSets`: the releases device management may push (the default).
    #[default]
    Managed,
    /// `PublicAssetSets`: the latest releases offered to everyone.
    Public,
    /// `PublicRapidSecurityResponses`.
    RapidSecurityResponses,
}

impl AssetSet {
    /// The key of the list in the catalogue.
    pub fn key(self) -> &'static str {
        match self {
            AssetSet::Managed => "AssetSets",
            AssetSet::Public => "PublicAssetSets",
            AssetSet::RapidSecurityResponses => "PublicRapidSecurityResponses",
        }
    }

    fn of(self, catalog: &Catalog) -> Option<&Os> {
        match self {
            AssetSet::Managed => catalog.asset_sets.as_ref(),
            AssetSet::Public => catalog.public_asset_sets.as_ref(),
            AssetSet::RapidSecurityResponses => catalog.public_rapid_security_responses.as_ref(),
        }
    }
}

/// The `GET` request for the catalogue at `url` (normally [`URL`]).
pub fn request(url: &str) -> Result<http::Request<Vec<u8>>, Error> {
    http::Request::get(url)
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|e| Error::InvalidInput {
            what: "URL",
            reason: e.to_string(),
        })
}

/// Parses the answer: [`Error::Http`] on a failed status, else the catalogue.
pub fn parse_response(
    status: http::StatusCode,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<Catalog, Error> {
    check_status(status, headers, body, "GDMF")?;
    parse(body)
}

/// Parses a catalogue body.
pub fn parse(body: &[u8]) -> Result<Catalog, Error> {
    decode_body(body, "GDMF")
}

/// What [`latest_supported`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Supported {
    /// `ProductVersion`, such as `18.2.1`.
    pub version: String,
    /// `Build`, if the catalogue names it.
    pub build: Option<String>,
    /// `PostingDate`.
    pub posted: Option<Date>,
    /// `ExpirationDate`: after it the release can no longer be installed (the deadline to
    /// put in a software-update declaration must come before it). `None`: not expiring.
    pub expires: Option<Date>,
}

fn date(value: &str, field: impl FnOnce() -> String) -> Result<Date, Error> {
    Date::parse(value, format_description!("[year]-[month]-[day]")).map_err(|_| Error::Invalid {
        field: field(),
        value: cut(value),
        reason: "not a date of the form YYYY-MM-DD",
    })
}

/// A version as numbers: `18.2.1` -> `[18, 2, 1]` (trailing zeros dropped, so `18.2.0` equals
/// `18.2`).
fn version_key(value: &str, field: impl FnOnce() -> String) -> Result<Vec<u64>, Error> {
    let mut parts = Vec::new();
    for p in value.split('.') {
        match p.parse::<u64>() {
            Ok(n) if parts.len() < 8 => parts.push(n),
            _ => {
                return Err(Error::Invalid {
                    field: field(),
                    value: cut(value),
                    reason: "not a version of up to 8 dotted numbers",
                });
            }
        }
    }
    while parts.last() == Some(&0) {
        parts.pop();
    }
    Ok(parts)
}

/// The newest release of `platform` (a key of the catalogue: `iOS`, `macOS`, `visionOS`) in
/// the [`AssetSet::Managed`] list that supports `product_type` (the device's `ProductName`,
/// such as `iPhone15,2` or `Mac14,3`), is posted on or before `today` and has not expired
/// (an expiration date, if any, after `today`). `Ok(None)` when there is none.
///
/// A date or version in a candidate release that is malformed is an [`Error::Invalid`] naming
/// its place (`AssetSets.iOS[3].ExpirationDate`), not a silent skip.
pub fn latest_supported(
    catalog: &Catalog,
    product_type: &str,
    platform: &str,
    today: Date,
) -> Result<Option<Supported>, Error> {
    latest_in(catalog, AssetSet::Managed, product_type, platform, today)
}

/// [`latest_supported`] over another list of the catalogue.
pub fn latest_in(
    catalog: &Catalog,
    set: AssetSet,
    product_type: &str,
    platform: &str,
    today: Date,
) -> Result<Option<Supported>, Error> {
    let Some(releases) = set.of(catalog).and_then(|os| os.get(platform)) else {
        return Ok(None);
    };
    let mut best: Option<(Vec<u64>, Supported)> = None;
    for (i, r) in releases.iter().enumerate() {
        let place = |key: &str| format!("{}.{platform}[{i}].{key}", set.key());
        let supports = r
            .supported_devices
            .as_deref()
            .is_some_and(|d| d.iter().any(|m| m == product_type));
        if !supports {
            continue;
        }
        let Some(version) = r.product_version.as_deref() else {
            continue;
        };
        let key = version_key(version, || place("ProductVersion"))?;
        let posted = r
            .posting_date
            .as_deref()
            .map(|d| date(d, || place("PostingDate")))
            .transpose()?;
        let expires = r
            .expiration_date
            .as_deref()
            .map(|d| date(d, || place("ExpirationDate")))
            .transpose()?;
        if posted.is_some_and(|p| p > today) || expires.is_some_and(|e| e <= today) {
            continue;
        }
        if best.as_ref().is_some_and(|(k, _)| *k >= key) {
            continue;
        }
        best = Some((
            key,
            Supported {
                version: version.to_string(),
                build: r.build.clone(),
                posted,
                expires,
            },
        ));
    }
    Ok(best.map(|(_, s)| s))
}

/// The async client: `GET` the catalogue over the workspace's HTTP stack (reqwest, rustls).
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client {
    use std::time::Duration;

    use super::{Catalog, URL, parse_response};
    use crate::error::{Error, MAX_BODY};

    /// A GDMF client for one catalogue URL.
    #[derive(Debug, Clone)]
    pub struct GdmfClient {
        url: String,
        timeout: Duration,
        client: reqwest::Client,
    }

    fn transport(e: reqwest::Error) -> Error {
        Error::Transport(Box::new(e))
    }

    impl GdmfClient {
        /// A client for Apple's catalogue ([`URL`]), trusting the system's roots.
        pub fn new() -> Result<Self, Error> {
            Self::with_url(URL)
        }

        /// A client for another URL (a mirror, a mock).
        pub fn with_url(url: impl Into<String>) -> Result<Self, Error> {
            let client = reqwest::Client::builder().build().map_err(transport)?;
            Ok(GdmfClient {
                url: url.into(),
                timeout: Duration::from_secs(30),
                client,
            })
        }

        /// Also trusts the certificates of `pem` (gdmf.apple.com's chain ends at Apple's own
        /// root, which not every system store holds).
        pub fn with_extra_roots_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(transport)?;
            if certs.is_empty() {
                return Err(Error::InvalidInput {
                    what: "root certificates",
                    reason: "no PEM certificate".into(),
                });
            }
            let mut builder = reqwest::Client::builder();
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
            self.client = builder.build().map_err(transport)?;
            Ok(self)
        }

        /// Sends through `client` (shared, or set up by the caller).
        pub fn with_reqwest_client(mut self, client: reqwest::Client) -> Self {
            self.client = client;
            self
        }

        /// Sets the timeout of each request (30 seconds by default).
        pub fn with_timeout(mut self, timeout: Duration) -> Self {
            self.timeout = timeout;
            self
        }

        /// Fetches and parses the catalogue.
        pub async fn fetch(&self) -> Result<Catalog, Error> {
            let request = super::request(&self.url)?;
            let (parts, _) = request.into_parts();
            let mut resp = self
                .client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .timeout(self.timeout)
                .send()
                .await
                .map_err(transport)?;
            let too_large = |len| Error::BodyTooLarge {
                context: "GDMF",
                len,
                limit: MAX_BODY,
            };
            if let Some(n) = resp.content_length().filter(|n| *n > MAX_BODY as u64) {
                return Err(too_large(usize::try_from(n).unwrap_or(usize::MAX)));
            }
            let status = resp.status();
            let headers = resp.headers().clone();
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(transport)? {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(too_large(body.len() + chunk.len()));
                }
                body.extend_from_slice(&chunk);
            }
            parse_response(status, &headers, &body)
        }
    }
}
