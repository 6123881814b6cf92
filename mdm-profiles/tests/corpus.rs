//! Every configuration profile in ../shared/corpus decodes, encodes back to the same plist
//! (keys in the same order), and lints with exactly the findings written down here.

use mdm_profiles::{Profile, Target, lint};
use mdm_proto::{Limits, parse_dictionary};
use std::path::PathBuf;

type Expected = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

/// The corpus profiles: `(file, targets, expected findings as (rule, path))`.
const EXPECTED: &[Expected] = &[
    (
        "nanocmd_test.mobileconfig",
        &["macos:14.0"],
        &[
            // info: `com.google.Chrome` is not a payload type of Apple's schema; its keys are not checked
            ("P014", "PayloadContent[0].PayloadType"),
            // info: `com.apple.Safari` is not a payload type of Apple's schema; did you mean `com.apple.asam`?; its keys are not checked
            ("P014", "PayloadContent[1].PayloadType"),
        ],
    ),
    (
        "nanomdm_enroll.mobileconfig",
        &["ios:17.0", "macos:14.0"],
        &[],
    ),
    (
        "rtrouton_BlockApplications.mobileconfig",
        &["macos:14.0"],
        &[
            // warning: key `pathBlackList` is deprecated since macOS 10.15
            ("P010", "PayloadContent[0].pathBlackList"),
            // warning: key `pathWhiteList` is deprecated since macOS 10.15
            ("P010", "PayloadContent[0].pathWhiteList"),
            // info: `PayloadEnabled` is not in Apple's schema; Apple's Profile Manager writes it and devices ignore it
            ("P001", "PayloadContent[0].PayloadEnabled"),
        ],
    ),
    (
        "rtrouton_BlockExternalDrives.mobileconfig",
        &["macos:14.0"],
        &[
            // warning: payload `com.apple.systemuiserver` is deprecated since macOS 11.0
            ("P010", "PayloadContent[0].PayloadType"),
        ],
    ),
    (
        "rtrouton_DesktopBackground.mobileconfig",
        &["macos:14.0"],
        &[
            // warning: key `locked` is deprecated since macOS 10.13
            ("P010", "PayloadContent[0].locked"),
        ],
    ),
    (
        "rtrouton_DisableAppleLocalUserAccountPasswordNotifications.mobileconfig",
        &["macos:14.0"],
        &[],
    ),
    (
        "rtrouton_DisableOffice2016Telemetry.mobileconfig",
        &["macos:14.0"],
        &[
            // info: `PayloadEnabled` is not in Apple's schema; Apple's Profile Manager writes it and devices ignore it
            ("P001", "PayloadEnabled"),
            // info: `PayloadEnabled` is not in Apple's schema; Apple's Profile Manager writes it and devices ignore it
            ("P001", "PayloadContent[0].PayloadEnabled"),
            // info: `PayloadEnabled` is not in Apple's schema; Apple's Profile Manager writes it and devices ignore it
            ("P001", "PayloadContent[1].PayloadEnabled"),
            // info: `PayloadEnabled` is not in Apple's schema; Apple's Profile Manager writes it and devices ignore it
            ("P001", "PayloadContent[2].PayloadEnabled"),
            // info: `PayloadEnabled` is not in Apple's schema; Apple's Profile Manager writes it and devices ignore it
            ("P001", "PayloadContent[3].PayloadEnabled"),
            // info: `PayloadEnabled` is not in Apple's schema; Apple's Profile Manager writes it and devices ignore it
            ("P001", "PayloadContent[4].PayloadEnabled"),
            // info: `PayloadEnabled` is not in Apple's schema; Apple's Profile Manager writes it and devices ignore it
            ("P001", "PayloadContent[5].PayloadEnabled"),
        ],
    ),
    (
        "rtrouton_EnableAutomaticDownloadandInstallationofAppleSoftwareUpdates.mobileconfig",
        &["macos:14.0"],
        &[
            // info: `PayloadEnabled` is not in Apple's schema; Apple's Profile Manager writes it and devices ignore it
            ("P001", "PayloadEnabled"),
            // warning: key `CatalogURL` is deprecated since macOS 11.0
            ("P010", "PayloadContent[0].CatalogURL"),
            // info: `PayloadEnabled` is not in Apple's schema; Apple's Profile Manager writes it and devices ignore it
            ("P001", "PayloadContent[0].PayloadEnabled"),
        ],
    ),
    (
        "rtrouton_EnableFullDiskAccessforSSH.mobileconfig",
        &["macos:14.0"],
        &[
            // warning: payload `com.apple.systempreferences` is deprecated since macOS 13.0
            ("P010", "PayloadContent[0].PayloadType"),
            // warning: `com.apple.preferences.sharing.allowFullDiskAccess` is not a key of the schema here; the device ignores it
            (
                "P001",
                "PayloadContent[0].com.apple.preferences.sharing.allowFullDiskAccess",
            ),
        ],
    ),
    (
        "rtrouton_OpenSafariAtLogin.mobileconfig",
        &["macos:14.0"],
        &[
            // info: `PayloadEnabled` is not in Apple's schema; Apple's Profile Manager writes it and devices ignore it
            ("P001", "PayloadEnabled"),
            // info: `PayloadEnabled` is not in Apple's schema; Apple's Profile Manager writes it and devices ignore it
            ("P001", "PayloadContent[0].PayloadEnabled"),
            // info: `PayloadEnabled` is not in Apple's schema; Apple's Profile Manager writes it and devices ignore it
            ("P001", "PayloadContent[1].PayloadEnabled"),
            // warning: `DisableLoginItemsSuppression` is not a key of the schema here; the device ignores it
            ("P001", "PayloadContent[1].DisableLoginItemsSuppression"),
        ],
    ),
    (
        "rtrouton_SetDiagnosticandUsageReportSettings.mobileconfig",
        &["macos:14.0"],
        &[
            // info: `com.apple.SubmitDiagInfo` is not a payload type of Apple's schema; its keys are not checked
            ("P014", "PayloadContent[0].PayloadType"),
            // info: `PayloadEnabled` is not in Apple's schema; Apple's Profile Manager writes it and devices ignore it
            ("P001", "PayloadContent[1].PayloadEnabled"),
        ],
    ),
    (
        "rtrouton_SetTimeServerandTimeZone.mobileconfig",
        &["macos:14.0"],
        &[],
    ),
    (
        "rtrouton_SkipiCloudSetup.mobileconfig",
        &["macos:14.0"],
        &[
            // info: `PayloadEnabled` is not in Apple's schema; Apple's Profile Manager writes it and devices ignore it
            ("P001", "PayloadContent[0].PayloadEnabled"),
        ],
    ),
    (
        "scep_sceptest.mobileconfig",
        &["ios:17.0"],
        &[
            // warning: key `PayloadRemovalDisallowed` needs a supervised device (iOS target is not supervised)
            ("P007", "PayloadRemovalDisallowed"),
            // error: the schema gives `PayloadVersion` the type an integer, this is a real
            ("P002", "PayloadContent[0].PayloadVersion"),
            // warning: `KeyType` is not a key of the schema here; the device ignores it; did you mean `Key Type`?
            ("P001", "PayloadContent[0].PayloadContent.KeyType"),
        ],
    ),
];

fn profiles() -> Option<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in ["profiles", "scep"] {
        let folder = mdm_test_support::shared::corpus(dir)?;
        out.extend(
            mdm_test_support::shared::files_in(&folder)
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "mobileconfig")),
        );
    }
    Some(out)
}

#[test]
fn corpus_profiles_decode_round_trip_and_lint_as_expected() {
    let Some(files) = profiles() else {
        return;
    };
    let print = std::env::var_os("PRINT_FINDINGS").is_some();
    let mut seen = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(path).unwrap();
        let profile = Profile::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let original = parse_dictionary(&bytes, &Limits::MDM).unwrap();
        let again = profile.to_dictionary();
        assert_eq!(again, original, "{name} changed on re-encoding");
        assert!(
            again.keys().eq(original.keys()),
            "{name}: key order changed"
        );
        let reread = Profile::decode(&profile.encode().unwrap()).unwrap();
        assert_eq!(reread.to_dictionary(), original, "{name}");
        let entry = EXPECTED.iter().find(|(f, _, _)| *f == name);
        let targets: Vec<Target> = entry
            .map(|(_, t, _)| t.iter().map(|t| t.parse().unwrap()).collect())
            .unwrap_or_default();
        let report = lint(&profile, &targets);
        if print {
            println!("{name} {targets:?}");
            for f in &report.findings {
                println!(
                    "    (\"{}\", \"{}\"), // {}: {}",
                    f.rule.id, f.path, f.severity, f.message
                );
            }
            continue;
        }
        let expected = entry.unwrap_or_else(|| panic!("{name}: not in EXPECTED"));
        let got = report.ids();
        let want: Vec<(&str, String)> = expected
            .2
            .iter()
            .map(|(r, p)| (*r, (*p).to_owned()))
            .collect();
        assert_eq!(got, want, "{name}: findings");
        seen += 1;
    }
    assert!(print || seen >= 14, "only {seen} profiles found");
}
