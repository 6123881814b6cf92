//! The queue at scale (issue 15, item 2; issue 18, item 3): 10,000 enrollments and up to
//! 1,000,000 queued commands (one target each) on SQLite or PostgreSQL, with the enqueue rate
//! while the queue fills and the latency of an `Idle` -> command and of an `Acknowledged` ->
//! next answer over real HTTP at each size. Prints one Markdown table row per size.
//!
//! ```sh
//! cargo bench -p mdm-server --bench queue_scale -- sqlite
//! psql postgres://postgres@127.0.0.1:5432/test -c 'CREATE SCHEMA qs'
//! cargo bench -p mdm-server --bench queue_scale -- \
//!     'postgres://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dqs'
//! ```
//!
//! Environment: `QS_ENROLLMENTS` (10000), `QS_POINTS` (`0,100000,1000000`), `QS_SAMPLES`
//! (500 connections per size).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdm_server::app::{Config, Server};
use mdm_server::storage::{self, EnrollmentKey, NewCommand, PushInfo, Storage};
use mdm_test_support::http::request;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn udid(n: usize) -> String {
    format!("QS-{n:08}")
}

fn command(uuid: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\
<key>CommandUUID</key><string>{uuid}</string><key>Command</key><dict>\
<key>RequestType</key><string>DeviceInformation</string><key>Queries</key><array>\
<string>OSVersion</string><string>SerialNumber</string></array></dict></dict></plist>"
    )
    .into_bytes()
}

fn report(udid: &str, status: &str, uuid: Option<&str>) -> Vec<u8> {
    let uuid = uuid
        .map(|u| format!("<key>CommandUUID</key><string>{u}</string>"))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\
<key>UDID</key><string>{udid}</string><key>Status</key><string>{status}</string>{uuid}</dict></plist>"
    )
    .into_bytes()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// Enqueues `count` commands, round-robin over the enrollments, from `first`; rows/s.
async fn fill(
    s: &Arc<dyn Storage>,
    enrollments: usize,
    first: usize,
    count: usize,
    now: i64,
) -> f64 {
    if count == 0 {
        return 0.0;
    }
    let started = Instant::now();
    let workers = 4;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let s = Arc::clone(s);
        tasks.push(tokio::spawn(async move {
            let mut i = first + w;
            while i < first + count {
                let uuid = format!("fill-{i:08}");
                let c = NewCommand::new(&uuid, "DeviceInformation", command(&uuid));
                s.enqueue(&c, &[udid(i % enrollments)], now).await.unwrap();
                i += workers;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    count as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    // The server reads the clock: rows are written a minute in the past, so they are ready.
    let now = storage::now() - 60;
    let target = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "sqlite".into());
    let enrollments: usize = env("QS_ENROLLMENTS", "10000").parse().unwrap();
    let samples: usize = env("QS_SAMPLES", "500").parse().unwrap();
    let points: Vec<usize> = env("QS_POINTS", "0,100000,1000000")
        .split(',')
        .map(|p| p.trim().parse().unwrap())
        .collect();
    let dir = mdm_test_support::TempDir::new("queue-scale");
    let (url, label) = if target == "sqlite" {
        (
            format!("sqlite:{}", dir.path().join("qs.sqlite").display()),
            "SQLite",
        )
    } else {
        (target.clone(), "PostgreSQL")
    };
    let s = storage::open(&url).await.unwrap();
    let started = Instant::now();
    for n in 0..enrollments {
        let id = udid(n);
        let mut key = EnrollmentKey::new(&id, &id, "Device");
        key.udid = Some(id.clone());
        s.authenticate(&key, b"a", now).await.unwrap();
        let push = PushInfo::new(vec![n as u8; 32], "magic", "com.apple.mgmt.qs");
        s.token_update(&key, &push, None, b"t", now).await.unwrap();
    }
    eprintln!(
        "{enrollments} enrollments in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"))
        .with_storage(&url)
        .with_api_key("qs")
        .without_signature_check();
    let server = Server::start(&config).await.unwrap();
    let addr = server.local_addr;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));

    println!(
        "| store | queued rows | enqueue rows/s (filling to here) | Idle → command p50 | p99 | Acknowledged → next p50 | p99 |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut queued = 0usize;
    let mut fresh = 0usize;
    for point in points {
        let rate = fill(&s, enrollments, queued, point.saturating_sub(queued), now).await;
        queued = queued.max(point);
        let mut idle = Vec::with_capacity(samples);
        let mut ack = Vec::with_capacity(samples);
        for k in 0..samples {
            // Spread over the enrollments; with an empty queue, one command first.
            let n = (k * 7919 + point) % enrollments;
            let id = udid(n);
            if point == 0 {
                fresh += 1;
                let uuid = format!("fresh-{fresh:08}");
                let c = NewCommand::new(&uuid, "DeviceInformation", command(&uuid));
                s.enqueue(&c, std::slice::from_ref(&id), now).await.unwrap();
            }
            let t = Instant::now();
            let r = request(addr, "PUT", "/mdm", &[], &report(&id, "Idle", None)).await;
            idle.push(t.elapsed());
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let body = mdm_proto::parse_dictionary(&r.body, &mdm_proto::Limits::MDM)
                .unwrap_or_else(|e| panic!("{id}: no command at {point}: {e}"));
            let uuid = body
                .get("CommandUUID")
                .and_then(|v| v.as_string())
                .unwrap()
                .to_owned();
            let t = Instant::now();
            let r = request(
                addr,
                "PUT",
                "/mdm",
                &[],
                &report(&id, "Acknowledged", Some(&uuid)),
            )
            .await;
            ack.push(t.elapsed());
            assert_eq!(r.status, 200);
        }
        idle.sort();
        ack.sort();
        let rate = if rate > 0.0 {
            format!("{rate:.0}")
        } else {
            "–".into()
        };
        println!(
            "| {label} | {point} | {rate} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            percentile(&idle, 50.0),
            percentile(&idle, 99.0),
            percentile(&ack, 50.0),
            percentile(&ack, 99.0),
        );
    }
    let _ = stop.send(());
}
