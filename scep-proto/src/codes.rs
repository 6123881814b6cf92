//! Numeric wire codes (carried as decimal PrintableStrings): messageType, pkiStatus, failInfo.

macro_rules! wire_code {
    ($(#[$m:meta])* $name:ident { $($(#[$cm:meta])* $konst:ident = $val:expr, $text:expr;)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);

        impl $name {
            $($(#[$cm])* pub const $konst: Self = Self($val);)*

            /// The name of a known value, or `None`.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some($text),)*
                    _ => None,
                }
            }

            /// True for values this crate knows.
            pub fn is_known(self) -> bool {
                self.name().is_some()
            }

            /// Parses the decimal wire form.
            pub fn from_wire(s: &str) -> Option<Self> {
                let s = s.trim();
                if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                s.parse().ok().map(Self)
            }

            /// The decimal wire form.
            pub fn to_wire(self) -> String {
                self.0.to_string()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}({})", n, self.0),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}", self.0),
                }
            }
        }

        impl TryFrom<&str> for $name {
            type Error = crate::Error;
            fn try_from(s: &str) -> Result<Self, crate::Error> {
                $(if s.eq_ignore_ascii_case($text) { return Ok(Self::$konst); })*
                Self::from_wire(s).ok_or_else(|| crate::Error::invalid(stringify!($name), s.to_owned()))
            }
        }
    };
}

wire_code! {
    /// SCEP `messageType` (RFC 8894 section 3.2.1.2).
    MessageType {
        /// CertRep (3): the CA's response.
        CERT_REP = 3, "CertRep";
        /// RenewalReq (17): renewal signed with an existing certificate.
        RENEWAL_REQ = 17, "RenewalReq";
        /// PKCSReq (19): initial enrollment.
        PKCS_REQ = 19, "PKCSReq";
        /// CertPoll (20), formerly GetCertInitial.
        CERT_POLL = 20, "CertPoll";
        /// GetCert (21).
        GET_CERT = 21, "GetCert";
        /// GetCRL (22).
        GET_CRL = 22, "GetCRL";
    }
}

wire_code! {
    /// SCEP `pkiStatus`.
    PkiStatus {
        /// Request granted.
        SUCCESS = 0, "SUCCESS";
        /// Request rejected (see failInfo).
        FAILURE = 2, "FAILURE";
        /// Request pending manual approval.
        PENDING = 3, "PENDING";
    }
}

wire_code! {
    /// SCEP `failInfo`.
    FailInfo {
        /// Unrecognised or unsupported algorithm.
        BAD_ALG = 0, "badAlg";
        /// Integrity check (signature) failed.
        BAD_MESSAGE_CHECK = 1, "badMessageCheck";
        /// Transaction not permitted or supported.
        BAD_REQUEST = 2, "badRequest";
        /// signingTime not close enough to the system time.
        BAD_TIME = 3, "badTime";
        /// No certificate could be identified matching the criteria.
        BAD_CERT_ID = 4, "badCertId";
    }
}
