//! `mdmctl push`: send MDM pushes through APNs and report each outcome.
//!
//! Prints one JSON line per push (in input order), then one summary line with the counts per
//! outcome and the pushes per second. Per-push failures are results, not errors: the exit
//! status is 0 once the pushes were attempted, 1 when the input or certificate is unusable.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use apns_client::client::{ApnsClient, PushResult};
use apns_client::{DeviceToken, Disposition, Endpoint, MdmPush, Priority, PushIdentity, PushMagic};
use serde_json::json;

use crate::output::{CliError, CliResult, print_json, read_input};

/// Most pushes one invocation sends.
const MAX_PUSHES: usize = 1_000_000;

/// Arguments of `mdmctl push`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Push certificate (PEM, the leaf first).
    #[arg(long, requires = "key", conflicts_with = "p12")]
    cert: Option<PathBuf>,
    /// Private key of the push certificate (PEM; encrypted keys use --password).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Push certificate and key as PKCS#12 (.p12).
    #[arg(long)]
    p12: Option<PathBuf>,
    /// Password of the PKCS#12 file or of the encrypted PEM key.
    #[arg(long, env = "MDMCTL_PUSH_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// APNs: `production` (default), `sandbox`, `production-2197`, `sandbox-2197`, or any
    /// https://host:port URL.
    #[arg(long, default_value = "production")]
    url: String,
    /// File with one TOKEN_HEX:PUSHMAGIC per line (`-` for standard input; blank lines and
    /// lines starting with `#` are skipped).
    #[arg(long)]
    file: Option<PathBuf>,
    /// apns-priority: 10 (default), 5 or 1.
    #[arg(long, default_value_t = 10)]
    priority: u8,
    /// apns-expiration in seconds since the epoch (0: deliver now or never).
    #[arg(long)]
    expiration: Option<u64>,
    /// Deadline per push in seconds, retries included.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Sends per push at most (429 and 5xx answers are retried with backoff).
    #[arg(long, default_value_t = 3)]
    attempts: u32,
    /// HTTP/2 connections to open.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// TOKEN_HEX:PUSHMAGIC pairs.
    #[arg(value_name = "TOKEN_HEX:PUSHMAGIC")]
    pairs: Vec<String>,
}

/// Parses one `TOKEN_HEX:PUSHMAGIC` pair.
fn parse_pair(s: &str) -> Result<(DeviceToken, PushMagic), CliError> {
    let (token, magic) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?}: expected TOKEN_HEX:PUSHMAGIC"))?;
    let token = DeviceToken::from_hex(token.trim()).map_err(|e| format!("{s:?}: {e}"))?;
    let magic = PushMagic::new(magic.trim()).map_err(|e| format!("{s:?}: {e}"))?;
    Ok((token, magic))
}

/// Parses a `--file`: one pair a line.
fn parse_file(text: &str) -> Result<Vec<(DeviceToken, PushMagic)>, CliError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_pair(line).map_err(|e| format!("line {}: {e}", i + 1))?);
    }
    Ok(out)
}

fn endpoint(url: &str) -> Result<Endpoint, CliError> {
    Ok(match url {
        "production" => Endpoint::Production,
        "sandbox" => Endpoint::Sandbox,
        "production-2197" => Endpoint::ProductionPort2197,
        "sandbox-2197" => Endpoint::SandboxPort2197,
        other => Endpoint::custom(other)?,
    })
}

fn load_identity(args: &Args) -> Result<PushIdentity, CliError> {
    let read = |p: &PathBuf| -> Result<Vec<u8>, CliError> { read_input(Some(p.as_path())) };
    match (&args.p12, &args.cert, &args.key) {
        (Some(p12), None, None) => Ok(PushIdentity::from_pkcs12(
            &read(p12)?,
            args.password.as_deref().unwrap_or(""),
        )?),
        (None, Some(cert), Some(key)) => Ok(PushIdentity::from_pem(
            &read(cert)?,
            &read(key)?,
            args.password.as_deref(),
        )?),
        _ => Err("give --cert and --key, or --p12".into()),
    }
}

/// The JSON line for one push (the keys in this order; optional ones only when known).
#[derive(serde::Serialize)]
struct ResultLine<'a> {
    token: &'a str,
    apns_id: &'a str,
    outcome: &'static str,
    attempts: u32,
    elapsed_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Writes the JSON line for one push.
fn write_result(out: &mut impl Write, r: &PushResult) -> CliResult {
    let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let apns_id = r.apns_id.0.hyphenated().encode_upper(&mut id);
    let mut line = ResultLine {
        token: r.token.as_hex(),
        apns_id,
        outcome: r.disposition().as_str(),
        attempts: r.attempts,
        elapsed_ms: (r.elapsed.as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
        status: None,
        reason: None,
        timestamp: None,
        error: None,
    };
    match &r.outcome {
        Ok(resp) => {
            line.status = Some(resp.status.as_u16());
            if let Some(e) = &resp.error {
                line.reason = Some(e.reason.as_str());
                line.timestamp = e.timestamp;
            }
        }
        Err(e) => line.error = Some(e.to_string()),
    }
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Counts per outcome.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    delivered: u64,
    token_dead: u64,
    retry_later: u64,
    config_error: u64,
}

impl Counts {
    fn add(&mut self, d: Disposition) {
        match d {
            Disposition::Delivered => self.delivered += 1,
            Disposition::TokenDead => self.token_dead += 1,
            Disposition::RetryLater => self.retry_later += 1,
            _ => self.config_error += 1,
        }
    }
}

fn summary_json(counts: &Counts, total: usize, elapsed: Duration) -> serde_json::Value {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { total as f64 / secs } else { 0.0 };
    json!({
        "summary": {
            "total": total,
            "delivered": counts.delivered,
            "token_dead": counts.token_dead,
            "retry_later": counts.retry_later,
            "config_error": counts.config_error,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "pushes_per_second": rate.round(),
        }
    })
}

/// Runs the subcommand; `ca_file` is the global `--ca-file` (extra roots to trust for the
/// APNs server, e.g. a test server's).
pub fn run(args: Args, ca_file: Option<&std::path::Path>) -> CliResult {
    let mut pairs = Vec::new();
    for p in &args.pairs {
        pairs.push(parse_pair(p)?);
    }
    if let Some(file) = &args.file {
        let bytes = read_input(Some(file.as_path()))?;
        let text = String::from_utf8(bytes).map_err(|e| format!("--file: not UTF-8: {e}"))?;
        pairs.extend(parse_file(&text)?);
    }
    if pairs.is_empty() {
        return Err("nothing to push: give TOKEN_HEX:PUSHMAGIC pairs or --file".into());
    }
    if pairs.len() > MAX_PUSHES {
        return Err(format!("{} pushes, at most {MAX_PUSHES}", pairs.len()).into());
    }
    let identity = load_identity(&args)?;
    let endpoint = endpoint(&args.url)?;
    let mut builder = ApnsClient::builder(endpoint)
        .identity(identity)
        .push_timeout(Duration::from_secs(args.timeout.max(1)))
        .max_attempts(args.attempts)
        .connections_per_topic(args.connections);
    if let Some(ca) = ca_file {
        let pem = read_input(Some(ca))?;
        for der in apns_client::cert::certificates_from_pem(&pem)? {
            builder = builder.add_root_certificate(&der);
        }
    }
    let priority = match args.priority {
        10 => Priority::IMMEDIATE,
        5 => Priority::POWER_CONSIDERATE,
        1 => Priority::LOW,
        other => return Err(format!("--priority {other}: expected 10, 5 or 1").into()),
    };
    let pushes: Vec<MdmPush> = pairs
        .into_iter()
        .map(|(token, magic)| {
            let p = MdmPush::new(token, magic).with_priority(priority);
            match args.expiration {
                Some(e) => p.with_expiration(e),
                None => p,
            }
        })
        .collect();
    let total = pushes.len();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = builder.build()?;
    let start = Instant::now();
    // Run the batch as a task of the runtime so that its pushes spawn on worker threads.
    let results = runtime
        .block_on(runtime.spawn(async move { client.push_batch(pushes).await }))
        .map_err(|e| format!("push task failed: {e}"))?;
    let elapsed = start.elapsed();
    let mut counts = Counts::default();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    for r in &results {
        counts.add(r.disposition());
        write_result(&mut out, r)?;
    }
    out.flush()?;
    drop(out);
    print_json(&summary_json(&counts, total, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_files() {
        let (t, m) = parse_pair("00FF:abc-def").unwrap();
        assert_eq!(t.as_hex(), "00ff");
        assert_eq!(m.as_str(), "abc-def");
        assert!(parse_pair("00ff").is_err());
        assert!(
            parse_pair("0g:abc")
                .unwrap_err()
                .to_string()
                .contains("not hex")
        );
        assert!(parse_pair("00:").is_err());
        let list = parse_file("# comment\n\n0a:one\n 0b : two \n").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].1.as_str(), "two");
        let err = parse_file("0a:one\nbad\n").unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn endpoints() {
        assert_eq!(endpoint("sandbox").unwrap(), Endpoint::Sandbox);
        assert_eq!(endpoint("production-2197").unwrap().port(), 2197);
        assert_eq!(endpoint("https://127.0.0.1:9999").unwrap().port(), 9999);
        assert!(endpoint("http://x").is_err());
    }

    #[test]
    fn result_lines() {
        let token = DeviceToken::from_hex("00ff").unwrap();
        let mut out = Vec::new();
        let id = apns_client::ApnsId::parse("2f0e3b4e-1111-2222-3333-444455556666").unwrap();
        let ok = PushResult::new(
            token.clone(),
            None,
            id,
            1,
            Duration::from_micros(1200),
            Ok(apns_client::parse_response(
                apns_client::http::StatusCode::OK,
                &Default::default(),
                b"",
            )
            .unwrap()),
        );
        let gone = PushResult::new(
            token,
            None,
            id,
            2,
            Duration::ZERO,
            Ok(apns_client::parse_response(
                apns_client::http::StatusCode::GONE,
                &Default::default(),
                br#"{"reason":"Unregistered","timestamp":17}"#,
            )
            .unwrap()),
        );
        write_result(&mut out, &ok).unwrap();
        write_result(&mut out, &gone).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            concat!(
                r#"{"token":"00ff","apns_id":"2F0E3B4E-1111-2222-3333-444455556666","outcome":"delivered","attempts":1,"elapsed_ms":1.2,"status":200}"#,
                "\n",
                r#"{"token":"00ff","apns_id":"2F0E3B4E-1111-2222-3333-444455556666","outcome":"token_dead","attempts":2,"elapsed_ms":0.0,"status":410,"reason":"Unregistered","timestamp":17}"#,
                "\n"
            )
        );
    }

    #[test]
    fn summary_counts() {
        let mut c = Counts::default();
        for d in [
            Disposition::Delivered,
            Disposition::Delivered,
            Disposition::TokenDead,
            Disposition::RetryLater,
            Disposition::ConfigError,
        ] {
            c.add(d);
        }
        let s = summary_json(&c, 5, Duration::from_millis(500));
        assert_eq!(s["summary"]["delivered"], 2);
        assert_eq!(s["summary"]["token_dead"], 1);
        assert_eq!(s["summary"]["pushes_per_second"], 10.0);
    }
}
