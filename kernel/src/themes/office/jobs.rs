//! The office's page for long work (`job.html`): how far an import, an export, a backup, a
//! restore or a replay is, reloading itself until it is done, then what it came to.

use serde::Serialize;

use super::{MenuEntry, sample_menu};
use crate::catalog::transfer::RowError as ImportRowError;
use crate::jobs::ProgressView;
use crate::themes::views::PageView;

/// `job.html`: one job of the person looking.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeJobView {
    pub menu: Vec<MenuEntry>,
    pub id: String,
    /// `import`, `goods_export`, `orders_export`, `backup`, `restore` or `replay`.
    pub kind: &'static str,
    pub started_at: String,
    /// Seconds it has run (or ran, once finished).
    pub seconds: i64,
    /// `running`, `done` or `failed`.
    pub state: &'static str,
    pub progress: ProgressView,
    /// What it came to when done: the work's own result (an import's counts, a backup's
    /// name and tables …); null before.
    pub outcome: serde_json::Value,
    /// The file it made, to download from `/admin/jobs/{id}/file`.
    pub file: Option<JobFileView>,
    /// It made a file, dropped since to keep the newer ones.
    pub file_dropped: bool,
    pub error: Option<JobError>,
    /// Its screen, to go back to.
    pub back: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobFileView {
    pub name: String,
    pub size_bytes: usize,
}

/// Why a job failed, as the API would have refused the same work.
#[derive(Debug, Clone, Serialize)]
pub struct JobError {
    pub code: String,
    pub field: Option<String>,
    pub message: String,
    /// An import's problems by row and column, the first [`JobError::ROWS_SHOWN`].
    pub rows: Vec<ImportRowError>,
    /// Problems found in all.
    pub rows_total: usize,
}

impl JobError {
    /// An import's problems the page lists: a file of 100,000 bad rows usually has a few
    /// kinds of mistake, and a page of them all would not open on a phone.
    pub const ROWS_SHOWN: usize = 200;
}

/// One of a person's jobs on the dashboard.
#[derive(Debug, Clone, Serialize)]
pub struct JobLine {
    pub id: String,
    pub kind: &'static str,
    pub state: &'static str,
    pub started_at: String,
    pub percent: Option<u64>,
}

impl PageView for OfficeJobView {
    const TEMPLATE: &'static str = "job.html";
    fn samples() -> Vec<(&'static str, OfficeJobView)> {
        let running = OfficeJobView {
            menu: sample_menu(),
            id: "0123456789abcdef0123456789abcdef".to_owned(),
            kind: "import",
            started_at: "2026-12-07T10:00:00+08:00".to_owned(),
            seconds: 12,
            state: "running",
            progress: ProgressView {
                stage: "checking",
                done: 41_000,
                total: 100_000,
                percent: Some(41),
            },
            outcome: serde_json::Value::Null,
            file: None,
            file_dropped: false,
            error: None,
            back: "/admin/goods",
        };
        let done = |kind: &'static str, outcome: serde_json::Value| OfficeJobView {
            kind,
            state: "done",
            outcome,
            ..running.clone()
        };
        vec![
            ("an import being checked", running.clone()),
            (
                "an import done",
                done(
                    "import",
                    serde_json::json!({ "products_created": 2, "products_updated": 3, "skus_created": 4, "skus_updated": 5 }),
                ),
            ),
            (
                "an import refused",
                OfficeJobView {
                    state: "failed",
                    error: Some(JobError {
                        code: "import_invalid".to_owned(),
                        field: Some("file".to_owned()),
                        message: "3处错误 <b>".to_owned(),
                        rows: vec![ImportRowError {
                            row: 3,
                            column: "价格 <b>".to_owned(),
                            code: "invalid_money".to_owned(),
                            message: "金额格式不正确 <i>".to_owned(),
                        }],
                        rows_total: 250,
                    }),
                    ..running.clone()
                },
            ),
            (
                "an export done",
                OfficeJobView {
                    file: Some(JobFileView {
                        name: "goods.xlsx".to_owned(),
                        size_bytes: 2_345_678,
                    }),
                    ..done("goods_export", serde_json::Value::Null)
                },
            ),
            (
                "an export whose file was dropped",
                OfficeJobView {
                    file_dropped: true,
                    ..done("orders_export", serde_json::Value::Null)
                },
            ),
            (
                "a backup made",
                done(
                    "backup",
                    serde_json::json!({ "name": "pifa-20261207T020000000Z.jsonl.gz", "size_bytes": 123_456, "tables": { "users": 13, "orders": 40 } }),
                ),
            ),
            (
                "a backup restored",
                done(
                    "restore",
                    serde_json::json!({ "tables": { "users": 13, "(files)": 2 } }),
                ),
            ),
            (
                "a restore that failed",
                OfficeJobView {
                    kind: "restore",
                    state: "failed",
                    error: Some(JobError {
                        code: "backup_invalid".to_owned(),
                        field: Some("name".to_owned()),
                        message: "无法恢复该备份 <b>".to_owned(),
                        rows: Vec::new(),
                        rows_total: 0,
                    }),
                    ..running.clone()
                },
            ),
            (
                "a replay running",
                OfficeJobView {
                    kind: "replay",
                    progress: ProgressView {
                        stage: "replaying",
                        done: 0,
                        total: 0,
                        percent: None,
                    },
                    ..running
                },
            ),
        ]
    }
}
