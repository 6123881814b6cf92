//! The CA directory: the CA itself, serial numbers, issued certificates, transactions and the
//! requests that wait for an operator.
//!
//! ```text
//! ca.pem, ca.key, serial        the CA (key PKCS#8, mode 0600) and the next serial (decimal)
//! next-ca.pem                   optional: the next CA certificate (GetNextCACert)
//! issued/<serial>.pem           every certificate issued (decimal serial)
//! transactions/<id>             the serial issued for a transaction (CertPoll answers it again)
//! pending/<id>.pem              a request answered PENDING (header lines, then the CSR)
//! approved/<id>.pem             ... moved here by the operator to issue it at the next poll
//! rejected/<id>.pem             ... or here to refuse it
//! ```
//!
//! `<id>` is the first 32 hex digits of the SHA-256 of the transactionID, so that a
//! client-chosen transactionID never becomes a path. Every file is written whole to a
//! temporary name and renamed, so a reader never sees half a file.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use scep_proto::issue::{self, IssueOptions};
use scep_proto::key::{pem_blocks, pem_encode};
use scep_proto::policy::Issuing;
use scep_proto::{Certificate, Csr, DigestAlgorithm, PrivateKey, RsaKey, cms};

/// Errors of the store (I/O or a file that does not parse).
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// Where a transaction stands.
#[derive(Debug)]
pub enum TransactionState {
    /// A certificate was issued for it.
    Issued(Box<Certificate>),
    /// It waits for the operator.
    Pending(Box<Csr>),
    /// The operator approved it; it is issued at the next poll.
    Approved(Box<Csr>),
    /// The operator refused it.
    Rejected,
    /// Never seen.
    Unknown,
}

/// The CA directory.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    serial: Mutex<()>,
}

/// The file name used for a transactionID.
pub fn transaction_file_id(transaction_id: &str) -> String {
    DigestAlgorithm::Sha256
        .digest(transaction_id.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Store {
    /// The store at `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            serial: Mutex::new(()),
        }
    }

    /// Loads the CA, creating it (an RSA key of `bits`, named `name`) on first start.
    pub fn load_or_create_ca(
        &self,
        bits: usize,
        name: &str,
        now: i64,
    ) -> Result<(Certificate, RsaKey), StoreError> {
        let cert_path = self.dir.join("ca.pem");
        let key_path = self.dir.join("ca.key");
        if !cert_path.exists() {
            std::fs::create_dir_all(self.dir.join("issued"))?;
            tracing::info!(dir = %self.dir.display(), bits, "creating a new CA");
            let key = RsaKey::generate(bits)?;
            let cert = issue::self_signed(
                &key,
                &issue::common_name(name),
                true,
                &IssueOptions::new(vec![1], now - 3600, 10 * 365 * 86_400),
            )?;
            write_private(&key_path, key.to_pkcs8_pem()?.as_bytes())?;
            write_atomic(
                &cert_path,
                pem_encode("CERTIFICATE", &der(&cert)?).as_bytes(),
            )?;
            write_atomic(&self.dir.join("serial"), b"2\n")?;
        }
        let cert = first_cert(&cert_path)?;
        let key = RsaKey::from_pem(&std::fs::read_to_string(&key_path)?, None)?;
        Ok((cert, key))
    }

    /// The next CA certificate from `path` (or `next-ca.pem` in the directory), if any.
    pub fn next_ca(&self, path: Option<&Path>) -> Result<Option<Certificate>, StoreError> {
        let default = self.dir.join("next-ca.pem");
        let path = match path {
            Some(p) => p.to_path_buf(),
            None if default.exists() => default,
            None => return Ok(None),
        };
        Ok(Some(first_cert(&path)?))
    }

    /// Issues a certificate for `csr` with the next serial, stores it and, when given,
    /// records it as the answer to `transaction_id`.
    pub fn issue(
        &self,
        csr: &Csr,
        ca: &Certificate,
        key: &dyn PrivateKey,
        issuing: &Issuing,
        now: i64,
        transaction_id: Option<&str>,
    ) -> Result<Certificate, StoreError> {
        let serial = {
            let _guard = self.serial.lock().map_err(|_| "serial lock poisoned")?;
            let path = self.dir.join("serial");
            let text = std::fs::read_to_string(&path)?;
            let serial: u64 = text
                .trim()
                .parse()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            write_atomic(&path, format!("{}\n", serial + 1).as_bytes())?;
            serial
        };
        let cert = issue::issue(
            csr,
            ca,
            key,
            &issuing.options(serial.to_be_bytes().to_vec(), now),
        )?;
        let issued = self.dir.join("issued");
        std::fs::create_dir_all(&issued)?;
        write_atomic(
            &issued.join(format!("{serial}.pem")),
            pem_encode("CERTIFICATE", &der(&cert)?).as_bytes(),
        )?;
        if let Some(tid) = transaction_id {
            let dir = self.dir.join("transactions");
            std::fs::create_dir_all(&dir)?;
            write_atomic(
                &dir.join(transaction_file_id(tid)),
                format!("{serial}\n").as_bytes(),
            )?;
            for state in ["pending", "approved"] {
                let _ = std::fs::remove_file(self.request_path(state, tid));
            }
        }
        Ok(cert)
    }

    /// An issued certificate by serial number (a full DER INTEGER, as GetCert carries it).
    pub fn find_issued(&self, serial_der: &[u8]) -> Option<Certificate> {
        let content = match serial_der {
            [0x02, len, rest @ ..] if usize::from(*len) == rest.len() => rest,
            _ => return None,
        };
        // Our serials are positive u64s; anything negative or longer was not issued here.
        if content.first().is_none_or(|b| b & 0x80 != 0) {
            return None;
        }
        let start = content
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(content.len());
        let digits = &content[start..];
        if digits.len() > 8 {
            return None;
        }
        let n = digits.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b));
        first_cert(&self.dir.join("issued").join(format!("{n}.pem"))).ok()
    }

    /// Where `transaction_id` stands.
    pub fn transaction(&self, transaction_id: &str) -> Result<TransactionState, StoreError> {
        let id = transaction_file_id(transaction_id);
        match std::fs::read_to_string(self.dir.join("transactions").join(&id)) {
            Ok(text) => {
                let serial: u64 = text
                    .trim()
                    .parse()
                    .map_err(|e| format!("transaction {id}: {e}"))?;
                let cert = first_cert(&self.dir.join("issued").join(format!("{serial}.pem")))?;
                return Ok(TransactionState::Issued(Box::new(cert)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        for state in ["approved", "rejected", "pending"] {
            let path = self.request_path(state, transaction_id);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            if state == "rejected" {
                return Ok(TransactionState::Rejected);
            }
            let block = pem_blocks(&text)?
                .into_iter()
                .find(|b| b.label == "CERTIFICATE REQUEST")
                .ok_or_else(|| format!("no CSR in {}", path.display()))?;
            let csr = Box::new(Csr::parse(&block.der)?);
            return Ok(if state == "approved" {
                TransactionState::Approved(csr)
            } else {
                TransactionState::Pending(csr)
            });
        }
        Ok(TransactionState::Unknown)
    }

    /// Stores a request answered PENDING, for the operator (`mdmctl scep pending`).
    pub fn add_pending(&self, transaction_id: &str, csr: &Csr, now: i64) -> Result<(), StoreError> {
        let dir = self.dir.join("pending");
        std::fs::create_dir_all(&dir)?;
        let challenge = if csr.challenge_password.is_some() {
            "present"
        } else {
            "absent"
        };
        let text = format!(
            "transaction-id: {}\nsubject: {}\nreceived: {now}\nchallenge: {challenge}\n{}",
            transaction_id.escape_default(),
            csr.subject.to_string().escape_default(),
            pem_encode("CERTIFICATE REQUEST", &csr.der)
        );
        write_atomic(
            &self.request_path("pending", transaction_id),
            text.as_bytes(),
        )?;
        Ok(())
    }

    /// Moves a request to `rejected/` (a policy refused it at a poll).
    pub fn reject(&self, transaction_id: &str) -> Result<(), StoreError> {
        std::fs::create_dir_all(self.dir.join("rejected"))?;
        for state in ["approved", "pending"] {
            let from = self.request_path(state, transaction_id);
            if from.exists() {
                std::fs::rename(&from, self.request_path("rejected", transaction_id))?;
            }
        }
        Ok(())
    }

    fn request_path(&self, state: &str, transaction_id: &str) -> PathBuf {
        self.dir
            .join(state)
            .join(format!("{}.pem", transaction_file_id(transaction_id)))
    }
}

fn der(cert: &Certificate) -> Result<Vec<u8>, StoreError> {
    use scep_proto::der::Encode as _;
    Ok(cert.to_der()?)
}

fn first_cert(path: &Path) -> Result<Certificate, StoreError> {
    cms::parse_certificates(&std::fs::read(path)?)?
        .into_iter()
        .next()
        .ok_or_else(|| format!("no certificate in {}", path.display()).into())
}

/// Writes a file whole: to a temporary name beside it (unique to this process and call, so
/// concurrent writers of one file never share it), then renamed over it.
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
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
