//! A small certificate-issuing helper: serial, validity, key usage, clientAuth EKU, subject
//! from the CSR; and self-signed certificates (a CA, or a client's SCEP signer).

use x509_cert::Certificate;

use crate::algorithm::DigestAlgorithm;
use crate::asn1::{self, tag};
use crate::cms::{self, CertParts};
use crate::csr::Csr;
use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::oids;

/// What to put in an issued certificate besides the CSR's subject and key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssueOptions {
    /// Serial number (big-endian magnitude; made positive).
    pub serial: Vec<u8>,
    /// notBefore, seconds since the Unix epoch (the caller's clock: this crate reads none).
    pub not_before: i64,
    /// Validity in seconds from `not_before`.
    pub validity_secs: i64,
    /// Signature digest.
    pub digest: DigestAlgorithm,
    /// Add the clientAuth extended key usage (on by default).
    pub client_auth: bool,
    /// Copy a subjectAltName from the CSR's extensionRequest (on by default).
    pub copy_subject_alt_name: bool,
    /// Issue an intermediate CA (basicConstraints cA=true, keyCertSign and cRLSign, no
    /// clientAuth) instead of an end entity; off by default. See [`IssueOptions::with_ca`].
    pub ca: bool,
    /// The pathLenConstraint of an intermediate CA (only with `ca`).
    pub path_len: Option<u8>,
}

impl IssueOptions {
    /// Options with the given serial and validity window; SHA-256, clientAuth, SAN copied.
    pub fn new(serial: Vec<u8>, not_before: i64, validity_secs: i64) -> Self {
        Self {
            serial,
            not_before,
            validity_secs,
            digest: DigestAlgorithm::Sha256,
            client_auth: true,
            copy_subject_alt_name: true,
            ca: false,
            path_len: None,
        }
    }

    /// Makes [`issue`] issue an intermediate CA with this pathLenConstraint (`None`: none).
    pub fn with_ca(mut self, path_len: Option<u8>) -> Self {
        self.ca = true;
        self.path_len = path_len;
        self
    }

    /// Sets the digest.
    pub fn with_digest(mut self, digest: DigestAlgorithm) -> Self {
        self.digest = digest;
        self
    }
}

/// Issues an end-entity certificate for `csr` (whose signature the caller has checked), or an
/// intermediate CA with [`IssueOptions::with_ca`].
pub fn issue(
    csr: &Csr,
    ca_cert: &Certificate,
    ca_key: &dyn PrivateKey,
    opts: &IssueOptions,
) -> Result<Certificate> {
    let ca_der = cms::cert_der(ca_cert)?;
    let ca = CertParts::parse(&ca_der)?;
    let mut exts = if opts.ca {
        let path_len = opts.path_len.map(|n| asn1::small_uint(u64::from(n)));
        let mut bc: Vec<&[u8]> = vec![&[tag::BOOLEAN, 1, 0xff]];
        bc.extend(path_len.as_deref());
        vec![
            extension(&oids::BASIC_CONSTRAINTS, true, &asn1::seq(&bc)),
            // digitalSignature | keyCertSign | cRLSign
            extension(&oids::KEY_USAGE, true, &[tag::BIT_STRING, 2, 1, 0x86]),
        ]
    } else {
        vec![
            extension(&oids::BASIC_CONSTRAINTS, true, &asn1::seq(&[])),
            // digitalSignature | keyEncipherment
            extension(&oids::KEY_USAGE, true, &[tag::BIT_STRING, 2, 5, 0xa0]),
        ]
    };
    if opts.client_auth && !opts.ca {
        exts.push(extension(
            &oids::EXT_KEY_USAGE,
            false,
            &asn1::seq(&[&asn1::oid(&oids::KP_CLIENT_AUTH)]),
        ));
    }
    exts.push(extension(
        &oids::SUBJECT_KEY_ID,
        false,
        &asn1::octets(&key_id(&csr.public_key_der)?),
    ));
    let aki = match ca.subject_key_id() {
        Some(id) => id.to_vec(),
        None => key_id(ca.spki)?,
    };
    exts.push(extension(
        &oids::AUTHORITY_KEY_ID,
        false,
        &asn1::seq(&[&asn1::tlv(tag::CTX0_PRIM, &aki)]),
    ));
    if opts.copy_subject_alt_name
        && let Some(san) = csr
            .extensions_der
            .as_deref()
            .and_then(|e| find_extension(e, &oids::SUBJECT_ALT_NAME))
    {
        exts.push(san);
    }
    build(
        &opts.serial,
        ca.subject,
        &csr.subject_der,
        &csr.public_key_der,
        opts,
        &exts,
        ca_key,
    )
}

/// A self-signed certificate for `key`: a CA (`ca = true`: basicConstraints CA, keyCertSign)
/// or an end entity (a SCEP client's temporary signer).
pub fn self_signed(
    key: &dyn PrivateKey,
    subject_der: &[u8],
    ca: bool,
    opts: &IssueOptions,
) -> Result<Certificate> {
    let spki = key.public_key_der();
    let ski = key_id(&spki)?;
    let exts = if ca {
        vec![
            extension(
                &oids::BASIC_CONSTRAINTS,
                true,
                &asn1::seq(&[&[tag::BOOLEAN, 1, 0xff]]),
            ),
            // digitalSignature | keyCertSign | cRLSign
            extension(&oids::KEY_USAGE, true, &[tag::BIT_STRING, 2, 1, 0x86]),
            extension(&oids::SUBJECT_KEY_ID, false, &asn1::octets(&ski)),
        ]
    } else {
        vec![
            extension(&oids::KEY_USAGE, true, &[tag::BIT_STRING, 2, 5, 0xa0]),
            extension(&oids::SUBJECT_KEY_ID, false, &asn1::octets(&ski)),
        ]
    };
    build(
        &opts.serial,
        subject_der,
        subject_der,
        &spki,
        opts,
        &exts,
        key,
    )
}

/// A DER Name from (attribute OID, value) pairs, one RDN each, as UTF8String
/// (PrintableString for country).
pub fn name(parts: &[(const_oid::ObjectIdentifier, &str)]) -> Vec<u8> {
    let rdns: Vec<Vec<u8>> = parts
        .iter()
        .map(|(o, v)| {
            let value = if o.to_string() == "2.5.4.6" {
                asn1::printable(v)
            } else {
                asn1::tlv(tag::UTF8_STRING, v.as_bytes())
            };
            asn1::set_of(&[&asn1::seq(&[&asn1::oid(o), &value])])
        })
        .collect();
    let refs: Vec<&[u8]> = rdns.iter().map(Vec::as_slice).collect();
    asn1::seq(&refs)
}

/// A DER Name with one commonName.
pub fn common_name(cn: &str) -> Vec<u8> {
    name(&[(oids::COMMON_NAME, cn)])
}

/// Parses an RFC 4514-ish `CN=x,O=y,C=z` string into a DER Name (CN, O, OU, C, L, ST).
pub fn name_from_str(s: &str) -> Result<Vec<u8>> {
    let mut parts = Vec::new();
    for p in s.split([',', '/']).map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("bad name component {p:?}")))?;
        let oid = match k.trim().to_ascii_uppercase().as_str() {
            "CN" => oids::COMMON_NAME,
            "O" => const_oid::ObjectIdentifier::new_unwrap("2.5.4.10"),
            "OU" => const_oid::ObjectIdentifier::new_unwrap("2.5.4.11"),
            "C" => const_oid::ObjectIdentifier::new_unwrap("2.5.4.6"),
            "L" => const_oid::ObjectIdentifier::new_unwrap("2.5.4.7"),
            "ST" => const_oid::ObjectIdentifier::new_unwrap("2.5.4.8"),
            other => return Err(Error::Usage(format!("unknown name attribute {other}"))),
        };
        parts.push((oid, v.trim()));
    }
    Ok(name(&parts))
}

fn build(
    serial: &[u8],
    issuer_der: &[u8],
    subject_der: &[u8],
    spki: &[u8],
    opts: &IssueOptions,
    exts: &[Vec<u8>],
    key: &dyn PrivateKey,
) -> Result<Certificate> {
    if serial.iter().all(|&b| b == 0) || serial.len() > 20 {
        return Err(Error::Usage(
            "serial must be 1..=20 bytes and non-zero".into(),
        ));
    }
    let sig_alg = key.signature_algorithm(opts.digest);
    let not_after = opts
        .not_before
        .checked_add(opts.validity_secs)
        .ok_or_else(|| Error::Usage("validity overflows".into()))?;
    let ext_refs: Vec<&[u8]> = exts.iter().map(Vec::as_slice).collect();
    let tbs = asn1::seq(&[
        &asn1::tlv(tag::CTX0, &asn1::small_uint(2)),
        &asn1::uint(serial),
        &sig_alg,
        issuer_der,
        &asn1::seq(&[&time(opts.not_before)?, &time(not_after)?]),
        subject_der,
        spki,
        &asn1::tlv(tag::CTX3, &asn1::seq(&ext_refs)),
    ]);
    let sig = key.sign(opts.digest, &tbs)?;
    let mut bits = vec![0u8];
    bits.extend_from_slice(&sig);
    let der = asn1::seq(&[&tbs, &sig_alg, &asn1::tlv(tag::BIT_STRING, &bits)]);
    cms::parse_certificate(&der)
}

fn extension(oid: &const_oid::ObjectIdentifier, critical: bool, value: &[u8]) -> Vec<u8> {
    if critical {
        asn1::seq(&[
            &asn1::oid(oid),
            &[tag::BOOLEAN, 1, 0xff],
            &asn1::octets(value),
        ])
    } else {
        asn1::seq(&[&asn1::oid(oid), &asn1::octets(value)])
    }
}

fn find_extension(exts: &[u8], wanted: &const_oid::ObjectIdentifier) -> Option<Vec<u8>> {
    let seq = asn1::Tlv::parse_exact(exts, "extensions").ok()?;
    let mut r = seq.reader();
    while let Ok(Some(e)) = r.read_optional_any() {
        let oid = e
            .reader()
            .read("extension id")
            .ok()?
            .oid("extension id")
            .ok()?;
        if oid == *wanted {
            return Some(e.raw.to_vec());
        }
    }
    None
}

/// SHA-1 of the subjectPublicKey bits (RFC 5280 method 1).
fn key_id(spki_der: &[u8]) -> Result<Vec<u8>> {
    let spki = asn1::Tlv::parse_exact(spki_der, "SubjectPublicKeyInfo")?;
    let mut r = spki.reader();
    r.read_tag(tag::SEQUENCE, "algorithm")?;
    let bits = r.read_tag(tag::BIT_STRING, "subjectPublicKey")?;
    Ok(DigestAlgorithm::Sha1.digest(bits.value.get(1..).unwrap_or_default()))
}

/// UTCTime up to 2049, GeneralizedTime after (RFC 5280).
fn time(unix: i64) -> Result<Vec<u8>> {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if !(1950..=9999).contains(&y) {
        return Err(Error::Usage(format!("year {y} out of range")));
    }
    let (hh, mm, ss) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if y < 2050 {
        let s = format!("{:02}{m:02}{d:02}{hh:02}{mm:02}{ss:02}Z", y % 100);
        Ok(asn1::tlv(tag::UTC_TIME, s.as_bytes()))
    } else {
        let s = format!("{y:04}{m:02}{d:02}{hh:02}{mm:02}{ss:02}Z");
        Ok(asn1::tlv(tag::GENERALIZED_TIME, s.as_bytes()))
    }
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}
