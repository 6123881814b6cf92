//! The thread that copies the write-ahead log back into the database file.
//!
//! In WAL mode every commit appends its pages to the `-wal` file; a checkpoint copies them
//! into the database file and syncs it. SQLite's own checkpoint runs inside the commit that
//! crosses `wal_autocheckpoint` pages, on the connection's thread, so that commit pays for
//! every page written since the last one. With a large queue those pages are scattered (an
//! enqueue touches a random page of the command-UUID index and of the waiting-row index),
//! and the checkpoint's writes and sync made enqueue fall by about half between 30,000 and
//! 1,000,000 queued rows.
//!
//! This thread runs the same checkpoint (`PASSIVE`: it never blocks the connection, readers
//! or the writer) on a connection of its own, as soon as there are pages to copy, and again
//! while there are. The log only starts again from its beginning when a checkpoint has
//! copied all of it before the next write, which a busy writer rarely leaves time for: once
//! the log passes [`RESTART_PAGES`], the thread runs a `RESTART` checkpoint, which waits for
//! the writer's transaction, holds the next one back while it copies the few pages the
//! passive one left, and lets the next write start the log again. The connection's own
//! checkpoint stays as a backstop at [`WRITER_CHECKPOINT_PAGES`], should this thread stop.

use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// Pages in the log at which the connection checkpoints itself (the backstop; SQLite's
/// default is 1,000).
pub(super) const WRITER_CHECKPOINT_PAGES: u32 = 8_000;

/// Pages in the log from which the thread starts the log again (8 MiB at 4 KiB a page).
const RESTART_PAGES: i64 = 2_000;

/// How long a `RESTART` checkpoint waits for the writer and readers before giving up.
const RESTART_WAIT: Duration = Duration::from_secs(1);

/// How long the thread waits after a checkpoint that copied pages.
const BUSY_PAUSE: Duration = Duration::from_millis(20);

/// How long it waits after one that found nothing to copy.
const IDLE_PAUSE: Duration = Duration::from_millis(500);

/// Whether the storage is still open, and the condition the thread sleeps on.
#[derive(Debug, Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

/// The handle of the checkpoint thread: the thread ends when this is dropped (when the last
/// clone of the storage is).
#[derive(Debug)]
pub(super) struct Checkpointer {
    stop: Arc<Stop>,
}

impl Checkpointer {
    /// Opens a second connection to the database file at `path` and starts the thread.
    pub(super) fn start(path: PathBuf) -> std::io::Result<Self> {
        let stop = Arc::new(Stop::default());
        let theirs = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&path, &theirs))?;
        Ok(Checkpointer { stop })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        *self
            .stop
            .stopped
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.stop.wake.notify_all();
    }
}

/// The thread: checkpoints, then waits [`BUSY_PAUSE`] or [`IDLE_PAUSE`], until stopped. A
/// failure (the file gone, a busy lock) only skips that round: the connection's own
/// checkpoint still bounds the log.
fn run(path: &std::path::Path, stop: &Stop) {
    let Ok(conn) = Connection::open(path) else {
        return;
    };
    if conn.busy_timeout(RESTART_WAIT).is_err() {
        return;
    }
    // The log's (frames, frames copied) at the last round: any change means writes.
    let mut last = (0, 0);
    loop {
        let pause = match checkpoint(&conn, "PASSIVE") {
            Ok((log, _)) if log >= RESTART_PAGES => {
                // A failure (busy past RESTART_WAIT) is tried again next round.
                last = checkpoint(&conn, "RESTART").unwrap_or_default();
                BUSY_PAUSE
            }
            Ok(now) if now != last => {
                last = now;
                BUSY_PAUSE
            }
            Ok(_) | Err(_) => IDLE_PAUSE,
        };
        let stopped = stop.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        if *stopped {
            return;
        }
        let (stopped, _) = stop
            .wake
            .wait_timeout(stopped, pause)
            .unwrap_or_else(PoisonError::into_inner);
        if *stopped {
            return;
        }
    }
}

/// One checkpoint in `mode` (`PASSIVE` or `RESTART`): (frames in the log, frames copied
/// into the database so far).
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}
