//! Real device payloads from ../shared/corpus through the server, and a replay of the
//! fuzzing entry points over them plus mutations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;

use mdm_server::app::{Config, Server};
use std::path::PathBuf;
use support::{TempDir, request};

const KEY: &str = "corpus-key";

/// The files of a corpus folder, sorted; empty after a visible skip when it is missing.
fn corpus(dir: &str) -> Vec<PathBuf> {
    let Some(path) = mdm_test_support::shared::corpus(dir) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&path) else {
        panic!("cannot list {}", path.display());
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("plist" | "xml")
            )
        })
        .collect();
    files.sort();
    files
}

async fn start(dir: &TempDir) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path())
        .with_api_key(KEY)
        .without_signature_check();
    let server = Server::start(&config).await.unwrap();
    let addr = server.local_addr;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    (addr, tx)
}

#[tokio::test]
async fn real_checkins_are_accepted() {
    let dir = TempDir::new();
    let (addr, _stop) = start(&dir).await;
    for file in corpus("checkin") {
        let body = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let r = request(addr, "PUT", "/mdm/checkin", &[], &body).await;
        // Broken by sanitizing: invalid base64 in <data> ("Base64=" per the corpus MANIFEST).
        // A typed 400, never a crash. ("AAAA=", a stray pad after whole blocks, is forgiven
        // by mdm-proto's front door, as lenient decoders such as Python's do.)
        let broken = ["commandment_TokenUpdate_iOS-11.3.1.xml"];
        let expected = if broken.contains(&name.as_str()) {
            400
        } else {
            200
        };
        assert_eq!(r.status, expected, "{name}: {}", r.text());
    }
}

#[tokio::test]
async fn real_command_reports_are_recorded() {
    let mut checked = 0;
    for file in corpus("command-results") {
        let body = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let dir = TempDir::new();
        let (addr, _stop) = start(&dir).await;
        let Ok(dict) = mdm_proto::parse_dictionary(&body, &mdm_proto::Limits::MDM) else {
            let r = request(addr, "PUT", "/mdm", &[], &body).await;
            assert_eq!(r.status, 400, "{name}");
            continue;
        };
        let s = |k: &str| dict.get(k).and_then(|v| v.as_string()).map(str::to_owned);
        let (Some(uuid), Some(status)) = (s("CommandUUID"), s("Status")) else {
            continue;
        };
        let mut identity = mdm_proto::Identity::default();
        identity.udid = s("UDID");
        identity.enrollment_id = s("EnrollmentID");
        identity.user_id = s("UserID");
        identity.user_short_name = s("UserShortName");
        identity.enrollment_user_id = s("EnrollmentUserID");
        let enrollment = identity.resolve().unwrap_or_else(|e| panic!("{name}: {e}"));
        // Make the enrollment known with its own identity keys, and queue the command.
        let mut keys = String::new();
        for k in mdm_proto::Identity::KEYS {
            if let Some(v) = s(k) {
                keys.push_str(&format!("<key>{k}</key><string>{v}</string>"));
            }
        }
        let auth = format!(
            "<plist><dict><key>MessageType</key><string>Authenticate</string>{keys}\
             <key>Topic</key><string>T</string></dict></plist>"
        );
        assert_eq!(
            request(addr, "PUT", "/mdm/checkin", &[], auth.as_bytes())
                .await
                .status,
            200
        );
        let cmd = format!(
            "<plist><dict><key>CommandUUID</key><string>{uuid}</string><key>Command</key>\
             <dict><key>RequestType</key><string>Whatever</string></dict></dict></plist>"
        );
        let bearer = format!("Bearer {KEY}");
        let admin = [("Authorization", bearer.as_str())];
        let path = format!("/v1/enqueue/{}?nopush=1", enrollment.id);
        let r = request(addr, "PUT", &path, &admin, cmd.as_bytes()).await;
        assert_eq!(r.status, 200, "{name}: {}", r.text());

        let r = request(addr, "PUT", "/mdm", &[], &body).await;
        assert_eq!(r.status, 200, "{name}: {}", r.text());
        let expected = if mdm_proto::CommandReport::from_dictionary(dict.clone()).is_ok() {
            status.clone()
        } else {
            "Undecodable".to_owned()
        };
        let j = request(addr, "GET", &format!("/v1/commands/{uuid}"), &admin, b"")
            .await
            .json();
        assert_eq!(
            j["enrollments"][0]["status"],
            expected.as_str(),
            "{name}: {j}"
        );
        if expected != "Undecodable" {
            assert_eq!(
                j["enrollments"][0]["report"]["Status"],
                status.as_str(),
                "{name}"
            );
        }
        checked += 1;
    }
    if !corpus("command-results").is_empty() {
        assert!(checked >= 20, "only {checked} reports checked");
    }
}

#[test]
fn fuzzing_entry_points_survive_the_corpus_and_mutations() {
    let mut files = corpus("checkin");
    files.extend(corpus("command-results"));
    files.extend(corpus("commands"));
    files.extend(corpus("ddm"));
    for file in files {
        let data = std::fs::read(&file).unwrap();
        mdm_server::fuzzing::device_body(&data);
        mdm_server::fuzzing::push_cert(&data);
        mdm_server::fuzzing::declaration(&data);
        let step = (data.len() / 64).max(1);
        for cut in (0..data.len()).step_by(step) {
            mdm_server::fuzzing::device_body(&data[..cut]);
        }
        for (i, at) in (0..data.len()).step_by(step).enumerate() {
            let mut mutated = data.clone();
            mutated[at] = mutated[at].wrapping_add(1 + (i as u8 % 250));
            mdm_server::fuzzing::device_body(&mutated);
            mdm_server::fuzzing::declaration(&mutated);
        }
    }
    for weird in [
        &b""[..],
        b"bplist00",
        b"<plist><dict><key>MessageType</key><integer>1</integer></dict></plist>",
        b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----",
        b"-----BEGIN ",
        &[
            0x06, 0x0A, 0x09, 0x92, 0x26, 0x89, 0x93, 0xF2, 0x2C, 0x64, 0x01, 0x01, 0x0C, 0x7F,
        ],
    ] {
        mdm_server::fuzzing::device_body(weird);
        mdm_server::fuzzing::push_cert(weird);
        mdm_server::fuzzing::declaration(weird);
    }
    for declaration in [
        &br#"{"Type":"com.apple.configuration.management.test","Identifier":"x","Payload":{"Echo":1}}"#[..],
        br#"{"Type":"com.apple.configuration.management.test","Identifier":"","Payload":{}}"#,
        br#"{"Identifier":"x","Payload":{}}"#,
        br#"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"#,
    ] {
        mdm_server::fuzzing::declaration(declaration);
    }
}
