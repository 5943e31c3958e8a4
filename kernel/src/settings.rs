//! Shop settings (L3): one typed document, validated as a whole, stored as JSON. Unknown keys
//! are refused and every refusal names the field, so a typo never silently does nothing.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::audit::Operation;
use crate::accounts::permissions::{Actor, Permission};
use crate::accounts::sessions::ClientInfo;
use crate::edge::json::parse_json;
use crate::error::{ApiError, ApiResult};
use crate::shop::Shop;
use crate::store::{StoreResult, on_pool};

crate::store::handle! {
    /// The settings' part of the store.
    pub SettingsStore, settings
}

/// B2: who sees prices and may order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShopMode {
    /// 内部访问: visitors see goods without prices; approved members see prices and order.
    Internal,
    /// 对外开放: prices shown, anyone may buy.
    Open,
}

/// D5/C3: what the server does with a quantity that is not a multiple of the inner pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MoqRule {
    Reject,
    RoundUp,
}

/// D3/F1: which payment methods members may choose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethods {
    /// 货到付款
    pub cash_on_delivery: bool,
    /// 银行转账
    pub bank_transfer: bool,
    /// 款到发货
    pub pay_before_shipping: bool,
    /// 微信转账
    pub wechat_transfer: bool,
    /// 支付宝转账
    pub alipay_transfer: bool,
    /// 物流代收
    pub carrier_collect: bool,
    /// 统一结算 (monthly settlement)
    pub monthly_settlement: bool,
    /// 在线支付: cannot be enabled until an online payment provider is integrated.
    pub online: bool,
}

/// D3: the delivery methods offered at checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryOptions {
    /// 发货
    pub ship: bool,
    /// 自提
    pub pickup: bool,
    /// 发货运自提 (ship to a logistics terminal for pickup)
    pub ship_to_terminal: bool,
}

/// F1: the account shown to members paying by transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BankAccount {
    pub bank_name: String,
    pub account_name: String,
    pub account_number: String,
}

/// A shipping rate (首重/续重): the first kilogram or part of it, then each further one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub first_kg_fen: i64,
    pub extra_kg_fen: i64,
}

/// The rate for a province, or for one city of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AreaRate {
    /// 省, as addresses write it (海南省).
    pub province: String,
    /// 市; `null`: the whole province.
    pub city: Option<String>,
    // The rate's fields, written out rather than a flattened `Rate`: a flattened struct that
    // refuses unknown fields documents a schema that refuses `province` and `city`.
    pub first_kg_fen: i64,
    pub extra_kg_fen: i64,
}

impl AreaRate {
    pub fn rate(&self) -> Rate {
        Rate {
            first_kg_fen: self.first_kg_fen,
            extra_kg_fen: self.extra_kg_fen,
        }
    }
}

/// D3: the shipping fee by 省/市 area and weight, free from a threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Shipping {
    /// Where no area rate matches.
    pub default_rate: Rate,
    /// The most specific match wins: province and city, then the province.
    pub areas: Vec<AreaRate>,
    /// Orders whose goods reach this amount ship free; `null`: never free.
    pub free_from_fen: Option<i64>,
}

/// Every shop setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub shop_name: String,
    pub logo_url: Option<String>,
    pub introduction: String,
    /// Customer-service QR code image (shown on the single page).
    pub service_qr_url: Option<String>,
    pub service_phone: Option<String>,
    pub shop_mode: ShopMode,
    /// Internal mode only: hide the whole shop behind a single page (logo, name, introduction,
    /// service QR) for anyone not approved.
    pub single_page: bool,
    /// Open mode only: a visitor must complete the profile (「完善资料后可继续访问」) before the
    /// first product page or "My".
    pub require_profile: bool,
    pub payment_methods: PaymentMethods,
    pub delivery: DeliveryOptions,
    pub bank_account: BankAccount,
    /// The customer-service account notified of new orders where a region has no manager (D5).
    pub fallback_customer_service_id: Option<i64>,
    /// Unconfirmed orders close after this many hours (D5).
    pub confirm_timeout_hours: i64,
    /// Confirmed pay-first orders close unpaid after this many hours (D5).
    pub payment_timeout_hours: i64,
    /// Orders sent without a driver are received automatically after this many days (E4).
    pub auto_receive_days: i64,
    pub moq_rule: MoqRule,
    pub shipping: Shipping,
    /// Make a backup every this many hours; `null` turns scheduled backups off (L4).
    pub backup_interval_hours: Option<i64>,
    /// Scheduled backups kept; older ones are deleted.
    pub backups_kept: i64,
    /// The most a line may cost after the pricing script and plugins, in percent of its
    /// catalogue price (`list price × quantity`); a step that prices a line above it (or below
    /// zero) is refused. 100 to 1000.
    #[serde(default = "default_max_price_percent")]
    pub max_price_percent: i64,
    /// The storefront's theme (a folder under `PIFA_THEMES_DIR`); `null`: `PIFA_THEME`'s.
    /// Applies from the next request.
    #[serde(default)]
    pub theme: Option<String>,
}

fn default_max_price_percent() -> i64 {
    DEFAULT_MAX_PRICE_PERCENT
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            shop_name: "批发订货商城".to_owned(),
            logo_url: None,
            introduction: String::new(),
            service_qr_url: None,
            service_phone: None,
            shop_mode: ShopMode::Internal,
            single_page: false,
            require_profile: true,
            payment_methods: PaymentMethods {
                cash_on_delivery: true,
                bank_transfer: true,
                pay_before_shipping: false,
                wechat_transfer: true,
                alipay_transfer: false,
                carrier_collect: false,
                monthly_settlement: false,
                online: false,
            },
            delivery: DeliveryOptions {
                ship: true,
                pickup: true,
                ship_to_terminal: false,
            },
            bank_account: BankAccount::default(),
            fallback_customer_service_id: None,
            confirm_timeout_hours: 48,
            payment_timeout_hours: 72,
            auto_receive_days: 7,
            moq_rule: MoqRule::Reject,
            shipping: Shipping {
                default_rate: Rate {
                    first_kg_fen: 1500,
                    extra_kg_fen: 500,
                },
                areas: vec![AreaRate {
                    province: "海南省".to_owned(),
                    city: None,
                    first_kg_fen: 800,
                    extra_kg_fen: 200,
                }],
                free_from_fen: Some(100_000),
            },
            backup_interval_hours: None,
            backups_kept: 14,
            max_price_percent: default_max_price_percent(),
            theme: None,
        }
    }
}

const SETTINGS_KEY: &str = "shop";

impl Settings {
    /// Checks the rules serde cannot express; the error names the field.
    fn validate(&self) -> ApiResult<()> {
        let field = |name: &str, message: &str| {
            Err(ApiError::invalid_field(
                "invalid_setting",
                name,
                format!("{name}: {message}"),
            ))
        };
        if self.shop_name.trim().is_empty() || self.shop_name.chars().count() > 50 {
            return field(
                "shop_name",
                "必填，最多50个字符 (required, at most 50 characters)",
            );
        }
        if self.introduction.chars().count() > 2000 {
            return field("introduction", "最多2000个字符 (at most 2000 characters)");
        }
        if self.payment_methods.online {
            return field(
                "payment_methods.online",
                "在线支付尚未接入，暂不能开启 (no online payment provider is integrated yet)",
            );
        }
        let pm = &self.payment_methods;
        if ![
            pm.cash_on_delivery,
            pm.bank_transfer,
            pm.pay_before_shipping,
            pm.wechat_transfer,
            pm.alipay_transfer,
            pm.carrier_collect,
            pm.monthly_settlement,
        ]
        .contains(&true)
        {
            return field(
                "payment_methods",
                "至少开启一种付款方式 (enable at least one method)",
            );
        }
        if !(self.delivery.ship || self.delivery.pickup || self.delivery.ship_to_terminal) {
            return field(
                "delivery",
                "至少开启一种配送方式 (enable at least one method)",
            );
        }
        for (name, value) in [
            ("confirm_timeout_hours", self.confirm_timeout_hours),
            ("payment_timeout_hours", self.payment_timeout_hours),
        ] {
            if !(1..=24 * 30).contains(&value) {
                return field(name, "须在1到720小时之间 (between 1 and 720 hours)");
            }
        }
        if !(100..=1000).contains(&self.max_price_percent) {
            return field(
                "max_price_percent",
                "须在100到1000之间 (between 100 and 1000 percent)",
            );
        }
        if !(1..=60).contains(&self.auto_receive_days) {
            return field(
                "auto_receive_days",
                "须在1到60天之间 (between 1 and 60 days)",
            );
        }
        if self
            .backup_interval_hours
            .is_some_and(|h| !(1..=24 * 30).contains(&h))
        {
            return field(
                "backup_interval_hours",
                "须在1到720小时之间 (between 1 and 720 hours)",
            );
        }
        let rates = std::iter::once(("shipping.default_rate", self.shipping.default_rate)).chain(
            self.shipping
                .areas
                .iter()
                .map(|a| ("shipping.areas", a.rate())),
        );
        for (name, rate) in rates {
            crate::money::parse_fen(rate.first_kg_fen, &format!("{name}.first_kg_fen"))?;
            crate::money::parse_fen(rate.extra_kg_fen, &format!("{name}.extra_kg_fen"))?;
        }
        for (index, area) in self.shipping.areas.iter().enumerate() {
            if area.province.trim().is_empty()
                || area.city.as_ref().is_some_and(|c| c.trim().is_empty())
            {
                return field(
                    &format!("shipping.areas[{index}]"),
                    "省、市不能为空 (province and city must not be blank)",
                );
            }
        }
        if let Some(free) = self.shipping.free_from_fen {
            crate::money::parse_fen(free, "shipping.free_from_fen")?;
        }
        if !(1..=365).contains(&self.backups_kept) {
            return field("backups_kept", "须在1到365之间 (between 1 and 365)");
        }
        Ok(())
    }
}

impl SettingsStore<'_> {
    /// The settings, from a copy at most a second old (every page reads them).
    pub async fn current(self) -> StoreResult<Settings> {
        let room = self.room::<SettingsRoom>();
        if let Ok(cached) = room.0.lock()
            && let Some((at, settings)) = cached.as_ref()
            && at.elapsed() < crate::store::CACHE_TTL
        {
            return Ok(settings.clone());
        }
        let settings = self.load().await?;
        if let Ok(mut cached) = room.0.lock() {
            *cached = Some((std::time::Instant::now(), settings.clone()));
        }
        Ok(settings)
    }

    async fn load(self) -> StoreResult<Settings> {
        let stored: Option<String> = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(SETTINGS_KEY)
                .fetch_optional(pool)
                .await
        })?;
        match stored {
            // A document written by an older version lacks newer fields: fill them from the
            // defaults instead of failing to start.
            Some(json) => {
                let mut merged = serde_json::to_value(Settings::default())
                    .map_err(|e| crate::store::StoreError::Other(e.to_string()))?;
                let stored: serde_json::Value = serde_json::from_str(&json).map_err(|e| {
                    crate::store::StoreError::Other(format!("stored settings: {e}"))
                })?;
                if let (Some(target), serde_json::Value::Object(fields)) =
                    (merged.as_object_mut(), stored)
                {
                    target.extend(fields);
                }
                serde_json::from_value(merged)
                    .map_err(|e| crate::store::StoreError::Other(format!("stored settings: {e}")))
            }
            None => Ok(Settings::default()),
        }
    }

    pub async fn save(self, settings: &Settings, by: Option<i64>, now_ms: i64) -> StoreResult<()> {
        let json = serde_json::to_string(settings)
            .map_err(|e| crate::store::StoreError::Other(e.to_string()))?;
        let sql = "INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by";
        on_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(SETTINGS_KEY)
                .bind(&json)
                .bind(now_ms)
                .bind(by)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        self.changed(crate::store::Change::Settings).await;
        Ok(())
    }
}

/// The themes a shop may choose from: the theme host answers, so the settings name no host.
pub trait InstalledThemes: Send + Sync {
    fn is_installed(&self, id: &str) -> bool;
    /// Their folder names, to say in a refusal.
    fn installed(&self) -> Vec<String>;
}

/// What `put` asks whether a chosen theme is installed (`FromRef` from the app's state).
#[derive(Clone)]
pub struct Themes(pub std::sync::Arc<dyn InstalledThemes>);

/// All settings (admin).
#[utoipa::path(get, path = "/admin/settings", tag = "settings", responses((status = 200, body = Settings)), security(("bearer" = [])))]
pub async fn get(State(app): State<Shop>, actor: Actor) -> ApiResult<Json<Settings>> {
    actor.require(Permission::ManageSettings)?;
    Ok(Json(app.store.settings().current().await?))
}

/// Replace the settings (admin). The whole document is validated before anything is saved.
#[utoipa::path(put, path = "/admin/settings", tag = "settings", request_body = Settings,
    responses((status = 200, body = Settings), (status = 422, description = "`invalid_money`, `invalid_setting`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn put(
    State(app): State<Shop>,
    State(themes): State<Themes>,
    actor: Actor,
    client: ClientInfo,
    body: Bytes,
) -> ApiResult<Json<Settings>> {
    actor.require(Permission::ManageSettings)?;
    let settings: Settings = parse_json(&body)?;
    settings.validate()?;
    if let Some(theme) = &settings.theme
        && !themes.0.is_installed(theme)
    {
        return Err(ApiError::invalid_field(
            "invalid_setting",
            "theme",
            format!(
                "theme: 未安装的主题 {theme:?} (not an installed theme; installed: {})",
                themes.0.installed().join(", ")
            ),
        ));
    }
    if let Some(id) = settings.fallback_customer_service_id {
        let is_service = app
            .store
            .accounts()
            .user_by_id(id)
            .await?
            .is_some_and(|u| u.has(Permission::BackUpManagers) && !u.disabled);
        if !is_service {
            return Err(ApiError::invalid_field(
                "invalid_setting",
                "fallback_customer_service_id",
                "须为启用中的客服账号 (must be an enabled customer-service account)",
            ));
        }
    }
    let before = app.store.settings().current().await?;
    let now = app.clock.now_ms();
    app.store
        .settings()
        .save(&settings, Some(actor.user_id), now)
        .await?;
    let detail = changed_fields(&before, &settings);
    app.store
        .accounts()
        .log_operation(
            Operation {
                actor_id: Some(actor.user_id),
                action: "settings.update",
                target_kind: "settings",
                target_id: None,
                detail,
            },
            &client,
            now,
        )
        .await?;
    Ok(Json(settings))
}

/// The top-level fields that differ, old and new value each.
fn changed_fields(before: &Settings, after: &Settings) -> serde_json::Value {
    let (Ok(serde_json::Value::Object(old)), Ok(serde_json::Value::Object(new))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return serde_json::Value::Null;
    };
    let changed: serde_json::Map<String, serde_json::Value> = new
        .into_iter()
        .filter(|(k, v)| old.get(k) != Some(v))
        .map(|(k, v)| {
            let was = old.get(&k).cloned().unwrap_or(serde_json::Value::Null);
            (k, serde_json::json!({ "from": was, "to": v }))
        })
        .collect();
    serde_json::Value::Object(changed)
}

/// What anyone may know about the shop: name, logo, introduction, mode, enabled methods.
#[derive(Serialize, ToSchema)]
pub struct ShopInfo {
    pub shop_name: String,
    pub logo_url: Option<String>,
    pub introduction: String,
    pub service_qr_url: Option<String>,
    pub service_phone: Option<String>,
    pub shop_mode: ShopMode,
    pub single_page: bool,
    pub require_profile: bool,
    pub payment_methods: PaymentMethods,
    /// The enabled payment methods, in order, with what each means for the order.
    pub payment_options: Vec<PaymentOption>,
    pub delivery: DeliveryOptions,
}

/// A payment method the shop offers.
#[derive(Serialize, ToSchema)]
pub struct PaymentOption {
    pub method: PaymentMethod,
    /// 货到付款, 银行转账 …
    pub label: &'static str,
    /// Money first: a confirmed order waits in 待付款 and is not sent until it is paid.
    pub pays_first: bool,
    /// Credit terms (统一结算): only for members allowed them, within their limit (B6).
    pub credit: bool,
}

/// The shop as everyone sees it (L3): name, logo, introduction, service contacts, shop mode,
/// the payment methods and delivery options on offer.
#[utoipa::path(get, path = "/shop", tag = "settings", responses((status = 200, body = ShopInfo)))]
pub async fn shop(State(app): State<Shop>) -> ApiResult<Json<ShopInfo>> {
    let s = app.store.settings().current().await?;
    Ok(Json(ShopInfo {
        shop_name: s.shop_name,
        logo_url: s.logo_url,
        introduction: s.introduction,
        service_qr_url: s.service_qr_url,
        service_phone: s.service_phone,
        shop_mode: s.shop_mode,
        single_page: s.single_page,
        require_profile: s.require_profile,
        payment_options: PaymentMethod::ALL
            .into_iter()
            .filter(|method| method.is_enabled(&s.payment_methods))
            .map(|method| PaymentOption {
                method,
                label: method.label(),
                pays_first: method.pays_first(),
                credit: method.is_credit(),
            })
            .collect(),
        payment_methods: s.payment_methods,
        delivery: s.delivery,
    }))
}
/// D3's payment methods. Pay first (a confirmed order waits in 待付款 and is not sent until
/// paid): `bank_transfer`, `pay_before_shipping`, `wechat_transfer`, `alipay_transfer`. Paid
/// after the goods: `cash_on_delivery`, `carrier_collect`, and `monthly_settlement` (credit
/// terms, B6). `GET /shop` lists the enabled ones with `pays_first`. Online payment is not
/// offered until a provider is integrated.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// 货到付款
    CashOnDelivery,
    /// 银行转账
    BankTransfer,
    /// 款到发货
    PayBeforeShipping,
    /// 微信转账
    WechatTransfer,
    /// 支付宝转账
    AlipayTransfer,
    /// 物流代收
    CarrierCollect,
    /// 统一结算
    MonthlySettlement,
}

impl PaymentMethod {
    pub const ALL: [PaymentMethod; 7] = [
        PaymentMethod::CashOnDelivery,
        PaymentMethod::BankTransfer,
        PaymentMethod::PayBeforeShipping,
        PaymentMethod::WechatTransfer,
        PaymentMethod::AlipayTransfer,
        PaymentMethod::CarrierCollect,
        PaymentMethod::MonthlySettlement,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::CashOnDelivery => "cash_on_delivery",
            PaymentMethod::BankTransfer => "bank_transfer",
            PaymentMethod::PayBeforeShipping => "pay_before_shipping",
            PaymentMethod::WechatTransfer => "wechat_transfer",
            PaymentMethod::AlipayTransfer => "alipay_transfer",
            PaymentMethod::CarrierCollect => "carrier_collect",
            PaymentMethod::MonthlySettlement => "monthly_settlement",
        }
    }

    pub fn from_db(text: &str) -> Option<PaymentMethod> {
        PaymentMethod::ALL.into_iter().find(|m| m.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            PaymentMethod::CashOnDelivery => "货到付款",
            PaymentMethod::BankTransfer => "银行转账",
            PaymentMethod::PayBeforeShipping => "款到发货",
            PaymentMethod::WechatTransfer => "微信转账",
            PaymentMethod::AlipayTransfer => "支付宝转账",
            PaymentMethod::CarrierCollect => "物流代收",
            PaymentMethod::MonthlySettlement => "统一结算",
        }
    }

    pub fn is_enabled(self, methods: &PaymentMethods) -> bool {
        match self {
            PaymentMethod::CashOnDelivery => methods.cash_on_delivery,
            PaymentMethod::BankTransfer => methods.bank_transfer,
            PaymentMethod::PayBeforeShipping => methods.pay_before_shipping,
            PaymentMethod::WechatTransfer => methods.wechat_transfer,
            PaymentMethod::AlipayTransfer => methods.alipay_transfer,
            PaymentMethod::CarrierCollect => methods.carrier_collect,
            PaymentMethod::MonthlySettlement => methods.monthly_settlement,
        }
    }

    /// Money first, goods after: a confirmed order waits in 待付款 and cannot be dispatched
    /// until it is paid. Cash on delivery, the carrier's collection and monthly settlement are
    /// paid after the goods arrive.
    pub fn pays_first(self) -> bool {
        matches!(
            self,
            PaymentMethod::BankTransfer
                | PaymentMethod::PayBeforeShipping
                | PaymentMethod::WechatTransfer
                | PaymentMethod::AlipayTransfer
        )
    }

    /// Monthly settlement is credit (B6): it counts against the member's limit.
    pub fn is_credit(self) -> bool {
        self == PaymentMethod::MonthlySettlement
    }
}

/// What `Settings::max_price_percent` is unless the shop changes it: a step may at most triple
/// a line's catalogue price (a region's surcharge, a fee), never more.
pub const DEFAULT_MAX_PRICE_PERCENT: i64 = 300;

/// The settings as last read, and when (see `store::cache`).
#[derive(Default)]
pub struct SettingsRoom(std::sync::Mutex<Option<(std::time::Instant, Settings)>>);

impl crate::store::Room for SettingsRoom {
    fn apply(&self, change: &crate::store::Change) {
        if matches!(
            change,
            crate::store::Change::Settings | crate::store::Change::Everything
        ) && let Ok(mut cached) = self.0.lock()
        {
            *cached = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pay_first_methods_are_the_transfers_and_pay_before_shipping() {
        let first: Vec<_> = PaymentMethod::ALL
            .into_iter()
            .filter(|m| m.pays_first())
            .collect();
        assert_eq!(
            first,
            [
                PaymentMethod::BankTransfer,
                PaymentMethod::PayBeforeShipping,
                PaymentMethod::WechatTransfer,
                PaymentMethod::AlipayTransfer
            ]
        );
        assert_eq!(
            PaymentMethod::from_db("monthly_settlement"),
            Some(PaymentMethod::MonthlySettlement)
        );
    }
}
