//! Declarative device management: each enrollment's declarations (stored as JSON, managed
//! through `/v1/enrollments/{id}/declarations`) served to `DeclarativeManagement` check-ins by
//! `mdm-ddm`'s [`DeclarationSet`] (the routes are in `crate::admin`).

use super::ServiceError;
use crate::storage::Storage;
use mdm_ddm::{Declaration, DeclarationSet};

/// Reads a declaration given to the admin API (JSON: `Type`, `Identifier`, `Payload`;
/// `ServerToken` is computed by the server and may be left out) and checks it, as
/// `mdm_ddm::Declaration::decode_authored` does: a known declaration kind, a non-empty
/// identifier, a payload that decodes.
pub fn parse_declaration(body: &[u8]) -> Result<Declaration, String> {
    Declaration::decode_authored(body, &mdm_ddm::Limits::DDM).map_err(|e| e.to_string())
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
