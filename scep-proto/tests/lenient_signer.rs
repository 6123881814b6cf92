//! PKCSReqs signed by throw-away self-signed certificates that break RFC 5280, as sscep makes
//! them (a 32-byte serial: its transaction ID), and worse: negative serials, version 1,
//! GeneralizedTime before 2050, unknown critical extensions. The CA must accept them; an
//! identity (Mdm-Signature) with such a certificate must still be refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{NOW, ca, key};
use scep_proto::cms::{self, LenientCertificate, Signer};
use scep_proto::issue;
use scep_proto::oids;
use scep_proto::{
    Ca, ContentCipher, Csr, Decision, DigestAlgorithm, MessageType, PkiMessage, PrivateKey,
};

fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(value);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// How the throw-away signer certificate is odd.
struct Odd {
    /// serialNumber contents (two's complement, as sent).
    serial: Vec<u8>,
    /// Emit `[0] version v3` (else version 1: no version field).
    v3: bool,
    /// notBefore and notAfter as full DER Time elements.
    times: (Vec<u8>, Vec<u8>),
    /// An unknown critical extension.
    unknown_extension: bool,
}

fn odd_certificate(k: &dyn PrivateKey, odd: &Odd) -> Vec<u8> {
    let alg = seq(&[&tlv(0x06, oids::SHA256_WITH_RSA.as_bytes()), &[0x05, 0x00]]);
    let name = issue::common_name("sscep throw-away");
    let mut tbs_parts: Vec<Vec<u8>> = Vec::new();
    if odd.v3 {
        tbs_parts.push(tlv(0xa0, &[0x02, 0x01, 0x02]));
    }
    tbs_parts.push(tlv(0x02, &odd.serial));
    tbs_parts.push(alg.clone());
    tbs_parts.push(name.clone());
    tbs_parts.push(seq(&[&odd.times.0, &odd.times.1]));
    tbs_parts.push(name);
    tbs_parts.push(k.public_key_der());
    if odd.unknown_extension {
        let ext = seq(&[
            &tlv(
                0x06,
                &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x63, 0x01],
            ),
            &[0x01, 0x01, 0xff],
            &tlv(0x04, &[0x05, 0x00]),
        ]);
        tbs_parts.push(tlv(0xa3, &seq(&[&ext])));
    }
    let refs: Vec<&[u8]> = tbs_parts.iter().map(Vec::as_slice).collect();
    let tbs = seq(&refs);
    let sig = k.sign(DigestAlgorithm::Sha256, &tbs).unwrap();
    let mut bits = vec![0u8];
    bits.extend_from_slice(&sig);
    seq(&[&tbs, &alg, &tlv(0x03, &bits)])
}

fn printable_attr(oid: &scep_proto::der::oid::ObjectIdentifier, s: &str) -> Vec<u8> {
    seq(&[
        &tlv(0x06, oid.as_bytes()),
        &tlv(0x31, &tlv(0x13, s.as_bytes())),
    ])
}

/// A PKCSReq as sscep sends it: signed by `signer_der`, envelope to the CA.
fn sscep_request(
    ca: &Ca,
    k: &dyn PrivateKey,
    signer_der: &[u8],
    digest: DigestAlgorithm,
    cipher: ContentCipher,
) -> Vec<u8> {
    let csr = Csr::build(
        k,
        &issue::common_name("sscep-device"),
        Some("sekrit"),
        &[],
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    let envelope = cms::envelope(&csr, ca.certificate(), cipher).unwrap();
    let signer = LenientCertificate::parse(signer_der).unwrap();
    let tid = "A".repeat(64);
    let attrs = vec![
        printable_attr(&oids::MESSAGE_TYPE, "19"),
        printable_attr(&oids::TRANSACTION_ID, &tid),
        seq(&[
            &tlv(0x06, oids::SENDER_NONCE.as_bytes()),
            &tlv(0x31, &tlv(0x04, &[9u8; 16])),
        ]),
    ];
    cms::sign(
        &oids::DATA,
        &envelope,
        false,
        &Signer {
            cert: &signer,
            key: k,
            digest,
        },
        &attrs,
        &[],
    )
    .unwrap()
}

fn utc(s: &str) -> Vec<u8> {
    tlv(0x17, s.as_bytes())
}

fn generalized(s: &str) -> Vec<u8> {
    tlv(0x18, s.as_bytes())
}

fn normal_times() -> (Vec<u8>, Vec<u8>) {
    (utc("251101000000Z"), utc("361101000000Z"))
}

fn accepts(odd: &Odd) {
    let (c, ck) = ca();
    let ca = Ca::new(c, ck);
    let k = key(1);
    let signer_der = odd_certificate(k.as_ref(), odd);
    // The strict profile refuses such a certificate; the lenient one takes it.
    assert!(cms::parse_certificate(&signer_der).is_err() || odd.serial.len() <= 20);
    for (digest, cipher) in [
        (DigestAlgorithm::Sha1, ContentCipher::DesCbc),
        (DigestAlgorithm::Sha256, ContentCipher::DesEde3Cbc),
        (DigestAlgorithm::Sha512, ContentCipher::Aes256Cbc),
    ] {
        let der = sscep_request(&ca, k.as_ref(), &signer_der, digest, cipher);
        let req = ca
            .decode_request(&der)
            .unwrap_or_else(|e| panic!("{digest:?}/{cipher:?}: {e}"));
        assert_eq!(req.message.message_type, MessageType::PKCS_REQ);
        assert_eq!(req.signer.der(), signer_der.as_slice());
        assert!(!req.signer_issued_by_ca);
        assert_eq!(req.cipher, cipher);
        let csr = req.csr().unwrap();
        assert_eq!(csr.challenge_password.as_deref(), Some("sekrit"));
        // The CA can answer it: the CertRep's envelope goes to the lenient signer's key.
        let issued = issue::issue(
            csr,
            ca.certificate(),
            ca.key(),
            &issue::IssueOptions::new(vec![0x33], NOW, 3600),
        )
        .unwrap();
        let rep = ca
            .respond(&req, &Decision::Issue(Box::new(issued.clone())))
            .unwrap();
        let msg = PkiMessage::decode(&rep).unwrap();
        msg.verify(&[]).unwrap();
        let (inner, used) = msg.open_envelope(k.as_ref(), None).unwrap();
        assert_eq!(used, cipher);
        assert_eq!(cms::parse_certs_only(&inner).unwrap()[0], issued);
    }
}

#[test]
fn a_32_byte_serial_as_sscep_sends_it_verifies() {
    // sscep: the serial is the 32-byte transaction ID (MD5/SHA hex or raw bytes).
    accepts(&Odd {
        serial: b"0123456789ABCDEF0123456789ABCDEF".to_vec(),
        v3: true,
        times: normal_times(),
        unknown_extension: false,
    });
    // The high bit set: 33 content octets with the sign byte.
    let mut serial = vec![0x00];
    serial.extend([0xc3; 32]);
    accepts(&Odd {
        serial,
        v3: true,
        times: normal_times(),
        unknown_extension: false,
    });
}

#[test]
fn negative_serial_version_1_generalized_time_and_unknown_extensions_verify() {
    accepts(&Odd {
        serial: vec![0xff, 0x12, 0x34],
        v3: false,
        times: (
            generalized("20251101000000Z"),
            generalized("20361101000000Z"),
        ),
        unknown_extension: false,
    });
    accepts(&Odd {
        serial: vec![0x80; 40],
        v3: true,
        times: (utc("251101000000Z"), generalized("20361101000000Z")),
        unknown_extension: true,
    });
}

#[test]
fn a_lenient_signer_is_not_an_identity() {
    let k = key(1);
    let signer_der = odd_certificate(
        k.as_ref(),
        &Odd {
            serial: vec![0x5a; 32],
            v3: true,
            times: normal_times(),
            unknown_extension: false,
        },
    );
    let lenient = LenientCertificate::parse(&signer_der).unwrap();
    let err = lenient.to_strict().unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    // A detached (Mdm-Signature) signature by it is refused: device identities are strict.
    let sig = cms::sign(
        &oids::DATA,
        b"body",
        true,
        &Signer {
            cert: &lenient,
            key: k.as_ref(),
            digest: DigestAlgorithm::Sha256,
        },
        &[],
        &[],
    )
    .unwrap();
    assert!(cms::verify_detached(b"body", &sig).is_err());
}

/// The same with the certificate OpenSSL makes for `-set_serial` with 32 bytes.
#[test]
fn openssl_made_32_byte_serial_signer_verifies() {
    if !mdm_test_support::tool("openssl") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("scep-lenient-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let k = key(1);
    let rsa = k.as_ref().to_pkcs8_pem().unwrap();
    std::fs::write(dir.join("key.pem"), rsa).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-new", "-key"])
        .arg(dir.join("key.pem"))
        .args([
            "-subj",
            "/CN=sscep",
            "-days",
            "30",
            "-outform",
            "DER",
            "-set_serial",
            "0x6E3F2B4A8C0D1E2F3A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F9012",
            "-out",
        ])
        .arg(dir.join("cert.der"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signer_der = std::fs::read(dir.join("cert.der")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(cms::parse_certificate(&signer_der).is_err());
    let (c, ck) = ca();
    let ca = Ca::new(c, ck);
    let der = sscep_request(
        &ca,
        k.as_ref(),
        &signer_der,
        DigestAlgorithm::Sha256,
        ContentCipher::Aes128Cbc,
    );
    let req = ca.decode_request(&der).unwrap();
    assert_eq!(req.signer.der(), signer_der.as_slice());
}
