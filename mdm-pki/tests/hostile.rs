//! Hostile DER/BER, PEM and PKCS#12: every prefix, deep nesting, huge lengths and mutations
//! give typed errors, never a panic; the fuzz entry points replay the corpus; encoders and
//! decoders round-trip (proptest).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support/corpus_files.rs"]
mod corpus_files;

use common::{NOW, ca, client_signer, key};
use corpus_files::{corpus, have_corpus, shared_dir};
use mdm_pki::cms::{self, Signer};
use mdm_pki::{ContentCipher, Csr, DigestAlgorithm, Error, asn1, fuzzing, issue, pem};
use proptest::prelude::*;

/// Everything we build, as seeds.
fn seeds() -> Vec<Vec<u8>> {
    let (ca_cert, ca_key) = ca();
    let k = key(1);
    let cert = client_signer(k.as_ref(), "device");
    let csr = Csr::build(
        k.as_ref(),
        &issue::common_name("device"),
        Some("sekrit"),
        &[],
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    let env = cms::envelope(&csr, &ca_cert, ContentCipher::Aes128Cbc).unwrap();
    let signed = cms::sign(
        &mdm_pki::oids::DATA,
        &env,
        false,
        &Signer {
            cert: &cert,
            key: k.as_ref(),
            digest: DigestAlgorithm::Sha256,
        },
        &[],
        &[&ca_cert],
    )
    .unwrap();
    let detached = cms::sign_detached(b"body", &cert, ca_key.as_ref(), DigestAlgorithm::Sha1)
        .unwrap_or_default();
    let bundle = cms::certs_only(&[&cert, &ca_cert]).unwrap();
    let cert_der = cms::cert_der(&cert).unwrap();
    let mut out = vec![csr, env, signed, detached, bundle, cert_der.clone()];
    out.push(pem::encode("CERTIFICATE", &cert_der).into_bytes());
    out.push(k.to_pkcs1_pem().unwrap().into_bytes());
    out.push(k.to_pkcs8_pem().unwrap().into_bytes());
    out
}

/// Every real PKI file of the corpus.
fn corpus_files() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sub in ["scep", "apns", "dep"] {
        let Ok(dir) = std::fs::read_dir(shared_dir().join("corpus").join(sub)) else {
            continue;
        };
        for e in dir.flatten() {
            if e.path().is_file() {
                out.push(std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

#[test]
fn every_prefix_is_a_typed_error() {
    for seed in seeds() {
        for n in 0..seed.len() {
            let p = &seed[..n];
            assert!(cms::parse_certificate(p).is_err());
            assert!(cms::LenientCertificate::parse(p).is_err());
            assert!(cms::SignedData::parse(p).is_err());
            assert!(Csr::parse(p).is_err());
            if p.first() == Some(&0x30) {
                assert!(asn1::Tlv::parse_exact(p, "prefix").is_err());
                assert!(asn1::ber_to_der(p).is_err(), "prefix {n} of {}", seed.len());
            }
            fuzzing::pem_and_pkcs12(p);
        }
    }
}

#[test]
fn deep_nesting_is_refused_without_recursion() {
    // 100,000 nested indefinite-length SEQUENCEs, then as many end-of-contents.
    let mut bomb = [0x30u8, 0x80].repeat(100_000);
    bomb.extend(std::iter::repeat_n(0u8, 200_000));
    match asn1::ber_to_der(&bomb) {
        Err(Error::Malformed { reason, .. }) => assert!(reason.contains("deep"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(cms::SignedData::parse(&bomb).is_err());
    assert!(Csr::parse(&bomb).is_err());
    // 100,000 nested definite constructed OCTET STRINGs (BER) of one byte.
    let mut nested = vec![0x04, 0x01, 0x00];
    for _ in 0..100_000 {
        let mut outer = vec![0x24, 0x84];
        outer.extend_from_slice(&u32::try_from(nested.len()).unwrap().to_be_bytes());
        outer.extend_from_slice(&nested);
        nested = outer;
        if nested.len() > 900_000 {
            break;
        }
    }
    assert!(asn1::ber_to_der(&nested).is_err());
    fuzzing::ber(&bomb);
    fuzzing::certificate(&bomb);
}

#[test]
fn huge_lengths_are_refused_without_allocating() {
    for input in [
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
        &[0x30, 0x88, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..],
        &[0x04, 0x83, 0x10, 0x00, 0x00, 0x00][..],
        &[0x30, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00][..],
    ] {
        assert!(
            matches!(asn1::ber_to_der(input), Err(Error::Malformed { .. })),
            "{input:02x?}"
        );
        assert!(matches!(
            asn1::Tlv::parse_exact(input, "huge"),
            Err(Error::Malformed { .. })
        ));
        assert!(cms::SignedData::parse(input).is_err());
        assert!(cms::parse_certificate(input).is_err());
    }
    let big = vec![0x30; asn1::MAX_INPUT + 1];
    assert!(matches!(
        asn1::ber_to_der(&big),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        pem::parse(&vec![b'A'; pem::MAX_PEM + 1]),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        mdm_pki::pkcs12::read(&vec![0x30; mdm_pki::pkcs12::MAX_PKCS12 + 1], "x"),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        cms::verify_detached(b"x", &vec![0x30; cms::MAX_SIGNATURE + 1]),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn bad_pem_gets_named_errors() {
    let cases: [(&[u8], &str); 4] = [
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n", "no END"),
        (
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "does not close",
        ),
        (
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
            "CERTIFICATE",
        ),
        (b"\xff\xfe", "UTF-8"),
    ];
    for (input, want) in cases {
        let err = pem::parse(input).unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
    }
    let many = "-----BEGIN X-----\n-----END X-----\n".repeat(pem::MAX_BLOCKS + 1);
    assert!(pem::parse(many.as_bytes()).is_err());
    // An encrypted key without a passphrase, and with a wrong one.
    let enc = b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAAAAAAAAAAAAAAAAAAAA==\n-----END RSA PRIVATE KEY-----\n";
    assert!(matches!(
        pem::private_key(enc, None),
        Err(Error::Passphrase(_))
    ));
    assert!(matches!(
        pem::private_key(enc, Some(b"wrong")),
        Err(Error::Passphrase(_))
    ));
}

/// A tiny deterministic generator (no clock, no OS randomness: failures reproduce).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap()).unwrap()
    }
}

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(4) {
        if v.is_empty() {
            break;
        }
        let i = rng.below(v.len());
        match rng.below(4) {
            0 => v[i] ^= 1 << rng.below(8),
            1 => v[i] = 0xff,
            2 => {
                v.remove(i);
            }
            _ => v.insert(i, 0x80),
        }
    }
    v
}

#[test]
fn fuzz_entry_points_replay_the_corpus_and_mutations() {
    if !have_corpus() {
        return;
    }
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut inputs = seeds();
    inputs.extend(corpus_files());
    assert!(inputs.len() > 10);
    for seed in &inputs {
        fuzzing::ber(seed);
        fuzzing::certificate(seed);
        fuzzing::pem_and_pkcs12(seed);
        fuzzing::ecdsa(seed);
        for _ in 0..40 {
            let m = mutate(seed, &mut rng);
            fuzzing::ber(&m);
            fuzzing::certificate(&m);
            fuzzing::pem_and_pkcs12(&m);
            fuzzing::ecdsa(&m);
        }
    }
}

#[test]
fn corpus_vectors_parse() {
    if !have_corpus() {
        return;
    }
    let ca = cms::parse_certificates(&corpus("scep/scep_testca_ca.crt")).unwrap();
    assert_eq!(ca.len(), 1);
    let chain = cms::parse_certificates(&corpus("scep/scep_testca2_ca2.pem")).unwrap();
    assert_eq!(chain.len(), 1);
    let key = mdm_pki::RsaKey::from_pem(
        std::str::from_utf8(&corpus("scep/scep_testca_ca.key")).unwrap(),
        None,
    )
    .unwrap();
    let k = pem::private_key(&corpus("scep/scep_testca_ca.key"), Some(b"")).unwrap();
    k.matches_certificate(&cms::cert_der(&ca[0]).unwrap())
        .unwrap();
    let _ = key;
    for name in [
        "scep/scep_PKCSReq.der",
        "scep/scep_CertRep.der",
        "scep/scep_testca2_CertRep_NoCertificatesForSigners.der",
    ] {
        let sd = cms::SignedData::parse(&corpus(name)).unwrap();
        assert_eq!(sd.signers.len(), 1, "{name}");
    }
    let req = cms::SignedData::parse(&corpus("scep/scep_PKCSReq.der")).unwrap();
    let (_, der) = req.signer_certificate(0).unwrap();
    req.verify(0, der, None).unwrap();
}

#[test]
fn a_chain_is_checked_against_a_given_time() {
    let (ca_cert, ca_key) = ca();
    let k = key(2);
    let csr = Csr::parse(
        &Csr::build(
            k.as_ref(),
            &issue::common_name("device"),
            None,
            &[],
            DigestAlgorithm::Sha256,
        )
        .unwrap(),
    )
    .unwrap();
    csr.verify().unwrap();
    let issued = issue::issue(
        &csr,
        &ca_cert,
        ca_key.as_ref(),
        &issue::IssueOptions::new(vec![5], NOW, 3600),
    )
    .unwrap();
    let issued_der = cms::cert_der(&issued).unwrap();
    let ca_der = cms::cert_der(&ca_cert).unwrap();
    let parts = cms::CertParts::parse(&issued_der).unwrap();
    let ca_parts = cms::CertParts::parse(&ca_der).unwrap();
    parts.verify_signed_by(ca_parts.spki).unwrap();
    assert!(parts.verify_signed_by(parts.spki).is_err());
    let validity = issued.tbs_certificate().validity();
    let nb = validity.not_before.to_unix_duration().as_secs();
    let na = validity.not_after.to_unix_duration().as_secs();
    assert_eq!(i64::try_from(nb).unwrap(), NOW);
    assert_eq!(i64::try_from(na).unwrap(), NOW + 3600);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn pem_round_trips(label in "[A-Z]{1,12}( [A-Z]{1,8})?", der in proptest::collection::vec(any::<u8>(), 0..600)) {
        let text = pem::encode(&label, &der);
        let blocks = pem::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(blocks.len(), 1);
        prop_assert_eq!(&blocks[0].label, &label);
        prop_assert_eq!(&blocks[0].der, &der);
    }

    #[test]
    fn der_writer_and_reader_agree(
        parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
    ) {
        let elements: Vec<Vec<u8>> = parts.iter().map(|p| asn1::octets(p)).collect();
        let refs: Vec<&[u8]> = elements.iter().map(Vec::as_slice).collect();
        let seq = asn1::seq(&refs);
        // DER is BER: normalising changes nothing.
        prop_assert_eq!(asn1::ber_to_der(&seq).unwrap(), seq.clone());
        let t = asn1::Tlv::parse_exact(&seq, "seq").unwrap();
        let mut r = t.reader();
        for p in &parts {
            let e = r.read_tag(asn1::tag::OCTET_STRING, "element").unwrap();
            prop_assert_eq!(e.value, p.as_slice());
        }
        prop_assert!(r.is_empty());
    }

    #[test]
    fn ber_constructed_strings_normalise(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..50), 1..6)) {
        // An indefinite-length constructed OCTET STRING of `chunks`.
        let mut ber = vec![0x24, 0x80];
        for c in &chunks {
            ber.extend(asn1::octets(c));
        }
        ber.extend([0, 0]);
        prop_assert_eq!(asn1::ber_to_der(&ber).unwrap(), asn1::octets(&chunks.concat()));
    }

    #[test]
    fn small_integers_round_trip(n in any::<u64>()) {
        let der = asn1::small_uint(n);
        let t = asn1::Tlv::parse_exact(&der, "int").unwrap();
        prop_assert_eq!(t.small_uint("int").unwrap(), n);
    }
}

#[test]
fn validation_checks_issuer_signature_and_dates_at_the_given_time() {
    use mdm_pki::validate::{Validation, validate_chain, validate_dates, validate_issued_by};
    let (ca_cert, ca_key) = ca();
    let other_ca = issue::self_signed(
        key(2).as_ref(),
        &issue::name_from_str("CN=Test SCEP CA,O=scep-proto").unwrap(),
        true,
        &issue::IssueOptions::new(vec![9], NOW - 3600, 86_400 * 365),
    )
    .unwrap();
    let device_key = key(1);
    let csr = Csr::parse(
        &Csr::build(
            device_key.as_ref(),
            &issue::common_name("device"),
            None,
            &[],
            DigestAlgorithm::Sha256,
        )
        .unwrap(),
    )
    .unwrap();
    let leaf = issue::issue(
        &csr,
        &ca_cert,
        ca_key.as_ref(),
        &issue::IssueOptions::new(vec![5], NOW, 3600),
    )
    .unwrap();
    let at = Validation::at(NOW + 60);
    validate_issued_by(&leaf, &ca_cert, &at).unwrap();
    assert_eq!(
        validate_chain(&leaf, &[other_ca.clone(), ca_cert.clone()], &at).unwrap(),
        1
    );
    // Same issuer name, another key: the signature decides.
    assert!(matches!(
        validate_issued_by(&leaf, &other_ca, &at),
        Err(mdm_pki::Error::BadSignature(_))
    ));
    // The given time decides, not the machine's clock.
    assert!(validate_dates(&leaf, &Validation::at(NOW + 3601)).is_err());
    assert!(validate_dates(&leaf, &Validation::at(NOW - 301)).is_err());
    validate_dates(&leaf, &Validation::at(NOW - 299)).unwrap();
    // A CA is not its own anchor, and no anchors is an error.
    assert!(validate_chain(&ca_cert, std::slice::from_ref(&ca_cert), &at).is_err());
    assert!(validate_chain(&leaf, &[], &at).is_err());
}
