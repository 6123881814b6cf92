//! `mdmctl scep`: a SCEP client (capabilities, CA certificates, enrollment).

use std::path::PathBuf;
use std::time::Duration;

use scep_proto::http_client::{EnrollOptions, HttpClient, enroll};
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
    /// Enroll: generate (or load) a key, send a PKCSReq with a challenge, save the certificate.
    Enroll(EnrollArgs),
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
pub fn run(args: Args) -> CliResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.command {
        ScepCommand::Getcaps(c) => {
            let http = HttpClient::new(&c.url)?;
            let caps = rt.block_on(http.get_ca_caps())?;
            print_json(&json!({
                "capabilities": caps.0.iter().map(|c| c.as_str().to_owned()).collect::<Vec<_>>(),
                "digest": caps.best_digest().name(),
                "cipher": caps.best_cipher().name(),
                "post": caps.post_supported(),
            }))
        }
        ScepCommand::Getcacert { common, out } => {
            let http = HttpClient::new(&common.url)?;
            let certs = rt.block_on(http.get_ca_cert())?;
            if let Some(p) = out {
                std::fs::write(&p, pem_of(&certs)?)
                    .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            }
            print_json(&json!({
                "certificates": certs.iter().map(cert_json).collect::<Vec<_>>(),
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
            let http = HttpClient::new(&a.common.url)?;
            let done = rt.block_on(enroll(&http, &key, &subject, &opts))?;
            std::fs::write(&a.out, pem_of(std::slice::from_ref(&done.certificate))?)
                .map_err(|e| format!("cannot write {}: {e}", a.out.display()))?;
            print_json(&json!({
                "certificate": cert_json(&done.certificate),
                "out": a.out.display().to_string(),
                "digest": done.digest.name(),
                "cipher": done.cipher.name(),
            }))
        }
    }
}
