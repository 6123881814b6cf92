#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod credential;
pub mod declaration;
pub mod error;
pub mod generated;
pub mod limits;
pub mod model;
pub mod schema;
pub mod server;
pub mod status;
pub mod tokens;

/// Every declaration payload type, by kind.
pub mod declarations {
    pub use crate::generated::activations::*;
    pub use crate::generated::assets::*;
    pub use crate::generated::configurations::*;
    pub use crate::generated::management::*;
}

pub use declaration::{Declaration, DeclarationKind, DeclarationPayload};
pub use error::{Error, Result};
pub use generated::protocol::{
    DeclarationItem, DeclarationItemsResponse, ManifestDeclarations, TokensResponse,
};
pub use generated::types::{AppReasonCode, DeclarationType, Payload, ReasonCode};
pub use limits::Limits;
pub use model::{DeclarationState, EnrollmentStatus};
pub use server::{DdmReply, DeclarationSet, Endpoint, declarative_management_command};
pub use status::{StatusItem, StatusItemName, StatusItems, StatusReport, UnknownStatusItem};
pub use tokens::SynchronizationTokens;

/// The JSON crate this crate's API speaks.
pub use serde_json;

#[doc(hidden)]
pub mod fuzzing {
    //! Entry points for fuzz targets and the fuzz-corpus replay test.

    /// Decodes a declaration; when it decodes, checks that encoding and decoding again gives
    /// the same declaration and the same JSON, and that its server token is stable.
    pub fn declaration(data: &[u8]) {
        if let Ok(authored) = crate::Declaration::decode_authored(data, &crate::Limits::DDM) {
            let mut set = crate::DeclarationSet::new();
            assert!(
                set.insert(authored).is_ok(),
                "an authored declaration that decodes is refused by a set"
            );
        }
        if let Ok(decl) = crate::Declaration::decode(data) {
            let bytes = decl.encode();
            let again = crate::Declaration::decode(&bytes);
            assert!(again.is_ok(), "re-encoded declaration does not decode");
            if let Ok(again) = again {
                assert_eq!(again, decl, "declaration changed through encoding");
                assert_eq!(
                    crate::tokens::server_token(&again),
                    crate::tokens::server_token(&decl)
                );
            }
            if let Ok(serde_json::Value::Object(original)) =
                serde_json::from_slice::<serde_json::Value>(data)
            {
                assert_eq!(original, decl.to_json(), "declaration encoding lost keys");
            }
        }
    }

    /// Decodes a status report; when it decodes, checks that encoding is lossless and that
    /// applying it to a status model does not fail.
    pub fn status_report(data: &[u8]) {
        if let Ok(report) = crate::StatusReport::decode(data) {
            let bytes = report.encode();
            let again = crate::StatusReport::decode(&bytes);
            assert!(again.is_ok(), "re-encoded status report does not decode");
            if let Ok(serde_json::Value::Object(original)) =
                serde_json::from_slice::<serde_json::Value>(data)
            {
                assert_eq!(
                    original,
                    report.to_json(),
                    "status report encoding lost keys"
                );
            }
            let mut model = crate::EnrollmentStatus::default();
            model.apply(&report);
            let _ = model.failed().count();
        }
    }

    /// Routes a DeclarativeManagement check-in with an arbitrary endpoint and body.
    pub fn checkin(data: &[u8]) {
        let (endpoint, body) = match data.iter().position(|&b| b == 0) {
            Some(i) => (&data[..i], Some(&data[i + 1..])),
            None => (data, None),
        };
        let endpoint = String::from_utf8_lossy(endpoint);
        let set = crate::DeclarationSet::new();
        let mut model = crate::EnrollmentStatus::default();
        let _ = set.handle(
            &endpoint,
            body,
            &mut model,
            std::time::SystemTime::UNIX_EPOCH,
        );
    }
}
