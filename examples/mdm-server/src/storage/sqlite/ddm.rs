//! SqliteStorage: declarative Device Management: each enrollment's declarations and its last status report.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl DdmStore for SqliteStorage {
    async fn put_declaration(
        &self,
        id: &str,
        identifier: &str,
        json: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        let (id, identifier, json) = (id.to_owned(), identifier.to_owned(), json.to_vec());
        self.with(move |c| {
            c.execute(
                "INSERT INTO declarations (enrollment_id, identifier, body, updated_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (enrollment_id, identifier) DO UPDATE \
                 SET body = excluded.body, updated_at = excluded.updated_at",
                params![id, identifier, json, now],
            )
            .map(drop)
        })
        .await
    }

    async fn declarations(&self, id: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let id = id.to_owned();
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT identifier, body FROM declarations WHERE enrollment_id = ?1 \
                 ORDER BY identifier",
            )?;
            let rows = stmt.query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await
    }

    async fn delete_declaration(&self, id: &str, identifier: &str) -> Result<bool> {
        let (id, identifier) = (id.to_owned(), identifier.to_owned());
        self.with(move |c| {
            c.execute(
                "DELETE FROM declarations WHERE enrollment_id = ?1 AND identifier = ?2",
                params![id, identifier],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn ddm_status(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let id = id.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT body FROM ddm_status WHERE enrollment_id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    async fn set_ddm_status_with_events(
        &self,
        id: &str,
        json: &[u8],
        now: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let (id, json, events) = (id.to_owned(), json.to_vec(), events.to_vec());
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO ddm_status (enrollment_id, body, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (enrollment_id) DO UPDATE SET body = excluded.body, \
                 updated_at = excluded.updated_at",
                params![id, json, now],
            )?;
            insert_events(&tx, &events)?;
            tx.commit()
        })
        .await
    }
}
