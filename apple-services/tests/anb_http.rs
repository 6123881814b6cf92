//! The Apps and Books client over real HTTP against the mock: every call, the sToken, and
//! throttling with Retry-After.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use apple_services::Error;
use apple_services::anb::client::AnbClient;
use apple_services::anb::*;
use mdm_test_support::services_mock::AnbMock;

fn manage() -> ManageAssetsRequest {
    serde_json::from_value(serde_json::json!({
        "assets": [{"adamId": "361309726", "pricingParam": "STDQ"}],
        "serialNumbers": ["SER1"],
    }))
    .unwrap()
}

#[tokio::test]
async fn every_call() {
    let mock = AnbMock::start("c1Rva2Vu").await;
    let c = AnbClient::new("c1Rva2Vu", &mock.base_url).unwrap();
    assert_eq!(c.service_config().await.unwrap()["limits"]["maxAssets"], 25);
    assert_eq!(
        c.assets(0).await.unwrap()["assets"][0]["adamId"],
        "361309726"
    );
    let e = c.associate(manage()).await.unwrap();
    let id = e.event_id.unwrap();
    assert_eq!(
        c.event_status(&id).await.unwrap()["eventStatus"],
        "COMPLETE"
    );
    let e = c.disassociate(manage()).await.unwrap();
    assert!(e.event_id.is_some());
    let err = c.event_status("nope").await.unwrap_err();
    assert!(
        matches!(&err, Error::Api { status: 400, errors, .. } if errors[0].code == "9603"),
        "{err:?}"
    );
    assert_eq!(mock.calls(), 6);
}

#[tokio::test]
async fn wrong_token_and_throttling() {
    let mock = AnbMock::start("right").await;
    let e = AnbClient::new("wrong", &mock.base_url)
        .unwrap()
        .service_config()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Api { status: 401, errors, .. } if errors[0].code == "9622"),
        "{e:?}"
    );

    let c = AnbClient::new("right", &mock.base_url)
        .unwrap()
        .with_retries(1, Duration::from_secs(2));
    mock.throttle_next(1);
    let started = std::time::Instant::now();
    c.associate(manage()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    mock.throttle_next(0);
    mock.throttle_next(0);
    let e = c.service_config().await.unwrap_err();
    assert_eq!(
        (e.status(), e.retry_after()),
        (Some(503), Some(Duration::ZERO))
    );
}
