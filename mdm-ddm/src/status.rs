//! Status reports: the tree of status items, decoded into typed items.
//!
//! A report's `StatusItems` is a tree whose paths are the items' names:
//! `device.identifier.udid` is `StatusItems.device.identifier.udid`. Decoding walks the tree;
//! a path that names a known item is decoded (and checked) as that item, any other leaf or
//! branch is kept as an [`UnknownStatusItem`] with its path, so encoding gives the same tree.

pub use crate::generated::protocol::{StatusError, StatusErrorReason, StatusReport};
pub use crate::generated::status::*;

use crate::error::{Error, Result};
use crate::limits::{Limits, parse_object};
use crate::schema::{Keys, Kind, kind_of, validate_object};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A status item this version does not know, kept with its path in the tree.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UnknownStatusItem {
    /// The keys from `StatusItems` down to the value.
    pub path: Vec<String>,
    /// The value as sent.
    pub value: Value,
}

impl UnknownStatusItem {
    /// An unknown item at a dotted name.
    pub fn new(name: &str, value: Value) -> Self {
        UnknownStatusItem {
            path: name.split('.').map(str::to_owned).collect(),
            value,
        }
    }

    /// The item's name: its path joined with dots.
    pub fn name(&self) -> String {
        self.path.join(".")
    }
}

impl StatusItem {
    /// The keys from `StatusItems` down to this item's value.
    pub fn path(&self) -> Vec<String> {
        match self {
            StatusItem::Unknown(u) => u.path.clone(),
            known => known
                .name()
                .as_str()
                .split('.')
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The status items of a report, in the order they were found.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct StatusItems {
    /// The items.
    pub items: Vec<StatusItem>,
}

impl StatusItems {
    /// Items from a list.
    pub fn new(items: Vec<StatusItem>) -> Self {
        StatusItems { items }
    }

    /// Decodes the `StatusItems` tree; `path` names where it is (for errors).
    pub fn from_json(map: Map<String, Value>, path: &str) -> Result<Self> {
        let mut items = Vec::new();
        let mut keys = Vec::new();
        walk(map, &mut keys, &mut items, path)?;
        Ok(StatusItems { items })
    }

    /// The tree of items as a JSON object.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut root = Map::new();
        for item in &self.items {
            insert_path(&mut root, &item.path(), item.value_to_json());
        }
        root
    }

    /// The first item with this name.
    pub fn get(&self, name: &str) -> Option<&StatusItem> {
        self.items.iter().find(|i| i.name().as_str() == name)
    }

    /// Iterates over the items.
    pub fn iter(&self) -> std::slice::Iter<'_, StatusItem> {
        self.items.iter()
    }
}

fn walk(
    map: Map<String, Value>,
    keys: &mut Vec<String>,
    out: &mut Vec<StatusItem>,
    prefix: &str,
) -> Result<()> {
    for (key, value) in map {
        keys.push(key);
        let name = keys.join(".");
        let plain = keys.iter().all(|k| !k.is_empty() && !k.contains('.'));
        let item_name = StatusItemName::from(name.as_str());
        let known = if plain && item_name.is_known() {
            let path = crate::schema::join(prefix, &name);
            StatusItem::decode_known(&item_name, value, &path)?.map(Ok)
        } else {
            Some(Err(value))
        };
        match known {
            Some(Ok(item)) => out.push(item),
            Some(Err(Value::Object(inner))) if !inner.is_empty() => walk(inner, keys, out, prefix)?,
            Some(Err(value)) => out.push(StatusItem::Unknown(UnknownStatusItem {
                path: keys.clone(),
                value,
            })),
            None => {}
        }
        keys.pop();
    }
    Ok(())
}

fn insert_path(root: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = root;
    for key in parents {
        let entry = node
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        match entry {
            Value::Object(inner) => node = inner,
            _ => return,
        }
    }
    node.insert(last.clone(), value);
}

impl<'a> IntoIterator for &'a StatusItems {
    type Item = &'a StatusItem;
    type IntoIter = std::slice::Iter<'a, StatusItem>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl Serialize for StatusItems {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for StatusItems {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        StatusItems::from_json(map, "StatusItems").map_err(serde::de::Error::custom)
    }
}

impl StatusReport {
    /// Decodes a status report from untrusted JSON bytes with the default [`Limits`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Self::decode_with_limits(bytes, &Limits::DDM)
    }

    /// Decodes a status report from untrusted JSON bytes.
    pub fn decode_with_limits(bytes: &[u8], limits: &Limits) -> Result<Self> {
        Self::from_json(parse_object(bytes, limits)?)
    }

    /// Decodes a status report from a JSON object, checking every known status item.
    pub fn from_json(mut map: Map<String, Value>) -> Result<Self> {
        validate_object(&map, StatusReport::KEYS, "")?;
        let status_items = match map.shift_remove("StatusItems") {
            Some(Value::Object(items)) => StatusItems::from_json(items, "StatusItems")?,
            Some(other) => {
                return Err(Error::WrongType {
                    path: "StatusItems".into(),
                    expected: "an object",
                    found: kind_of(&other),
                });
            }
            None => {
                return Err(Error::MissingKey {
                    path: "StatusItems".into(),
                });
            }
        };
        let errors = match map.shift_remove("Errors") {
            Some(v) => crate::schema::decode_value(
                v,
                &Kind::Array(&Kind::Dict(StatusError::KEYS)),
                "Errors",
            )?,
            None => Vec::new(),
        };
        let full_report = match map.shift_remove("FullReport") {
            Some(Value::Bool(b)) => Some(b),
            Some(other) => {
                return Err(Error::WrongType {
                    path: "FullReport".into(),
                    expected: "a boolean",
                    found: kind_of(&other),
                });
            }
            None => None,
        };
        Ok(StatusReport {
            status_items,
            errors,
            full_report,
            extra: map,
        })
    }

    /// The report as a JSON object.
    pub fn to_json(&self) -> Map<String, Value> {
        crate::schema::encode_object(self)
    }

    /// The report as compact JSON bytes.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// True when the device says this report holds its full status (`FullReport`).
    pub fn is_full(&self) -> bool {
        self.full_report == Some(true)
    }
}
