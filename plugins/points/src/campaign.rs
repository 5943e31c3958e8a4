//! Points campaigns (REQUIREMENTS H1: 「节假日促销、新品推广等，参与活动可获得额外积分奖励」):
//! staff make at most [`MAX_CAMPAIGNS`], each with a window and either a multiplier on the
//! order's points (`multiplier_percent`, 200 = double points) or extra points per yuan spent
//! on chosen products (`extra_per_yuan` with `product_ids`).
//!
//! Storage: `campaign:<id:06>`, ids from `campaign-seq` (claimed as read, so two staff creating
//! at once cannot both take one id).

use serde::{Deserialize, Serialize};

use pifa_sdk::input::{Fields, local_time, refused};
use pifa_sdk::{HttpResponse, Kv};

use crate::account::compare_and_add;
use crate::settings::Settings;

pub const MAX_CAMPAIGNS: usize = 50;
pub const MAX_NAME_CHARS: usize = 30;
pub const MAX_PRODUCTS: usize = 200;
const PREFIX: &str = "campaign:";
const SEQ_KEY: &str = "campaign-seq";

fn key(id: i64) -> String {
    format!("{PREFIX}{id:06}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: i64,
    pub name: String,
    pub starts_at: i64,
    pub ends_at: i64,
    /// Points of the whole order × this / 100 (200: double points).
    #[serde(default)]
    pub multiplier_percent: Option<i64>,
    /// Extra points per yuan of the lines of `product_ids`.
    #[serde(default)]
    pub extra_per_yuan: Option<i64>,
    #[serde(default)]
    pub product_ids: Vec<i64>,
}

impl Campaign {
    pub fn is_active(&self, now: i64) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// 「双倍积分」, 「指定商品每元多得2积分」.
    pub fn rule(&self) -> String {
        match (self.multiplier_percent, self.extra_per_yuan) {
            (Some(200), _) => "双倍积分".to_owned(),
            (Some(percent), _) => format!("积分×{}", pifa_sdk::input::show_scaled(percent, 2)),
            (None, Some(extra)) => {
                format!("{}种指定商品每元多得{extra}积分", self.product_ids.len())
            }
            (None, None) => String::new(),
        }
    }

    pub fn window(&self) -> String {
        format!(
            "{} 至 {}",
            local_time(self.starts_at),
            local_time(self.ends_at)
        )
    }
}

pub fn load_all(kv: &impl Kv) -> Vec<Campaign> {
    kv.scan_json::<Campaign>(PREFIX, 100, MAX_CAMPAIGNS + 10)
        .into_iter()
        .map(|(_, campaign)| campaign)
        .collect()
}

pub fn load(kv: &impl Kv, id: i64) -> Option<Campaign> {
    kv.get_json(&key(id))
}

/// A campaign's terms from a body (the JSON API's numbers or a form's text alike).
fn terms(id: i64, fields: &Fields<'_>) -> Result<Campaign, HttpResponse> {
    let name = fields.text("name", MAX_NAME_CHARS)?;
    let starts_at = fields.time_ms("starts_at")?;
    let ends_at = fields.time_ms("ends_at")?;
    if ends_at <= starts_at {
        return Err(refused(
            "ends_at",
            "结束时间须晚于开始时间 (must end after it starts)",
        ));
    }
    let multiplier_percent = fields.optional_int("multiplier_percent", 101, 1000)?;
    let extra_per_yuan = fields.optional_int("extra_per_yuan", 1, 100)?;
    let product_ids = fields.ids("product_ids", MAX_PRODUCTS)?;
    match (multiplier_percent, extra_per_yuan) {
        (Some(_), Some(_)) => Err(refused(
            "extra_per_yuan",
            "倍数与指定商品加送只能选一种 (a multiplier or extra points on products, not both)",
        )),
        (None, None) => Err(refused(
            "multiplier_percent",
            "请填写积分倍数或指定商品每元加送积分 (a multiplier or extra points on products)",
        )),
        (Some(_), None) if !product_ids.is_empty() => Err(refused(
            "product_ids",
            "积分倍数适用于整单，不需选择商品 (a multiplier applies to the whole order)",
        )),
        (None, Some(_)) if product_ids.is_empty() => Err(refused(
            "product_ids",
            "请填写加送积分的商品编号 (the products that earn extra)",
        )),
        _ => Ok(Campaign {
            id,
            name,
            starts_at,
            ends_at,
            multiplier_percent,
            extra_per_yuan,
            product_ids,
        }),
    }
}

fn storage_failed(message: String) -> HttpResponse {
    HttpResponse::storage_failed(message)
}

pub fn create(kv: &mut impl Kv, fields: &Fields<'_>) -> Result<Campaign, HttpResponse> {
    let mut campaign = terms(0, fields)?;
    if kv.keys(PREFIX, 100, MAX_CAMPAIGNS + 1).len() >= MAX_CAMPAIGNS {
        return Err(HttpResponse::conflict(
            "too_many_campaigns",
            &format!(
                "积分活动最多{MAX_CAMPAIGNS}个，请先删除已结束的活动 (at most {MAX_CAMPAIGNS} campaigns)"
            ),
        ));
    }
    let current = kv.counter(SEQ_KEY);
    campaign.id = compare_and_add(kv, SEQ_KEY, current, 1).map_err(storage_failed)?;
    kv.put_json(&key(campaign.id), &campaign)
        .map_err(storage_failed)?;
    Ok(campaign)
}

pub fn update(kv: &mut impl Kv, id: i64, fields: &Fields<'_>) -> Result<Campaign, HttpResponse> {
    if load(kv, id).is_none() {
        return Err(HttpResponse::not_found("积分活动"));
    }
    let campaign = terms(id, fields)?;
    kv.put_json(&key(id), &campaign).map_err(storage_failed)?;
    Ok(campaign)
}

pub fn delete(kv: &mut impl Kv, id: i64) -> Result<Campaign, HttpResponse> {
    let campaign = load(kv, id).ok_or_else(|| HttpResponse::not_found("积分活动"))?;
    kv.delete(&key(id)).map_err(storage_failed)?;
    Ok(campaign)
}

/// A line of a completed order, as its event carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    #[serde(default)]
    pub product_id: i64,
    #[serde(default)]
    pub line_total_fen: i64,
    #[serde(default)]
    pub gift: bool,
}

/// What an order earns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Earning {
    /// At the set rate on what was paid.
    pub base: i64,
    /// From campaigns.
    pub extra: i64,
    /// The campaigns that gave extra.
    pub campaigns: Vec<String>,
}

impl Earning {
    pub fn total(&self) -> i64 {
        self.base.saturating_add(self.extra)
    }
}

fn floor_times(fen: i64, per_yuan: i64) -> i64 {
    i64::try_from(i128::from(fen.max(0)) * i128::from(per_yuan.max(0)) / 100).unwrap_or(i64::MAX)
}

/// Points for an order that paid `paid_fen` with these lines, completed at `now`: whole points,
/// rounded down (REQUIREMENTS N). Of several multipliers active at once the highest applies
/// (they do not compound); every active product campaign adds its extra on the lines of its
/// products (their line totals, gift lines never).
pub fn earning(
    settings: Settings,
    campaigns: &[Campaign],
    now: i64,
    paid_fen: i64,
    lines: &[OrderLine],
) -> Earning {
    let base = floor_times(paid_fen, settings.earn_per_yuan);
    let mut earning = Earning {
        base,
        ..Earning::default()
    };
    let active = campaigns.iter().filter(|c| c.is_active(now));
    if let Some(best) = active
        .clone()
        .filter(|c| c.multiplier_percent.is_some())
        .max_by_key(|c| (c.multiplier_percent, -c.id))
    {
        let percent = best.multiplier_percent.unwrap_or(100);
        let extra = i64::try_from(i128::from(base) * i128::from(percent - 100) / 100).unwrap_or(0);
        if extra > 0 {
            earning.extra = earning.extra.saturating_add(extra);
            earning.campaigns.push(best.name.clone());
        }
    }
    for campaign in active {
        let Some(per_yuan) = campaign.extra_per_yuan else {
            continue;
        };
        let fen = lines
            .iter()
            .filter(|line| !line.gift && campaign.product_ids.contains(&line.product_id))
            .map(|line| line.line_total_fen.max(0))
            .fold(0_i64, i64::saturating_add);
        let extra = floor_times(fen, per_yuan);
        if extra > 0 {
            earning.extra = earning.extra.saturating_add(extra);
            earning.campaigns.push(campaign.name.clone());
        }
    }
    earning
}

#[cfg(test)]
mod tests {
    use pifa_sdk::MemoryKv;
    use serde_json::{Value, json};

    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn campaign(
        id: i64,
        multiplier: Option<i64>,
        extra: Option<i64>,
        products: Vec<i64>,
    ) -> Campaign {
        Campaign {
            id,
            name: format!("活动{id}"),
            starts_at: NOW - 1000,
            ends_at: NOW + 1000,
            multiplier_percent: multiplier,
            extra_per_yuan: extra,
            product_ids: products,
        }
    }

    fn line(product_id: i64, fen: i64) -> OrderLine {
        OrderLine {
            product_id,
            line_total_fen: fen,
            gift: false,
        }
    }

    #[test]
    fn an_order_earns_its_yuan_at_the_rate_rounded_down() {
        let earning = earning(Settings::default(), &[], NOW, 12_399, &[]);
        assert_eq!(earning.total(), 123);
        let triple = Settings {
            earn_per_yuan: 3,
            ..Settings::default()
        };
        assert_eq!(super::earning(triple, &[], NOW, 150, &[]).total(), 4);
    }

    #[test]
    fn the_highest_multiplier_in_its_window_applies() {
        let campaigns = [
            campaign(1, Some(150), None, vec![]),
            campaign(2, Some(200), None, vec![]),
        ];
        let doubled = earning(Settings::default(), &campaigns, NOW, 10_000, &[]);
        assert_eq!((doubled.base, doubled.extra), (100, 100));
        assert_eq!(doubled.campaigns, vec!["活动2".to_owned()]);
        // Outside the window (the end is exclusive) nothing extra.
        assert_eq!(
            earning(Settings::default(), &campaigns, NOW + 1000, 10_000, &[]).extra,
            0
        );
        assert_eq!(
            earning(Settings::default(), &campaigns, NOW - 1001, 10_000, &[]).extra,
            0
        );
    }

    #[test]
    fn chosen_products_earn_extra_on_their_lines_only() {
        let campaigns = [campaign(1, None, Some(2), vec![70, 71])];
        let mut gift = line(70, 0);
        gift.gift = true;
        let lines = [line(70, 5_050), line(80, 10_000), line(71, 1_000), gift];
        let earned = earning(Settings::default(), &campaigns, NOW, 16_050, &lines);
        assert_eq!((earned.base, earned.extra), (160, 121));
    }

    fn body(extra: Value) -> Value {
        let mut body =
            json!({"name": "国庆双倍积分", "starts_at": "2026-10-01", "ends_at": "2026-10-08"});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    }

    #[test]
    fn staff_create_update_and_delete_campaigns() {
        let mut kv = MemoryKv::default();
        let made = create(
            &mut kv,
            &Fields::of(&body(json!({"multiplier_percent": "200"}))),
        )
        .unwrap();
        assert_eq!(made.id, 1);
        assert_eq!(made.rule(), "双倍积分");
        assert_eq!(made.window(), "2026-10-01 00:00 至 2026-10-08 00:00");
        let changed = update(
            &mut kv,
            1,
            &Fields::of(&body(json!({"extra_per_yuan": 2, "product_ids": "70,71"}))),
        )
        .unwrap();
        assert_eq!(changed.product_ids, vec![70, 71]);
        assert_eq!(load_all(&kv), vec![changed]);
        assert!(delete(&mut kv, 1).is_ok());
        assert_eq!(delete(&mut kv, 1).unwrap_err().status, 404);
        assert!(load_all(&kv).is_empty());
    }

    #[test]
    fn campaign_terms_are_checked_field_by_field() {
        let mut kv = MemoryKv::default();
        let cases = [
            (json!({}), "multiplier_percent"),
            (
                json!({"multiplier_percent": 200, "extra_per_yuan": 1}),
                "extra_per_yuan",
            ),
            (json!({"multiplier_percent": 100}), "multiplier_percent"),
            (json!({"extra_per_yuan": 1}), "product_ids"),
            (
                json!({"multiplier_percent": 200, "product_ids": [3]}),
                "product_ids",
            ),
            (
                json!({"multiplier_percent": 200, "ends_at": "2026-09-01"}),
                "ends_at",
            ),
            (json!({"multiplier_percent": 200, "name": ""}), "name"),
        ];
        for (extra, field) in cases {
            let refused = create(&mut kv, &Fields::of(&body(extra.clone()))).unwrap_err();
            assert_eq!(refused.status, 422, "{extra}");
            assert_eq!(refused.body["error"]["field"], field, "{extra}");
        }
        assert!(kv.values.is_empty());
    }

    #[test]
    fn at_most_fifty_campaigns() {
        let mut kv = MemoryKv::default();
        for _ in 0..MAX_CAMPAIGNS {
            create(
                &mut kv,
                &Fields::of(&body(json!({"multiplier_percent": 200}))),
            )
            .unwrap();
        }
        let refused = create(
            &mut kv,
            &Fields::of(&body(json!({"multiplier_percent": 200}))),
        )
        .unwrap_err();
        assert_eq!(refused.status, 409);
        assert_eq!(refused.body["error"]["code"], "too_many_campaigns");
    }
}
