//! The client against the mock over real TLS on loopback.

#![cfg(all(feature = "client", feature = "mock"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use apns_client::client::{ApnsClient, ApnsClientBuilder};
use apns_client::mock::{MockApns, MockReply, TestPki};
use apns_client::{DeviceToken, Disposition, Error, ErrorReason, MdmPush, PushMagic};

const TOPIC: &str = "com.apple.mgmt.External.11111111-2222-3333-4444-555555555555";

fn token(i: usize) -> DeviceToken {
    DeviceToken::from_hex(&format!("{i:064x}")).unwrap()
}

fn push(i: usize) -> MdmPush {
    MdmPush::new(token(i), PushMagic::new(format!("magic-{i}")).unwrap())
}

fn builder(pki: &TestPki, mock: &MockApns) -> ApnsClientBuilder {
    ApnsClient::builder(mock.endpoint())
        .identity(pki.client_identity(TOPIC).unwrap())
        .add_root_certificate(pki.ca_der())
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .push_timeout(Duration::from_secs(20))
}

#[tokio::test]
async fn batch_is_delivered_with_correct_headers_and_body() {
    let pki = TestPki::new().unwrap();
    let mock = MockApns::builder(&pki).start().await.unwrap();
    let client = builder(&pki, &mock).build().unwrap();
    let pushes: Vec<_> = (0..200).map(|i| push(i).with_expiration(0)).collect();
    let results = client.push_batch(pushes).await;
    assert_eq!(results.len(), 200);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.token, token(i), "results keep the input order");
        assert_eq!(r.disposition(), Disposition::Delivered, "{:?}", r.outcome);
        let resp = r.outcome.as_ref().unwrap();
        assert_eq!(
            resp.apns_id.as_deref(),
            Some(r.apns_id.to_header_string().as_str())
        );
        assert_eq!(r.attempts, 1);
    }
    let received = mock.received();
    assert_eq!(received.len(), 200);
    let seven = received
        .iter()
        .find(|p| p.token == token(7).as_hex())
        .unwrap();
    assert_eq!(seven.push_magic, "magic-7");
    assert_eq!(seven.topic, TOPIC);
    assert_eq!(seven.priority, Some(10));
    assert_eq!(seven.expiration, Some(0));
    let stats = mock.stats();
    assert_eq!(stats.connections, 1, "one multiplexed connection");
    assert_eq!(stats.delivered, 200);
}

#[tokio::test]
async fn every_error_reason_comes_back_typed() {
    let pki = TestPki::new().unwrap();
    let mock = MockApns::builder(&pki).start().await.unwrap();
    let client = builder(&pki, &mock).max_attempts(1).build().unwrap();
    let mut expected = Vec::new();
    for (i, reason) in ErrorReason::KNOWN.iter().enumerate() {
        let reply = if *reason == ErrorReason::Unregistered {
            MockReply::unregistered(1_700_000_000_123)
        } else {
            MockReply::error(reason.clone())
        };
        mock.reply_to_token(token(i).as_hex(), reply);
        expected.push(reason.clone());
    }
    let unknown = ErrorReason::KNOWN.len();
    mock.reply_to_token(
        token(unknown).as_hex(),
        MockReply::custom(400, "ReasonFrom2030"),
    );
    expected.push(ErrorReason::from("ReasonFrom2030"));
    let results = client.push_batch((0..=unknown).map(push).collect()).await;
    for (r, reason) in results.iter().zip(&expected) {
        let resp = r.outcome.as_ref().unwrap();
        assert_eq!(resp.reason(), Some(reason));
        assert_eq!(
            Some(resp.status.as_u16()),
            reason.documented_status().or(Some(400))
        );
        let want = if *reason == ErrorReason::Unregistered {
            assert_eq!(
                resp.error.as_ref().unwrap().timestamp,
                Some(1_700_000_000_123)
            );
            Disposition::TokenDead
        } else {
            Disposition::classify(resp.status.as_u16(), Some(reason))
        };
        assert_eq!(r.disposition(), want, "{reason}");
    }
    let dead = results
        .iter()
        .filter(|r| r.disposition() == Disposition::TokenDead)
        .count();
    assert_eq!(dead, 1, "only 410 Unregistered marks a token dead");
}

#[tokio::test]
async fn retries_429_and_5xx_with_backoff() {
    let pki = TestPki::new().unwrap();
    let mock = MockApns::builder(&pki).start().await.unwrap();
    let client = builder(&pki, &mock).max_attempts(4).build().unwrap();
    mock.reply_next(1, MockReply::error(ErrorReason::TooManyRequests));
    mock.reply_next(1, MockReply::error(ErrorReason::ServiceUnavailable));
    mock.reply_next(1, MockReply::error(ErrorReason::InternalServerError));
    let r = client.push(&push(1)).await;
    assert_eq!(r.disposition(), Disposition::Delivered, "{:?}", r.outcome);
    assert_eq!(r.attempts, 4);
    // Out of attempts: the last answer is reported.
    mock.reply_next(4, MockReply::error(ErrorReason::Shutdown));
    let r = client.push(&push(2)).await;
    assert_eq!(r.attempts, 4);
    assert_eq!(
        r.outcome.as_ref().unwrap().reason(),
        Some(&ErrorReason::Shutdown)
    );
    assert_eq!(r.disposition(), Disposition::RetryLater);
    // Configuration errors are not retried.
    mock.reply_next(1, MockReply::error(ErrorReason::BadCertificateEnvironment));
    let r = client.push(&push(3)).await;
    assert_eq!(r.attempts, 1);
    assert_eq!(r.disposition(), Disposition::ConfigError);
}

#[tokio::test]
async fn goaway_mid_batch_reconnects() {
    let pki = TestPki::new().unwrap();
    let mock = MockApns::builder(&pki).start().await.unwrap();
    mock.goaway_after(Some(40));
    let client = builder(&pki, &mock).max_attempts(5).build().unwrap();
    // The whole first batch may be in flight before the GOAWAY arrives (the server then
    // answers it all on the old connection); the next batch must use a new connection.
    for round in 0..2 {
        let results = client
            .push_batch((0..300).map(|i| push(round * 300 + i)).collect())
            .await;
        let failed: Vec<_> = results
            .iter()
            .filter(|r| r.disposition() != Disposition::Delivered)
            .map(|r| format!("{:?}", r.outcome))
            .collect();
        assert!(failed.is_empty(), "{failed:?}");
    }
    let stats = mock.stats();
    assert!(stats.goaways >= 1, "{stats:?}");
    assert!(stats.connections >= 2, "{stats:?}");
}

#[tokio::test]
async fn dropped_connection_is_replaced() {
    let pki = TestPki::new().unwrap();
    let mock = MockApns::builder(&pki).start().await.unwrap();
    mock.drop_after(Some(10));
    let client = builder(&pki, &mock).max_attempts(10).build().unwrap();
    let results = client.push_batch((0..40).map(push).collect()).await;
    for r in &results {
        assert_eq!(r.disposition(), Delivered(), "{:?}", r.outcome);
    }
    assert!(results.iter().any(|r| r.attempts > 1));
    assert!(mock.stats().connections >= 4);

    #[allow(non_snake_case)]
    fn Delivered() -> Disposition {
        Disposition::Delivered
    }
}

#[tokio::test]
async fn respects_the_servers_stream_limit() {
    let pki = TestPki::new().unwrap();
    let mock = MockApns::builder(&pki)
        .max_concurrent_streams(5)
        .start()
        .await
        .unwrap();
    mock.set_delay(Duration::from_millis(20));
    let client = builder(&pki, &mock).build().unwrap();
    let results = client.push_batch((0..40).map(push).collect()).await;
    for r in &results {
        assert_eq!(r.disposition(), Disposition::Delivered, "{:?}", r.outcome);
        assert_eq!(r.attempts, 1, "{:?}", r.outcome);
    }
    let stats = mock.stats();
    assert_eq!(stats.connections, 1);
    assert!(stats.max_in_flight <= 5, "{stats:?}");
    assert!(
        stats.max_in_flight >= 2,
        "pushes were multiplexed: {stats:?}"
    );
}

#[tokio::test]
async fn pool_spreads_over_connections() {
    let pki = TestPki::new().unwrap();
    let mock = MockApns::builder(&pki)
        .max_concurrent_streams(4)
        .start()
        .await
        .unwrap();
    mock.set_delay(Duration::from_millis(10));
    let client = builder(&pki, &mock)
        .connections_per_topic(3)
        .build()
        .unwrap();
    let results = client.push_batch((0..60).map(push).collect()).await;
    assert!(
        results
            .iter()
            .all(|r| r.disposition() == Disposition::Delivered)
    );
    let stats = mock.stats();
    assert_eq!(stats.connections, 3, "{stats:?}");
    assert!(stats.max_in_flight > 4, "{stats:?}");
}

#[tokio::test]
async fn per_push_deadline() {
    let pki = TestPki::new().unwrap();
    let mock = MockApns::builder(&pki).start().await.unwrap();
    mock.set_delay(Duration::from_millis(500));
    let client = builder(&pki, &mock)
        .push_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let r = client.push(&push(1)).await;
    assert!(
        matches!(r.outcome, Err(Error::Deadline(_))),
        "{:?}",
        r.outcome
    );
    assert_eq!(r.disposition(), Disposition::RetryLater);
}

#[tokio::test]
async fn wrong_client_certificate_is_a_config_error() {
    let pki = TestPki::new().unwrap();
    let other = TestPki::new().unwrap();
    let mock = MockApns::builder(&pki).start().await.unwrap();
    let client = ApnsClient::builder(mock.endpoint())
        .identity(other.client_identity(TOPIC).unwrap())
        .add_root_certificate(pki.ca_der())
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .build()
        .unwrap();
    let r = client.push(&push(1)).await;
    assert!(r.outcome.is_err(), "{:?}", r.outcome);
    assert!(matches!(r.outcome, Err(Error::Tls(_))), "{:?}", r.outcome);
    assert_eq!(r.disposition(), Disposition::ConfigError);
    assert_eq!(mock.stats().requests, 0);
}

#[tokio::test]
async fn server_not_trusted_is_a_config_error() {
    let pki = TestPki::new().unwrap();
    let other = TestPki::new().unwrap();
    let mock = MockApns::builder(&pki).start().await.unwrap();
    let client = ApnsClient::builder(mock.endpoint())
        .identity(pki.client_identity(TOPIC).unwrap())
        .add_root_certificate(other.ca_der())
        .build()
        .unwrap();
    let r = client.push(&push(1)).await;
    assert!(matches!(r.outcome, Err(Error::Tls(_))), "{:?}", r.outcome);
    assert_eq!(r.disposition(), Disposition::ConfigError);
}

#[tokio::test]
async fn several_certificates_one_per_topic() {
    let pki = TestPki::new().unwrap();
    let mock = MockApns::builder(&pki).start().await.unwrap();
    let t1 = "com.apple.mgmt.External.aaaaaaaa-0000-0000-0000-000000000001";
    let t2 = "com.apple.mgmt.External.aaaaaaaa-0000-0000-0000-000000000002";
    let client = ApnsClient::builder(mock.endpoint())
        .identity(pki.client_identity(t1).unwrap())
        .identity(pki.client_identity(t2).unwrap())
        .add_root_certificate(pki.ca_der())
        .build()
        .unwrap();
    let pushes = vec![
        push(1).with_topic(t1),
        push(2).with_topic(t2),
        push(3).with_topic("com.apple.mgmt.External.unknown"),
        push(4),
    ];
    let results = client.push_batch(pushes).await;
    assert_eq!(results[0].disposition(), Disposition::Delivered);
    assert_eq!(results[1].disposition(), Disposition::Delivered);
    assert!(matches!(results[2].outcome, Err(Error::UnknownTopic(_))));
    assert_eq!(results[2].disposition(), Disposition::ConfigError);
    assert!(
        results[3].outcome.is_err(),
        "no topic with two certificates"
    );
    let received = mock.received();
    assert_eq!(received.len(), 2);
    assert!(
        received
            .iter()
            .any(|p| p.topic == t1 && p.token == token(1).as_hex())
    );
    assert!(
        received
            .iter()
            .any(|p| p.topic == t2 && p.token == token(2).as_hex())
    );
    assert_eq!(
        mock.stats().connections,
        2,
        "one connection per certificate"
    );
}

#[tokio::test]
async fn batch_retries_429_and_keeps_order() {
    let pki = TestPki::new().unwrap();
    let mock = MockApns::builder(&pki).start().await.unwrap();
    let client = builder(&pki, &mock).max_attempts(3).build().unwrap();
    mock.reply_next(5, MockReply::error(ErrorReason::TooManyRequests));
    // Several chunks, so that retries run while later chunks are still out.
    let results = client.push_batch((0..1000).map(push).collect()).await;
    assert_eq!(results.len(), 1000);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.token, token(i));
        assert_eq!(r.disposition(), Disposition::Delivered, "{:?}", r.outcome);
    }
    assert_eq!(results.iter().filter(|r| r.attempts == 2).count(), 5);
    assert_eq!(mock.stats().requests, 1005);
}
