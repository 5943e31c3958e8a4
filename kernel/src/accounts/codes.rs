//! Six-digit verification codes: single use, valid ten minutes, dead after five wrong guesses.
//! Only a hash is stored; the clear code leaves the server in the outgoing message alone.

use rand::Rng;
use serde::Deserialize;
use sqlx::FromRow;
use utoipa::ToSchema;

use super::sessions::hash_token;
use crate::error::ApiError;
use crate::store::{StoreError, StoreResult, in_tx};

pub const CODE_TTL_MS: i64 = 10 * 60_000;
pub const MAX_GUESSES_PER_CODE: i64 = 5;

/// What a code is for; a code issued for one purpose never serves another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CodePurpose {
    Signup,
    Login,
    ResetPassword,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            CodePurpose::Signup => "signup",
            CodePurpose::Login => "login",
            CodePurpose::ResetPassword => "reset_password",
        }
    }

    /// The message text, with the code in it (SMS template parameters: `code`, `minutes`).
    pub fn message(self, code: &str) -> String {
        let action = match self {
            CodePurpose::Signup => "注册",
            CodePurpose::Login => "登录",
            CodePurpose::ResetPassword => "重置密码",
        };
        format!("您的{action}验证码为{code}，10分钟内有效。如非本人操作，请忽略本短信。")
    }
}

pub fn random_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

#[derive(FromRow)]
struct CodeRow {
    id: i64,
    code_hash: String,
    attempts: i64,
    expires_at: i64,
    consumed_at: Option<i64>,
}

/// Why a presented code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefusal {
    Wrong,
    Expired,
    Used,
    TooManyGuesses,
}

impl CodeRefusal {
    /// The answer a client gets. A wrong code and a code dead from wrong guesses answer alike
    /// (`code_invalid`): otherwise a stranger could ask for a code for a phone, spend its
    /// guesses, and learn from the difference whether a code had been sent, i.e. whether the
    /// phone is registered. The owner, holding the code, reads "request a new one" either way.
    /// `code_expired` and `code_used` come only for the right code, which a stranger lacks.
    pub fn into_api(self) -> ApiError {
        match self {
            CodeRefusal::Wrong | CodeRefusal::TooManyGuesses => ApiError::invalid_field(
                "code_invalid",
                "code",
                "验证码错误或已失效，请核对或重新获取 (code: wrong or no longer valid; check it or request a new one)",
            ),
            CodeRefusal::Expired => ApiError::invalid_field(
                "code_expired",
                "code",
                "验证码已过期，请重新获取 (code: expired, request a new one)",
            ),
            CodeRefusal::Used => ApiError::invalid_field(
                "code_used",
                "code",
                "验证码已使用，请重新获取 (code: already used, request a new one)",
            ),
        }
    }
}

impl super::AccountStore<'_> {
    pub async fn insert_code(
        self,
        target: &str,
        purpose: CodePurpose,
        code: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        let sql = "INSERT INTO verification_codes (target, purpose, code_hash, attempts, expires_at, created_at) VALUES ($1, $2, $3, 0, $4, $5)";
        in_tx!(self, |tx| {
            sqlx::query(sql)
                .bind(target)
                .bind(purpose.as_str())
                .bind(hash_token(code))
                .bind(now_ms + CODE_TTL_MS)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            Ok::<_, StoreError>(())
        })
    }

    /// Checks `code` against the newest code for `target` and `purpose` and, when it matches,
    /// consumes it. Consumption is a conditional update, so two requests racing with the same
    /// code cannot both succeed.
    pub async fn redeem_code(
        self,
        target: &str,
        purpose: CodePurpose,
        code: &str,
        now_ms: i64,
    ) -> StoreResult<Result<(), CodeRefusal>> {
        let presented = hash_token(code.trim());
        let select =
            "SELECT id, code_hash, attempts, expires_at, consumed_at FROM verification_codes
                      WHERE target = $1 AND purpose = $2 ORDER BY id DESC LIMIT 1";
        in_tx!(self, |tx| {
            let row: Option<CodeRow> = sqlx::query_as(select)
                .bind(target)
                .bind(purpose.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let outcome = match row {
                None => Err(CodeRefusal::Wrong),
                Some(row) if row.consumed_at.is_some() => Err(if row.code_hash == presented {
                    CodeRefusal::Used
                } else {
                    CodeRefusal::Wrong
                }),
                Some(row) if row.attempts >= MAX_GUESSES_PER_CODE => {
                    Err(CodeRefusal::TooManyGuesses)
                }
                Some(row) if row.code_hash != presented => {
                    sqlx::query(
                        "UPDATE verification_codes SET attempts = attempts + 1 WHERE id = $1",
                    )
                    .bind(row.id)
                    .execute(&mut *tx)
                    .await?;
                    Err(if row.attempts + 1 >= MAX_GUESSES_PER_CODE {
                        CodeRefusal::TooManyGuesses
                    } else {
                        CodeRefusal::Wrong
                    })
                }
                Some(row) if row.expires_at <= now_ms => Err(CodeRefusal::Expired),
                Some(row) => {
                    let consumed = sqlx::query("UPDATE verification_codes SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL")
                        .bind(row.id)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if consumed == 1 {
                        Ok(())
                    } else {
                        Err(CodeRefusal::Used)
                    }
                }
            };
            Ok::<_, StoreError>(outcome)
        })
    }
}
