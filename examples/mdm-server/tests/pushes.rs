//! Pushes that never fail silently, over real HTTP on SQLite and PostgreSQL, against
//! apns-client's mock APNs (`--apns-url`): push on enqueue with `apns-expiration`, dead
//! tokens, the push-certificate topic guard, `GET /v1/pushcert`, enrollments flagged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;
use support::plist;

use apns_client::mock::{MockApns, MockReply, TestPki};
use mdm_server::app::{Config, Server};
use scep_proto::key::pem_encode;
use serde_json::Value as Json;
use support::{PgSchema, Response, TempDir, request};

const KEY: &str = "k";
const TOPIC: &str = "com.apple.mgmt.External.11111111-2222-3333-4444-555555555555";
const OTHER: &str = "com.apple.mgmt.External.99999999-8888-7777-6666-555555555555";

fn token_hex(udid: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(udid.as_bytes()))
}

fn token_update(udid: &str, topic: &str) -> String {
    use base64::Engine;
    let token =
        base64::engine::general_purpose::STANDARD.encode(hex::decode(token_hex(udid)).unwrap());
    plist(&format!(
        "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{udid}</string>\
         <key>Topic</key><string>{topic}</string><key>PushMagic</key><string>MAGIC-{udid}</string>\
         <key>Token</key><data>{token}</data>"
    ))
}

fn command(uuid: &str) -> String {
    plist(&format!(
        "<key>CommandUUID</key><string>{uuid}</string><key>Command</key><dict>\
         <key>RequestType</key><string>ProfileList</string></dict>"
    ))
}

fn push_cert_pem(pki: &TestPki, topic: &str) -> String {
    let (chain, key) = pki.client_parts(topic).unwrap();
    format!(
        "{}{}",
        pem_encode("CERTIFICATE", &chain[0]),
        pem_encode("PRIVATE KEY", key.der())
    )
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple()).to_uppercase()
}

struct Harness {
    addr: std::net::SocketAddr,
    mock: MockApns,
    pki: TestPki,
    stop: tokio::sync::oneshot::Sender<()>,
    _dir: TempDir,
}

impl Harness {
    async fn start(storage: Option<&str>) -> Self {
        Self::start_with(storage, 0).await
    }

    /// A server whose push backstop re-pushes after `repush_after` seconds (0: off).
    async fn start_with(storage: Option<&str>, repush_after: u64) -> Self {
        let pki = TestPki::new().unwrap();
        let mock = MockApns::builder(&pki).start().await.unwrap();
        let dir = TempDir::new();
        let ca = dir.path().join("apns-ca.pem");
        std::fs::write(&ca, pem_encode("CERTIFICATE", pki.ca_der())).unwrap();
        let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path())
            .with_api_key(KEY)
            .without_signature_check()
            .with_apns(mock.url(), Some(ca))
            .with_repush_after(repush_after);
        if let Some(url) = storage {
            config = config.with_storage(url);
        }
        let server = Server::start(&config).await.unwrap();
        let addr = server.local_addr;
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.serve(async move {
            let _ = rx.await;
        }));
        Harness {
            addr,
            mock,
            pki,
            stop,
            _dir: dir,
        }
    }

    async fn admin(&self, method: &str, path: &str, body: &[u8]) -> Response {
        request(
            self.addr,
            method,
            path,
            &[("Authorization", "Bearer k")],
            body,
        )
        .await
    }

    async fn checkin(&self, body: &str) -> Response {
        request(self.addr, "PUT", "/mdm/checkin", &[], body.as_bytes()).await
    }

    async fn enrollment(&self, id: &str) -> Json {
        let r = self
            .admin("GET", &format!("/v1/enrollments/{id}"), b"")
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    fn pushes_to(&self, udid: &str) -> Vec<apns_client::mock::ReceivedPush> {
        let token = token_hex(udid);
        self.mock
            .received()
            .into_iter()
            .filter(|p| p.token == token)
            .collect()
    }
}

async fn pushes_never_fail_silently(storage: Option<&str>) {
    let h = Harness::start(storage).await;
    let (early, dev, dead) = (unique("EARLY"), unique("DEV"), unique("DEAD"));
    // Enrolled before any certificate, on a placeholder topic: flagged.
    assert_eq!(h.checkin(&token_update(&early, OTHER)).await.status, 200);
    let e = h.enrollment(&early).await;
    assert_eq!(e["push_usable"], false, "{e}");
    assert!(
        e["push_problem"]
            .as_str()
            .unwrap()
            .contains("no push certificate"),
        "{e}"
    );
    let r = h.admin("GET", "/v1/pushcert", b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["topic"], Json::Null);

    // The first certificate (no enrolled device uses a current one): stored.
    let r = h
        .admin(
            "PUT",
            "/v1/pushcert",
            push_cert_pem(&h.pki, TOPIC).as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    for udid in [&dev, &dead] {
        assert_eq!(h.checkin(&token_update(udid, TOPIC)).await.status, 200);
    }
    let e = h.enrollment(&dev).await;
    assert_eq!(
        (&e["push_usable"], &e["push_problem"]),
        (&Json::Bool(true), &Json::Null)
    );
    let cert = h.admin("GET", "/v1/pushcert", b"").await.json();
    assert_eq!(cert["topic"], TOPIC);
    assert_eq!(cert["enrollments"], 2, "{cert}");
    assert!(cert["not_after"].is_string());
    assert_eq!(cert["expired"], false);
    let other = &cert["other_topics"][0];
    assert_eq!(
        (
            &other["topic"],
            &other["enrollments"],
            &other["has_certificate"]
        ),
        (&Json::from(OTHER), &Json::from(1), &Json::Bool(false)),
        "{cert}"
    );

    // Enqueue pushes its targets, with an apns-expiration; nopush does not.
    let before = u64::try_from(mdm_server::storage::now()).unwrap();
    let r = h
        .admin(
            "PUT",
            &format!("/v1/enqueue/{dev}"),
            command(&unique("C")).as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.json()["status"][&dev]["push_result"].is_string(),
        "{}",
        r.text()
    );
    let got = h.pushes_to(&dev);
    assert_eq!(got.len(), 1);
    let expiration = got[0].expiration.expect("apns-expiration sent");
    assert!(
        expiration >= before + 23 * 3600 && expiration <= before + 25 * 3600,
        "{expiration}"
    );
    let r = h
        .admin(
            "PUT",
            &format!("/v1/enqueue/{dev}?nopush=1"),
            command(&unique("C")).as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(h.pushes_to(&dev).len(), 1);

    // 410 Unregistered: the token is dead until the next TokenUpdate.
    h.mock.reply_to_token(
        &token_hex(&dead),
        MockReply::unregistered(1_700_000_000_000),
    );
    let r = h.admin("GET", &format!("/v1/push/{dead}"), b"").await;
    assert!(
        r.json()["status"][&dead]["push_error"]
            .as_str()
            .unwrap()
            .contains("410"),
        "{}",
        r.text()
    );
    let e = h.enrollment(&dead).await;
    assert_eq!(e["push_usable"], false);
    assert!(e["push_problem"].as_str().unwrap().contains("dead"), "{e}");
    assert!(e["push_dead_at"].is_string());
    let sent = h.pushes_to(&dead).len();
    let r = h
        .admin(
            "PUT",
            &format!("/v1/enqueue/{dead},{dev}"),
            command(&unique("C")).as_bytes(),
        )
        .await;
    let j = r.json();
    assert!(
        j["status"][&dead]["push_error"]
            .as_str()
            .unwrap()
            .contains("TokenUpdate"),
        "{j}"
    );
    assert!(j["status"][&dev]["push_result"].is_string(), "{j}");
    assert_eq!(h.pushes_to(&dead).len(), sent, "a dead token is not pushed");
    h.mock.reply_to_token(&token_hex(&dead), MockReply::ok());
    assert_eq!(h.checkin(&token_update(&dead, TOPIC)).await.status, 200);
    let e = h.enrollment(&dead).await;
    assert_eq!(
        (&e["push_usable"], &e["push_dead_at"]),
        (&Json::Bool(true), &Json::Null)
    );
    let r = h.admin("GET", &format!("/v1/push/{dead}"), b"").await;
    assert!(
        r.json()["status"][&dead]["push_result"].is_string(),
        "{}",
        r.text()
    );

    // A certificate with another topic would cut the two devices off: refused, counted.
    let r = h
        .admin(
            "PUT",
            "/v1/pushcert",
            push_cert_pem(&h.pki, OTHER).as_bytes(),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    let p = r.json();
    assert_eq!(p["would_cut_off"], 2, "{p}");
    assert_eq!(p["current_topic"], TOPIC);
    assert_eq!(p["new_topic"], OTHER);
    assert!(
        p["detail"].as_str().unwrap().contains("replace_topic"),
        "{p}"
    );
    assert_eq!(
        h.admin("GET", "/v1/pushcert", b"").await.json()["topic"],
        TOPIC
    );
    // The same topic again (a renewal): fine. Another with replace_topic=1: stored.
    let r = h
        .admin(
            "PUT",
            "/v1/pushcert",
            push_cert_pem(&h.pki, TOPIC).as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = h
        .admin(
            "PUT",
            "/v1/pushcert?replace_topic=1",
            push_cert_pem(&h.pki, OTHER).as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let cert = h.admin("GET", "/v1/pushcert", b"").await.json();
    assert_eq!(
        (&cert["topic"], &cert["enrollments"]),
        (&Json::from(OTHER), &Json::from(1))
    );
    assert_eq!(h.enrollment(&early).await["push_usable"], true);
    let _ = h.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_never_fail_silently_on_sqlite() {
    pushes_never_fail_silently(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_never_fail_silently_on_postgres() {
    let Some(schema) = PgSchema::create("pushes_never_fail_silently", "t").await else {
        return;
    };
    pushes_never_fail_silently(Some(&schema.url)).await;
    schema.drop_schema().await;
}

/// The backstop re-pushes an enrollment with a command waiting that has been silent for
/// `--repush-after`; not one with nothing waiting, and no longer once its queue is empty.
async fn backstop_repushes_silent_enrollments(storage: Option<&str>) {
    let h = Harness::start_with(storage, 2).await;
    let r = h
        .admin(
            "PUT",
            "/v1/pushcert",
            push_cert_pem(&h.pki, TOPIC).as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (waiting, idle) = (unique("WAIT"), unique("IDLE"));
    for udid in [&waiting, &idle] {
        assert_eq!(h.checkin(&token_update(udid, TOPIC)).await.status, 200);
    }
    // Queued without a push (as if the push were lost).
    let uuid = unique("C");
    let r = h
        .admin(
            "PUT",
            &format!("/v1/enqueue/{waiting}?nopush=1"),
            command(&uuid).as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(h.pushes_to(&waiting).is_empty());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while h.pushes_to(&waiting).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the backstop never re-pushed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let push = &h.pushes_to(&waiting)[0];
    assert!(push.expiration.is_some(), "a backstop push expires too");
    assert!(h.pushes_to(&idle).is_empty(), "nothing waits for it");
    // The device connects and answers: nothing waits any more, no more pushes.
    let device =
        |body: String| async move { request(h.addr, "PUT", "/mdm", &[], body.as_bytes()).await };
    let r = device(plist(&format!(
        "<key>Status</key><string>Idle</string><key>UDID</key><string>{waiting}</string>"
    )))
    .await;
    assert!(r.text().contains(&uuid), "{}", r.text());
    let r = device(plist(&format!(
        "<key>Status</key><string>Acknowledged</string><key>UDID</key><string>{waiting}</string>\
         <key>CommandUUID</key><string>{uuid}</string>"
    )))
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let answered = h.pushes_to(&waiting).len();
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(
        h.pushes_to(&waiting).len(),
        answered,
        "no push once answered"
    );
    assert!(h.pushes_to(&idle).is_empty());
    let _ = h.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backstop_repushes_silent_enrollments_on_sqlite() {
    backstop_repushes_silent_enrollments(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backstop_repushes_silent_enrollments_on_postgres() {
    let Some(schema) = PgSchema::create("backstop_repushes_silent", "t").await else {
        return;
    };
    backstop_repushes_silent_enrollments(Some(&schema.url)).await;
    schema.drop_schema().await;
}
