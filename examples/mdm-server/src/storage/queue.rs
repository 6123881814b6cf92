//! The command queue: the storage primitives the queue rules of [`crate::queue`] are written over (enqueue, take, defer, requeue, reports, cancel, retention).

use super::*;

/// Chooses, from waiting targets in queue order, the one to hand over next (its index), or
/// `None`: the queue rules' [`crate::queue::pick`], given to [`QueueStore::take_next`].
pub type Chooser = Box<dyn FnMut(&[QueueEntry]) -> Option<usize> + Send>;

/// What [`QueueStore::take_next`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TakenNext {
    /// The command handed over, if any.
    pub command: Option<QueuedCommand>,
    /// How many waiting targets were read (at most the call's `limit`).
    pub read: usize,
}

impl TakenNext {
    /// The outcome of a [`QueueStore::take_next`] that read `read` targets.
    pub fn new(command: Option<QueuedCommand>, read: usize) -> Self {
        TakenNext { command, read }
    }
}

/// The command queue: the storage primitives the queue rules of [`crate::queue`] are written over (enqueue, take, defer, requeue, reports, cancel, retention).
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Stores a command and queues it for every enrollment in `targets` (duplicates ignored).
    async fn enqueue(&self, command: &NewCommand, targets: &[String], now: Timestamp)
    -> Result<()>;

    /// Hands a waiting target to its device: records `sent_at` (and `first_sent_at` when not
    /// already in flight) and returns the command, or `None` when the target is no longer
    /// waiting (answered, cancelled) or the command has expired.
    async fn take(&self, id: &str, uuid: &str, now: Timestamp) -> Result<Option<QueuedCommand>>;

    /// Reads the first `limit` waiting targets of an enrollment (as [`QueueStore::queue`])
    /// and hands over (as [`QueueStore::take`]) the one `choose` picks; when that one can no
    /// longer be taken, `choose` picks again among the targets after it, until it picks
    /// none. A backend may do it all in one call (one round trip, one transaction); the
    /// default is [`QueueStore::queue`] and then [`QueueStore::take`].
    async fn take_next(
        &self,
        id: &str,
        now: Timestamp,
        limit: u32,
        mut choose: Chooser,
    ) -> Result<TakenNext> {
        let entries = self.queue(id, now, limit).await?;
        let mut rest = entries.as_slice();
        while let Some(at) = choose(rest) {
            let Some(entry) = rest.get(at) else {
                break;
            };
            if let Some(command) = self.take(id, &entry.uuid, now).await? {
                return Ok(TakenNext::new(Some(command), entries.len()));
            }
            rest = rest.get(at + 1..).unwrap_or_default();
        }
        Ok(TakenNext::new(None, entries.len()))
    }

    /// Moves a target answered `NotNow` back in the queue: ready again at `ready_at`, no
    /// longer in flight, its `NotNow` count one higher. Returns false when it is not waiting.
    async fn defer(&self, id: &str, uuid: &str, ready_at: Timestamp) -> Result<bool>;

    /// One target of a command, as [`QueueStore::queue`] shows it, while it waits (queued or
    /// `NotNow`, expired or not); `None` otherwise.
    async fn waiting_target(&self, id: &str, uuid: &str) -> Result<Option<QueueEntry>>;

    /// Puts in-flight targets of a command (all, or only `id`'s) back at the head of their
    /// queues: not in flight, ready at `now`. Returns how many.
    async fn requeue(&self, uuid: &str, id: Option<&str>, now: Timestamp) -> Result<u64>;

    /// Targets in flight since `before` or earlier (first handed to the device then, not
    /// answered since, command not expired), oldest first, at most `limit`.
    async fn in_flight_since(&self, before: Timestamp, limit: u32) -> Result<Vec<InFlight>>;

    /// The UUID of the command queued with an idempotency key, if any.
    async fn command_for_key(&self, key: &str) -> Result<Option<String>>;

    /// Records a device's report on a command. A target that already has a final status
    /// is left as it is ([`ReportOutcome::Repeated`]); cancelled targets take the report.
    async fn record_report_with_events(
        &self,
        id: &str,
        uuid: &str,
        status: &str,
        report: &[u8],
        now: Timestamp,
        events: &[Event],
    ) -> Result<ReportOutcome>;

    /// [`QueueStore::record_report_with_events`] and then [`QueueStore::take_next`] for the
    /// same enrollment, in one call (one round trip and one transaction for a backend that
    /// can; the default calls one, then the other). Not for a `NotNow` report: its back-off
    /// is recorded before the next command is picked.
    #[allow(
        clippy::too_many_arguments,
        reason = "the two calls' arguments, which share `id` and `now`"
    )]
    async fn record_report_and_take_next(
        &self,
        id: &str,
        uuid: &str,
        status: &str,
        report: &[u8],
        now: Timestamp,
        events: &[Event],
        limit: u32,
        choose: Chooser,
    ) -> Result<(ReportOutcome, TakenNext)> {
        let outcome = self
            .record_report_with_events(id, uuid, status, report, now, events)
            .await?;
        Ok((outcome, self.take_next(id, now, limit, choose).await?))
    }

    /// [`QueueStore::record_report_with_events`] without events.
    async fn record_report(
        &self,
        id: &str,
        uuid: &str,
        status: &str,
        report: &[u8],
        now: Timestamp,
    ) -> Result<ReportOutcome> {
        self.record_report_with_events(id, uuid, status, report, now, &[])
            .await
    }

    /// Keeps a report that could not be decoded or matched (only the newest
    /// [`MAX_BAD_REPORTS`] are kept).
    async fn record_bad_report(&self, report: &BadReport) -> Result<()>;

    /// The most recent bad reports, newest first.
    async fn bad_reports(&self, limit: u32) -> Result<Vec<BadReport>>;

    /// Deletes what finished before `before`: commands (with their targets and reports)
    /// whose every target has a final status last changed before it, commands that expired
    /// before it, and bad reports received before it. A command with a queued or `NotNow`
    /// target that has not expired is never deleted.
    async fn prune(&self, before: Timestamp) -> Result<Pruned>;

    /// A command and the status of each target.
    async fn command(&self, uuid: &str, now: Timestamp) -> Result<Option<CommandRecord>>;

    /// The commands still waiting for an enrollment (queued or `NotNow`; expired ones left
    /// out), in queue order: higher priority first, then earlier `ready_at`, then arrival;
    /// at most `limit`.
    async fn queue(&self, id: &str, now: Timestamp, limit: u32) -> Result<Vec<QueueEntry>>;

    /// Cancels everything waiting for an enrollment; returns how many targets.
    async fn clear_queue(&self, id: &str, now: Timestamp) -> Result<u64>;

    /// Cancels a command for every target that has not answered; returns how many.
    async fn cancel_command(&self, uuid: &str, now: Timestamp) -> Result<u64>;

    /// Counts the waiting targets of every enrollment at `now`; those first sent at
    /// `stalled_before` or earlier count as stalled. One pass over the waiting targets.
    async fn queue_stats(&self, now: Timestamp, stalled_before: Timestamp) -> Result<QueueStats>;

    /// Cancels a command for one target if it has not answered; returns how many (0 or 1).
    async fn cancel_target(&self, id: &str, uuid: &str, now: Timestamp) -> Result<u64>;
}
