//! A standalone SCEP CA server built on scep-proto.
//!
//! `scep-server --ca-dir DIR --listen 127.0.0.1:PORT --challenge SECRET` creates the CA in DIR
//! on first start and serves SCEP on `/scep`; see [`store`] for the directory's layout.
//! `--approve manual` keeps first enrollments PENDING until an operator approves or rejects
//! them (`mdmctl scep pending|approve|reject --ca-dir DIR`).

mod approval;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use scep_proto::policy::{Issuing, Policy, PolicyRequest, Verdict};
use scep_proto::{
    Ca, CaRequest, Decision, FailInfo, Operation, PrivateKey, RequestBody, ca::content_type,
};

use crate::approval::{Approve, ServerPolicy};
use crate::store::{Store, TransactionState};

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
    /// How requests that pass the challenge are approved.
    #[arg(long, value_enum, default_value_t = Approve::Auto)]
    approve: Approve,
    /// The next CA certificate (PEM) announced by GetNextCACert for a rollover (default:
    /// `next-ca.pem` in the CA directory, if present).
    #[arg(long)]
    next_ca: Option<PathBuf>,
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
    policy: Box<dyn Policy>,
    store: Arc<Store>,
    /// Validity and extensions of issued certificates (scep-proto's shared rules).
    issuing: Issuing,
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

fn run(args: Args) -> Result<(), store::StoreError> {
    let store = Arc::new(Store::new(args.ca_dir.clone()));
    let (cert, key) = store.load_or_create_ca(args.key_bits, &args.ca_name, now())?;
    let mut ca = Ca::new(cert, ca_key(key));
    if let Some(next) = store.next_ca(args.next_ca.as_deref())? {
        tracing::info!(subject = %next.tbs_certificate().subject(), "announcing the next CA");
        ca = ca.with_next_ca(next);
    }
    let state = Arc::new(AppState {
        ca,
        policy: Box::new(ServerPolicy::new(
            args.challenge,
            args.approve,
            store.clone(),
        )),
        store,
        issuing: Issuing::new(args.days.saturating_mul(86_400)).backdate(60),
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
        tracing::info!(addr = %listener.local_addr()?, approve = ?args.approve, "scep-server listening on /scep");
        axum::serve(listener, app).await?;
        Ok::<_, store::StoreError>(())
    })
}

/// The CA key object: aws-lc-rs by default (feature `aws-lc-rs`); keys it refuses (under
/// 2048 bits) and builds without the feature use the pure-Rust key.
fn ca_key(key: scep_proto::RsaKey) -> Arc<dyn PrivateKey> {
    #[cfg(feature = "aws-lc-rs")]
    match scep_proto::AwsLcRsaKey::from_rsa_key(&key) {
        Ok(fast) => return Arc::new(fast),
        Err(e) => {
            tracing::warn!(error = %e, "CA key not usable by aws-lc-rs; using the pure-Rust backend");
        }
    }
    Arc::new(key)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
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
        Operation::Other(name) => {
            tracing::warn!(operation = %name.escape_default(), "bad SCEP request: unknown operation");
            (
                StatusCode::BAD_REQUEST,
                format!("unknown operation {}\n", name.escape_default()),
            )
                .into_response()
        }
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
    let decision = decide(state, &req);
    let tid = &req.message.transaction_id;
    let kind = req.message.message_type;
    match &decision {
        Decision::Issue(c) => tracing::info!(
            transaction_id = %tid,
            message_type = %kind,
            subject = %c.tbs_certificate().subject(),
            serial = %c.tbs_certificate().serial_number(),
            "SUCCESS"
        ),
        Decision::Pending => tracing::info!(transaction_id = %tid, message_type = %kind, "PENDING"),
        _ => {}
    }
    match state.ca.respond(&req, &decision) {
        Ok(rep) => pki_reply(rep),
        Err(e) => internal(&e),
    }
}

/// Logs a refusal with its reason and turns it into the decision.
fn refuse(req: &CaRequest, fail_info: FailInfo, reason: &str) -> Decision {
    tracing::warn!(
        transaction_id = %req.message.transaction_id,
        message_type = %req.message.message_type,
        fail_info = %fail_info,
        reason,
        "FAILURE"
    );
    Decision::Reject(fail_info)
}

fn decide(state: &AppState, req: &CaRequest) -> Decision {
    let now = now();
    let ca_subject = state.ca.certificate().tbs_certificate().subject();
    let names_us = |issuer_der: &[u8]| {
        use scep_proto::der::Decode as _;
        scep_proto::x509_cert::name::Name::from_der(issuer_der).is_ok_and(|n| &n == ca_subject)
    };
    match &req.body {
        RequestBody::Csr(csr) => {
            let tid = req.message.transaction_id.as_str();
            // A PKCSReq repeated while it waits is a poll. Once decided, a new PKCSReq is a
            // new request (as micromdm/scep treats it).
            if let Ok(TransactionState::Pending(_) | TransactionState::Approved(_)) =
                state.store.transaction(tid)
            {
                return poll(state, req, now);
            }
            let pr = match PolicyRequest::from_ca_request(req, now) {
                Ok(Some(pr)) => pr,
                Ok(None) => return refuse(req, FailInfo::BAD_REQUEST, "no CSR"),
                Err(e) => return refuse(req, FailInfo::BAD_TIME, &e.to_string()),
            };
            match state.policy.decide(&pr) {
                Verdict::Issue => issue(state, req, csr, now),
                Verdict::Pending => match state.store.add_pending(tid, csr, now) {
                    Ok(()) => Decision::Pending,
                    Err(e) => {
                        tracing::error!(error = %e, "storing the pending request");
                        refuse(
                            req,
                            FailInfo::BAD_REQUEST,
                            "cannot store the pending request",
                        )
                    }
                },
                Verdict::Reject { fail_info, reason } => refuse(req, fail_info, &reason),
                Verdict::IssueConsuming { .. } => refuse(
                    req,
                    FailInfo::BAD_REQUEST,
                    "this CA keeps no one-time challenges",
                ),
                _ => refuse(req, FailInfo::BAD_REQUEST, "unknown verdict"),
            }
        }
        RequestBody::CertPoll { issuer, .. } => {
            if !names_us(issuer) {
                return refuse(req, FailInfo::BAD_CERT_ID, "CertPoll names another issuer");
            }
            poll(state, req, now)
        }
        RequestBody::GetCert { issuer, serial } => {
            if !names_us(issuer) {
                return refuse(req, FailInfo::BAD_CERT_ID, "GetCert names another issuer");
            }
            match state.store.find_issued(serial) {
                Some(c) => Decision::Issue(Box::new(c)),
                None => refuse(req, FailInfo::BAD_CERT_ID, "GetCert: no such certificate"),
            }
        }
        RequestBody::GetCrl { issuer, serial } => {
            if !names_us(issuer) || state.store.find_issued(serial).is_none() {
                return refuse(req, FailInfo::BAD_CERT_ID, "GetCRL: no such certificate");
            }
            refuse(
                req,
                FailInfo::BAD_REQUEST,
                "GetCRL: this CA publishes no CRL",
            )
        }
        _ => refuse(req, FailInfo::BAD_REQUEST, "unsupported request"),
    }
}

/// The SubjectPublicKeyInfo of a CSR, decoded for comparison with a certificate's.
fn csr_spki(
    csr: &scep_proto::Csr,
) -> Option<scep_proto::x509_cert::spki::SubjectPublicKeyInfoOwned> {
    use scep_proto::der::Decode as _;
    scep_proto::x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(&csr.public_key_der).ok()
}

/// A CertPoll (or a repeated PKCSReq) for a transaction: the stored answer, or the policy's
/// verdict on the stored request.
fn poll(state: &AppState, req: &CaRequest, now: i64) -> Decision {
    let tid = req.message.transaction_id.as_str();
    let csr = match state.store.transaction(tid) {
        Ok(TransactionState::Issued(c)) => return Decision::Issue(c),
        Ok(TransactionState::Rejected) => {
            return refuse(req, FailInfo::BAD_REQUEST, "rejected by the operator");
        }
        Ok(TransactionState::Unknown) => {
            return refuse(
                req,
                FailInfo::BAD_CERT_ID,
                "CertPoll for an unknown transaction",
            );
        }
        Ok(TransactionState::Pending(c) | TransactionState::Approved(c)) => c,
        Err(e) => {
            tracing::error!(error = %e, transaction_id = %tid, "reading the transaction");
            return refuse(req, FailInfo::BAD_REQUEST, "cannot read the transaction");
        }
    };
    // Only the key that made the request may collect its certificate.
    let signer_spki = req.signer.tbs_certificate().subject_public_key_info();
    if csr_spki(&csr).as_ref() != Some(signer_spki) {
        return refuse(
            req,
            FailInfo::BAD_MESSAGE_CHECK,
            "CertPoll signed by another key than the request",
        );
    }
    let pr = match PolicyRequest::poll(req, &csr, now) {
        Ok(pr) => pr,
        Err(e) => return refuse(req, FailInfo::BAD_TIME, &e.to_string()),
    };
    match state.policy.decide(&pr) {
        Verdict::Issue => issue(state, req, &csr, now),
        Verdict::Pending => Decision::Pending,
        Verdict::Reject { fail_info, reason } => {
            if let Err(e) = state.store.reject(tid) {
                tracing::error!(error = %e, "recording the rejection");
            }
            refuse(req, fail_info, &reason)
        }
        _ => refuse(req, FailInfo::BAD_REQUEST, "unknown verdict"),
    }
}

fn issue(state: &AppState, req: &CaRequest, csr: &scep_proto::Csr, now: i64) -> Decision {
    match state.store.issue(
        csr,
        state.ca.certificate(),
        state.ca.key(),
        &state.issuing,
        now,
        Some(&req.message.transaction_id),
    ) {
        Ok(c) => Decision::Issue(Box::new(c)),
        Err(e) => {
            tracing::error!(error = %e, "issuing failed");
            refuse(req, FailInfo::BAD_REQUEST, "issuing failed")
        }
    }
}
