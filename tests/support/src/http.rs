//! The HTTP test client the workspace's tests share: one HTTP/1.1 request on a new connection
//! (`Connection: close`), written byte for byte as given and read to the end.
//!
//! Tests use it to speak to servers the way hostile or unusual peers do (raw bodies, odd
//! headers, a 413 before the body is sent), which a full client library would smooth over.
//! [`request_blocking`] is plain `std`; [`request`] (feature `tokio`) is the same on tokio, for
//! tests whose server runs on the test's own runtime.
//!
//! ```no_run
//! let answer = mdm_test_support::http::request_blocking(
//!     "127.0.0.1:8080", "GET", "/version", &[], b"");
//! assert_eq!(answer.status, 200);
//! ```

use std::time::Duration;

/// How long a test waits for a whole response.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A response: status, headers in order, body (de-chunked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The header fields, in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, with `Transfer-Encoding: chunked` undone.
    pub body: Vec<u8>,
}

impl Response {
    /// Parses a whole HTTP/1.1 response.
    ///
    /// # Panics
    /// When it is not one (tests only).
    pub fn parse(raw: &[u8]) -> Response {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
        let head = String::from_utf8_lossy(&raw[..split]);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not a status line: {status_line:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let mut response = Response {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        };
        if response
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            response.body = dechunk(&response.body);
        }
        response
    }

    /// The body as JSON.
    ///
    /// # Panics
    /// When it is not JSON, naming the status and the body.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            panic!("chunked body without a chunk size line");
        };
        let size = std::str::from_utf8(&rest[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or_else(|| {
                panic!("bad chunk size {:?}", String::from_utf8_lossy(&rest[..eol]))
            });
        rest = &rest[eol + 2..];
        if size == 0 {
            return out;
        }
        assert!(rest.len() >= size, "chunk of {size} bytes cut short");
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

/// The request head: request line, `Host`, `Connection: close`, `Content-Length`, then
/// `headers` as given.
fn head(host: &str, method: &str, target: &str, headers: &[(&str, &str)], len: usize) -> Vec<u8> {
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {len}\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// One request on a new connection to `addr` (`host:port`), read to the end.
///
/// # Panics
/// When the server cannot be reached or sends no response within [`TIMEOUT`].
pub fn request_blocking(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr)
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let mut out = head(addr, method, target, headers, body.len());
    out.extend_from_slice(body);
    // The server may answer (413) and close before reading everything: keep going.
    let _ = stream.write_all(&out);
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw) {
        assert!(!raw.is_empty(), "reading the response from {addr}: {e}");
    }
    Response::parse(&raw)
}

/// [`request_blocking`] on tokio.
///
/// # Panics
/// When the server cannot be reached or sends no response within [`TIMEOUT`].
#[cfg(feature = "tokio")]
pub async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    let mut out = head(&addr.to_string(), method, target, headers, body.len());
    out.extend_from_slice(body);
    let _ = stream.write_all(&out).await;
    let mut raw = Vec::new();
    let read = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut raw))
        .await
        .unwrap_or_else(|_| panic!("no response from {addr} within {TIMEOUT:?}"));
    if let Err(e) = read {
        assert!(!raw.is_empty(), "reading the response from {addr}: {e}");
    }
    Response::parse(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let plain = Response::parse(b"HTTP/1.1 201 Created\r\nX-A: b\r\n\r\n{\"ok\":1}");
        assert_eq!(plain.status, 201);
        assert_eq!(plain.header("x-a"), Some("b"));
        assert_eq!(plain.json()["ok"], 1);
        let chunked = Response::parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        );
        assert_eq!(chunked.text(), "abcde");
    }

    #[test]
    fn speaks_to_a_real_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            use std::io::{Read as _, Write as _};
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
                .unwrap();
            request
        });
        let answer = request_blocking(&addr, "POST", "/x?y=1", &[("X-T", "1")], b"body");
        assert_eq!((answer.status, answer.text().as_str()), (200, "hi"));
        let request = server.join().unwrap();
        assert!(request.starts_with("POST /x?y=1 HTTP/1.1\r\n"), "{request}");
        assert!(
            request.contains("X-T: 1\r\n") && request.ends_with("\r\n\r\nbody"),
            "{request}"
        );
    }
}
