//! Full CA-side PKIOperations per second on one core (verify, decrypt, CSR check, issue,
//! envelope, sign), with the default pure-Rust backend and with aws-lc-rs, next to
//! `openssl speed rsa2048` run in the same process.
//!
//! `cargo bench -p scep-proto --all-features --bench pki_operation`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scep_proto::issue::{self, IssueOptions};
use scep_proto::{Ca, ContentCipher, Csr, Decision, DigestAlgorithm, PrivateKey, RsaKey, client};

fn openssl_speed() {
    match std::process::Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa2048"])
        .output()
    {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            for line in text
                .lines()
                .filter(|l| l.contains("rsa") || l.contains("sign"))
            {
                println!("openssl speed rsa2048: {line}");
            }
        }
        _ => println!("openssl speed rsa2048: not available"),
    }
}

fn bench(c: &mut Criterion) {
    openssl_speed();
    let ca_key = RsaKey::generate(2048).unwrap();
    let ca_cert = issue::self_signed(
        &ca_key,
        &issue::common_name("bench CA"),
        true,
        &IssueOptions::new(vec![1], 1_764_000_000, 86_400 * 365),
    )
    .unwrap();
    let dev = RsaKey::generate(2048).unwrap();
    let signer = issue::self_signed(
        &dev,
        &issue::common_name("device"),
        false,
        &IssueOptions::new(vec![2], 1_764_000_000, 86_400),
    )
    .unwrap();
    let csr = Csr::build(
        &dev,
        &issue::common_name("device"),
        Some("pw"),
        &[],
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    let req = client::pkcs_req(
        &csr,
        &signer,
        &dev,
        &ca_cert,
        DigestAlgorithm::Sha256,
        ContentCipher::Aes128Cbc,
    )
    .unwrap();

    #[cfg_attr(not(feature = "aws-lc-rs"), allow(unused_mut))]
    let mut backends: Vec<(&str, Arc<dyn PrivateKey>)> =
        vec![("rsa-0.10", Arc::new(ca_key.clone()))];
    #[cfg(feature = "aws-lc-rs")]
    backends.push((
        "aws-lc-rs",
        Arc::new(scep_proto::AwsLcRsaKey::from_rsa_key(&ca_key).unwrap()),
    ));

    let mut group = c.benchmark_group("ca_pki_operation_rsa2048");
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    for (name, key) in backends {
        let ca = Ca::new(ca_cert.clone(), key);
        let mut serial: u64 = 1;
        group.bench_function(name, |b| {
            b.iter(|| {
                let got = ca.decode_request(&req.der).unwrap();
                serial += 1;
                let cert = issue::issue(
                    got.csr().unwrap(),
                    ca.certificate(),
                    ca.key(),
                    &IssueOptions::new(serial.to_be_bytes().to_vec(), 1_764_000_000, 86_400),
                )
                .unwrap();
                ca.respond(&got, &Decision::Issue(Box::new(cert))).unwrap()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
