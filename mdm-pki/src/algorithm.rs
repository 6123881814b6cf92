//! Digest and content-encryption algorithms.

use const_oid::ObjectIdentifier;
use sha1::Digest as _;

use crate::error::{Error, Result};
use crate::oids;

/// A message digest used in signatures.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// SHA-1 (legacy; still what micromdm/scep and old devices use).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    /// The digest's OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oids::SHA1,
            Self::Sha256 => oids::SHA256,
            Self::Sha384 => oids::SHA384,
            Self::Sha512 => oids::SHA512,
        }
    }

    /// The matching `shaXWithRSAEncryption` OID.
    pub fn rsa_signature_oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oids::SHA1_WITH_RSA,
            Self::Sha256 => oids::SHA256_WITH_RSA,
            Self::Sha384 => oids::SHA384_WITH_RSA,
            Self::Sha512 => oids::SHA512_WITH_RSA,
        }
    }

    /// The matching `ecdsa-with-SHAx` OID.
    pub fn ecdsa_signature_oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oids::ECDSA_WITH_SHA1,
            Self::Sha256 => oids::ECDSA_WITH_SHA256,
            Self::Sha384 => oids::ECDSA_WITH_SHA384,
            Self::Sha512 => oids::ECDSA_WITH_SHA512,
        }
    }

    /// Looks a digest up by its OID.
    pub fn from_oid(oid: &ObjectIdentifier) -> Result<Self> {
        Ok(match *oid {
            oids::SHA1 => Self::Sha1,
            oids::SHA256 => Self::Sha256,
            oids::SHA384 => Self::Sha384,
            oids::SHA512 => Self::Sha512,
            other => return Err(Error::unsupported("digest algorithm", other.to_string())),
        })
    }

    /// Looks a digest up by a `shaXWithRSAEncryption` or ECDSA signature OID.
    pub fn from_signature_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Some(match *oid {
            oids::SHA1_WITH_RSA | oids::ECDSA_WITH_SHA1 => Self::Sha1,
            oids::SHA256_WITH_RSA | oids::ECDSA_WITH_SHA256 => Self::Sha256,
            oids::SHA384_WITH_RSA | oids::ECDSA_WITH_SHA384 => Self::Sha384,
            oids::SHA512_WITH_RSA | oids::ECDSA_WITH_SHA512 => Self::Sha512,
            _ => return None,
        })
    }

    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// The name used on the command line and in capabilities (`sha1`, `sha256`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }
}

impl std::str::FromStr for DigestAlgorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace('-', "").as_str() {
            "sha1" => Ok(Self::Sha1),
            "sha256" => Ok(Self::Sha256),
            "sha384" => Ok(Self::Sha384),
            "sha512" => Ok(Self::Sha512),
            _ => Err(Error::Usage(format!("unknown digest {s:?}"))),
        }
    }
}

/// A content-encryption cipher for EnvelopedData.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentCipher {
    /// DES-CBC (56-bit; legacy, what micromdm/scep sends).
    DesCbc,
    /// DES-EDE3-CBC (3DES).
    DesEde3Cbc,
    /// AES-128-CBC.
    Aes128Cbc,
    /// AES-192-CBC.
    Aes192Cbc,
    /// AES-256-CBC.
    Aes256Cbc,
}

impl ContentCipher {
    /// The cipher's OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::DesCbc => oids::DES_CBC,
            Self::DesEde3Cbc => oids::DES_EDE3_CBC,
            Self::Aes128Cbc => oids::AES128_CBC,
            Self::Aes192Cbc => oids::AES192_CBC,
            Self::Aes256Cbc => oids::AES256_CBC,
        }
    }

    /// Looks a cipher up by its OID.
    pub fn from_oid(oid: &ObjectIdentifier) -> Result<Self> {
        Ok(match *oid {
            oids::DES_CBC => Self::DesCbc,
            oids::DES_EDE3_CBC => Self::DesEde3Cbc,
            oids::AES128_CBC => Self::Aes128Cbc,
            oids::AES192_CBC => Self::Aes192Cbc,
            oids::AES256_CBC => Self::Aes256Cbc,
            other => return Err(Error::unsupported("content cipher", other.to_string())),
        })
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Self::DesCbc => 8,
            Self::DesEde3Cbc | Self::Aes192Cbc => 24,
            Self::Aes128Cbc => 16,
            Self::Aes256Cbc => 32,
        }
    }

    /// Block (and IV) length in bytes.
    pub fn block_len(self) -> usize {
        match self {
            Self::DesCbc | Self::DesEde3Cbc => 8,
            _ => 16,
        }
    }

    /// The name used on the command line (`des`, `des3`, `aes128`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::DesCbc => "des",
            Self::DesEde3Cbc => "des3",
            Self::Aes128Cbc => "aes128",
            Self::Aes192Cbc => "aes192",
            Self::Aes256Cbc => "aes256",
        }
    }

    /// Encrypts with PKCS#7 padding.
    pub fn encrypt(self, key: &[u8], iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        use cbc::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
        fn run<C>(key: &[u8], iv: &[u8], pt: &[u8]) -> Result<Vec<u8>>
        where
            cbc::Encryptor<C>: KeyIvInit + BlockModeEncrypt,
            C: cbc::cipher::BlockCipherEncrypt,
        {
            let enc = cbc::Encryptor::<C>::new_from_slices(key, iv)
                .map_err(|_| Error::Usage("bad key or IV length".into()))?;
            Ok(enc.encrypt_padded_vec::<Pkcs7>(pt))
        }
        match self {
            Self::DesCbc => run::<des::Des>(key, iv, plaintext),
            Self::DesEde3Cbc => run::<des::TdesEde3>(key, iv, plaintext),
            Self::Aes128Cbc => run::<aes::Aes128>(key, iv, plaintext),
            Self::Aes192Cbc => run::<aes::Aes192>(key, iv, plaintext),
            Self::Aes256Cbc => run::<aes::Aes256>(key, iv, plaintext),
        }
    }

    /// Decrypts and removes PKCS#7 padding.
    pub fn decrypt(self, key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>> {
        use cbc::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
        fn run<C>(key: &[u8], iv: &[u8], ct: &[u8]) -> Result<Vec<u8>>
        where
            cbc::Decryptor<C>: KeyIvInit + BlockModeDecrypt,
            C: cbc::cipher::BlockCipherDecrypt,
        {
            let dec = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| {
                Error::Decrypt("content-encryption key or IV has the wrong length".into())
            })?;
            dec.decrypt_padded_vec::<Pkcs7>(ct)
                .map_err(|_| Error::Decrypt("bad padding (wrong key?)".into()))
        }
        if key.len() != self.key_len() {
            return Err(Error::Decrypt(format!(
                "content-encryption key is {} bytes, {} needs {} (wrong recipient key?)",
                key.len(),
                self.name(),
                self.key_len()
            )));
        }
        if iv.len() != self.block_len() {
            return Err(Error::Decrypt(format!("IV is {} bytes", iv.len())));
        }
        if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(self.block_len()) {
            return Err(Error::Decrypt(format!(
                "ciphertext length {} is not a multiple of the block size",
                ciphertext.len()
            )));
        }
        match self {
            Self::DesCbc => run::<des::Des>(key, iv, ciphertext),
            Self::DesEde3Cbc => run::<des::TdesEde3>(key, iv, ciphertext),
            Self::Aes128Cbc => run::<aes::Aes128>(key, iv, ciphertext),
            Self::Aes192Cbc => run::<aes::Aes192>(key, iv, ciphertext),
            Self::Aes256Cbc => run::<aes::Aes256>(key, iv, ciphertext),
        }
    }
}

impl std::str::FromStr for ContentCipher {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace('-', "").as_str() {
            "des" | "descbc" => Ok(Self::DesCbc),
            "des3" | "3des" | "desede3" | "desede3cbc" => Ok(Self::DesEde3Cbc),
            "aes" | "aes128" | "aes128cbc" => Ok(Self::Aes128Cbc),
            "aes192" | "aes192cbc" => Ok(Self::Aes192Cbc),
            "aes256" | "aes256cbc" => Ok(Self::Aes256Cbc),
            _ => Err(Error::Usage(format!("unknown cipher {s:?}"))),
        }
    }
}
