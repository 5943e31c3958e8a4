//! The plugin's routes under `/api/v1/plugins/distribution` (declared with their roles and
//! schemas in `manifest.rs`; the kernel checks the roles before calling). JSON routes for
//! promoters (`/mine`, `POST /payouts`), managers (`/team`) and staff (`/performance`,
//! `/payouts`, approve/reject, `/rates`); the screens are in `screens.rs`. Every `POST` a
//! screen's form uses answers `{"message": …}`.

use pifa_sdk::input::refused;
use pifa_sdk::{HttpRequest, HttpResponse, Kv};
use serde::Serialize;
use serde_json::{Value, json};

use crate::ledger::{self, Entry};
use crate::payouts::{self, MAX_NOTE_CHARS, MAX_PAYOUT_FEN, MAX_REMARK_CHARS, Payout, Status};
use crate::perf::{self, ALL, Perf, is_month, month_of};
use crate::rates::Rates;
use crate::screens;
use crate::settings::Settings;
use crate::store::{Role, owed_key};

/// Ledger entries `/mine` shows.
pub const LEDGER_SHOWN: u32 = 50;
/// Payout requests `/mine` shows.
pub const PAYOUTS_SHOWN: u32 = 20;
/// Promoters `/team` lists: two reads each, so bounded well within a route's deadline.
pub const TEAM_SHOWN: usize = 100;

pub fn handle(kv: &mut impl Kv, request: &HttpRequest) -> HttpResponse {
    let answer = match (request.method.as_str(), request.route.as_str()) {
        ("GET", "/mine") => mine(kv, request),
        ("POST", "/payouts") => ask_payout(kv, request),
        ("GET", "/team") => team(kv, request),
        ("GET", "/performance") => performance(kv, request),
        ("GET", "/payouts") => list_payouts(kv, request),
        ("POST", "/payouts/{id}/approve") => approve(kv, request),
        ("POST", "/payouts/{id}/reject") => reject(kv, request),
        ("GET", "/rates") => Ok(HttpResponse::ok(rates_view(kv, request))),
        ("PUT" | "POST", "/rates") => save_rates(kv, request),
        ("GET", "/wallet") => screens::wallet(kv, request),
        ("GET", "/team-screen") => screens::team(kv, request),
        ("GET", "/office") => screens::office(kv, request),
        ("GET", "/office/payouts") => screens::payouts(kv, request),
        ("GET", "/office/payouts/{id}") => screens::payout(kv, request),
        ("GET", "/office/rates") => Ok(screens::rates(kv, request)),
        _ => Err(HttpResponse::error(
            404,
            "not_found",
            None,
            "没有这个接口 (no such route)",
        )),
    };
    answer.unwrap_or_else(|refusal| refusal)
}

/// One person's figures in a month and in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Figures {
    pub this_month: Perf,
    pub all_time: Perf,
}

pub fn figures(kv: &impl Kv, role: Role, user: i64, month: &str) -> Figures {
    Figures {
        this_month: perf::load(kv, month, role, user),
        all_time: perf::load(kv, ALL, role, user),
    }
}

/// What a promoter's wallet shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wallet {
    pub user_id: i64,
    pub month: String,
    pub balance_fen: i64,
    /// Commission refunds should have taken back but the balance could not give.
    pub owed_fen: i64,
    pub min_payout_fen: i64,
    #[serde(flatten)]
    pub figures: Figures,
    pub ledger: Vec<Entry>,
    pub payouts: Vec<Payout>,
}

pub fn wallet(kv: &impl Kv, request: &HttpRequest) -> Result<Wallet, HttpResponse> {
    let user = request.user_id()?;
    let month = month_of(request.now_ms);
    Ok(Wallet {
        user_id: user,
        balance_fen: ledger::balance(kv, user),
        owed_fen: kv.counter(&owed_key(user)),
        min_payout_fen: Settings::of(&request.settings).min_payout_fen,
        figures: figures(kv, Role::Promoter, user, &month),
        month,
        ledger: ledger::latest(kv, user, LEDGER_SHOWN),
        payouts: payouts::of_promoter(kv, user, PAYOUTS_SHOWN),
    })
}

fn mine(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    Ok(HttpResponse::ok(wallet(kv, request)?))
}

fn ask_payout(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let user = request.user_id()?;
    let fields = request.fields();
    let amount = fields.fen("amount_fen", 1, MAX_PAYOUT_FEN)?;
    let note = fields.text("note", MAX_NOTE_CHARS)?;
    let settings = Settings::of(&request.settings);
    let payout = payouts::request(
        kv,
        user,
        amount,
        note,
        settings.min_payout_fen,
        request.now_ms,
    )?;
    Ok(HttpResponse::created(json!({
        "message": "提现申请已提交，等待审核",
        "payout": payout,
    })))
}

/// A manager's own figures and those of each promoter whose orders named him.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Team {
    pub manager_id: i64,
    pub month: String,
    #[serde(flatten)]
    pub figures: Figures,
    pub promoters: Vec<Member>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub user_id: i64,
    #[serde(flatten)]
    pub figures: Figures,
}

pub fn team_of(kv: &impl Kv, request: &HttpRequest) -> Result<Team, HttpResponse> {
    let manager = request.user_id()?;
    let month = month_of(request.now_ms);
    let promoters = perf::team(kv, manager, TEAM_SHOWN)
        .into_iter()
        .map(|user| Member {
            user_id: user,
            figures: figures(kv, Role::Promoter, user, &month),
        })
        .collect();
    Ok(Team {
        manager_id: manager,
        figures: figures(kv, Role::Manager, manager, &month),
        month,
        promoters,
    })
}

fn team(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    Ok(HttpResponse::ok(team_of(kv, request)?))
}

/// One line of the staff's performance table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Line {
    pub user_id: i64,
    #[serde(flatten)]
    pub perf: Perf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Performance {
    pub month: String,
    pub promoters: Vec<Line>,
    pub managers: Vec<Line>,
}

/// `?month=YYYY-MM` (this month when absent); `all` for all time.
pub fn month_asked(request: &HttpRequest) -> Result<String, HttpResponse> {
    match request
        .query
        .get("month")
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
    {
        None => Ok(month_of(request.now_ms)),
        Some(month) if month == ALL || is_month(month) => Ok(month.to_owned()),
        Some(_) => Err(refused(
            "month",
            "应为年月，如 2026-05 (a month such as 2026-05)",
        )),
    }
}

pub fn performance_of(kv: &impl Kv, month: &str) -> Performance {
    let lines = |role| {
        perf::list(kv, month, role)
            .into_iter()
            .map(|(user_id, perf)| Line { user_id, perf })
            .collect()
    };
    Performance {
        month: month.to_owned(),
        promoters: lines(Role::Promoter),
        managers: lines(Role::Manager),
    }
}

fn performance(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    Ok(HttpResponse::ok(performance_of(kv, &month_asked(request)?)))
}

/// `?status=pending|paid|rejected|all` (pending when absent): `None` is all.
pub fn status_asked(request: &HttpRequest) -> Result<Option<Status>, HttpResponse> {
    match request
        .query
        .get("status")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => Ok(Some(Status::Pending)),
        Some("all") => Ok(None),
        Some(text) => Status::parse(text).map(Some).ok_or_else(|| {
            refused(
                "status",
                "应为 pending、paid、rejected 或 all (pending, paid, rejected or all)",
            )
        }),
    }
}

fn list_payouts(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let status = status_asked(request)?;
    Ok(HttpResponse::ok(json!({
        "status": status.map_or("all", Status::as_str),
        "payouts": payouts::recent(kv, status),
    })))
}

fn approve(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let id = request.id_param("id", "提现申请")?;
    let by = request.user_id()?;
    let remark = request
        .fields()
        .optional_text("remark", MAX_REMARK_CHARS)?
        .unwrap_or_default();
    let payout = payouts::approve(kv, id, by, remark, request.now_ms)?;
    Ok(HttpResponse::ok(json!({
        "message": format!("已通过提现申请 #{id}，请确认已打款{}", pifa_sdk::input::yuan(payout.amount_fen)),
        "payout": payout,
    })))
}

fn reject(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let id = request.id_param("id", "提现申请")?;
    let by = request.user_id()?;
    let reason = request.fields().text("reason", MAX_REMARK_CHARS)?;
    let payout = payouts::reject(kv, id, by, reason, request.now_ms)?;
    Ok(HttpResponse::ok(json!({
        "message": format!("已驳回提现申请 #{id}，{}已退回推广经理的佣金余额", pifa_sdk::input::yuan(payout.amount_fen)),
        "payout": payout,
    })))
}

pub fn rates_view(kv: &impl Kv, request: &HttpRequest) -> Value {
    let rates = Rates::load(kv);
    let mut view = serde_json::to_value(&rates).unwrap_or_else(|_| json!({}));
    if let Some(object) = view.as_object_mut() {
        object.insert(
            "default_rate_bp".to_owned(),
            Value::from(Settings::of(&request.settings).default_rate_bp),
        );
    }
    view
}

fn save_rates(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let rates = Rates::parse(&request.body)?;
    rates.save(kv).map_err(HttpResponse::storage_failed)?;
    Ok(HttpResponse::ok(json!({
        "message": "佣金费率已保存",
        "rates": rates_view(kv, request),
    })))
}

#[cfg(test)]
pub mod tests {
    use std::collections::BTreeMap;

    use pifa_sdk::{Caller, Event, MemoryKv};
    use serde_json::{Value, json};

    use super::*;
    use crate::events::on_event;

    /// 2026-05-10 10:00 in the shop.
    pub const NOW: i64 = 1_778_378_400_000;

    pub fn request(method: &str, route: &str, user: i64, role: &str, body: Value) -> HttpRequest {
        HttpRequest {
            method: method.to_owned(),
            route: route.to_owned(),
            params: BTreeMap::new(),
            query: BTreeMap::new(),
            body,
            caller: Caller {
                user_id: Some(user),
                roles: vec![role.to_owned()],
                member: None,
                sees_prices: true,
            },
            now_ms: NOW,
            settings: Value::Null,
        }
    }

    pub fn with_id(mut request: HttpRequest, id: i64) -> HttpRequest {
        request.params.insert("id".to_owned(), id.to_string());
        request
    }

    pub fn with_query(mut request: HttpRequest, name: &str, value: &str) -> HttpRequest {
        request.query.insert(name.to_owned(), value.to_owned());
        request
    }

    /// Order `order_id` of `member`, brought by promoter 7, served by manager 5, completed now.
    pub fn complete(kv: &mut MemoryKv, order_id: i64, member: i64, promoter: i64, total: i64) {
        let event = Event {
            id: order_id,
            kind: "order.completed".to_owned(),
            order_id: Some(order_id),
            payload: json!({
                "order_id": order_id, "order_no": format!("P{order_id}"), "member_id": member,
                "manager_id": 5, "promoter_id": promoter, "level_id": null, "total_fen": total,
                "lines": [{"product_id": 1, "category_ids": [], "line_total_fen": total, "gift": false}]
            }),
            reservations: vec![],
            now_ms: NOW,
            settings: json!({}),
        };
        on_event(kv, &event).unwrap();
    }

    #[test]
    fn a_promoter_sees_his_wallet_and_asks_for_a_payout() {
        let mut kv = MemoryKv::default();
        complete(&mut kv, 1, 42, 7, 500_000);
        complete(&mut kv, 2, 42, 7, 100_000);
        let mine = handle(
            &mut kv,
            &request("GET", "/mine", 7, "promoter", Value::Null),
        );
        assert_eq!(mine.status, 200);
        assert_eq!(mine.body["balance_fen"], 18_000);
        assert_eq!(mine.body["month"], "2026-05");
        assert_eq!(mine.body["this_month"]["customers"], 1);
        assert_eq!(mine.body["this_month"]["orders"], 2);
        assert_eq!(mine.body["all_time"]["commission_fen"], 18_000);
        assert_eq!(mine.body["ledger"].as_array().map(Vec::len), Some(2));
        assert_eq!(mine.body["ledger"][0]["order_no"], "P2", "newest first");

        // A form sends yuan as text.
        let asked = handle(
            &mut kv,
            &request(
                "POST",
                "/payouts",
                7,
                "promoter",
                json!({"amount_fen": "120.50", "note": "微信"}),
            ),
        );
        assert_eq!(asked.status, 201, "{}", asked.body);
        assert_eq!(asked.body["message"], "提现申请已提交，等待审核");
        assert_eq!(asked.body["payout"]["amount_fen"], 12_050);
        let mine = handle(
            &mut kv,
            &request("GET", "/mine", 7, "promoter", Value::Null),
        );
        assert_eq!(mine.body["balance_fen"], 5_950);
        assert_eq!(mine.body["payouts"][0]["status"], "pending");

        for (body, status, code) in [
            (
                json!({"amount_fen": 10_000, "note": "微信"}),
                409,
                "insufficient_balance",
            ),
            (
                json!({"amount_fen": "abc", "note": "微信"}),
                422,
                "invalid_field",
            ),
            (json!({"amount_fen": 1_000}), 422, "invalid_field"),
            (
                json!({"amount_fen": 1_000, "note": "长".repeat(61)}),
                422,
                "invalid_field",
            ),
        ] {
            let refused = handle(&mut kv, &request("POST", "/payouts", 7, "promoter", body));
            assert_eq!(
                (refused.status, refused.body["error"]["code"].as_str()),
                (status, Some(code))
            );
        }
        let mut nobody = request("GET", "/mine", 7, "promoter", Value::Null);
        nobody.caller.user_id = None;
        assert_eq!(handle(&mut kv, &nobody).status, 401);
    }

    #[test]
    fn a_manager_sees_his_own_figures_and_his_team() {
        let mut kv = MemoryKv::default();
        complete(&mut kv, 1, 42, 7, 100_000);
        complete(&mut kv, 2, 43, 8, 50_000);
        complete(&mut kv, 3, 42, 7, 10_000);
        let team = handle(&mut kv, &request("GET", "/team", 5, "manager", Value::Null));
        assert_eq!(team.status, 200);
        assert_eq!(team.body["this_month"]["customers"], 2);
        assert_eq!(team.body["all_time"]["sales_fen"], 160_000);
        assert_eq!(team.body["promoters"][0]["user_id"], 7);
        assert_eq!(team.body["promoters"][0]["this_month"]["orders"], 2);
        assert_eq!(team.body["promoters"][1]["user_id"], 8);
        let other = handle(&mut kv, &request("GET", "/team", 6, "manager", Value::Null));
        assert_eq!(other.body["promoters"], json!([]));
    }

    #[test]
    fn staff_read_a_month_s_performance() {
        let mut kv = MemoryKv::default();
        complete(&mut kv, 1, 42, 7, 100_000);
        complete(&mut kv, 2, 43, 8, 50_000);
        let admin = |query: Option<&str>| {
            let request = request("GET", "/performance", 1, "admin", Value::Null);
            match query {
                Some(month) => with_query(request, "month", month),
                None => request,
            }
        };
        let now = handle(&mut kv, &admin(None));
        assert_eq!(now.body["month"], "2026-05");
        assert_eq!(
            now.body["promoters"][1],
            json!({"user_id": 8, "customers": 1, "orders": 1, "sales_fen": 50_000, "commission_fen": 1_500})
        );
        assert_eq!(now.body["managers"][0]["sales_fen"], 150_000);
        let april = handle(&mut kv, &admin(Some("2026-04")));
        assert_eq!(april.body["promoters"], json!([]));
        assert_eq!(
            handle(&mut kv, &admin(Some("all"))).body["promoters"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        let wrong = handle(&mut kv, &admin(Some("2026-13")));
        assert_eq!(
            (wrong.status, wrong.body["error"]["field"].as_str()),
            (422, Some("month"))
        );
    }

    #[test]
    fn staff_approve_and_reject_payouts() {
        let mut kv = MemoryKv::default();
        complete(&mut kv, 1, 42, 7, 1_000_000);
        for _ in 0..2 {
            let asked = handle(
                &mut kv,
                &request(
                    "POST",
                    "/payouts",
                    7,
                    "promoter",
                    json!({"amount_fen": 10_000, "note": "银行卡尾号1234"}),
                ),
            );
            assert_eq!(asked.status, 201);
        }
        let listed = handle(
            &mut kv,
            &request("GET", "/payouts", 1, "admin", Value::Null),
        );
        assert_eq!(listed.body["status"], "pending");
        assert_eq!(listed.body["payouts"].as_array().map(Vec::len), Some(2));

        let approved = handle(
            &mut kv,
            &with_id(
                request(
                    "POST",
                    "/payouts/{id}/approve",
                    1,
                    "admin",
                    json!({"remark": ""}),
                ),
                1,
            ),
        );
        assert_eq!(approved.status, 200, "{}", approved.body);
        assert_eq!(
            approved.body["message"],
            "已通过提现申请 #1，请确认已打款¥100.00"
        );
        let no_reason = handle(
            &mut kv,
            &with_id(
                request(
                    "POST",
                    "/payouts/{id}/reject",
                    1,
                    "admin",
                    json!({"reason": " "}),
                ),
                2,
            ),
        );
        assert_eq!(
            (no_reason.status, no_reason.body["error"]["field"].as_str()),
            (422, Some("reason"))
        );
        let rejected = handle(
            &mut kv,
            &with_id(
                request(
                    "POST",
                    "/payouts/{id}/reject",
                    1,
                    "admin",
                    json!({"reason": "账户有误"}),
                ),
                2,
            ),
        );
        assert_eq!(rejected.status, 200);
        assert_eq!(rejected.body["payout"]["status"], "rejected");
        assert_eq!(ledger::balance(&kv, 7), 20_000);
        let again = handle(
            &mut kv,
            &with_id(
                request("POST", "/payouts/{id}/approve", 1, "admin", Value::Null),
                2,
            ),
        );
        assert_eq!(again.status, 409);
        let unknown = handle(
            &mut kv,
            &with_id(
                request("POST", "/payouts/{id}/approve", 1, "admin", Value::Null),
                9,
            ),
        );
        assert_eq!(unknown.status, 404);

        let all = handle(
            &mut kv,
            &with_query(
                request("GET", "/payouts", 1, "admin", Value::Null),
                "status",
                "all",
            ),
        );
        assert_eq!(all.body["payouts"].as_array().map(Vec::len), Some(2));
        let paid = handle(
            &mut kv,
            &with_query(
                request("GET", "/payouts", 1, "admin", Value::Null),
                "status",
                "paid",
            ),
        );
        assert_eq!(paid.body["payouts"][0]["id"], 1);
        let wrong = handle(
            &mut kv,
            &with_query(
                request("GET", "/payouts", 1, "admin", Value::Null),
                "status",
                "done",
            ),
        );
        assert_eq!(wrong.status, 422);
    }

    #[test]
    fn staff_read_and_replace_the_rates() {
        let mut kv = MemoryKv::default();
        let empty = handle(&mut kv, &request("GET", "/rates", 1, "admin", Value::Null));
        assert_eq!(
            empty.body,
            json!({"goods": {}, "categories": {}, "levels": {}, "default_rate_bp": 300})
        );
        let saved = handle(
            &mut kv,
            &request(
                "POST",
                "/rates",
                1,
                "admin",
                json!({"goods": "11=800", "categories": "", "levels": "2=500"}),
            ),
        );
        assert_eq!(saved.status, 200);
        assert_eq!(saved.body["message"], "佣金费率已保存");
        assert_eq!(saved.body["rates"]["goods"], json!({"11": 800}));
        let put = handle(
            &mut kv,
            &request("PUT", "/rates", 1, "admin", json!({"levels": {"2": 450}})),
        );
        assert_eq!(put.status, 200);
        assert_eq!(
            Rates::load(&kv).goods,
            BTreeMap::new(),
            "a PUT replaces the whole set"
        );
        assert_eq!(Rates::load(&kv).levels, BTreeMap::from([(2, 450)]));
        let refused = handle(
            &mut kv,
            &request("PUT", "/rates", 1, "admin", json!({"goods": "11=9000"})),
        );
        assert_eq!(refused.status, 422);
        assert_eq!(
            Rates::load(&kv).levels,
            BTreeMap::from([(2, 450)]),
            "nothing saved"
        );
    }

    #[test]
    fn an_unknown_route_is_not_found() {
        let mut kv = MemoryKv::default();
        let response = handle(
            &mut kv,
            &request("DELETE", "/rates", 1, "admin", Value::Null),
        );
        assert_eq!(response.status, 404);
        assert_eq!(response.body["error"]["code"], "not_found");
    }
}
