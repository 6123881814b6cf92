//! [`DepStore`] on SQLite.

use super::SqliteStorage;
use crate::storage::dep::{DepDevice, DepDeviceChange, DepOrg, DepPageOutcome, DepStore};
use crate::storage::{Result, Timestamp};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

/// The DEP tables (a migration of [`super::MIGRATIONS`]; `IF NOT EXISTS`, so a database
/// rolled back to an earlier version by hand runs it again harmlessly).
pub(super) const MIGRATION: &str = r#"
CREATE TABLE IF NOT EXISTS dep_orgs (
    name TEXT PRIMARY KEY,
    key_pem TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    token TEXT,
    token_uploaded_at INTEGER,
    profile TEXT,
    profile_uuid TEXT,
    checkpoint TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dep_devices (
    org TEXT NOT NULL REFERENCES dep_orgs (name) ON DELETE CASCADE,
    serial TEXT NOT NULL,
    present INTEGER NOT NULL,
    device TEXT NOT NULL,
    assigned_profile TEXT,
    first_seen_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (org, serial)
);
CREATE INDEX IF NOT EXISTS dep_devices_serial ON dep_devices (serial) WHERE present = 1;
"#;

const ORG_COLUMNS: &str = "name, key_pem, cert_pem, token, token_uploaded_at, profile, \
     profile_uuid, checkpoint, created_at, updated_at";

fn org_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DepOrg> {
    Ok(DepOrg {
        name: r.get(0)?,
        key_pem: r.get(1)?,
        cert_pem: r.get(2)?,
        token: r.get(3)?,
        token_uploaded_at: r.get(4)?,
        profile: r.get(5)?,
        profile_uuid: r.get(6)?,
        checkpoint: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

const DEVICE_COLUMNS: &str =
    "org, serial, present, device, assigned_profile, first_seen_at, updated_at";

fn device_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DepDevice> {
    Ok(DepDevice {
        org: r.get(0)?,
        serial: r.get(1)?,
        present: r.get(2)?,
        json: r.get(3)?,
        assigned_profile: r.get(4)?,
        first_seen_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

#[async_trait]
impl DepStore for SqliteStorage {
    async fn dep_org(&self, name: &str) -> Result<Option<DepOrg>> {
        let name = name.to_owned();
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {ORG_COLUMNS} FROM dep_orgs WHERE name = ?1"),
                params![name],
                org_from_row,
            )
            .optional()
        })
        .await
    }

    async fn create_dep_org(&self, org: &DepOrg) -> Result<DepOrg> {
        let o = org.clone();
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                &format!(
                    "INSERT INTO dep_orgs ({ORG_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                     ON CONFLICT (name) DO NOTHING"
                ),
                params![
                    o.name,
                    o.key_pem,
                    o.cert_pem,
                    o.token,
                    o.token_uploaded_at,
                    o.profile,
                    o.profile_uuid,
                    o.checkpoint,
                    o.created_at,
                    o.updated_at
                ],
            )?;
            let stored = tx.query_row(
                &format!("SELECT {ORG_COLUMNS} FROM dep_orgs WHERE name = ?1"),
                params![o.name],
                org_from_row,
            )?;
            tx.commit()?;
            Ok(stored)
        })
        .await
    }

    async fn dep_orgs_with_token(&self) -> Result<Vec<DepOrg>> {
        self.with(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {ORG_COLUMNS} FROM dep_orgs WHERE token IS NOT NULL ORDER BY name"
            ))?;
            stmt.query_map([], org_from_row)?.collect()
        })
        .await
    }

    async fn set_dep_token(&self, name: &str, token: &str, now: Timestamp) -> Result<bool> {
        let (name, token) = (name.to_owned(), token.to_owned());
        self.with(move |c| {
            c.execute(
                "UPDATE dep_orgs SET token = ?2, token_uploaded_at = ?3, updated_at = ?3 \
                 WHERE name = ?1",
                params![name, token, now],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn set_dep_profile(
        &self,
        name: &str,
        profile: Option<&str>,
        now: Timestamp,
    ) -> Result<bool> {
        let (name, profile) = (name.to_owned(), profile.map(str::to_owned));
        self.with(move |c| {
            c.execute(
                "UPDATE dep_orgs SET profile = ?2, profile_uuid = NULL, updated_at = ?3 \
                 WHERE name = ?1",
                params![name, profile, now],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn set_dep_profile_uuid(
        &self,
        name: &str,
        profile: &str,
        uuid: &str,
        now: Timestamp,
    ) -> Result<()> {
        let (name, profile, uuid) = (name.to_owned(), profile.to_owned(), uuid.to_owned());
        self.with(move |c| {
            c.execute(
                "UPDATE dep_orgs SET profile_uuid = ?3, updated_at = ?4 \
                 WHERE name = ?1 AND profile = ?2",
                params![name, profile, uuid, now],
            )
            .map(drop)
        })
        .await
    }

    async fn set_dep_checkpoint(&self, name: &str, checkpoint: &str, now: Timestamp) -> Result<()> {
        let (name, checkpoint) = (name.to_owned(), checkpoint.to_owned());
        self.with(move |c| {
            c.execute(
                "UPDATE dep_orgs SET checkpoint = ?2, updated_at = ?3 WHERE name = ?1",
                params![name, checkpoint, now],
            )
            .map(drop)
        })
        .await
    }

    async fn store_dep_page(
        &self,
        name: &str,
        changes: &[DepDeviceChange],
        checkpoint: &str,
        now: Timestamp,
    ) -> Result<DepPageOutcome> {
        let (name, changes, checkpoint) =
            (name.to_owned(), changes.to_vec(), checkpoint.to_owned());
        self.with(move |c| {
            let tx = c.transaction()?;
            let mut outcome = DepPageOutcome::default();
            for ch in &changes {
                let before: Option<bool> = tx
                    .query_row(
                        "SELECT present FROM dep_devices WHERE org = ?1 AND serial = ?2",
                        params![name, ch.serial],
                        |r| r.get(0),
                    )
                    .optional()?;
                // A device that comes back has to be given the profile again.
                tx.execute(
                    "INSERT INTO dep_devices \
                     (org, serial, present, device, first_seen_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
                     ON CONFLICT (org, serial) DO UPDATE SET present = excluded.present, \
                     device = excluded.device, updated_at = excluded.updated_at, \
                     assigned_profile = CASE WHEN dep_devices.present = 0 \
                         AND excluded.present = 1 THEN NULL \
                         ELSE dep_devices.assigned_profile END",
                    params![name, ch.serial, ch.present, ch.json, now],
                )?;
                match (before, ch.present) {
                    (None | Some(false), true) => outcome.added.push(ch.serial.clone()),
                    (Some(true), false) => outcome.removed.push(ch.serial.clone()),
                    _ => {}
                }
            }
            tx.execute(
                "UPDATE dep_orgs SET checkpoint = ?2, updated_at = ?3 WHERE name = ?1",
                params![name, checkpoint, now],
            )?;
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    async fn dep_devices(
        &self,
        name: &str,
        after: Option<&str>,
        limit: u32,
        present_only: bool,
    ) -> Result<Vec<DepDevice>> {
        let (name, after) = (name.to_owned(), after.unwrap_or("").to_owned());
        let limit = limit.clamp(1, crate::storage::dep::MAX_DEP_PAGE);
        self.with(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {DEVICE_COLUMNS} FROM dep_devices \
                 WHERE org = ?1 AND serial > ?2 AND (present = 1 OR ?3 = 0) \
                 ORDER BY serial LIMIT ?4"
            ))?;
            stmt.query_map(params![name, after, present_only, limit], device_from_row)?
                .collect()
        })
        .await
    }

    async fn dep_device(&self, serial: &str) -> Result<Option<DepDevice>> {
        let serial = serial.to_owned();
        self.with(move |c| {
            c.query_row(
                &format!(
                    "SELECT {DEVICE_COLUMNS} FROM dep_devices WHERE serial = ?1 AND present = 1 \
                     ORDER BY updated_at DESC LIMIT 1"
                ),
                params![serial],
                device_from_row,
            )
            .optional()
        })
        .await
    }

    async fn dep_devices_without_profile(
        &self,
        name: &str,
        uuid: &str,
        limit: u32,
    ) -> Result<Vec<String>> {
        let (name, uuid) = (name.to_owned(), uuid.to_owned());
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT serial FROM dep_devices WHERE org = ?1 AND present = 1 \
                 AND (assigned_profile IS NULL OR assigned_profile <> ?2) \
                 ORDER BY serial LIMIT ?3",
            )?;
            stmt.query_map(params![name, uuid, limit], |r| r.get(0))?
                .collect()
        })
        .await
    }

    async fn mark_dep_profile_assigned(
        &self,
        name: &str,
        serials: &[String],
        uuid: &str,
        now: Timestamp,
    ) -> Result<()> {
        let (name, serials, uuid) = (name.to_owned(), serials.to_vec(), uuid.to_owned());
        self.with(move |c| {
            let tx = c.transaction()?;
            for serial in &serials {
                tx.execute(
                    "UPDATE dep_devices SET assigned_profile = ?3, updated_at = ?4 \
                     WHERE org = ?1 AND serial = ?2",
                    params![name, serial, uuid, now],
                )?;
            }
            tx.commit()
        })
        .await
    }
}
