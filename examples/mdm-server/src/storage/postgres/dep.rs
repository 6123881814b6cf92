//! [`DepStore`] on PostgreSQL.

use super::{PostgresStorage, backend};
use crate::storage::dep::{DepDevice, DepDeviceChange, DepOrg, DepPageOutcome, DepStore};
use crate::storage::{Result, Timestamp};
use async_trait::async_trait;

/// The DEP tables (a migration of [`super::MIGRATIONS`]; `IF NOT EXISTS`, so a database
/// rolled back to an earlier version by hand runs it again harmlessly).
pub(super) const MIGRATION: &str = r#"
CREATE TABLE IF NOT EXISTS dep_orgs (
    name TEXT PRIMARY KEY,
    key_pem TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    token TEXT,
    token_uploaded_at BIGINT,
    profile TEXT,
    profile_uuid TEXT,
    checkpoint TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS dep_devices (
    org TEXT NOT NULL REFERENCES dep_orgs (name) ON DELETE CASCADE,
    serial TEXT NOT NULL,
    present BOOLEAN NOT NULL,
    device TEXT NOT NULL,
    assigned_profile TEXT,
    first_seen_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org, serial)
);
CREATE INDEX IF NOT EXISTS dep_devices_serial ON dep_devices (serial) WHERE present;
"#;

const ORG_COLUMNS: &str = "name, key_pem, cert_pem, token, token_uploaded_at, profile, \
     profile_uuid, checkpoint, created_at, updated_at";

fn org_from_row(r: &tokio_postgres::Row) -> Result<DepOrg> {
    Ok(DepOrg {
        name: r.try_get(0).map_err(backend)?,
        key_pem: r.try_get(1).map_err(backend)?,
        cert_pem: r.try_get(2).map_err(backend)?,
        token: r.try_get(3).map_err(backend)?,
        token_uploaded_at: r.try_get(4).map_err(backend)?,
        profile: r.try_get(5).map_err(backend)?,
        profile_uuid: r.try_get(6).map_err(backend)?,
        checkpoint: r.try_get(7).map_err(backend)?,
        created_at: r.try_get(8).map_err(backend)?,
        updated_at: r.try_get(9).map_err(backend)?,
    })
}

const DEVICE_COLUMNS: &str =
    "org, serial, present, device, assigned_profile, first_seen_at, updated_at";

fn device_from_row(r: &tokio_postgres::Row) -> Result<DepDevice> {
    Ok(DepDevice {
        org: r.try_get(0).map_err(backend)?,
        serial: r.try_get(1).map_err(backend)?,
        present: r.try_get(2).map_err(backend)?,
        json: r.try_get(3).map_err(backend)?,
        assigned_profile: r.try_get(4).map_err(backend)?,
        first_seen_at: r.try_get(5).map_err(backend)?,
        updated_at: r.try_get(6).map_err(backend)?,
    })
}

#[async_trait]
impl DepStore for PostgresStorage {
    async fn dep_org(&self, name: &str) -> Result<Option<DepOrg>> {
        self.client()
            .await?
            .query_opt(
                &format!("SELECT {ORG_COLUMNS} FROM dep_orgs WHERE name = $1"),
                &[&name],
            )
            .await
            .map_err(backend)?
            .as_ref()
            .map(org_from_row)
            .transpose()
    }

    async fn create_dep_org(&self, o: &DepOrg) -> Result<DepOrg> {
        let client = self.client().await?;
        client
            .execute(
                &format!(
                    "INSERT INTO dep_orgs ({ORG_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (name) DO NOTHING"
                ),
                &[
                    &o.name,
                    &o.key_pem,
                    &o.cert_pem,
                    &o.token,
                    &o.token_uploaded_at,
                    &o.profile,
                    &o.profile_uuid,
                    &o.checkpoint,
                    &o.created_at,
                    &o.updated_at,
                ],
            )
            .await
            .map_err(backend)?;
        let row = client
            .query_one(
                &format!("SELECT {ORG_COLUMNS} FROM dep_orgs WHERE name = $1"),
                &[&o.name],
            )
            .await
            .map_err(backend)?;
        org_from_row(&row)
    }

    async fn dep_orgs_with_token(&self) -> Result<Vec<DepOrg>> {
        self.client()
            .await?
            .query(
                &format!(
                    "SELECT {ORG_COLUMNS} FROM dep_orgs WHERE token IS NOT NULL ORDER BY name"
                ),
                &[],
            )
            .await
            .map_err(backend)?
            .iter()
            .map(org_from_row)
            .collect()
    }

    async fn set_dep_token(&self, name: &str, token: &str, now: Timestamp) -> Result<bool> {
        self.client()
            .await?
            .execute(
                "UPDATE dep_orgs SET token = $2, token_uploaded_at = $3, updated_at = $3 \
                 WHERE name = $1",
                &[&name, &token, &now],
            )
            .await
            .map(|n| n > 0)
            .map_err(backend)
    }

    async fn set_dep_profile(
        &self,
        name: &str,
        profile: Option<&str>,
        now: Timestamp,
    ) -> Result<bool> {
        self.client()
            .await?
            .execute(
                "UPDATE dep_orgs SET profile = $2, profile_uuid = NULL, updated_at = $3 \
                 WHERE name = $1",
                &[&name, &profile, &now],
            )
            .await
            .map(|n| n > 0)
            .map_err(backend)
    }

    async fn set_dep_profile_uuid(
        &self,
        name: &str,
        profile: &str,
        uuid: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE dep_orgs SET profile_uuid = $3, updated_at = $4 \
                 WHERE name = $1 AND profile = $2",
                &[&name, &profile, &uuid, &now],
            )
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn set_dep_checkpoint(&self, name: &str, checkpoint: &str, now: Timestamp) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE dep_orgs SET checkpoint = $2, updated_at = $3 WHERE name = $1",
                &[&name, &checkpoint, &now],
            )
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn store_dep_page(
        &self,
        name: &str,
        changes: &[DepDeviceChange],
        checkpoint: &str,
        now: Timestamp,
    ) -> Result<DepPageOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // The organisation's row, locked: two servers storing pages of one organisation
        // at once take turns, so the checkpoint stored last follows the devices stored last.
        tx.execute(
            "SELECT 1 FROM dep_orgs WHERE name = $1 FOR UPDATE",
            &[&name],
        )
        .await
        .map_err(backend)?;
        let mut outcome = DepPageOutcome::default();
        for ch in changes {
            let before: Option<bool> = tx
                .query_opt(
                    "SELECT present FROM dep_devices WHERE org = $1 AND serial = $2",
                    &[&name, &ch.serial],
                )
                .await
                .map_err(backend)?
                .map(|r| r.try_get(0))
                .transpose()
                .map_err(backend)?;
            // A device that comes back has to be given the profile again.
            tx.execute(
                "INSERT INTO dep_devices \
                 (org, serial, present, device, first_seen_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) \
                 ON CONFLICT (org, serial) DO UPDATE SET present = excluded.present, \
                 device = excluded.device, updated_at = excluded.updated_at, \
                 assigned_profile = CASE WHEN NOT dep_devices.present \
                     AND excluded.present THEN NULL \
                     ELSE dep_devices.assigned_profile END",
                &[&name, &ch.serial, &ch.present, &ch.json, &now],
            )
            .await
            .map_err(backend)?;
            match (before, ch.present) {
                (None | Some(false), true) => outcome.added.push(ch.serial.clone()),
                (Some(true), false) => outcome.removed.push(ch.serial.clone()),
                _ => {}
            }
        }
        tx.execute(
            "UPDATE dep_orgs SET checkpoint = $2, updated_at = $3 WHERE name = $1",
            &[&name, &checkpoint, &now],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(outcome)
    }

    async fn dep_devices(
        &self,
        name: &str,
        after: Option<&str>,
        limit: u32,
        present_only: bool,
    ) -> Result<Vec<DepDevice>> {
        let after = after.unwrap_or("");
        let limit = i64::from(limit.clamp(1, crate::storage::dep::MAX_DEP_PAGE));
        self.client()
            .await?
            .query(
                &format!(
                    "SELECT {DEVICE_COLUMNS} FROM dep_devices \
                     WHERE org = $1 AND serial > $2 AND (present OR NOT $3) \
                     ORDER BY serial LIMIT $4"
                ),
                &[&name, &after, &present_only, &limit],
            )
            .await
            .map_err(backend)?
            .iter()
            .map(device_from_row)
            .collect()
    }

    async fn dep_device(&self, serial: &str) -> Result<Option<DepDevice>> {
        self.client()
            .await?
            .query_opt(
                &format!(
                    "SELECT {DEVICE_COLUMNS} FROM dep_devices WHERE serial = $1 AND present \
                     ORDER BY updated_at DESC LIMIT 1"
                ),
                &[&serial],
            )
            .await
            .map_err(backend)?
            .as_ref()
            .map(device_from_row)
            .transpose()
    }

    async fn dep_devices_without_profile(
        &self,
        name: &str,
        uuid: &str,
        limit: u32,
    ) -> Result<Vec<String>> {
        let limit = i64::from(limit);
        self.client()
            .await?
            .query(
                "SELECT serial FROM dep_devices WHERE org = $1 AND present \
                 AND (assigned_profile IS NULL OR assigned_profile <> $2) \
                 ORDER BY serial LIMIT $3",
                &[&name, &uuid, &limit],
            )
            .await
            .map_err(backend)?
            .iter()
            .map(|r| r.try_get(0).map_err(backend))
            .collect()
    }

    async fn mark_dep_profile_assigned(
        &self,
        name: &str,
        serials: &[String],
        uuid: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE dep_devices SET assigned_profile = $3, updated_at = $4 \
                 WHERE org = $1 AND serial = ANY($2)",
                &[&name, &serials, &uuid, &now],
            )
            .await
            .map(drop)
            .map_err(backend)
    }
}
