//! Entry points for fuzz targets (not a stable API).

use http::{HeaderMap, HeaderValue, StatusCode};

/// Parses `data` as an APNs answer: the first two bytes pick the status code, the next byte
/// the length of an `apns-id` header value, the rest is the body. Never panics.
pub fn parse_response(data: &[u8]) -> Option<crate::Disposition> {
    let (head, rest) = data.split_at_checked(2)?;
    let code = 100 + u16::from_be_bytes([head[0], head[1]]) % 500;
    let status = StatusCode::from_u16(code).ok()?;
    let (len, rest) = rest.split_first()?;
    let len = usize::from(*len).min(rest.len());
    let (id, body) = rest.split_at(len);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(id) {
        headers.insert("apns-id", v);
    }
    let disposition = match crate::parse_response(status, &headers, body) {
        Ok(r) => r.disposition(),
        Err(_) => crate::Disposition::classify(code, None),
    };
    let _ = crate::parse_error_body(code, body);
    Some(disposition)
}

/// Feeds `data` to the certificate and key readers (PEM, DER, PKCS#12). Never panics.
pub fn parse_certificate(data: &[u8]) {
    let _ = crate::CertificateInfo::from_der(data);
    let _ = crate::CertificateInfo::from_pem(data);
    let _ = crate::PrivateKey::from_pem(data, Some("secret"));
    let _ = crate::cert::read_pkcs12(data, "secret");
}
