//! The screens (capability `screens`), drawn by the theme: 我的佣金 for promoters and 团队业绩
//! for managers on their 我的 page; 分销业绩 in the back office, with 提现审核 and 佣金费率 reached
//! from it. Each reads what the JSON route beside it answers, so the two never disagree.

use pifa_sdk::input::{local_time, show_scaled, yuan};
use pifa_sdk::{
    Action, Block, FieldKind, Form, FormField, HttpRequest, HttpResponse, Kv, Link, Row, Screen,
    Tone,
};

use crate::http::{self, Figures, month_asked, status_asked};
use crate::ledger;
use crate::payouts::{self, Payout, Status};
use crate::perf::{ALL, MAX_LISTED, Perf, month_of, previous_month};
use crate::rates::{Rates, TABLES};
use crate::settings::Settings;

/// Months the back office offers to pick from, this one included.
const MONTHS_OFFERED: usize = 12;

fn person(label: &str, user: i64) -> String {
    format!("{label} #{user}")
}

fn percent(bp: i64) -> String {
    format!("{}%", show_scaled(bp, 2))
}

fn table(title: &str, columns: &[&str], rows: Vec<Row>, empty: &str) -> Block {
    Block::Table {
        title: title.to_owned(),
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        rows,
        empty: empty.to_owned(),
    }
}

fn row(cells: Vec<String>) -> Row {
    Row {
        cells,
        ..Row::default()
    }
}

fn warning(text: String) -> Block {
    Block::Text {
        text,
        tone: Tone::Warning,
    }
}

fn payout_row(payout: &Payout) -> Vec<String> {
    vec![
        local_time(payout.at),
        yuan(payout.amount_fen),
        payout.note.clone(),
        payout.status.label().to_owned(),
        payout.remark.clone(),
    ]
}

/// 我的佣金 (promoter): what he may withdraw, what he earned, this month's performance, the
/// ledger, a payout form and his requests.
pub fn wallet(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let wallet = http::wallet(kv, request)?;
    let month = wallet.figures.this_month;
    let mut screen = Screen::new("我的佣金").with(Block::figures(&[
        ("可提现", yuan(wallet.balance_fen)),
        ("累计佣金", yuan(wallet.figures.all_time.commission_fen)),
        ("本月业绩", yuan(month.sales_fen)),
    ]));
    screen = screen.with(Block::text(format!(
        "本月（{}）推广客户{}位，完成订单{}笔，佣金{}；累计客户{}位。",
        wallet.month,
        month.customers,
        month.orders,
        yuan(month.commission_fen),
        wallet.figures.all_time.customers
    )));
    if wallet.owed_fen > 0 {
        screen = screen.with(warning(format!(
            "有{}佣金因订单退款待扣回。",
            yuan(wallet.owed_fen)
        )));
    }
    let form = Form {
        title: "申请提现".to_owned(),
        action: "/payouts".to_owned(),
        fields: vec![
            FormField::new("amount_fen", "提现金额（元）", FieldKind::Money)
                .required()
                .help(format!(
                    "单次至少{}，当前可提现{}",
                    yuan(wallet.min_payout_fen),
                    yuan(wallet.balance_fen)
                )),
            FormField {
                placeholder: "微信 / 银行卡尾号1234".to_owned(),
                ..FormField::new("note", "收款账户", FieldKind::Text)
                    .required()
                    .help(format!("最多{}个字", payouts::MAX_NOTE_CHARS))
            },
        ],
        submit: "提交申请".to_owned(),
        back: String::new(),
    };
    screen = screen.with(Block::Form(form));
    screen = screen.with(table(
        "我的提现申请",
        &["申请时间", "金额", "收款账户", "状态", "处理说明"],
        wallet.payouts.iter().map(|p| row(payout_row(p))).collect(),
        "还没有提现申请",
    ));
    screen = screen.with(table(
        "佣金明细",
        &["时间", "类型", "订单", "变动", "余额"],
        wallet
            .ledger
            .iter()
            .map(|entry| {
                let mut kind = entry.kind.clone();
                if !entry.note.is_empty() {
                    kind = format!("{kind}（{}）", entry.note);
                }
                row(vec![
                    local_time(entry.at),
                    kind,
                    entry.order_no.clone(),
                    signed(entry.change),
                    yuan(entry.balance),
                ])
            })
            .collect(),
        "还没有佣金记录",
    ));
    Ok(HttpResponse::ok(screen))
}

fn signed(fen: i64) -> String {
    if fen > 0 {
        format!("+{}", yuan(fen))
    } else {
        yuan(fen)
    }
}

fn perf_figures(label: &str, figures: &Figures) -> Block {
    let (month, all) = (figures.this_month, figures.all_time);
    Block::figures(&[
        (&format!("{label}客户"), month.customers.to_string()),
        (&format!("{label}订单"), month.orders.to_string()),
        (&format!("{label}销售额"), yuan(month.sales_fen)),
        ("累计销售额", yuan(all.sales_fen)),
    ])
}

/// 团队业绩 (manager): his own figures as the customers' manager, and each promoter's.
pub fn team(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let team = http::team_of(kv, request)?;
    let rows = team
        .promoters
        .iter()
        .map(|member| {
            let (month, all) = (member.figures.this_month, member.figures.all_time);
            row(vec![
                person("推广经理", member.user_id),
                month.customers.to_string(),
                month.orders.to_string(),
                yuan(month.sales_fen),
                all.customers.to_string(),
                yuan(all.sales_fen),
            ])
        })
        .collect();
    let screen = Screen::new("团队业绩")
        .with(Block::text(format!("{}，我服务的客户：", team.month)))
        .with(perf_figures("本月", &team.figures))
        .with(table(
            "推广经理",
            &[
                "推广经理",
                "本月客户",
                "本月订单",
                "本月销售额",
                "累计客户",
                "累计销售额",
            ],
            rows,
            "还没有推广经理的客户在您这里下单",
        ));
    Ok(HttpResponse::ok(screen))
}

fn month_links(now_ms: i64, chosen: &str) -> Block {
    let mut month = month_of(now_ms);
    let mut items = Vec::new();
    for _ in 0..MONTHS_OFFERED {
        items.push(Link {
            label: month.clone(),
            path: format!("/office?month={month}"),
            note: if month == chosen {
                "当前".to_owned()
            } else {
                String::new()
            },
        });
        month = previous_month(&month);
    }
    items.push(Link {
        label: "全部".to_owned(),
        path: format!("/office?month={ALL}"),
        note: if chosen == ALL {
            "当前".to_owned()
        } else {
            String::new()
        },
    });
    Block::Links { items }
}

fn perf_cells(label: &str, user: i64, perf: &Perf, commission: bool) -> Vec<String> {
    let mut cells = vec![
        person(label, user),
        perf.customers.to_string(),
        perf.orders.to_string(),
        yuan(perf.sales_fen),
    ];
    if commission {
        cells.push(yuan(perf.commission_fen));
    }
    cells
}

/// 分销业绩 (staff): a month's (or all time's) performance of every promoter and manager.
pub fn office(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let month = month_asked(request)?;
    let performance = http::performance_of(kv, &month);
    let sum = |pick: fn(&Perf) -> i64| {
        performance
            .promoters
            .iter()
            .map(|line| pick(&line.perf))
            .fold(0_i64, i64::saturating_add)
    };
    let waiting = payouts::waiting(kv).len();
    let period = if month == ALL {
        "全部时间".to_owned()
    } else {
        month.clone()
    };
    let cut = performance.promoters.len() >= MAX_LISTED || performance.managers.len() >= MAX_LISTED;
    let mut screen = Screen::new("分销业绩")
        .with(month_links(request.now_ms, &month))
        .with(Block::Links {
            items: vec![
                Link {
                    label: "提现审核".to_owned(),
                    path: "/office/payouts".to_owned(),
                    note: format!("{waiting}笔待审核"),
                },
                Link {
                    label: "佣金费率".to_owned(),
                    path: "/office/rates".to_owned(),
                    note: String::new(),
                },
            ],
        })
        .with(Block::text(format!("{period}，推广经理带来的订单：")))
        .with(Block::figures(&[
            ("订单", sum(|p| p.orders).to_string()),
            ("销售额", yuan(sum(|p| p.sales_fen))),
            ("佣金", yuan(sum(|p| p.commission_fen))),
        ]))
        .with(table(
            "推广经理业绩",
            &["推广经理", "客户数", "订单数", "销售额", "佣金"],
            performance
                .promoters
                .iter()
                .map(|line| row(perf_cells("推广经理", line.user_id, &line.perf, true)))
                .collect(),
            "这个月没有推广经理的订单",
        ))
        .with(table(
            "客户经理业绩",
            &["客户经理", "客户数", "订单数", "销售额"],
            performance
                .managers
                .iter()
                .map(|line| row(perf_cells("客户经理", line.user_id, &line.perf, false)))
                .collect(),
            "这个月没有客户经理的订单",
        ));
    if cut {
        screen = screen.with(warning(format!(
            "人数较多，每类只列出编号最小的{MAX_LISTED}位。"
        )));
    }
    Ok(HttpResponse::ok(screen))
}

/// 提现审核 (staff): the requests, waiting ones with 通过; 驳回 needs a reason, on the
/// request's own screen.
pub fn payouts(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let status = status_asked(request)?;
    let listed = payouts::recent(kv, status);
    let mut filters: Vec<Link> = Status::ALL
        .into_iter()
        .map(|s| Link {
            label: s.label().to_owned(),
            path: format!("/office/payouts?status={}", s.as_str()),
            note: if status == Some(s) {
                "当前".to_owned()
            } else {
                String::new()
            },
        })
        .collect();
    filters.push(Link {
        label: "全部".to_owned(),
        path: "/office/payouts?status=all".to_owned(),
        note: if status.is_none() {
            "当前".to_owned()
        } else {
            String::new()
        },
    });
    let rows = listed
        .iter()
        .map(|payout| {
            let mut cells = vec![
                format!("#{}", payout.id),
                person("推广经理", payout.promoter),
            ];
            cells.extend(payout_row(payout));
            let actions = if payout.status == Status::Pending {
                vec![
                    Action::post("通过", format!("/payouts/{}/approve", payout.id)).confirm(
                        &format!(
                            "确认已向推广经理 #{} 打款{}？",
                            payout.promoter,
                            yuan(payout.amount_fen)
                        ),
                    ),
                ]
            } else {
                Vec::new()
            };
            Row {
                cells,
                link: Some(format!("/office/payouts/{}", payout.id)),
                actions,
            }
        })
        .collect();
    let screen = Screen::new("提现审核")
        .with(Block::Links { items: filters })
        .with(Block::text(
            "通过前请先向推广经理的收款账户打款；驳回请点开申请填写原因，金额将退回其佣金余额。",
        ))
        .with(table(
            "提现申请",
            &[
                "编号",
                "推广经理",
                "申请时间",
                "金额",
                "收款账户",
                "状态",
                "处理说明",
            ],
            rows,
            "没有这类提现申请",
        ));
    Ok(HttpResponse::ok(screen))
}

/// One request (staff): its details, and for a waiting one 通过 (with a remark) and 驳回 (with
/// the reason the promoter reads).
pub fn payout(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let id = request.id_param("id", "提现申请")?;
    let payout = payouts::load(kv, id).ok_or_else(|| HttpResponse::not_found("提现申请"))?;
    let mut screen = Screen::new(format!("提现申请 #{id}"))
        .with(Block::figures(&[
            ("金额", yuan(payout.amount_fen)),
            ("状态", payout.status.label().to_owned()),
            ("当前可提现", yuan(ledger::balance(kv, payout.promoter))),
        ]))
        .with(Block::text(format!(
            "{}，收款账户：{}，申请于{}。",
            person("推广经理", payout.promoter),
            payout.note,
            local_time(payout.at)
        )));
    if let (Some(at), Some(by)) = (payout.decided_at, payout.decided_by) {
        screen = screen.with(Block::text(format!(
            "{}由用户 #{by} 处理：{}",
            local_time(at),
            if payout.remark.is_empty() {
                "无说明"
            } else {
                &payout.remark
            }
        )));
    }
    if payout.status == Status::Pending {
        let remark = FormField::new("remark", "备注", FieldKind::Text).help(format!(
            "选填，最多{}个字，如转账单号",
            payouts::MAX_REMARK_CHARS
        ));
        let reason = FormField::new("reason", "驳回原因", FieldKind::Text)
            .required()
            .help(format!(
                "推广经理会看到，最多{}个字",
                payouts::MAX_REMARK_CHARS
            ));
        screen = screen
            .with(Block::Form(Form {
                title: "通过（已打款）".to_owned(),
                action: format!("/payouts/{id}/approve"),
                fields: vec![remark],
                submit: "通过".to_owned(),
                back: "/office/payouts".to_owned(),
            }))
            .with(Block::Form(Form {
                title: "驳回".to_owned(),
                action: format!("/payouts/{id}/reject"),
                fields: vec![reason],
                submit: "驳回".to_owned(),
                back: "/office/payouts".to_owned(),
            }));
    }
    Ok(HttpResponse::ok(screen))
}

/// 佣金费率 (staff): the rates as a form, one `编号=基点` a line.
pub fn rates(kv: &impl Kv, request: &HttpRequest) -> HttpResponse {
    let rates = Rates::load(kv);
    let default_bp = Settings::of(&request.settings).default_rate_bp;
    let labels = [
        ("goods", "商品费率", "每行一个：商品编号=基点，如 12=500"),
        (
            "categories",
            "分类费率",
            "每行一个：分类编号=基点（含其下级分类）",
        ),
        ("levels", "会员等级费率", "每行一个：等级编号=基点"),
    ];
    let fields = labels
        .iter()
        .zip(TABLES)
        .map(|((name, label, help), (_, most, _))| {
            FormField::new(name, label, FieldKind::Textarea)
                .value(rates.as_text(name))
                .help(format!("{help}，最多{most}项"))
        })
        .collect();
    let screen = Screen::new("佣金费率")
        .with(Block::text(format!(
            "默认费率{}（{}基点），在插件设置 default_rate_bp 中修改。费率以基点计：100基点 = 1%，最高5000基点。",
            percent(default_bp),
            default_bp
        )))
        .with(Block::text(
            "一行订单按最具体的费率计佣：商品费率优先，其次分类费率（最近的分类），再次下单会员的等级费率，都没有时用默认费率；赠品不计佣金。",
        ))
        .with(Block::Form(Form {
            title: "佣金费率".to_owned(),
            action: "/rates".to_owned(),
            fields,
            submit: "保存".to_owned(),
            back: String::new(),
        }));
    HttpResponse::ok(screen)
}

#[cfg(test)]
mod tests {
    use pifa_sdk::MemoryKv;
    use serde_json::{Value, json};

    use super::*;
    use crate::http::handle;
    use crate::http::tests::{complete, request, with_id, with_query};

    fn screen(kv: &mut MemoryKv, request: HttpRequest) -> Screen {
        let response = handle(kv, &request);
        assert_eq!(response.status, 200, "{}", response.body);
        serde_json::from_value(response.body).unwrap()
    }

    fn texts(screen: &Screen) -> String {
        serde_json::to_string(screen).unwrap()
    }

    #[test]
    fn the_wallet_shows_figures_form_requests_and_ledger() {
        let mut kv = MemoryKv::default();
        complete(&mut kv, 1, 42, 7, 1_000_000);
        handle(
            &mut kv,
            &request(
                "POST",
                "/payouts",
                7,
                "promoter",
                json!({"amount_fen": "100", "note": "微信"}),
            ),
        );
        let wallet = screen(
            &mut kv,
            request("GET", "/wallet", 7, "promoter", Value::Null),
        );
        assert_eq!(wallet.title, "我的佣金");
        assert_eq!(
            wallet.blocks[0],
            Block::figures(&[
                ("可提现", "¥200.00".to_owned()),
                ("累计佣金", "¥300.00".to_owned()),
                ("本月业绩", "¥10000.00".to_owned()),
            ])
        );
        let Block::Form(form) = &wallet.blocks[2] else {
            panic!("{:?}", wallet.blocks[2])
        };
        assert_eq!(form.action, "/payouts");
        assert_eq!(form.fields[0].name, "amount_fen");
        assert_eq!(form.fields[0].kind, FieldKind::Money);
        let Block::Table { rows, .. } = &wallet.blocks[3] else {
            panic!()
        };
        assert_eq!(rows[0].cells[1], "¥100.00");
        assert_eq!(rows[0].cells[3], "待审核");
        let Block::Table { rows, .. } = &wallet.blocks[4] else {
            panic!()
        };
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].cells[1], "提现申请");
        assert_eq!(rows[1].cells[3], "+¥300.00");
    }

    #[test]
    fn the_wallet_warns_of_owed_commission() {
        let mut kv = MemoryKv::default();
        kv.counters.insert("owed:7".to_owned(), 1_300);
        let wallet = screen(
            &mut kv,
            request("GET", "/wallet", 7, "promoter", Value::Null),
        );
        assert!(wallet.blocks.contains(&Block::Text {
            text: "有¥13.00佣金因订单退款待扣回。".to_owned(),
            tone: Tone::Warning
        }));
    }

    #[test]
    fn the_team_screen_lists_the_manager_s_promoters() {
        let mut kv = MemoryKv::default();
        complete(&mut kv, 1, 42, 7, 100_000);
        complete(&mut kv, 2, 43, 8, 50_000);
        let team = screen(
            &mut kv,
            request("GET", "/team-screen", 5, "manager", Value::Null),
        );
        assert_eq!(team.title, "团队业绩");
        let Block::Table { rows, .. } = &team.blocks[2] else {
            panic!()
        };
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[1].cells,
            vec!["推广经理 #8", "1", "1", "¥500.00", "1", "¥500.00"]
        );
    }

    #[test]
    fn the_office_screen_picks_a_month_and_lists_both_roles() {
        let mut kv = MemoryKv::default();
        complete(&mut kv, 1, 42, 7, 100_000);
        let office = screen(&mut kv, request("GET", "/office", 1, "admin", Value::Null));
        assert_eq!(office.title, "分销业绩");
        let Block::Links { items } = &office.blocks[0] else {
            panic!()
        };
        assert_eq!(items.len(), MONTHS_OFFERED + 1);
        assert_eq!(items[0].path, "/office?month=2026-05");
        assert_eq!(items[0].note, "当前");
        assert_eq!(items[5].label, "2025-12");
        let Block::Table { rows, .. } = &office.blocks[4] else {
            panic!()
        };
        assert_eq!(
            rows[0].cells,
            vec!["推广经理 #7", "1", "1", "¥1000.00", "¥30.00"]
        );
        let Block::Table { rows, .. } = &office.blocks[5] else {
            panic!()
        };
        assert_eq!(rows[0].cells, vec!["客户经理 #5", "1", "1", "¥1000.00"]);
        let april = screen(
            &mut kv,
            with_query(
                request("GET", "/office", 1, "admin", Value::Null),
                "month",
                "2026-04",
            ),
        );
        let Block::Table { rows, .. } = &april.blocks[4] else {
            panic!()
        };
        assert!(rows.is_empty());
        let wrong = handle(
            &mut kv,
            &with_query(
                request("GET", "/office", 1, "admin", Value::Null),
                "month",
                "May",
            ),
        );
        assert_eq!(wrong.status, 422);
    }

    #[test]
    fn the_office_screen_says_when_it_lists_only_the_first_ones() {
        let mut kv = MemoryKv::default();
        let office = |kv: &mut MemoryKv| {
            texts(&screen(
                kv,
                request("GET", "/office", 1, "admin", Value::Null),
            ))
        };
        for user in 1..MAX_LISTED as i64 {
            kv.put_json(
                &crate::perf::perf_key("2026-05", crate::store::Role::Promoter, user),
                &Perf::default(),
            )
            .unwrap();
        }
        assert!(!office(&mut kv).contains("只列出"));
        kv.put_json(
            &crate::perf::perf_key("2026-05", crate::store::Role::Promoter, 9_999),
            &Perf::default(),
        )
        .unwrap();
        kv.put_json(
            &crate::perf::perf_key("2026-05", crate::store::Role::Promoter, 10_000),
            &Perf::default(),
        )
        .unwrap();
        let shown = office(&mut kv);
        assert!(shown.contains("每类只列出编号最小的300位"));
        assert!(shown.contains("推广经理 #9999") && !shown.contains("推广经理 #10000"));
    }

    #[test]
    fn the_payout_screens_offer_approval_and_a_reasoned_rejection() {
        let mut kv = MemoryKv::default();
        complete(&mut kv, 1, 42, 7, 1_000_000);
        handle(
            &mut kv,
            &request(
                "POST",
                "/payouts",
                7,
                "promoter",
                json!({"amount_fen": 10_000, "note": "微信"}),
            ),
        );
        let list = screen(
            &mut kv,
            request("GET", "/office/payouts", 1, "admin", Value::Null),
        );
        let Block::Table { rows, .. } = &list.blocks[2] else {
            panic!()
        };
        assert_eq!(rows[0].link.as_deref(), Some("/office/payouts/1"));
        assert_eq!(rows[0].actions[0].action, "/payouts/1/approve");
        let detail = screen(
            &mut kv,
            with_id(
                request("GET", "/office/payouts/{id}", 1, "admin", Value::Null),
                1,
            ),
        );
        let forms: Vec<&Form> = detail
            .blocks
            .iter()
            .filter_map(|block| match block {
                Block::Form(form) => Some(form),
                _ => None,
            })
            .collect();
        assert_eq!(forms.len(), 2);
        assert_eq!(forms[1].action, "/payouts/1/reject");
        assert_eq!(forms[1].fields[0].name, "reason");
        assert!(forms[1].fields[0].required);
        handle(
            &mut kv,
            &with_id(
                request(
                    "POST",
                    "/payouts/{id}/reject",
                    1,
                    "admin",
                    json!({"reason": "账户有误"}),
                ),
                1,
            ),
        );
        let decided = screen(
            &mut kv,
            with_id(
                request("GET", "/office/payouts/{id}", 1, "admin", Value::Null),
                1,
            ),
        );
        assert!(
            !decided
                .blocks
                .iter()
                .any(|block| matches!(block, Block::Form(_)))
        );
        assert!(texts(&decided).contains("账户有误"));
        let missing = handle(
            &mut kv,
            &with_id(
                request("GET", "/office/payouts/{id}", 1, "admin", Value::Null),
                9,
            ),
        );
        assert_eq!(missing.status, 404);
    }

    #[test]
    fn the_rates_screen_is_a_form_of_the_stored_rates() {
        let mut kv = MemoryKv::default();
        handle(
            &mut kv,
            &request(
                "PUT",
                "/rates",
                1,
                "admin",
                json!({"goods": {"12": 500, "3": 100}}),
            ),
        );
        let rates = screen(
            &mut kv,
            request("GET", "/office/rates", 1, "admin", Value::Null),
        );
        assert!(texts(&rates).contains("默认费率3.00%（300基点）"));
        let Some(Block::Form(form)) = rates.blocks.last() else {
            panic!()
        };
        assert_eq!(form.action, "/rates");
        assert_eq!(form.fields[0].value, "3=100\n12=500");
        assert_eq!(form.fields[0].kind, FieldKind::Textarea);
        assert_eq!(form.fields[2].name, "levels");
    }
}
