//! Typed reading and writing of plist dictionaries, with key paths in every error.
//!
//! Serde's `flatten` and internally tagged enums lose plist `Date` and `Data` values
//! (rust-plist#135, serde#1183), so wire types here are read by hand from a
//! [`Dictionary`]: [`Fields`] takes each known key out with its type checked, and whatever
//! is left over is kept as the type's `extra` keys, so encoding gives back every key.

use crate::error::{Error, Result};
use plist::{Date, Dictionary, Value};

/// The name of a value's plist type, for error messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "an array",
        Value::Dictionary(_) => "a dictionary",
        Value::Boolean(_) => "a boolean",
        Value::Data(_) => "data",
        Value::Date(_) => "a date",
        Value::Real(_) => "a real",
        Value::Integer(_) => "an integer",
        Value::String(_) => "a string",
        Value::Uid(_) => "a UID",
        _ => "an unknown value",
    }
}

fn wrong(path: &str, expected: &'static str, value: &Value) -> Error {
    Error::WrongType {
        path: path.to_owned(),
        expected,
        found: kind_of(value),
    }
}

/// A type that can be read from one plist value. `path` names the value in errors.
pub trait FromValue: Sized {
    /// Reads `value`, or says at `path` why it cannot.
    fn from_value(value: Value, path: &str) -> Result<Self>;
}

/// A type that can be written as one plist value.
pub trait ToValue {
    /// The plist value.
    fn to_value(&self) -> Value;
}

impl FromValue for Value {
    fn from_value(value: Value, _path: &str) -> Result<Self> {
        Ok(value)
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl FromValue for String {
    fn from_value(value: Value, path: &str) -> Result<Self> {
        match value {
            Value::String(s) => Ok(s),
            other => Err(wrong(path, "a string", &other)),
        }
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::String(self.clone())
    }
}

/// String literals, so builders take `"text"` as well as a `String`.
impl ToValue for &str {
    fn to_value(&self) -> Value {
        Value::String((*self).to_owned())
    }
}

impl FromValue for bool {
    fn from_value(value: Value, path: &str) -> Result<Self> {
        match value {
            Value::Boolean(b) => Ok(b),
            other => Err(wrong(path, "a boolean", &other)),
        }
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Boolean(*self)
    }
}

impl FromValue for i64 {
    fn from_value(value: Value, path: &str) -> Result<Self> {
        match value {
            Value::Integer(i) => i.as_signed().ok_or_else(|| Error::InvalidValue {
                path: path.to_owned(),
                reason: format!("{i} does not fit a signed 64-bit integer"),
            }),
            other => Err(wrong(path, "an integer", &other)),
        }
    }
}

impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Integer((*self).into())
    }
}

impl FromValue for u64 {
    fn from_value(value: Value, path: &str) -> Result<Self> {
        match value {
            Value::Integer(i) => i.as_unsigned().ok_or_else(|| Error::InvalidValue {
                path: path.to_owned(),
                reason: format!("{i} is not an unsigned 64-bit integer"),
            }),
            other => Err(wrong(path, "an integer", &other)),
        }
    }
}

impl ToValue for u64 {
    fn to_value(&self) -> Value {
        Value::Integer((*self).into())
    }
}

/// A plist `<real>`. An `<integer>` is refused, so that re-encoding never changes a type.
impl FromValue for f64 {
    fn from_value(value: Value, path: &str) -> Result<Self> {
        match value {
            Value::Real(r) => Ok(r),
            other => Err(wrong(path, "a real", &other)),
        }
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

/// Plist `<data>`.
///
/// ```
/// use mdm_proto::Data;
/// let data = Data::from(vec![1, 2, 3]);
/// assert_eq!(data.as_ref(), &[1, 2, 3]);
/// assert_eq!(Vec::from(data), vec![1, 2, 3]);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Data(pub Vec<u8>);

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Data({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for Data {
    fn from(bytes: Vec<u8>) -> Self {
        Data(bytes)
    }
}

impl From<&[u8]> for Data {
    fn from(bytes: &[u8]) -> Self {
        Data(bytes.to_vec())
    }
}

impl From<Data> for Vec<u8> {
    fn from(data: Data) -> Self {
        data.0
    }
}

impl AsRef<[u8]> for Data {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl FromValue for Data {
    fn from_value(value: Value, path: &str) -> Result<Self> {
        match value {
            Value::Data(d) => Ok(Data(d)),
            other => Err(wrong(path, "data", &other)),
        }
    }
}

impl ToValue for Data {
    fn to_value(&self) -> Value {
        Value::Data(self.0.clone())
    }
}

impl FromValue for Date {
    fn from_value(value: Value, path: &str) -> Result<Self> {
        match value {
            Value::Date(d) => Ok(d),
            other => Err(wrong(path, "a date", &other)),
        }
    }
}

impl ToValue for Date {
    fn to_value(&self) -> Value {
        Value::Date(*self)
    }
}

impl FromValue for Dictionary {
    fn from_value(value: Value, path: &str) -> Result<Self> {
        match value {
            Value::Dictionary(d) => Ok(d),
            other => Err(wrong(path, "a dictionary", &other)),
        }
    }
}

impl ToValue for Dictionary {
    fn to_value(&self) -> Value {
        Value::Dictionary(self.clone())
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(value: Value, path: &str) -> Result<Self> {
        match value {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| T::from_value(item, &format!("{path}[{i}]")))
                .collect(),
            other => Err(wrong(path, "an array", &other)),
        }
    }
}

impl<T: ToValue> ToValue for Vec<T> {
    fn to_value(&self) -> Value {
        Value::Array(self.iter().map(ToValue::to_value).collect())
    }
}

impl<T: ToValue> ToValue for Box<T> {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: FromValue> FromValue for Box<T> {
    fn from_value(value: Value, path: &str) -> Result<Self> {
        T::from_value(value, path).map(Box::new)
    }
}

/// Joins a key onto a path: `Command` + `RequestType` gives `Command.RequestType`.
pub fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Takes typed values out of a dictionary; what is left is the extra keys.
#[derive(Debug)]
pub struct Fields {
    dict: Dictionary,
    path: String,
}

impl Fields {
    /// Starts reading `dict`, whose own key path is `path` (empty at the top level).
    pub fn new(dict: Dictionary, path: &str) -> Self {
        Fields {
            dict,
            path: path.to_owned(),
        }
    }

    /// The key path of the dictionary being read.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Looks at a value without taking it.
    pub fn peek(&self, key: &str) -> Option<&Value> {
        self.dict.get(key)
    }

    /// Takes a key that must be present.
    pub fn required<T: FromValue>(&mut self, key: &str) -> Result<T> {
        let path = join_path(&self.path, key);
        match self.dict.remove(key) {
            Some(value) => T::from_value(value, &path),
            None => Err(Error::MissingKey { path }),
        }
    }

    /// Takes a key that may be absent.
    pub fn optional<T: FromValue>(&mut self, key: &str) -> Result<Option<T>> {
        match self.dict.remove(key) {
            Some(value) => T::from_value(value, &join_path(&self.path, key)).map(Some),
            None => Ok(None),
        }
    }

    /// Takes a key that may be absent; a wrongly typed value is left among the extra keys
    /// instead of failing. For keys real devices are known to send with other types
    /// than the schema says (a "not supported" string where a boolean is documented).
    pub fn lenient<T: FromValue>(&mut self, key: &str) -> Option<T> {
        let value = self.dict.get(key)?.clone();
        let typed = T::from_value(value, key).ok()?;
        self.dict.remove(key);
        Some(typed)
    }

    /// The keys not taken: the type's extra keys.
    pub fn rest(self) -> Dictionary {
        self.dict
    }
}

/// Builds a dictionary from typed values, skipping absent optional ones.
#[derive(Debug, Default)]
pub struct DictWriter {
    dict: Dictionary,
}

impl DictWriter {
    /// An empty dictionary.
    pub fn new() -> Self {
        DictWriter::default()
    }

    /// Sets a key.
    pub fn put<T: ToValue + ?Sized>(&mut self, key: &str, value: &T) -> &mut Self {
        self.dict.insert(key.to_owned(), value.to_value());
        self
    }

    /// Sets a key when the value is present.
    pub fn put_opt<T: ToValue>(&mut self, key: &str, value: &Option<T>) -> &mut Self {
        if let Some(value) = value {
            self.dict.insert(key.to_owned(), value.to_value());
        }
        self
    }

    /// Adds extra keys kept from decoding; keys already set win.
    pub fn extend(&mut self, extra: &Dictionary) -> &mut Self {
        for (key, value) in extra {
            if !self.dict.contains_key(key) {
                self.dict.insert(key.clone(), value.clone());
            }
        }
        self
    }

    /// The dictionary.
    pub fn finish(&mut self) -> Dictionary {
        std::mem::take(&mut self.dict)
    }
}
