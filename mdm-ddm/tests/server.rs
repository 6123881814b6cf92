//! Server logic: tokens, responses, routing, the sync command, and the status model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdm_ddm::declarations::{
    ActivationSimple, ConfigurationLegacy, ConfigurationPasscodeSettings, ManagementProperties,
};
use mdm_ddm::status::{StatusItem, Validity};
use mdm_ddm::{
    DdmReply, Declaration, DeclarationKind, DeclarationSet, Endpoint, EnrollmentStatus, Error,
    StatusReport, declarative_management_command,
};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn sample_set() -> DeclarationSet {
    let mut set = DeclarationSet::new();
    let mut passcode = ConfigurationPasscodeSettings::new();
    passcode.minimum_length = Some(6);
    set.insert(Declaration::new("passcode", passcode)).unwrap();
    set.insert(Declaration::new(
        "legacy",
        ConfigurationLegacy::new("https://mdm.example/profile".into()),
    ))
    .unwrap();
    set.insert(Declaration::new(
        "activation",
        ActivationSimple::new(vec!["passcode".into(), "legacy".into()]),
    ))
    .unwrap();
    let mut props = ManagementProperties::new();
    props.extra.insert("team".into(), json!("blue"));
    set.insert(Declaration::new("props", props)).unwrap();
    set
}

fn json_reply(reply: DdmReply) -> Value {
    match reply {
        DdmReply::Json(body) => serde_json::from_slice(&body).unwrap(),
        other => panic!("expected JSON, got {other:?}"),
    }
}

#[test]
fn tokens_and_items_responses() {
    let set = sample_set();
    let mut status = EnrollmentStatus::new();
    let tokens = json_reply(set.handle("tokens", None, &mut status, t0()).unwrap());
    assert_eq!(
        tokens,
        json!({"SyncTokens": {"DeclarationsToken": set.declarations_token(),
                              "Timestamp": "2023-11-14T22:13:20Z"}})
    );
    let items = json_reply(
        set.handle("declaration-items", None, &mut status, t0())
            .unwrap(),
    );
    assert_eq!(items["DeclarationsToken"], set.declarations_token());
    let configs = items["Declarations"]["Configurations"].as_array().unwrap();
    assert_eq!(configs.len(), 2);
    assert_eq!(configs[0]["Identifier"], "legacy");
    assert_eq!(
        configs[0]["ServerToken"],
        set.get("legacy").unwrap().server_token
    );
    assert_eq!(
        items["Declarations"]["Activations"][0]["Identifier"],
        "activation"
    );
    assert_eq!(items["Declarations"]["Assets"], json!([]));
    assert_eq!(
        items["Declarations"]["Management"][0]["Identifier"],
        "props"
    );
    // The response decodes as the generated type.
    let typed: mdm_ddm::DeclarationItemsResponse = serde_json::from_value(items).unwrap();
    assert_eq!(typed.declarations.configurations.len(), 2);
}

#[test]
fn declaration_endpoint_serves_by_kind_and_identifier() {
    let set = sample_set();
    let mut status = EnrollmentStatus::new();
    let body = json_reply(
        set.handle(
            "declaration/configuration/passcode",
            None,
            &mut status,
            t0(),
        )
        .unwrap(),
    );
    assert_eq!(body["Type"], "com.apple.configuration.passcode.settings");
    assert_eq!(body["Payload"], json!({"MinimumLength": 6}));
    assert_eq!(
        body["ServerToken"],
        set.get("passcode").unwrap().server_token
    );
    let decl = Declaration::from_value(body).unwrap();
    assert_eq!(&decl, set.get("passcode").unwrap());
    // Wrong kind or identifier: not found.
    for endpoint in [
        "declaration/asset/passcode",
        "declaration/configuration/nope",
    ] {
        assert_eq!(
            set.handle(endpoint, None, &mut status, t0()).unwrap(),
            DdmReply::NotFound
        );
    }
    assert_eq!(
        Endpoint::parse("/declaration/management/a/b").unwrap(),
        Endpoint::Declaration {
            kind: DeclarationKind::Management,
            identifier: "a/b".into()
        }
    );
    for bad in [
        "",
        "token",
        "declaration/",
        "declaration/configuration/",
        "declaration/x/y",
    ] {
        assert!(
            matches!(Endpoint::parse(bad), Err(Error::UnknownEndpoint(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        set.handle("status", None, &mut status, t0()),
        Err(Error::MissingData(_))
    ));
}

#[test]
fn server_tokens_follow_content() {
    let mut set = sample_set();
    let before = set.declarations_token();
    let passcode_token = set.get("passcode").unwrap().server_token.clone();
    assert_eq!(passcode_token.len(), 64);
    // Re-inserting the same content changes nothing, even with another token given.
    let same = set
        .get("passcode")
        .unwrap()
        .clone()
        .with_server_token("bogus");
    set.insert(same).unwrap();
    assert_eq!(set.declarations_token(), before);
    // Changing the payload changes the token of that declaration and the set's token.
    let mut passcode = ConfigurationPasscodeSettings::new();
    passcode.minimum_length = Some(8);
    set.insert(Declaration::new("passcode", passcode)).unwrap();
    assert_ne!(set.get("passcode").unwrap().server_token, passcode_token);
    assert_ne!(set.declarations_token(), before);
    // Removing changes it too.
    let after_change = set.declarations_token();
    set.remove("props");
    assert_ne!(set.declarations_token(), after_change);
    // Types without a kind are refused.
    let odd = Declaration::from_parts("org.example.thing", "x", serde_json::Map::new()).unwrap();
    assert!(matches!(set.insert(odd), Err(Error::Usage(_))));
}

#[test]
fn declarative_management_command_carries_tokens() {
    let set = sample_set();
    let tokens = set.sync_tokens(t0());
    let command = declarative_management_command(Some(&tokens));
    assert_eq!(
        command.get("RequestType").and_then(|v| v.as_string()),
        Some("DeclarativeManagement")
    );
    let data = command.get("Data").and_then(|v| v.as_data()).unwrap();
    let json: Value = serde_json::from_slice(data).unwrap();
    assert_eq!(
        json["SyncTokens"]["DeclarationsToken"],
        set.declarations_token()
    );
    let mut xml = Vec::new();
    plist::to_writer_xml(&mut xml, &command).unwrap();
    assert!(String::from_utf8(xml).unwrap().contains("<data>"));
    let bare = declarative_management_command(None);
    assert_eq!(bare.len(), 1);
}

fn report(json: Value) -> StatusReport {
    StatusReport::decode(json.to_string().as_bytes()).unwrap()
}

fn decl_status(id: &str, token: &str, active: bool, valid: &str) -> Value {
    json!({"identifier": id, "server-token": token, "active": active, "valid": valid})
}

#[test]
fn status_model_answers_active_valid_failed() {
    let set = sample_set();
    let token = |id: &str| set.get(id).unwrap().server_token.clone();
    let mut status = EnrollmentStatus::new();
    let mut failed = decl_status("legacy", &token("legacy"), false, "invalid");
    failed["reasons"] = json!([{"code": "Error.ConfigurationCannotBeApplied",
        "description": "Configuration cannot be applied",
        "details": {"Error": "Profile Installation Failed"}}]);
    let body = json!({"StatusItems": {
        "management": {"declarations": {
            "activations": [decl_status("activation", &token("activation"), true, "valid")],
            "configurations": [decl_status("passcode", "old-token", true, "valid"), failed],
            "assets": [], "management": []}},
        "passcode": {"is-present": true},
        "account": {"list": {"caldav": [
            {"identifier": "a1", "visible-name": "Work"},
            {"identifier": "a2", "visible-name": "Home"}]}}},
        "Errors": [], "FullReport": true});
    set.handle(
        "status",
        Some(body.to_string().as_bytes()),
        &mut status,
        t0(),
    )
    .unwrap();

    let active: Vec<_> = status.active().map(|d| d.identifier.as_str()).collect();
    assert_eq!(active, ["activation", "passcode"]);
    let valid: Vec<_> = status.valid().map(|d| d.identifier.as_str()).collect();
    assert_eq!(valid, ["activation", "passcode"]);
    let failed: Vec<_> = status.failed().collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].identifier, "legacy");
    assert_eq!(failed[0].valid, Validity::Invalid);
    assert_eq!(
        failed[0].why(),
        ["Error.ConfigurationCannotBeApplied: Configuration cannot be applied"]
    );
    assert_eq!(
        status.declaration("legacy").unwrap().kind,
        DeclarationKind::Configuration
    );
    // passcode has an old token, props was never reported.
    assert_eq!(status.outdated(&set), ["passcode", "props"]);
    assert_eq!(status.item("passcode.is-present"), Some(&json!(true)));

    // Incremental: one account removed, one changed, one added; other items stay.
    status.apply(&report(
        json!({"StatusItems": {"account": {"list": {"caldav": [
        {"identifier": "a1", "_removed": true},
        {"identifier": "a2", "visible-name": "Home 2"},
        {"identifier": "a3"}]}}}, "Errors": [
        {"StatusItem": "device.identifier.udid", "Reasons": [{"Code": "Error.NotAllowed"}]}]}),
    ));
    assert_eq!(
        status.item("account.list.caldav"),
        Some(&json!([{"identifier": "a2", "visible-name": "Home 2"}, {"identifier": "a3"}]))
    );
    assert_eq!(status.item("passcode.is-present"), Some(&json!(true)));
    assert_eq!(status.errors.len(), 1);
    assert_eq!(status.errors[0].status_item, "device.identifier.udid");
    assert!(matches!(
        status.typed_item("account.list.caldav"),
        Some(StatusItem::AccountListCaldav(list)) if list.len() == 2
    ));
    assert_eq!(status.reports, 2);

    // A full report replaces everything.
    status.apply(&report(
        json!({"StatusItems": {"passcode": {"is-compliant": false}},
        "Errors": [], "FullReport": true}),
    ));
    assert_eq!(status.item("account.list.caldav"), None);
    assert_eq!(status.declarations.len(), 0);
    assert_eq!(status.item("passcode.is-compliant"), Some(&json!(false)));

    // The model can be stored as JSON.
    let stored = serde_json::to_string(&status).unwrap();
    let back: EnrollmentStatus = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, status);
}

#[test]
fn declarations_serialize_for_storage() {
    let set = sample_set();
    let decls: Vec<&Declaration> = set.iter().collect();
    let text = serde_json::to_string(&decls).unwrap();
    let back: Vec<Declaration> = serde_json::from_str(&text).unwrap();
    assert_eq!(back.len(), decls.len());
    for (a, b) in back.iter().zip(decls) {
        assert_eq!(a, b);
    }
    let err = serde_json::from_str::<Declaration>(r#"{"Type":"x","Identifier":"i"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing required key `ServerToken`"), "{err}");
}

#[test]
fn checkin_dictionaries_are_routed() {
    let set = sample_set();
    let mut status = EnrollmentStatus::new();
    let mut checkin = plist::Dictionary::new();
    checkin.insert("MessageType".into(), "DeclarativeManagement".into());
    checkin.insert("UDID".into(), "device".into());
    checkin.insert("Endpoint".into(), "tokens".into());
    let tokens = json_reply(set.handle_checkin(&checkin, &mut status, t0()).unwrap());
    assert_eq!(
        tokens["SyncTokens"]["DeclarationsToken"],
        set.declarations_token()
    );

    checkin.insert("Endpoint".into(), "status".into());
    checkin.insert(
        "Data".into(),
        plist::Value::Data(
            br#"{"StatusItems":{"passcode":{"is-present":true}},"Errors":[]}"#.to_vec(),
        ),
    );
    assert_eq!(
        set.handle_checkin(&checkin, &mut status, t0()).unwrap(),
        DdmReply::NoContent
    );
    assert_eq!(status.item("passcode.is-present"), Some(&json!(true)));

    checkin.insert("Data".into(), "not data".into());
    assert_eq!(
        set.handle_checkin(&checkin, &mut status, t0())
            .unwrap_err()
            .to_string(),
        "key `Data` should be data, found a string"
    );
    checkin.insert("MessageType".into(), "TokenUpdate".into());
    assert!(matches!(
        set.handle_checkin(&checkin, &mut status, t0()),
        Err(Error::InvalidValue { .. })
    ));
    checkin.remove("MessageType");
    assert_eq!(
        set.handle_checkin(&checkin, &mut status, t0())
            .unwrap_err()
            .to_string(),
        "missing required key `MessageType`"
    );
}
