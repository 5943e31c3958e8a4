//! The plugin's screens (capability `screens`), drawn by the theme: the back office's
//! campaign list with its create form (`/office`), a campaign's edit form
//! (`/campaigns/{id}/edit`), and the members' list of running offers (`/offers`). Their forms
//! and buttons post to the routes in `http.rs`, as text (yuan, shop time, ids as "3,5").

use pifa_sdk::input::{self, show_scaled};
use pifa_sdk::{
    Action, Block, Card, Choice, FieldKind, Form, FormField, HttpRequest, HttpResponse, Kv, Row,
    Screen, Tone,
};

use crate::campaign::{self, Basis, Campaign, MAX_TIERS, Reward, ScopeKind};
use crate::http::{given, offer_words};
use crate::pricing::Stacking;

const OFFICE: &str = "/office";

fn stacking_words(stacking: Stacking) -> &'static str {
    match stacking {
        Stacking::Best => {
            "多个活动同时进行时：只用优惠最多的一个（满赠只在没有满减、满折可用时送出）。"
        }
        Stacking::All => "多个活动同时进行时：按活动编号依次叠加，后一个按前一个优惠后的金额计算。",
    }
}

/// A tier's words with the gifts given so far, for staff: 「满1000赠（SKU 9 ×1，已送 3/50）」.
fn staff_tier_words(kv: &impl Kv, campaign: &Campaign) -> String {
    campaign
        .tiers
        .iter()
        .zip(given(kv, campaign))
        .map(|(tier, given)| match tier.gift() {
            Some(gift) => format!(
                "{}（SKU {} ×{}，已送 {given}/{}）",
                tier.words(campaign.basis),
                gift.sku_id,
                gift.qty,
                gift.stock
            ),
            None => tier.words(campaign.basis),
        })
        .collect::<Vec<_>>()
        .join("；")
}

/// The back office's list of campaigns, each with its action, and the form creating one.
pub fn office(kv: &impl Kv, request: &HttpRequest) -> HttpResponse {
    let now_ms = request.now_ms;
    let rows: Vec<Row> = campaign::load_all(kv)
        .iter()
        .map(|campaign| {
            let action = if campaign.is_over(now_ms) {
                Action {
                    danger: true,
                    ..Action::post("删除", format!("/campaigns/{}/delete", campaign.id))
                        .confirm("确定删除该活动？")
                }
            } else {
                Action {
                    danger: true,
                    ..Action::post("结束", format!("/campaigns/{}/end", campaign.id))
                        .confirm("确定现在结束该活动？")
                }
            };
            Row {
                cells: vec![
                    campaign.name.clone(),
                    campaign.window_words(),
                    campaign.basis.words().to_owned(),
                    staff_tier_words(kv, campaign),
                    campaign.scope_words(),
                    campaign.state(now_ms).words().to_owned(),
                ],
                link: Some(format!("/campaigns/{}/edit", campaign.id)),
                actions: vec![action],
            }
        })
        .collect();
    let screen = Screen::new("满减满赠")
        .with(Block::text(stacking_words(Stacking::of(&request.settings))))
        .with(Block::Table {
            title: "活动".to_owned(),
            columns: ["名称", "时间", "门槛", "档位", "范围", "状态"]
                .map(str::to_owned)
                .to_vec(),
            rows,
            empty: "还没有满减活动".to_owned(),
        })
        .with(Block::Form(Form {
            title: "新建活动".to_owned(),
            action: "/campaigns".to_owned(),
            fields: campaign_fields(None),
            submit: "创建".to_owned(),
            back: OFFICE.to_owned(),
        }));
    HttpResponse::ok(screen)
}

/// A campaign's edit form, or why it can no longer be changed.
pub fn edit(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let id = request.id_param("id", "活动")?;
    let campaign = campaign::load(kv, id).ok_or_else(|| HttpResponse::not_found("活动"))?;
    let mut screen = Screen::new(format!("修改活动：{}", campaign.name)).with(Block::figures(&[
        ("状态", campaign.state(request.now_ms).words().to_owned()),
        ("档位", staff_tier_words(kv, &campaign)),
    ]));
    if campaign.is_over(request.now_ms) {
        screen = screen.with(Block::Text {
            text: "活动已结束，不能修改。".to_owned(),
            tone: Tone::Warning,
        });
    } else {
        screen = screen
            .with(Block::Form(Form {
                title: String::new(),
                action: format!("/campaigns/{id}"),
                fields: campaign_fields(Some(&campaign)),
                submit: "保存".to_owned(),
                back: OFFICE.to_owned(),
            }))
            .with(Block::Actions {
                items: vec![Action {
                    danger: true,
                    back: OFFICE.to_owned(),
                    ..Action::post("结束活动", format!("/campaigns/{id}/end"))
                        .confirm("确定现在结束该活动？")
                }],
            });
    }
    Ok(HttpResponse::ok(screen))
}

/// A known earlier plugin as a member reads it.
fn plugin_words(name: &str) -> &str {
    match name {
        "flash-sale" => "限时抢购",
        "clearance" => "清仓",
        other => other,
    }
}

/// The running campaigns as a member reads them.
pub fn offers(kv: &impl Kv, request: &HttpRequest) -> HttpResponse {
    let items: Vec<Card> = campaign::load_active(kv, request.now_ms)
        .iter()
        .map(|campaign| {
            let stacking = if campaign.stack_with.is_empty() {
                "限时抢购、清仓等特价商品不参与".to_owned()
            } else {
                let names: Vec<&str> = campaign
                    .stack_with
                    .iter()
                    .map(|n| plugin_words(n))
                    .collect();
                format!("可与{}同享", names.join("、"))
            };
            Card {
                title: campaign.name.clone(),
                lines: vec![
                    offer_words(kv, campaign).join("，"),
                    format!("{}，{}", campaign.scope.member_words(), stacking),
                    format!("截止 {}", input::local_time(campaign.ends_at_ms)),
                ],
                ..Card::default()
            }
        })
        .collect();
    HttpResponse::ok(Screen::new("满减活动").with(Block::Cards {
        title: String::new(),
        items,
        empty: "暂无进行中的满减活动".to_owned(),
    }))
}

fn choice(value: &str, label: &str) -> Choice {
    Choice {
        value: value.to_owned(),
        label: label.to_owned(),
    }
}

/// A moment as a `datetime-local` field shows it: `2026-12-24T09:00`.
fn datetime_value(ms: i64) -> String {
    input::local_time(ms).replacen(' ', "T", 1)
}

/// The form's fields, filled from `campaign` when editing. Money is yuan text and a
/// threshold is yuan or items by the basis, as [`crate::campaign::Terms::parse`] reads them.
fn campaign_fields(campaign: Option<&Campaign>) -> Vec<FormField> {
    let basis = campaign.map_or(Basis::Amount, |c| c.basis);
    let scope = campaign.map_or(ScopeKind::All, |c| c.scope);
    let mut fields = vec![
        FormField::new("name", "名称", FieldKind::Text)
            .value(campaign.map(|c| c.name.clone()).unwrap_or_default())
            .required()
            .help("最多30个字"),
        FormField::new("starts_at_ms", "开始时间", FieldKind::Datetime)
            .value(
                campaign
                    .map(|c| datetime_value(c.starts_at_ms))
                    .unwrap_or_default(),
            )
            .required(),
        FormField::new("ends_at_ms", "结束时间", FieldKind::Datetime)
            .value(
                campaign
                    .map(|c| datetime_value(c.ends_at_ms))
                    .unwrap_or_default(),
            )
            .required(),
        FormField {
            options: vec![
                choice("amount", "按金额（满多少元）"),
                choice("quantity", "按件数（满多少件）"),
            ],
            ..FormField::new("basis", "门槛", FieldKind::Select)
                .value(basis.as_str())
                .required()
        },
        FormField {
            options: vec![
                choice("all", "全部商品"),
                choice("category", "指定分类"),
                choice("brand", "指定品牌"),
                choice("products", "指定商品"),
            ],
            ..FormField::new("scope", "范围", FieldKind::Select)
                .value(scope.as_str())
                .required()
        },
        FormField::new("scope_ids", "范围编号", FieldKind::Text)
            .value(
                campaign
                    .map(|c| campaign::join_ids(&c.scope_ids))
                    .unwrap_or_default(),
            )
            .help("分类、品牌或商品的编号，逗号分隔，如 3,5；全部商品时不填"),
        FormField::new("stack_with", "可同享的活动", FieldKind::Text)
            .value(campaign.map(|c| c.stack_with.join(",")).unwrap_or_default())
            .help(
                "填 flash-sale（限时抢购）、clearance（清仓），逗号分隔；不填则这些特价商品不参与",
            ),
    ];
    for number in 1..=MAX_TIERS {
        let tier = campaign.and_then(|c| c.tiers.get(number - 1));
        let threshold = tier.map(|t| match basis {
            Basis::Amount => show_scaled(t.threshold, 2),
            Basis::Quantity => t.threshold.to_string(),
        });
        let reward = tier.map(|t| &t.reward);
        let reduce = match reward {
            Some(Reward::ReduceFen(fen)) => show_scaled(*fen, 2),
            _ => String::new(),
        };
        let percent = match reward {
            Some(Reward::DiscountPercent(percent)) => percent.to_string(),
            _ => String::new(),
        };
        let gift = match reward {
            Some(Reward::Gift(gift)) => Some(*gift),
            _ => None,
        };
        let field = |name: &str, label: &str, kind: FieldKind, value: String| {
            FormField::new(
                &format!("tier{number}_{name}"),
                &format!("第{number}档{label}"),
                kind,
            )
            .value(value)
        };
        let mut threshold_field = field(
            "threshold",
            "门槛",
            FieldKind::Text,
            threshold.unwrap_or_default(),
        );
        let mut reduce_field = field("reduce", "减（元）", FieldKind::Money, reduce);
        if number == 1 {
            threshold_field = threshold_field
                .required()
                .help("按金额填元（如 500），按件数填件数（如 3）；门槛逐档升高，不用的档留空");
            reduce_field = reduce_field.help("每档只填一种优惠：减钱、折扣或赠品");
        }
        fields.extend([
            threshold_field,
            reduce_field,
            field("percent", "折扣", FieldKind::Number, percent)
                .help("付原价的百分之几，如 95 即九五折"),
            field(
                "gift_sku",
                "赠品SKU编号",
                FieldKind::Number,
                gift.map(|g| g.sku_id.to_string()).unwrap_or_default(),
            ),
            field(
                "gift_qty",
                "每份赠品件数",
                FieldKind::Number,
                gift.map(|g| g.qty.to_string()).unwrap_or_default(),
            )
            .help("不填为1件"),
            field(
                "gift_stock",
                "赠品总份数",
                FieldKind::Number,
                gift.map(|g| g.stock.to_string()).unwrap_or_default(),
            ),
        ]);
    }
    fields
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use pifa_sdk::{Caller, MemoryKv};
    use serde_json::{Value, json};

    use super::*;
    use crate::campaign::Terms;
    use crate::http::handle;

    const NOW: i64 = 1_700_000_000_000;

    fn get(kv: &mut MemoryKv, route: &str, id: Option<i64>) -> HttpResponse {
        handle(
            kv,
            &HttpRequest {
                method: "GET".to_owned(),
                route: route.to_owned(),
                params: id
                    .map(|id| BTreeMap::from([("id".to_owned(), id.to_string())]))
                    .unwrap_or_default(),
                query: BTreeMap::new(),
                body: Value::Null,
                caller: Caller::default(),
                now_ms: NOW,
                settings: json!({"stacking": "all"}),
            },
        )
    }

    fn store(kv: &mut MemoryKv, id: i64, body: Value) -> Campaign {
        let campaign = Campaign::with_terms(id, Terms::parse(&body).unwrap());
        campaign::save(kv, &campaign).unwrap();
        campaign
    }

    fn body(name: &str, starts_at_ms: i64, ends_at_ms: i64) -> Value {
        json!({
            "name": name,
            "starts_at_ms": starts_at_ms,
            "ends_at_ms": ends_at_ms,
            "basis": "amount",
            "tiers": [
                {"threshold": 50_000, "reduce_fen": 5_050},
                {"threshold": 80_000, "discount_percent": 95},
                {"threshold": 100_000, "gift": {"sku_id": 9, "qty": 2, "stock": 50}}
            ],
            "scope": "category",
            "scope_ids": [3, 5],
            "stack_with": ["flash-sale"]
        })
    }

    fn field<'a>(fields: &'a [Value], name: &str) -> &'a Value {
        fields
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no field {name}"))
    }

    #[test]
    fn the_office_lists_campaigns_with_their_action_and_a_create_form() {
        let mut kv = MemoryKv::default();
        store(&mut kv, 1, body("夏季满减", NOW, NOW + 60_000));
        store(&mut kv, 2, body("春季满减", NOW - 60_000, NOW - 1));
        kv.counters.insert("given:1:3".to_owned(), 3);
        let screen = get(&mut kv, "/office", None);
        assert_eq!(screen.status, 200);
        let blocks = screen.body["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "text");
        assert!(blocks[0]["text"].as_str().unwrap().contains("依次叠加"));
        let rows = blocks[1]["rows"].as_array().unwrap();
        assert_eq!(
            rows[0]["cells"],
            json!([
                "夏季满减",
                "2023-11-15 06:13 至 2023-11-15 06:14",
                "按金额",
                "满500减50.50；满800享95折；满1000赠（SKU 9 ×2，已送 3/50）",
                "分类 3,5",
                "进行中"
            ])
        );
        assert_eq!(rows[0]["link"], "/campaigns/1/edit");
        assert_eq!(rows[0]["actions"][0]["action"], "/campaigns/1/end");
        assert_eq!(rows[1]["actions"][0]["action"], "/campaigns/2/delete");
        assert_eq!(rows[1]["cells"][5], "已结束");
        let form = &blocks[2];
        assert_eq!(form["type"], "form");
        assert_eq!(form["action"], "/campaigns");
        let fields = form["fields"].as_array().unwrap();
        assert_eq!(fields.len(), 7 + 6 * MAX_TIERS);
        assert_eq!(
            field(fields, "tier5_gift_stock")["label"],
            "第5档赠品总份数"
        );
        assert_eq!(field(fields, "name")["value"], "");
    }

    #[test]
    fn the_edit_form_is_filled_so_that_sending_it_unchanged_keeps_the_campaign() {
        let mut kv = MemoryKv::default();
        let stored = store(&mut kv, 1, body("夏季满减", NOW, NOW + 60_000));
        let screen = get(&mut kv, "/campaigns/{id}/edit", Some(1));
        assert_eq!(screen.status, 200);
        assert_eq!(screen.body["title"], "修改活动：夏季满减");
        let form = screen.body["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "form")
            .unwrap();
        assert_eq!(form["action"], "/campaigns/1");
        // What the kernel would send back: every field's value as text.
        let sent: serde_json::Map<String, Value> = form["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["name"].as_str().unwrap().to_owned(), f["value"].clone()))
            .collect();
        assert_eq!(sent["tier1_reduce"], "50.50");
        assert_eq!(sent["starts_at_ms"], "2023-11-15T06:13");
        let again = Campaign::with_terms(1, Terms::parse(&Value::Object(sent)).unwrap());
        // The form shows minutes: the times come back at the minute.
        assert_eq!(again.tiers, stored.tiers);
        assert_eq!(
            (again.scope, &again.scope_ids),
            (stored.scope, &stored.scope_ids)
        );
        assert_eq!(again.stack_with, stored.stack_with);
        assert_eq!(
            again.starts_at_ms,
            stored.starts_at_ms - stored.starts_at_ms % 60_000
        );
    }

    #[test]
    fn an_ended_campaign_shows_no_form() {
        let mut kv = MemoryKv::default();
        store(&mut kv, 1, body("旧活动", NOW - 60_000, NOW - 1));
        let screen = get(&mut kv, "/campaigns/{id}/edit", Some(1));
        let blocks = screen.body["blocks"].as_array().unwrap();
        assert!(blocks.iter().all(|b| b["type"] != "form"));
        assert!(blocks.iter().any(|b| b["text"] == "活动已结束，不能修改。"));
    }

    #[test]
    fn members_see_running_offers_in_words() {
        let mut kv = MemoryKv::default();
        store(&mut kv, 1, body("夏季满减", NOW, NOW + 60_000));
        store(&mut kv, 2, body("未开始", NOW + 1, NOW + 60_000));
        let mut everything = body("全场满件", NOW, NOW + 60_000);
        everything["basis"] = json!("quantity");
        everything["tiers"] = json!([{"threshold": 3, "reduce_fen": 1_000}]);
        everything["scope"] = json!("all");
        everything["stack_with"] = json!([]);
        store(&mut kv, 3, everything);
        let screen = get(&mut kv, "/offers", None);
        assert_eq!(screen.body["title"], "满减活动");
        let cards = screen.body["blocks"][0]["items"].as_array().unwrap();
        assert_eq!(cards.len(), 2);
        assert_eq!(
            cards[0]["lines"],
            json!([
                "满500减50.50，满800享95折，满1000赠",
                "指定分类商品，可与限时抢购同享",
                "截止 2023-11-15 06:14"
            ])
        );
        assert_eq!(cards[1]["lines"][0], "满3件减10");
        assert_eq!(
            cards[1]["lines"][1],
            "全场商品，限时抢购、清仓等特价商品不参与"
        );
        kv.values.clear();
        let empty = get(&mut kv, "/offers", None);
        assert_eq!(empty.body["blocks"][0]["empty"], "暂无进行中的满减活动");
    }
}
