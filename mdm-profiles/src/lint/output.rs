//! Findings as text for people, as JSON, and as SARIF 2.1.0 (for code-scanning tools).

use super::{Finding, RULES, Report, Severity};
use serde_json::{Value as Json, json};
use std::fmt::Write as _;

/// One line per finding: `FILE: PATH: severity[P001 unknown-key]: message (target)`, then a
/// summary line.
pub fn human(report: &Report, file: &str) -> String {
    let mut s = String::new();
    for f in &report.findings {
        let path = if f.path.is_empty() {
            "(profile)"
        } else {
            &f.path
        };
        let _ = write!(
            s,
            "{file}: {path}: {}[{} {}]: {}",
            f.severity, f.rule.id, f.rule.name, f.message
        );
        if let Some(t) = &f.target {
            let _ = write!(s, " [{t}]");
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "{file}: {} error(s), {} warning(s), {} info",
        report.count(Severity::Error),
        report.count(Severity::Warning),
        report.count(Severity::Info)
    );
    s
}

fn finding_json(f: &Finding) -> Json {
    json!({
        "rule": f.rule.id,
        "name": f.rule.name,
        "severity": f.severity.as_str(),
        "path": f.path,
        "message": f.message,
        "target": f.target,
    })
}

/// The findings as a JSON array of `{rule, name, severity, path, message, target}`.
pub fn json(report: &Report) -> Json {
    Json::Array(report.findings.iter().map(finding_json).collect())
}

/// The findings as a SARIF 2.1.0 log for `file` (its URI as given).
pub fn sarif(report: &Report, file: &str) -> Json {
    let rules: Vec<Json> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": { "text": r.summary },
            })
        })
        .collect();
    let results: Vec<Json> = report
        .findings
        .iter()
        .map(|f| {
            let level = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                _ => "note",
            };
            let index = RULES.iter().position(|r| r.id == f.rule.id).unwrap_or(0);
            json!({
                "ruleId": f.rule.id,
                "ruleIndex": index,
                "level": level,
                "message": { "text": f.message },
                "locations": [{
                    "physicalLocation": { "artifactLocation": { "uri": file } },
                    "logicalLocations": [{ "fullyQualifiedName": f.path, "kind": "member" }],
                }],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "mdm-profiles",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}
