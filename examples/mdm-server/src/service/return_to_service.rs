//! `ReturnToService` (iOS/visionOS 26): the answer to a supervised ADE device that asks for
//! what it needs to re-enroll on its own after an erase, from per-enrollment settings the
//! admin API sets (`/v1/enrollments/{id}/return-to-service`, see
//! [`crate::admin::return_to_service`]). Without settings the server refuses clearly (404
//! naming the admin route), and the device does a plain erase.

use crate::service::{Reply, ServiceError};
use crate::storage::Storage;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mdm_checkin::{ReturnToServiceResponse, ReturnToServiceSettings};
use serde::{Deserialize, Serialize};

/// The per-enrollment settings, as the admin API takes and stores them (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `Enabled`: the device erases itself and re-enrolls.
    pub enabled: bool,
    /// `WiFiProfileData`: the Wi-Fi profile (base64), for devices without Ethernet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wifi_profile: Option<String>,
    /// `MDMProfileData`: the MDM profile (base64), used instead of fetching it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdm_profile: Option<String>,
    /// Send the bootstrap token the device escrowed (`BootstrapToken`: return to service
    /// with app preservation).
    #[serde(default)]
    pub send_bootstrap_token: bool,
    /// `PreserveDataPlan` (iOS 26.4): keep the eSIM data plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserve_data_plan: Option<bool>,
    /// `ShouldRetryEnrollment` (iOS 27.0): retry enrollment when the first one fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub should_retry_enrollment: Option<bool>,
}

fn data(field: &str, value: Option<&String>) -> Result<Option<mdm_proto::Data>, ServiceError> {
    value
        .map(|b| {
            STANDARD
                .decode(b)
                .map(mdm_proto::Data)
                .map_err(|e| ServiceError::BadRequest(format!("`{field}` is not base64: {e}")))
        })
        .transpose()
}

impl Settings {
    /// The answer to the device: the settings, with the escrowed bootstrap token when asked.
    pub fn response(
        &self,
        bootstrap_token: Option<Vec<u8>>,
    ) -> Result<ReturnToServiceResponse, ServiceError> {
        let mut settings = ReturnToServiceSettings::new(self.enabled);
        settings.wi_fi_profile_data = data("wifi_profile", self.wifi_profile.as_ref())?;
        settings.mdm_profile_data = data("mdm_profile", self.mdm_profile.as_ref())?;
        settings.should_retry_enrollment = self.should_retry_enrollment;
        if self.send_bootstrap_token {
            settings.bootstrap_token = bootstrap_token.map(mdm_proto::Data);
        }
        let mut response = ReturnToServiceResponse::new(settings);
        response.preserve_data_plan = self.preserve_data_plan;
        Ok(response)
    }
}

/// Answers a `ReturnToService` check-in of `enrollment_id` from its settings.
pub async fn answer(storage: &dyn Storage, enrollment_id: &str) -> Result<Reply, ServiceError> {
    let Some(json) = storage.return_to_service(enrollment_id).await? else {
        return Err(ServiceError::NotFound(format!(
            "no return-to-service settings for enrollment `{enrollment_id}`: set them with \
             PUT /v1/enrollments/{enrollment_id}/return-to-service"
        )));
    };
    let settings: Settings = serde_json::from_slice(&json)
        .map_err(|e| ServiceError::BadRequest(format!("stored return-to-service settings: {e}")))?;
    let token = storage
        .enrollment(enrollment_id)
        .await?
        .and_then(|r| r.bootstrap_token);
    let response = settings.response(token)?;
    response
        .encode()
        .map(Reply::Plist)
        .map_err(|e| ServiceError::BadRequest(e.to_string()))
}
