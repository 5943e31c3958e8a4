//! The plugin's screens (capability `screens`), drawn by the theme: the member's wallet
//! (我的优惠券) and 领券中心 on 我的, staff's list of templates in the back office (优惠券) and
//! a template's detail with its edit and issue forms (REQUIREMENTS G5).

use pifa_sdk::input::{local_date, show_scaled};
use pifa_sdk::{
    Action, Block, Card, Choice, FieldKind, Form, FormField, HttpRequest, HttpResponse, Kv, Link,
    Row, Screen, Tone,
};

use crate::http::open_for_claims;
use crate::issue::MAX_ISSUE_MEMBERS;
use crate::model::{
    self, Coupon, Kind, MAX_TEMPLATES, Scope, Status, Template, held_key, issued_key, last_day,
    used_total_key,
};

fn coupon_card(coupon: &Coupon, template: Option<&Template>, status: Status) -> Card {
    let mut lines = Vec::new();
    if let Some(template) = template {
        lines.push(template.name.clone());
        lines.push(template.scope_text());
    }
    match status {
        Status::NotStarted => lines.push(format!(
            "{} 起可用，{}前有效",
            local_date(coupon.valid_from_ms),
            last_day(coupon.valid_until_ms)
        )),
        Status::Used => {
            let order = coupon
                .used_by
                .as_ref()
                .and_then(|usage| usage.order_no.clone())
                .map(|no| format!("已用于订单 {no}"))
                .unwrap_or_else(|| "已使用".to_owned());
            lines.push(order);
        }
        Status::Expired => lines.push(format!("已于 {} 过期", last_day(coupon.valid_until_ms))),
        Status::Ended => lines.push("商家已停用此券".to_owned()),
        Status::Usable => lines.push(format!("{}前有效", last_day(coupon.valid_until_ms))),
    }
    lines.push(format!("来源：{}", coupon.source.label()));
    Card {
        title: template
            .map(Template::rule_text)
            .unwrap_or_else(|| "优惠券".to_owned()),
        lines,
        ..Card::default()
    }
}

/// 我的优惠券: the member's coupons in three groups.
pub fn wallet(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let member_id = request.member_id()?;
    let coupons = model::wallet(kv, member_id);
    let templates = model::templates_of(kv, &coupons);
    let (mut usable, mut used, mut over) = (Vec::new(), Vec::new(), Vec::new());
    for coupon in &coupons {
        let template = templates.get(&coupon.template_id);
        let status = model::status(kv, coupon, template, request.now_ms);
        let card = coupon_card(coupon, template, status);
        match status {
            Status::Usable | Status::NotStarted => usable.push((coupon.valid_until_ms, card)),
            Status::Used => used.push((coupon.valid_until_ms, card)),
            Status::Expired | Status::Ended => over.push((coupon.valid_until_ms, card)),
        }
    }
    // The soonest to expire first among the usable; the latest first among the rest.
    usable.sort_by_key(|(until, _)| *until);
    used.sort_by_key(|(until, _)| std::cmp::Reverse(*until));
    over.sort_by_key(|(until, _)| std::cmp::Reverse(*until));
    let cards = |title: &str, items: Vec<(i64, Card)>, empty: &str| Block::Cards {
        title: title.to_owned(),
        items: items.into_iter().map(|(_, card)| card).collect(),
        empty: empty.to_owned(),
    };
    let screen = Screen::new("我的优惠券")
        .with(Block::figures(&[("可使用", usable.len().to_string())]))
        .with(cards("可使用", usable, "暂无可用的优惠券"))
        .with(Block::Links {
            items: vec![Link {
                label: "去领券中心".to_owned(),
                path: "/claim".to_owned(),
                note: "领取更多优惠券".to_owned(),
            }],
        })
        .with(cards("已使用", used, "暂无"))
        .with(cards("已过期", over, "暂无"));
    Ok(HttpResponse::ok(screen))
}

/// 领券中心: the templates open for claims, each with 领取 for a member who may still claim.
pub fn claim_center(kv: &impl Kv, request: &HttpRequest) -> HttpResponse {
    let member_id = request.caller.member.as_ref().map(|m| m.member_id);
    let items: Vec<Card> = open_for_claims(kv, request.now_ms)
        .iter()
        .map(|template| {
            let remaining = template
                .total
                .saturating_sub(kv.counter(&issued_key(template.id)))
                .max(0);
            let mut lines = vec![
                template.name.clone(),
                template.scope_text(),
                template.validity_text(),
            ];
            let mut actions = Vec::new();
            let held = member_id.map(|m| kv.counter(&held_key(template.id, m)));
            match (member_id, held) {
                _ if remaining == 0 => lines.push("已领完".to_owned()),
                (Some(_), Some(held)) if held >= template.per_member => {
                    lines.push(format!("已领取（每人限领{}张）", template.per_member));
                }
                _ if template.not_started(request.now_ms).is_some() => lines.push(format!(
                    "{} 开始领取",
                    local_date(template.valid_from_ms.unwrap_or_default())
                )),
                (Some(_), held) => {
                    lines.push(format!(
                        "剩余{remaining}张，每人限领{}张{}",
                        template.per_member,
                        held.filter(|h| *h > 0)
                            .map(|h| format!("（已领{h}张）"))
                            .unwrap_or_default()
                    ));
                    actions.push(Action::post(
                        "领取",
                        format!("/templates/{}/claim", template.id),
                    ));
                }
                (None, _) => {
                    lines.push(format!("剩余{remaining}张"));
                    lines.push("登录并通过审核后可领取".to_owned());
                }
            }
            Card {
                title: template.rule_text(),
                lines,
                actions,
                ..Card::default()
            }
        })
        .collect();
    let mut screen = Screen::new("领券中心").with(Block::Cards {
        title: String::new(),
        items,
        empty: "暂无可领取的优惠券".to_owned(),
    });
    if member_id.is_some() {
        screen = screen.with(Block::Links {
            items: vec![Link {
                label: "我的优惠券".to_owned(),
                path: "/wallet".to_owned(),
                note: String::new(),
            }],
        });
    }
    HttpResponse::ok(screen)
}

fn state_text(template: &Template, now_ms: i64) -> &'static str {
    if template.ended {
        "已结束"
    } else if template.expired(now_ms) {
        "已过期"
    } else if template.not_started(now_ms).is_some() {
        "未开始"
    } else {
        "进行中"
    }
}

/// 优惠券 in the back office: every template with its figures, and the form creating one.
pub fn office(kv: &impl Kv, request: &HttpRequest) -> HttpResponse {
    let mut templates = model::all_templates(kv);
    templates.reverse();
    let rows: Vec<Row> = templates
        .iter()
        .map(|template| Row {
            cells: vec![
                template.name.clone(),
                template.rule_text(),
                template.validity_text(),
                format!(
                    "{}/{}",
                    kv.counter(&issued_key(template.id)),
                    template.total
                ),
                kv.counter(&used_total_key(template.id)).to_string(),
                state_text(template, request.now_ms).to_owned(),
            ],
            link: Some(format!("/templates/{}", template.id)),
            actions: Vec::new(),
        })
        .collect();
    let count = templates.len();
    let screen = Screen::new("优惠券")
        .with(Block::Table {
            title: format!("优惠券模板（{count}/{MAX_TEMPLATES}）"),
            columns: ["名称", "规则", "有效期", "已发放/总量", "已使用", "状态"]
                .map(str::to_owned)
                .to_vec(),
            rows,
            empty: "还没有优惠券，用下面的表单创建".to_owned(),
        })
        .with(Block::Form(template_form(
            "新建优惠券",
            "/templates".to_owned(),
            "创建",
            None,
        )));
    HttpResponse::ok(screen)
}

/// One template: its figures, the edit form, the issue form, and ending or deleting it.
pub fn detail(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let id = request.id_param("id", "优惠券模板")?;
    let template =
        model::load_template(kv, id).ok_or_else(|| HttpResponse::not_found("优惠券模板"))?;
    let issued = kv.counter(&issued_key(id));
    let path = format!("/templates/{id}");
    let mut screen = Screen::new(format!("优惠券：{}", template.name))
        .with(Block::figures(&[
            ("已发放", format!("{issued}/{}", template.total)),
            ("已使用", kv.counter(&used_total_key(id)).to_string()),
            ("状态", state_text(&template, request.now_ms).to_owned()),
        ]))
        .with(Block::text(format!(
            "{}；{}；{}；每人限领{}张；{}",
            template.rule_text(),
            template.scope_text(),
            template.validity_text(),
            template.per_member,
            if template.claimable {
                "会员可在领券中心领取"
            } else {
                "仅由商家发放或积分兑换"
            }
        )));
    if template.ended {
        screen = screen
            .with(Block::Text {
                text: "已结束：不能再领取或发放，未使用的券已停用。".to_owned(),
                tone: Tone::Warning,
            })
            .with(Block::Actions {
                items: vec![Action {
                    danger: true,
                    back: "/office".to_owned(),
                    ..Action::post("删除", format!("{path}/delete"))
                        .confirm("删除后不能恢复，会员手中的此券显示为已停用。确定删除？")
                }],
            });
    } else {
        let mut form = template_form("修改", path.clone(), "保存", Some(&template));
        if issued > 0 {
            form.title = "修改（已发放过，优惠规则和适用范围不能再改）".to_owned();
        }
        screen = screen
            .with(Block::Form(form))
            .with(Block::Form(Form {
                title: "发放给会员".to_owned(),
                action: format!("{path}/issue"),
                fields: vec![FormField::new("member_ids", "会员编号", FieldKind::Textarea)
                    .required()
                    .help(format!(
                        "用逗号或换行分隔，每次最多{MAX_ISSUE_MEMBERS}位；已达每人限领的会员会被跳过"
                    ))],
                submit: "发放".to_owned(),
                back: String::new(),
            }))
            .with(Block::Actions {
                items: vec![Action {
                    danger: true,
                    ..Action::post("结束", format!("{path}/end")).confirm(
                        "结束后不能再领取或发放，会员未使用的此券也将停用。确定结束？",
                    )
                }],
            });
    }
    screen = screen.with(Block::Links {
        items: vec![Link {
            label: "返回优惠券列表".to_owned(),
            path: "/office".to_owned(),
            note: String::new(),
        }],
    });
    Ok(HttpResponse::ok(screen))
}

fn select(name: &str, label: &str, value: &str, options: &[(&str, &str)]) -> FormField {
    FormField {
        options: options
            .iter()
            .map(|(value, label)| Choice {
                value: (*value).to_owned(),
                label: (*label).to_owned(),
            })
            .collect(),
        ..FormField::new(name, label, FieldKind::Select).value(value)
    }
}

fn money_text(fen: Option<i64>) -> String {
    fen.map(|fen| show_scaled(fen, 2)).unwrap_or_default()
}

/// The terms as a form (the fields `terms::parse` reads), filled from `template` when editing.
fn template_form(title: &str, action: String, submit: &str, template: Option<&Template>) -> Form {
    let kind = match template.map(|t| t.kind) {
        Some(Kind::Discount) => "discount",
        _ => "reduce",
    };
    let scope = template.map(|t| t.scope).unwrap_or(Scope::All);
    let days = template.and_then(|t| t.valid_days);
    let ids: Vec<String> = template
        .map(|t| t.scope_ids.iter().map(i64::to_string).collect())
        .unwrap_or_default();
    let fields = vec![
        FormField::new("name", "名称", FieldKind::Text)
            .value(template.map(|t| t.name.clone()).unwrap_or_default())
            .required()
            .help("最多30个字，会员在结算页看到「优惠券：名称」"),
        select(
            "kind",
            "类型",
            kind,
            &[
                ("reduce", "满减券（减固定金额）"),
                ("discount", "折扣券（按比例付款）"),
            ],
        ),
        FormField::new("amount_fen", "减免金额（元）", FieldKind::Money)
            .value(money_text(template.and_then(|t| t.amount_fen)))
            .help("满减券填写"),
        FormField::new("percent", "折扣（付款百分比）", FieldKind::Number)
            .value(
                template
                    .and_then(|t| t.percent)
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
            )
            .help("折扣券填写，1到99：85 即 8.5 折"),
        FormField::new("cap_fen", "最多减（元）", FieldKind::Money)
            .value(money_text(template.and_then(|t| t.cap_fen)))
            .help("折扣券可选，留空不封顶"),
        FormField::new("threshold_fen", "使用门槛（元）", FieldKind::Money)
            .value(money_text(template.map(|t| t.threshold_fen)))
            .help("适用商品满多少元可用，0 或留空为无门槛"),
        select(
            "scope",
            "适用范围",
            scope.as_str(),
            &[
                ("all", "全场通用"),
                ("categories", "指定分类"),
                ("brands", "指定品牌"),
                ("products", "指定商品"),
            ],
        ),
        FormField::new("scope_ids", "适用编号", FieldKind::Text)
            .value(ids.join(","))
            .help("分类、品牌或商品编号，用逗号分隔；全场通用时留空"),
        select(
            "validity",
            "有效期",
            if days.is_some() { "days" } else { "fixed" },
            &[("fixed", "固定日期"), ("days", "领取后若干天")],
        ),
        FormField::new("valid_from_ms", "开始日期", FieldKind::Date)
            .value(
                template
                    .and_then(|t| t.valid_from_ms)
                    .map(local_date)
                    .unwrap_or_default(),
            )
            .help("固定日期时填写"),
        FormField::new("valid_until_ms", "结束日期（含当天）", FieldKind::Date)
            .value(
                template
                    .and_then(|t| t.valid_until_ms)
                    .map(last_day)
                    .unwrap_or_default(),
            )
            .help("固定日期时填写"),
        FormField::new("valid_days", "领取后有效天数", FieldKind::Number)
            .value(days.map(|d| d.to_string()).unwrap_or_default())
            .help("领取后若干天时填写"),
        FormField::new("total", "发放总量", FieldKind::Number)
            .value(template.map(|t| t.total.to_string()).unwrap_or_default())
            .required()
            .help("最多1000000张"),
        FormField::new("per_member", "每人限领", FieldKind::Number)
            .value(
                template
                    .map(|t| t.per_member.to_string())
                    .unwrap_or_else(|| "1".to_owned()),
            )
            .required()
            .help("1到100张"),
        FormField::new("claimable", "会员可在领券中心领取", FieldKind::Checkbox).value(
            if template.is_some_and(|t| t.claimable) {
                "on"
            } else {
                ""
            },
        ),
    ];
    Form {
        title: title.to_owned(),
        action,
        fields,
        submit: submit.to_owned(),
        back: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use pifa_sdk::MemoryKv;
    use serde_json::{Value, json};

    use super::*;
    use crate::http::handle;
    use crate::http::tests::{create, member, staff, terms_body};
    use crate::model::tests::NOW;

    fn blocks_of(response: &HttpResponse) -> Vec<Value> {
        assert_eq!(response.status, 200, "{}", response.body);
        response.body["blocks"].as_array().unwrap().clone()
    }

    #[test]
    fn the_wallet_groups_usable_used_and_expired_coupons() {
        let mut kv = MemoryKv::default();
        let mut body = terms_body();
        body["total"] = json!(10);
        body["per_member"] = json!(3);
        let id = create(&mut kv, body);
        for _ in 0..3 {
            handle(
                &mut kv,
                &member("POST", "/templates/{id}/claim", Some(id), 42),
            );
        }
        kv.counters.insert("used:420001002".to_owned(), 1);
        let mut expired = model::load_coupon(&kv, 420_001_003).unwrap();
        expired.valid_until_ms = NOW - 1;
        model::save_coupon(&mut kv, &expired).unwrap();

        let screen = handle(&mut kv, &member("GET", "/wallet", None, 42));
        assert_eq!(screen.body["title"], "我的优惠券");
        let blocks = blocks_of(&screen);
        assert_eq!(blocks[0]["items"][0]["value"], "1");
        assert_eq!(blocks[1]["title"], "可使用");
        assert_eq!(blocks[1]["items"][0]["title"], "满300减30");
        assert_eq!(blocks[1]["items"][0]["lines"][2], "2026-01-31前有效");
        assert_eq!(blocks[3]["items"].as_array().unwrap().len(), 1);
        assert_eq!(blocks[3]["items"][0]["lines"][2], "已使用");
        assert_eq!(blocks[4]["items"][0]["lines"][2], "已于 2026-01-01 过期");
        let mut stranger = member("GET", "/wallet", None, 42);
        stranger.caller.member = None;
        assert_eq!(handle(&mut kv, &stranger).status, 403);
    }

    #[test]
    fn the_claim_center_offers_claim_actions_to_members_who_may_claim() {
        let mut kv = MemoryKv::default();
        let id = create(&mut kv, terms_body());
        let screen = handle(&mut kv, &member("GET", "/claim", None, 42));
        let blocks = blocks_of(&screen);
        let card = &blocks[0]["items"][0];
        assert_eq!(card["title"], "满300减30");
        assert_eq!(
            card["actions"][0]["action"],
            format!("/templates/{id}/claim")
        );
        assert_eq!(card["actions"][0]["label"], "领取");

        handle(
            &mut kv,
            &member("POST", "/templates/{id}/claim", Some(id), 42),
        );
        let screen = handle(&mut kv, &member("GET", "/claim", None, 42));
        let card = &blocks_of(&screen)[0]["items"][0];
        assert_eq!(card["actions"], json!([]));
        assert_eq!(card["lines"][3], "已领取（每人限领1张）");

        let mut visitor = member("GET", "/claim", None, 42);
        visitor.caller = pifa_sdk::Caller::default();
        let screen = handle(&mut kv, &visitor);
        let card = &blocks_of(&screen)[0]["items"][0];
        assert_eq!(card["actions"], json!([]));
        assert_eq!(card["lines"][4], "登录并通过审核后可领取");
    }

    #[test]
    fn the_office_lists_templates_with_figures_and_a_create_form() {
        let mut kv = MemoryKv::default();
        let id = create(&mut kv, terms_body());
        handle(
            &mut kv,
            &member("POST", "/templates/{id}/claim", Some(id), 42),
        );
        kv.counters.insert("used_total:1".to_owned(), 1);
        let screen = handle(&mut kv, &staff("GET", "/office", None, Value::Null));
        let blocks = blocks_of(&screen);
        assert_eq!(
            blocks[0]["rows"][0]["cells"],
            json!([
                "满300减30",
                "满300减30",
                "2025-12-31 至 2026-01-31",
                "1/3",
                "1",
                "进行中"
            ])
        );
        assert_eq!(blocks[0]["rows"][0]["link"], "/templates/1");
        assert_eq!(blocks[1]["type"], "form");
        assert_eq!(blocks[1]["action"], "/templates");
        let names: Vec<&str> = blocks[1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"valid_days") && names.contains(&"claimable"));
    }

    #[test]
    fn a_form_posted_as_text_creates_what_the_detail_shows() {
        let mut kv = MemoryKv::default();
        // What the kernel sends for the office's form: every field as text.
        let posted = json!({
            "name": "周末折扣", "kind": "discount", "amount_fen": "", "percent": "88",
            "cap_fen": "20.00", "threshold_fen": "100", "scope": "brands", "scope_ids": "3，4",
            "validity": "days", "valid_from_ms": "", "valid_until_ms": "", "valid_days": "7",
            "total": "50", "per_member": "2", "claimable": "on"
        });
        let id = create(&mut kv, posted);
        let screen = handle(
            &mut kv,
            &staff("GET", "/templates/{id}", Some(id), Value::Null),
        );
        assert_eq!(screen.body["title"], "优惠券：周末折扣");
        let blocks = blocks_of(&screen);
        assert_eq!(
            blocks[1]["text"],
            "满100打8.8折，最多减20；指定品牌可用（编号 3、4）；领取后7天内有效；每人限领2张；会员可在领券中心领取"
        );
        let edit = &blocks[2];
        assert_eq!(edit["action"], "/templates/1");
        let value = |name: &str| {
            edit["fields"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["name"] == name)
                .unwrap()["value"]
                .clone()
        };
        assert_eq!(value("cap_fen"), "20.00");
        assert_eq!(value("scope_ids"), "3,4");
        assert_eq!(value("validity"), "days");
        assert_eq!(value("claimable"), "on");
        assert_eq!(blocks[3]["action"], "/templates/1/issue");
        assert_eq!(blocks[4]["items"][0]["action"], "/templates/1/end");

        // Posting the edit form back as it is shown changes nothing.
        let mut again = serde_json::Map::new();
        for field in edit["fields"].as_array().unwrap() {
            again.insert(
                field["name"].as_str().unwrap().to_owned(),
                field["value"].clone(),
            );
        }
        let before = model::load_template(&kv, id).unwrap();
        let saved = handle(
            &mut kv,
            &staff("POST", "/templates/{id}", Some(id), Value::Object(again)),
        );
        assert_eq!(saved.status, 200, "{}", saved.body);
        assert_eq!(model::load_template(&kv, id).unwrap(), before);
        assert_eq!(
            saved.body["template"]["rule_text"],
            "满100打8.8折，最多减20"
        );
    }

    #[test]
    fn an_ended_template_offers_deletion_instead_of_forms() {
        let mut kv = MemoryKv::default();
        let id = create(&mut kv, terms_body());
        handle(
            &mut kv,
            &staff("POST", "/templates/{id}/end", Some(id), Value::Null),
        );
        let blocks = blocks_of(&handle(
            &mut kv,
            &staff("GET", "/templates/{id}", Some(id), Value::Null),
        ));
        assert_eq!(blocks[0]["items"][2]["value"], "已结束");
        assert_eq!(blocks[3]["items"][0]["action"], "/templates/1/delete");
        assert!(blocks.iter().all(|b| b["type"] != "form"));
    }
}
