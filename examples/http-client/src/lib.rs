#![doc = include_str!("../README.md")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

/// Largest answer body read by default, in bytes (a command plist is limited to 10 MiB by
/// the server).
pub const DEFAULT_MAX_ANSWER: usize = 16 * 1024 * 1024;

/// Default time limit of one request, headers and body together.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What the client can go wrong with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The CA file could not be read.
    #[error("CA file {path}: {source}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The CA file holds no certificate, or one that cannot be parsed.
    #[error("CA file {path}: {reason}")]
    BadCa {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The URL is not an `http://` or `https://` URL.
    #[error("bad URL {url}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The request failed below HTTP (connect, TLS, timeout) or the answer broke off.
    #[error("{url}: {source}")]
    Transport {
        /// The URL.
        url: String,
        /// The cause, as reqwest names it.
        source: reqwest::Error,
    },
    /// The answer body is larger than the limit.
    #[error("{url}: the answer is larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// The client could not be built (TLS setup).
    #[error("HTTP client: {0}")]
    Build(reqwest::Error),
}

/// Which certificates HTTPS trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Trust {
    /// The system's roots (rustls-platform-verifier).
    #[default]
    System,
    /// Only the certificates in this PEM file (a private CA, a self-signed server).
    CaFile(PathBuf),
    /// Only these PEM certificates.
    CaPem(Vec<u8>),
}

impl Trust {
    /// `CaFile` for `Some(path)`, `System` for `None` (as a `--ca-file` flag gives it).
    pub fn from_ca_file(path: Option<&Path>) -> Self {
        path.map_or(Trust::System, |p| Trust::CaFile(p.to_owned()))
    }
}

/// An answer from the server.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// Response body.
    pub body: Bytes,
}

/// An HTTP client; cheap to clone (clones share one connection pool).
#[derive(Debug, Clone)]
pub struct Client {
    inner: reqwest::Client,
    max_answer: usize,
}

impl Client {
    /// A client that trusts `trust` for HTTPS, with [`DEFAULT_TIMEOUT`] and
    /// [`DEFAULT_MAX_ANSWER`].
    pub fn new(trust: &Trust) -> Result<Self, Error> {
        Self::with_timeout(trust, DEFAULT_TIMEOUT)
    }

    /// Like [`Client::new`], with another time limit per request.
    pub fn with_timeout(trust: &Trust, timeout: Duration) -> Result<Self, Error> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .tcp_nodelay(true)
            .user_agent(concat!("apple-mdm-rs/", env!("CARGO_PKG_VERSION")));
        let pem = match trust {
            Trust::System => None,
            Trust::CaFile(path) => Some((
                path.clone(),
                std::fs::read(path).map_err(|source| Error::CaFile {
                    path: path.clone(),
                    source,
                })?,
            )),
            Trust::CaPem(pem) => Some((PathBuf::from("(PEM given)"), pem.clone())),
        };
        if let Some((path, pem)) = pem {
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| Error::BadCa {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            if certs.is_empty() {
                return Err(Error::BadCa {
                    path,
                    reason: "no PEM certificate in it".into(),
                });
            }
            builder = builder.tls_certs_only(certs);
        }
        Ok(Client {
            inner: builder.build().map_err(Error::Build)?,
            max_answer: DEFAULT_MAX_ANSWER,
        })
    }

    /// Reads answers up to `limit` bytes (larger ones fail with [`Error::TooLarge`]).
    pub fn with_max_answer(mut self, limit: usize) -> Self {
        self.max_answer = limit;
        self
    }

    /// The reqwest client underneath, for callers that need more than [`Client::send`].
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.inner
    }

    /// Sends one request to `url` (`http://` or `https://`) and reads the answer.
    pub async fn send(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Answer, Error> {
        check_url(url)?;
        let mut request = self.inner.request(method, url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if !body.is_empty() {
            request = request.body(body);
        }
        let transport = |source| Error::Transport {
            url: url.to_owned(),
            source,
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let too_large = || Error::TooLarge {
            url: url.to_owned(),
            limit: self.max_answer,
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.max_answer as u64)
        {
            return Err(too_large());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > self.max_answer {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            content_type,
            body: body.freeze(),
        })
    }
}

/// Refuses anything but `http://host...` and `https://host...`, with a reason.
pub fn check_url(url: &str) -> Result<(), Error> {
    let bad = |reason: &str| Error::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("only http:// and https:// URLs are supported"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(bad("no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_without_scheme_or_host_are_refused() {
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("http://").is_err());
        assert!(check_url("https:///path").is_err());
        assert!(check_url("127.0.0.1:9000").is_err());
        assert!(check_url("https://mdm.example.com/v1").is_ok());
        assert!(check_url("http://127.0.0.1:9000").is_ok());
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let e = Client::new(&Trust::CaPem(b"not a certificate".to_vec())).unwrap_err();
        assert!(matches!(e, Error::BadCa { .. }), "{e}");
    }
}
