//! The back office's long work (imports, exports, backups, restores, replays): the form that
//! asks for it starts a job (`crate::jobs`) and answers at once with the job's page, which
//! reloads itself until the job is done and then shows what it came to — the same result, or
//! the same refusal, the API gives for the same work. A job is its starter's, and opens only
//! while his permissions still open the screen it came from.

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::{Page, Visit, menu_for};
use crate::accounts::permissions::Actor;
use crate::catalog::transfer::RowError as ImportRowError;
use crate::edge::extract::Path;
use crate::error::{ApiError, ApiResult};
use crate::jobs::{Finished, Job, JobState, Jobs, Progress};
use crate::themes::office::MenuEntry;
use crate::themes::office::jobs::{JobError, JobFileView, JobLine, OfficeJobView};

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    Import,
    GoodsExport,
    OrdersExport,
    Backup,
    Restore,
    Replay,
}

impl Work {
    const ALL: [Work; 6] = [
        Work::Import,
        Work::GoodsExport,
        Work::OrdersExport,
        Work::Backup,
        Work::Restore,
        Work::Replay,
    ];

    /// Its key: the job's kind, the theme's words for it.
    pub fn key(self) -> &'static str {
        match self {
            Work::Import => "import",
            Work::GoodsExport => "goods_export",
            Work::OrdersExport => "orders_export",
            Work::Backup => "backup",
            Work::Restore => "restore",
            Work::Replay => "replay",
        }
    }

    fn of(key: &str) -> Option<Work> {
        Work::ALL.into_iter().find(|work| work.key() == key)
    }

    /// The menu's screen it is started from: its permissions open the job's page too.
    fn screen(self) -> &'static str {
        match self {
            Work::Import | Work::GoodsExport => "goods",
            Work::OrdersExport => "orders",
            Work::Backup | Work::Restore => "backups",
            Work::Replay => "pricing_script",
        }
    }

    /// Where that screen is.
    fn back(self) -> &'static str {
        match self {
            Work::Import | Work::GoodsExport => "/admin/goods",
            Work::OrdersExport => "/admin/orders",
            Work::Backup | Work::Restore => "/admin/backups",
            Work::Replay => "/admin/scripts/pricing",
        }
    }
}

/// Starts `run` as `actor`'s job of kind `work` and answers with its page's address. His
/// screen is asked for first, so a role without it learns nothing and starts nothing;
/// refused `jobs_busy` when he or the shop has too much running.
pub fn start<W, F>(jobs: &Jobs, actor: &Actor, work: Work, run: W) -> ApiResult<String>
where
    W: FnOnce(Progress) -> F,
    F: Future<Output = ApiResult<Finished>> + Send + 'static,
{
    menu_for(actor, work.screen())?;
    let job = jobs.start(actor.user_id, work.key(), run)?;
    Ok(job_href(&job.id))
}

pub fn job_href(id: &str) -> String {
    format!("/admin/jobs/{id}")
}

/// `actor`'s job `id`, what it does and his menu on its screen; refused as absent when it is
/// someone else's or no longer kept, and when his permissions no longer open its screen.
fn own_job(jobs: &Jobs, actor: &Actor, id: &str) -> ApiResult<(Arc<Job>, Work, Vec<MenuEntry>)> {
    let job = jobs
        .find(actor.user_id, id)
        .ok_or_else(ApiError::not_found)?;
    let work = Work::of(job.kind).ok_or_else(ApiError::not_found)?;
    let menu = menu_for(actor, work.screen())?;
    Ok((job, work, menu))
}

/// `replay`'s finished job of `actor`: what the editor shows (the typed source and the
/// replay); `None` while it runs.
pub fn finished_replay(
    jobs: &Jobs,
    actor: &Actor,
    id: &str,
) -> ApiResult<Option<serde_json::Value>> {
    let (job, work, _) = own_job(jobs, actor, id)?;
    if work != Work::Replay {
        return Err(ApiError::not_found());
    }
    Ok(match &*job.state() {
        JobState::Done(done) => Some(done.outcome.clone()),
        JobState::Running | JobState::Failed(_) => None,
    })
}

/// `GET /admin/jobs/{id}`: how far the job is (the page reloads itself while it runs), then
/// what it came to. A replay's outcome is the pricing editor's: it goes there when done.
pub async fn job(
    State(jobs): State<Arc<Jobs>>,
    State(shop): State<crate::shop::Shop>,
    visit: Visit,
    path: Result<Path<String>, ApiError>,
) -> Page {
    let view = async {
        let actor = visit.actor()?;
        let Path(id) = path?;
        let (job, work, menu) = own_job(&jobs, &actor, &id)?;
        let now = shop.clock.now_ms();
        let seconds = job
            .finished_ms()
            .unwrap_or(now)
            .saturating_sub(job.started_ms)
            / 1000;
        let mut view = OfficeJobView {
            menu,
            id: job.id.clone(),
            kind: job.kind,
            started_at: crate::clock::rfc3339(job.started_ms),
            seconds,
            state: "running",
            progress: job.progress.view(),
            outcome: serde_json::Value::Null,
            file: None,
            file_dropped: job.file_dropped(),
            error: None,
            back: work.back(),
        };
        match &*job.state() {
            JobState::Running => {}
            JobState::Done(done) => {
                if work == Work::Replay {
                    return Ok(Err(format!("{}?replay={}", work.back(), job.id)));
                }
                view.state = "done";
                view.outcome = done.outcome.clone();
                view.file = done.file.as_ref().map(|file| JobFileView {
                    name: file.name.clone(),
                    size_bytes: file.bytes.len(),
                });
            }
            JobState::Failed(error) => {
                view.state = "failed";
                view.error = Some(job_error(error));
            }
        }
        Ok(Ok(view))
    }
    .await;
    match view {
        Ok(Ok(view)) => visit.show(Ok(view)),
        Ok(Err(editor)) => visit.redirect(&editor),
        Err(error) => visit.show::<OfficeJobView>(Err(error)),
    }
}

/// A job's refusal as its page shows it: an import's problems listed by row and column, the
/// first [`JobError::ROWS_SHOWN`].
fn job_error(error: &ApiError) -> JobError {
    let rows: Vec<ImportRowError> = error
        .details
        .as_ref()
        .and_then(|details| details.get("rows"))
        .and_then(|rows| serde_json::from_value(rows.clone()).ok())
        .unwrap_or_default();
    JobError {
        code: error.code.to_owned(),
        field: error.field.clone(),
        message: error.message.clone(),
        rows_total: rows.len(),
        rows: rows.into_iter().take(JobError::ROWS_SHOWN).collect(),
    }
}

/// `GET /admin/jobs/{id}/file`: the file a job made (an export), to its starter only.
pub async fn job_file(
    State(jobs): State<Arc<Jobs>>,
    visit: Visit,
    path: Result<Path<String>, ApiError>,
) -> Response {
    let file = (|| {
        let actor = visit.actor()?;
        let Path(id) = path?;
        let (job, _, _) = own_job(&jobs, &actor, &id)?;
        match &*job.state() {
            JobState::Done(Finished {
                file: Some(file), ..
            }) => Ok(file.clone()),
            _ => Err(ApiError::not_found()),
        }
    })();
    match file {
        Ok(file) => file.download(),
        Err(error) => visit.show::<OfficeJobView>(Err(error)).into_response(),
    }
}

/// `actor`'s jobs of the last hour for the dashboard, newest first.
pub fn lines(jobs: &Jobs, actor: &Actor) -> Vec<JobLine> {
    jobs.of_owner(actor.user_id)
        .into_iter()
        .take(10)
        .map(|job| JobLine {
            id: job.id.clone(),
            kind: job.kind,
            state: match &*job.state() {
                JobState::Running => "running",
                JobState::Done(_) => "done",
                JobState::Failed(_) => "failed",
            },
            started_at: crate::clock::rfc3339(job.started_ms),
            percent: job.progress.view().percent,
        })
        .collect()
}
