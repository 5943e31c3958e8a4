//! A full-reduction campaign (满减/满折/满赠, REQUIREMENTS G2): what it is, how it is stored, how
//! its tiers read in words, and the terms staff may give one.
//!
//! Storage: the campaign as JSON at `campaign:{id:08}` (zero-padded, so a prefix scan returns
//! campaigns in id order), ids from the counter `next-id`, and the number stored in the counter
//! `count`, moved with `add_bounded` within 0..=[`MAX_CAMPAIGNS`] so two concurrent creations
//! cannot both take the last place. The gifts a tier has given are the counters
//! `given:{id}:{tier}` (see `pricing`), moved only by checkout reservations and their return.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use pifa_sdk::input::{self, Fields, refused};
use pifa_sdk::{HttpResponse, Kv, Line};

pub const CAMPAIGN_PREFIX: &str = "campaign:";
pub const NEXT_ID_KEY: &str = "next-id";
pub const COUNT_KEY: &str = "count";
/// Campaigns stored at once (ended ones included, until staff delete them): every quote reads
/// them all, so this bounds a quote's work as much as the storage.
pub const MAX_CAMPAIGNS: i64 = 100;
pub const MAX_NAME_CHARS: usize = 30;
pub const MAX_TIERS: usize = 5;
pub const MAX_SCOPE_IDS: usize = 100;
pub const MAX_STACK_WITH: usize = 10;
/// 1亿元: no wholesale order comes near it, and sums of it stay far from overflow.
pub const MAX_AMOUNT_FEN: i64 = 10_000_000_000;
pub const MAX_ITEMS: i64 = 1_000_000;
pub const MAX_GIFT_QTY: i64 = 99;
pub const MAX_GIFT_STOCK: i64 = 1_000_000;
/// Campaigns read per scan call: [`MAX_CAMPAIGNS`] fit in one page.
const SCAN_PAGE: u32 = 200;

pub fn campaign_key(id: i64) -> String {
    format!("{CAMPAIGN_PREFIX}{id:08}")
}

/// What a tier's threshold counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Fen of the eligible lines' totals so far.
    Amount,
    /// Items on the eligible lines.
    Quantity,
}

impl Basis {
    pub const CHOICES: [&'static str; 2] = ["amount", "quantity"];

    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Amount => "amount",
            Basis::Quantity => "quantity",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Basis::Amount => "按金额",
            Basis::Quantity => "按件数",
        }
    }

    /// A threshold as a tier's name says it: `500` (yuan) or `3件`.
    pub fn threshold_words(self, threshold: i64) -> String {
        match self {
            Basis::Amount => short_yuan(threshold),
            Basis::Quantity => format!("{threshold}件"),
        }
    }

    /// A threshold as a note says it: `¥500.00` or `3件`.
    pub fn threshold_money(self, threshold: i64) -> String {
        match self {
            Basis::Amount => input::yuan(threshold),
            Basis::Quantity => format!("{threshold}件"),
        }
    }

    /// What is missing to a threshold, as a note says it: `¥120.00` or `3 件`.
    pub fn gap_words(self, gap: i64) -> String {
        match self {
            Basis::Amount => input::yuan(gap),
            Basis::Quantity => format!("{gap} 件"),
        }
    }
}

/// One tier: reaching `threshold` earns `reward`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    /// Fen for [`Basis::Amount`], items for [`Basis::Quantity`].
    pub threshold: i64,
    #[serde(flatten)]
    pub reward: Reward,
}

/// What a tier gives; exactly one per tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reward {
    /// 满减: this much off the eligible lines together.
    ReduceFen(i64),
    /// 满折: the eligible lines cost this percent (95 = 九五折).
    DiscountPercent(i64),
    /// 满赠: a gift line.
    Gift(GiftReward),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftReward {
    pub sku_id: i64,
    /// Items of the SKU in one gift set.
    pub qty: i64,
    /// Gift sets this tier may give in all.
    pub stock: i64,
}

/// `95` → `95折`, `90` → `9折` (how a shop writes 九折).
pub fn percent_words(percent: i64) -> String {
    if percent % 10 == 0 {
        format!("{}折", percent / 10)
    } else {
        format!("{percent}折")
    }
}

/// Yuan without `¥` and without `.00` when whole: `50000` → `500`, `49950` → `499.50`.
pub fn short_yuan(fen: i64) -> String {
    let text = input::show_scaled(fen, 2);
    match text.strip_suffix(".00") {
        Some(whole) => whole.to_owned(),
        None => text,
    }
}

impl Tier {
    /// The tier's name, also the label of what it gives: 「满500减50」, 「满500享95折」,
    /// 「满500赠」, 「满3件减50」.
    pub fn words(&self, basis: Basis) -> String {
        let threshold = basis.threshold_words(self.threshold);
        match &self.reward {
            Reward::ReduceFen(fen) => format!("满{threshold}减{}", short_yuan(*fen)),
            Reward::DiscountPercent(percent) => {
                format!("满{threshold}享{}", percent_words(*percent))
            }
            Reward::Gift(_) => format!("满{threshold}赠"),
        }
    }

    /// What reaching it gives, for a note: 「减 ¥50.00」, 「享9折」, 「送赠品」.
    pub fn reward_words(&self) -> String {
        match &self.reward {
            Reward::ReduceFen(fen) => format!("减 {}", input::yuan(*fen)),
            Reward::DiscountPercent(percent) => format!("享{}", percent_words(*percent)),
            Reward::Gift(_) => "送赠品".to_owned(),
        }
    }

    /// The same, as the 「已满」 note says it: 「减¥50.00」, 「享9折」, 「送赠品」.
    pub fn reached_words(&self) -> String {
        match &self.reward {
            Reward::ReduceFen(fen) => format!("减{}", input::yuan(*fen)),
            _ => self.reward_words(),
        }
    }

    pub fn gift(&self) -> Option<GiftReward> {
        match &self.reward {
            Reward::Gift(gift) => Some(*gift),
            _ => None,
        }
    }
}

/// Which goods a campaign covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    All,
    /// Categories (a line counts when its category or one above it is listed).
    Category,
    Brand,
    /// Products by product id.
    Products,
}

impl ScopeKind {
    pub const CHOICES: [&'static str; 4] = ["all", "category", "brand", "products"];

    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::All => "all",
            ScopeKind::Category => "category",
            ScopeKind::Brand => "brand",
            ScopeKind::Products => "products",
        }
    }

    fn parse(text: &str) -> Option<ScopeKind> {
        match text {
            "all" => Some(ScopeKind::All),
            "category" => Some(ScopeKind::Category),
            "brand" => Some(ScopeKind::Brand),
            "products" => Some(ScopeKind::Products),
            _ => None,
        }
    }

    /// What a member reads: ids mean nothing to him.
    pub fn member_words(self) -> &'static str {
        match self {
            ScopeKind::All => "全场商品",
            ScopeKind::Category => "指定分类商品",
            ScopeKind::Brand => "指定品牌商品",
            ScopeKind::Products => "指定商品",
        }
    }

    fn staff_label(self) -> &'static str {
        match self {
            ScopeKind::All => "全部商品",
            ScopeKind::Category => "分类",
            ScopeKind::Brand => "品牌",
            ScopeKind::Products => "商品",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: i64,
    pub name: String,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub basis: Basis,
    /// 1 to [`MAX_TIERS`], thresholds strictly ascending.
    pub tiers: Vec<Tier>,
    pub scope: ScopeKind,
    /// The ids `scope` names; empty for [`ScopeKind::All`], never empty otherwise.
    #[serde(default)]
    pub scope_ids: Vec<i64>,
    /// Earlier plugins (`flash-sale`) whose lines still count; a line any other plugin
    /// adjusted before this one does not.
    #[serde(default)]
    pub stack_with: Vec<String>,
    /// Ended by staff before its time; `ends_at_ms` then says when.
    #[serde(default)]
    pub ended: bool,
}

/// Where a campaign stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Upcoming,
    Active,
    Ended,
}

impl State {
    pub fn words(self) -> &'static str {
        match self {
            State::Upcoming => "未开始",
            State::Active => "进行中",
            State::Ended => "已结束",
        }
    }
}

/// The three fields a quote needs to skip a campaign without reading the rest of it.
#[derive(Debug, Deserialize)]
struct Window {
    starts_at_ms: i64,
    ends_at_ms: i64,
    #[serde(default)]
    ended: bool,
}

impl Window {
    fn is_active(&self, now_ms: i64) -> bool {
        !self.ended && self.starts_at_ms <= now_ms && now_ms < self.ends_at_ms
    }
}

impl Campaign {
    pub fn with_terms(id: i64, terms: Terms) -> Campaign {
        Campaign {
            id,
            name: terms.name,
            starts_at_ms: terms.starts_at_ms,
            ends_at_ms: terms.ends_at_ms,
            basis: terms.basis,
            tiers: terms.tiers,
            scope: terms.scope,
            scope_ids: terms.scope_ids,
            stack_with: terms.stack_with,
            ended: false,
        }
    }

    fn window(&self) -> Window {
        Window {
            starts_at_ms: self.starts_at_ms,
            ends_at_ms: self.ends_at_ms,
            ended: self.ended,
        }
    }

    /// Whether it applies at `now_ms`: started, not yet at its end, not ended by staff.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.window().is_active(now_ms)
    }

    /// Whether it can no longer apply: ended by staff or past its end.
    pub fn is_over(&self, now_ms: i64) -> bool {
        self.ended || self.ends_at_ms <= now_ms
    }

    pub fn state(&self, now_ms: i64) -> State {
        if self.is_over(now_ms) {
            State::Ended
        } else if self.starts_at_ms <= now_ms {
            State::Active
        } else {
            State::Upcoming
        }
    }

    /// Whether `line` is among the goods the campaign covers.
    pub fn covers(&self, line: &Line) -> bool {
        match self.scope {
            ScopeKind::All => true,
            ScopeKind::Category => self.scope_ids.iter().any(|id| line.in_category(*id)),
            ScopeKind::Brand => line
                .brand_id
                .is_some_and(|brand| self.scope_ids.contains(&brand)),
            ScopeKind::Products => self.scope_ids.contains(&line.product_id),
        }
    }

    /// Whether an adjustment by `source` (an earlier step) leaves a line countable: the
    /// pricing script's always do, a plugin's only when the campaign stacks with it.
    pub fn stacks_with(&self, source: &str) -> bool {
        source == "script" || self.stack_with.iter().any(|name| name == source)
    }

    /// The scope as staff read it: 「全部商品」, 「分类 3,5」.
    pub fn scope_words(&self) -> String {
        if self.scope == ScopeKind::All {
            return self.scope.staff_label().to_owned();
        }
        format!("{} {}", self.scope.staff_label(), join_ids(&self.scope_ids))
    }

    /// Every tier's name, in order.
    pub fn tier_words(&self) -> Vec<String> {
        self.tiers
            .iter()
            .map(|tier| tier.words(self.basis))
            .collect()
    }

    /// The window as staff read it.
    pub fn window_words(&self) -> String {
        format!(
            "{} 至 {}",
            input::local_time(self.starts_at_ms),
            input::local_time(self.ends_at_ms)
        )
    }
}

pub fn join_ids(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// Every campaign, in id order. A value that does not parse is skipped: only this plugin
/// writes these keys, and one bad record must not take every cart's pricing down with it.
pub fn load_all(kv: &impl Kv) -> Vec<Campaign> {
    kv.scan_json(CAMPAIGN_PREFIX, SCAN_PAGE, MAX_CAMPAIGNS as usize * 2)
        .into_iter()
        .map(|(_, campaign)| campaign)
        .collect()
}

/// The campaigns active at `now_ms`, in id order. Each record's window is read first and only
/// an active one is read whole: a quote pays little for the ended campaigns a shop keeps.
pub fn load_active(kv: &impl Kv, now_ms: i64) -> Vec<Campaign> {
    let mut active = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = kv.scan(CAMPAIGN_PREFIX, after.as_deref(), SCAN_PAGE);
        let full = page.len() >= SCAN_PAGE as usize;
        for (key, bytes) in page {
            let live = serde_json::from_slice::<Window>(&bytes)
                .is_ok_and(|window| window.is_active(now_ms));
            if live && let Ok(campaign) = serde_json::from_slice::<Campaign>(&bytes) {
                active.push(campaign);
            }
            after = Some(key);
        }
        if !full || after.is_none() {
            return active;
        }
    }
}

pub fn load(kv: &impl Kv, id: i64) -> Option<Campaign> {
    kv.get_json(&campaign_key(id))
}

pub fn save(kv: &mut impl Kv, campaign: &Campaign) -> Result<(), String> {
    kv.put_json(&campaign_key(campaign.id), campaign)
}

/// A campaign's terms that passed every check (POST and PUT take the same body): a name of 1
/// to 30 characters, a window that ends after it starts, a basis, 1 to 5 tiers with rising
/// thresholds and exactly one reward each, a scope with its ids, the plugins it stacks with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    name: String,
    starts_at_ms: i64,
    ends_at_ms: i64,
    basis: Basis,
    tiers: Vec<Tier>,
    scope: ScopeKind,
    scope_ids: Vec<i64>,
    stack_with: Vec<String>,
}

/// Where one tier's fields are found: the JSON API's `tiers[0].threshold` or a form's
/// `tier1_threshold`. The names are the ones a refusal names.
struct TierNames {
    threshold: String,
    reduce: String,
    percent: String,
    gift_sku: String,
    gift_qty: String,
    gift_stock: String,
}

impl TierNames {
    fn json(index: usize) -> TierNames {
        let at = |name: &str| format!("tiers[{index}].{name}");
        TierNames {
            threshold: at("threshold"),
            reduce: at("reduce_fen"),
            percent: at("discount_percent"),
            gift_sku: at("gift.sku_id"),
            gift_qty: at("gift.qty"),
            gift_stock: at("gift.stock"),
        }
    }

    fn form(number: usize) -> TierNames {
        let at = |name: &str| format!("tier{number}_{name}");
        TierNames {
            threshold: at("threshold"),
            reduce: at("reduce"),
            percent: at("percent"),
            gift_sku: at("gift_sku"),
            gift_qty: at("gift_qty"),
            gift_stock: at("gift_stock"),
        }
    }

    fn all(&self) -> [&str; 6] {
        [
            &self.threshold,
            &self.reduce,
            &self.percent,
            &self.gift_sku,
            &self.gift_qty,
            &self.gift_stock,
        ]
    }
}

/// The tiers' fields as one flat object keyed by the names refusals use, so one reader
/// serves the JSON API's `tiers` array and a form's `tier1_…` fields alike.
fn tier_sources(body: &Value) -> Result<Vec<(Value, TierNames)>, HttpResponse> {
    let Some(tiers) = body.get("tiers").filter(|tiers| !tiers.is_null()) else {
        let mut sources = Vec::new();
        for number in 1..=MAX_TIERS {
            let names = TierNames::form(number);
            let mut flat = Map::new();
            for name in names.all() {
                if let Some(value) = Fields::of(body).value(name) {
                    flat.insert(name.to_owned(), value.clone());
                }
            }
            // A form always sends every tier's fields; a tier left blank is no tier.
            if !flat.is_empty() {
                sources.push((Value::Object(flat), names));
            }
        }
        return Ok(sources);
    };
    let Value::Array(tiers) = tiers else {
        return Err(refused("tiers", "应为档位列表 (must be a list of tiers)"));
    };
    if tiers.len() > MAX_TIERS {
        return Err(refused(
            "tiers",
            &format!("最多{MAX_TIERS}档 (at most {MAX_TIERS} tiers)"),
        ));
    }
    let mut sources = Vec::new();
    for (index, tier) in tiers.iter().enumerate() {
        let Value::Object(tier) = tier else {
            return Err(refused(
                &format!("tiers[{index}]"),
                "应为对象 (must be an object)",
            ));
        };
        let names = TierNames::json(index);
        let mut flat = Map::new();
        let mut copy = |from: Option<&Value>, name: &str| {
            if let Some(value) = from {
                flat.insert(name.to_owned(), value.clone());
            }
        };
        copy(tier.get("threshold"), &names.threshold);
        copy(tier.get("reduce_fen"), &names.reduce);
        copy(tier.get("discount_percent"), &names.percent);
        match tier.get("gift") {
            None | Some(Value::Null) => {}
            Some(Value::Object(gift)) => {
                copy(gift.get("sku_id"), &names.gift_sku);
                copy(gift.get("qty"), &names.gift_qty);
                copy(gift.get("stock"), &names.gift_stock);
            }
            Some(_) => {
                return Err(refused(
                    &format!("tiers[{index}].gift"),
                    "应为 {sku_id, qty, stock} (must be {sku_id, qty, stock})",
                ));
            }
        }
        sources.push((Value::Object(flat), names));
    }
    Ok(sources)
}

fn parse_tier(flat: &Value, names: &TierNames, basis: Basis) -> Result<Tier, HttpResponse> {
    let fields = Fields::of(flat);
    let threshold = match basis {
        Basis::Amount => fields.fen(&names.threshold, 1, MAX_AMOUNT_FEN)?,
        Basis::Quantity => fields.int(&names.threshold, 1, MAX_ITEMS)?,
    };
    let given = [&names.reduce, &names.percent, &names.gift_sku]
        .into_iter()
        .filter(|name| fields.has(name))
        .count();
    if given != 1 {
        return Err(refused(
            &names.reduce,
            "每档须且只能填一种优惠：减钱、折扣或赠品 (exactly one reward per tier: reduce, percent or gift)",
        ));
    }
    let reward = if fields.has(&names.reduce) {
        let fen = fields.fen(&names.reduce, 1, MAX_AMOUNT_FEN)?;
        if basis == Basis::Amount && fen >= threshold {
            return Err(refused(
                &names.reduce,
                "减的金额须小于门槛 (the reduction must be below the threshold)",
            ));
        }
        Reward::ReduceFen(fen)
    } else if fields.has(&names.percent) {
        Reward::DiscountPercent(fields.int(&names.percent, 1, 99)?)
    } else {
        Reward::Gift(GiftReward {
            sku_id: fields.int(&names.gift_sku, 1, i64::MAX)?,
            qty: fields
                .optional_int(&names.gift_qty, 1, MAX_GIFT_QTY)?
                .unwrap_or(1),
            stock: fields.int(&names.gift_stock, 1, MAX_GIFT_STOCK)?,
        })
    };
    Ok(Tier { threshold, reward })
}

/// Plugin names: an array of strings, or text separated by commas or spaces.
fn plugin_names(body: &Value, name: &str) -> Result<Vec<String>, HttpResponse> {
    let wrong = || {
        refused(
            name,
            "应为插件名列表，如 flash-sale,clearance (plugin names such as flash-sale,clearance)",
        )
    };
    let raw: Vec<String> = match Fields::of(body).value(name) {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(|text| text.trim().to_owned()))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(wrong)?,
        Some(Value::String(text)) => text
            .split(|c: char| c == ',' || c == '，' || c.is_whitespace())
            .filter(|part| !part.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(_) => return Err(wrong()),
    };
    let mut names: Vec<String> = Vec::new();
    for plugin in raw {
        let fits = (1..=40).contains(&plugin.len())
            && plugin
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !fits {
            return Err(wrong());
        }
        if !names.contains(&plugin) {
            names.push(plugin);
        }
    }
    if names.len() > MAX_STACK_WITH {
        return Err(refused(
            name,
            &format!("最多{MAX_STACK_WITH}个 (at most {MAX_STACK_WITH})"),
        ));
    }
    Ok(names)
}

impl Terms {
    /// The terms in a route's body: the JSON API's numbers (fen, epoch ms, a `tiers` array)
    /// or a form's text (yuan, shop time, `tier1_threshold` … `tier5_gift_stock`, ids as
    /// "3,5"). A refusal is `422 invalid_field` naming the field.
    pub fn parse(body: &Value) -> Result<Terms, HttpResponse> {
        let fields = Fields::of(body);
        let name = fields.text("name", MAX_NAME_CHARS)?;
        let starts_at_ms = fields.time_ms("starts_at_ms")?;
        let ends_at_ms = fields.time_ms("ends_at_ms")?;
        if ends_at_ms <= starts_at_ms {
            return Err(refused(
                "ends_at_ms",
                "结束时间须晚于开始时间 (the campaign must end after it starts)",
            ));
        }
        let basis = match fields.choice("basis", &Basis::CHOICES)?.as_str() {
            "quantity" => Basis::Quantity,
            _ => Basis::Amount,
        };

        let sources = tier_sources(body)?;
        if sources.is_empty() {
            let field = if body.get("tiers").is_some() {
                "tiers"
            } else {
                "tier1_threshold"
            };
            return Err(refused(field, "至少填一档 (at least one tier)"));
        }
        let mut tiers: Vec<Tier> = Vec::new();
        for (flat, names) in &sources {
            let tier = parse_tier(flat, names, basis)?;
            if tiers
                .last()
                .is_some_and(|below| below.threshold >= tier.threshold)
            {
                return Err(refused(
                    &names.threshold,
                    "各档门槛须逐档升高 (thresholds must rise tier by tier)",
                ));
            }
            tiers.push(tier);
        }

        let scope = match fields.optional_text("scope", 16)? {
            None => ScopeKind::All,
            Some(text) => ScopeKind::parse(&text).ok_or_else(|| {
                refused(
                    "scope",
                    "应为 all、category、brand、products 之一 (one of all, category, brand, products)",
                )
            })?,
        };
        let scope_ids = if scope == ScopeKind::All {
            // A form sends the ids' box even when 「全部商品」 is chosen: nothing to keep.
            Vec::new()
        } else {
            let ids = fields.ids("scope_ids", MAX_SCOPE_IDS)?;
            if ids.is_empty() {
                return Err(refused(
                    "scope_ids",
                    "请填写范围内的编号，如 3,5 (the ids the scope covers, such as 3,5)",
                ));
            }
            ids
        };
        let stack_with = plugin_names(body, "stack_with")?;

        Ok(Terms {
            name,
            starts_at_ms,
            ends_at_ms,
            basis,
            tiers,
            scope,
            scope_ids,
            stack_with,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body() -> Value {
        json!({
            "name": "五一满减",
            "starts_at_ms": 1_000,
            "ends_at_ms": 2_000,
            "basis": "amount",
            "tiers": [
                {"threshold": 30_000, "reduce_fen": 2_000},
                {"threshold": 50_000, "discount_percent": 90},
                {"threshold": 100_000, "gift": {"sku_id": 7, "qty": 2, "stock": 50}}
            ],
            "scope": "category",
            "scope_ids": [3, 5],
            "stack_with": ["flash-sale"]
        })
    }

    fn refused_field(body: &Value) -> String {
        match Terms::parse(body) {
            Ok(terms) => panic!("accepted {terms:?}"),
            Err(response) => {
                assert_eq!(response.status, 422, "{}", response.body);
                assert_eq!(response.body["error"]["code"], "invalid_field");
                response.body["error"]["field"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            }
        }
    }

    fn refusal(change: impl FnOnce(&mut Value)) -> String {
        let mut body = body();
        change(&mut body);
        refused_field(&body)
    }

    #[test]
    fn json_terms_are_read_with_every_kind_of_reward() {
        let campaign = Campaign::with_terms(4, Terms::parse(&body()).unwrap());
        assert_eq!(campaign.name, "五一满减");
        assert_eq!(campaign.basis, Basis::Amount);
        assert_eq!(
            campaign.tiers,
            vec![
                Tier {
                    threshold: 30_000,
                    reward: Reward::ReduceFen(2_000)
                },
                Tier {
                    threshold: 50_000,
                    reward: Reward::DiscountPercent(90)
                },
                Tier {
                    threshold: 100_000,
                    reward: Reward::Gift(GiftReward {
                        sku_id: 7,
                        qty: 2,
                        stock: 50
                    })
                },
            ]
        );
        assert_eq!(campaign.scope, ScopeKind::Category);
        assert_eq!(campaign.scope_ids, vec![3, 5]);
        assert_eq!(campaign.stack_with, vec!["flash-sale".to_owned()]);
        assert!(!campaign.ended);
    }

    /// REQUIREMENTS G2: a form's flat text fields mean the same as the API's JSON.
    #[test]
    fn form_fields_are_read_as_yuan_shop_time_and_typed_ids() {
        let form = json!({
            "name": " 五一满减 ",
            "starts_at_ms": "2026-05-01T00:00",
            "ends_at_ms": "2026-05-06",
            "basis": "amount",
            "tier1_threshold": "300", "tier1_reduce": "20", "tier1_percent": "",
            "tier1_gift_sku": "", "tier1_gift_qty": "", "tier1_gift_stock": "",
            "tier2_threshold": "500.5", "tier2_reduce": "", "tier2_percent": "90",
            "tier3_threshold": "", "tier3_reduce": "", "tier3_percent": "",
            "tier4_threshold": "1000", "tier4_gift_sku": "7", "tier4_gift_stock": "50",
            "scope": "brand",
            "scope_ids": "3，5 8",
            "stack_with": "flash-sale, clearance"
        });
        let terms = Terms::parse(&form).unwrap();
        let campaign = Campaign::with_terms(1, terms);
        assert_eq!(campaign.name, "五一满减");
        assert_eq!(input::local_time(campaign.starts_at_ms), "2026-05-01 00:00");
        assert_eq!(input::local_time(campaign.ends_at_ms), "2026-05-06 00:00");
        assert_eq!(
            campaign.tiers,
            vec![
                Tier {
                    threshold: 30_000,
                    reward: Reward::ReduceFen(2_000)
                },
                Tier {
                    threshold: 50_050,
                    reward: Reward::DiscountPercent(90)
                },
                Tier {
                    threshold: 100_000,
                    reward: Reward::Gift(GiftReward {
                        sku_id: 7,
                        qty: 1,
                        stock: 50
                    })
                },
            ]
        );
        assert_eq!(campaign.scope, ScopeKind::Brand);
        assert_eq!(campaign.scope_ids, vec![3, 5, 8]);
        assert_eq!(
            campaign.stack_with,
            vec!["flash-sale".to_owned(), "clearance".to_owned()]
        );
    }

    #[test]
    fn quantity_thresholds_are_items_and_reductions_may_exceed_them() {
        let mut body = body();
        body["basis"] = json!("quantity");
        body["tiers"] = json!([{"threshold": 3, "reduce_fen": 5_000}, {"threshold": "10", "discount_percent": "85"}]);
        let terms = Terms::parse(&body).unwrap();
        let campaign = Campaign::with_terms(1, terms);
        assert_eq!(campaign.tier_words(), vec!["满3件减50", "满10件享85折"]);
    }

    #[test]
    fn scope_all_keeps_no_ids_and_scope_defaults_to_all() {
        let mut body = body();
        body["scope"] = json!("all");
        let campaign = Campaign::with_terms(1, Terms::parse(&body).unwrap());
        assert_eq!(
            (campaign.scope, campaign.scope_ids.len()),
            (ScopeKind::All, 0)
        );
        body.as_object_mut().unwrap().remove("scope");
        let campaign = Campaign::with_terms(1, Terms::parse(&body).unwrap());
        assert_eq!(campaign.scope, ScopeKind::All);
    }

    #[test]
    fn each_broken_term_is_refused_naming_its_field() {
        assert_eq!(refusal(|b| b["name"] = json!(" ")), "name");
        assert_eq!(refusal(|b| b["name"] = json!("满".repeat(31))), "name");
        assert_eq!(
            refusal(|b| b["starts_at_ms"] = json!("soon")),
            "starts_at_ms"
        );
        assert_eq!(refusal(|b| b["ends_at_ms"] = json!(1_000)), "ends_at_ms");
        assert_eq!(refusal(|b| b["basis"] = json!("weight")), "basis");
        assert_eq!(refusal(|b| b["tiers"] = json!([])), "tiers");
        assert_eq!(refusal(|b| b["tiers"] = json!("300-20")), "tiers");
        assert_eq!(refusal(|b| b["tiers"][1] = json!(5)), "tiers[1]");
        let six: Vec<Value> = (1..=6)
            .map(|n| json!({"threshold": n * 100, "reduce_fen": 1}))
            .collect();
        assert_eq!(refusal(|b| b["tiers"] = json!(six)), "tiers");
        assert_eq!(
            refusal(|b| b["tiers"][1]["threshold"] = json!(30_000)),
            "tiers[1].threshold"
        );
        assert_eq!(
            refusal(|b| b["tiers"][0]["threshold"] = json!(0)),
            "tiers[0].threshold"
        );
        assert_eq!(
            refusal(|b| b["tiers"][0]["discount_percent"] = json!(90)),
            "tiers[0].reduce_fen"
        );
        assert_eq!(
            refusal(|b| b["tiers"][0] = json!({"threshold": 100})),
            "tiers[0].reduce_fen"
        );
        assert_eq!(
            refusal(|b| b["tiers"][0]["reduce_fen"] = json!(30_000)),
            "tiers[0].reduce_fen"
        );
        assert_eq!(
            refusal(|b| b["tiers"][1]["discount_percent"] = json!(100)),
            "tiers[1].discount_percent"
        );
        assert_eq!(
            refusal(|b| b["tiers"][1]["discount_percent"] = json!(0)),
            "tiers[1].discount_percent"
        );
        assert_eq!(
            refusal(|b| b["tiers"][2]["gift"]["stock"] = json!(0)),
            "tiers[2].gift.stock"
        );
        assert_eq!(
            refusal(|b| b["tiers"][2]["gift"]["qty"] = json!(100)),
            "tiers[2].gift.qty"
        );
        assert_eq!(
            refusal(|b| b["tiers"][2]["gift"] = json!(7)),
            "tiers[2].gift"
        );
        assert_eq!(refusal(|b| b["scope"] = json!("shop")), "scope");
        assert_eq!(refusal(|b| b["scope_ids"] = json!([])), "scope_ids");
        assert_eq!(refusal(|b| b["scope_ids"] = json!("3,x")), "scope_ids");
        assert_eq!(
            refusal(|b| b["stack_with"] = json!(["Flash Sale"])),
            "stack_with"
        );
        assert_eq!(refusal(|b| b["stack_with"] = json!(7)), "stack_with");
        let many: Vec<String> = (0..11).map(|n| format!("p{n}")).collect();
        assert_eq!(refusal(|b| b["stack_with"] = json!(many)), "stack_with");
    }

    #[test]
    fn a_blank_form_names_the_first_tier() {
        let form = json!({
            "name": "空", "starts_at_ms": 1, "ends_at_ms": 2, "basis": "amount",
            "tier1_threshold": "", "tier1_reduce": ""
        });
        assert_eq!(refused_field(&form), "tier1_threshold");
        let form = json!({
            "name": "半", "starts_at_ms": 1, "ends_at_ms": 2, "basis": "amount",
            "tier2_reduce": "5"
        });
        assert_eq!(refused_field(&form), "tier2_threshold");
    }

    #[test]
    fn a_refusal_says_why_in_chinese_and_english() {
        let mut body = body();
        body["tiers"][1]["threshold"] = json!(1);
        let response = Terms::parse(&body).unwrap_err();
        assert_eq!(
            response.body["error"]["message"],
            "tiers[1].threshold: 各档门槛须逐档升高 (thresholds must rise tier by tier)"
        );
    }

    #[test]
    fn tiers_read_in_words_as_the_shop_writes_them() {
        let tier = |threshold, reward| Tier { threshold, reward };
        assert_eq!(
            tier(50_000, Reward::ReduceFen(5_000)).words(Basis::Amount),
            "满500减50"
        );
        assert_eq!(
            tier(49_950, Reward::ReduceFen(550)).words(Basis::Amount),
            "满499.50减5.50"
        );
        assert_eq!(
            tier(50_000, Reward::DiscountPercent(95)).words(Basis::Amount),
            "满500享95折"
        );
        assert_eq!(
            tier(50_000, Reward::DiscountPercent(90)).words(Basis::Amount),
            "满500享9折"
        );
        let gift = Reward::Gift(GiftReward {
            sku_id: 1,
            qty: 1,
            stock: 1,
        });
        assert_eq!(tier(50_000, gift.clone()).words(Basis::Amount), "满500赠");
        assert_eq!(
            tier(3, Reward::ReduceFen(5_000)).words(Basis::Quantity),
            "满3件减50"
        );
        assert_eq!(tier(3, gift).words(Basis::Quantity), "满3件赠");
        assert_eq!(
            tier(3, Reward::ReduceFen(5_000)).reward_words(),
            "减 ¥50.00"
        );
        assert_eq!(
            tier(3, Reward::ReduceFen(5_000)).reached_words(),
            "减¥50.00"
        );
        assert_eq!(
            tier(3, Reward::DiscountPercent(85)).reached_words(),
            "享85折"
        );
    }

    #[test]
    fn a_stored_campaign_reads_back_with_its_rewards_flat_in_each_tier() {
        let campaign = Campaign::with_terms(2, Terms::parse(&body()).unwrap());
        let stored = serde_json::to_value(&campaign).unwrap();
        assert_eq!(
            stored["tiers"][0],
            json!({"threshold": 30_000, "reduce_fen": 2_000})
        );
        assert_eq!(
            stored["tiers"][2],
            json!({"threshold": 100_000, "gift": {"sku_id": 7, "qty": 2, "stock": 50}})
        );
        let back: Campaign = serde_json::from_value(stored).unwrap();
        assert_eq!(back, campaign);
    }

    fn line(product_id: i64, categories: &[i64], brand: Option<i64>) -> Line {
        Line {
            product_id,
            category_ids: categories.to_vec(),
            brand_id: brand,
            ..Line::default()
        }
    }

    #[test]
    fn the_scope_covers_categories_below_brands_and_products() {
        let mut campaign = Campaign::with_terms(1, Terms::parse(&body()).unwrap());
        assert!(campaign.covers(&line(1, &[9, 3], None)), "3 is above 9");
        assert!(!campaign.covers(&line(1, &[9, 4], None)));
        campaign.scope = ScopeKind::Brand;
        assert!(campaign.covers(&line(1, &[], Some(5))));
        assert!(!campaign.covers(&line(1, &[3], None)));
        campaign.scope = ScopeKind::Products;
        assert!(campaign.covers(&line(3, &[], None)));
        assert!(!campaign.covers(&line(4, &[3], Some(3))));
        campaign.scope = ScopeKind::All;
        assert!(campaign.covers(&line(4, &[], None)));
    }

    #[test]
    fn a_campaign_runs_from_its_start_until_just_before_its_end() {
        let campaign = Campaign::with_terms(1, Terms::parse(&body()).unwrap());
        assert_eq!(campaign.state(999), State::Upcoming);
        assert!(!campaign.is_active(999));
        assert!(campaign.is_active(1_000) && campaign.is_active(1_999));
        assert!(!campaign.is_active(2_000) && campaign.is_over(2_000));
        let ended = Campaign {
            ended: true,
            ..campaign
        };
        assert!(!ended.is_active(1_500));
        assert_eq!(ended.state(1_500), State::Ended);
    }

    #[test]
    fn load_active_reads_only_running_campaigns_and_skips_a_corrupt_one() {
        let mut kv = pifa_sdk::MemoryKv::default();
        let terms = Terms::parse(&body()).unwrap();
        for id in 1..=5 {
            let mut campaign = Campaign::with_terms(id, terms.clone());
            campaign.ended = id == 2;
            if id == 4 {
                campaign.starts_at_ms = 1_600;
            }
            save(&mut kv, &campaign).unwrap();
        }
        kv.put(
            &campaign_key(6),
            b"{\"starts_at_ms\":0,\"ends_at_ms\":9999}",
        )
        .unwrap();
        let ids: Vec<i64> = load_active(&kv, 1_500).iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![1, 3, 5]);
        assert_eq!(load_all(&kv).len(), 5);
        assert_eq!(load(&kv, 4).map(|c| c.starts_at_ms), Some(1_600));
        assert_eq!(load(&kv, 6), None);
        assert!(campaign_key(9) < campaign_key(10));
    }
}
