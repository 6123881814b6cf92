//! Golden files in tests/examples (synthetic, `*.fake.plist`) for the message types and
//! responses the real corpus lacks. Each decodes to its type, and encoding it gives back
//! the file byte for byte: the files pin this crate's XML output.
//!
//! `UPDATE_GOLDEN=1 cargo test -p mdm-checkin --test golden` rewrites them from the encoder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdm_checkin::*;
use std::path::{Path, PathBuf};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".fake.plist"))
        .collect();
    files.sort();
    files
}

fn check(path: &Path, encoded: Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &encoded).unwrap();
        return;
    }
    assert_eq!(
        String::from_utf8_lossy(&encoded),
        String::from_utf8_lossy(&bytes),
        "{}: encoding changed",
        path.display()
    );
}

#[test]
fn golden_files_decode_and_pin_the_encoding() {
    let files = examples();
    assert!(files.len() >= 14, "{} golden files", files.len());
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let encoded = if let Some(rest) = name.strip_prefix("Response.") {
            match rest.split('.').next().unwrap() {
                "GetBootstrapToken" => {
                    let r = GetBootstrapTokenResponse::decode(&bytes).unwrap();
                    assert_eq!(r.bootstrap_token.as_ref().map(|t| t.0.len()), Some(48));
                    r.encode().unwrap()
                }
                "GetToken" => GetTokenResponse::decode(&bytes).unwrap().encode().unwrap(),
                "UserAuthenticate" => {
                    let r = UserAuthenticateResponse::decode(&bytes).unwrap();
                    assert!(r.digest_challenge.unwrap().starts_with("Digest "));
                    UserAuthenticateResponse::decode(&bytes)
                        .unwrap()
                        .encode()
                        .unwrap()
                }
                other => panic!("no response type {other}"),
            }
        } else {
            let message = decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            let expected = name.split('.').next().unwrap();
            assert_eq!(message.message_type().as_str(), expected, "{name}");
            assert!(message.is_known());
            assert!(
                message.identity().unwrap().udid.is_some()
                    || name.contains("enrollment")
                    || name.contains("status")
            );
            let enrollment = message.enrollment().unwrap();
            match name.as_str() {
                "TokenUpdate.shared-ipad-user.fake.plist" => {
                    assert_eq!(enrollment.kind, EnrollmentType::SharediPad);
                    assert!(enrollment.id.ends_with(":anna@example.org"));
                }
                "TokenUpdate.user-enrollment.fake.plist" => {
                    assert_eq!(enrollment.kind, EnrollmentType::UserEnrollmentDevice);
                }
                "DeclarativeManagement.status.fake.plist" => {
                    assert_eq!(enrollment.kind, EnrollmentType::UserEnrollment);
                    assert_eq!(enrollment.id, "E-0001:EU-0001");
                }
                "SetBootstrapToken.remove.fake.plist" => {
                    let CheckinMessage::SetBootstrapToken(m) = &message else {
                        panic!()
                    };
                    assert!(m.removes_token());
                }
                "GetToken.watch.fake.plist" => {
                    let CheckinMessage::GetToken(m) = &message else {
                        panic!()
                    };
                    assert_eq!(m.token_service_type, TokenServiceType::WatchPairing);
                    assert!(m.token_parameters.as_ref().unwrap().watch_udid.is_some());
                }
                "UserAuthenticate.first.fake.plist" => {
                    let CheckinMessage::UserAuthenticate(m) = &message else {
                        panic!()
                    };
                    assert_eq!(m.digest_response, None);
                    assert_eq!(enrollment.kind, EnrollmentType::User);
                }
                _ => {}
            }
            let original = mdm_proto::parse_dictionary(&bytes, &Limits::MDM).unwrap();
            assert_eq!(message.to_dictionary(), original, "{name}");
            message.encode().unwrap()
        };
        check(&path, encoded);
    }
}
