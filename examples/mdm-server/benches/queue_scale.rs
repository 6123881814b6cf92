//! The queue at scale (issue 15, item 2; issue 18, item 3): 10,000 enrollments and up to
//! 1,000,000 queued commands (one target each) on SQLite or PostgreSQL, with the enqueue rate
//! while the queue fills and the latency of an `Idle` -> command and of an `Acknowledged` ->
//! next answer over real HTTP at each size. Prints one Markdown table row per size.
//!
//! ```sh
//! cargo bench -p mdm-server --bench queue_scale -- sqlite
//! psql postgres://postgres@127.0.0.1:5432/test -c 'CREATE SCHEMA qs'
//! cargo bench -p mdm-server --bench queue_scale -- \
//!     'postgres://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dqs'
//! ```
//!
//! At each size it also measures the enqueue rate *at* that size (`QS_RATE_ROWS` single-target
//! commands, `QS_TASKS` tasks; rows/s and CPU time per row of this process and PostgreSQL's,
//! which a loaded machine disturbs less), a bulk enqueue (one command to every enrollment), and the bytes one
//! queued row costs (the queue table and its indexes). Before the sizes, it compares the
//! lookup of a device with no answered commands against one with `QS_ANSWERED` answered.
//!
//! Environment: `QS_ENROLLMENTS` (10000), `QS_POINTS` (`0,100000,1000000`), `QS_SAMPLES`
//! (500 connections per size), `QS_RATE_ROWS` (20000), `QS_ANSWERED` (1000), `QS_TASKS` (4
//! enqueuing tasks), `QS_STATEMENTS` (on PostgreSQL with `pg_stat_statements` loaded: `1`
//! prints, after each size's connections, the statements they ran with their calls, mean
//! time and shared blocks hit / read / dirtied per call).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdm_server::app::{Config, Server};
use mdm_server::storage::{self, EnrollmentKey, NewCommand, PushInfo, Storage};
use mdm_test_support::http::request;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn udid(n: usize) -> String {
    format!("QS-{n:08}")
}

fn command(uuid: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\
<key>CommandUUID</key><string>{uuid}</string><key>Command</key><dict>\
<key>RequestType</key><string>DeviceInformation</string><key>Queries</key><array>\
<string>OSVersion</string><string>SerialNumber</string></array></dict></dict></plist>"
    )
    .into_bytes()
}

fn report(udid: &str, status: &str, uuid: Option<&str>) -> Vec<u8> {
    let uuid = uuid
        .map(|u| format!("<key>CommandUUID</key><string>{u}</string>"))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\
<key>UDID</key><string>{udid}</string><key>Status</key><string>{status}</string>{uuid}</dict></plist>"
    )
    .into_bytes()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// The PostgreSQL server's main process when it runs on this machine (the parent of a
/// backend of ours), so [`cpu_time`] counts that server's processes only, not another
/// cluster's on the same machine.
static POSTMASTER: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// A field of /proc/PID/stat after the command: state(0), ppid(1) ... utime(11) stime(12).
fn stat_field(stat: &str, i: usize) -> u64 {
    stat.rsplit_once(')')
        .and_then(|(_, after)| after.split_whitespace().nth(i))
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or(0)
}

/// Notes the server's main process (see [`POSTMASTER`]).
async fn find_postmaster(url: &str) {
    let Ok((c, conn)) = tokio_postgres::connect(url, tokio_postgres::NoTls).await else {
        return;
    };
    tokio::spawn(conn);
    let Ok(row) = c.query_one("SELECT pg_backend_pid()", &[]).await else {
        return;
    };
    let backend: i32 = row.get(0);
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{backend}/stat")) {
        let _ = POSTMASTER.set(stat_field(&stat, 1));
    }
}

/// CPU time (user + system) of this process and of the PostgreSQL server's processes (those
/// of [`POSTMASTER`] when known, else every PostgreSQL process on the machine), from /proc
/// (Linux; zero elsewhere): the storage's work whichever store it is.
fn cpu_time() -> Duration {
    fn ticks(stat: &str) -> u64 {
        stat_field(stat, 11) + stat_field(stat, 12)
    }
    let postmaster = POSTMASTER.get().copied();
    let mut total = std::fs::read_to_string("/proc/self/stat")
        .map(|s| ticks(&s))
        .unwrap_or(0);
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.starts_with("postgres") {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let pid = entry
                .file_name()
                .to_string_lossy()
                .parse::<u64>()
                .unwrap_or(0);
            let ours = postmaster.is_none_or(|p| p == pid || p == stat_field(&stat, 1));
            if ours {
                total += ticks(&stat);
            }
        }
    }
    Duration::from_millis(total * 10)
}

/// Enqueues `count` commands, round-robin over the enrollments, from `first`; rows/s.
async fn fill(
    s: &Arc<dyn Storage>,
    enrollments: usize,
    first: usize,
    count: usize,
    now: i64,
) -> f64 {
    if count == 0 {
        return 0.0;
    }
    let started = Instant::now();
    let workers: usize = env("QS_TASKS", "4").parse().unwrap();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let s = Arc::clone(s);
        tasks.push(tokio::spawn(async move {
            let mut i = first + w;
            while i < first + count {
                // Random, as real command UUIDs are (sequential ones would only append).
                let uuid = uuid::Uuid::new_v4().to_string().to_uppercase();
                let c = NewCommand::new(&uuid, "DeviceInformation", command(&uuid));
                s.enqueue(&c, &[udid(i % enrollments)], now).await.unwrap();
                i += workers;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    count as f64 / started.elapsed().as_secs_f64()
}

/// The bytes the queue costs per row: (queue table and its indexes, the same plus the
/// interned target ids), divided by the rows in the queue.
async fn bytes_per_row(url: &str) -> (f64, f64) {
    if let Some(path) = url.strip_prefix("sqlite:") {
        let c = rusqlite::Connection::open(path).unwrap();
        let size = |tables: &str| -> f64 {
            c.query_row(
                &format!(
                    "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN \
                     (SELECT name FROM sqlite_schema WHERE tbl_name IN ({tables}))"
                ),
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap() as f64
        };
        let rows: i64 = c
            .query_row("SELECT COUNT(*) FROM queue", [], |r| r.get(0))
            .unwrap();
        let rows = rows.max(1) as f64;
        (
            size("'queue'") / rows,
            size("'queue', 'queue_targets'") / rows,
        )
    } else {
        let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let size = |table: &'static str| {
            let c = &c;
            async move {
                let exists: bool = c
                    .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
                    .await
                    .unwrap()
                    .get(0);
                if !exists {
                    return 0.0;
                }
                let q = format!("SELECT pg_total_relation_size('{table}')");
                c.query_one(q.as_str(), &[]).await.unwrap().get::<_, i64>(0) as f64
            }
        };
        let rows: i64 = c
            .query_one("SELECT COUNT(*) FROM queue", &[])
            .await
            .unwrap()
            .get(0);
        let rows = rows.max(1) as f64;
        let queue = size("queue").await;
        (queue / rows, (queue + size("queue_targets").await) / rows)
    }
}

/// With `QS_STATEMENTS=1` on PostgreSQL: `pg_stat_statements` is emptied (`reset`) or the
/// statements run since are printed, most total time first. Nothing when the extension is
/// not loaded.
async fn statements(url: &str, reset: bool) {
    if url.starts_with("sqlite:") || env("QS_STATEMENTS", "0") != "1" {
        return;
    }
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    // The extension's schema is not on the bench's search path.
    let schema: Option<String> = c
        .query_opt(
            "SELECT n.nspname::text FROM pg_extension e \
             JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'",
            &[],
        )
        .await
        .ok()
        .flatten()
        .map(|r| r.get(0));
    let Some(schema) = schema else {
        eprintln!("QS_STATEMENTS: no pg_stat_statements extension in this database");
        return;
    };
    if reset {
        let reset = format!("SELECT \"{schema}\".pg_stat_statements_reset()");
        if let Err(e) = c.batch_execute(&reset).await {
            eprintln!("QS_STATEMENTS: {e:?}");
        }
        return;
    }
    let rows = c
        .query(
            &format!(
                "SELECT calls, mean_exec_time, shared_blks_hit::float8 / calls, \
             shared_blks_read::float8 / calls, shared_blks_dirtied::float8 / calls, \
             shared_blks_written::float8 / calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) \
             FROM \"{schema}\".pg_stat_statements \
             WHERE calls > 0 AND query NOT LIKE '%pg_stat_statements%' \
             ORDER BY total_exec_time DESC LIMIT 8"
            ),
            &[],
        )
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("QS_STATEMENTS: {e:?}");
            return;
        }
    };
    eprintln!(
        "| calls | mean ms | hit/call | read/call | dirtied/call | written/call | statement |"
    );
    for r in rows {
        eprintln!(
            "| {} | {:.3} | {:.1} | {:.1} | {:.1} | {:.1} | `{}` |",
            r.get::<_, i64>(0),
            r.get::<_, f64>(1),
            r.get::<_, f64>(2),
            r.get::<_, f64>(3),
            r.get::<_, f64>(4),
            r.get::<_, f64>(5),
            r.get::<_, String>(6),
        );
    }
}

/// One command to every enrollment; rows/s.
async fn bulk(s: &Arc<dyn Storage>, enrollments: usize, n: usize, now: i64) -> f64 {
    let targets: Vec<String> = (0..enrollments).map(udid).collect();
    let uuid = format!("bulk-{n:04}");
    let c = NewCommand::new(&uuid, "DeviceInformation", command(&uuid));
    let started = Instant::now();
    s.enqueue(&c, &targets, now).await.unwrap();
    enrollments as f64 / started.elapsed().as_secs_f64()
}

/// One connection: `Idle` → the next command (timed), then `Acknowledged` (timed).
async fn connect(addr: std::net::SocketAddr, id: &str, point: usize) -> (Duration, Duration) {
    let t = Instant::now();
    let r = request(addr, "PUT", "/mdm", &[], &report(id, "Idle", None)).await;
    let idle = t.elapsed();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = mdm_proto::parse_dictionary(&r.body, &mdm_proto::Limits::MDM)
        .unwrap_or_else(|e| panic!("{id}: no command at {point}: {e}"));
    let uuid = body
        .get("CommandUUID")
        .and_then(|v| v.as_string())
        .unwrap()
        .to_owned();
    let t = Instant::now();
    let r = request(
        addr,
        "PUT",
        "/mdm",
        &[],
        &report(id, "Acknowledged", Some(&uuid)),
    )
    .await;
    let ack = t.elapsed();
    assert_eq!(r.status, 200);
    (idle, ack)
}

/// Idle → command of a device with no answered commands and of one with `answered`, each
/// with one command waiting per connection.
async fn answered_rows(
    s: &Arc<dyn Storage>,
    addr: std::net::SocketAddr,
    answered: usize,
    samples: usize,
    now: i64,
) {
    let (fresh, old) = (udid(0), udid(1));
    for i in 0..answered {
        let uuid = format!("answered-{i:08}");
        let c = NewCommand::new(&uuid, "DeviceInformation", command(&uuid));
        s.enqueue(&c, std::slice::from_ref(&old), now)
            .await
            .unwrap();
        s.take(&old, &uuid, now).await.unwrap();
        s.record_report(&old, &uuid, "Acknowledged", b"ok", now)
            .await
            .unwrap();
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for k in 0..samples {
        for (id, out) in [(&fresh, &mut a), (&old, &mut b)] {
            let uuid = format!("one-{k:06}-{id}");
            let c = NewCommand::new(&uuid, "DeviceInformation", command(&uuid));
            s.enqueue(&c, std::slice::from_ref(id), now).await.unwrap();
            out.push(connect(addr, id, 0).await.0);
        }
    }
    a.sort();
    b.sort();
    println!("| answered commands of the device | Idle → command p50 | p99 |");
    println!("|---|---|---|");
    println!(
        "| 0 | {:.2} ms | {:.2} ms |",
        percentile(&a, 50.0),
        percentile(&a, 99.0)
    );
    println!(
        "| {answered} | {:.2} ms | {:.2} ms |",
        percentile(&b, 50.0),
        percentile(&b, 99.0)
    );
    println!();
}

#[tokio::main]
async fn main() {
    // The server reads the clock: rows are written a minute in the past, so they are ready.
    let now = storage::now() - 60;
    let target = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "sqlite".into());
    let enrollments: usize = env("QS_ENROLLMENTS", "10000").parse().unwrap();
    let samples: usize = env("QS_SAMPLES", "500").parse().unwrap();
    let rate_rows: usize = env("QS_RATE_ROWS", "20000").parse().unwrap();
    let answered: usize = env("QS_ANSWERED", "1000").parse().unwrap();
    let points: Vec<usize> = env("QS_POINTS", "0,100000,1000000")
        .split(',')
        .map(|p| p.trim().parse().unwrap())
        .collect();
    let dir = mdm_test_support::TempDir::new("queue-scale");
    let (url, label) = if target == "sqlite" {
        (
            format!("sqlite:{}", dir.path().join("qs.sqlite").display()),
            "SQLite",
        )
    } else {
        (target.clone(), "PostgreSQL")
    };
    let s = storage::open(&url).await.unwrap();
    if !url.starts_with("sqlite:") {
        find_postmaster(&url).await;
    }
    let started = Instant::now();
    for n in 0..enrollments {
        let id = udid(n);
        let mut key = EnrollmentKey::new(&id, &id, "Device");
        key.udid = Some(id.clone());
        s.authenticate(&key, b"a", now).await.unwrap();
        let push = PushInfo::new(vec![n as u8; 32], "magic", "com.apple.mgmt.qs");
        s.token_update(&key, &push, None, b"t", now).await.unwrap();
    }
    eprintln!(
        "{enrollments} enrollments in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"))
        .with_storage(&url)
        .with_api_key("qs")
        .without_signature_check();
    let server = Server::start(&config).await.unwrap();
    let addr = server.local_addr;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));

    answered_rows(&s, addr, answered, samples.min(300), now).await;
    // The answered-rows phase leaves its rows answered: the sizes below count waiting rows.
    println!(
        "| store | queued rows | enqueue rows/s at this size | CPU µs/row | bulk enqueue rows/s | queue bytes/row (with target ids) | Idle → command p50 | p99 | Acknowledged → next p50 | p99 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut queued = 0usize;
    // Every size has a bulk command for every enrollment, so each device has one waiting.
    for (n, point) in points.into_iter().enumerate() {
        // Fill to just below the size, then time `rate_rows` more and one bulk command.
        let below = point.saturating_sub(rate_rows + enrollments).max(queued);
        fill(&s, enrollments, queued, below - queued, now).await;
        let cpu = cpu_time();
        let rate = fill(&s, enrollments, below, rate_rows, now).await;
        let cpu_us = (cpu_time() - cpu).as_secs_f64() * 1e6 / rate_rows as f64;
        let bulk_rate = bulk(&s, enrollments, n, now).await;
        queued = below + rate_rows + enrollments;
        let (bytes, with_targets) = bytes_per_row(&url).await;
        statements(&url, true).await;
        let conn_cpu = cpu_time();
        let started = Instant::now();
        let mut idle = Vec::with_capacity(samples);
        let mut ack = Vec::with_capacity(samples);
        for k in 0..samples {
            let id = udid((k * 7919 + point) % enrollments);
            let (i, a) = connect(addr, &id, point).await;
            idle.push(i);
            ack.push(a);
        }
        let wall_us = started.elapsed().as_secs_f64() * 1e6 / samples as f64;
        let conn_cpu_us = (cpu_time() - conn_cpu).as_secs_f64() * 1e6 / samples as f64;
        eprintln!(
            "{queued} rows: per connection (Idle + Acknowledged) {wall_us:.0} µs wall, \
             {conn_cpu_us:.0} µs CPU (this process and PostgreSQL's)"
        );
        statements(&url, false).await;
        idle.sort();
        ack.sort();
        println!(
            "| {label} | {queued} | {rate:.0} | {cpu_us:.0} | {bulk_rate:.0} | {bytes:.0} ({with_targets:.0}) | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            percentile(&idle, 50.0),
            percentile(&idle, 99.0),
            percentile(&ack, 50.0),
            percentile(&ack, 99.0),
        );
    }
    let _ = stop.send(());
}
