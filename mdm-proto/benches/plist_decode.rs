//! The plist front door on a real TokenUpdate (2.4 KB) and the largest real
//! DeviceInformation report (22 KB): the one-pass reader against the reference path
//! (pre-scan, then the plist crate's reader) it replaced, in the same run.
//!
//! Run: `cargo bench -p mdm-proto --bench plist_decode -- --warm-up-time 1 --measurement-time 3`
//! and, in the same session, `python3 mdm-proto/benches/plistlib_peer.py` (Python's
//! plistlib on the same bytes).

// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use mdm_proto::{CommandReport, Limits};
use std::path::PathBuf;

fn corpus(path: &str) -> Vec<u8> {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let file = dir.join("shared/corpus").join(path);
        if file.is_file() {
            return std::fs::read(file).unwrap_or_default();
        }
        if !dir.pop() {
            eprintln!("corpus file {path} not found");
            return Vec::new();
        }
    }
}

const PAYLOADS: [(&str, &str); 2] = [
    ("TokenUpdate", "checkin/nanomdm_TokenUpdate.1.plist"),
    (
        "DeviceInformation",
        "command-results/commandment_DeviceInformation_macOS-10.13.1.xml",
    ),
];

fn bench(c: &mut Criterion) {
    for (name, path) in PAYLOADS {
        let body = corpus(path);
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("parse_value", |b| {
            b.iter(|| mdm_proto::parse_value(black_box(&body), &Limits::MDM))
        });
        group.bench_function("parse_value_reference", |b| {
            b.iter(|| mdm_proto::fuzzing::parse_value_reference(black_box(&body), &Limits::MDM))
        });
        if name == "DeviceInformation" {
            group.bench_function("CommandReport::decode", |b| {
                b.iter(|| CommandReport::decode(black_box(&body)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
