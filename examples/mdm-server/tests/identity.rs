//! Enrollment over real HTTP: the profile, SCEP, and the device identity check
//! (`Mdm-Signature`, forwarded client certificates, binding, renewal), on SQLite and
//! PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;

use base64::Engine;
use mdm_proto::plist::Value;
use mdm_server::app::{Config, Server};
use scep_proto::client::{pkcs_req, renewal_req};
use scep_proto::issue::{IssueOptions, common_name, self_signed};
use scep_proto::{CertRepOutcome, Certificate, ContentCipher, Csr, DigestAlgorithm, RsaKey};
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
            Some(PgSchema::create("identity").await?)
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

    async fn certificate(&self, cn: &str, renew: Option<&Certificate>) -> Certificate {
        match self.scep(cn, Some(CHALLENGE), renew).await {
            CertRepOutcome::Issued { certificate, .. } => *certificate,
            other => panic!("{other:?}"),
        }
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

fn plist(inner: &str) -> String {
    format!(r#"<?xml version="1.0"?><plist version="1.0"><dict>{inner}</dict></plist>"#)
}

fn authenticate(udid: &str) -> String {
    plist(&format!(
        "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{udid}</string>\
         <key>Topic</key><string>T</string>"
    ))
}

fn token_update(udid: &str) -> String {
    plist(&format!(
        "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{udid}</string>\
         <key>Topic</key><string>T</string><key>PushMagic</key><string>PM</string>\
         <key>Token</key><data>AQID</data>"
    ))
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

    // The unsigned profile.
    let r = request(s.addr, "GET", "/mdm/enroll?unsigned=1", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
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
    assert_eq!(content["Challenge"], Value::String(CHALLENGE.into()));
    let root = profile.payload("com.apple.security.root").unwrap();
    assert_eq!(
        root.keys.get("PayloadContent"),
        Some(&Value::Data(der(&ca)))
    );

    // The signed profile carries the profile and verifies with the CA.
    let r = request(s.addr, "GET", "/mdm/enroll", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/x-apple-aspen-config")
    );
    let sd = scep_proto::cms::SignedData::parse(&r.body).unwrap();
    let (signer, signer_der) = sd.signer_certificate(0).unwrap();
    assert_eq!(signer.der(), der(&ca).as_slice());
    sd.verify(0, signer_der, None).unwrap();
    let inner = mdm_proto::Profile::decode(sd.content.as_deref().unwrap()).unwrap();
    assert!(inner.payload("com.apple.mdm").is_some());

    // SCEP: the challenge is required, then a certificate is issued by the CA.
    match s.scep("nochallenge", None, None).await {
        CertRepOutcome::Failed { .. } => {}
        other => panic!("{other:?}"),
    }
    match s.scep("wrong", Some("guess"), None).await {
        CertRepOutcome::Failed { .. } => {}
        other => panic!("{other:?}"),
    }
    let cert = s.certificate("device-1", None).await;
    let parts_der = der(&cert);
    let parts = scep_proto::cms::CertParts::parse(&parts_der).unwrap();
    let ca_der = der(&ca);
    let ca_parts = scep_proto::cms::CertParts::parse(&ca_der).unwrap();
    assert_eq!(parts.issuer, ca_parts.subject);
    parts.verify_signed_by(ca_parts.spki).unwrap();
    s.finish().await;
}

async fn identity_is_checked(postgres: bool) {
    let Some(s) = Running::start(postgres, |c| c).await else {
        return;
    };
    let a = s.certificate("device-A", None).await;
    let b = s.certificate("device-B", None).await;
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

    let enrollment = |id: &'static str| {
        let s = &s;
        async move { s.admin("GET", &format!("/v1/enrollments/{id}"), b"").await }
    };

    // Refused, and nothing stored: unsigned, a bad signature, certificates not from our CA.
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
    assert_eq!(enrollment("UDID-A").await.status, 404);

    // Enrolled with certificate A.
    assert_eq!(s.signed("/mdm/checkin", &auth, &a).await.status, 200);
    assert_eq!(
        s.signed("/mdm/checkin", &token_update("UDID-A"), &a)
            .await
            .status,
        200
    );
    let before = enrollment("UDID-A").await.json();
    assert_eq!(before["enrolled"], true);
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

    // Another device's certificate (from our CA) cannot act for A, and changes nothing.
    let r = s.signed("/mdm", &idle("UDID-A"), &b).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("bound"), "{}", r.text());
    let r = s.signed("/mdm/checkin", &token_update("UDID-A"), &b).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = request(s.addr, "PUT", "/mdm", &[], idle("UDID-A").as_bytes()).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(enrollment("UDID-A").await.json(), before);
    let status = s.admin("GET", "/v1/commands/CMD-1", b"").await.json();
    assert_eq!(status["enrollments"][0]["status"], "Queued");
    assert!(status["enrollments"][0]["sent_at"].is_null());
    // A device that never authenticated is refused too.
    assert_eq!(s.signed("/mdm", &idle("UDID-B"), &b).await.status, 401);

    // The bound certificate works.
    let r = s.signed("/mdm", &idle("UDID-A"), &a).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("CMD-1"), "{}", r.text());

    // A renewal (RenewalReq signed with A, no challenge) replaces A.
    let a2 = s.certificate_renewal(&a).await;
    assert_ne!(der(&a2), der(&a));
    assert_eq!(s.signed("/mdm", &idle("UDID-A"), &a2).await.status, 200);
    assert_eq!(s.signed("/mdm", &idle("UDID-A"), &a).await.status, 401);
    assert_eq!(s.signed("/mdm", &idle("UDID-A"), &a2).await.status, 200);
    // B renewing does not make B's certificates A's.
    let b2 = s.certificate_renewal(&b).await;
    assert_eq!(s.signed("/mdm", &idle("UDID-A"), &b2).await.status, 401);

    // Re-enrolling (Authenticate) binds the new certificate.
    assert_eq!(s.signed("/mdm/checkin", &auth, &b).await.status, 200);
    assert_eq!(s.signed("/mdm", &idle("UDID-A"), &b).await.status, 200);
    assert_eq!(s.signed("/mdm", &idle("UDID-A"), &a2).await.status, 401);
    s.finish().await;
}

impl Running {
    async fn certificate_renewal(&self, existing: &Certificate) -> Certificate {
        match self.scep("renewed", None, Some(existing)).await {
            CertRepOutcome::Issued { certificate, .. } => *certificate,
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn identity_is_checked_sqlite() {
    identity_is_checked(false).await;
}

#[tokio::test]
async fn identity_is_checked_postgres() {
    identity_is_checked(true).await;
}

#[tokio::test]
async fn client_certificate_from_a_proxy_header() {
    let s = Running::start(false, |c| c.with_client_cert_header("X-Client-Cert"))
        .await
        .unwrap();
    let a = s.certificate("device-A", None).await;
    let b = s.certificate("device-B", None).await;
    let header = |c: &Certificate| {
        format!(
            ":{}:",
            base64::engine::general_purpose::STANDARD.encode(der(c))
        )
    };
    let put = |path: &'static str, body: String, cert: Option<String>| {
        let addr = s.addr;
        async move {
            let headers: Vec<(&str, &str)> = cert
                .as_deref()
                .map(|c| vec![("X-Client-Cert", c)])
                .unwrap_or_default();
            request(addr, "PUT", path, &headers, body.as_bytes()).await
        }
    };
    assert_eq!(
        put("/mdm/checkin", authenticate("P"), None).await.status,
        401
    );
    assert_eq!(
        put("/mdm/checkin", authenticate("P"), Some("garbage".into()))
            .await
            .status,
        401
    );
    assert_eq!(
        put("/mdm/checkin", authenticate("P"), Some(header(&a)))
            .await
            .status,
        200
    );
    assert_eq!(put("/mdm", idle("P"), Some(header(&a))).await.status, 200);
    assert_eq!(put("/mdm", idle("P"), Some(header(&b))).await.status, 401);
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

/// Whether a tool can run; prints SKIP (or fails under CI) when it cannot.
fn tool(name: &str, arg: &str) -> bool {
    let ok = std::process::Command::new(name)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is required when CI is set"
        );
        println!("SKIP: {name} is not installed");
    }
    ok
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
    if tool("openssl", "version") {
        let r = request(s.addr, "GET", "/mdm/enroll", &[], b"").await;
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
        let good = work.path().join("good");
        let out = run(CHALLENGE, &good);
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
        let bad = work.path().join("bad");
        let out = run("wrong", &bad);
        assert!(!out.status.success());
        assert!(!bad.join("cert.pem").exists());
    }
    s.finish().await;
}
