//! Throughput: encode 10,000 InstallProfile commands, decode 10,000 DeviceInformation
//! reports into typed responses. After criterion, if python3 is present, the same bytes
//! are timed with Python's plistlib (parse only / serialize only) for a rough ratio.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmark setup"
)]
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use criterion::{Criterion, Throughput, criterion_group};
use mdm_commands::generated::device_information::DeviceInformation;
use mdm_commands::generated::install_profile::InstallProfile;
use mdm_commands::{CommandEnvelope, decode_report};
use mdm_proto::{CommandReport, Data};
use std::path::{Path, PathBuf};
use std::time::Instant;

const N: usize = 10_000;

fn shared() -> PathBuf {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        if dir.join("shared/corpus").is_dir() {
            return dir.join("shared");
        }
        assert!(dir.pop(), "no shared/ directory found");
    }
}

fn profile_bytes() -> Vec<u8> {
    let corpus = shared().join("corpus/profiles");
    let mut paths: Vec<_> = std::fs::read_dir(corpus)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "mobileconfig"))
        .find_map(|p| std::fs::read(p).ok().filter(|b| b.len() > 1000))
        .unwrap_or_else(|| vec![b'x'; 4096])
}

fn report_bytes() -> Vec<u8> {
    std::fs::read(
        shared().join("corpus/command-results/commandment_DeviceInformation_macOS-10.13.1.xml"),
    )
    .unwrap()
}

fn encode_all(profile: &[u8]) -> usize {
    let mut total = 0;
    for i in 0..N {
        let cmd = InstallProfile::new(Data(profile.to_vec()));
        let env = CommandEnvelope::new(format!("UUID-{i}"), cmd);
        total += env.encode().unwrap().len();
    }
    total
}

fn decode_all(report: &[u8]) -> usize {
    let mut total = 0;
    for _ in 0..N {
        let r = CommandReport::decode(report).unwrap();
        let typed = decode_report::<DeviceInformation>(&r).unwrap();
        total += usize::from(typed.query_responses.is_some());
    }
    total
}

fn bench(c: &mut Criterion) {
    let profile = profile_bytes();
    let report = report_bytes();
    let mut g = c.benchmark_group("commands");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("encode_10k_install_profile", |b| {
        b.iter(|| encode_all(&profile))
    });
    g.bench_function("decode_10k_device_information_reports", |b| {
        b.iter(|| decode_all(&report))
    });
    g.finish();
}

criterion_group!(benches, bench);

fn python_ratio() {
    let profile = profile_bytes();
    let report = report_bytes();
    let t = Instant::now();
    encode_all(&profile);
    let rust_encode = t.elapsed().as_secs_f64();
    let t = Instant::now();
    decode_all(&report);
    let rust_decode = t.elapsed().as_secs_f64();
    let dir = std::env::temp_dir().join(format!("mdm-commands-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("profile"), &profile).unwrap();
    std::fs::write(dir.join("report"), &report).unwrap();
    let script = format!(
        r#"
import plistlib, time
p = open({p:?}, 'rb').read(); r = open({r:?}, 'rb').read()
t = time.perf_counter()
for i in range({N}):
    plistlib.dumps({{'CommandUUID': 'UUID-%d' % i, 'Command': {{'RequestType': 'InstallProfile', 'Payload': p}}}})
e = time.perf_counter() - t
t = time.perf_counter()
for i in range({N}):
    plistlib.loads(r)
d = time.perf_counter() - t
print(e, d)
"#,
        p = dir.join("profile").display().to_string(),
        r = dir.join("report").display().to_string(),
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .output();
    std::fs::remove_dir_all(&dir).ok();
    let Ok(out) = out else {
        println!("python3 not found: no plistlib comparison");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let nums: Vec<f64> = text
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    if let [py_encode, py_decode] = nums[..] {
        println!(
            "encode {N} InstallProfile: rust {rust_encode:.3}s, plistlib {py_encode:.3}s (plistlib/rust = {:.2})",
            py_encode / rust_encode
        );
        println!(
            "decode {N} DeviceInformation reports ({} bytes): rust typed {rust_decode:.3}s, plistlib parse only {py_decode:.3}s (plistlib/rust = {:.2})",
            report.len(),
            py_decode / rust_decode
        );
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    python_ratio();
}
