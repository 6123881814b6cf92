//! Waking devices: the [`Pusher`] trait and a pusher that only logs.
//!
//! The server pushes through APNs with [`crate::apns::ApnsPusher`]; [`LogPusher`] is for
//! embedding and tests.

use crate::storage::PushInfo;
use async_trait::async_trait;

/// One device to wake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushTarget {
    /// The enrollment.
    pub enrollment_id: String,
    /// Its token, push magic and topic.
    pub push: PushInfo,
}

impl PushTarget {
    /// A target.
    pub fn new(enrollment_id: impl Into<String>, push: PushInfo) -> Self {
        PushTarget {
            enrollment_id: enrollment_id.into(),
            push,
        }
    }
}

/// Why a push failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushFailure {
    /// What went wrong, for the API and the log.
    pub message: String,
    /// APNs said the token is no longer valid (`410 Unregistered`): stop pushing it until
    /// the device sends a new one.
    pub token_dead: bool,
}

impl PushFailure {
    /// A failure that says nothing about the token.
    pub fn new(message: impl Into<String>) -> Self {
        PushFailure {
            message: message.into(),
            token_dead: false,
        }
    }

    /// A failure because the token is dead.
    pub fn token_dead(message: impl Into<String>) -> Self {
        PushFailure {
            message: message.into(),
            token_dead: true,
        }
    }
}

/// Sends MDM pushes.
#[async_trait]
pub trait Pusher: Send + Sync + std::fmt::Debug + 'static {
    /// Pushes every target; one result per target, in order: an ID of the push (APNs's
    /// `apns-id`) or why it failed.
    async fn push(&self, targets: &[PushTarget]) -> Vec<Result<String, String>>;

    /// Like [`Pusher::push`], saying which failures mean a dead token. The default says so
    /// of none.
    async fn push_detailed(&self, targets: &[PushTarget]) -> Vec<Result<String, PushFailure>> {
        self.push(targets)
            .await
            .into_iter()
            .map(|r| r.map_err(PushFailure::new))
            .collect()
    }
}

/// A pusher that logs each push and reports success: no push is sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogPusher;

#[async_trait]
impl Pusher for LogPusher {
    async fn push(&self, targets: &[PushTarget]) -> Vec<Result<String, String>> {
        targets
            .iter()
            .map(|t| {
                tracing::info!(
                    enrollment = %t.enrollment_id,
                    topic = %t.push.topic,
                    token = %hex::encode(&t.push.token),
                    "push (not sent: no APNs client configured)"
                );
                Ok(format!("logged-{}", uuid::Uuid::new_v4()))
            })
            .collect()
    }
}
