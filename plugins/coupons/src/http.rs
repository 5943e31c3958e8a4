//! The plugin's routes under `/api/v1/plugins/coupons` (declared with their roles in
//! `manifest.rs`; the kernel checks the roles before calling): staff manage templates and
//! issue coupons, members claim and list theirs, the storefront reads 领券中心. Every `POST` a
//! screen's form or button uses answers `{"message": …}` (REQUIREMENTS G5, H3).

use pifa_sdk::input::refused;
use pifa_sdk::{HttpRequest, HttpResponse, Kv};
use serde_json::{Value, json};

use crate::issue::{self, MAX_ISSUE_MEMBERS, Refusal};
use crate::model::{
    self, Coupon, MAX_TEMPLATE_ID, MAX_TEMPLATES, TEMPLATE_COUNT, TEMPLATE_SEQ, Template,
    issued_key, last_day, take_next, template_key, used_total_key,
};
use crate::{screens, terms};

pub fn handle(kv: &mut impl Kv, request: &HttpRequest) -> HttpResponse {
    let response = match (request.method.as_str(), request.route.as_str()) {
        ("GET", "/templates") => Ok(list(kv)),
        ("POST", "/templates") => create(kv, request),
        // PUT for the API; POST for the detail screen's form (forms post).
        ("PUT" | "POST", "/templates/{id}") => update(kv, request),
        ("POST", "/templates/{id}/end") => end(kv, request),
        ("POST", "/templates/{id}/delete") => delete(kv, request),
        ("POST", "/templates/{id}/issue") => staff_issue(kv, request),
        ("POST", "/templates/{id}/claim") => claim(kv, request),
        ("GET", "/mine") => mine(kv, request),
        ("GET", "/center") => Ok(center(kv, request)),
        ("GET", "/wallet") => screens::wallet(kv, request),
        ("GET", "/claim") => Ok(screens::claim_center(kv, request)),
        ("GET", "/office") => Ok(screens::office(kv, request)),
        ("GET", "/templates/{id}") => screens::detail(kv, request),
        _ => Err(HttpResponse::error(
            404,
            "not_found",
            None,
            "没有这个接口 (no such route)",
        )),
    };
    response.unwrap_or_else(|refusal| refusal)
}

pub fn template_view(kv: &impl Kv, template: &Template) -> Value {
    let issued = kv.counter(&issued_key(template.id));
    let mut view = serde_json::to_value(template).unwrap_or_default();
    if let Some(object) = view.as_object_mut() {
        object.insert("issued".to_owned(), json!(issued));
        object.insert(
            "used".to_owned(),
            json!(kv.counter(&used_total_key(template.id))),
        );
        object.insert(
            "remaining".to_owned(),
            json!(template.total.saturating_sub(issued).max(0)),
        );
        object.insert("rule_text".to_owned(), json!(template.rule_text()));
        object.insert("scope_text".to_owned(), json!(template.scope_text()));
        object.insert("validity_text".to_owned(), json!(template.validity_text()));
    }
    view
}

pub fn coupon_view(
    kv: &impl Kv,
    coupon: &Coupon,
    template: Option<&Template>,
    now_ms: i64,
) -> Value {
    let status = model::status(kv, coupon, template, now_ms);
    let mut view = serde_json::to_value(coupon).unwrap_or_default();
    if let Some(object) = view.as_object_mut() {
        object.insert("name".to_owned(), json!(template.map(|t| t.name.clone())));
        object.insert(
            "rule_text".to_owned(),
            json!(template.map(Template::rule_text)),
        );
        object.insert(
            "scope_text".to_owned(),
            json!(template.map(Template::scope_text)),
        );
        object.insert(
            "last_day".to_owned(),
            json!(last_day(coupon.valid_until_ms)),
        );
        object.insert("status".to_owned(), json!(status));
        object.insert("status_text".to_owned(), json!(status.label()));
    }
    view
}

fn list(kv: &impl Kv) -> HttpResponse {
    let templates: Vec<Value> = model::all_templates(kv)
        .iter()
        .map(|template| template_view(kv, template))
        .collect();
    HttpResponse::ok(json!({ "templates": templates }))
}

fn storage_failed(message: String) -> HttpResponse {
    HttpResponse::storage_failed(message)
}

fn existing(kv: &impl Kv, request: &HttpRequest) -> Result<Template, HttpResponse> {
    let id = request.id_param("id", "优惠券模板")?;
    model::load_template(kv, id).ok_or_else(|| HttpResponse::not_found("优惠券模板"))
}

fn create(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let terms = terms::parse(&request.body)?;
    if kv
        .add_bounded(TEMPLATE_COUNT, 1, 0, MAX_TEMPLATES)
        .map_err(storage_failed)?
        .is_none()
    {
        return Err(HttpResponse::conflict(
            "too_many_templates",
            &format!(
                "最多{MAX_TEMPLATES}个优惠券模板，请先删除已结束的模板 (at most {MAX_TEMPLATES} templates: delete ended ones first)"
            ),
        ));
    }
    let id = take_next(kv, TEMPLATE_SEQ, MAX_TEMPLATE_ID)
        .map_err(storage_failed)?
        .ok_or_else(|| {
            HttpResponse::conflict(
                "template_ids_exhausted",
                "优惠券模板编号已用完 (the template ids are exhausted)",
            )
        })?;
    let template = terms.into_template(id, request.now_ms);
    model::save_template(kv, &template).map_err(storage_failed)?;
    Ok(HttpResponse::created(json!({
        "message": format!("已创建优惠券「{}」", template.name),
        "template": template_view(kv, &template),
    })))
}

fn update(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let current = existing(kv, request)?;
    if current.ended {
        return Err(HttpResponse::conflict(
            "ended",
            "优惠券已结束，不能修改 (the template has ended)",
        ));
    }
    let mut template =
        terms::parse(&request.body)?.into_template(current.id, current.created_at_ms);
    template.ended = false;
    let issued = kv.counter(&issued_key(current.id));
    if issued > 0 && !template.same_rule(&current) {
        return Err(HttpResponse::conflict(
            "rule_fixed",
            "已发放过的优惠券不能修改优惠规则、门槛和适用范围；可修改名称、总量、每人限领、有效期和是否可领取 (coupons were issued: the rule and scope are fixed)",
        ));
    }
    if template.total < issued {
        return Err(refused(
            "total",
            &format!("不能少于已发放的{issued}张 (must not be below the {issued} issued)"),
        ));
    }
    model::save_template(kv, &template).map_err(storage_failed)?;
    Ok(HttpResponse::ok(json!({
        "message": "已保存",
        "template": template_view(kv, &template),
    })))
}

/// Ends a template: no more claims or issues, and its coupons stop applying at checkout
/// (orders already placed keep their discount).
fn end(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let mut template = existing(kv, request)?;
    if !template.ended {
        template.ended = true;
        model::save_template(kv, &template).map_err(storage_failed)?;
    }
    Ok(HttpResponse::ok(json!({
        "message": "已结束：不能再领取或发放，未使用的券也已停用",
        "template": template_view(kv, &template),
    })))
}

/// Deletes an ended template, making room under the 200 (its coupons show as 已停用).
fn delete(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let template = existing(kv, request)?;
    if !template.ended {
        return Err(HttpResponse::conflict(
            "not_ended",
            "请先结束优惠券再删除 (end the template before deleting it)",
        ));
    }
    kv.delete(&template_key(template.id))
        .map_err(storage_failed)?;
    kv.add_bounded(TEMPLATE_COUNT, -1, 0, MAX_TEMPLATES)
        .map_err(storage_failed)?;
    Ok(HttpResponse::ok(json!({
        "message": format!("已删除优惠券「{}」", template.name),
    })))
}

fn refusal(refusal: &Refusal) -> HttpResponse {
    match refusal {
        Refusal::Storage(message) => HttpResponse::storage_failed(message),
        other => HttpResponse::conflict(other.code(), &other.message()),
    }
}

fn staff_issue(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let template = existing(kv, request)?;
    let fields = request.fields();
    let member_ids = fields.ids("member_ids", usize::MAX)?;
    if member_ids.is_empty() {
        return Err(refused("member_ids", "请填写会员编号 (required)"));
    }
    if member_ids.len() > MAX_ISSUE_MEMBERS {
        return Err(refused(
            "member_ids",
            &format!(
                "每次最多发给{MAX_ISSUE_MEMBERS}位会员（插件每次调用最多写入100次），请分批发放 (at most {MAX_ISSUE_MEMBERS} members per call: a call may write 100 times)"
            ),
        ));
    }
    let issued = issue::staff_issue(
        kv,
        &template,
        &member_ids,
        request.caller.user_id,
        request.now_ms,
    )
    .map_err(|r| refusal(&r))?;
    let skipped: Vec<Value> = issued
        .skipped
        .iter()
        .map(|(member_id, why)| json!({ "member_id": member_id, "reason": why.message() }))
        .collect();
    let mut message = format!("已发放{}张", issued.coupons.len());
    if !issued.skipped.is_empty() {
        let ids: Vec<String> = issued
            .skipped
            .iter()
            .map(|(id, _)| id.to_string())
            .collect();
        message.push_str(&format!(
            "；会员 {} 已达每人限领{}张，未发放",
            ids.join("、"),
            template.per_member
        ));
    }
    Ok(HttpResponse::ok(json!({
        "message": message,
        "issued": issued.coupons.len(),
        "coupon_ids": issued.coupons.iter().map(|c| c.id).collect::<Vec<i64>>(),
        "skipped": skipped,
    })))
}

fn claim(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let member_id = request.member_id()?;
    let template = existing(kv, request)?;
    if !template.claimable {
        return Err(HttpResponse::conflict(
            "not_claimable",
            "此优惠券不能自行领取 (this coupon cannot be claimed)",
        ));
    }
    let coupon = issue::claim(kv, &template, member_id, request.now_ms).map_err(|r| refusal(&r))?;
    Ok(HttpResponse::created(json!({
        "message": "领取成功",
        "coupon": coupon_view(kv, &coupon, Some(&template), request.now_ms),
    })))
}

fn mine(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let member_id = request.member_id()?;
    let coupons = model::wallet(kv, member_id);
    let templates = model::templates_of(kv, &coupons);
    let views: Vec<Value> = coupons
        .iter()
        .map(|coupon| {
            coupon_view(
                kv,
                coupon,
                templates.get(&coupon.template_id),
                request.now_ms,
            )
        })
        .collect();
    Ok(HttpResponse::ok(json!({ "coupons": views })))
}

/// Templates members may claim now or later: open, not ended, window not over.
pub fn open_for_claims(kv: &impl Kv, now_ms: i64) -> Vec<Template> {
    let mut templates: Vec<Template> = model::all_templates(kv)
        .into_iter()
        .filter(|t| t.claimable && !t.ended && !t.expired(now_ms))
        .collect();
    templates.reverse();
    templates
}

/// 领券中心 for everyone (shared: called without the caller, kept 10 s).
fn center(kv: &impl Kv, request: &HttpRequest) -> HttpResponse {
    let templates: Vec<Value> = open_for_claims(kv, request.now_ms)
        .iter()
        .map(|t| {
            let remaining = t.total.saturating_sub(kv.counter(&issued_key(t.id))).max(0);
            json!({
                "id": t.id,
                "name": t.name,
                "rule_text": t.rule_text(),
                "scope_text": t.scope_text(),
                "validity_text": t.validity_text(),
                "valid_from_ms": t.valid_from_ms,
                "valid_until_ms": t.valid_until_ms,
                "valid_days": t.valid_days,
                "per_member": t.per_member,
                "total": t.total,
                "remaining": remaining,
                "started": t.not_started(request.now_ms).is_none(),
            })
        })
        .collect();
    HttpResponse::ok(json!({ "templates": templates }))
}

#[cfg(test)]
pub mod tests {
    use std::collections::BTreeMap;

    use pifa_sdk::{Buyer, Caller, MemoryKv};

    use super::*;
    use crate::model::DAY_MS;
    use crate::model::tests::NOW;

    pub fn staff(method: &str, route: &str, id: Option<i64>, body: Value) -> HttpRequest {
        HttpRequest {
            method: method.to_owned(),
            route: route.to_owned(),
            params: id
                .map(|id| BTreeMap::from([("id".to_owned(), id.to_string())]))
                .unwrap_or_default(),
            query: BTreeMap::new(),
            body,
            caller: Caller {
                user_id: Some(7),
                roles: vec!["admin".to_owned()],
                member: None,
                sees_prices: true,
            },
            now_ms: NOW,
            settings: Value::Null,
        }
    }

    pub fn member(method: &str, route: &str, id: Option<i64>, member_id: i64) -> HttpRequest {
        let mut request = staff(method, route, id, Value::Null);
        request.caller = Caller {
            user_id: Some(100 + member_id),
            roles: vec!["member".to_owned()],
            member: Some(Buyer {
                member_id,
                level_id: None,
                region_id: None,
            }),
            sees_prices: true,
        };
        request
    }

    pub fn terms_body() -> Value {
        json!({
            "name": "满300减30",
            "kind": "reduce",
            "amount_fen": 3000,
            "threshold_fen": 30000,
            "valid_from_ms": NOW - DAY_MS,
            "valid_until_ms": NOW + 30 * DAY_MS,
            "total": 3,
            "per_member": 1,
            "claimable": true
        })
    }

    pub fn create(kv: &mut MemoryKv, body: Value) -> i64 {
        let response = handle(kv, &staff("POST", "/templates", None, body));
        assert_eq!(response.status, 201, "{}", response.body);
        response.body["template"]["id"].as_i64().unwrap()
    }

    #[test]
    fn staff_create_list_and_update_a_template() {
        let mut kv = MemoryKv::default();
        let id = create(&mut kv, terms_body());
        assert_eq!(id, 1);
        assert!(kv.values.contains_key("template:0001"));
        assert_eq!(kv.counter("templates"), 1);
        let listed = handle(&mut kv, &staff("GET", "/templates", None, Value::Null));
        assert_eq!(listed.body["templates"][0]["rule_text"], "满300减30");
        assert_eq!(listed.body["templates"][0]["issued"], 0);
        assert_eq!(listed.body["templates"][0]["remaining"], 3);

        let mut changed = terms_body();
        changed["amount_fen"] = json!(5000);
        let updated = handle(
            &mut kv,
            &staff("PUT", "/templates/{id}", Some(id), changed.clone()),
        );
        assert_eq!(updated.status, 200, "{}", updated.body);
        assert_eq!(updated.body["message"], "已保存");
        assert_eq!(updated.body["template"]["rule_text"], "满300减50");

        // Once a coupon is out, the rule is fixed but the name and total may change.
        let claimed = handle(
            &mut kv,
            &member("POST", "/templates/{id}/claim", Some(id), 42),
        );
        assert_eq!(claimed.status, 201, "{}", claimed.body);
        changed["amount_fen"] = json!(6000);
        let refused = handle(
            &mut kv,
            &staff("POST", "/templates/{id}", Some(id), changed.clone()),
        );
        assert_eq!(refused.status, 409);
        assert_eq!(refused.body["error"]["code"], "rule_fixed");
        changed["amount_fen"] = json!(5000);
        changed["name"] = json!("店庆券");
        changed["total"] = json!(0);
        let too_few = handle(
            &mut kv,
            &staff("POST", "/templates/{id}", Some(id), changed.clone()),
        );
        assert_eq!(too_few.status, 422);
        changed["total"] = json!(10);
        let renamed = handle(
            &mut kv,
            &staff("POST", "/templates/{id}", Some(id), changed.clone()),
        );
        assert_eq!(renamed.status, 200, "{}", renamed.body);
        assert_eq!(renamed.body["template"]["name"], "店庆券");
        assert_eq!(renamed.body["template"]["issued"], 1);
    }

    #[test]
    fn at_most_two_hundred_templates_and_only_ended_ones_are_deleted() {
        let mut kv = MemoryKv::default();
        kv.counters
            .insert("templates".to_owned(), MAX_TEMPLATES - 1);
        let id = create(&mut kv, terms_body());
        let refused = handle(&mut kv, &staff("POST", "/templates", None, terms_body()));
        assert_eq!(refused.status, 409);
        assert_eq!(refused.body["error"]["code"], "too_many_templates");

        let not_ended = handle(
            &mut kv,
            &staff("POST", "/templates/{id}/delete", Some(id), Value::Null),
        );
        assert_eq!(not_ended.status, 409);
        let ended = handle(
            &mut kv,
            &staff("POST", "/templates/{id}/end", Some(id), Value::Null),
        );
        assert_eq!(ended.status, 200);
        assert_eq!(ended.body["template"]["ended"], true);
        let edit = handle(
            &mut kv,
            &staff("PUT", "/templates/{id}", Some(id), terms_body()),
        );
        assert_eq!(edit.body["error"]["code"], "ended");
        let deleted = handle(
            &mut kv,
            &staff("POST", "/templates/{id}/delete", Some(id), Value::Null),
        );
        assert_eq!(deleted.status, 200);
        assert!(
            deleted.body["message"]
                .as_str()
                .unwrap()
                .starts_with("已删除")
        );
        assert!(!kv.values.contains_key("template:0001"));
        assert_eq!(kv.counter("templates"), MAX_TEMPLATES - 1);
        assert_eq!(create(&mut kv, terms_body()), 2);
    }

    #[test]
    fn members_claim_with_clear_refusals() {
        let mut kv = MemoryKv::default();
        let id = create(&mut kv, terms_body());
        let first = handle(
            &mut kv,
            &member("POST", "/templates/{id}/claim", Some(id), 42),
        );
        assert_eq!(first.status, 201);
        assert_eq!(first.body["message"], "领取成功");
        assert_eq!(first.body["coupon"]["id"], 420_001_001);
        assert_eq!(first.body["coupon"]["status"], "usable");
        let again = handle(
            &mut kv,
            &member("POST", "/templates/{id}/claim", Some(id), 42),
        );
        assert_eq!(again.status, 409);
        assert_eq!(
            again.body["error"]["message"],
            "每人限领1张 (at most 1 per member)"
        );
        for member_id in [43, 44] {
            assert_eq!(
                handle(
                    &mut kv,
                    &member("POST", "/templates/{id}/claim", Some(id), member_id)
                )
                .status,
                201
            );
        }
        let gone = handle(
            &mut kv,
            &member("POST", "/templates/{id}/claim", Some(id), 45),
        );
        assert_eq!(gone.status, 409);
        assert_eq!(gone.body["error"]["code"], "sold_out");
        assert_eq!(
            gone.body["error"]["message"],
            "已领完 (all coupons have been issued)"
        );

        let mut hidden = terms_body();
        hidden["claimable"] = json!(false);
        let hidden = create(&mut kv, hidden);
        let refused = handle(
            &mut kv,
            &member("POST", "/templates/{id}/claim", Some(hidden), 42),
        );
        assert_eq!(refused.body["error"]["code"], "not_claimable");
        let mut not_a_member = member("POST", "/templates/{id}/claim", Some(id), 42);
        not_a_member.caller.member = None;
        assert_eq!(handle(&mut kv, &not_a_member).status, 403);
        assert_eq!(
            handle(
                &mut kv,
                &member("POST", "/templates/{id}/claim", Some(99), 42)
            )
            .status,
            404
        );
    }

    #[test]
    fn staff_issue_to_a_group_says_who_was_skipped() {
        let mut kv = MemoryKv::default();
        let mut body = terms_body();
        body["total"] = json!(100);
        body["claimable"] = json!(false);
        let id = create(&mut kv, body);
        let first = handle(
            &mut kv,
            &staff(
                "POST",
                "/templates/{id}/issue",
                Some(id),
                json!({"member_ids": "42, 43"}),
            ),
        );
        assert_eq!(first.status, 200, "{}", first.body);
        assert_eq!(first.body["message"], "已发放2张");
        let second = handle(
            &mut kv,
            &staff(
                "POST",
                "/templates/{id}/issue",
                Some(id),
                json!({"member_ids": [43, 44]}),
            ),
        );
        assert_eq!(second.body["issued"], 1);
        assert_eq!(second.body["skipped"][0]["member_id"], 43);
        assert_eq!(
            second.body["message"],
            "已发放1张；会员 43 已达每人限领1张，未发放"
        );

        let too_many: Vec<i64> = (1..=50).collect();
        let refused = handle(
            &mut kv,
            &staff(
                "POST",
                "/templates/{id}/issue",
                Some(id),
                json!({"member_ids": too_many}),
            ),
        );
        assert_eq!(refused.status, 422);
        assert!(
            refused.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("最多写入100次")
        );
        let empty = handle(
            &mut kv,
            &staff(
                "POST",
                "/templates/{id}/issue",
                Some(id),
                json!({"member_ids": ""}),
            ),
        );
        assert_eq!(empty.body["error"]["field"], "member_ids");
    }

    #[test]
    fn a_member_lists_his_coupons_with_their_status() {
        let mut kv = MemoryKv::default();
        let id = create(&mut kv, terms_body());
        handle(
            &mut kv,
            &member("POST", "/templates/{id}/claim", Some(id), 42),
        );
        let mine = handle(&mut kv, &member("GET", "/mine", None, 42));
        assert_eq!(mine.status, 200);
        let coupon = &mine.body["coupons"][0];
        assert_eq!(coupon["name"], "满300减30");
        assert_eq!(coupon["status_text"], "可使用");
        assert_eq!(coupon["last_day"], "2026-01-31");
        kv.counters.insert("used:420001001".to_owned(), 1);
        let mine = handle(&mut kv, &member("GET", "/mine", None, 42));
        assert_eq!(mine.body["coupons"][0]["status"], "used");
        let others = handle(&mut kv, &member("GET", "/mine", None, 43));
        assert_eq!(others.body["coupons"], json!([]));
    }

    #[test]
    fn the_center_lists_open_claimable_templates_newest_first() {
        let mut kv = MemoryKv::default();
        let first = create(&mut kv, terms_body());
        let mut over = terms_body();
        over["valid_until_ms"] = json!(NOW);
        create(&mut kv, over);
        let mut hidden = terms_body();
        hidden["claimable"] = json!(false);
        create(&mut kv, hidden);
        let mut later = terms_body();
        later["valid_from_ms"] = json!(NOW + DAY_MS);
        later["valid_until_ms"] = json!(NOW + 2 * DAY_MS);
        let later = create(&mut kv, later);
        handle(
            &mut kv,
            &member("POST", "/templates/{id}/claim", Some(first), 42),
        );
        let mut public = staff("GET", "/center", None, Value::Null);
        public.caller = Caller::default();
        let center = handle(&mut kv, &public);
        let ids: Vec<i64> = center.body["templates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![later, first]);
        assert_eq!(center.body["templates"][1]["remaining"], 2);
        assert_eq!(center.body["templates"][0]["started"], false);
    }

    #[test]
    fn every_declared_route_is_served() {
        let mut kv = MemoryKv::default();
        let id = create(&mut kv, terms_body());
        for route in crate::manifest::manifest().routes {
            let mut request = member(&route.method, &route.path, Some(id), 42);
            request.caller.roles.push("admin".to_owned());
            request.body = json!({"member_ids": [43]});
            let response = handle(&mut kv, &request);
            assert_ne!(
                response.body["error"]["message"], "没有这个接口 (no such route)",
                "{} {}",
                route.method, route.path
            );
        }
    }

    #[test]
    fn unknown_templates_and_routes_are_not_found() {
        let mut kv = MemoryKv::default();
        for (method, route) in [
            ("PUT", "/templates/{id}"),
            ("POST", "/templates/{id}/end"),
            ("POST", "/templates/{id}/issue"),
            ("GET", "/templates/{id}"),
            ("DELETE", "/templates/{id}"),
        ] {
            let response = handle(&mut kv, &staff(method, route, Some(3), terms_body()));
            assert_eq!(response.status, 404, "{method} {route}");
            assert_eq!(response.body["error"]["code"], "not_found");
        }
    }
}
