//! The server binary under abuse, over real HTTP: stalled uploads with and without an
//! (invalid) `Mdm-Signature`, more connections than the cap, and a real device afterwards.
//! Memory is read from `/proc/<pid>/status` (peak resident set, `VmHWM`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;
use support::plist;

use scep_proto::issue::{IssueOptions, common_name};
use scep_proto::{Csr, DigestAlgorithm, RsaKey};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;
use support::{TempDir, request};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_mdm-server");
const KEY: &str = "test-api-key";
/// What each abuser says it will upload (the server's `--max-body` is 10 MiB).
const DECLARED: usize = 8 * 1024 * 1024;
/// The bound the issue asks for.
const MAX_RSS_KIB: u64 = 300 * 1024;
const MAX_CONNECTIONS: usize = 200;

struct Child {
    child: tokio::process::Child,
    addr: SocketAddr,
}

async fn start(dir: &std::path::Path) -> Child {
    let mut command = tokio::process::Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("MDM_") {
            command.env_remove(k);
        }
    }
    let mut child = command
        .kill_on_drop(true)
        .args(["--listen", "127.0.0.1:0", "--api-key", KEY, "--data-dir"])
        .arg(dir)
        .args(["--max-connections", &MAX_CONNECTIONS.to_string()])
        // The device at the end holds a certificate made straight from the CA files, for no
        // enrollment token: only open enrollment lets it in (the token rules are tested in
        // identity.rs).
        .arg("--open-enrollment")
        .env("MDM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("no banner")
        .unwrap()
        .unwrap();
    // Keep reading the banner so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let addr = first.rsplit("http://").next().unwrap().parse().unwrap();
    Child { child, addr }
}

/// `VmRSS` and `VmHWM` (peak) of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What became of an abusive upload.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Answered with this status.
    Status(u16),
    /// Closed without an answer.
    Closed,
    /// Still open and unanswered (the server holds it).
    Held,
}

/// Sends a head declaring [`DECLARED`] bytes and up to `send` bytes of body, then stops
/// (stalls) and looks for an answer without closing. Returns the stream to keep it open.
async fn stalled_upload(
    addr: SocketAddr,
    signature: bool,
    send: usize,
) -> (Outcome, Option<TcpStream>) {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return (Outcome::Closed, None);
    };
    let mut head = format!("PUT /mdm HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {DECLARED}\r\n");
    if signature {
        head.push_str("Mdm-Signature: bm90IGEgc2lnbmF0dXJl\r\n");
    }
    head.push_str("\r\n");
    if stream.write_all(head.as_bytes()).await.is_err() {
        return (Outcome::Closed, None);
    }
    let chunk = vec![b'x'; 64 * 1024];
    let target = send.min(DECLARED - 1);
    let mut sent = 0;
    while sent < target {
        let n = chunk.len().min(target - sent);
        // A server that stops reading makes the write wait: that upload is stalled.
        match tokio::time::timeout(Duration::from_secs(2), stream.write_all(&chunk[..n])).await {
            Ok(Ok(())) => sent += n,
            _ => break,
        }
    }
    let mut answer = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut answer)).await {
        Ok(Ok(0)) | Ok(Err(_)) => (Outcome::Closed, None),
        Ok(Ok(n)) => {
            let text = String::from_utf8_lossy(&answer[..n]);
            let status = text
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            (Outcome::Status(status), Some(stream))
        }
        Err(_) => (Outcome::Held, Some(stream)),
    }
}

/// A device certificate from the CA in `dir` (the test CA the data folder was seeded with),
/// and its key.
fn device_identity(dir: &std::path::Path) -> (scep_proto::Certificate, RsaKey) {
    let ca_pem = std::fs::read(dir.join(mdm_server::pki::CA_CERT_FILE)).unwrap();
    let ca = scep_proto::cms::parse_certificates(&ca_pem)
        .unwrap()
        .remove(0);
    let ca_key = std::fs::read_to_string(dir.join(mdm_server::pki::CA_KEY_FILE)).unwrap();
    let ca_key = RsaKey::from_pem(&ca_key, None).unwrap();
    let key = RsaKey::generate(1024).unwrap();
    let csr = Csr::build(
        &key,
        &common_name("abuse-test device"),
        None,
        &[],
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    let csr = Csr::parse(&csr).unwrap();
    let cert = scep_proto::issue::issue(
        &csr,
        &ca,
        &ca_key,
        &IssueOptions::new(vec![0x42, 1, 2, 3], mdm_server::storage::now() - 60, 3600),
    )
    .unwrap();
    (cert, key)
}

async fn stats(addr: SocketAddr) -> serde_json::Value {
    let auth = format!("Bearer {KEY}");
    let r = request(addr, "GET", "/v1/stats", &[("Authorization", &auth)], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_uploads_and_connection_floods_keep_memory_bounded() {
    let dir = TempDir::new();
    let server = start(dir.path()).await;
    let pid = server.child.id().unwrap();
    let addr = server.addr;
    let (rss_start, _) = memory_kib(pid);

    // 150 unauthenticated uploads: refused at header time, before any body is read.
    let unsigned: Vec<_> = (0..150)
        .map(|_| tokio::spawn(stalled_upload(addr, false, 64 * 1024)))
        .collect();
    let mut refused = 0;
    for task in unsigned {
        let (outcome, _stream) = task.await.unwrap();
        if outcome == Outcome::Status(401) {
            refused += 1;
        }
    }
    assert_eq!(
        refused, 150,
        "every unsigned upload gets 401 at header time"
    );

    // 150 uploads with a fake Mdm-Signature pass the header check; each declares 8 MiB
    // and sends all but the last byte, then stalls. The body budget (64 MiB) takes a few;
    // the rest get 503 before they are read.
    let signed: Vec<_> = (0..150)
        .map(|_| tokio::spawn(stalled_upload(addr, true, DECLARED)))
        .collect();
    let mut held = Vec::new();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for task in signed {
        let (outcome, stream) = task.await.unwrap();
        *outcomes.entry(format!("{outcome:?}")).or_default() += 1;
        if let Some(s) = stream {
            held.push(s);
        }
    }
    let turned_away = outcomes.get("Status(503)").copied().unwrap_or(0)
        + outcomes.get("Closed").copied().unwrap_or(0);
    assert!(
        turned_away > 0,
        "uploads past the budget are refused (503, or reset before the client read it): \
         {outcomes:?}"
    );
    assert!(
        outcomes.get("Held").copied().unwrap_or(0) > 0,
        "some uploads are being received: {outcomes:?}"
    );
    let (rss_stalled, _) = memory_kib(pid);

    // More idle connections than the cap: those over it are answered 503 or closed.
    let flood: Vec<_> = (0..(MAX_CONNECTIONS + 50))
        .map(|_| {
            tokio::spawn(async move {
                let Ok(mut stream) = TcpStream::connect(addr).await else {
                    return (None, true);
                };
                let mut buf = [0u8; 32];
                match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
                    // Served: waiting for a request.
                    Err(_) => (Some(stream), false),
                    Ok(Ok(n)) if n > 0 => {
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        assert!(text.starts_with("HTTP/1.1 503"), "{text:?}");
                        (None, true)
                    }
                    Ok(_) => (None, true),
                }
            })
        })
        .collect();
    let mut idle = Vec::new();
    let mut over_cap = 0;
    for task in flood {
        let (stream, turned_away) = task.await.unwrap();
        idle.extend(stream);
        over_cap += usize::from(turned_away);
    }
    assert!(
        over_cap >= 50,
        "{over_cap} connections over the cap were turned away"
    );
    let (rss_flooded, peak) = memory_kib(pid);
    println!(
        "server RSS: {rss_start} KiB at start, {rss_stalled} KiB with stalled uploads, \
         {rss_flooded} KiB with the connection flood; peak {peak} KiB; uploads {outcomes:?}; \
         {over_cap} connections over the cap turned away"
    );
    assert!(
        peak < MAX_RSS_KIB,
        "peak RSS {peak} KiB is over {MAX_RSS_KIB} KiB"
    );

    // The abusers go away; once the server has let go of their bodies, a real device
    // gets through.
    drop(idle);
    drop(held);
    let mut freed = false;
    for _ in 0..300 {
        let s = stats(addr).await;
        if s["body_budget_free_bytes"] == s["body_budget_bytes"] {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(freed, "the body budget is released when the clients leave");
    let s = stats(addr).await;
    assert!(s["refusals"]["no-identity"].as_u64().unwrap() >= 150, "{s}");
    assert!(s["refusals"]["busy-bodies"].as_u64().unwrap() >= 1, "{s}");
    assert!(
        s["refusals"]["too-many-connections"].as_u64().unwrap() >= 1,
        "{s}"
    );

    let (cert, key) = device_identity(dir.path());
    let body = plist(
        "<key>MessageType</key><string>Authenticate</string>\
         <key>UDID</key><string>ABUSE-TEST-DEVICE</string><key>Topic</key><string>t</string>",
    );
    let sig = mdm_proto::signature::sign_mdm_signature(body.as_bytes(), &cert, &key).unwrap();
    let r = request(
        addr,
        "PUT",
        "/mdm/checkin",
        &[("Mdm-Signature", &sig)],
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn per_route_limits_are_enforced_before_reading() {
    let dir = TempDir::new();
    let server = start(dir.path()).await;
    let addr = server.addr;
    // SCEP takes at most 64 KiB.
    let big = vec![b'x'; 65 * 1024];
    let r = request(addr, "POST", "/scep?operation=PKIOperation", &[], &big).await;
    assert_eq!(r.status, 413, "{}", r.text());
    // The enrollment profile takes no body.
    let r = request(addr, "GET", "/mdm/enroll", &[], b"x").await;
    assert_eq!(r.status, 413, "{}", r.text());
    // Check-ins take at most 1 MiB by default, reports (PUT /mdm) 10 MiB.
    let two_mib = vec![b'x'; 2 * 1024 * 1024];
    let sig = [("Mdm-Signature", "bm90IGEgc2lnbmF0dXJl")];
    let r = request(addr, "PUT", "/mdm/checkin", &sig, &two_mib).await;
    assert_eq!(r.status, 413, "{}", r.text());
    let r = request(addr, "PUT", "/mdm", &sig, &two_mib).await;
    assert!(
        matches!(r.status, 400 | 401),
        "read (not 413), then refused: {} {}",
        r.status,
        r.text()
    );
    // No identity header: 401 naming it.
    let r = request(addr, "PUT", "/mdm", &[], b"<plist/>").await;
    assert_eq!(r.status, 401);
    assert!(r.text().contains("Mdm-Signature"), "{}", r.text());
}

#[tokio::test]
async fn slow_bodies_are_cut_off_by_the_minimum_rate() {
    let dir = TempDir::new();
    let server = start(dir.path()).await;
    let addr = server.addr;
    // Declares 100 KiB, sends 10 bytes and stalls: past the 5 s grace the average rate is
    // under 1 KiB/s, so the server answers 408 (long before the 60 s request timeout).
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT /mdm HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 102400\r\n\
         Mdm-Signature: bm90IGEgc2lnbmF0dXJl\r\n\r\n0123456789"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(40), stream.read_to_end(&mut out))
        .await
        .expect("the slow upload was not cut off")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("bytes per second"), "{text}");
    let s = stats(addr).await;
    assert_eq!(s["refusals"]["slow-body"], 1, "{s}");
    assert_eq!(s["body_budget_free_bytes"], s["body_budget_bytes"], "{s}");
}
