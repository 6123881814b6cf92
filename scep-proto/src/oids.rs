//! Object identifiers of SCEP's attributes; the generic ones (CMS, PKCS#9, X.509,
//! algorithms) are re-exported from `mdm_pki::oids`.

pub use mdm_pki::oids::*;

use const_oid::ObjectIdentifier as Oid;

/// SCEP messageType attribute.
pub const MESSAGE_TYPE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.2");
/// SCEP pkiStatus attribute.
pub const PKI_STATUS: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.3");
/// SCEP failInfo attribute.
pub const FAIL_INFO: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.4");
/// SCEP senderNonce attribute.
pub const SENDER_NONCE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.5");
/// SCEP recipientNonce attribute.
pub const RECIPIENT_NONCE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.6");
/// SCEP transactionID attribute.
pub const TRANSACTION_ID: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.7");
/// RFC 8894 failInfoText attribute.
pub const FAIL_INFO_TEXT: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.24.1");
