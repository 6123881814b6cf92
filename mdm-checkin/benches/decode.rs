//! Decoding and encoding a real TokenUpdate and a real DeviceInformation report.
//!
//! Run: `cargo bench -p mdm-checkin -- --warm-up-time 1 --measurement-time 3`; compare with
//! `python3 mdm-checkin/benches/plistlib_reference.py` (Python plistlib on the same bytes).

// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use mdm_checkin::CheckinMessage;
use mdm_proto::CommandReport;
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

/// The TokenUpdate with an UnlockToken (2.4 KB) and the largest DeviceInformation (22 KB).
const TOKEN_UPDATE: &str = "checkin/nanomdm_TokenUpdate.1.plist";
const DEVICE_INFORMATION: &str = "command-results/commandment_DeviceInformation_macOS-10.13.1.xml";

fn bench(c: &mut Criterion) {
    let token_update = corpus(TOKEN_UPDATE);
    let device_information = corpus(DEVICE_INFORMATION);

    let mut group = c.benchmark_group("TokenUpdate");
    group.throughput(Throughput::Bytes(token_update.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| CheckinMessage::decode(black_box(&token_update)))
    });
    if let Ok(message) = CheckinMessage::decode(&token_update) {
        group.bench_function("encode", |b| b.iter(|| black_box(&message).encode()));
    }
    group.finish();

    let mut group = c.benchmark_group("DeviceInformation");
    group.throughput(Throughput::Bytes(device_information.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| CommandReport::decode(black_box(&device_information)))
    });
    if let Ok(report) = CommandReport::decode(&device_information) {
        group.bench_function("encode", |b| b.iter(|| black_box(&report).encode()));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
