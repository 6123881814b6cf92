//! Load generator of the HTTP benchmark (`scripts/bench-http.sh`).
//!
//! `scep-load make --url URL --challenge PW --out req.der` builds one PKCSReq for that server
//! (encrypted to its CA certificate, with its challenge); `scep-load replay --url URL
//! --request req.der --clients 4 --seconds 20` sends the same bytes again and again from
//! several clients, one connection per request as devices do, and prints PKIOperations/s as
//! JSON: `ok` counts SUCCESS CertReps, `refused` CertReps with another pkiStatus (the server
//! did the work but refused, e.g. micromdm/scep's file depot losing a race), `errors` anything
//! else (HTTP errors, garbage). `ops_per_s` is SUCCESS per second, `answers_per_s` all
//! CertReps per second.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use scep_proto::http_client::HttpClient;
use scep_proto::issue::{self, IssueOptions};
use scep_proto::{ContentCipher, Csr, DigestAlgorithm, PkiMessage, PkiStatus, RsaKey, client};

#[derive(Debug, Parser)]
enum Cmd {
    /// Build a PKCSReq for the server at --url and save it.
    Make {
        /// SCEP URL.
        #[arg(long)]
        url: String,
        /// challengePassword.
        #[arg(long)]
        challenge: String,
        /// Where to write the request (DER).
        #[arg(long)]
        out: PathBuf,
        /// Content cipher.
        #[arg(long, default_value = "aes128")]
        cipher: ContentCipher,
        /// Digest.
        #[arg(long, default_value = "sha256")]
        digest: DigestAlgorithm,
        /// RSA key size of the device key.
        #[arg(long, default_value_t = 2048)]
        key_bits: usize,
    },
    /// Replay a saved request.
    Replay {
        /// SCEP URL.
        #[arg(long)]
        url: String,
        /// The request (DER).
        #[arg(long)]
        request: PathBuf,
        /// Concurrent clients.
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Length of the run.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Send by GET (base64 `message`) instead of POST.
        #[arg(long)]
        get: bool,
    },
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Runtime::new()?;
    match Cmd::parse() {
        Cmd::Make {
            url,
            challenge,
            out,
            cipher,
            digest,
            key_bits,
        } => {
            let http = HttpClient::new(&url)?;
            let cas = rt.block_on(http.get_ca_cert())?;
            let recipient = client::recipient_certificate(&cas).ok_or("no CA certificate")?;
            let key = RsaKey::generate(key_bits)?;
            let subject = issue::common_name("scep-load");
            let now = i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_secs(),
            )?;
            let csr = Csr::build(&key, &subject, Some(&challenge), &[], digest)?;
            let signer = issue::self_signed(
                &key,
                &subject,
                false,
                &IssueOptions::new(vec![1], now - 3600, 86_400).with_digest(digest),
            )?;
            let req = client::pkcs_req(&csr, &signer, &key, recipient, digest, cipher)?;
            // One real round trip first: the server must issue for this request.
            let rep = rt.block_on(http.pki_operation(&req.der, true))?;
            match req.open_response(&rep, &key, &cas)? {
                client::CertRepOutcome::Issued { .. } => {}
                other => return Err(format!("the server did not issue: {other:?}").into()),
            }
            std::fs::write(&out, &req.der)?;
            println!(
                "{{\"out\":{:?},\"bytes\":{}}}",
                out.display().to_string(),
                req.der.len()
            );
        }
        Cmd::Replay {
            url,
            request,
            clients,
            seconds,
            get,
        } => {
            let der = Arc::new(std::fs::read(&request)?);
            let http = Arc::new(HttpClient::new(&url)?.with_timeout(Duration::from_secs(30)));
            let ok = Arc::new(AtomicU64::new(0));
            let refused = Arc::new(AtomicU64::new(0));
            let errors = Arc::new(AtomicU64::new(0));
            let start = Instant::now();
            let end = start + Duration::from_secs(seconds);
            rt.block_on(async {
                let mut tasks = Vec::new();
                for _ in 0..clients {
                    let (der, http) = (der.clone(), http.clone());
                    let (ok, refused, errors) = (ok.clone(), refused.clone(), errors.clone());
                    tasks.push(tokio::spawn(async move {
                        while Instant::now() < end {
                            let status = match http.pki_operation(&der, !get).await {
                                Ok(rep) => PkiMessage::decode(&rep).ok().and_then(|m| m.pki_status),
                                Err(_) => None,
                            };
                            match status {
                                Some(PkiStatus::SUCCESS) => &ok,
                                Some(_) => &refused,
                                None => &errors,
                            }
                            .fetch_add(1, Ordering::Relaxed);
                        }
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
            });
            let secs = start.elapsed().as_secs_f64();
            let (n, r, e) = (
                ok.load(Ordering::Relaxed),
                refused.load(Ordering::Relaxed),
                errors.load(Ordering::Relaxed),
            );
            println!(
                "{{\"url\":{url:?},\"clients\":{clients},\"seconds\":{secs:.2},\"ok\":{n},\"refused\":{r},\"errors\":{e},\"ops_per_s\":{:.1},\"answers_per_s\":{:.1}}}",
                n as f64 / secs,
                (n + r) as f64 / secs
            );
        }
    }
    Ok(())
}
