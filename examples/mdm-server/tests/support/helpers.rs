//! Helpers shared by the integration tests: temporary folders and PostgreSQL schemas.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

/// A fresh schema per test on the server `MDM_TEST_POSTGRES_URL` names (mdm-test-support).
#[allow(unused_imports)]
pub use mdm_test_support::postgres::PgSchema;

/// A fresh temporary folder (removed when dropped).
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

/// The PEM files of one test CA (1024-bit RSA: key generation is slow in debug builds),
/// made once per test binary.
fn test_ca_files() -> &'static (Vec<u8>, Vec<u8>) {
    static CA: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    CA.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mdm-server-ca-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        mdm_server::pki::Pki::load_or_create(&dir, Some("unused"), 1024).unwrap();
        let files = (
            std::fs::read(dir.join(mdm_server::pki::CA_CERT_FILE)).unwrap(),
            std::fs::read(dir.join(mdm_server::pki::CA_KEY_FILE)).unwrap(),
        );
        let _ = std::fs::remove_dir_all(&dir);
        files
    })
}

/// Puts the test CA into a data folder, so a server starting there does not generate one.
pub fn seed_ca(dir: &std::path::Path) {
    let (cert, key) = test_ca_files();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(mdm_server::pki::CA_CERT_FILE), cert).unwrap();
    std::fs::write(dir.join(mdm_server::pki::CA_KEY_FILE), key).unwrap();
}

impl TempDir {
    /// A new folder holding the test CA (see [`seed_ca`]).
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("mdm-server-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        seed_ca(&dir);
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A response read by [`request`].
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a new connection (`Connection: close`), read to the end.
pub async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    // The server may answer (413) and close before reading everything: keep going.
    let _ = stream.write_all(&out).await;
    let mut raw = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut raw),
    )
    .await
    .expect("response timed out");
    if let Err(e) = read {
        assert!(!raw.is_empty(), "reading the response: {e}");
    }
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16)
                .unwrap();
            rest = &rest[eol + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = out;
    }
    Response {
        status,
        headers,
        body,
    }
}

/// Creates an enrollment token through the admin API (`POST /v1/enrollment-tokens` with the
/// JSON `body`) and returns the answer (`token`, `url`, `id`...).
pub async fn enrollment_token(
    addr: std::net::SocketAddr,
    api_key: &str,
    body: &str,
) -> serde_json::Value {
    let auth = format!("Bearer {api_key}");
    let r = request(
        addr,
        "POST",
        "/v1/enrollment-tokens",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}
