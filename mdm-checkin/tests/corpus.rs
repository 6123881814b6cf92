//! Every check-in of ../shared/corpus decodes, names its enrollment and re-encodes losslessly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/shared.rs"]
mod shared;

use mdm_checkin::{CheckinMessage, EnrollmentType, Message, MessageType, TokenUpdate};
use shared::*;

#[test]
fn every_corpus_checkin_decodes_losslessly() {
    let Some(files) = good_checkins() else { return };
    assert!(
        files.len() >= 12,
        "corpus is missing files: {}",
        files.len()
    );
    for (name, bytes) in files {
        let message = match CheckinMessage::decode(&bytes) {
            Ok(message) => message,
            Err(e) if LENIENT_BASE64.contains(&name.as_str()) && is_strict_base64_refusal(&e) => {
                eprintln!("NOTE: {name}: mdm-proto refuses non-canonical base64: {e}");
                continue;
            }
            Err(e) => panic!("{name}: {e}"),
        };
        assert!(message.is_known(), "{name}");
        let expected = if name.contains("uthenticate") {
            MessageType::Authenticate
        } else if name.contains("oken") {
            MessageType::TokenUpdate
        } else {
            MessageType::CheckOut
        };
        assert_eq!(message.message_type(), expected, "{name}");
        message
            .enrollment()
            .unwrap_or_else(|e| panic!("{name}: {e}"));

        let original = mdm_proto::parse_dictionary(&bytes, &mdm_proto::Limits::MDM).unwrap();
        assert_eq!(
            message.to_dictionary(),
            original,
            "{name}: to_dictionary lost keys"
        );
        let again = CheckinMessage::decode(&message.encode().unwrap()).unwrap();
        assert_eq!(again, message, "{name}: decode(encode(m)) != m");
    }
}

#[test]
fn corpus_values_are_typed() {
    let Some(dir) = shared_dir().map(|d| d.join("corpus/checkin")) else {
        return;
    };
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();

    let CheckinMessage::TokenUpdate(t) =
        mdm_checkin::decode(&read("nanomdm_TokenUpdate.1.plist")).unwrap()
    else {
        panic!("not a TokenUpdate")
    };
    assert_eq!(t.token.0.len(), 32);
    assert!(t.unlock_token.as_ref().is_some_and(|u| u.0.len() > 1000));
    assert_eq!(t.awaiting_configuration, Some(false));
    assert!(t.topic.starts_with("com.apple.mgmt.External."));

    let user_file = read("micromdm-v0_macos10.11_token_update_user.plist");
    let user = TokenUpdate::decode(&user_file)
        .or_else(|e| {
            assert!(is_strict_base64_refusal(&e), "{e}");
            // The same file without the surplus `=`, until mdm-proto reads it as is.
            let text = String::from_utf8(user_file.clone()).unwrap();
            TokenUpdate::decode(text.replace("AAAA=", "AAAA").as_bytes())
        })
        .unwrap();
    assert_eq!(user.token.0, [0, 0, 0]);
    assert_eq!(user.not_on_console, Some(false));
    assert_eq!(user.identity.user_short_name.as_deref(), Some("admin"));
    let e = user.enrollment().unwrap();
    assert_eq!(e.kind, EnrollmentType::User);
    assert_eq!(
        e.id,
        format!(
            "{}:{}",
            e.device_id,
            user.identity.user_id.as_deref().unwrap()
        )
    );

    let CheckinMessage::Authenticate(a) =
        mdm_checkin::decode(&read("nanomdm_Authenticate.2.plist")).unwrap()
    else {
        panic!("not an Authenticate")
    };
    assert_eq!(a.model.as_deref(), Some("iMac14,2"));
    assert!(
        a.extra.contains_key("Challenge"),
        "Challenge is kept as an extra key"
    );

    let CheckinMessage::Authenticate(a) =
        mdm_checkin::decode(&read("nanomdm_Authenticate.1.plist")).unwrap()
    else {
        panic!("not an Authenticate")
    };
    assert_eq!(a.device_name, None, "old iOS sends no DeviceName");

    let cell = mdm_checkin::decode(&read("commandment_Authenticate_iOS-11.3.1-cell.xml")).unwrap();
    let CheckinMessage::Authenticate(cell) = cell else {
        panic!()
    };
    assert!(cell.imei.is_some() && cell.meid.is_some());

    let webhook = TokenUpdate::decode(&webhook_payload().unwrap()).unwrap();
    assert_eq!(
        webhook.identity.udid.as_deref(),
        Some("FF269FDC-7A93-5F12-A4B7-09923F0D1F7F")
    );
    assert_eq!(webhook.token.0.len(), 32);
}

#[test]
fn broken_corpus_files_give_a_clear_error() {
    let Some(dir) = shared_dir() else { return };
    let path = dir.join("corpus/checkin/commandment_TokenUpdate_iOS-11.3.1.xml");
    let err = mdm_checkin::decode(&std::fs::read(path).unwrap()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, mdm_checkin::Error::Body(_)), "{err:?}");
    assert!(text.to_lowercase().contains("data"), "{text}");
}

#[test]
fn command_reports_are_not_checkins() {
    let Some(files) = corpus_files("command-results") else {
        return;
    };
    for path in files {
        let err = mdm_checkin::decode(&std::fs::read(&path).unwrap()).unwrap_err();
        assert!(
            matches!(
                err,
                mdm_checkin::Error::NoMessageType { .. } | mdm_checkin::Error::Body(_)
            ),
            "{}: {err}",
            name(&path)
        );
    }
}
