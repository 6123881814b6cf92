//! `mdmctl inspect checkin|report`: the output contract, on the corpus and on bad input.
//!
//! Success: exit 0, one JSON object on stdout. Bad input: exit 1, nothing on stdout, one
//! `error:` line on stderr. `--reencode` output decodes to the same plist as the input, as
//! judged by this crate, by Python's plistlib and after `plistutil` binary conversion.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use plist::Value;
use serde_json::Value as Json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_mdmctl");

/// Files MANIFEST.md documents as broken by sanitizing.
const BROKEN: [&str; 2] = [
    "commandment_TokenUpdate_iOS-11.3.1.xml",
    "commandment_CertificateList_iOS-11.3.1.xml",
];

/// Read by plistlib but refused by mdm-proto today (`<data>AAAA=</data>`, a surplus `=`);
/// accepted either way so the test tightens once mdm-proto reads it.
const LENIENT_BASE64: [&str; 1] = ["micromdm-v0_macos10.11_token_update_user.plist"];

struct Output {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

fn mdmctl(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        // The tool may stop reading early (size limit): ignore a broken pipe.
        let _ = pipe.write_all(input);
    }
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn assert_success_json(out: &Output, what: &str) -> Json {
    assert_eq!(out.code, 0, "{what}: stderr {}", out.stderr);
    assert!(out.stderr.is_empty(), "{what}: stderr {}", out.stderr);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "{what}: one line of JSON");
    serde_json::from_str(&text).unwrap()
}

fn assert_clean_failure(out: &Output, what: &str) {
    assert_eq!(out.code, 1, "{what}: exit status (stderr {})", out.stderr);
    assert!(out.stdout.is_empty(), "{what}: stdout must be empty");
    assert!(out.stderr.starts_with("error: "), "{what}: {}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{what}: {}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
}

/// `shared/`, found by mdm-test-support (call [`have_shared`] first).
fn shared_dir() -> PathBuf {
    mdm_test_support::shared::locate().expect("../shared")
}

/// True when `shared/` is there; otherwise a visible skip.
fn have_shared() -> bool {
    mdm_test_support::shared::dir().is_some()
}

fn corpus(category: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared_dir().join("corpus").join(category))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn webhook_payload() -> Vec<u8> {
    use base64::Engine;
    let path = shared_dir().join("corpus/checkin/nanocmd_tokenupdate-webhook.json");
    let json: Json = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let b64 = json["checkin_event"]["raw_payload"].as_str().unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

fn scratch_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mdmctl-inspect-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tool the test needs: present, or a visible skip (a failure under CI).
fn tool(name: &str, _probe: &[&str]) -> bool {
    mdm_test_support::tool(name)
}

/// (kind, path, bytes) of every corpus body that must decode.
fn good_inputs() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    for (kind, category) in [("checkin", "checkin"), ("report", "command-results")] {
        for path in corpus(category) {
            let n = name(&path);
            if BROKEN.contains(&n.as_str()) || n.ends_with(".json") {
                continue;
            }
            out.push((kind, n, std::fs::read(&path).unwrap()));
        }
    }
    out.push(("checkin", "webhook raw_payload".into(), webhook_payload()));
    out
}

fn parse(bytes: &[u8]) -> Value {
    Value::Dictionary(mdm_proto::parse_dictionary(bytes, &mdm_proto::Limits::MDM).unwrap())
}

#[test]
fn every_corpus_file_gives_the_contract_json() {
    if !have_shared() {
        return;
    }
    let mut decoded = 0;
    for (kind, n, bytes) in good_inputs() {
        let out = mdmctl(&["inspect", kind, "-"], Some(&bytes));
        if out.code != 0 && LENIENT_BASE64.contains(&n.as_str()) {
            assert_clean_failure(&out, &n);
            assert!(
                out.stderr.contains("not base64 data"),
                "{n}: {}",
                out.stderr
            );
            continue;
        }
        let json = assert_success_json(&out, &n);
        decoded += 1;
        assert_eq!(json["kind"], kind, "{n}");
        assert_eq!(json["known"], true, "{n}");
        let tag = if kind == "checkin" {
            "MessageType"
        } else {
            "Status"
        };
        assert_eq!(json["type"], json["value"][tag], "{n}");
        let enrollment = json["enrollment"].as_object().unwrap();
        for key in ["type", "id", "device_id"] {
            assert!(
                enrollment[key].as_str().is_some_and(|s| !s.is_empty()),
                "{n}: {key}"
            );
        }
        // `value` is the whole payload, every key as Apple spells it.
        assert_eq!(
            json["value"],
            mdm_proto::json::to_json(&parse(&bytes)),
            "{n}"
        );
    }
    assert!(decoded >= 40, "only {decoded} corpus files decoded");
}

#[test]
fn files_documented_as_broken_fail_cleanly() {
    if !have_shared() {
        return;
    }
    for (category, file) in [("checkin", BROKEN[0]), ("command-results", BROKEN[1])] {
        let path = shared_dir().join("corpus").join(category).join(file);
        let kind = if category == "checkin" {
            "checkin"
        } else {
            "report"
        };
        let out = mdmctl(&["inspect", kind, path.to_str().unwrap()], None);
        assert_clean_failure(&out, file);
        assert!(
            out.stderr.contains("not base64 data"),
            "{file}: {}",
            out.stderr
        );
    }
}

#[test]
fn reencode_decodes_to_the_same_plist() {
    if !have_shared() {
        return;
    }
    for (kind, n, bytes) in good_inputs() {
        let out = mdmctl(&["inspect", kind, "--reencode"], Some(&bytes));
        if out.code != 0 && LENIENT_BASE64.contains(&n.as_str()) {
            assert_clean_failure(&out, &n);
            continue;
        }
        assert_eq!(out.code, 0, "{n}: {}", out.stderr);
        assert!(out.stdout.starts_with(b"<?xml"), "{n}");
        assert_eq!(parse(&out.stdout), parse(&bytes), "{n}");
    }
}

#[test]
fn reencode_agrees_with_python_plistlib() {
    if !have_shared() {
        return;
    }
    if !tool("python3", &["--version"]) {
        return;
    }
    let dir = scratch_dir();
    let mut pairs = Vec::new();
    for (i, (kind, n, bytes)) in good_inputs().into_iter().enumerate() {
        let out = mdmctl(&["inspect", kind, "--reencode"], Some(&bytes));
        if out.code != 0 && LENIENT_BASE64.contains(&n.as_str()) {
            continue;
        }
        assert_eq!(out.code, 0, "{n}: {}", out.stderr);
        let input = dir.join(format!("{i}-in.plist"));
        let output = dir.join(format!("{i}-out.plist"));
        std::fs::write(&input, &bytes).unwrap();
        std::fs::write(&output, &out.stdout).unwrap();
        pairs.push(input);
        pairs.push(output);
    }
    let script = "import plistlib, sys\n\
        args = sys.argv[1:]\n\
        bad = [args[i] for i in range(0, len(args), 2)\n\
               if plistlib.load(open(args[i], 'rb')) != plistlib.load(open(args[i + 1], 'rb'))]\n\
        print(' '.join(bad))\n\
        sys.exit(1 if bad else 0)\n";
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(&pairs)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "plistlib sees a difference: {} {}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn plistutil_binary_conversions_decode_to_the_same_value() {
    if !have_shared() {
        return;
    }
    if !tool("plistutil", &["-v"]) {
        return;
    }
    let dir = scratch_dir();
    for (i, (kind, n, bytes)) in good_inputs().into_iter().enumerate() {
        let xml = dir.join(format!("{i}.xml"));
        let bin = dir.join(format!("{i}.bin"));
        std::fs::write(&xml, &bytes).unwrap();
        let converted = Command::new("plistutil")
            .args([
                "-i",
                xml.to_str().unwrap(),
                "-o",
                bin.to_str().unwrap(),
                "-f",
                "bin",
            ])
            .output()
            .unwrap();
        if !converted.status.success() {
            // libplist is strict about base64 too; only the documented file may fail.
            assert!(
                LENIENT_BASE64.contains(&n.as_str()),
                "{n}: plistutil failed"
            );
            continue;
        }
        let binary = std::fs::read(&bin).unwrap();
        assert!(binary.starts_with(b"bplist00"), "{n}");
        let from_xml = mdmctl(&["inspect", kind, xml.to_str().unwrap()], None);
        let from_bin = mdmctl(&["inspect", kind, bin.to_str().unwrap()], None);
        if from_xml.code != 0 && LENIENT_BASE64.contains(&n.as_str()) {
            continue;
        }
        let a = assert_success_json(&from_xml, &n);
        let b = assert_success_json(&from_bin, &format!("{n} (binary)"));
        assert_eq!(a, b, "{n}: binary and XML decode differently");

        // Our binary re-encoding read back by plistutil gives the same value too.
        let ours = mdmctl(
            &["inspect", kind, "--reencode", bin.to_str().unwrap()],
            None,
        );
        assert_eq!(ours.code, 0, "{n}");
        let back = dir.join(format!("{i}.back.bin"));
        let ours_xml = dir.join(format!("{i}.ours.xml"));
        std::fs::write(&ours_xml, &ours.stdout).unwrap();
        let status = Command::new("plistutil")
            .args([
                "-i",
                ours_xml.to_str().unwrap(),
                "-o",
                back.to_str().unwrap(),
                "-f",
                "bin",
            ])
            .status()
            .unwrap();
        assert!(status.success(), "{n}: plistutil cannot read our XML");
        assert_eq!(parse(&std::fs::read(&back).unwrap()), parse(&bytes), "{n}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unknown_types_are_decoded_and_marked_unknown() {
    let body = br#"<plist version="1.0"><dict>
        <key>MessageType</key><string>SomethingNew</string>
        <key>EnrollmentID</key><string>E1</string>
        <key>EnrollmentUserID</key><string>EU1</string>
        <key>When</key><date>2024-01-02T03:04:05Z</date>
        <key>Blob</key><data>YXBwbGU=</data>
    </dict></plist>"#;
    let json = assert_success_json(&mdmctl(&["inspect", "checkin"], Some(body)), "unknown");
    assert_eq!(json["known"], false);
    assert_eq!(json["type"], "SomethingNew");
    assert_eq!(json["enrollment"]["type"], "UserEnrollment");
    assert_eq!(json["enrollment"]["id"], "E1:EU1");
    assert_eq!(json["enrollment"]["device_id"], "E1");
    assert_eq!(json["value"]["When"], "2024-01-02T03:04:05Z");
    assert_eq!(json["value"]["Blob"], "YXBwbGU=");

    let report = br#"<plist><dict><key>Status</key><string>Pending</string>
        <key>UDID</key><string>U1</string></dict></plist>"#;
    let json = assert_success_json(&mdmctl(&["inspect", "report"], Some(report)), "report");
    assert_eq!(json["kind"], "report");
    assert_eq!(json["type"], "Pending");
    assert_eq!(json["known"], false);
}

fn nested(levels: usize) -> Vec<u8> {
    format!(
        "<plist><dict><key>MessageType</key><string>CheckOut</string><key>X</key>{}{}</dict></plist>",
        "<array>".repeat(levels),
        "</array>".repeat(levels)
    )
    .into_bytes()
}

/// A binary plist whose root array holds itself.
fn cyclic_binary() -> Vec<u8> {
    let mut b = b"bplist00".to_vec();
    b.extend([0xA1, 0x00]); // object 0: array of one element, ref 0 (itself)
    let offset_table = b.len();
    b.push(8); // offset of object 0
    let mut trailer = [0u8; 32];
    trailer[6] = 1; // offset int size
    trailer[7] = 1; // object ref size
    trailer[15] = 1; // number of objects
    trailer[31] = offset_table as u8;
    b.extend(trailer);
    b
}

#[test]
fn bad_input_gives_one_error_line_and_exit_1() {
    let ten_mb_string = {
        let mut s = b"<plist><dict><key>MessageType</key><string>".to_vec();
        s.resize(10 * 1024 * 1024 + 10, b'a');
        s
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "empty"),
        ("garbage", b"hello world".to_vec(), "not a property list"),
        ("json", b"{\"MessageType\":\"TokenUpdate\"}".to_vec(), "not a property list"),
        ("truncated", b"<plist><dict><key>MessageType</key><str".to_vec(), "decoded"),
        ("array", b"<plist><array/></plist>".to_vec(), "dictionary"),
        ("deep", nested(100_000), "deeper"),
        ("cyclic", cyclic_binary(), "binary plist"),
        ("over 10 MB", ten_mb_string, "larger than the limit"),
        (
            "wrong type",
            b"<plist><dict><key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>U</string><key>Topic</key><string>t</string><key>PushMagic</key><string>m</string><key>Token</key><string>x</string></dict></plist>".to_vec(),
            "`Token` should be data",
        ),
        (
            "no identity",
            b"<plist><dict><key>MessageType</key><string>CheckOut</string></dict></plist>".to_vec(),
            "neither UDID nor EnrollmentID",
        ),
        ("no message type", b"<plist><dict/></plist>".to_vec(), "MessageType"),
    ];
    for (what, bytes, needle) in cases {
        let out = mdmctl(&["inspect", "checkin", "-"], Some(&bytes));
        assert_clean_failure(&out, what);
        assert!(out.stderr.contains(needle), "{what}: {}", out.stderr);
        let out = mdmctl(&["inspect", "report", "-"], Some(&bytes));
        assert_clean_failure(&out, what);
    }
    let out = mdmctl(&["inspect", "checkin", "/nonexistent/file.plist"], None);
    assert_clean_failure(&out, "missing file");
}

#[test]
fn prefixes_of_corpus_files_never_crash() {
    if !have_shared() {
        return;
    }
    // Every 37th prefix of a few files (each one is a process); the library tests run all.
    for file in [
        "checkin/nanomdm_TokenUpdate.1.plist",
        "command-results/nanocmd_certprof_resp-error.plist",
    ] {
        let bytes = std::fs::read(shared_dir().join("corpus").join(file)).unwrap();
        let kind = if file.starts_with("checkin") {
            "checkin"
        } else {
            "report"
        };
        for end in (0..bytes.len()).step_by(37) {
            let out = mdmctl(&["inspect", kind], Some(&bytes[..end]));
            assert!(
                out.code == 0 || out.code == 1,
                "{file}[..{end}]: {}",
                out.stderr
            );
            if out.code == 1 {
                assert_clean_failure(&out, file);
            }
        }
    }
}
