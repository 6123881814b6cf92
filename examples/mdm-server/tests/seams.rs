//! The seams other crates plug into: identity check, pusher, token handlers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;

use async_trait::async_trait;
use mdm_proto::Enrollment;
use mdm_proto::plist::Dictionary;
use mdm_server::app::{Config, Server};
use mdm_server::identity::{DeviceRequest, IdentityError, IdentityVerifier};
use mdm_server::push::{PushTarget, Pusher};
use mdm_server::service::TokenHandler;
use std::sync::{Arc, Mutex};
use support::{TempDir, request};

/// Refuses any request without an `Mdm-Signature` header, and remembers what it saw.
#[derive(Debug, Default)]
struct NeedsSignature(Mutex<Vec<(String, Option<String>, String)>>);

#[async_trait]
impl IdentityVerifier for NeedsSignature {
    async fn verify(
        &self,
        request: &DeviceRequest,
        enrollment: &Enrollment,
        message: Option<&mdm_server::device::CheckinMessage>,
    ) -> Result<(), IdentityError> {
        self.0.lock().unwrap().push((
            enrollment.id.clone(),
            message.map(|m| m.message_type.clone()),
            request.mdm_signature.clone().unwrap_or_default(),
        ));
        match &request.mdm_signature {
            Some(sig) if sig == "good" => Ok(()),
            _ => Err(IdentityError::unauthenticated("no valid Mdm-Signature")),
        }
    }
}

#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<PushTarget>>);

#[async_trait]
impl Pusher for Recorder {
    async fn push(&self, targets: &[PushTarget]) -> Vec<Result<String, String>> {
        self.0.lock().unwrap().extend_from_slice(targets);
        targets
            .iter()
            .map(|t| Ok(format!("apns-{}", t.enrollment_id)))
            .collect()
    }
}

#[derive(Debug)]
struct Fixed;

#[async_trait]
impl TokenHandler for Fixed {
    async fn token(
        &self,
        enrollment: &Enrollment,
        _message: &Dictionary,
    ) -> Result<Vec<u8>, String> {
        Ok(format!("token-for-{}", enrollment.id).into_bytes())
    }
}

fn plist(inner: &str) -> String {
    format!(r#"<?xml version="1.0"?><plist version="1.0"><dict>{inner}</dict></plist>"#)
}

#[tokio::test]
async fn identity_pusher_and_token_handler_plug_in() {
    let dir = TempDir::new();
    let verifier = Arc::new(NeedsSignature::default());
    let pusher = Arc::new(Recorder::default());
    let (v, p) = (Arc::clone(&verifier), Arc::clone(&pusher));
    let config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path()).with_api_key("k");
    let server = Server::start_with(&config, move |s| {
        s.with_verifier(v)
            .with_pusher(p)
            .with_token_handler("com.example.token", Arc::new(Fixed))
    })
    .await
    .unwrap();
    let addr = server.local_addr;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));

    let auth = plist(
        "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>SEAM</string>",
    );
    let unsigned = request(addr, "PUT", "/mdm/checkin", &[], auth.as_bytes()).await;
    assert_eq!(unsigned.status, 401);
    let signed = [("Mdm-Signature", "good")];
    assert_eq!(
        request(addr, "PUT", "/mdm/checkin", &signed, auth.as_bytes())
            .await
            .status,
        200
    );
    let tu = plist(
        "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>SEAM</string>\
         <key>Topic</key><string>T</string><key>PushMagic</key><string>PM</string>\
         <key>Token</key><data>AQID</data>",
    );
    assert_eq!(
        request(addr, "PUT", "/mdm/checkin", &signed, tu.as_bytes())
            .await
            .status,
        200
    );
    let idle = plist("<key>Status</key><string>Idle</string><key>UDID</key><string>SEAM</string>");
    assert_eq!(
        request(addr, "PUT", "/mdm", &[], idle.as_bytes())
            .await
            .status,
        401
    );
    assert_eq!(
        request(addr, "PUT", "/mdm", &signed, idle.as_bytes())
            .await
            .status,
        200
    );
    {
        let seen = verifier.0.lock().unwrap();
        // Unsigned requests are refused at header time and never reach the verifier.
        assert_eq!(
            seen[0],
            ("SEAM".into(), Some("Authenticate".into()), "good".into())
        );
        assert_eq!(seen.last().unwrap(), &("SEAM".into(), None, "good".into()));
    }

    // GetToken goes to the handler of its TokenServiceType.
    let get_token = plist(
        "<key>MessageType</key><string>GetToken</string><key>UDID</key><string>SEAM</string>\
         <key>TokenServiceType</key><string>com.example.token</string>",
    );
    let r = request(addr, "PUT", "/mdm/checkin", &signed, get_token.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let d = mdm_proto::parse_dictionary(&r.body, &mdm_proto::Limits::MDM).unwrap();
    assert_eq!(d["TokenData"].as_data(), Some(&b"token-for-SEAM"[..]));

    // Pushes go to the pusher with the stored token.
    let r = request(
        addr,
        "GET",
        "/v1/push/SEAM",
        &[("Authorization", "Bearer k")],
        b"",
    )
    .await;
    assert_eq!(r.json()["status"]["SEAM"]["push_result"], "apns-SEAM");
    let pushed = pusher.0.lock().unwrap().clone();
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].push.token, vec![1, 2, 3]);
    assert_eq!(pushed[0].push.push_magic, "PM");
    assert_eq!(pushed[0].push.topic, "T");

    let _ = tx.send(());
    task.await.unwrap().unwrap();
}
