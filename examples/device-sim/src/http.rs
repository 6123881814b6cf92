//! A minimal HTTP/1.1 client over one kept-alive connection, as a device holds one.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::Error;

/// Largest answer body read, in bytes (a command plist is limited to 10 MiB by the server).
pub const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// An answer from the server.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// Response body.
    pub body: Bytes,
}

/// One HTTP/1.1 connection to a server, reopened when it drops.
#[derive(Debug)]
pub struct Connection {
    authority: String,
    base: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    /// A connection to `base` (`http://host:port`); opened on first use.
    pub fn new(base: &str) -> Result<Self, Error> {
        let uri: http::Uri = base
            .parse()
            .map_err(|e| Error::Config(format!("bad server URL {base}: {e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(Error::Config(format!(
                "only http:// URLs are supported (TLS sits in a proxy in front): {base}"
            )));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| Error::Config(format!("no host in {base}")))?
            .to_string();
        Ok(Connection {
            base: format!("http://{authority}"),
            authority,
            sender: None,
        })
    }

    async fn sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, Error> {
        let usable = self.sender.as_ref().is_some_and(|s| !s.is_closed());
        if !usable {
            let stream = tokio::net::TcpStream::connect(&self.authority).await?;
            stream.set_nodelay(true)?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| Error::Http(e.to_string()))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        self.sender
            .as_mut()
            .ok_or_else(|| Error::Http("no connection".into()))
    }

    /// Closes the connection (it is opened again on the next request).
    pub fn close(&mut self) {
        self.sender = None;
    }

    /// Sends a request to a path or full URL on this server.
    pub async fn send(
        &mut self,
        method: http::Method,
        path_or_url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Answer, Error> {
        let path = path_or_url
            .strip_prefix(&self.base)
            .unwrap_or(path_or_url)
            .to_owned();
        let path = if path.starts_with('/') {
            path
        } else {
            // A URL on another host than the one this connection speaks to.
            let uri: http::Uri = path
                .parse()
                .map_err(|e| Error::Config(format!("bad URL {path}: {e}")))?;
            uri.path_and_query().map_or("/".into(), |p| p.to_string())
        };
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, self.authority.clone())
            .header(http::header::USER_AGENT, "device-sim/0.1 MDM/1.0");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::Http(e.to_string()))?;
        let sender = self.sender().await?;
        sender
            .ready()
            .await
            .map_err(|e| Error::Http(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| Error::Http(e.to_string()))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| Error::Http(e.to_string()))?
            .to_bytes();
        Ok(Answer { status, body })
    }
}
