//! Coupon templates (优惠券模板, the campaigns staff create) and the coupons issued from them
//! (REQUIREMENTS G5), how they are stored, and how they read in words.
//!
//! Storage (kv):
//! - `template:{id:04}` → [`Template`]; ids from the sequence counter `next-template-id`
//!   (1 to [`MAX_TEMPLATE_ID`]), how many are stored in the counter `templates` (at most
//!   [`MAX_TEMPLATES`]).
//! - `coupon:{member:010}:{9999 − template:04}:{999 − k:03}` → [`Coupon`]: one member's
//!   coupons under one prefix, newest template first, so a bounded scan of a member's wallet
//!   reads his most recent coupons.
//! - counters `issued:{template}` (all coupons issued, at most `total`),
//!   `held:{template}:{member}` (claimed or issued by staff to the member, at most
//!   `per_member`), `gifted:{template}:{member}` (from the gift mall), `used:{coupon}` (0 or 1,
//!   moved only by checkout reservations and given back when the order closes) and
//!   `used_total:{template}` (coupons of the template in placed orders, for the statistics).
//!
//! A coupon's id encodes who holds it and where it came from:
//! `member_id × 10,000,000 + template_id × 1,000 + k`, with `k` its number among the member's
//! coupons of that template (1 to 100 claimed or issued by staff, 101 to 999 from the gift
//! mall). So the key of a coupon follows from its id alone (an event's reservation names the
//! coupon and nothing else), and `k` is taken with an exact bound on the member's counter (see
//! [`take_next`]), which makes it unique even when two calls race.

use pifa_sdk::input::{local_date, show_scaled, yuan};
use pifa_sdk::{Kv, Line};
use serde::{Deserialize, Serialize};

pub const MAX_TEMPLATES: i64 = 200;
/// Template ids are 4 digits of a coupon's id.
pub const MAX_TEMPLATE_ID: i64 = 9_999;
pub const MAX_NAME_CHARS: usize = 30;
pub const MAX_TOTAL: i64 = 1_000_000;
pub const MAX_PER_MEMBER: i64 = 100;
/// Gift-mall coupons of one template one member may receive: `k` runs from 101 to 999.
pub const MAX_GIFTS: i64 = 899;
pub const MAX_SCOPE_IDS: usize = 100;
pub const MAX_VALID_DAYS: i64 = 3_650;
pub const MAX_AMOUNT_FEN: i64 = 100_000_000;
/// The coupons of a member read for a cart or his wallet (newest templates first): bounded
/// so a quote stays within its fuel and its 100 ms.
pub const WALLET_SCAN: usize = 100;

pub const TEMPLATE_PREFIX: &str = "template:";
pub const TEMPLATE_SEQ: &str = "next-template-id";
pub const TEMPLATE_COUNT: &str = "templates";
const MEMBER_FACTOR: i64 = 10_000_000;
const TEMPLATE_FACTOR: i64 = 1_000;
const GIFT_BASE: i64 = 100;
pub const DAY_MS: i64 = 86_400_000;

pub fn template_key(id: i64) -> String {
    format!("{TEMPLATE_PREFIX}{id:04}")
}

pub fn issued_key(template_id: i64) -> String {
    format!("issued:{template_id}")
}

pub fn held_key(template_id: i64, member_id: i64) -> String {
    format!("held:{template_id}:{member_id}")
}

pub fn gifted_key(template_id: i64, member_id: i64) -> String {
    format!("gifted:{template_id}:{member_id}")
}

pub fn used_key(coupon_id: i64) -> String {
    format!("used:{coupon_id}")
}

pub fn used_total_key(template_id: i64) -> String {
    format!("used_total:{template_id}")
}

pub fn wallet_prefix(member_id: i64) -> String {
    format!("coupon:{member_id:010}:")
}

/// What a coupon's id says: whose it is, of which template, which of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CouponRef {
    pub member_id: i64,
    pub template_id: i64,
    pub k: i64,
}

impl CouponRef {
    pub fn id(self) -> Option<i64> {
        self.member_id
            .checked_mul(MEMBER_FACTOR)?
            .checked_add(self.template_id.checked_mul(TEMPLATE_FACTOR)?)?
            .checked_add(self.k)
    }

    pub fn of(id: i64) -> Option<CouponRef> {
        if id <= 0 {
            return None;
        }
        let rest = id % MEMBER_FACTOR;
        let found = CouponRef {
            member_id: id / MEMBER_FACTOR,
            template_id: rest / TEMPLATE_FACTOR,
            k: rest % TEMPLATE_FACTOR,
        };
        (found.member_id >= 1 && found.template_id >= 1 && found.k >= 1).then_some(found)
    }

    pub fn key(self) -> String {
        format!(
            "{}{:04}:{:03}",
            wallet_prefix(self.member_id),
            MAX_TEMPLATE_ID - self.template_id,
            999 - self.k
        )
    }

    /// The `k` of the `n`-th gift-mall coupon.
    pub fn gift_k(n: i64) -> i64 {
        GIFT_BASE + n
    }
}

/// Takes the next number of the counter `key` (the value it holds now plus one, at most
/// `max`), or `None` when it is at `max`. The bound is exact (`min = max = next`), so if another
/// call took the same number meanwhile the kernel refuses this call's commit (a route answers
/// 409 `changed_meanwhile`, an event is delivered again) instead of storing a second record
/// under the same number: the kernel applies a counter's change as a delta at commit, so the
/// value `add_bounded` returned alone does not make a number unique.
pub fn take_next(kv: &mut impl Kv, key: &str, max: i64) -> Result<Option<i64>, String> {
    let Some(next) = kv.counter(key).checked_add(1).filter(|next| *next <= max) else {
        return Ok(None);
    };
    kv.add_bounded(key, 1, next, next)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `amount_fen` off.
    Reduce,
    /// Pay `percent` of the eligible total, at most `cap_fen` off.
    Discount,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    #[default]
    All,
    Categories,
    Brands,
    Products,
}

impl Scope {
    pub const NAMES: [&'static str; 4] = ["all", "categories", "brands", "products"];

    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "all" => Some(Scope::All),
            "categories" => Some(Scope::Categories),
            "brands" => Some(Scope::Brands),
            "products" => Some(Scope::Products),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::All => "all",
            Scope::Categories => "categories",
            Scope::Brands => "brands",
            Scope::Products => "products",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Scope::All => "全场通用",
            Scope::Categories => "指定分类可用",
            Scope::Brands => "指定品牌可用",
            Scope::Products => "指定商品可用",
        }
    }
}

/// A coupon template: the rule its coupons give, where and when they apply, and how many may
/// be issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub id: i64,
    pub name: String,
    pub kind: Kind,
    /// `reduce`: what comes off (never more than the eligible total).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_fen: Option<i64>,
    /// `discount`: the percent the member pays (1 to 99; 85 = 8.5折).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<i64>,
    /// `discount`: at most this much off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_fen: Option<i64>,
    /// The eligible total needed; 0 for none.
    #[serde(default)]
    pub threshold_fen: i64,
    #[serde(default)]
    pub scope: Scope,
    /// Category, brand or product ids, by `scope`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope_ids: Vec<i64>,
    /// A fixed window (both set), or `valid_days` after issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_days: Option<i64>,
    /// Coupons that may be issued in all.
    pub total: i64,
    /// Coupons one member may claim or be issued by staff.
    pub per_member: i64,
    /// Members may claim it themselves (领券中心).
    #[serde(default)]
    pub claimable: bool,
    /// Ended by staff: no more issuing, and its coupons no longer apply.
    #[serde(default)]
    pub ended: bool,
    #[serde(default)]
    pub created_at_ms: i64,
}

impl Template {
    /// The window of a coupon issued at `issued_at_ms`.
    pub fn window(&self, issued_at_ms: i64) -> (i64, i64) {
        match (self.valid_from_ms, self.valid_until_ms, self.valid_days) {
            (Some(from), Some(until), _) => (from, until),
            (_, _, Some(days)) => (
                issued_at_ms,
                issued_at_ms.saturating_add(days.saturating_mul(DAY_MS)),
            ),
            // Not stored by this plugin (the terms refuse it): a window that is already over.
            _ => (issued_at_ms, issued_at_ms),
        }
    }

    /// A fixed window not yet open at `now_ms`.
    pub fn not_started(&self, now_ms: i64) -> Option<i64> {
        self.valid_from_ms.filter(|from| now_ms < *from)
    }

    /// A fixed window already closed at `now_ms`.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.valid_until_ms.is_some_and(|until| until <= now_ms)
    }

    /// Whether a cart line counts towards this coupon (a gift line never does).
    pub fn covers(&self, line: &Line) -> bool {
        if line.gift {
            return false;
        }
        match self.scope {
            Scope::All => true,
            Scope::Categories => line.category_ids.iter().any(|c| self.scope_ids.contains(c)),
            Scope::Brands => line.brand_id.is_some_and(|b| self.scope_ids.contains(&b)),
            Scope::Products => self.scope_ids.contains(&line.product_id),
        }
    }

    /// What comes off an eligible total (0 when the rule gives nothing).
    pub fn discount(&self, eligible_fen: i64) -> i64 {
        let eligible = eligible_fen.max(0);
        let off = match self.kind {
            Kind::Reduce => self.amount_fen.unwrap_or(0),
            Kind::Discount => {
                let Some(percent) = self.percent.filter(|p| (1..=99).contains(p)) else {
                    return 0;
                };
                // Rounded down: the coupon never gives a fen more than its percent.
                let off = i128::from(eligible) * i128::from(100 - percent) / 100;
                let off = i64::try_from(off).unwrap_or(i64::MAX);
                match self.cap_fen {
                    Some(cap) => off.min(cap),
                    None => off,
                }
            }
        };
        off.clamp(0, eligible)
    }

    /// The rule in words: 「满300减30」, 「无门槛减5」, 「满200打8.5折，最多减50」.
    pub fn rule_text(&self) -> String {
        let threshold = (self.threshold_fen > 0).then(|| short_yuan(self.threshold_fen));
        match self.kind {
            Kind::Reduce => {
                let amount = short_yuan(self.amount_fen.unwrap_or(0));
                match threshold {
                    Some(threshold) => format!("满{threshold}减{amount}"),
                    None => format!("无门槛减{amount}"),
                }
            }
            Kind::Discount => {
                let zhe = zhe(self.percent.unwrap_or(100));
                let mut text = match threshold {
                    Some(threshold) => format!("满{threshold}打{zhe}折"),
                    None => format!("无门槛{zhe}折"),
                };
                if let Some(cap) = self.cap_fen {
                    text.push_str(&format!("，最多减{}", short_yuan(cap)));
                }
                text
            }
        }
    }

    /// When its coupons apply: 「2026-12-01 至 2026-12-31」 or 「领取后30天内有效」.
    pub fn validity_text(&self) -> String {
        match (self.valid_from_ms, self.valid_until_ms, self.valid_days) {
            (Some(from), Some(until), _) => {
                format!("{} 至 {}", local_date(from), last_day(until))
            }
            (_, _, Some(days)) => format!("领取后{days}天内有效"),
            _ => String::new(),
        }
    }

    pub fn scope_text(&self) -> String {
        if self.scope == Scope::All {
            return self.scope.label().to_owned();
        }
        let ids: Vec<String> = self.scope_ids.iter().map(i64::to_string).collect();
        format!("{}（编号 {}）", self.scope.label(), ids.join("、"))
    }

    /// The fields that decide what a coupon gives: fixed once coupons were issued.
    pub fn same_rule(&self, other: &Template) -> bool {
        self.kind == other.kind
            && self.amount_fen == other.amount_fen
            && self.percent == other.percent
            && self.cap_fen == other.cap_fen
            && self.threshold_fen == other.threshold_fen
            && self.scope == other.scope
            && self.scope_ids == other.scope_ids
    }
}

/// The last day of a window ending (exclusive) at `until_ms`, as the shop's date.
pub fn last_day(until_ms: i64) -> String {
    local_date(until_ms.saturating_sub(1))
}

/// Yuan without a `¥` and without zero decimals: 30000 → 「300」, 1250 → 「12.5」.
pub fn short_yuan(fen: i64) -> String {
    let text = show_scaled(fen, 2);
    let text = text.trim_end_matches('0');
    text.trim_end_matches('.').to_owned()
}

/// A percent paid as 折: 80 → 「8」, 85 → 「8.5」, 5 → 「0.5」.
pub fn zhe(percent: i64) -> String {
    if percent % 10 == 0 {
        (percent / 10).to_string()
    } else {
        format!("{}.{}", percent / 10, percent % 10)
    }
}

/// Where a coupon came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The member claimed it in 领券中心.
    Claim,
    /// Staff issued it (`source_ref` = the staff user's id).
    Staff,
    /// Redeemed in the points plugin's gift mall (`source_ref` = the redemption's id).
    GiftMall,
    /// Issued by a campaign of another plugin (none does yet).
    Campaign,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Claim => "领券中心",
            Source::Staff => "商家发放",
            Source::GiftMall => "积分兑换",
            Source::Campaign => "活动赠送",
        }
    }
}

/// A coupon a member holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    pub id: i64,
    pub template_id: i64,
    pub member_id: i64,
    pub issued_at_ms: i64,
    pub valid_from_ms: i64,
    /// Exclusive: the coupon no longer applies from this moment.
    pub valid_until_ms: i64,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<String>,
    /// The placed order it went to (written by `order.placed`, cleared by `order.closed`); the
    /// counter `used:{id}` is what decides, this is what the screens show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_by: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub order_id: Option<i64>,
    #[serde(default)]
    pub order_no: Option<String>,
    pub at_ms: i64,
}

impl Coupon {
    pub fn reference(&self) -> Option<CouponRef> {
        CouponRef::of(self.id)
    }

    /// 「满300减30（2026-12-31前有效）」: how the checkout's select lists it.
    pub fn choice_label(&self, template: &Template) -> String {
        format!(
            "{}（{}前有效）",
            template.rule_text(),
            last_day(self.valid_until_ms)
        )
    }
}

pub fn load_template(kv: &impl Kv, id: i64) -> Option<Template> {
    if !(1..=MAX_TEMPLATE_ID).contains(&id) {
        return None;
    }
    kv.get_json(&template_key(id))
}

pub fn save_template(kv: &mut impl Kv, template: &Template) -> Result<(), String> {
    kv.put_json(&template_key(template.id), template)
}

/// Every template, in id order (at most [`MAX_TEMPLATES`] are stored).
pub fn all_templates(kv: &impl Kv) -> Vec<Template> {
    let most = usize::try_from(MAX_TEMPLATES).unwrap_or(200);
    kv.scan_json::<Template>(TEMPLATE_PREFIX, 200, most)
        .into_iter()
        .map(|(_, template)| template)
        .collect()
}

pub fn load_coupon(kv: &impl Kv, id: i64) -> Option<Coupon> {
    let reference = CouponRef::of(id)?;
    kv.get_json::<Coupon>(&reference.key())
        .filter(|coupon| coupon.id == id)
}

pub fn save_coupon(kv: &mut impl Kv, coupon: &Coupon) -> Result<(), String> {
    let key = coupon
        .reference()
        .map(CouponRef::key)
        .ok_or_else(|| format!("coupon id {} does not name a coupon", coupon.id))?;
    kv.put_json(&key, coupon)
}

/// The member's coupons, newest templates first, at most [`WALLET_SCAN`].
pub fn wallet(kv: &impl Kv, member_id: i64) -> Vec<Coupon> {
    kv.scan_json::<Coupon>(&wallet_prefix(member_id), 100, WALLET_SCAN)
        .into_iter()
        .map(|(_, coupon)| coupon)
        .filter(|coupon| coupon.member_id == member_id)
        .collect()
}

/// The templates the coupons name, each read once.
pub fn templates_of(kv: &impl Kv, coupons: &[Coupon]) -> std::collections::BTreeMap<i64, Template> {
    let mut templates = std::collections::BTreeMap::new();
    for coupon in coupons {
        if !templates.contains_key(&coupon.template_id)
            && let Some(template) = load_template(kv, coupon.template_id)
        {
            templates.insert(coupon.template_id, template);
        }
    }
    templates
}

/// What a coupon's state is at `now_ms` for the member's wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Usable,
    NotStarted,
    Used,
    Expired,
    /// Its template was ended or deleted by staff.
    Ended,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Usable => "可使用",
            Status::NotStarted => "未到使用时间",
            Status::Used => "已使用",
            Status::Expired => "已过期",
            Status::Ended => "已停用",
        }
    }
}

/// The `used:{id}` counter is read only for a coupon that could still be used: the placed
/// order's event marks `used_by`, the counter alone knows an order whose event is on its way.
pub fn status(kv: &impl Kv, coupon: &Coupon, template: Option<&Template>, now_ms: i64) -> Status {
    if coupon.used_by.is_some() {
        Status::Used
    } else if template.is_none_or(|t| t.ended) {
        Status::Ended
    } else if coupon.valid_until_ms <= now_ms {
        Status::Expired
    } else if kv.counter(&used_key(coupon.id)) > 0 {
        Status::Used
    } else if now_ms < coupon.valid_from_ms {
        Status::NotStarted
    } else {
        Status::Usable
    }
}

/// Money as the notes say it: 「¥300.00」.
pub fn money(fen: i64) -> String {
    yuan(fen)
}

#[cfg(test)]
pub mod tests {
    use pifa_sdk::MemoryKv;

    use super::*;

    pub const NOW: i64 = 1_767_240_000_000; // 2026-01-01 12:00 in Beijing

    pub fn template(id: i64) -> Template {
        Template {
            id,
            name: "新年满减券".to_owned(),
            kind: Kind::Reduce,
            amount_fen: Some(3_000),
            percent: None,
            cap_fen: None,
            threshold_fen: 30_000,
            scope: Scope::All,
            scope_ids: Vec::new(),
            valid_from_ms: Some(NOW - DAY_MS),
            valid_until_ms: Some(NOW + 30 * DAY_MS),
            valid_days: None,
            total: 100,
            per_member: 2,
            claimable: true,
            ended: false,
            created_at_ms: NOW - DAY_MS,
        }
    }

    #[test]
    fn a_coupon_id_names_its_member_template_and_number() {
        let reference = CouponRef {
            member_id: 42,
            template_id: 7,
            k: 101,
        };
        assert_eq!(reference.id(), Some(420_007_101));
        assert_eq!(CouponRef::of(420_007_101), Some(reference));
        assert_eq!(reference.key(), "coupon:0000000042:9992:898");
        assert_eq!(CouponRef::of(0), None);
        assert_eq!(CouponRef::of(-5), None);
        assert_eq!(CouponRef::of(420_000_001), None, "template 0");
        assert_eq!(CouponRef::of(420_007_000), None, "k 0");
        assert_eq!(CouponRef::of(7_001), None, "member 0");
        let huge = CouponRef {
            member_id: i64::MAX / 1_000,
            template_id: 1,
            k: 1,
        };
        assert_eq!(huge.id(), None);
    }

    #[test]
    fn newer_templates_sort_first_in_a_members_wallet() {
        let older = CouponRef {
            member_id: 42,
            template_id: 3,
            k: 1,
        };
        let newer = CouponRef {
            template_id: 12,
            ..older
        };
        let second = CouponRef { k: 2, ..older };
        assert!(newer.key() < older.key());
        assert!(second.key() < older.key());
        assert!(older.key().starts_with(&wallet_prefix(42)));
        assert!(!older.key().starts_with(&wallet_prefix(4)));
    }

    #[test]
    fn take_next_uses_an_exact_bound_and_stops_at_the_maximum() {
        let mut kv = MemoryKv::default();
        assert_eq!(take_next(&mut kv, "seq", 2), Ok(Some(1)));
        assert_eq!(take_next(&mut kv, "seq", 2), Ok(Some(2)));
        assert_eq!(take_next(&mut kv, "seq", 2), Ok(None));
        assert_eq!(kv.counter("seq"), 2);
    }

    #[test]
    fn rules_in_words() {
        let mut t = template(1);
        assert_eq!(t.rule_text(), "满300减30");
        t.threshold_fen = 0;
        t.amount_fen = Some(550);
        assert_eq!(t.rule_text(), "无门槛减5.5");
        t.kind = Kind::Discount;
        t.percent = Some(85);
        t.threshold_fen = 20_000;
        t.cap_fen = Some(5_000);
        assert_eq!(t.rule_text(), "满200打8.5折，最多减50");
        t.percent = Some(80);
        t.cap_fen = None;
        t.threshold_fen = 0;
        assert_eq!(t.rule_text(), "无门槛8折");
        assert_eq!(zhe(5), "0.5");
        assert_eq!(short_yuan(1_250), "12.5");
        assert_eq!(short_yuan(1_205), "12.05");
        assert_eq!(short_yuan(0), "0");
    }

    #[test]
    fn validity_in_words_names_the_last_day() {
        let mut t = template(1);
        // 2026-01-31 12:00 Beijing, exclusive: the last day is 2026-01-31.
        assert_eq!(t.validity_text(), "2025-12-31 至 2026-01-31");
        t.valid_from_ms = None;
        t.valid_until_ms = None;
        t.valid_days = Some(30);
        assert_eq!(t.validity_text(), "领取后30天内有效");
        assert_eq!(t.window(NOW), (NOW, NOW + 30 * DAY_MS));
    }

    #[test]
    fn the_discount_follows_the_rule_and_never_passes_the_eligible_total() {
        let mut t = template(1);
        assert_eq!(t.discount(40_000), 3_000);
        assert_eq!(
            t.discount(2_000),
            2_000,
            "never more than the eligible total"
        );
        assert_eq!(t.discount(-5), 0);
        t.kind = Kind::Discount;
        t.percent = Some(85);
        t.amount_fen = None;
        // 333.33 × 15% = 49.9995 → 49.99 (rounded down).
        assert_eq!(t.discount(33_333), 4_999);
        t.cap_fen = Some(3_000);
        assert_eq!(t.discount(33_333), 3_000);
        t.percent = None;
        assert_eq!(
            t.discount(33_333),
            0,
            "a discount without its percent gives nothing"
        );
        t.percent = Some(1);
        t.cap_fen = None;
        assert_eq!(
            t.discount(i64::MAX),
            i64::MAX / 100 * 99 + (i64::MAX % 100) * 99 / 100
        );
    }

    #[test]
    fn scope_decides_which_lines_count_and_gifts_never_do() {
        let line = Line {
            line_no: 1,
            product_id: 70,
            category_ids: vec![5, 1],
            brand_id: Some(9),
            line_total_fen: 100,
            qty: 1,
            ..Line::default()
        };
        let mut t = template(1);
        assert!(t.covers(&line));
        t.scope = Scope::Categories;
        t.scope_ids = vec![1];
        assert!(t.covers(&line), "a parent category covers its children");
        t.scope_ids = vec![2];
        assert!(!t.covers(&line));
        t.scope = Scope::Brands;
        t.scope_ids = vec![9];
        assert!(t.covers(&line));
        t.scope = Scope::Products;
        assert!(!t.covers(&line));
        t.scope_ids = vec![70];
        assert!(t.covers(&line));
        let gift = Line { gift: true, ..line };
        assert!(!t.covers(&gift));
    }
}
