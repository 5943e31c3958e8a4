//! Work longer than a page should wait for — an import of up to 100,000 rows, an export, a
//! backup, a restore, a script replay: a form starts a job, the job runs on the runtime beside
//! the requests, and its page shows how far it is until it is done (the back office's
//! `/admin/jobs/{id}`, which reloads itself, so it needs no JavaScript).
//!
//! Jobs live in memory. A restart loses what a running job had got to, never data: an import
//! and a restore each write in one transaction (all in or nothing), and an export or a backup
//! is simply made again. Every effect is bounded: at most [`PER_OWNER`] running for one person
//! and [`RUNNING`] in all (one more is refused `jobs_busy`), finished jobs kept [`KEEP_MS`] and
//! at most [`KEPT`] (the oldest forgotten first), the files they made at most [`FILE_BYTES`] in
//! all (the oldest dropped first, its job then saying so). A job is its owner's: no one else can see it or its file.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::FutureExt;
use serde::Serialize;

use crate::clock::Clock;
use crate::error::ApiError;

/// Jobs one person may have running at once.
pub const PER_OWNER: usize = 2;
/// Jobs running at once in all: each may keep a core busy, and the shop must go on serving.
pub const RUNNING: usize = 4;
/// How long a finished job (and its file) is kept.
pub const KEEP_MS: i64 = 60 * 60 * 1000;
/// Jobs kept in all, running ones included (the oldest finished go first).
pub const KEPT: usize = 200;
/// Bytes of finished jobs' files kept in all.
pub const FILE_BYTES: usize = 256 * 1024 * 1024;

/// How far a job is: the stage it is in (a key its page words, `reading`, `writing` …) and
/// how many of that stage's steps are done. Cheap to clone and to advance from inside a loop;
/// work run outside a job advances a `Progress::default()` no one reads.
#[derive(Clone, Default)]
pub struct Progress(Arc<Counter>);

#[derive(Default)]
struct Counter {
    stage: Mutex<&'static str>,
    done: AtomicU64,
    total: AtomicU64,
}

/// A job's progress as its page shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProgressView {
    pub stage: &'static str,
    pub done: u64,
    /// 0 when the stage's size is not known.
    pub total: u64,
    /// Of the stage, when its size is known.
    pub percent: Option<u64>,
}

impl Progress {
    /// A new stage of `total` steps (0: not known), none done.
    pub fn stage(&self, stage: &'static str, total: u64) {
        *lock(&self.0.stage) = stage;
        self.0.total.store(total, Ordering::Relaxed);
        self.0.done.store(0, Ordering::Relaxed);
    }

    /// `steps` more of the stage done.
    pub fn advance(&self, steps: u64) {
        self.0.done.fetch_add(steps, Ordering::Relaxed);
    }

    pub fn view(&self) -> ProgressView {
        let stage = *lock(&self.0.stage);
        let total = self.0.total.load(Ordering::Relaxed);
        let done = self.0.done.load(Ordering::Relaxed).min(total.max(1));
        ProgressView {
            stage,
            done: if total == 0 { 0 } else { done },
            total,
            percent: (total > 0).then(|| done.saturating_mul(100) / total),
        }
    }
}

/// A file a job made, for its owner to download (cheap to clone: the bytes are shared).
#[derive(Clone)]
pub struct JobFile {
    pub name: String,
    pub content_type: &'static str,
    pub bytes: axum::body::Bytes,
}

impl JobFile {
    /// The file as a download: its type, and its name for the browser to save it under.
    pub fn download(self) -> axum::response::Response {
        use axum::response::IntoResponse;
        (
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    self.content_type.to_owned(),
                ),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}\"", self.name),
                ),
            ],
            self.bytes,
        )
            .into_response()
    }
}

/// Runs CPU-heavy `work` (reading or writing a spreadsheet of 100,000 rows) on a blocking
/// thread, so the runtime's threads go on serving requests meanwhile.
pub async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)
}

/// What a job that went through came to: what its page shows (`outcome`, serialised from
/// the work's own result), and perhaps a file.
pub struct Finished {
    pub outcome: serde_json::Value,
    pub file: Option<JobFile>,
}

impl Finished {
    pub fn of(outcome: &impl Serialize) -> Finished {
        Finished {
            outcome: serde_json::to_value(outcome).unwrap_or(serde_json::Value::Null),
            file: None,
        }
    }

    pub fn with_file(mut self, file: JobFile) -> Finished {
        self.file = Some(file);
        self
    }
}

/// Where a job is.
pub enum JobState {
    Running,
    Done(Finished),
    /// Refused or failed as the same work would be over the API, with the same error.
    Failed(ApiError),
}

/// One job.
pub struct Job {
    /// 128 random bits, hex: its page's address, not guessable (its owner is checked too).
    pub id: String,
    /// What it does (`import`, `goods_export` …): its page's words and outcome follow it.
    pub kind: &'static str,
    /// Who started it: the only one who sees it.
    pub owner: i64,
    pub started_ms: i64,
    pub progress: Progress,
    state: Mutex<JobState>,
    finished_ms: Mutex<Option<i64>>,
    /// Its file was dropped to keep [`FILE_BYTES`].
    file_dropped: std::sync::atomic::AtomicBool,
}

impl Job {
    /// Its state, locked for as long as the guard lives (to read an outcome without a copy).
    pub fn state(&self) -> MutexGuard<'_, JobState> {
        lock(&self.state)
    }

    pub fn is_running(&self) -> bool {
        matches!(*self.state(), JobState::Running)
    }

    pub fn finished_ms(&self) -> Option<i64> {
        *lock(&self.finished_ms)
    }

    /// Whether it made a file that was dropped to keep the others.
    pub fn file_dropped(&self) -> bool {
        self.file_dropped.load(Ordering::Relaxed)
    }

    fn file_bytes(&self) -> usize {
        match &*self.state() {
            JobState::Done(Finished {
                file: Some(file), ..
            }) => file.bytes.len(),
            _ => 0,
        }
    }

    fn drop_file(&self) {
        if let JobState::Done(finished) = &mut *self.state()
            && finished.file.take().is_some()
        {
            self.file_dropped.store(true, Ordering::Relaxed);
        }
    }
}

/// The jobs of every person, running and recently finished.
pub struct Jobs {
    clock: Clock,
    jobs: Mutex<Vec<Arc<Job>>>,
}

impl Jobs {
    pub fn new(clock: Clock) -> Jobs {
        Jobs {
            clock,
            jobs: Mutex::new(Vec::new()),
        }
    }

    /// Starts `work` for `owner` on the runtime and returns its job at once; the work is
    /// given the job's progress to advance. Refused `jobs_busy` (429) when `owner` already
    /// has [`PER_OWNER`] running or the shop [`RUNNING`]: nothing is started then.
    pub fn start<W, F>(&self, owner: i64, kind: &'static str, work: W) -> Result<Arc<Job>, ApiError>
    where
        W: FnOnce(Progress) -> F,
        F: Future<Output = Result<Finished, ApiError>> + Send + 'static,
    {
        let now = self.clock.now_ms();
        let job = {
            let mut jobs = lock(&self.jobs);
            // Room for the new one.
            prune(&mut jobs, now, KEPT - 1);
            let running: Vec<&Arc<Job>> = jobs.iter().filter(|j| j.is_running()).collect();
            let own = running.iter().filter(|j| j.owner == owner).count();
            if own >= PER_OWNER {
                return Err(ApiError::too_many(
                    "jobs_busy",
                    format!(
                        "您已有{own}个后台任务在进行，请等其完成后再试 (you have {own} jobs running; at most {PER_OWNER})"
                    ),
                    5,
                ));
            }
            if running.len() >= RUNNING {
                return Err(ApiError::too_many(
                    "jobs_busy",
                    format!(
                        "后台任务较多，请稍后再试 (the shop is running {} jobs; at most {RUNNING})",
                        running.len()
                    ),
                    5,
                ));
            }
            let job = Arc::new(Job {
                id: {
                    let mut bits = [0u8; 16];
                    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bits);
                    hex::encode(bits)
                },
                kind,
                owner,
                started_ms: now,
                progress: Progress::default(),
                state: Mutex::new(JobState::Running),
                finished_ms: Mutex::new(None),
                file_dropped: std::sync::atomic::AtomicBool::new(false),
            });
            jobs.push(job.clone());
            job
        };
        let work = work(job.progress.clone());
        let running = job.clone();
        let clock = self.clock.clone();
        tokio::spawn(async move {
            let result = match AssertUnwindSafe(work).catch_unwind().await {
                Ok(result) => result,
                Err(_) => Err(ApiError::internal(anyhow::anyhow!(
                    "job {} ({}) panicked",
                    running.id,
                    running.kind
                ))),
            };
            *lock(&running.finished_ms) = Some(clock.now_ms());
            *running.state() = match result {
                Ok(finished) => JobState::Done(finished),
                Err(error) => JobState::Failed(error),
            };
        });
        Ok(job)
    }

    /// `owner`'s job `id`; none when it is someone else's, unknown, or no longer kept.
    pub fn find(&self, owner: i64, id: &str) -> Option<Arc<Job>> {
        let mut jobs = lock(&self.jobs);
        prune(&mut jobs, self.clock.now_ms(), KEPT);
        jobs.iter()
            .find(|job| job.id == id && job.owner == owner)
            .cloned()
    }

    /// `owner`'s jobs kept, newest first.
    pub fn of_owner(&self, owner: i64) -> Vec<Arc<Job>> {
        let mut jobs = lock(&self.jobs);
        prune(&mut jobs, self.clock.now_ms(), KEPT);
        jobs.iter()
            .rev()
            .filter(|job| job.owner == owner)
            .cloned()
            .collect()
    }
}

/// Forgets finished jobs older than [`KEEP_MS`] and the oldest finished ones past `keep`
/// (running jobs are at most [`RUNNING`]), then drops the oldest finished jobs' files past
/// [`FILE_BYTES`]. Room is made for a new job this way, so a busy hour never refuses one.
fn prune(jobs: &mut Vec<Arc<Job>>, now: i64, keep: usize) {
    jobs.retain(|job| {
        job.finished_ms()
            .is_none_or(|finished| now.saturating_sub(finished) < KEEP_MS)
    });
    let mut excess = jobs.len().saturating_sub(keep);
    // Oldest first.
    jobs.retain(|job| {
        if excess > 0 && !job.is_running() {
            excess -= 1;
            false
        } else {
            true
        }
    });
    let mut kept_bytes = 0usize;
    // Newest first, so the files dropped are the oldest.
    for job in jobs.iter().rev() {
        let bytes = job.file_bytes();
        if kept_bytes.saturating_add(bytes) > FILE_BYTES {
            job.drop_file();
        } else {
            kept_bytes = kept_bytes.saturating_add(bytes);
        }
    }
}

/// A poisoned lock only means a job panicked while holding it; what it guards (a counter, a
/// state written whole) is still whole.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn finished(job: &Job) {
        for _ in 0..500 {
            if !job.is_running() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("job {} did not finish", job.kind);
    }

    #[tokio::test]
    async fn a_job_shows_its_progress_then_its_outcome_to_its_owner_only() {
        let clock = Clock::movable();
        let jobs = Jobs::new(clock.clone());
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let job = jobs
            .start(7, "import", |progress| async move {
                progress.stage("writing", 4);
                progress.advance(1);
                let _ = wait.await;
                progress.advance(3);
                Ok(Finished::of(&serde_json::json!({ "rows": 4 })))
            })
            .expect("started");
        let mut seen = job.progress.view();
        for _ in 0..500 {
            if seen.done == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
            seen = job.progress.view();
        }
        assert_eq!(
            seen,
            ProgressView {
                stage: "writing",
                done: 1,
                total: 4,
                percent: Some(25)
            }
        );
        assert!(job.is_running());
        assert!(jobs.find(8, &job.id).is_none(), "someone else's job");
        assert!(jobs.find(7, "0123").is_none());
        go.send(()).expect("the job waits");
        finished(&job).await;
        assert_eq!(job.progress.view().percent, Some(100));
        match &*jobs.find(7, &job.id).expect("kept").state() {
            JobState::Done(done) => assert_eq!(done.outcome["rows"], 4),
            _ => panic!("not done"),
        }
        clock.advance_ms(KEEP_MS);
        assert!(jobs.find(7, &job.id).is_none(), "forgotten after an hour");
    }

    #[tokio::test]
    async fn a_third_job_of_one_person_is_refused_and_a_panic_is_a_failure() {
        let jobs = Jobs::new(Clock::movable());
        let (go, wait) = tokio::sync::watch::channel(false);
        let held = |mut wait: tokio::sync::watch::Receiver<bool>| async move {
            let _ = wait.wait_for(|go| *go).await;
            Ok(Finished::of(&1))
        };
        let first = jobs
            .start(1, "export", |_| held(wait.clone()))
            .expect("first");
        let _second = jobs
            .start(1, "export", |_| held(wait.clone()))
            .expect("second");
        let refused = jobs
            .start(1, "export", |_| held(wait.clone()))
            .err()
            .expect("a third is refused");
        assert_eq!(refused.code, "jobs_busy");
        assert_eq!(refused.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(jobs.of_owner(1).len(), 2, "the refused one was not kept");
        let other = jobs
            .start(2, "backup", |_| async {
                if std::hint::black_box(true) {
                    panic!("broken work");
                }
                Ok(Finished::of(&()))
            })
            .expect("another person's");
        finished(&other).await;
        assert!(matches!(&*other.state(), JobState::Failed(e) if e.code == "internal"));
        go.send(true).expect("held");
        finished(&first).await;
        jobs.start(1, "export", |_| held(wait.clone()))
            .expect("a slot again");
    }

    #[tokio::test]
    async fn the_oldest_finished_jobs_make_room_for_new_ones() {
        let jobs = Jobs::new(Clock::movable());
        let mut first = None;
        for n in 0..=KEPT {
            let job = jobs
                .start(1, "export", |_| async { Ok(Finished::of(&())) })
                .unwrap_or_else(|e| panic!("job {n} refused: {}", e.message));
            finished(&job).await;
            first.get_or_insert(job.id.clone());
        }
        assert_eq!(jobs.of_owner(1).len(), KEPT);
        assert!(jobs.find(1, first.as_deref().unwrap_or_default()).is_none());
    }

    #[tokio::test]
    async fn the_oldest_files_are_dropped_past_the_byte_limit() {
        let jobs = Jobs::new(Clock::movable());
        let file = |size: usize| JobFile {
            name: "a.xlsx".to_owned(),
            content_type: "application/octet-stream",
            bytes: axum::body::Bytes::from(vec![0u8; size]),
        };
        let old = jobs
            .start(1, "export", |_| async move {
                Ok(Finished::of(&()).with_file(file(FILE_BYTES / 2 + 1)))
            })
            .expect("old");
        finished(&old).await;
        let new = jobs
            .start(1, "export", |_| async move {
                Ok(Finished::of(&()).with_file(file(FILE_BYTES / 2 + 1)))
            })
            .expect("new");
        finished(&new).await;
        assert!(jobs.find(1, &new.id).is_some());
        assert!(old.file_dropped() && !new.file_dropped());
        assert_eq!(new.file_bytes(), FILE_BYTES / 2 + 1);
    }
}
