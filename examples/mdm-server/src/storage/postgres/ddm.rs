//! PostgresStorage: declarative Device Management: each enrollment's declarations and its last status report.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl DdmStore for PostgresStorage {
    async fn put_declaration(
        &self,
        id: &str,
        identifier: &str,
        json: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO declarations (enrollment_id, identifier, body, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (enrollment_id, identifier) DO UPDATE \
                 SET body = excluded.body, updated_at = excluded.updated_at",
                &[&id, &identifier, &json, &now],
            )
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn declarations(&self, id: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT identifier, body FROM declarations WHERE enrollment_id = $1 \
                 ORDER BY identifier",
                &[&id],
            )
            .await
            .map_err(backend)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn delete_declaration(&self, id: &str, identifier: &str) -> Result<bool> {
        self.client()
            .await?
            .execute(
                "DELETE FROM declarations WHERE enrollment_id = $1 AND identifier = $2",
                &[&id, &identifier],
            )
            .await
            .map(|n| n > 0)
            .map_err(backend)
    }

    async fn ddm_status(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT body FROM ddm_status WHERE enrollment_id = $1",
                &[&id],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn set_ddm_status_with_events(
        &self,
        id: &str,
        json: &[u8],
        now: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute(
            "INSERT INTO ddm_status (enrollment_id, body, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (enrollment_id) DO UPDATE SET body = excluded.body, \
             updated_at = excluded.updated_at",
            &[&id, &json, &now],
        )
        .await
        .map_err(backend)?;
        insert_events(&tx, events).await?;
        tx.commit().await.map_err(backend)
    }
}
