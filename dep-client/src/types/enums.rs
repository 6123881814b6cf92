//! Open enums: statuses, organisation kinds, Apple's error codes, skip keys.

use crate::open_enum::open_enum;

/// Generated from the DEP schemas (`Device.json`, `AccountDetail.json`).
pub use crate::generated::dep::{OpType, OrgType, OrgVersion, ProfileStatus};

open_enum! {
    /// Per-device result of a bulk call (`response_status` or the values of a `devices` map).
    pub enum DeviceStatus {
        /// The operation succeeded.
        Success = "SUCCESS",
        /// The device is not assigned to this server or does not exist.
        NotAccessible = "NOT_ACCESSIBLE",
        /// The operation failed; try again later.
        Failed = "FAILED",
        /// The organisation does not support this operation (Activation Lock).
        OrgNotSupported = "ORG_NOT_SUPPORTED",
        /// The device does not support this operation (Activation Lock).
        DeviceNotSupported = "DEVICE_NOT_SUPPORTED",
        /// The device is already locked (Activation Lock).
        DeviceAlreadyLocked = "DEVICE_ALREADY_LOCKED",
    }
}

open_enum! {
    /// An error code Apple puts in the body of a failed call.
    pub enum ErrorCode {
        /// The cursor is older than seven days or was used after a newer one: fetch again.
        ExpiredCursor = "EXPIRED_CURSOR",
        /// The cursor was not issued by Apple for this server: fetch again.
        InvalidCursor = "INVALID_CURSOR",
        /// A sync needs a cursor.
        CursorRequired = "CURSOR_REQUIRED",
        /// The JSON body is malformed.
        MalformedRequestBody = "MALFORMED_REQUEST_BODY",
        /// Too many requests: back off.
        Throttled = "THROTTLED",
        /// The server token has no access to this call.
        AccessDenied = "ACCESS_DENIED",
        /// The organisation has not accepted the latest terms and conditions.
        TermsNotSigned = "T_C_NOT_SIGNED",
        /// The session is missing or expired (HTTP 401).
        Unauthorized = "UNAUTHORIZED",
        /// Forbidden (HTTP 403).
        Forbidden = "FORBIDDEN",
        /// A request was missing its device list.
        DeviceIdRequired = "DEVICE_ID_REQUIRED",
        /// The profile UUID is unknown.
        ProfileNotFound = "PROFILE_NOT_FOUND",
        /// Bad request (HTTP 400 without a code).
        BadRequest = "BAD_REQUEST",
        /// Not found (HTTP 404 without a code).
        NotFound = "NOT_FOUND",
        /// Method not allowed (HTTP 405 without a code).
        MethodNotAllowed = "METHOD_NOT_ALLOWED",
        /// Too many requests (HTTP 429 without a code).
        TooManyRequests = "TOO_MANY_REQUESTS",
        /// Internal server error (HTTP 500 without a code).
        InternalServerError = "INTERNAL_SERVER_ERROR",
        /// Service unavailable (HTTP 503 without a code).
        ServiceUnavailable = "SERVICE_UNAVAILABLE",
    }
}

impl ErrorCode {
    /// The code used when Apple's body carries none: derived from the HTTP status.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 => ErrorCode::BadRequest,
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            429 => ErrorCode::TooManyRequests,
            500 => ErrorCode::InternalServerError,
            503 => ErrorCode::ServiceUnavailable,
            other => ErrorCode::from(format!("HTTP_{other}")),
        }
    }

    /// Whether the cursor must be dropped and the devices fetched again.
    pub fn is_cursor_error(&self) -> bool {
        matches!(
            self,
            ErrorCode::ExpiredCursor | ErrorCode::InvalidCursor | ErrorCode::CursorRequired
        )
    }
}

open_enum! {
    /// A Setup Assistant pane to skip (`skip_setup_items`), from Apple's `skipkeys.yaml`.
    pub enum SkipKey {
        /// Accessibility pane (macOS, additional users).
        Accessibility = "Accessibility",
        /// Action Button setup pane (iOS 17+).
        ActionButton = "ActionButton",
        /// Move from Android option (iOS 9+).
        Android = "Android",
        /// Choose Your Look pane.
        Appearance = "Appearance",
        /// Apple Account setup.
        AppleId = "AppleID",
        /// App Store pane.
        AppStore = "AppStore",
        /// Touch ID / Face ID setup.
        Biometric = "Biometric",
        /// Camera Control pane.
        CameraButton = "CameraButton",
        /// Device to device migration.
        DeviceToDeviceMigration = "DeviceToDeviceMigration",
        /// App Analytics / diagnostics pane.
        Diagnostics = "Diagnostics",
        /// Display Tone (True Tone) pane.
        DisplayTone = "DisplayTone",
        /// Lockdown Mode pane.
        EnableLockdownMode = "EnableLockdownMode",
        /// FileVault pane (macOS).
        FileVault = "FileVault",
        /// Home button sensitivity pane.
        HomeButtonSensitivity = "HomeButtonSensitivity",
        /// iCloud Analytics pane (macOS).
        ICloudDiagnostics = "iCloudDiagnostics",
        /// iCloud Documents and Desktop pane (macOS).
        ICloudStorage = "iCloudStorage",
        /// iMessage and FaceTime pane.
        IMessageAndFaceTime = "iMessageAndFaceTime",
        /// Apple Intelligence pane.
        Intelligence = "Intelligence",
        /// Keyboard pane.
        Keyboard = "Keyboard",
        /// Location Services pane.
        Location = "Location",
        /// Messaging activation using phone number pane.
        MessagingActivationUsingPhoneNumber = "MessagingActivationUsingPhoneNumber",
        /// On-boarding informational screens.
        OnBoarding = "OnBoarding",
        /// Passcode pane.
        Passcode = "Passcode",
        /// Apple Pay pane.
        Payment = "Payment",
        /// Privacy pane.
        Privacy = "Privacy",
        /// Restore pane.
        Restore = "Restore",
        /// Restore Completed pane.
        RestoreCompleted = "RestoreCompleted",
        /// Screen Saver pane (tvOS).
        ScreenSaver = "ScreenSaver",
        /// Safety pane.
        Safety = "Safety",
        /// Screen Time pane.
        ScreenTime = "ScreenTime",
        /// SIM setup pane.
        SimSetup = "SIMSetup",
        /// Siri pane.
        Siri = "Siri",
        /// Software Update pane.
        SoftwareUpdate = "SoftwareUpdate",
        /// Spoken language pane (tvOS).
        SpokenLanguage = "SpokenLanguage",
        /// Tap To Set Up pane (tvOS).
        TapToSetup = "TapToSetup",
        /// Terms of Address pane.
        TermsOfAddress = "TermsOfAddress",
        /// Terms and Conditions pane.
        Tos = "TOS",
        /// Home screen sync pane (tvOS).
        TvHomeScreenSync = "TVHomeScreenSync",
        /// TV provider sign in pane (tvOS).
        TvProviderSignIn = "TVProviderSignIn",
        /// Where is this Apple TV pane (tvOS).
        TvRoom = "TVRoom",
        /// Software Update Complete pane.
        UpdateCompleted = "UpdateCompleted",
        /// Wallpaper pane.
        Wallpaper = "Wallpaper",
        /// Watch migration pane.
        WatchMigration = "WatchMigration",
        /// Welcome pane.
        Welcome = "Welcome",
        /// Zoom pane.
        Zoom = "Zoom",
    }
}
