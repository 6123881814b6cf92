//! The one thread that owns the SQLite connection.
//!
//! SQLite serialises writers anyway, and rusqlite is synchronous: every call of
//! [`SqliteStorage`](super::SqliteStorage) is a job sent to this thread, which runs the jobs
//! one after the other, and the caller awaits the answer. Under load the jobs queue up and the
//! thread runs them back to back without sleeping; with a thread per call (tokio's blocking
//! pool) and a mutex around the connection, tens of threads took turns on the mutex, and
//! their futex waits and context switches cost more CPU than the statements themselves.

use super::backend;
use crate::storage::{Result, StorageError};
use rusqlite::Connection;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

/// A call to run on the connection.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The handle of the connection's thread: cloning it shares the thread; the thread (and the
/// connection) ends when the last handle is dropped and the jobs sent before have run.
#[derive(Debug, Clone)]
pub(super) struct Worker {
    jobs: mpsc::Sender<Job>,
}

fn stopped() -> StorageError {
    StorageError::Config("the SQLite connection's thread has stopped".into())
}

impl Worker {
    /// Moves `conn` to a thread of its own.
    pub(super) fn start(conn: Connection) -> Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite".into())
            .spawn(move || {
                let mut conn = conn;
                while let Ok(job) = queue.recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| StorageError::Config(format!("starting the SQLite thread: {e}")))?;
        Ok(Worker { jobs })
    }

    /// Runs `f` on the connection's thread and returns its result. A panic in `f` fails
    /// this call only (a transaction it left open is rolled back as it unwinds).
    pub(super) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let out = std::panic::catch_unwind(AssertUnwindSafe(|| f(conn)));
            // The caller may have gone (its future dropped): nobody wants the answer then.
            let _ = answer.send(out);
        });
        self.jobs.send(job).map_err(|_| stopped())?;
        match answered.await {
            Ok(Ok(out)) => out.map_err(backend),
            Ok(Err(_)) => Err(StorageError::Config("a SQLite call panicked".into())),
            Err(_) => Err(stopped()),
        }
    }
}
