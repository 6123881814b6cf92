//! Where this crate's check-in messages differ from Apple's YAML, and why.
//!
//! The message types are generated from `mdm/checkin` (`cargo run -p xtask -- codegen`);
//! the generator includes this file and applies [`OVERRIDES`] as it writes them, so the
//! table is the one place these differences are made. Apple's `presence: required` is not
//! always what devices send: the captures in `../shared/corpus/checkin` lack several such
//! keys, and some checks a server needs are not in the schema at all.
//!
//! The identity keys (`UDID`, `EnrollmentID`, `UserID`, `UserShortName`, `UserLongName`,
//! `EnrollmentUserID`) are not listed: every message reads them into its `identity`
//! ([`mdm_proto::Identity`]), where each is optional because they are alternatives (a
//! device channel has `UDID`, a User Enrollment `EnrollmentID`, …), and decoding checks
//! that they name an enrollment.
//!
//! This file must stay self-contained (no paths into the crate): xtask compiles it too.

/// One difference between a check-in key as Apple's schema gives it and as this crate
/// reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Override {
    /// The `MessageType`.
    pub message: &'static str,
    /// The key.
    pub key: &'static str,
    /// What differs.
    pub change: Change,
    /// Why: the captures or the protocol step that need it.
    pub why: &'static str,
}

/// What an [`Override`] changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The schema marks the key required; here it is optional (`Option`), and decoding
    /// does not fail without it.
    Optional,
    /// An identity key (optional in `identity`) that this message must have.
    Required,
    /// The value must not be empty.
    NonEmpty,
}

const NO_DEVICE_NAMES: &str = "iOS sends no DeviceName, Model or ModelName (corpus: micromdm-v0_ios9_authenticate.plist, nanomdm_Authenticate.1.plist, commandment_Authenticate_iOS-11.3.1-cell.xml); only macOS does";

/// Every difference, by `MessageType` and key.
pub const OVERRIDES: &[Override] = &[
    Override {
        message: "Authenticate",
        key: "DeviceName",
        change: Change::Optional,
        why: NO_DEVICE_NAMES,
    },
    Override {
        message: "Authenticate",
        key: "ModelName",
        change: Change::Optional,
        why: NO_DEVICE_NAMES,
    },
    Override {
        message: "Authenticate",
        key: "Model",
        change: Change::Optional,
        why: NO_DEVICE_NAMES,
    },
    Override {
        message: "CheckOut",
        key: "Topic",
        change: Change::Optional,
        why: "a CheckOut reports that the device left; refusing one without Topic would lose that (no capture lacks it: micromdm-v0_macos10.11_checkout.plist has it)",
    },
    Override {
        message: "TokenUpdate",
        key: "NotOnConsole",
        change: Change::Optional,
        why: "only macOS user channels send it (corpus: micromdm-v0_macos10.11_token_update_user.plist); device channels do not (nanomdm_TokenUpdate.1.plist, commandment_TokenUpdate_iOS-11.3.1.xml)",
    },
    Override {
        message: "TokenUpdate",
        key: "Token",
        change: Change::NonEmpty,
        why: "without a push token the server cannot reach the channel",
    },
    Override {
        message: "TokenUpdate",
        key: "PushMagic",
        change: Change::NonEmpty,
        why: "every push to the channel must carry it",
    },
    Override {
        message: "UserAuthenticate",
        key: "DigestResponse",
        change: Change::Optional,
        why: "the first of the two UserAuthenticate rounds has none, as the schema's own notes say (tests/examples/UserAuthenticate.first.fake.plist)",
    },
    Override {
        message: "UserAuthenticate",
        key: "UserID",
        change: Change::Required,
        why: "it names the user the channel is for; without it the message would pass for the device channel",
    },
];
