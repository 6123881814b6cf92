//! A small, bounded PKCS#12 (RFC 7292) reader: DER PFX, HMAC-SHA-1/SHA-256 MAC, PKCS#12 PBE
//! (3DES, RC2-40, RC2-128) and PBES2, certificate bags and (shrouded) key bags.
//!
//! Hand-written on der types rather than taken from a crate: the maintained PKCS#12 crates
//! pin a `cms` pre-release that conflicts with the workspace's pinned line, and their older
//! releases pull in a second RustCrypto line and follow issuer links without a bound.

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, InnerIvInit, KeyIvInit};
use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode};
use hmac::{KeyInit, Mac};
use sha1::Digest;
use spki::AlgorithmIdentifierRef;

use crate::error::Error;
use crate::pem::{KeyFormat, PrivateKeyDer as PrivateKey};

/// Largest PKCS#12 input accepted, in bytes.
pub const MAX_PKCS12: usize = 1024 * 1024;
/// Most certificates read from one file.
pub const MAX_CHAIN_LEN: usize = 10;

const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const OID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const OID_KEY_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.1");
const OID_SHROUDED_KEY_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.2");
const OID_CERT_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.3");
const OID_X509_CERT: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");
const OID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_PBE_SHA1_3DES: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.3");
const OID_PBE_SHA1_RC2_128: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.5");
const OID_PBE_SHA1_RC2_40: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.6");
const OID_PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");

/// Most iterations accepted for a key derivation (bounds the work a hostile file causes).
const MAX_ITERATIONS: u32 = 1_000_000;
/// Most safe bags read.
const MAX_BAGS: usize = 64;

#[derive(der::Sequence)]
struct Pfx<'a> {
    version: u8,
    auth_safe: ContentInfo<'a>,
    mac_data: Option<MacData<'a>>,
}

#[derive(der::Sequence)]
struct ContentInfo<'a> {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    content: Option<AnyRef<'a>>,
}

#[derive(der::Sequence)]
struct DigestInfo<'a> {
    algorithm: AlgorithmIdentifierRef<'a>,
    digest: &'a OctetStringRef,
}

#[derive(der::Sequence)]
struct MacData<'a> {
    mac: DigestInfo<'a>,
    salt: &'a OctetStringRef,
    iterations: Option<u32>,
}

#[derive(der::Sequence)]
struct EncryptedData<'a> {
    version: u8,
    info: EncryptedContentInfo<'a>,
}

#[derive(der::Sequence)]
struct EncryptedContentInfo<'a> {
    content_type: ObjectIdentifier,
    algorithm: AlgorithmIdentifierRef<'a>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    content: Option<&'a OctetStringRef>,
}

#[derive(der::Sequence)]
struct SafeBag<'a> {
    bag_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    value: AnyRef<'a>,
    attributes: Option<AnyRef<'a>>,
}

#[derive(der::Sequence)]
struct CertBag<'a> {
    cert_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    value: &'a OctetStringRef,
}

#[derive(der::Sequence)]
struct EncryptedPrivateKeyInfo<'a> {
    algorithm: AlgorithmIdentifierRef<'a>,
    data: &'a OctetStringRef,
}

#[derive(der::Sequence)]
struct PbeParams<'a> {
    salt: &'a OctetStringRef,
    iterations: u32,
}

fn err(reason: impl std::fmt::Display) -> Error {
    Error::invalid("PKCS#12", reason.to_string())
}

/// The password as PKCS#12 wants it: UTF-16BE with a two-byte terminator.
fn bmp_password(password: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(password.len() * 2 + 2);
    for unit in password.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out.extend_from_slice(&[0, 0]);
    out
}

/// RFC 7292 appendix B.2 key derivation, generic over a hash with a 64-byte block.
fn kdf<D: Digest>(pass: &[u8], salt: &[u8], id: u8, iterations: u32, n: usize) -> Vec<u8> {
    const V: usize = 64;
    let u = <D as Digest>::output_size();
    let fill = |src: &[u8]| -> Vec<u8> {
        if src.is_empty() {
            return Vec::new();
        }
        let len = V * src.len().div_ceil(V);
        src.iter().copied().cycle().take(len).collect()
    };
    let d = [id; V];
    let mut i_buf: Vec<u8> = fill(salt);
    i_buf.extend(fill(pass));
    let mut out = Vec::with_capacity(n + u);
    while out.len() < n {
        let mut h = D::new();
        h.update(d);
        h.update(&i_buf);
        let mut a = h.finalize().to_vec();
        for _ in 1..iterations {
            a = D::digest(&a).to_vec();
        }
        out.extend_from_slice(&a);
        if out.len() >= n {
            break;
        }
        let b: Vec<u8> = a.iter().copied().cycle().take(V).collect();
        for block in i_buf.chunks_mut(V) {
            let mut carry = 1u16;
            for k in (0..V).rev() {
                let sum = u16::from(block[k]) + u16::from(b[k]) + carry;
                block[k] = sum as u8;
                carry = sum >> 8;
            }
        }
    }
    out.truncate(n);
    out
}

fn check_iterations(n: u32) -> Result<u32, Error> {
    if n == 0 || n > MAX_ITERATIONS {
        return Err(err(format!(
            "{n} iterations, expected 1 to {MAX_ITERATIONS}"
        )));
    }
    Ok(n)
}

fn verify_mac(mac: &MacData<'_>, password: &str, data: &[u8]) -> Result<(), Error> {
    let iterations = check_iterations(mac.iterations.unwrap_or(1))?;
    let pass = bmp_password(password);
    let salt = mac.salt.as_bytes();
    let expected = mac.mac.digest.as_bytes();
    let ok = if mac.mac.algorithm.oid == OID_SHA1 {
        let key = kdf::<sha1::Sha1>(&pass, salt, 3, iterations, 20);
        let mut m = hmac::Hmac::<sha1::Sha1>::new_from_slice(&key).map_err(err)?;
        m.update(data);
        m.verify_slice(expected).is_ok()
    } else if mac.mac.algorithm.oid == OID_SHA256 {
        let key = kdf::<sha2::Sha256>(&pass, salt, 3, iterations, 32);
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(err)?;
        m.update(data);
        m.verify_slice(expected).is_ok()
    } else {
        return Err(err(format!(
            "unsupported MAC digest {}",
            mac.mac.algorithm.oid
        )));
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Passphrase(
            "PKCS#12 MAC does not verify: wrong password or corrupt file".into(),
        ))
    }
}

fn decrypt(
    alg: &AlgorithmIdentifierRef<'_>,
    password: &str,
    data: &[u8],
) -> Result<Vec<u8>, Error> {
    let bad = |_| Error::Passphrase("PKCS#12: wrong password or corrupt data (bad padding)".into());
    if alg.oid == OID_PBES2 {
        let der = alg.to_der().map_err(err)?;
        let scheme = pkcs5::EncryptionScheme::from_der(&der).map_err(err)?;
        return scheme
            .decrypt(password, data)
            .map_err(|e| Error::Passphrase(format!("PKCS#12 PBES2: {e}")));
    }
    let params = alg
        .parameters
        .ok_or_else(|| err(format!("{} without parameters", alg.oid)))?;
    let params: PbeParams<'_> = params.decode_as().map_err(err)?;
    let iterations = check_iterations(params.iterations)?;
    let pass = bmp_password(password);
    let salt = params.salt.as_bytes();
    let iv = kdf::<sha1::Sha1>(&pass, salt, 2, iterations, 8);
    if alg.oid == OID_PBE_SHA1_3DES {
        let key = kdf::<sha1::Sha1>(&pass, salt, 1, iterations, 24);
        cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
            .map_err(err)?
            .decrypt_padded_vec::<Pkcs7>(data)
            .map_err(bad)
    } else if alg.oid == OID_PBE_SHA1_RC2_40 || alg.oid == OID_PBE_SHA1_RC2_128 {
        let len = if alg.oid == OID_PBE_SHA1_RC2_40 {
            5
        } else {
            16
        };
        let key = kdf::<sha1::Sha1>(&pass, salt, 1, iterations, len);
        let cipher = rc2::Rc2::new_with_eff_key_len(&key, len * 8);
        cbc::Decryptor::<rc2::Rc2>::inner_iv_slice_init(cipher, &iv)
            .map_err(err)?
            .decrypt_padded_vec::<Pkcs7>(data)
            .map_err(bad)
    } else {
        Err(err(format!("unsupported encryption algorithm {}", alg.oid)))
    }
}

fn octets<'a>(any: &AnyRef<'a>) -> Result<&'a [u8], Error> {
    let s: &'a OctetStringRef = any.decode_as().map_err(err)?;
    Ok(s.as_bytes())
}

/// Reads a DER PKCS#12 file: certificates (the one matching the key first) and the first key.
/// Opens a PKCS#12 file (DER PFX) with `password`: returns the certificates (the one matching
/// the key first) and the private key (PKCS#8). The MAC is checked before anything is
/// decrypted; iterations, bags and certificates are bounded.
pub fn read(p12: &[u8], password: &str) -> Result<(Vec<Vec<u8>>, PrivateKey), Error> {
    if p12.len() > MAX_PKCS12 {
        return Err(Error::TooLarge {
            len: p12.len(),
            limit: MAX_PKCS12,
        });
    }
    let pfx = Pfx::from_der(p12).map_err(|e| err(format!("PFX: {e}")))?;
    if pfx.version != 3 {
        return Err(err(format!("version {}, expected 3", pfx.version)));
    }
    if pfx.auth_safe.content_type != OID_DATA {
        return Err(err(format!(
            "authSafe content type {} (public-key integrity mode is not supported)",
            pfx.auth_safe.content_type
        )));
    }
    let content = pfx
        .auth_safe
        .content
        .ok_or_else(|| err("authSafe has no content"))?;
    let auth_safe = octets(&content)?;
    if let Some(mac) = &pfx.mac_data {
        verify_mac(mac, password, auth_safe)?;
    }
    let safes: Vec<ContentInfo<'_>> =
        Vec::from_der(auth_safe).map_err(|e| err(format!("AuthenticatedSafe: {e}")))?;
    let mut certs = Vec::new();
    let mut key: Option<PrivateKey> = None;
    let mut bags_seen = 0usize;
    for (i, safe) in safes.iter().enumerate() {
        let content = safe
            .content
            .ok_or_else(|| err(format!("AuthenticatedSafe[{i}] has no content")))?;
        let plain;
        let safe_contents: &[u8] = if safe.content_type == OID_DATA {
            octets(&content)?
        } else if safe.content_type == OID_ENCRYPTED_DATA {
            let ed: EncryptedData<'_> = content
                .decode_as()
                .map_err(|e| err(format!("AuthenticatedSafe[{i}] EncryptedData: {e}")))?;
            let data = ed
                .info
                .content
                .ok_or_else(|| err(format!("AuthenticatedSafe[{i}] has no encrypted content")))?;
            plain = decrypt(&ed.info.algorithm, password, data.as_bytes())?;
            &plain
        } else {
            return Err(err(format!(
                "AuthenticatedSafe[{i}] content type {} is not supported",
                safe.content_type
            )));
        };
        let bags: Vec<SafeBag<'_>> = Vec::from_der(safe_contents)
            .map_err(|e| err(format!("AuthenticatedSafe[{i}] SafeContents: {e}")))?;
        for (j, bag) in bags.iter().enumerate() {
            bags_seen += 1;
            if bags_seen > MAX_BAGS {
                return Err(err(format!("more than {MAX_BAGS} bags")));
            }
            let _ = bag.attributes;
            let at = || format!("AuthenticatedSafe[{i}] bag[{j}]");
            if bag.bag_id == OID_CERT_BAG {
                let cb: CertBag<'_> = bag
                    .value
                    .decode_as()
                    .map_err(|e| err(format!("{} CertBag: {e}", at())))?;
                if cb.cert_id == OID_X509_CERT {
                    if certs.len() == MAX_CHAIN_LEN {
                        return Err(err(format!("more than {MAX_CHAIN_LEN} certificates")));
                    }
                    certs.push(cb.value.as_bytes().to_vec());
                }
            } else if bag.bag_id == OID_KEY_BAG && key.is_none() {
                key = Some(PrivateKey::new(
                    KeyFormat::Pkcs8,
                    bag.value.to_der().map_err(err)?,
                ));
            } else if bag.bag_id == OID_SHROUDED_KEY_BAG && key.is_none() {
                let epki: EncryptedPrivateKeyInfo<'_> = bag
                    .value
                    .decode_as()
                    .map_err(|e| err(format!("{} shrouded key: {e}", at())))?;
                let der = decrypt(&epki.algorithm, password, epki.data.as_bytes())?;
                key = Some(PrivateKey::new(KeyFormat::Pkcs8, der));
            }
        }
    }
    let key = key.ok_or_else(|| err("no private key inside"))?;
    if let Some(pos) = certs
        .iter()
        .position(|c| key.matches_certificate(c).is_ok())
    {
        let leaf = certs.remove(pos);
        certs.insert(0, leaf);
    }
    Ok((certs, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bmp() {
        assert_eq!(bmp_password("ab"), vec![0, b'a', 0, b'b', 0, 0]);
    }
}
