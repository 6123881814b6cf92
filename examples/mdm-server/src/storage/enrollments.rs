//! Enrollments and the identities bound to them: check-ins, device facts, certificate bindings, enrollment tokens and renewals, return to service.

use super::*;

/// Enrollments and the identities bound to them: check-ins, device facts, certificate bindings, enrollment tokens and renewals, return to service.
#[async_trait]
pub trait EnrollmentStore: Send + Sync {
    /// Records an Authenticate: creates or updates the enrollment, marks it not enrolled
    /// until its next TokenUpdate, and keeps the raw message; `events` go to the outbox in
    /// the same transaction.
    async fn authenticate_with_events(
        &self,
        key: &EnrollmentKey,
        raw: &[u8],
        now: Timestamp,
        events: &[Event],
    ) -> Result<()>;

    /// [`EnrollmentStore::authenticate_with_events`] without events.
    async fn authenticate(&self, key: &EnrollmentKey, raw: &[u8], now: Timestamp) -> Result<()> {
        self.authenticate_with_events(key, raw, now, &[]).await
    }

    /// Records a TokenUpdate: stores push information (and the unlock token when sent),
    /// creates the enrollment when it is new (user channels start here) and marks it
    /// enrolled; `events` go to the outbox in the same transaction. Returns true when this
    /// TokenUpdate enrolled it.
    async fn token_update_with_events(
        &self,
        key: &EnrollmentKey,
        push: &PushInfo,
        unlock_token: Option<&[u8]>,
        raw: &[u8],
        now: Timestamp,
        events: &[Event],
    ) -> Result<bool>;

    /// [`EnrollmentStore::token_update_with_events`] without events.
    async fn token_update(
        &self,
        key: &EnrollmentKey,
        push: &PushInfo,
        unlock_token: Option<&[u8]>,
        raw: &[u8],
        now: Timestamp,
    ) -> Result<bool> {
        self.token_update_with_events(key, push, unlock_token, raw, now, &[])
            .await
    }

    /// Records a CheckOut: the enrollment is no longer enrolled; `events` go to the outbox
    /// in the same transaction.
    async fn check_out_with_events(&self, id: &str, now: Timestamp, events: &[Event])
    -> Result<()>;

    /// [`EnrollmentStore::check_out_with_events`] without events.
    async fn check_out(&self, id: &str, now: Timestamp) -> Result<()> {
        self.check_out_with_events(id, now, &[]).await
    }

    /// Notes that an enrollment sent something, and says whether it exists. To spare a
    /// write on every message, `last_seen_at` moves only when it is at least
    /// [`TOUCH_GRANULARITY`] seconds old.
    async fn touch(&self, id: &str, now: Timestamp) -> Result<bool>;

    /// Escrows (or, with `None`, clears) a device's bootstrap token; `events` go to the
    /// outbox in the same transaction.
    async fn set_bootstrap_token_with_events(
        &self,
        id: &str,
        token: Option<&[u8]>,
        now: Timestamp,
        events: &[Event],
    ) -> Result<()>;

    /// [`EnrollmentStore::set_bootstrap_token_with_events`] without events.
    async fn set_bootstrap_token(
        &self,
        id: &str,
        token: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<()> {
        self.set_bootstrap_token_with_events(id, token, now, &[])
            .await
    }

    /// One enrollment.
    async fn enrollment(&self, id: &str) -> Result<Option<EnrollmentRecord>>;

    /// Stores the device facts of an enrollment (see [`crate::service::facts`]).
    async fn set_facts(
        &self,
        id: &str,
        facts: &mdm_commands::applicability::DeviceFacts,
    ) -> Result<()>;

    /// Enrollments matching a filter, in ID order.
    async fn list_enrollments(&self, filter: &EnrollmentFilter) -> Result<Vec<EnrollmentRecord>>;

    /// The key and stored facts of every enrollment on device `device_id` (its device
    /// channel and its user channels, checked out or not), in ID order, at most `limit`:
    /// what [`EnrollmentStore::list_enrollments`] gives for that device, without the rest
    /// of the records. A backend may read only these columns (one query per device
    /// report, where the full records carry the stored check-ins).
    async fn channel_facts(
        &self,
        device_id: &str,
        limit: u32,
    ) -> Result<
        Vec<(
            EnrollmentKey,
            Option<mdm_commands::applicability::DeviceFacts>,
        )>,
    > {
        let mut filter = EnrollmentFilter {
            device_id: Some(device_id.to_owned()),
            limit,
            ..EnrollmentFilter::default()
        };
        filter.enrolled = None;
        Ok(self
            .list_enrollments(&filter)
            .await?
            .into_iter()
            .map(|r| (r.key, r.facts))
            .collect())
    }

    /// The SHA-256 fingerprint (hex) of the identity certificate bound to a device channel.
    async fn cert_binding(&self, device_id: &str) -> Result<Option<String>>;

    /// [`EnrollmentStore::cert_binding`] of `device_id` and, only when it is `fingerprint`,
    /// [`EnrollmentStore::touch`] of `id`: the binding, and whether `id` exists (`None`
    /// when the binding is not `fingerprint` and nothing was touched). A backend may do
    /// both in one call; the default calls one, then the other.
    async fn touch_if_bound(
        &self,
        id: &str,
        device_id: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<(Option<String>, Option<bool>)> {
        let bound = self.cert_binding(device_id).await?;
        if bound.as_deref() != Some(fingerprint) {
            return Ok((bound, None));
        }
        let known = self.touch(id, now).await?;
        Ok((bound, Some(known)))
    }

    /// The device channel a certificate (SHA-256 fingerprint, hex) is bound to, if any.
    async fn cert_owner(&self, fingerprint: &str) -> Result<Option<String>>;

    /// Binds an identity certificate to a device channel, atomically: only when the
    /// certificate is bound to no other channel and the channel's binding is still
    /// `previous`. Every binding made is kept in the channel's history.
    async fn rebind_cert(&self, change: &Rebinding, now: Timestamp) -> Result<BindOutcome>;

    /// True when a certificate has ever been bound to a device channel (it is in some
    /// binding history), even if it has been replaced since.
    async fn cert_was_bound(&self, fingerprint: &str) -> Result<bool>;

    /// The binding history of a device channel, oldest first (at most the newest 100).
    async fn binding_history(&self, device_id: &str) -> Result<Vec<BindingEvent>>;

    /// Stores a new enrollment token.
    async fn create_enrollment_token(&self, token: &EnrollmentToken) -> Result<()>;

    /// The enrollment tokens, newest first (at most `limit`).
    async fn enrollment_tokens(&self, limit: u32) -> Result<Vec<EnrollmentToken>>;

    /// Revokes a token (and so its unused challenges); says whether it existed.
    async fn revoke_enrollment_token(&self, id: &str, now: Timestamp) -> Result<bool>;

    /// Takes one use of the token whose secret hashes to `secret_hash` and stores a
    /// one-time SCEP challenge (SHA-256 `challenge_hash`) for it, valid until
    /// `challenge_expires_at`, atomically. Refused when the token is unknown, expired,
    /// revoked or used up (nothing is stored then).
    async fn take_enrollment_token(
        &self,
        secret_hash: &str,
        challenge_hash: &str,
        challenge_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<std::result::Result<EnrollmentToken, Refusal>>;

    /// Consumes a one-time SCEP challenge for the certificate `fingerprint` being issued,
    /// and remembers which token the certificate came from, atomically; returns the token.
    /// Refused when the challenge is unknown, already used, expired or its token revoked.
    async fn consume_challenge(
        &self,
        challenge_hash: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<std::result::Result<EnrollmentToken, Refusal>>;

    /// The enrollment token a certificate was issued for, when it was issued for one.
    async fn issued_token(&self, fingerprint: &str) -> Result<Option<EnrollmentToken>>;

    /// Records that the certificate `new` was issued as a renewal signed by `old`.
    async fn record_renewal(&self, old: &str, new: &str, now: Timestamp) -> Result<()>;

    /// The certificate that `new` renewed, when it was issued as a renewal.
    async fn renewed_from(&self, new: &str) -> Result<Option<String>>;

    /// The return-to-service settings of an enrollment (JSON), if any.
    async fn return_to_service(&self, id: &str) -> Result<Option<Vec<u8>>>;

    /// Stores (or with `None` removes) the return-to-service settings of an enrollment.
    async fn set_return_to_service(
        &self,
        id: &str,
        json: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<()>;
}
