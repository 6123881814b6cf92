//! Wire types of the DEP API, one module per family.
//!
//! Every struct keeps the keys it does not know in an `extra` map, so decoding then encoding a
//! body loses nothing. Every value Apple might extend is an open enum.

pub mod account;
pub mod device;
pub mod enums;
pub mod misc;
pub mod profile;
pub mod token;

pub use account::{AccountDetail, AccountUrl, UrlLimit};
pub use device::{
    ActivationLockRequest, ActivationLockResponse, Device, DeviceDetailsRequest,
    DeviceDetailsResponse, DeviceListRequest, DeviceListResponse, DisownRequest, DisownResponse,
};
pub use enums::{DeviceStatus, ErrorCode, OpType, OrgType, OrgVersion, ProfileStatus, SkipKey};
pub use misc::{
    AccountDrivenEnrollmentProfile, BetaEnrollmentToken, BetaEnrollmentTokensResponse,
    SessionResponse,
};
pub use profile::{
    AssignProfileRequest, AssignProfileResponse, DefineProfileResponse, Profile,
    RemoveProfileRequest, RemoveProfileResponse,
};
pub use token::ServerToken;

/// Unknown keys of a JSON object, kept in their order.
pub type Extra = serde_json::Map<String, serde_json::Value>;
