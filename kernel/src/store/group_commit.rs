//! Group commit for SQLite's busiest writes (checkout). SQLite has one writer at a time, and
//! every commit appends each page it touched to the WAL: a checkout touches some thirty pages
//! (the tails of orders, lines, adjustments, history, events and their indexes, and the SKUs'
//! pages), nearly all of them the same pages the previous checkout touched. One thread takes
//! the queued jobs together: one `BEGIN IMMEDIATE`, each job inside its own savepoint (a job
//! that fails rolls back alone), one `COMMIT`, and only then is each job told how its
//! transaction ended. Under load the shared pages are written once per group instead of once
//! per order; alone, a job is a transaction of its own and waits for nobody.
//!
//! The thread borrows the writer connection from the writer pool for each group, so other
//! write transactions (`in_tx!`) keep taking their turns between groups. It drives the
//! connection's SQLite handle itself (`DirectSqlite`): through sqlx every statement, and every
//! row it returns, is a hand-off between two threads, and those wake-ups, not SQLite, were the
//! writer's ceiling (see ARCHITECTURE.md for the figures).

use std::future::Future;
use std::pin::Pin;

use sqlx::SqlitePool;
use sqlx::sqlite::LockedSqliteHandle;
use tokio::sync::mpsc;

use super::batch::{DirectSqlite, direct_error};

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
    dyn for<'c> FnOnce(&'c mut DirectSqlite) -> Pin<Box<dyn Future<Output = Ran> + Send + 'c>>
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
    /// Starts the committing thread; it ends when the last handle is dropped. The thread runs
    /// its own single-threaded runtime: it blocks on SQLite while a group runs, which no
    /// shared runtime thread may do.
    pub(crate) fn start(writer: SqlitePool) -> std::io::Result<GroupCommit> {
        let (jobs, queue) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("group-commit".to_owned())
            .spawn(move || runtime.block_on(run(writer, queue)))?;
        Ok(GroupCommit { jobs })
    }

    /// Queues `job`; its `then` reports the outcome. `Err` when the thread has ended.
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
    let mut connection = writer.acquire().await?;
    let mut locked = connection.lock_handle().await?;
    let mut db = DirectSqlite::new(borrow_handle(&mut locked)?);
    let outcome = run_jobs(&mut db, jobs, thens).await;
    if outcome.is_err() && !db.0.is_autocommit() {
        // The connection goes back to the pool outside any transaction, whatever failed.
        if let Err(error) = db.0.execute_batch("ROLLBACK") {
            tracing::error!(%error, "rolling back a failed checkout group failed");
        }
    }
    // The borrowed handle is given up before sqlx's worker may use it again.
    drop(db);
    drop(locked);
    outcome
}

async fn run_jobs(
    db: &mut DirectSqlite,
    jobs: impl Iterator<Item = Job>,
    thens: &mut Vec<Then>,
) -> Result<(), sqlx::Error> {
    db.control("BEGIN IMMEDIATE")?;
    for job in jobs {
        // Savepoints of one name nest; `ROLLBACK TO` undoes only the newest, this job's.
        db.control("SAVEPOINT job")?;
        let ran = job(db).await;
        thens.push(ran.then);
        if !ran.keep {
            db.control("ROLLBACK TO job")?;
        }
    }
    db.control("COMMIT")
}

/// The writer connection's SQLite handle as a rusqlite connection that does not own it.
#[expect(
    unsafe_code,
    reason = "rusqlite takes a foreign SQLite handle only through an unsafe constructor"
)]
fn borrow_handle(locked: &mut LockedSqliteHandle<'_>) -> Result<rusqlite::Connection, sqlx::Error> {
    // SAFETY: the handle is open and, while `locked` lives, sqlx's worker makes no call on it
    // or its statements (`LockedSqliteHandle::as_raw_handle`). A connection made by
    // `from_handle` never closes the handle, and `run_group` drops it before `locked`.
    unsafe { rusqlite::Connection::from_handle(locked.as_raw_handle().as_ptr()) }
        .map_err(direct_error)
}

/// `sqlx::Error` is not `Clone`; every job of a failed group hears the same message.
fn copy_error(err: &sqlx::Error) -> sqlx::Error {
    sqlx::Error::Protocol(format!("the group's transaction failed: {err}"))
}
