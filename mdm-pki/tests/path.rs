//! Certificate paths through intermediates: a 3-level chain, a missing intermediate, an
//! issuer that is not a CA, an expired intermediate, pathLenConstraint, a cycle, the wrong
//! order, and the bound on candidates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{NOW, ca, key};
use mdm_pki::issue::{self, IssueOptions};
use mdm_pki::validate::{
    MAX_CANDIDATES, PathFailure, ValidPath, Validation, validate_chain, validate_path,
};
use mdm_pki::{Certificate, Csr, DigestAlgorithm, Error, PrivateKey};

fn csr(k: &dyn PrivateKey, subject: &str) -> Csr {
    let der = Csr::build(
        k,
        &issue::name_from_str(subject).unwrap(),
        None,
        &[],
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    Csr::parse(&der).unwrap()
}

fn opts(serial: u8) -> IssueOptions {
    IssueOptions::new(vec![serial], NOW - 3600, 86_400)
}

/// An intermediate CA for `k` named `subject`, issued by `issuer`.
fn sub_ca(
    k: &dyn PrivateKey,
    subject: &str,
    issuer: (&Certificate, &dyn PrivateKey),
    path_len: Option<u8>,
    serial: u8,
) -> Certificate {
    issue::issue(
        &csr(k, subject),
        issuer.0,
        issuer.1,
        &opts(serial).with_ca(path_len),
    )
    .unwrap()
}

fn leaf(k: &dyn PrivateKey, issuer: (&Certificate, &dyn PrivateKey)) -> Certificate {
    issue::issue(&csr(k, "CN=device"), issuer.0, issuer.1, &opts(99)).unwrap()
}

fn at() -> Validation {
    Validation::at(NOW + 60)
}

#[track_caller]
fn failure(r: mdm_pki::Result<ValidPath>, who: &str) -> PathFailure {
    match r {
        Err(Error::Path {
            certificate,
            failure,
        }) => {
            assert!(
                certificate.starts_with(who),
                "{certificate:?} is not {who:?} ({failure})"
            );
            failure
        }
        other => panic!("expected a path error naming {who}, got {other:?}"),
    }
}

#[test]
fn three_levels_validate_and_need_the_intermediate() {
    let (root, root_key) = ca();
    let (k1, k2) = (key(1), key(2));
    let inter = sub_ca(
        k1.as_ref(),
        "CN=Sub CA",
        (&root, root_key.as_ref()),
        Some(0),
        2,
    );
    let device = leaf(k2.as_ref(), (&inter, k1.as_ref()));
    let path = validate_path(
        &device,
        std::slice::from_ref(&inter),
        std::slice::from_ref(&root),
        &at(),
    )
    .unwrap();
    assert_eq!((path.anchor, path.intermediates), (0, vec![0]));
    // Missing intermediate: the leaf is named, with the issuer it needs.
    let f = failure(
        validate_path(&device, &[], std::slice::from_ref(&root), &at()),
        "leaf",
    );
    assert!(matches!(f, PathFailure::NoIssuer { ref issuer } if issuer.contains("Sub CA")));
    assert!(validate_chain(&device, std::slice::from_ref(&root), &at()).is_err());
    // The intermediate is no anchor by itself being passed along.
    assert!(matches!(
        failure(
            validate_path(&device, &[], std::slice::from_ref(&device), &at()),
            "leaf"
        ),
        PathFailure::IsAnchor
    ));
}

#[test]
fn an_issuer_without_ca_is_refused() {
    let (root, root_key) = ca();
    let (k1, k2) = (key(1), key(2));
    // An end-entity certificate (cA=false) used to issue another.
    let not_ca = issue::issue(
        &csr(k1.as_ref(), "CN=Not A CA"),
        &root,
        root_key.as_ref(),
        &opts(3),
    )
    .unwrap();
    let device = leaf(k2.as_ref(), (&not_ca, k1.as_ref()));
    let f = failure(
        validate_path(
            &device,
            std::slice::from_ref(&not_ca),
            std::slice::from_ref(&root),
            &at(),
        ),
        "intermediate 0",
    );
    assert_eq!(f, PathFailure::NotCa);
}

#[test]
fn an_expired_intermediate_is_refused() {
    let (root, root_key) = ca();
    let (k1, k2) = (key(1), key(2));
    let old = issue::issue(
        &csr(k1.as_ref(), "CN=Old Sub CA"),
        &root,
        root_key.as_ref(),
        &IssueOptions::new(vec![4], NOW - 10 * 86_400, 86_400).with_ca(None),
    )
    .unwrap();
    let device = leaf(k2.as_ref(), (&old, k1.as_ref()));
    let f = failure(
        validate_path(
            &device,
            std::slice::from_ref(&old),
            std::slice::from_ref(&root),
            &at(),
        ),
        "intermediate 0",
    );
    assert!(matches!(f, PathFailure::Expired { .. }), "{f}");
    // An expired leaf is named as the leaf.
    let f = failure(
        validate_path(
            &device,
            std::slice::from_ref(&old),
            std::slice::from_ref(&root),
            &Validation::at(NOW + 86_400),
        ),
        "leaf",
    );
    assert!(matches!(f, PathFailure::Expired { .. }), "{f}");
}

#[test]
fn path_len_is_honoured_and_order_does_not_matter() {
    let (root, root_key) = ca();
    let (k1, k2) = (key(1), key(2));
    let top = sub_ca(
        k1.as_ref(),
        "CN=Top Sub CA",
        (&root, root_key.as_ref()),
        Some(0),
        5,
    );
    let lower = sub_ca(k2.as_ref(), "CN=Lower Sub CA", (&top, k1.as_ref()), None, 6);
    let device = leaf(key(0).as_ref(), (&lower, k2.as_ref()));
    let f = failure(
        validate_path(
            &device,
            &[lower.clone(), top.clone()],
            std::slice::from_ref(&root),
            &at(),
        ),
        "intermediate 1",
    );
    assert_eq!(
        f,
        PathFailure::PathLenExceeded {
            path_len: 0,
            below: 1
        }
    );
    // With room for one more CA, the same shape validates, intermediates in either order.
    let top = sub_ca(
        k1.as_ref(),
        "CN=Top Sub CA",
        (&root, root_key.as_ref()),
        Some(1),
        7,
    );
    let lower = sub_ca(
        k2.as_ref(),
        "CN=Lower Sub CA",
        (&top, k1.as_ref()),
        Some(0),
        8,
    );
    let device = leaf(key(0).as_ref(), (&lower, k2.as_ref()));
    for (given, used) in [
        (vec![lower.clone(), top.clone()], vec![0, 1]),
        (vec![top.clone(), lower.clone()], vec![1, 0]),
    ] {
        let path = validate_path(&device, &given, std::slice::from_ref(&root), &at()).unwrap();
        assert_eq!(path.intermediates, used);
    }
}

#[test]
fn a_cycle_of_certificates_ends_with_an_error() {
    let (root, _) = ca();
    let (k1, k2) = (key(1), key(2));
    // A is issued by B and B by A, with matching key identifiers and valid signatures.
    let b0 = issue::self_signed(
        k2.as_ref(),
        &issue::name_from_str("CN=B").unwrap(),
        true,
        &opts(10),
    )
    .unwrap();
    let a = sub_ca(k1.as_ref(), "CN=A", (&b0, k2.as_ref()), None, 11);
    let b = sub_ca(k2.as_ref(), "CN=B", (&a, k1.as_ref()), None, 12);
    let device = leaf(key(0).as_ref(), (&a, k1.as_ref()));
    let f = failure(
        validate_path(&device, &[a, b], std::slice::from_ref(&root), &at()),
        "intermediate 1",
    );
    assert!(matches!(f, PathFailure::NoIssuer { .. }), "{f}");
}

#[test]
fn the_number_of_candidates_is_bounded() {
    let (root, root_key) = ca();
    let k1 = key(1);
    // Many CAs with one name and key, none of them reaching the anchor.
    let stray = issue::self_signed(
        key(2).as_ref(),
        &issue::name_from_str("CN=Stray Root").unwrap(),
        true,
        &opts(20),
    )
    .unwrap();
    let k2 = key(2);
    let many: Vec<Certificate> = (0..MAX_CANDIDATES + 4)
        .map(|i| {
            sub_ca(
                k1.as_ref(),
                "CN=Crowded CA",
                (&stray, k2.as_ref()),
                None,
                u8::try_from(30 + i).unwrap(),
            )
        })
        .collect();
    let device = leaf(key(0).as_ref(), (&many[0], k1.as_ref()));
    let f = failure(
        validate_path(&device, &many, std::slice::from_ref(&root), &at()),
        "",
    );
    assert_eq!(
        f,
        PathFailure::TooManyCandidates {
            limit: MAX_CANDIDATES
        }
    );
    let _ = root_key;
}
