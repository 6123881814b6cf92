//! `mdmctl inspect scep`: decode a SCEP pkiMessage; with the CA's key, open its envelope.

use std::path::PathBuf;

use base64::Engine as _;
use scep_proto::{Csr, PkiMessage, RsaKey, cms};
use serde_json::{Value, json};

use crate::output::{CliResult, print_json, read_input};

/// Arguments of `mdmctl inspect scep`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pkiMessage (DER, or base64 as in a GET `message`); `-` or nothing for stdin.
    pub file: Option<PathBuf>,
    /// The CA (or RA) certificate the request was encrypted to (PEM or DER).
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// The CA (or RA) private key (PEM: PKCS#8, PKCS#1, or legacy-encrypted PKCS#1).
    #[arg(long)]
    pub ca_key: Option<PathBuf>,
    /// Passphrase of an encrypted `--ca-key` (default: empty).
    #[arg(long, default_value = "")]
    pub ca_key_pass: String,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn cert_json(c: &scep_proto::cms::LenientCertificate) -> Value {
    let tbs = c.tbs_certificate();
    let serial: Vec<String> = tbs
        .serial_number()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    json!({
        "subject": tbs.subject().to_string(),
        "issuer": tbs.issuer().to_string(),
        "serial": serial.join(":"),
    })
}

/// Runs the subcommand.
pub fn run(args: Args) -> CliResult {
    let input = read_input(args.file.as_deref())?;
    let der = if input.first() == Some(&0x30) {
        input
    } else {
        let text: String = String::from_utf8_lossy(&input)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|_| "input is neither DER nor base64 of a pkiMessage")?
    };
    let msg = PkiMessage::decode(&der)?;
    let ca_certs = match &args.ca_cert {
        Some(p) => cms::parse_certificates(
            &std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        )?,
        None => Vec::new(),
    };
    let verified = msg.verify(&ca_certs);
    let mut value = json!({
        "messageType": msg.message_type.0,
        "transactionID": msg.transaction_id,
        "senderNonce": msg.sender_nonce.as_deref().map(hex),
        "recipientNonce": msg.recipient_nonce.as_deref().map(hex),
        "digest": msg.digest.name(),
        "signer": msg.signer_certificate().map(cert_json)
            .or_else(|| verified.as_ref().ok().map(cert_json)),
        "signatureValid": verified.is_ok(),
        "certificates": msg.signed.certificates.iter().map(cert_json).collect::<Vec<_>>(),
        "envelope": msg.envelope.is_some(),
    });
    if let Err(e) = &verified {
        value["signatureError"] = json!(e.to_string());
    }
    if let Some(s) = msg.pki_status {
        value["pkiStatus"] = json!(s.to_string());
    }
    if let Some(f) = msg.fail_info {
        value["failInfo"] = json!(f.to_string());
    }
    if let Some(t) = &msg.fail_info_text {
        value["failInfoText"] = json!(t);
    }
    if let Some(key_path) = &args.ca_key {
        let pem = std::fs::read_to_string(key_path)
            .map_err(|e| format!("cannot read {}: {e}", key_path.display()))?;
        let key = RsaKey::from_pem(&pem, Some(args.ca_key_pass.as_bytes()))?;
        let (inner, cipher) = msg.open_envelope(&key, ca_certs.first())?;
        value["cipher"] = json!(cipher.name());
        match msg.message_type {
            scep_proto::MessageType::PKCS_REQ | scep_proto::MessageType::RENEWAL_REQ => {
                let csr = Csr::parse(&inner)?;
                value["csr"] = json!({
                    "version": csr.version,
                    "subject": csr.subject.to_string(),
                    "challengePassword": csr.challenge_password,
                    "signatureValid": csr.verify().is_ok(),
                });
            }
            _ => {
                value["content"] = json!(hex(&inner));
            }
        }
    }
    let name = msg.message_type.name();
    print_json(&json!({
        "kind": "scep",
        "type": name.map_or_else(|| msg.message_type.0.to_string(), str::to_owned),
        "known": name.is_some(),
        "value": value,
    }))
}
