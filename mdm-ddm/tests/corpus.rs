//! Corpus conformance and schema round trips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/common.rs"]
mod common;

use mdm_ddm::schema::Kind;
use mdm_ddm::status::{StatusItem, Validity};
use mdm_ddm::{Declaration, DeclarationType, Error, Payload, StatusItemName, StatusReport};
use serde_json::{Value, json};

#[test]
fn corpus_status_reports_decode_and_reencode_to_equal_json() {
    let Some(files) = common::corpus_files() else {
        return;
    };
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let report =
            StatusReport::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let original: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            Value::Object(report.to_json()),
            original,
            "{}",
            path.display()
        );
        let again = StatusReport::decode(&report.encode()).unwrap();
        assert_eq!(again, report);
        // No known item is left undecoded.
        for item in &report.status_items {
            if let StatusItem::Unknown(u) = item {
                assert!(
                    !StatusItemName::from(u.name().as_str()).is_known(),
                    "{} was not typed",
                    u.name()
                );
            }
        }
    }
}

#[test]
fn corpus_status_report_items_are_typed() {
    let Some(path) = mdm_test_support::shared::path("corpus/ddm/kmfddm_A047820F.status.json")
    else {
        return;
    };
    let report = StatusReport::decode(&std::fs::read(path).unwrap()).unwrap();
    let Some(StatusItem::ManagementDeclarations(d)) =
        report.status_items.get("management.declarations")
    else {
        panic!("no management.declarations");
    };
    assert_eq!(d.activations.len(), 1);
    assert_eq!(d.configurations.len(), 3);
    let invalid = &d.configurations[0];
    assert_eq!(invalid.valid, Validity::Invalid);
    let reasons = invalid.reasons.as_ref().unwrap();
    assert_eq!(reasons[0].code, "Error.ConfigurationCannotBeApplied");
    assert_eq!(
        reasons[0].details.as_ref().unwrap()["Error"],
        "An internal error has occurred."
    );
    assert!(matches!(
        report.status_items.get("device.model.family"),
        Some(StatusItem::DeviceModelFamily(f)) if f == "iPhone"
    ));
    // Not in the schema: kept as an unknown item with its path.
    match report.status_items.get("management.push-token") {
        Some(StatusItem::Unknown(u)) => {
            assert_eq!(u.path, ["management", "push-token"]);
            assert!(u.value.is_string());
        }
        other => panic!("push-token: {other:?}"),
    }
    assert!(report.errors.is_empty());
    assert!(!report.is_full());
}

#[test]
fn every_declaration_type_round_trips() {
    assert_eq!(
        DeclarationType::KNOWN.len(),
        54,
        "27.0 has 54 types; 18.1 had 38"
    );
    for ty in DeclarationType::KNOWN {
        let keys = ty.keys().expect("known type has keys");
        for payload in [
            common::sample(&Kind::Dict(keys)),
            common::minimal(&Kind::Dict(keys)),
        ] {
            let json = json!({
                "Type": ty.as_str(),
                "Identifier": format!("id-{ty}"),
                "ServerToken": "token-1",
                "Payload": payload,
                "FutureEnvelopeKey": 3,
            });
            let bytes = serde_json::to_vec(&json).unwrap();
            let decl = Declaration::decode(&bytes).unwrap_or_else(|e| panic!("{ty}: {e}"));
            assert!(
                !matches!(decl.payload, Payload::Unknown(_)),
                "{ty} decoded as unknown"
            );
            assert_eq!(decl.payload.declaration_type().as_ref(), Some(ty));
            assert_eq!(Value::Object(decl.to_json()), json, "{ty}");
            assert_eq!(Declaration::decode(&decl.encode()).unwrap(), decl);
            assert!(ty.info().is_some_and(|i| !i.supported_os.is_empty()));
            assert!(decl.kind().is_some(), "{ty} has no kind");
        }
    }
}

#[test]
fn every_status_item_round_trips() {
    assert_eq!(
        StatusItemName::KNOWN.len(),
        62,
        "27.0 has 62 items; 18.1 had 44"
    );
    for (name, value) in StatusItemName::KNOWN.iter().flat_map(|name| {
        let kind = name.kind().unwrap();
        [(name, common::sample(kind)), (name, common::minimal(kind))]
    }) {
        let mut tree = serde_json::Map::new();
        // Build StatusItems.<a>.<b>... = value
        let parts: Vec<&str> = name.as_str().split('.').collect();
        let mut nested = value.clone();
        for part in parts.iter().rev() {
            let mut m = serde_json::Map::new();
            m.insert((*part).to_owned(), nested);
            nested = Value::Object(m);
        }
        if let Value::Object(m) = nested {
            tree = m;
        }
        let json = json!({"StatusItems": tree, "Errors": [], "FullReport": true});
        let report = StatusReport::decode(&serde_json::to_vec(&json).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.status_items.items.len(), 1, "{name}");
        let item = &report.status_items.items[0];
        assert_eq!(&item.name(), name);
        assert!(!matches!(item, StatusItem::Unknown(_)));
        assert_eq!(item.value_to_json(), value, "{name}");
        assert_eq!(Value::Object(report.to_json()), json, "{name}");
    }
}

#[test]
fn unknown_declaration_types_are_kept() {
    let json = json!({
        "Type": "com.apple.configuration.future.thing",
        "Identifier": "f",
        "ServerToken": "t",
        "Payload": {"Anything": [1, {"x": null}]}
    });
    let decl = Declaration::decode(json.to_string().as_bytes()).unwrap();
    assert!(!decl.declaration_type.is_known());
    assert_eq!(decl.kind(), Some(mdm_ddm::DeclarationKind::Configuration));
    assert!(matches!(decl.payload, Payload::Unknown(_)));
    assert_eq!(Value::Object(decl.to_json()), json);
}

fn decode_err(json: Value) -> String {
    Declaration::decode(json.to_string().as_bytes())
        .unwrap_err()
        .to_string()
}

#[test]
fn errors_name_the_key_path() {
    let base = |payload: Value| {
        json!({"Type": "com.apple.asset.data", "Identifier": "a", "ServerToken": "t",
               "Payload": payload})
    };
    assert_eq!(
        decode_err(base(json!({"Reference": {"ContentType": "x"}}))),
        "missing required key `Payload.Reference.DataURL`"
    );
    assert_eq!(
        decode_err(base(
            json!({"Reference": {"DataURL": "https://x", "Size": "big"}})
        )),
        "key `Payload.Reference.Size` should be an integer, found a string"
    );
    assert_eq!(
        decode_err(base(json!({"Reference": {"DataURL": null}}))),
        "key `Payload.Reference.DataURL` should be a string, found null"
    );
    assert_eq!(
        decode_err(
            json!({"Type": "com.apple.activation.simple", "Identifier": "a",
            "ServerToken": "t", "Payload": {"StandardConfigurations": ["a", 2]}})
        ),
        "key `Payload.StandardConfigurations[1]` should be a string, found an integer"
    );
    assert_eq!(
        decode_err(json!({"Identifier": "a", "ServerToken": "t", "Payload": {}})),
        "missing required key `Type`"
    );
    assert_eq!(
        decode_err(json!({"Type": 1, "Identifier": "a", "ServerToken": "t", "Payload": {}})),
        "key `Type` should be a string, found an integer"
    );
    assert_eq!(
        decode_err(json!({"Type": "x", "Identifier": "a", "ServerToken": "t", "Payload": []})),
        "key `Payload` should be an object, found an array"
    );
    assert_eq!(
        decode_err(json!([1])),
        "key `` should be an object at the top level, found an array"
    );
    assert!(matches!(
        Declaration::decode(b"{\"Type\": "),
        Err(Error::Json(_))
    ));

    let report = json!({"StatusItems": {"management": {"declarations": {
        "activations": [{"identifier": "a", "server-token": "t", "active": "yes", "valid": "valid"}],
        "configurations": [], "assets": [], "management": []}}}, "Errors": []});
    assert_eq!(
        StatusReport::decode(report.to_string().as_bytes())
            .unwrap_err()
            .to_string(),
        "key `StatusItems.management.declarations.activations[0].active` should be a boolean, found a string"
    );
    let report = json!({"StatusItems": {}, "Errors": [{"Reasons": []}]});
    assert_eq!(
        StatusReport::decode(report.to_string().as_bytes())
            .unwrap_err()
            .to_string(),
        "missing required key `Errors[0].StatusItem`"
    );
}

#[test]
fn removed_list_entries_need_only_their_identifier() {
    let report = json!({"StatusItems": {"security": {"certificate": {"list": [
        {"identifier": "c1", "_removed": true}]}}}, "Errors": []});
    let report = StatusReport::decode(report.to_string().as_bytes()).unwrap();
    let Some(StatusItem::SecurityCertificateList(list)) =
        report.status_items.get("security.certificate.list")
    else {
        panic!()
    };
    assert_eq!(list[0].removed, Some(true));
}

#[test]
fn credential_documents_decode_and_check() {
    use mdm_ddm::credential::{CredentialAcme, CredentialPayload, CredentialType};
    assert_eq!(CredentialType::KNOWN.len(), 4);
    let doc = json!({"DirectoryURL": "https://acme.example/dir", "ClientIdentifier": "c",
        "KeySize": 384, "KeyType": "ECSECPrimeRandom", "HardwareBound": true,
        "Subject": [[["CN", "device"]]], "Attest": true, "Future": 1});
    let acme = CredentialAcme::decode(doc.to_string().as_bytes()).unwrap();
    assert_eq!(acme.key_size, 384);
    assert_eq!(
        acme.subject,
        vec![vec![vec!["CN".to_owned(), "device".to_owned()]]]
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&acme.encode()).unwrap(),
        doc
    );
    assert_eq!(
        <CredentialAcme as CredentialPayload>::TYPE.as_str(),
        "com.apple.credential.acme"
    );
    let bad = json!({"DirectoryURL": "x", "ClientIdentifier": "c", "KeySize": 1,
        "KeyType": "RSA", "HardwareBound": false, "Subject": [[["CN"], 5]]});
    assert_eq!(
        CredentialAcme::decode(bad.to_string().as_bytes())
            .unwrap_err()
            .to_string(),
        "key `Subject[0][1]` should be an array, found an integer"
    );
    assert_eq!(
        DeclarationType::from("com.apple.asset.data").kind(),
        Some(mdm_ddm::DeclarationKind::Asset)
    );
    assert_eq!(DeclarationType::from("com.apple.asset").kind(), None);
}
