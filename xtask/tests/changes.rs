//! The schema diff of the two shared trees against Apple's CHANGES.md for 27.0, as far as
//! CHANGES.md is machine-comparable: every bullet it lists is looked up in the diff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use xtask::diff::{Change, Kind, diff};
use xtask::model::load_tree;

/// Apple's bullets: (verb, path, detail).
fn bullets(text: &str) -> Vec<(String, String, Option<String>)> {
    text.lines()
        .filter_map(|l| {
            let l = l.strip_prefix("- ")?;
            let (verb, rest) = l.split_once(": ")?;
            let (path, detail) = match rest.split_once(" [") {
                Some((p, d)) => (p, Some(d.trim_end_matches(']').to_owned())),
                None => (rest, None),
            };
            Some((verb.to_owned(), path.trim().to_owned(), detail))
        })
        .collect()
}

#[test]
fn the_diff_of_18_1_to_27_0_covers_apples_changes() {
    let (Some(old), Some(new)) = (
        mdm_test_support::shared::path("apple-device-management"),
        mdm_test_support::shared::path("apple-device-management-27"),
    ) else {
        return;
    };
    let (old, new) = (load_tree(&old).unwrap(), load_tree(&new).unwrap());
    assert_eq!(old.release, "18.1");
    assert_eq!(new.release, "27.0");
    let changes = diff(&old, &new);
    let changes_md = std::fs::read_to_string(new.root.join("CHANGES.md")).unwrap();
    let lines: Vec<String> = changes.iter().map(Change::line).collect();
    let has = |verb: &str, path: &str| {
        changes
            .iter()
            .any(|c| c.kind.verb() == verb && c.path == path)
    };
    let mut missing = Vec::new();
    let mut matched = 0;
    let mut by_newer = 0;
    for (verb, path, _) in bullets(&changes_md) {
        if verb == "Renamed" {
            continue;
        }
        // The tree lacks what it could not fetch (SOURCE.txt): a new file that is not in
        // it cannot be in the diff, and mdm/profiles still holds 18.1 text.
        let file = path.split(".yaml").next().unwrap_or("").to_owned() + ".yaml";
        let fetched = verb != "New" || new.root.join(&file).is_file();
        // CHANGES.md compares with 26.x, the diff with 18.1: what 26.x brought shows as a
        // new object or key above the bullet's path.
        let covered = changes.iter().any(|c| {
            matches!(c.kind, Kind::NewObject | Kind::NewKey)
                && (path == c.path || path.starts_with(&format!("{}/", c.path)))
        });
        if has(&verb, &path) {
            matched += 1;
        } else if covered {
            by_newer += 1;
        } else if fetched {
            missing.push(format!("- {verb}: {path}"));
        }
    }
    eprintln!(
        "CHANGES.md: {matched} bullets found in the diff, {by_newer} inside an object or key new since 18.1, {} not: {missing:#?}\ndiff: {} changes",
        missing.len(),
        lines.len()
    );
    // Every object CHANGES.md names as new or removed, that the tree holds, is in the diff.
    let objects: Vec<&String> = missing
        .iter()
        .filter(|m| m.trim_end().ends_with(".yaml") || m.ends_with(".json"))
        .collect();
    let objects: Vec<&&String> = objects
        .iter()
        .filter(|m| !m.contains("mdm/profiles/") && !m.contains("openapi/"))
        .collect();
    assert!(
        objects.is_empty(),
        "objects missing from the diff: {objects:#?}"
    );
    for c in [
        "cancel.enhanced.log.collection",
        "trigger.enhanced.log.collection",
    ] {
        assert!(has("New", &format!("mdm/commands/{c}.yaml")), "{c}");
    }
    for c in ["available", "scan", "schedule", "status"] {
        assert!(has(
            "Removed",
            &format!("mdm/commands/system.update.{c}.yaml")
        ));
    }
    assert!(has("New", "mdm/checkin/returntoservice.yaml"));
    assert!(has("New", "mdm/errors/psso.required.yaml"));
    // Keys of the kept commands and check-ins, as Apple lists them.
    for (verb, path) in [
        (
            "New",
            "mdm/commands/device.erase.yaml/ReturnToService/ShouldRetryEnrollment",
        ),
        (
            "Removed",
            "mdm/commands/settings.yaml/Settings/SoftwareUpdateSettings",
        ),
        (
            "Removed",
            "mdm/commands/information.device.yaml/Queries/OSUpdateSettings",
        ),
    ] {
        assert!(has(verb, path), "{verb}: {path}\n{lines:#?}");
    }
    assert!(
        changes
            .iter()
            .any(|c| c.kind == Kind::NewObject && c.folder == "declarative/status")
    );
}
