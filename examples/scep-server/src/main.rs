//! A standalone SCEP CA server built on scep-proto.
//!
//! `scep-server --ca-dir DIR --listen 127.0.0.1:PORT --challenge SECRET` creates the CA in DIR
//! on first start (`ca.pem`, `ca.key`, `serial`, `issued/`) and serves SCEP on `/scep`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use scep_proto::issue::{self, IssueOptions};
use scep_proto::{
    Ca, Decision, FailInfo, MessageType, Operation, RequestBody, RsaKey, ca::content_type, cms,
    key::pem_encode,
};

/// Command line.
#[derive(Debug, Parser)]
#[command(name = "scep-server", version, about = "A standalone SCEP CA")]
struct Args {
    /// Directory holding the CA (created on first start).
    #[arg(long)]
    ca_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// challengePassword required in PKCSReq (none: any request is accepted).
    #[arg(long, env = "SCEP_CHALLENGE")]
    challenge: Option<String>,
    /// Validity of issued certificates, in days.
    #[arg(long, default_value_t = 365)]
    days: i64,
    /// RSA key size of a new CA.
    #[arg(long, default_value_t = 2048)]
    key_bits: usize,
    /// Common name of a new CA.
    #[arg(long, default_value = "scep-server CA")]
    ca_name: String,
}

#[derive(Debug)]
struct AppState {
    ca: Ca,
    challenge: Option<String>,
    dir: PathBuf,
    days: i64,
    serial: Mutex<()>,
}

type Shared = Arc<AppState>;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let ca = load_or_create_ca(&args.ca_dir, args.key_bits, &args.ca_name)?;
    let state = Arc::new(AppState {
        ca,
        challenge: args.challenge,
        dir: args.ca_dir,
        days: args.days,
        serial: Mutex::new(()),
    });
    let app = Router::new()
        .route("/scep", axum::routing::get(handle).post(handle))
        .route("/", axum::routing::get(handle).post(handle))
        .layer(axum::extract::DefaultBodyLimit::max(
            scep_proto::pki_message::MAX_MESSAGE,
        ))
        .with_state(state);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        tracing::info!(addr = %listener.local_addr()?, "scep-server listening on /scep");
        axum::serve(listener, app).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn load_or_create_ca(
    dir: &Path,
    bits: usize,
    name: &str,
) -> Result<Ca, Box<dyn std::error::Error>> {
    let cert_path = dir.join("ca.pem");
    let key_path = dir.join("ca.key");
    if !cert_path.exists() {
        std::fs::create_dir_all(dir.join("issued"))?;
        tracing::info!(dir = %dir.display(), bits, "creating a new CA");
        let key = RsaKey::generate(bits)?;
        let cert = issue::self_signed(
            &key,
            &issue::common_name(name),
            true,
            &IssueOptions::new(vec![1], now() - 3600, 10 * 365 * 86_400),
        )?;
        let key_pem = key.to_pkcs8_pem()?;
        write_private(&key_path, key_pem.as_bytes())?;
        let der = {
            use scep_proto::der::Encode as _;
            cert.to_der()?
        };
        std::fs::write(&cert_path, pem_encode("CERTIFICATE", &der))?;
        std::fs::write(dir.join("serial"), "2\n")?;
    }
    let cert = cms::parse_certificates(&std::fs::read(&cert_path)?)?
        .into_iter()
        .next()
        .ok_or("no certificate in ca.pem")?;
    let key = RsaKey::from_pem(&std::fs::read_to_string(&key_path)?, None)?;
    Ok(Ca::new(cert, Arc::new(key)))
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(data)
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let query = query.unwrap_or_default();
    let op = match scep_proto::operation::parse_request(method.as_str(), &query, &body) {
        Ok(op) => op,
        Err(e) => {
            tracing::warn!(error = %e, "bad SCEP request");
            return (StatusCode::BAD_REQUEST, format!("bad request: {e}\n")).into_response();
        }
    };
    match op {
        Operation::GetCaCaps => (
            [(header::CONTENT_TYPE, content_type::TEXT)],
            state.ca.capabilities().to_body(),
        )
            .into_response(),
        Operation::GetCaCert => match state.ca.get_ca_cert() {
            Ok((ct, der)) => ([(header::CONTENT_TYPE, ct)], der).into_response(),
            Err(e) => internal(&e),
        },
        Operation::GetNextCaCert => match state.ca.get_next_ca_cert() {
            Ok(Some((ct, der))) => ([(header::CONTENT_TYPE, ct)], der).into_response(),
            Ok(None) => (StatusCode::NOT_FOUND, "no next CA certificate\n").into_response(),
            Err(e) => internal(&e),
        },
        Operation::PkiOperation(der) => {
            let st = state.clone();
            match tokio::task::spawn_blocking(move || pki_operation(&st, &der)).await {
                Ok(r) => r,
                Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
            }
        }
        Operation::Other(name) => (
            StatusCode::BAD_REQUEST,
            format!("unknown operation {name}\n"),
        )
            .into_response(),
        _ => (StatusCode::BAD_REQUEST, "unsupported operation\n").into_response(),
    }
}

fn internal(e: &scep_proto::Error) -> Response {
    tracing::error!(error = %e, "internal error");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
}

fn pki_reply(der: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, content_type::PKI_MESSAGE)], der).into_response()
}

fn pki_operation(state: &AppState, der: &[u8]) -> Response {
    let req = match state.ca.decode_request(der) {
        Ok(r) => r,
        Err(e) => {
            let fail = scep_proto::ca::fail_info_for(&e);
            tracing::warn!(error = %e, fail_info = %fail, "rejecting PKIOperation");
            return match state.ca.failure_reply(der, fail) {
                Some(rep) => pki_reply(rep),
                None => (StatusCode::BAD_REQUEST, format!("bad pkiMessage: {e}\n")).into_response(),
            };
        }
    };
    let tid = req.message.transaction_id.clone();
    let decision = decide(state, &req);
    match &decision {
        Decision::Issue(c) => tracing::info!(
            transaction_id = %tid,
            subject = %c.tbs_certificate().subject(),
            serial = %c.tbs_certificate().serial_number(),
            "issued"
        ),
        Decision::Reject(f) => tracing::warn!(transaction_id = %tid, fail_info = %f, "rejected"),
        _ => {}
    }
    match state.ca.respond(&req, &decision) {
        Ok(rep) => pki_reply(rep),
        Err(e) => internal(&e),
    }
}

fn decide(state: &AppState, req: &scep_proto::CaRequest) -> Decision {
    let tid = &req.message.transaction_id;
    match &req.body {
        RequestBody::Csr(csr) => {
            let renewal = req.message.message_type == MessageType::RENEWAL_REQ;
            if !(renewal && req.signer_issued_by_ca)
                && let Some(expected) = &state.challenge
            {
                let given = csr.challenge_password.as_deref().unwrap_or("");
                if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
                    tracing::warn!(
                        transaction_id = %tid,
                        reason = if csr.challenge_password.is_some() {
                            "wrong challengePassword"
                        } else {
                            "missing challengePassword"
                        },
                        "rejecting enrollment"
                    );
                    return Decision::Reject(FailInfo::BAD_REQUEST);
                }
            }
            match issue_cert(state, csr) {
                Ok(c) => Decision::Issue(Box::new(c)),
                Err(e) => {
                    tracing::error!(error = %e, "issuing failed");
                    Decision::Reject(FailInfo::BAD_REQUEST)
                }
            }
        }
        RequestBody::GetCert { serial, .. } => match find_issued(state, serial) {
            Some(c) => Decision::Issue(Box::new(c)),
            None => Decision::Reject(FailInfo::BAD_CERT_ID),
        },
        // This CA never answers PENDING, so there is nothing to poll for.
        RequestBody::CertPoll { .. } => Decision::Reject(FailInfo::BAD_CERT_ID),
        _ => Decision::Reject(FailInfo::BAD_REQUEST),
    }
}

fn issue_cert(
    state: &AppState,
    csr: &scep_proto::Csr,
) -> Result<scep_proto::Certificate, Box<dyn std::error::Error>> {
    let _guard = state.serial.lock().map_err(|_| "serial lock poisoned")?;
    let path = state.dir.join("serial");
    let serial: u64 = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| "2".into())
        .trim()
        .parse()
        .unwrap_or(2);
    std::fs::write(&path, format!("{}\n", serial + 1))?;
    let cert = issue::issue(
        csr,
        state.ca.certificate(),
        state.ca.key(),
        &IssueOptions::new(
            serial.to_be_bytes().to_vec(),
            now() - 60,
            state.days * 86_400,
        ),
    )?;
    let der = {
        use scep_proto::der::Encode as _;
        cert.to_der()?
    };
    let issued = state.dir.join("issued");
    std::fs::create_dir_all(&issued)?;
    std::fs::write(
        issued.join(format!("{serial}.pem")),
        pem_encode("CERTIFICATE", &der),
    )?;
    Ok(cert)
}

fn find_issued(state: &AppState, serial_der: &[u8]) -> Option<scep_proto::Certificate> {
    // serial_der is a full INTEGER; issued certificates are named by their decimal serial.
    let mut n: u64 = 0;
    for &b in serial_der.get(2..)? {
        n = n.checked_shl(8)? | u64::from(b);
    }
    let pem = std::fs::read(state.dir.join("issued").join(format!("{n}.pem"))).ok()?;
    cms::parse_certificates(&pem).ok()?.into_iter().next()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
