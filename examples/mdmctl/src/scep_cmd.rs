//! `mdmctl scep`: a SCEP client (capabilities, CA certificates, enrollment with PENDING
//! polling) and the operator's side of scep-server's manual approval (pending requests in
//! its CA directory).

use std::path::PathBuf;
use std::time::Duration;

use scep_proto::http_client::{EnrollOptions, HttpClient, enroll_observed};
use scep_proto::key::pem_encode;
use scep_proto::{ContentCipher, DigestAlgorithm, RsaKey, issue};
use serde_json::{Value, json};

use crate::output::{CliResult, print_json};

/// Arguments of `mdmctl scep`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ScepCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ScepCommand {
    /// GetCACaps: print the server's capabilities.
    Getcaps(Common),
    /// GetCACert: print (and optionally save) the CA/RA certificates.
    Getcacert {
        #[command(flatten)]
        common: Common,
        /// Write the certificates as PEM to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// GetNextCACert: the next CA certificate of a rollover, checked against the current CA.
    Getnextcacert {
        #[command(flatten)]
        common: Common,
        /// Write the certificates as PEM to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Enroll: generate (or load) a key, send a PKCSReq with a challenge, poll while the CA
    /// answers PENDING, save the certificate.
    Enroll(EnrollArgs),
    /// List the requests scep-server (`--approve manual`) keeps PENDING in its CA directory.
    Pending(CaDir),
    /// Approve a pending request: the CA issues it when the client polls next.
    Approve(Decide),
    /// Reject a pending request: the client's next poll gets FAILURE.
    Reject(Decide),
}

#[derive(Debug, clap::Args)]
struct CaDir {
    /// scep-server's CA directory.
    #[arg(long)]
    ca_dir: PathBuf,
}

#[derive(Debug, clap::Args)]
struct Decide {
    #[command(flatten)]
    dir: CaDir,
    /// The request's id (as `mdmctl scep pending` lists it) or its transactionID.
    id: String,
}

#[derive(Debug, clap::Args)]
struct Common {
    /// SCEP URL, e.g. http://127.0.0.1:8080/scep.
    #[arg(long)]
    url: String,
}

#[derive(Debug, clap::Args)]
struct EnrollArgs {
    #[command(flatten)]
    common: Common,
    /// Private key (PEM); created (PKCS#8) if the file does not exist.
    #[arg(long)]
    key: PathBuf,
    /// Size of a newly generated RSA key.
    #[arg(long, default_value_t = 2048)]
    key_bits: usize,
    /// Where to write the issued certificate (PEM).
    #[arg(long)]
    out: PathBuf,
    /// Subject, e.g. "CN=device,O=Example" (default: CN=mdmctl).
    #[arg(long, default_value = "CN=mdmctl")]
    subject: String,
    /// challengePassword.
    #[arg(long)]
    challenge: Option<String>,
    /// Content cipher: des, des3, aes128, aes192, aes256 (default: the best advertised).
    #[arg(long)]
    cipher: Option<ContentCipher>,
    /// Digest: sha1, sha256, sha512 (default: the best advertised).
    #[arg(long)]
    digest: Option<DigestAlgorithm>,
    /// Seconds between polls while the CA answers PENDING.
    #[arg(long, default_value_t = 5)]
    poll_interval: u64,
    /// Polls before giving up.
    #[arg(long, default_value_t = 12)]
    max_polls: u32,
}

fn cert_json(c: &scep_proto::Certificate) -> Value {
    let tbs = c.tbs_certificate();
    let fingerprint = {
        use scep_proto::der::Encode as _;
        c.to_der()
            .map(|d| {
                DigestAlgorithm::Sha256
                    .digest(&d)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            })
            .unwrap_or_default()
    };
    json!({
        "subject": tbs.subject().to_string(),
        "issuer": tbs.issuer().to_string(),
        "serial": tbs.serial_number().to_string(),
        "sha256": fingerprint,
    })
}

fn pem_of(certs: &[scep_proto::Certificate]) -> Result<String, scep_proto::der::Error> {
    use scep_proto::der::Encode as _;
    let mut s = String::new();
    for c in certs {
        s.push_str(&pem_encode("CERTIFICATE", &c.to_der()?));
    }
    Ok(s)
}

/// Runs the subcommand.
pub fn run(args: Args, ca_file: Option<&std::path::Path>) -> CliResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ca_pem = match ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let client = |url: &str| -> Result<HttpClient, crate::output::CliError> {
        let http = HttpClient::new(url)?;
        Ok(match &ca_pem {
            Some(pem) => http.with_ca_pem(pem)?,
            None => http,
        })
    };
    match args.command {
        ScepCommand::Getcaps(c) => {
            let http = client(&c.url)?;
            let caps = rt.block_on(http.get_ca_caps())?;
            print_json(&json!({
                "capabilities": caps.0.iter().map(|c| c.as_str().to_owned()).collect::<Vec<_>>(),
                "digest": caps.best_digest().name(),
                "cipher": caps.best_cipher().name(),
                "post": caps.post_supported(),
            }))
        }
        ScepCommand::Getcacert { common, out } => {
            let http = client(&common.url)?;
            let certs = rt.block_on(http.get_ca_cert())?;
            if let Some(p) = out {
                std::fs::write(&p, pem_of(&certs)?)
                    .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            }
            print_json(&json!({
                "certificates": certs.iter().map(cert_json).collect::<Vec<_>>(),
            }))
        }
        ScepCommand::Getnextcacert { common, out } => {
            let http = client(&common.url)?;
            let current = rt.block_on(http.get_ca_cert())?;
            let der = rt.block_on(http.get_next_ca_cert())?;
            let next = scep_proto::client::next_ca_certificates(&der, &current)?;
            if let Some(p) = out {
                std::fs::write(&p, pem_of(&next)?)
                    .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            }
            print_json(&json!({
                "next": next.iter().map(cert_json).collect::<Vec<_>>(),
                "signed_by": current.iter().map(cert_json).collect::<Vec<_>>(),
            }))
        }
        ScepCommand::Enroll(a) => {
            let key = if a.key.exists() {
                let pem = std::fs::read_to_string(&a.key)
                    .map_err(|e| format!("cannot read {}: {e}", a.key.display()))?;
                RsaKey::from_pem(&pem, None)?
            } else {
                let k = RsaKey::generate(a.key_bits)?;
                std::fs::write(&a.key, k.to_pkcs8_pem()?)
                    .map_err(|e| format!("cannot write {}: {e}", a.key.display()))?;
                k
            };
            let subject = issue::name_from_str(&a.subject)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            let mut opts = EnrollOptions::new(i64::try_from(now)?);
            opts.challenge = a.challenge;
            opts.cipher = a.cipher;
            opts.digest = a.digest;
            opts.poll_interval = Duration::from_secs(a.poll_interval);
            opts.max_polls = a.max_polls;
            let http = client(&a.common.url)?;
            let mut pending = 0u32;
            let done = rt.block_on(enroll_observed(&http, &key, &subject, &opts, |p| {
                pending += 1;
                // Progress goes to stderr; stdout keeps the one JSON answer.
                match p.next_poll_in {
                    Some(wait) => eprintln!(
                        "PENDING: transaction {} (id {}), polling again in {} s",
                        p.transaction_id,
                        pending_id(p.transaction_id),
                        wait.as_secs()
                    ),
                    None => eprintln!("PENDING: transaction {}, no polls left", p.transaction_id),
                }
            }))?;
            std::fs::write(&a.out, pem_of(std::slice::from_ref(&done.certificate))?)
                .map_err(|e| format!("cannot write {}: {e}", a.out.display()))?;
            print_json(&json!({
                "certificate": cert_json(&done.certificate),
                "out": a.out.display().to_string(),
                "digest": done.digest.name(),
                "cipher": done.cipher.name(),
                "pending_answers": pending,
            }))
        }
        ScepCommand::Pending(d) => {
            let dir = d.ca_dir.join("pending");
            let mut list = Vec::new();
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e.collect::<Result<Vec<_>, _>>()?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(format!("cannot read {}: {e}", dir.display()).into()),
            };
            for e in entries {
                let path = e.path();
                let Some(id) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".pem"))
                else {
                    continue;
                };
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let mut item = serde_json::Map::new();
                item.insert("id".into(), Value::from(id));
                for line in text.lines().take_while(|l| !l.starts_with("-----")) {
                    if let Some((k, v)) = line.split_once(": ") {
                        item.insert(k.replace('-', "_"), Value::from(v));
                    }
                }
                list.push(Value::Object(item));
            }
            list.sort_by_key(|v| v["received"].as_str().unwrap_or_default().to_owned());
            print_json(&json!({ "pending": list }))
        }
        ScepCommand::Approve(d) => decide_pending(&d, "approved"),
        ScepCommand::Reject(d) => decide_pending(&d, "rejected"),
    }
}

/// scep-server's file id for a transactionID: the first 32 hex digits of its SHA-256.
fn pending_id(transaction_id: &str) -> String {
    DigestAlgorithm::Sha256
        .digest(transaction_id.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Moves a pending request to `approved/` or `rejected/` (one rename: the server sees either
/// the old state or the new one).
fn decide_pending(d: &Decide, to: &str) -> CliResult {
    let is_id = d.id.len() == 32 && d.id.bytes().all(|b| b.is_ascii_hexdigit());
    let id = if is_id
        && d.dir
            .ca_dir
            .join("pending")
            .join(format!("{}.pem", d.id))
            .exists()
    {
        d.id.to_ascii_lowercase()
    } else {
        pending_id(&d.id)
    };
    let from = d.dir.ca_dir.join("pending").join(format!("{id}.pem"));
    if !from.exists() {
        return Err(format!("no pending request {} in {}", d.id, d.dir.ca_dir.display()).into());
    }
    let dest_dir = d.dir.ca_dir.join(to);
    std::fs::create_dir_all(&dest_dir)
        .map_err(|e| format!("cannot create {}: {e}", dest_dir.display()))?;
    let dest = dest_dir.join(format!("{id}.pem"));
    std::fs::rename(&from, &dest).map_err(|e| format!("cannot move {}: {e}", from.display()))?;
    print_json(&json!({ "id": id, "state": to }))
}
