//! Shared helpers: a scep-server child on a loopback port, tools, temporary folders.
#![allow(dead_code, missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// True if `name` is installed; otherwise a visible skip (a failure when CI is set).
pub fn tool(name: &str) -> bool {
    mdm_test_support::tool(name)
}

pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "scep-server-test-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[derive(Debug)]
pub struct Server {
    child: Child,
    pub port: u16,
    pub url: String,
    pub log: PathBuf,
    pub ca_dir: PathBuf,
}

impl Server {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts scep-server on a free loopback port with its CA in `dir/ca` (1024-bit CA key unless
/// `extra` says otherwise) and waits until it accepts connections.
pub fn start_server(dir: &Path, challenge: Option<&str>, extra: &[&str]) -> Server {
    // The server picks its own port and logs it: a port chosen here and freed again could be
    // taken by a server of a test running in parallel before this one binds it.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let log = dir.join(format!("server-{n}.log"));
    let ca_dir = dir.join("ca");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scep-server"));
    cmd.arg("--ca-dir")
        .arg(&ca_dir)
        .args(["--listen", "127.0.0.1:0"]);
    if let Some(c) = challenge {
        cmd.args(["--challenge", c]);
    }
    if !extra.contains(&"--key-bits") {
        cmd.args(["--key-bits", "1024"]);
    }
    let child = cmd
        .args(extra)
        .env_remove("SCEP_CHALLENGE")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut child = child;
    let start = Instant::now();
    let port = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(addr) = text
            .lines()
            .filter(|l| l.contains("scep-server listening"))
            .find_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("addr=")))
        {
            break addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("server exited with {st}: {text}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "server did not start: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    Server {
        child,
        port,
        url: format!("http://127.0.0.1:{port}/scep"),
        log,
        ca_dir,
    }
}

/// The CA certificate the server created.
pub fn ca_cert(server: &Server) -> scep_proto::Certificate {
    let pem = std::fs::read(server.ca_dir.join("ca.pem")).unwrap();
    scep_proto::cms::parse_certificates(&pem).unwrap().remove(0)
}

/// One raw HTTP/1.1 request on a new connection: (status, body).
pub fn raw_http(port: u16, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-pki-message\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&out[..head_end]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = out[head_end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let i = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..i]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[i + 2 + n + 2..];
    }
}
