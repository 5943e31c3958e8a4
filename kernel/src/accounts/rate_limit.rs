//! Rate limits kept in our own table (`rate_limits`), so every server instance sharing the
//! database shares the counters. Two kinds of row, both in fixed windows (pruned two days after
//! their window began):
//!
//! - a [`Limit`] counts hits per key and window and refuses past `max`;
//! - a [`Backoff`] counts a key's attempts in its window and, past `free` of them, makes each
//!   further attempt wait for the one before: `base_secs`, doubling, at most `cap_secs`. The
//!   row keeps when the key may try again (`not_before`); a success clears the key.
//!
//! Every counter moves in one statement that also decides (an upsert returning the count), so
//! concurrent attempts, on one instance or several, cannot pass a limit together by all
//! reading it before any of them counts.
//!
//! What each limit protects, and why it is keyed as it is, is in `auth.rs`, which applies them.

use crate::error::ApiError;
use crate::store::{StoreResult, on_pool};

/// One limit: at most `max` hits per `window_secs` for a bucket key.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub name: &'static str,
    pub max: i64,
    pub window_secs: i64,
}

/// Sending codes: one a minute and ten a day per phone or e-mail (what SMS providers allow a
/// number anyway), thirty an hour per source address.
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
/// Sign-up attempts: twenty an hour per source address, ten an hour per phone.
pub const SIGNUP_PER_IP_HOUR: Limit = Limit {
    name: "signup-ip-1h",
    max: 20,
    window_secs: 3_600,
};
pub const SIGNUP_PER_PHONE_HOUR: Limit = Limit {
    name: "signup-phone-1h",
    max: 10,
    window_secs: 3_600,
};
/// Wrong passwords and codes from one source address, whatever account they name: fifty per
/// 15 minutes (one address trying many accounts: credential stuffing).
pub const GUESSES_PER_IP: Limit = Limit {
    name: "login-fail-ip",
    max: 50,
    window_secs: 900,
};
/// Wrong passwords for one account from every source together: fifty an hour (guessing spread
/// over many addresses; OWASP ASVS 2.2.1 asks for at most 100). Past it, password sign-in is
/// refused to addresses the account has not signed in from; codes still work.
pub const PASSWORD_FAILURES_PER_ACCOUNT: Limit = Limit {
    name: "login-fail-account",
    max: 50,
    window_secs: 3_600,
};

/// A back-off: per key, `free` attempts in a window of `window_secs`, then each further
/// attempt waits `base_secs` after the one before, doubling each time, at most `cap_secs`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub name: &'static str,
    pub free: i64,
    pub base_secs: i64,
    pub cap_secs: i64,
    pub window_secs: i64,
}

/// Password attempts for one account from one source address: five, then 1, 2, 4, 8 and
/// 15 minutes apart, for the rest of the day (about a hundred a day in all). Other addresses,
/// the owner's among them, are not slowed by it.
pub const PASSWORD_BACKOFF: Backoff = Backoff {
    name: "login-pair",
    free: 5,
    base_secs: 60,
    cap_secs: 900,
    window_secs: 86_400,
};
/// Code attempts for one phone or e-mail from one source address: as for passwords. `free`
/// equals the guesses a code survives (`codes::MAX_GUESSES_PER_CODE`), so one address can
/// spend a code's guesses but not quickly another's, and the address whose guesses killed a
/// code is slowed whether or not a code existed (so the answers do not tell).
pub const CODE_GUESS_BACKOFF: Backoff = Backoff {
    name: "code-guess-pair",
    free: 5,
    base_secs: 60,
    cap_secs: 900,
    window_secs: 86_400,
};

/// A refusal: the key may try again in `retry_after_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_secs: i64,
}

impl Limited {
    fn until(not_before_ms: i64, now_ms: i64) -> Limited {
        Limited {
            retry_after_secs: ((not_before_ms - now_ms + 999) / 1000).max(1),
        }
    }

    /// The 429 every limit answers with, under the stable `code`.
    pub fn refuse(self, code: &'static str) -> ApiError {
        let retry = self.retry_after_secs;
        ApiError::too_many(
            code,
            format!("操作过于频繁，请{retry}秒后再试 (too many attempts; retry in {retry} s)"),
            retry,
        )
    }
}

/// A hit counted against a [`Limit`], to give back when the attempt it stood for turned out
/// not to count (a successful sign-in is no failure).
#[derive(Debug)]
#[must_use = "a hit is given back or kept on purpose"]
pub struct Taken {
    bucket: String,
    window_start: i64,
}

impl Limit {
    fn bucket(&self, key: &str, now_ms: i64) -> (String, i64) {
        (
            format!("{}:{key}", self.name),
            window_start(self.window_secs, now_ms),
        )
    }
}

impl Backoff {
    /// How long the `attempt`-th attempt of a window makes the next one wait, in ms.
    fn wait_ms(&self, attempt: i64) -> i64 {
        let beyond = attempt - self.free;
        if beyond < 0 {
            return 0;
        }
        let cap = self.cap_secs * 1000;
        // Doubling from `base` reaches the cap after `doublings()` steps; no larger shift is
        // ever computed, so nothing overflows however many attempts a day holds.
        if beyond >= self.doublings() {
            cap
        } else {
            (self.base_secs * 1000) << beyond
        }
    }

    /// The first `beyond` whose doubled wait reaches the cap.
    fn doublings(&self) -> i64 {
        let mut steps = 0;
        while self.base_secs > 0 && steps < 62 && self.base_secs << steps < self.cap_secs {
            steps += 1;
        }
        steps
    }

    fn bucket(&self, key: &str, now_ms: i64) -> (String, i64) {
        (
            format!("{}:{key}", self.name),
            window_start(self.window_secs, now_ms),
        )
    }
}

fn window_start(window_secs: i64, now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(window_secs * 1000)
}

impl super::AccountStore<'_> {
    /// Counts one hit; refuses with 429 `code` once the window holds more than `max`.
    pub async fn rate_hit(
        self,
        limit: Limit,
        key: &str,
        now_ms: i64,
        code: &'static str,
    ) -> Result<(), ApiError> {
        match self.rate_take(limit, key, now_ms).await? {
            Ok(_kept) => Ok(()),
            Err(limited) => Err(limited.refuse(code)),
        }
    }

    /// Counts one hit and hands it back as a [`Taken`] to give back later; a hit past `max` is
    /// refused and not counted, so hits given back reopen the window to that many more.
    pub async fn rate_take(
        self,
        limit: Limit,
        key: &str,
        now_ms: i64,
    ) -> StoreResult<Result<Taken, Limited>> {
        let (bucket, window_start) = limit.bucket(key, now_ms);
        let sql = "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1)
                   ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
                   WHERE rate_limits.hits < $3
                   RETURNING hits";
        let counted: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(sql)
                .bind(&bucket)
                .bind(window_start)
                .bind(limit.max)
                .fetch_optional(pool)
                .await
        })?;
        if counted.is_none() {
            return Ok(Err(Limited::until(
                window_start + limit.window_secs * 1000,
                now_ms,
            )));
        }
        Ok(Ok(Taken {
            bucket,
            window_start,
        }))
    }

    /// Gives a hit back to the window it was counted in.
    pub async fn rate_give_back(self, taken: Taken) -> StoreResult<()> {
        let sql = "UPDATE rate_limits SET hits = hits - 1
                   WHERE bucket = $1 AND window_start = $2 AND hits > 0";
        on_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(&taken.bucket)
                .bind(taken.window_start)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Refuses with 429 when the window is already full, without counting a hit (used before
    /// a sign-in, whose failures alone are counted).
    pub async fn rate_check(
        self,
        limit: Limit,
        key: &str,
        now_ms: i64,
        code: &'static str,
    ) -> Result<(), ApiError> {
        match self
            .rate_full(limit, key, now_ms)
            .await
            .map_err(ApiError::internal)?
        {
            Some(limited) => Err(limited.refuse(code)),
            None => Ok(()),
        }
    }

    /// Whether the window is full (and until when), without counting a hit.
    pub async fn rate_full(
        self,
        limit: Limit,
        key: &str,
        now_ms: i64,
    ) -> StoreResult<Option<Limited>> {
        let (bucket, window_start) = limit.bucket(key, now_ms);
        let sql = "SELECT hits FROM rate_limits WHERE bucket = $1 AND window_start = $2";
        let hits: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(sql)
                .bind(&bucket)
                .bind(window_start)
                .fetch_optional(pool)
                .await
        })?;
        Ok((hits.unwrap_or(0) >= limit.max)
            .then(|| Limited::until(window_start + limit.window_secs * 1000, now_ms)))
    }

    /// Counts an attempt under a back-off, unless the key must still wait (then nothing is
    /// counted and the refusal says for how long). The wait the attempt sets for the next one
    /// is written by the same statement, computed from the count it reaches.
    pub async fn backoff_attempt(
        self,
        backoff: Backoff,
        key: &str,
        now_ms: i64,
    ) -> StoreResult<Result<(), Limited>> {
        let (bucket, window_start) = backoff.bucket(key, now_ms);
        // The CASE is `wait_ms` in SQL for the count this update reaches (`hits + 1`); the
        // shift's operands are cast so PostgreSQL finds its `bigint << integer`.
        let sql = "INSERT INTO rate_limits (bucket, window_start, hits, not_before)
                   VALUES ($1, $2, 1, $3 + $4)
                   ON CONFLICT (bucket, window_start) DO UPDATE SET
                       hits = rate_limits.hits + 1,
                       not_before = $3 + CASE
                           WHEN rate_limits.hits + 1 < $5 THEN 0
                           WHEN rate_limits.hits + 1 - $5 >= $6 THEN $7
                           ELSE $8 * (CAST(1 AS BIGINT) << CAST(rate_limits.hits + 1 - $5 AS INTEGER))
                       END
                   WHERE rate_limits.not_before <= $3
                   RETURNING hits";
        let counted: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(sql)
                .bind(&bucket)
                .bind(window_start)
                .bind(now_ms)
                .bind(backoff.wait_ms(1))
                .bind(backoff.free)
                .bind(backoff.doublings())
                .bind(backoff.cap_secs * 1000)
                .bind(backoff.base_secs * 1000)
                .fetch_optional(pool)
                .await
        })?;
        if counted.is_some() {
            return Ok(Ok(()));
        }
        let sql = "SELECT not_before FROM rate_limits WHERE bucket = $1 AND window_start = $2";
        let not_before: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(sql)
                .bind(&bucket)
                .bind(window_start)
                .fetch_optional(pool)
                .await
        })?;
        Ok(Err(Limited::until(not_before.unwrap_or(now_ms), now_ms)))
    }

    /// Forgets a key's attempts under a back-off (after a success).
    pub async fn backoff_clear(self, backoff: Backoff, key: &str) -> StoreResult<()> {
        let bucket = format!("{}:{key}", backoff.name);
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM rate_limits WHERE bucket = $1")
                .bind(&bucket)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Drops counters of windows that ended more than a day ago.
    pub async fn prune_rate_limits(self, now_ms: i64) -> StoreResult<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_up_to_its_cap() {
        let waits: Vec<i64> = (1..=11)
            .map(|n| PASSWORD_BACKOFF.wait_ms(n) / 1000)
            .collect();
        assert_eq!(waits, [0, 0, 0, 0, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(PASSWORD_BACKOFF.wait_ms(i64::MAX / 2), 900_000);
        let odd = Backoff {
            name: "t",
            free: 1,
            base_secs: 7,
            cap_secs: 7,
            window_secs: 60,
        };
        assert_eq!((odd.wait_ms(1), odd.wait_ms(2)), (7_000, 7_000));
    }

    #[test]
    fn a_refusal_rounds_its_wait_up() {
        assert_eq!(Limited::until(10_001, 10_000).retry_after_secs, 1);
        assert_eq!(Limited::until(70_000, 10_000).retry_after_secs, 60);
        assert_eq!(Limited::until(70_001, 10_000).retry_after_secs, 61);
        assert_eq!(Limited::until(5_000, 10_000).retry_after_secs, 1);
    }
}
