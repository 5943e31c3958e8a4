//! Issuing coupons (REQUIREMENTS G5 "issued by campaigns or as gifts (H3)"): a member claims
//! one in 领券中心, staff issue one to each of a group of members, the points plugin's gift mall
//! redeems one. Every way moves `issued:{template}` (at most `total`) with a bounded add, so
//! concurrent claims never issue more than the template allows; claims and staff issues take
//! the member's next number on `held:{template}:{member}` (at most `per_member`) with an exact
//! bound, so a member's double click gets one coupon and a 409, never two records under one id.

use pifa_sdk::Kv;

use crate::model::{
    self, Coupon, CouponRef, MAX_GIFTS, Source, Template, gifted_key, held_key, issued_key,
    take_next,
};

/// Members one staff issue may name: each costs two writes (the member's counter and the
/// coupon), plus one for `issued:{template}`, within the kernel's 100 writes per call.
pub const MAX_ISSUE_MEMBERS: usize = 49;

/// Why a coupon was not issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Staff ended the template.
    Ended,
    /// Its fixed window has not opened.
    NotStarted(i64),
    /// Its fixed window has closed.
    Expired,
    /// Every coupon of `total` was issued (`left` remained for the call's `wanted`).
    SoldOut { left: i64 },
    /// The member holds `per_member` of them already.
    MemberLimit(i64),
    /// The member's gift-mall coupons of this template reached [`MAX_GIFTS`].
    GiftLimit,
    /// The kernel's kv refused a write (a quota, most often).
    Storage(String),
}

impl Refusal {
    /// What the member or staff read.
    pub fn message(&self) -> String {
        match self {
            Refusal::Ended => "已结束 (the coupon campaign has ended)".to_owned(),
            Refusal::NotStarted(from) => format!(
                "未开始，{}起可领 (not started yet)",
                pifa_sdk::input::local_time(*from)
            ),
            Refusal::Expired => "已结束：有效期已过 (the coupons' validity is over)".to_owned(),
            Refusal::SoldOut { left } if *left > 0 => {
                format!("剩余{left}张，不够发放 (only {left} left)")
            }
            Refusal::SoldOut { .. } => "已领完 (all coupons have been issued)".to_owned(),
            Refusal::MemberLimit(most) => {
                format!("每人限领{most}张 (at most {most} per member)")
            }
            Refusal::GiftLimit => {
                format!("该会员的积分兑换券已达{MAX_GIFTS}张 (gift limit reached)")
            }
            Refusal::Storage(message) => format!("保存失败 (saving failed): {message}"),
        }
    }

    /// The stable code of a 409 (or 500 for storage).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Ended | Refusal::Expired => "ended",
            Refusal::NotStarted(_) => "not_started",
            Refusal::SoldOut { .. } => "sold_out",
            Refusal::MemberLimit(_) => "member_limit",
            Refusal::GiftLimit => "gift_limit",
            Refusal::Storage(_) => "storage_failed",
        }
    }
}

/// Whether the template may issue coupons at `now_ms` (claims also need its window open).
fn open(template: &Template, now_ms: i64, require_started: bool) -> Result<(), Refusal> {
    if template.ended {
        return Err(Refusal::Ended);
    }
    if template.expired(now_ms) {
        return Err(Refusal::Expired);
    }
    if require_started && let Some(from) = template.not_started(now_ms) {
        return Err(Refusal::NotStarted(from));
    }
    Ok(())
}

fn new_coupon(
    template: &Template,
    reference: CouponRef,
    now_ms: i64,
    source: Source,
    source_ref: Option<String>,
) -> Result<Coupon, Refusal> {
    let id = reference.id().ok_or_else(|| {
        Refusal::Storage(format!("member {} has no coupon ids", reference.member_id))
    })?;
    let (valid_from_ms, valid_until_ms) = template.window(now_ms);
    Ok(Coupon {
        id,
        template_id: template.id,
        member_id: reference.member_id,
        issued_at_ms: now_ms,
        valid_from_ms,
        valid_until_ms,
        source,
        source_ref,
        used_by: None,
    })
}

fn storage(message: String) -> Refusal {
    Refusal::Storage(message)
}

/// A member claims one coupon of a claimable template (领券中心). The caller checked that the
/// template is claimable. Three writes; a refusal leaves whatever it buffered uncommitted (a
/// route's writes commit with its 2xx answer only).
pub fn claim(
    kv: &mut impl Kv,
    template: &Template,
    member_id: i64,
    now_ms: i64,
) -> Result<Coupon, Refusal> {
    open(template, now_ms, true)?;
    let issued_key = issued_key(template.id);
    // Read first, so the common refusals write nothing at all.
    if kv.counter(&issued_key) >= template.total {
        return Err(Refusal::SoldOut { left: 0 });
    }
    let k = take_next(kv, &held_key(template.id, member_id), template.per_member)
        .map_err(storage)?
        .ok_or(Refusal::MemberLimit(template.per_member))?;
    if kv
        .add_bounded(&issued_key, 1, 0, template.total)
        .map_err(storage)?
        .is_none()
    {
        return Err(Refusal::SoldOut { left: 0 });
    }
    let reference = CouponRef {
        member_id,
        template_id: template.id,
        k,
    };
    let coupon = new_coupon(template, reference, now_ms, Source::Claim, None)?;
    model::save_coupon(kv, &coupon).map_err(storage)?;
    Ok(coupon)
}

/// What a staff issue did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub coupons: Vec<Coupon>,
    /// Members left out, each with why (at their `per_member`).
    pub skipped: Vec<(i64, Refusal)>,
}

/// Staff issue one coupon to each member of `member_ids` (at most [`MAX_ISSUE_MEMBERS`]; the
/// caller checked), whether or not members may claim the template; members already holding
/// `per_member` are skipped and listed. All or nothing against `total`: when fewer coupons are
/// left than members to receive them, nothing is issued (the refusal says how many are left).
pub fn staff_issue(
    kv: &mut impl Kv,
    template: &Template,
    member_ids: &[i64],
    staff_user_id: Option<i64>,
    now_ms: i64,
) -> Result<Issued, Refusal> {
    open(template, now_ms, false)?;
    let mut numbered: Vec<CouponRef> = Vec::new();
    let mut skipped = Vec::new();
    for &member_id in member_ids {
        match take_next(kv, &held_key(template.id, member_id), template.per_member)
            .map_err(storage)?
        {
            Some(k) => numbered.push(CouponRef {
                member_id,
                template_id: template.id,
                k,
            }),
            None => skipped.push((member_id, Refusal::MemberLimit(template.per_member))),
        }
    }
    if !numbered.is_empty() {
        let wanted = i64::try_from(numbered.len()).unwrap_or(i64::MAX);
        let key = issued_key(template.id);
        if kv
            .add_bounded(&key, wanted, 0, template.total)
            .map_err(storage)?
            .is_none()
        {
            let left = template.total.saturating_sub(kv.counter(&key)).max(0);
            return Err(Refusal::SoldOut { left });
        }
    }
    let source_ref = staff_user_id.map(|id| id.to_string());
    let mut coupons = Vec::new();
    for reference in numbered {
        let coupon = new_coupon(
            template,
            reference,
            now_ms,
            Source::Staff,
            source_ref.clone(),
        )?;
        model::save_coupon(kv, &coupon).map_err(storage)?;
        coupons.push(coupon);
    }
    Ok(Issued { coupons, skipped })
}

/// The gift mall (REQUIREMENTS H3) redeemed a coupon gift: one coupon for the member, whether
/// or not members may claim the template and beyond `per_member` (he paid points for it), but
/// never beyond `total`.
pub fn gift(
    kv: &mut impl Kv,
    template: &Template,
    member_id: i64,
    redemption_ref: Option<String>,
    now_ms: i64,
) -> Result<Coupon, Refusal> {
    open(template, now_ms, false)?;
    let key = gifted_key(template.id, member_id);
    if kv.counter(&key) >= MAX_GIFTS {
        return Err(Refusal::GiftLimit);
    }
    if kv
        .add_bounded(&issued_key(template.id), 1, 0, template.total)
        .map_err(storage)?
        .is_none()
    {
        return Err(Refusal::SoldOut { left: 0 });
    }
    let n = take_next(kv, &key, MAX_GIFTS)
        .map_err(storage)?
        .ok_or(Refusal::GiftLimit)?;
    let reference = CouponRef {
        member_id,
        template_id: template.id,
        k: CouponRef::gift_k(n),
    };
    let coupon = new_coupon(
        template,
        reference,
        now_ms,
        Source::GiftMall,
        redemption_ref,
    )?;
    model::save_coupon(kv, &coupon).map_err(storage)?;
    Ok(coupon)
}

#[cfg(test)]
mod tests {
    use pifa_sdk::MemoryKv;

    use super::*;
    use crate::model::tests::{NOW, template};
    use crate::model::{DAY_MS, load_coupon, wallet};

    #[test]
    fn a_claim_issues_one_coupon_within_total_and_per_member() {
        let mut kv = MemoryKv::default();
        let t = template(1);
        let first = claim(&mut kv, &t, 42, NOW).unwrap();
        assert_eq!(first.id, 420_001_001);
        assert_eq!(
            (first.valid_from_ms, first.valid_until_ms),
            (NOW - DAY_MS, NOW + 30 * DAY_MS)
        );
        assert_eq!(first.source, Source::Claim);
        let second = claim(&mut kv, &t, 42, NOW).unwrap();
        assert_eq!(second.id, 420_001_002);
        let third = claim(&mut kv, &t, 42, NOW).unwrap_err();
        assert_eq!(third, Refusal::MemberLimit(2));
        assert_eq!(third.message(), "每人限领2张 (at most 2 per member)");
        assert_eq!(kv.counter("held:1:42"), 2);
        assert_eq!(load_coupon(&kv, second.id), Some(second));
        assert_eq!(wallet(&kv, 42).len(), 2);
    }

    #[test]
    fn a_claim_is_refused_when_all_are_issued_ended_or_outside_the_window() {
        let mut kv = MemoryKv::default();
        let mut t = template(1);
        t.total = 1;
        claim(&mut kv, &t, 1, NOW).unwrap();
        let sold_out = claim(&mut kv, &t, 2, NOW).unwrap_err();
        assert_eq!(sold_out.message(), "已领完 (all coupons have been issued)");
        assert_eq!(sold_out.code(), "sold_out");
        assert_eq!(kv.counter("issued:1"), 1);

        let mut later = template(2);
        later.valid_from_ms = Some(NOW + DAY_MS);
        let refusal = claim(&mut kv, &later, 1, NOW).unwrap_err();
        assert_eq!(refusal.code(), "not_started");
        assert!(refusal.message().starts_with("未开始"));

        let mut over = template(3);
        over.valid_until_ms = Some(NOW);
        assert_eq!(claim(&mut kv, &over, 1, NOW).unwrap_err().code(), "ended");
        let mut ended = template(4);
        ended.ended = true;
        assert_eq!(
            claim(&mut kv, &ended, 1, NOW).unwrap_err().message(),
            "已结束 (the coupon campaign has ended)"
        );
    }

    /// A kv recording what each `add_bounded` asked, to check the bounds the kernel applies
    /// again at commit.
    #[derive(Default)]
    struct Recording {
        inner: MemoryKv,
        adds: Vec<(String, i64, i64, i64)>,
    }

    impl Kv for Recording {
        fn get(&self, key: &str) -> Option<Vec<u8>> {
            self.inner.get(key)
        }
        fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
            self.inner.put(key, value)
        }
        fn delete(&mut self, key: &str) -> Result<(), String> {
            self.inner.delete(key)
        }
        fn scan(&self, prefix: &str, after: Option<&str>, limit: u32) -> Vec<(String, Vec<u8>)> {
            self.inner.scan(prefix, after, limit)
        }
        fn counter(&self, key: &str) -> i64 {
            self.inner.counter(key)
        }
        fn add_bounded(
            &mut self,
            key: &str,
            delta: i64,
            min: i64,
            max: i64,
        ) -> Result<Option<i64>, String> {
            self.adds.push((key.to_owned(), delta, min, max));
            self.inner.add_bounded(key, delta, min, max)
        }
    }

    #[test]
    fn a_claim_bounds_the_total_and_takes_the_members_number_exactly() {
        // Two calls racing both read held = 1: each asks the kernel to move it to exactly 2, so
        // only one of them commits and no two coupons share an id; the total is a plain bound,
        // so claims by different members do not collide.
        let mut kv = Recording::default();
        kv.inner.counters.insert("held:1:42".to_owned(), 1);
        kv.inner.counters.insert("issued:1".to_owned(), 10);
        claim(&mut kv, &template(1), 42, NOW).unwrap();
        assert_eq!(
            kv.adds,
            vec![
                ("held:1:42".to_owned(), 1, 2, 2),
                ("issued:1".to_owned(), 1, 0, 100),
            ]
        );
        let mut kv = Recording::default();
        staff_issue(&mut kv, &template(1), &[5, 6], None, NOW).unwrap();
        assert_eq!(
            kv.adds,
            vec![
                ("held:1:5".to_owned(), 1, 1, 1),
                ("held:1:6".to_owned(), 1, 1, 1),
                ("issued:1".to_owned(), 2, 0, 100),
            ]
        );
        let mut kv = Recording::default();
        gift(&mut kv, &template(1), 42, None, NOW).unwrap();
        assert_eq!(
            kv.adds,
            vec![
                ("issued:1".to_owned(), 1, 0, 100),
                ("gifted:1:42".to_owned(), 1, 1, 1),
            ]
        );
    }

    #[test]
    fn per_days_validity_starts_when_issued() {
        let mut kv = MemoryKv::default();
        let mut t = template(1);
        t.valid_from_ms = None;
        t.valid_until_ms = None;
        t.valid_days = Some(7);
        let coupon = claim(&mut kv, &t, 42, NOW).unwrap();
        assert_eq!(
            (coupon.valid_from_ms, coupon.valid_until_ms),
            (NOW, NOW + 7 * DAY_MS)
        );
    }

    #[test]
    fn staff_issue_skips_members_at_their_limit() {
        let mut kv = MemoryKv::default();
        let mut t = template(1);
        t.per_member = 1;
        t.claimable = false;
        claim(&mut kv, &t, 2, NOW).unwrap();
        let issued = staff_issue(&mut kv, &t, &[1, 2, 3], Some(9), NOW).unwrap();
        let ids: Vec<i64> = issued.coupons.iter().map(|c| c.member_id).collect();
        assert_eq!(ids, vec![1, 3]);
        assert_eq!(issued.skipped, vec![(2, Refusal::MemberLimit(1))]);
        assert_eq!(issued.coupons[0].source, Source::Staff);
        assert_eq!(issued.coupons[0].source_ref.as_deref(), Some("9"));
        assert_eq!(kv.counter("issued:1"), 3);
    }

    #[test]
    fn staff_issue_is_all_or_nothing_against_the_total() {
        let mut kv = MemoryKv::default();
        let mut t = template(1);
        t.total = 3;
        claim(&mut kv, &t, 1, NOW).unwrap();
        let refusal = staff_issue(&mut kv, &t, &[5, 6, 7], None, NOW).unwrap_err();
        assert_eq!(refusal, Refusal::SoldOut { left: 2 });
        assert_eq!(refusal.message(), "剩余2张，不够发放 (only 2 left)");
        // (The kernel drops the held counters this call moved with its 409; MemoryKv has no
        // commit, so only the total is checked here.)
        assert_eq!(kv.counter("issued:1"), 1);
    }

    #[test]
    fn staff_issue_stays_within_the_write_quota() {
        let mut kv = MemoryKv {
            writes_left: Some(100),
            ..MemoryKv::default()
        };
        let mut t = template(1);
        t.total = 1_000;
        let members: Vec<i64> = (1..=MAX_ISSUE_MEMBERS as i64).collect();
        let issued = staff_issue(&mut kv, &t, &members, None, NOW).unwrap();
        assert_eq!(issued.coupons.len(), MAX_ISSUE_MEMBERS);
        assert_eq!(kv.writes_left, Some(1));
        let mut kv = MemoryKv {
            writes_left: Some(100),
            ..MemoryKv::default()
        };
        let one_more: Vec<i64> = (1..=MAX_ISSUE_MEMBERS as i64 + 1).collect();
        assert!(matches!(
            staff_issue(&mut kv, &t, &one_more, None, NOW),
            Err(Refusal::Storage(_))
        ));
    }

    #[test]
    fn a_gift_ignores_claimable_and_per_member_but_not_the_total() {
        let mut kv = MemoryKv::default();
        let mut t = template(1);
        t.claimable = false;
        t.per_member = 1;
        t.total = 2;
        let first = gift(&mut kv, &t, 42, Some("77".to_owned()), NOW).unwrap();
        let second = gift(&mut kv, &t, 42, Some("78".to_owned()), NOW).unwrap();
        assert_eq!((first.id, second.id), (420_001_101, 420_001_102));
        assert_eq!(first.source, Source::GiftMall);
        assert_eq!(first.source_ref.as_deref(), Some("77"));
        assert_eq!(
            kv.counter("held:1:42"),
            0,
            "gifts do not count against claims"
        );
        assert_eq!(
            gift(&mut kv, &t, 43, None, NOW).unwrap_err(),
            Refusal::SoldOut { left: 0 }
        );
        let mut full = MemoryKv::default();
        full.counters.insert("gifted:1:42".to_owned(), MAX_GIFTS);
        assert_eq!(
            gift(&mut full, &t, 42, None, NOW).unwrap_err(),
            Refusal::GiftLimit
        );
        assert_eq!(full.counter("issued:1"), 0);
    }
}
