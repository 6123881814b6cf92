//! [`ErrorReason`]: the `reason` of an APNs error answer, an open enum.

use std::fmt;

/// A string we own that users cannot build or match on: keeps unknown reasons.
#[doc(hidden)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PrivOwnedStr(Box<str>);

impl fmt::Debug for PrivOwnedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

macro_rules! reasons {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// The `reason` APNs gives with an error answer.
        ///
        /// An open enum: a reason Apple adds later is kept (see [`ErrorReason::as_str`]) instead
        /// of failing the parse. Match the known variants and treat anything else with a
        /// fallback arm; classification ([`crate::Disposition`]) also works from the status code.
        ///
        /// ```
        /// use apns_client::ErrorReason;
        /// assert_eq!(ErrorReason::from("Unregistered"), ErrorReason::Unregistered);
        /// let new = ErrorReason::from("SomethingNew");
        /// assert_eq!(new.as_str(), "SomethingNew");
        /// assert!(!new.is_known());
        /// ```
        #[derive(Clone, PartialEq, Eq, Hash, Debug)]
        #[non_exhaustive]
        pub enum ErrorReason {
            $( $(#[$doc])* $name, )*
            #[doc(hidden)]
            _Custom(PrivOwnedStr),
        }

        impl ErrorReason {
            /// Every reason this version knows, in Apple's documentation order.
            pub const KNOWN: &'static [ErrorReason] = &[$(ErrorReason::$name),*];

            /// The reason as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( ErrorReason::$name => stringify!($name), )*
                    ErrorReason::_Custom(s) => &s.0,
                }
            }
        }

        impl From<&str> for ErrorReason {
            fn from(s: &str) -> Self {
                match s {
                    $( stringify!($name) => ErrorReason::$name, )*
                    other => ErrorReason::_Custom(PrivOwnedStr(other.into())),
                }
            }
        }
    };
}

reasons! {
    /// 400: the collapse identifier exceeds the maximum size.
    BadCollapseId,
    /// 400: the device token is invalid (for example a sandbox token sent to production).
    BadDeviceToken,
    /// 400: the `apns-expiration` value is invalid.
    BadExpirationDate,
    /// 400: the `apns-id` value is invalid.
    BadMessageId,
    /// 400: the `apns-priority` value is invalid.
    BadPriority,
    /// 400: the `apns-topic` value is invalid.
    BadTopic,
    /// 400: the device token does not match the topic.
    DeviceTokenNotForTopic,
    /// 400: one or more headers are repeated.
    DuplicateHeaders,
    /// 400: idle timeout.
    IdleTimeout,
    /// 400: the `apns-push-type` value is invalid.
    InvalidPushType,
    /// 400: the device token is not in the request path.
    MissingDeviceToken,
    /// 400: the `apns-topic` header is missing and required.
    MissingTopic,
    /// 400: the message payload is empty.
    PayloadEmpty,
    /// 400: pushing to this topic is not allowed.
    TopicDisallowed,
    /// 403: the certificate is invalid.
    BadCertificate,
    /// 403: the client certificate is for the wrong environment.
    BadCertificateEnvironment,
    /// 403: the provider token is stale.
    ExpiredProviderToken,
    /// 403: the action is not allowed.
    Forbidden,
    /// 403: the provider token is not valid.
    InvalidProviderToken,
    /// 403: no provider certificate or token was given.
    MissingProviderToken,
    /// 403: the key ID in the provider token is unrelated to the connection's certificate.
    UnrelatedKeyIdInToken,
    /// 404: the request path is wrong.
    BadPath,
    /// 405: the method is not POST.
    MethodNotAllowed,
    /// 410: the device token has expired.
    ExpiredToken,
    /// 410: the device token is no longer active for the topic (see the timestamp).
    Unregistered,
    /// 413: the payload is too large.
    PayloadTooLarge,
    /// 429: the provider token is updated too often.
    TooManyProviderTokenUpdates,
    /// 429: too many requests to the same device token.
    TooManyRequests,
    /// 500: an internal server error.
    InternalServerError,
    /// 503: the service is unavailable.
    ServiceUnavailable,
    /// 503: the APNs server is shutting down.
    Shutdown,
}

impl ErrorReason {
    /// Whether this version of the crate knows the reason.
    pub fn is_known(&self) -> bool {
        !matches!(self, ErrorReason::_Custom(_))
    }

    /// The HTTP status Apple documents for a known reason.
    pub fn documented_status(&self) -> Option<u16> {
        use ErrorReason::*;
        Some(match self {
            BadCollapseId
            | BadDeviceToken
            | BadExpirationDate
            | BadMessageId
            | BadPriority
            | BadTopic
            | DeviceTokenNotForTopic
            | DuplicateHeaders
            | IdleTimeout
            | InvalidPushType
            | MissingDeviceToken
            | MissingTopic
            | PayloadEmpty
            | TopicDisallowed => 400,
            BadCertificate
            | BadCertificateEnvironment
            | ExpiredProviderToken
            | Forbidden
            | InvalidProviderToken
            | MissingProviderToken
            | UnrelatedKeyIdInToken => 403,
            BadPath => 404,
            MethodNotAllowed => 405,
            ExpiredToken | Unregistered => 410,
            PayloadTooLarge => 413,
            TooManyProviderTokenUpdates | TooManyRequests => 429,
            InternalServerError => 500,
            ServiceUnavailable | Shutdown => 503,
            _Custom(_) => return None,
        })
    }
}

impl From<String> for ErrorReason {
    fn from(s: String) -> Self {
        ErrorReason::from(s.as_str())
    }
}

impl fmt::Display for ErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_round_trip() {
        for r in ErrorReason::KNOWN {
            assert_eq!(&ErrorReason::from(r.as_str()), r);
            assert!(r.is_known());
            assert!(r.documented_status().is_some());
        }
        assert_eq!(ErrorReason::KNOWN.len(), 31);
    }

    #[test]
    fn unknown_kept() {
        let r = ErrorReason::from("BrandNewReason");
        assert_eq!(r.as_str(), "BrandNewReason");
        assert_eq!(r.to_string(), "BrandNewReason");
        assert_eq!(r.documented_status(), None);
    }
}
