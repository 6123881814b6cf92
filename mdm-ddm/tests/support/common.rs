//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdm_ddm::schema::Kind;
use serde_json::{Map, Value, json};
use std::path::PathBuf;

/// `shared/` beside the repository (walks up from the crate).
pub fn shared() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let candidate = dir.join("shared");
        if candidate.join("corpus").is_dir() {
            return candidate;
        }
        assert!(dir.pop(), "no shared/ directory above the crate");
    }
}

/// The DDM corpus files.
pub fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared().join("corpus/ddm"))
        .expect("corpus/ddm")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
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
