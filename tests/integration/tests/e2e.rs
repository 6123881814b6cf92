//! End to end: the example MDM server (in this process, on loopback, with a temporary data
//! folder) and several simulated devices from `device-sim` at once.
//!
//! - Check-ins and the command queue, unsigned (what the server accepts today), on SQLite
//!   and on PostgreSQL: Authenticate and TokenUpdate, a command round trip queued through
//!   the NanoMDM admin API, NotNow then Acknowledged, Error, CheckOut.
//! - Signed devices now: a stand-in serves the signed profile and a scep-proto CA, and an
//!   `IdentityVerifier` checking `Mdm-Signature` is plugged into the server; unsigned
//!   impostors are refused.
//! - Enrollment as a real device (signed profile, SCEP identity, signed check-ins). A server
//!   whose `/mdm/enroll` or `/scep` answers 501 is skipped with "SKIP: server without
//!   SCEP/enrollment".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use base64::Engine;
use device_sim::http::{Answer, Connection};
use device_sim::{Device, DeviceInfo, Endpoints, EnrollOptions, Method};
use mdm_server::app::{Config, Server};
use serde_json::Value as Json;

const API_KEY: &str = "e2e-api-key";
const TOPIC: &str = "com.apple.mgmt.External.e2e00000-0000-0000-0000-000000000000";
const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Devices driven at once in each test.
const DEVICES: u64 = 4;

fn ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// A temporary folder, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("e2e-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh PostgreSQL schema, or `None` after printing SKIP (unless `CI` is set).
struct PgSchema {
    name: String,
    url: String,
}

impl PgSchema {
    async fn create(test: &str) -> Option<Self> {
        let client = match tokio_postgres::connect(PG_URL, tokio_postgres::NoTls).await {
            Ok((client, conn)) => {
                tokio::spawn(conn);
                client
            }
            Err(e) => {
                if ci() {
                    panic!("PostgreSQL at {PG_URL} is required when CI is set: {e}");
                }
                println!("SKIP: {test}: PostgreSQL at {PG_URL} is not reachable: {e}");
                return None;
            }
        };
        let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        let url = format!("{PG_URL}?options=-csearch_path%3D{name}");
        Some(PgSchema { name, url })
    }

    async fn drop_schema(&self) {
        if let Ok((client, conn)) = tokio_postgres::connect(PG_URL, tokio_postgres::NoTls).await {
            tokio::spawn(conn);
            let _ = client
                .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
                .await;
        }
    }
}

/// The server, running in this process until dropped.
struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: TempDir,
}

impl Running {
    async fn start(storage: Option<&str>) -> Self {
        let dir = TempDir::new();
        let mut config =
            Config::new("127.0.0.1:0".parse().unwrap(), dir.0.clone()).with_api_key(API_KEY);
        if let Some(url) = storage {
            config = config.with_storage(url);
        }
        let server = Server::start(&config).await.unwrap();
        let addr = server.local_addr;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            server
                .serve(async move {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Running {
            addr,
            stop: Some(tx),
            _dir: dir,
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An admin API call (HTTP Basic with the key), on its own connection.
    async fn admin(&self, method: Method, path: &str, body: &[u8]) -> Answer {
        let mut connection = Connection::new(&self.base()).unwrap();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("e2e:{API_KEY}"));
        connection
            .send(
                method,
                path,
                &[("authorization", format!("Basic {basic}"))],
                body.to_vec(),
            )
            .await
            .unwrap()
    }

    async fn admin_json(&self, path: &str) -> Json {
        let answer = self.admin(Method::GET, path, b"").await;
        assert_eq!(
            answer.status,
            200,
            "GET {path}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        serde_json::from_slice(&answer.body).unwrap()
    }

    /// Queues a raw command plist for one device (no push: the device connects itself).
    async fn enqueue(&self, udid: &str, request_type: &str, extra: &str) -> String {
        let uuid = uuid::Uuid::new_v4().to_string().to_uppercase();
        let plist = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\
<key>CommandUUID</key><string>{uuid}</string><key>Command</key><dict>\
<key>RequestType</key><string>{request_type}</string>{extra}</dict></dict></plist>"
        );
        let answer = self
            .admin(
                Method::PUT,
                &format!("/v1/enqueue/{udid}?nopush=1"),
                plist.as_bytes(),
            )
            .await;
        assert_eq!(
            answer.status,
            200,
            "enqueue: {}",
            String::from_utf8_lossy(&answer.body)
        );
        let j: Json = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(j["command_uuid"], uuid.as_str());
        uuid
    }

    /// The status of a command for one enrollment, and its report.
    async fn status_of(&self, uuid: &str, udid: &str) -> Json {
        let j = self.admin_json(&format!("/v1/commands/{uuid}")).await;
        j["enrollments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["enrollment_id"] == udid)
            .cloned()
            .unwrap_or_else(|| panic!("{udid} is not a target of {uuid}: {j}"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One device's whole life against the server: check-ins, the queue, CheckOut.
async fn device_life(server: Arc<Running>, mut device: Device, enrolled_already: bool) {
    let udid = device.info.udid.clone();
    if !enrolled_already {
        device.enroll().await.unwrap();
    }
    let e = server.admin_json(&format!("/v1/enrollments/{udid}")).await;
    assert_eq!(e["enrolled"], true, "{e}");
    assert_eq!(e["push"]["token"], device.push_token_hex().as_str());
    assert_eq!(e["push"]["push_magic"], device.push_magic());
    assert_eq!(e["push"]["topic"], device.endpoints().topic.as_str());
    assert_eq!(
        e["authenticate"]["SerialNumber"],
        device.info.serial_number.as_str()
    );

    // Nothing queued: Idle gets an empty answer.
    let stats = device.connect().await.unwrap();
    assert_eq!(stats.commands, 0);

    // A command round trip through the admin API.
    let uuid = server
        .enqueue(
            &udid,
            "DeviceInformation",
            "<key>Queries</key><array><string>OSVersion</string><string>SerialNumber</string></array>",
        )
        .await;
    assert_eq!(server.status_of(&uuid, &udid).await["status"], "Queued");
    let stats = device.connect().await.unwrap();
    assert_eq!((stats.commands, stats.acknowledged), (1, 1));
    let t = server.status_of(&uuid, &udid).await;
    assert_eq!(t["status"], "Acknowledged", "{t}");
    let report = t["report"].to_string();
    assert!(report.contains(&device.info.serial_number), "{report}");
    assert!(report.contains("18.1"), "{report}");

    // NotNow, then Acknowledged when the device is idle again.
    device.behaviour.not_now_every = Some(1);
    let uuid = server.enqueue(&udid, "SecurityInfo", "").await;
    let stats = device.connect().await.unwrap();
    assert_eq!((stats.commands, stats.not_now), (1, 1));
    assert_eq!(server.status_of(&uuid, &udid).await["status"], "NotNow");
    let stats = device.connect().await.unwrap();
    assert_eq!((stats.commands, stats.acknowledged), (1, 1));
    assert_eq!(
        server.status_of(&uuid, &udid).await["status"],
        "Acknowledged"
    );
    device.behaviour.not_now_every = None;

    // Error, with its ErrorChain kept.
    device.behaviour.error_every = Some(1);
    let uuid = server.enqueue(&udid, "ProfileList", "").await;
    let stats = device.connect().await.unwrap();
    assert_eq!((stats.commands, stats.errors), (1, 1));
    let t = server.status_of(&uuid, &udid).await;
    assert_eq!(t["status"], "Error", "{t}");
    assert!(t["report"].to_string().contains("12000"), "{t}");
    device.behaviour.error_every = None;

    // A command the device does not know: Apple's error, not a hang.
    let uuid = server.enqueue(&udid, "SomeFutureCommand", "").await;
    let stats = device.connect().await.unwrap();
    assert_eq!((stats.commands, stats.errors), (1, 1));
    assert_eq!(server.status_of(&uuid, &udid).await["status"], "Error");

    // CheckOut.
    device.check_out().await.unwrap();
    let e = server.admin_json(&format!("/v1/enrollments/{udid}")).await;
    assert_eq!(e["enrolled"], false, "{e}");
    assert!(e["checked_out_at"].is_string(), "{e}");
}

async fn many_devices(server: Running, first: u64) {
    // A server that verifies Mdm-Signature refuses unsigned check-ins: the signed test
    // (`devices_enroll_with_the_profile_and_scep`) runs the same life there.
    let mut probe = Device::new(
        DeviceInfo::iphone(first + DEVICES),
        Endpoints::on(&server.base(), TOPIC),
    )
    .unwrap();
    let message = probe.authenticate_message();
    assert_eq!(message["MessageType"].as_string(), Some("Authenticate"));
    if let Err(device_sim::Error::Status { status, .. }) = probe.enroll().await
        && (400..=403).contains(&status)
        && server.admin(Method::GET, "/mdm/enroll", b"").await.status == 200
    {
        println!("SKIP: the server requires signed check-ins (HTTP {status} to an unsigned one)");
        return;
    }
    let server = Arc::new(server);
    let mut tasks = Vec::new();
    for n in first..first + DEVICES {
        let device =
            Device::new(DeviceInfo::iphone(n), Endpoints::on(&server.base(), TOPIC)).unwrap();
        tasks.push(tokio::spawn(device_life(
            Arc::clone(&server),
            device,
            false,
        )));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let list = server.admin_json("/v1/enrollments?limit=1000").await;
    let ids: Vec<&str> = list["enrollments"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["id"].as_str()).collect())
        .unwrap_or_default();
    for n in first..first + DEVICES {
        let udid = DeviceInfo::iphone(n).udid;
        assert!(ids.contains(&udid.as_str()), "{udid} not listed: {list}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_devices_on_sqlite() {
    many_devices(Running::start(None).await, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_devices_on_postgres() {
    let Some(schema) = PgSchema::create("unsigned_devices_on_postgres").await else {
        return;
    };
    many_devices(Running::start(Some(&schema.url)).await, 2000).await;
    schema.drop_schema().await;
}

/// The stand-in CA's key, generated once: RSA key generation is slow in debug builds.
fn ca_key() -> Arc<scep_proto::RsaKey> {
    static KEY: OnceLock<Arc<scep_proto::RsaKey>> = OnceLock::new();
    KEY.get_or_init(|| Arc::new(scep_proto::RsaKey::generate(1024).unwrap()))
        .clone()
}

/// True (after printing SKIP) when the server has no enrollment profile or SCEP yet.
async fn without_enrollment(server: &Running) -> bool {
    let profile = server.admin(Method::GET, "/mdm/enroll", b"").await.status;
    let scep = server
        .admin(Method::GET, "/scep?operation=GetCACaps", b"")
        .await
        .status;
    if profile == 501 || scep == 501 {
        println!("SKIP: server without SCEP/enrollment (/mdm/enroll {profile}, /scep {scep})");
        return true;
    }
    assert_eq!((profile, scep), (200, 200), "enrollment endpoints");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_enroll_with_the_profile_and_scep() {
    let server = Running::start(None).await;
    if without_enrollment(&server).await {
        return;
    }
    let server = Arc::new(server);
    let mut tasks = Vec::new();
    for n in 3000..3000 + DEVICES {
        let server = Arc::clone(&server);
        tasks.push(tokio::spawn(async move {
            // Alternate the signed and the unsigned profile. A key per device (a server may
            // tell devices apart by their key); 1024 bits keeps the debug build quick.
            let options = EnrollOptions::default()
                .with_key_bits(1024)
                .with_unsigned_profile(n % 2 == 1);
            let device =
                Device::enroll_from_profile(DeviceInfo::iphone(n), &server.base(), &options)
                    .await
                    .unwrap();
            assert!(device.state.identity_der.is_some());
            assert!(
                device.signs_requests(),
                "the profile should set SignMessage"
            );
            device_life(server, device, true).await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_names_this_server_and_its_ca() {
    let server = Running::start(None).await;
    if without_enrollment(&server).await {
        return;
    }
    for unsigned in [false, true] {
        let facts = Device::fetch_profile(&server.base(), unsigned)
            .await
            .unwrap();
        assert!(facts.endpoints.server_url.starts_with("http"), "{facts:?}");
        assert!(!facts.endpoints.topic.is_empty());
        assert!(facts.scep_url.ends_with("/scep"), "{}", facts.scep_url);
        assert_eq!(facts.signer_der.is_some(), !unsigned);
        assert!(
            !facts.trusted_ca_der.is_empty(),
            "no com.apple.security.root payload"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_check_ins_from_a_scep_enrolled_device() {
    // Once the server verifies Mdm-Signature, a device enrolled with SignMessage must sign:
    // an unsigned report for its UDID is not accepted as that device's.
    let server = Running::start(None).await;
    if without_enrollment(&server).await {
        return;
    }
    let options = EnrollOptions::default().with_key_bits(1024);
    let device = Device::enroll_from_profile(DeviceInfo::iphone(4000), &server.base(), &options)
        .await
        .unwrap();
    let mut unsigned = Device::new(device.info.clone(), device.endpoints().clone()).unwrap();
    let err = unsigned.connect().await.unwrap_err();
    assert!(
        matches!(err, device_sim::Error::Status { status, .. } if (400..500).contains(&status)),
        "{err}"
    );
}

/// A stand-in for the enrollment side the server does not have yet: a scep-proto CA on
/// `/scep` and a CMS-signed profile on `/mdm/enroll` whose ServerURL and CheckInURL are the
/// MDM server's; with [`SignatureVerifier`] plugged into the MDM server, devices enroll and
/// sign exactly as against a fully wired server.
mod stand_in {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::body::Bytes;
    use axum::extract::{RawQuery, State};
    use axum::http::{Method, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use device_sim::enroll::issued_by;
    use mdm_server::identity::{DeviceRequest, IdentityError, IdentityVerifier};
    use scep_proto::issue::{self, IssueOptions};
    use scep_proto::{Ca, Decision, FailInfo, Operation, RequestBody};

    pub const CHALLENGE: &str = "e2e-challenge";

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    pub fn der(cert: &scep_proto::Certificate) -> Vec<u8> {
        mdm_proto::signature::certificate_der(cert).unwrap()
    }

    pub fn ca() -> Ca {
        let key = super::ca_key().as_ref().clone();
        let cert = issue::self_signed(
            &key,
            &issue::common_name("e2e CA"),
            true,
            &IssueOptions::new(vec![1], now() - 3600, 86_400),
        )
        .unwrap();
        Ca::new(cert, Arc::new(key))
    }

    #[derive(Debug)]
    struct Side {
        ca: Ca,
        profile: Vec<u8>,
        serial: Mutex<u64>,
    }

    /// Starts the stand-in for the MDM server at `mdm_base`; returns its base URL.
    pub async fn start(ca: Ca, mdm_base: &str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut options = mdm_proto::EnrollmentProfile::new(
            "org.example.e2e",
            format!("{mdm_base}/mdm"),
            super::TOPIC,
            format!("{base}/scep"),
            ["P", "S", "M", "R"].map(|s| format!("00000000-0000-0000-0000-00000000000{s}")),
        );
        options.checkin_url = Some(format!("{mdm_base}/mdm/checkin"));
        options.scep_challenge = Some(CHALLENGE.to_owned());
        options.trust_ca_der = Some(der(ca.certificate()));
        let plist = options.build().encode().unwrap();
        let profile = scep_proto::cms::sign(
            &scep_proto::oids::DATA,
            &plist,
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
        let side = Arc::new(Side {
            ca,
            profile,
            serial: Mutex::new(1),
        });
        let app = axum::Router::new()
            .route(
                "/mdm/enroll",
                axum::routing::get(|State(s): State<Arc<Side>>| async move { s.profile.clone() }),
            )
            .route("/scep", axum::routing::get(scep).post(scep))
            .with_state(side);
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        base
    }

    async fn scep(
        State(side): State<Arc<Side>>,
        method: Method,
        RawQuery(query): RawQuery,
        body: Bytes,
    ) -> Response {
        let query = query.unwrap_or_default();
        let Ok(op) = scep_proto::operation::parse_request(method.as_str(), &query, &body) else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        match op {
            Operation::GetCaCaps => side.ca.capabilities().to_body().into_response(),
            Operation::GetCaCert => {
                let (ct, der) = side.ca.get_ca_cert().unwrap();
                ([(header::CONTENT_TYPE, ct)], der).into_response()
            }
            Operation::PkiOperation(der) => {
                let Ok(req) = side.ca.decode_request(&der) else {
                    return StatusCode::BAD_REQUEST.into_response();
                };
                let decision = match &req.body {
                    RequestBody::Csr(csr)
                        if csr.challenge_password.as_deref() == Some(CHALLENGE) =>
                    {
                        let serial = {
                            let mut s = side.serial.lock().unwrap();
                            *s += 1;
                            *s
                        };
                        Decision::Issue(Box::new(
                            issue::issue(
                                csr,
                                side.ca.certificate(),
                                side.ca.key(),
                                &IssueOptions::new(
                                    serial.to_be_bytes().to_vec(),
                                    now() - 60,
                                    86_400,
                                ),
                            )
                            .unwrap(),
                        ))
                    }
                    _ => Decision::Reject(FailInfo::BAD_REQUEST),
                };
                side.ca.respond(&req, &decision).unwrap().into_response()
            }
            _ => StatusCode::BAD_REQUEST.into_response(),
        }
    }

    /// Checks `Mdm-Signature` against the CA and binds the certificate to the device at
    /// Authenticate, as a wired server does.
    #[derive(Debug)]
    pub struct SignatureVerifier {
        pub ca_der: Vec<u8>,
        pub bound: Mutex<HashMap<String, Vec<u8>>>,
    }

    #[async_trait::async_trait]
    impl IdentityVerifier for SignatureVerifier {
        async fn verify(
            &self,
            request: &DeviceRequest,
            enrollment: &mdm_proto::Enrollment,
            message_type: Option<&str>,
        ) -> Result<(), IdentityError> {
            let header = request
                .mdm_signature
                .as_deref()
                .ok_or_else(|| IdentityError("no Mdm-Signature".into()))?;
            let cert = mdm_proto::signature::verify_mdm_signature(&request.body, header)
                .map_err(|e| IdentityError(e.to_string()))?;
            let cert = der(&cert);
            if !issued_by(&cert, &self.ca_der) {
                return Err(IdentityError("not issued by the CA".into()));
            }
            let mut bound = self.bound.lock().unwrap();
            if message_type == Some("Authenticate") {
                bound.insert(enrollment.device_id.clone(), cert);
                return Ok(());
            }
            match bound.get(&enrollment.device_id) {
                Some(c) if *c == cert => Ok(()),
                _ => Err(IdentityError("not this enrollment's certificate".into())),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_devices_through_a_signature_checking_server() {
    let ca = stand_in::ca();
    let verifier = Arc::new(stand_in::SignatureVerifier {
        ca_der: stand_in::der(ca.certificate()),
        bound: std::sync::Mutex::new(std::collections::HashMap::new()),
    });
    let dir = TempDir::new();
    let config = Config::new("127.0.0.1:0".parse().unwrap(), dir.0.clone()).with_api_key(API_KEY);
    let v = Arc::clone(&verifier);
    let server = Server::start_with(&config, move |service| service.with_verifier(v))
        .await
        .unwrap();
    let addr = server.local_addr;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        server
            .serve(async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    let running = Arc::new(Running {
        addr,
        stop: Some(tx),
        _dir: dir,
    });
    let enroll_base = stand_in::start(ca, &running.base()).await;

    let mut tasks = Vec::new();
    for n in 5000..5000 + DEVICES {
        let running = Arc::clone(&running);
        let enroll_base = enroll_base.clone();
        tasks.push(tokio::spawn(async move {
            let options = EnrollOptions::default().with_key_bits(1024);
            let device = Device::enroll_from_profile(DeviceInfo::iphone(n), &enroll_base, &options)
                .await
                .unwrap();
            assert!(device.signs_requests());
            assert_eq!(
                device.endpoints().server_url,
                format!("{}/mdm", running.base())
            );
            // An unsigned impostor for the same UDID is refused.
            let mut impostor =
                Device::new(device.info.clone(), device.endpoints().clone()).unwrap();
            let err = impostor.connect().await.unwrap_err();
            assert!(
                matches!(err, device_sim::Error::Status { status: 403, .. }),
                "{err}"
            );
            device_life(running, device, true).await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(verifier.bound.lock().unwrap().len(), DEVICES as usize);
}
