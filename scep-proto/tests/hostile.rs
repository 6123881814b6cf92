//! Hostile input: truncated, BER-bombed, mutated and oversized messages get a typed error,
//! never a panic; the fuzzing functions are replayed over seeds and mutations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support/corpus_files.rs"]
mod corpus_files;

use common::{ca, client_signer, key};
use corpus_files::{corpus, have_corpus, shared_dir};
use scep_proto::{
    Ca, ContentCipher, Csr, DigestAlgorithm, Error, PkiMessage, client, cms, fuzzing, issue,
};

/// A small deterministic PRNG (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    if v.is_empty() {
        return v;
    }
    for _ in 0..=rng.below(4) {
        let i = rng.below(v.len());
        match rng.below(5) {
            0 => v[i] ^= 1 << rng.below(8),
            1 => v[i] = 0x80,
            2 => v[i] = 0xff,
            3 => v.truncate(i.max(1)),
            _ => {
                let b = v[i];
                v.insert(i, b);
            }
        }
    }
    v
}

fn our_request() -> Vec<u8> {
    let (ca_cert, _) = ca();
    let k = key(1);
    let signer = client_signer(k.as_ref(), "hostile");
    let csr = Csr::build(
        k.as_ref(),
        &issue::common_name("hostile"),
        Some("pw"),
        &[],
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    client::pkcs_req(
        &csr,
        &signer,
        k.as_ref(),
        &ca_cert,
        DigestAlgorithm::Sha256,
        ContentCipher::DesEde3Cbc,
    )
    .unwrap()
    .der
}

fn seeds() -> Vec<Vec<u8>> {
    let mut v = vec![
        corpus("scep_PKCSReq.der"),
        corpus("scep_CertRep.der"),
        corpus("scep_testca2_CertRep_NoCertificatesForSigners.der"),
        our_request(),
    ];
    // Seeds a fuzzer may have left in ../fuzz/corpus/scep_*.
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    if let Ok(dirs) = std::fs::read_dir(&fuzz) {
        for d in dirs.flatten() {
            if d.file_name().to_string_lossy().starts_with("scep_") {
                for f in std::fs::read_dir(d.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .take(200)
                {
                    if let Ok(b) = std::fs::read(f.path()) {
                        v.push(b);
                    }
                }
            }
        }
    }
    assert!(shared_dir().is_dir());
    v
}

#[test]
fn every_prefix_is_an_error() {
    if !have_corpus() {
        return;
    }
    for seed in seeds().iter().take(4) {
        for n in 0..seed.len() {
            let r = PkiMessage::decode(&seed[..n]);
            assert!(r.is_err(), "prefix of {n} bytes decoded");
        }
    }
}

#[test]
fn fuzzing_functions_replay_seeds_and_mutations() {
    if !have_corpus() {
        return;
    }
    let mut rng = Rng(0x5eed_cafe_f00d_beef);
    for seed in seeds() {
        fuzzing::pki_message(&seed);
        fuzzing::cert_rep(&seed);
        fuzzing::ber(&seed);
        for _ in 0..150 {
            let m = mutate(&seed, &mut rng);
            fuzzing::pki_message(&m);
            fuzzing::cert_rep(&m);
            fuzzing::ber(&m);
        }
    }
}

#[test]
fn mutated_requests_never_panic_the_ca() {
    let (c, k) = ca();
    let ca = Ca::new(c, k);
    let good = our_request();
    assert!(ca.decode_request(&good).is_ok());
    let mut rng = Rng(42);
    for _ in 0..60 {
        let m = mutate(&good, &mut rng);
        if let Err(e) = ca.decode_request(&m) {
            let _ = scep_proto::ca::fail_info_for(&e);
            let _ = ca.failure_reply(&m, scep_proto::FailInfo::BAD_REQUEST);
            assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn ber_bombs_and_huge_lengths_are_rejected() {
    // 100k nested indefinite-length SEQUENCEs.
    let mut bomb = Vec::new();
    for _ in 0..100_000 {
        bomb.extend_from_slice(&[0x30, 0x80]);
    }
    assert!(matches!(
        cms::ber_to_der(&bomb),
        Err(Error::Malformed { .. })
    ));
    assert!(PkiMessage::decode(&bomb).is_err());
    // Indefinite length with no end-of-contents.
    assert!(cms::ber_to_der(&[0x30, 0x80, 0x04, 0x01, 0x00]).is_err());
    // Lengths claiming gigabytes.
    for l in [
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
        &[0x30, 0x88, 1, 2, 3, 4, 5, 6, 7, 8],
        &[0x04, 0x82, 0xff],
        &[0x1f, 0x01, 0x00],
    ] {
        assert!(PkiMessage::decode(l).is_err());
        assert!(cms::ber_to_der(l).is_err());
    }
    // Indefinite primitive.
    assert!(cms::ber_to_der(&[0x04, 0x80, 0, 0]).is_err());
}

#[test]
fn oversized_input_is_rejected_without_parsing() {
    let big = vec![0x30; scep_proto::pki_message::MAX_MESSAGE + 1];
    assert!(matches!(
        PkiMessage::decode(&big),
        Err(Error::TooLarge { .. })
    ));
    assert!(cms::verify_detached(b"x", &vec![0x30; 70_000]).is_err());
}

#[test]
fn ber_input_is_normalised() {
    // Re-encode our request with an indefinite-length outer SEQUENCE and a constructed
    // OCTET STRING: it must still decode and verify.
    let der = our_request();
    let t_len = |b: &[u8]| -> (usize, usize) {
        // (header length, content length) of a DER element
        if b[1] < 0x80 {
            (2, b[1] as usize)
        } else {
            let n = (b[1] & 0x7f) as usize;
            let mut l = 0usize;
            for &x in &b[2..2 + n] {
                l = (l << 8) | x as usize;
            }
            (2 + n, l)
        }
    };
    let (h, l) = t_len(&der);
    let mut ber = vec![0x30, 0x80];
    ber.extend_from_slice(&der[h..h + l]);
    ber.extend_from_slice(&[0, 0]);
    let m = PkiMessage::decode(&ber).unwrap();
    m.verify(&[]).unwrap();
    let (c, k) = ca();
    assert!(Ca::new(c, k).decode_request(&ber).is_ok());
    // Constructed OCTET STRING pieces.
    let pieces = [0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0];
    assert_eq!(
        cms::ber_to_der(&pieces).unwrap(),
        vec![0x04, 0x03, b'a', b'b', b'c']
    );
}
