//! Users and their roles and regions: the storage side.

use std::collections::BTreeSet;

use sqlx::FromRow;

use super::{MemberState, Role};
use crate::store::{Change, StoreError, StoreResult, in_tx, on_pool, push_id_list};

/// A person with an account: a member, a staff member, or both.
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub phone: String,
    pub email: Option<String>,
    pub name: String,
    pub company_name: Option<String>,
    pub disabled: bool,
    pub member_state: Option<MemberState>,
    pub vehicle_plate: Option<String>,
    pub created_at: i64,
    pub roles: BTreeSet<Role>,
    pub region_ids: BTreeSet<i64>,
}

#[derive(FromRow)]
struct UserRow {
    id: i64,
    phone: String,
    email: Option<String>,
    name: String,
    company_name: Option<String>,
    disabled: bool,
    member_state: Option<String>,
    vehicle_plate: Option<String>,
    created_at: i64,
}

const USER_COLUMNS: &str =
    "id, phone, email, name, company_name, disabled, member_state, vehicle_plate, created_at";

/// What `insert_user` writes.
pub struct NewUser {
    pub phone: String,
    pub email: Option<String>,
    pub name: String,
    pub company_name: Option<String>,
    pub password_hash: Option<String>,
    pub member_state: Option<MemberState>,
    pub vehicle_plate: Option<String>,
    pub roles: BTreeSet<Role>,
    pub region_ids: BTreeSet<i64>,
}

/// A partial update of a staff account; `None` leaves a field as it is.
#[derive(Default)]
pub struct StaffChanges {
    pub name: Option<String>,
    pub roles: Option<BTreeSet<Role>>,
    pub region_ids: Option<BTreeSet<i64>>,
    /// `Some(None)` clears the plate.
    pub vehicle_plate: Option<Option<String>>,
}

/// The sign-in view of an account.
#[derive(Debug, FromRow)]
pub struct Credentials {
    pub id: i64,
    pub password_hash: Option<String>,
    pub disabled: bool,
}

/// Filters for the staff list.
#[derive(Default)]
pub struct StaffFilter {
    pub role: Option<Role>,
    pub region_id: Option<i64>,
    /// Only users sharing one of these regions (a manager's view); `None` is everyone.
    pub within_regions: Option<BTreeSet<i64>>,
}

impl super::AccountStore<'_> {
    /// Binds an external identity (A4: a WeChat openid) to `user_id`; an identity bound to
    /// someone else moves to him (the seed's handover by "修改微信绑定").
    pub async fn bind_identity(
        self,
        user_id: i64,
        provider: &str,
        subject: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO user_identities (provider, subject, user_id, bound_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (provider, subject) DO UPDATE SET user_id = excluded.user_id, bound_at = excluded.bound_at",
            )
            .bind(provider)
            .bind(subject)
            .bind(user_id)
            .bind(now_ms)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// Writes a user with roles and regions in one transaction. A taken phone or e-mail is
    /// `StoreError::Conflict("users.phone" | "users.email")`.
    pub async fn insert_user(self, user: &NewUser, now_ms: i64) -> StoreResult<i64> {
        let sql = "INSERT INTO users (phone, email, name, company_name, password_hash, disabled, member_state, vehicle_plate, created_at, updated_at)
                   VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7, $8, $8) RETURNING id";
        in_tx!(self, |tx| {
            let id: i64 = sqlx::query_scalar(sql)
                .bind(&user.phone)
                .bind(&user.email)
                .bind(&user.name)
                .bind(&user.company_name)
                .bind(&user.password_hash)
                .bind(user.member_state.map(MemberState::as_str))
                .bind(&user.vehicle_plate)
                .bind(now_ms)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
            for role in &user.roles {
                sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                    .bind(id)
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            for region_id in &user.region_ids {
                sqlx::query("INSERT INTO user_regions (user_id, region_id) VALUES ($1, $2)")
                    .bind(id)
                    .bind(region_id)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok::<_, StoreError>(id)
        })
    }

    pub async fn user_by_id(self, id: i64) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row: Option<UserRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        match row {
            Some(row) => Ok(Some(self.hydrate(row).await?)),
            None => Ok(None),
        }
    }

    pub async fn user_id_by_phone(self, phone: &str) -> StoreResult<Option<i64>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT id FROM users WHERE phone = $1")
                .bind(phone)
                .fetch_optional(pool)
                .await
        })?)
    }

    pub async fn user_id_by_email(self, email: &str) -> StoreResult<Option<i64>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
                .bind(email)
                .fetch_optional(pool)
                .await
        })?)
    }

    pub async fn credentials_by_phone(self, phone: &str) -> StoreResult<Option<Credentials>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as("SELECT id, password_hash, disabled FROM users WHERE phone = $1")
                .bind(phone)
                .fetch_optional(pool)
                .await
        })?)
    }

    /// Users holding any staff role (everything but a plain member), filtered, by id.
    pub async fn list_staff(self, filter: &StaffFilter) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> = on_pool!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(format!(
                "SELECT {USER_COLUMNS} FROM users u WHERE EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role <> 'member')"
            ));
            if let Some(role) = filter.role {
                query.push(" AND EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role = ").push_bind(role.as_str()).push(")");
            }
            if let Some(region_id) = filter.region_id {
                query.push(" AND EXISTS (SELECT 1 FROM user_regions g WHERE g.user_id = u.id AND g.region_id = ").push_bind(region_id).push(")");
            }
            if let Some(regions) = &filter.within_regions {
                query.push(" AND EXISTS (SELECT 1 FROM user_regions g WHERE g.user_id = u.id AND g.region_id IN ");
                push_id_list(&mut query, regions.iter().copied());
                query.push(")");
            }
            query.push(" ORDER BY u.id");
            query.build_query_as().fetch_all(pool).await
        })?;
        self.hydrate_all(rows).await
    }

    /// Applies `changes` in one transaction; false when the user does not exist.
    pub async fn update_staff(
        self,
        id: i64,
        changes: &StaffChanges,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let outcome = in_tx!(self, |tx| {
            // Name and plate in one statement; absent changes keep the stored value (the plate
            // may also be cleared, so it carries an explicit "given" flag).
            let found = sqlx::query(
                "UPDATE users SET name = COALESCE($2, name), vehicle_plate = CASE WHEN $3 THEN $4 ELSE vehicle_plate END, updated_at = $5 WHERE id = $1",
            )
            .bind(id)
            .bind(&changes.name)
            .bind(changes.vehicle_plate.is_some())
            .bind(changes.vehicle_plate.clone().flatten())
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if found {
                if let Some(roles) = &changes.roles {
                    sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    for role in roles {
                        sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                            .bind(id)
                            .bind(role.as_str())
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                if let Some(regions) = &changes.region_ids {
                    sqlx::query("DELETE FROM user_regions WHERE user_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    for region_id in regions {
                        sqlx::query(
                            "INSERT INTO user_regions (user_id, region_id) VALUES ($1, $2)",
                        )
                        .bind(id)
                        .bind(region_id)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
            Ok::<_, StoreError>(found)
        })?;
        self.changed(Change::Accounts).await;
        Ok(outcome)
    }

    /// Disables or enables an account; disabling also ends all its sessions.
    pub async fn set_disabled(self, id: i64, disabled: bool, now_ms: i64) -> StoreResult<bool> {
        let outcome = in_tx!(self, |tx| {
            let found =
                sqlx::query("UPDATE users SET disabled = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(disabled)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
            if disabled {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok::<_, StoreError>(found)
        })?;
        self.changed(Change::Accounts).await;
        Ok(outcome)
    }

    /// Replaces the password and ends every session of the account (a reset must lock out
    /// whoever knew the old one).
    pub async fn set_password_hash(self, id: i64, hash: &str, now_ms: i64) -> StoreResult<bool> {
        let outcome = in_tx!(self, |tx| {
            let found =
                sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(hash)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            Ok::<_, StoreError>(found)
        })?;
        self.changed(Change::Accounts).await;
        Ok(outcome)
    }

    pub(crate) async fn roles_and_regions(
        self,
        user_id: i64,
    ) -> StoreResult<(BTreeSet<Role>, BTreeSet<i64>)> {
        let (roles, regions): (Vec<String>, Vec<i64>) = on_pool!(self, |pool| {
            let roles = sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(pool)
                .await?;
            let regions =
                sqlx::query_scalar("SELECT region_id FROM user_regions WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_all(pool)
                    .await?;
            Ok::<_, sqlx::Error>((roles, regions))
        })?;
        Ok((
            roles.iter().filter_map(|r| Role::from_db(r)).collect(),
            regions.into_iter().collect(),
        ))
    }

    /// Loads the roles and regions of many users in two queries, not two per user.
    async fn hydrate_all(self, rows: Vec<UserRow>) -> StoreResult<Vec<User>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let roles: Vec<(i64, String)> = on_pool!(self, |pool| {
            crate::store::id_list_query(
                "SELECT user_id, role FROM user_roles WHERE user_id IN ",
                &ids,
            )
            .build_query_as()
            .fetch_all(pool)
            .await
        })?;
        let regions: Vec<(i64, i64)> = on_pool!(self, |pool| {
            crate::store::id_list_query(
                "SELECT user_id, region_id FROM user_regions WHERE user_id IN ",
                &ids,
            )
            .build_query_as()
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let id = row.id;
                let user_roles = roles
                    .iter()
                    .filter(|(u, _)| *u == id)
                    .filter_map(|(_, r)| Role::from_db(r))
                    .collect();
                let user_regions = regions
                    .iter()
                    .filter(|(u, _)| *u == id)
                    .map(|(_, r)| *r)
                    .collect();
                user_from_row(row, user_roles, user_regions)
            })
            .collect())
    }

    async fn hydrate(self, row: UserRow) -> StoreResult<User> {
        let (roles, region_ids) = self.roles_and_regions(row.id).await?;
        Ok(user_from_row(row, roles, region_ids))
    }
}

fn user_from_row(row: UserRow, roles: BTreeSet<Role>, region_ids: BTreeSet<i64>) -> User {
    User {
        id: row.id,
        phone: row.phone,
        email: row.email,
        name: row.name,
        company_name: row.company_name,
        disabled: row.disabled,
        member_state: row.member_state.as_deref().and_then(MemberState::from_db),
        vehicle_plate: row.vehicle_plate,
        created_at: row.created_at,
        roles,
        region_ids,
    }
}
