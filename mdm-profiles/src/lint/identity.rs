//! The rules across payloads: `P011 duplicate-uuid`, `P012 duplicate-identifier`,
//! `P013 unresolved-reference` (a certificate or identity UUID that names no payload).

use super::{
    DUPLICATE_IDENTIFIER, DUPLICATE_UUID, MAX_DEPTH, Report, Severity, UNRESOLVED_REFERENCE,
};
use crate::profile::Profile;
use mdm_proto::plist::Value;
use std::collections::HashMap;

/// True for the keys whose value is the `PayloadUUID` of another payload of the profile
/// (a certificate, an identity): `PayloadCertificateUUID`, `IdentityCertificateUUID`,
/// `PayloadCertificateAnchorUUID`, `SMIMESigningCertificateUUID`, `EncryptCertPayloadUUID`…
/// (`VPNUUID`, `DNSProxyUUID` and the like name other things, and are not references.)
pub fn is_reference_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let k = k.strip_suffix("item").unwrap_or(&k);
    (k.contains("certificate") && (k.ends_with("uuid") || k.ends_with("uuids")))
        || k.ends_with("identityuuid")
        || k == "encryptcertpayloaduuid"
}

pub(crate) fn check(profile: &Profile, report: &mut Report) {
    let mut uuids: HashMap<&str, String> = HashMap::new();
    let mut ids: HashMap<&str, String> = HashMap::new();
    if let Some(u) = profile.uuid() {
        uuids.insert(u, "the profile".to_owned());
    }
    if let Some(i) = profile.identifier() {
        ids.insert(i, "the profile".to_owned());
    }
    for (n, p) in profile.payloads.iter().enumerate() {
        let here = format!("PayloadContent[{n}]");
        if let Some(u) = p.uuid() {
            match uuids.get(u) {
                Some(first) => report.push(
                    &DUPLICATE_UUID,
                    Severity::Error,
                    &format!("{here}.PayloadUUID"),
                    format!("PayloadUUID `{u}` is also {first}'s"),
                    None,
                ),
                None => {
                    uuids.insert(u, here.clone());
                }
            }
        }
        if let Some(i) = p.identifier() {
            match ids.get(i) {
                Some(first) => report.push(
                    &DUPLICATE_IDENTIFIER,
                    Severity::Error,
                    &format!("{here}.PayloadIdentifier"),
                    format!("PayloadIdentifier `{i}` is also {first}'s"),
                    None,
                ),
                None => {
                    ids.insert(i, here.clone());
                }
            }
        }
    }
    let payload_uuids: Vec<&str> = profile.payloads.iter().filter_map(|p| p.uuid()).collect();
    for (n, p) in profile.payloads.iter().enumerate() {
        let body = p.body.to_value();
        references(
            &format!("PayloadContent[{n}]"),
            &body,
            false,
            &payload_uuids,
            0,
            report,
        );
    }
}

fn references(
    path: &str,
    value: &Value,
    is_ref: bool,
    uuids: &[&str],
    depth: usize,
    report: &mut Report,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Dictionary(d) => {
            for (k, v) in d {
                references(
                    &format!("{path}.{k}"),
                    v,
                    is_reference_key(k),
                    uuids,
                    depth + 1,
                    report,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                references(&format!("{path}[{i}]"), v, is_ref, uuids, depth + 1, report);
            }
        }
        Value::String(s) if is_ref && !uuids.contains(&s.as_str()) => report.push(
            &UNRESOLVED_REFERENCE,
            Severity::Error,
            path,
            format!("`{s}` is the PayloadUUID of no payload of this profile"),
            None,
        ),
        _ => {}
    }
}
