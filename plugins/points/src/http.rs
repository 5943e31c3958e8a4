//! The plugin's JSON routes under `/api/v1/plugins/points` (declared with their roles in
//! `manifest.rs`; the kernel checks the roles before calling) and the dispatch to the screens
//! (`screens.rs`). Every `POST` a screen's form or button uses answers `{"message": …}`.

use serde_json::{Value, json};

use pifa_sdk::input::refused;
use pifa_sdk::{Emit, HttpRequest, HttpResponse, Kv};

use crate::account::{self, LedgerEntry};
use crate::campaign;
use crate::gift::{self, Status};
use crate::screens;
use crate::settings::Settings;
use crate::stats;

/// Ledger entries `GET /mine` shows.
pub const LEDGER_SHOWN: usize = 50;
const DAY_MS: i64 = 86_400_000;

pub fn handle(kv: &mut (impl Kv + Emit), request: &HttpRequest) -> HttpResponse {
    // Staff changes carry the settings too: keep them for the tick (a write only when they
    // changed; never on a GET, so the shared mall answer is not cleared by reading it).
    if request.method != "GET"
        && let Err(message) = Settings::of(&request.settings).remember(kv)
    {
        return storage_failed(message);
    }
    let answer = match (request.method.as_str(), request.route.as_str()) {
        ("GET", "/mine") => mine(kv, request),
        ("GET", "/gifts") => Ok(mall_gifts(kv)),
        ("POST", "/gifts/{id}/redeem") => redeem(kv, request),
        ("GET", "/redemptions/mine") => my_redemptions(kv, request),
        ("POST", "/gifts") => create_gift(kv, request),
        ("PUT" | "POST", "/gifts/{id}") => update_gift(kv, request),
        ("DELETE", "/gifts/{id}") | ("POST", "/gifts/{id}/delete") => delete_gift(kv, request),
        ("GET", "/campaigns") => Ok(campaigns(kv)),
        ("POST", "/campaigns") => create_campaign(kv, request),
        ("PUT" | "POST", "/campaigns/{id}") => update_campaign(kv, request),
        ("DELETE", "/campaigns/{id}") | ("POST", "/campaigns/{id}/delete") => {
            delete_campaign(kv, request)
        }
        ("GET", "/redemptions") => redemptions(kv, request),
        ("POST", "/redemptions/{id}/approve") => approve(kv, request),
        ("POST", "/redemptions/{id}/ship") => ship(kv, request),
        ("POST", "/redemptions/{id}/reject") => reject(kv, request),
        ("GET", "/stats") => Ok(stats_answer(kv)),
        ("POST", "/members/{member_id}/adjust") => {
            adjust(kv, request, request.id_param("member_id", "会员"))
        }
        ("POST", "/adjust") => adjust(kv, request, member_field(request)),
        ("GET", "/members/{member_id}") => member(kv, request),
        ("GET", _) => screens::handle(kv, request),
        _ => Err(HttpResponse::error(
            404,
            "not_found",
            None,
            "没有这个接口 (no such route)",
        )),
    };
    answer.unwrap_or_else(|refusal| refusal)
}

type Answer = Result<HttpResponse, HttpResponse>;

fn storage_failed(message: String) -> HttpResponse {
    HttpResponse::storage_failed(message)
}

/// A member's points as `GET /mine` and staff's `GET /members/{id}` show them.
pub fn points_of(kv: &impl Kv, member: i64, settings: Settings, now: i64) -> Value {
    let until = now.saturating_add(settings.remind_days.saturating_mul(DAY_MS));
    let (expiring, first) = account::expiring_by(kv, member, until);
    let ledger: Vec<LedgerEntry> = account::ledger(kv, member, LEDGER_SHOWN);
    json!({
        "member_id": member,
        "balance": account::balance(kv, member),
        "expiring_soon": {
            "points": expiring,
            "within_days": settings.remind_days,
            "first_expires_at": first,
            "last_day": first.map(account::last_day),
        },
        "ledger": ledger,
    })
}

fn mine(kv: &impl Kv, request: &HttpRequest) -> Answer {
    let member = request.member_id()?;
    Ok(HttpResponse::ok(points_of(
        kv,
        member,
        Settings::of(&request.settings),
        request.now_ms,
    )))
}

fn member(kv: &impl Kv, request: &HttpRequest) -> Answer {
    let member = request.id_param("member_id", "会员")?;
    Ok(HttpResponse::ok(points_of(
        kv,
        member,
        Settings::of(&request.settings),
        request.now_ms,
    )))
}

/// The gifts on the shelf (public and shared: points are not prices, everyone sees them).
fn mall_gifts(kv: &impl Kv) -> HttpResponse {
    let gifts: Vec<gift::Shown> = gift::load_all(kv)
        .iter()
        .filter(|g| g.on_shelf)
        .map(|g| gift::shown(kv, g))
        .collect();
    HttpResponse::ok(json!({ "gifts": gifts }))
}

fn redeem(kv: &mut (impl Kv + Emit), request: &HttpRequest) -> Answer {
    let member = request.member_id()?;
    let gift_id = request.id_param("id", "礼品")?;
    let done = gift::redeem(kv, member, gift_id, &request.fields(), request.now_ms)?;
    let message = match done.redemption.status {
        Status::Pending => "兑换成功，等待审核后发货",
        Status::Issued => "兑换成功，优惠券已发放",
        _ => "兑换成功，兑换内容已通过消息发送",
    };
    Ok(HttpResponse::created(json!({
        "message": message,
        "redemption": done.redemption,
        "balance": done.balance,
    })))
}

fn my_redemptions(kv: &impl Kv, request: &HttpRequest) -> Answer {
    let member = request.member_id()?;
    Ok(HttpResponse::ok(
        json!({ "redemptions": gift::of_member(kv, member, gift::LIST_MOST) }),
    ))
}

fn create_gift(kv: &mut impl Kv, request: &HttpRequest) -> Answer {
    let made = gift::create(kv, &request.fields())?;
    Ok(HttpResponse::created(json!({
        "message": format!("已添加礼品「{}」", made.name),
        "gift": gift::staffed(kv, made),
    })))
}

fn update_gift(kv: &mut impl Kv, request: &HttpRequest) -> Answer {
    let id = request.id_param("id", "礼品")?;
    let saved = gift::update(kv, id, &request.fields())?;
    Ok(HttpResponse::ok(
        json!({ "message": "已保存", "gift": gift::staffed(kv, saved) }),
    ))
}

fn delete_gift(kv: &mut impl Kv, request: &HttpRequest) -> Answer {
    let id = request.id_param("id", "礼品")?;
    let gone = gift::delete(kv, id)?;
    Ok(HttpResponse::ok(
        json!({ "message": format!("已删除礼品「{}」", gone.name) }),
    ))
}

fn campaigns(kv: &impl Kv) -> HttpResponse {
    HttpResponse::ok(json!({ "campaigns": campaign::load_all(kv) }))
}

fn create_campaign(kv: &mut impl Kv, request: &HttpRequest) -> Answer {
    let made = campaign::create(kv, &request.fields())?;
    Ok(HttpResponse::created(json!({
        "message": format!("已添加积分活动「{}」", made.name),
        "campaign": made,
    })))
}

fn update_campaign(kv: &mut impl Kv, request: &HttpRequest) -> Answer {
    let id = request.id_param("id", "积分活动")?;
    let saved = campaign::update(kv, id, &request.fields())?;
    Ok(HttpResponse::ok(
        json!({ "message": "已保存", "campaign": saved }),
    ))
}

fn delete_campaign(kv: &mut impl Kv, request: &HttpRequest) -> Answer {
    let id = request.id_param("id", "积分活动")?;
    let gone = campaign::delete(kv, id)?;
    Ok(HttpResponse::ok(
        json!({ "message": format!("已删除积分活动「{}」", gone.name) }),
    ))
}

/// `?status=` (default `pending`).
pub fn status_query(request: &HttpRequest) -> Result<Status, HttpResponse> {
    match request.query.get("status").map(String::as_str) {
        None | Some("") => Ok(Status::Pending),
        Some(text) => Status::parse(text).ok_or_else(|| {
            refused(
                "status",
                "应为 pending、approved、shipped、rejected、issued、sent 之一 (one of the statuses)",
            )
        }),
    }
}

fn redemptions(kv: &impl Kv, request: &HttpRequest) -> Answer {
    let status = status_query(request)?;
    Ok(HttpResponse::ok(json!({
        "status": status,
        "redemptions": gift::by_status(kv, status, gift::LIST_MOST),
    })))
}

fn redemption_id(request: &HttpRequest) -> Result<String, HttpResponse> {
    request
        .params
        .get("id")
        .filter(|id| gift::parse_id(id).is_some())
        .cloned()
        .ok_or_else(|| HttpResponse::not_found("兑换单"))
}

fn approve(kv: &mut impl Kv, request: &HttpRequest) -> Answer {
    let done = gift::approve(kv, &redemption_id(request)?, request.now_ms)?;
    Ok(HttpResponse::ok(
        json!({ "message": format!("兑换单{}已审核通过，待发货", done.id), "redemption": done }),
    ))
}

fn ship(kv: &mut (impl Kv + Emit), request: &HttpRequest) -> Answer {
    let done = gift::ship(
        kv,
        &redemption_id(request)?,
        &request.fields(),
        request.now_ms,
    )?;
    Ok(HttpResponse::ok(
        json!({ "message": format!("兑换单{}已发货", done.id), "redemption": done }),
    ))
}

fn reject(kv: &mut (impl Kv + Emit), request: &HttpRequest) -> Answer {
    let done = gift::reject(
        kv,
        &redemption_id(request)?,
        &request.fields(),
        request.now_ms,
    )?;
    Ok(HttpResponse::ok(
        json!({ "message": format!("兑换单{}已驳回，积分已退回", done.id), "redemption": done }),
    ))
}

/// Statistics (H4) and the gifts by popularity.
pub fn stats_answer(kv: &impl Kv) -> HttpResponse {
    let mut gifts: Vec<gift::Staffed> = gift::load_all(kv)
        .into_iter()
        .map(|g| gift::staffed(kv, g))
        .collect();
    gifts.sort_by_key(|g| (std::cmp::Reverse(g.redeemed), g.gift.id));
    HttpResponse::ok(json!({
        "stats": stats::read(kv),
        "pending_redemptions": gift::count_by_status(kv, Status::Pending),
        "approved_redemptions": gift::count_by_status(kv, Status::Approved),
        "gifts": gifts,
    }))
}

fn member_field(request: &HttpRequest) -> Result<i64, HttpResponse> {
    request.fields().int("member_id", 1, i64::MAX)
}

/// 管理员调整: adds (in a lot that expires like earned points) or deducts (never below zero:
/// a deduction beyond the balance is refused).
fn adjust(
    kv: &mut (impl Kv + Emit),
    request: &HttpRequest,
    member: Result<i64, HttpResponse>,
) -> Answer {
    let member = member?;
    let fields = request.fields();
    let change = fields.int("change", -gift::MAX_POINTS, gift::MAX_POINTS)?;
    if change == 0 {
        return Err(refused("change", "调整的积分不能为0 (must not be 0)"));
    }
    let reason = fields.text("reason", 100)?;
    let now = request.now_ms;
    let balance = if change > 0 {
        let balance = account::add_points(
            kv,
            member,
            change,
            now,
            Settings::of(&request.settings),
            account::SOURCE_ADJUSTED,
            &reason,
        )
        .map_err(storage_failed)?;
        stats::add(kv, stats::ADJUSTED_IN, change).map_err(storage_failed)?;
        balance
    } else {
        let seq = account::next_seq(kv, member).map_err(storage_failed)?;
        let taken = account::take_points(
            kv,
            member,
            -change,
            seq,
            now,
            account::SOURCE_ADJUSTED,
            &reason,
        )
        .map_err(storage_failed)?;
        let Some(balance) = taken else {
            return Err(HttpResponse::conflict(
                "insufficient_points",
                &format!(
                    "会员积分不足，当前{}分 (not enough points)",
                    account::balance(kv, member)
                ),
            ));
        };
        stats::add(kv, stats::ADJUSTED_OUT, -change).map_err(storage_failed)?;
        balance
    };
    let signed = if change > 0 {
        format!("+{change}")
    } else {
        change.to_string()
    };
    kv.emit(
        "points_adjusted",
        &json!({
            "member_id": member,
            "change": change,
            "balance": balance,
            "text": format!("您的积分已调整{signed}，原因：{reason}，当前积分{balance}"),
        }),
    )
    .map_err(storage_failed)?;
    Ok(HttpResponse::ok(json!({
        "message": format!("已为会员{member}调整积分{signed}，当前积分{balance}"),
        "member_id": member,
        "balance": balance,
    })))
}

#[cfg(test)]
pub mod tests {
    use std::collections::BTreeMap;

    use pifa_sdk::{Buyer, Caller, MemoryKv};

    use super::*;
    use crate::account::balance_key;
    use crate::gift::tests::physical;

    pub const NOW: i64 = 1_800_000_000_000;

    pub fn staff(method: &str, route: &str, params: &[(&str, &str)], body: Value) -> HttpRequest {
        HttpRequest {
            method: method.to_owned(),
            route: route.to_owned(),
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            query: BTreeMap::new(),
            body,
            caller: Caller {
                user_id: Some(1),
                roles: vec!["admin".to_owned()],
                member: None,
                sees_prices: true,
            },
            now_ms: NOW,
            settings: Value::Null,
        }
    }

    pub fn member_request(
        member: i64,
        method: &str,
        route: &str,
        params: &[(&str, &str)],
        body: Value,
    ) -> HttpRequest {
        let mut request = staff(method, route, params, body);
        request.caller = Caller {
            user_id: Some(100 + member),
            roles: vec!["member".to_owned()],
            member: Some(Buyer {
                member_id: member,
                level_id: None,
                region_id: None,
            }),
            sees_prices: true,
        };
        request
    }

    #[test]
    fn a_member_reads_his_points_and_redeems_through_the_api() {
        let mut kv = MemoryKv::default();
        let made = handle(&mut kv, &staff("POST", "/gifts", &[], physical(2)));
        assert_eq!(made.status, 201, "{}", made.body);
        assert_eq!(made.body["message"], "已添加礼品「保温杯」");
        let adjusted = handle(
            &mut kv,
            &staff(
                "POST",
                "/members/{member_id}/adjust",
                &[("member_id", "42")],
                json!({"change": 800, "reason": "老客户回馈"}),
            ),
        );
        assert_eq!(adjusted.status, 200, "{}", adjusted.body);
        assert_eq!(adjusted.body["balance"], 800);
        assert_eq!(
            kv.emitted[0].1["text"],
            "您的积分已调整+800，原因：老客户回馈，当前积分800"
        );

        let body = json!({"name": "张三", "phone": "13800000000", "address": "杭州市"});
        let redeemed = handle(
            &mut kv,
            &member_request(42, "POST", "/gifts/{id}/redeem", &[("id", "1")], body),
        );
        assert_eq!(redeemed.status, 201, "{}", redeemed.body);
        assert_eq!(redeemed.body["message"], "兑换成功，等待审核后发货");
        assert_eq!(redeemed.body["redemption"]["id"], "42-2");

        let mine = handle(
            &mut kv,
            &member_request(42, "GET", "/mine", &[], Value::Null),
        );
        assert_eq!(mine.body["balance"], 300);
        assert_eq!(mine.body["ledger"][0]["source"], "兑换礼品");
        assert_eq!(mine.body["ledger"][1]["source"], "管理员调整");
        assert_eq!(mine.body["expiring_soon"]["points"], 0);
        let listed = handle(
            &mut kv,
            &member_request(42, "GET", "/redemptions/mine", &[], Value::Null),
        );
        assert_eq!(listed.body["redemptions"][0]["status"], "pending");

        let queue = handle(&mut kv, &staff("GET", "/redemptions", &[], Value::Null));
        assert_eq!(queue.body["redemptions"][0]["address"]["name"], "张三");
        let approved = handle(
            &mut kv,
            &staff(
                "POST",
                "/redemptions/{id}/approve",
                &[("id", "42-2")],
                Value::Null,
            ),
        );
        assert_eq!(approved.body["message"], "兑换单42-2已审核通过，待发货");
        let shipped = handle(
            &mut kv,
            &staff(
                "POST",
                "/redemptions/{id}/ship",
                &[("id", "42-2")],
                json!({"carrier": "中通", "tracking": "ZT9"}),
            ),
        );
        assert_eq!(shipped.status, 200, "{}", shipped.body);
        let mut by_status = staff("GET", "/redemptions", &[], Value::Null);
        by_status
            .query
            .insert("status".to_owned(), "shipped".to_owned());
        assert_eq!(
            handle(&mut kv, &by_status).body["redemptions"][0]["tracking"],
            "ZT9"
        );
        by_status
            .query
            .insert("status".to_owned(), "lost".to_owned());
        assert_eq!(handle(&mut kv, &by_status).body["error"]["field"], "status");

        let stats = handle(&mut kv, &staff("GET", "/stats", &[], Value::Null));
        assert_eq!(stats.body["stats"]["used"], 500);
        assert_eq!(stats.body["stats"]["adjusted_in"], 800);
        assert_eq!(stats.body["gifts"][0]["redeemed"], 1);
        assert_eq!(stats.body["gifts"][0]["left"], 1);

        let public = handle(&mut kv, &staff("GET", "/gifts", &[], Value::Null));
        assert_eq!(public.body["gifts"][0]["left"], 1);
        assert_eq!(public.body["gifts"][0]["points"], 500);
    }

    #[test]
    fn staff_deduct_no_more_than_a_member_holds() {
        let mut kv = MemoryKv::default();
        kv.counters.insert(balance_key(42), 100);
        let refused = handle(
            &mut kv,
            &staff(
                "POST",
                "/adjust",
                &[],
                json!({"member_id": "42", "change": "-101", "reason": "纠错"}),
            ),
        );
        assert_eq!(
            (refused.status, refused.body["error"]["code"].as_str()),
            (409, Some("insufficient_points"))
        );
        let done = handle(
            &mut kv,
            &staff(
                "POST",
                "/adjust",
                &[],
                json!({"member_id": "42", "change": "-100", "reason": "纠错"}),
            ),
        );
        assert_eq!(done.body["balance"], 0);
        assert_eq!(stats::read(&kv).adjusted_out, 100);
        let zero = handle(
            &mut kv,
            &staff(
                "POST",
                "/adjust",
                &[],
                json!({"member_id": 42, "change": 0, "reason": "x"}),
            ),
        );
        assert_eq!(zero.body["error"]["field"], "change");
        let nobody = handle(
            &mut kv,
            &staff("POST", "/adjust", &[], json!({"change": 5, "reason": "x"})),
        );
        assert_eq!(nobody.body["error"]["field"], "member_id");
    }

    #[test]
    fn member_routes_need_an_approved_member_and_unknown_routes_are_not_found() {
        let mut kv = MemoryKv::default();
        assert_eq!(
            handle(&mut kv, &staff("GET", "/mine", &[], Value::Null)).status,
            403
        );
        assert_eq!(
            handle(&mut kv, &staff("PATCH", "/gifts", &[], Value::Null)).status,
            404
        );
        assert_eq!(
            handle(
                &mut kv,
                &staff(
                    "POST",
                    "/redemptions/{id}/approve",
                    &[("id", "x")],
                    Value::Null
                )
            )
            .status,
            404
        );
        assert_eq!(
            handle(
                &mut kv,
                &staff("POST", "/gifts/{id}/delete", &[("id", "3")], Value::Null)
            )
            .status,
            404
        );
    }

    #[test]
    fn staff_manage_campaigns_and_gifts_with_forms() {
        let mut kv = MemoryKv::default();
        let made = handle(
            &mut kv,
            &staff(
                "POST",
                "/campaigns",
                &[],
                json!({"name": "新品推广", "starts_at": "2026-12-01T00:00", "ends_at": "2026-12-31T00:00", "extra_per_yuan": "2", "product_ids": "70, 71"}),
            ),
        );
        assert_eq!(made.status, 201, "{}", made.body);
        assert_eq!(
            handle(&mut kv, &staff("GET", "/campaigns", &[], Value::Null)).body["campaigns"][0]["product_ids"],
            json!([70, 71])
        );
        let gone = handle(
            &mut kv,
            &staff(
                "POST",
                "/campaigns/{id}/delete",
                &[("id", "1")],
                Value::Null,
            ),
        );
        assert_eq!(gone.body["message"], "已删除积分活动「新品推广」");
        handle(&mut kv, &staff("POST", "/gifts", &[], physical(2)));
        let mut form = physical(9);
        form["points"] = json!("600");
        form["on_shelf"] = json!("on");
        let saved = handle(&mut kv, &staff("POST", "/gifts/{id}", &[("id", "1")], form));
        assert_eq!(
            (
                saved.body["message"].as_str(),
                saved.body["gift"]["points"].as_i64()
            ),
            (Some("已保存"), Some(600))
        );
        let gone = handle(
            &mut kv,
            &staff("DELETE", "/gifts/{id}", &[("id", "1")], Value::Null),
        );
        assert_eq!(gone.body["message"], "已删除礼品「保温杯」");
    }
}
