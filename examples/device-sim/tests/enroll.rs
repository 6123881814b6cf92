//! Enrollment from a profile against a small in-process server: a scep-proto CA on `/scep`,
//! a CMS-signed enrollment profile on `/mdm/enroll`, and check-in endpoints that verify
//! `Mdm-Signature` against the CA.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use device_sim::enroll::{self, read_enrollment_profile};
use device_sim::{Device, DeviceInfo, EnrollOptions, Error};
use mdm_proto::plist::Value;
use mdm_proto::{EnrollmentProfile, Limits, parse_dictionary};
use scep_proto::issue::{self, IssueOptions};
use scep_proto::{Ca, Decision, FailInfo, Operation, RequestBody, RsaKey, ca::content_type};

const TOPIC: &str = "com.apple.mgmt.External.00000000-1111-2222-3333-444444444444";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Keys are slow to generate in debug builds: one for the CA, one shared by the devices.
fn ca_key() -> &'static RsaKey {
    static KEY: OnceLock<RsaKey> = OnceLock::new();
    KEY.get_or_init(|| RsaKey::generate(1024).unwrap())
}

fn device_key() -> Arc<RsaKey> {
    static KEY: OnceLock<Arc<RsaKey>> = OnceLock::new();
    KEY.get_or_init(|| Arc::new(RsaKey::generate(1024).unwrap()))
        .clone()
}

fn ca() -> Ca {
    let key = ca_key().clone();
    let cert = issue::self_signed(
        &key,
        &issue::common_name("device-sim test CA"),
        true,
        &IssueOptions::new(vec![1], now() - 3600, 86_400),
    )
    .unwrap();
    Ca::new(cert, Arc::new(key))
}

fn der(cert: &scep_proto::Certificate) -> Vec<u8> {
    mdm_proto::signature::certificate_der(cert).unwrap()
}

/// What the test server saw from devices.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    kind: String,
    signer: Option<Vec<u8>>,
}

#[derive(Debug)]
struct Mock {
    ca: Ca,
    challenge: String,
    profile_plist: Vec<u8>,
    profile_signed: Vec<u8>,
    seen: Mutex<Vec<Seen>>,
    /// Commands waiting (one to start with; `PUT /v1/enqueue/..` adds one).
    pending: Mutex<u32>,
    serial: Mutex<u64>,
}

struct TestServer {
    addr: SocketAddr,
    mock: Arc<Mock>,
}

impl TestServer {
    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Starts the mock; the profile carries `profile_challenge`, the CA wants `challenge`.
async fn start(challenge: &str, profile_challenge: &str) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let ca = ca();
    let mut options = EnrollmentProfile::new(
        "org.example.device-sim.test",
        format!("{base}/mdm"),
        TOPIC,
        format!("{base}/scep"),
        ["P", "S", "M", "R"].map(|s| format!("00000000-0000-0000-0000-00000000000{s}")),
    );
    options.checkin_url = Some(format!("{base}/mdm/checkin"));
    options.scep_challenge = Some(profile_challenge.to_owned());
    options.scep_subject = Some(vec![
        ("O".into(), "device-sim tests".into()),
        ("CN".into(), "simulated device".into()),
    ]);
    options.trust_ca_der = Some(der(ca.certificate()));
    let profile_plist = options.build().encode().unwrap();
    let profile_signed = scep_proto::cms::sign(
        &scep_proto::oids::DATA,
        &profile_plist,
        false,
        &scep_proto::cms::Signer {
            cert: ca.certificate(),
            key: ca.key(),
            digest: scep_proto::DigestAlgorithm::Sha256,
        },
        &[],
        &[],
    )
    .unwrap();
    let mock = Arc::new(Mock {
        ca,
        challenge: challenge.to_owned(),
        profile_plist,
        profile_signed,
        seen: Mutex::new(Vec::new()),
        pending: Mutex::new(1),
        serial: Mutex::new(2),
    });
    let app = Router::new()
        .route("/mdm/enroll", axum::routing::get(profile))
        .route("/scep", axum::routing::get(scep).post(scep))
        .route("/mdm/checkin", axum::routing::put(device))
        .route("/mdm", axum::routing::put(device))
        .route(
            "/v1/enqueue/{id}",
            axum::routing::put(|State(mock): State<Arc<Mock>>| async move {
                *mock.pending.lock().unwrap() += 1;
                "{}"
            }),
        )
        .with_state(Arc::clone(&mock));
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    TestServer { addr, mock }
}

async fn profile(State(mock): State<Arc<Mock>>, RawQuery(query): RawQuery) -> Response {
    if query.as_deref() == Some("unsigned=1") {
        (
            [(header::CONTENT_TYPE, "application/x-apple-aspen-config")],
            mock.profile_plist.clone(),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/x-apple-aspen-config")],
            mock.profile_signed.clone(),
        )
            .into_response()
    }
}

async fn scep(
    State(mock): State<Arc<Mock>>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let query = query.unwrap_or_default();
    let op = match scep_proto::operation::parse_request(method.as_str(), &query, &body) {
        Ok(op) => op,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    match op {
        Operation::GetCaCaps => mock.ca.capabilities().to_body().into_response(),
        Operation::GetCaCert => {
            let (ct, der) = mock.ca.get_ca_cert().unwrap();
            ([(header::CONTENT_TYPE, ct)], der).into_response()
        }
        Operation::PkiOperation(der) => {
            let req = match mock.ca.decode_request(&der) {
                Ok(r) => r,
                Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
            };
            let decision = match &req.body {
                RequestBody::Csr(csr)
                    if csr.challenge_password.as_deref() == Some(mock.challenge.as_str()) =>
                {
                    let serial = {
                        let mut s = mock.serial.lock().unwrap();
                        *s += 1;
                        *s
                    };
                    let cert = issue::issue(
                        csr,
                        mock.ca.certificate(),
                        mock.ca.key(),
                        &IssueOptions::new(serial.to_be_bytes().to_vec(), now() - 60, 86_400),
                    )
                    .unwrap();
                    Decision::Issue(Box::new(cert))
                }
                _ => Decision::Reject(FailInfo::BAD_REQUEST),
            };
            (
                [(header::CONTENT_TYPE, content_type::PKI_MESSAGE)],
                mock.ca.respond(&req, &decision).unwrap(),
            )
                .into_response()
        }
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn device(
    State(mock): State<Arc<Mock>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signer = match headers.get("mdm-signature") {
        Some(value) => {
            let cert = match mdm_proto::signature::verify_mdm_signature(
                &body,
                value.to_str().unwrap_or(""),
            ) {
                Ok(c) => c,
                Err(e) => return (StatusCode::FORBIDDEN, e.to_string()).into_response(),
            };
            let cert_der = der(&cert);
            if !enroll::issued_by(&cert_der, &der(mock.ca.certificate())) {
                return (StatusCode::FORBIDDEN, "not issued by our CA").into_response();
            }
            Some(cert_der)
        }
        None => None,
    };
    let dict = match parse_dictionary(&body, &Limits::MDM) {
        Ok(d) => d,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let kind = dict
        .get("MessageType")
        .or_else(|| dict.get("Status"))
        .and_then(Value::as_string)
        .unwrap_or("?")
        .to_owned();
    mock.seen.lock().unwrap().push(Seen {
        path: uri.path().to_owned(),
        kind: kind.clone(),
        signer,
    });
    if kind == "Idle" {
        let mut pending = mock.pending.lock().unwrap();
        if *pending > 0 {
            *pending -= 1;
            let command = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\
<key>CommandUUID</key><string>C-1</string><key>Command</key><dict>\
<key>RequestType</key><string>CertificateList</string></dict></dict></plist>";
            return command.into_response();
        }
    }
    StatusCode::OK.into_response()
}

#[tokio::test]
async fn enrolls_by_scep_and_signs_every_request() {
    let server = start("s3cret", "s3cret").await;
    // A generated key, as a device makes one (1024 bits to keep the debug build quick).
    let options = EnrollOptions::default().with_key_bits(1024);
    let mut device = Device::enroll_from_profile(DeviceInfo::iphone(1), &server.base(), &options)
        .await
        .unwrap();
    assert!(device.signs_requests());
    let identity = device.state.identity_der.clone().expect("an identity");
    let ca_der = der(server.mock.ca.certificate());
    assert!(enroll::issued_by(&identity, &ca_der));
    assert_eq!(device.endpoints().topic, TOPIC);
    assert_eq!(
        device.state.profiles[0].identifier,
        "org.example.device-sim.test"
    );

    let stats = device.connect().await.unwrap();
    assert_eq!((stats.commands, stats.acknowledged), (1, 1));

    let seen = server.mock.seen.lock().unwrap().clone();
    let kinds: Vec<_> = seen
        .iter()
        .map(|s| (s.path.as_str(), s.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("/mdm/checkin", "Authenticate"),
            ("/mdm/checkin", "TokenUpdate"),
            ("/mdm", "Idle"),
            ("/mdm", "Acknowledged"),
        ]
    );
    for s in &seen {
        assert_eq!(s.signer.as_deref(), Some(identity.as_slice()), "{}", s.kind);
    }
}

#[tokio::test]
async fn unsigned_profile_with_a_given_key() {
    let server = start("s3cret", "s3cret").await;
    let options = EnrollOptions::default()
        .with_unsigned_profile(true)
        .with_key(device_key());
    let device = Device::enroll_from_profile(DeviceInfo::iphone(2), &server.base(), &options)
        .await
        .unwrap();
    assert!(device.state.identity_der.is_some());
    let seen = server.mock.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.signer.is_some()));
}

#[tokio::test]
async fn a_wrong_challenge_is_a_scep_failure() {
    let server = start("s3cret", "not the secret").await;
    let options = EnrollOptions::default().with_key(device_key());
    let err = Device::enroll_from_profile(DeviceInfo::iphone(3), &server.base(), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Scep { .. }), "{err}");
    assert!(err.to_string().contains("FAILURE"), "{err}");
    assert!(server.mock.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_server_without_enrollment_answers_with_its_status() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/mdm/enroll",
        axum::routing::get(|| async { StatusCode::NOT_IMPLEMENTED }),
    );
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let err = Device::fetch_profile(&format!("http://{addr}"), false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Status { status: 501, .. }), "{err:?}");
}

#[tokio::test]
async fn profile_facts_are_read_from_both_forms() {
    let server = start("s3cret", "s3cret").await;
    let signed = read_enrollment_profile(&server.mock.profile_signed).unwrap();
    let plain = read_enrollment_profile(&server.mock.profile_plist).unwrap();
    assert_eq!(signed.profile, plain.profile);
    assert_eq!(
        signed.signer_der.as_deref(),
        Some(der(server.mock.ca.certificate()).as_slice())
    );
    assert!(plain.signer_der.is_none());
    assert_eq!(plain.endpoints.server_url, format!("{}/mdm", server.base()));
    assert_eq!(
        plain.endpoints.checkin_url,
        format!("{}/mdm/checkin", server.base())
    );
    assert_eq!(plain.scep_url, format!("{}/scep", server.base()));
    assert_eq!(plain.scep_challenge.as_deref(), Some("s3cret"));
    assert!(plain.sign_message);
    assert_eq!(plain.scep_key_size, Some(2048));
    assert_eq!(plain.key_bits(), 2048);
    assert_eq!(plain.trusted_ca_der.len(), 1);
    assert_eq!(
        plain.scep_subject,
        [
            ("O".to_owned(), "device-sim tests".to_owned()),
            ("CN".to_owned(), "simulated device".to_owned())
        ]
    );
    assert_eq!(
        plain.subject_der("fallback"),
        issue::name_from_str("O=device-sim tests,CN=simulated device").unwrap()
    );
}

#[tokio::test]
async fn tampered_truncated_and_incomplete_profiles_are_refused() {
    let server = start("s3cret", "s3cret").await;
    let signed = &server.mock.profile_signed;
    // A changed byte inside the signed plist: the signature no longer verifies.
    let plist = &server.mock.profile_plist;
    let at = signed
        .windows(plist.len())
        .position(|w| w == plist.as_slice())
        .unwrap();
    let mut tampered = signed.clone();
    let i = at + plist.len() / 2;
    tampered[i] ^= 0x01;
    let err = read_enrollment_profile(&tampered).unwrap_err();
    assert!(err.to_string().contains("signature"), "{err}");
    // Every prefix fails cleanly.
    for n in 0..signed.len() {
        assert!(read_enrollment_profile(&signed[..n]).is_err(), "prefix {n}");
    }
    // A plain profile cut before its last `</dict>` fails; any cut never panics.
    let last_dict = plist.windows(7).rposition(|w| w == b"</dict>").unwrap();
    for n in 0..plist.len() {
        let r = read_enrollment_profile(&plist[..n]);
        if n <= last_dict {
            assert!(r.is_err(), "plist prefix {n}");
        }
    }
    // A profile without the MDM payload names what is missing.
    let mut profile = mdm_proto::Profile::decode(plist).unwrap();
    profile
        .content
        .retain(|p| p.payload_type != enroll::MDM_PAYLOAD);
    let err = read_enrollment_profile(&profile.encode().unwrap()).unwrap_err();
    assert!(err.to_string().contains("com.apple.mdm"), "{err}");
    // A profile whose SCEP payload has no URL names the key.
    let mut profile = mdm_proto::Profile::decode(plist).unwrap();
    for p in &mut profile.content {
        if let Some(Value::Dictionary(d)) = p.keys.get_mut("PayloadContent") {
            d.remove("URL");
        }
    }
    let err = read_enrollment_profile(&profile.encode().unwrap()).unwrap_err();
    assert!(err.to_string().contains("PayloadContent.URL"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_enrolls_devices_and_reports() {
    let server = start("s3cret", "s3cret").await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_device-sim"))
        .args([
            "--server",
            &server.base(),
            "--enroll",
            "--shared-key",
            "--key-bits",
            "1024",
            "--devices",
            "3",
            "--check-out",
        ])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["enroll_mode"], "profile+scep+signed");
    assert_eq!(report["enrollment"]["enrolled"], 3, "{report}");
    assert_eq!(report["commands"]["round_trips"], 3, "{report}");
    assert_eq!(report["commands"]["acknowledged"], 3, "{report}");
    assert_eq!(report["check_out"]["latency"]["count"], 3, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    let seen = server.mock.seen.lock().unwrap().clone();
    assert_eq!(seen.iter().filter(|s| s.kind == "CheckOut").count(), 3);
    assert!(seen.iter().all(|s| s.signer.is_some()));
}
