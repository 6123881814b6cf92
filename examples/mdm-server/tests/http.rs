//! The server over real HTTP on loopback, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;
use support::plist;

use base64::Engine;
use mdm_server::app::Config;
use serde_json::{Value as Json, json};
use std::sync::Arc;
use support::{PgSchema, Response, Running, TempDir, request};

const KEY: &str = "test-api-key";
const TOPIC: &str = "com.apple.mgmt.External.11111111-2222-3333-4444-555555555555";

/// Where a test's server keeps its state.
struct Backend {
    dir: TempDir,
    storage: Option<String>,
    schema: Option<PgSchema>,
}

impl Backend {
    async fn sqlite() -> Option<Self> {
        Some(Backend {
            dir: TempDir::new(),
            storage: None,
            schema: None,
        })
    }

    async fn postgres(test: &str) -> Option<Self> {
        let schema = PgSchema::create(test, "t").await?;
        Some(Backend {
            dir: TempDir::new(),
            storage: Some(schema.url.clone()),
            schema: Some(schema),
        })
    }

    fn config(&self) -> Config {
        // These tests are about the queue and the API: identities are tested in identity.rs.
        let mut c = Config::new("127.0.0.1:0".parse().unwrap(), self.dir.path())
            .with_api_key(KEY)
            .without_signature_check();
        if let Some(url) = &self.storage {
            c = c.with_storage(url.clone());
        }
        c
    }

    async fn finish(self) {
        if let Some(schema) = &self.schema {
            schema.drop_schema().await;
        }
    }
}

impl Running {
    async fn device(&self, body: &str) -> Response {
        request(self.addr, "PUT", "/mdm", &[], body.as_bytes()).await
    }

    async fn checkin(&self, body: &str) -> Response {
        request(self.addr, "PUT", "/mdm/checkin", &[], body.as_bytes()).await
    }

    async fn admin(&self, method: &str, path: &str, body: &[u8]) -> Response {
        let auth = format!("Bearer {KEY}");
        request(self.addr, method, path, &[("Authorization", &auth)], body).await
    }

    async fn admin_json(&self, method: &str, path: &str, body: &Json) -> Response {
        let auth = format!("Bearer {KEY}");
        request(
            self.addr,
            method,
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
        .await
    }

    async fn enroll(&self, udid: &str) {
        let r = self.checkin(&authenticate(udid)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = self.checkin(&token_update(udid)).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }

    async fn enqueue(&self, ids: &str, uuid: &str, request_type: &str) -> Response {
        let r = self
            .admin(
                "PUT",
                &format!("/v1/enqueue/{ids}?nopush=1"),
                command_plist(uuid, request_type).as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        r
    }

    async fn status_of(&self, uuid: &str, id: &str) -> Json {
        let r = self
            .admin("GET", &format!("/v1/commands/{uuid}"), b"")
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["enrollments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["enrollment_id"] == id)
            .cloned()
            .unwrap_or(Json::Null)
    }
}

fn authenticate(udid: &str) -> String {
    plist(&format!(
        "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{udid}</string>\
         <key>Topic</key><string>{TOPIC}</string><key>SerialNumber</key><string>C02TEST</string>\
         <key>Model</key><string>iPhone15,2</string>"
    ))
}

fn token_update(udid: &str) -> String {
    plist(&format!(
        "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{udid}</string>\
         <key>Topic</key><string>{TOPIC}</string><key>PushMagic</key><string>MAGIC-{udid}</string>\
         <key>Token</key><data>3q2+7w==</data><key>UnlockToken</key><data>c2VjcmV0</data>"
    ))
}

fn report(udid: &str, status: &str, uuid: Option<&str>, extra: &str) -> String {
    let uuid = uuid
        .map(|u| format!("<key>CommandUUID</key><string>{u}</string>"))
        .unwrap_or_default();
    plist(&format!(
        "<key>Status</key><string>{status}</string><key>UDID</key><string>{udid}</string>{uuid}{extra}"
    ))
}

fn idle(udid: &str) -> String {
    report(udid, "Idle", None, "")
}

fn command_plist(uuid: &str, request_type: &str) -> String {
    plist(&format!(
        "<key>CommandUUID</key><string>{uuid}</string>\
         <key>Command</key><dict><key>RequestType</key><string>{request_type}</string></dict>"
    ))
}

/// The CommandUUID of a command the server sent, or None for an empty answer.
fn sent_uuid(r: &Response) -> Option<String> {
    assert_eq!(r.status, 200, "{}", r.text());
    if r.body.is_empty() {
        return None;
    }
    let dict = mdm_proto::parse_dictionary(&r.body, &mdm_proto::Limits::MDM).unwrap();
    Some(dict["CommandUUID"].as_string().unwrap().to_owned())
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple()).to_uppercase()
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let backend = super::Backend::sqlite().await.unwrap();
                super::$name(&backend).await;
                backend.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(backend) = super::Backend::postgres(stringify!($name)).await {
                    super::$name(&backend).await;
                    backend.finish().await;
                }
            }
        }
    )*};
}

on_both_backends!(
    enroll_and_command_round_trip,
    not_now_is_retried_without_starving_the_queue,
    queue_fifo_with_priority,
    queue_expiry,
    queue_cancel,
    queue_idempotency_key,
    queue_destructive_never_stack,
    queue_stalled_resend_and_drop,
    health_ready_and_metrics,
    reports_errors_and_bad_input,
    checkin_message_types,
    json_commands_expiry_and_cancel,
    enrollment_listing,
    restart_keeps_queued_commands,
    many_devices_at_once,
    typed_commands_and_responses,
    declarative_management,
);

async fn declarative_management(b: &Backend) {
    use base64::Engine;
    let s = Running::start(&b.config()).await;
    let udid = unique("DDM");
    s.enroll(&udid).await;
    let path = format!("/v1/enrollments/{udid}/declarations");
    let ddm = |endpoint: &str, data: Option<&Json>| {
        let data = data
            .map(|d| {
                format!(
                    "<key>Data</key><data>{}</data>",
                    base64::engine::general_purpose::STANDARD.encode(d.to_string())
                )
            })
            .unwrap_or_default();
        plist(&format!(
            "<key>MessageType</key><string>DeclarativeManagement</string>\
             <key>UDID</key><string>{udid}</string><key>Endpoint</key><string>{endpoint}</string>{data}"
        ))
    };

    // Admin: bad declarations are refused, good ones stored with a computed ServerToken.
    let r = s.admin("PUT", &path, b"[1]").await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s
        .admin(
            "PUT",
            &path,
            json!({"Type": "com.apple.nothing", "Identifier": "x", "Payload": {}})
                .to_string()
                .as_bytes(),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s
        .admin("PUT", "/v1/enrollments/NOBODY/declarations", b"{}")
        .await;
    assert_eq!(r.status, 404);
    let test = json!({"Type": "com.apple.configuration.management.test",
                      "Identifier": "test-1", "Payload": {"Echo": "hello"}});
    let r = s.admin("PUT", &path, test.to_string().as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json()["server_token"].as_str().unwrap().to_owned();
    let activation = json!({"Type": "com.apple.activation.simple", "Identifier": "act-1",
                            "Payload": {"StandardConfigurations": ["test-1"]}});
    let r = s
        .admin("PUT", &path, activation.to_string().as_bytes())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let list = s.admin("GET", &path, b"").await.json();
    assert_eq!(list["declarations"].as_array().unwrap().len(), 2);
    let r = s.admin("GET", &format!("{path}/test-1"), b"").await.json();
    assert_eq!(r["Payload"]["Echo"], "hello");
    assert_eq!(r["ServerToken"], token.as_str());

    // The device syncs: tokens, declaration-items, each declaration, status.
    let r = s.checkin(&ddm("tokens", None)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let tokens: Json = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        tokens["SyncTokens"]["DeclarationsToken"],
        list["declarations_token"]
    );
    let r = s.checkin(&ddm("declaration-items", None)).await;
    let items: Json = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        items["Declarations"]["Configurations"][0]["Identifier"],
        "test-1"
    );
    assert_eq!(
        items["Declarations"]["Configurations"][0]["ServerToken"],
        token.as_str()
    );
    let r = s
        .checkin(&ddm("declaration/configuration/test-1", None))
        .await;
    assert_eq!(r.status, 200);
    let d: Json = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(d["Payload"]["Echo"], "hello");
    let r = s
        .checkin(&ddm("declaration/configuration/missing", None))
        .await;
    assert_eq!(r.status, 404);
    let report = json!({"StatusItems": {"management": {"declarations": {
        "configurations": [{"identifier": "test-1", "server-token": token, "active": true, "valid": "valid"}],
        "activations": [], "assets": [], "management": []}}},
        "Errors": [], "FullReport": true});
    let r = s.checkin(&ddm("status", Some(&report))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let list = s.admin("GET", &path, b"").await.json();
    assert!(list["status"].is_object(), "{list}");
    assert!(list["status"].to_string().contains("test-1"), "{list}");

    // Removing a declaration changes the token the device sees.
    let r = s.admin("DELETE", &format!("{path}/act-1"), b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        s.admin("DELETE", &format!("{path}/act-1"), b"")
            .await
            .status,
        404
    );
    let r = s.checkin(&ddm("tokens", None)).await;
    let again: Json = serde_json::from_slice(&r.body).unwrap();
    assert_ne!(
        again["SyncTokens"]["DeclarationsToken"],
        tokens["SyncTokens"]["DeclarationsToken"]
    );
    s.stop().await;
}

async fn typed_commands_and_responses(b: &Backend) {
    let s = Running::start(&b.config()).await;
    let udid = unique("TYPED");
    let auth = plist(&format!(
        "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{udid}</string>\
         <key>Topic</key><string>{TOPIC}</string><key>ProductName</key><string>iPhone15,2</string>\
         <key>OSVersion</key><string>15.0</string>"
    ));
    assert_eq!(s.checkin(&auth).await.status, 200);
    assert_eq!(s.checkin(&token_update(&udid)).await.status, 200);
    let post = |command: Json| {
        let udid = udid.clone();
        let s = &s;
        async move {
            s.admin_json(
                "POST",
                "/v1/commands",
                &json!({"enrollment_ids": [udid], "command": command, "no_push": true}),
            )
            .await
        }
    };
    // Checked against the schema: a wrong type is refused with the key named.
    let r = post(json!({"RequestType": "DeviceInformation", "Queries": "UDID"})).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("Queries"), "{}", r.text());
    // A macOS-only command cannot go to an iPhone.
    let r = post(json!({"RequestType": "SetFirmwarePassword", "NewPassword": "x"})).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("SetFirmwarePassword"), "{}", r.text());
    assert!(
        s.admin("GET", &format!("/v1/enrollments/{udid}/queue"), b"")
            .await
            .json()["commands"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Unknown commands are passed through.
    let r = post(json!({"RequestType": "SomethingFromTheFuture"})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let future = r.json()["command_uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        s.admin("DELETE", &format!("/v1/commands/{future}"), b"")
            .await
            .status,
        200
    );

    // A typed command, its report shown typed.
    let r = post(json!({"RequestType": "DeviceInformation", "Queries": ["OSVersion"]})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let uuid = r.json()["command_uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        sent_uuid(&s.device(&idle(&udid)).await).as_deref(),
        Some(uuid.as_str())
    );
    let answer = report(
        &udid,
        "Acknowledged",
        Some(&uuid),
        "<key>QueryResponses</key><dict><key>OSVersion</key><string>15.0</string></dict>",
    );
    assert_eq!(s.device(&answer).await.status, 200);
    let status = s
        .admin("GET", &format!("/v1/commands/{uuid}"), b"")
        .await
        .json();
    let target = &status["enrollments"][0];
    assert_eq!(target["status"], "Acknowledged");
    assert_eq!(
        target["response"]["QueryResponses"]["OSVersion"], "15.0",
        "{status}"
    );
    s.stop().await;
}

async fn enroll_and_command_round_trip(b: &Backend) {
    let s = Running::start(&b.config()).await;
    let udid = unique("DEV");

    let r = s.checkin(&authenticate(&udid)).await;
    assert_eq!((r.status, r.body.len()), (200, 0));
    let e = s
        .admin("GET", &format!("/v1/enrollments/{udid}"), b"")
        .await
        .json();
    assert_eq!(e["enrolled"], false);
    assert_eq!(e["authenticate"]["SerialNumber"], "C02TEST");

    let r = s.checkin(&token_update(&udid)).await;
    assert_eq!(r.status, 200);
    let e = s
        .admin("GET", &format!("/v1/enrollments/{udid}"), b"")
        .await
        .json();
    assert_eq!(e["enrolled"], true);
    assert_eq!(e["push"]["token"], "deadbeef");
    assert_eq!(e["push"]["push_magic"], format!("MAGIC-{udid}"));
    assert_eq!(e["push"]["topic"], TOPIC);
    assert_eq!(e["has_unlock_token"], true);
    assert!(
        e["token_update"].get("UnlockToken").is_none(),
        "secret not shown"
    );

    // Nothing queued: an Idle gets an empty answer.
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), None);

    // Enqueue (with a push through the logging pusher).
    let uuid = unique("CMD");
    let r = s
        .admin(
            "PUT",
            &format!("/v1/enqueue/{udid}"),
            command_plist(&uuid, "DeviceInformation").as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["command_uuid"], uuid.as_str());
    assert_eq!(j["request_type"], "DeviceInformation");
    assert_eq!(j["no_push"], false);
    // No push certificate uploaded: the push fails and says why (real pushes: apns.rs).
    assert!(
        j["status"][&udid]["push_error"]
            .as_str()
            .unwrap()
            .contains("no push certificate"),
        "{j}"
    );

    let r = s.device(&idle(&udid)).await;
    assert_eq!(
        r.header("content-type"),
        Some("application/xml; charset=utf-8")
    );
    assert_eq!(sent_uuid(&r).as_deref(), Some(uuid.as_str()));
    assert_eq!(s.status_of(&uuid, &udid).await["status"], "Queued");

    let answer = "<key>QueryResponses</key><dict><key>OSVersion</key><string>18.1</string></dict>";
    let r = s
        .device(&report(&udid, "Acknowledged", Some(&uuid), answer))
        .await;
    assert_eq!(sent_uuid(&r), None);
    let t = s.status_of(&uuid, &udid).await;
    assert_eq!(t["status"], "Acknowledged");
    assert_eq!(t["report"]["QueryResponses"]["OSVersion"], "18.1");
    assert!(t["sent_at"].is_string());

    // Push on its own.
    let r = s
        .admin("GET", &format!("/v1/push/{udid},UNKNOWN-X"), b"")
        .await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert!(j["status"][&udid]["push_error"].is_string());
    assert_eq!(j["status"]["UNKNOWN-X"]["push_error"], "unknown enrollment");
    s.stop().await;
}

async fn not_now_is_retried_without_starving_the_queue(b: &Backend) {
    // Queue contract: NotNow moves the command behind the others, with a back-off (2 s,
    // then 4 s here; timestamps are whole seconds), without starving or looping.
    let s = Running::start(&b.config().with_queue_timing(3600, 2, 8)).await;
    let udid = unique("NN");
    s.enroll(&udid).await;
    let (a, bb, c) = (unique("A"), unique("B"), unique("C"));
    for u in [&a, &bb, &c] {
        s.enqueue(&udid, u, "InstalledApplicationList").await;
    }
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), Some(a.clone()));
    // NotNow: the next command comes, not the same one again.
    let r = s.device(&report(&udid, "NotNow", Some(&a), "")).await;
    assert_eq!(sent_uuid(&r), Some(bb.clone()));
    let r = s
        .device(&report(&udid, "Acknowledged", Some(&bb), ""))
        .await;
    assert_eq!(sent_uuid(&r), Some(c.clone()));
    let r = s.device(&report(&udid, "NotNow", Some(&c), "")).await;
    assert_eq!(sent_uuid(&r), None, "session ends, no loop");
    assert_eq!(
        sent_uuid(&s.device(&idle(&udid)).await),
        None,
        "backed off: not even on the next Idle"
    );
    let st = s.status_of(&a, &udid).await;
    assert_eq!(
        (&st["status"], &st["not_now_count"]),
        (&json!("NotNow"), &json!(1))
    );
    let q = s
        .admin("GET", &format!("/v1/enrollments/{udid}/queue"), b"")
        .await
        .json();
    let q = q["commands"].as_array().unwrap();
    assert_eq!(q.len(), 2);
    assert!(q.iter().all(|e| e["state"] == "backed_off"), "{q:?}");
    // After the back-off: the NotNow'd ones, in their order.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), Some(a.clone()));
    // A second NotNow doubles the back-off: C goes, A waits.
    let r = s.device(&report(&udid, "NotNow", Some(&a), "")).await;
    assert_eq!(sent_uuid(&r), Some(c.clone()));
    let r = s.device(&report(&udid, "Acknowledged", Some(&c), "")).await;
    assert_eq!(sent_uuid(&r), None);
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), None);
    tokio::time::sleep(std::time::Duration::from_millis(4200)).await;
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), Some(a.clone()));
    assert_eq!(s.status_of(&a, &udid).await["not_now_count"], 2);
    let r = s.device(&report(&udid, "Acknowledged", Some(&a), "")).await;
    assert_eq!(sent_uuid(&r), None);
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), None);
    s.stop().await;
}

/// Queue contract: FIFO per enrollment, higher priority first.
async fn queue_fifo_with_priority(b: &Backend) {
    let s = Running::start(&b.config()).await;
    let udid = unique("PRIO");
    s.enroll(&udid).await;
    let (first, second, urgent, low) = (unique("F"), unique("S"), unique("U"), unique("L"));
    s.enqueue(&udid, &first, "ProfileList").await;
    s.enqueue(&udid, &second, "ProfileList").await;
    let r = s
        .admin(
            "PUT",
            &format!("/v1/enqueue/{udid}?nopush=1&priority=-5"),
            command_plist(&low, "ProfileList").as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s
        .admin_json(
            "POST",
            "/v1/commands",
            &json!({"enrollment_ids": [udid], "command": {"RequestType": "ProfileList"},
                    "command_uuid": urgent, "priority": 10, "no_push": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let mut order = Vec::new();
    let mut r = s.device(&idle(&udid)).await;
    while let Some(u) = sent_uuid(&r) {
        order.push(u.clone());
        r = s.device(&report(&udid, "Acknowledged", Some(&u), "")).await;
    }
    assert_eq!(order, [urgent.clone(), first, second, low]);
    assert_eq!(
        s.admin("GET", &format!("/v1/commands/{urgent}"), b"")
            .await
            .json()["priority"],
        10
    );
    s.stop().await;
}

/// Queue contract: expiry by `ttl` or `expires_at`; expired commands are never sent and
/// show as expired.
async fn queue_expiry(b: &Backend) {
    let s = Running::start(&b.config()).await;
    let udid = unique("EXP");
    s.enroll(&udid).await;
    let (ttl, at, past, keep) = (unique("T"), unique("A"), unique("P"), unique("K"));
    let r = s
        .admin(
            "PUT",
            &format!("/v1/enqueue/{udid}?nopush=1&ttl=1"),
            command_plist(&ttl, "ProfileList").as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["expires_at"].is_string());
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for (uuid, when) in [(&at, soon.as_str()), (&past, "2001-01-01T00:00:00Z")] {
        let r = s
            .admin_json(
                "POST",
                "/v1/commands",
                &json!({"enrollment_ids": [udid], "command": {"RequestType": "ProfileList"},
                        "command_uuid": uuid, "expires_at": when, "no_push": true}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    s.enqueue(&udid, &keep, "ProfileList").await;
    assert_eq!(s.status_of(&past, &udid).await["status"], "Expired");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), Some(keep.clone()));
    for uuid in [&ttl, &at, &past] {
        assert_eq!(
            s.status_of(uuid, &udid).await["status"],
            "Expired",
            "{uuid}"
        );
    }
    // Bad expiries.
    let r = s
        .admin(
            "PUT",
            &format!("/v1/enqueue/{udid}?nopush=1&ttl=5&expires_at=2030-01-01T00:00:00Z"),
            command_plist(&unique("X"), "ProfileList").as_bytes(),
        )
        .await;
    assert_problem_naming(&r, 400, "not both");
    let r = s
        .admin_json(
            "POST",
            "/v1/commands",
            &json!({"enrollment_ids": [udid], "command": {"RequestType": "ProfileList"},
                    "expires_at": "tomorrow"}),
        )
        .await;
    assert_problem_naming(&r, 400, "RFC 3339");
    s.stop().await;
}

/// Queue contract: a queued command can be cancelled (`DELETE`), for all its targets or one.
async fn queue_cancel(b: &Backend) {
    let s = Running::start(&b.config()).await;
    let (d1, d2) = (unique("C1"), unique("C2"));
    s.enroll(&d1).await;
    s.enroll(&d2).await;
    let (one, all) = (unique("ONE"), unique("ALL"));
    s.enqueue(&format!("{d1},{d2}"), &one, "ProfileList").await;
    s.enqueue(&format!("{d1},{d2}"), &all, "ProfileList").await;
    let r = s
        .admin(
            "DELETE",
            &format!("/v1/commands/{one}?enrollment_id={d1}"),
            b"",
        )
        .await;
    assert_eq!(r.json()["cancelled"], 1, "{}", r.text());
    assert_eq!(s.status_of(&one, &d1).await["status"], "Cancelled");
    assert_eq!(s.status_of(&one, &d2).await["status"], "Queued");
    let r = s.admin("DELETE", &format!("/v1/commands/{all}"), b"").await;
    assert_eq!(r.json()["cancelled"], 2);
    assert_eq!(sent_uuid(&s.device(&idle(&d1)).await), None);
    assert_eq!(sent_uuid(&s.device(&idle(&d2)).await), Some(one.clone()));
    let r = s
        .admin(
            "DELETE",
            &format!("/v1/commands/{one}?enrollment_id=NOPE"),
            b"",
        )
        .await;
    assert_problem_naming(&r, 404, "NOPE");
    s.stop().await;
}

/// Queue contract: the same idempotency key gives the same command, not a second one.
async fn queue_idempotency_key(b: &Backend) {
    let s = Running::start(&b.config()).await;
    let udid = unique("IK");
    s.enroll(&udid).await;
    let key = unique("KEY");
    let body = json!({"enrollment_ids": [udid], "command": {"RequestType": "ProfileList"},
                      "idempotency_key": key, "no_push": true});
    let first = s.admin_json("POST", "/v1/commands", &body).await;
    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(first.json()["replayed"], false);
    let uuid = first.json()["command_uuid"].as_str().unwrap().to_owned();
    let again = s.admin_json("POST", "/v1/commands", &body).await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["command_uuid"], uuid.as_str());
    assert_eq!(again.json()["replayed"], true);
    // The header, and NanoMDM's route, find it too.
    let auth = format!("Bearer {KEY}");
    let r = request(
        s.addr,
        "PUT",
        &format!("/v1/enqueue/{udid}?nopush=1"),
        &[("Authorization", &auth), ("Idempotency-Key", &key)],
        command_plist(&unique("OTHER"), "ProfileList").as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["command_uuid"], uuid.as_str());
    assert_eq!(r.json()["replayed"], true);
    // The key used for another RequestType: refused.
    let r = s
        .admin(
            "PUT",
            &format!("/v1/enqueue/{udid}?nopush=1&idempotency_key={key}"),
            command_plist(&unique("OTHER"), "DeviceInformation").as_bytes(),
        )
        .await;
    assert_problem_naming(&r, 409, &key);
    // Ten at once: one command.
    let mut tasks = Vec::new();
    let key2 = unique("RACE");
    for _ in 0..10 {
        let addr = s.addr;
        let body = json!({"enrollment_ids": [udid], "command": {"RequestType": "ProfileList"},
                          "idempotency_key": key2, "no_push": true});
        tasks.push(tokio::spawn(async move {
            let auth = format!("Bearer {KEY}");
            request(
                addr,
                "POST",
                "/v1/commands",
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                ],
                body.to_string().as_bytes(),
            )
            .await
        }));
    }
    let mut uuids = std::collections::BTreeSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert!(r.status == 200 || r.status == 201, "{}", r.text());
        uuids.insert(r.json()["command_uuid"].as_str().unwrap().to_owned());
    }
    assert_eq!(uuids.len(), 1, "{uuids:?}");
    let q = s
        .admin("GET", &format!("/v1/enrollments/{udid}/queue"), b"")
        .await
        .json();
    assert_eq!(q["commands"].as_array().unwrap().len(), 2, "{q}");
    s.stop().await;
}

/// Queue contract: destructive commands never stack for one enrollment.
async fn queue_destructive_never_stack(b: &Backend) {
    let s = Running::start(&b.config()).await;
    let (d1, d2) = (unique("DS1"), unique("DS2"));
    s.enroll(&d1).await;
    s.enroll(&d2).await;
    let lock = unique("LOCK");
    s.enqueue(&d1, &lock, "DeviceLock").await;
    // A second destructive command for d1: 409 naming the first.
    let erase = unique("ERASE");
    let r = s
        .admin(
            "PUT",
            &format!("/v1/enqueue/{d2},{d1}?nopush=1"),
            command_plist(&erase, "EraseDevice").as_bytes(),
        )
        .await;
    assert_problem_naming(&r, 409, &lock);
    let p = r.json();
    assert_eq!(p["pending_command"]["command_uuid"], lock.as_str());
    assert_eq!(p["pending_command"]["request_type"], "DeviceLock");
    assert_eq!(p["pending_command"]["enrollment_id"], d1.as_str());
    assert_eq!(
        s.admin("GET", &format!("/v1/commands/{erase}"), b"")
            .await
            .status,
        404,
        "nothing queued"
    );
    let r = s
        .admin_json(
            "POST",
            "/v1/commands",
            &json!({"enrollment_ids": [d1], "command": {"RequestType": "DeviceLock"},
                    "no_push": true}),
        )
        .await;
    assert_problem_naming(&r, 409, &lock);
    // Other commands still stack; another enrollment is not affected.
    s.enqueue(&d1, &unique("INFO"), "ProfileList").await;
    s.enqueue(&d2, &unique("LOCK2"), "DeviceLock").await;
    // replace=1: the first is cancelled, the new one queued.
    let r = s
        .admin(
            "PUT",
            &format!("/v1/enqueue/{d1}?nopush=1&replace=1"),
            command_plist(&erase, "EraseDevice").as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["replaced"], json!([lock]));
    assert_eq!(s.status_of(&lock, &d1).await["status"], "Cancelled");
    assert_eq!(s.status_of(&erase, &d1).await["status"], "Queued");
    // Once the destructive command is answered, a new one may be queued.
    assert!(sent_uuid(&s.device(&idle(&d1)).await).is_some());
    s.device(&report(&d1, "Acknowledged", Some(&erase), ""))
        .await;
    s.enqueue(&d1, &unique("LOCK3"), "DeviceLock").await;
    s.stop().await;
}

/// Queue contract: a command sent and not answered within the limit is stalled: no longer
/// sent, listed, and can be re-sent or dropped.
async fn queue_stalled_resend_and_drop(b: &Backend) {
    let s = Running::start(&b.config().with_queue_timing(2, 60, 3600)).await;
    let udid = unique("ST");
    s.enroll(&udid).await;
    let (head, next) = (unique("HEAD"), unique("NEXT"));
    s.enqueue(&udid, &head, "ProfileList").await;
    s.enqueue(&udid, &next, "ProfileList").await;
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), Some(head.clone()));
    // In flight: re-sent on Idle (the device lost it), within the limit.
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), Some(head.clone()));
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    // Stalled: no longer sent, so it does not block the queue.
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), Some(next.clone()));
    s.device(&report(&udid, "Acknowledged", Some(&next), ""))
        .await;
    assert_eq!(s.status_of(&head, &udid).await["status"], "Stalled");
    let st = s.admin("GET", "/v1/stalled", b"").await;
    assert_eq!(st.status, 200, "{}", st.text());
    let st = st.json();
    assert_eq!(st["stall_after_seconds"], 2);
    let found = st["stalled"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["command_uuid"] == head.as_str())
        .cloned()
        .unwrap();
    assert_eq!(found["enrollment_id"], udid.as_str());
    assert!(found["stalled_for_seconds"].as_i64().unwrap() >= 2);
    // Re-send: at the head again.
    let r = s
        .admin("POST", &format!("/v1/commands/{head}/resend?nopush=1"), b"")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["requeued"], 1);
    assert_eq!(s.status_of(&head, &udid).await["status"], "Queued");
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), Some(head.clone()));
    // Drop: cancelled for this enrollment, never sent again.
    let r = s
        .admin(
            "DELETE",
            &format!("/v1/commands/{head}?enrollment_id={udid}"),
            b"",
        )
        .await;
    assert_eq!(r.json()["cancelled"], 1);
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), None);
    assert_eq!(s.status_of(&head, &udid).await["status"], "Cancelled");
    let r = s.admin("POST", "/v1/commands/NOPE/resend", b"").await;
    assert_problem_naming(&r, 404, "NOPE");
    s.stop().await;
}

/// The value of a metric line (`name{labels} value`) in OpenMetrics text, 0 when absent.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// `/health`, `/ready` and `/metrics`, without the API key.
async fn health_ready_and_metrics(b: &Backend) {
    let s = Running::start(&b.config().with_queue_timing(1, 60, 3600)).await;
    let r = request(s.addr, "GET", "/health", &[], b"").await;
    assert_eq!((r.status, r.json()["status"].clone()), (200, json!("ok")));
    let r = request(s.addr, "GET", "/ready", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["storage"], "ok");
    let scrape = || async {
        let r = request(s.addr, "GET", "/metrics", &[], b"").await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            r.header("content-type")
                .unwrap()
                .starts_with("application/openmetrics-text")
        );
        r.text()
    };
    let before = scrape().await;
    let udid = unique("MET");
    s.enroll(&udid).await;
    let (a, bb) = (unique("A"), unique("B"));
    s.enqueue(&udid, &a, "ProfileList").await;
    s.enqueue(&udid, &bb, "ProfileList").await;
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), Some(a.clone()));
    let r = s.device(&report(&udid, "NotNow", Some(&a), "")).await;
    assert_eq!(sent_uuid(&r), Some(bb.clone()));
    // B is sent and never answered: stalled after a second.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // A refusal: a check-in that is not a plist.
    assert_eq!(s.checkin("not a plist").await.status, 400);
    let after = scrape().await;
    let delta = |series: &str| metric(&after, series) - metric(&before, series);
    assert_eq!(
        delta("mdm_checkins_total{type=\"Authenticate\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(delta("mdm_checkins_total{type=\"TokenUpdate\"}"), 1.0);
    assert_eq!(delta("mdm_command_reports_total{status=\"NotNow\"}"), 1.0);
    assert_eq!(delta("mdm_commands_queued_total"), 2.0);
    assert_eq!(delta("mdm_not_now_backoffs_total"), 1.0);
    assert!(metric(&after, "mdm_queue_depth") >= 2.0, "{after}");
    assert!(metric(&after, "mdm_queue_stalled") >= 1.0, "{after}");
    assert!(
        metric(&after, "mdm_queue_oldest_pending_age_seconds") >= 2.0,
        "{after}"
    );
    assert!(
        after
            .lines()
            .any(|l| l.starts_with("mdm_refusals_total{reason=")),
        "{after}"
    );
    // Enrolled, but no push certificate for its topic: it cannot be pushed.
    assert!(
        metric(&after, "mdm_enrollments_unpushable") >= 1.0,
        "{after}"
    );
    // Latency by route template (never the raw path), method and status class.
    let requests = |route: &str, method: &str, status: &str| {
        metric(
            &after,
            &format!(
                "mdm_http_request_duration_seconds_count{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}}"
            ),
        ) - metric(
            &before,
            &format!(
                "mdm_http_request_duration_seconds_count{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}}"
            ),
        )
    };
    assert_eq!(requests("/mdm", "PUT", "2xx"), 2.0, "{after}");
    assert_eq!(requests("/mdm/checkin", "PUT", "4xx"), 1.0, "{after}");
    assert!(
        requests("/v1/enqueue/{ids}", "PUT", "2xx") >= 2.0,
        "{after}"
    );
    assert!(!after.contains(&udid), "no raw path or ID in a label");
    assert!(after.trim_end().ends_with("# EOF"));
    s.stop().await;
}

async fn reports_errors_and_bad_input(b: &Backend) {
    let s = Running::start(&b.config().with_max_body(4096)).await;
    let udid = unique("ERR");
    s.enroll(&udid).await;
    let (e1, e2, e3, e4) = (unique("E1"), unique("E2"), unique("E3"), unique("E4"));
    for u in [&e1, &e2, &e3, &e4] {
        s.enqueue(&udid, u, "InstallProfile").await;
    }
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), Some(e1.clone()));
    let chain = "<key>ErrorChain</key><array><dict><key>ErrorCode</key><integer>4001</integer>\
                 <key>ErrorDomain</key><string>MCProfileErrorDomain</string></dict></array>";
    let r = s.device(&report(&udid, "Error", Some(&e1), chain)).await;
    assert_eq!(sent_uuid(&r), Some(e2.clone()));
    let t = s.status_of(&e1, &udid).await;
    assert_eq!(t["status"], "Error");
    assert_eq!(t["report"]["ErrorChain"][0]["ErrorCode"], 4001);

    // A repeated report is idempotent.
    let r = s
        .device(&report(&udid, "Acknowledged", Some(&e1), ""))
        .await;
    assert_eq!(sent_uuid(&r), Some(e2.clone()));
    assert_eq!(s.status_of(&e1, &udid).await["status"], "Error");

    let r = s
        .device(&report(&udid, "CommandFormatError", Some(&e2), ""))
        .await;
    assert_eq!(sent_uuid(&r), Some(e3.clone()));
    assert_eq!(
        s.status_of(&e2, &udid).await["status"],
        "CommandFormatError"
    );

    // A report that cannot be decoded (ErrorChain of the wrong type) is kept and closes
    // the command, and the queue moves on.
    let bad = report(
        &udid,
        "Error",
        Some(&e3),
        "<key>ErrorChain</key><string>x</string>",
    );
    let r = s.device(&bad).await;
    assert_eq!(sent_uuid(&r), Some(e4.clone()));
    let t = s.status_of(&e3, &udid).await;
    assert_eq!(t["status"], "Undecodable");
    let bad_list = s.admin("GET", "/v1/bad-reports", b"").await.json();
    assert!(
        bad_list["bad_reports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["command_uuid"] == e3.as_str()
                && b["reason"].as_str().unwrap().contains("ErrorChain")),
        "{bad_list}"
    );

    // Malformed, deep, oversized and empty bodies: 4xx, and the queue is intact.
    for body in [
        "not a plist".to_owned(),
        String::new(),
        format!("<plist>{}</plist>", "<array>".repeat(200)),
        plist("<key>UDID</key><string>X</string>"),
        "<plist><dict><key>Status</key><string>Idle".to_owned(),
    ] {
        let r = s.device(&body).await;
        assert_eq!(r.status, 400, "{body:?}: {}", r.text());
    }
    let big = report(
        &udid,
        "Acknowledged",
        Some(&e4),
        &"<key>Pad</key><string>xx</string>".repeat(200),
    );
    assert!(big.len() > 4096);
    let r = s.device(&big).await;
    assert_eq!(r.status, 413, "{}", r.text());
    // A report from an enrollment the server does not know.
    let r = s.device(&idle(&unique("STRANGER"))).await;
    assert_eq!(r.status, 403);
    // Nothing lost: e4 is still waiting and is sent on the next Idle.
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), Some(e4.clone()));
    let r = s
        .device(&report(&udid, "Acknowledged", Some(&e4), ""))
        .await;
    assert_eq!(sent_uuid(&r), None);

    // Admin input errors.
    let r = s
        .admin(
            "PUT",
            &format!("/v1/enqueue/{udid}"),
            b"<plist><dict/></plist>",
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("CommandUUID"), "{}", r.text());
    let r = s
        .admin(
            "PUT",
            &format!("/v1/enqueue/{udid}"),
            command_plist(&e1, "X").as_bytes(),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = s.admin("GET", "/v1/commands/NOPE", b"").await;
    assert_eq!(r.status, 404);
    let r = s.admin("GET", "/v1/enrollments/NOPE", b"").await;
    assert_eq!(r.status, 404);
    let r = s.admin("GET", "/v1/enrollments?limit=abc", b"").await;
    assert_eq!(r.status, 400);
    s.stop().await;
}

async fn checkin_message_types(b: &Backend) {
    let s = Running::start(&b.config()).await;
    let udid = unique("CK");
    s.enroll(&udid).await;
    let msg = |t: &str, extra: &str| {
        plist(&format!(
            "<key>MessageType</key><string>{t}</string><key>UDID</key><string>{udid}</string>{extra}"
        ))
    };
    // Bootstrap token: none yet, then escrowed and returned.
    let r = s.checkin(&msg("GetBootstrapToken", "")).await;
    assert_eq!(r.status, 200);
    let d = mdm_proto::parse_dictionary(&r.body, &mdm_proto::Limits::MDM).unwrap();
    assert!(d.get("BootstrapToken").is_none());
    let r = s
        .checkin(&msg(
            "SetBootstrapToken",
            "<key>BootstrapToken</key><data>Ym9vdA==</data>",
        ))
        .await;
    assert_eq!(r.status, 200);
    let r = s.device(&msg("GetBootstrapToken", "")).await;
    let d = mdm_proto::parse_dictionary(&r.body, &mdm_proto::Limits::MDM).unwrap();
    assert_eq!(d["BootstrapToken"].as_data(), Some(&b"boot"[..]));

    // ReturnToService: refused until the admin API sets the enrollment's settings.
    let rts = format!("/v1/enrollments/{udid}/return-to-service");
    let r = s.checkin(&msg("ReturnToService", "")).await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("return-to-service"), "{}", r.text());
    let settings = serde_json::json!({"enabled": true, "wifi_profile": "d2lmaQ==",
        "send_bootstrap_token": true, "should_retry_enrollment": true});
    let r = s.admin_json("PUT", &rts, &settings).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.admin("GET", &rts, b"").await.json()["settings"], settings);
    let r = s.checkin(&msg("ReturnToService", "")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = mdm_checkin::ReturnToServiceResponse::decode(&r.body).unwrap();
    let rts_settings = &answer.return_to_service;
    assert!(rts_settings.enabled);
    assert_eq!(rts_settings.wi_fi_profile_data.as_ref().unwrap().0, b"wifi");
    assert_eq!(rts_settings.bootstrap_token.as_ref().unwrap().0, b"boot");
    assert_eq!(rts_settings.should_retry_enrollment, Some(true));
    let bad = serde_json::json!({"enabled": true, "wifi_profile": "!!"});
    assert_eq!(s.admin_json("PUT", &rts, &bad).await.status, 400);
    assert_eq!(s.admin("DELETE", &rts, b"").await.status, 200);
    assert_eq!(s.checkin(&msg("ReturnToService", "")).await.status, 404);

    // UserAuthenticate comes on a user channel (mdm-checkin refuses one without UserID).
    let user_auth = msg("UserAuthenticate", "<key>UserID</key><string>U1</string>");
    assert_eq!(s.checkin(&user_auth).await.status, 410);
    // DeclarativeManagement without an Endpoint (served by mdm-ddm: see declarative_management).
    assert_eq!(
        s.checkin(&msg("DeclarativeManagement", "")).await.status,
        400
    );
    let r = s
        .checkin(&msg(
            "GetToken",
            "<key>TokenServiceType</key><string>com.apple.maid</string>",
        ))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("com.apple.maid"));
    assert_eq!(s.checkin(&msg("SomethingNew", "")).await.status, 400);
    // Tokens are only handed to known enrollments.
    let stranger = plist(
        "<key>MessageType</key><string>GetBootstrapToken</string>\
         <key>UDID</key><string>STRANGER</string>",
    );
    assert_eq!(s.checkin(&stranger).await.status, 403);
    // TokenUpdate without its keys.
    assert_eq!(s.checkin(&msg("TokenUpdate", "")).await.status, 400);
    // A check-in without MessageType on the check-in URL.
    assert_eq!(s.checkin(&idle(&udid)).await.status, 400);
    // Enrollment endpoints are served (tested in identity.rs): the profile needs a token.
    assert_eq!(
        request(s.addr, "GET", "/mdm/enroll", &[], b"").await.status,
        403
    );
    let token = support::enrollment_token(s.addr, KEY, "{}").await;
    let path = format!("/mdm/enroll?token={}", token["token"].as_str().unwrap());
    assert_eq!(request(s.addr, "GET", &path, &[], b"").await.status, 200);
    assert_eq!(
        request(s.addr, "GET", "/scep?operation=GetCACaps", &[], b"")
            .await
            .status,
        200
    );

    // A user channel enrolls with TokenUpdate alone.
    let user = plist(&format!(
        "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{udid}</string>\
         <key>UserID</key><string>USER-1</string><key>UserShortName</key><string>anna</string>\
         <key>Topic</key><string>{TOPIC}</string><key>PushMagic</key><string>M</string>\
         <key>Token</key><data>AQI=</data>"
    ));
    assert_eq!(s.checkin(&user).await.status, 200);
    let e = s
        .admin("GET", &format!("/v1/enrollments/{udid}:USER-1"), b"")
        .await
        .json();
    assert_eq!(e["type"], "User");
    assert_eq!(e["device_id"], udid.as_str());
    assert_eq!(e["user_short_name"], "anna");

    // CheckOut.
    assert_eq!(s.checkin(&msg("CheckOut", "")).await.status, 200);
    let e = s
        .admin("GET", &format!("/v1/enrollments/{udid}"), b"")
        .await
        .json();
    assert_eq!(e["enrolled"], false);
    assert!(e["checked_out_at"].is_string());
    let r = s
        .admin("GET", &format!("/v1/push/{udid}"), b"")
        .await
        .json();
    assert!(r["status"][&udid]["push_error"].is_string());
    s.stop().await;
}

async fn json_commands_expiry_and_cancel(b: &Backend) {
    let s = Running::start(&b.config()).await;
    let (d1, d2) = (unique("J1"), unique("J2"));
    s.enroll(&d1).await;
    s.enroll(&d2).await;
    let r = s
        .admin_json(
            "POST",
            "/v1/commands",
            &json!({
                "enrollment_ids": [d1, d2],
                "command": {"RequestType": "DeviceInformation", "Queries": ["OSVersion", "UDID"]},
                "no_push": true,
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let uuid = r.json()["command_uuid"].as_str().unwrap().to_owned();
    let got = s.device(&idle(&d1)).await;
    assert_eq!(sent_uuid(&got).as_deref(), Some(uuid.as_str()));
    let d = mdm_proto::parse_dictionary(&got.body, &mdm_proto::Limits::MDM).unwrap();
    let cmd = d["Command"].as_dictionary().unwrap();
    assert_eq!(cmd["Queries"].as_array().unwrap().len(), 2);
    s.device(&report(&d1, "Acknowledged", Some(&uuid), ""))
        .await;
    let j = s
        .admin("GET", &format!("/v1/commands/{uuid}"), b"")
        .await
        .json();
    assert_eq!(j["command"]["Command"]["RequestType"], "DeviceInformation");
    assert_eq!(j["enrollments"].as_array().unwrap().len(), 2);
    assert_eq!(s.status_of(&uuid, &d1).await["status"], "Acknowledged");
    assert_eq!(s.status_of(&uuid, &d2).await["status"], "Queued");

    // Cancel a command for everyone who has not answered.
    let r = s
        .admin("DELETE", &format!("/v1/commands/{uuid}"), b"")
        .await;
    assert_eq!(r.json()["cancelled"], 1);
    assert_eq!(s.status_of(&uuid, &d2).await["status"], "Cancelled");
    assert_eq!(sent_uuid(&s.device(&idle(&d2)).await), None);

    // An expired command is not sent.
    let r = s
        .admin_json(
            "POST",
            "/v1/commands",
            &json!({"enrollment_ids": [d2], "command": {"RequestType": "ProfileList"},
                    "command_uuid": "EXPIRING-".to_owned() + &d2, "expires_in": 0, "no_push": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(sent_uuid(&s.device(&idle(&d2)).await), None);
    assert_eq!(
        s.status_of(&format!("EXPIRING-{d2}"), &d2).await["status"],
        "Expired"
    );

    // Clear a queue.
    s.enqueue(&d2, &unique("Q1"), "ProfileList").await;
    s.enqueue(&d2, &unique("Q2"), "ProfileList").await;
    let r = s
        .admin("DELETE", &format!("/v1/enrollments/{d2}/queue"), b"")
        .await;
    assert_eq!(r.json()["cancelled"], 3, "two queued and the expired one");
    assert_eq!(sent_uuid(&s.device(&idle(&d2)).await), None);

    // Bad JSON commands.
    for body in [
        json!({"enrollment_ids": [d1], "command": {"Queries": []}}),
        json!({"enrollment_ids": [], "command": {"RequestType": "ProfileList"}}),
        json!({"enrollment_ids": [d1], "command": {"RequestType": null}}),
    ] {
        let r = s.admin_json("POST", "/v1/commands", &body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
    }
    let r = s
        .admin_json("POST", "/v1/commands", &json!({"nope": 1}))
        .await;
    assert!((400..500).contains(&r.status));
    s.stop().await;
}

async fn enrollment_listing(b: &Backend) {
    let s = Running::start(&b.config()).await;
    let base = unique("L");
    let ids: Vec<String> = (0..5).map(|i| format!("{base}-{i}")).collect();
    for id in &ids[..3] {
        s.enroll(id).await;
    }
    for id in &ids[3..] {
        s.checkin(&authenticate(id)).await;
    }
    // Page through everything, two at a time, and find ours in order.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..1000 {
        let path = match &after {
            Some(a) => format!("/v1/enrollments?limit=2&after={a}"),
            None => "/v1/enrollments?limit=2".to_owned(),
        };
        let j = s.admin("GET", &path, b"").await.json();
        for e in j["enrollments"].as_array().unwrap() {
            seen.push(e["id"].as_str().unwrap().to_owned());
        }
        match j["next_after"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    let ours: Vec<_> = seen
        .iter()
        .filter(|i| i.starts_with(&base))
        .cloned()
        .collect();
    assert_eq!(ours, ids);
    let j = s
        .admin(
            "GET",
            &format!("/v1/enrollments?device_id={}&enrolled=true", ids[0]),
            b"",
        )
        .await
        .json();
    assert_eq!(j["enrollments"].as_array().unwrap().len(), 1);
    let j = s
        .admin(
            "GET",
            &format!("/v1/enrollments?device_id={}&enrolled=true", ids[4]),
            b"",
        )
        .await
        .json();
    assert_eq!(j["enrollments"].as_array().unwrap().len(), 0);
    s.stop().await;
}

async fn restart_keeps_queued_commands(b: &Backend) {
    let s = Running::start(&b.config()).await;
    let udid = unique("RS");
    s.enroll(&udid).await;
    let (a, c) = (unique("A"), unique("C"));
    s.enqueue(&udid, &a, "DeviceInformation").await;
    s.enqueue(&udid, &c, "DeviceInformation").await;
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), Some(a.clone()));
    s.stop().await;

    // The device's answer arrives at the restarted server.
    let s = Running::start(&b.config()).await;
    let r = s.device(&report(&udid, "Acknowledged", Some(&a), "")).await;
    assert_eq!(sent_uuid(&r), Some(c.clone()));
    let e = s
        .admin("GET", &format!("/v1/enrollments/{udid}"), b"")
        .await
        .json();
    assert_eq!(e["enrolled"], true);
    s.stop().await;
}

async fn many_devices_at_once(b: &Backend) {
    let s = Arc::new(Running::start(&b.config()).await);
    let base = unique("MANY");
    let uuid = unique("ALL");
    let ids: Vec<String> = (0..16).map(|i| format!("{base}-{i}")).collect();
    let mut tasks = Vec::new();
    for id in ids.clone() {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move { s.enroll(&id).await }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // One command for all of them, then every device runs its round trip at once.
    s.enqueue(&ids.join(","), &uuid, "DeviceInformation").await;
    let mut tasks = Vec::new();
    for id in ids.clone() {
        let (s, uuid) = (Arc::clone(&s), uuid.clone());
        tasks.push(tokio::spawn(async move {
            assert_eq!(sent_uuid(&s.device(&idle(&id)).await), Some(uuid.clone()));
            let r = s
                .device(&report(&id, "Acknowledged", Some(&uuid), ""))
                .await;
            assert_eq!(sent_uuid(&r), None);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let j = s
        .admin("GET", &format!("/v1/commands/{uuid}"), b"")
        .await
        .json();
    let targets = j["enrollments"].as_array().unwrap();
    assert_eq!(targets.len(), ids.len());
    assert!(targets.iter().all(|t| t["status"] == "Acknowledged"), "{j}");
    Arc::into_inner(s).unwrap().stop().await;
}

#[tokio::test]
async fn every_admin_route_needs_the_key_and_is_documented() {
    let b = Backend::sqlite().await.unwrap();
    let s = Running::start(&b.config()).await;
    let routes = mdm_server::http::admin_routes();
    let device = mdm_server::http::device_routes();
    let doc = mdm_server::openapi::document();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    let mut registered: Vec<(String, String)> = routes
        .list()
        .iter()
        .chain(device.list())
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    registered.sort();
    documented.sort();
    assert_eq!(registered, documented, "router and OpenAPI disagree");
    for (method, path) in device.list() {
        let op = &doc["paths"][*path][method.to_lowercase()];
        assert_eq!(op["security"], json!([]), "{method} {path} is public");
    }

    for (method, path) in routes.list() {
        if mdm_server::admin::PUBLIC_PATHS.contains(path) {
            let op = &doc["paths"][*path][method.to_lowercase()];
            assert_eq!(op["security"], json!([]), "{method} {path} is public");
            continue;
        }
        let concrete = path
            .replace("{ids}", "A,B")
            .replace("{id}", "A")
            .replace("{uuid}", "U")
            .replace("{identifier}", "I");
        let r = request(s.addr, method, &concrete, &[], b"").await;
        assert_eq!(r.status, 401, "{method} {path} without a key");
        assert!(r.header("www-authenticate").is_some());
        let r = request(
            s.addr,
            method,
            &concrete,
            &[("Authorization", "Bearer wrong")],
            b"",
        )
        .await;
        assert_eq!(r.status, 401, "{method} {path} with a wrong key");
    }
    // Basic with any user name, or Bearer.
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("whoever:{KEY}"))
    );
    let r = request(
        s.addr,
        "GET",
        "/v1/stats",
        &[("Authorization", &basic)],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // NanoMDM's tools ask for the version without a key; a wrong key does not matter there.
    for headers in [&[][..], &[("Authorization", "Bearer wrong")][..]] {
        let r = request(s.addr, "GET", "/version", headers, b"").await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["version"], env!("CARGO_PKG_VERSION"));
    }
    // Only that route: the others still refuse.
    let r = request(s.addr, "GET", "/version/../v1/stats", &[], b"").await;
    assert_ne!(r.status, 200, "{}", r.text());
    let r = s.admin("GET", "/v1/openapi.json", b"").await;
    assert_eq!(r.json()["openapi"], "3.1.0");
    s.stop().await;
}

#[tokio::test]
async fn two_instances_share_one_postgres() {
    let Some(b) = Backend::postgres("two_instances_share_one_postgres").await else {
        return;
    };
    let one = Running::start(&b.config()).await;
    let two = Running::start(&b.config()).await;
    let udid = unique("TWO");
    one.enroll(&udid).await;
    let uuid = unique("CMD");
    one.enqueue(&udid, &uuid, "DeviceInformation").await;
    assert_eq!(
        sent_uuid(&two.device(&idle(&udid)).await),
        Some(uuid.clone())
    );
    let r = one
        .device(&report(&udid, "Acknowledged", Some(&uuid), ""))
        .await;
    assert_eq!(sent_uuid(&r), None);
    assert_eq!(two.status_of(&uuid, &udid).await["status"], "Acknowledged");
    one.stop().await;
    two.stop().await;
    b.finish().await;
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let b = Backend::sqlite().await.unwrap();
    let s = Running::start(&b.config().with_timeouts(1, 1)).await;
    let started = std::time::Instant::now();

    // Connects and says nothing: closed after the header timeout.
    let mut silent = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    // Sends half a head: same.
    let mut half = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    half.write_all(b"PUT /mdm HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Sends a head and half a body: 408 after the request timeout.
    let mut slow_body = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    slow_body
        .write_all(b"PUT /mdm HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n<plist>")
        .await
        .unwrap();

    let limit = std::time::Duration::from_secs(10);
    for stream in [&mut silent, &mut half] {
        let mut out = Vec::new();
        let read = tokio::time::timeout(limit, stream.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "connection not closed");
        assert!(!String::from_utf8_lossy(&out).contains(" 200 "));
    }
    let mut out = Vec::new();
    tokio::time::timeout(limit, slow_body.read_to_end(&mut out))
        .await
        .expect("slow body not answered")
        .ok();
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 408"),
        "{out:?}"
    );
    assert!(started.elapsed() < limit);

    // Others are served meanwhile and afterwards.
    let r = s.admin("GET", "/version", b"").await;
    assert_eq!(r.status, 200);
    s.stop().await;
}

/// Asserts that `r` is a problem details document (RFC 9457) for `status`.
/// A problem details answer whose `detail` names `what`.
fn assert_problem_naming(r: &Response, status: u16, what: &str) {
    assert_problem(r, status, what);
    let detail = r.json()["detail"].as_str().unwrap_or_default().to_owned();
    assert!(detail.contains(what), "{what} not in {detail}");
}

fn assert_problem(r: &Response, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some(mdm_server::problem::CONTENT_TYPE),
        "{what}"
    );
    let p = r.json();
    assert_eq!(p["status"], status, "{what}: {p}");
    assert_eq!(p["type"], "about:blank", "{what}: {p}");
    assert!(p["title"].is_string(), "{what}: {p}");
    assert!(p["instance"].is_string(), "{what}: {p}");
}

#[tokio::test]
async fn admin_errors_are_problem_details() {
    let b = Backend::sqlite().await.unwrap();
    let s = Running::start(&b.config()).await;
    let auth = format!("Bearer {KEY}");
    // Every registered admin route: refused without the key (401 with WWW-Authenticate),
    // and, with the key, any error it gives for unknown IDs and an unreadable body.
    for (method, path) in mdm_server::http::admin_routes().list() {
        let concrete = path
            .replace("{ids}", "NOPE-A,NOPE-B")
            .replace("{id}", "NOPE")
            .replace("{uuid}", "NOPE")
            .replace("{identifier}", "NOPE");
        let what = format!("{method} {path}");
        if !mdm_server::admin::PUBLIC_PATHS.contains(path) {
            let r = request(s.addr, method, &concrete, &[], b"").await;
            assert_problem(&r, 401, &what);
            assert!(r.header("www-authenticate").is_some(), "{what}");
            assert_eq!(r.json()["instance"], concrete.as_str());
        }
        let r = request(
            s.addr,
            method,
            &concrete,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            b"\xff{",
        )
        .await;
        if r.status >= 400 {
            assert_problem(&r, r.status, &what);
        }
    }
    // 400, 404, 409, 413, 415, 405 by name.
    let r = s.admin("PUT", "/v1/enqueue/X", b"not a plist").await;
    assert_problem(&r, 400, "bad plist");
    assert!(r.json()["detail"].is_string());
    let r = s.admin("GET", "/v1/enrollments/NOPE", b"").await;
    assert_problem(&r, 404, "unknown enrollment");
    let r = s.admin("GET", "/v1/enrollments?limit=abc", b"").await;
    assert_problem(&r, 400, "bad query");
    s.enroll("PROBLEM-DEV").await;
    s.enqueue("PROBLEM-DEV", "PROBLEM-CMD", "ProfileList").await;
    let again = command_plist("PROBLEM-CMD", "ProfileList");
    let r = s
        .admin("PUT", "/v1/enqueue/PROBLEM-DEV?nopush=1", again.as_bytes())
        .await;
    assert_problem(&r, 409, "CommandUUID used twice");
    let r = request(
        s.addr,
        "POST",
        "/v1/commands",
        &[("Authorization", &auth), ("Content-Type", "text/plain")],
        b"{}",
    )
    .await;
    assert_problem(&r, 415, "not JSON");
    let r = request(
        s.addr,
        "PATCH",
        "/v1/stats",
        &[("Authorization", &auth)],
        b"",
    )
    .await;
    assert_problem(&r, 405, "wrong method");
    let big = vec![b' '; 11 * 1024 * 1024];
    let r = s.admin("PUT", "/v1/enqueue/X", &big).await;
    assert_problem(&r, 413, "body too large");
    // Device routes keep what devices expect.
    let r = request(s.addr, "PUT", "/mdm/checkin", &[], b"not a plist").await;
    assert!(r.status >= 400);
    assert_ne!(
        r.header("content-type"),
        Some(mdm_server::problem::CONTENT_TYPE)
    );
    // The document says so.
    let doc = mdm_server::openapi::document();
    assert!(doc["components"]["schemas"]["ProblemDetails"].is_object());
    for (method, path) in mdm_server::http::admin_routes().list() {
        let op = &doc["paths"][*path][method.to_lowercase()];
        for (code, response) in op["responses"].as_object().unwrap() {
            let content = &response["content"];
            if code.starts_with('4') || code.starts_with('5') {
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/ProblemDetails",
                    "{method} {path} {code}"
                );
            } else {
                assert!(
                    content.as_object().is_some_and(|c| !c.is_empty()),
                    "{method} {path} {code}"
                );
            }
        }
    }
    s.stop().await;
    b.finish().await;
}

/// A command plist laid out as NanoMDM's `tools/cmdr.py` writes it with Python's
/// `plistlib.dump`: XML declaration and DOCTYPE, keys sorted (`Command` before
/// `CommandUUID`), tab indentation, data as wrapped base64.
fn cmdr_plist(uuid: &str, command: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n\t<key>Command</key>\n\t<dict>\n{command}\t</dict>\n\
         \t<key>CommandUUID</key>\n\t<string>{uuid}</string>\n</dict>\n</plist>\n"
    )
}

#[tokio::test]
async fn nanomdm_cmdr_plists_are_queued_fetched_and_acknowledged() {
    let b = Backend::sqlite().await.unwrap();
    let s = Running::start(&b.config()).await;
    let udid = unique("CMDR");
    s.enroll(&udid).await;
    let profile = base64::engine::general_purpose::STANDARD.encode(plist(
        "<key>PayloadType</key><string>Configuration</string>",
    ));
    let (first, rest) = profile.split_at(profile.len().min(40));
    let commands = [
        (
            "ProfileList",
            "\t\t<key>RequestType</key>\n\t\t<string>ProfileList</string>\n".to_owned(),
        ),
        (
            "DeviceLock",
            "\t\t<key>Message</key>\n\t\t<string>Lock Message</string>\n\
             \t\t<key>PhoneNumber</key>\n\t\t<string>954-555-5555</string>\n\
             \t\t<key>RequestType</key>\n\t\t<string>DeviceLock</string>\n"
                .to_owned(),
        ),
        (
            "DeviceInformation",
            "\t\t<key>Queries</key>\n\t\t<array>\n\t\t\t<string>Model</string>\n\
             \t\t\t<string>OSVersion</string>\n\t\t</array>\n\
             \t\t<key>RequestType</key>\n\t\t<string>DeviceInformation</string>\n"
                .to_owned(),
        ),
        (
            "InstallProfile",
            format!(
                "\t\t<key>Payload</key>\n\t\t<data>\n\t\t{first}\n\t\t{rest}\n\t\t</data>\n\
                 \t\t<key>RequestType</key>\n\t\t<string>InstallProfile</string>\n"
            ),
        ),
        (
            "RemoveProfile",
            "\t\t<key>Identifier</key>\n\t\t<string>com.example.profile</string>\n\
             \t\t<key>RequestType</key>\n\t\t<string>RemoveProfile</string>\n"
                .to_owned(),
        ),
        (
            "ScheduleOSUpdate",
            "\t\t<key>RequestType</key>\n\t\t<string>ScheduleOSUpdate</string>\n\
             \t\t<key>Updates</key>\n\t\t<array>\n\t\t\t<dict>\n\
             \t\t\t\t<key>InstallAction</key>\n\t\t\t\t<string>InstallASAP</string>\n\
             \t\t\t\t<key>MaxUserDeferrals</key>\n\t\t\t\t<integer>3</integer>\n\
             \t\t\t\t<key>ProductVersion</key>\n\t\t\t\t<string>17.1</string>\n\
             \t\t\t</dict>\n\t\t</array>\n"
                .to_owned(),
        ),
    ];
    for (request_type, body) in &commands {
        // cmdr.py's default CommandUUID is a lowercase uuid4.
        let uuid = uuid::Uuid::new_v4().to_string();
        let r = s
            .admin(
                "PUT",
                &format!("/v1/enqueue/{udid}?nopush=1"),
                cmdr_plist(&uuid, body).as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{request_type}: {}", r.text());
        assert_eq!(r.json()["command_uuid"], uuid.as_str());
        assert_eq!(r.json()["request_type"], *request_type);

        let r = s.device(&idle(&udid)).await;
        assert_eq!(
            sent_uuid(&r).as_deref(),
            Some(uuid.as_str()),
            "{request_type}"
        );
        let sent = mdm_proto::parse_dictionary(&r.body, &mdm_proto::Limits::MDM).unwrap();
        let command = sent["Command"].as_dictionary().unwrap();
        assert_eq!(command["RequestType"].as_string(), Some(*request_type));
        if *request_type == "InstallProfile" {
            assert_eq!(
                command["Payload"].as_data().map(|d| d.to_vec()),
                base64::engine::general_purpose::STANDARD
                    .decode(&profile)
                    .ok()
            );
        }

        let r = s
            .device(&report(&udid, "Acknowledged", Some(&uuid), ""))
            .await;
        assert_eq!(sent_uuid(&r), None, "{request_type}: nothing else queued");
        assert_eq!(
            s.status_of(&uuid, &udid).await["status"],
            "Acknowledged",
            "{request_type}"
        );
    }
    s.stop().await;
    b.finish().await;
}

/// Whether `value` conforms to `schema` (the subset of JSON Schema 2020-12 the derived
/// schemas use: `$ref` into the document, `anyOf`/`oneOf`/`allOf`, `type`, `enum`,
/// `const`, `properties`, `required`, `additionalProperties`, `items`); the first
/// mismatch, with its JSON path.
fn conforms(doc: &Json, schema: &Json, value: &Json, at: &str) -> Result<(), String> {
    let schema = match schema {
        Json::Bool(true) => return Ok(()),
        Json::Bool(false) => return Err(format!("{at}: nothing allowed")),
        s => s,
    };
    if let Some(r) = schema["$ref"].as_str() {
        let target = doc
            .pointer(r.trim_start_matches('#'))
            .ok_or_else(|| format!("{at}: dangling $ref {r}"))?;
        conforms(doc, target, value, at)?;
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = schema[key].as_array() {
            let errors: Vec<String> = options
                .iter()
                .filter_map(|o| conforms(doc, o, value, at).err())
                .collect();
            if errors.len() == options.len() {
                return Err(format!("{at}: no {key} option fits: {errors:?}"));
            }
        }
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            conforms(doc, s, value, at)?;
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} not in {allowed:?}"));
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        return Err(format!("{at}: {value} is not {c}"));
    }
    let kind = match value {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    };
    let fits = |t: &Json| t == kind || (t == "number" && kind == "integer");
    match &schema["type"] {
        Json::Null => {}
        Json::Array(types) if types.iter().any(fits) => {}
        t if fits(t) => {}
        t => return Err(format!("{at}: {kind} where the schema says {t}")),
    }
    if let Json::Object(map) = value {
        let properties = schema["properties"].as_object();
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap_or_default();
            if !map.contains_key(name) {
                return Err(format!("{at}: required `{name}` missing"));
            }
        }
        for (key, v) in map {
            let path = format!("{at}.{key}");
            match properties.and_then(|p| p.get(key)) {
                Some(s) => conforms(doc, s, v, &path)?,
                None => match &schema["additionalProperties"] {
                    Json::Null if properties.is_none() => {}
                    Json::Null | Json::Bool(false) => {
                        return Err(format!("{path}: not in the schema"));
                    }
                    other => conforms(doc, other, v, &path)?,
                },
            }
        }
    }
    if let (Json::Array(items), Some(item)) = (value, schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            conforms(doc, item, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Every JSON answer of the admin API, taken from a server with an enrolled device, a
/// command answered, a token, a declaration and return-to-service settings, conforms to
/// the schema the OpenAPI document gives for it (derived from the handlers' own types), and
/// every success answer of an admin route has a schema.
#[tokio::test]
async fn admin_answers_match_the_documented_schemas() {
    let b = Backend::sqlite().await.unwrap();
    let s = Running::start(&b.config()).await;
    let doc = s.admin("GET", "/v1/openapi.json", b"").await.json();
    let udid = unique("DOC");
    s.enroll(&udid).await;
    let uuid = unique("CMD");
    let r = s
        .admin(
            "PUT",
            &format!("/v1/enqueue/{udid}"),
            command_plist(&uuid, "DeviceInformation").as_bytes(),
        )
        .await;
    let mut answers = vec![("put", "/v1/enqueue/{ids}", "200", r)];
    assert_eq!(sent_uuid(&s.device(&idle(&udid)).await), Some(uuid.clone()));
    let answer = "<key>QueryResponses</key><dict><key>OSVersion</key><string>18.1</string></dict>";
    s.device(&report(&udid, "Acknowledged", Some(&uuid), answer))
        .await;
    let queued = s
        .admin_json(
            "POST",
            "/v1/commands",
            &json!({"enrollment_ids": [udid], "command": {"RequestType": "SecurityInfo"}}),
        )
        .await;
    let queued_uuid = queued.json()["command_uuid"].as_str().unwrap().to_owned();
    answers.push(("post", "/v1/commands", "201", queued));
    let token = s.admin("POST", "/v1/enrollment-tokens", b"{}").await;
    let token_id = token.json()["id"].as_str().unwrap().to_owned();
    answers.push(("post", "/v1/enrollment-tokens", "201", token));
    let declarations = format!("/v1/enrollments/{udid}/declarations");
    let test = json!({"Type": "com.apple.configuration.management.test",
                      "Identifier": "test-1", "Payload": {"Echo": "hello"}});
    answers.push((
        "put",
        "/v1/enrollments/{id}/declarations",
        "200",
        s.admin("PUT", &declarations, test.to_string().as_bytes())
            .await,
    ));
    let rts = format!("/v1/enrollments/{udid}/return-to-service");
    answers.push((
        "put",
        "/v1/enrollments/{id}/return-to-service",
        "200",
        s.admin("PUT", &rts, br#"{"enabled": true}"#).await,
    ));
    for (path, concrete) in [
        ("/version", "/version".to_owned()),
        ("/health", "/health".to_owned()),
        ("/ready", "/ready".to_owned()),
        ("/v1/stats", "/v1/stats".to_owned()),
        ("/v1/push/{ids}", format!("/v1/push/{udid},NOBODY")),
        ("/v1/pushcert", "/v1/pushcert".to_owned()),
        ("/v1/commands/{uuid}", format!("/v1/commands/{uuid}")),
        ("/v1/stalled", "/v1/stalled".to_owned()),
        ("/v1/enrollments", "/v1/enrollments".to_owned()),
        ("/v1/enrollments/{id}", format!("/v1/enrollments/{udid}")),
        (
            "/v1/enrollments/{id}/queue",
            format!("/v1/enrollments/{udid}/queue"),
        ),
        ("/v1/enrollments/{id}/declarations", declarations.clone()),
        ("/v1/enrollments/{id}/return-to-service", rts.clone()),
        ("/v1/bad-reports", "/v1/bad-reports".to_owned()),
        ("/v1/enrollment-tokens", "/v1/enrollment-tokens".to_owned()),
    ] {
        answers.push(("get", path, "200", s.admin("GET", &concrete, b"").await));
    }
    for (method, path, concrete) in [
        (
            "post",
            "/v1/commands/{uuid}/resend",
            format!("/v1/commands/{queued_uuid}/resend"),
        ),
        (
            "delete",
            "/v1/enrollments/{id}/declarations/{identifier}",
            format!("{declarations}/test-1"),
        ),
        ("delete", "/v1/enrollments/{id}/return-to-service", rts),
        (
            "delete",
            "/v1/commands/{uuid}",
            format!("/v1/commands/{queued_uuid}"),
        ),
        (
            "delete",
            "/v1/enrollments/{id}/queue",
            format!("/v1/enrollments/{udid}/queue"),
        ),
        (
            "delete",
            "/v1/enrollment-tokens/{id}",
            format!("/v1/enrollment-tokens/{token_id}"),
        ),
    ] {
        let r = s.admin(&method.to_uppercase(), &concrete, b"").await;
        answers.push((method, path, "200", r));
    }
    // An error answer, against ProblemDetails.
    answers.push((
        "get",
        "/v1/enrollments/{id}",
        "404",
        s.admin("GET", "/v1/enrollments/NOBODY", b"").await,
    ));
    for (method, path, code, r) in &answers {
        assert_eq!(r.status.to_string(), *code, "{method} {path}: {}", r.text());
        let response = &doc["paths"][*path][*method]["responses"][*code];
        let schema = response["content"]
            .as_object()
            .and_then(|c| c.values().next())
            .map(|c| &c["schema"])
            .unwrap_or_else(|| panic!("{method} {path} {code}: no schema"));
        assert!(
            schema["$ref"].is_string(),
            "{method} {path} {code}: {schema}"
        );
        if let Err(e) = conforms(&doc, schema, &r.json(), "$") {
            panic!("{method} {path} {code}: {e}\n{}", r.text());
        }
    }
    // Every success answer of a JSON admin route has a typed schema.
    for (method, path) in mdm_server::http::admin_routes().list() {
        let op = &doc["paths"][*path][method.to_lowercase()];
        for (code, response) in op["responses"].as_object().unwrap() {
            if let Some(json) = response["content"].get("application/json")
                && code.starts_with('2')
                && !["/v1/openapi.json", "/v1/escrowkeyunlock"].contains(path)
            {
                assert!(
                    json["schema"]["$ref"].is_string(),
                    "{method} {path} {code}: {json}"
                );
            }
        }
    }
    s.stop().await;
}
