//! The typed InstallProfile API lints the profile for each target's device, as the server
//! knows it (platform and OS version from Authenticate, supervision from a
//! DeviceInformation answer): errors refuse with 400 and the findings as problem-details
//! members, warnings come back with the 201; the raw NanoMDM enqueue stays unchecked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;

use base64::Engine;
use mdm_server::app::Config;
use serde_json::{Value as Json, json};
use support::{Response, Running, TempDir, request};

const KEY: &str = "test-api-key";
const TOPIC: &str = "com.apple.mgmt.External.11111111-2222-3333-4444-555555555555";

/// The server of these tests: an API key, no signature check.
async fn start(dir: &TempDir) -> Running {
    let config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path())
        .with_api_key(KEY)
        .without_signature_check();
    Running::start(&config).await
}

impl Running {
    async fn checkin(&self, body: &str) -> Response {
        request(self.addr, "PUT", "/mdm/checkin", &[], body.as_bytes()).await
    }

    async fn device(&self, body: &str) -> Response {
        request(self.addr, "PUT", "/mdm", &[], body.as_bytes()).await
    }

    async fn admin(&self, method: &str, path: &str, body: &[u8]) -> Response {
        let auth = format!("Bearer {KEY}");
        request(self.addr, method, path, &[("Authorization", &auth)], body).await
    }

    /// Enrolls a device of `product` running `os`.
    async fn enroll(&self, udid: &str, product: &str, os: &str) {
        let auth = plist(&format!(
            "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{udid}</string>\
             <key>Topic</key><string>{TOPIC}</string><key>ProductName</key><string>{product}</string>\
             <key>OSVersion</key><string>{os}</string>"
        ));
        assert_eq!(self.checkin(&auth).await.status, 200);
        let token = plist(&format!(
            "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{udid}</string>\
             <key>Topic</key><string>{TOPIC}</string><key>PushMagic</key><string>M</string>\
             <key>Token</key><data>3q2+7w==</data>"
        ));
        assert_eq!(self.checkin(&token).await.status, 200);
    }

    async fn post(&self, ids: &[&str], command: Json) -> Response {
        let auth = format!("Bearer {KEY}");
        let body = json!({"enrollment_ids": ids, "command": command, "no_push": true});
        request(
            self.addr,
            "POST",
            "/v1/commands",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
        .await
    }

    async fn install(&self, ids: &[&str], profile: &str) -> Response {
        let payload = base64::engine::general_purpose::STANDARD.encode(profile);
        self.post(
            ids,
            json!({"RequestType": "InstallProfile", "Payload": payload}),
        )
        .await
    }

    async fn queued(&self, udid: &str) -> usize {
        self.admin("GET", &format!("/v1/enrollments/{udid}/queue"), b"")
            .await
            .json()["commands"]
            .as_array()
            .unwrap()
            .len()
    }
}

fn plist(inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict>{inner}</dict></plist>"#
    )
}

/// A profile with one payload of `payload_type` and `keys`.
fn profile(payload_type: &str, keys: &str) -> String {
    plist(&format!(
        "<key>PayloadType</key><string>Configuration</string>\
         <key>PayloadVersion</key><integer>1</integer>\
         <key>PayloadIdentifier</key><string>org.example.server</string>\
         <key>PayloadUUID</key><string>5E7E0000-0000-4000-8000-000000000000</string>\
         <key>PayloadContent</key><array><dict>\
         <key>PayloadType</key><string>{payload_type}</string>\
         <key>PayloadVersion</key><integer>1</integer>\
         <key>PayloadIdentifier</key><string>org.example.server.1</string>\
         <key>PayloadUUID</key><string>5E7E0000-0000-4000-8000-000000000001</string>\
         {keys}</dict></array>"
    ))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple()).to_uppercase()
}

#[tokio::test]
async fn install_profile_is_linted_for_each_device() {
    let dir = TempDir::new();
    let s = start(&dir).await;
    let iphone = unique("IPHONE");
    let mac = unique("MAC");
    s.enroll(&iphone, "iPhone15,2", "17.0").await;
    s.enroll(&mac, "MacBookPro18,3", "14.4").await;

    // A clean profile: 201, no findings.
    let wifi = profile(
        "com.apple.wifi.managed",
        "<key>SSID_STR</key><string>Office</string><key>AutoJoin</key><true/>",
    );
    let r = s.install(&[&iphone, &mac], &wifi).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["profile_findings"], json!([]));

    // Warnings come back with the 201, per enrollment, with the target linted for.
    let typo = profile(
        "com.apple.wifi.managed",
        "<key>SSID_STR</key><string>Office</string><key>AutoJion</key><true/>",
    );
    let r = s.install(&[&iphone], &typo).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let j = r.json();
    let lint = &j["profile_findings"][0];
    assert_eq!(lint["enrollment_id"], iphone.as_str());
    assert_eq!(lint["target"], "iOS 17.0 (supervised)", "{lint}");
    assert_eq!(lint["warnings"], 1);
    assert_eq!(lint["findings"][0]["rule"], "P001");
    assert_eq!(lint["findings"][0]["path"], "PayloadContent[0].AutoJion");
    assert!(
        lint["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("AutoJoin")
    );
    assert_eq!(s.queued(&iphone).await, 2);

    // Errors refuse: the Dock is macOS only. Problem details with the findings.
    let dock = profile("com.apple.dock", "");
    let r = s.install(&[&mac, &iphone], &dock).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let j = r.json();
    let detail = j["detail"].as_str().unwrap();
    assert!(detail.contains("P005 platform"), "{detail}");
    assert!(detail.contains(&iphone), "{detail}");
    let findings = j["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "the Mac has nothing to say: {j}");
    assert_eq!(findings[0]["enrollment_id"], iphone.as_str());
    assert_eq!(findings[0]["findings"][0]["rule"], "P005");
    assert_eq!(findings[0]["findings"][0]["severity"], "error");
    assert_eq!(s.queued(&iphone).await, 2, "nothing queued");
    assert_eq!(s.queued(&mac).await, 1, "nothing queued");
    // For the Mac alone it goes.
    let r = s.install(&[&mac], &dock).await;
    assert_eq!(r.status, 201, "{}", r.text());

    // The OS version counts: the relay payload came with iOS 17, and this device runs 17.0.
    let relay = profile("com.apple.relay.managed", "");
    let old = unique("OLDPHONE");
    s.enroll(&old, "iPhone12,1", "16.4").await;
    let r = s.install(&[&old], &relay).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["findings"][0]["findings"][0]["rule"], "P006");

    // What is not a profile is refused with why.
    let r = s.install(&[&iphone], "not a plist").await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("not a profile"), "{}", r.text());
    let r = s.install(&[&iphone], "<plist><array/></plist>").await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("not a dictionary"), "{}", r.text());

    // The raw NanoMDM enqueue is not checked.
    let raw = plist(&format!(
        "<key>CommandUUID</key><string>RAW-DOCK</string><key>Command</key><dict>\
         <key>RequestType</key><string>InstallProfile</string><key>Payload</key><data>{}</data></dict>",
        base64::engine::general_purpose::STANDARD.encode(&dock)
    ));
    let r = s
        .admin(
            "PUT",
            &format!("/v1/enqueue/{iphone}?nopush=1"),
            raw.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    s.stop().await;
}

#[tokio::test]
async fn supervision_comes_from_what_the_device_said() {
    let dir = TempDir::new();
    let s = start(&dir).await;
    let id = unique("SUP");
    s.enroll(&id, "iPhone15,2", "17.0").await;
    // Single App Mode needs supervision. Not known yet: the benefit of the doubt.
    let app_lock = profile(
        "com.apple.app.lock",
        "<key>App</key><dict><key>Identifier</key><string>com.example.kiosk</string></dict>",
    );
    let r = s.install(&[&id], &app_lock).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let first = r.json()["command_uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        s.admin("DELETE", &format!("/v1/commands/{first}"), b"")
            .await
            .status,
        200
    );

    // The device says it is not supervised.
    let r = s
        .post(
            &[&id],
            json!({"RequestType": "DeviceInformation", "Queries": ["IsSupervised"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let uuid = r.json()["command_uuid"].as_str().unwrap().to_owned();
    let idle = plist(&format!(
        "<key>Status</key><string>Idle</string><key>UDID</key><string>{id}</string>"
    ));
    assert_eq!(s.device(&idle).await.status, 200);
    let answer = plist(&format!(
        "<key>Status</key><string>Acknowledged</string><key>UDID</key><string>{id}</string>\
         <key>CommandUUID</key><string>{uuid}</string><key>QueryResponses</key><dict>\
         <key>IsSupervised</key><false/></dict>"
    ));
    assert_eq!(s.device(&answer).await.status, 200);

    let r = s.install(&[&id], &app_lock).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let j = r.json();
    assert_eq!(j["findings"][0]["target"], "iOS 17.0");
    assert_eq!(j["findings"][0]["findings"][0]["rule"], "P007");
    s.stop().await;
}
