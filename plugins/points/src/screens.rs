//! The plugin's screens (capability `screens`), drawn by the theme in the phone app
//! (`/p/points/…`) and the back office (`/admin/p/points/…`):
//! - members: 我的积分 (`/wallet`: balance, 即将过期, 积分明细), 积分商城 (`/mall`, the gift
//!   cards; a gift's page `/gifts/{id}` with the redeem form), 我的兑换 (`/mine/redemptions`);
//! - staff: 积分商城 (`/office`: statistics, gifts, the add-gift form, staff adjustments), the
//!   redemption queue (`/office/redemptions`), a gift's edit form (`/office/gifts/{id}`) and
//!   the campaigns (`/office/campaigns`).

use std::collections::BTreeMap;

use pifa_sdk::input::local_time;
use pifa_sdk::{
    Action, Block, Card, Choice, FieldKind, Form, FormField, HttpRequest, HttpResponse, Kv, Link,
    Row, Screen, Tone,
};

use crate::account;
use crate::campaign;
use crate::gift::{self, Gift, Kind, Redemption, Status};
use crate::http::{LEDGER_SHOWN, status_query};
use crate::settings::Settings;
use crate::stats;

const DAY_MS: i64 = 86_400_000;

pub fn handle(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let screen = match request.route.as_str() {
        "/wallet" => wallet(kv, request)?,
        "/mall" => mall(kv, request),
        "/gifts/{id}" => gift_page(kv, request)?,
        "/mine/redemptions" => my_redemptions(kv, request)?,
        "/office" => office(kv, request),
        "/office/redemptions" => queue(kv, request)?,
        "/office/campaigns" => campaigns(kv),
        "/office/gifts/{id}" => edit_gift(kv, request)?,
        _ => {
            return Err(HttpResponse::error(
                404,
                "not_found",
                None,
                "没有这个页面 (no such screen)",
            ));
        }
    };
    Ok(HttpResponse::ok(screen))
}

fn signed(change: i64) -> String {
    if change > 0 {
        format!("+{change}")
    } else {
        change.to_string()
    }
}

fn rules(settings: Settings) -> String {
    format!(
        "每消费¥1.00得{}积分；下单时{}积分可抵¥1.00，最多抵订单金额的{}%；积分自获得之日起{}个月内有效，先获得的先使用。",
        settings.earn_per_yuan, settings.exchange, settings.max_pay_percent, settings.expiry_months
    )
}

fn wallet(kv: &impl Kv, request: &HttpRequest) -> Result<Screen, HttpResponse> {
    let member = request.member_id()?;
    let settings = Settings::of(&request.settings);
    let until = request
        .now_ms
        .saturating_add(settings.remind_days.saturating_mul(DAY_MS));
    let (expiring, first) = account::expiring_by(kv, member, until);
    let mut screen = Screen::new("我的积分").with(Block::figures(&[
        ("积分余额", account::balance(kv, member).to_string()),
        ("即将过期", expiring.to_string()),
    ]));
    if let Some(first) = first {
        screen = screen.with(Block::Text {
            text: format!(
                "您有{expiring}积分将在{}天内过期，最早一笔有效期至{}，请及时使用。",
                settings.remind_days,
                account::last_day(first)
            ),
            tone: Tone::Warning,
        });
    }
    let rows = account::ledger(kv, member, LEDGER_SHOWN)
        .into_iter()
        .map(|entry| Row {
            cells: vec![
                local_time(entry.at),
                if entry.note.is_empty() {
                    entry.source
                } else {
                    format!("{}（{}）", entry.source, entry.note)
                },
                signed(entry.change),
                entry.balance.to_string(),
            ],
            ..Row::default()
        })
        .collect();
    Ok(screen
        .with(Block::Table {
            title: "积分明细".to_owned(),
            columns: vec![
                "时间".to_owned(),
                "来源".to_owned(),
                "变动".to_owned(),
                "余额".to_owned(),
            ],
            rows,
            empty: "还没有积分记录，下单完成后即可获得积分".to_owned(),
        })
        .with(Block::text(rules(settings)))
        .with(Block::Links {
            items: vec![
                link("积分商城", "/mall", "用积分兑换礼品"),
                link("我的兑换", "/mine/redemptions", ""),
            ],
        }))
}

fn link(label: &str, path: &str, note: &str) -> Link {
    Link {
        label: label.to_owned(),
        path: path.to_owned(),
        note: note.to_owned(),
    }
}

fn stock_line(left: i64) -> String {
    if left > 0 {
        format!("剩余{left}件")
    } else {
        "已兑完".to_owned()
    }
}

fn mall(kv: &impl Kv, request: &HttpRequest) -> Screen {
    let mut screen = Screen::new("积分商城");
    if let Some(member) = request.caller.member.as_ref().map(|m| m.member_id) {
        screen = screen.with(Block::figures(&[(
            "我的积分",
            account::balance(kv, member).to_string(),
        )]));
    }
    let items = gift::load_all(kv)
        .into_iter()
        .filter(|g| g.on_shelf)
        .map(|g| Card {
            image: g.image.clone(),
            lines: vec![
                format!("{}积分", g.points),
                stock_line(gift::left(kv, &g)),
                g.kind.label().to_owned(),
            ],
            link: Some(format!("/gifts/{}", g.id)),
            title: g.name,
            actions: Vec::new(),
        })
        .collect();
    screen
        .with(Block::Cards {
            title: "可兑换的礼品".to_owned(),
            items,
            empty: "暂无可兑换的礼品".to_owned(),
        })
        .with(Block::Links {
            items: vec![
                link("我的积分", "/wallet", ""),
                link("我的兑换", "/mine/redemptions", ""),
            ],
        })
}

fn gift_page(kv: &impl Kv, request: &HttpRequest) -> Result<Screen, HttpResponse> {
    let id = request.id_param("id", "礼品")?;
    let gift = gift::load(kv, id)
        .filter(|g| g.on_shelf)
        .ok_or_else(|| HttpResponse::not_found("礼品"))?;
    let left = gift::left(kv, &gift);
    let mut lines = vec![
        format!("所需积分：{}", gift.points),
        stock_line(left),
        gift.kind.label().to_owned(),
    ];
    if !gift.description.is_empty() {
        lines.push(gift.description.clone());
    }
    let mut screen = Screen::new(gift.name.clone()).with(Block::Cards {
        title: String::new(),
        items: vec![Card {
            image: gift.image.clone(),
            title: gift.name.clone(),
            lines,
            link: None,
            actions: Vec::new(),
        }],
        empty: String::new(),
    });
    let Some(member) = request.caller.member.as_ref().map(|m| m.member_id) else {
        return Ok(screen.with(Block::text("登录并通过审核后即可用积分兑换。")));
    };
    let balance = account::balance(kv, member);
    screen = screen.with(Block::figures(&[("我的积分", balance.to_string())]));
    if left == 0 {
        return Ok(screen.with(Block::Text {
            text: "礼品已兑完".to_owned(),
            tone: Tone::Warning,
        }));
    }
    if balance < gift.points {
        return Ok(screen.with(Block::Text {
            text: format!(
                "积分不足：兑换需要{}积分，您当前有{balance}积分",
                gift.points
            ),
            tone: Tone::Warning,
        }));
    }
    let action = format!("/gifts/{}/redeem", gift.id);
    Ok(match gift.kind {
        Kind::Physical => screen.with(Block::Form(Form {
            title: "填写收货信息".to_owned(),
            action,
            fields: vec![
                FormField::new("name", "收货人", FieldKind::Text).required(),
                FormField::new("phone", "联系电话", FieldKind::Text).required(),
                FormField::new("address", "收货地址", FieldKind::Textarea).required(),
            ],
            submit: format!("确认兑换（{}积分）", gift.points),
            back: "/mine/redemptions".to_owned(),
        })),
        Kind::Coupon | Kind::Virtual => screen.with(Block::Actions {
            items: vec![Action {
                back: "/mine/redemptions".to_owned(),
                ..Action::post("兑换", action)
                    .confirm(&format!("确定用{}积分兑换「{}」？", gift.points, gift.name))
            }],
        }),
    })
}

fn redemption_detail(redemption: &Redemption) -> String {
    match redemption.status {
        Status::Shipped => format!("{} {}", redemption.carrier, redemption.tracking),
        Status::Rejected => format!("驳回原因：{}", redemption.note),
        Status::Sent => redemption.note.clone(),
        Status::Issued => "已发放到优惠券".to_owned(),
        Status::Pending | Status::Approved => redemption
            .address
            .as_ref()
            .map(|a| format!("{} {} {}", a.name, a.phone, a.address))
            .unwrap_or_default(),
    }
}

fn my_redemptions(kv: &impl Kv, request: &HttpRequest) -> Result<Screen, HttpResponse> {
    let member = request.member_id()?;
    let rows = gift::of_member(kv, member, 50)
        .iter()
        .map(|r| Row {
            cells: vec![
                r.id.clone(),
                r.name.clone(),
                r.points.to_string(),
                r.status.label().to_owned(),
                local_time(r.at),
                redemption_detail(r),
            ],
            ..Row::default()
        })
        .collect();
    Ok(Screen::new("我的兑换")
        .with(Block::Table {
            title: String::new(),
            columns: ["兑换单号", "礼品", "积分", "状态", "时间", "说明"]
                .map(str::to_owned)
                .to_vec(),
            rows,
            empty: "还没有兑换记录".to_owned(),
        })
        .with(Block::Links {
            items: vec![link("积分商城", "/mall", "")],
        }))
}

fn gift_fields(gift: Option<&Gift>) -> Vec<FormField> {
    let value = |f: fn(&Gift) -> String| gift.map(f).unwrap_or_default();
    let mut on_shelf = FormField::new("on_shelf", "上架", FieldKind::Checkbox);
    on_shelf.value = if gift.is_none_or(|g| g.on_shelf) {
        "on".to_owned()
    } else {
        String::new()
    };
    let mut kind = FormField::new("kind", "礼品类型", FieldKind::Select)
        .value(gift.map_or("physical", |g| g.kind.as_str()))
        .required();
    kind.options = Kind::ALL
        .iter()
        .map(|k| Choice {
            value: k.as_str().to_owned(),
            label: k.label().to_owned(),
        })
        .collect();
    vec![
        FormField::new("name", "礼品名称", FieldKind::Text)
            .value(value(|g| g.name.clone()))
            .required()
            .help("最多30个字"),
        FormField::new("image", "图片", FieldKind::Image)
            .value(value(|g| g.image.clone().unwrap_or_default())),
        FormField::new("points", "所需积分", FieldKind::Number)
            .value(value(|g| g.points.to_string()))
            .required(),
        FormField::new("stock", "库存", FieldKind::Number)
            .value(value(|g| g.stock.to_string()))
            .required()
            .help("可兑换的总数量（含已兑换的）"),
        kind,
        FormField::new("coupon_template_id", "优惠券模板编号", FieldKind::Number)
            .value(value(|g| {
                g.coupon_template_id
                    .map(|id| id.to_string())
                    .unwrap_or_default()
            }))
            .help("优惠券礼品必填"),
        FormField::new("virtual_text", "兑换内容", FieldKind::Textarea)
            .value(value(|g| g.virtual_text.clone().unwrap_or_default()))
            .help("虚拟礼品必填：兑换码或使用说明，兑换后通过消息发送给会员"),
        FormField::new("description", "礼品描述", FieldKind::Textarea)
            .value(value(|g| g.description.clone()))
            .help("最多200个字"),
        on_shelf,
    ]
}

fn office(kv: &impl Kv, request: &HttpRequest) -> Screen {
    let stats = stats::read(kv);
    let pending = gift::count_by_status(kv, Status::Pending);
    let approved = gift::count_by_status(kv, Status::Approved);
    let gifts: Vec<gift::Staffed> = gift::load_all(kv)
        .into_iter()
        .map(|g| gift::staffed(kv, g))
        .collect();
    let rows = gifts
        .iter()
        .map(|g| Row {
            cells: vec![
                g.gift.id.to_string(),
                g.gift.name.clone(),
                g.gift.kind.label().to_owned(),
                g.gift.points.to_string(),
                g.gift.stock.to_string(),
                g.left.to_string(),
                g.redeemed.to_string(),
                if g.gift.on_shelf { "上架" } else { "下架" }.to_owned(),
            ],
            link: Some(format!("/office/gifts/{}", g.gift.id)),
            actions: Vec::new(),
        })
        .collect();
    let mut popular: Vec<&gift::Staffed> = gifts.iter().filter(|g| g.redeemed > 0).collect();
    popular.sort_by_key(|g| (std::cmp::Reverse(g.redeemed), g.gift.id));
    let popular_rows = popular
        .iter()
        .take(10)
        .map(|g| Row {
            cells: vec![
                g.gift.name.clone(),
                g.redeemed.to_string(),
                g.redeemed.saturating_mul(g.gift.points).to_string(),
            ],
            ..Row::default()
        })
        .collect();
    let mut screen = Screen::new("积分商城")
        .with(Block::figures(&[
            (
                "累计发放积分",
                stats.issued.saturating_add(stats.adjusted_in).to_string(),
            ),
            ("已使用积分", stats.used.to_string()),
            ("已过期积分", stats.expired.to_string()),
            ("退款扣回", stats.reversed.to_string()),
            ("会员持有积分", stats.outstanding.to_string()),
            ("待审核兑换", pending.to_string()),
        ]))
        .with(Block::Links {
            items: vec![
                link(
                    "兑换审核",
                    "/office/redemptions?status=pending",
                    &format!("待审核{pending}单，待发货{approved}单"),
                ),
                link("积分活动", "/office/campaigns", "节假日、新品推广加送积分"),
            ],
        })
        .with(Block::Table {
            title: "礼品".to_owned(),
            columns: [
                "编号",
                "名称",
                "类型",
                "积分",
                "库存",
                "剩余",
                "已兑换",
                "状态",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows,
            empty: "还没有礼品，请在下方添加".to_owned(),
        })
        .with(Block::Table {
            title: "兑换排行".to_owned(),
            columns: ["礼品", "兑换次数", "消耗积分"].map(str::to_owned).to_vec(),
            rows: popular_rows,
            empty: "还没有兑换".to_owned(),
        })
        .with(Block::Form(Form {
            title: "添加礼品".to_owned(),
            action: "/gifts".to_owned(),
            fields: gift_fields(None),
            submit: "添加".to_owned(),
            back: String::new(),
        }));
    if request.has_role("admin") {
        screen = screen.with(Block::Form(Form {
            title: "调整会员积分".to_owned(),
            action: "/adjust".to_owned(),
            fields: vec![
                FormField::new("member_id", "会员编号", FieldKind::Number).required(),
                FormField::new("change", "调整积分", FieldKind::Number)
                    .required()
                    .help("增加填正数，扣减填负数"),
                FormField::new("reason", "原因", FieldKind::Text).required(),
            ],
            submit: "确认调整".to_owned(),
            back: String::new(),
        }));
    }
    screen.with(Block::text(rules(Settings::of(&request.settings))))
}

fn edit_gift(kv: &impl Kv, request: &HttpRequest) -> Result<Screen, HttpResponse> {
    let id = request.id_param("id", "礼品")?;
    let gift = gift::load(kv, id).ok_or_else(|| HttpResponse::not_found("礼品"))?;
    let staffed = gift::staffed(kv, gift.clone());
    Ok(Screen::new(format!("编辑礼品：{}", gift.name))
        .with(Block::figures(&[
            ("已兑换", staffed.redeemed.to_string()),
            ("占用库存", staffed.taken.to_string()),
            ("剩余", staffed.left.to_string()),
        ]))
        .with(Block::Form(Form {
            title: String::new(),
            action: format!("/gifts/{id}"),
            fields: gift_fields(Some(&gift)),
            submit: "保存".to_owned(),
            back: "/office".to_owned(),
        }))
        .with(Block::Actions {
            items: vec![Action {
                danger: true,
                back: "/office".to_owned(),
                ..Action::post("删除礼品", format!("/gifts/{id}/delete"))
                    .confirm("确定删除这个礼品？已有的兑换单不受影响。")
            }],
        }))
}

/// Forms shown per redemption at most (a ship form each for those approved).
const FORMS_SHOWN: usize = 20;

fn queue(kv: &impl Kv, request: &HttpRequest) -> Result<Screen, HttpResponse> {
    let status = status_query(request)?;
    let counts: BTreeMap<&str, usize> = [Status::Pending, Status::Approved]
        .iter()
        .map(|s| (s.as_str(), gift::count_by_status(kv, *s)))
        .collect();
    let links = Status::ALL
        .iter()
        .map(|s| Link {
            label: s.label().to_owned(),
            path: format!("/office/redemptions?status={}", s.as_str()),
            note: counts
                .get(s.as_str())
                .map(|n| format!("{n}单"))
                .unwrap_or_default(),
        })
        .collect();
    let listed = gift::by_status(kv, status, gift::LIST_MOST);
    let back = format!("/office/redemptions?status={}", status.as_str());
    let reject = |r: &Redemption| Action {
        danger: true,
        back: back.clone(),
        ..Action::post("驳回", format!("/redemptions/{}/reject", r.id))
            .field("reason", "未通过审核")
            .confirm("确定驳回？积分和库存将退回。")
    };
    let rows = listed
        .iter()
        .map(|r| Row {
            cells: vec![
                r.id.clone(),
                format!("会员{}", r.member),
                r.name.clone(),
                r.points.to_string(),
                r.status.label().to_owned(),
                local_time(r.at),
                redemption_detail(r),
            ],
            link: None,
            actions: match r.status {
                Status::Pending => vec![
                    Action {
                        back: back.clone(),
                        ..Action::post("通过", format!("/redemptions/{}/approve", r.id))
                    },
                    reject(r),
                ],
                Status::Approved => vec![reject(r)],
                _ => Vec::new(),
            },
        })
        .collect();
    let mut screen = Screen::new(format!("兑换审核：{}", status.label()))
        .with(Block::Links { items: links })
        .with(Block::Table {
            title: String::new(),
            columns: [
                "兑换单号",
                "会员",
                "礼品",
                "积分",
                "状态",
                "兑换时间",
                "收货信息/说明",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows,
            empty: format!("没有{}的兑换单", status.label()),
        });
    for r in listed
        .iter()
        .filter(|r| r.status.is_open())
        .take(FORMS_SHOWN)
    {
        let form = if r.status == Status::Approved {
            Form {
                title: format!("发货：{} {}", r.id, r.name),
                action: format!("/redemptions/{}/ship", r.id),
                fields: vec![
                    FormField::new("carrier", "物流公司", FieldKind::Text).required(),
                    FormField::new("tracking", "运单号", FieldKind::Text).required(),
                ],
                submit: "发货".to_owned(),
                back: back.clone(),
            }
        } else {
            Form {
                title: format!("驳回：{} {}", r.id, r.name),
                action: format!("/redemptions/{}/reject", r.id),
                fields: vec![FormField::new("reason", "驳回原因", FieldKind::Text).required()],
                submit: "驳回并退回积分".to_owned(),
                back: back.clone(),
            }
        };
        screen = screen.with(Block::Form(form));
    }
    Ok(screen.with(Block::Links {
        items: vec![link("返回积分商城", "/office", "")],
    }))
}

fn campaigns(kv: &impl Kv) -> Screen {
    let rows = campaign::load_all(kv)
        .into_iter()
        .map(|c| Row {
            cells: vec![c.name.clone(), c.window(), c.rule()],
            link: None,
            actions: vec![Action {
                danger: true,
                ..Action::post("删除", format!("/campaigns/{}/delete", c.id))
                    .confirm("确定删除这个积分活动？")
            }],
        })
        .collect();
    Screen::new("积分活动")
        .with(Block::Table {
            title: String::new(),
            columns: ["名称", "时间", "规则"].map(str::to_owned).to_vec(),
            rows,
            empty: "还没有积分活动".to_owned(),
        })
        .with(Block::Form(Form {
            title: "新建积分活动".to_owned(),
            action: "/campaigns".to_owned(),
            fields: vec![
                FormField::new("name", "活动名称", FieldKind::Text)
                    .required()
                    .help("如 国庆双倍积分"),
                FormField::new("starts_at", "开始时间", FieldKind::Datetime).required(),
                FormField::new("ends_at", "结束时间", FieldKind::Datetime).required(),
                FormField::new("multiplier_percent", "整单积分倍数（%）", FieldKind::Number)
                    .help("200 表示双倍积分；与下面两项二选一"),
                FormField::new("extra_per_yuan", "指定商品每元加送积分", FieldKind::Number),
                FormField::new("product_ids", "指定商品编号", FieldKind::Text)
                    .help("用逗号分隔，如 12,15"),
            ],
            submit: "保存".to_owned(),
            back: String::new(),
        }))
        .with(Block::text(
            "活动按订单完成的时间计算；同时进行的积分倍数取最高的一个，指定商品加送可叠加。",
        ))
        .with(Block::Links {
            items: vec![link("返回积分商城", "/office", "")],
        })
}

#[cfg(test)]
mod tests {
    use pifa_sdk::{Caller, MemoryKv};
    use serde_json::{Value, json};

    use super::*;
    use crate::account::balance_key;
    use crate::gift::tests::physical;
    use crate::http::handle as route;
    use crate::http::tests::{member_request, staff};

    fn screen(kv: &mut MemoryKv, request: &HttpRequest) -> Value {
        let answer = route(kv, request);
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body
    }

    fn blocks_of(screen: &Value, kind: &str) -> Vec<Value> {
        screen["blocks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| b["type"] == kind)
            .cloned()
            .collect()
    }

    #[test]
    fn the_wallet_shows_balance_expiring_points_and_the_ledger() {
        let mut kv = MemoryKv::default();
        route(
            &mut kv,
            &staff(
                "POST",
                "/adjust",
                &[],
                json!({"member_id": 42, "change": 300, "reason": "开业礼"}),
            ),
        );
        let mut late = member_request(42, "GET", "/wallet", &[], Value::Null);
        late.now_ms += 350 * DAY_MS;
        let wallet = screen(&mut kv, &late);
        assert_eq!(wallet["title"], "我的积分");
        let figures = &blocks_of(&wallet, "figures")[0]["items"];
        assert_eq!(figures[0], json!({"label": "积分余额", "value": "300"}));
        assert_eq!(figures[1], json!({"label": "即将过期", "value": "300"}));
        let warning = &blocks_of(&wallet, "text")[0];
        assert_eq!(warning["tone"], "warning");
        assert!(
            warning["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("您有300积分将在30天内过期"))
        );
        let table = &blocks_of(&wallet, "table")[0];
        assert_eq!(table["rows"][0]["cells"][1], "管理员调整（开业礼）");
        assert_eq!(table["rows"][0]["cells"][2], "+300");
        assert_eq!(
            route(&mut kv, &staff("GET", "/wallet", &[], Value::Null)).status,
            403
        );
    }

    #[test]
    fn the_mall_shows_gift_cards_and_a_gift_its_redeem_form() {
        let mut kv = MemoryKv::default();
        route(&mut kv, &staff("POST", "/gifts", &[], physical(1)));
        let mut hidden = physical(1);
        hidden["on_shelf"] = json!(false);
        route(&mut kv, &staff("POST", "/gifts", &[], hidden));
        kv.counters.insert(balance_key(42), 800);

        let mut visitor = staff("GET", "/mall", &[], Value::Null);
        visitor.caller = Caller::default();
        let mall = screen(&mut kv, &visitor);
        let cards = &blocks_of(&mall, "cards")[0]["items"];
        assert_eq!(cards.as_array().map(Vec::len), Some(1));
        assert_eq!(cards[0]["image"], "/api/v1/images/cup.webp");
        assert_eq!(cards[0]["lines"], json!(["500积分", "剩余1件", "实物礼品"]));
        assert_eq!(cards[0]["link"], "/gifts/1");
        assert!(blocks_of(&mall, "figures").is_empty());

        let page = screen(
            &mut kv,
            &member_request(42, "GET", "/gifts/{id}", &[("id", "1")], Value::Null),
        );
        let form = &blocks_of(&page, "form")[0];
        assert_eq!(form["action"], "/gifts/1/redeem");
        let names: Vec<&str> = form["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["name"].as_str())
            .collect();
        assert_eq!(names, vec!["name", "phone", "address"]);
        assert_eq!(
            route(
                &mut kv,
                &member_request(42, "GET", "/gifts/{id}", &[("id", "2")], Value::Null)
            )
            .status,
            404
        );

        // Redeemed through the form, the last one is gone.
        let sent = route(
            &mut kv,
            &member_request(
                42,
                "POST",
                "/gifts/{id}/redeem",
                &[("id", "1")],
                json!({"name": "李四", "phone": "13900000000", "address": "宁波市"}),
            ),
        );
        assert_eq!(sent.body["message"], "兑换成功，等待审核后发货");
        let page = screen(
            &mut kv,
            &member_request(42, "GET", "/gifts/{id}", &[("id", "1")], Value::Null),
        );
        assert!(blocks_of(&page, "form").is_empty());
        assert_eq!(blocks_of(&page, "text")[0]["text"], "礼品已兑完");
        let mine = screen(
            &mut kv,
            &member_request(42, "GET", "/mine/redemptions", &[], Value::Null),
        );
        assert_eq!(
            blocks_of(&mine, "table")[0]["rows"][0]["cells"][3],
            "待审核"
        );
    }

    #[test]
    fn staff_see_statistics_gifts_and_the_review_queue() {
        let mut kv = MemoryKv::default();
        route(&mut kv, &staff("POST", "/gifts", &[], physical(5)));
        kv.counters.insert(balance_key(42), 2000);
        for _ in 0..2 {
            route(
                &mut kv,
                &member_request(
                    42,
                    "POST",
                    "/gifts/{id}/redeem",
                    &[("id", "1")],
                    json!({"name": "李四", "phone": "13900000000", "address": "宁波市"}),
                ),
            );
        }
        route(
            &mut kv,
            &staff(
                "POST",
                "/redemptions/{id}/approve",
                &[("id", "42-2")],
                Value::Null,
            ),
        );

        let office = screen(&mut kv, &staff("GET", "/office", &[], Value::Null));
        assert_eq!(office["title"], "积分商城");
        let figures = &blocks_of(&office, "figures")[0]["items"];
        assert_eq!(figures[1], json!({"label": "已使用积分", "value": "1000"}));
        assert_eq!(figures[5], json!({"label": "待审核兑换", "value": "1"}));
        let tables = blocks_of(&office, "table");
        assert_eq!(tables[0]["rows"][0]["link"], "/office/gifts/1");
        assert_eq!(
            tables[1]["rows"][0]["cells"],
            json!(["保温杯", "2", "1000"])
        );
        let forms = blocks_of(&office, "form");
        assert_eq!(
            forms
                .iter()
                .map(|f| f["action"].clone())
                .collect::<Vec<_>>(),
            vec![json!("/gifts"), json!("/adjust")]
        );

        let mut pending = staff("GET", "/office/redemptions", &[], Value::Null);
        pending
            .query
            .insert("status".to_owned(), "pending".to_owned());
        let queue = screen(&mut kv, &pending);
        let row = &blocks_of(&queue, "table")[0]["rows"][0];
        assert_eq!(row["cells"][0], "42-1");
        assert_eq!(row["actions"][0]["action"], "/redemptions/42-1/approve");
        assert_eq!(row["actions"][1]["action"], "/redemptions/42-1/reject");
        pending
            .query
            .insert("status".to_owned(), "approved".to_owned());
        let queue = screen(&mut kv, &pending);
        assert_eq!(
            blocks_of(&queue, "form")[0]["action"],
            "/redemptions/42-2/ship"
        );

        let edit = screen(
            &mut kv,
            &staff("GET", "/office/gifts/{id}", &[("id", "1")], Value::Null),
        );
        let form = &blocks_of(&edit, "form")[0];
        assert_eq!(form["action"], "/gifts/1");
        assert_eq!(form["fields"][2]["value"], "500");
        assert_eq!(
            blocks_of(&edit, "actions")[0]["items"][0]["action"],
            "/gifts/1/delete"
        );

        let campaigns = screen(
            &mut kv,
            &staff("GET", "/office/campaigns", &[], Value::Null),
        );
        assert_eq!(blocks_of(&campaigns, "form")[0]["action"], "/campaigns");
        assert_eq!(
            route(&mut kv, &staff("GET", "/office/nothing", &[], Value::Null)).status,
            404
        );
    }
}
