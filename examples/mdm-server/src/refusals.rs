//! Refusals: every request the server turns away is counted by reason, and logged at most
//! [`LOG_PER_SECOND`] times a second per reason (the rest are counted and summarised in the
//! next line logged for that reason), so one misdirected or hostile client cannot flood
//! the log.
//!
//! The counts are shown by `GET /v1/stats`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// Log lines per reason and second.
pub const LOG_PER_SECOND: u32 = 5;

#[derive(Debug)]
struct Entry {
    count: u64,
    window: Instant,
    logged_in_window: u32,
    suppressed: u64,
}

/// Refusal counters and the log's rate limit.
#[derive(Debug, Default)]
pub struct Refusals {
    entries: Mutex<BTreeMap<&'static str, Entry>>,
}

impl Refusals {
    /// No refusals yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a refusal for `reason` (a short stable name such as `"identity"` or
    /// `"body-too-large"`) with its HTTP status, and logs `detail` unless this reason
    /// already logged [`LOG_PER_SECOND`] lines in the last second.
    pub fn record(&self, reason: &'static str, status: u16, detail: &dyn std::fmt::Display) {
        let now = Instant::now();
        let (log, suppressed) = {
            let Ok(mut entries) = self.entries.lock() else {
                return;
            };
            let entry = entries.entry(reason).or_insert(Entry {
                count: 0,
                window: now,
                logged_in_window: 0,
                suppressed: 0,
            });
            entry.count = entry.count.saturating_add(1);
            if now.duration_since(entry.window).as_secs() >= 1 {
                entry.window = now;
                entry.logged_in_window = 0;
            }
            if entry.logged_in_window < LOG_PER_SECOND {
                entry.logged_in_window += 1;
                let suppressed = std::mem::take(&mut entry.suppressed);
                (true, suppressed)
            } else {
                entry.suppressed = entry.suppressed.saturating_add(1);
                (false, 0)
            }
        };
        if log {
            if suppressed > 0 {
                tracing::info!(reason, status, %detail, suppressed,
                    "request refused (more of this reason were not logged)");
            } else {
                tracing::info!(reason, status, %detail, "request refused");
            }
        }
    }

    /// How many refusals each reason has seen, by reason.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.entries
            .lock()
            .map(|e| e.iter().map(|(k, v)| (*k, v.count)).collect())
            .unwrap_or_default()
    }

    /// All refusals counted.
    pub fn total(&self) -> u64 {
        self.counts().values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_refusal() {
        let r = Refusals::new();
        for _ in 0..100 {
            r.record("identity", 401, &"no signature");
        }
        r.record("busy", 503, &"full");
        assert_eq!(r.counts().get("identity"), Some(&100));
        assert_eq!(r.total(), 101);
        let entries = r.entries.lock().unwrap_or_else(|e| e.into_inner());
        let identity = &entries["identity"];
        assert!(identity.suppressed >= 100 - u64::from(LOG_PER_SECOND) * 2);
    }
}
