//! PostgresStorage: enrollments and the identities bound to them: check-ins, device facts, certificate bindings, enrollment tokens and renewals, return to service.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl EnrollmentStore for PostgresStorage {
    async fn authenticate_with_events(
        &self,
        key: &EnrollmentKey,
        raw: &[u8],
        now: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        upsert_key(&tx, key, now).await?;
        tx.execute(
            "UPDATE enrollments SET enrolled = FALSE, authenticate = $2 WHERE id = $1",
            &[&key.id, &raw],
        )
        .await
        .map_err(backend)?;
        insert_events(&tx, events).await?;
        tx.commit().await.map_err(backend)
    }

    async fn token_update_with_events(
        &self,
        key: &EnrollmentKey,
        push: &PushInfo,
        unlock_token: Option<&[u8]>,
        raw: &[u8],
        now: Timestamp,
        events: &[Event],
    ) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        upsert_key(&tx, key, now).await?;
        let was: bool = tx
            .query_one(
                "SELECT enrolled FROM enrollments WHERE id = $1 FOR UPDATE",
                &[&key.id],
            )
            .await
            .map_err(backend)?
            .get(0);
        tx.execute(
            "UPDATE enrollments SET enrolled = TRUE, token = $2, push_magic = $3, topic = $4, \
             unlock_token = COALESCE($5, unlock_token), token_update = $6, \
             enrolled_at = CASE WHEN enrolled THEN enrolled_at ELSE $7 END, \
             checked_out_at = NULL, push_dead_at = NULL WHERE id = $1",
            &[
                &key.id,
                &push.token,
                &push.push_magic,
                &push.topic,
                &unlock_token,
                &raw,
                &now,
            ],
        )
        .await
        .map_err(backend)?;
        insert_events(&tx, events).await?;
        tx.commit().await.map_err(backend)?;
        Ok(!was)
    }

    async fn check_out_with_events(
        &self,
        id: &str,
        now: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute(
            "UPDATE enrollments SET enrolled = FALSE, checked_out_at = $2, \
             last_seen_at = $2 WHERE id = $1",
            &[&id, &now],
        )
        .await
        .map_err(backend)?;
        insert_events(&tx, events).await?;
        tx.commit().await.map_err(backend)
    }

    async fn touch(&self, id: &str, now: Timestamp) -> Result<bool> {
        let client = self.client().await?;
        let select = client
            .prepare_cached("SELECT last_seen_at FROM enrollments WHERE id = $1")
            .await
            .map_err(backend)?;
        let Some(row) = client.query_opt(&select, &[&id]).await.map_err(backend)? else {
            return Ok(false);
        };
        let last: i64 = row.get(0);
        if last <= now - crate::storage::TOUCH_GRANULARITY {
            client
                .execute(
                    "UPDATE enrollments SET last_seen_at = $2 WHERE id = $1",
                    &[&id, &now],
                )
                .await
                .map_err(backend)?;
        }
        Ok(true)
    }

    async fn set_bootstrap_token_with_events(
        &self,
        id: &str,
        token: Option<&[u8]>,
        now: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute(
            "UPDATE enrollments SET bootstrap_token = $2, last_seen_at = $3 WHERE id = $1",
            &[&id, &token, &now],
        )
        .await
        .map_err(backend)?;
        insert_events(&tx, events).await?;
        tx.commit().await.map_err(backend)
    }

    async fn set_facts(&self, id: &str, facts: &DeviceFacts) -> Result<()> {
        let json = crate::storage::facts::to_json(facts);
        self.client()
            .await?
            .execute(
                "UPDATE enrollments SET facts = $2 WHERE id = $1",
                &[&id, &json],
            )
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn enrollment(&self, id: &str) -> Result<Option<EnrollmentRecord>> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(backend)?;
        row.as_ref().map(enrollment_from_row).transpose()
    }

    async fn list_enrollments(&self, filter: &EnrollmentFilter) -> Result<Vec<EnrollmentRecord>> {
        let mut sql = format!("SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE TRUE");
        let mut args: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        if let Some(d) = &filter.device_id {
            args.push(Box::new(d.clone()));
            sql.push_str(&format!(" AND device_id = ${}", args.len()));
        }
        if let Some(e) = filter.enrolled {
            args.push(Box::new(e));
            sql.push_str(&format!(" AND enrolled = ${}", args.len()));
        }
        if let Some(k) = &filter.kind {
            args.push(Box::new(k.clone()));
            sql.push_str(&format!(" AND kind = ${}", args.len()));
        }
        if let Some(a) = &filter.after {
            args.push(Box::new(a.clone()));
            sql.push_str(&format!(" AND id COLLATE \"C\" > ${}", args.len()));
        }
        args.push(Box::new(i64::from(filter.limit)));
        sql.push_str(&format!(" ORDER BY id COLLATE \"C\" LIMIT ${}", args.len()));
        let refs: Vec<&(dyn ToSql + Sync)> = args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = self
            .client()
            .await?
            .query(&sql, &refs)
            .await
            .map_err(backend)?;
        rows.iter().map(enrollment_from_row).collect()
    }

    async fn cert_binding(&self, device_id: &str) -> Result<Option<String>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT fingerprint FROM cert_bindings WHERE device_id = $1",
                &[&device_id],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn cert_owner(&self, fingerprint: &str) -> Result<Option<String>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT device_id FROM cert_bindings WHERE fingerprint = $1 \
                 ORDER BY updated_at DESC LIMIT 1",
                &[&fingerprint],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn rebind_cert(&self, change: &Rebinding, now: Timestamp) -> Result<BindOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&BINDING_LOCK])
            .await
            .map_err(backend)?;
        let other = tx
            .query_opt(
                "SELECT device_id FROM cert_bindings WHERE fingerprint = $1 \
                 AND device_id <> $2 LIMIT 1",
                &[&change.fingerprint, &change.device_id],
            )
            .await
            .map_err(backend)?;
        if let Some(other) = other {
            return Ok(BindOutcome::TakenBy(other.get(0)));
        }
        let current: Option<String> = tx
            .query_opt(
                "SELECT fingerprint FROM cert_bindings WHERE device_id = $1",
                &[&change.device_id],
            )
            .await
            .map_err(backend)?
            .map(|r| r.get(0));
        if current != change.previous {
            return Ok(BindOutcome::Changed);
        }
        tx.execute(
            "INSERT INTO cert_bindings (device_id, fingerprint, updated_at) \
             VALUES ($1, $2, $3) ON CONFLICT (device_id) DO UPDATE SET \
             fingerprint = excluded.fingerprint, updated_at = excluded.updated_at",
            &[&change.device_id, &change.fingerprint, &now],
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "INSERT INTO cert_binding_history (device_id, old_fingerprint, new_fingerprint, \
             reason, token_id, at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &change.device_id,
                &change.previous,
                &change.fingerprint,
                &change.reason,
                &change.token_id,
                &now,
            ],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(BindOutcome::Bound)
    }

    async fn cert_was_bound(&self, fingerprint: &str) -> Result<bool> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT 1 FROM cert_binding_history WHERE new_fingerprint = $1 LIMIT 1",
                &[&fingerprint],
            )
            .await
            .map_err(backend)?;
        Ok(row.is_some())
    }

    async fn binding_history(&self, device_id: &str) -> Result<Vec<BindingEvent>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT old_fingerprint, new_fingerprint, reason, token_id, at FROM \
                 (SELECT * FROM cert_binding_history WHERE device_id = $1 \
                  ORDER BY id DESC LIMIT 100) h ORDER BY id",
                &[&device_id],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(BindingEvent {
                    old_fingerprint: r.try_get(0).map_err(backend)?,
                    new_fingerprint: r.try_get(1).map_err(backend)?,
                    reason: r.try_get(2).map_err(backend)?,
                    token_id: r.try_get(3).map_err(backend)?,
                    at: r.try_get(4).map_err(backend)?,
                })
            })
            .collect()
    }

    async fn create_enrollment_token(&self, t: &EnrollmentToken) -> Result<()> {
        self.client()
            .await?
            .execute(
                &format!(
                    "INSERT INTO enrollment_tokens ({TOKEN_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ),
                &[
                    &t.id,
                    &t.secret_hash,
                    &t.max_uses,
                    &t.uses,
                    &t.expires_at,
                    &t.device,
                    &t.user,
                    &t.may_reenroll,
                    &t.created_at,
                    &t.revoked_at,
                ],
            )
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn enrollment_tokens(&self, limit: u32) -> Result<Vec<EnrollmentToken>> {
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM enrollment_tokens \
                     ORDER BY created_at DESC, id LIMIT $1"
                ),
                &[&i64::from(limit)],
            )
            .await
            .map_err(backend)?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_enrollment_token(&self, id: &str, now: Timestamp) -> Result<bool> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, $2) \
                 WHERE id = $1",
                &[&id, &now],
            )
            .await
            .map_err(backend)?;
        Ok(n > 0)
    }

    async fn take_enrollment_token(
        &self,
        secret_hash: &str,
        challenge_hash: &str,
        challenge_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<std::result::Result<EnrollmentToken, Refusal>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // Row-locked: concurrent downloads never take more uses than the token has.
        let Some(row) = tx
            .query_opt(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM enrollment_tokens WHERE secret_hash = $1 \
                     FOR UPDATE"
                ),
                &[&secret_hash],
            )
            .await
            .map_err(backend)?
        else {
            return Ok(Err(Refusal::Unknown));
        };
        let mut token = token_from_row(&row)?;
        if let Some(refusal) = token_refusal(&token, now) {
            return Ok(Err(refusal));
        }
        tx.execute(
            "UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = $1",
            &[&token.id],
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "INSERT INTO scep_challenges (challenge_hash, token_id, expires_at, created_at) \
             VALUES ($1, $2, $3, $4)",
            &[&challenge_hash, &token.id, &challenge_expires_at, &now],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        token.uses += 1;
        Ok(Ok(token))
    }

    async fn consume_challenge(
        &self,
        challenge_hash: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<std::result::Result<EnrollmentToken, Refusal>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let Some(row) = tx
            .query_opt(
                "SELECT token_id, expires_at, used_at FROM scep_challenges \
                 WHERE challenge_hash = $1 FOR UPDATE",
                &[&challenge_hash],
            )
            .await
            .map_err(backend)?
        else {
            return Ok(Err(Refusal::Unknown));
        };
        let token_id: String = row.try_get(0).map_err(backend)?;
        let expires_at: Timestamp = row.try_get(1).map_err(backend)?;
        let used_at: Option<Timestamp> = row.try_get(2).map_err(backend)?;
        if used_at.is_some() {
            return Ok(Err(Refusal::UsedUp));
        }
        if expires_at <= now {
            return Ok(Err(Refusal::Expired));
        }
        let Some(token) = tx
            .query_opt(
                &format!("SELECT {TOKEN_COLUMNS} FROM enrollment_tokens WHERE id = $1"),
                &[&token_id],
            )
            .await
            .map_err(backend)?
        else {
            return Ok(Err(Refusal::Unknown));
        };
        let token = token_from_row(&token)?;
        if token.revoked_at.is_some() {
            return Ok(Err(Refusal::Revoked));
        }
        tx.execute(
            "UPDATE scep_challenges SET used_at = $2, cert_fingerprint = $3 \
             WHERE challenge_hash = $1",
            &[&challenge_hash, &now, &fingerprint],
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "INSERT INTO issued_certs (fingerprint, token_id, issued_at) VALUES ($1, $2, $3) \
             ON CONFLICT (fingerprint) DO NOTHING",
            &[&fingerprint, &token.id, &now],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(Ok(token))
    }

    async fn issued_token(&self, fingerprint: &str) -> Result<Option<EnrollmentToken>> {
        let columns = TOKEN_COLUMNS
            .split(", ")
            .map(|col| format!("t.{col}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = self
            .client()
            .await?
            .query_opt(
                &format!(
                    "SELECT {columns} FROM issued_certs i JOIN enrollment_tokens t \
                     ON t.id = i.token_id WHERE i.fingerprint = $1"
                ),
                &[&fingerprint],
            )
            .await
            .map_err(backend)?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn record_renewal(&self, old: &str, new: &str, now: Timestamp) -> Result<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO cert_renewals (new_fingerprint, old_fingerprint, created_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (new_fingerprint) DO NOTHING",
                &[&new, &old, &now],
            )
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn renewed_from(&self, new: &str) -> Result<Option<String>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT old_fingerprint FROM cert_renewals WHERE new_fingerprint = $1",
                &[&new],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn return_to_service(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT body FROM return_to_service WHERE enrollment_id = $1",
                &[&id],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn set_return_to_service(
        &self,
        id: &str,
        json: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<()> {
        let client = self.client().await?;
        match json {
            Some(json) => {
                client
                    .execute(
                        "INSERT INTO return_to_service (enrollment_id, body, updated_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (enrollment_id) DO UPDATE SET \
                     body = excluded.body, updated_at = excluded.updated_at",
                        &[&id, &json, &now],
                    )
                    .await
            }
            None => {
                client
                    .execute(
                        "DELETE FROM return_to_service WHERE enrollment_id = $1",
                        &[&id],
                    )
                    .await
            }
        }
        .map(drop)
        .map_err(backend)
    }
}
