//! `POST /v1/escrowkeyunlock` (NanoMDM): the form an admin sends for an Activation Lock
//! bypass, checked, and split the way Apple's escrow-key-unlock endpoint wants it (device
//! fields in the query, audit fields and the bypass code in the form body). Sans-I/O: the
//! forwarding over mutual TLS with the push certificate is the caller's.

use serde::Deserialize;

/// Apple's escrow-key-unlock endpoint (the default of the server's configured URL).
pub const APPLE_URL: &str =
    "https://deviceservices-external.apple.com/deviceservicesworkers/escrowKeyUnlock";

/// The longest serial number, product type, IMEI or MEID accepted.
pub const MAX_DEVICE_FIELD: usize = 64;
/// The longest organisation name, requester ID, bypass code or topic accepted.
pub const MAX_TEXT_FIELD: usize = 256;

/// The form of `POST /v1/escrowkeyunlock`, as NanoMDM reads it.
#[derive(Debug, Default, Clone, Deserialize, schemars::JsonSchema)]
pub struct UnlockForm {
    /// The device's serial number (required).
    pub serial: Option<String>,
    /// The product type, e.g. `iPad4,1` (required).
    #[serde(rename = "productType")]
    pub product_type: Option<String>,
    /// Who asks, for Apple's audit: the organisation (required).
    #[serde(rename = "orgName")]
    pub org_name: Option<String>,
    /// Who asks, for Apple's audit: the requesting user (required).
    pub guid: Option<String>,
    /// The bypass code in its dash-separated form (required).
    #[serde(rename = "escrowKey")]
    pub escrow_key: Option<String>,
    /// The device's IMEI (cellular devices).
    pub imei: Option<String>,
    /// The device's second IMEI (dual-SIM devices).
    pub imei2: Option<String>,
    /// The device's MEID (cellular devices).
    pub meid: Option<String>,
    /// The APNs topic whose push certificate authenticates to Apple (required).
    pub topic: Option<String>,
}

/// A checked unlock request, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnlockRequest {
    /// The push certificate's topic.
    pub topic: String,
    /// The query string (without `?`): serial, productType and any imei, imei2, meid.
    pub query: String,
    /// The `application/x-www-form-urlencoded` body: orgName, guid, escrowKey.
    pub body: String,
}

/// What was wrong with an unlock form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnlockFormError {
    /// A required field is missing or empty.
    #[error("`{0}` is required")]
    Missing(&'static str),
    /// A field is longer than its limit.
    #[error("`{field}` is longer than {max} bytes")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its limit.
        max: usize,
    },
    /// A field holds control characters.
    #[error("`{0}` holds control characters")]
    Control(&'static str),
}

fn check(
    value: Option<&str>,
    field: &'static str,
    max: usize,
    required: bool,
) -> Result<Option<String>, UnlockFormError> {
    let value = value.map(str::trim).filter(|v| !v.is_empty());
    match value {
        None if required => Err(UnlockFormError::Missing(field)),
        None => Ok(None),
        Some(v) if v.len() > max => Err(UnlockFormError::TooLong { field, max }),
        Some(v) if v.chars().any(char::is_control) => Err(UnlockFormError::Control(field)),
        Some(v) => Ok(Some(v.to_owned())),
    }
}

/// Percent-encodes `value` for a query string or form body (all but unreserved bytes).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn pairs(list: &[(&str, &Option<String>)]) -> String {
    list.iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect::<Vec<_>>()
        .join("&")
}

impl UnlockForm {
    /// Checks the fields (required ones present, lengths, no control characters) and
    /// splits them into Apple's query and form body.
    pub fn into_request(self) -> Result<UnlockRequest, UnlockFormError> {
        let d = MAX_DEVICE_FIELD;
        let t = MAX_TEXT_FIELD;
        let serial = check(self.serial.as_deref(), "serial", d, true)?;
        let product_type = check(self.product_type.as_deref(), "productType", d, true)?;
        let org_name = check(self.org_name.as_deref(), "orgName", t, true)?;
        let guid = check(self.guid.as_deref(), "guid", t, true)?;
        let escrow_key = check(self.escrow_key.as_deref(), "escrowKey", t, true)?;
        let imei = check(self.imei.as_deref(), "imei", d, false)?;
        let imei2 = check(self.imei2.as_deref(), "imei2", d, false)?;
        let meid = check(self.meid.as_deref(), "meid", d, false)?;
        let topic = check(self.topic.as_deref(), "topic", t, true)?
            .ok_or(UnlockFormError::Missing("topic"))?;
        Ok(UnlockRequest {
            topic,
            query: pairs(&[
                ("serial", &serial),
                ("productType", &product_type),
                ("imei", &imei),
                ("imei2", &imei2),
                ("meid", &meid),
            ]),
            body: pairs(&[
                ("orgName", &org_name),
                ("guid", &guid),
                ("escrowKey", &escrow_key),
            ]),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn full() -> UnlockForm {
        UnlockForm {
            serial: Some("C02XYZ".into()),
            product_type: Some("iPad4,1".into()),
            org_name: Some("Example Org".into()),
            guid: Some("admin@example.com".into()),
            escrow_key: Some("ABCD-EFGH-1234".into()),
            imei: None,
            imei2: None,
            meid: Some("A1000".into()),
            topic: Some("com.apple.mgmt.External.x".into()),
        }
    }

    #[test]
    fn splits_device_fields_from_audit_fields() {
        let r = full().into_request().unwrap();
        assert_eq!(r.query, "serial=C02XYZ&productType=iPad4%2C1&meid=A1000");
        assert_eq!(
            r.body,
            "orgName=Example%20Org&guid=admin%40example.com&escrowKey=ABCD-EFGH-1234"
        );
        assert_eq!(r.topic, "com.apple.mgmt.External.x");
    }

    #[test]
    fn refuses_missing_long_and_control_fields() {
        let mut f = full();
        f.escrow_key = Some("  ".into());
        assert_eq!(f.into_request(), Err(UnlockFormError::Missing("escrowKey")));
        let mut f = full();
        f.topic = None;
        assert_eq!(f.into_request(), Err(UnlockFormError::Missing("topic")));
        let mut f = full();
        f.serial = Some("S".repeat(MAX_DEVICE_FIELD + 1));
        assert!(matches!(
            f.into_request(),
            Err(UnlockFormError::TooLong {
                field: "serial",
                ..
            })
        ));
        let mut f = full();
        f.guid = Some("a\nb".into());
        assert_eq!(f.into_request(), Err(UnlockFormError::Control("guid")));
    }
}
