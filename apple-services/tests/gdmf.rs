//! GDMF: the catalogue parses into the generated types losslessly, `latest_supported` answers
//! per device, platform and date, bad bodies are typed errors naming the field, and (feature
//! `client`) the client fetches over real HTTP from the mock, with its throttling.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use apple_services::Error;
use apple_services::gdmf::{self, AssetSet, latest_in, latest_supported};
use mdm_test_support::services_mock::sample_catalog;
use time::macros::date;

fn catalog() -> gdmf::Catalog {
    gdmf::parse(&serde_json::to_vec(&sample_catalog()).unwrap()).unwrap()
}

#[test]
fn parses_losslessly() {
    let c = catalog();
    assert_eq!(c.asset_sets.as_ref().unwrap()["iOS"].len(), 4);
    assert_eq!(c.extra["SomethingNew"]["kept"], true);
    let rsr = &c.public_rapid_security_responses.as_ref().unwrap()["iOS"][0];
    assert_eq!(rsr.extra["ProductVersionExtra"], "(c)");
    assert_eq!(serde_json::to_value(&c).unwrap(), sample_catalog());
}

#[test]
fn latest_supported_per_device_and_date() {
    let c = catalog();
    // 18.3 is not posted yet, 17.7 has expired: 18.2.1, expiring 2025-07-07.
    let s = latest_supported(&c, "iPhone15,2", "iOS", date!(2025 - 01 - 20))
        .unwrap()
        .unwrap();
    assert_eq!(s.version, "18.2.1");
    assert_eq!(s.build.as_deref(), Some("22C161"));
    assert_eq!(s.expires, Some(date!(2025 - 07 - 07)));
    // Once 18.3 is posted it wins, without an expiration date.
    let s = latest_supported(&c, "iPhone15,2", "iOS", date!(2025 - 02 - 01))
        .unwrap()
        .unwrap();
    assert_eq!((s.version.as_str(), s.expires), ("18.3", None));
    // A device 18.2.1 does not support gets 18.2.
    let s = latest_supported(&c, "iPhone11,8", "iOS", date!(2025 - 01 - 20))
        .unwrap()
        .unwrap();
    assert_eq!(s.version, "18.2");
    // Before 17.7 expired, a device only 17.7 supports gets it; after, nothing.
    let s = latest_supported(&c, "iPhone10,3", "iOS", date!(2025 - 01 - 01)).unwrap();
    assert_eq!(s.unwrap().version, "17.7");
    assert_eq!(
        latest_supported(&c, "iPhone10,3", "iOS", date!(2025 - 01 - 10)).unwrap(),
        None
    );
    // Another platform, an unknown platform, an unknown device.
    let s = latest_supported(&c, "Mac14,3", "macOS", date!(2025 - 01 - 20))
        .unwrap()
        .unwrap();
    assert_eq!((s.version.as_str(), s.expires), ("15.2", None));
    assert_eq!(
        latest_supported(&c, "Mac14,3", "tvOS", date!(2025 - 01 - 20)).unwrap(),
        None
    );
    assert_eq!(
        latest_supported(&c, "iPhone99,1", "iOS", date!(2025 - 01 - 20)).unwrap(),
        None
    );
    // The public list.
    let s = latest_in(
        &c,
        AssetSet::Public,
        "iPad13,1",
        "iOS",
        date!(2025 - 01 - 20),
    )
    .unwrap()
    .unwrap();
    assert_eq!(s.version, "18.2.1");
}

#[test]
fn version_order_is_numeric() {
    let mut v = sample_catalog();
    v["AssetSets"]["iOS"] = serde_json::json!([
        {"ProductVersion": "18.10", "SupportedDevices": ["X"]},
        {"ProductVersion": "18.9.1", "SupportedDevices": ["X"]},
    ]);
    let c = gdmf::parse(&serde_json::to_vec(&v).unwrap()).unwrap();
    let s = latest_supported(&c, "X", "iOS", date!(2025 - 01 - 01))
        .unwrap()
        .unwrap();
    assert_eq!(s.version, "18.10");
}

#[test]
fn bad_values_name_their_place() {
    let mut v = sample_catalog();
    v["AssetSets"]["iOS"][2]["ExpirationDate"] = "soon".into();
    let c = gdmf::parse(&serde_json::to_vec(&v).unwrap()).unwrap();
    let e = latest_supported(&c, "iPhone15,2", "iOS", date!(2025 - 01 - 20)).unwrap_err();
    let Error::Invalid { field, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(field, "AssetSets.iOS[2].ExpirationDate");

    let mut v = sample_catalog();
    v["AssetSets"]["iOS"][1]["ProductVersion"] = "18.x".into();
    let c = gdmf::parse(&serde_json::to_vec(&v).unwrap()).unwrap();
    let e = latest_supported(&c, "iPhone15,2", "iOS", date!(2025 - 01 - 20)).unwrap_err();
    assert!(
        e.to_string().contains("AssetSets.iOS[1].ProductVersion"),
        "{e}"
    );
}

#[test]
fn schema_mismatch_names_the_field() {
    let mut v = sample_catalog();
    v["AssetSets"]["iOS"][3]["SupportedDevices"] = serde_json::json!("iPhone15,2");
    let e = gdmf::parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    let Error::Decode { path, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(path.starts_with("AssetSets.iOS[3]"), "{path}");
    for bad in [&b"[1,2]"[..], b"{\"AssetSets\": 5}", b"{} trailing", b""] {
        assert!(
            matches!(gdmf::parse(bad), Err(Error::Decode { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn sans_io_request_and_status() {
    let r = gdmf::request(gdmf::URL).unwrap();
    assert_eq!(r.method(), http::Method::GET);
    assert_eq!(r.uri(), "https://gdmf.apple.com/v2/pmv");
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::RETRY_AFTER, "120".parse().unwrap());
    let e = gdmf::parse_response(http::StatusCode::TOO_MANY_REQUESTS, &headers, b"slow down")
        .unwrap_err();
    let Error::Http {
        status,
        retry_after,
        ..
    } = e
    else {
        panic!("{e:?}")
    };
    assert_eq!(
        (status, retry_after),
        (429, Some(std::time::Duration::from_secs(120)))
    );
}

#[cfg(feature = "client")]
mod http_mock {
    use super::*;
    use apple_services::gdmf::client::GdmfClient;
    use mdm_test_support::services_mock::GdmfMock;

    #[tokio::test]
    async fn fetch_over_http() {
        let mock = GdmfMock::start(&sample_catalog()).await;
        let client = GdmfClient::with_url(&mock.url).unwrap();
        let c = client.fetch().await.unwrap();
        assert_eq!(serde_json::to_value(&c).unwrap(), sample_catalog());
        let s = latest_supported(&c, "iPhone15,2", "iOS", date!(2025 - 01 - 20))
            .unwrap()
            .unwrap();
        assert_eq!(s.version, "18.2.1");
        assert_eq!(mock.requests(), 1);
    }

    #[tokio::test]
    async fn throttled_then_served() {
        let mock = GdmfMock::start(&sample_catalog()).await;
        mock.refuse_next(429, Some(30));
        mock.refuse_next(503, None);
        let client = GdmfClient::with_url(&mock.url).unwrap();
        let e = client.fetch().await.unwrap_err();
        let Error::Http {
            status,
            retry_after,
            ..
        } = e
        else {
            panic!("{e:?}")
        };
        assert_eq!(
            (status, retry_after),
            (429, Some(std::time::Duration::from_secs(30)))
        );
        let e = client.fetch().await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::Http {
                    status: 503,
                    retry_after: None,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(client.fetch().await.is_ok());
        assert_eq!(mock.requests(), 3);
    }

    #[tokio::test]
    async fn malformed_body_is_a_typed_error() {
        let mock = GdmfMock::start(&sample_catalog()).await;
        mock.set_raw_body(r#"{"AssetSets":{"iOS":[{"ProductVersion":18}]}}"#);
        let client = GdmfClient::with_url(&mock.url).unwrap();
        let e = client.fetch().await.unwrap_err();
        let Error::Decode { path, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(path.starts_with("AssetSets.iOS[0]"), "{path}");
    }

    #[tokio::test]
    async fn nothing_listening_is_a_transport_error() {
        let url = {
            let mock = GdmfMock::start(&sample_catalog()).await;
            mock.url.clone()
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let client = GdmfClient::with_url(url).unwrap();
        // The listener is gone with the mock's task; the connection is refused.
        let e = client.fetch().await.unwrap_err();
        assert!(matches!(e, Error::Transport(_)), "{e:?}");
    }
}
