//! Group commit for SQLite's busiest writes (checkout). SQLite has one writer at a time, and
//! every commit appends each page it touched to the WAL: a checkout touches some thirty pages
//! (the tails of orders, lines, adjustments, history, events, messages and their indexes, and
//! the SKUs' pages), nearly all of them the same pages the previous checkout touched. One task
//! takes the queued jobs together: one `BEGIN IMMEDIATE`, each job inside its own savepoint (a
//! job that fails rolls back alone), one `COMMIT`, and only then is each job told how its
//! transaction ended. Under load the shared pages are written once per group instead of once
//! per order; alone, a job is a transaction of its own and waits for nobody.
//!
//! The task borrows the writer connection from the writer pool for each group, so other write
//! transactions (`in_tx!`) keep taking their turns between groups.

use std::future::Future;
use std::pin::Pin;

use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::mpsc;

/// What a job hands back once it has run: whether its savepoint is kept, and what to do once
/// the group's transaction has ended (`Ok` only when it committed).
pub(crate) struct Ran {
    pub keep: bool,
    pub then: Then,
}

/// Told how the group's transaction ended.
pub(crate) type Then = Box<dyn FnOnce(Result<(), sqlx::Error>) + Send>;

/// A unit of work run inside the group's transaction.
pub(crate) type Job = Box<
    dyn for<'c> FnOnce(&'c mut SqliteConnection) -> Pin<Box<dyn Future<Output = Ran> + Send + 'c>>
        + Send,
>;

/// The most jobs in one transaction: enough to share the pages, few enough that a group's
/// commit does not keep the first job's client waiting long.
const MAX_GROUP: usize = 64;

/// The handle jobs are queued through; cloned with the store.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    jobs: mpsc::UnboundedSender<Job>,
}

impl GroupCommit {
    /// Starts the committing task on the current Tokio runtime; it ends when the last handle
    /// is dropped.
    pub(crate) fn start(writer: SqlitePool) -> GroupCommit {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(run(writer, queue));
        GroupCommit { jobs }
    }

    /// Queues `job`; its `then` reports the outcome. `Err` when the task has ended.
    pub(crate) fn submit(&self, job: Job) -> Result<(), sqlx::Error> {
        self.jobs.send(job).map_err(|_| sqlx::Error::PoolClosed)
    }
}

async fn run(writer: SqlitePool, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut group: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        let mut thens = Vec::with_capacity(group.len());
        let outcome = run_group(&writer, group.drain(..), &mut thens).await;
        for then in thens {
            then(outcome.as_ref().map(|_| ()).map_err(copy_error));
        }
        // Jobs that never ran (the transaction could not start) are dropped: their callers
        // see the closed channel as a failure.
    }
}

async fn run_group(
    writer: &SqlitePool,
    jobs: impl Iterator<Item = Job>,
    thens: &mut Vec<Then>,
) -> Result<(), sqlx::Error> {
    // A transaction object, not a bare BEGIN: dropped unfinished (an error, a shutdown), it
    // rolls back before the connection goes back to the pool.
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    for job in jobs {
        // Savepoints of one name nest; `ROLLBACK TO` undoes only the newest, this job's.
        sqlx::raw_sql("SAVEPOINT job").execute(&mut *tx).await?;
        let ran = job(&mut tx).await;
        thens.push(ran.then);
        if !ran.keep {
            sqlx::raw_sql("ROLLBACK TO job").execute(&mut *tx).await?;
        }
    }
    tx.commit().await
}

/// `sqlx::Error` is not `Clone`; every job of a failed group hears the same message.
fn copy_error(err: &sqlx::Error) -> sqlx::Error {
    sqlx::Error::Protocol(format!("the group's transaction failed: {err}"))
}
