//! Pushes per second over one HTTP/2 connection to the mock on loopback, and the CPU each
//! push costs the client.
//!
//! The mock runs on its own one-thread tokio runtime; the client on tokio's default runtime
//! (`Runtime::new()`: one worker per core), as a server would run it. After the measurement
//! the CPU time of the client (every thread of the process except the mock's and
//! criterion's main thread: /proc/self/task/*/schedstat, Linux only) and of the mock are
//! printed per push, with the pushes per second.
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

/// CPU time of this process's threads, split into (the mock's, everyone else's but the
/// main thread's), from each thread's schedstat (nanoseconds on CPU).
fn cpu_split() -> Option<(Duration, Duration)> {
    let me = std::process::id().to_string();
    let (mut mock, mut client) = (0u64, 0u64);
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        if entry.file_name().to_str() == Some(me.as_str()) {
            continue; // criterion's thread: it only waits for the batch
        }
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(entry.path().join("schedstat")).ok()?;
        let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
        if comm.trim() == MOCK_THREAD {
            mock += ns;
        } else {
            client += ns;
        }
    }
    Some((Duration::from_nanos(mock), Duration::from_nanos(client)))
}

fn bench(c: &mut Criterion) {
    let mock_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(MOCK_THREAD)
        .enable_all()
        .build()
        .unwrap();
    // tokio's default runtime, as `#[tokio::main]` builds it.
    let client_rt = tokio::runtime::Runtime::new().unwrap();
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
    let cpu_before = cpu_split();
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
    if let (Some((mock0, client0)), Some((mock1, client1))) = (cpu_before, cpu_split()) {
        report_cpu(
            "client (default runtime)",
            client1.saturating_sub(client0),
            pushes_done,
            wall,
        );
        report_cpu(
            "mock (one thread)",
            mock1.saturating_sub(mock0),
            pushes_done,
            wall,
        );
    }
}

fn report_cpu(who: &str, cpu: Duration, pushes: u64, wall: Duration) {
    let per_push = cpu.as_secs_f64() * 1e6 / pushes as f64;
    println!(
        "{who}: {cpu:?} CPU = {per_push:.1} us per push ({:.0}% of one core while measuring)",
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
