//! Full CA-side PKIOperations per second on one core (verify, decrypt, CSR check, issue,
//! envelope, sign), with the default pure-Rust backend and with aws-lc-rs, next to
//! `openssl speed -elapsed rsa2048` run in the same process. `-elapsed`: openssl speed divides
//! by CPU time by default, criterion by wall time; on a shared machine only the same clock
//! gives a fair ratio. The bound for one PKIOperation is one decrypt plus two signatures, each
//! costing about one `sign` of openssl speed.
//!
//! `cargo bench -p scep-proto --all-features --bench pki_operation`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scep_proto::issue::{self, IssueOptions};
use scep_proto::{Ca, ContentCipher, Csr, Decision, DigestAlgorithm, PrivateKey, RsaKey, client};

fn openssl_speed() {
    match std::process::Command::new("openssl")
        .args(["speed", "-elapsed", "-seconds", "3", "rsa2048"])
        .output()
    {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            for line in text
                .lines()
                .filter(|l| l.contains("rsa") || l.contains("sign"))
            {
                println!("openssl speed -elapsed rsa2048: {line}");
                // "rsa 2048 bits 0.000296s 0.000016s 3382.5 62512.2": sign/s is the 6th field.
                if let Some(sign_per_s) = line
                    .split_whitespace()
                    .nth(5)
                    .and_then(|f| f.parse::<f64>().ok())
                {
                    println!(
                        "openssl bound for one PKIOperation (1 decrypt + 2 signatures): {:.0}/s, 70%: {:.0}/s",
                        sign_per_s / 3.0,
                        sign_per_s / 3.0 * 0.7
                    );
                }
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

    // The private-key operations alone: a PKIOperation needs one decrypt and two signatures.
    let mut group = c.benchmark_group("rsa2048_private_op");
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    // Below the modulus (leading zero byte); bad padding still costs the full private op.
    let mut ciphertext = vec![0x5au8; 256];
    ciphertext[0] = 0;
    for (name, key) in &backends {
        group.bench_function(format!("{name}/sign-sha256"), |b| {
            b.iter(|| key.sign(DigestAlgorithm::Sha256, b"tbs").unwrap());
        });
        group.bench_function(format!("{name}/decrypt"), |b| {
            b.iter(|| key.decrypt(&ciphertext).map(|v| v.len()).unwrap_or(0));
        });
    }
    group.finish();

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
