//! Webhooks over real HTTP on SQLite and PostgreSQL: events in MicroMDM/NanoMDM's JSON,
//! signed, in order, at least once through a receiver that fails, times out and recovers;
//! topic filters; `GET /v1/events`. (A kill -9 of the server between events is in cli.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;
use support::plist;
#[path = "support/receiver.rs"]
mod receiver;
use receiver::{Answer, Receiver};

use base64::Engine;
use mdm_server::app::{Config, Server};
use serde_json::Value as Json;
use support::{PgSchema, Response, TempDir, request};

const KEY: &str = "k";
const SECRET: &str = "webhook-secret";

fn expected_signature(body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple()).to_uppercase()
}

async fn webhooks_deliver_every_event(storage: Option<&str>) {
    let (all, all_url) = Receiver::start(&[Answer::Fail, Answer::Fail, Answer::Hang]).await;
    let (checkouts, checkout_url) = Receiver::start(&[]).await;
    let dir = TempDir::new();
    let secret = dir.path().join("webhook-secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path())
        .with_api_key(KEY)
        .without_signature_check()
        .with_webhook(all_url, Some(secret))
        .with_webhook(format!("{checkout_url};topics=mdm.CheckOut"), None)
        .with_webhook_timeout(1);
    if let Some(url) = storage {
        config = config.with_storage(url);
    }
    let server = Server::start(&config).await.unwrap();
    let addr = server.local_addr;
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    let device = |path: &'static str, body: String| async move {
        let r: Response = request(addr, "PUT", path, &[], body.as_bytes()).await;
        assert_eq!(r.status, 200, "{}", r.text());
        r
    };
    let admin = |method: &'static str, path: String, body: Vec<u8>| async move {
        request(addr, method, &path, &[("Authorization", "Bearer k")], &body).await
    };

    let udid = unique("HOOK");
    let id = |k: &str| {
        format!("<key>UDID</key><string>{udid}</string><key>Topic</key><string>T</string>{k}")
    };
    device(
        "/mdm/checkin",
        plist(&id("<key>MessageType</key><string>Authenticate</string>")),
    )
    .await;
    device(
        "/mdm/checkin",
        plist(&id("<key>MessageType</key><string>TokenUpdate</string>\
             <key>PushMagic</key><string>M</string><key>Token</key><data>3q2+7w==</data>")),
    )
    .await;
    let uuid = unique("CMD");
    let cmd = plist(&format!(
        "<key>CommandUUID</key><string>{uuid}</string><key>Command</key><dict>\
         <key>RequestType</key><string>ProfileList</string></dict>"
    ));
    let r = admin(
        "PUT",
        format!("/v1/enqueue/{udid}?nopush=1"),
        cmd.into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = device(
        "/mdm",
        plist(&format!(
            "<key>Status</key><string>Idle</string><key>UDID</key><string>{udid}</string>"
        )),
    )
    .await;
    assert!(r.text().contains(&uuid));
    device(
        "/mdm",
        plist(&format!(
            "<key>Status</key><string>Acknowledged</string><key>UDID</key><string>{udid}</string>\
             <key>CommandUUID</key><string>{uuid}</string><key>ProfileList</key><array/>"
        )),
    )
    .await;
    device(
        "/mdm/checkin",
        plist(&id("<key>MessageType</key><string>CheckOut</string>")),
    )
    .await;

    // Every event, in order, once accepted; the failed and timed-out tries were the same
    // event (same ID) sent again.
    let got = all.wait_for(5).await;
    let topics: Vec<&str> = got
        .iter()
        .map(|g| g.event["topic"].as_str().unwrap())
        .collect();
    assert_eq!(
        topics,
        [
            "mdm.Authenticate",
            "mdm.TokenUpdate",
            "mdm.Connect",
            "mdm.Connect",
            "mdm.CheckOut"
        ]
    );
    let ids: Vec<&str> = got
        .iter()
        .map(|g| g.event["event_id"].as_str().unwrap())
        .collect();
    let mut unique_ids = ids.clone();
    unique_ids.dedup();
    assert_eq!(unique_ids.len(), 5, "{ids:?}");
    let tries = all.all();
    assert!(tries.len() >= 8, "two failures and a time-out came first");
    for t in &tries {
        let event_id = t.event["event_id"].as_str().unwrap();
        assert_eq!(t.event_id_header.as_deref(), Some(event_id));
        assert!(ids.contains(&event_id), "a retry is an event that arrived");
        assert_eq!(
            t.signature.as_deref(),
            Some(expected_signature(&t.body).as_str())
        );
    }
    assert!(
        tries[..3]
            .iter()
            .all(|t| t.event["event_id"] == tries[0].event["event_id"]),
        "the first event was retried until accepted"
    );
    // MicroMDM's shape.
    let auth = &got[0].event;
    assert_eq!(auth["checkin_event"]["udid"], udid.as_str());
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth["checkin_event"]["raw_payload"].as_str().unwrap())
        .unwrap();
    assert!(String::from_utf8(raw).unwrap().contains("Authenticate"));
    assert!(auth["created_at"].as_str().unwrap().ends_with('Z'));
    let ack = &got[3].event["acknowledge_event"];
    assert_eq!(
        (&ack["status"], &ack["command_uuid"]),
        (&Json::from("Acknowledged"), &Json::from(uuid.as_str()))
    );
    assert_eq!(got[2].event["acknowledge_event"]["status"], "Idle");

    // The filtered endpoint got only the CheckOut, unsigned (no secret of its own is
    // needed: the one secret signs for every endpoint).
    let got = checkouts.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].event["topic"], "mdm.CheckOut");
    assert_eq!(got[0].event["event_id"], ids[4]);

    // The outbox, to read or replay.
    let r = admin("GET", "/v1/events?after=0".into(), Vec::new()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let events = r.json()["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 5);
    assert_eq!(events[0]["event_id"], ids[0]);
    let after = events[1]["seq"].as_i64().unwrap();
    let r = admin(
        "GET",
        format!("/v1/events?after={after}&topic=mdm.Connect"),
        Vec::new(),
    )
    .await;
    let connects = r.json()["events"].as_array().unwrap().clone();
    assert_eq!(connects.len(), 2, "{}", r.text());
    assert_eq!(
        connects[1]["event"]["acknowledge_event"]["command_uuid"],
        uuid.as_str()
    );
    let r = admin("GET", "/v1/events?topic=mdm.Nothing".into(), Vec::new()).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let metrics = request(addr, "GET", "/metrics", &[], b"").await.text();
    assert!(
        metrics.contains("mdm_webhook_deliveries_total{outcome=\"failed\"} 3"),
        "{metrics}"
    );
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_deliver_every_event_on_sqlite() {
    webhooks_deliver_every_event(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_deliver_every_event_on_postgres() {
    let Some(schema) = PgSchema::create("webhooks_deliver_every_event", "t").await else {
        return;
    };
    webhooks_deliver_every_event(Some(&schema.url)).await;
    schema.drop_schema().await;
}

/// A bad `--webhook` is refused at start, naming what is wrong.
#[tokio::test]
async fn bad_webhook_settings_refuse_to_start() {
    let dir = TempDir::new();
    for (spec, what) in [
        ("ftp://x/hook", "ftp://x/hook"),
        (
            "http://127.0.0.1:1/hook;topics=mdm.Nothing",
            "unknown topic `mdm.Nothing`",
        ),
        ("http://127.0.0.1:1/hook;filter=x", "topics=a,b"),
    ] {
        let config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path())
            .with_api_key(KEY)
            .with_webhook(spec, None);
        let Err(e) = Server::start(&config).await else {
            panic!("{spec}: started");
        };
        let e = e.to_string();
        assert!(e.contains(what), "{spec}: {e}");
    }
}
