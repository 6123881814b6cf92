//! `mdmctl profile`: lint (exit status by the worst finding, three formats, targets,
//! supervision, User Enrollment), inspect, new, sign and verify, run as the binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdm_pki::cms::cert_der;
use mdm_pki::issue::{IssueOptions, common_name, issue, self_signed};
use mdm_pki::{Certificate, Csr, DigestAlgorithm, EcKey};
use mdm_test_support::TempDir;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mdmctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdmctl"))
        .args(args)
        .output()
        .unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)))
}

/// A profile with one payload of `payload_type` and `keys` (XML fragments).
fn profile_xml(payload_type: &str, keys: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
  <key>PayloadType</key><string>Configuration</string>
  <key>PayloadVersion</key><integer>1</integer>
  <key>PayloadIdentifier</key><string>org.example.cli</string>
  <key>PayloadUUID</key><string>C1100000-0000-4000-8000-000000000000</string>
  <key>PayloadContent</key><array><dict>
    <key>PayloadType</key><string>{payload_type}</string>
    <key>PayloadVersion</key><integer>1</integer>
    <key>PayloadIdentifier</key><string>org.example.cli.1</string>
    <key>PayloadUUID</key><string>C1100000-0000-4000-8000-000000000001</string>
    {keys}
  </dict></array>
</dict></plist>"#
    )
}

fn write(dir: &TempDir, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const WIFI_CLEAN: &str = "<key>SSID_STR</key><string>Office</string><key>AutoJoin</key><true/>";
const WIFI_TYPO: &str = "<key>SSID_STR</key><string>Office</string><key>AutoJion</key><true/>";
const WIFI_WRONG_TYPE: &str =
    "<key>SSID_STR</key><string>Office</string><key>AutoJoin</key><string>yes</string>";

#[test]
fn lint_exit_status_follows_the_worst_finding() {
    let dir = TempDir::new("mdmctl-profile-lint");
    let clean = write(
        &dir,
        "clean.mobileconfig",
        profile_xml("com.apple.wifi.managed", WIFI_CLEAN),
    );
    let out = mdmctl(&["profile", "lint", s(&clean), "--target", "ios:17.0"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("0 error(s), 0 warning(s), 0 info"));

    let typo = write(
        &dir,
        "typo.mobileconfig",
        profile_xml("com.apple.wifi.managed", WIFI_TYPO),
    );
    let out = mdmctl(&["profile", "lint", s(&typo), "--target", "ios:17.0"]);
    assert_eq!(code(&out), 3, "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("PayloadContent[0].AutoJion: warning[P001 unknown-key]"),
        "{text}"
    );
    assert!(text.contains("did you mean `AutoJoin`"), "{text}");

    let wrong = write(
        &dir,
        "wrong.mobileconfig",
        profile_xml("com.apple.wifi.managed", WIFI_WRONG_TYPE),
    );
    let out = mdmctl(&["profile", "lint", s(&wrong), "--format", "json"]);
    assert_eq!(code(&out), 1);
    let j = json(&out);
    assert_eq!(j["errors"], 1);
    assert_eq!(j["findings"][0]["rule"], "P002");
    assert_eq!(j["findings"][0]["path"], "PayloadContent[0].AutoJoin");

    // Only information (an unknown payload type): exit 0.
    let info = write(
        &dir,
        "info.mobileconfig",
        profile_xml("org.example.custom", ""),
    );
    let out = mdmctl(&["profile", "lint", s(&info)]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).contains("info[P014 unknown-payload-type]"));
}

#[test]
fn lint_writes_sarif() {
    let dir = TempDir::new("mdmctl-profile-sarif");
    let typo = write(
        &dir,
        "typo.mobileconfig",
        profile_xml("com.apple.wifi.managed", WIFI_TYPO),
    );
    let out = mdmctl(&["profile", "lint", s(&typo), "--format", "sarif"]);
    assert_eq!(code(&out), 3);
    let j = json(&out);
    assert_eq!(j["version"], "2.1.0");
    let result = &j["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "P001");
    assert_eq!(result["level"], "warning");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        s(&typo)
    );
    assert!(
        j["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .len()
            >= 14
    );
}

#[test]
fn lint_targets_supervision_and_user_enrollment() {
    let dir = TempDir::new("mdmctl-profile-targets");
    // Restrictions: allowAccountModification needs supervision on iOS.
    let restrictions = write(
        &dir,
        "restrictions.mobileconfig",
        profile_xml(
            "com.apple.applicationaccess",
            "<key>allowAccountModification</key><false/>",
        ),
    );
    let out = mdmctl(&["profile", "lint", s(&restrictions), "--target", "ios:17.0"]);
    assert_eq!(code(&out), 3);
    assert!(
        stdout(&out).contains("P007 supervised-only"),
        "{}",
        stdout(&out)
    );
    let out = mdmctl(&[
        "profile",
        "lint",
        s(&restrictions),
        "--target",
        "ios:17.0",
        "--supervised",
    ]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));

    // Cellular is not allowed under User Enrollment.
    let cellular = write(
        &dir,
        "cellular.mobileconfig",
        profile_xml("com.apple.cellular", ""),
    );
    let out = mdmctl(&["profile", "lint", s(&cellular), "--target", "ios:17.0"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let out = mdmctl(&[
        "profile",
        "lint",
        s(&cellular),
        "--target",
        "ios:17.0",
        "--user-enrollment",
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 1);
    assert_eq!(json(&out)["findings"][0]["rule"], "P008");

    // Two targets: the Dock is macOS only.
    let dock = write(&dir, "dock.mobileconfig", profile_xml("com.apple.dock", ""));
    let out = mdmctl(&[
        "profile",
        "lint",
        s(&dock),
        "--target",
        "ios:17.0",
        "--target",
        "macos:14.0",
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 1);
    let j = json(&out);
    assert_eq!(j["targets"].as_array().unwrap().len(), 2);
    assert_eq!(j["findings"].as_array().unwrap().len(), 1);
    assert_eq!(j["findings"][0]["rule"], "P005");
}

#[test]
fn lint_of_bad_input_is_an_error_line() {
    let dir = TempDir::new("mdmctl-profile-bad");
    let junk = write(&dir, "junk.mobileconfig", "this is not a plist");
    let out = mdmctl(&["profile", "lint", s(&junk)]);
    assert_eq!(code(&out), 1);
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    assert!(stderr(&out).contains("not a profile"), "{}", stderr(&out));

    let array = write(&dir, "array.mobileconfig", "<plist><array/></plist>");
    let out = mdmctl(&["profile", "lint", s(&array)]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("not a dictionary"),
        "{}",
        stderr(&out)
    );

    let clean = write(
        &dir,
        "clean.mobileconfig",
        profile_xml("com.apple.wifi.managed", WIFI_CLEAN),
    );
    let out = mdmctl(&["profile", "lint", s(&clean), "--target", "android:14"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("unknown platform"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn lint_reads_a_corpus_profile() {
    let Some(dir) = mdm_test_support::shared::corpus("profiles") else {
        mdm_test_support::skip("../shared", "no corpus");
        return;
    };
    let file = dir.join("rtrouton_BlockApplications.mobileconfig");
    let out = mdmctl(&[
        "profile",
        "lint",
        s(&file),
        "--target",
        "macos:14.0",
        "--format",
        "json",
    ]);
    // Two deprecated keys (warnings) and Profile Manager's PayloadEnabled (information),
    // as mdm-profiles/tests/corpus.rs writes down.
    assert_eq!(code(&out), 3, "{}", stdout(&out));
    let j = json(&out);
    assert_eq!(
        (
            j["errors"].as_u64(),
            j["warnings"].as_u64(),
            j["info"].as_u64()
        ),
        (Some(0), Some(2), Some(1))
    );
}

#[test]
fn inspect_prints_typed_json() {
    let dir = TempDir::new("mdmctl-profile-inspect");
    let clean = write(
        &dir,
        "clean.mobileconfig",
        profile_xml("com.apple.wifi.managed", WIFI_CLEAN),
    );
    let out = mdmctl(&["profile", "inspect", s(&clean)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["format"], "xml");
    assert_eq!(j["signed"], serde_json::Value::Null);
    assert_eq!(j["identifier"], "org.example.cli");
    let p = &j["payloads"][0];
    assert_eq!(p["type"], "com.apple.wifi.managed");
    assert_eq!(p["title"], "Wi-Fi");
    assert_eq!(p["typed"], true);
    assert_eq!(p["keys"]["SSID_STR"], "Office");
    assert_eq!(p["keys"]["AutoJoin"], true);

    // A wrongly typed payload is shown untyped, with the reason.
    let wrong = write(
        &dir,
        "wrong.mobileconfig",
        profile_xml("com.apple.wifi.managed", WIFI_WRONG_TYPE),
    );
    let j = json(&mdmctl(&["profile", "inspect", s(&wrong)]));
    assert_eq!(j["payloads"][0]["typed"], false);
    assert!(
        j["payloads"][0]["untyped_reason"]
            .as_str()
            .unwrap()
            .contains("AutoJoin")
    );
}

#[test]
fn new_skeletons_lint_clean_and_have_fresh_uuids() {
    let dir = TempDir::new("mdmctl-profile-new");
    for payload_type in [
        "com.apple.wifi.managed",
        "com.apple.applicationaccess",
        "com.apple.mobiledevice.passwordpolicy",
        "com.apple.security.scep",
        "com.apple.security.pkcs1",
        "com.apple.vpn.managed",
        "com.apple.mdm",
    ] {
        let out = mdmctl(&["profile", "new", payload_type]);
        assert_eq!(code(&out), 0, "{payload_type}: {}", stderr(&out));
        let file = write(&dir, "new.mobileconfig", &out.stdout);
        let lint = mdmctl(&["profile", "lint", s(&file), "--format", "json"]);
        assert_eq!(code(&lint), 0, "{payload_type}: {}", stdout(&lint));
        let j = json(&mdmctl(&["profile", "inspect", s(&file)]));
        assert_eq!(j["payloads"][0]["type"], payload_type);
        assert_eq!(j["payloads"][0]["typed"], true, "{payload_type}");
        let again = json(&mdmctl(&[
            "profile",
            "inspect",
            s(&write(
                &dir,
                "again.mobileconfig",
                &mdmctl(&["profile", "new", payload_type]).stdout,
            )),
        ]));
        assert_ne!(j["uuid"], again["uuid"], "fresh UUIDs");
        assert_ne!(j["payloads"][0]["uuid"], again["payloads"][0]["uuid"]);
    }
    let out = mdmctl(&[
        "profile",
        "new",
        "com.apple.wifi.managed",
        "--identifier",
        "org.example.office",
    ]);
    let j = json(&mdmctl(&[
        "profile",
        "inspect",
        s(&write(&dir, "id.mobileconfig", &out.stdout)),
    ]));
    assert_eq!(j["identifier"], "org.example.office");
    assert_eq!(j["payloads"][0]["identifier"], "org.example.office.payload");

    let out = mdmctl(&["profile", "new", "com.apple.wifi.manged"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("did you mean `com.apple.wifi.managed`"),
        "{}",
        stderr(&out)
    );
}

/// A CA and a signer it issued, as PEM files in `dir`: `(ca.pem, signer.pem, signer.key)`.
pub fn signer_files(dir: &TempDir) -> (PathBuf, PathBuf, PathBuf) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let ca_key = EcKey::generate().unwrap();
    let ca = self_signed(
        &ca_key,
        &common_name("mdmctl test CA"),
        true,
        &IssueOptions::new(vec![1], now - 60, 86_400),
    )
    .unwrap();
    let key = EcKey::generate().unwrap();
    let csr = Csr::build(
        &key,
        &common_name("mdmctl test signer"),
        None,
        &[],
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    let cert: Certificate = issue(
        &Csr::parse(&csr).unwrap(),
        &ca,
        &ca_key,
        &IssueOptions::new(vec![2], now - 60, 86_400),
    )
    .unwrap();
    let pem = |c: &Certificate| mdm_pki::pem::encode("CERTIFICATE", &cert_der(c).unwrap());
    (
        write(dir, "ca.pem", pem(&ca)),
        write(dir, "signer.pem", pem(&cert)),
        write(dir, "signer.key", key.to_pkcs8_pem().unwrap()),
    )
}

#[test]
fn sign_then_verify() {
    let dir = TempDir::new("mdmctl-profile-sign");
    let (ca, cert, key) = signer_files(&dir);
    let clean = write(
        &dir,
        "clean.mobileconfig",
        profile_xml("com.apple.wifi.managed", WIFI_CLEAN),
    );
    let signed = dir.path().join("signed.mobileconfig");
    let out = mdmctl(&[
        "profile",
        "sign",
        "--cert",
        s(&cert),
        "--key",
        s(&key),
        s(&clean),
        "-o",
        s(&signed),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read(&signed).unwrap()[0], 0x30, "DER");

    let out = mdmctl(&["profile", "verify", s(&signed)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["verified"], true);
    assert_eq!(j["trusted"], serde_json::Value::Null);
    assert!(
        j["signer"].as_str().unwrap().contains("mdmctl test signer"),
        "{j}"
    );

    let out = mdmctl(&["profile", "verify", s(&signed), "--ca", s(&ca)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["trusted"], true);

    // A CA that did not issue the signer.
    let other = TempDir::new("mdmctl-profile-other");
    let (other_ca, _, _) = signer_files(&other);
    let out = mdmctl(&["profile", "verify", s(&signed), "--ca", s(&other_ca)]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("not trusted"), "{}", stderr(&out));

    // Signed profiles lint and inspect like the plist they hold.
    let out = mdmctl(&["profile", "lint", s(&signed)]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let j = json(&mdmctl(&["profile", "inspect", s(&signed)]));
    assert!(
        j["signed"]["signer"]
            .as_str()
            .unwrap()
            .contains("mdmctl test signer")
    );
    assert_eq!(j["payloads"][0]["keys"]["SSID_STR"], "Office");

    // Signing to standard output gives the same kind of file.
    let out = mdmctl(&[
        "profile",
        "sign",
        "--cert",
        s(&cert),
        "--key",
        s(&key),
        s(&clean),
    ]);
    assert_eq!(code(&out), 0);
    assert_eq!(out.stdout[0], 0x30);
}

#[test]
fn verify_refuses_broken_and_unsigned_profiles() {
    let dir = TempDir::new("mdmctl-profile-broken");
    let (_, cert, key) = signer_files(&dir);
    let clean = write(
        &dir,
        "clean.mobileconfig",
        profile_xml("com.apple.wifi.managed", WIFI_CLEAN),
    );
    let out = mdmctl(&["profile", "verify", s(&clean)]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("not signed"), "{}", stderr(&out));

    let out = mdmctl(&[
        "profile",
        "sign",
        "--cert",
        s(&cert),
        "--key",
        s(&key),
        s(&clean),
    ]);
    let mut bytes = out.stdout;
    // Change one byte of the profile inside the signature: `Office` becomes `Offic!`.
    let at = bytes.windows(6).position(|w| w == b"Office").unwrap();
    bytes[at + 5] = b'!';
    let broken = write(&dir, "broken.mobileconfig", &bytes);
    for sub in ["verify", "lint", "inspect"] {
        let out = mdmctl(&["profile", sub, s(&broken)]);
        assert_eq!(code(&out), 1, "{sub}");
        assert!(out.stdout.is_empty(), "{sub}");
        assert!(
            stderr(&out).contains("signed profile: it does not verify"),
            "{sub}: {}",
            stderr(&out)
        );
    }
}
