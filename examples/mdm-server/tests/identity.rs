//! Enrollment over real HTTP: enrollment tokens, the profile and its one-time SCEP
//! challenge, and the device identity check (`Mdm-Signature`, forwarded client
//! certificates from trusted proxies, binding, renewal, re-enrollment), on SQLite and
//! PostgreSQL: one test per row of the identity table in the server's README.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;
use support::plist;

use base64::Engine;
use mdm_proto::plist::Value;
use mdm_server::app::{Config, Server};
use scep_proto::client::{pkcs_req, renewal_req};
use scep_proto::issue::{IssueOptions, common_name, self_signed};
use scep_proto::{CertRepOutcome, Certificate, ContentCipher, Csr, DigestAlgorithm, RsaKey};
use serde_json::Value as Json;
use std::net::SocketAddr;
use std::sync::OnceLock;
use support::{PgSchema, Response, TempDir, request};

const KEY: &str = "test-api-key";
const CHALLENGE: &str = "s3cret";

/// The device key, made once (key generation is slow in debug builds). Every device
/// certificate in these tests is for this key: certificates, not keys, are what is bound.
fn device_key() -> &'static RsaKey {
    static KEY: OnceLock<RsaKey> = OnceLock::new();
    KEY.get_or_init(|| RsaKey::generate(1024).unwrap())
}

fn der(cert: &Certificate) -> Vec<u8> {
    mdm_proto::signature::certificate_der(cert).unwrap()
}

struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: TempDir,
    schema: Option<PgSchema>,
}

impl Running {
    async fn start(postgres: bool, customize: impl FnOnce(Config) -> Config) -> Option<Self> {
        let dir = TempDir::new();
        let schema = if postgres {
            Some(PgSchema::create("identity", "t").await?)
        } else {
            None
        };
        let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path())
            .with_api_key(KEY)
            .with_scep_challenge(CHALLENGE)
            .with_public_url("https://mdm.example.org");
        if let Some(schema) = &schema {
            config = config.with_storage(schema.url.clone());
        }
        let server = Server::start(&customize(config)).await.unwrap();
        let addr = server.local_addr;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.serve(async move {
            let _ = rx.await;
        }));
        Some(Running {
            addr,
            stop: Some(tx),
            _dir: dir,
            schema,
        })
    }

    async fn finish(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(schema) = &self.schema {
            schema.drop_schema().await;
        }
    }

    async fn admin(&self, method: &str, path: &str, body: &[u8]) -> Response {
        let auth = format!("Bearer {KEY}");
        request(self.addr, method, path, &[("Authorization", &auth)], body).await
    }

    async fn ca(&self) -> Certificate {
        let r = request(self.addr, "GET", "/scep?operation=GetCACert", &[], b"").await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("application/x-x509-ca-cert"));
        scep_proto::cms::parse_certificate(&r.body).unwrap()
    }

    /// Enrolls over SCEP (PKCSReq, or RenewalReq signed by `renew`) for the device key.
    async fn scep(
        &self,
        cn: &str,
        challenge: Option<&str>,
        renew: Option<&Certificate>,
    ) -> CertRepOutcome {
        let ca = self.ca().await;
        let key = device_key();
        let csr = Csr::build(
            key,
            &common_name(cn),
            challenge,
            &[],
            DigestAlgorithm::Sha256,
        )
        .unwrap();
        let temp;
        let req = match renew {
            Some(existing) => renewal_req(
                &csr,
                existing,
                key,
                &ca,
                DigestAlgorithm::Sha256,
                ContentCipher::Aes128Cbc,
            ),
            None => {
                temp = self_signed(
                    key,
                    &common_name(cn),
                    false,
                    &IssueOptions::new(vec![7], mdm_server::storage::now() - 60, 3600),
                )
                .unwrap();
                pkcs_req(
                    &csr,
                    &temp,
                    key,
                    &ca,
                    DigestAlgorithm::Sha256,
                    ContentCipher::Aes128Cbc,
                )
            }
        }
        .unwrap();
        let r = request(
            self.addr,
            "POST",
            "/scep?operation=PKIOperation",
            &[("Content-Type", "application/x-pki-message")],
            &req.der,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        req.open_response(&r.body, key, &[ca]).unwrap()
    }

    /// A new enrollment token (`POST /v1/enrollment-tokens` with `body`).
    async fn token(&self, body: &str) -> Json {
        support::enrollment_token(self.addr, KEY, body).await
    }

    /// Downloads the (unsigned) profile with an enrollment token: the answer.
    async fn profile(&self, token: &str) -> Response {
        let path = format!("/mdm/enroll?unsigned=1&token={token}");
        request(self.addr, "GET", &path, &[], b"").await
    }

    /// The SCEP challenge of the profile downloaded with `token`.
    async fn challenge(&self, token: &str) -> String {
        let r = self.profile(token).await;
        assert_eq!(r.status, 200, "{}", r.text());
        profile_challenge(&r.body)
    }

    /// A certificate from SCEP with `challenge`.
    async fn issued(&self, cn: &str, challenge: &str) -> Certificate {
        match self.scep(cn, Some(challenge), None).await {
            CertRepOutcome::Issued { certificate, .. } => *certificate,
            other => panic!("{other:?}"),
        }
    }

    /// A certificate as a device gets it: a token (`token_body`), its profile, SCEP with
    /// the profile's one-time challenge. Returns the certificate and the token's ID.
    async fn enrolled_cert(&self, cn: &str, token_body: &str) -> (Certificate, String) {
        let token = self.token(token_body).await;
        let challenge = self.challenge(token["token"].as_str().unwrap()).await;
        let cert = self.issued(cn, &challenge).await;
        (cert, token["id"].as_str().unwrap().to_owned())
    }

    /// A certificate from a single-use token with no restrictions.
    async fn certificate(&self, cn: &str) -> Certificate {
        self.enrolled_cert(cn, "{}").await.0
    }

    async fn certificate_renewal(&self, existing: &Certificate) -> Certificate {
        match self.scep("renewed", None, Some(existing)).await {
            CertRepOutcome::Issued { certificate, .. } => *certificate,
            other => panic!("{other:?}"),
        }
    }

    async fn enrollment(&self, id: &str) -> Json {
        let r = self
            .admin("GET", &format!("/v1/enrollments/{id}"), b"")
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    async fn signed(&self, path: &str, body: &str, cert: &Certificate) -> Response {
        let sig =
            mdm_proto::signature::sign_mdm_signature(body.as_bytes(), cert, device_key()).unwrap();
        request(
            self.addr,
            "PUT",
            path,
            &[("Mdm-Signature", &sig)],
            body.as_bytes(),
        )
        .await
    }
}

fn authenticate(udid: &str) -> String {
    plist(&format!(
        "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{udid}</string>\
         <key>Topic</key><string>T</string>"
    ))
}

fn token_update(udid: &str) -> String {
    token_update_with(udid, "PM", "AQID")
}

/// A TokenUpdate with this PushMagic and token (base64).
fn token_update_with(udid: &str, push_magic: &str, token: &str) -> String {
    plist(&format!(
        "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{udid}</string>\
         <key>Topic</key><string>T</string><key>PushMagic</key><string>{push_magic}</string>\
         <key>Token</key><data>{token}</data>"
    ))
}

fn authenticate_serial(udid: &str, serial: &str) -> String {
    plist(&format!(
        "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{udid}</string>\
         <key>SerialNumber</key><string>{serial}</string><key>Topic</key><string>T</string>"
    ))
}

/// The SCEP challenge in a (plain) enrollment profile.
fn profile_challenge(body: &[u8]) -> String {
    let profile = mdm_proto::Profile::decode(body).unwrap();
    let scep = profile.payload("com.apple.security.scep").unwrap();
    let Some(Value::Dictionary(content)) = scep.keys.get("PayloadContent") else {
        panic!("{scep:?}");
    };
    content["Challenge"].as_string().unwrap().to_owned()
}

fn idle(udid: &str) -> String {
    plist(&format!(
        "<key>Status</key><string>Idle</string><key>UDID</key><string>{udid}</string>"
    ))
}

#[tokio::test]
async fn enrollment_profile_and_scep() {
    let s = Running::start(false, |c| c).await.unwrap();
    let ca = s.ca().await;

    let r = request(s.addr, "GET", "/scep?operation=GetCACaps", &[], b"").await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("POSTPKIOperation"), "{}", r.text());
    let r = request(s.addr, "GET", "/scep?operation=Nonsense", &[], b"").await;
    assert_eq!(r.status, 400);
    let r = request(
        s.addr,
        "POST",
        "/scep?operation=PKIOperation",
        &[],
        b"\x30\x03junk",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());

    // No profile without a token, or with an unknown one; never cacheable.
    for path in [
        "/mdm/enroll",
        "/mdm/enroll?unsigned=1",
        "/mdm/enroll?token=guess",
    ] {
        let r = request(s.addr, "GET", path, &[], b"").await;
        assert_eq!(r.status, 403, "{path}: {}", r.text());
        assert!(r.text().contains("token"), "{}", r.text());
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }

    // The unsigned profile, with a token.
    let token = s.token(r#"{"uses": 3}"#).await;
    assert_eq!(token["max_uses"], 3);
    assert_eq!(token["status"], "active");
    let secret = token["token"].as_str().unwrap();
    assert_eq!(
        token["url"].as_str().unwrap(),
        format!("https://mdm.example.org/mdm/enroll?token={secret}")
    );
    let r = s.profile(secret).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(
        r.header("content-type"),
        Some("application/x-apple-aspen-config")
    );
    let profile = mdm_proto::Profile::decode(&r.body).unwrap();
    let mdm = profile.payload("com.apple.mdm").unwrap();
    let key = |k: &str| mdm.keys.get(k).cloned();
    assert_eq!(
        key("ServerURL"),
        Some(Value::String("https://mdm.example.org/mdm".into()))
    );
    assert_eq!(
        key("CheckInURL"),
        Some(Value::String("https://mdm.example.org/mdm/checkin".into()))
    );
    assert_eq!(key("SignMessage"), Some(Value::Boolean(true)));
    assert_eq!(key("AccessRights"), Some(Value::Integer(8191.into())));
    assert_eq!(key("CheckOutWhenRemoved"), Some(Value::Boolean(true)));
    assert_eq!(
        key("Topic"),
        Some(Value::String(
            "com.apple.mgmt.External.00000000-0000-0000-0000-000000000000".into()
        ))
    );
    let scep = profile.payload("com.apple.security.scep").unwrap();
    let Some(Value::Dictionary(content)) = scep.keys.get("PayloadContent") else {
        panic!("{scep:?}");
    };
    assert_eq!(
        content["URL"],
        Value::String("https://mdm.example.org/scep".into())
    );
    // A one-time challenge, not the static one.
    let first = profile_challenge(&r.body);
    assert_ne!(first, CHALLENGE);
    let root = profile.payload("com.apple.security.root").unwrap();
    assert_eq!(
        root.keys.get("PayloadContent"),
        Some(&Value::Data(der(&ca)))
    );

    // The signed profile carries the profile and verifies with the CA.
    let r = request(
        s.addr,
        "GET",
        &format!("/mdm/enroll?token={secret}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let sd = scep_proto::cms::SignedData::parse(&r.body).unwrap();
    let (signer, signer_der) = sd.signer_certificate(0).unwrap();
    assert_eq!(signer.der(), der(&ca).as_slice());
    sd.verify(0, signer_der, None).unwrap();
    let inner = mdm_proto::Profile::decode(sd.content.as_deref().unwrap()).unwrap();
    let second = profile_challenge(sd.content.as_deref().unwrap());
    assert_ne!(second, first, "each profile has its own challenge");
    assert!(inner.payload("com.apple.mdm").is_some());

    // SCEP: a challenge is required; guesses and the static challenge are refused.
    for challenge in [None, Some("guess"), Some(CHALLENGE)] {
        match s.scep("refused", challenge, None).await {
            CertRepOutcome::Failed { .. } => {}
            other => panic!("{challenge:?}: {other:?}"),
        }
    }
    // The profile's challenge gets a certificate from the CA, once.
    let cert = s.issued("device-1", &first).await;
    let parts_der = der(&cert);
    let parts = scep_proto::cms::CertParts::parse(&parts_der).unwrap();
    let ca_der = der(&ca);
    let ca_parts = scep_proto::cms::CertParts::parse(&ca_der).unwrap();
    assert_eq!(parts.issuer, ca_parts.subject);
    parts.verify_signed_by(ca_parts.spki).unwrap();
    match s.scep("again", Some(&first), None).await {
        CertRepOutcome::Failed { fail_info, .. } => {
            assert_eq!(fail_info, scep_proto::FailInfo::BAD_REQUEST);
        }
        other => panic!("a challenge used twice: {other:?}"),
    }

    // The token's third use is its last.
    assert_eq!(s.profile(secret).await.status, 200);
    let r = s.profile(secret).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("used up"), "{}", r.text());

    // Revoked: no profile, and challenges handed out before are refused too.
    let token = s.token(r#"{"uses": 5}"#).await;
    let (id, secret) = (
        token["id"].as_str().unwrap(),
        token["token"].as_str().unwrap(),
    );
    let pending = s.challenge(secret).await;
    let r = s
        .admin("DELETE", &format!("/v1/enrollment-tokens/{id}"), b"")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s
        .admin("DELETE", "/v1/enrollment-tokens/no-such-token", b"")
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = s.profile(secret).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("revoked"), "{}", r.text());
    match s.scep("revoked", Some(&pending), None).await {
        CertRepOutcome::Failed { .. } => {}
        other => panic!("{other:?}"),
    }
    let list = s.admin("GET", "/v1/enrollment-tokens", b"").await.json();
    let tokens = list["enrollment_tokens"].as_array().unwrap();
    let revoked = tokens.iter().find(|t| t["id"] == id).unwrap();
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["uses"], 1);
    assert!(
        tokens
            .iter()
            .all(|t| t.get("token").is_none() && t.get("secret_hash").is_none())
    );

    // Expired.
    let token = s.token(r#"{"expires_in": 1}"#).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = s.profile(token["token"].as_str().unwrap()).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("expired"), "{}", r.text());

    // Bad token requests are 400/404, and store nothing.
    for body in [
        r#"{"uses": 0}"#,
        r#"{"uses": 1000000}"#,
        r#"{"expires_in": 0}"#,
        r#"{"device": ""}"#,
        r#"{"nonsense": 1}"#,
        "not json",
    ] {
        let r = s
            .admin("POST", "/v1/enrollment-tokens", body.as_bytes())
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
    }
    let r = s
        .admin(
            "POST",
            "/v1/enrollment-tokens",
            br#"{"may_reenroll": "NO-SUCH-DEVICE"}"#,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    let after = s.admin("GET", "/v1/enrollment-tokens", b"").await.json();
    assert_eq!(
        after["enrollment_tokens"].as_array().unwrap().len(),
        tokens.len() + 1
    );
    s.finish().await;
}

async fn identity_is_checked(postgres: bool) {
    let Some(s) = Running::start(postgres, |c| c).await else {
        return;
    };
    let a = s.certificate("device-A").await;
    let b = s.certificate("device-B").await;
    let fresh = s.certificate("device-fresh").await;
    // Same key, but a certificate from another CA, and a self-signed one.
    let key = device_key();
    let opts = IssueOptions::new(vec![9], mdm_server::storage::now() - 60, 3600);
    let foreign_ca = self_signed(key, &common_name("mdm-server device CA"), true, &opts).unwrap();
    let csr = Csr::parse(
        &Csr::build(
            key,
            &common_name("device-A"),
            None,
            &[],
            DigestAlgorithm::Sha256,
        )
        .unwrap(),
    )
    .unwrap();
    let foreign = scep_proto::issue::issue(&csr, &foreign_ca, key, &opts).unwrap();
    let self_made = self_signed(key, &common_name("device-A"), false, &opts).unwrap();

    // Not proven (401), and nothing stored: unsigned, a bad signature, certificates not
    // from our CA.
    let auth = authenticate("UDID-A");
    let r = request(s.addr, "PUT", "/mdm/checkin", &[], auth.as_bytes()).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("Mdm-Signature"), "{}", r.text());
    let other_body = mdm_proto::signature::sign_mdm_signature(b"other", &a, key).unwrap();
    let r = request(
        s.addr,
        "PUT",
        "/mdm/checkin",
        &[("Mdm-Signature", &other_body)],
        auth.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = request(
        s.addr,
        "PUT",
        "/mdm/checkin",
        &[("Mdm-Signature", "bm90IGEgc2lnbmF0dXJl")],
        auth.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text());
    for cert in [&foreign, &self_made] {
        let r = s.signed("/mdm/checkin", &auth, cert).await;
        assert_eq!(r.status, 401, "{}", r.text());
        assert!(r.text().contains("CA"), "{}", r.text());
    }
    let r = s.admin("GET", "/v1/enrollments/UDID-A", b"").await;
    assert_eq!(r.status, 404);

    // Row: a new device with a certificate issued for a token: bound at Authenticate.
    assert_eq!(s.signed("/mdm/checkin", &auth, &a).await.status, 200);
    let r = s
        .signed(
            "/mdm/checkin",
            &token_update_with("UDID-A", "PM-A", "AQID"),
            &a,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        s.signed("/mdm/checkin", &authenticate("UDID-B"), &b)
            .await
            .status,
        200
    );
    let r = s
        .signed(
            "/mdm/checkin",
            &token_update_with("UDID-B", "PM-B", "BAUG"),
            &b,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let before = s.enrollment("UDID-A").await;
    assert_eq!(before["enrolled"], true);
    assert_eq!(before["push"]["push_magic"], "PM-A");
    assert_eq!(
        before["certificate"]["history"][0]["reason"],
        "new enrollment"
    );
    let r = s
        .admin(
            "PUT",
            "/v1/enqueue/UDID-A?nopush=1",
            plist(
                "<key>CommandUUID</key><string>CMD-1</string><key>Command</key><dict>\
                 <key>RequestType</key><string>DeviceInformation</string></dict>",
            )
            .as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // Row (the attack): B's bound certificate cannot act for A at all, Authenticate
    // included (403), and A's push token, PushMagic and enrolled flag are untouched.
    for (path, body) in [
        ("/mdm/checkin", authenticate("UDID-A")),
        (
            "/mdm/checkin",
            token_update_with("UDID-A", "PM-EVIL", "BwgJ"),
        ),
        ("/mdm", idle("UDID-A")),
    ] {
        let r = s.signed(path, &body, &b).await;
        assert_eq!(r.status, 403, "{body}: {}", r.text());
        assert!(r.text().contains("another enrollment"), "{}", r.text());
    }
    let r = request(s.addr, "PUT", "/mdm", &[], idle("UDID-A").as_bytes()).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(s.enrollment("UDID-A").await, before);
    let status = s.admin("GET", "/v1/commands/CMD-1", b"").await.json();
    assert_eq!(status["enrollments"][0]["status"], "Queued");
    assert!(status["enrollments"][0]["sent_at"].is_null());

    // Row: a fresh certificate from our CA, for an existing UDID, without a re-enroll
    // token: 403, and nothing changes.
    for (path, body) in [
        ("/mdm/checkin", authenticate("UDID-A")),
        ("/mdm/checkin", token_update("UDID-A")),
        ("/mdm", idle("UDID-A")),
    ] {
        let r = s.signed(path, &body, &fresh).await;
        assert_eq!(r.status, 403, "{body}: {}", r.text());
    }
    assert_eq!(s.enrollment("UDID-A").await, before);
    // Row: a device that never authenticated cannot start with a report.
    let r = s.signed("/mdm", &idle("UDID-NEW"), &fresh).await;
    assert_eq!(r.status, 403, "{}", r.text());

    // Row: the bound certificate works, on the device channel and its user channel.
    let r = s.signed("/mdm", &idle("UDID-A"), &a).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("CMD-1"), "{}", r.text());
    let user = plist(
        "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>UDID-A</string>\
         <key>UserID</key><string>USER-1</string><key>UserShortName</key><string>u</string>\
         <key>Topic</key><string>T</string><key>PushMagic</key><string>PM-U</string>\
         <key>Token</key><data>AQID</data>",
    );
    let r = s.signed("/mdm/checkin", &user, &a).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.signed("/mdm/checkin", &user, &b).await;
    assert_eq!(r.status, 403, "{}", r.text());

    // Row: a renewal (RenewalReq signed with A, no challenge) replaces A.
    let a2 = s.certificate_renewal(&a).await;
    assert_ne!(der(&a2), der(&a));
    assert_eq!(s.signed("/mdm", &idle("UDID-A"), &a2).await.status, 200);
    assert_eq!(s.signed("/mdm", &idle("UDID-A"), &a).await.status, 403);
    assert_eq!(s.signed("/mdm", &idle("UDID-A"), &a2).await.status, 200);
    // B renewing does not make B's certificates A's.
    let b2 = s.certificate_renewal(&b).await;
    assert_eq!(s.signed("/mdm", &idle("UDID-A"), &b2).await.status, 403);

    // Row: re-enrollment an administrator authorised (a token that may re-enroll A).
    let (c, token_c) = s
        .enrolled_cert("device-C", r#"{"may_reenroll": "UDID-A"}"#)
        .await;
    // ...not for another device.
    let r = s.signed("/mdm/checkin", &authenticate("UDID-B"), &c).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(s.signed("/mdm/checkin", &auth, &c).await.status, 200);
    assert_eq!(s.signed("/mdm", &idle("UDID-A"), &c).await.status, 200);
    assert_eq!(s.signed("/mdm", &idle("UDID-A"), &a2).await.status, 403);
    // Replaced certificates stay retired: A's first one cannot start a new enrollment.
    let r = s.signed("/mdm/checkin", &authenticate("UDID-Z"), &a).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("replaced"), "{}", r.text());
    // The history: every binding, with why and which token.
    let e = s.enrollment("UDID-A").await;
    let history = e["certificate"]["history"].as_array().unwrap();
    let reasons: Vec<&str> = history
        .iter()
        .map(|h| h["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["new enrollment", "renewal", "re-enrollment"],
        "{e}"
    );
    assert_eq!(history[2]["token_id"], token_c.as_str());
    assert_eq!(history[2]["old_fingerprint"], history[1]["new_fingerprint"]);
    assert_eq!(
        e["certificate"]["fingerprint"],
        history[2]["new_fingerprint"]
    );
    // A user channel's detail shows its device's certificate.
    let u = s.enrollment("UDID-A:USER-1").await;
    assert_eq!(u["certificate"], e["certificate"]);

    // Row: a token for one device (UDID or serial) enrolls only that device.
    let (d, _) = s
        .enrolled_cert("device-D", r#"{"device": "SERIAL-D"}"#)
        .await;
    let r = s
        .signed(
            "/mdm/checkin",
            &authenticate_serial("UDID-D", "SERIAL-X"),
            &d,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("another device"), "{}", r.text());
    let r = s
        .signed(
            "/mdm/checkin",
            &authenticate_serial("UDID-D", "SERIAL-D"),
            &d,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // Row: a certificate whose token was revoked before it enrolled: 403.
    let (e_cert, token_e) = s.enrolled_cert("device-E", "{}").await;
    let r = s
        .admin("DELETE", &format!("/v1/enrollment-tokens/{token_e}"), b"")
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .signed("/mdm/checkin", &authenticate("UDID-E"), &e_cert)
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("revoked"), "{}", r.text());
    assert_eq!(
        s.admin("GET", "/v1/enrollments/UDID-E", b"").await.status,
        404
    );
    s.finish().await;
}

#[tokio::test]
async fn identity_is_checked_sqlite() {
    identity_is_checked(false).await;
}

#[tokio::test]
async fn identity_is_checked_postgres() {
    identity_is_checked(true).await;
}

async fn enqueue_refuses_unknown_ids(postgres: bool) {
    let Some(s) = Running::start(postgres, Config::without_signature_check).await else {
        return;
    };
    let r = request(
        s.addr,
        "PUT",
        "/mdm/checkin",
        &[],
        authenticate("KNOWN").as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let command = |uuid: &str| {
        plist(&format!(
            "<key>CommandUUID</key><string>{uuid}</string><key>Command</key><dict>\
             <key>RequestType</key><string>ProfileList</string></dict>"
        ))
    };
    let r = s
        .admin(
            "PUT",
            "/v1/enqueue/KNOWN,NOBODY-1,NOBODY-2?nopush=1",
            command("U-1").as_bytes(),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("`NOBODY-1`, `NOBODY-2`"), "{}", r.text());
    assert!(!r.text().contains("`KNOWN`"), "{}", r.text());
    assert_eq!(s.admin("GET", "/v1/commands/U-1", b"").await.status, 404);
    let r = s
        .admin(
            "PUT",
            "/v1/enqueue/KNOWN,NOBODY-1?nopush=1&create=1",
            command("U-1").as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = |uuid: &str| {
        format!(
            r#"{{"enrollment_ids": ["KNOWN", "NOBODY-3"], "command_uuid": "{uuid}",
                "command": {{"RequestType": "ProfileList"}}, "no_push": true}}"#
        )
    };
    let json = [
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer test-api-key"),
    ];
    let r = request(
        s.addr,
        "POST",
        "/v1/commands",
        &json,
        body("U-2").as_bytes(),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("`NOBODY-3`"), "{}", r.text());
    assert_eq!(s.admin("GET", "/v1/commands/U-2", b"").await.status, 404);
    let r = request(
        s.addr,
        "POST",
        "/v1/commands?create=1",
        &json,
        body("U-2").as_bytes(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = s.admin("GET", "/v1/commands/U-2", b"").await.json();
    assert_eq!(r["enrollments"].as_array().unwrap().len(), 2);
    s.finish().await;
}

#[tokio::test]
async fn enqueue_refuses_unknown_ids_sqlite() {
    enqueue_refuses_unknown_ids(false).await;
}

#[tokio::test]
async fn enqueue_refuses_unknown_ids_postgres() {
    enqueue_refuses_unknown_ids(true).await;
}

#[tokio::test]
async fn open_enrollment_keeps_labs_working_but_not_takeovers() {
    let s = Running::start(false, Config::with_open_enrollment)
        .await
        .unwrap();
    // The profile for anyone, with the static challenge, which works more than once.
    let r = request(s.addr, "GET", "/mdm/enroll?unsigned=1", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(profile_challenge(&r.body), CHALLENGE);
    let lab1 = s.issued("lab-1", CHALLENGE).await;
    let lab2 = s.issued("lab-2", CHALLENGE).await;
    // Tokens still work, with their one-time challenge.
    let token = s.token("{}").await;
    let challenge = s.challenge(token["token"].as_str().unwrap()).await;
    assert_ne!(challenge, CHALLENGE);
    s.issued("lab-3", &challenge).await;
    // A new device enrolls with a certificate from the static challenge...
    assert_eq!(
        s.signed("/mdm/checkin", &authenticate("LAB-1"), &lab1)
            .await
            .status,
        200
    );
    // ...but the identity rules hold: another certificate cannot take it over.
    let r = s
        .signed("/mdm/checkin", &authenticate("LAB-1"), &lab2)
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        s.signed("/mdm/checkin", &authenticate("LAB-2"), &lab2)
            .await
            .status,
        200
    );
    let r = s
        .signed("/mdm/checkin", &authenticate("LAB-2"), &lab1)
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    s.finish().await;
}

#[tokio::test]
async fn client_certificate_from_a_proxy_header() {
    // Default --trusted-proxy: loopback, where the test connects from.
    let s = Running::start(false, |c| c.with_client_cert_header("X-Client-Cert"))
        .await
        .unwrap();
    let a = s.certificate("device-A").await;
    let b = s.certificate("device-B").await;
    let header = |c: &Certificate| {
        format!(
            ":{}:",
            base64::engine::general_purpose::STANDARD.encode(der(c))
        )
    };
    let put = |addr: SocketAddr, path: &'static str, body: String, cert: Option<String>| async move {
        let headers: Vec<(&str, &str)> = cert
            .as_deref()
            .map(|c| vec![("X-Client-Cert", c)])
            .unwrap_or_default();
        request(addr, "PUT", path, &headers, body.as_bytes()).await
    };
    assert_eq!(
        put(s.addr, "/mdm/checkin", authenticate("P"), None)
            .await
            .status,
        401
    );
    assert_eq!(
        put(
            s.addr,
            "/mdm/checkin",
            authenticate("P"),
            Some("garbage".into())
        )
        .await
        .status,
        401
    );
    assert_eq!(
        put(s.addr, "/mdm/checkin", authenticate("P"), Some(header(&a)))
            .await
            .status,
        200
    );
    assert_eq!(
        put(s.addr, "/mdm", idle("P"), Some(header(&a)))
            .await
            .status,
        200
    );
    assert_eq!(
        put(s.addr, "/mdm", idle("P"), Some(header(&b)))
            .await
            .status,
        403
    );
    s.finish().await;

    // A proxy elsewhere: the header from this (untrusted) address is refused, even with
    // a good certificate, and stores nothing; Mdm-Signature still works.
    let s = Running::start(false, |c| {
        c.with_client_cert_header("X-Client-Cert")
            .with_trusted_proxies(["10.9.0.0/16".parse().unwrap()])
    })
    .await
    .unwrap();
    let a = s.certificate("device-A").await;
    let r = put(s.addr, "/mdm/checkin", authenticate("Q"), Some(header(&a))).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("trusted proxy"), "{}", r.text());
    assert_eq!(s.admin("GET", "/v1/enrollments/Q", b"").await.status, 404);
    let r = s.signed("/mdm/checkin", &authenticate("Q"), &a).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = put(s.addr, "/mdm", idle("Q"), Some(header(&a))).await;
    assert_eq!(r.status, 403, "{}", r.text());
    s.finish().await;
}

#[tokio::test]
async fn no_signature_check_is_an_explicit_choice() {
    let s = Running::start(false, Config::without_signature_check)
        .await
        .unwrap();
    let r = request(
        s.addr,
        "PUT",
        "/mdm/checkin",
        &[],
        authenticate("N").as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    s.finish().await;
}

/// Whether a tool is installed; a visible skip (a failure under CI) when it is not.
fn tool(name: &str, _arg: &str) -> bool {
    mdm_test_support::tool(name)
}

// Multi-threaded: the tools run as blocking child processes while the server answers them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_verifies_the_profile_and_scepclient_enrolls() {
    let s = Running::start(false, |c| c).await.unwrap();
    let work = TempDir::new();
    let ca_pem = work.path().join("ca.pem");
    std::fs::write(
        &ca_pem,
        scep_proto::key::pem_encode("CERTIFICATE", &der(&s.ca().await)),
    )
    .unwrap();
    let token = s.token(r#"{"uses": 3}"#).await;
    let secret = token["token"].as_str().unwrap();
    if tool("openssl", "version") {
        let r = request(
            s.addr,
            "GET",
            &format!("/mdm/enroll?token={secret}"),
            &[],
            b"",
        )
        .await;
        let signed = work.path().join("enroll.der");
        std::fs::write(&signed, &r.body).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["cms", "-verify", "-inform", "DER", "-in"])
            .arg(&signed)
            .arg("-CAfile")
            .arg(&ca_pem)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        mdm_proto::Profile::decode(&out.stdout).unwrap();
    }
    if tool("scepclient", "-version") {
        let url = format!("http://{}/scep", s.addr);
        let run = |challenge: &str, dir: &std::path::Path| {
            std::fs::create_dir_all(dir).unwrap();
            std::process::Command::new("scepclient")
                .current_dir(dir)
                .args([
                    "-server-url",
                    &url,
                    "-challenge",
                    challenge,
                    "-keySize",
                    "1024",
                ])
                .args([
                    "-private-key",
                    "key.pem",
                    "-certificate",
                    "cert.pem",
                    "-cn",
                    "interop",
                ])
                .output()
                .unwrap()
        };
        let challenge = s.challenge(secret).await;
        let good = work.path().join("good");
        let out = run(&challenge, &good);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let issued =
            scep_proto::cms::parse_certificates(&std::fs::read(good.join("cert.pem")).unwrap())
                .unwrap();
        let issued_der = der(&issued[0]);
        let parts = scep_proto::cms::CertParts::parse(&issued_der).unwrap();
        let ca_der = der(&s.ca().await);
        let ca = scep_proto::cms::CertParts::parse(&ca_der).unwrap();
        parts.verify_signed_by(ca.spki).unwrap();
        for (name, challenge) in [
            ("wrong", "wrong"),
            ("static", CHALLENGE),
            ("reused", &challenge),
        ] {
            // A guess, the static challenge (enrollment is not open), and the profile's
            // challenge a second time: refused.
            let bad = work.path().join(name);
            let out = run(challenge, &bad);
            assert!(!out.status.success(), "{name}");
            assert!(!bad.join("cert.pem").exists(), "{name}");
        }
    }
    s.finish().await;
}
