//! `device-sim`: many simulated devices against an MDM server, with a load report.
//!
//! Two phases. Enrollment: each device checks in (Authenticate, TokenUpdate) on the usual
//! paths, or with `--enroll` enrolls as a real device does (enrollment profile, SCEP, then
//! check-ins signed with `Mdm-Signature`). Commands: for every round the simulator queues a
//! DeviceInformation command for each device through the server's NanoMDM-compatible API
//! (`PUT /v1/enqueue/<id>?nopush=1`) and the device connects: Idle, the command,
//! Acknowledged. A round trip is that connection, timed from the Idle to the server's empty
//! answer after the acknowledgement. With `--apns-mock`, devices wake on the pushes the server
//! sends through a mock APNs in this process instead: commands are queued with a push, and a
//! round trip is timed from the enqueue to the acknowledged report. With `--queue-first`
//! each round queues every device's command first and then lets every device connect. The
//! report (JSON on stdout) gives each phase's rate and latency percentiles, and with
//! `--server-pid` the server's CPU time per phase and per request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use apns_client::mock::{MockApns, TestPki};
use base64::Engine;
use clap::Parser;
use device_sim::http::{Client, Trust};
use device_sim::wake::{PushRouter, PushWaker};
use device_sim::{Behaviour, Device, DeviceInfo, Endpoints, EnrollOptions, Method};

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
    #[arg(long, env = "DEVICE_SIM_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// For an `https://` server: trust only the certificates in this PEM file (a server
    /// with its own certificate). Without it, the system's roots.
    #[arg(long, env = "DEVICE_SIM_CA_FILE")]
    ca_file: Option<std::path::PathBuf>,
    /// Push topic the devices check in with (without `--enroll`; with it, the profile's).
    #[arg(long, default_value = "com.apple.mgmt.External.device-sim")]
    topic: String,
    /// Enroll as a real device: fetch `<server>/mdm/enroll`, get an identity by SCEP, and
    /// sign every request with it. Without it, devices check in unsigned.
    #[arg(long)]
    enroll: bool,
    /// With `--enroll`: RSA key size (default: the profile's Keysize, usually 2048).
    #[arg(long)]
    key_bits: Option<usize>,
    /// With `--enroll`: generate one key and let every device use it (key generation is
    /// the slow part of enrolling thousands of devices).
    #[arg(long)]
    shared_key: bool,
    /// With `--enroll`: fetch the unsigned profile (`?unsigned=1`).
    #[arg(long)]
    unsigned_profile: bool,
    /// With `--enroll`: the enrollment token to fetch the profile with (the `token` of an
    /// enrollment link). Default, with `--api-key`: one token for all devices, made
    /// through the admin API (`POST /v1/enrollment-tokens`); without either, no token
    /// (a server started with `--open-enrollment`).
    #[arg(long, env = "DEVICE_SIM_ENROLL_TOKEN", hide_env_values = true)]
    enroll_token: Option<String>,
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
    /// Send CheckOut from every device at the end.
    #[arg(long)]
    check_out: bool,
    /// First device number (to run several simulators side by side).
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Run a mock APNs on this address in the simulator's process and wake the devices on
    /// the pushes the server sends through it (start the server with `--apns-url
    /// https://ADDR --apns-ca FILE`). Commands are then queued without `nopush`, and a round
    /// trip is timed from the enqueue to the acknowledged report: enqueue, push, connect,
    /// report. The simulator uploads the mock's push certificate for `--topic` to the server.
    #[arg(long)]
    apns_mock: Option<std::net::SocketAddr>,
    /// With `--apns-mock`: where to write the mock's CA certificate (PEM), for the server's
    /// `--apns-ca`. The simulator then waits for the server's `/health` before it starts.
    #[arg(long)]
    apns_mock_ca: Option<std::path::PathBuf>,
    /// With `--apns-mock`: how long a device waits for its push before it gives up.
    #[arg(long, default_value_t = 30)]
    push_wait_seconds: u64,
    /// Queue each round's commands for all devices first, then let all devices connect
    /// (instead of each device queueing its own command just before it connects), so the
    /// device requests run apart from the admin API's. Not with `--apns-mock`.
    #[arg(long, conflicts_with = "apns_mock")]
    queue_first: bool,
    /// The server's process ID, when it runs on this machine (Linux): the report then gives
    /// the server's CPU time (user + system, from `/proc/PID/stat`) per phase and per
    /// request. With `--queue-first` the device requests (Idle, reports) are counted apart
    /// from the enqueues.
    #[arg(long)]
    server_pid: Option<u32>,
}

/// CPU time (user + system) a process has used so far, from `/proc/PID/stat` (Linux).
fn process_cpu(pid: u32) -> Result<Duration, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // The command name (field 2) may hold spaces: the fields after it start past its `)`.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("/proc/{pid}/stat: no `)`"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("/proc/{pid}/stat: no field {}", i + 3))
    };
    // /proc counts in USER_HZ, 100 per second on Linux.
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// Server CPU time spent while phases ran, summed over the calls to [`CpuMeter::measure`].
#[derive(Debug, Default, Clone, Copy)]
struct CpuMeter {
    total: Duration,
}

impl CpuMeter {
    /// Runs `work`, adding the server's CPU time meanwhile (nothing without a PID).
    async fn measure<T>(
        &mut self,
        pid: Option<u32>,
        work: impl std::future::Future<Output = T>,
    ) -> Result<T, String> {
        let before = pid.map(process_cpu).transpose()?;
        let out = work.await;
        if let (Some(pid), Some(before)) = (pid, before) {
            self.total += process_cpu(pid)?.saturating_sub(before);
        }
        Ok(out)
    }

    fn report(&self, requests: usize) -> serde_json::Value {
        let ms = self.total.as_secs_f64() * 1e3;
        serde_json::json!({
            "cpu_ms": ms,
            "requests": requests,
            "cpu_ms_per_request": if requests > 0 {
                (ms / requests as f64 * 1e4).round() / 1e4
            } else {
                0.0
            },
        })
    }
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

async fn enroll_device(
    args: &Args,
    n: u64,
    options: &EnrollOptions,
    http: &Client,
) -> Result<(Device, Duration), String> {
    let started = Instant::now();
    let mut device = if args.enroll {
        Device::enroll_from_profile(DeviceInfo::iphone(n), &args.server, options)
            .await
            .map_err(|e| format!("device {n}: enroll: {e}"))?
    } else {
        let endpoints = Endpoints::on(&args.server, &args.topic);
        let mut device = Device::new(DeviceInfo::iphone(n), endpoints)
            .and_then(|d| d.with_http_client(http.clone()))
            .map_err(|e| e.to_string())?;
        device
            .enroll()
            .await
            .map_err(|e| format!("device {n}: check-in: {e}"))?;
        device
    };
    let elapsed = started.elapsed();
    let mut behaviour = Behaviour::default();
    behaviour.not_now_every = args.not_now_every;
    behaviour.error_every = args.error_every;
    device.behaviour = behaviour;
    Ok((device, elapsed))
}

/// What one device's command phase measured.
#[derive(Debug, Default)]
struct CommandRun {
    round_trips: Vec<Duration>,
    requests: Vec<Duration>,
    enqueues: Vec<Duration>,
    stats: device_sim::SessionStats,
}

fn admin_headers(args: &Args) -> Vec<(&'static str, String)> {
    args.api_key
        .iter()
        .map(|key| {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("device-sim:{key}"));
            ("authorization", format!("Basic {basic}"))
        })
        .collect()
}

/// Queues one DeviceInformation command for `device` (with a push when `push`).
async fn enqueue_for(
    device: &mut Device,
    headers: &[(&str, String)],
    push: bool,
) -> Result<Duration, String> {
    let uuid = uuid::Uuid::new_v4().to_string();
    let url = if push {
        format!("/v1/enqueue/{}", device.info.udid)
    } else {
        format!("/v1/enqueue/{}?nopush=1", device.info.udid)
    };
    let enqueued = Instant::now();
    let answer = device
        .request(Method::PUT, &url, headers, command_plist(&uuid))
        .await
        .map_err(|e| format!("enqueue: {e}"))?;
    let elapsed = enqueued.elapsed();
    if !(200..300).contains(&answer.status) {
        return Err(format!(
            "enqueue: HTTP {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ));
    }
    Ok(elapsed)
}

/// One connection of `device`: Idle, the commands, the reports.
async fn connect_once(device: &mut Device, run: &mut CommandRun) -> Result<u32, String> {
    let stats = device
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    run.stats.commands += stats.commands;
    run.stats.acknowledged += stats.acknowledged;
    run.stats.not_now += stats.not_now;
    run.stats.errors += stats.errors;
    Ok(stats.commands)
}

async fn command_rounds(
    args: &Args,
    device: &mut Device,
    waker: Option<&PushWaker>,
) -> Result<CommandRun, String> {
    let headers = admin_headers(args);
    let mut run = CommandRun::default();
    device.timings.clear();
    let push_wait = Duration::from_secs(args.push_wait_seconds);
    for _ in 0..args.rounds {
        let enqueued = Instant::now();
        run.enqueues
            .push(enqueue_for(device, &headers, waker.is_some()).await?);
        let started = match waker {
            Some(_) => enqueued,
            None => Instant::now(),
        };
        // Connect when woken, until the command is answered (a push kept from earlier may
        // wake the device before this one's command is there).
        loop {
            if let Some(waker) = waker {
                waker
                    .wait(push_wait)
                    .await
                    .map_err(|e| format!("push: {e}"))?;
            }
            let commands = connect_once(device, &mut run).await?;
            if waker.is_none() || commands > 0 {
                break;
            }
        }
        run.round_trips.push(started.elapsed());
    }
    run.requests = std::mem::take(&mut device.timings);
    Ok(run)
}

/// The command phase of `--queue-first`: per round, every device's command queued, then
/// every device connecting. Returns the devices with what each measured, and the server's
/// CPU time during the enqueues and during the connections.
async fn queue_first_rounds(
    args: &Arc<Args>,
    devices: Vec<Device>,
) -> Result<
    (
        Vec<(Device, Result<CommandRun, String>)>,
        CpuMeter,
        CpuMeter,
    ),
    String,
> {
    let mut state: Vec<(Device, Result<CommandRun, String>)> = devices
        .into_iter()
        .map(|mut d| {
            d.timings.clear();
            (d, Ok(CommandRun::default()))
        })
        .collect();
    let (mut enqueue_cpu, mut connect_cpu) = (CpuMeter::default(), CpuMeter::default());
    for _ in 0..args.rounds {
        let headers = Arc::new(admin_headers(args));
        state = enqueue_cpu
            .measure(
                args.server_pid,
                run_all(state, args.concurrency, move |(mut device, run)| {
                    let headers = Arc::clone(&headers);
                    async move {
                        let run = match run {
                            Ok(mut run) => {
                                enqueue_for(&mut device, &headers, false).await.map(|t| {
                                    run.enqueues.push(t);
                                    run
                                })
                            }
                            failed => failed,
                        };
                        (device, run)
                    }
                }),
            )
            .await?;
        state = connect_cpu
            .measure(
                args.server_pid,
                run_all(state, args.concurrency, |(mut device, run)| async move {
                    let run = match run {
                        Ok(mut run) => {
                            let started = Instant::now();
                            connect_once(&mut device, &mut run).await.map(|_| {
                                run.round_trips.push(started.elapsed());
                                run
                            })
                        }
                        failed => failed,
                    };
                    (device, run)
                }),
            )
            .await?;
    }
    for (device, run) in &mut state {
        if let Ok(run) = run {
            run.requests = std::mem::take(&mut device.timings);
        }
    }
    Ok((state, enqueue_cpu, connect_cpu))
}

/// Starts the mock APNs of `--apns-mock`, writes its CA for the server, waits until the
/// server answers, and uploads the mock's push certificate for `--topic`.
async fn start_apns_mock(
    args: &Args,
    addr: std::net::SocketAddr,
    http: &Client,
) -> Result<(MockApns, PushRouter), String> {
    let pki = TestPki::new().map_err(|e| format!("mock APNs: {e}"))?;
    let mock = MockApns::builder(&pki)
        .bind(addr)
        .start()
        .await
        .map_err(|e| format!("mock APNs on {addr}: {e}"))?;
    let router = PushRouter::from_mock(&mock);
    if let Some(path) = &args.apns_mock_ca {
        std::fs::write(path, pem("CERTIFICATE", pki.ca_der()))
            .map_err(|e| format!("--apns-mock-ca {}: {e}", path.display()))?;
    }
    let base = args.server.trim_end_matches('/');
    let mut connection = device_sim::http::Connection::with_client(base, http.clone())
        .map_err(|e| format!("server: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match connection
            .send(Method::GET, &format!("{base}/health"), &[], Vec::new())
            .await
        {
            Ok(a) if a.status == 200 => break,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            other => return Err(format!("the server at {base} did not come up: {other:?}")),
        }
    }
    let (chain, key) = pki
        .client_parts(&args.topic)
        .map_err(|e| format!("mock APNs: {e}"))?;
    let mut body = String::new();
    for cert in &chain {
        body.push_str(&pem("CERTIFICATE", cert));
    }
    body.push_str(&pem("PRIVATE KEY", key.der()));
    let key = args.api_key.as_deref().unwrap_or_default();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("device-sim:{key}"));
    let headers = [("authorization", format!("Basic {basic}"))];
    let answer = connection
        .send(
            Method::PUT,
            &format!("{base}/v1/pushcert"),
            &headers,
            body.into_bytes(),
        )
        .await
        .map_err(|e| format!("push certificate: {e}"))?;
    if !(200..300).contains(&answer.status) {
        return Err(format!(
            "push certificate: HTTP {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ));
    }
    Ok((mock, router))
}

/// One PEM block (the workspace's encoder, through scep-proto).
fn pem(label: &str, der: &[u8]) -> String {
    scep_proto::mdm_pki::pem::encode(label, der)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn latency(mut v: Vec<Duration>) -> serde_json::Value {
    v.sort();
    let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    serde_json::json!({
        "count": v.len(),
        "p50_ms": ms(percentile(&v, 50.0)),
        "p90_ms": ms(percentile(&v, 90.0)),
        "p99_ms": ms(percentile(&v, 99.0)),
        "max_ms": ms(v.last().copied().unwrap_or_default()),
    })
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    (count as f64 / elapsed.as_secs_f64().max(1e-9) * 10.0).round() / 10.0
}

/// Runs `work` for every item with at most `concurrency` at once, keeping the order.
async fn run_all<T, R, F, Fut>(items: Vec<T>, concurrency: usize, work: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = R> + Send + 'static,
{
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let work = Arc::new(work);
    let mut tasks = Vec::with_capacity(items.len());
    for item in items {
        let semaphore = Arc::clone(&semaphore);
        let work = Arc::clone(&work);
        tasks.push(tokio::spawn(async move {
            let _permit = semaphore.acquire().await;
            work(item).await
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(r) => out.push(r),
            Err(e) => {
                eprintln!("device-sim: a task failed: {e}");
            }
        }
    }
    out
}

/// One enrollment token for `devices` devices, made through the admin API.
async fn enrollment_token(
    http: &Client,
    server: &str,
    api_key: &str,
    devices: u64,
) -> Result<String, String> {
    let base = server.trim_end_matches('/');
    let mut connection = device_sim::http::Connection::with_client(base, http.clone())
        .map_err(|e| format!("enrollment token: {e}"))?;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("device-sim:{api_key}"));
    let headers = [
        ("authorization", format!("Basic {basic}")),
        ("content-type", "application/json".to_owned()),
    ];
    let body = serde_json::json!({ "uses": devices.max(1), "expires_in": 86_400 });
    let answer = connection
        .send(
            Method::POST,
            &format!("{base}/v1/enrollment-tokens"),
            &headers,
            body.to_string().into_bytes(),
        )
        .await
        .map_err(|e| format!("enrollment token: {e}"))?;
    if answer.status != 201 {
        return Err(format!(
            "enrollment token: HTTP {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ));
    }
    serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|j| j["token"].as_str().map(str::to_owned))
        .ok_or_else(|| "enrollment token: no `token` in the answer".to_owned())
}

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
    let mut failures: Vec<String> = Vec::new();

    let http = match Client::new(&Trust::from_ca_file(args.ca_file.as_deref())) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("device-sim: {e}");
            std::process::exit(2);
        }
    };
    let mut options = EnrollOptions::default()
        .with_unsigned_profile(args.unsigned_profile)
        .with_http_client(http.clone());
    options.key_bits = args.key_bits;
    if args.enroll && args.shared_key {
        match device_sim::enroll::generate_key(args.key_bits.unwrap_or(2048)).await {
            Ok(key) => options = options.with_key(key),
            Err(e) => {
                eprintln!("device-sim: {e}");
                std::process::exit(2);
            }
        }
    }
    if args.enroll {
        let token = match (&args.enroll_token, &args.api_key) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(key)) => {
                match enrollment_token(&http, &args.server, key, args.devices).await {
                    Ok(token) => Some(token),
                    Err(e) => {
                        eprintln!("device-sim: {e}");
                        std::process::exit(2);
                    }
                }
            }
            (None, None) => None,
        };
        if let Some(token) = token {
            options = options.with_token(token);
        }
    }
    let options = Arc::new(options);

    // The mock APNs, before any device enrolls (the server needs its push certificate).
    let mut apns = None;
    if let Some(addr) = args.apns_mock {
        match start_apns_mock(&args, addr, &http).await {
            Ok(started) => apns = Some(started),
            Err(e) => {
                eprintln!("device-sim: {e}");
                std::process::exit(2);
            }
        }
    }
    let router = apns.as_ref().map(|(_, router)| router.clone());

    // Phase 1: enrollment.
    let started = Instant::now();
    let numbers: Vec<u64> = (args.first..args.first + args.devices).collect();
    let mut enroll_cpu = CpuMeter::default();
    let enrolled = {
        let args2 = Arc::clone(&args);
        enroll_cpu
            .measure(
                args.server_pid,
                run_all(numbers, args.concurrency, move |n| {
                    let args = Arc::clone(&args2);
                    let options = Arc::clone(&options);
                    let http = http.clone();
                    async move { enroll_device(&args, n, &options, &http).await }
                }),
            )
            .await
    };
    let enrolled = match enrolled {
        Ok(enrolled) => enrolled,
        Err(e) => {
            eprintln!("device-sim: --server-pid: {e}");
            std::process::exit(2);
        }
    };
    let enroll_elapsed = started.elapsed();
    let mut devices = Vec::new();
    let mut enroll_times = Vec::new();
    for r in enrolled {
        match r {
            Ok((device, t)) => {
                devices.push(device);
                enroll_times.push(t);
            }
            Err(e) => failures.push(e),
        }
    }
    let enrolled_count = devices.len();
    // A marker for scripts that profile the command phase only (scripts/bench.sh).
    eprintln!(
        "device-sim: {enrolled_count} devices enrolled in {:.1} s; command phase next",
        enroll_elapsed.as_secs_f64()
    );

    // Phase 2: command round trips.
    let started = Instant::now();
    let mut command_cpu = CpuMeter::default();
    let mut split_cpu = None;
    let results = if args.queue_first {
        match queue_first_rounds(&args, devices).await {
            Ok((results, enqueue_cpu, connect_cpu)) => {
                command_cpu.total = enqueue_cpu.total + connect_cpu.total;
                split_cpu = Some((enqueue_cpu, connect_cpu));
                results
            }
            Err(e) => {
                eprintln!("device-sim: --server-pid: {e}");
                std::process::exit(2);
            }
        }
    } else {
        let args2 = Arc::clone(&args);
        let measured = command_cpu
            .measure(
                args.server_pid,
                run_all(devices, args.concurrency, move |mut device| {
                    let args = Arc::clone(&args2);
                    let waker = router
                        .as_ref()
                        .map(|r| r.register(&device.push_token_hex()));
                    async move {
                        let run = command_rounds(&args, &mut device, waker.as_ref()).await;
                        (device, run)
                    }
                }),
            )
            .await;
        match measured {
            Ok(results) => results,
            Err(e) => {
                eprintln!("device-sim: --server-pid: {e}");
                std::process::exit(2);
            }
        }
    };
    let command_elapsed = started.elapsed();
    let mut round_trips = Vec::new();
    let mut requests = Vec::new();
    let mut enqueues = Vec::new();
    let mut totals = device_sim::SessionStats::default();
    let mut devices = Vec::new();
    for (device, run) in results {
        match run {
            Ok(run) => {
                round_trips.extend(run.round_trips);
                requests.extend(run.requests);
                enqueues.extend(run.enqueues);
                totals.commands += run.stats.commands;
                totals.acknowledged += run.stats.acknowledged;
                totals.not_now += run.stats.not_now;
                totals.errors += run.stats.errors;
            }
            Err(e) => failures.push(format!("device {}: {e}", device.info.udid)),
        }
        devices.push(device);
    }
    let completed = round_trips.len();

    // Phase 3 (optional): CheckOut.
    let mut check_out = serde_json::Value::Null;
    if args.check_out {
        let started = Instant::now();
        let results = run_all(devices, args.concurrency, |mut device| async move {
            let started = Instant::now();
            let r = device.check_out().await;
            (device.info.udid.clone(), r.map(|()| started.elapsed()))
        })
        .await;
        let elapsed = started.elapsed();
        let mut times = Vec::new();
        for (udid, r) in results {
            match r {
                Ok(t) => times.push(t),
                Err(e) => failures.push(format!("device {udid}: check-out: {e}")),
            }
        }
        check_out = serde_json::json!({
            "seconds": elapsed.as_secs_f64(),
            "per_second": rate(times.len(), elapsed),
            "latency": latency(times),
        });
    }

    // Server CPU: enrollment per device (each makes several requests), the command phase
    // per device request (Idle and reports; without --queue-first the enqueues run in the
    // same time and are counted too), and with --queue-first the two apart.
    let server_cpu = match args.server_pid {
        None => serde_json::Value::Null,
        Some(pid) => {
            let mut v = serde_json::json!({
                "pid": pid,
                "enrollment_per_device": enroll_cpu.report(enrolled_count),
                "commands_per_device_request": command_cpu.report(requests.len()),
            });
            if let Some((enqueue_cpu, connect_cpu)) = split_cpu {
                v["enqueues_only"] = enqueue_cpu.report(enqueues.len());
                v["device_requests_only"] = connect_cpu.report(requests.len());
            }
            v
        }
    };
    let summary = serde_json::json!({
        "server": args.server,
        "devices": args.devices,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "enroll_mode": if args.enroll { "profile+scep+signed" } else { "unsigned check-ins" },
        "enrollment": {
            "enrolled": enrolled_count,
            "seconds": enroll_elapsed.as_secs_f64(),
            "per_second": rate(enrolled_count, enroll_elapsed),
            "latency": latency(enroll_times),
        },
        "commands": {
            "woken_by_push": apns.is_some(),
            "round_trips": completed,
            "seconds": command_elapsed.as_secs_f64(),
            "round_trips_per_second": rate(completed, command_elapsed),
            "round_trip_latency": latency(round_trips),
            "device_request_latency": latency(requests),
            "enqueue_latency": latency(enqueues),
            "commands": totals.commands,
            "acknowledged": totals.acknowledged,
            "not_now": totals.not_now,
            "errors": totals.errors,
        },
        "check_out": check_out,
        "server_cpu": server_cpu,
        "failed": failures.len(),
        "first_failure": failures.first(),
    });
    println!("{summary}");
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
