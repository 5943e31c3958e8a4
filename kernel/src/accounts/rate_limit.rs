//! Fixed-window rate limits kept in our own table, so every server instance sharing the
//! database shares the counters.

use crate::error::ApiError;
use crate::store::{Store, StoreResult, on_pool};

/// One limit: at most `max` hits per `window_secs` for a bucket key.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub name: &'static str,
    pub max: i64,
    pub window_secs: i64,
}

/// Sending codes: one a minute and ten a day per phone or e-mail, thirty an hour per address.
pub const CODE_PER_TARGET_MINUTE: Limit = Limit {
    name: "code-target-1m",
    max: 1,
    window_secs: 60,
};
pub const CODE_PER_TARGET_DAY: Limit = Limit {
    name: "code-target-1d",
    max: 10,
    window_secs: 86_400,
};
pub const CODE_PER_IP_HOUR: Limit = Limit {
    name: "code-ip-1h",
    max: 30,
    window_secs: 3_600,
};
/// Failed sign-ins: five per account per 15 minutes, fifty per address per 15 minutes.
pub const LOGIN_FAILURES_PER_ACCOUNT: Limit = Limit {
    name: "login-fail-account",
    max: 5,
    window_secs: 900,
};
pub const LOGIN_FAILURES_PER_IP: Limit = Limit {
    name: "login-fail-ip",
    max: 50,
    window_secs: 900,
};
/// Wrong codes: five guesses per target per hour (each code also dies after five guesses).
pub const CODE_GUESSES_PER_TARGET: Limit = Limit {
    name: "code-guess-target",
    max: 5,
    window_secs: 3_600,
};

impl Limit {
    fn bucket(&self, key: &str, now_ms: i64) -> (String, i64) {
        let window_ms = self.window_secs * 1000;
        (
            format!("{}:{key}", self.name),
            now_ms - now_ms.rem_euclid(window_ms),
        )
    }

    fn retry_after_secs(&self, window_start: i64, now_ms: i64) -> i64 {
        (window_start + self.window_secs * 1000 - now_ms) / 1000 + 1
    }
}

impl Store {
    /// Counts one hit; refuses with 429 `code` once the window holds more than `max`.
    pub async fn rate_hit(
        &self,
        limit: Limit,
        key: &str,
        now_ms: i64,
        code: &'static str,
    ) -> Result<(), ApiError> {
        let (bucket, window_start) = limit.bucket(key, now_ms);
        let sql = "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1)
                   ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
                   RETURNING hits";
        let hits: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar(sql)
                .bind(&bucket)
                .bind(window_start)
                .fetch_one(pool)
                .await
        })
        .map_err(ApiError::internal)?;
        if hits > limit.max {
            return Err(limit_error(limit, code, window_start, now_ms));
        }
        Ok(())
    }

    /// Refuses with 429 when the window is already full, without counting a hit (used before
    /// a sign-in, whose failures alone are counted).
    pub async fn rate_check(
        &self,
        limit: Limit,
        key: &str,
        now_ms: i64,
        code: &'static str,
    ) -> Result<(), ApiError> {
        let (bucket, window_start) = limit.bucket(key, now_ms);
        let hits = self
            .rate_hits(&bucket, window_start)
            .await
            .map_err(ApiError::internal)?;
        if hits >= limit.max {
            return Err(limit_error(limit, code, window_start, now_ms));
        }
        Ok(())
    }

    async fn rate_hits(&self, bucket: &str, window_start: i64) -> StoreResult<i64> {
        let sql = "SELECT hits FROM rate_limits WHERE bucket = $1 AND window_start = $2";
        let hits: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(sql)
                .bind(bucket)
                .bind(window_start)
                .fetch_optional(pool)
                .await
        })?;
        Ok(hits.unwrap_or(0))
    }

    /// Drops counters of windows that ended more than a day ago.
    pub async fn prune_rate_limits(&self, now_ms: i64) -> StoreResult<u64> {
        let cutoff = now_ms - 2 * 86_400_000;
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
                .bind(cutoff)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(done)
    }
}

fn limit_error(limit: Limit, code: &'static str, window_start: i64, now_ms: i64) -> ApiError {
    let retry = limit.retry_after_secs(window_start, now_ms);
    ApiError::too_many(
        code,
        format!("操作过于频繁，请{retry}秒后再试 (too many attempts; retry in {retry} s)"),
        retry,
    )
}
