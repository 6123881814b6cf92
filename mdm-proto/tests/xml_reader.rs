//! The one-pass XML reader against the reference path (pre-scan, then the plist crate's
//! reader): same value or same error on the corpus, on random plists in several layouts,
//! and on broken, truncated and hostile bodies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/corpus.rs"]
mod corpus;

use corpus::*;
use mdm_proto::fuzzing::{parse_value_reference, read_in_one_pass, same_value, xml_reader_agrees};
use mdm_proto::{Error, Limits, parse_value};
use plist::{Dictionary, Value};
use proptest::prelude::*;

#[test]
fn every_corpus_xml_plist_reads_the_same_both_ways() {
    let Some(all) = plists() else {
        return;
    };
    let mut read = 0;
    let mut handed_over = Vec::new();
    for (name, bytes) in all {
        if bytes.starts_with(b"bplist") {
            continue;
        }
        xml_reader_agrees(&bytes);
        if !read_in_one_pass(&bytes, &Limits::MDM) {
            handed_over.push(name.clone());
        }
        if let Ok(value) = parse_value(&bytes, &Limits::MDM) {
            read += 1;
            assert!(read_in_one_pass(
                &mdm_proto::to_xml(&value).unwrap(),
                &Limits::MDM
            ));
            // Re-encoded by the plist crate (tabs, Apple's header), and without any layout.
            let xml = mdm_proto::to_xml(&value).unwrap();
            xml_reader_agrees(&xml);
            xml_reader_agrees(&squeeze(&xml));
            assert!(
                same_value(&parse_value(&xml, &Limits::MDM).unwrap(), &value),
                "{name}"
            );
        }
    }
    assert!(read >= 50, "only {read} corpus plists read");
    // Only the bodies with broken base64 (which the reference path repairs or refuses) are
    // left to the plist crate.
    for name in &handed_over {
        let file = name.rsplit('/').next().unwrap();
        assert!(
            BROKEN.contains(&file) || LENIENT_BASE64.contains(&file),
            "{name} not read in one pass"
        );
    }
}

#[test]
fn every_prefix_and_every_byte_change_of_a_report_agrees() {
    let Some(dir) = shared_dir() else {
        return;
    };
    let bytes = std::fs::read(dir.join("corpus/checkin/nanomdm_TokenUpdate.1.plist")).unwrap();
    for end in 0..bytes.len() {
        xml_reader_agrees(&bytes[..end]);
    }
    let replacements = [b'<', b'>', b'/', b'&', b';', b' ', b'=', b'x', b'\0', 0xC3];
    for at in (0..bytes.len()).step_by(3) {
        let mut changed = bytes.clone();
        changed[at] = replacements[at % replacements.len()];
        xml_reader_agrees(&changed);
    }
}

/// An XML plist with the white space between elements taken out (`<data>` and strings
/// keep theirs), as some encoders (Go's) write it.
fn squeeze(xml: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(xml.to_vec()).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start_matches('\t');
        if !out.is_empty() && !out.ends_with('>') {
            out.push('\n');
        }
        out.push_str(t);
    }
    out.into_bytes()
}

const BODIES: &[&str] = &[
    "",
    "<",
    "<plist>",
    "<plist/>",
    "<plist></plist>",
    "<plist><dict></plist>",
    "<plist><dict></array></plist>",
    "<plist><dict><key>a</key></dict></plist>",
    "<plist><dict><true/></dict></plist>",
    "<plist><dict><string>k</string><true/></dict></plist>",
    "<plist><dict><key>a</key><true/><key>a</key><false/><key>b</key><true/></dict></plist>",
    "<plist><array><key>k</key></array></plist>",
    "<plist><true/><true/></plist>",
    "<plist><true/></plist>trailing",
    "<plist><true/></plist><!-- after -->\n",
    "<plist><true>x</true></plist>",
    "<plist><true> </true></plist>",
    "<plist><string>a<!--c-->b</string></plist>",
    "<plist><string><![CDATA[a<b]]></string></plist>",
    "<plist><string>&nbsp;</string></plist>",
    "<plist><string>&amp</string></plist>",
    "<plist><string>&#0;</string></plist>",
    "<plist><string>&#xD800;</string></plist>",
    "<plist><string>&#+65;</string></plist>",
    "<plist><string>&#X41;</string></plist>",
    "<plist><string>&#x41;&#66;&lt;&gt;&quot;&apos;&amp;</string></plist>",
    "<plist><string>a\r\nb</string></plist>",
    "<plist><string>\u{1}</string></plist>",
    "<plist><string>]]></string></plist>",
    "<plist><string>a</key></plist>",
    "<plist><string>a</string ></plist>",
    "<plist><dict ></dict></plist>",
    "<plist><a:dict></a:dict></plist>",
    "<plist><Dict></Dict></plist>",
    "<plist><uid>1</uid></plist>",
    "<plist><integer></integer></plist>",
    "<plist><integer/></plist>",
    "<plist><integer> 1</integer></plist>",
    "<plist><integer>+1</integer></plist>",
    "<plist><integer>0x0x1f</integer></plist>",
    "<plist><integer>0x+1f</integer></plist>",
    "<plist><integer>-0x1</integer></plist>",
    "<plist><integer>9223372036854775808</integer></plist>",
    "<plist><integer>18446744073709551616</integer></plist>",
    "<plist><integer>-9223372036854775809</integer></plist>",
    "<plist><real>nan</real></plist>",
    "<plist><real>inf</real></plist>",
    "<plist><real>.5e-3</real></plist>",
    "<plist><real>1,5</real></plist>",
    "<plist><date>2017-01-02T03:04:05Z</date></plist>",
    "<plist><date>2017-01-02T03:04:05+02:00</date></plist>",
    "<plist><date>2017-01-02T03:04:05.25Z</date></plist>",
    "<plist><date>2017-01-02 03:04:05</date></plist>",
    "<plist><date>2017-13-02T03:04:05Z</date></plist>",
    "<plist><date/></plist>",
    "<plist><data/></plist>",
    "<plist><data></data></plist>",
    "<plist><data>AAAA=</data></plist>",
    "<plist><data>AAA=</data></plist>",
    "<plist><data>AAB=</data></plist>",
    "<plist><data>A A\tA\rA\nA\u{c}A==</data></plist>",
    "<plist><data>AAAA\u{b}</data></plist>",
    "<plist><data>Base64=</data></plist>",
    "<plist><data>&#65;AAA</data></plist>",
    "\u{FEFF}<plist><true/></plist>",
    " \n<plist><true/></plist>",
    " <?xml version=\"1.0\"?><plist><true/></plist>",
    "<?xml version=\"1.0\"?><plist><true/></plist>",
    "<?xml?><plist><true/></plist>",
    "<?xml version=\"1.0\"?><?pi x?><plist><true/></plist>",
    "<!DOCTYPE plist [<!ENTITY x \"y\">]><plist><string>&x;</string></plist>",
    "<!DOCTYPE plist PUBLIC \"a>b\" \"c\"><plist><true/></plist>",
    "<!DOCTYPE plist><plist><true/></plist>",
    "<!--><plist><true/></plist>-->",
    "<!---><plist><true/></plist>-->",
    "<!-- a > b --><plist><true/></plist>",
    "<!-- a -- b --><plist><true/></plist>",
    "<plist version=\"1.0\" x='>'><true/></plist>",
    "<plist version=\"1.0><true/></plist>",
    "<plist\nversion=\"1.0\"><true/></plist>",
    "<plist><plist><true/></plist></plist>",
    "<true/>",
    "<dict><key>a</key><string>b</string></dict>",
    "<plist>\u{a0}<true/></plist>",
    "<plist>\u{b}<true/></plist>",
    "<plist><string>\u{FFFF}</string></plist>",
];

#[test]
fn odd_and_broken_bodies_read_the_same_both_ways() {
    for body in BODIES {
        xml_reader_agrees(body.as_bytes());
    }
    for bad in [
        &b"<plist><string>\xff</string></plist>"[..],
        b"<plist><key>\xc3</key>",
    ] {
        xml_reader_agrees(bad);
    }
}

#[test]
fn limits_are_met_with_the_pre_scan_errors() {
    let nested = |levels: usize| {
        format!(
            "<?xml version=\"1.0\"?><plist version=\"1.0\">{}{}</plist>",
            "<array>".repeat(levels),
            "</array>".repeat(levels)
        )
    };
    let limits = Limits::MDM.with_max_depth(10);
    for levels in [9, 10, 11, 5000] {
        let body = nested(levels);
        let fast = parse_value(body.as_bytes(), &limits);
        let reference = parse_value_reference(body.as_bytes(), &limits);
        assert_eq!(format!("{fast:?}"), format!("{reference:?}"), "{levels}");
        assert_eq!(fast.is_ok(), levels <= 10);
    }
    // Unclosed arrays past the limit: the depth error, not a syntax error.
    let open = format!("<plist>{}", "<array>".repeat(100_000));
    assert!(matches!(
        parse_value(open.as_bytes(), &Limits::MDM),
        Err(Error::TooDeep { limit: 64, .. })
    ));
    let many = format!("<plist><array>{}</array></plist>", "<true/>".repeat(100));
    for max in [50, 101, 102, 103] {
        let limits = Limits::MDM.with_max_objects(max);
        let fast = parse_value(many.as_bytes(), &limits);
        let reference = parse_value_reference(many.as_bytes(), &limits);
        assert_eq!(format!("{fast:?}"), format!("{reference:?}"), "{max}");
    }
}

fn text() -> impl Strategy<Value = String> {
    // Markup characters, entities' own characters and non-ASCII text.
    "[a-z<>&'\" \t\r\n;#\u{e9}\u{1F600}]{0,12}"
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::String),
        any::<bool>().prop_map(Value::Boolean),
        any::<i64>().prop_map(|i| Value::Integer(i.into())),
        any::<u64>().prop_map(|i| Value::Integer(i.into())),
        any::<f64>().prop_map(Value::Real),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Value::Data),
        (0u64..4_000_000_000).prop_map(|s| {
            Value::Date((std::time::UNIX_EPOCH + std::time::Duration::from_secs(s)).into())
        }),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((text(), inner), 0..6).prop_map(|kv| {
                let mut dict = Dictionary::new();
                for (k, v) in kv {
                    dict.insert(k, v);
                }
                Value::Dictionary(dict)
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_plists_read_the_same_both_ways(value in value(), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let xml = mdm_proto::to_xml(&value).unwrap();
        let read = parse_value(&xml, &Limits::MDM).unwrap();
        prop_assert!(same_value(&read, &value), "{read:?} vs {value:?}");
        xml_reader_agrees(&xml);
        xml_reader_agrees(&squeeze(&xml));
        xml_reader_agrees(&xml[..cut.index(xml.len())]);
        let mut changed = xml.clone();
        changed[flip.index(xml.len())] = byte;
        xml_reader_agrees(&changed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn any_data_text_reads_the_same_both_ways(text in "[A-Da-d0-3+/=\\-_!\t\n\r\u{b}\u{c} ]{0,24}") {
        xml_reader_agrees(format!("<plist><data>{text}</data></plist>").as_bytes());
    }

    #[test]
    fn encoded_data_with_white_space_anywhere_reads_the_same(data in proptest::collection::vec(any::<u8>(), 0..64), cuts in proptest::collection::vec((any::<prop::sample::Index>(), "[ \t\n\r\u{c}]{1,3}"), 0..6)) {
        use base64::Engine as _;
        let mut text = base64::engine::general_purpose::STANDARD.encode(&data);
        for (at, space) in cuts {
            let at = at.index(text.len() + 1);
            text.insert_str(at, &space);
        }
        let body = format!("<plist><data>{text}</data></plist>");
        xml_reader_agrees(body.as_bytes());
        prop_assert!(read_in_one_pass(body.as_bytes(), &Limits::MDM));
        prop_assert_eq!(parse_value(body.as_bytes(), &Limits::MDM).unwrap(), Value::Data(data));
    }
}
