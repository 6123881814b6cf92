//! Pushes per second over one HTTP/2 connection to the mock on loopback.
//!
//! The client and the mock run on separate single-thread tokio runtimes on the same machine.
//! After the measurement the mock's own CPU time (read from /proc for its thread, Linux only)
//! is printed per push, so the client's share can be told apart.
//!
//! Run: `cargo bench -p apns-client --features client,mock --bench push_throughput`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use apns_client::client::ApnsClient;
use apns_client::mock::{MockApns, TestPki};
use apns_client::{DeviceToken, Disposition, MdmPush, PushMagic};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TOPIC: &str = "com.apple.mgmt.External.11111111-2222-3333-4444-555555555555";
const BATCH: usize = 5000;
const MOCK_THREAD: &str = "mock-apns";
const CLIENT_THREAD: &str = "apns-client";

/// CPU time (user + system) of the threads named `name`, from /proc.
fn thread_cpu(name: &str) -> Option<Duration> {
    let mut ticks = 0u64;
    let mut found = false;
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        let after = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = after.split_whitespace().collect();
        // Fields after the command: state(0) ... utime(11) stime(12).
        ticks += fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        found = true;
    }
    found.then(|| Duration::from_millis(ticks * 10))
}

fn bench(c: &mut Criterion) {
    let mock_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(MOCK_THREAD)
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(CLIENT_THREAD)
        .enable_all()
        .build()
        .unwrap();
    let pki = TestPki::new().unwrap();
    let mock = mock_rt
        .block_on(async { MockApns::builder(&pki).record(false).start().await })
        .unwrap();
    let client = client_rt.block_on(async {
        ApnsClient::builder(mock.endpoint())
            .identity(pki.client_identity(TOPIC).unwrap())
            .add_root_certificate(pki.ca_der())
            .connections_per_topic(1)
            .max_in_flight(1000)
            .build()
            .unwrap()
    });
    let pushes: Vec<MdmPush> = (0..BATCH)
        .map(|i| {
            MdmPush::new(
                DeviceToken::from_hex(&format!("{i:064x}")).unwrap(),
                PushMagic::new("5C0F5EC4-0B9C-4A1B-9C43-0E7C1D1B2B3A").unwrap(),
            )
        })
        .collect();
    // Warm the connection up.
    client_rt.block_on(client.push_batch(pushes[..100].to_vec()));

    let total = Arc::new(AtomicU64::new(0));
    let busy = Arc::new(AtomicU64::new(0));
    let cpu_before = thread_cpu(MOCK_THREAD);
    let client_cpu_before = thread_cpu(CLIENT_THREAD);
    let mut group = c.benchmark_group("apns_push");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("one_connection_batch_5000", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let batch = pushes.clone();
                let start = Instant::now();
                // Run the batch as a task of the client's runtime, as a server would.
                let c = client.clone();
                let results = client_rt
                    .block_on(client_rt.spawn(async move { c.push_batch(batch).await }))
                    .unwrap();
                elapsed += start.elapsed();
                assert!(
                    results
                        .iter()
                        .all(|r| r.disposition() == Disposition::Delivered)
                );
                total.fetch_add(BATCH as u64, Ordering::Relaxed);
            }
            busy.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
            elapsed
        })
    });
    group.finish();
    let pushes_done = total.load(Ordering::Relaxed).max(1);
    let wall = Duration::from_micros(busy.load(Ordering::Relaxed));
    let rate = pushes_done as f64 / wall.as_secs_f64().max(1e-9);
    println!(
        "apns_push: {pushes_done} pushes in {wall:?} over {} connection(s): {rate:.0} pushes/s",
        mock.stats().connections
    );
    report_cpu(
        "mock's own cost",
        cpu_before,
        thread_cpu(MOCK_THREAD),
        pushes_done,
        wall,
    );
    report_cpu(
        "client runtime thread",
        client_cpu_before,
        thread_cpu(CLIENT_THREAD),
        pushes_done,
        wall,
    );
}

fn report_cpu(
    who: &str,
    before: Option<Duration>,
    after: Option<Duration>,
    pushes: u64,
    wall: Duration,
) {
    if let (Some(before), Some(after)) = (before, after) {
        let cpu = after.saturating_sub(before);
        let per_push = cpu.as_secs_f64() * 1e6 / pushes as f64;
        println!(
            "{who}: {cpu:?} CPU = {per_push:.1} us per push ({:.0}% of one core while measuring)",
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9)
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
