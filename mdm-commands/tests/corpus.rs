//! Every command and command report in ../shared/corpus decodes, typed and lossless.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use mdm_commands::fuzzing::{same, same_dict};
use mdm_commands::{AnyCommand, AnyResponse, CommandEnvelope, decode_response};
use mdm_proto::plist::Value;
use mdm_proto::{CommandReport, Limits, parse_dictionary};
use std::path::PathBuf;

/// The files of a corpus category, sorted, or `None` after a visible skip.
fn files(dir: &str) -> Option<Vec<PathBuf>> {
    let dir = mdm_test_support::shared::corpus(dir)?;
    Some(mdm_test_support::shared::files_in(&dir))
}

#[test]
fn corpus_commands_decode_typed_and_lossless() {
    let mut seen = 0;
    let Some(files) = files("commands") else {
        return;
    };
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        if name.contains("_manifest_") {
            // App manifests are what a ManifestURL points to, not commands.
            assert!(CommandEnvelope::decode(&bytes).is_err(), "{name}");
            continue;
        }
        let original = parse_dictionary(&bytes, &Limits::MDM).unwrap();
        let envelope = CommandEnvelope::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(envelope.command.is_known(), "{name}");
        let expected = name.split('_').nth(1).unwrap().split('.').next().unwrap();
        assert_eq!(envelope.command.request_type(), expected, "{name}");
        assert!(same_dict(&original, &envelope.to_dictionary()), "{name}");
        let again = CommandEnvelope::decode(&envelope.encode().unwrap()).unwrap();
        assert_eq!(again, envelope, "{name}");
        seen += 1;
    }
    assert_eq!(seen, 3);
}

#[test]
fn corpus_settings_items_are_typed() {
    let Some(path) = mdm_test_support::shared::path(
        "corpus/commands/micromdm-hist_Settings_hostname_devicename.plist",
    ) else {
        return;
    };
    let bytes = std::fs::read(path).unwrap();
    let envelope = CommandEnvelope::decode(&bytes).unwrap();
    let AnyCommand::Settings(settings) = envelope.command else {
        panic!("not Settings");
    };
    use mdm_commands::generated::settings::SettingsItem;
    assert!(
        settings
            .settings
            .iter()
            .any(|i| matches!(i, SettingsItem::DeviceName(_)))
    );
    assert!(
        settings
            .settings
            .iter()
            .any(|i| matches!(i, SettingsItem::HostName(_)))
    );
}

/// The command a report answers, from its file name; `None` for reports without
/// response keys (errors, NotNow).
fn request_type_of(name: &str) -> Option<&'static str> {
    let table: &[(&str, Option<&str>)] = &[
        ("_Errors_", None),
        ("_NotNow_", None),
        ("error_invalid_request_type", None),
        ("resp-error", None),
        ("AvailableOSUpdates", Some("AvailableOSUpdates")),
        ("CertificateList", Some("CertificateList")),
        ("certificate_list", Some("CertificateList")),
        ("certlist", Some("CertificateList")),
        ("DeviceInformation", Some("DeviceInformation")),
        ("device_information", Some("DeviceInformation")),
        ("devinfo", Some("DeviceInformation")),
        ("DeviceLock", Some("DeviceLock")),
        ("InstalledApplicationList", Some("InstalledApplicationList")),
        (
            "installed_application_list",
            Some("InstalledApplicationList"),
        ),
        ("InstallApplication", Some("InstallApplication")),
        ("ManagedApplicationList", Some("ManagedApplicationList")),
        ("SecurityInfo", Some("SecurityInfo")),
        ("security_info", Some("SecurityInfo")),
        ("secinfo", Some("SecurityInfo")),
        ("profile_list", Some("ProfileList")),
    ];
    table
        .iter()
        .find(|(pat, _)| name.contains(pat))
        .map(|(_, rt)| *rt)
        .unwrap_or_else(|| panic!("no request type known for {name}"))
}

/// Keys that real devices send with other types than the schema documents.
const MISTYPED: &[&str] = &["BootstrapTokenAllowedForAuthentication"];

#[test]
fn corpus_reports_decode_as_typed_responses() {
    let mut typed = 0;
    let Some(files) = files("command-results") else {
        return;
    };
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let report = match CommandReport::decode(&bytes) {
            Ok(r) => r,
            Err(e) => {
                // Broken by sanitizing (invalid base64 in <data>): see MANIFEST.md.
                assert!(name.contains("CertificateList_iOS-11.3.1"), "{name}: {e}");
                continue;
            }
        };
        let keys = Value::Dictionary(report.response.clone());
        match request_type_of(&name) {
            None => {
                // No payload keys: any command's response decodes, empty.
                let any = decode_response("DeviceInformation", &report).unwrap();
                assert!(same(&any.to_value(), &keys), "{name}");
            }
            Some(rt) => {
                let any = decode_response(rt, &report).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(any.request_type(), rt);
                assert!(!matches!(any, AnyResponse::Unknown { .. }));
                assert!(same(&any.to_value(), &keys), "{name}: not lossless");
                typed += 1;
                check_typed(&any, &name);
            }
        }
    }
    assert!(typed >= 20, "only {typed} typed reports");
}

fn check_typed(any: &AnyResponse, name: &str) {
    use mdm_commands::generated as g;
    match any {
        AnyResponse::DeviceInformation(r) => {
            let q = r
                .query_responses
                .as_ref()
                .unwrap_or_else(|| panic!("{name}"));
            eprintln!(
                "{name}: QueryResponses extra {:?}",
                q.extra.keys().collect::<Vec<_>>()
            );
            for key in q.extra.keys() {
                assert!(
                    g::device_information::SPEC.response[0].child(key).is_none()
                        || MISTYPED.contains(&key.as_str()),
                    "{name}: documented key QueryResponses.{key} not typed"
                );
            }
        }
        AnyResponse::SecurityInfo(r) => {
            let s = r.security_info.as_ref().unwrap_or_else(|| panic!("{name}"));
            eprintln!(
                "{name}: SecurityInfo extra {:?}",
                s.extra.keys().collect::<Vec<_>>()
            );
            for key in s.extra.keys() {
                assert!(
                    g::security_info::SPEC.response[0].child(key).is_none()
                        || MISTYPED.contains(&key.as_str()),
                    "{name}: documented key SecurityInfo.{key} not typed"
                );
            }
        }
        _ => {}
    }
}
