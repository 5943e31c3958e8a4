//! Sessions: random tokens handed to the client, stored only as SHA-256 hashes. A bearer
//! session serves the API; a cookie session serves pages and carries a CSRF token.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::FromRow;

use std::sync::Arc;

use crate::store::{Backend, Change, StoreResult, on_pool};

pub const BEARER_TTL_MS: i64 = 30 * 86_400_000;
pub const COOKIE_TTL_MS: i64 = 7 * 86_400_000;
pub const SESSION_COOKIE: &str = "pifa_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Bearer,
    Cookie,
}

impl SessionKind {
    fn as_str(self) -> &'static str {
        match self {
            SessionKind::Bearer => "bearer",
            SessionKind::Cookie => "cookie",
        }
    }

    pub fn ttl_ms(self) -> i64 {
        match self {
            SessionKind::Bearer => BEARER_TTL_MS,
            SessionKind::Cookie => COOKIE_TTL_MS,
        }
    }
}

/// A freshly issued session: the secrets exist in clear only here, on their way to the client.
pub struct IssuedSession {
    pub token: String,
    pub csrf_token: Option<String>,
    pub expires_at: i64,
}

/// What a presented token resolves to.
#[derive(Debug, FromRow)]
pub struct SessionOwner {
    pub user_id: i64,
    /// The account's name as people read it (the pages' greeting), read with the session so a
    /// page needs no query of its own for it; a rename reports `Change::Accounts`.
    pub name: String,
    pub kind: String,
    pub csrf_token: Option<String>,
    /// The account's roles, comma-separated (read in the same query as the session).
    pub roles: Option<String>,
    /// The account's region ids, comma-separated.
    pub regions: Option<String>,
    pub member_state: Option<String>,
    pub level_id: Option<i64>,
    pub expires_at: i64,
}

impl SessionOwner {
    pub fn is_cookie(&self) -> bool {
        self.kind == SessionKind::Cookie.as_str()
    }
}

/// 32 random bytes, hex: 256 bits, unguessable.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Where a request came from, for sessions, logs and rate limits: the socket peer's address,
/// or the client a trusted proxy forwarded (`accounts::caller`, `edge::proxy`).
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The key rate limits count this client under: its IPv4 address, or its IPv6 /64 (one
    /// subscriber's network, whose 2^64 addresses a single host can rotate through at will);
    /// `-` when the address is unknown.
    pub fn source(&self) -> String {
        match self.ip.as_deref().map(str::parse::<std::net::IpAddr>) {
            Some(Ok(std::net::IpAddr::V6(v6))) => ipnet::Ipv6Net::new(v6, 64)
                .map(|net| net.trunc().to_string())
                .unwrap_or_else(|_| v6.to_string()),
            Some(Ok(ip)) => ip.to_string(),
            Some(Err(_)) | None => self.ip.clone().unwrap_or_else(|| "-".to_owned()),
        }
    }
}

impl super::AccountStore<'_> {
    /// Issues a new session (always a new id: a session is never reused across sign-ins).
    pub async fn create_session(
        self,
        user_id: i64,
        kind: SessionKind,
        client: &ClientInfo,
        now_ms: i64,
    ) -> StoreResult<IssuedSession> {
        let token = random_token();
        let csrf_token = (kind == SessionKind::Cookie).then(random_token);
        let expires_at = now_ms + kind.ttl_ms();
        let sql = "INSERT INTO sessions (token_hash, user_id, kind, csrf_token, created_at, expires_at, ip, user_agent)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        on_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(hash_token(&token))
                .bind(user_id)
                .bind(kind.as_str())
                .bind(&csrf_token)
                .bind(now_ms)
                .bind(expires_at)
                .bind(&client.ip)
                .bind(&client.user_agent)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(IssuedSession {
            token,
            csrf_token,
            expires_at,
        })
    }

    /// The live session behind `token`, if its account is enabled. Every authenticated
    /// request asks, so the answer is cached (see `store::cache`) until a change to sessions,
    /// roles, regions or standing; expiry is checked on every use.
    pub async fn session_owner(
        self,
        token: &str,
        now_ms: i64,
    ) -> StoreResult<Option<Arc<SessionOwner>>> {
        let token_hash = hash_token(token);
        let room = self.room::<SessionRoom>();
        if let Some(owner) = room.sessions.get(&token_hash)
            && owner.expires_at > now_ms
        {
            return Ok(Some(owner));
        }
        let generation = self.generation().current();
        // One statement brings the session, the roles, the regions and the member's standing.
        let sql = match self.backend() {
            Backend::Sqlite => "SELECT s.user_id, u.name, s.kind, s.csrf_token,
                    (SELECT group_concat(r.role, ',') FROM user_roles r WHERE r.user_id = s.user_id) AS roles,
                    (SELECT group_concat(g.region_id, ',') FROM user_regions g WHERE g.user_id = s.user_id) AS regions,
                    u.member_state, (SELECT m.level_id FROM members m WHERE m.user_id = s.user_id) AS level_id, s.expires_at
                FROM sessions s JOIN users u ON u.id = s.user_id
                WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = FALSE",
            Backend::Postgres => "SELECT s.user_id, u.name, s.kind, s.csrf_token,
                    (SELECT string_agg(r.role, ',') FROM user_roles r WHERE r.user_id = s.user_id) AS roles,
                    (SELECT string_agg(g.region_id::TEXT, ',') FROM user_regions g WHERE g.user_id = s.user_id) AS regions,
                    u.member_state, (SELECT m.level_id FROM members m WHERE m.user_id = s.user_id) AS level_id, s.expires_at
                FROM sessions s JOIN users u ON u.id = s.user_id
                WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = FALSE",
        };
        let owner: Option<SessionOwner> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(&token_hash)
                .bind(now_ms)
                .fetch_optional(pool)
                .await
        })?;
        Ok(owner.map(|owner| {
            let owner = Arc::new(owner);
            self.generation()
                .keep(&room.sessions, token_hash, owner.clone(), generation);
            owner
        }))
    }

    pub async fn delete_session(self, token: &str) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(hash_token(token))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        self.changed(Change::Accounts).await;
        Ok(())
    }

    pub async fn prune_sessions(self, now_ms: i64) -> StoreResult<u64> {
        Ok(on_pool!(self, |pool| {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(now_ms)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?)
    }
}
/// Who each token stands for, by token hash (see `store::cache`): every authenticated
/// request asks.
pub struct SessionRoom {
    sessions: moka::sync::Cache<String, Arc<SessionOwner>>,
}

impl Default for SessionRoom {
    fn default() -> Self {
        SessionRoom {
            sessions: moka::sync::Cache::new(100_000),
        }
    }
}

impl crate::store::Room for SessionRoom {
    fn apply(&self, change: &Change) {
        if matches!(change, Change::Accounts | Change::Everything) {
            self.sessions.invalidate_all();
        }
    }
}
