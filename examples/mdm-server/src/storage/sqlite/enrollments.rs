//! SqliteStorage: enrollments and the identities bound to them: check-ins, device facts, certificate bindings, enrollment tokens and renewals, return to service.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl EnrollmentStore for SqliteStorage {
    async fn authenticate_with_events(
        &self,
        key: &EnrollmentKey,
        raw: &[u8],
        now: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let (key, raw, events) = (key.clone(), raw.to_vec(), events.to_vec());
        self.with(move |c| {
            let tx = c.transaction()?;
            upsert_key(&tx, &key, now)?;
            tx.execute(
                "UPDATE enrollments SET enrolled = 0, authenticate = ?2 WHERE id = ?1",
                params![key.id, raw],
            )?;
            insert_events(&tx, &events)?;
            tx.commit()
        })
        .await
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
        let (key, push, unlock, raw, events) = (
            key.clone(),
            push.clone(),
            unlock_token.map(<[u8]>::to_vec),
            raw.to_vec(),
            events.to_vec(),
        );
        self.with(move |c| {
            let tx = c.transaction()?;
            upsert_key(&tx, &key, now)?;
            let was: bool = tx.query_row(
                "SELECT enrolled FROM enrollments WHERE id = ?1",
                params![key.id],
                |r| r.get(0),
            )?;
            tx.execute(
                "UPDATE enrollments SET enrolled = 1, token = ?2, push_magic = ?3, topic = ?4, \
                 unlock_token = COALESCE(?5, unlock_token), token_update = ?6, \
                 enrolled_at = CASE WHEN enrolled = 1 THEN enrolled_at ELSE ?7 END, \
                 checked_out_at = NULL, push_dead_at = NULL WHERE id = ?1",
                params![
                    key.id,
                    push.token,
                    push.push_magic,
                    push.topic,
                    unlock,
                    raw,
                    now
                ],
            )?;
            insert_events(&tx, &events)?;
            tx.commit()?;
            Ok(!was)
        })
        .await
    }

    async fn check_out_with_events(
        &self,
        id: &str,
        now: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let (id, events) = (id.to_owned(), events.to_vec());
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE enrollments SET enrolled = 0, checked_out_at = ?2, last_seen_at = ?2 \
                 WHERE id = ?1",
                params![id, now],
            )?;
            insert_events(&tx, &events)?;
            tx.commit()
        })
        .await
    }

    async fn touch(&self, id: &str, now: Timestamp) -> Result<bool> {
        let id = id.to_owned();
        self.with(move |c| touch_on(c, &id, now)).await
    }

    async fn set_bootstrap_token_with_events(
        &self,
        id: &str,
        token: Option<&[u8]>,
        now: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let (id, token, events) = (id.to_owned(), token.map(<[u8]>::to_vec), events.to_vec());
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE enrollments SET bootstrap_token = ?2, last_seen_at = ?3 WHERE id = ?1",
                params![id, token, now],
            )?;
            insert_events(&tx, &events)?;
            tx.commit()
        })
        .await
    }

    async fn set_facts(&self, id: &str, facts: &DeviceFacts) -> Result<()> {
        let (id, json) = (id.to_owned(), crate::storage::facts::to_json(facts));
        self.with(move |c| {
            c.prepare_cached("UPDATE enrollments SET facts = ?2 WHERE id = ?1")?
                .execute(params![id, json])
                .map(drop)
        })
        .await
    }

    async fn enrollment(&self, id: &str) -> Result<Option<EnrollmentRecord>> {
        let id = id.to_owned();
        self.with(move |c| {
            c.prepare_cached(&format!(
                "SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE id = ?1"
            ))?
            .query_row(params![id], enrollment_from_row)
            .optional()
        })
        .await
    }

    async fn list_enrollments(&self, filter: &EnrollmentFilter) -> Result<Vec<EnrollmentRecord>> {
        let filter = filter.clone();
        self.with(move |c| {
            use rusqlite::types::Value;
            let mut sql = format!("SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE 1 = 1");
            let mut args: Vec<Value> = Vec::new();
            if let Some(d) = filter.device_id {
                args.push(Value::Text(d));
                sql.push_str(&format!(" AND device_id = ?{}", args.len()));
            }
            if let Some(e) = filter.enrolled {
                args.push(Value::Integer(i64::from(e)));
                sql.push_str(&format!(" AND enrolled = ?{}", args.len()));
            }
            if let Some(k) = filter.kind {
                args.push(Value::Text(k));
                sql.push_str(&format!(" AND kind = ?{}", args.len()));
            }
            if let Some(a) = filter.after {
                args.push(Value::Text(a));
                sql.push_str(&format!(" AND id > ?{}", args.len()));
            }
            // The limit is written into the statement, not bound: SQLite plans with a bound
            // LIMIT's value, so binding one makes it parse the statement again at every
            // run, and a literal lets the cached statement be reused.
            sql.push_str(&format!(" ORDER BY id LIMIT {}", filter.limit));
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args), enrollment_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn channel_facts(
        &self,
        device_id: &str,
        limit: u32,
    ) -> Result<Vec<(EnrollmentKey, Option<DeviceFacts>)>> {
        let device_id = device_id.to_owned();
        self.with(move |c| {
            // The limit is a literal for the statement cache (see `list_enrollments`).
            let mut stmt = c.prepare_cached(&format!(
                "SELECT id, device_id, kind, udid, user_short_name, user_long_name, facts \
                 FROM enrollments WHERE device_id = ?1 ORDER BY id LIMIT {limit}"
            ))?;
            let rows = stmt.query_map(params![device_id], |r| {
                let key = key_from_row(r)?;
                let facts = r
                    .get::<_, Option<String>>(6)?
                    .as_deref()
                    .and_then(crate::storage::facts::from_json);
                Ok((key, facts))
            })?;
            rows.collect()
        })
        .await
    }

    async fn cert_binding(&self, device_id: &str) -> Result<Option<String>> {
        let device_id = device_id.to_owned();
        self.with(move |c| {
            c.prepare_cached("SELECT fingerprint FROM cert_bindings WHERE device_id = ?1")?
                .query_row(params![device_id], |r| r.get(0))
                .optional()
        })
        .await
    }

    async fn touch_if_bound(
        &self,
        id: &str,
        device_id: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<(Option<String>, Option<bool>)> {
        let (id, device_id, fingerprint) =
            (id.to_owned(), device_id.to_owned(), fingerprint.to_owned());
        self.with(move |c| {
            let bound: Option<String> = c
                .prepare_cached("SELECT fingerprint FROM cert_bindings WHERE device_id = ?1")?
                .query_row(params![device_id], |r| r.get(0))
                .optional()?;
            if bound.as_deref() != Some(fingerprint.as_str()) {
                return Ok((bound, None));
            }
            Ok((bound, Some(touch_on(c, &id, now)?)))
        })
        .await
    }

    async fn cert_owner(&self, fingerprint: &str) -> Result<Option<String>> {
        let fingerprint = fingerprint.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT device_id FROM cert_bindings WHERE fingerprint = ?1 \
                 ORDER BY updated_at DESC LIMIT 1",
                params![fingerprint],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    async fn rebind_cert(&self, change: &Rebinding, now: Timestamp) -> Result<BindOutcome> {
        let change = change.clone();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let other: Option<String> = tx
                .query_row(
                    "SELECT device_id FROM cert_bindings WHERE fingerprint = ?1 \
                     AND device_id <> ?2 LIMIT 1",
                    params![change.fingerprint, change.device_id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(other) = other {
                return Ok(BindOutcome::TakenBy(other));
            }
            let current: Option<String> = tx
                .query_row(
                    "SELECT fingerprint FROM cert_bindings WHERE device_id = ?1",
                    params![change.device_id],
                    |r| r.get(0),
                )
                .optional()?;
            if current != change.previous {
                return Ok(BindOutcome::Changed);
            }
            tx.execute(
                "INSERT INTO cert_bindings (device_id, fingerprint, updated_at) \
                 VALUES (?1, ?2, ?3) ON CONFLICT (device_id) DO UPDATE SET \
                 fingerprint = excluded.fingerprint, updated_at = excluded.updated_at",
                params![change.device_id, change.fingerprint, now],
            )?;
            tx.execute(
                "INSERT INTO cert_binding_history (device_id, old_fingerprint, \
                 new_fingerprint, reason, token_id, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    change.device_id,
                    change.previous,
                    change.fingerprint,
                    change.reason,
                    change.token_id,
                    now
                ],
            )?;
            tx.commit()?;
            Ok(BindOutcome::Bound)
        })
        .await
    }

    async fn cert_was_bound(&self, fingerprint: &str) -> Result<bool> {
        let fingerprint = fingerprint.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT 1 FROM cert_binding_history WHERE new_fingerprint = ?1 LIMIT 1",
                params![fingerprint],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
        })
        .await
    }

    async fn binding_history(&self, device_id: &str) -> Result<Vec<BindingEvent>> {
        let device_id = device_id.to_owned();
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT old_fingerprint, new_fingerprint, reason, token_id, at FROM \
                 (SELECT * FROM cert_binding_history WHERE device_id = ?1 \
                  ORDER BY id DESC LIMIT 100) ORDER BY id",
            )?;
            let rows = stmt.query_map(params![device_id], |r| {
                Ok(BindingEvent {
                    old_fingerprint: r.get(0)?,
                    new_fingerprint: r.get(1)?,
                    reason: r.get(2)?,
                    token_id: r.get(3)?,
                    at: r.get(4)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn create_enrollment_token(&self, token: &EnrollmentToken) -> Result<()> {
        let t = token.clone();
        self.with(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO enrollment_tokens ({TOKEN_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                params![
                    t.id,
                    t.secret_hash,
                    t.max_uses,
                    t.uses,
                    t.expires_at,
                    t.device,
                    t.user,
                    t.may_reenroll,
                    t.created_at,
                    t.revoked_at
                ],
            )
            .map(drop)
        })
        .await
    }

    async fn enrollment_tokens(&self, limit: u32) -> Result<Vec<EnrollmentToken>> {
        self.with(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {TOKEN_COLUMNS} FROM enrollment_tokens \
                 ORDER BY created_at DESC, id LIMIT ?1"
            ))?;
            let rows = stmt.query_map(params![i64::from(limit)], token_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn revoke_enrollment_token(&self, id: &str, now: Timestamp) -> Result<bool> {
        let id = id.to_owned();
        self.with(move |c| {
            let n = c.execute(
                "UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, ?2) \
                 WHERE id = ?1",
                params![id, now],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn take_enrollment_token(
        &self,
        secret_hash: &str,
        challenge_hash: &str,
        challenge_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<std::result::Result<EnrollmentToken, Refusal>> {
        let (secret_hash, challenge_hash) = (secret_hash.to_owned(), challenge_hash.to_owned());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let Some(mut token) = token_by(&tx, "secret_hash", &secret_hash)? else {
                return Ok(Err(Refusal::Unknown));
            };
            if token.revoked_at.is_some() {
                return Ok(Err(Refusal::Revoked));
            }
            if token.expires_at <= now {
                return Ok(Err(Refusal::Expired));
            }
            if token.uses >= token.max_uses {
                return Ok(Err(Refusal::UsedUp));
            }
            tx.execute(
                "UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ?1",
                params![token.id],
            )?;
            tx.execute(
                "INSERT INTO scep_challenges (challenge_hash, token_id, expires_at, created_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![challenge_hash, token.id, challenge_expires_at, now],
            )?;
            tx.commit()?;
            token.uses += 1;
            Ok(Ok(token))
        })
        .await
    }

    async fn consume_challenge(
        &self,
        challenge_hash: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<std::result::Result<EnrollmentToken, Refusal>> {
        let (challenge_hash, fingerprint) = (challenge_hash.to_owned(), fingerprint.to_owned());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let found: Option<(String, Timestamp, Option<Timestamp>)> = tx
                .query_row(
                    "SELECT token_id, expires_at, used_at FROM scep_challenges \
                     WHERE challenge_hash = ?1",
                    params![challenge_hash],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((token_id, expires_at, used_at)) = found else {
                return Ok(Err(Refusal::Unknown));
            };
            if used_at.is_some() {
                return Ok(Err(Refusal::UsedUp));
            }
            if expires_at <= now {
                return Ok(Err(Refusal::Expired));
            }
            let Some(token) = token_by(&tx, "id", &token_id)? else {
                return Ok(Err(Refusal::Unknown));
            };
            if token.revoked_at.is_some() {
                return Ok(Err(Refusal::Revoked));
            }
            tx.execute(
                "UPDATE scep_challenges SET used_at = ?2, cert_fingerprint = ?3 \
                 WHERE challenge_hash = ?1",
                params![challenge_hash, now, fingerprint],
            )?;
            tx.execute(
                "INSERT INTO issued_certs (fingerprint, token_id, issued_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (fingerprint) DO NOTHING",
                params![fingerprint, token.id, now],
            )?;
            tx.commit()?;
            Ok(Ok(token))
        })
        .await
    }

    async fn issued_token(&self, fingerprint: &str) -> Result<Option<EnrollmentToken>> {
        let fingerprint = fingerprint.to_owned();
        self.with(move |c| {
            c.query_row(
                &format!(
                    "SELECT {} FROM issued_certs i JOIN enrollment_tokens t ON t.id = i.token_id \
                     WHERE i.fingerprint = ?1",
                    TOKEN_COLUMNS
                        .split(", ")
                        .map(|col| format!("t.{col}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                params![fingerprint],
                token_from_row,
            )
            .optional()
        })
        .await
    }

    async fn record_renewal(&self, old: &str, new: &str, now: Timestamp) -> Result<()> {
        let (old, new) = (old.to_owned(), new.to_owned());
        self.with(move |c| {
            c.execute(
                "INSERT INTO cert_renewals (new_fingerprint, old_fingerprint, created_at) \
                 VALUES (?1, ?2, ?3) ON CONFLICT (new_fingerprint) DO NOTHING",
                params![new, old, now],
            )
            .map(drop)
        })
        .await
    }

    async fn renewed_from(&self, new: &str) -> Result<Option<String>> {
        let new = new.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT old_fingerprint FROM cert_renewals WHERE new_fingerprint = ?1",
                params![new],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    async fn return_to_service(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let id = id.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT body FROM return_to_service WHERE enrollment_id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    async fn set_return_to_service(
        &self,
        id: &str,
        json: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<()> {
        let (id, json) = (id.to_owned(), json.map(<[u8]>::to_vec));
        self.with(move |c| match json {
            Some(json) => c
                .execute(
                    "INSERT INTO return_to_service (enrollment_id, body, updated_at) \
                     VALUES (?1, ?2, ?3) ON CONFLICT (enrollment_id) DO UPDATE SET \
                     body = excluded.body, updated_at = excluded.updated_at",
                    params![id, json, now],
                )
                .map(drop),
            None => c
                .execute(
                    "DELETE FROM return_to_service WHERE enrollment_id = ?1",
                    params![id],
                )
                .map(drop),
        })
        .await
    }
}

/// [`EnrollmentStore::touch`] on the connection.
fn touch_on(c: &Connection, id: &str, now: Timestamp) -> rusqlite::Result<bool> {
    let last: Option<i64> = c
        .prepare_cached("SELECT last_seen_at FROM enrollments WHERE id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    let Some(last) = last else {
        return Ok(false);
    };
    if last <= now - crate::storage::TOUCH_GRANULARITY {
        c.prepare_cached("UPDATE enrollments SET last_seen_at = ?2 WHERE id = ?1")?
            .execute(params![id, now])?;
    }
    Ok(true)
}
