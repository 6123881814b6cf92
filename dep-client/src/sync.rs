//! The sync state machine, sans-I/O: which call comes next, what a page means, when the
//! cursor may advance, and how to recover from Apple's cursor errors.
//!
//! The rules that keep every device:
//! - fetch (`/server/devices`) until `more_to_follow` is false, then sync (`/devices/sync`)
//!   from the last cursor, on an interval;
//! - a page is handed to the caller *before* its cursor is stored; the cursor advances only
//!   after the caller said the page is safe ([`SyncState::commit`]);
//! - the same cursor coming back with `more_to_follow` (an echo Apple is known to send) ends
//!   the round instead of looping;
//! - an expired, invalid or missing cursor drops the cursor and starts a new full fetch.

use serde::{Deserialize, Serialize};

use crate::endpoint::{FetchDevices, MAX_PAGE_LIMIT, SyncDevices};
use crate::error::ApiError;
use crate::types::{DeviceListRequest, DeviceListResponse};

/// Which listing a cursor belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// The full listing, `/server/devices`.
    Fetch,
    /// The change feed, `/devices/sync`.
    Sync,
}

/// What a cursor store keeps for one organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Checkpoint {
    /// The last cursor whose page the caller stored.
    pub cursor: Option<String>,
    /// Whether the cursor continues a fetch or a sync.
    pub phase: Phase,
    /// Whether a full fetch has completed since the last reset.
    pub fetch_complete: bool,
}

impl Default for Checkpoint {
    fn default() -> Self {
        Checkpoint {
            cursor: None,
            phase: Phase::Fetch,
            fetch_complete: false,
        }
    }
}

impl Checkpoint {
    /// A checkpoint that continues at `cursor` in `phase`.
    pub fn new(cursor: Option<String>, phase: Phase, fetch_complete: bool) -> Self {
        Checkpoint {
            cursor,
            phase,
            fetch_complete,
        }
    }
}

/// The next call to make.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// `POST /server/devices`.
    Fetch(FetchDevices),
    /// `POST /devices/sync`.
    Sync(SyncDevices),
}

/// A page received, to hand to the caller before committing it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Page {
    /// Fetch or sync.
    pub phase: Phase,
    /// The response as Apple sent it.
    pub response: DeviceListResponse,
    /// The checkpoint to store once the caller has stored the devices.
    pub next: Checkpoint,
    /// Whether this page ends the round (no more pages to ask for now).
    pub last: bool,
    /// Whether Apple echoed the request's cursor with `more_to_follow` (treated as done).
    pub echoed_cursor: bool,
}

/// What to do after Apple refused a listing call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recovery {
    /// The cursor was dropped; start a full fetch now (the checkpoint to store is given).
    Refetch(Checkpoint),
    /// Wait, then retry the same call.
    Backoff(std::time::Duration),
    /// Renew the session, then retry the same call.
    RenewSession,
    /// Not recoverable here: report the error.
    Fail,
}

/// The sync state for one organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncState {
    /// The committed checkpoint.
    pub checkpoint: Checkpoint,
    /// Page size.
    pub limit: u32,
    /// Whether the current round is over.
    pub round_done: bool,
}

impl SyncState {
    /// Starts from a stored checkpoint (or the default for a new organisation).
    pub fn new(checkpoint: Checkpoint, limit: u32) -> Self {
        SyncState {
            checkpoint,
            limit: limit.clamp(1, MAX_PAGE_LIMIT),
            round_done: false,
        }
    }

    /// Starts a new round (for example after the sync interval).
    pub fn start_round(&mut self) {
        self.round_done = false;
    }

    /// The call to make next, or `None` when the round is over.
    pub fn next_step(&self) -> Option<Step> {
        if self.round_done {
            return None;
        }
        let cp = &self.checkpoint;
        let req = DeviceListRequest::new(cp.cursor.clone(), Some(self.limit));
        match (cp.phase, cp.fetch_complete, cp.cursor.is_some()) {
            (Phase::Sync, true, true) => Some(Step::Sync(SyncDevices(req))),
            _ => Some(Step::Fetch(FetchDevices(req))),
        }
    }

    /// Interprets a page answering [`SyncState::next_step`]. Nothing is committed yet.
    pub fn on_page(&self, step: &Step, response: DeviceListResponse) -> Page {
        let (phase, sent_cursor) = match step {
            Step::Fetch(f) => (Phase::Fetch, f.0.cursor.as_deref()),
            Step::Sync(s) => (Phase::Sync, s.0.cursor.as_deref()),
        };
        let new_cursor = response
            .cursor
            .clone()
            .filter(|c| !c.is_empty())
            .or_else(|| sent_cursor.map(str::to_string));
        let echoed = response.more_to_follow
            && sent_cursor.is_some()
            && response.cursor.as_deref() == sent_cursor;
        let more = response.more_to_follow && !echoed;
        let next = match phase {
            Phase::Fetch if more => Checkpoint::new(new_cursor, Phase::Fetch, false),
            // The fetch is complete: its last cursor starts the sync feed.
            Phase::Fetch => Checkpoint::new(new_cursor, Phase::Sync, true),
            Phase::Sync => Checkpoint::new(new_cursor, Phase::Sync, true),
        };
        // A fetch page without a cursor and with more to follow cannot continue: end the
        // round rather than fetch the first page forever.
        let stuck = more && next.cursor.is_none();
        Page {
            phase,
            response,
            next,
            last: !more || stuck,
            echoed_cursor: echoed,
        }
    }

    /// Stores the page's checkpoint: call only after the caller kept the page's devices.
    pub fn commit(&mut self, page: &Page) {
        self.checkpoint = page.next.clone();
        if page.last {
            self.round_done = true;
        }
    }

    /// Decides how to recover from Apple's refusal of the current call.
    pub fn on_error(&mut self, error: &ApiError, attempt: u32, backoff: &Backoff) -> Recovery {
        if error.is_session_expired() {
            return Recovery::RenewSession;
        }
        if error.is_cursor_error() {
            self.checkpoint = Checkpoint::default();
            self.round_done = false;
            return Recovery::Refetch(self.checkpoint.clone());
        }
        if error.is_throttled() || error.status >= 500 {
            return match backoff.delay(attempt, error.retry_after) {
                Some(d) => Recovery::Backoff(d),
                None => Recovery::Fail,
            };
        }
        Recovery::Fail
    }
}

/// Exponential back-off with a cap, honouring `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backoff {
    /// The first delay.
    pub initial: std::time::Duration,
    /// The longest delay.
    pub max: std::time::Duration,
    /// How many retries before giving up.
    pub max_retries: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: std::time::Duration::from_secs(1),
            max: std::time::Duration::from_secs(300),
            max_retries: 10,
        }
    }
}

impl Backoff {
    /// A policy with these bounds.
    pub fn new(initial: std::time::Duration, max: std::time::Duration, max_retries: u32) -> Self {
        Backoff {
            initial,
            max,
            max_retries,
        }
    }

    /// The delay before retry number `attempt` (0-based), or `None` past `max_retries`.
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<std::time::Duration>,
    ) -> Option<std::time::Duration> {
        if attempt >= self.max_retries {
            return None;
        }
        let exp = self
            .initial
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max);
        Some(match retry_after {
            Some(ra) => ra.min(crate::error::MAX_RETRY_AFTER),
            None => exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Device;

    fn page(cursor: &str, more: bool, n: usize) -> DeviceListResponse {
        DeviceListResponse {
            devices: (0..n).map(|i| Device::new(format!("S{i}"))).collect(),
            cursor: Some(cursor.into()),
            more_to_follow: more,
            ..Default::default()
        }
    }

    #[test]
    fn fetch_then_sync() {
        let mut s = SyncState::new(Checkpoint::default(), 2);
        let step = s.next_step().unwrap();
        assert!(matches!(&step, Step::Fetch(f) if f.0.cursor.is_none()));
        let p = s.on_page(&step, page("c1", true, 2));
        assert!(!p.last);
        // not committed yet: the same call would be repeated
        assert_eq!(s.next_step(), Some(step.clone()));
        s.commit(&p);
        let step = s.next_step().unwrap();
        assert!(matches!(&step, Step::Fetch(f) if f.0.cursor.as_deref() == Some("c1")));
        let p = s.on_page(&step, page("c2", false, 1));
        assert!(p.last);
        s.commit(&p);
        assert_eq!(s.next_step(), None);
        s.start_round();
        let step = s.next_step().unwrap();
        assert!(matches!(&step, Step::Sync(f) if f.0.cursor.as_deref() == Some("c2")));
    }

    #[test]
    fn echoed_cursor_is_done() {
        let cp = Checkpoint::new(Some("c9".into()), Phase::Sync, true);
        let mut s = SyncState::new(cp, 100);
        let step = s.next_step().unwrap();
        let p = s.on_page(&step, page("c9", true, 0));
        assert!(p.echoed_cursor && p.last);
        s.commit(&p);
        assert_eq!(s.next_step(), None);
    }

    #[test]
    fn cursor_errors_refetch_and_throttling_backs_off() {
        let cp = Checkpoint::new(Some("old".into()), Phase::Sync, true);
        let mut s = SyncState::new(cp, 100);
        let b = Backoff::new(
            std::time::Duration::from_millis(10),
            std::time::Duration::from_millis(40),
            3,
        );
        let e = ApiError::from_response(400, None, b"EXPIRED_CURSOR");
        assert_eq!(
            s.on_error(&e, 0, &b),
            Recovery::Refetch(Checkpoint::default())
        );
        assert!(matches!(s.next_step(), Some(Step::Fetch(f)) if f.0.cursor.is_none()));
        let e = ApiError::from_response(400, None, b"THROTTLED");
        assert_eq!(
            s.on_error(&e, 0, &b),
            Recovery::Backoff(std::time::Duration::from_millis(10))
        );
        assert_eq!(s.on_error(&e, 5, &b), Recovery::Fail);
        assert_eq!(b.delay(2, None), Some(std::time::Duration::from_millis(40)));
        let e = ApiError::from_response(429, Some("2"), b"");
        assert_eq!(
            s.on_error(&e, 0, &b),
            Recovery::Backoff(std::time::Duration::from_secs(2))
        );
        let e = ApiError::from_response(401, None, b"");
        assert_eq!(s.on_error(&e, 0, &b), Recovery::RenewSession);
        let e = ApiError::from_response(403, None, b"ACCESS_DENIED");
        assert_eq!(s.on_error(&e, 0, &b), Recovery::Fail);
    }
}
