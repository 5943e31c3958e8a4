//! Plugins' screens (capability `screens`; REQUIREMENTS G5, H1–H3, M2): with the shipped
//! plugins, the phone app draws a member's 我的积分 and lists the screens placed on 我的; the
//! back office draws 优惠券 with its create form, posted with the session's CSRF token and
//! answered with the plugin's words; a plain JSON route is never drawn, a member has no back
//! office, entries leave with their plugin; checkout offers the member's coupon and orders
//! with it.

use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp, plugin_component};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const HARD_HAT_RED: &str = "6901234500011";

/// The shipped `plugins.toml` with this build's components, deadlines generous for a loaded
/// test machine, `except` left out.
fn shipped_plugins(except: &[&str]) -> anyhow::Result<String> {
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins.toml"),
    )?;
    let mut out = String::new();
    for entry in shipped.split("[[plugin]]").skip(1) {
        let name = entry
            .lines()
            .find_map(|l| l.strip_prefix("name = "))
            .map(|n| n.trim().trim_matches('"').to_owned())
            .unwrap_or_default();
        // The header's commented example of a native entry names no plugin.
        if name.is_empty() || except.contains(&name.as_str()) {
            continue;
        }
        out.push_str("[[plugin]]\n");
        for line in entry.lines().filter(|l| !l.starts_with('#')) {
            if line.starts_with("component = ") {
                out.push_str(&format!(
                    "component = {:?}\n",
                    plugin_component(&name).display().to_string()
                ));
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out.push_str(
        "\n[limits]\ndeadline_ms = 30000\nmember_deadline_ms = 30000\nhost_call_ms = 30000\n",
    );
    Ok(out)
}

/// A browser of the shop: keeps its cookies, follows no redirects.
fn browser() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

async fn signed_in(app: &TestApp, phone: &str) -> anyhow::Result<reqwest::Client> {
    let client = browser()?;
    let response = client
        .post(app.url("/login"))
        .form(&[("phone", phone), ("password", PASSWORD), ("next", "/")])
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == StatusCode::SEE_OTHER,
        "sign-in {phone}"
    );
    Ok(client)
}

/// A page's status, where it redirects, and its HTML with the `/` minijinja escapes in
/// attributes put back.
async fn page(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
) -> anyhow::Result<(StatusCode, Option<String>, String)> {
    answer(client.get(app.url(path)).send().await?).await
}

async fn answer(
    response: reqwest::Response,
) -> anyhow::Result<(StatusCode, Option<String>, String)> {
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let html = response.text().await?.replace("&#x2f;", "/");
    Ok((status, location, html))
}

/// The CSRF token of the first form on a page.
fn csrf_of(html: &str) -> anyhow::Result<String> {
    let at = html
        .find("name=\"csrf_token\" value=\"")
        .ok_or_else(|| anyhow::anyhow!("no CSRF token in the page: {html}"))?;
    let rest = html.get(at + "name=\"csrf_token\" value=\"".len()..);
    rest.and_then(|r| r.split('"').next())
        .filter(|t| t.len() == 64)
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no CSRF token in the page: {html}"))
}

async fn user_id(app: &TestApp, token: &str) -> anyhow::Result<i64> {
    let (_, me) = app.get("/api/v1/me", Some(token)).await?;
    me["id"]
        .as_i64()
        .or_else(|| me["user_id"].as_i64())
        .ok_or_else(|| anyhow::anyhow!("no id in {me}"))
}

/// H1, H2 and the entries: a member's wallet with his balance, 我的 listing the screens
/// placed there for him; a route that is not a screen, or a plugin that is not serving, is
/// no page; a visitor signs in first; entries leave with their plugin.
#[tokio::test]
async fn a_member_opens_his_points_and_finds_the_plugins_on_me() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    app.install_plugins(&shipped_plugins(&[])?).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let token = app.login(MEMBER, PASSWORD).await?;
    let member_id = user_id(&app, &token).await?;
    let (status, body) = app
        .post(
            &format!("/api/v1/plugins/points/members/{member_id}/adjust"),
            Some(&admin),
            &json!({ "change": 1234, "reason": "开业赠送" }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    let member = signed_in(&app, MEMBER).await?;
    let (status, _, html) = page(&member, &app, "/p/points/wallet").await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("<h1 class=\"page-title\">我的积分</h1>"),
        "{html}"
    );
    assert!(html.contains("<dd>1234</dd>"), "the balance: {html}");
    assert!(html.contains("开业赠送"), "the ledger's entry: {html}");
    assert!(
        html.contains("href=\"/p/points/mall\""),
        "a link of the plugin's, on the phone: {html}"
    );

    let (status, _, me) = page(&member, &app, "/me").await?;
    assert_eq!(status, StatusCode::OK);
    for (label, href) in [
        ("积分商城", "/p/points/mall"),
        ("我的积分", "/p/points/wallet"),
        ("我的优惠券", "/p/coupons/wallet"),
    ] {
        assert!(
            me.contains(&format!("<a href=\"{href}\"><span>{label}</span>")),
            "{label} on 我的: {me}"
        );
    }
    // Staff's screens are not a member's.
    assert!(!me.contains("/p/coupons/office"), "{me}");

    // A JSON route of the plugin is not a screen, nor is a plugin that is not serving.
    for path in ["/p/points/gifts", "/p/points/mine", "/p/nothing/wallet"] {
        let (status, _, html) = page(&member, &app, path).await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {html}");
        assert!(!html.contains("\"balance\""), "{path}: {html}");
    }
    // A visitor signs in for his wallet; the gift mall is anyone's.
    let visitor = browser()?;
    let (status, location, _) = page(&visitor, &app, "/p/points/wallet").await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some("/login?next=%2Fp%2Fpoints%2Fwallet")
    );
    let (status, _, html) = page(&visitor, &app, "/p/points/mall").await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("积分商城"), "{html}");

    // Taken out of plugins.toml, its entries and screens go with it.
    app.install_plugins(&shipped_plugins(&["points"])?).await?;
    let (_, _, me) = page(&member, &app, "/me").await?;
    assert!(!me.contains("/p/points/"), "{me}");
    assert!(me.contains("/p/coupons/wallet"), "{me}");
    let (status, _, _) = page(&member, &app, "/p/points/wallet").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await
}

/// A plugin route's `member` is a customer of the shop: an account waiting for review is
/// refused `not_approved` (as ordering refuses him) and 我的 offers him none of the member
/// screens, while the public gift mall stays his; approved, he is served.
#[tokio::test]
async fn a_member_waiting_for_review_gets_no_member_route_of_a_plugin() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    app.install_plugins(&shipped_plugins(&[])?).await?;
    let waiting = app.new_member("13912345600").await?;
    let (status, body) = app
        .get("/api/v1/plugins/points/mine", Some(&waiting))
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "not_approved", "{body}");
    assert!(body.get("balance").is_none(), "{body}");
    let (status, body) = app
        .get("/api/v1/plugins/points/gifts", Some(&waiting))
        .await?;
    assert_eq!(status, StatusCode::OK, "a public route is anyone's: {body}");

    let client = browser()?;
    let response = client
        .post(app.url("/login"))
        .form(&[
            ("phone", "13912345600"),
            ("password", "member2026"),
            ("next", "/"),
        ])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, _, me) = page(&client, &app, "/me").await?;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert!(!me.contains("/p/points/wallet"), "{me}");
    assert!(!me.contains("/p/coupons/wallet"), "{me}");
    assert!(me.contains("/p/points/mall"), "the public mall stays: {me}");
    let (status, _, html) = page(&client, &app, "/p/points/wallet").await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(!html.contains("<dd>0</dd>"), "no balance drawn: {html}");

    let member = app.login(MEMBER, PASSWORD).await?;
    let (status, body) = app
        .get("/api/v1/plugins/points/mine", Some(&member))
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.stop().await
}

/// G5 in the back office: 优惠券 under 营销插件 in the menu; the create form posts with the
/// session's token and comes back to the list with the plugin's words; a refusal draws the
/// form again with the words beside its field and what was typed; a form without the token,
/// a forged notice and a way out of the plugin are refused; a member has no back office.
#[tokio::test]
async fn an_admin_creates_a_coupon_through_the_office_screen() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    app.install_plugins(&shipped_plugins(&[])?).await?;
    let admin = signed_in(&app, ADMIN).await?;
    let (status, _, html) = page(&admin, &app, "/admin/p/coupons/office").await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<h1>优惠券</h1>"), "{html}");
    assert!(html.contains("营销插件"), "the menu's heading: {html}");
    assert!(
        html.contains("href=\"/admin/p/points/office\""),
        "the other plugins' office screens in the menu: {html}"
    );
    assert!(
        html.contains("还没有优惠券，用下面的表单创建"),
        "the empty table: {html}"
    );
    assert!(
        html.contains("action=\"/admin/p/coupons/templates\""),
        "{html}"
    );
    let csrf = csrf_of(&html)?;
    let form = |name: &str, csrf: &str, back: &str| {
        vec![
            ("csrf_token".to_owned(), csrf.to_owned()),
            ("_back".to_owned(), back.to_owned()),
            ("_screen".to_owned(), "/admin/p/coupons/office".to_owned()),
            ("name".to_owned(), name.to_owned()),
            ("kind".to_owned(), "reduce".to_owned()),
            ("amount_fen".to_owned(), "30".to_owned()),
            ("threshold_fen".to_owned(), "300".to_owned()),
            ("scope".to_owned(), "all".to_owned()),
            ("validity".to_owned(), "days".to_owned()),
            ("valid_days".to_owned(), "7".to_owned()),
            ("total".to_owned(), "100".to_owned()),
            ("per_member".to_owned(), "1".to_owned()),
            ("claimable".to_owned(), "on".to_owned()),
        ]
    };
    let post = |fields: Vec<(String, String)>| {
        let admin = admin.clone();
        let url = app.url("/admin/p/coupons/templates");
        async move { answer(admin.post(url).form(&fields).send().await?).await }
    };

    // Without the session's token: refused, nothing made.
    let (status, _, _) = post(form("偷偷建", "forged", "/admin/p/coupons/office")).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, location, body) = post(form("周末满减", &csrf, "/admin/p/coupons/office")).await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let location = location.unwrap_or_default();
    assert!(
        location.starts_with("/admin/p/coupons/office?_said="),
        "{location}"
    );
    let (status, _, html) = page(&admin, &app, &location).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<p class=\"notice\" role=\"status\">已创建优惠券「周末满减」</p>"),
        "the plugin's words: {html}"
    );
    assert!(
        html.contains("<a href=\"/admin/p/coupons/templates/1\">周末满减</a>"),
        "listed, its row a link to its screen: {html}"
    );
    assert!(!html.contains("偷偷建"), "{html}");
    let (_, listed) = app
        .get(
            "/api/v1/plugins/coupons/templates",
            Some(&app.login(ADMIN, PASSWORD).await?),
        )
        .await?;
    assert_eq!(listed["templates"].as_array().map(Vec::len), Some(1));

    // Words that were not sealed by this session are not shown.
    let (status, _, html) = page(
        &admin,
        &app,
        "/admin/p/coupons/office?_said=%E8%AF%B7%E8%BD%AC%E8%B4%A6&_seal=00",
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("请转账"), "{html}");

    // A way out of the plugin's screens goes back to the form's screen instead.
    let (status, location, _) = post(form("第二张", &csrf, "https://evil.example/")).await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location
            .as_deref()
            .is_some_and(|l| l.starts_with("/admin/p/coupons/office?")),
        "{location:?}"
    );

    // The plugin refuses a form without a name: the screen again, the words by the field,
    // what was typed kept.
    let (status, _, html) = post(form("", &csrf, "/admin/p/coupons/office")).await?;
    assert!(status.is_client_error(), "{status}: {html}");
    assert!(html.contains("<h1>优惠券</h1>"), "{html}");
    assert!(html.contains("class=\"alert\" role=\"alert\""), "{html}");
    assert!(
        html.contains("class=\"field-error\" role=\"alert\""),
        "beside the field: {html}"
    );
    assert!(
        html.contains("name=\"valid_days\" type=\"number\" step=\"1\" value=\"7\""),
        "as typed: {html}"
    );

    // A member has no back office, and staff's screens refuse him on the phone too.
    let member = signed_in(&app, MEMBER).await?;
    for path in ["/admin/p/coupons/office", "/p/coupons/office"] {
        let (status, _, html) = page(&member, &app, path).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {html}");
        assert!(!html.contains("周末满减"), "{path}: {html}");
    }
    app.stop().await
}

/// G5 at checkout: the coupon the member holds is offered as a choice with the plugins'
/// notes near the totals; 更新 quotes with it (a GET carrying it), and the order placed with
/// it costs what that quote said, less than without.
#[tokio::test]
async fn checkout_offers_the_members_coupon_and_orders_with_it() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    app.install_plugins(&shipped_plugins(&[])?).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let token = app.login(MEMBER, PASSWORD).await?;
    let (status, created) = app
        .post(
            "/api/v1/plugins/coupons/templates",
            Some(&admin),
            &json!({
                "name": "开业券", "kind": "reduce", "amount_fen": 1000, "threshold_fen": 0,
                "validity": "days", "valid_days": 7, "total": 10, "per_member": 1,
                "claimable": true
            }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let template = created["template"]["id"].as_i64().unwrap_or_default();
    let (status, claimed) = app
        .post(
            &format!("/api/v1/plugins/coupons/templates/{template}/claim"),
            Some(&token),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{claimed}");
    let coupon = claimed["coupon"]["id"].as_i64().unwrap_or_default();
    let red = app.sku_id(HARD_HAT_RED).await?;
    let (status, body) = app
        .post(
            "/api/v1/cart/items",
            Some(&token),
            &json!({ "items": [{ "sku_id": red, "qty": 20 }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let quote = |options: Value| {
        let token = token.clone();
        let app = &app;
        async move {
            let (status, quote) = app
                .post(
                    "/api/v1/orders/quote",
                    Some(&token),
                    &json!({ "delivery_method": "pickup", "plugin_options": options }),
                )
                .await?;
            anyhow::ensure!(status == StatusCode::OK, "{quote}");
            Ok::<_, anyhow::Error>(quote["total_fen"].as_i64().unwrap_or(-1))
        }
    };
    let without = quote(json!({})).await?;
    let with = quote(json!({ "coupons": { "coupon_id": coupon.to_string() } })).await?;
    assert_eq!(with, without - 1000, "the coupon takes ¥10.00 off");

    let member = signed_in(&app, MEMBER).await?;
    let (status, _, html) = page(&member, &app, "/checkout?delivery=pickup").await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("name=\"opt.coupons.coupon_id\""),
        "the coupon select: {html}"
    );
    assert!(
        html.contains(&format!("<option value=\"{coupon}\">")),
        "the member's coupon: {html}"
    );
    assert!(
        html.contains("有1张优惠券可用"),
        "the plugin's note: {html}"
    );
    assert!(html.contains(&pifa::money::format_price(without)), "{html}");
    let csrf = csrf_of(&html)?;
    let key = html
        .split("name=\"idempotency_key\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_owned();
    let coupon_id = coupon.to_string();
    let fields = |requote: bool| {
        let mut fields = vec![
            ("csrf_token", csrf.as_str()),
            ("idempotency_key", key.as_str()),
            ("delivery_method", "pickup"),
            ("payment_method", "cash_on_delivery"),
            ("opt.coupons.coupon_id", coupon_id.as_str()),
        ];
        if requote {
            fields.push(("requote", "1"));
        }
        fields
    };

    // 更新: the page quoted again with the coupon, as a GET carrying it.
    let (status, location, _) = answer(
        member
            .post(app.url("/checkout"))
            .form(&fields(true))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap_or_default();
    assert!(
        location.contains(&format!("opt.coupons.coupon_id={coupon}")),
        "{location}"
    );
    let (status, _, html) = page(&member, &app, &location).await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains(&format!("<option value=\"{coupon}\" selected>")),
        "{html}"
    );
    assert!(html.contains(&pifa::money::format_price(with)), "{html}");
    let (_, orders) = app.get("/api/v1/orders?limit=100", Some(&token)).await?;
    assert_eq!(
        orders.as_array().map(Vec::len),
        Some(0),
        "更新 orders nothing"
    );

    // 提交订单 with it: the order costs what that quote said.
    let (status, location, body) = answer(
        member
            .post(app.url("/checkout"))
            .form(&fields(false))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let id: i64 = location
        .as_deref()
        .and_then(|l| l.strip_prefix("/orders/"))
        .and_then(|l| l.strip_suffix("/placed"))
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("the confirmation: {location:?}"))?;
    let (_, order) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&token))
        .await?;
    assert_eq!(order["total_fen"].as_i64(), Some(with), "{order}");
    app.stop().await
}
