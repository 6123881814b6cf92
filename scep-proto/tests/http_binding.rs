//! The HTTP binding as real clients use it: mdmb POSTs the PKCSReq in the body and repeats it,
//! raw binary, in a `message` query parameter (ignored for POST); GET carries base64 in
//! `message`, in the spellings clients produce.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support/corpus_files.rs"]
mod corpus_files;

use base64::Engine as _;
use corpus_files::{corpus, have_corpus};
use scep_proto::{Error, Operation, operation};

/// Go's `url.QueryEscape`, which mdmb's `url.Values.Encode()` applies to the binary message.
fn go_query_escape(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        if c.is_ascii_alphanumeric() || b"-_.~".contains(&c) {
            s.push(char::from(c));
        } else if c == b' ' {
            s.push('+');
        } else {
            s.push_str(&format!("%{c:02X}"));
        }
    }
    s
}

#[test]
fn post_ignores_a_binary_message_parameter_as_mdmb_sends_it() {
    if !have_corpus() {
        return;
    }
    let der = corpus("scep_PKCSReq.der");
    // The same DER repeated in `message`, percent-encoded raw binary (not UTF-8).
    let q = format!("message={}&operation=PKIOperation", go_query_escape(&der));
    assert!(
        std::str::from_utf8(&der).is_err(),
        "the corpus DER is binary"
    );
    assert_eq!(
        operation::parse_request("POST", &q, &der).unwrap(),
        Operation::PkiOperation(der.clone())
    );
    // Invalid percent escapes and invalid UTF-8 in other parameters do not matter either.
    for q in [
        "operation=PKIOperation&message=%FF%FE%00%zz%",
        "operation=PKIOperation&message=%C3%28&junk=%E2%82",
        "operation=PKIOperation&message",
    ] {
        assert_eq!(
            operation::parse_request("post", q, &der).unwrap(),
            Operation::PkiOperation(der.clone()),
            "{q}"
        );
    }
    // The body is required for POST; the parameter never stands in for it.
    let q = format!("operation=PKIOperation&message={}", go_query_escape(&der));
    assert!(matches!(
        operation::parse_request("POST", &q, b""),
        Err(Error::Missing(_))
    ));
    let big = vec![0x30u8; scep_proto::pki_message::MAX_MESSAGE + 1];
    assert!(matches!(
        operation::parse_request("POST", "operation=PKIOperation", &big),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn get_takes_base64_in_every_spelling_clients_send() {
    if !have_corpus() {
        return;
    }
    let der = corpus("scep_PKCSReq.der");
    let std_b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der);
    assert!(
        std_b64.contains('+') && std_b64.contains('/'),
        "test covers both"
    );
    let wrapped: String = std_b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    for (name, message) in [
        ("escaped", go_query_escape(std_b64.as_bytes())),
        ("'+' left unescaped", std_b64.clone()),
        ("URL-safe, unpadded", url_safe),
        ("line breaks (escaped)", go_query_escape(wrapped.as_bytes())),
    ] {
        let q = format!("operation=PKIOperation&message={message}");
        assert_eq!(
            operation::parse_request("GET", &q, b"ignored body").unwrap(),
            Operation::PkiOperation(der.clone()),
            "{name}"
        );
    }
    for (q, what) in [
        ("operation=PKIOperation", "missing"),
        ("operation=PKIOperation&message=", "missing"),
        ("operation=PKIOperation&message=%FF%FE", "bad base64"),
        ("operation=PKIOperation&message=!!!!", "bad base64"),
    ] {
        let err = operation::parse_request("GET", q, b"").unwrap_err();
        assert!(err.to_string().contains(what), "{q}: {err}");
    }
    let huge = "A".repeat(operation::MAX_MESSAGE_PARAM + 1);
    assert!(matches!(
        operation::parse_request(
            "GET",
            &format!("operation=PKIOperation&message={huge}"),
            b""
        ),
        Err(Error::TooLarge { .. })
    ));
}
