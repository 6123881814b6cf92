#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod binary_check;
pub mod body;
pub mod enrollment;
pub mod error;
pub mod fields;
pub mod json;
pub mod profile;
pub mod report;
pub mod schema;
#[cfg(feature = "signature")]
#[cfg_attr(docsrs, doc(cfg(feature = "signature")))]
pub mod signature;
pub mod string_enum;
mod xml_check;
mod xml_reader;

pub use body::{Format, Limits, parse_dictionary, parse_value, to_binary, to_xml};
pub use enrollment::{Channel, Enrollment, EnrollmentType, Identity, SHARED_IPAD_USER_ID};
pub use error::{Error, Result};
pub use fields::{Data, DictWriter, Fields, FromValue, ToValue};
pub use profile::{EnrollmentProfile, Payload, Profile};
pub use report::{CommandReport, CommandStatus, ErrorChainItem};

/// The plist crate this crate's API speaks; use it to avoid version mismatches.
pub use plist;
#[doc(hidden)]
pub use serde;

#[doc(hidden)]
pub mod fuzzing {
    //! Entry points for fuzz targets and the fuzz-corpus replay test.

    /// Runs the plist front door and, when it accepts, the report decoder and its re-encoding.
    pub fn front_door(data: &[u8]) {
        if let Ok(value) = crate::parse_value(data, &crate::Limits::MDM) {
            let _ = crate::to_xml(&value);
        }
    }

    /// The front door as it was before the one-pass XML reader: for XML bodies the pre-scan,
    /// then the plist crate's reader (binary bodies as [`crate::parse_value`]).
    pub fn parse_value_reference(
        data: &[u8],
        limits: &crate::Limits,
    ) -> crate::Result<plist::Value> {
        if data.len() <= limits.max_bytes
            && matches!(crate::body::sniff_format(data), Ok(crate::Format::Xml))
        {
            return crate::body::parse_xml_reference(data, limits);
        }
        crate::parse_value(data, limits)
    }

    /// Reads an XML body with the one-pass reader and with the reference path (pre-scan,
    /// then the plist crate) and panics if they disagree: different values, one accepting
    /// what the other refuses, or different errors.
    pub fn xml_reader_agrees(data: &[u8]) {
        let limits = crate::Limits::MDM;
        if data.len() > limits.max_bytes
            || !matches!(crate::body::sniff_format(data), Ok(crate::Format::Xml))
        {
            return;
        }
        let fast = crate::parse_value(data, &limits);
        let reference = crate::body::parse_xml_reference(data, &limits);
        assert_eq!(
            fast.is_ok(),
            reference.is_ok(),
            "one reader accepts, the other refuses: {fast:?} vs {reference:?}"
        );
        match (&fast, &reference) {
            (Ok(a), Ok(b)) => assert!(same_value(a, b), "values differ: {a:?} vs {b:?}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "errors differ"),
            _ => {}
        }
    }

    /// True when the one-pass XML reader reads `data` itself (a value or a limit error),
    /// false when it hands it to the reference path.
    pub fn read_in_one_pass(data: &[u8], limits: &crate::Limits) -> bool {
        !matches!(
            crate::xml_reader::read(data, limits),
            crate::xml_reader::Read::Fallback
        )
    }

    /// Value equality in which a NaN real equals a NaN real.
    pub fn same_value(a: &plist::Value, b: &plist::Value) -> bool {
        use plist::Value;
        match (a, b) {
            (Value::Real(x), Value::Real(y)) => x == y || (x.is_nan() && y.is_nan()),
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
            }
            (Value::Dictionary(x), Value::Dictionary(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y.iter())
                        .all(|((kx, vx), (ky, vy))| kx == ky && same_value(vx, vy))
            }
            _ => a == b,
        }
    }

    /// Hand-builds a binary plist for hostile-input tests: the header, the given encoded
    /// objects, a 2-byte offset table and a trailer with 1-byte object references.
    pub fn binary_plist(objects: &[Vec<u8>], top: u64) -> Vec<u8> {
        let mut b = b"bplist00".to_vec();
        let mut offsets = Vec::with_capacity(objects.len());
        for o in objects {
            offsets.push(u16::try_from(b.len()).unwrap_or(u16::MAX));
            b.extend(o);
        }
        let table = b.len() as u64;
        for o in &offsets {
            b.extend(o.to_be_bytes());
        }
        let mut trailer = [0u8; 32];
        trailer[6] = 2;
        trailer[7] = 1;
        trailer[8..16].copy_from_slice(&(objects.len() as u64).to_be_bytes());
        trailer[16..24].copy_from_slice(&top.to_be_bytes());
        trailer[24..32].copy_from_slice(&table.to_be_bytes());
        b.extend(trailer);
        b
    }

    /// Reads a profile, and an enrollment profile out of it; an enrollment profile that
    /// reads must build a profile that reads back the same.
    pub fn enrollment_profile(data: &[u8]) {
        let Ok(profile) = crate::Profile::decode(data) else {
            return;
        };
        if let Ok(read) = crate::EnrollmentProfile::from_profile(&profile) {
            let rebuilt = read.build();
            let again = crate::EnrollmentProfile::from_profile(&rebuilt);
            assert!(again.is_ok(), "a rebuilt enrollment profile does not read");
            if let Ok(mut again) = again {
                // A profile without a root payload has no root UUID to give back.
                again.uuids[3].clone_from(&read.uuids[3]);
                assert_eq!(again.server_url, read.server_url);
                assert_eq!(again.topic, read.topic);
                assert_eq!(again.scep_url, read.scep_url);
                assert_eq!(again.scep_subject, read.scep_subject);
                assert_eq!(again.trust_ca_der, read.trust_ca_der);
            }
        }
    }

    /// Decodes a command report and checks that re-encoding is lossless.
    pub fn report(data: &[u8]) {
        if let Ok(report) = crate::CommandReport::decode(data) {
            let again = report.to_dictionary();
            let reread = crate::CommandReport::from_dictionary(again.clone());
            assert!(reread.is_ok(), "re-encoded report does not decode");
            if let Ok(original) = crate::parse_dictionary(data, &crate::Limits::MDM) {
                assert_eq!(original, again, "report re-encoding lost or changed keys");
            }
        }
    }
}
