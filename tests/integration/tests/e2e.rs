//! End to end: the example MDM server (in this process, on loopback, with a temporary data
//! folder) and several simulated devices from `device-sim` at once.
//!
//! - Check-ins and the command queue from unsigned devices (the server's identity check
//!   off), on SQLite and on PostgreSQL: Authenticate and TokenUpdate, a command round trip
//!   queued through the NanoMDM admin API, NotNow then Acknowledged, Error, CheckOut.
//! - Enrollment as a real device against the server as shipped: an enrollment token from
//!   the admin API, the signed profile it unlocks (with a one-time SCEP challenge), a SCEP
//!   identity from its CA, every check-in and report signed with Mdm-Signature; unsigned
//!   requests for an enrolled device are refused.
//! - Pushes: devices wake only on the pushes the server sends through the mock APNs, then
//!   connect and answer (enqueue, push, connect, report).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use apns_client::mock::{MockApns, TestPki};
use base64::Engine;
use device_sim::http::{Answer, Connection};
use device_sim::wake::PushRouter;
use device_sim::{Device, DeviceInfo, Endpoints, EnrollOptions, Method};
use mdm_server::app::{Config, Server};
use serde_json::Value as Json;

const API_KEY: &str = "e2e-api-key";
const TOPIC: &str = "com.apple.mgmt.External.e2e00000-0000-0000-0000-000000000000";
/// Devices driven at once in each test.
const DEVICES: u64 = 4;

use mdm_test_support::TempDir;
use mdm_test_support::postgres::PgSchema;

/// The server, running in this process until dropped.
struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: TempDir,
}

impl Running {
    /// The server as shipped: device identity checked (Mdm-Signature from our SCEP CA).
    async fn start(storage: Option<&str>) -> Self {
        Self::start_with_check(storage, true).await
    }

    /// The server with its device identity check off, for unsigned simulated devices.
    async fn start_unsigned(storage: Option<&str>) -> Self {
        Self::start_with_check(storage, false).await
    }

    async fn start_with_check(storage: Option<&str>, check: bool) -> Self {
        Self::start_with(storage, check, None).await
    }

    /// With `apns`: pushes go to that URL (a mock APNs), trusting the CA PEM file.
    async fn start_with(
        storage: Option<&str>,
        check: bool,
        apns: Option<(String, std::path::PathBuf)>,
    ) -> Self {
        let dir = TempDir::new("e2e");
        // A three-second NotNow back-off: short, yet longer than two connections take on a
        // loaded machine (a one-second one made the "not inside its back-off" check flaky).
        let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().to_path_buf())
            .with_api_key(API_KEY)
            .with_queue_timing(mdm_server::queue::DEFAULT_STALL_AFTER, 3, 3);
        if !check {
            config = config.without_signature_check();
        }
        if let Some((url, ca)) = apns {
            config = config.with_apns(url, Some(ca));
        }
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

    /// A new enrollment token for `uses` profiles (`POST /v1/enrollment-tokens`): its
    /// secret, as the enrollment link carries it.
    async fn enrollment_token(&self, uses: u64) -> String {
        let body = format!(r#"{{"uses": {uses}}}"#);
        let answer = self
            .admin(Method::POST, "/v1/enrollment-tokens", body.as_bytes())
            .await;
        assert_eq!(
            answer.status,
            201,
            "enrollment token: {}",
            String::from_utf8_lossy(&answer.body)
        );
        let j: Json = serde_json::from_slice(&answer.body).unwrap();
        j["token"].as_str().unwrap().to_owned()
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
        self.enqueue_with(udid, request_type, extra, false).await
    }

    /// Queues a raw command plist for one device, pushing it when `push`.
    async fn enqueue_with(
        &self,
        udid: &str,
        request_type: &str,
        extra: &str,
        push: bool,
    ) -> String {
        let uuid = uuid::Uuid::new_v4().to_string().to_uppercase();
        let plist = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\
<key>CommandUUID</key><string>{uuid}</string><key>Command</key><dict>\
<key>RequestType</key><string>{request_type}</string>{extra}</dict></dict></plist>"
        );
        let answer = self
            .admin(
                Method::PUT,
                &if push {
                    format!("/v1/enqueue/{udid}")
                } else {
                    format!("/v1/enqueue/{udid}?nopush=1")
                },
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
    // The queue contract: not sent again before its back-off is over, then sent.
    let stats = device.connect().await.unwrap();
    assert_eq!(stats.commands, 0, "sent again inside its NotNow back-off");
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
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
    many_devices(Running::start_unsigned(None).await, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_devices_on_postgres() {
    let Some(schema) = PgSchema::create("unsigned_devices_on_postgres", "e2e").await else {
        return;
    };
    many_devices(Running::start_unsigned(Some(&schema.url)).await, 2000).await;
    schema.drop_schema().await;
}

/// Enqueue, push, connect, report: devices wake on the pushes the server sends through the
/// mock APNs (as on a real device, nothing else makes them connect), answer the command,
/// and the server records it; a command queued with `nopush` wakes nobody.
async fn devices_wake_on_pushes(storage: Option<&str>, first: u64) {
    let pki = TestPki::new().unwrap();
    let mock = MockApns::builder(&pki).start().await.unwrap();
    let router = PushRouter::from_mock(&mock);
    let ca_dir = TempDir::new("e2e-apns");
    let ca = ca_dir.path().join("apns-ca.pem");
    std::fs::write(&ca, pem("CERTIFICATE", pki.ca_der())).unwrap();
    let server = Running::start_with(storage, false, Some((mock.url(), ca))).await;
    let (chain, key) = pki.client_parts(TOPIC).unwrap();
    let cert = format!(
        "{}{}",
        pem("CERTIFICATE", &chain[0]),
        pem("PRIVATE KEY", key.der())
    );
    let answer = server
        .admin(Method::PUT, "/v1/pushcert", cert.as_bytes())
        .await;
    assert!(
        (200..300).contains(&answer.status),
        "push certificate: {}",
        String::from_utf8_lossy(&answer.body)
    );
    let server = Arc::new(server);
    let mut tasks = Vec::new();
    for n in first..first + DEVICES {
        let server = Arc::clone(&server);
        let router = router.clone();
        tasks.push(tokio::spawn(async move {
            let mut device =
                Device::new(DeviceInfo::iphone(n), Endpoints::on(&server.base(), TOPIC)).unwrap();
            device.enroll().await.unwrap();
            let waker = router.register(&device.push_token_hex());
            let udid = device.info.udid.clone();
            for _ in 0..2 {
                let uuid = server
                    .enqueue_with(&udid, "DeviceInformation", QUERIES, true)
                    .await;
                waker
                    .wait(std::time::Duration::from_secs(20))
                    .await
                    .unwrap();
                let stats = device.connect().await.unwrap();
                assert_eq!(stats.acknowledged, 1, "{udid}: {stats:?}");
                assert_eq!(
                    server.status_of(&uuid, &udid).await["status"],
                    "Acknowledged"
                );
            }
            // nopush: no push comes, so the device does not wake.
            let quiet = server.enqueue(&udid, "DeviceInformation", QUERIES).await;
            let err = waker
                .wait(std::time::Duration::from_millis(700))
                .await
                .unwrap_err();
            assert!(matches!(err, device_sim::Error::NoPush(_)), "{err}");
            assert_eq!(server.status_of(&quiet, &udid).await["status"], "Queued");
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(router.unknown_pushes(), 0);
    let pushed: Vec<_> = mock.received();
    assert!(pushed.len() >= 2 * DEVICES as usize, "{pushed:?}");
    assert!(
        pushed
            .iter()
            .all(|p| p.topic == TOPIC && p.expiration.is_some())
    );
}

const QUERIES: &str = "<key>Queries</key><array><string>OSVersion</string></array>";

fn pem(label: &str, der: &[u8]) -> String {
    mdm_pki::pem::encode(label, der)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_wake_on_pushes_on_sqlite() {
    devices_wake_on_pushes(None, 5000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_wake_on_pushes_on_postgres() {
    let Some(schema) = PgSchema::create("devices_wake_on_pushes_on_postgres", "e2e").await else {
        return;
    };
    devices_wake_on_pushes(Some(&schema.url), 6000).await;
    schema.drop_schema().await;
}

/// The stand-in CA's key, generated once: RSA key generation is slow in debug builds.
/// The server as shipped serves its enrollment profile (with an enrollment token only)
/// and its SCEP CA.
async fn assert_enrollment_served(server: &Running) {
    let without = server.admin(Method::GET, "/mdm/enroll", b"").await.status;
    let token = server.enrollment_token(1).await;
    let profile = server
        .admin(Method::GET, &format!("/mdm/enroll?token={token}"), b"")
        .await
        .status;
    let scep = server
        .admin(Method::GET, "/scep?operation=GetCACaps", b"")
        .await
        .status;
    assert_eq!(
        (without, profile, scep),
        (403, 200, 200),
        "enrollment endpoints"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_enroll_with_the_profile_and_scep() {
    let server = Running::start(None).await;
    assert_enrollment_served(&server).await;
    // One enrollment link for all of them, as an administrator would send it.
    let token = server.enrollment_token(DEVICES).await;
    let server = Arc::new(server);
    let mut tasks = Vec::new();
    for n in 3000..3000 + DEVICES {
        let server = Arc::clone(&server);
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            // Alternate the signed and the unsigned profile. A key per device (a server may
            // tell devices apart by their key); 1024 bits keeps the debug build quick.
            let options = EnrollOptions::default()
                .with_key_bits(1024)
                .with_unsigned_profile(n % 2 == 1)
                .with_token(token);
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
    assert_enrollment_served(&server).await;
    let token = server.enrollment_token(2).await;
    for unsigned in [false, true] {
        let facts = Device::fetch_profile_with_token(&server.base(), unsigned, Some(&token))
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
    assert_enrollment_served(&server).await;
    let token = server.enrollment_token(1).await;
    let options = EnrollOptions::default()
        .with_key_bits(1024)
        .with_token(token);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_needs_a_token_and_a_single_use_token_enrolls_one_device() {
    let server = Running::start(None).await;
    let options = EnrollOptions::default().with_key_bits(1024);
    let err = Device::enroll_from_profile(DeviceInfo::iphone(5000), &server.base(), &options)
        .await
        .unwrap_err();
    assert!(
        matches!(err, device_sim::Error::Status { status: 403, .. }),
        "{err}"
    );
    let options = options.with_token(server.enrollment_token(1).await);
    let device = Device::enroll_from_profile(DeviceInfo::iphone(5001), &server.base(), &options)
        .await
        .unwrap();
    assert!(device.signs_requests());
    let err = Device::enroll_from_profile(DeviceInfo::iphone(5002), &server.base(), &options)
        .await
        .unwrap_err();
    assert!(
        matches!(err, device_sim::Error::Status { status: 403, .. }),
        "{err}"
    );
    let udid = device.info.udid.clone();
    let e = server.admin_json(&format!("/v1/enrollments/{udid}")).await;
    assert_eq!(e["enrolled"], true, "{e}");
}
