//! Open string enums: known values plus a hidden variant that keeps any other string.

use std::fmt;

/// A string that only this crate can build: it backs the hidden `_Custom` variant of the open
/// enums, so that matching on an unknown value is impossible and a later known variant never
/// silently changes a caller's `match` arms.
#[doc(hidden)]
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrivOwnedStr(pub(crate) Box<str>);

impl fmt::Debug for PrivOwnedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// Defines an open string enum: known variants, a hidden `_Custom` variant, `as_str`,
/// `From<&str>`, `From<String>`, `Display`, `Debug` and serde as a plain string.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $value:literal,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )*
            #[doc(hidden)]
            _Custom($crate::open_enum::PrivOwnedStr),
        }

        impl $name {
            /// Every known value, in declaration order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant,)*];

            /// The wire string.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $value,)*
                    $name::_Custom(s) => &s.0,
                }
            }

            /// Whether this is one of the known values (not one kept from the wire).
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::_Custom(_))
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($value => $name::$variant,)*
                    other => $name::_Custom($crate::open_enum::PrivOwnedStr(other.into())),
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($value => $name::$variant,)*
                    _ => $name::_Custom($crate::open_enum::PrivOwnedStr(s.into_boxed_str())),
                }
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    $($name::$variant => f.write_str(stringify!($variant)),)*
                    $name::_Custom(s) => write!(f, "Unknown({:?})", &*s.0),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                Ok($name::from(s.as_ref()))
            }
        }
    };
}

pub(crate) use open_enum;
