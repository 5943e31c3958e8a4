//! The plugin's screens (capability `screens`), drawn by the theme: 清仓管理 in the back office
//! (the items with what they sold, an end button per row, a form to add one), the edit form
//! of one item, and 清仓专区 on the member's 我的 page (cards linking to the goods' pages).
//! Their forms and buttons post to the JSON API's routes in `http.rs`, which answer a
//! `message` the kernel shows after them.

use pifa_sdk::input::{show_scaled, yuan};
use pifa_sdk::{
    Action, Block, Card, FieldKind, Form, FormField, HttpRequest, HttpResponse, Kv, Link, Row,
    Screen, Tone,
};

use crate::http::page_with_sold;
use crate::item::{self, COUNT_KEY, Item, MAX_ITEMS, MAX_NOTE_CHARS, MAX_QUANTITY};

pub const OFFICE: &str = "/office";
/// Rows per page of 清仓管理: a row (cells, link, end button) costs more than an API item; a
/// full page of the costliest measured 1.2 million fuel of a route call's default 2,000,000
/// (all 500 took 27 million and 260 KB, past the 256 KiB output cap).
pub const OFFICE_PAGE: usize = 20;
/// Cards per page of 清仓专区: a full page measured 0.96 million fuel.
pub const ZONE_PAGE: usize = 24;

fn end_action(item: &Item) -> Action {
    Action {
        danger: true,
        back: OFFICE.to_owned(),
        ..Action::post("结束", format!("/items/{}/end", item.sku_id)).confirm(&format!(
            "确定结束 SKU {} 的清仓？已下的订单保持清仓价。",
            item.sku_id
        ))
    }
}

/// 下一页 (when there is one) and 第一页 (when this is not it), as links to `{base}` and
/// `{base}/after/{sku_id}`.
fn paging(base: &str, after: Option<i64>, next_after: Option<i64>) -> Option<Block> {
    let mut items = Vec::new();
    if let Some(next) = next_after {
        items.push(Link {
            label: "下一页".to_owned(),
            path: format!("{base}/after/{next}"),
            note: String::new(),
        });
    }
    if after.is_some() {
        items.push(Link {
            label: "第一页".to_owned(),
            path: base.to_owned(),
            note: String::new(),
        });
    }
    (!items.is_empty()).then_some(Block::Links { items })
}

/// 清仓管理: a page of what is on clearance, and a form to add a SKU.
pub fn office(kv: &impl Kv, after: Option<i64>) -> HttpResponse {
    let (items, next_after) = page_with_sold(kv, after, OFFICE_PAGE);
    let rows = items
        .iter()
        .map(|(item, sold)| Row {
            cells: vec![
                item.sku_id.to_string(),
                item.note.clone().unwrap_or_default(),
                yuan(item.price_fen),
                item.quantity.to_string(),
                sold.to_string(),
                item.remaining(*sold).to_string(),
            ],
            link: Some(format!("/items/{}/edit", item.sku_id)),
            actions: vec![end_action(item)],
        })
        .collect();
    let mut screen = Screen::new("清仓管理")
        .with(Block::figures(&[(
            "清仓SKU",
            format!("{} / {MAX_ITEMS}", kv.counter(COUNT_KEY)),
        )]))
        .with(Block::Table {
            title: "清仓商品".to_owned(),
            columns: ["SKU", "备注", "清仓价", "清仓数量", "已售", "剩余"]
                .map(str::to_owned)
                .to_vec(),
            rows,
            empty: "还没有清仓商品，请在下方添加".to_owned(),
        });
    if let Some(links) = paging(OFFICE, after, next_after) {
        screen = screen.with(links);
    }
    let screen = screen.with(Block::Form(Form {
        title: "添加清仓商品".to_owned(),
        action: "/items".to_owned(),
        fields: vec![
            FormField::new("sku_id", "SKU编号", FieldKind::Number).required(),
            FormField::new("product_id", "商品编号", FieldKind::Number)
                .required()
                .help("该SKU所属商品的编号，清仓专区的卡片链接到它的商品页"),
            FormField::new("price_fen", "清仓价（元）", FieldKind::Money)
                .required()
                .help("低于当前价时才生效，清仓价的商品不退不换"),
            FormField::new("quantity", "清仓数量", FieldKind::Number)
                .required()
                .help(format!(
                    "按清仓价出售的件数，1 到 {MAX_QUANTITY}，超出的按原价"
                )),
            FormField::new("note", "备注名称", FieldKind::Text).help(format!(
                "最多{MAX_NOTE_CHARS}字，显示在清仓专区和购物车提示中"
            )),
        ],
        submit: "加入清仓".to_owned(),
        back: OFFICE.to_owned(),
    }));
    HttpResponse::ok(screen)
}

/// The edit form of one item (reached from its row).
pub fn edit(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let sku_id = request.id_param("sku_id", "清仓商品")?;
    let item = item::load(kv, sku_id).ok_or_else(|| HttpResponse::not_found("清仓商品"))?;
    let sold = kv.counter(&item.sold_key());
    let screen = Screen::new(format!("修改清仓：{}", item.name()))
        .with(Block::figures(&[
            ("SKU", item.sku_id.to_string()),
            ("商品", item.product_id.to_string()),
            ("已售", sold.to_string()),
            ("剩余", item.remaining(sold).to_string()),
        ]))
        .with(Block::Form(Form {
            title: String::new(),
            action: format!("/items/{}", item.sku_id),
            fields: vec![
                FormField::new("price_fen", "清仓价（元）", FieldKind::Money)
                    .value(show_scaled(item.price_fen, 2))
                    .required(),
                FormField::new("quantity", "清仓数量", FieldKind::Number)
                    .value(item.quantity.to_string())
                    .required()
                    .help(format!("含已售的{sold}件，不能改得比已售少")),
                FormField::new("note", "备注名称", FieldKind::Text)
                    .value(item.note.clone().unwrap_or_default())
                    .help(format!("最多{MAX_NOTE_CHARS}字，留空则显示SKU编号")),
            ],
            submit: "保存".to_owned(),
            back: OFFICE.to_owned(),
        }))
        .with(Block::Actions {
            items: vec![Action {
                label: "结束清仓".to_owned(),
                ..end_action(&item)
            }],
        })
        .with(Block::Links {
            items: vec![Link {
                label: "返回清仓管理".to_owned(),
                path: OFFICE.to_owned(),
                note: String::new(),
            }],
        });
    Ok(HttpResponse::ok(screen))
}

/// 清仓专区: a page of the goods on clearance as cards, in SKU order, prices only for who may
/// see them (REQUIREMENTS B2).
pub fn zone(kv: &impl Kv, request: &HttpRequest, after: Option<i64>) -> HttpResponse {
    let sees_prices = request.caller.sees_prices;
    let (items, next_after) = page_with_sold(kv, after, ZONE_PAGE);
    let cards = items
        .iter()
        .map(|(item, sold)| {
            let remaining = item.remaining(*sold);
            Card {
                image: None,
                title: item.name(),
                lines: vec![
                    if sees_prices {
                        format!("清仓价 {}", yuan(item.price_fen))
                    } else {
                        "登录并审核后可见价格".to_owned()
                    },
                    if remaining > 0 {
                        format!("剩余 {remaining} 件")
                    } else {
                        "已售罄".to_owned()
                    },
                    "不退不换".to_owned(),
                ],
                link: Some(format!("shop:/products/{}", item.product_id)),
                actions: Vec::new(),
            }
        })
        .collect();
    let mut screen = Screen::new("清仓专区")
        .with(Block::Text {
            text: "清仓商品按清仓价限量出售，售完即止；超出剩余件数的按原价，清仓商品不退不换。"
                .to_owned(),
            tone: Tone::Warning,
        })
        .with(Block::Cards {
            title: String::new(),
            items: cards,
            empty: "暂无清仓商品".to_owned(),
        });
    if let Some(links) = paging("/zone", after, next_after) {
        screen = screen.with(links);
    }
    HttpResponse::ok(screen)
}

#[cfg(test)]
mod tests {
    // REQUIREMENTS G3: 清仓管理 and 清仓专区, drawn by the theme; B2 for the prices.
    use std::collections::BTreeMap;

    use pifa_sdk::{Caller, MemoryKv};
    use serde_json::{Value, json};

    use super::*;
    use crate::http::handle;

    fn request(method: &str, route: &str, sku_id: Option<i64>, body: Value) -> HttpRequest {
        HttpRequest {
            method: method.to_owned(),
            route: route.to_owned(),
            params: sku_id
                .map(|id| BTreeMap::from([("sku_id".to_owned(), id.to_string())]))
                .unwrap_or_default(),
            query: BTreeMap::new(),
            body,
            caller: Caller {
                user_id: Some(1),
                roles: vec!["admin".to_owned()],
                member: None,
                sees_prices: true,
            },
            now_ms: 1_767_240_600_000,
            settings: Value::Null,
        }
    }

    fn with_items() -> MemoryKv {
        let mut kv = MemoryKv::default();
        for (sku_id, note) in [(7, json!("旧款手套")), (8, json!(null))] {
            let created = handle(
                &mut kv,
                &request(
                    "POST",
                    "/items",
                    None,
                    json!({"sku_id": sku_id, "product_id": sku_id * 10, "price_fen": 1250, "quantity": 10, "note": note}),
                ),
            );
            assert_eq!(created.status, 201);
        }
        kv.counters.insert("sold:7:1".to_owned(), 10);
        kv.counters.insert("sold:8:2".to_owned(), 3);
        kv
    }

    fn screen(response: HttpResponse) -> Screen {
        assert_eq!(response.status, 200, "{}", response.body);
        serde_json::from_value(response.body).unwrap()
    }

    #[test]
    fn the_office_lists_items_with_an_end_button_and_a_form_to_add_one() {
        let mut kv = with_items();
        let office = screen(handle(
            &mut kv,
            &request("GET", "/office", None, Value::Null),
        ));
        assert_eq!(office.title, "清仓管理");
        let Block::Table { columns, rows, .. } = &office.blocks[1] else {
            panic!("no table: {office:?}");
        };
        assert_eq!(
            columns,
            &["SKU", "备注", "清仓价", "清仓数量", "已售", "剩余"]
        );
        assert_eq!(rows[0].cells, ["7", "旧款手套", "¥12.50", "10", "10", "0"]);
        assert_eq!(rows[1].cells, ["8", "", "¥12.50", "10", "3", "7"]);
        assert_eq!(rows[1].link.as_deref(), Some("/items/8/edit"));
        let end = &rows[0].actions[0];
        assert_eq!(
            (end.label.as_str(), end.action.as_str()),
            ("结束", "/items/7/end")
        );
        assert!(end.danger && end.confirm.contains("SKU 7"));
        assert!(
            !office
                .blocks
                .iter()
                .any(|b| matches!(b, Block::Links { .. })),
            "one page"
        );
        let Block::Form(form) = &office.blocks[2] else {
            panic!("no form: {office:?}");
        };
        assert_eq!(form.action, "/items");
        let fields: Vec<(&str, FieldKind)> = form
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.kind))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("sku_id", FieldKind::Number),
                ("product_id", FieldKind::Number),
                ("price_fen", FieldKind::Money),
                ("quantity", FieldKind::Number),
                ("note", FieldKind::Text),
            ]
        );
        let Block::Figures { items } = &office.blocks[0] else {
            panic!("no figures");
        };
        assert_eq!(items[0].value, "2 / 500");

        // What the form sends, as the kernel sends it (strings, yuan), is taken by its route.
        let posted = handle(
            &mut kv,
            &request(
                "POST",
                &form.action,
                None,
                json!({"sku_id": "9", "product_id": "90", "price_fen": "3.5", "quantity": "4", "note": ""}),
            ),
        );
        assert_eq!(posted.status, 201, "{}", posted.body);
        assert_eq!(posted.body["message"], "已加入清仓");
        assert_eq!(posted.body["price_fen"], 350);
    }

    #[test]
    fn the_edit_form_shows_the_item_as_it_is_and_posts_to_its_change_route() {
        let mut kv = with_items();
        let edit = screen(handle(
            &mut kv,
            &request("GET", "/items/{sku_id}/edit", Some(8), Value::Null),
        ));
        assert_eq!(edit.title, "修改清仓：SKU 8");
        let Block::Form(form) = &edit.blocks[1] else {
            panic!("no form: {edit:?}");
        };
        assert_eq!(form.action, "/items/8");
        let values: Vec<(&str, &str)> = form
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(
            values,
            vec![("price_fen", "12.50"), ("quantity", "10"), ("note", "")]
        );
        assert!(form.fields[1].help.contains("含已售的3件"));
        let Block::Actions { items } = &edit.blocks[2] else {
            panic!("no actions");
        };
        assert_eq!(items[0].action, "/items/8/end");

        let mut sent = request(
            "POST",
            "/items/{sku_id}",
            Some(8),
            json!({"price_fen": "12.00", "quantity": "10", "note": "新名字"}),
        );
        sent.route = "/items/{sku_id}".to_owned();
        let saved = handle(&mut kv, &sent);
        assert_eq!(saved.body["message"], "已保存");
        assert_eq!(
            item::load(&kv, 8).map(|i| (i.price_fen, i.note)),
            Some((1200, Some("新名字".to_owned())))
        );
    }

    #[test]
    fn the_zone_shows_cards_linking_to_the_goods_with_prices_only_for_who_may_see_them() {
        let mut kv = with_items();
        let mut visitor = request("GET", "/zone", None, Value::Null);
        visitor.caller = Caller::default();
        let zone = screen(handle(&mut kv, &visitor));
        assert_eq!(zone.title, "清仓专区");
        let Block::Cards { items, .. } = &zone.blocks[1] else {
            panic!("no cards: {zone:?}");
        };
        assert_eq!(items[0].title, "旧款手套");
        assert_eq!(
            items[0].lines,
            ["登录并审核后可见价格", "已售罄", "不退不换"]
        );
        assert_eq!(items[0].link.as_deref(), Some("shop:/products/70"));
        assert_eq!(items[1].title, "SKU 8");
        assert_eq!(
            items[1].lines,
            ["登录并审核后可见价格", "剩余 7 件", "不退不换"]
        );
        assert_eq!(items[1].link.as_deref(), Some("shop:/products/80"));

        visitor.caller.sees_prices = true;
        let zone = screen(handle(&mut kv, &visitor));
        let Block::Cards { items, .. } = &zone.blocks[1] else {
            panic!("no cards");
        };
        assert_eq!(items[1].lines[0], "清仓价 ¥12.50");
    }

    fn many(count: i64) -> MemoryKv {
        let mut kv = MemoryKv::default();
        for sku_id in 1..=count {
            let created = handle(
                &mut kv,
                &request(
                    "POST",
                    "/items",
                    None,
                    json!({"sku_id": sku_id, "product_id": 1, "price_fen": 100, "quantity": 1}),
                ),
            );
            assert_eq!(created.status, 201);
        }
        kv
    }

    fn links(screen: &Screen) -> Vec<(String, String)> {
        screen
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Links { items } => {
                    Some(items.iter().map(|l| (l.label.clone(), l.path.clone())))
                }
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn the_office_and_the_zone_show_a_page_at_a_time_with_links_between_them() {
        let total = OFFICE_PAGE.max(ZONE_PAGE) + 5;
        let mut kv = many(total as i64);
        let first = screen(handle(
            &mut kv,
            &request("GET", "/office", None, Value::Null),
        ));
        let Block::Table { rows, .. } = &first.blocks[1] else {
            panic!("no table");
        };
        assert_eq!(rows.len(), OFFICE_PAGE);
        let next = format!("/office/after/{OFFICE_PAGE}");
        assert_eq!(links(&first), vec![("下一页".to_owned(), next)]);
        assert!(matches!(first.blocks.last(), Some(Block::Form(_))));

        let mut second = request("GET", "/office/after/{after}", None, Value::Null);
        second
            .params
            .insert("after".to_owned(), OFFICE_PAGE.to_string());
        let second = screen(handle(&mut kv, &second));
        let Block::Table { rows, .. } = &second.blocks[1] else {
            panic!("no table");
        };
        let rest: Vec<String> = (OFFICE_PAGE + 1..=total).map(|n| n.to_string()).collect();
        assert_eq!(
            rows.iter().map(|r| r.cells[0].clone()).collect::<Vec<_>>(),
            rest
        );
        assert_eq!(
            links(&second),
            vec![("第一页".to_owned(), "/office".to_owned())]
        );
        let Block::Figures { items } = &second.blocks[0] else {
            panic!("no figures");
        };
        assert_eq!(items[0].value, format!("{total} / 500"));

        let mut zone = request("GET", "/zone/after/{after}", None, Value::Null);
        zone.params.insert("after".to_owned(), "3".to_owned());
        let zone = screen(handle(&mut kv, &zone));
        let Block::Cards { items, .. } = &zone.blocks[1] else {
            panic!("no cards");
        };
        assert_eq!((items.len(), items[0].title.as_str()), (ZONE_PAGE, "SKU 4"));
        assert_eq!(
            links(&zone),
            vec![
                (
                    "下一页".to_owned(),
                    format!("/zone/after/{}", 3 + ZONE_PAGE)
                ),
                ("第一页".to_owned(), "/zone".to_owned()),
            ]
        );

        let mut wrong = request("GET", "/zone/after/{after}", None, Value::Null);
        wrong.params.insert("after".to_owned(), "x".to_owned());
        assert_eq!(handle(&mut kv, &wrong).status, 404);
    }

    #[test]
    fn an_empty_zone_says_so() {
        let mut kv = MemoryKv::default();
        let zone = screen(handle(&mut kv, &request("GET", "/zone", None, Value::Null)));
        let Block::Cards { items, empty, .. } = &zone.blocks[1] else {
            panic!("no cards");
        };
        assert!(items.is_empty());
        assert_eq!(empty, "暂无清仓商品");
    }
}
