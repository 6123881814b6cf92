//! Pushes: push certificates, dead tokens, and who needs a push (the backstop) or cannot get one.

use super::*;

/// Pushes: push certificates, dead tokens, and who needs a push (the backstop) or cannot get one.
#[async_trait]
pub trait PushStore: Send + Sync {
    /// Marks an enrollment's push token dead (APNs `410 Unregistered`) at `at`; its next
    /// TokenUpdate clears it.
    async fn set_push_dead(&self, id: &str, at: Timestamp) -> Result<()>;

    /// How many enrolled enrollments use each push topic, in topic order.
    async fn enrolled_topics(&self) -> Result<Vec<(String, u64)>>;

    /// Enrollments to re-push (at most `limit`): enrolled with a live token, a target
    /// waiting and ready at `now`, not seen since `before` and not re-pushed since `before`.
    /// Driven by the waiting targets (an index of its own): a run costs what is pending.
    async fn silent_with_pending(
        &self,
        before: Timestamp,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<String>>;

    /// Notes that `ids` were re-pushed at `now`.
    async fn mark_repushed(&self, ids: &[String], now: Timestamp) -> Result<()>;

    /// How many enrolled enrollments cannot be pushed now: no token or topic, a token APNs
    /// called dead, or no push certificate stored for their topic.
    async fn unpushable_count(&self) -> Result<u64>;

    /// Stores the APNs certificate for its topic (replacing an older one).
    async fn store_push_cert(&self, cert: &PushCert, now: Timestamp) -> Result<()>;

    /// The APNs certificate of a topic.
    async fn push_cert(&self, topic: &str) -> Result<Option<PushCert>>;

    /// The APNs certificate stored last, if any.
    async fn latest_push_cert(&self) -> Result<Option<PushCert>>;
}
