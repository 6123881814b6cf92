//! EnvelopedData with RSA key transport: build and open.

use rand::Rng as _;
use x509_cert::Certificate;

use super::{CertParts, CertificateDer, cert_der, issuer_and_serial};
use crate::algorithm::ContentCipher;
use crate::asn1::{self, tag};
use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::oids;

/// Encrypts `content` for `recipient` (RSA key transport, PKCS#1 v1.5) with `cipher`,
/// returning a ContentInfo holding EnvelopedData (id-data content).
pub fn envelope<C: CertificateDer + ?Sized>(
    content: &[u8],
    recipient: &C,
    cipher: ContentCipher,
) -> Result<Vec<u8>> {
    let rcpt_der = cert_der(recipient)?;
    let parts = CertParts::parse(&rcpt_der)?;
    let mut rng = rand::rng();
    let mut cek = vec![0u8; cipher.key_len()];
    rng.fill_bytes(&mut cek);
    let mut iv = vec![0u8; cipher.block_len()];
    rng.fill_bytes(&mut iv);
    let ciphertext = cipher.encrypt(&cek, &iv, content)?;
    let enc_key = crate::key::rsa_encrypt(parts.spki, &cek)?;
    let ktri = asn1::seq(&[
        &asn1::small_uint(0),
        &issuer_and_serial(&rcpt_der)?,
        &asn1::alg_id(&oids::RSA_ENCRYPTION, true),
        &asn1::octets(&enc_key),
    ]);
    let eci = asn1::seq(&[
        &asn1::oid(&oids::DATA),
        &asn1::seq(&[&asn1::oid(&cipher.oid()), &asn1::octets(&iv)]),
        &asn1::tlv(tag::CTX0_PRIM, &ciphertext),
    ]);
    let ed = asn1::seq(&[&asn1::small_uint(0), &asn1::set_of(&[&ktri]), &eci]);
    Ok(asn1::seq(&[
        &asn1::oid(&oids::ENVELOPED_DATA),
        &asn1::tlv(tag::CTX0, &ed),
    ]))
}

/// Opens a ContentInfo holding EnvelopedData (DER or BER) with `key`.
///
/// If `recipient` is given, the KeyTransRecipientInfo naming it is preferred. Returns the
/// plaintext and the content cipher the sender chose. A wrong key shows up as
/// [`Error::Decrypt`] (the RSA step uses implicit rejection, so the failure is detected on the
/// content-encryption key's length or the CBC padding).
pub fn open_envelope(
    input: &[u8],
    key: &dyn PrivateKey,
    recipient: Option<&Certificate>,
) -> Result<(Vec<u8>, ContentCipher)> {
    let der = asn1::ber_to_der(input)?;
    let ed = super::unwrap_content_info(&der, oids::ENVELOPED_DATA, "EnvelopedData ContentInfo")?
        .expect(tag::SEQUENCE, "EnvelopedData")?;
    let mut r = ed.reader();
    r.read_tag(tag::INTEGER, "EnvelopedData version")?;
    r.read_optional(tag::CTX0, "originatorInfo")?;
    let ris = r.read_tag(tag::SET, "recipientInfos")?;
    let eci = r.read_tag(tag::SEQUENCE, "encryptedContentInfo")?;

    let wanted = match recipient {
        Some(c) => Some(issuer_and_serial(&cert_der(c)?)?),
        None => None,
    };
    let mut chosen: Option<Vec<u8>> = None;
    let mut first: Option<Vec<u8>> = None;
    let mut rr = ris.reader();
    let mut count = 0;
    while !rr.is_empty() {
        count += 1;
        if count > 32 {
            return Err(Error::malformed(
                "recipientInfos",
                rr.offset(),
                "too many recipients",
            ));
        }
        let ri = rr.read("RecipientInfo")?;
        if ri.tag != tag::SEQUENCE {
            continue; // not KeyTransRecipientInfo
        }
        let mut kr = ri.reader();
        kr.read_tag(tag::INTEGER, "KeyTransRecipientInfo version")?;
        let rid = kr.read("rid")?;
        let alg = kr.read_tag(tag::SEQUENCE, "keyEncryptionAlgorithm")?;
        let alg_oid = alg
            .reader()
            .read("keyEncryptionAlgorithm")?
            .oid("keyEncryptionAlgorithm")?;
        let enc_key = kr.read_tag(tag::OCTET_STRING, "encryptedKey")?;
        if alg_oid != oids::RSA_ENCRYPTION {
            continue;
        }
        if wanted.as_deref() == Some(rid.raw) {
            chosen = Some(enc_key.value.to_vec());
        }
        if first.is_none() {
            first = Some(enc_key.value.to_vec());
        }
    }
    let enc_key = chosen
        .or(first)
        .ok_or(Error::Missing("RSA KeyTransRecipientInfo"))?;

    let mut er = eci.reader();
    er.read("contentType")?
        .oid("encryptedContentInfo contentType")?;
    let calg = er.read_tag(tag::SEQUENCE, "contentEncryptionAlgorithm")?;
    let mut cr = calg.reader();
    let cipher = ContentCipher::from_oid(&cr.read("cipher")?.oid("contentEncryptionAlgorithm")?)?;
    let iv = cr.read_tag(tag::OCTET_STRING, "IV")?.value;
    let ct = er.read("encryptedContent")?;
    let ciphertext = match ct.tag {
        tag::CTX0_PRIM => ct.value.to_vec(),
        tag::CTX0 => {
            // BER-style constructed [0] holding OCTET STRING pieces.
            let mut out = Vec::new();
            let mut pr = ct.reader();
            while !pr.is_empty() {
                out.extend_from_slice(
                    pr.read_tag(tag::OCTET_STRING, "encryptedContent piece")?
                        .value,
                );
            }
            out
        }
        other => {
            return Err(Error::malformed(
                "encryptedContent",
                ct.offset,
                format!("unexpected tag 0x{other:02x}"),
            ));
        }
    };
    let cek = key.decrypt(&enc_key)?;
    let plain = cipher.decrypt(&cek, iv, &ciphertext)?;
    Ok((plain, cipher))
}
