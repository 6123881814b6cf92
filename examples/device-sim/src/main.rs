//! `device-sim`: many simulated devices against an MDM server, with a load report.
//!
//! Each device enrolls (Authenticate, TokenUpdate), then for every round the simulator
//! queues a DeviceInformation command for it through the server's NanoMDM-compatible API
//! (`PUT /v1/enqueue/<id>?nopush=1`) and the device connects: Idle, the command,
//! Acknowledged. Every request's latency is recorded.

use std::time::{Duration, Instant};

use base64::Engine;
use clap::Parser;
use device_sim::{Behaviour, Device, DeviceInfo, Endpoints, Method};

/// Simulated Apple devices against an MDM server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Base URL of the MDM server (`http://127.0.0.1:9000`).
    #[arg(
        long,
        env = "DEVICE_SIM_SERVER",
        default_value = "http://127.0.0.1:9000"
    )]
    server: String,
    /// API key of the server's admin API (for queueing commands).
    #[arg(long, env = "DEVICE_SIM_API_KEY")]
    api_key: Option<String>,
    /// Push topic the devices check in with.
    #[arg(long, default_value = "com.apple.mgmt.External.device-sim")]
    topic: String,
    /// Number of devices.
    #[arg(long, default_value_t = 10)]
    devices: u64,
    /// Rounds (command round trips) per device.
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// Devices working at the same time.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Answer every n-th command with NotNow.
    #[arg(long)]
    not_now_every: Option<u32>,
    /// Answer every n-th command with Error.
    #[arg(long)]
    error_every: Option<u32>,
    /// First device number (to run several simulators side by side).
    #[arg(long, default_value_t = 0)]
    first: u64,
}

#[derive(Debug, Default)]
struct Totals {
    timings: Vec<Duration>,
    commands: u64,
    acknowledged: u64,
    not_now: u64,
    errors: u64,
    failures: Vec<String>,
}

fn command_plist(uuid: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\
<key>CommandUUID</key><string>{uuid}</string><key>Command</key><dict>\
<key>RequestType</key><string>DeviceInformation</string><key>Queries</key><array>\
<string>OSVersion</string><string>SerialNumber</string></array></dict></dict></plist>"
    )
    .into_bytes()
}

async fn run_device(
    args: &Args,
    n: u64,
) -> Result<(Vec<Duration>, device_sim::SessionStats), String> {
    let endpoints = Endpoints::on(&args.server, &args.topic);
    let mut device = Device::new(DeviceInfo::iphone(n), endpoints).map_err(|e| e.to_string())?;
    let mut behaviour = Behaviour::default();
    behaviour.not_now_every = args.not_now_every;
    behaviour.error_every = args.error_every;
    device.behaviour = behaviour;
    device.enroll().await.map_err(|e| format!("enroll: {e}"))?;
    let auth = args.api_key.as_ref().map(|key| {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("device-sim:{key}"));
        ("authorization", format!("Basic {basic}"))
    });
    let mut total = device_sim::SessionStats::default();
    for _ in 0..args.rounds {
        let uuid = uuid::Uuid::new_v4().to_string();
        let url = format!("/v1/enqueue/{}?nopush=1", device.info.udid);
        let headers: Vec<_> = auth.iter().cloned().collect();
        let answer = device
            .request(Method::PUT, &url, &headers, command_plist(&uuid))
            .await
            .map_err(|e| format!("enqueue: {e}"))?;
        if !(200..300).contains(&answer.status) {
            return Err(format!("enqueue: HTTP {}", answer.status));
        }
        let stats = device
            .connect()
            .await
            .map_err(|e| format!("connect: {e}"))?;
        total.commands += stats.commands;
        total.acknowledged += stats.acknowledged;
        total.not_now += stats.not_now;
        total.errors += stats.errors;
    }
    Ok((std::mem::take(&mut device.timings), total))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let args = std::sync::Arc::new(Args::parse());
    let started = Instant::now();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let mut tasks = Vec::new();
    for n in args.first..args.first + args.devices {
        let args = args.clone();
        let semaphore = semaphore.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = semaphore.acquire().await;
            run_device(&args, n).await
        }));
    }
    let mut totals = Totals::default();
    for task in tasks {
        match task.await {
            Ok(Ok((timings, stats))) => {
                totals.timings.extend(timings);
                totals.commands += u64::from(stats.commands);
                totals.acknowledged += u64::from(stats.acknowledged);
                totals.not_now += u64::from(stats.not_now);
                totals.errors += u64::from(stats.errors);
            }
            Ok(Err(e)) => totals.failures.push(e),
            Err(e) => totals.failures.push(e.to_string()),
        }
    }
    let elapsed = started.elapsed();
    totals.timings.sort();
    let requests = totals.timings.len();
    let summary = serde_json::json!({
        "devices": args.devices,
        "rounds": args.rounds,
        "requests": requests,
        "seconds": elapsed.as_secs_f64(),
        "requests_per_second": requests as f64 / elapsed.as_secs_f64().max(1e-9),
        "p50_ms": percentile(&totals.timings, 50.0).as_secs_f64() * 1000.0,
        "p99_ms": percentile(&totals.timings, 99.0).as_secs_f64() * 1000.0,
        "commands": totals.commands,
        "acknowledged": totals.acknowledged,
        "not_now": totals.not_now,
        "errors": totals.errors,
        "failed_devices": totals.failures.len(),
        "first_failure": totals.failures.first(),
    });
    println!("{summary}");
    if !totals.failures.is_empty() {
        std::process::exit(1);
    }
}
