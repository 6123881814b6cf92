//! The JSON form of plist values, as `mdmctl` and JSON APIs show them.
//!
//! dict → object, array → array, string → string, integer and real → number,
//! boolean → bool, data → standard base64 with padding, date → RFC 3339 UTC
//! (`2024-01-02T03:04:05Z`), UID → number. The mapping loses the distinction between data,
//! dates and strings; [`from_json`] therefore reads every JSON string as a string, and typed
//! decoders that know a key is data or a date convert it themselves.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use plist::{Date, Value};
use serde_json::{Map, Number, Value as Json};
use std::time::SystemTime;

/// Formats a plist date as RFC 3339 in UTC with whole seconds, as Apple's plists hold them.
pub fn date_to_rfc3339(date: &Date) -> String {
    let system: SystemTime = (*date).into();
    let odt = time::OffsetDateTime::from(system);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    odt.format(&format).unwrap_or_else(|_| date.to_xml_format())
}

/// Parses an RFC 3339 date into a plist date.
pub fn date_from_rfc3339(text: &str) -> Option<Date> {
    let odt =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(Date::from(SystemTime::from(odt)))
}

/// Standard base64 with padding.
pub fn data_to_base64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Bytes from standard base64 (padding optional); `None` when the text is not base64.
pub fn data_from_base64(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok().or_else(|| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text)
            .ok()
    })
}

/// The JSON form of a plist value.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Dictionary(d) => Json::Object(
            d.iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        Value::String(s) => Json::String(s.clone()),
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => match (i.as_signed(), i.as_unsigned()) {
            (Some(s), _) => Json::Number(s.into()),
            (None, Some(u)) => Json::Number(u.into()),
            (None, None) => Json::Null,
        },
        Value::Real(r) => Number::from_f64(*r).map_or(Json::Null, Json::Number),
        Value::Data(d) => Json::String(data_to_base64(d)),
        Value::Date(d) => Json::String(date_to_rfc3339(d)),
        Value::Uid(u) => Json::Number(u.get().into()),
        _ => Json::Null,
    }
}

/// A plist value from JSON: strings stay strings, whole numbers become integers, other
/// numbers reals. `null` has no plist form and is refused with the path where it was.
pub fn from_json(json: &Json) -> Result<Value, String> {
    fn walk(json: &Json, path: &str) -> Result<Value, String> {
        Ok(match json {
            Json::Null => return Err(format!("`{path}` is null, which a plist cannot hold")),
            Json::Bool(b) => Value::Boolean(*b),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Integer(i.into())
                } else if let Some(u) = n.as_u64() {
                    Value::Integer(u.into())
                } else {
                    Value::Real(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Json::String(s) => Value::String(s.clone()),
            Json::Array(a) => Value::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| walk(v, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            Json::Object(o) => Value::Dictionary(
                o.iter()
                    .map(|(k, v)| {
                        walk(v, &crate::fields::join_path(path, k)).map(|v| (k.clone(), v))
                    })
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
    walk(json, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_data_follow_the_contract() {
        let date = Date::from_xml_format("2024-01-02T03:04:05Z").unwrap();
        assert_eq!(
            to_json(&Value::Date(date)),
            Json::String("2024-01-02T03:04:05Z".into())
        );
        assert_eq!(date_from_rfc3339("2024-01-02T03:04:05Z"), Some(date));
        assert_eq!(
            to_json(&Value::Data(b"apple".to_vec())),
            Json::String("YXBwbGU=".into())
        );
    }

    #[test]
    fn null_is_refused_with_its_path() {
        let json: Json = serde_json::json!({"Command": {"Queries": [null]}});
        assert_eq!(
            from_json(&json).unwrap_err(),
            "`Command.Queries[0]` is null, which a plist cannot hold"
        );
    }
}
