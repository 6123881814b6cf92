//! The seams other crates plug into: identity check, pusher, token handlers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;
use support::plist;

use async_trait::async_trait;
use mdm_proto::Enrollment;
use mdm_proto::plist::Dictionary;
use mdm_server::app::{Config, Server};
use mdm_server::identity::{DeviceRequest, IdentityError, IdentityVerifier};
use mdm_server::push::{PushTarget, Pusher};
use mdm_server::service::{ServiceEvent, ServiceObserver, TokenHandler};
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
            message.map(|m| m.message_type().as_str().to_owned()),
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
        "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>SEAM</string>\
         <key>Topic</key><string>T</string>",
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

/// Remembers every change the service reports.
#[derive(Debug, Default)]
struct Events(Mutex<Vec<ServiceEvent>>);

impl ServiceObserver for Events {
    fn observe(&self, event: &ServiceEvent) {
        // Activity (a check-in arrived, a push's result) is not a change of state.
        if matches!(
            event,
            ServiceEvent::CheckinReceived { .. } | ServiceEvent::PushResult { .. }
        ) {
            return;
        }
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Events {
    fn take(&self) -> Vec<ServiceEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[tokio::test]
async fn an_observer_sees_every_change_devices_and_admins_make() {
    let dir = TempDir::new();
    let events = Arc::new(Events::default());
    let e = Arc::clone(&events);
    let config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path())
        .with_api_key("k")
        .without_signature_check();
    let server = Server::start_with(&config, move |s| s.with_observer(e))
        .await
        .unwrap();
    let addr = server.local_addr;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    let admin = [("Authorization", "Bearer k")];
    let id = "OBSERVED";
    let device = |body: String| async move {
        request(addr, "PUT", "/mdm", &[], body.as_bytes())
            .await
            .status
    };

    // Check-ins: the facts come from Authenticate, once.
    let auth = plist(&format!(
        "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{id}</string>\
         <key>Topic</key><string>T</string><key>ProductName</key><string>iPhone15,2</string>\
         <key>OSVersion</key><string>17.0</string>"
    ));
    assert_eq!(device(auth).await, 200);
    let tu = plist(&format!(
        "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{id}</string>\
         <key>Topic</key><string>T</string><key>PushMagic</key><string>PM</string>\
         <key>Token</key><data>AQID</data>"
    ));
    assert_eq!(device(tu).await, 200);
    let enrollment_id = || id.to_owned();
    assert_eq!(
        events.take(),
        [
            ServiceEvent::Authenticated {
                enrollment_id: enrollment_id()
            },
            ServiceEvent::FactsUpdated {
                enrollment_id: enrollment_id()
            },
            ServiceEvent::TokenUpdated {
                enrollment_id: enrollment_id()
            },
        ]
    );
    let r = request(addr, "GET", &format!("/v1/enrollments/{id}"), &admin, b"").await;
    let facts = &r.json()["facts"];
    assert_eq!(facts["platform"], "iOS", "{facts}");
    assert_eq!(facts["os_version"], "17.0", "{facts}");
    assert_eq!(facts["supervised"], serde_json::Value::Null, "{facts}");

    // A command, its DeviceInformation answer: the stored facts learn `IsSupervised`, and
    // the applicability check then uses them.
    let post = |command: serde_json::Value| async move {
        let body = serde_json::json!({"enrollment_ids": [id], "command": command, "no_push": true});
        request(
            addr,
            "POST",
            "/v1/commands",
            &[admin[0], ("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
        .await
    };
    let r =
        post(serde_json::json!({"RequestType": "DeviceInformation", "Queries": ["IsSupervised"]}))
            .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let uuid = r.json()["command_uuid"].as_str().unwrap().to_owned();
    let idle = plist(&format!(
        "<key>Status</key><string>Idle</string><key>UDID</key><string>{id}</string>"
    ));
    assert_eq!(device(idle).await, 200);
    let answer = plist(&format!(
        "<key>Status</key><string>Acknowledged</string><key>UDID</key><string>{id}</string>\
         <key>CommandUUID</key><string>{uuid}</string><key>QueryResponses</key><dict>\
         <key>IsSupervised</key><false/><key>OSVersion</key><string>17.1</string></dict>"
    ));
    assert_eq!(device(answer).await, 200);
    let seen = events.take();
    assert_eq!(
        seen,
        [
            ServiceEvent::CommandQueued {
                command_uuid: uuid.clone(),
                request_type: "DeviceInformation".into(),
                enrollment_ids: vec![enrollment_id()],
            },
            ServiceEvent::ReportRecorded {
                enrollment_id: enrollment_id(),
                command_uuid: uuid.clone(),
                status: "Acknowledged".into(),
            },
            ServiceEvent::FactsUpdated {
                enrollment_id: enrollment_id()
            },
        ]
    );
    let r = request(addr, "GET", &format!("/v1/enrollments/{id}"), &admin, b"").await;
    let facts = &r.json()["facts"];
    assert_eq!(facts["supervised"], false, "{facts}");
    assert_eq!(facts["os_version"], "17.1", "{facts}");
    // EnableLostMode needs a supervised iPhone.
    let r = post(serde_json::json!({"RequestType": "EnableLostMode", "Message": "lost"})).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("supervis"), "{}", r.text());
    assert_eq!(events.take(), []);

    // Admin writes: cancel, clear, declarations, return to service, enrollment tokens.
    let raw = plist(
        "<key>CommandUUID</key><string>OBS-CMD</string>\
         <key>Command</key><dict><key>RequestType</key><string>ProfileList</string></dict>",
    );
    let path = format!("/v1/enqueue/{id}?nopush=1");
    let r = request(addr, "PUT", &path, &admin, raw.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(addr, "DELETE", "/v1/commands/OBS-CMD", &admin, b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(
        addr,
        "DELETE",
        &format!("/v1/enrollments/{id}/queue"),
        &admin,
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let declaration = serde_json::json!({
        "Type": "com.apple.configuration.management.test",
        "Identifier": "obs.test",
        "Payload": {"Echo": "hi"},
    });
    let declarations = format!("/v1/enrollments/{id}/declarations");
    let r = request(
        addr,
        "PUT",
        &declarations,
        &admin,
        declaration.to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(
        addr,
        "DELETE",
        &format!("{declarations}/obs.test"),
        &admin,
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let rts = format!("/v1/enrollments/{id}/return-to-service");
    let r = request(addr, "PUT", &rts, &admin, br#"{"enabled": true}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(addr, "DELETE", &rts, &admin, b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(addr, "POST", "/v1/enrollment-tokens", &admin, b"{}").await;
    assert_eq!(r.status, 201, "{}", r.text());
    let token_id = r.json()["id"].as_str().unwrap().to_owned();
    let r = request(
        addr,
        "DELETE",
        &format!("/v1/enrollment-tokens/{token_id}"),
        &admin,
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        events.take(),
        [
            ServiceEvent::CommandQueued {
                command_uuid: "OBS-CMD".into(),
                request_type: "ProfileList".into(),
                enrollment_ids: vec![enrollment_id()],
            },
            ServiceEvent::CommandCancelled {
                command_uuid: "OBS-CMD".into(),
                cancelled: 1,
            },
            ServiceEvent::QueueCleared {
                enrollment_id: enrollment_id(),
                cancelled: 0,
            },
            ServiceEvent::DeclarationPut {
                enrollment_id: enrollment_id(),
                identifier: "obs.test".into(),
            },
            ServiceEvent::DeclarationDeleted {
                enrollment_id: enrollment_id(),
                identifier: "obs.test".into(),
            },
            ServiceEvent::ReturnToServiceSet {
                enrollment_id: enrollment_id(),
                present: true,
            },
            ServiceEvent::ReturnToServiceSet {
                enrollment_id: enrollment_id(),
                present: false,
            },
            ServiceEvent::EnrollmentTokenCreated {
                token_id: token_id.clone(),
            },
            ServiceEvent::EnrollmentTokenRevoked { token_id },
        ]
    );

    // Reads change nothing.
    for path in [
        format!("/v1/enrollments/{id}"),
        format!("/v1/enrollments/{id}/queue"),
        declarations.clone(),
        "/v1/enrollments".to_owned(),
        "/v1/enrollment-tokens".to_owned(),
        "/v1/bad-reports".to_owned(),
    ] {
        assert_eq!(request(addr, "GET", &path, &admin, b"").await.status, 200);
    }
    assert_eq!(events.take(), []);

    let out = plist(&format!(
        "<key>MessageType</key><string>CheckOut</string><key>UDID</key><string>{id}</string>"
    ));
    assert_eq!(device(out).await, 200);
    assert_eq!(
        events.take(),
        [ServiceEvent::CheckedOut {
            enrollment_id: enrollment_id()
        }]
    );

    let _ = tx.send(());
    task.await.unwrap().unwrap();
}

/// The challenge in an enrollment profile's SCEP payload.
fn profile_challenge(body: &[u8]) -> String {
    let profile = mdm_proto::Profile::decode(body).unwrap();
    let scep = profile.payload("com.apple.security.scep").unwrap();
    let Some(mdm_proto::plist::Value::Dictionary(content)) = scep.keys.get("PayloadContent") else {
        panic!("{scep:?}");
    };
    content["Challenge"].as_string().unwrap().to_owned()
}

/// A PKIOperation to the server: PKCSReq with `challenge`, or a RenewalReq signed by `renew`.
async fn scep_enroll(
    addr: std::net::SocketAddr,
    key: &scep_proto::RsaKey,
    challenge: Option<&str>,
    renew: Option<&scep_proto::Certificate>,
) -> scep_proto::CertRepOutcome {
    use scep_proto::issue::{IssueOptions, common_name, self_signed};
    use scep_proto::{ContentCipher, Csr, DigestAlgorithm};
    let r = request(addr, "GET", "/scep?operation=GetCACert", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let ca = scep_proto::cms::parse_certificate(&r.body).unwrap();
    let name = common_name("observed device");
    let csr = Csr::build(key, &name, challenge, &[], DigestAlgorithm::Sha256).unwrap();
    let (sha, aes) = (DigestAlgorithm::Sha256, ContentCipher::Aes128Cbc);
    let req = match renew {
        Some(existing) => {
            scep_proto::client::renewal_req(&csr, existing, key, &ca, sha, aes).unwrap()
        }
        None => {
            let now = mdm_server::storage::now();
            let temp = self_signed(
                key,
                &name,
                false,
                &IssueOptions::new(vec![7], now - 60, 3600),
            )
            .unwrap();
            scep_proto::client::pkcs_req(&csr, &temp, key, &ca, sha, aes).unwrap()
        }
    };
    let path = "/scep?operation=PKIOperation";
    let r = request(addr, "POST", path, &[], &req.der).await;
    assert_eq!(r.status, 200, "{}", r.text());
    req.open_response(&r.body, key, &[ca]).unwrap()
}

#[tokio::test]
async fn an_observer_sees_the_scep_writes() {
    let dir = TempDir::new();
    let events = Arc::new(Events::default());
    let e = Arc::clone(&events);
    let config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path())
        .with_api_key("k")
        .with_scep_challenge("static-secret")
        .with_public_url("https://mdm.example.org");
    let server = Server::start_with(&config, move |s| s.with_observer(e))
        .await
        .unwrap();
    let addr = server.local_addr;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    let admin = [("Authorization", "Bearer k")];
    let key = scep_proto::RsaKey::generate(1024).unwrap();
    let fp = |c: &scep_proto::Certificate| {
        mdm_server::pki::fingerprint(&mdm_proto::signature::certificate_der(c).unwrap())
    };

    // A token, its profile, SCEP with the profile's one-time challenge.
    let r = request(addr, "POST", "/v1/enrollment-tokens", &admin, b"{}").await;
    assert_eq!(r.status, 201, "{}", r.text());
    let token_id = r.json()["id"].as_str().unwrap().to_owned();
    let secret = r.json()["token"].as_str().unwrap().to_owned();
    let path = format!("/mdm/enroll?unsigned=1&token={secret}");
    let r = request(addr, "GET", &path, &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let challenge = profile_challenge(&r.body);
    let scep_proto::CertRepOutcome::Issued { certificate, .. } =
        scep_enroll(addr, &key, Some(&challenge), None).await
    else {
        panic!("not issued");
    };
    assert_eq!(
        events.take(),
        [
            ServiceEvent::EnrollmentTokenCreated {
                token_id: token_id.clone()
            },
            ServiceEvent::EnrollmentTokenTaken {
                token_id: token_id.clone()
            },
            ServiceEvent::ScepChallengeConsumed {
                token_id,
                fingerprint: fp(&certificate),
            },
        ]
    );

    // The challenge again, and the static one (enrollment is not open): refused, no event.
    for c in [challenge.as_str(), "static-secret"] {
        let outcome = scep_enroll(addr, &key, Some(c), None).await;
        assert!(
            matches!(outcome, scep_proto::CertRepOutcome::Failed { .. }),
            "{outcome:?}"
        );
    }
    assert_eq!(events.take(), []);

    // A renewal signed by the issued certificate.
    let scep_proto::CertRepOutcome::Issued {
        certificate: new, ..
    } = scep_enroll(addr, &key, None, Some(&*certificate)).await
    else {
        panic!("renewal not issued");
    };
    assert_eq!(
        events.take(),
        [ServiceEvent::CertificateRenewed {
            old: fp(&certificate),
            new: fp(&new),
        }]
    );

    let _ = tx.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn facts_are_backfilled_from_a_stored_authenticate() {
    use mdm_server::service::{EnqueueOptions, MdmService, Service, ServiceError};
    use mdm_server::storage::EnrollmentKey;
    let dir = TempDir::new();
    let url = format!("sqlite:{}", dir.path().join("mdm.sqlite").display());
    let storage = mdm_server::storage::open(&url).await.unwrap();
    // An enrollment stored as before facts were kept: its Authenticate, no facts.
    let id = "PREFACTS";
    let auth = plist(&format!(
        "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{id}</string>\
         <key>Topic</key><string>T</string><key>ProductName</key><string>iPhone15,2</string>\
         <key>OSVersion</key><string>17.0</string>"
    ));
    let mut key = EnrollmentKey::new(id, id, "Device");
    key.udid = Some(id.to_owned());
    storage
        .authenticate(&key, auth.as_bytes(), mdm_server::storage::now())
        .await
        .unwrap();
    assert_eq!(storage.enrollment(id).await.unwrap().unwrap().facts, None);

    let events = Arc::new(Events::default());
    let service = MdmService::new(Arc::clone(&storage)).with_observer(events.clone());
    // A macOS-only command is refused for the iPhone: the facts were derived and stored.
    let command = mdm_server::command::RawCommand::from_plist(
        plist(
            "<key>CommandUUID</key><string>FW-1</string><key>Command</key><dict>\
             <key>RequestType</key><string>SetFirmwarePassword</string></dict>",
        )
        .as_bytes(),
        &mdm_proto::Limits::MDM,
    )
    .unwrap();
    let r = service
        .enqueue(
            &[id.to_owned()],
            &command,
            EnqueueOptions::new()
                .with_push(false)
                .with_applicability_check(true),
        )
        .await;
    assert!(matches!(r, Err(ServiceError::BadRequest(_))), "{r:?}");
    let facts = storage
        .enrollment(id)
        .await
        .unwrap()
        .unwrap()
        .facts
        .unwrap();
    assert_eq!(
        (facts.platform.as_str(), facts.os_version.as_deref()),
        ("iOS", Some("17.0"))
    );
    assert_eq!(
        events.take(),
        [ServiceEvent::FactsUpdated {
            enrollment_id: id.to_owned()
        }]
    );
}
