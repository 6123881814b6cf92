//! Dictionaries whose keys are names chosen by the administrator (app identifiers, domain
//! names) and whose values all have one type: the schema's `ANY` keys.

use indexmap::IndexMap;
use mdm_proto::fields::{FromValue, ToValue, join_path};
use mdm_proto::plist::{Dictionary, Value};

/// A dictionary keyed by any name (the schema's `ANY` keys), values of one type, in the
/// order they were sent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Keyed<T>(pub IndexMap<String, T>);

impl<T: FromValue> FromValue for Keyed<T> {
    fn from_value(value: Value, path: &str) -> mdm_proto::Result<Self> {
        let dict = Dictionary::from_value(value, path)?;
        let mut map = IndexMap::with_capacity(dict.len());
        for (key, value) in dict {
            let typed = T::from_value(value, &join_path(path, &key))?;
            map.insert(key, typed);
        }
        Ok(Keyed(map))
    }
}

impl<T: ToValue> ToValue for Keyed<T> {
    fn to_value(&self) -> Value {
        Value::Dictionary(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v.to_value()))
                .collect(),
        )
    }
}
