//! Declarative device management: each enrollment's declarations (stored as JSON, managed
//! through `/v1/enrollments/{id}/declarations`) served to `DeclarativeManagement` check-ins by
//! `mdm-ddm`'s [`DeclarationSet`] (the routes are in `crate::admin`).

use super::ServiceError;
use crate::storage::Storage;
use mdm_ddm::{Declaration, DeclarationSet};

/// Reads a declaration given to the admin API (JSON: `Type`, `Identifier`, `Payload`;
/// `ServerToken` is computed by the server and may be left out) and checks it: a known
/// declaration kind, a non-empty identifier, a payload that decodes.
pub fn parse_declaration(body: &[u8]) -> Result<Declaration, String> {
    let mut value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let serde_json::Value::Object(map) = &mut value else {
        return Err("a declaration must be a JSON object".into());
    };
    map.entry("ServerToken")
        .or_insert_with(|| serde_json::Value::String(String::new()));
    let bytes = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    let declaration = Declaration::decode(&bytes).map_err(|e| e.to_string())?;
    let mut check = DeclarationSet::new();
    check
        .insert(declaration.clone())
        .map_err(|e| e.to_string())?;
    Ok(declaration)
}

/// The declaration set of an enrollment, from storage. Stored declarations that no longer
/// decode are left out (and logged).
pub async fn declaration_set(
    storage: &dyn Storage,
    id: &str,
) -> Result<DeclarationSet, ServiceError> {
    let mut set = DeclarationSet::new();
    for (identifier, json) in storage.declarations(id).await? {
        match Declaration::decode(&json)
            .map_err(|e| e.to_string())
            .and_then(|d| set.insert(d).map_err(|e| e.to_string()))
        {
            Ok(_) => {}
            Err(e) => tracing::warn!(enrollment = id, identifier, error = %e,
                "stored declaration left out"),
        }
    }
    Ok(set)
}
