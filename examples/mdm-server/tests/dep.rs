//! DEP and Automated Device Enrollment over real HTTP, on SQLite and PostgreSQL, against
//! dep-client's mock of Apple's DEP service: the server token upload, the sync (paging,
//! removals, the echoed cursor, a profile assigned to new devices), a sync stopped after
//! page 1 of 3 and continued by a new server (no device lost or doubled), the background
//! sync, and the ADE endpoint (a MachineInfo signed by a device of the configured CA is
//! accepted and its one-time challenge works once and only for its UDID; another CA, an
//! unknown serial, a tampered or malformed body are refused with Apple's error body).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;

use base64::Engine;
use dep_client::mock::{MockDep, OrgId};
use mdm_pki::issue::{self, IssueOptions};
use mdm_pki::{Certificate, Csr, DigestAlgorithm, EcKey, PrivateKey};
use mdm_proto::plist::Value;
use mdm_server::app::Config;
use serde_json::{Value as Json, json};
use std::collections::BTreeSet;
use support::{PgSchema, Response, Running, TempDir, request};

const KEY: &str = "test-api-key";
const ORG: &str = "acme";

/// Where a test's servers keep their state (shared by a server and its successor).
struct Backend {
    dir: TempDir,
    schema: Option<PgSchema>,
}

impl Backend {
    fn sqlite() -> Self {
        Backend {
            dir: TempDir::new(),
            schema: None,
        }
    }

    async fn postgres(test: &str) -> Option<Self> {
        let schema = PgSchema::create(test, "dep").await?;
        Some(Backend {
            dir: TempDir::new(),
            schema: Some(schema),
        })
    }

    fn config(&self, mock: &MockDep, interval: u64, page: u32, max_pages: usize) -> Config {
        let mut c = Config::new("127.0.0.1:0".parse().unwrap(), self.dir.path())
            .with_api_key(KEY)
            .with_public_url("https://mdm.example.org")
            .with_dep(mock.base_url(), interval, page, max_pages);
        if let Some(schema) = &self.schema {
            c = c.with_storage(schema.url.clone());
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
    async fn admin(&self, method: &str, path: &str, body: &[u8]) -> Response {
        let auth = format!("Bearer {KEY}");
        request(self.addr, method, path, &[("Authorization", &auth)], body).await
    }

    /// `POST /v1/dep/{ORG}/sync`, which must succeed: the report.
    async fn sync(&self) -> Json {
        let r = self
            .admin("POST", &format!("/v1/dep/{ORG}/sync"), b"")
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// Every device of the organisation through the API, page by page (`all`: removed too).
    async fn devices(&self, all: bool) -> Vec<Json> {
        let mut out = Vec::new();
        let mut after = String::new();
        for _ in 0..100 {
            let r = self
                .admin(
                    "GET",
                    &format!("/v1/dep/{ORG}/devices?limit=70&all={all}&after={after}"),
                    b"",
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text());
            let page = r.json();
            out.extend(page["devices"].as_array().unwrap().iter().cloned());
            match page["next_after"].as_str() {
                Some(next) => after = next.to_owned(),
                None => return out,
            }
        }
        panic!("more than 100 pages");
    }

    /// Takes the organisation's certificate and uploads a token file for the mock's org 0.
    async fn upload_token(&self, mock: &MockDep) {
        let r = self
            .admin("GET", &format!("/v1/dep/{ORG}/certificate"), b"")
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let file = token_file(&r.body, &mock.token(OrgId(0)));
        let r = self
            .admin("PUT", &format!("/v1/dep/{ORG}/token"), &file)
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
}

/// A token file as Apple makes it: the token's JSON in a text/plain MIME part between
/// `-----BEGIN MESSAGE-----` lines, enveloped to the PEM certificate, as S/MIME.
fn token_file(cert_pem: &[u8], token: &dep_client::ServerToken) -> Vec<u8> {
    let der = mdm_pki::pem::certificates(cert_pem, 1).unwrap().remove(0);
    let cert = mdm_pki::parse_certificate(&der).unwrap();
    let inner = format!(
        "Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n\
         -----BEGIN MESSAGE-----\n{}\n-----END MESSAGE-----\n",
        serde_json::to_string(token).unwrap()
    );
    let envelope =
        mdm_pki::cms::envelope(inner.as_bytes(), &cert, mdm_pki::ContentCipher::Aes256Cbc).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(envelope);
    format!(
        "Content-Type: application/pkcs7-mime; name=smime.p7m; smime-type=enveloped-data\n\
         Content-Transfer-Encoding: base64\n\
         Content-Disposition: attachment; filename=\"smime.p7m\"\n\n{b64}\n"
    )
    .into_bytes()
}

fn serials(devices: &[Json]) -> Vec<String> {
    devices
        .iter()
        .map(|d| d["serial_number"].as_str().unwrap().to_owned())
        .collect()
}

fn mock_serials(mock: &MockDep) -> BTreeSet<String> {
    mock.devices(OrgId(0))
        .into_iter()
        .map(|d| d.serial_number)
        .collect()
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let backend = super::Backend::sqlite();
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
    token_upload_sync_and_profile,
    sync_stopped_mid_round_loses_and_doubles_nothing,
    ade_enrollment,
);

/// The token upload, a paged fetch, a sync with a removal and an addition, the echoed
/// cursor, and the profile defined with Apple and assigned to every device once.
async fn token_upload_sync_and_profile(b: &Backend) {
    let mock = MockDep::start().await.unwrap();
    mock.add_devices(OrgId(0), "SER", 250);
    let s = Running::start(&b.config(&mock, 0, 100, 10_000)).await;

    // The certificate: made once, then the same; bad names refused.
    let first = s
        .admin("GET", &format!("/v1/dep/{ORG}/certificate"), b"")
        .await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("content-type"), Some("application/x-pem-file"));
    assert!(first.text().starts_with("-----BEGIN CERTIFICATE-----"));
    let again = s
        .admin("GET", &format!("/v1/dep/{ORG}/certificate"), b"")
        .await;
    assert_eq!(again.body, first.body);
    let r = s.admin("GET", "/v1/dep/bad%20name/certificate", b"").await;
    assert_eq!(r.status, 400, "{}", r.text());
    // No API key, no certificate.
    let r = request(
        s.addr,
        "GET",
        &format!("/v1/dep/{ORG}/certificate"),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 401);

    // Before a token: no sync. A token for an unknown organisation, or not a token: refused.
    let r = s.admin("POST", &format!("/v1/dep/{ORG}/sync"), b"").await;
    assert_eq!(r.status, 409, "{}", r.text());
    let file = token_file(&first.body, &mock.token(OrgId(0)));
    let r = s.admin("PUT", "/v1/dep/nobody/token", &file).await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = s
        .admin("PUT", &format!("/v1/dep/{ORG}/token"), b"not a token file")
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("token file"), "{}", r.text());
    // A token file encrypted to another certificate does not open.
    let other = dep_client::token::KeyPair::generate("other", std::time::Duration::from_secs(3600))
        .unwrap();
    let wrong = token_file(
        other.certificate_pem().unwrap().as_bytes(),
        &mock.token(OrgId(0)),
    );
    let r = s
        .admin("PUT", &format!("/v1/dep/{ORG}/token"), &wrong)
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s.admin("PUT", &format!("/v1/dep/{ORG}/token"), &file).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["consumer_key"],
        json!(mock.token(OrgId(0)).consumer_key)
    );
    assert!(!r.text().contains(&mock.token(OrgId(0)).consumer_secret));

    // The first round fetches 250 devices in pages of 100.
    let report = s.sync().await;
    assert_eq!(report["pages"], 3, "{report}");
    assert_eq!(report["devices"], 250, "{report}");
    assert_eq!(report["added"], 250, "{report}");
    let listed = s.devices(false).await;
    let listed_serials = serials(&listed);
    assert_eq!(listed_serials.len(), 250);
    assert_eq!(
        listed_serials.iter().cloned().collect::<BTreeSet<_>>(),
        mock_serials(&mock)
    );
    assert_eq!(listed[0]["device"]["model"], "iPad");
    assert_eq!(listed[0]["present"], true);

    // The next round syncs the changes: one removed, one added.
    mock.remove_device(OrgId(0), "SER0042");
    mock.add_devices(OrgId(0), "NEW", 1);
    let report = s.sync().await;
    assert_eq!(
        (&report["added"], &report["removed"]),
        (&json!(1), &json!(1)),
        "{report}"
    );
    let present = serials(&s.devices(false).await);
    assert_eq!(present.len(), 250);
    assert!(!present.contains(&"SER0042".to_owned()));
    assert!(present.contains(&"NEW0000".to_owned()));
    let all = s.devices(true).await;
    assert_eq!(all.len(), 251);
    let gone = all
        .iter()
        .find(|d| d["serial_number"] == "SER0042")
        .unwrap();
    assert_eq!(gone["present"], false);

    // Apple echoing the cursor with more_to_follow ends the round after one page.
    mock.set_echo_cursor(true);
    let report = s.sync().await;
    assert_eq!(report["pages"], 1, "{report}");
    assert_eq!(report["echoed_cursor"], true, "{report}");
    mock.set_echo_cursor(false);

    // A profile: malformed refused; `url` defaults to the ADE endpoint.
    let path = format!("/v1/dep/{ORG}/profile");
    let r = s.admin("PUT", &path, br#"{"profile_name": 3}"#).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s.admin("PUT", &path, b"[]").await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s
        .admin(
            "PUT",
            &path,
            br#"{"profile_name": "Acme", "is_supervised": true, "new_key": 1}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["profile"]["url"],
        "https://mdm.example.org/mdm/ade/enroll"
    );
    // The next round defines it with Apple and assigns it to every present device, once.
    let report = s.sync().await;
    assert_eq!(report["profiles_assigned"], 250, "{report}");
    let listed = s.devices(false).await;
    let uuid = listed[0]["assigned_profile"].as_str().unwrap().to_owned();
    assert!(
        listed
            .iter()
            .all(|d| d["assigned_profile"] == uuid.as_str())
    );
    let defined = mock.profile(OrgId(0), &uuid).unwrap();
    assert_eq!(defined.profile_name, "Acme");
    assert_eq!(defined.url, "https://mdm.example.org/mdm/ade/enroll");
    let report = s.sync().await;
    assert_eq!(report["profiles_assigned"], 0, "{report}");
    // A new device gets it at the next round.
    mock.add_devices(OrgId(0), "LATE", 1);
    let report = s.sync().await;
    assert_eq!(report["profiles_assigned"], 1, "{report}");
    s.stop().await;
}

/// A round stopped after page 1 of 3 (the page bound, then the server dropped): a new
/// server on the same storage continues from the stored cursor; the devices are the mock's,
/// each once. Then the background task picks up a change by itself.
async fn sync_stopped_mid_round_loses_and_doubles_nothing(b: &Backend) {
    let mock = MockDep::start().await.unwrap();
    mock.add_devices(OrgId(0), "SER", 250);
    let first = Running::start(&b.config(&mock, 0, 100, 1)).await;
    first.upload_token(&mock).await;
    let report = first.sync().await;
    assert_eq!(
        (&report["pages"], &report["devices"]),
        (&json!(1), &json!(100))
    );
    assert_eq!(first.devices(false).await.len(), 100);
    first.stop().await;

    // A new server, no page bound: pages 2 and 3 only.
    let second = Running::start(&b.config(&mock, 0, 100, 10_000)).await;
    let report = second.sync().await;
    assert_eq!(
        (&report["pages"], &report["devices"], &report["added"]),
        (&json!(2), &json!(150), &json!(150)),
        "{report}"
    );
    let listed = serials(&second.devices(false).await);
    assert_eq!(listed.len(), 250, "no device doubled");
    assert_eq!(
        listed.into_iter().collect::<BTreeSet<_>>(),
        mock_serials(&mock),
        "no device lost"
    );
    // Three fetch pages in all: nothing was fetched twice.
    assert_eq!(mock.stats().fetches, 3);
    // The next round is a sync with nothing new.
    let report = second.sync().await;
    assert_eq!(report["devices"], 0, "{report}");
    assert_eq!(mock.stats().syncs, 1);
    second.stop().await;

    // The background task (every second) syncs by itself.
    let third = Running::start(&b.config(&mock, 1, 100, 10_000)).await;
    mock.add_devices(OrgId(0), "BG", 3);
    let mut seen = 0;
    for _ in 0..100 {
        seen = third.devices(false).await.len();
        if seen == 253 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen, 253,
        "the background sync did not store the new devices"
    );
    third.stop().await;
}

/// A test CA and a device certificate it issued (P-256: fast in debug builds).
struct DeviceIdentity {
    ca: Certificate,
    cert: Certificate,
    key: EcKey,
}

fn device_identity(ca_name: &str) -> DeviceIdentity {
    let now = mdm_server::storage::now();
    let ca_key = EcKey::generate().unwrap();
    let ca = issue::self_signed(
        &ca_key,
        &issue::common_name(ca_name),
        true,
        &IssueOptions::new(vec![1], now - 60, 86_400),
    )
    .unwrap();
    let key = EcKey::generate().unwrap();
    let csr = Csr::build(
        &key,
        &issue::common_name("device identity"),
        None,
        &[],
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    let cert = issue::issue(
        &Csr::parse(&csr).unwrap(),
        &ca,
        &ca_key,
        &IssueOptions::new(vec![2], now - 60, 86_400),
    )
    .unwrap();
    DeviceIdentity { ca, cert, key }
}

fn machine_info(udid: &str, serial: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\
         <key>UDID</key><string>{udid}</string><key>SERIAL</key><string>{serial}</string>\
         <key>PRODUCT</key><string>iPad13,1</string><key>VERSION</key><string>22A3354</string>\
         <key>IMEI</key><string>35 123456 789012 3</string><key>LANGUAGE</key><string>en</string>\
         </dict></plist>"
    )
    .into_bytes()
}

/// A MachineInfo signed as a device signs it (CMS SignedData, content attached).
fn signed_machine_info(id: &DeviceIdentity, udid: &str, serial: &str) -> Vec<u8> {
    mdm_pki::cms::sign(
        &mdm_pki::oids::DATA,
        &machine_info(udid, serial),
        false,
        &mdm_pki::cms::Signer {
            cert: &id.cert,
            key: &id.key as &dyn PrivateKey,
            digest: DigestAlgorithm::Sha256,
        },
        &[],
        &[],
    )
    .unwrap()
}

async fn ade(s: &Running, body: &[u8]) -> Response {
    request(
        s.addr,
        "POST",
        "/mdm/ade/enroll",
        &[("Content-Type", "application/pkcs7-signature")],
        body,
    )
    .await
}

/// Apple's 403 body, with the reason in `description`.
#[track_caller]
fn refused(r: &Response, status: u16, reason: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["code"], "com.apple.unrecognized.device", "{body}");
    assert!(body["message"].is_string(), "{body}");
    let description = body["description"].as_str().unwrap();
    assert!(description.contains(reason), "{description}");
}

/// The SCEP challenge of a CMS-signed enrollment profile.
fn profile_challenge(body: &[u8]) -> String {
    let signed = mdm_pki::cms::SignedData::parse(body).unwrap();
    let profile = mdm_proto::Profile::decode(signed.content.as_deref().unwrap()).unwrap();
    let scep = profile.payload("com.apple.security.scep").unwrap();
    let Some(Value::Dictionary(content)) = scep.keys.get("PayloadContent") else {
        panic!("{scep:?}");
    };
    content["Challenge"].as_string().unwrap().to_owned()
}

/// The device's SCEP key (RSA, as SCEP needs; made once: key generation is slow).
fn scep_key() -> &'static scep_proto::RsaKey {
    static KEY: std::sync::OnceLock<scep_proto::RsaKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| scep_proto::RsaKey::generate(1024).unwrap())
}

/// SCEP enrollment with `challenge` for the device key.
async fn scep(s: &Running, challenge: &str) -> scep_proto::CertRepOutcome {
    use scep_proto::client::pkcs_req;
    let r = request(s.addr, "GET", "/scep?operation=GetCACert", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let ca = scep_proto::cms::parse_certificate(&r.body).unwrap();
    let key = scep_key();
    let csr = scep_proto::Csr::build(
        key,
        &scep_proto::issue::common_name("ade-device"),
        Some(challenge),
        &[],
        scep_proto::DigestAlgorithm::Sha256,
    )
    .unwrap();
    let temp = scep_proto::issue::self_signed(
        key,
        &scep_proto::issue::common_name("ade-device"),
        false,
        &scep_proto::issue::IssueOptions::new(vec![7], mdm_server::storage::now() - 60, 3600),
    )
    .unwrap();
    let req = pkcs_req(
        &csr,
        &temp,
        key,
        &ca,
        scep_proto::DigestAlgorithm::Sha256,
        scep_proto::ContentCipher::Aes128Cbc,
    )
    .unwrap();
    let r = request(
        s.addr,
        "POST",
        "/scep?operation=PKIOperation",
        &[("Content-Type", "application/x-pki-message")],
        &req.der,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    req.open_response(&r.body, key, &[ca]).unwrap()
}

fn authenticate(udid: &str, serial: &str) -> String {
    support::plist(&format!(
        "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{udid}</string>\
         <key>SerialNumber</key><string>{serial}</string><key>Topic</key><string>T</string>"
    ))
}

async fn signed_checkin(s: &Running, body: &str, cert: &scep_proto::Certificate) -> Response {
    let sig = mdm_proto::signature::sign_mdm_signature(body.as_bytes(), cert, scep_key()).unwrap();
    request(
        s.addr,
        "PUT",
        "/mdm/checkin",
        &[("Mdm-Signature", &sig)],
        body.as_bytes(),
    )
    .await
}

/// ADE: accepted for a synced serial signed by a device of the configured CA (the profile's
/// challenge gets one certificate, which enrolls that UDID only); refused otherwise.
async fn ade_enrollment(b: &Backend) {
    let good = device_identity("Test Device CA");
    let other = device_identity("Another CA");
    let ca_file = b.dir.path().join("device-ca.pem");
    std::fs::write(
        &ca_file,
        mdm_pki::pem::encode("CERTIFICATE", &mdm_pki::cms::cert_der(&good.ca).unwrap()),
    )
    .unwrap();
    let mock = MockDep::start().await.unwrap();
    mock.add_devices(OrgId(0), "ADE", 2);
    let s = Running::start(&b.config(&mock, 0, 100, 10_000).with_ade_device_ca(&ca_file)).await;
    s.upload_token(&mock).await;
    s.sync().await;

    // Accepted: a signed profile with a one-time challenge.
    let r = ade(&s, &signed_machine_info(&good, "UDID-ADE-1", "ADE0000")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/x-apple-aspen-config")
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let challenge = profile_challenge(&r.body);
    // Each answer has its own challenge.
    let r2 = ade(&s, &signed_machine_info(&good, "UDID-ADE-1", "ADE0000")).await;
    assert_eq!(r2.status, 200, "{}", r2.text());
    assert_ne!(profile_challenge(&r2.body), challenge);

    // The challenge gets one certificate, once.
    let cert = match scep(&s, &challenge).await {
        scep_proto::CertRepOutcome::Issued { certificate, .. } => *certificate,
        other => panic!("{other:?}"),
    };
    match scep(&s, &challenge).await {
        scep_proto::CertRepOutcome::Failed { .. } => {}
        other => panic!("a challenge used twice: {other:?}"),
    }
    // The certificate enrolls the UDID the MachineInfo named, and no other.
    let r = signed_checkin(&s, &authenticate("UDID-SOMEONE-ELSE", "X1"), &cert).await;
    assert_eq!(r.status, 403, "{}", r.text());
    let r = signed_checkin(&s, &authenticate("UDID-ADE-1", "ADE0000"), &cert).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // Refused: another CA, an unknown serial, a tampered body, malformed bodies.
    refused(
        &ade(&s, &signed_machine_info(&other, "UDID-X", "ADE0001")).await,
        403,
        "untrusted device certificate",
    );
    refused(
        &ade(&s, &signed_machine_info(&good, "UDID-X", "NOT-IN-DEP")).await,
        403,
        "is not a DEP device",
    );
    let mut tampered = signed_machine_info(&good, "UDID-X", "ADE0001");
    let at = tampered.windows(7).position(|w| w == b"ADE0001").unwrap();
    tampered[at + 6] = b'0';
    refused(&ade(&s, &tampered).await, 403, "bad MachineInfo signature");
    refused(
        &ade(&s, b"\x30\x03junk").await,
        400,
        "malformed MachineInfo",
    );
    refused(&ade(&s, b"").await, 400, "malformed MachineInfo");
    let unsigned_content = mdm_pki::cms::sign(
        &mdm_pki::oids::DATA,
        b"not a plist",
        false,
        &mdm_pki::cms::Signer {
            cert: &good.cert,
            key: &good.key as &dyn PrivateKey,
            digest: DigestAlgorithm::Sha256,
        },
        &[],
        &[],
    )
    .unwrap();
    refused(&ade(&s, &unsigned_content).await, 400, "MachineInfo plist");
    let r = ade(&s, &vec![0x30; 100 * 1024]).await;
    assert_eq!(r.status, 413, "{}", r.text());
    s.stop().await;
}
