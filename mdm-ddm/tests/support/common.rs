//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdm_ddm::schema::Kind;
use serde_json::{Map, Value, json};
use std::path::PathBuf;

/// The DDM corpus files (JSON), or `None` after a visible skip.
pub fn corpus_files() -> Option<Vec<PathBuf>> {
    let dir = mdm_test_support::shared::corpus("ddm")?;
    let files: Vec<PathBuf> = mdm_test_support::shared::files_in(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert!(!files.is_empty(), "no JSON files in {}", dir.display());
    Some(files)
}

/// A value of every key the kind describes (optional ones too), plus an unknown key in
/// every object.
pub fn sample(kind: &Kind) -> Value {
    match kind {
        Kind::String => json!("text"),
        Kind::Data => json!("AAEC"),
        Kind::Integer => json!(7),
        Kind::Real => json!(1.5),
        Kind::Boolean => json!(true),
        Kind::Any => json!({"any": [1, "x", null]}),
        Kind::Array(item) => json!([sample(item), sample(item)]),
        Kind::Dict(keys) => {
            let mut map = Map::new();
            for spec in keys.iter() {
                map.insert(spec.key.to_owned(), sample(&spec.kind));
            }
            map.insert("FutureKey".into(), json!({"kept": [true]}));
            Value::Object(map)
        }
        Kind::MapOf(item) => json!({"first": sample(item), "second": sample(item)}),
        Kind::OpenDict => json!({"free": 1, "nested": {"x": "y"}}),
        _ => json!(null),
    }
}

/// Only the required keys of the kind.
pub fn minimal(kind: &Kind) -> Value {
    match kind {
        Kind::Array(_) => json!([]),
        Kind::Dict(keys) => {
            let mut map = Map::new();
            for spec in keys.iter().filter(|s| s.required) {
                map.insert(spec.key.to_owned(), minimal(&spec.kind));
            }
            Value::Object(map)
        }
        other => sample(other),
    }
}
