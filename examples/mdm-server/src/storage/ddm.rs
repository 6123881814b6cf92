//! Declarative Device Management: each enrollment's declarations and its last status report.

use super::*;

/// Declarative Device Management: each enrollment's declarations and its last status report.
#[async_trait]
pub trait DdmStore: Send + Sync {
    /// Stores (or replaces) a declaration of an enrollment: its JSON as given.
    async fn put_declaration(
        &self,
        id: &str,
        identifier: &str,
        json: &[u8],
        now: Timestamp,
    ) -> Result<()>;

    /// The declarations of an enrollment, as `(identifier, JSON)`, in identifier order.
    async fn declarations(&self, id: &str) -> Result<Vec<(String, Vec<u8>)>>;

    /// Removes a declaration; says whether it existed.
    async fn delete_declaration(&self, id: &str, identifier: &str) -> Result<bool>;

    /// The last declarative-management status of an enrollment (JSON).
    async fn ddm_status(&self, id: &str) -> Result<Option<Vec<u8>>>;

    /// Stores the declarative-management status of an enrollment (JSON).
    async fn set_ddm_status_with_events(
        &self,
        id: &str,
        json: &[u8],
        now: Timestamp,
        events: &[Event],
    ) -> Result<()>;

    /// [`DdmStore::set_ddm_status_with_events`] without events.
    async fn set_ddm_status(&self, id: &str, json: &[u8], now: Timestamp) -> Result<()> {
        self.set_ddm_status_with_events(id, json, now, &[]).await
    }
}
