//! Every configuration profile in ../shared/corpus decodes, encodes back to the same plist
//! (keys in the same order), and lints with exactly the findings written down here.

use mdm_profiles::{Profile, Target, lint};
use mdm_proto::{Limits, parse_dictionary};
use std::path::PathBuf;

type Expected = (&'static str, &'static [&'static str], &'static [(&'static str, &'static str)]);

/// The corpus profiles: `(file, targets, expected findings as (rule, path))`.
const EXPECTED: &[Expected] = &[];

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
