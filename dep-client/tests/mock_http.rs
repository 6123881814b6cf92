//! The client and the sync driver against the mock, over real HTTP on loopback.

#![cfg(all(feature = "client", feature = "mock"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use dep_client::client::{DepClient, HyperTransport};
use dep_client::driver::{BoxError, MemoryCursorStore, PageHandler, SyncDriver};
use dep_client::mock::{MockDep, OrgId, Throttle};
use dep_client::sync::{Backoff, Page, Phase};
use dep_client::*;

/// Keeps the latest state of each device, like a server's database would.
#[derive(Default)]
struct Collect {
    devices: BTreeMap<String, Device>,
    deleted: Vec<String>,
    pages: usize,
    fail_on_page: Option<usize>,
}

impl PageHandler for Collect {
    async fn handle(&mut self, _org: &str, page: &Page) -> Result<(), BoxError> {
        self.pages += 1;
        if self.fail_on_page == Some(self.pages) {
            return Err("database unavailable".into());
        }
        for d in &page.response.devices {
            if d.op_type == Some(OpType::Deleted) {
                self.devices.remove(&d.serial_number);
                self.deleted.push(d.serial_number.clone());
            } else {
                self.devices.insert(d.serial_number.clone(), d.clone());
            }
        }
        Ok(())
    }
}

fn client(mock: &MockDep, org: OrgId) -> DepClient<HyperTransport> {
    DepClient::with_transport(
        mock.token(org),
        mock.config().with_user_agent("dep-client-tests/1"),
        HyperTransport::new().with_timeout(Duration::from_secs(10)),
    )
    .with_backoff(Backoff::new(
        Duration::from_millis(1),
        Duration::from_millis(20),
        5,
    ))
}

#[tokio::test]
async fn fetch_then_sync_never_loses_a_device() {
    let mock = MockDep::start().await.unwrap();
    let org = OrgId(0);
    mock.add_devices(org, "SER", 250);
    let client = client(&mock, org);
    let store = MemoryCursorStore::new();
    let driver = SyncDriver::new("acme", &client, &store).with_limit(100);
    let mut h = Collect::default();

    let r = driver.run_round(&mut h).await.unwrap();
    assert_eq!((r.pages, r.devices), (3, 250));
    assert_eq!(h.devices.len(), 250);
    let cp = store.get("acme").unwrap();
    assert_eq!(cp.phase, Phase::Sync);
    assert!(cp.fetch_complete);

    // Changes: one added, one removed, one profile assigned.
    mock.add_devices(org, "NEW", 1);
    mock.remove_device(org, "SER0007");
    let p = client
        .define_profile(Profile::new("p", "https://mdm.example.invalid/enroll"))
        .await
        .unwrap();
    client
        .assign_profile(&p.profile_uuid, vec!["SER0001".into()])
        .await
        .unwrap();
    let r = driver.run_round(&mut h).await.unwrap();
    assert_eq!(r.devices, 3);
    assert!(h.devices.contains_key("NEW0000"));
    assert!(!h.devices.contains_key("SER0007"));
    assert_eq!(
        h.devices["SER0001"].profile_status,
        Some(ProfileStatus::Assigned)
    );
    assert_eq!(h.devices.len(), mock.devices(org).len());

    // A page bound ends a round early; the next round continues where it stopped.
    mock.add_devices(org, "BULK", 30);
    let bounded = SyncDriver::new("acme", &client, &store)
        .with_limit(10)
        .with_max_pages(2);
    let r = bounded.run_round(&mut h).await.unwrap();
    assert_eq!((r.pages, r.devices), (2, 20));
    let r = bounded.run_round(&mut h).await.unwrap();
    assert_eq!(r.devices, 10);
    assert_eq!(h.devices.len(), mock.devices(org).len());

    // Headers on every call.
    let stats = mock.stats();
    assert_eq!(stats.last_user_agent.as_deref(), Some("dep-client-tests/1"));
    assert_eq!(stats.last_protocol_version.as_deref(), Some("3"));
}

#[tokio::test]
async fn cursor_only_advances_after_the_handler_succeeds() {
    let mock = MockDep::start().await.unwrap();
    let org = OrgId(0);
    mock.add_devices(org, "SER", 30);
    let client = client(&mock, org);
    let store = MemoryCursorStore::new();
    let driver = SyncDriver::new("acme", &client, &store).with_limit(10);
    let mut h = Collect {
        fail_on_page: Some(2),
        ..Default::default()
    };
    let err = driver.run_round(&mut h).await.unwrap_err();
    assert!(matches!(err, Error::Handler(_)), "{err}");
    assert_eq!(h.devices.len(), 10);
    let cp = store.get("acme").unwrap();
    assert_eq!(cp.phase, Phase::Fetch);
    // Retry: the failed page comes again, nothing is skipped.
    h.fail_on_page = None;
    let r = driver.run_round(&mut h).await.unwrap();
    assert_eq!(r.devices, 20);
    assert_eq!(h.devices.len(), 30);
}

#[tokio::test]
async fn sessions_are_renewed_on_401_and_403() {
    let mock = MockDep::start().await.unwrap();
    let org = OrgId(0);
    mock.add_devices(org, "SER", 50);
    mock.set_session_lifetime(Some(2));
    let client = client(&mock, org);
    let store = MemoryCursorStore::new();
    let driver = SyncDriver::new("acme", &client, &store).with_limit(5);
    let mut h = Collect::default();
    let r = driver.run_round(&mut h).await.unwrap();
    assert_eq!(r.devices, 50);
    let stats = mock.stats();
    assert!(stats.sessions >= 5, "{stats:?}");
    assert!(stats.expired_session_refusals >= 4, "{stats:?}");

    mock.set_session_lifetime(None);
    mock.set_expire_with_403(true);
    mock.expire_sessions();
    let account = client.account().await.unwrap();
    assert_eq!(account.server_name.as_deref(), Some("mock-0"));
    assert_eq!(
        mock.stats().expired_session_refusals,
        stats.expired_session_refusals + 1
    );
}

#[tokio::test]
async fn expired_cursor_starts_a_new_fetch() {
    let mock = MockDep::start().await.unwrap();
    let org = OrgId(0);
    mock.add_devices(org, "SER", 12);
    let client = client(&mock, org);
    let store = MemoryCursorStore::new();
    let driver = SyncDriver::new("acme", &client, &store).with_limit(5);
    let mut h = Collect::default();
    driver.run_round(&mut h).await.unwrap();
    mock.expire_cursors(org);
    mock.add_devices(org, "LATE", 2);
    let mut h2 = Collect::default();
    let r = driver.run_round(&mut h2).await.unwrap();
    assert_eq!(r.refetches, 1);
    assert_eq!(h2.devices.len(), 14);
    // and the new cursor works
    let r = driver.run_round(&mut h2).await.unwrap();
    assert_eq!((r.refetches, r.devices), (0, 0));
}

#[tokio::test]
async fn throttling_backs_off_and_retries() {
    let mock = MockDep::start().await.unwrap();
    let org = OrgId(0);
    mock.add_devices(org, "SER", 7);
    mock.throttle_next([
        Throttle::Code,
        Throttle::TooManyRequests {
            retry_after_secs: 0,
        },
        Throttle::Unavailable {
            retry_after_secs: 0,
        },
    ]);
    let client = client(&mock, org);
    let store = MemoryCursorStore::new();
    let driver = SyncDriver::new("acme", &client, &store);
    let mut h = Collect::default();
    let r = driver.run_round(&mut h).await.unwrap();
    assert_eq!(r.devices, 7);
    assert_eq!(mock.stats().throttled, 3);

    // Past the retry budget the error is Apple's, typed.
    mock.throttle_next([Throttle::Code; 10]);
    let err = client.account().await.unwrap_err();
    assert_eq!(err.api().unwrap().code, ErrorCode::Throttled);
}

#[tokio::test]
async fn echoed_cursor_ends_the_round() {
    let mock = MockDep::start().await.unwrap();
    let org = OrgId(0);
    mock.add_devices(org, "SER", 3);
    mock.set_echo_cursor(true);
    let client = client(&mock, org);
    let store = MemoryCursorStore::new();
    let driver = SyncDriver::new("acme", &client, &store);
    let mut h = Collect::default();
    driver.run_round(&mut h).await.unwrap();
    let before = mock.stats().syncs;
    let r = tokio::time::timeout(Duration::from_secs(10), driver.run_round(&mut h))
        .await
        .expect("the echoed cursor must not loop")
        .unwrap();
    assert!(r.echoed_cursor);
    assert_eq!(mock.stats().syncs, before + 1);
}

#[tokio::test]
async fn organisations_are_kept_apart() {
    let mock = MockDep::start().await.unwrap();
    let a = OrgId(0);
    let b = mock.add_org();
    mock.add_devices(a, "AAA", 4);
    mock.add_devices(b, "BBB", 6);
    let (ca, cb) = (client(&mock, a), client(&mock, b));
    let store = MemoryCursorStore::new();
    let (da, db) = (
        SyncDriver::new("org-a", &ca, &store),
        SyncDriver::new("org-b", &cb, &store),
    );
    let (mut ha, mut hb) = (Collect::default(), Collect::default());
    da.run_round(&mut ha).await.unwrap();
    db.run_round(&mut hb).await.unwrap();
    assert!(ha.devices.keys().all(|s| s.starts_with("AAA")));
    assert!(hb.devices.keys().all(|s| s.starts_with("BBB")));
    assert_eq!((ha.devices.len(), hb.devices.len()), (4, 6));
    assert_ne!(store.get("org-a"), store.get("org-b"));
    // A cursor of one organisation is worthless for the other.
    let cursor = store.get("org-a").unwrap().cursor;
    let err = cb
        .sync_devices(DeviceListRequest::new(cursor, None))
        .await
        .unwrap_err();
    assert_eq!(err.api().unwrap().code, ErrorCode::InvalidCursor);
    // Changes in one organisation reach only its own sync.
    mock.add_devices(b, "BB2", 1);
    let ra = da.run_round(&mut ha).await.unwrap();
    let rb = db.run_round(&mut hb).await.unwrap();
    assert_eq!((ra.devices, rb.devices), (0, 1));
}

#[tokio::test]
async fn every_endpoint_round_trips() {
    let mock = MockDep::start().await.unwrap();
    let org = OrgId(0);
    mock.add_devices(org, "SER", 3);
    let client = client(&mock, org);

    let account = client.account().await.unwrap();
    assert_eq!(account.org_type, Some(OrgType::Org));

    let profile = Profile::new("Staff", "https://mdm.example.invalid/enroll")
        .with_supervised(true)
        .with_skip_setup_items(vec![SkipKey::AppleId, SkipKey::from("FutureKey")])
        .with_devices(vec!["SER0000".into(), "NOPE".into()]);
    let defined = client.define_profile(profile).await.unwrap();
    assert_eq!(defined.devices["SER0000"], DeviceStatus::Success);
    assert_eq!(defined.devices["NOPE"], DeviceStatus::NotAccessible);
    let got = client.get_profile(&defined.profile_uuid).await.unwrap();
    assert_eq!(got.is_supervised, Some(true));
    assert_eq!(
        got.skip_setup_items.as_ref().unwrap()[1].as_str(),
        "FutureKey"
    );

    let assigned = client
        .assign_profile(&defined.profile_uuid, vec!["SER0001".into()])
        .await
        .unwrap();
    assert_eq!(assigned.devices["SER0001"], DeviceStatus::Success);
    let details = client
        .device_details(vec!["SER0001".into(), "NOPE".into()])
        .await
        .unwrap();
    assert_eq!(
        details.devices["SER0001"].profile_uuid.as_deref(),
        Some(defined.profile_uuid.as_str())
    );
    assert_eq!(
        details.devices["NOPE"].response_status,
        Some(DeviceStatus::NotAccessible)
    );
    let removed = client.remove_profile(vec!["SER0001".into()]).await.unwrap();
    assert_eq!(removed.devices["SER0001"], DeviceStatus::Success);

    let err = client.get_profile("UNKNOWN").await.unwrap_err();
    assert_eq!(err.api().unwrap().code.as_str(), "PROFILE_NOT_FOUND");

    let code = BypassCode::generate();
    let lock = client
        .activation_lock(ActivationLockRequest::new("SER0002", Some(code.hash())))
        .await
        .unwrap();
    assert_eq!(lock.response_status, Some(DeviceStatus::Success));
    assert_eq!(mock.escrow_key(org, "SER0002"), Some(code.hash()));

    client
        .assign_account_driven_enrollment_profile("https://mdm.example.invalid/discovery")
        .await
        .unwrap();
    let adde = client.account_driven_enrollment_profile().await.unwrap();
    assert_eq!(
        adde.mdm_service_discovery_url,
        "https://mdm.example.invalid/discovery"
    );
    client
        .remove_account_driven_enrollment_profile()
        .await
        .unwrap();

    let beta = client.beta_enrollment_tokens().await.unwrap();
    assert_eq!(beta.beta_enrollment_tokens.len(), 2);

    let disowned = client.disown_devices(vec!["SER0000".into()]).await.unwrap();
    assert_eq!(disowned.devices["SER0000"], DeviceStatus::Success);
    assert_eq!(mock.devices(org).len(), 2);

    // Caller misuse is caught before anything is sent.
    let err = client
        .fetch_devices(DeviceListRequest::new(None, Some(5000)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { what: "limit", .. }),
        "{err}"
    );
    let err = client
        .sync_devices(DeviceListRequest::new(None, None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { what: "cursor", .. }),
        "{err}"
    );
    let err = client
        .sync_devices(DeviceListRequest::new(Some("garbage".into()), None))
        .await
        .unwrap_err();
    assert_eq!(err.api().unwrap().code, ErrorCode::InvalidCursor);
}

#[tokio::test]
async fn a_wrong_token_is_refused_with_a_typed_error() {
    let mock = MockDep::start().await.unwrap();
    let mut token = mock.token(OrgId(0));
    token.access_secret = "wrong".into();
    let client = DepClient::with_transport(token, mock.config(), HyperTransport::new());
    let err = client.account().await.unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(api.status, 401);
    assert_eq!(api.code, ErrorCode::Unauthorized);
}

#[tokio::test]
async fn transport_errors_are_distinct() {
    let client = DepClient::with_transport(
        ServerToken::new("a", "b", "c", "d"),
        Config::new().with_base_url("http://127.0.0.1:9"),
        HyperTransport::new().with_timeout(Duration::from_secs(5)),
    );
    let err = client.account().await.unwrap_err();
    assert!(err.is_transport(), "{err}");
}

#[tokio::test]
async fn file_store_and_the_run_loop_keep_going() {
    use dep_client::driver::{CursorStore, FileCursorStore};
    let mock = MockDep::start().await.unwrap();
    let org = OrgId(0);
    mock.add_devices(org, "SER", 5);
    let client = client(&mock, org);
    let dir = std::env::temp_dir().join(format!("dep-client-store-{}", std::process::id()));
    let store = FileCursorStore::new(&dir);
    let driver = SyncDriver::new("org/with slash", &client, &store);
    let mut h = Collect::default();
    // The loop survives a failing round (throttled past the budget) and stops on shutdown.
    mock.throttle_next([Throttle::Code; 6]);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let stop = async move {
        let _ = rx.await;
    };
    let run = driver.run(&mut h, Duration::from_millis(20), stop);
    let waiter = async {
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if store
                .load("org/with slash")
                .await
                .unwrap()
                .is_some_and(|c| c.fetch_complete)
            {
                break;
            }
        }
        mock.add_devices(org, "LATE", 1);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = tx.send(());
    };
    tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(run, waiter) })
        .await
        .unwrap();
    assert_eq!(h.devices.len(), 6);
    let cp = store.load("org/with slash").await.unwrap().unwrap();
    assert_eq!(cp.phase, Phase::Sync);
    assert!(store.load("other").await.unwrap().is_none());
    let _ = std::fs::remove_dir_all(dir);
}
