//! The login log and the operation log (A5): who signed in or changed what, when, from where.
//! Phones appear masked in both; neither holds a password, code or token.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use utoipa::{IntoParams, ToSchema};

use super::permissions::{Actor, Permission};
use super::sessions::ClientInfo;
use crate::clock::rfc3339;
use crate::edge::extract::Query;
use crate::error::ApiResult;
use crate::shop::Shop;
use crate::store::{Page, StoreResult, on_pool};

/// One operation to record: `action` names it (`staff.create`), `detail` says what changed.
pub struct Operation<'a> {
    pub actor_id: Option<i64>,
    pub action: &'a str,
    pub target_kind: &'a str,
    pub target_id: Option<String>,
    pub detail: serde_json::Value,
}

impl super::AccountStore<'_> {
    pub async fn log_login(
        self,
        user_id: Option<i64>,
        identifier: &str,
        method: &str,
        failure: Option<&str>,
        client: &ClientInfo,
        now_ms: i64,
    ) -> StoreResult<()> {
        let sql = "INSERT INTO login_log (user_id, identifier, method, success, reason, ip, user_agent, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        on_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(user_id)
                .bind(identifier)
                .bind(method)
                .bind(failure.is_none())
                .bind(failure)
                .bind(&client.ip)
                .bind(&client.user_agent)
                .bind(now_ms)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Whether `user_id` signed in successfully from `ip` at or after `since_ms`.
    pub async fn signed_in_from(self, user_id: i64, ip: &str, since_ms: i64) -> StoreResult<bool> {
        let sql = "SELECT id FROM login_log
                   WHERE user_id = $1 AND ip = $2 AND at >= $3 AND success = $4 LIMIT 1";
        let found: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(sql)
                .bind(user_id)
                .bind(ip)
                .bind(since_ms)
                .bind(true)
                .fetch_optional(pool)
                .await
        })?;
        Ok(found.is_some())
    }

    pub async fn log_operation(
        self,
        op: Operation<'_>,
        client: &ClientInfo,
        now_ms: i64,
    ) -> StoreResult<()> {
        let sql = "INSERT INTO operation_log (actor_id, action, target_kind, target_id, detail, ip, at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(op.actor_id)
                .bind(op.action)
                .bind(op.target_kind)
                .bind(&op.target_id)
                .bind(op.detail.to_string())
                .bind(&client.ip)
                .bind(now_ms)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// A page of the login log, newest first, and how many entries the search finds.
    pub async fn search_logins(self, q: &LoginQuery) -> StoreResult<Page<LoginEntry>> {
        let (limit, offset) = page_bounds(q.limit, q.offset);
        crate::store::paged(limit, offset, |limit, offset| {
            self.login_rows(q, limit, offset)
        })
        .await
    }

    async fn login_rows(
        self,
        q: &LoginQuery,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<(LoginEntry, i64)>> {
        let rows: Vec<LoginRow> = on_pool!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT id, user_id, identifier, method, success, reason, ip, at",
            );
            query
                .push(crate::store::TOTAL_COLUMN)
                .push(" FROM login_log WHERE 1 = 1");
            if let Some(user_id) = q.user_id {
                query.push(" AND user_id = ").push_bind(user_id);
            }
            if let Some(success) = q.success {
                query.push(" AND success = ").push_bind(success);
            }
            push_time_window(&mut query, q.from_ms, q.to_ms);
            query
                .push(" ORDER BY id DESC LIMIT ")
                .push_bind(limit)
                .push(" OFFSET ")
                .push_bind(offset);
            query.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let total = row.total;
                (LoginEntry::from(row), total)
            })
            .collect())
    }

    /// A page of the operation log, newest first, and how many entries the search finds.
    pub async fn search_operations(self, q: &OperationQuery) -> StoreResult<Page<OperationEntry>> {
        let (limit, offset) = page_bounds(q.limit, q.offset);
        crate::store::paged(limit, offset, |limit, offset| {
            self.operation_rows(q, limit, offset)
        })
        .await
    }

    async fn operation_rows(
        self,
        q: &OperationQuery,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<(OperationEntry, i64)>> {
        let rows: Vec<OperationRow> = on_pool!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT id, actor_id, action, target_kind, target_id, detail, ip, at",
            );
            query
                .push(crate::store::TOTAL_COLUMN)
                .push(" FROM operation_log WHERE 1 = 1");
            if let Some(actor_id) = q.actor_id {
                query.push(" AND actor_id = ").push_bind(actor_id);
            }
            if let Some(action) = &q.action {
                query.push(" AND action = ").push_bind(action.clone());
            }
            if let Some(kind) = &q.target_kind {
                query.push(" AND target_kind = ").push_bind(kind.clone());
            }
            if let Some(target_id) = &q.target_id {
                query.push(" AND target_id = ").push_bind(target_id.clone());
            }
            push_time_window(&mut query, q.from_ms, q.to_ms);
            query
                .push(" ORDER BY id DESC LIMIT ")
                .push_bind(limit)
                .push(" OFFSET ")
                .push_bind(offset);
            query.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let total = row.total;
                (OperationEntry::from(row), total)
            })
            .collect())
    }
}

/// A log page's size (default 100, at most 500) and start.
fn page_bounds(limit: Option<i64>, offset: Option<i64>) -> (i64, i64) {
    (
        limit.unwrap_or(100).clamp(1, 500),
        offset.unwrap_or(0).max(0),
    )
}

fn push_time_window<DB: sqlx::Database>(
    query: &mut sqlx::QueryBuilder<DB>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
) where
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if let Some(from) = from_ms {
        query.push(" AND at >= ").push_bind(from);
    }
    if let Some(to) = to_ms {
        query.push(" AND at < ").push_bind(to);
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct LoginQuery {
    pub user_id: Option<i64>,
    pub success: Option<bool>,
    /// From this time (epoch ms, inclusive).
    pub from_ms: Option<i64>,
    /// Until this time (epoch ms, exclusive).
    pub to_ms: Option<i64>,
    /// At most this many, newest first (default 100, at most 500).
    pub limit: Option<i64>,
    /// Skip this many (the next page).
    pub offset: Option<i64>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct OperationQuery {
    pub actor_id: Option<i64>,
    pub action: Option<String>,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// At most this many, newest first (default 100, at most 500).
    pub limit: Option<i64>,
    /// Skip this many (the next page).
    pub offset: Option<i64>,
}

#[derive(FromRow)]
struct LoginRow {
    id: i64,
    user_id: Option<i64>,
    identifier: String,
    method: String,
    success: bool,
    reason: Option<String>,
    ip: Option<String>,
    at: i64,
    /// How many rows the search finds (`store::TOTAL_COLUMN`).
    total: i64,
}

/// One sign-in attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginEntry {
    pub id: i64,
    pub user_id: Option<i64>,
    /// The masked phone the attempt named.
    pub identifier: String,
    /// `password` or `code`.
    pub method: String,
    pub success: bool,
    /// Why it failed (`invalid_credentials`, `account_disabled` …).
    pub reason: Option<String>,
    pub ip: Option<String>,
    pub at: String,
}

impl From<LoginRow> for LoginEntry {
    fn from(r: LoginRow) -> Self {
        LoginEntry {
            id: r.id,
            user_id: r.user_id,
            identifier: r.identifier,
            method: r.method,
            success: r.success,
            reason: r.reason,
            ip: r.ip,
            at: rfc3339(r.at),
        }
    }
}

#[derive(FromRow)]
struct OperationRow {
    id: i64,
    actor_id: Option<i64>,
    action: String,
    target_kind: String,
    target_id: Option<String>,
    detail: String,
    ip: Option<String>,
    at: i64,
    /// How many rows the search finds (`store::TOTAL_COLUMN`).
    total: i64,
}

/// One recorded change.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationEntry {
    pub id: i64,
    pub actor_id: Option<i64>,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub ip: Option<String>,
    pub at: String,
}

impl From<OperationRow> for OperationEntry {
    fn from(r: OperationRow) -> Self {
        OperationEntry {
            id: r.id,
            actor_id: r.actor_id,
            action: r.action,
            target_kind: r.target_kind,
            target_id: r.target_id,
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
            ip: r.ip,
            at: rfc3339(r.at),
        }
    }
}

/// Search the login log, newest first (admin).
#[utoipa::path(get, path = "/admin/audit/logins", tag = "audit", params(LoginQuery),
    responses((status = 200, body = [LoginEntry])), security(("bearer" = [])))]
pub async fn list_logins(
    State(app): State<Shop>,
    actor: Actor,
    Query(q): Query<LoginQuery>,
) -> ApiResult<Page<LoginEntry>> {
    actor.require(Permission::ReadAudit)?;
    Ok(app.store.accounts().search_logins(&q).await?)
}

/// Search the operation log, newest first (admin).
#[utoipa::path(get, path = "/admin/audit/operations", tag = "audit", params(OperationQuery),
    responses((status = 200, body = [OperationEntry])), security(("bearer" = [])))]
pub async fn list_operations(
    State(app): State<Shop>,
    actor: Actor,
    Query(q): Query<OperationQuery>,
) -> ApiResult<Page<OperationEntry>> {
    actor.require(Permission::ReadAudit)?;
    Ok(app.store.accounts().search_operations(&q).await?)
}
