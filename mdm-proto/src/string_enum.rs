//! Open string enums: known values as variants, any other value kept as it was sent.
//!
//! Apple adds message types, request types, statuses and reasons every year. An open enum
//! decodes every string: a known one becomes its variant, anything else is kept verbatim
//! in a hidden variant, so decoding never fails on a new value and encoding gives back
//! the same string. Match on the known variants and use a wildcard arm for the rest;
//! [`as_str`](crate::string_enum) always gives the wire string.

/// A string that is not one of an open enum's known values. It cannot be built or matched
/// by users, so a value that becomes known in a later version never silently changes arms.
#[doc(hidden)]
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrivOwnedStr(pub(crate) Box<str>);

impl PrivOwnedStr {
    #[doc(hidden)]
    pub fn new(s: &str) -> Self {
        PrivOwnedStr(s.into())
    }

    #[doc(hidden)]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PrivOwnedStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

/// Declares an open string enum.
///
/// ```
/// mdm_proto::open_enum! {
///     /// The colour of a thing.
///     pub enum Colour {
///         /// Red.
///         Red = "red",
///         /// Light blue.
///         LightBlue = "light-blue",
///     }
/// }
/// assert_eq!(Colour::from("red"), Colour::Red);
/// let other = Colour::from("mauve");
/// assert_eq!(other.as_str(), "mauve");
/// assert!(!other.is_known());
/// ```
#[macro_export]
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        ///
        /// This is an open enum: values this version does not know are kept as sent.
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )*
            #[doc(hidden)]
            _Custom($crate::string_enum::PrivOwnedStr),
        }

        impl $name {
            /// Every value this version knows, in schema order.
            pub const KNOWN: &'static [$name] = &[ $( $name::$variant ),* ];

            /// The string as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )*
                    $name::_Custom(s) => s.as_str(),
                }
            }

            /// True when the value is one this version knows.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::_Custom(_))
            }
        }

        impl ::std::convert::From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $wire => $name::$variant, )*
                    other => $name::_Custom($crate::string_enum::PrivOwnedStr::new(other)),
                }
            }
        }

        impl ::std::convert::From<::std::string::String> for $name {
            fn from(s: ::std::string::String) -> Self {
                $name::from(s.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                Ok($name::from(s))
            }
        }

        impl ::std::convert::AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                match self {
                    $name::_Custom(s) => write!(f, "{}::Unknown({:?})", stringify!($name), s.as_str()),
                    known => write!(f, "{}::{}", stringify!($name), known.as_str()),
                }
            }
        }

        impl $crate::serde::Serialize for $name {
            fn serialize<S: $crate::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> $crate::serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as $crate::serde::Deserialize>::deserialize(d)?;
                Ok($name::from(s.as_ref()))
            }
        }

        impl $crate::fields::FromValue for $name {
            fn from_value(value: $crate::plist::Value, path: &str) -> $crate::Result<Self> {
                match value {
                    $crate::plist::Value::String(s) => Ok($name::from(s)),
                    other => Err($crate::Error::WrongType {
                        path: path.to_owned(),
                        expected: "a string",
                        found: $crate::fields::kind_of(&other),
                    }),
                }
            }
        }

        impl $crate::fields::ToValue for $name {
            fn to_value(&self) -> $crate::plist::Value {
                $crate::plist::Value::String(self.as_str().to_owned())
            }
        }
    };
}
