//! GetCACaps: typed capabilities.

use crate::algorithm::{ContentCipher, DigestAlgorithm};

/// One capability keyword (RFC 8894 section 3.5.2); unknown keywords are kept.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capability {
    /// `AES`: AES-128-CBC (and larger) content encryption.
    Aes,
    /// `DES3`: DES-EDE3-CBC.
    Des3,
    /// `GetNextCACert`.
    GetNextCaCert,
    /// `POSTPKIOperation`.
    PostPkiOperation,
    /// `Renewal`.
    Renewal,
    /// `SHA-1`.
    Sha1,
    /// `SHA-256`.
    Sha256,
    /// `SHA-512`.
    Sha512,
    /// `SCEPStandard` (implies AES, POSTPKIOperation and SHA-256).
    ScepStandard,
    /// `Update`.
    Update,
    /// Any other keyword, as sent.
    Other(String),
}

impl Capability {
    /// The wire keyword.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Aes => "AES",
            Self::Des3 => "DES3",
            Self::GetNextCaCert => "GetNextCACert",
            Self::PostPkiOperation => "POSTPKIOperation",
            Self::Renewal => "Renewal",
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
            Self::Sha512 => "SHA-512",
            Self::ScepStandard => "SCEPStandard",
            Self::Update => "Update",
            Self::Other(s) => s,
        }
    }
}

impl From<&str> for Capability {
    fn from(s: &str) -> Self {
        match s.trim() {
            k if k.eq_ignore_ascii_case("AES") => Self::Aes,
            k if k.eq_ignore_ascii_case("DES3") => Self::Des3,
            k if k.eq_ignore_ascii_case("GetNextCACert") => Self::GetNextCaCert,
            k if k.eq_ignore_ascii_case("POSTPKIOperation") => Self::PostPkiOperation,
            k if k.eq_ignore_ascii_case("Renewal") => Self::Renewal,
            k if k.eq_ignore_ascii_case("SHA-1") => Self::Sha1,
            k if k.eq_ignore_ascii_case("SHA-256") => Self::Sha256,
            k if k.eq_ignore_ascii_case("SHA-512") => Self::Sha512,
            k if k.eq_ignore_ascii_case("SCEPStandard") => Self::ScepStandard,
            k if k.eq_ignore_ascii_case("Update") => Self::Update,
            k => Self::Other(k.to_owned()),
        }
    }
}

/// A capability list, as returned by GetCACaps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities(pub Vec<Capability>);

impl Capabilities {
    /// Parses a GetCACaps body (one keyword per line; blank lines ignored; at most 64).
    pub fn parse(body: &str) -> Self {
        Self(
            body.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .take(64)
                .map(Capability::from)
                .collect(),
        )
    }

    /// The wire form (keywords separated by `\n`).
    pub fn to_body(&self) -> String {
        let mut s = self
            .0
            .iter()
            .map(Capability::as_str)
            .collect::<Vec<_>>()
            .join("\n");
        s.push('\n');
        s
    }

    /// True if the capability is present (SCEPStandard implies AES, POSTPKIOperation, SHA-256).
    pub fn has(&self, c: &Capability) -> bool {
        self.0.contains(c)
            || (self.0.contains(&Capability::ScepStandard)
                && matches!(
                    c,
                    Capability::Aes | Capability::PostPkiOperation | Capability::Sha256
                ))
    }

    /// The strongest digest both sides support (SHA-1 when nothing is advertised).
    pub fn best_digest(&self) -> DigestAlgorithm {
        if self.has(&Capability::Sha512) {
            DigestAlgorithm::Sha512
        } else if self.has(&Capability::Sha256) {
            DigestAlgorithm::Sha256
        } else {
            DigestAlgorithm::Sha1
        }
    }

    /// The strongest cipher both sides support (DES when nothing is advertised).
    pub fn best_cipher(&self) -> ContentCipher {
        if self.has(&Capability::Aes) {
            ContentCipher::Aes128Cbc
        } else if self.has(&Capability::Des3) {
            ContentCipher::DesEde3Cbc
        } else {
            ContentCipher::DesCbc
        }
    }

    /// True if PKIOperation may be POSTed.
    pub fn post_supported(&self) -> bool {
        self.has(&Capability::PostPkiOperation)
    }
}
