//! One small profile per lint rule that triggers it, and one (the same, fixed) that does
//! not. The profiles are built in code; the schema facts each case relies on are named in
//! its comment.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdm_profiles::lint::{self, RULES, Severity};
use mdm_profiles::plist::{Dictionary, Value};
use mdm_profiles::{Profile, Target};

const PROFILE_UUID: &str = "5E0C0000-0000-4000-8000-000000000000";

fn uuid(n: usize) -> String {
    format!("5E0C0000-0000-4000-8000-{n:012}")
}

/// A payload dictionary of `payload_type` with the common keys (identifier and UUID from
/// `n`) and `keys`.
fn payload(payload_type: &str, n: usize, keys: &[(&str, Value)]) -> Dictionary {
    let mut d = Dictionary::new();
    d.insert("PayloadType".into(), Value::String(payload_type.into()));
    d.insert("PayloadVersion".into(), Value::Integer(1.into()));
    d.insert(
        "PayloadIdentifier".into(),
        Value::String(format!("org.example.rules.{n}")),
    );
    d.insert("PayloadUUID".into(), Value::String(uuid(n)));
    for (k, v) in keys {
        d.insert((*k).into(), v.clone());
    }
    d
}

/// A profile holding `payloads`.
fn profile(payloads: Vec<Dictionary>) -> Profile {
    let mut d = Dictionary::new();
    d.insert("PayloadType".into(), Value::String("Configuration".into()));
    d.insert("PayloadVersion".into(), Value::Integer(1.into()));
    d.insert(
        "PayloadIdentifier".into(),
        Value::String("org.example.rules".into()),
    );
    d.insert("PayloadUUID".into(), Value::String(PROFILE_UUID.into()));
    d.insert(
        "PayloadContent".into(),
        Value::Array(payloads.into_iter().map(Value::Dictionary).collect()),
    );
    // Through the bytes, as a device or the server would read it.
    let bytes = mdm_proto::to_xml(&Value::Dictionary(d)).expect("encodes");
    Profile::decode(&bytes).expect("decodes")
}

fn targets(given: &[&str]) -> Vec<Target> {
    given.iter().map(|t| t.parse().expect("target")).collect()
}

/// The findings of `rule` in `p` linted for `t`: `(severity, path)`.
fn found(p: &Profile, t: &[Target], rule: &str) -> Vec<(Severity, String)> {
    lint::lint(p, t)
        .findings
        .into_iter()
        .filter(|f| f.rule.id == rule)
        .map(|f| (f.severity, f.path))
        .collect()
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

fn b(v: bool) -> Value {
    Value::Boolean(v)
}

fn i(v: i64) -> Value {
    Value::Integer(v.into())
}

const P0: &str = "PayloadContent[0]";

fn at(key: &str) -> String {
    format!("{P0}.{key}")
}

#[test]
fn p001_unknown_key() {
    let t = targets(&["ios:17.0"]);
    let bad = profile(vec![payload(
        "com.apple.wifi.managed",
        1,
        &[("SSID_STR", s("Office")), ("AutoJion", b(true))],
    )]);
    assert_eq!(
        found(&bad, &t, "P001"),
        [(Severity::Warning, at("AutoJion"))]
    );
    let report = lint::lint(&bad, &t);
    assert!(
        report.findings[0]
            .message
            .contains("did you mean `AutoJoin`")
    );
    let good = profile(vec![payload(
        "com.apple.wifi.managed",
        1,
        &[("SSID_STR", s("Office")), ("AutoJoin", b(true))],
    )]);
    assert_eq!(found(&good, &t, "P001"), []);
    assert_eq!(lint::lint(&good, &t).findings, []);
}

#[test]
fn p002_wrong_type() {
    let t = targets(&["ios:17.0"]);
    let bad = profile(vec![payload(
        "com.apple.wifi.managed",
        1,
        &[("SSID_STR", s("Office")), ("AutoJoin", s("yes"))],
    )]);
    assert_eq!(found(&bad, &t, "P002"), [(Severity::Error, at("AutoJoin"))]);
    // The payload stays untyped (and lossless), with the reason.
    assert!(bad.payloads[0].untyped_reason.is_some());
    let good = profile(vec![payload(
        "com.apple.wifi.managed",
        1,
        &[("SSID_STR", s("Office")), ("AutoJoin", b(false))],
    )]);
    assert_eq!(found(&good, &t, "P002"), []);
}

#[test]
fn p002_wrong_type_of_the_profile_itself() {
    let mut p = profile(vec![]);
    p.keys.insert("PayloadVersion".into(), s("1"));
    assert_eq!(
        found(&p, &[], "P002"),
        [(Severity::Error, "PayloadVersion".to_owned())]
    );
}

#[test]
fn p003_value_not_allowed() {
    let t = targets(&["ios:17.0"]);
    // `EncryptionType` is one of WEP, WPA, WPA2, WPA3, Any, None.
    let bad = profile(vec![payload(
        "com.apple.wifi.managed",
        1,
        &[("SSID_STR", s("Office")), ("EncryptionType", s("WPA4"))],
    )]);
    assert_eq!(
        found(&bad, &t, "P003"),
        [(Severity::Error, at("EncryptionType"))]
    );
    let good = profile(vec![payload(
        "com.apple.wifi.managed",
        1,
        &[("SSID_STR", s("Office")), ("EncryptionType", s("WPA3"))],
    )]);
    assert_eq!(found(&good, &t, "P003"), []);
}

#[test]
fn p003_value_outside_the_range() {
    let t = targets(&["ios:17.0"]);
    // Passcode `maxFailedAttempts` is 2 to 11.
    let bad = profile(vec![payload(
        "com.apple.mobiledevice.passwordpolicy",
        1,
        &[("maxFailedAttempts", i(12))],
    )]);
    let f = found(&bad, &t, "P003");
    assert_eq!(f, [(Severity::Error, at("maxFailedAttempts"))]);
    let good = profile(vec![payload(
        "com.apple.mobiledevice.passwordpolicy",
        1,
        &[("maxFailedAttempts", i(11))],
    )]);
    assert_eq!(found(&good, &t, "P003"), []);
}

#[test]
fn p003_profile_payload_type_is_configuration() {
    let mut p = profile(vec![]);
    p.keys
        .insert("PayloadType".into(), s("com.apple.wifi.managed"));
    assert!(found(&p, &[], "P003").contains(&(Severity::Error, "PayloadType".to_owned())));
    assert_eq!(found(&profile(vec![]), &[], "P003"), []);
}

#[test]
fn p004_missing_required() {
    let t = targets(&["ios:17.0"]);
    // A PKCS#1 certificate payload requires `PayloadContent` (the certificate).
    let bad = profile(vec![payload("com.apple.security.pkcs1", 1, &[])]);
    assert_eq!(
        found(&bad, &t, "P004"),
        [(Severity::Error, at("PayloadContent"))]
    );
    let good = profile(vec![payload(
        "com.apple.security.pkcs1",
        1,
        &[("PayloadContent", Value::Data(vec![0x30, 0x00]))],
    )]);
    assert_eq!(found(&good, &t, "P004"), []);
}

#[test]
fn p004_missing_required_key_of_the_profile() {
    let mut p = profile(vec![]);
    p.keys.remove("PayloadUUID");
    assert_eq!(
        found(&p, &[], "P004"),
        [(Severity::Error, "PayloadUUID".to_owned())]
    );
    assert_eq!(found(&profile(vec![]), &[], "P004"), []);
}

#[test]
fn p005_platform() {
    // The Dock payload is macOS only.
    let p = profile(vec![payload("com.apple.dock", 1, &[])]);
    assert_eq!(
        found(&p, &targets(&["ios:17.0"]), "P005"),
        [(Severity::Error, at("PayloadType"))]
    );
    assert_eq!(found(&p, &targets(&["macos:14.0"]), "P005"), []);
}

#[test]
fn p006_os_version() {
    // The relay payload came with iOS 17.
    let p = profile(vec![payload("com.apple.relay.managed", 1, &[])]);
    assert_eq!(
        found(&p, &targets(&["ios:16.4"]), "P006"),
        [(Severity::Error, at("PayloadType"))]
    );
    assert_eq!(found(&p, &targets(&["ios:17.0"]), "P006"), []);
    // No version in the target: not checked.
    assert_eq!(found(&p, &targets(&["ios"]), "P006"), []);
}

#[test]
fn p007_supervised_only() {
    // Restrictions `allowAccountModification` needs supervision on iOS: the key is
    // ignored (a warning); Single App Mode needs it for the whole payload (an error).
    let key = profile(vec![payload(
        "com.apple.applicationaccess",
        1,
        &[("allowAccountModification", b(false))],
    )]);
    let unsupervised = targets(&["ios:17.0"]);
    let supervised = vec![Target::new("ios", Some("17.0")).unwrap().supervised(true)];
    assert_eq!(
        found(&key, &unsupervised, "P007"),
        [(Severity::Warning, at("allowAccountModification"))]
    );
    assert_eq!(found(&key, &supervised, "P007"), []);
    let app_lock = profile(vec![payload("com.apple.app.lock", 1, &[])]);
    assert_eq!(
        found(&app_lock, &unsupervised, "P007"),
        [(Severity::Error, at("PayloadType"))]
    );
    assert_eq!(found(&app_lock, &supervised, "P007"), []);
}

#[test]
fn p008_user_enrollment() {
    // The cellular payload is not allowed under User Enrollment on iOS.
    let p = profile(vec![payload("com.apple.cellular", 1, &[])]);
    let ue = vec![
        Target::new("ios", Some("17.0"))
            .unwrap()
            .user_enrollment(true),
    ];
    assert_eq!(
        found(&p, &ue, "P008"),
        [(Severity::Error, at("PayloadType"))]
    );
    assert_eq!(found(&p, &targets(&["ios:17.0"]), "P008"), []);
}

#[test]
fn p009_removed() {
    // The Dashboard payload was removed in macOS 10.15.
    let p = profile(vec![payload("com.apple.dashboard", 1, &[])]);
    assert_eq!(
        found(&p, &targets(&["macos:14.0"]), "P009"),
        [(Severity::Error, at("PayloadType"))]
    );
    assert_eq!(found(&p, &targets(&["macos:10.14"]), "P009"), []);
    // com.apple.SoftwareUpdate is gone from release 27 of the schema: reported without
    // targets too.
    let gone = profile(vec![payload("com.apple.SoftwareUpdate", 1, &[])]);
    assert_eq!(
        found(&gone, &[], "P009"),
        [(Severity::Warning, at("PayloadType"))]
    );
    assert_eq!(found(&profile(vec![]), &[], "P009"), []);
}

#[test]
fn p010_deprecated() {
    // The SystemUIServer payload is deprecated since macOS 11.
    let p = profile(vec![payload("com.apple.systemuiserver", 1, &[])]);
    assert_eq!(
        found(&p, &targets(&["macos:14.0"]), "P010"),
        [(Severity::Warning, at("PayloadType"))]
    );
    assert_eq!(found(&p, &targets(&["macos:10.15"]), "P010"), []);
}

#[test]
fn p011_duplicate_uuid() {
    let mut second = payload("com.apple.wifi.managed", 2, &[("SSID_STR", s("Guest"))]);
    second.insert("PayloadUUID".into(), Value::String(uuid(1)));
    let first = payload("com.apple.wifi.managed", 1, &[("SSID_STR", s("Office"))]);
    let bad = profile(vec![first.clone(), second]);
    assert_eq!(
        found(&bad, &[], "P011"),
        [(Severity::Error, "PayloadContent[1].PayloadUUID".to_owned())]
    );
    // The profile's own UUID counts too.
    let mut same_as_profile = first.clone();
    same_as_profile.insert("PayloadUUID".into(), s(PROFILE_UUID));
    assert_eq!(found(&profile(vec![same_as_profile]), &[], "P011").len(), 1);
    let good = profile(vec![
        first,
        payload("com.apple.wifi.managed", 2, &[("SSID_STR", s("Guest"))]),
    ]);
    assert_eq!(found(&good, &[], "P011"), []);
}

#[test]
fn p012_duplicate_identifier() {
    let first = payload("com.apple.wifi.managed", 1, &[("SSID_STR", s("Office"))]);
    let mut second = payload("com.apple.wifi.managed", 2, &[("SSID_STR", s("Guest"))]);
    second.insert("PayloadIdentifier".into(), s("org.example.rules.1"));
    let bad = profile(vec![first.clone(), second]);
    assert_eq!(
        found(&bad, &[], "P012"),
        [(
            Severity::Error,
            "PayloadContent[1].PayloadIdentifier".to_owned()
        )]
    );
    let good = profile(vec![
        first,
        payload("com.apple.wifi.managed", 2, &[("SSID_STR", s("Guest"))]),
    ]);
    assert_eq!(found(&good, &[], "P012"), []);
}

#[test]
fn p013_unresolved_reference() {
    let cert = payload(
        "com.apple.security.pkcs1",
        1,
        &[("PayloadContent", Value::Data(vec![0x30, 0x00]))],
    );
    let wifi = |to: &str| {
        payload(
            "com.apple.wifi.managed",
            2,
            &[("SSID_STR", s("Office")), ("PayloadCertificateUUID", s(to))],
        )
    };
    let bad = profile(vec![cert.clone(), wifi(&uuid(9))]);
    assert_eq!(
        found(&bad, &[], "P013"),
        [(
            Severity::Error,
            "PayloadContent[1].PayloadCertificateUUID".to_owned()
        )]
    );
    let good = profile(vec![cert, wifi(&uuid(1))]);
    assert_eq!(found(&good, &[], "P013"), []);
}

#[test]
fn p014_unknown_payload_type() {
    let bad = profile(vec![payload("com.apple.wifi.managd", 1, &[])]);
    let f = lint::lint(&bad, &[]);
    assert_eq!(f.ids(), [("P014", at("PayloadType"))]);
    assert_eq!(f.findings[0].severity, Severity::Info);
    assert!(
        f.findings[0]
            .message
            .contains("did you mean `com.apple.wifi.managed`")
    );
    let good = profile(vec![payload(
        "com.apple.wifi.managed",
        1,
        &[("SSID_STR", s("Office"))],
    )]);
    assert_eq!(found(&good, &[], "P014"), []);
}

#[test]
fn every_rule_has_a_test_here() {
    let me = include_str!("rules.rs");
    for r in RULES {
        let name = format!("fn {}_", r.id.to_ascii_lowercase());
        assert!(me.contains(&name), "no test for {} {}", r.id, r.name);
    }
}

/// `skeleton::profile` (`mdmctl profile new`) gives a profile that lints without errors or
/// warnings for every payload type the schema has (and the platforms it is for).
#[test]
fn every_skeleton_lints_clean() {
    let mut dirty = Vec::new();
    for spec in mdm_profiles::schema::all() {
        let mut n = 0;
        let mut next = || {
            n += 1;
            uuid(n)
        };
        let p = mdm_profiles::skeleton::profile(spec.payload_type, "org.example.new", &mut next)
            .unwrap();
        let bytes = p.encode().unwrap();
        let back = Profile::decode(&bytes).unwrap();
        let report = lint::lint(&back, &[]);
        let bad: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info && f.rule.id != "P009")
            .map(|f| format!("{} {} {}", f.rule.id, f.path, f.message))
            .collect();
        if !bad.is_empty() {
            dirty.push(format!("{}: {bad:?}", spec.payload_type));
        }
    }
    assert!(dirty.is_empty(), "{}", dirty.join("\n"));
}
