//! Apps and Books, sans-I/O: requests of every call with the sToken, the checks of a manage
//! request, the generated bodies, Apple's error numbers with Retry-After.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use apple_services::Error;
use apple_services::anb::*;

fn manage(serials: &[&str]) -> ManageAssetsRequest {
    serde_json::from_value(serde_json::json!({
        "assets": [{"adamId": "361309726", "pricingParam": "STDQ"}],
        "serialNumbers": serials,
    }))
    .unwrap()
}

#[test]
fn requests_of_every_call() {
    let cases = [
        (
            Call::ServiceConfig,
            "GET",
            "https://vpp.itunes.apple.com/mdm/v2/service/config",
        ),
        (
            Call::Assets { page_index: 2 },
            "GET",
            "https://vpp.itunes.apple.com/mdm/v2/assets?pageIndex=2",
        ),
        (
            Call::Associate(manage(&["SER1"])),
            "POST",
            "https://vpp.itunes.apple.com/mdm/v2/assets/associate",
        ),
        (
            Call::Disassociate(manage(&["SER1"])),
            "POST",
            "https://vpp.itunes.apple.com/mdm/v2/assets/disassociate",
        ),
        (
            Call::EventStatus("4a1b-77".into()),
            "GET",
            "https://vpp.itunes.apple.com/mdm/v2/status?eventId=4a1b-77",
        ),
    ];
    for (call, method, url) in cases {
        let r = call.request(BASE_URL, "c1Rva2Vu").unwrap();
        assert_eq!(
            (r.method().as_str(), r.uri().to_string().as_str()),
            (method, url)
        );
        assert_eq!(r.headers()["authorization"], "Bearer c1Rva2Vu");
    }
    let r = Call::Associate(manage(&["SER1", "SER2"]))
        .request(BASE_URL, "t")
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(v["assets"][0]["adamId"], "361309726");
    assert_eq!(v["serialNumbers"][1], "SER2");
    let many: Vec<String> = (0..26).map(|i| format!("S{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    for bad in [
        Call::Associate(manage(&[])),
        Call::Associate(manage(&many)),
        Call::EventStatus("a&b".into()),
    ] {
        assert!(
            matches!(bad.request(BASE_URL, "t"), Err(Error::InvalidInput { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn event_response_and_errors() {
    let call = Call::Associate(manage(&["SER1"]));
    let body = br#"{"eventId":"f1e2","tokenExpirationDate":"2026-03-01T00:00:00+0000","uId":"2049025000431439","newKey":true}"#;
    let e: EventResponse =
        parse_response(&call, http::StatusCode::OK, &http::HeaderMap::new(), body).unwrap();
    assert_eq!(e.event_id.as_deref(), Some("f1e2"));
    assert_eq!(e.extra["newKey"], true);

    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::RETRY_AFTER, "5".parse().unwrap());
    let err = parse_response::<EventResponse>(
        &call,
        http::StatusCode::SERVICE_UNAVAILABLE,
        &headers,
        br#"{"errorNumber":9646,"errorMessage":"Too many recent calls to manage licenses."}"#,
    )
    .unwrap_err();
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(5)));
    let Error::Api { errors, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(errors[0].code, "9646");

    let err = parse_response::<EventResponse>(
        &call,
        http::StatusCode::OK,
        &http::HeaderMap::new(),
        br#"{"eventId":7}"#,
    )
    .unwrap_err();
    let Error::Decode { path, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(path, "eventId");
}
