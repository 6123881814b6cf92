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

/// A new temporary folder (left behind: the server child may still write its log there).
pub fn tempdir(tag: &str) -> PathBuf {
    let dir = mdm_test_support::TempDir::new(&format!("scep-server-test-{tag}"));
    let path = dir.path().to_path_buf();
    std::mem::forget(dir);
    path
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

/// One raw HTTP/1.1 request on a new connection (the workspace's test client): (status, body).
pub fn raw_http(port: u16, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let answer = mdm_test_support::http::request_blocking(
        &format!("127.0.0.1:{port}"),
        method,
        target,
        &[("Content-Type", "application/x-pki-message")],
        body,
    );
    (answer.status, answer.body)
}
