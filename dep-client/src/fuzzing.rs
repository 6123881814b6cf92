//! Entry points for the fuzz targets (not a stable API).

use http::{HeaderMap, StatusCode};

use crate::endpoint::{self, Endpoint};
use crate::error::ApiError;

/// Decodes `data` as the body of every DEP response type and as an error body; re-encodes
/// what decodes. Must never panic.
pub fn decode_responses(data: &[u8]) {
    let headers = HeaderMap::new();
    fn one<E: Endpoint>(data: &[u8], headers: &HeaderMap)
    where
        E::Response: serde::Serialize,
    {
        if let Ok(v) = endpoint::parse_response::<E>(StatusCode::OK, headers, data) {
            let _ = serde_json::to_vec(&v);
        }
    }
    one::<endpoint::GetAccount>(data, &headers);
    one::<endpoint::FetchDevices>(data, &headers);
    one::<endpoint::GetDeviceDetails>(data, &headers);
    one::<endpoint::DisownDevices>(data, &headers);
    one::<endpoint::ActivationLock>(data, &headers);
    one::<endpoint::DefineProfile>(data, &headers);
    one::<endpoint::GetProfile>(data, &headers);
    one::<endpoint::AssignProfile>(data, &headers);
    one::<endpoint::RemoveProfile>(data, &headers);
    one::<endpoint::GetAccountDrivenEnrollmentProfile>(data, &headers);
    one::<endpoint::GetBetaEnrollmentTokens>(data, &headers);
    let _ = endpoint::parse_session_response(StatusCode::OK, &headers, data);
    let e = ApiError::from_response(400, std::str::from_utf8(data).ok(), data);
    let _ = (e.is_session_expired(), e.is_throttled(), e.to_string());
    let _ = crate::token::decode_token_text(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::BypassCode::parse(text);
    }
}
