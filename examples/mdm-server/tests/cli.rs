//! The `mdm-server` binary: `--help`, first start, restart with queued commands.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;
use support::plist;
#[path = "support/receiver.rs"]
mod receiver;
use receiver::Receiver;

use std::net::SocketAddr;
use std::process::Stdio;
use support::{TempDir, request};
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_mdm-server");

fn command() -> tokio::process::Command {
    let mut c = tokio::process::Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("MDM_") {
            c.env_remove(k);
        }
    }
    c.kill_on_drop(true);
    c
}

struct Child {
    child: tokio::process::Child,
    addr: SocketAddr,
    banner: Vec<String>,
}

async fn start(dir: &std::path::Path) -> Child {
    start_logging(dir, "warn", Stdio::inherit()).await
}

/// Starts the server with `MDM_LOG=log`, its log going to `stderr`.
async fn start_logging(dir: &std::path::Path, log: &str, stderr: Stdio) -> Child {
    start_with(dir, log, stderr, &[]).await
}

/// Starts the server with `MDM_LOG=log`, its log going to `stderr`, and more arguments.
async fn start_with(dir: &std::path::Path, log: &str, stderr: Stdio, extra: &[&str]) -> Child {
    let mut child = command()
        .args([
            "--listen",
            "127.0.0.1:0",
            "--no-signature-check",
            "--ca-key-bits",
            "1024",
            "--data-dir",
        ])
        .arg(dir)
        .args(extra)
        .env("MDM_LOG", log)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.starts_with("API key:");
            banner.push(line);
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), read)
        .await
        .expect("no banner");
    let addr = banner[0]
        .rsplit("http://")
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {banner:?}"));
    Child {
        child,
        addr,
        banner,
    }
}

impl Child {
    /// Stops the server with SIGTERM (a graceful shutdown), checks its exit status and
    /// returns what it logged (when its log was piped).
    async fn stop(mut self) -> String {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(std::time::Duration::from_secs(10), self.child.wait())
            .await
            .expect("server did not stop")
            .unwrap();
        assert!(exit.success(), "{exit:?}");
        let mut log = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            use tokio::io::AsyncReadExt;
            stderr.read_to_string(&mut log).await.unwrap();
        }
        log
    }
}

#[tokio::test]
async fn help_explains_flags_and_environment() {
    let out = command().arg("--help").output().await.unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--listen",
        "MDM_LISTEN",
        "127.0.0.1:9000",
        "--data-dir",
        "MDM_DATA_DIR",
        "--storage",
        "postgres://",
        "MDM_STORAGE",
        "--api-key",
        "MDM_API_KEY",
        "Bearer",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
}

#[tokio::test]
async fn first_start_creates_everything_and_restart_keeps_it() {
    let tmp = TempDir::new();
    let dir = tmp.path().join("data");
    let server = start(&dir).await;
    let key_line = server.banner.last().unwrap().clone();
    assert!(key_line.contains("generated"), "{:?}", server.banner);
    // The first start says what to do next.
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains("device-sim") && l.contains("--enroll")),
        "{:?}",
        server.banner
    );
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains(&format!("http://{}/mdm/enroll", server.addr)))
    );
    let key = key_line
        .trim_start_matches("API key: ")
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(key.len(), 64);
    assert!(dir.join("mdm.sqlite").exists());
    let stored = std::fs::read_to_string(dir.join("api-key")).unwrap();
    assert_eq!(stored.trim(), key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("api-key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key file is private");
    }
    let auth = format!("Bearer {key}");
    let auth = [("Authorization", auth.as_str())];
    assert_eq!(
        request(server.addr, "GET", "/v1/stats", &[], b"")
            .await
            .status,
        401
    );
    assert_eq!(
        request(server.addr, "GET", "/version", &auth, b"")
            .await
            .status,
        200
    );

    // Enroll a device and queue a command, then stop.
    let udid = "CLI-DEVICE";
    let auth_msg = plist(&format!(
        "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{udid}</string>\
         <key>Topic</key><string>T</string>"
    ));
    assert_eq!(
        request(server.addr, "PUT", "/mdm/checkin", &[], auth_msg.as_bytes())
            .await
            .status,
        200
    );
    let cmd = plist(
        "<key>CommandUUID</key><string>CLI-CMD</string>\
         <key>Command</key><dict><key>RequestType</key><string>ProfileList</string></dict>",
    );
    let r = request(
        server.addr,
        "PUT",
        &format!("/v1/enqueue/{udid}"),
        &auth,
        cmd.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    server.stop().await;

    // Restart: same key (from the file), same queue.
    let server = start(&dir).await;
    assert!(
        server.banner.last().unwrap().contains("stored in"),
        "{:?}",
        server.banner
    );
    assert!(
        !server.banner.iter().any(|l| l.contains(&key)),
        "the key is printed only once"
    );
    assert_eq!(
        request(server.addr, "GET", "/version", &auth, b"")
            .await
            .status,
        200
    );
    let idle = plist(&format!(
        "<key>Status</key><string>Idle</string><key>UDID</key><string>{udid}</string>"
    ));
    let r = request(server.addr, "PUT", "/mdm", &[], idle.as_bytes()).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("CLI-CMD"), "{}", r.text());
    server.stop().await;
}

#[tokio::test]
async fn bad_storage_url_fails_to_start() {
    let tmp = TempDir::new();
    let out = command()
        .args([
            "--listen",
            "127.0.0.1:0",
            "--storage",
            "postgres://nobody@127.0.0.1:1/x",
            "--data-dir",
        ])
        .arg(tmp.path())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("storage"));
}

/// Every log line of a device request carries the request's span: its route, and the
/// enrollment and command the service learned from the message.
#[tokio::test]
async fn log_lines_name_the_route_enrollment_and_command() {
    let tmp = TempDir::new();
    let server = start_logging(&tmp.path().join("data"), "info", Stdio::piped()).await;
    let key = std::fs::read_to_string(tmp.path().join("data/api-key")).unwrap();
    let auth = format!("Bearer {}", key.trim());
    let auth = [("Authorization", auth.as_str())];
    let udid = "CLI-LOG";
    let checkin = plist(&format!(
        "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{udid}</string>\
         <key>Topic</key><string>T</string>"
    ));
    let r = request(server.addr, "PUT", "/mdm/checkin", &[], checkin.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let cmd = plist(
        "<key>CommandUUID</key><string>CLI-LOG-CMD</string>\
         <key>Command</key><dict><key>RequestType</key><string>ProfileList</string></dict>",
    );
    let path = format!("/v1/enqueue/{udid}?nopush=1");
    let r = request(server.addr, "PUT", &path, &auth, cmd.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let idle = plist(&format!(
        "<key>Status</key><string>Idle</string><key>UDID</key><string>{udid}</string>"
    ));
    let r = request(server.addr, "PUT", "/mdm", &[], idle.as_bytes()).await;
    assert!(r.text().contains("CLI-LOG-CMD"), "{}", r.text());
    let ack = plist(&format!(
        "<key>Status</key><string>Acknowledged</string><key>UDID</key><string>{udid}</string>\
         <key>CommandUUID</key><string>CLI-LOG-CMD</string>"
    ));
    let r = request(server.addr, "PUT", "/mdm", &[], ack.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let log = server.stop().await;
    let checkin_line = log
        .lines()
        .find(|l| l.contains("check-in"))
        .unwrap_or_else(|| panic!("no check-in line:\n{log}"));
    assert!(
        checkin_line.contains("request{method=PUT route=/mdm/checkin enrollment=CLI-LOG}"),
        "{checkin_line}"
    );
    assert!(
        log.lines().any(|l| l.contains(
            "request{method=PUT route=/mdm enrollment=CLI-LOG command_uuid=CLI-LOG-CMD}"
        )),
        "{log}"
    );
}

/// Webhook events survive `kill -9`: events written while the receiver is down are
/// delivered after the server is killed and started again, in order, each with its ID
/// (a repeat only ever with the same ID), and new ones follow.
#[tokio::test]
async fn webhook_events_survive_kill_9() {
    // A port for the receiver, which is down at first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let tmp = TempDir::new();
    let dir = tmp.path().join("data");
    let args = ["--webhook", url.as_str(), "--webhook-timeout", "1"];
    let server = start_with(&dir, "warn", Stdio::inherit(), &args).await;
    let udid = "CLI-HOOK";
    let checkin = |kind: &str, extra: &str| {
        plist(&format!(
            "<key>MessageType</key><string>{kind}</string><key>UDID</key><string>{udid}</string>\
             <key>Topic</key><string>T</string>{extra}"
        ))
    };
    for body in [
        checkin("Authenticate", ""),
        checkin(
            "TokenUpdate",
            "<key>PushMagic</key><string>M</string><key>Token</key><data>3q2+7w==</data>",
        ),
    ] {
        let r = request(server.addr, "PUT", "/mdm/checkin", &[], body.as_bytes()).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // kill -9: no shutdown of any kind.
    let mut killed = server.child;
    killed.kill().await.unwrap();

    // The receiver comes up; the server starts again on the same data.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let (receiver, _) = Receiver::start_on(listener, &[]);
    let server = start_with(&dir, "warn", Stdio::inherit(), &args).await;
    let body = checkin("CheckOut", "");
    let r = request(server.addr, "PUT", "/mdm/checkin", &[], body.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let events = loop {
        let events: Vec<serde_json::Value> = receiver.all().into_iter().map(|g| g.event).collect();
        let mut ids: Vec<&str> = events
            .iter()
            .filter_map(|e| e["event_id"].as_str())
            .collect();
        ids.dedup();
        if ids.len() >= 3 {
            break events;
        }
        assert!(std::time::Instant::now() < deadline, "{events:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let mut seen: Vec<(String, String)> = Vec::new();
    for e in &events {
        let pair = (
            e["event_id"].as_str().unwrap().to_owned(),
            e["topic"].as_str().unwrap().to_owned(),
        );
        if seen.last() != Some(&pair) {
            assert!(!seen.contains(&pair), "a repeat out of order: {events:?}");
            seen.push(pair);
        }
    }
    let topics: Vec<&str> = seen.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        topics,
        ["mdm.Authenticate", "mdm.TokenUpdate", "mdm.CheckOut"]
    );
    server.stop().await;
}
