//! The real captures of ../shared/corpus through the front door and the report decoder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/corpus.rs"]
mod corpus;

use corpus::*;
use mdm_proto::{CommandReport, CommandStatus, EnrollmentType, Error, Limits, json};
use plist::Value;

#[test]
fn every_corpus_plist_passes_the_front_door() {
    let Some(all) = plists() else {
        return;
    };
    assert!(all.len() >= 50, "only {} plists found", all.len());
    for (name, bytes) in all {
        let file = name.rsplit('/').next().unwrap();
        match mdm_proto::parse_value(&bytes, &Limits::MDM) {
            Ok(value) => {
                // The binary encoding of the value reads back the same.
                let binary = mdm_proto::to_binary(&value).unwrap();
                assert_eq!(
                    mdm_proto::parse_value(&binary, &Limits::MDM).unwrap(),
                    value,
                    "{name}"
                );
                let xml = mdm_proto::to_xml(&value).unwrap();
                assert_eq!(
                    mdm_proto::parse_value(&xml, &Limits::MDM).unwrap(),
                    value,
                    "{name}"
                );
            }
            Err(err) if BROKEN.contains(&file) || LENIENT_BASE64.contains(&file) => {
                assert!(
                    matches!(err, Error::InvalidXmlValue { .. }),
                    "{name}: {err}"
                );
                assert!(err.to_string().contains("not base64 data"), "{name}: {err}");
            }
            Err(err) => panic!("{name}: {err}"),
        }
    }
}

#[test]
fn every_command_report_decodes_losslessly() {
    let mut statuses = std::collections::BTreeSet::new();
    let Some(files) = files("command-results") else {
        return;
    };
    for path in files {
        let name = name(&path);
        let bytes = std::fs::read(&path).unwrap();
        let report = match CommandReport::decode(&bytes) {
            Ok(report) => report,
            Err(err) => {
                assert!(BROKEN.contains(&name.as_str()), "{name}: {err}");
                assert!(err.to_string().contains("not base64 data"), "{name}: {err}");
                continue;
            }
        };
        assert!(report.status.is_known(), "{name}: {:?}", report.status);
        statuses.insert(report.status.as_str().to_owned());
        let enrollment = report
            .enrollment()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(matches!(enrollment.kind, EnrollmentType::Device), "{name}");
        if report.status != CommandStatus::Idle {
            assert!(report.command_uuid.is_some(), "{name}: no CommandUUID");
        }
        if report.status == CommandStatus::Error {
            assert!(
                report.error_chain.as_ref().is_some_and(|c| !c.is_empty()),
                "{name}"
            );
        }

        let original = mdm_proto::parse_dictionary(&bytes, &Limits::MDM).unwrap();
        assert_eq!(
            report.to_dictionary(),
            original,
            "{name}: lost or changed keys"
        );
        let again = CommandReport::decode(&report.encode().unwrap()).unwrap();
        assert_eq!(again, report, "{name}");
        // The JSON form keeps every key.
        let json = json::to_json(&Value::Dictionary(original.clone()));
        assert_eq!(json.as_object().unwrap().len(), original.len(), "{name}");
    }
    for status in ["Acknowledged", "Error", "CommandFormatError", "NotNow"] {
        assert!(
            statuses.contains(status),
            "no {status} report in the corpus"
        );
    }
}

#[test]
fn corpus_quirks_are_kept() {
    let Some(shared) = shared_dir() else {
        return;
    };
    let dir = shared.join("corpus/command-results");
    let read = |n: &str| CommandReport::decode(&std::fs::read(dir.join(n)).unwrap()).unwrap();

    // A string where Apple documents a boolean stays as sent.
    let secinfo = read("nanocmd_inventory_secinfo.plist");
    let info = secinfo.response["SecurityInfo"].as_dictionary().unwrap();
    let strings: Vec<_> = info.values().filter_map(Value::as_string).collect();
    assert!(strings.contains(&"not supported"), "{info:?}");

    // The ErrorChain without USEnglishDescription, leading space kept.
    let err = read("nanocmd_certprof_resp-error.plist");
    let chain = err.error_chain.unwrap();
    assert_eq!(chain[0].error_code, Some(-909));
    assert_eq!(chain[0].us_english_description, None);
    assert_eq!(
        chain[0].localized_description.as_deref(),
        Some(" <NSOSStatusErrorDomain:-909>")
    );

    // Reals and dates in a DeviceInformation survive, and dates map to RFC 3339.
    let devinfo = read("micromdm-v0_macos10.11_device_information.plist");
    let json = json::to_json(&Value::Dictionary(devinfo.to_dictionary()));
    let text = json.to_string();
    assert!(text.contains("Z\""), "a date in RFC 3339 UTC: {text}");

    // Two-element ErrorChain.
    let chain = read("commandment_Errors_iOS-11.3.1-AvailableOSUpdatesFailure.xml")
        .error_chain
        .unwrap();
    assert_eq!(chain.len(), 2);

    // A CommandFormatError without ErrorChain.
    let cfe = read("commandment_Errors_iOS-11.3.1-CommandFormatError.xml");
    assert_eq!(cfe.status, CommandStatus::CommandFormatError);
    assert_eq!(cfe.error_chain, None);
}

#[test]
fn checkins_and_reports_pass_python_plistlib_comparison() {
    // Our XML re-encoding of every corpus plist loads in plistlib to the same value.
    if !mdm_test_support::tool("python3") {
        return;
    }
    let Some(plists) = plists() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("mdm-proto-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut args = Vec::new();
    for (i, (_, bytes)) in plists.into_iter().enumerate() {
        let Ok(value) = mdm_proto::parse_value(&bytes, &Limits::MDM) else {
            continue;
        };
        let a = dir.join(format!("{i}.in"));
        let b = dir.join(format!("{i}.xml"));
        let c = dir.join(format!("{i}.bin"));
        std::fs::write(&a, &bytes).unwrap();
        std::fs::write(&b, mdm_proto::to_xml(&value).unwrap()).unwrap();
        std::fs::write(&c, mdm_proto::to_binary(&value).unwrap()).unwrap();
        args.extend([a, b, c]);
    }
    let script = "import plistlib, sys\n\
        a = sys.argv[1:]\n\
        bad = [a[i] for i in range(0, len(a), 3)\n\
               if not (plistlib.load(open(a[i], 'rb')) == plistlib.load(open(a[i+1], 'rb')) == plistlib.load(open(a[i+2], 'rb')))]\n\
        print(bad)\n\
        sys.exit(1 if bad else 0)\n";
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(&args)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "plistlib disagrees: {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
