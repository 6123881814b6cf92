//! The Apple Business Manager API client over real HTTP against the mock: every call, token
//! caching, expiry and renewal (expired and revoked), throttling with Retry-After, paging,
//! assign/unassign with activity polling.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use apple_services::Error;
use apple_services::abm::client::AbmClient;
use apple_services::abm::*;
use mdm_test_support::services_mock::AbmMock;

const SERIALS: &[&str] = &["SER0001", "SER0002", "SER0003", "SER0004", "SER0005"];

fn client(mock: &AbmMock) -> AbmClient {
    let creds = Credentials::new(
        "BUSINESSAPI.test",
        "key-1",
        mdm_pki::EcKey::generate().unwrap(),
    );
    AbmClient::with_urls(creds, Program::Business, &mock.token_url, &mock.base_url)
        .unwrap()
        .with_token_margin(Duration::ZERO)
}

#[tokio::test]
async fn every_call_and_paging() {
    let mock = AbmMock::start(SERIALS, &["SRV1", "SRV2"], Duration::from_secs(3600)).await;
    let c = client(&mock);
    // Pages of 2: 3 calls, one token.
    let devices = c.org_devices(Some(2)).await.unwrap();
    let ids: Vec<&str> = devices.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, SERIALS);
    assert_eq!((mock.api_calls(), mock.tokens_issued()), (3, 1));

    let d = c.org_device("SER0003").await.unwrap();
    assert_eq!(
        d.attributes.unwrap().serial_number.as_deref(),
        Some("SER0003")
    );
    let e = c.org_device("NOPE").await.unwrap_err();
    assert!(
        matches!(&e, Error::Api { status: 404, errors, .. } if errors[0].code == "NOT_FOUND"),
        "{e:?}"
    );

    let servers = c.mdm_servers().await.unwrap();
    assert_eq!(servers.len(), 2);
    assert_eq!(
        servers[0]
            .attributes
            .as_ref()
            .unwrap()
            .server_name
            .as_deref(),
        Some("Server SRV1")
    );
    assert!(c.mdm_server_devices("SRV1").await.unwrap().is_empty());
    assert_eq!(c.assigned_server("SER0001").await.unwrap(), None);
    assert_eq!(mock.tokens_issued(), 1, "the token is cached");
}

#[tokio::test]
async fn assign_unassign_and_poll() {
    let mock = AbmMock::start(SERIALS, &["SRV1"], Duration::from_secs(3600)).await;
    let c = client(&mock);
    let a = c
        .assign("SRV1", vec!["SER0001".into(), "SER0002".into()])
        .await
        .unwrap();
    assert!(!activity_done(&a));
    let done = c
        .wait_activity(&a.id, Duration::from_millis(10), 10)
        .await
        .unwrap();
    assert!(activity_done(&done));
    assert_eq!(
        done.attributes.unwrap().status,
        Some(OrgDeviceActivityAttributesStatus::Completed)
    );
    assert_eq!(mock.server_of("SER0002").as_deref(), Some("SRV1"));
    let linked = c.mdm_server_devices("SRV1").await.unwrap();
    assert_eq!(linked.len(), 2);
    assert_eq!(
        c.assigned_server("SER0001").await.unwrap().map(|l| l.id),
        Some("SRV1".to_string())
    );

    let u = c.unassign(vec!["SER0001".into()]).await.unwrap();
    c.wait_activity(&u.id, Duration::from_millis(10), 10)
        .await
        .unwrap();
    assert_eq!(mock.server_of("SER0001"), None);
    // Assigning to a server the organisation does not have is refused by the service.
    let e = c.assign("SRV9", vec!["SER0003".into()]).await.unwrap_err();
    assert_eq!(e.status(), Some(422));
}

#[tokio::test]
async fn expired_and_revoked_tokens_are_renewed() {
    // Tokens live 1 s; with no margin the client uses one until the service refuses it.
    let mock = AbmMock::start(SERIALS, &["SRV1"], Duration::from_secs(1)).await;
    let c = client(&mock);
    c.mdm_servers().await.unwrap();
    assert_eq!(mock.tokens_issued(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.mdm_servers().await.unwrap();
    assert_eq!(mock.tokens_issued(), 2, "an expired token is renewed");

    let mock = AbmMock::start(SERIALS, &["SRV1"], Duration::from_secs(3600)).await;
    let c = client(&mock);
    c.mdm_servers().await.unwrap();
    mock.revoke_tokens();
    c.mdm_servers().await.unwrap();
    assert_eq!(mock.tokens_issued(), 2, "a 401 renews the token once");
    assert_eq!(mock.api_calls(), 3);
}

#[tokio::test]
async fn throttling_honours_retry_after() {
    let mock = AbmMock::start(SERIALS, &["SRV1"], Duration::from_secs(3600)).await;
    let c = client(&mock).with_retries(2, Duration::from_secs(2));
    mock.throttle_next(1);
    let started = std::time::Instant::now();
    c.org_devices(None).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited Retry-After"
    );
    assert_eq!(mock.api_calls(), 2);

    // Beyond the retries, or a Retry-After longer than allowed: the typed error.
    mock.throttle_next(0);
    mock.throttle_next(0);
    mock.throttle_next(0);
    let e = c.org_devices(None).await.unwrap_err();
    assert_eq!(e.status(), Some(429));
    mock.throttle_next(30);
    let e = c.org_devices(None).await.unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
    let Error::Api { errors, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(errors[0].code, "RATE_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn bad_credentials_are_refused_by_the_token_endpoint() {
    let mock = AbmMock::start(SERIALS, &[], Duration::from_secs(3600)).await;
    let creds = Credentials::new("", "k", mdm_pki::EcKey::generate().unwrap());
    let c =
        AbmClient::with_urls(creds, Program::Business, &mock.token_url, &mock.base_url).unwrap();
    let e = c.org_devices(None).await.unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert_eq!(mock.api_calls(), 0);
}
