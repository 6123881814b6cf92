//! The queue contract, written once over the storage primitives (see the server's README,
//! "The queue contract"): which waiting command goes to a device next, the `NotNow`
//! back-off, stalled commands, destructive commands and how a target's status is shown.
//!
//! Storage keeps each enrollment's waiting targets in queue order ([`crate::storage::QueueStore::queue`]:
//! higher priority first, then the time a target is ready, then arrival) and records what
//! happened to each ([`crate::storage::QueueStore::take`], [`crate::storage::QueueStore::defer`], [`crate::storage::QueueStore::requeue`]); the
//! decisions are here, so both backends follow the same rules.

use crate::storage::{self, QueueEntry, QueuedCommand, Storage, Timestamp};

/// Request types that must never stack for one enrollment: a second one, while one is
/// waiting, is refused unless it replaces the first.
pub const DESTRUCTIVE: &[&str] = &[
    "EraseDevice",
    "DeviceLock",
    "ClearPasscode",
    "ClearRestrictionsPassword",
    "EnableLostMode",
    "DisableLostMode",
    "PlayLostModeSound",
    "DeleteUser",
    "UnlockUserAccount",
    "SetRecoveryLock",
    "SetFirmwarePassword",
];

/// Whether a request type is one of the [`DESTRUCTIVE`] ones.
pub fn is_destructive(request_type: &str) -> bool {
    DESTRUCTIVE.contains(&request_type)
}

/// The status shown for a target sent and not answered within [`Policy::stall_after`].
pub const STATUS_STALLED: &str = "Stalled";

/// Default of [`Policy::stall_after`]: one day.
pub const DEFAULT_STALL_AFTER: Timestamp = 24 * 3600;
/// Default of [`Policy::not_now_backoff`]: one minute.
pub const DEFAULT_NOT_NOW_BACKOFF: Timestamp = 60;
/// Default of [`Policy::not_now_backoff_max`]: one hour.
pub const DEFAULT_NOT_NOW_BACKOFF_MAX: Timestamp = 3600;
/// How many waiting targets of one enrollment are looked at to pick the next command when
/// none of the first [`HEAD`] can be sent.
pub const LOOKAHEAD: u32 = 1_000;
/// How many waiting targets are read first to pick the next command.
pub const HEAD: u32 = 8;

/// The tunable parts of the queue rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// Seconds after which a command handed to a device and not answered is stalled: no
    /// longer sent, reported until re-sent or dropped.
    pub stall_after: Timestamp,
    /// Seconds a command answered `NotNow` waits before it is sent again, doubled at each
    /// further `NotNow`.
    pub not_now_backoff: Timestamp,
    /// The longest `NotNow` back-off, in seconds.
    pub not_now_backoff_max: Timestamp,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            stall_after: DEFAULT_STALL_AFTER,
            not_now_backoff: DEFAULT_NOT_NOW_BACKOFF,
            not_now_backoff_max: DEFAULT_NOT_NOW_BACKOFF_MAX,
        }
    }
}

impl Policy {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`Policy::stall_after`] (at least one second).
    pub fn with_stall_after(mut self, seconds: Timestamp) -> Self {
        self.stall_after = seconds.max(1);
        self
    }

    /// Sets the `NotNow` back-off: the first delay and the longest (each at least one
    /// second; the longest at least the first).
    pub fn with_not_now_backoff(mut self, first: Timestamp, max: Timestamp) -> Self {
        self.not_now_backoff = first.max(1);
        self.not_now_backoff_max = max.max(self.not_now_backoff);
        self
    }

    /// The back-off after the `n`th `NotNow` (1-based): `not_now_backoff * 2^(n-1)`, at
    /// most `not_now_backoff_max`.
    pub fn backoff(&self, n: u32) -> Timestamp {
        let shift = n.saturating_sub(1).min(30);
        self.not_now_backoff
            .saturating_mul(1_i64 << shift)
            .min(self.not_now_backoff_max)
    }
}

/// Where a waiting target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Waiting to be sent (queued, or `NotNow` and its back-off over).
    Ready,
    /// Answered `NotNow`; not sent before the end of its back-off.
    BackedOff {
        /// When it may be sent again.
        until: Timestamp,
    },
    /// Handed to the device, not answered yet; sent again at the device's next request
    /// (it did not get it, or its answer was lost) until answered or stalled.
    InFlight,
    /// Handed to the device and not answered within [`Policy::stall_after`]: no longer
    /// sent; re-send or drop it.
    Stalled,
    /// Past its command's expiry: never sent.
    Expired,
}

/// The state of a waiting target at `now`.
pub fn state(entry: &QueueEntry, now: Timestamp, policy: &Policy) -> State {
    if entry.expires_at.is_some_and(|e| e <= now) {
        return State::Expired;
    }
    match entry.first_sent_at {
        Some(first) if now.saturating_sub(first) >= policy.stall_after => State::Stalled,
        Some(_) => State::InFlight,
        None if entry.ready_at > now => State::BackedOff {
            until: entry.ready_at,
        },
        None => State::Ready,
    }
}

/// The status shown for a waiting target: `Stalled` when it is, else its stored status
/// (`Queued` or `NotNow`, or `Expired`).
pub fn shown_status(entry: &QueueEntry, now: Timestamp, policy: &Policy) -> String {
    match state(entry, now, policy) {
        State::Stalled => STATUS_STALLED.to_owned(),
        State::Expired => storage::STATUS_EXPIRED.to_owned(),
        _ => entry.status.clone(),
    }
}

/// The command to send next from an enrollment's waiting targets (in queue order): the
/// first one [`State::Ready`] or [`State::InFlight`]. Backed-off, stalled and expired
/// targets are passed over, so one command never blocks the ones behind it for longer
/// than [`Policy::stall_after`].
pub fn pick<'a>(
    entries: &'a [QueueEntry],
    now: Timestamp,
    policy: &Policy,
) -> Option<&'a QueueEntry> {
    entries.get(pick_index(entries, now, policy)?)
}

/// Where [`pick`]'s choice is in `entries`.
pub fn pick_index(entries: &[QueueEntry], now: Timestamp, policy: &Policy) -> Option<usize> {
    entries.iter().position(|e| match state(e, now, policy) {
        State::Ready | State::InFlight => true,
        State::BackedOff { .. } | State::Stalled | State::Expired => false,
    })
}

/// Picks the next command of an enrollment and hands it over, in one storage call
/// ([`crate::storage::QueueStore::take_next`] with [`pick`]). A target that stopped waiting
/// between the two (answered, cancelled elsewhere) is passed over for the next one.
pub async fn next(
    storage: &dyn Storage,
    id: &str,
    now: Timestamp,
    policy: &Policy,
) -> storage::Result<Option<QueuedCommand>> {
    // The head first: a device with a long queue costs a few rows per request, not its
    // whole queue. Only when nothing in a full head can be sent is the lookahead read.
    let head = storage
        .take_next(id, now, HEAD, chooser(now, policy))
        .await?;
    if head.command.is_some() || head.read < HEAD as usize {
        return Ok(head.command);
    }
    Ok(storage
        .take_next(id, now, LOOKAHEAD, chooser(now, policy))
        .await?
        .command)
}

/// Records a device's report (not `NotNow`: see [`not_now`]) and then picks and hands over
/// the next command as [`next`] does, the first part in one storage call
/// ([`crate::storage::QueueStore::record_report_and_take_next`]).
pub async fn record_and_next(
    storage: &dyn Storage,
    report: &Report<'_>,
    now: Timestamp,
    policy: &Policy,
) -> storage::Result<(storage::ReportOutcome, Option<QueuedCommand>)> {
    let (outcome, head) = storage
        .record_report_and_take_next(
            report.id,
            report.uuid,
            report.status,
            report.body,
            now,
            report.events,
            HEAD,
            chooser(now, policy),
        )
        .await?;
    if head.command.is_some() || head.read < HEAD as usize {
        return Ok((outcome, head.command));
    }
    let rest = storage
        .take_next(report.id, now, LOOKAHEAD, chooser(now, policy))
        .await?;
    Ok((outcome, rest.command))
}

/// A device's report on a command, as [`record_and_next`] records it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Report<'a> {
    /// The enrollment.
    pub id: &'a str,
    /// `CommandUUID`.
    pub uuid: &'a str,
    /// The status reported.
    pub status: &'a str,
    /// The raw report.
    pub body: &'a [u8],
    /// Events to store with it.
    pub events: &'a [crate::events::Event],
}

impl<'a> Report<'a> {
    /// A report of `id` on `uuid`, with no events.
    pub fn new(id: &'a str, uuid: &'a str, status: &'a str, body: &'a [u8]) -> Self {
        Report {
            id,
            uuid,
            status,
            body,
            events: &[],
        }
    }

    /// This report with events to store with it.
    pub fn with_events(mut self, events: &'a [crate::events::Event]) -> Self {
        self.events = events;
        self
    }
}

/// [`pick_index`] at `now`, for [`crate::storage::QueueStore::take_next`].
pub fn chooser(now: Timestamp, policy: &Policy) -> storage::Chooser {
    let policy = *policy;
    Box::new(move |entries| pick_index(entries, now, &policy))
}

/// Records the back-off of a target the device answered `NotNow`: ready again after
/// [`Policy::backoff`] of its `NotNow` count. Returns when it will be sent again, or
/// `None` when it is no longer waiting.
pub async fn not_now(
    storage: &dyn Storage,
    id: &str,
    uuid: &str,
    now: Timestamp,
    policy: &Policy,
) -> storage::Result<Option<Timestamp>> {
    let Some(entry) = storage.waiting_target(id, uuid).await? else {
        return Ok(None);
    };
    let ready_at = now.saturating_add(policy.backoff(entry.not_now_count.saturating_add(1)));
    Ok(storage.defer(id, uuid, ready_at).await?.then_some(ready_at))
}

/// The first waiting destructive command of an enrollment, if any.
pub async fn pending_destructive(
    storage: &dyn Storage,
    id: &str,
    now: Timestamp,
) -> storage::Result<Option<QueueEntry>> {
    Ok(storage
        .queue(id, now, LOOKAHEAD)
        .await?
        .into_iter()
        .find(|e| is_destructive(&e.request_type)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uuid: &str, ready_at: Timestamp, first_sent_at: Option<Timestamp>) -> QueueEntry {
        QueueEntry {
            uuid: uuid.into(),
            request_type: "ProfileList".into(),
            status: storage::STATUS_QUEUED.into(),
            created_at: 0,
            expires_at: None,
            sent_at: first_sent_at,
            priority: 0,
            ready_at,
            first_sent_at,
            not_now_count: 0,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let p = Policy::new().with_not_now_backoff(10, 50);
        assert_eq!(
            (1..=5).map(|n| p.backoff(n)).collect::<Vec<_>>(),
            [10, 20, 40, 50, 50]
        );
        assert_eq!(p.backoff(u32::MAX), 50);
    }

    #[test]
    fn pick_passes_over_what_must_not_be_sent() {
        let p = Policy::new().with_stall_after(100);
        let mut expired = entry("E", 0, None);
        expired.expires_at = Some(5);
        let q = [
            expired,
            entry("S", 0, Some(0)),
            entry("F", 0, Some(50)),
            entry("B", 200, None),
            entry("R", 10, None),
        ];
        assert_eq!(pick(&q, 100, &p).map(|e| e.uuid.as_str()), Some("F"));
        assert_eq!(pick(&q[3..], 100, &p).map(|e| e.uuid.as_str()), Some("R"));
        assert_eq!(state(&q[0], 100, &p), State::Expired);
        assert_eq!(state(&q[1], 100, &p), State::Stalled);
        assert_eq!(state(&q[3], 100, &p), State::BackedOff { until: 200 });
        assert!(pick(&q[..2], 100, &p).is_none());
        assert_eq!(state(&q[2], 100, &p), State::InFlight);
    }
}
