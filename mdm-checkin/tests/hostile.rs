//! Hostile input: prefixes, deep nesting, huge counts, cyclic references, wrong types and
//! 10 MB bodies all give typed errors, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/shared.rs"]
mod shared;

use mdm_checkin::{CheckinMessage, Error};
use plist::Value;
use shared::*;

/// The corpus check-ins, in XML as captured and converted to binary.
fn xml_and_binary() -> Option<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for (name, bytes) in good_checkins()? {
        if let Ok(value) = mdm_proto::parse_value(&bytes, &mdm_proto::Limits::MDM) {
            out.push((
                format!("{name} (binary)"),
                mdm_proto::to_binary(&value).unwrap(),
            ));
        }
        out.push((name, bytes));
    }
    Some(out)
}

#[test]
fn every_prefix_of_every_corpus_file_fails_cleanly() {
    let Some(files) = xml_and_binary() else {
        return;
    };
    for (name, bytes) in files {
        let mut decoded = 0;
        for end in 0..bytes.len() {
            let prefix = &bytes[..end];
            match CheckinMessage::decode(prefix) {
                Ok(message) => {
                    // Only an XML prefix missing nothing but the `</plist>` end may decode,
                    // and then it must be the whole message.
                    decoded += 1;
                    let full = CheckinMessage::decode(&bytes).unwrap();
                    assert_eq!(message, full, "{name}[..{end}] decoded to something else");
                }
                Err(err) => {
                    assert!(err.is_malformed_input(), "{name}[..{end}]: {err}");
                    assert!(!err.to_string().is_empty());
                }
            }
        }
        assert!(decoded < 32, "{name}: {decoded} prefixes decoded");
    }
}

fn dict(pairs: &[(&str, Value)]) -> Vec<u8> {
    let d: plist::Dictionary = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    mdm_proto::to_xml(&Value::Dictionary(d)).unwrap()
}

fn token_update_with(key: &str, value: Value) -> Vec<u8> {
    dict(&[
        ("MessageType", Value::String("TokenUpdate".into())),
        ("UDID", Value::String("U1".into())),
        ("Topic", Value::String("t".into())),
        ("Token", Value::Data(vec![1; 32])),
        ("PushMagic", Value::String("m".into())),
        (key, value),
    ])
}

#[test]
fn deep_nesting_is_refused_before_parsing() {
    for levels in [65, 1_000, 100_000, 600_000] {
        let body = format!(
            "<plist><dict><key>MessageType</key><string>CheckOut</string><key>UDID</key><string>U</string><key>X</key>{}{}</dict></plist>",
            "<array>".repeat(levels),
            "</array>".repeat(levels)
        );
        let err = CheckinMessage::decode(body.as_bytes()).unwrap_err();
        assert!(
            matches!(err, Error::Body(mdm_proto::Error::TooDeep { .. })),
            "{levels}: {err}"
        );
        assert!(err.to_string().contains("deeper than the limit"));
    }
    // Unclosed nesting too.
    let body = "<plist>".to_owned() + &"<dict><key>a</key>".repeat(200_000);
    assert!(CheckinMessage::decode(body.as_bytes()).is_err());
}

use mdm_proto::fuzzing::binary_plist as bplist;

#[test]
fn binary_cycles_and_bombs_are_refused() {
    // A dictionary whose value is itself: { "k": <self> }.
    let cyclic = bplist(&[vec![0xD1, 1, 0], vec![0x51, b'k']], 0);
    let err = CheckinMessage::decode(&cyclic).unwrap_err();
    assert!(err.to_string().contains("refers to itself"), "{err}");

    // A "billion laughs": each array holds the next one 15 times, 20 levels deep.
    let mut objects = Vec::new();
    for level in 0..20u8 {
        let mut o = vec![0xAF, 0x10, 15];
        o.extend(std::iter::repeat_n(level + 1, 15));
        objects.push(o);
    }
    objects.push(vec![0x09]); // 20: true
    objects.push(vec![0xD1, 22, 0]); // 21: { "k": array 0 }, the top object
    objects.push(vec![0x51, b'k']); // 22: "k"
    let bomb = bplist(&objects, 21);
    let err = CheckinMessage::decode(&bomb).unwrap_err();
    assert!(
        err.to_string().contains("more than 1000000 objects"),
        "{err}"
    );

    // An array that claims 2^60 elements.
    let huge = bplist(&[vec![0xAF, 0x13, 0x10, 0, 0, 0, 0, 0, 0, 0]], 0);
    assert!(matches!(
        CheckinMessage::decode(&huge).unwrap_err(),
        Error::Body(_)
    ));

    // A trailer pointing outside the file, and an object count of u64::MAX.
    let mut broken = bplist(&[vec![0x09]], 0);
    let n = broken.len();
    broken[n - 8..].copy_from_slice(&u64::MAX.to_be_bytes());
    assert!(CheckinMessage::decode(&broken).is_err());
    let mut broken = bplist(&[vec![0x09]], 0);
    broken[n - 24..n - 16].copy_from_slice(&u64::MAX.to_be_bytes());
    assert!(CheckinMessage::decode(&broken).is_err());
}

#[test]
fn huge_element_counts_are_refused() {
    let mut body = String::from(
        "<plist><dict><key>MessageType</key><string>CheckOut</string><key>UDID</key><string>U</string><key>X</key><array>",
    );
    body.push_str(&"<true/>".repeat(1_000_001));
    body.push_str("</array></dict></plist>");
    let err = CheckinMessage::decode(body.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("objects"), "{err}");
}

#[test]
fn wrong_value_types_name_the_key() {
    let cases = [
        ("Token", Value::String("x".into()), "`Token` should be data"),
        (
            "PushMagic",
            Value::Data(vec![1]),
            "`PushMagic` should be a string",
        ),
        ("Topic", Value::Array(vec![]), "`Topic` should be a string"),
        (
            "AwaitingConfiguration",
            Value::String("yes".into()),
            "`AwaitingConfiguration` should be a boolean",
        ),
        (
            "UnlockToken",
            Value::Integer(3.into()),
            "`UnlockToken` should be data",
        ),
        ("UserID", Value::Real(1.5), "`UserID` should be a string"),
        (
            "EnrollmentID",
            Value::Boolean(true),
            "`EnrollmentID` should be a string",
        ),
    ];
    for (key, value, needle) in cases {
        let err = CheckinMessage::decode(&token_update_with(key, value)).unwrap_err();
        assert!(err.to_string().contains(needle), "{key}: {err}");
        assert_eq!(err.key_path(), Some(key));
    }
}

#[test]
fn ten_megabyte_bodies() {
    let limit = mdm_proto::Limits::MDM.max_bytes;
    // Just over the limit: refused by size, whatever it holds.
    let mut over = vec![b' '; limit + 1];
    over[0] = b'<';
    let err = CheckinMessage::decode(&over).unwrap_err();
    assert!(err.to_string().contains("larger than the limit"), "{err}");

    // Just under the limit: a real TokenUpdate with a huge extra key decodes and keeps it.
    let small = token_update_with("Padding", Value::String(String::new()));
    let padding = limit - small.len() - 16;
    let body = token_update_with("Padding", Value::String("p".repeat(padding)));
    assert!(body.len() <= limit);
    let message = CheckinMessage::decode(&body).unwrap();
    let CheckinMessage::TokenUpdate(t) = message else {
        panic!()
    };
    assert_eq!(t.extra["Padding"].as_string().map(str::len), Some(padding));

    // A 10 MB unclosed string and a 10 MB run of elements fail cleanly.
    let mut unclosed = b"<plist><dict><key>MessageType</key><string>".to_vec();
    unclosed.resize(limit - 1, b'a');
    assert!(CheckinMessage::decode(&unclosed).is_err());
    let mut many = b"<plist><array>".to_vec();
    while many.len() < limit - 20 {
        many.extend(b"<true/>");
    }
    many.extend(b"</array></plist>");
    assert!(CheckinMessage::decode(&many).is_err());
}
