//! Apple Business Manager API, sans-I/O: the client assertion verifies with the key, the
//! token grant and cache, every call's request, JSON:API pages and cursors, Apple's errors
//! with Retry-After, and bodies that do not match the schema.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use apple_services::Error;
use apple_services::abm::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn creds() -> Credentials {
    Credentials::new(
        "BUSINESSAPI.9703f56c-10ce-4876-8f59-e78e5e23a152",
        "d136aa66-0c3b-4bd4-9892-c20e8db024ab",
        mdm_pki::EcKey::generate().unwrap(),
    )
}

#[test]
fn client_assertion_is_an_es256_jwt_that_verifies() {
    use p256::ecdsa::signature::Verifier as _;
    let c = creds();
    let jwt = c
        .client_assertion(1_750_000_000, Duration::from_secs(86_400), "jti-1")
        .unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], c.key_id.as_str());
    let claims: AssertionClaims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims.sub, c.client_id);
    assert_eq!(claims.iss, c.client_id);
    assert_eq!(claims.aud, ASSERTION_AUDIENCE);
    assert_eq!((claims.iat, claims.exp), (1_750_000_000, 1_750_086_400));
    let sig_bytes = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    assert_eq!(sig_bytes.len(), 64, "JWS ES256 is r||s, not DER");
    let sig = p256::ecdsa::Signature::from_slice(&sig_bytes).unwrap();
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    c.key
        .inner()
        .verifying_key()
        .verify(signing_input.as_bytes(), &sig)
        .unwrap();
    // Apple refuses assertions valid for more than 180 days.
    let e = c
        .client_assertion(0, MAX_ASSERTION_LIFETIME + Duration::from_secs(1), "j")
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidInput {
                what: "assertion lifetime",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn token_grant_and_cache() {
    let r = token_request(TOKEN_URL, "BUSINESSAPI.x", "a.b.c", Program::School).unwrap();
    assert_eq!(r.method(), http::Method::POST);
    let body = String::from_utf8(r.body().clone()).unwrap();
    assert!(body.contains("grant_type=client_credentials"), "{body}");
    assert!(
        body.contains(
            "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
        ),
        "{body}"
    );
    assert!(body.contains("scope=school.api"), "{body}");

    let ok =
        br#"{"access_token":"tok","token_type":"Bearer","expires_in":3600,"scope":"business.api"}"#;
    let t = parse_token(http::StatusCode::OK, &http::HeaderMap::new(), ok, 1000).unwrap();
    assert_eq!((t.token.as_str(), t.expires_at), ("tok", 4600));
    assert!(!format!("{t:?}").contains("tok\""), "the token is redacted");

    let mut cache = TokenCache::new(Duration::from_secs(60));
    assert!(cache.get(1000).is_none());
    cache.put(t);
    assert!(cache.get(4000).is_some());
    assert!(cache.get(4540).is_none(), "renewed 60 s before expiry");
    cache.invalidate();
    assert!(cache.get(1000).is_none());

    let e = parse_token(
        http::StatusCode::BAD_REQUEST,
        &http::HeaderMap::new(),
        br#"{"error":"invalid_client"}"#,
        0,
    )
    .unwrap_err();
    assert_eq!(e.status(), Some(400));
    let e = parse_token(
        http::StatusCode::OK,
        &http::HeaderMap::new(),
        br#"{"access_token":"t","token_type":"Bearer"}"#,
        0,
    )
    .unwrap_err();
    assert!(e.to_string().contains("expires_in"), "{e}");
}

#[test]
fn requests_of_every_call() {
    let base = Program::Business.base_url();
    let cases = [
        (
            Call::ListOrgDevices {
                limit: Some(100),
                cursor: Some("MjAw".into()),
            },
            "GET",
            "https://api-business.apple.com/v1/orgDevices?limit=100&cursor=MjAw",
        ),
        (
            Call::GetOrgDevice("XABC123X0ABC123X0".into()),
            "GET",
            "https://api-business.apple.com/v1/orgDevices/XABC123X0ABC123X0",
        ),
        (
            Call::AssignedServer("S1".into()),
            "GET",
            "https://api-business.apple.com/v1/orgDevices/S1/relationships/assignedServer",
        ),
        (
            Call::ListMdmServers {
                limit: None,
                cursor: None,
            },
            "GET",
            "https://api-business.apple.com/v1/mdmServers",
        ),
        (
            Call::MdmServerDevices {
                server: "1F97349736CF4614A94F624E705841AD".into(),
                limit: Some(1000),
                cursor: None,
            },
            "GET",
            "https://api-business.apple.com/v1/mdmServers/1F97349736CF4614A94F624E705841AD/relationships/devices?limit=1000",
        ),
        (
            Call::GetActivity("b1481656-b267-480d-b284-a809eed8b041".into()),
            "GET",
            "https://api-business.apple.com/v1/orgDeviceActivities/b1481656-b267-480d-b284-a809eed8b041",
        ),
    ];
    for (call, method, url) in cases {
        let r = call.request(base, "tok").unwrap();
        assert_eq!(r.method().as_str(), method, "{call:?}");
        assert_eq!(r.uri().to_string(), url, "{call:?}");
        assert_eq!(r.headers()["authorization"], "Bearer tok");
    }
    for bad in [
        Call::GetOrgDevice("../mdmServers".into()),
        Call::GetOrgDevice(String::new()),
        Call::ListOrgDevices {
            limit: Some(0),
            cursor: None,
        },
        Call::ListMdmServers {
            limit: Some(1001),
            cursor: None,
        },
    ] {
        assert!(
            matches!(bad.request(base, "t"), Err(Error::InvalidInput { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn device_activity_bodies() {
    let call = Call::CreateActivity {
        activity: OrgDeviceActivityType::AssignDevices,
        server: Some("SRV1".into()),
        devices: vec!["SER1".into(), "SER2".into()],
    };
    let r = call.request(Program::Business.base_url(), "t").unwrap();
    assert_eq!(r.method(), http::Method::POST);
    let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(v["data"]["type"], "orgDeviceActivities");
    assert_eq!(v["data"]["attributes"]["activityType"], "ASSIGN_DEVICES");
    assert_eq!(
        v["data"]["relationships"]["mdmServer"]["data"]["id"],
        "SRV1"
    );
    assert_eq!(
        v["data"]["relationships"]["devices"]["data"][1]["id"],
        "SER2"
    );
    assert_eq!(
        v["data"]["relationships"]["devices"]["data"][1]["type"],
        "orgDevices"
    );

    let unassign = Call::CreateActivity {
        activity: OrgDeviceActivityType::UnassignDevices,
        server: None,
        devices: vec!["SER1".into()],
    };
    assert!(unassign.request("https://x", "t").is_ok());
    for bad in [
        Call::CreateActivity {
            activity: OrgDeviceActivityType::AssignDevices,
            server: None,
            devices: vec!["S".into()],
        },
        Call::CreateActivity {
            activity: OrgDeviceActivityType::UnassignDevices,
            server: None,
            devices: vec![],
        },
    ] {
        assert!(
            matches!(
                bad.request("https://x", "t"),
                Err(Error::InvalidInput { .. })
            ),
            "{bad:?}"
        );
    }
}

const PAGE: &str = r#"{
  "data": [
    {"type": "orgDevices", "id": "XABC123X0ABC123X0",
     "attributes": {"serialNumber": "XABC123X0ABC123X0", "deviceModel": "iPhone 16", "productFamily": "iPhone",
                    "status": "ASSIGNED", "addedToOrgDateTime": "2025-02-11T18:36:52.424Z", "somethingNew": 1},
     "relationships": {"assignedServer": {"links": {"self": "https://api-business.apple.com/v1/orgDevices/XABC123X0ABC123X0/relationships/assignedServer"}}},
     "links": {"self": "https://api-business.apple.com/v1/orgDevices/XABC123X0ABC123X0"}}
  ],
  "links": {"self": "https://api-business.apple.com/v1/orgDevices?limit=1",
            "next": "https://api-business.apple.com/v1/orgDevices?cursor=MQ&limit=1"},
  "meta": {"paging": {"limit": 1, "nextCursor": "MQ", "total": 2}}
}"#;

#[test]
fn pages_parse_losslessly_and_give_their_cursor() {
    let call = Call::ListOrgDevices {
        limit: Some(1),
        cursor: None,
    };
    let page: Page<OrgDevice> = parse_response(
        &call,
        http::StatusCode::OK,
        &http::HeaderMap::new(),
        PAGE.as_bytes(),
    )
    .unwrap();
    assert_eq!(page.next_cursor(), Some("MQ"));
    let d = &page.data[0];
    let a = d.attributes.as_ref().unwrap();
    assert_eq!(
        a.product_family,
        Some(OrgDeviceAttributesProductFamily::IPhone)
    );
    assert_eq!(a.extra["somethingNew"], 1);
    let original: serde_json::Value = serde_json::from_str(PAGE).unwrap();
    assert_eq!(serde_json::to_value(&page).unwrap(), original);

    let mut last: serde_json::Value = original.clone();
    last["meta"]["paging"]
        .as_object_mut()
        .unwrap()
        .remove("nextCursor");
    let page: Page<OrgDevice> = serde_json::from_value(last).unwrap();
    assert_eq!(page.next_cursor(), None);
}

#[test]
fn schema_mismatch_names_the_field() {
    let mut v: serde_json::Value = serde_json::from_str(PAGE).unwrap();
    v["data"][0].as_object_mut().unwrap().remove("id");
    let call = Call::ListOrgDevices {
        limit: None,
        cursor: None,
    };
    let e = parse_response::<Page<OrgDevice>>(
        &call,
        http::StatusCode::OK,
        &http::HeaderMap::new(),
        &serde_json::to_vec(&v).unwrap(),
    )
    .unwrap_err();
    let Error::Decode { path, source, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(path.starts_with("data[0]"), "{path}");
    assert!(source.to_string().contains("id"), "{source}");
}

#[test]
fn apple_errors_and_retry_after() {
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::RETRY_AFTER, "17".parse().unwrap());
    let body = br#"{"errors":[{"id":"e1","status":"429","code":"RATE_LIMIT_EXCEEDED","title":"The request rate limit has been reached.","detail":"We've received too many requests for this API."}]}"#;
    let call = Call::ListMdmServers {
        limit: None,
        cursor: None,
    };
    let e = parse_response::<Page<MdmServer>>(
        &call,
        http::StatusCode::TOO_MANY_REQUESTS,
        &headers,
        body,
    )
    .unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(17)));
    let Error::Api { status, errors, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*status, 429);
    assert_eq!(errors[0].code, "RATE_LIMIT_EXCEEDED");
    assert!(e.to_string().contains("RATE_LIMIT_EXCEEDED"), "{e}");
    // A refusal without Apple's body is still typed.
    let e = parse_response::<Page<MdmServer>>(
        &call,
        http::StatusCode::BAD_GATEWAY,
        &http::HeaderMap::new(),
        b"<html>",
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::Api { status: 502, errors, .. } if errors.is_empty()),
        "{e:?}"
    );
}

#[test]
fn activity_polling_ends_on_a_final_status() {
    let mk = |status: &str| -> OrgDeviceActivity {
        serde_json::from_value(serde_json::json!({
            "type": "orgDeviceActivities", "id": "a1",
            "attributes": {"status": status, "subStatus": "SUBMITTED", "createdDateTime": "2025-06-01T10:00:00Z"}
        }))
        .unwrap()
    };
    assert!(!activity_done(&mk("IN_PROGRESS")));
    assert!(activity_done(&mk("COMPLETED")));
    assert!(activity_done(&mk("FAILED")));
    assert!(!activity_done(&mk("SOMETHING_NEW")));
}
