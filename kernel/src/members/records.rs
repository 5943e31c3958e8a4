//! Member records: profile, standing and review, the storage side.

use sqlx::FromRow;

use crate::accounts::MemberState;
use crate::store::{Change, StoreError, StoreResult, in_tx, on_pool};

/// A member as staff review him.
#[derive(Debug, Clone, FromRow)]
pub struct MemberRecord {
    pub id: i64,
    pub phone: String,
    pub name: String,
    pub company_name: Option<String>,
    pub member_state: Option<String>,
    pub created_at: i64,
    pub level_id: Option<i64>,
    pub region_id: Option<i64>,
    pub manager_id: Option<i64>,
    pub shop_name: Option<String>,
    pub wechat_id: Option<String>,
    pub shop_photo: Option<String>,
    pub licence_photo: Option<String>,
    pub reject_reason: Option<String>,
    pub promoter_id: Option<i64>,
    pub credit_terms: Option<String>,
    pub credit_limit_fen: Option<i64>,
    pub pending_shop_name: Option<String>,
    pub pending_shop_photo: Option<String>,
    pub pending_licence_photo: Option<String>,
    pub change_submitted_at: Option<i64>,
    pub change_reject_reason: Option<String>,
}

impl MemberRecord {
    pub fn state(&self) -> Option<MemberState> {
        self.member_state.as_deref().and_then(MemberState::from_db)
    }
}

/// A member row: `users` with `members`, for users with the member role; `$columns` and
/// `$joins` add to it.
macro_rules! member_select {
    ($columns:literal, $joins:literal) => {
        concat!(
            "SELECT u.id, u.phone, u.name, u.company_name, u.member_state, u.created_at, m.level_id, m.region_id, m.manager_id,
    m.shop_name, m.wechat_id, m.shop_photo, m.licence_photo, m.reject_reason, m.promoter_id, m.credit_terms, m.credit_limit_fen,
    m.pending_shop_name, m.pending_shop_photo, m.pending_licence_photo, m.change_submitted_at, m.change_reject_reason",
            $columns,
            "
    FROM users u LEFT JOIN members m ON m.user_id = u.id",
            $joins,
            "
    WHERE EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role = 'member')"
        )
    };
}

const MEMBER_SELECT: &str = member_select!("", "");

/// `MEMBER_SELECT` with the count of the rows the filter selects (`store::TOTAL_COLUMN`).
const MEMBER_COUNTED_SELECT: &str = member_select!(", COUNT(*) OVER () AS total", "");

/// A member row of a list, with the list's whole count.
#[derive(FromRow)]
struct CountedMember {
    #[sqlx(flatten)]
    member: MemberRecord,
    total: i64,
}

/// `MEMBER_SELECT` with the level's and region's names and the member's tags, a row per tag
/// (`level_name`, `region_name`, `tag_name`).
pub(crate) const MEMBER_WITH_NAMES_SELECT: &str = member_select!(
    ", l.name AS level_name, rg.name AS region_name, t.name AS tag_name",
    "
    LEFT JOIN member_levels l ON l.id = m.level_id
    LEFT JOIN regions rg ON rg.id = m.region_id
    LEFT JOIN member_tags mt ON mt.member_id = u.id
    LEFT JOIN tags t ON t.id = mt.tag_id"
);

/// Which members a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberScope {
    All,
    /// A manager: members of these regions, or bound to him.
    Manager {
        regions: Vec<i64>,
        manager_id: i64,
    },
    /// A promoter: his own customers.
    Promoter {
        promoter_id: i64,
    },
}

impl MemberScope {
    pub fn contains(&self, member: &MemberRecord) -> bool {
        match self {
            MemberScope::All => true,
            MemberScope::Manager {
                regions,
                manager_id,
            } => {
                member.manager_id == Some(*manager_id)
                    || member.region_id.is_some_and(|r| regions.contains(&r))
            }
            MemberScope::Promoter { promoter_id } => member.promoter_id == Some(*promoter_id),
        }
    }
}

/// Which members a list shows.
#[derive(Debug, Clone)]
pub struct MemberFilter {
    pub state: Option<MemberState>,
    pub region_id: Option<i64>,
    pub level_id: Option<i64>,
    pub tag_id: Option<i64>,
    /// Only members with (`true`) or without (`false`) an identity change waiting for review.
    pub pending_change: Option<bool>,
    pub scope: MemberScope,
    pub limit: i64,
    pub offset: i64,
}

/// An image written for a profile: its key, type and size.
#[derive(Debug, Clone)]
pub struct ImageRef {
    pub key: String,
    pub kind: &'static str,
    pub content_type: &'static str,
    pub size_bytes: i64,
}

/// What `save_profile` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSaved {
    /// Written; `replaced` are image keys nothing refers to any more (delete the files),
    /// `pending` whether an identity change now waits for review.
    Saved {
        replaced: Vec<String>,
        pending: bool,
    },
    /// An approved member asked for another region: staff decide it. Nothing was written.
    RegionSetByStaff,
}

/// Staff's decision on a pending identity change.
#[derive(Debug, Clone, Copy)]
pub enum ChangeDecision<'a> {
    Approve,
    Reject(&'a str),
}

/// What completing the profile writes. For an approved member, `region_id` must be the one
/// staff set, and the shop name and photos become a pending change (see `save_profile`).
#[derive(Debug, Clone)]
pub struct ProfileWrite {
    pub shop_name: String,
    pub contact_name: String,
    pub region_id: i64,
    pub wechat_id: String,
    pub address: super::addresses::AddressFields,
    pub shop_photo: Option<ImageRef>,
    pub licence: Option<ImageRef>,
}

/// The outbox event of a member's approval (K1: the rules tell him).
pub const MEMBER_APPROVED: &str = "member.approved";

/// What a `member.approved` event carries; each field is classified for plugins in
/// `plugins/data.rs`.
pub fn member_approved_payload(member_id: i64) -> serde_json::Value {
    serde_json::json!({ "member_id": member_id })
}

impl super::MemberStore<'_> {
    pub async fn member(self, id: i64) -> StoreResult<Option<MemberRecord>> {
        let sql = format!("{MEMBER_SELECT} AND u.id = $1");
        Ok(on_pool!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(id)
        .fetch_optional(pool)
        .await)?)
    }

    /// A page of the members a filter selects, newest first, and how many it selects.
    pub async fn list_members(
        self,
        filter: &MemberFilter,
    ) -> StoreResult<crate::store::Page<MemberRecord>> {
        crate::store::paged(filter.limit, filter.offset, |limit, offset| {
            self.member_rows(MemberFilter {
                limit,
                offset,
                ..filter.clone()
            })
        })
        .await
    }

    async fn member_rows(self, filter: MemberFilter) -> StoreResult<Vec<(MemberRecord, i64)>> {
        let rows: Vec<CountedMember> = on_pool!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(MEMBER_COUNTED_SELECT);
            if let Some(state) = filter.state {
                query
                    .push(" AND u.member_state = ")
                    .push_bind(state.as_str());
            }
            if let Some(region) = filter.region_id {
                query.push(" AND m.region_id = ").push_bind(region);
            }
            if let Some(level) = filter.level_id {
                query.push(" AND m.level_id = ").push_bind(level);
            }
            match filter.pending_change {
                Some(true) => {
                    query.push(" AND m.change_submitted_at IS NOT NULL");
                }
                Some(false) => {
                    query.push(" AND m.change_submitted_at IS NULL");
                }
                None => {}
            }
            if let Some(tag) = filter.tag_id {
                query.push(" AND EXISTS (SELECT 1 FROM member_tags t WHERE t.member_id = u.id AND t.tag_id = ").push_bind(tag).push(")");
            }
            match &filter.scope {
                MemberScope::All => {}
                MemberScope::Manager {
                    regions,
                    manager_id,
                } => {
                    query
                        .push(" AND (m.manager_id = ")
                        .push_bind(*manager_id)
                        .push(" OR m.region_id IN ");
                    crate::store::push_id_list(&mut query, regions.iter().copied());
                    query.push(")");
                }
                MemberScope::Promoter { promoter_id } => {
                    query.push(" AND m.promoter_id = ").push_bind(*promoter_id);
                }
            }
            query
                .push(" ORDER BY u.id DESC LIMIT ")
                .push_bind(filter.limit)
                .push(" OFFSET ")
                .push_bind(filter.offset);
            query.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(|r| (r.member, r.total)).collect())
    }

    /// Writes a completed profile in one transaction: the new images' rows, the contact
    /// fields and the default address, and then
    /// - for a member not yet approved: the shop name, region and photos, and the state
    ///   `profile_complete` (waiting for review);
    /// - for an approved member: the region must be the one staff set
    ///   (`ProfileSaved::RegionSetByStaff`, nothing written), and a different shop name or new
    ///   photos become the pending change staff review; the approved ones stay in force.
    ///
    /// The state is read inside the transaction, so an approval racing the form cannot let an
    /// unreviewed identity through. Returns the keys of images nothing refers to any more.
    pub async fn save_profile(
        self,
        user_id: i64,
        profile: &ProfileWrite,
        now_ms: i64,
    ) -> StoreResult<ProfileSaved> {
        type Current = (
            Option<String>,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let outcome = in_tx!(self, |tx| {
            let current: Option<Current> = sqlx::query_as(
                "SELECT u.member_state, m.region_id, m.shop_name, m.shop_photo, m.licence_photo, m.pending_shop_photo, m.pending_licence_photo
                 FROM users u LEFT JOIN members m ON m.user_id = u.id WHERE u.id = $1",
            )
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
            let (state, region_id, shop_name, old_shop, old_licence, pending_shop, pending_licence) =
                current.unwrap_or_default();
            let approved = state.as_deref() == Some(MemberState::Approved.as_str());
            if approved && region_id != Some(profile.region_id) {
                return Ok(ProfileSaved::RegionSetByStaff);
            }
            for image in [&profile.shop_photo, &profile.licence]
                .into_iter()
                .flatten()
            {
                sqlx::query("INSERT INTO uploads (key, owner_id, kind, content_type, size_bytes, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(&image.key)
                    .bind(user_id)
                    .bind(image.kind)
                    .bind(image.content_type)
                    .bind(image.size_bytes)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
            }
            let new_key = |image: &Option<ImageRef>| image.as_ref().map(|i| i.key.clone());
            // The pictures a new one replaces: the approved ones before approval, the previous
            // pending ones after.
            let mut replaced = Vec::new();
            let mut pending = false;
            if approved {
                let identity_changed = shop_name.as_deref() != Some(profile.shop_name.as_str())
                    || profile.shop_photo.is_some()
                    || profile.licence.is_some();
                if identity_changed {
                    pending = true;
                    if profile.shop_photo.is_some() {
                        replaced.extend(pending_shop);
                    }
                    if profile.licence.is_some() {
                        replaced.extend(pending_licence);
                    }
                    sqlx::query(
                        "UPDATE members SET pending_shop_name = $2,
                            pending_shop_photo = COALESCE($3, pending_shop_photo),
                            pending_licence_photo = COALESCE($4, pending_licence_photo),
                            change_submitted_at = $5, change_reject_reason = NULL
                         WHERE user_id = $1",
                    )
                    .bind(user_id)
                    .bind(&profile.shop_name)
                    .bind(new_key(&profile.shop_photo))
                    .bind(new_key(&profile.licence))
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query("UPDATE members SET wechat_id = $2 WHERE user_id = $1")
                    .bind(user_id)
                    .bind(&profile.wechat_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE users SET name = $2, updated_at = $3 WHERE id = $1")
                    .bind(user_id)
                    .bind(&profile.contact_name)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
            } else {
                if profile.shop_photo.is_some() {
                    replaced.extend(old_shop.clone());
                }
                if profile.licence.is_some() {
                    replaced.extend(old_licence.clone());
                }
                sqlx::query(
                    "INSERT INTO members (user_id, region_id, shop_name, wechat_id, shop_photo, licence_photo, profile_completed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (user_id) DO UPDATE SET region_id = excluded.region_id, shop_name = excluded.shop_name, wechat_id = excluded.wechat_id,
                     shop_photo = excluded.shop_photo, licence_photo = excluded.licence_photo, profile_completed_at = excluded.profile_completed_at",
                )
                .bind(user_id)
                .bind(profile.region_id)
                .bind(&profile.shop_name)
                .bind(&profile.wechat_id)
                .bind(new_key(&profile.shop_photo).or(old_shop))
                .bind(new_key(&profile.licence).or(old_licence))
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                // The guard repeats the decision above: a member approved meanwhile keeps the
                // state staff gave him.
                sqlx::query("UPDATE users SET name = $2, company_name = $3, updated_at = $4, member_state = 'profile_complete' WHERE id = $1 AND (member_state IS NULL OR member_state <> 'approved')")
                    .bind(user_id)
                    .bind(&profile.contact_name)
                    .bind(&profile.shop_name)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
            }
            let a = &profile.address;
            let updated = sqlx::query("UPDATE addresses SET province = $2, city = $3, district = $4, detail = $5, contact_name = $6, phone = $7, updated_at = $8 WHERE user_id = $1 AND is_default = TRUE")
                .bind(user_id).bind(&a.province).bind(&a.city).bind(&a.district).bind(&a.detail).bind(&a.contact_name).bind(&a.phone).bind(now_ms)
                .execute(&mut *tx).await?.rows_affected();
            if updated == 0 {
                sqlx::query("INSERT INTO addresses (user_id, province, city, district, detail, contact_name, phone, is_default, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8, $8)")
                    .bind(user_id).bind(&a.province).bind(&a.city).bind(&a.district).bind(&a.detail).bind(&a.contact_name).bind(&a.phone).bind(now_ms)
                    .execute(&mut *tx).await?;
            }
            for key in &replaced {
                sqlx::query("DELETE FROM uploads WHERE key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok::<_, StoreError>(ProfileSaved::Saved { replaced, pending })
        })?;
        self.changed(Change::Accounts).await;
        Ok(outcome)
    }

    /// Applies (`approve`) or drops an approved member's pending identity change. `None` when
    /// there is none. Returns the keys of images nothing refers to any more: the approved ones
    /// a change replaced, or the change's own when it is rejected.
    pub async fn decide_profile_change(
        self,
        id: i64,
        decision: ChangeDecision<'_>,
        by: i64,
        now_ms: i64,
    ) -> StoreResult<Option<Vec<String>>> {
        type Pending = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let outcome = in_tx!(self, |tx| {
            let row: Option<Pending> = sqlx::query_as(
                "SELECT pending_shop_name, pending_shop_photo, pending_licence_photo, shop_photo, licence_photo
                 FROM members WHERE user_id = $1 AND change_submitted_at IS NOT NULL",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((name, new_shop, new_licence, old_shop, old_licence)) = row else {
                return Ok(None);
            };
            let unused: Vec<String> = match decision {
                ChangeDecision::Approve => {
                    sqlx::query(
                        "UPDATE members SET shop_name = COALESCE(pending_shop_name, shop_name),
                            shop_photo = COALESCE(pending_shop_photo, shop_photo),
                            licence_photo = COALESCE(pending_licence_photo, licence_photo),
                            reviewed_by = $2, reviewed_at = $3
                         WHERE user_id = $1",
                    )
                    .bind(id)
                    .bind(by)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                    if let Some(name) = &name {
                        sqlx::query(
                            "UPDATE users SET company_name = $2, updated_at = $3 WHERE id = $1",
                        )
                        .bind(id)
                        .bind(name)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                    }
                    [
                        (new_shop.is_some(), old_shop),
                        (new_licence.is_some(), old_licence),
                    ]
                    .into_iter()
                    .filter_map(|(replaced, old)| if replaced { old } else { None })
                    .collect()
                }
                ChangeDecision::Reject(_) => new_shop.into_iter().chain(new_licence).collect(),
            };
            let reason = match decision {
                ChangeDecision::Approve => None,
                ChangeDecision::Reject(reason) => Some(reason),
            };
            sqlx::query(
                "UPDATE members SET pending_shop_name = NULL, pending_shop_photo = NULL, pending_licence_photo = NULL,
                    change_submitted_at = NULL, change_reject_reason = $2
                 WHERE user_id = $1",
            )
            .bind(id)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
            for key in &unused {
                sqlx::query("DELETE FROM uploads WHERE key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok::<_, StoreError>(Some(unused))
        })?;
        self.changed(Change::Accounts).await;
        Ok(outcome)
    }

    /// Approves a member whose profile is complete: level, region and manager in one step.
    /// False when the member is not waiting for review.
    pub async fn approve_member(
        self,
        id: i64,
        level_id: i64,
        region_id: i64,
        manager_id: Option<i64>,
        by: i64,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let outcome = in_tx!(self, |tx| {
            let moved = sqlx::query("UPDATE users SET member_state = 'approved', updated_at = $2 WHERE id = $1 AND member_state = 'profile_complete'")
                .bind(id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if moved {
                sqlx::query("UPDATE members SET level_id = $2, region_id = $3, manager_id = $4, reject_reason = NULL, reviewed_by = $5, reviewed_at = $6 WHERE user_id = $1")
                    .bind(id).bind(level_id).bind(region_id).bind(manager_id).bind(by).bind(now_ms)
                    .execute(&mut *tx).await?;
                // K1: the notification rules tell him (SMS), after commit.
                sqlx::query("INSERT INTO events (kind, order_id, payload, created_at) VALUES ($1, NULL, $2, $3)")
                    .bind(MEMBER_APPROVED)
                    .bind(member_approved_payload(id).to_string())
                    .bind(now_ms)
                    .execute(&mut *tx).await?;
            }
            Ok::<_, StoreError>(moved)
        })?;
        self.changed(Change::Accounts).await;
        Ok(outcome)
    }

    /// Moves a member to another level (his prices follow from his next request); false when
    /// he has no member record.
    pub async fn set_level(self, member_id: i64, level_id: i64) -> StoreResult<bool> {
        let updated: u64 = on_pool!(self, |pool| {
            sqlx::query("UPDATE members SET level_id = $2 WHERE user_id = $1")
                .bind(member_id)
                .bind(level_id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        let found = updated == 1;
        self.changed(Change::Accounts).await;
        Ok(found)
    }

    /// Rejects a member whose profile is complete, with the reason he will read.
    pub async fn reject_member(
        self,
        id: i64,
        reason: &str,
        by: i64,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let outcome = in_tx!(self, |tx| {
            let moved = sqlx::query("UPDATE users SET member_state = 'rejected', updated_at = $2 WHERE id = $1 AND member_state = 'profile_complete'")
                .bind(id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if moved {
                sqlx::query("UPDATE members SET reject_reason = $2, reviewed_by = $3, reviewed_at = $4 WHERE user_id = $1").bind(id).bind(reason).bind(by).bind(now_ms).execute(&mut *tx).await?;
            }
            Ok::<_, StoreError>(moved)
        })?;
        self.changed(Change::Accounts).await;
        Ok(outcome)
    }
}

/// A member as the pricing rules see him: his level's and region's names and his tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberAttributes {
    pub id: i64,
    pub level: String,
    pub region: String,
    pub tags: Vec<String>,
}

impl super::MemberStore<'_> {
    /// A member's level and region names and tags, for the pricing rules (every caller's
    /// member has the member role; anyone else is a member with no level, region or tags).
    pub async fn member_attributes(self, member_id: i64) -> StoreResult<MemberAttributes> {
        Ok(self
            .member_with_attributes(member_id)
            .await?
            .map(|(_, attributes)| attributes)
            .unwrap_or(MemberAttributes {
                id: member_id,
                ..MemberAttributes::default()
            }))
    }

    /// A member and what the pricing rules see of him, in one statement (a row per tag):
    /// what a member's own quote and checkout read before pricing.
    pub async fn member_with_attributes(
        self,
        member_id: i64,
    ) -> StoreResult<Option<(MemberRecord, MemberAttributes)>> {
        let sql = format!("{MEMBER_WITH_NAMES_SELECT} AND u.id = $1 ORDER BY tag_name");
        let rows: Vec<MemberWithNames> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(member_id)
                .fetch_all(pool)
                .await
        })?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let attributes = MemberAttributes {
            id: member_id,
            level: first.level_name.clone().unwrap_or_default(),
            region: first.region_name.clone().unwrap_or_default(),
            tags: rows.iter().filter_map(|row| row.tag_name.clone()).collect(),
        };
        Ok(rows.into_iter().next().map(|row| (row.record, attributes)))
    }
}

/// A member row with his level's and region's names and one of his tags.
#[derive(sqlx::FromRow)]
struct MemberWithNames {
    #[sqlx(flatten)]
    record: MemberRecord,
    level_name: Option<String>,
    region_name: Option<String>,
    tag_name: Option<String>,
}
