//! Decoding a full page of 1000 devices, and signing a session request.

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dep_client::endpoint::FetchDevices;
use dep_client::{Device, DeviceListResponse, OAuthParams, ProfileStatus, ServerToken};

fn page() -> Vec<u8> {
    let devices = (0..1000)
        .map(|i| {
            let mut d = Device::new(format!("C02{i:09}"));
            d.model = Some("MacBook Pro".into());
            d.description = Some("MBP 13.3 SPACE GRAY/2.0GHZ/8GB/256GB-USA".into());
            d.os = Some("OSX".into());
            d.device_family = Some("Mac".into());
            d.profile_status = Some(ProfileStatus::Assigned);
            d.profile_uuid = Some("C1F123098EB5074580041E69883004C3".into());
            d.device_assigned_date = Some("2017-10-16T01:55:30Z".into());
            d
        })
        .collect();
    let mut p = DeviceListResponse::default();
    p.devices = devices;
    p.cursor = Some("MDowOjE1MzY0Mjc2OTg5MTQ6MTUzNjQyNzY5ODkxNDp0cnVlOjE1MzY0Mjc2OTg5MTQ".into());
    serde_json::to_vec(&p).unwrap()
}

fn bench(c: &mut Criterion) {
    let body = page();
    let headers = http::HeaderMap::new();
    let mut g = c.benchmark_group("dep");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("decode 1000-device page", |b| {
        b.iter(|| {
            dep_client::parse_response::<FetchDevices>(http::StatusCode::OK, &headers, &body)
                .unwrap()
        })
    });
    g.finish();
    let token = ServerToken::new("CK_1", "CS_1", "AT_1", "AS_1");
    let config = dep_client::Config::new();
    c.bench_function("sign session request", |b| {
        b.iter(|| {
            config
                .session_request(&token, &OAuthParams::new(1_700_000_000, "nonce"))
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
