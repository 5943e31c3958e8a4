//! The storefront's pages and the theme host (REQUIREMENTS J2, M5; issue 18): HTML from the
//! active theme, the same price rules as the API, hot reload that keeps the last good set, a
//! theme switch without a restart, and fingerprinted assets.

use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp, error_code, eventually};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, LOCATION};
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const HARD_HAT_RED: &str = "6901234500011";
const HARD_HAT_YELLOW: &str = "6901234500028";
const COATING_GREY: &str = "6901234500066";

/// A browser of the shop: keeps its cookies, follows no redirects (a test looks at them).
fn browser() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

async fn page(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
) -> anyhow::Result<(StatusCode, String)> {
    let response = client.get(app.url(path)).send().await?;
    let status = response.status();
    Ok((status, response.text().await?))
}

/// Signs in through the page's form; the browser keeps the session cookie.
async fn sign_in(client: &reqwest::Client, app: &TestApp, phone: &str) -> anyhow::Result<()> {
    let response = client
        .post(app.url("/login"))
        .form(&[("phone", phone), ("password", PASSWORD), ("next", "/")])
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == StatusCode::SEE_OTHER,
        "sign-in: {} {}",
        response.status(),
        response.text().await?
    );
    Ok(())
}

/// The value of `attribute="…"` on the first tag that has `needle` in it.
fn attribute_near(html: &str, needle: &str, attribute: &str) -> Option<String> {
    let at = html.find(needle)?;
    let tag_start = html.get(..at)?.rfind('<')?;
    let tag = html.get(tag_start..)?.split('>').next()?;
    let value = tag.split(&format!("{attribute}=\"")).nth(1)?;
    value.split('"').next().map(str::to_owned)
}

#[tokio::test]
async fn the_home_page_shows_the_shop_and_only_the_prices_the_api_shows() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let visitor = browser()?;
    let response = visitor.get(app.url("/")).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers().get(CONTENT_TYPE).cloned();
    assert_eq!(
        content_type.as_ref().and_then(|v| v.to_str().ok()),
        Some("text/html; charset=utf-8")
    );
    assert!(
        response
            .headers()
            .get("content-security-policy")
            .is_some_and(|v| v.to_str().unwrap_or("").contains("default-src 'none'"))
    );
    let html = response.text().await?;
    assert!(html.contains("<html lang=\"zh-CN\">"), "{html}");
    assert!(html.contains("name=\"viewport\""));
    assert!(
        html.contains("安达劳保五金批发"),
        "the shop's name from the settings"
    );
    assert!(html.contains("action=\"/search\""), "a search box");
    // The shop is internal (B2): a visitor sees goods, and no price anywhere.
    let (_, products) = app.get("/api/v1/products?limit=12", None).await?;
    let first = products[0]["name"].as_str().unwrap_or("?");
    assert!(html.contains(first), "the goods on the shelf: {first}");
    assert!(products[0]["skus"][0].get("price").is_none());
    assert!(!html.contains('¥'), "no price for a visitor: {html}");
    assert!(!html.contains("class=\"price\""));

    // An approved member sees his prices: the ones the API gives him.
    let member = browser()?;
    sign_in(&member, &app, MEMBER).await?;
    let (status, html) = page(&member, &app, "/?notice=signed_in").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("登录成功"), "the notice");
    let token = app.login(MEMBER, PASSWORD).await?;
    let (_, lowest) = app.first_listed(&token).await?;
    let shown = pifa::money::format_price(lowest);
    assert!(html.contains(&shown), "{shown} in the member's page");

    // 我的: a visitor is sent to sign in and back; the member sees his account.
    let response = visitor.get(app.url("/me")).send().await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/login?next=%2Fme")
    );
    let (status, html) = page(&member, &app, "/me").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("退出登录"));

    // A wrong password shows the form again with the theme's words for the refusal.
    let response = visitor
        .post(app.url("/login"))
        .form(&[
            ("phone", MEMBER),
            ("password", "wrong-password"),
            ("next", "/me"),
        ])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let html = response.text().await?;
    assert!(html.contains("手机号或密码错误"), "{html}");
    assert!(
        html.contains(&format!("value=\"{MEMBER}\"")),
        "the phone kept"
    );
    app.stop().await
}

#[tokio::test]
async fn forms_post_with_the_sessions_csrf_token() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = browser()?;
    sign_in(&member, &app, MEMBER).await?;
    // Without the token (a form posted from elsewhere): refused, still signed in.
    let response = member
        .post(app.url("/logout"))
        .form(&[("csrf_token", "forged")])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await?.contains("页面已失效"));
    let (status, html) = page(&member, &app, "/me").await?;
    assert_eq!(status, StatusCode::OK, "still signed in");
    // With the token the page gave: signed out.
    let token = attribute_near(&html, "name=\"csrf_token\"", "value")
        .filter(|t| t.len() == 64)
        .ok_or_else(|| anyhow::anyhow!("no CSRF token in the form: {html}"))?;
    let response = member
        .post(app.url("/logout"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = member.get(app.url("/me")).send().await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "signed out");

    // A visitor's sign-in posted from another site is refused.
    let response = browser()?
        .post(app.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("phone", MEMBER), ("password", PASSWORD)])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // The other visitor forms the same way: from another site refused, with the phone as typed;
    // a body that is not the form is `invalid_input`, not a forgery; neither sends a code.
    let messages = app.store.count_rows("outbox_messages").await?;
    for path in ["/signup", "/forgot"] {
        let response = browser()?
            .post(app.url(path))
            .header("origin", "https://evil.example")
            .form(&[("phone", "13711112222"), ("action", "send_code")])
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        let html = response.text().await?;
        assert!(
            html.contains("页面已失效") && html.contains("13711112222"),
            "{path}: {html}"
        );
        let response = browser()?
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("phone=1&phone=2")
            .send()
            .await?;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}"
        );
    }
    assert_eq!(
        app.store.count_rows("outbox_messages").await?,
        messages,
        "no code sent"
    );
    app.stop().await
}

#[tokio::test]
async fn unknown_pages_are_the_themes_404_and_unknown_api_routes_stay_json() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let response = browser()?.get(app.url("/no/such/page")).send().await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        response
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/html"))
    );
    let html = response.text().await?;
    assert!(html.contains("页面不存在"), "{html}");
    let (status, body) = app.get("/api/v1/no-such-route", None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "route_not_found");
    app.stop().await
}

/// The refusals the admin endpoint shows now.
async fn refused(app: &TestApp, admin: &str) -> anyhow::Result<Vec<Value>> {
    let (status, body) = app.get("/api/v1/admin/theme", Some(admin)).await?;
    anyhow::ensure!(status == StatusCode::OK, "admin/theme: {status} {body}");
    Ok(body["refused"].as_array().cloned().unwrap_or_default())
}

#[tokio::test]
async fn a_broken_template_is_refused_and_the_last_good_set_serves() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let member = app.login(MEMBER, PASSWORD).await?;
    let (status, _) = app.get("/api/v1/admin/theme", Some(&member)).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "admins only");
    let (_, status_body) = app.get("/api/v1/admin/theme", Some(&admin)).await?;
    assert_eq!(status_body["active"], "default");
    assert!(refused(&app, &admin).await?.is_empty());

    let home = app.themes_dir().join("default/templates/home.html");
    let good = std::fs::read_to_string(&home)?;
    // A syntax error on line 3, saved on the running server.
    std::fs::write(
        &home,
        "{% extends \"base.html\" %}\n{% block content %}\n<h1>{{ shop.name }</h1>\n{% endblock %}\n",
    )?;
    let refusal = eventually("the broken template refused", || async {
        Ok(refused(&app, &admin).await?.into_iter().next())
    })
    .await?;
    assert_eq!(refusal["file"], "default/templates/home.html");
    assert_eq!(refusal["line"], 3);
    assert!(refusal["column"].as_u64().is_some(), "{refusal}");
    assert!(
        refusal["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("default/templates/home.html:3:")),
        "{refusal}"
    );
    let (status, html) = page(&browser()?, &app, "/").await?;
    assert_eq!(status, StatusCode::OK, "the last good set serves");
    assert!(html.contains("上架商品"), "the last good home page: {html}");

    // A template that loops: refused too, by fuel, naming the file and line.
    std::fs::write(
        &home,
        "{% extends \"base.html\" %}\n{% block content %}\n{% for a in range(10000) %}{% for b in range(10000) %}.{% endfor %}{% endfor %}\n{% endblock %}\n",
    )?;
    let refusal = eventually("the looping template refused", || async {
        Ok(refused(&app, &admin)
            .await?
            .into_iter()
            .find(|r| r["message"].as_str().is_some_and(|m| m.contains("fuel"))))
    })
    .await?;
    assert_eq!(refusal["file"], "default/templates/home.html");
    assert_eq!(refusal["line"], 3);
    let (status, html) = page(&browser()?, &app, "/").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("上架商品"));

    // Fixed: the refusal goes, and an edit shows — in a section template too, whose drawn
    // sections were kept (they are kept by the theme as read, so a changed theme draws anew).
    std::fs::write(&home, &good)?;
    let goods = app
        .themes_dir()
        .join("default/templates/sections/goods.html");
    let section = std::fs::read_to_string(&goods)?;
    std::fs::write(
        &goods,
        section.replace(
            "{{ section.settings.title }}</h2>",
            "{{ section.settings.title }} · 本周上架</h2>",
        ),
    )?;
    eventually("the fixed template serving", || async {
        let (_, html) = page(&browser()?, &app, "/").await?;
        Ok(html.contains("本周上架").then_some(()))
    })
    .await?;
    assert!(refused(&app, &admin).await?.is_empty());
    app.stop().await
}

#[tokio::test]
async fn switching_the_theme_setting_changes_the_pages_without_a_restart() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let visitor = browser()?;
    let (_, html) = page(&visitor, &app, "/").await?;
    assert!(
        html.contains("class=\"tabbar\""),
        "the default theme's tab bar"
    );
    assert!(!html.contains("class=\"rows\""));

    let (_, mut settings) = app.get("/api/v1/admin/settings", Some(&admin)).await?;
    settings["theme"] = json!("nope");
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/admin/settings",
            Some(&admin),
            Some(&settings),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&body), "invalid_setting");
    assert_eq!(body["error"]["field"], "theme");

    settings["theme"] = json!("classic");
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/admin/settings",
            Some(&admin),
            Some(&settings),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, html) = page(&visitor, &app, "/").await?;
    assert!(html.contains("class=\"rows\""), "the classic list: {html}");
    assert!(!html.contains("class=\"tabbar\""));
    assert!(html.contains("/assets/classic/css/classic."));
    let (_, status_body) = app.get("/api/v1/admin/theme", Some(&admin)).await?;
    assert_eq!(status_body["active"], "classic");
    // The two storefronts, and the back office's theme marked as such.
    let kinds: Vec<(String, String)> = status_body["installed"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["id"].as_str().unwrap_or_default().to_owned(),
                t["kind"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("classic", "storefront"),
            ("default", "storefront"),
            ("office", "office")
        ]
        .map(|(id, kind)| (id.to_owned(), kind.to_owned()))
    );
    app.stop().await
}

#[tokio::test]
async fn assets_are_fingerprinted_cached_for_a_year_and_compressed() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let client = browser()?;
    let (_, html) = page(&client, &app, "/").await?;
    for (needle, attribute, content_type) in [
        ("rel=\"stylesheet\"", "href", "text/css; charset=utf-8"),
        ("defer", "src", "text/javascript; charset=utf-8"),
        ("rel=\"icon\"", "href", "image/svg+xml"),
    ] {
        let url = attribute_near(&html, needle, attribute)
            .ok_or_else(|| anyhow::anyhow!("no {needle} in {html}"))?;
        assert!(url.starts_with("/assets/default/"), "{url}");
        let response = client
            .get(app.url(&url))
            .header("accept-encoding", "gzip")
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(
            header(CACHE_CONTROL).as_deref(),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(header(CONTENT_TYPE).as_deref(), Some(content_type));
        assert_eq!(header(CONTENT_ENCODING).as_deref(), Some("gzip"), "{url}");

        // Another fingerprint of the same file: not found.
        let (stem, rest) = url
            .rsplit_once('.')
            .and_then(|(front, ext)| front.rsplit_once('.').map(|(stem, _)| (stem, ext)))
            .ok_or_else(|| anyhow::anyhow!("{url} is not fingerprinted"))?;
        let stale = format!("{stem}.00000000.{rest}");
        let response = client.get(app.url(&stale)).send().await?;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{stale}");
    }
    app.stop().await
}

/// The product a SKU belongs to.
/// The CSRF token of the first form on a page.
fn csrf_of(html: &str) -> anyhow::Result<String> {
    attribute_near(html, "name=\"csrf_token\"", "value")
        .filter(|t| t.len() == 64)
        .ok_or_else(|| anyhow::anyhow!("no CSRF token in the page: {html}"))
}

/// Posts a page's form with the session's token.
async fn post_form(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    csrf: &str,
    fields: &[(&str, &str)],
) -> anyhow::Result<(StatusCode, Option<String>, String)> {
    let mut form = vec![("csrf_token", csrf)];
    form.extend_from_slice(fields);
    answer(client.post(app.url(path)).form(&form).send().await?).await
}

/// The page of the job a form started (`location`, `/admin/jobs/{id}`), once the job is no
/// longer running: the page reloads itself while it runs, as this does. Its status, where it
/// sends the browser (a replay's editor, sign-in after a restore), and the page.
async fn finished_job(
    client: &reqwest::Client,
    app: &TestApp,
    location: Option<String>,
) -> anyhow::Result<(StatusCode, Option<String>, String)> {
    let href = location.ok_or_else(|| anyhow::anyhow!("the form went to no job"))?;
    anyhow::ensure!(href.starts_with("/admin/jobs/"), "a job's page: {href}");
    let started = std::time::Instant::now();
    loop {
        let (status, location, html) = answer(client.get(app.url(&href)).send().await?).await?;
        let running = status == StatusCode::OK && html.contains("data-reload-after");
        if !running {
            return Ok((status, location, html));
        }
        anyhow::ensure!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{href} still running: {html}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A posted form's answer: its status, where it redirects, its page.
async fn answer(
    response: reqwest::Response,
) -> anyhow::Result<(StatusCode, Option<String>, String)> {
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok((status, location, response.text().await?))
}

/// B1, B2, C1 on a product's page: the goods link to it; a visitor of the internal shop sees
/// the SKUs, the units and no price at all; a member sees his level price and a quantity field
/// in pack steps per SKU; 订货 off the step is refused next to that SKU's field in the theme's
/// words, and in steps goes into the cart.
#[tokio::test]
async fn the_product_page_shows_skus_units_and_the_viewers_price_and_orders_in_packs()
-> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let hat = app.product_id(HARD_HAT_RED).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let yellow = app.sku_id(HARD_HAT_YELLOW).await?;
    let path = format!("/products/{hat}");

    let visitor = browser()?;
    let (_, home) = page(&visitor, &app, "/").await?;
    assert!(
        home.contains(&format!("href=\"{path}\"")),
        "the grid links to it"
    );
    let (status, html) = page(&visitor, &app, &path).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("安全帽 ABS 工地 V型透气"), "{html}");
    assert!(html.contains("红色") && html.contains("黄色"), "every SKU");
    assert!(html.contains("1盒=10个"), "the unit: {html}");
    assert!(!html.contains('¥'), "no price for a visitor: {html}");
    assert!(!html.contains("class=\"price\""));
    assert!(!html.contains("28.00"), "no price digits either");
    assert!(
        !html.contains("name=\"qty\""),
        "no order form for a visitor"
    );
    assert!(html.contains("登录后订货"));
    let (status, _) = page(&visitor, &app, "/products/999999").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = page(&visitor, &app, "/products/abc").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let member = browser()?;
    sign_in(&member, &app, MEMBER).await?;
    let token = app.login(MEMBER, PASSWORD).await?;
    let (_, product) = app.get(&format!("/api/v1{path}"), Some(&token)).await?;
    let (status, html) = page(&member, &app, &path).await?;
    assert_eq!(status, StatusCode::OK);
    for sku in product["skus"].as_array().into_iter().flatten() {
        let price = sku["price"]["price_fen"]
            .as_i64()
            .ok_or_else(|| anyhow::anyhow!("no member price: {sku}"))?;
        let shown = pifa::money::format_price(price);
        assert!(html.contains(&shown), "{shown}: {html}");
        let id = sku["id"].as_i64().unwrap_or(0);
        assert_eq!(
            attribute_near(&html, &format!("id=\"qty-{id}\""), "step").as_deref(),
            Some("10"),
            "the field steps by the pack"
        );
        assert_eq!(
            attribute_near(&html, &format!("id=\"qty-{id}\""), "min").as_deref(),
            Some("10")
        );
    }
    assert!(
        html.contains(&format!("<label for=\"qty-{red}\"")),
        "labelled"
    );
    assert!(html.contains(">订货</button>"));
    let csrf = csrf_of(&html)?;

    // 15 is off the 10-piece step: the page again, the refusal by the red SKU's field.
    let cart_path = format!("{path}/cart");
    let red_id = red.to_string();
    let (status, _, html) = post_form(
        &member,
        &app,
        &cart_path,
        &csrf,
        &[("sku_id", &red_id), ("qty", "15")],
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("请按10个的整数倍订购"), "{html}");
    assert!(html.contains(&format!("id=\"qty-error-{red}\"")));
    assert_eq!(
        attribute_near(&html, &format!("id=\"qty-{red}\""), "aria-invalid").as_deref(),
        Some("true")
    );
    assert_eq!(
        attribute_near(&html, &format!("id=\"qty-{red}\""), "value").as_deref(),
        Some("15"),
        "the quantity as typed"
    );
    assert!(
        attribute_near(&html, &format!("id=\"qty-{yellow}\""), "aria-invalid").is_none(),
        "only that SKU's field"
    );
    let (status, _, html) = post_form(
        &member,
        &app,
        &cart_path,
        &csrf,
        &[("sku_id", &red_id), ("qty", "many")],
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("请填写正确的数量"), "{html}");
    let (_, cart) = app.get("/api/v1/cart", Some(&token)).await?;
    assert_eq!(
        cart["lines"].as_array().map(Vec::len),
        Some(0),
        "nothing added"
    );

    // In steps: into the cart, back to the product with the notice.
    let (status, location, _) = post_form(
        &member,
        &app,
        &cart_path,
        &csrf,
        &[("sku_id", &red_id), ("qty", "20")],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap_or_default();
    assert_eq!(location, format!("{path}?notice=added_to_cart"));
    let (_, html) = page(&member, &app, &location).await?;
    assert!(html.contains("已加入购物车"), "{html}");
    let (_, cart) = app.get("/api/v1/cart", Some(&token)).await?;
    assert_eq!(cart["lines"][0]["sku_id"], red);
    assert_eq!(cart["lines"][0]["qty"], 20);

    // Without the session's token: refused, nothing added.
    let (status, _, _) = post_form(
        &member,
        &app,
        &cart_path,
        "forged",
        &[("sku_id", &red_id), ("qty", "20")],
    )
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, cart) = app.get("/api/v1/cart", Some(&token)).await?;
    assert_eq!(cart["lines"][0]["qty"], 20);
    app.stop().await
}

/// D1 on the cart page: a visitor is sent to sign in; a member's empty cart says so; lines
/// show spec, quantity, amount and the total; a quantity off the step is refused by its line;
/// a changed price, short stock and a delisted product are told in words; a line goes.
#[tokio::test]
async fn the_cart_page_lists_lines_changes_quantities_and_tells_what_changed() -> anyhow::Result<()>
{
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let response = browser()?.get(app.url("/cart")).send().await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/login?next=%2Fcart")
    );

    let member = browser()?;
    sign_in(&member, &app, MEMBER).await?;
    let (status, html) = page(&member, &app, "/cart").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("购物车是空的"), "{html}");
    let csrf = csrf_of(&page(&member, &app, "/me").await?.1)?;

    let red = app.sku_id(HARD_HAT_RED).await?;
    let yellow = app.sku_id(HARD_HAT_YELLOW).await?;
    let coating = app.sku_id(COATING_GREY).await?;
    let hat = app.product_id(HARD_HAT_RED).await?;
    for (sku, qty) in [(red, "20"), (yellow, "10")] {
        let (status, _, body) = post_form(
            &member,
            &app,
            &format!("/products/{hat}/cart"),
            &csrf,
            &[("sku_id", &sku.to_string()), ("qty", qty)],
        )
        .await?;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    }
    let token = app.login(MEMBER, PASSWORD).await?;
    let (_, cart) = app.get("/api/v1/cart", Some(&token)).await?;
    let (status, html) = page(&member, &app, "/cart").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("安全帽 ABS 工地 V型透气"), "{html}");
    assert!(html.contains("红色") && html.contains("黄色"));
    for line in cart["lines"].as_array().into_iter().flatten() {
        let subtotal = pifa::money::format_price(line["subtotal_fen"].as_i64().unwrap_or(-1));
        assert!(html.contains(&subtotal), "{subtotal}: {html}");
    }
    let total = pifa::money::format_price(cart["goods_fen"].as_i64().unwrap_or(-1));
    assert!(html.contains(&total), "the total {total}");
    assert_eq!(
        attribute_near(&html, &format!("id=\"qty-{red}\""), "value").as_deref(),
        Some("20")
    );
    assert!(!html.contains("class=\"warn\""), "nothing changed yet");

    // Off the step: refused by that line, the cart unchanged.
    let (status, _, html) = post_form(
        &member,
        &app,
        &format!("/cart/{yellow}"),
        &csrf,
        &[("qty", "15")],
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("请按10的整数倍订购"), "{html}");
    assert!(html.contains(&format!("id=\"qty-error-{yellow}\"")));
    let (status, location, _) = post_form(
        &member,
        &app,
        &format!("/cart/{yellow}"),
        &csrf,
        &[("qty", "30")],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/cart?notice=cart_updated"));
    let (_, html) = page(&member, &app, "/cart?notice=cart_updated").await?;
    assert!(html.contains("数量已更新"));
    assert_eq!(
        attribute_near(&html, &format!("id=\"qty-{yellow}\""), "value").as_deref(),
        Some("30")
    );

    // What changed since: the yellow price, more red than in stock, the coating delisted.
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/admin/skus/{yellow}"),
            Some(&admin),
            Some(&json!({ "model": "V型", "spec": "黄色", "price_fen": 2900, "cost_fen": 1960, "stock": 800, "barcode": HARD_HAT_YELLOW,
                "level_prices": [], "breaks": [] })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stock = app.stock_of(HARD_HAT_RED).await?;
    let too_many = ((stock / 10) + 1) * 10;
    let (status, _, body) = post_form(
        &member,
        &app,
        &format!("/cart/{red}"),
        &csrf,
        &[("qty", &too_many.to_string())],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (status, cart) = app
        .post(
            "/api/v1/cart/items",
            Some(&token),
            &json!({ "items": [{ "sku_id": coating, "qty": 1 }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{cart}");
    let coating_product = app.product_id(COATING_GREY).await?;
    let (status, _) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/admin/products/{coating_product}"),
            Some(&admin),
            Some(&json!({ "on_shelf": false })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (_, html) = page(&member, &app, "/cart").await?;
    assert!(html.contains("价格有变动"), "{html}");
    assert!(html.contains("¥29.00"), "the new price");
    assert!(html.contains(&format!("库存不足：仅剩 {stock}")), "{html}");
    assert!(html.contains("该商品已下架"), "{html}");

    // A line goes.
    let (status, location, _) = post_form(
        &member,
        &app,
        &format!("/cart/{coating}/remove"),
        &csrf,
        &[],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/cart?notice=cart_removed"));
    let (_, html) = page(&member, &app, "/cart?notice=cart_removed").await?;
    assert!(html.contains("已从购物车删除"));
    assert!(!html.contains("该商品已下架"));
    app.stop().await
}

/// D3 on the checkout page: a visitor signs in first, an empty cart goes back to the cart;
/// the page offers the member's addresses and the shop's methods with the quote's total, and
/// its form placed twice with the key it was rendered with makes one order, whose
/// confirmation shows the order's number.
#[tokio::test]
async fn checkout_places_one_order_however_often_the_form_is_sent() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let response = browser()?.get(app.url("/checkout")).send().await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/login?next=%2Fcheckout")
    );
    let member = browser()?;
    sign_in(&member, &app, MEMBER).await?;
    let response = member.get(app.url("/checkout")).send().await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "an empty cart");
    assert_eq!(
        response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/cart")
    );

    let token = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let (status, body) = app
        .post(
            "/api/v1/cart/items",
            Some(&token),
            &json!({ "items": [{ "sku_id": red, "qty": 20 }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, book) = app.get("/api/v1/me/addresses", Some(&token)).await?;
    let address = book[0]["id"].as_i64().unwrap_or(0);
    let (status, quote) = app
        .post(
            "/api/v1/orders/quote",
            Some(&token),
            &json!({ "delivery_method": "ship", "address_id": address }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{quote}");
    let (status, html) = page(&member, &app, "/checkout").await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    let total = pifa::money::format_price(quote["total_fen"].as_i64().unwrap_or(-1));
    assert!(html.contains(&total), "the quote's total {total}: {html}");
    assert!(html.contains(&format!("name=\"address_id\" value=\"{address}\"")));
    assert!(html.contains("货到付款"), "a payment method: {html}");
    let key = attribute_near(&html, "name=\"idempotency_key\"", "value")
        .filter(|k| k.len() == 32)
        .ok_or_else(|| anyhow::anyhow!("no idempotency key: {html}"))?;
    let csrf = csrf_of(&html)?;
    let (_, before) = app.get("/api/v1/orders?limit=100", Some(&token)).await?;
    let address_id = address.to_string();
    let fields = [
        ("idempotency_key", key.as_str()),
        ("delivery_method", "ship"),
        ("payment_method", "cash_on_delivery"),
        ("address_id", address_id.as_str()),
        ("remark", "下午送"),
    ];
    let (status, first, body) = post_form(&member, &app, "/checkout", &csrf, &fields).await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (status, second, body) = post_form(&member, &app, "/checkout", &csrf, &fields).await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(first, second, "a double tap: one order");
    let (_, after) = app.get("/api/v1/orders?limit=100", Some(&token)).await?;
    assert_eq!(
        after.as_array().map(Vec::len),
        before.as_array().map(|o| o.len() + 1),
        "one order more"
    );
    let location = first.unwrap_or_default();
    let id: i64 = location
        .strip_prefix("/orders/")
        .and_then(|rest| rest.strip_suffix("/placed"))
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("the confirmation: {location}"))?;
    let (_, order) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&token))
        .await?;
    assert_eq!(order["remark"], "下午送");
    let (status, html) = page(&member, &app, &location).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("下单成功"), "{html}");
    let number = order["number"].as_str().unwrap_or("?");
    assert!(html.contains(number), "the order's number {number}");
    // Not the supplier's to see.
    let other = browser()?;
    sign_in(&other, &app, SUPPLIER).await?;
    let (status, html) = page(&other, &app, &location).await?;
    assert!(status.is_client_error(), "{status}");
    assert!(!html.contains(number));
    app.stop().await
}

/// A multipart page form: the session's token as the first field, then the text fields and
/// one JPEG under `file`.
fn photo_form(
    csrf: Option<&str>,
    fields: &[(&str, &str)],
    file: &str,
) -> anyhow::Result<reqwest::multipart::Form> {
    let mut form = reqwest::multipart::Form::new();
    if let Some(csrf) = csrf {
        form = form.text("csrf_token", csrf.to_owned());
    }
    for (name, value) in fields {
        form = form.text((*name).to_owned(), (*value).to_owned());
    }
    Ok(form.part(
        file.to_owned(),
        reqwest::multipart::Part::bytes(pifa_e2e::images::jpeg(16, 16)?).file_name("p.jpg"),
    ))
}

/// E8, E9, F1 on the order pages, as an attacker and a careless hand would try them: a
/// visitor is sent to sign in; another member's order is a 404 like the API's, list included;
/// a photo form without the session's token changes nothing (403 `csrf_failed`); with it, the
/// transfer receipt is stored; a refused form (no photo) is shown by the form with the order
/// unchanged; cancelling with the token closes the order and the tab counts follow.
#[tokio::test]
async fn order_pages_show_only_my_orders_and_their_forms_need_the_session() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let (_, addresses) = app.get("/api/v1/me/addresses", Some(&member)).await?;
    let hat = app.sku_id(HARD_HAT_RED).await?;
    let mut ids = Vec::new();
    for key in ["pages-transfer", "pages-cancel"] {
        let body = json!({ "delivery_method": "ship", "payment_method": "bank_transfer",
            "address_id": addresses[0]["id"], "lines": [{ "sku_id": hat, "qty": 20 }] });
        let (status, order, _) = app.place_order(&member, key, &body).await?;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        ids.push(order["id"].as_i64().unwrap_or_default());
    }
    let (transfer, to_cancel) = (ids[0], ids[1]);
    let (status, confirmed) = app
        .post(
            &format!("/api/v1/admin/orders/{transfer}/confirm"),
            Some(&manager),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    assert_eq!(confirmed["status"], "pending_payment");

    // A visitor: to sign in, and back to the order afterwards.
    let visitor = browser()?;
    let response = visitor
        .get(app.url(&format!("/orders/{transfer}")))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(location, format!("/login?next=%2Forders%2F{transfer}"));

    // Another member sees none of it.
    app.new_member("13712340000").await?;
    let other = browser()?;
    let response = other
        .post(app.url("/login"))
        .form(&[
            ("phone", "13712340000"),
            ("password", "member2026"),
            ("next", "/"),
        ])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, html) = page(&other, &app, &format!("/orders/{transfer}")).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    let number = confirmed["number"].as_str().unwrap_or_default();
    assert!(
        !html.contains(number),
        "the order's number on a stranger's 404"
    );
    let (status, html) = page(&other, &app, "/orders").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !html.contains(number) && html.contains("还没有订单"),
        "{html}"
    );

    // The member's own page: 待付款, the bank account, the receipt form.
    let owner = browser()?;
    sign_in(&owner, &app, MEMBER).await?;
    let (status, html) = page(&owner, &app, &format!("/orders/{transfer}")).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("待付款") && html.contains(number), "{html}");
    assert!(html.contains("上传付款凭证"), "the receipt form: {html}");
    let (_, settings) = app
        .get(
            "/api/v1/admin/settings",
            Some(&app.login(ADMIN, PASSWORD).await?),
        )
        .await?;
    let account = settings["bank_account"]["account_number"]
        .as_str()
        .unwrap_or("?");
    assert!(
        html.contains(account),
        "F1: where to transfer, on his own order: {html}"
    );
    let csrf = csrf_of(&html)?;

    async fn payments_of(app: &TestApp, token: &str, id: i64) -> anyhow::Result<usize> {
        let (_, order) = app
            .get(&format!("/api/v1/orders/{id}"), Some(token))
            .await?;
        Ok(order["payments"].as_array().map_or(0, Vec::len))
    }
    let response = owner
        .post(app.url(&format!("/orders/{transfer}/receipt")))
        .multipart(photo_form(None, &[("remark", "工行转账")], "proof")?)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        payments_of(&app, &member, transfer).await?,
        0,
        "a form without the token stored a receipt"
    );

    let response = owner
        .post(app.url(&format!("/orders/{transfer}/receipt")))
        .multipart(
            reqwest::multipart::Form::new()
                .text("csrf_token", csrf.clone())
                .text("remark", "忘了截图"),
        )
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await?;
    assert!(
        html.contains("请上传清晰的"),
        "the refusal by its form: {html}"
    );
    assert_eq!(payments_of(&app, &member, transfer).await?, 0);

    let response = owner
        .post(app.url(&format!("/orders/{transfer}/receipt")))
        .multipart(photo_form(Some(&csrf), &[("remark", "工行转账")], "proof")?)
        .send()
        .await?;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{}",
        response.text().await?
    );
    assert_eq!(payments_of(&app, &member, transfer).await?, 1);

    // Cancelling: without the token nothing happens; with it the order closes.
    let (status, _, _) = post_form(
        &owner,
        &app,
        &format!("/orders/{to_cancel}/cancel"),
        "0",
        &[("reason", "买错了")],
    )
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, location, _) = post_form(
        &owner,
        &app,
        &format!("/orders/{to_cancel}/cancel"),
        &csrf,
        &[("reason", "买错了")],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some(&*format!("/orders/{to_cancel}?notice=order_cancelled"))
    );
    let (_, order) = app
        .get(&format!("/api/v1/orders/{to_cancel}"), Some(&member))
        .await?;
    assert_eq!(order["status"], "closed", "{order}");
    let (_, html) = page(&owner, &app, "/orders?status=closed").await?;
    assert!(
        html.contains(&order["number"].as_str().unwrap_or("?").to_string()),
        "{html}"
    );
    let (status, html) = page(&owner, &app, &format!("/orders/{to_cancel}")).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("已关闭") && !html.contains("取消订单"),
        "{html}"
    );
    Ok(())
}

/// D2 on the quick-order page: pasted rows with one unknown code and one off the pack step are
/// refused row by row with what was pasted kept, and nothing reaches the cart; fixed, they all
/// go in; a CSV file works the same way.
#[tokio::test]
async fn quick_order_refuses_bad_rows_one_by_one_and_adds_nothing_until_all_are_good()
-> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let token = app.login(MEMBER, PASSWORD).await?;
    let client = browser()?;
    sign_in(&client, &app, MEMBER).await?;
    let (status, html) = page(&client, &app, "/quick-order").await?;
    assert_eq!(status, StatusCode::OK);
    let csrf = csrf_of(&html)?;
    let lines = |cart: &Value| cart["lines"].as_array().map_or(0, Vec::len);
    let (_, before) = app.get("/api/v1/cart", Some(&token)).await?;

    let pasted = format!("{HARD_HAT_RED} 20\nNO-SUCH-CODE 5\n{HARD_HAT_YELLOW} 7");
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", csrf.clone())
        .text("pasted", pasted.clone());
    let response = client
        .post(app.url("/quick-order"))
        .multipart(form)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await?;
    assert!(
        html.contains("NO-SUCH-CODE"),
        "the pasted rows kept: {html}"
    );
    assert!(
        html.contains("找不到条码或货号NO-SUCH-CODE") && html.contains("<td>2</td>"),
        "row 2 named with its problem: {html}"
    );
    let (_, after) = app.get("/api/v1/cart", Some(&token)).await?;
    assert_eq!(lines(&after), lines(&before), "nothing added: {after}");

    let form = reqwest::multipart::Form::new()
        .text("csrf_token", csrf.clone())
        .text("pasted", format!("{HARD_HAT_RED} 20\n{HARD_HAT_YELLOW} 10"));
    let response = client
        .post(app.url("/quick-order"))
        .multipart(form)
        .send()
        .await?;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{}",
        response.text().await?
    );
    let (_, cart) = app.get("/api/v1/cart", Some(&token)).await?;
    for (barcode, qty) in [(HARD_HAT_RED, 20), (HARD_HAT_YELLOW, 10)] {
        let sku = app.sku_id(barcode).await?;
        assert!(
            cart["lines"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|l| l["sku_id"] == sku && l["qty"] == qty),
            "{barcode} × {qty} in {cart}"
        );
    }

    let csv = format!("编码,数量\n{COATING_GREY},2\n");
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", csrf.clone())
        .text("pasted", String::new())
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("order.csv"),
        );
    let response = client
        .post(app.url("/quick-order"))
        .multipart(form)
        .send()
        .await?;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{}",
        response.text().await?
    );
    let (_, cart) = app.get("/api/v1/cart", Some(&token)).await?;
    let grey = app.sku_id(COATING_GREY).await?;
    assert!(
        cart["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|l| l["sku_id"] == grey && l["qty"] == 2),
        "the CSV's row (a bucket sells singly) in {cart}"
    );
    Ok(())
}

/// C1, D1 立即下单: off the pack step it is refused by the SKU's field; in steps it goes to a
/// checkout of that one line (not the cart), quoted for it, carrying it through the delivery
/// links; placed, the order has that line alone (with the PO number and the requested date
/// typed) and the cart is as it was.
#[tokio::test]
async fn buy_now_checks_out_one_line_and_leaves_the_cart_alone() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let token = app.login(MEMBER, PASSWORD).await?;
    let (red, grey) = (
        app.sku_id(HARD_HAT_RED).await?,
        app.sku_id(COATING_GREY).await?,
    );
    let hat = app.product_id(HARD_HAT_RED).await?;
    let (status, body) = app
        .post(
            "/api/v1/cart/items",
            Some(&token),
            &json!({ "items": [{ "sku_id": grey, "qty": 2 }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let member = browser()?;
    sign_in(&member, &app, MEMBER).await?;
    let (_, html) = page(&member, &app, &format!("/products/{hat}")).await?;
    assert!(
        html.contains(&format!("formaction=\"/products/{hat}/buy\"")),
        "{html}"
    );
    let csrf = csrf_of(&html)?;
    let red_text = red.to_string();

    let (status, _, html) = post_form(
        &member,
        &app,
        &format!("/products/{hat}/buy"),
        &csrf,
        &[("sku_id", &red_text), ("qty", "15")],
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains(&format!("id=\"qty-error-{red}\"")),
        "by the red hat's field: {html}"
    );

    let (status, location, _) = post_form(
        &member,
        &app,
        &format!("/products/{hat}/buy"),
        &csrf,
        &[("sku_id", &red_text), ("qty", "20")],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let checkout = location.unwrap_or_default();
    assert_eq!(checkout, format!("/checkout?sku_id={red}&qty=20"));
    let (status, html) = page(&member, &app, &checkout).await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("安全帽") && !html.contains("防水涂料"),
        "the one line, not the cart: {html}"
    );
    assert!(
        html.contains(&format!("delivery=pickup&amp;sku_id={red}&amp;qty=20")),
        "carried on: {html}"
    );
    let (_, book) = app.get("/api/v1/me/addresses", Some(&token)).await?;
    let address = book[0]["id"].as_i64().unwrap_or(0).to_string();
    let (status, quote) = app
        .post(
            "/api/v1/orders/quote",
            Some(&token),
            &json!({ "delivery_method": "ship", "address_id": book[0]["id"], "lines": [{ "sku_id": red, "qty": 20 }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{quote}");
    let total = pifa::money::format_price(quote["total_fen"].as_i64().unwrap_or(-1));
    assert!(
        html.contains(&total),
        "quoted for the line: {total} in {html}"
    );
    let key = attribute_near(&html, "name=\"idempotency_key\"", "value").unwrap_or_default();
    let date = pifa::clock::shop_date_iso(app.clock.now_ms() + 3 * 86_400_000);
    let (status, placed, body) = post_form(
        &member,
        &app,
        "/checkout",
        &csrf,
        &[
            ("idempotency_key", &key),
            ("delivery_method", "ship"),
            ("payment_method", "cash_on_delivery"),
            ("address_id", &address),
            ("sku_id", &red_text),
            ("qty", "20"),
            ("po_number", "PO-2026-118"),
            ("requested_date", &date),
        ],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let id = placed
        .as_deref()
        .and_then(|l| l.strip_prefix("/orders/"))
        .and_then(|l| l.strip_suffix("/placed"))
        .unwrap_or_default()
        .to_owned();
    let (_, order) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&token))
        .await?;
    assert_eq!(order["lines"].as_array().map(Vec::len), Some(1), "{order}");
    assert_eq!(order["lines"][0]["sku_id"], red);
    assert_eq!(order["po_number"], "PO-2026-118");
    assert_eq!(order["requested_date"], json!(date));
    let (_, cart) = app.get("/api/v1/cart", Some(&token)).await?;
    assert_eq!(
        cart["lines"].as_array().map(Vec::len),
        Some(1),
        "the cart as it was: {cart}"
    );
    assert_eq!(cart["lines"][0]["sku_id"], grey);
    Ok(())
}

/// An order as its member reads it through the API.
async fn order_of(app: &TestApp, member: &str, id: i64) -> anyhow::Result<Value> {
    Ok(app
        .get(&format!("/api/v1/orders/{id}"), Some(member))
        .await?
        .1)
}

/// Issue 19's order forms for staff (D5, E2, E6), each through the API's handler and offered
/// only where the state machine opens the move to the viewer: the member's order page offers
/// him no confirm form and his post of one is refused 403 with nothing changed; Sanya's
/// manager gets 404 for a Haikou order, page and form alike; Haikou's manager is offered
/// confirm and reject, a quantity that does not parse is refused naming its field, a change
/// without a reason is refused (`reason_required`) and changes nothing, and a good one
/// confirms; then dispatch offers only the region's drivers and a driver of another region is
/// refused; customer service moves the order on with a remark the member reads in its history.
#[tokio::test]
async fn staff_order_forms_follow_the_state_machine_and_the_scopes() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let (_, addresses) = app.get("/api/v1/me/addresses", Some(&member)).await?;
    let hat = app.sku_id(HARD_HAT_RED).await?;
    let body = json!({ "delivery_method": "ship", "payment_method": "cash_on_delivery",
        "address_id": addresses[0]["id"], "lines": [{ "sku_id": hat, "qty": 20 }] });
    let (status, order, _) = app.place_order(&member, "staff-forms", &body).await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_i64().unwrap_or_default();
    let order_path = format!("/orders/{id}");

    // The member: his own forms, not the confirmer's; a forged confirm is 403.
    let member_browser = browser()?;
    sign_in(&member_browser, &app, MEMBER).await?;
    let (_, html) = page(&member_browser, &app, &order_path).await?;
    assert!(
        !html.contains(&format!("action=\"/orders/{id}/confirm\"")),
        "{html}"
    );
    let csrf = csrf_of(&html)?;
    let (status, _, html) = post_form(
        &member_browser,
        &app,
        &format!("{order_path}/confirm"),
        &csrf,
        &[("qty_1", "10"), ("reason", "x")],
    )
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert_eq!(
        order_of(&app, &member, id).await?["status"],
        "pending_confirmation"
    );

    // Another region's manager: no such order.
    let sanya = browser()?;
    sign_in(&sanya, &app, MANAGER_SANYA).await?;
    let (status, html) = page(&sanya, &app, &order_path).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    let (_, me) = page(&sanya, &app, "/me").await?;
    let csrf = csrf_of(&me)?;
    let (status, _, _) =
        post_form(&sanya, &app, &format!("{order_path}/confirm"), &csrf, &[]).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The order's manager.
    let manager = browser()?;
    sign_in(&manager, &app, MANAGER_HAIKOU).await?;
    let (_, me) = page(&manager, &app, "/me").await?;
    assert!(
        me.contains("status=pending_confirmation") && me.contains("待确认订单"),
        "the desk: {me}"
    );
    let (status, html) = page(&manager, &app, &order_path).await?;
    assert_eq!(status, StatusCode::OK);
    for form in ["confirm", "reject"] {
        assert!(
            html.contains(&format!("action=\"/orders/{id}/{form}\"")),
            "{form}: {html}"
        );
    }
    for absent in ["cancel", "dispatch", "delivered", "status"] {
        assert!(
            !html.contains(&format!("action=\"/orders/{id}/{absent}\"")),
            "{absent} offered: {html}"
        );
    }
    let csrf = csrf_of(&html)?;
    let confirm = format!("{order_path}/confirm");
    let (status, _, html) = post_form(
        &manager,
        &app,
        &confirm,
        &csrf,
        &[("qty_1", "二十"), ("reason", "加单")],
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("qty_1"),
        "the refusal names the field: {html}"
    );
    let (status, _, _) = post_form(&manager, &app, &confirm, &csrf, &[("qty_1", "30")]).await?;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a change needs its reason"
    );
    assert_eq!(
        order_of(&app, &member, id).await?["lines"][0]["qty"],
        20,
        "nothing changed"
    );
    let (status, location, html) = post_form(
        &manager,
        &app,
        &confirm,
        &csrf,
        &[("qty_1", "30"), ("price_1", ""), ("reason", "客户电话加单")],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    assert_eq!(
        location.as_deref(),
        Some(format!("{order_path}?notice=order_confirmed").as_str())
    );
    let confirmed = order_of(&app, &member, id).await?;
    assert_eq!(confirmed["lines"][0]["qty"], 30, "{confirmed}");
    assert_eq!(confirmed["status"], "awaiting_dispatch");

    let (_, html) = page(&manager, &app, &order_path).await?;
    assert!(
        html.contains(&format!("action=\"/orders/{id}/dispatch\"")),
        "{html}"
    );
    assert!(
        html.contains("张师傅") && !html.contains("三亚"),
        "only Haikou's drivers: {html}"
    );
    let (_, team) = app
        .get(
            "/api/v1/team?role=driver",
            Some(&app.login(ADMIN, PASSWORD).await?),
        )
        .await?;
    let sanya_driver = team
        .as_array()
        .and_then(|t| t.iter().find(|d| d["phone"] == DRIVER_SANYA))
        .map(|d| d["id"].to_string())
        .unwrap_or_default();
    let (status, _, html) = post_form(
        &manager,
        &app,
        &format!("{order_path}/dispatch"),
        &csrf,
        &[("method", "driver"), ("driver_id", &sanya_driver)],
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(order_of(&app, &member, id).await?["fulfilment"]["driver"].is_null());

    // Customer service moves it on with a remark; the member reads it.
    let service = browser()?;
    sign_in(&service, &app, SERVICE).await?;
    let (_, html) = page(&service, &app, &order_path).await?;
    assert!(
        html.contains(&format!("action=\"/orders/{id}/status\"")),
        "{html}"
    );
    let csrf = csrf_of(&html)?;
    let (status, _, html) = post_form(
        &service,
        &app,
        &format!("{order_path}/status"),
        &csrf,
        &[("status", "in_delivery"), ("remark", "")],
    )
    .await?;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a remark is required: {html}"
    );
    let (status, _, _) = post_form(
        &service,
        &app,
        &format!("{order_path}/status"),
        &csrf,
        &[
            ("status", "in_delivery"),
            ("remark", "客户自提改为送货，已装车"),
        ],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = page(&member_browser, &app, &order_path).await?;
    assert!(html.contains("客户自提改为送货，已装车"), "{html}");
    Ok(())
}

/// Every staff screen a role can open (issue 19), each from its own session: the roles its
/// permissions open get it, every other role gets 403 or 404 and none of its content, and a
/// visitor is sent to sign in. The back office's posts are refused alike and change nothing.
#[tokio::test]
async fn every_staff_screen_opens_to_its_roles_and_to_no_other() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    const EVERYONE: [&str; 9] = [
        ADMIN,
        SERVICE,
        MANAGER_HAIKOU,
        MANAGER_SANYA,
        PROMOTER,
        DRIVER_HAIKOU,
        VERIFIER,
        SUPPLIER,
        MEMBER,
    ];
    let confirmers = [ADMIN, SERVICE, MANAGER_HAIKOU, MANAGER_SANYA];
    // (screen, who may open it, what only its content shows)
    let readers = [ADMIN, SERVICE, MANAGER_HAIKOU, MANAGER_SANYA, PROMOTER];
    let hard_hat = format!("/admin/goods/{}", app.product_id(HARD_HAT_RED).await?);
    let zhao = app.login(MEMBER, PASSWORD).await?;
    let (_, zhao) = app.get("/api/v1/me", Some(&zhao)).await?;
    let proxy_order = format!("/customers/{}/order", zhao["id"]);
    let screens: [(&str, &[&str], &str); 26] = [
        ("/admin", &readers, "aria-label=\"后台菜单\""),
        ("/admin/orders", &confirmers, "导出 Excel"),
        ("/admin/after-sales", &confirmers, "aria-label=\"按状态\""),
        (
            "/admin/orders?status=completed&q=13900000001",
            &confirmers,
            "导出 Excel",
        ),
        ("/admin/members", &readers, "aria-label=\"按状态\""),
        (
            "/admin/members?state=profile_complete",
            &readers,
            "aria-label=\"按状态\"",
        ),
        (
            "/admin/messages?state=dead",
            &[ADMIN, SERVICE],
            "aria-label=\"按状态\"",
        ),
        ("/admin/scripts/pricing", &[ADMIN], "name=\"source\""),
        ("/admin/scripts/notifications", &[ADMIN], "name=\"source\""),
        ("/pickup", &[VERIFIER], "name=\"code\""),
        ("/members/new", &[VERIFIER], "name=\"company_name\""),
        (
            "/customers",
            &[MANAGER_HAIKOU, MANAGER_SANYA, PROMOTER],
            "我的邀请码",
        ),
        (
            &proxy_order,
            &[ADMIN, SERVICE, MANAGER_HAIKOU, PROMOTER],
            "代客下单",
        ),
        ("/admin/plugins", &[ADMIN], "<h1>插件"),
        ("/admin/decoration", &[ADMIN], "<h1>店铺装修"),
        ("/admin/audit", &[ADMIN], "aria-label=\"日志\""),
        ("/admin/audit?kind=logins", &[ADMIN], "138****0001"),
        ("/admin/backups", &[ADMIN], "立即备份"),
        ("/admin/goods", &[ADMIN], "新增商品</a>"),
        ("/admin/goods/new", &[ADMIN], "name=\"item_no\""),
        (&hard_hat, &[ADMIN], "保存此规格"),
        ("/admin/settings", &[ADMIN], "保存设置"),
        ("/admin/catalogue", &[ADMIN], "添加分类"),
        ("/supplier/goods", &[SUPPLIER], "我的商品"),
        ("/admin/staff", &[ADMIN], "新增员工"),
        ("/admin/regions", &[ADMIN], "添加区域"),
    ];
    let mut sessions = Vec::new();
    for phone in EVERYONE {
        let client = browser()?;
        sign_in(&client, &app, phone).await?;
        sessions.push((phone, client));
    }
    for (path, allowed, content) in screens {
        for (phone, client) in &sessions {
            let (status, html) = page(client, &app, path).await?;
            if allowed.contains(phone) {
                assert_eq!(status, StatusCode::OK, "{phone} opens {path}: {html}");
                assert!(html.contains(content), "{phone} at {path}: {html}");
            } else {
                assert!(
                    matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
                    "{phone} is refused {path}, got {status}"
                );
                assert!(
                    !html.contains(content),
                    "{phone} sees nothing of {path}: {html}"
                );
            }
        }
        let (status, _) = page(&browser()?, &app, path).await?;
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "a visitor at {path} signs in first"
        );
    }

    // 我的 has the back office's entry exactly for those it has a screen for.
    for (phone, client) in &sessions {
        let (_, me) = page(client, &app, "/me").await?;
        assert_eq!(
            me.contains("电脑版总后台"),
            readers.contains(phone),
            "{phone}"
        );
    }

    // A manager reads his customers but does not review them: no forms, and a post is 403.
    let (_, html) = page(&sessions[2].1, &app, "/admin/members").await?;
    assert!(!html.contains("/approve\""), "{html}");

    // The back office's forms: refused to every role but the admin's, and nothing is written.
    let draft = "fn adjust(line, member, now) { [] }";
    let hard_hat_shelf = format!("{hard_hat}/shelf");
    let hard_hat_sku = format!("{hard_hat}/skus/{}", app.sku_id(HARD_HAT_RED).await?);
    for (phone, client) in &sessions {
        if *phone == ADMIN {
            continue;
        }
        let (_, me) = page(client, &app, "/me").await?;
        let csrf = csrf_of(&me)?;
        for (path, fields) in [
            (
                "/admin/scripts/pricing",
                vec![("source", draft), ("action", "save")],
            ),
            (
                "/admin/scripts/notifications",
                vec![("source", draft), ("action", "check")],
            ),
            ("/admin/scripts/pricing/rollback/1", Vec::new()),
            ("/admin/decoration/home/add", vec![("kind", "notice")]),
            ("/admin/decoration/home/publish", Vec::new()),
            ("/admin/messages/1/retry", Vec::new()),
            ("/admin/after-sales/1/decide", vec![("approve", "true")]),
            ("/admin/backups", Vec::new()),
            (
                "/admin/goods/new",
                vec![
                    ("item_no", "X-1"),
                    ("name", "x"),
                    ("unit_id", "1"),
                    ("price", "1"),
                ],
            ),
            (&hard_hat_shelf, vec![("on_shelf", "false")]),
            ("/admin/settings", vec![("shop_name", "改名")]),
            (
                "/admin/staff",
                vec![
                    ("name", "x"),
                    ("phone", "13500001234"),
                    ("password", "x2026abcd"),
                    ("roles", "admin"),
                ],
            ),
            ("/admin/staff/1/disable", Vec::new()),
            ("/admin/regions", vec![("name", "越权区域")]),
            ("/admin/catalogue/brand", vec![("name", "越权品牌")]),
            ("/admin/catalogue/category/1/delete", Vec::new()),
            (
                "/admin/plugins/flash-sale/settings",
                vec![("label", "越权")],
            ),
            ("/admin/plugins/flash-sale/resume", Vec::new()),
            (
                "/admin/pickup-points",
                vec![("name", "越权点"), ("address", "x")],
            ),
            (&hard_hat_sku, vec![("price", "0.01")]),
            ("/admin/goods/export", vec![("format", "csv")]),
            (
                "/admin/backups/x.jsonl.gz/restore",
                vec![("confirm", "x.jsonl.gz")],
            ),
        ] {
            let (status, _, html) = post_form(client, &app, path, &csrf, &fields).await?;
            assert!(
                matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
                "{phone} posts {path}: {status} {html}"
            );
        }
    }
    assert!(
        !app.scripts_dir().join("pricing.rhai").exists(),
        "no refused post wrote the script"
    );
    let (status, _) = app
        .get(
            &format!("/api/v1/products/{}", app.product_id(HARD_HAT_RED).await?),
            None,
        )
        .await?;
    assert_eq!(
        status,
        StatusCode::OK,
        "no refused post unshelved the hard hat"
    );

    // A new dealer of 海口 waits for review: only admin, customer service and 海口's manager
    // (his own customers) may decide.
    let dealer = app.new_member("13712340001").await?;
    let (_, me) = app.get("/api/v1/me", Some(&dealer)).await?;
    let dealer_id = me["id"].as_i64().unwrap_or_default();
    let (_, regions) = app.get("/api/v1/regions", None).await?;
    let haikou = regions
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "海口"))
        .and_then(|r| r["id"].as_i64())
        .unwrap_or_default();
    let (status, profile) = app
        .put_profile(
            &dealer,
            pifa_e2e::profile_form(
                haikou,
                &[
                    ("shop_photo", &pifa_e2e::tiny_jpeg()),
                    ("licence", pifa_e2e::TINY_PNG),
                ],
            ),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{profile}");
    let approve = format!("/admin/members/{dealer_id}/approve");
    let haikou_text = haikou.to_string();
    for (phone, client) in &sessions {
        if [ADMIN, SERVICE, MANAGER_HAIKOU].contains(phone) {
            continue;
        }
        let (_, me) = page(client, &app, "/me").await?;
        let (status, _, _) = post_form(
            client,
            &app,
            &approve,
            &csrf_of(&me)?,
            &[("region_id", &haikou_text)],
        )
        .await?;
        assert!(
            matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{phone} approves: {status}"
        );
    }
    let service = &sessions[1].1;
    let (_, queue) = page(service, &app, "/admin/members?state=profile_complete").await?;
    assert!(queue.contains(&format!("action=\"{approve}\"")), "{queue}");
    // A rejection without a reason comes back beside him, and he still waits.
    let (status, _, html) = post_form(
        service,
        &app,
        &format!("/admin/members/{dealer_id}/reject"),
        &csrf_of(&queue)?,
        &[("reason", " ")],
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("请填写原因"), "{html}");
    let (status, location, _) = post_form(
        service,
        &app,
        &approve,
        &csrf_of(&queue)?,
        &[("region_id", &haikou_text)],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.is_some_and(|l| l.contains("member_approved")));
    let (_, profile) = app.get("/api/v1/me/profile", Some(&dealer)).await?;
    assert_eq!(profile["member_state"], "approved", "{profile}");

    // What a screen lists is the role's own scope: 三亚's manager finds no 海口 order.
    let member = app.login(MEMBER, PASSWORD).await?;
    let (_, addresses) = app.get("/api/v1/me/addresses", Some(&member)).await?;
    let body = json!({ "delivery_method": "ship", "payment_method": "cash_on_delivery",
        "address_id": addresses[0]["id"],
        "lines": [{ "sku_id": app.sku_id(HARD_HAT_RED).await?, "qty": 20 }] });
    let (status, order, _) = app.place_order(&member, "office-scope", &body).await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let number = order["number"].as_str().unwrap_or_default().to_owned();
    let link = format!("href=\"/orders/{}\"", order["id"]);
    let search = format!("/admin/orders?q={number}");
    for (phone, client) in &sessions {
        let (status, html) = page(client, &app, &search).await?;
        let finds = status == StatusCode::OK && html.contains(&link);
        let should = [ADMIN, SERVICE, MANAGER_HAIKOU].contains(phone);
        assert_eq!(finds, should, "{phone} searching {number}: {status}");
        // The same search on the phone's order list, where the member finds his own.
        let (_, html) = page(client, &app, &format!("/orders?q={number}")).await?;
        // (The promoter who brought the member in follows his orders, as the API lets him.)
        let should = [ADMIN, SERVICE, MANAGER_HAIKOU, PROMOTER, MEMBER].contains(phone);
        assert_eq!(html.contains(&link), should, "{phone} on the phone: {html}");
    }
    Ok(())
}

/// The README's first command on a fresh machine: `pifa serve --demo` with nothing set, in an
/// empty directory, serves the shop's page (its data in the relative `data`, which once
/// stopped the start: the plugins' code cache wanted an absolute path).
#[tokio::test]
async fn the_readme_start_serves_the_shop_from_an_empty_directory() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = pifa_e2e::process::spawn_fresh(dir.path()).await?;
    let response = reqwest::get(format!("{}/", server.base)).await?;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await?;
    assert!(html.contains("<html lang=\"zh-CN\">"), "{html}");
    assert!(
        dir.path().join("data").is_dir(),
        "the data directory is made"
    );
    Ok(())
}

/// L4 from the office: the admin makes a backup (a job, whose page names it and offers it to
/// download), finds it listed, and a restore asks for the backup's name typed again: typed
/// wrong it restores nothing; typed right its job puts the data back as it was (a region made
/// since is gone) and every session, his own too, ends — signed in again, the job's page says
/// what was restored.
#[tokio::test]
async fn an_admin_backs_up_and_restores_from_the_office() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = browser()?;
    sign_in(&admin, &app, ADMIN).await?;
    let (_, html) = page(&admin, &app, "/admin/backups").await?;
    assert!(html.contains("还没有备份"), "{html}");
    let (status, location, _) =
        post_form(&admin, &app, "/admin/backups", &csrf_of(&html)?, &[]).await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, made) = finished_job(&admin, &app, location).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(made.contains("备份完成"), "{made}");
    let (_, html) = page(&admin, &app, "/admin/backups").await?;
    let name = html
        .split("<code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .unwrap_or_default()
        .to_owned();
    assert!(name.starts_with("pifa-"), "a backup listed: {html}");
    assert!(made.contains(&name), "the job names it: {made}");
    assert!(
        html.contains(&format!("/api/v1/admin/backups/{name}")),
        "{html}"
    );

    let token = app.login(ADMIN, PASSWORD).await?;
    let (status, region) = app
        .post(
            "/api/v1/admin/regions",
            Some(&token),
            &json!({ "name": "儋州" }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{region}");
    let restore = format!("/admin/backups/{name}/restore");
    let (status, _, html) = post_form(
        &admin,
        &app,
        &restore,
        &csrf_of(&html)?,
        &[("confirm", "pifa-wrong")],
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("输入的文件名不一致"), "{html}");
    async fn regions(app: &TestApp) -> anyhow::Result<String> {
        Ok(app.get("/api/v1/regions", None).await?.1.to_string())
    }
    assert!(regions(&app).await?.contains("儋州"), "nothing restored");

    let (status, location, _) = post_form(
        &admin,
        &app,
        &restore,
        &csrf_of(&html)?,
        &[("confirm", &name)],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let job = location.clone().unwrap_or_default();
    let (status, login, _) = finished_job(&admin, &app, location).await?;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "his session ended with the restore"
    );
    assert!(
        login.is_some_and(|l| l.starts_with("/login?next=%2Fadmin%2Fjobs%2F")),
        "to sign in, then back to the job"
    );
    assert!(
        !regions(&app).await?.contains("儋州"),
        "the data as backed up"
    );
    sign_in(&admin, &app, ADMIN).await?;
    let (status, restored) = page(&admin, &app, &job).await?;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert!(restored.contains("恢复完成"), "{restored}");
    let customer_service = browser()?;
    sign_in(&customer_service, &app, SERVICE).await?;
    let (status, _) = page(&customer_service, &app, &job).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "someone else's job");
    Ok(())
}

/// F1 and B6 on the order's page: customer service records money received (in yuan, with how
/// it came) and only those who settle orders are offered the form or may post it; an amount
/// that is no amount comes back beside the form and records nothing.
#[tokio::test]
async fn customer_service_records_a_payment_on_the_orders_page() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let (_, addresses) = app.get("/api/v1/me/addresses", Some(&member)).await?;
    let body = json!({ "delivery_method": "ship", "payment_method": "cash_on_delivery",
        "address_id": addresses[0]["id"],
        "lines": [{ "sku_id": app.sku_id(HARD_HAT_RED).await?, "qty": 20 }] });
    let (status, order, _) = app.place_order(&member, "pay-on-page", &body).await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_i64().unwrap_or_default();
    let path = format!("/orders/{id}");
    let payments = format!("/orders/{id}/payments");
    let manager_token = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let (status, confirmed) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&manager_token),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    let total = confirmed["total_fen"].as_i64().unwrap_or_default();
    let yuan = pifa::money::format_yuan(total);

    // The member and his manager: no form, and the manager's post is refused.
    for phone in [MEMBER, MANAGER_HAIKOU] {
        let client = browser()?;
        sign_in(&client, &app, phone).await?;
        let (_, html) = page(&client, &app, &path).await?;
        assert!(!html.contains("登记收款"), "{phone}: {html}");
        let (status, _, _) = post_form(
            &client,
            &app,
            &payments,
            &csrf_of(&html)?,
            &[("amount", &yuan), ("remark", "现金")],
        )
        .await?;
        assert!(
            matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{phone}: {status}"
        );
    }

    let service = browser()?;
    sign_in(&service, &app, SERVICE).await?;
    let (_, html) = page(&service, &app, &path).await?;
    assert!(html.contains("登记收款"), "{html}");
    assert!(
        html.contains(&format!("value=\"{yuan}\"")),
        "the amount owed: {html}"
    );
    let csrf = csrf_of(&html)?;
    let (status, _, html) = post_form(
        &service,
        &app,
        &payments,
        &csrf,
        &[("amount", "十元"), ("remark", "现金")],
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("金额不正确"), "{html}");
    let (_, unpaid) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&member))
        .await?;
    assert_eq!(unpaid["paid_fen"], 0, "nothing recorded");
    let (status, location, _) = post_form(
        &service,
        &app,
        &payments,
        &csrf,
        &[("amount", &yuan), ("remark", "现金，张师傅代收")],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.is_some_and(|l| l.contains("payment_recorded")));
    let (_, paid) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&member))
        .await?;
    assert_eq!(paid["paid_fen"], total, "{paid}");
    let (_, html) = page(&service, &app, &path).await?;
    assert!(!html.contains("登记收款"), "paid in full: no form");
    Ok(())
}

/// E8 from the office: customer service finds the member's request in 售后's queue (another
/// region's manager does not), a rejection without a reason comes back beside it, he agrees,
/// and records the refund, refused first for more than was paid.
#[tokio::test]
async fn customer_service_decides_and_refunds_an_after_sales_request() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let service_token = app.login(SERVICE, PASSWORD).await?;
    let (_, addresses) = app.get("/api/v1/me/addresses", Some(&member)).await?;
    let body = json!({ "delivery_method": "ship", "payment_method": "cash_on_delivery",
        "address_id": addresses[0]["id"],
        "lines": [{ "sku_id": app.sku_id(HARD_HAT_RED).await?, "qty": 20 }] });
    let (status, order, _) = app.place_order(&member, "after-sales-page", &body).await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_i64().unwrap_or_default();
    let (_, confirmed) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&manager),
            &json!({}),
        )
        .await?;
    let total = confirmed["total_fen"].as_i64().unwrap_or_default();
    let send = json!({ "method": "express", "carrier": "顺丰", "tracking_no": "SF88" });
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/dispatch"),
            Some(&manager),
            &send,
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(
            &format!("/api/v1/orders/{id}/receive"),
            Some(&member),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/payments"),
            Some(&service_token),
            &json!({ "amount_fen": total, "remark": "货到付款已收" }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let request = reqwest::multipart::Form::new()
        .text("kind", "refund")
        .text("reason", "少发2顶")
        .text("lines", r#"[{"line_no":1,"qty":2}]"#)
        .text("amount_fen", "1000");
    let (status, requested) = app
        .post_form(
            &format!("/api/v1/orders/{id}/after-sales"),
            &member,
            request,
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{requested}");
    let request_id = requested["id"].as_i64().unwrap_or_default();
    let row = format!("id=\"after-sale-{request_id}\"");

    let sanya = browser()?;
    sign_in(&sanya, &app, MANAGER_SANYA).await?;
    let (status, html) = page(&sanya, &app, "/admin/after-sales").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains(&row), "not his region's: {html}");

    let service = browser()?;
    sign_in(&service, &app, SERVICE).await?;
    let (_, html) = page(&service, &app, "/admin/after-sales").await?;
    assert!(html.contains(&row) && html.contains("少发2顶"), "{html}");
    let csrf = csrf_of(&html)?;
    let decide = format!("/admin/after-sales/{request_id}/decide");
    let (status, _, html) = post_form(
        &service,
        &app,
        &decide,
        &csrf,
        &[("approve", "false"), ("remark", ""), ("state", "requested")],
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("请填写原因") && html.contains(&row), "{html}");
    let (status, location, _) = post_form(
        &service,
        &app,
        &decide,
        &csrf,
        &[
            ("approve", "true"),
            ("remark", "补发或退款均可"),
            ("state", "requested"),
        ],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.is_some_and(|l| l.contains("state=approved")));

    let refund = format!("/admin/after-sales/{request_id}/refund");
    let too_much = pifa::money::format_yuan(total + 100);
    let (status, _, html) = post_form(
        &service,
        &app,
        &refund,
        &csrf,
        &[("amount", &too_much), ("state", "approved")],
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("金额不正确"), "{html}");
    let (status, _, _) = post_form(
        &service,
        &app,
        &refund,
        &csrf,
        &[
            ("amount", "10.00"),
            ("remark", "微信转账"),
            ("state", "approved"),
        ],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, requests) = app
        .get(&format!("/api/v1/orders/{id}/after-sales"), Some(&member))
        .await?;
    assert_eq!(requests[0]["status"], "refunded", "{requests}");
    assert_eq!(requests[0]["refunded_fen"], 1000, "{requests}");
    Ok(())
}

/// B5 at the store's counter: the verifier finds 添加会员 on 我的 and adds a customer by his
/// phone, shop and name; the same phone again is refused with the form as typed; the customer
/// is a member waiting to complete his profile, in the verifier's region.
#[tokio::test]
async fn a_verifier_adds_a_member_at_his_store() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let verifier = browser()?;
    sign_in(&verifier, &app, VERIFIER).await?;
    let (_, me) = page(&verifier, &app, "/me").await?;
    assert!(me.contains("添加会员"), "the desk: {me}");
    let (status, form) = page(&verifier, &app, "/members/new").await?;
    assert_eq!(status, StatusCode::OK);
    let csrf = csrf_of(&form)?;
    let fields = [
        ("phone", "13755550001"),
        ("company_name", "海口孙记五金"),
        ("contact_name", "孙老板"),
    ];
    let (status, _, html) = post_form(&verifier, &app, "/members/new", &csrf, &fields).await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("已添加") && html.contains("海口孙记五金"),
        "{html}"
    );
    let (status, _, html) = post_form(&verifier, &app, "/members/new", &csrf, &fields).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("该手机号已注册"), "{html}");
    assert!(
        html.contains("value=\"孙老板\""),
        "the form as typed: {html}"
    );

    let admin = app.login(ADMIN, PASSWORD).await?;
    let (_, members) = app
        .get("/api/v1/admin/members?state=authorised", Some(&admin))
        .await?;
    let added = members
        .as_array()
        .and_then(|m| m.iter().find(|m| m["phone"] == "13755550001"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(added["company_name"], "海口孙记五金", "{members}");
    assert!(
        added["region_id"].is_i64(),
        "in the verifier's region: {added}"
    );
    Ok(())
}

/// B5 on the manager's phone: 我的客户 on 我的 opens his customers as the members API scopes
/// them (三亚's manager does not see 海口's 赵老板), his invite code as the API gives it with
/// its QR code, and his figures.
#[tokio::test]
async fn a_manager_sees_his_customers_and_his_invite_code() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let token = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let (_, invite) = app.get("/api/v1/me/invite", Some(&token)).await?;
    let code = invite["invite_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!code.is_empty(), "{invite}");

    let manager = browser()?;
    sign_in(&manager, &app, MANAGER_HAIKOU).await?;
    let (_, me) = page(&manager, &app, "/me").await?;
    assert!(me.contains("我的客户"), "the desk: {me}");
    let (status, html) = page(&manager, &app, "/customers").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&code), "his invite code: {html}");
    assert!(html.contains("qr.svg"), "its QR code: {html}");
    assert!(html.contains("赵老板"), "his customer: {html}");
    let zhao = app.login(MEMBER, PASSWORD).await?;
    let (_, zhao) = app.get("/api/v1/me", Some(&zhao)).await?;
    assert!(
        html.contains(&format!(
            "href=\"/admin/members/{}\">等级、标签与信用",
            zhao["id"]
        )),
        "he looks after his customer's level, tags and credit: {html}"
    );
    let (status, qr) = page(&manager, &app, "/api/v1/me/invite/qr.svg").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        qr.starts_with("<?xml") || qr.contains("<svg"),
        "the picture the page shows"
    );

    // His figures: 赵老板's order today counts for him, at its total; not for 三亚's manager.
    let (_, before) = app.get("/api/v1/me/figures?days=1", Some(&token)).await?;
    let member = app.login(MEMBER, PASSWORD).await?;
    let (_, addresses) = app.get("/api/v1/me/addresses", Some(&member)).await?;
    let body = json!({ "delivery_method": "ship", "payment_method": "cash_on_delivery",
        "address_id": addresses[0]["id"],
        "lines": [{ "sku_id": app.sku_id(HARD_HAT_RED).await?, "qty": 20 }] });
    let (status, order, _) = app.place_order(&member, "figures", &body).await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let (_, after) = app.get("/api/v1/me/figures?days=1", Some(&token)).await?;
    assert_eq!(
        after["orders"],
        before["orders"].as_i64().unwrap_or(0) + 1,
        "{after}"
    );
    assert_eq!(
        after["sales_fen"].as_i64(),
        before["sales_fen"]
            .as_i64()
            .zip(order["total_fen"].as_i64())
            .map(|(b, t)| b + t),
        "{after}"
    );
    let (_, html) = page(&manager, &app, "/customers?days=1").await?;
    assert!(html.contains("我的业绩"), "{html}");
    assert!(
        html.contains(&format!("{} 单", after["orders"])),
        "the page shows them: {html}"
    );
    let (status, refused) = app.get("/api/v1/me/figures?days=999", Some(&token)).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");

    let sanya = browser()?;
    sign_in(&sanya, &app, MANAGER_SANYA).await?;
    let (_, html) = page(&sanya, &app, "/customers").await?;
    assert!(!html.contains("赵老板"), "not his region's: {html}");
    assert!(!html.contains(&code), "his own code, not another's");
    let sanya_token = app.login(MANAGER_SANYA, PASSWORD).await?;
    let (_, theirs) = app
        .get("/api/v1/me/figures?days=1", Some(&sanya_token))
        .await?;
    assert_eq!(theirs["orders"], 0, "not his: {theirs}");
    Ok(())
}

/// Posts a page's form with one file (`file`) and the session's token.
async fn post_file(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    csrf: &str,
    file: Vec<u8>,
    file_name: &str,
) -> anyhow::Result<(StatusCode, Option<String>, String)> {
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", csrf.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(file).file_name(file_name.to_owned()),
        );
    answer(client.post(app.url(path)).multipart(form).send().await?).await
}

/// C1–C3, C6 in the back office's 商品: the admin creates a product with its first SKU, a
/// level price and a quantity break (a price typed wrong is refused by its field with what he
/// typed kept, and nothing is created; a taken item number likewise), changes a SKU's price
/// and stock, adds a SKU, adds and removes a picture, unshelves the product from the list
/// (members no longer find it), and sends the catalogue back in through the import: a file
/// with a bad cell is refused row by row with nothing changed; the export itself imports.
#[tokio::test]
async fn an_admin_keeps_the_goods_in_the_office() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = browser()?;
    sign_in(&admin, &app, ADMIN).await?;
    let (status, list) = page(&admin, &app, "/admin/goods?q=AQM-001").await?;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(
        list.contains("ABS安全帽") || list.contains("安全帽"),
        "{list}"
    );
    let csrf = csrf_of(&list)?;

    let (_, units) = app.get("/api/v1/units", None).await?;
    let unit_id = units[0]["id"].as_i64().unwrap_or_default().to_string();
    let admin_token = app.login(ADMIN, PASSWORD).await?;
    let (_, levels) = app.get("/api/v1/admin/levels", Some(&admin_token)).await?;
    let level_id = levels[0]["id"].as_i64().unwrap_or_default();
    let level_field = format!("level_{level_id}");
    let new_product = |item_no: &'static str, price: &'static str| {
        vec![
            ("item_no", item_no),
            ("name", "办公测试手套"),
            ("unit_id", unit_id.as_str()),
            ("price", price),
            ("stock", "240"),
            ("break_qty_0", "100"),
            ("break_price_0", "11.50"),
            ("on_shelf", "on"),
        ]
    };
    let refused = new_product("OFF-002", "12.3.4");
    let (status, _, html) = post_form(&admin, &app, "/admin/goods/new", &csrf, &refused).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("金额格式不正确"), "{html}");
    assert!(
        html.contains("value=\"OFF-002\""),
        "what he typed stays: {html}"
    );
    assert!(html.contains("value=\"12.3.4\""), "{html}");
    let (_, found) = app
        .get("/api/v1/admin/products?q=OFF-002", Some(&admin_token))
        .await?;
    assert_eq!(found, json!([]), "nothing created");

    let mut good = new_product("OFF-001", "12.50");
    good.push((&level_field, "11.00"));
    let (status, location, html) =
        post_form(&admin, &app, "/admin/goods/new", &csrf, &good).await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let location = location.unwrap_or_default();
    assert!(location.contains("product_created"), "{location}");
    let id: i64 = location
        .trim_start_matches("/admin/goods/")
        .split('?')
        .next()
        .unwrap_or_default()
        .parse()?;
    let (_, created) = app
        .get(&format!("/api/v1/admin/products/{id}"), Some(&admin_token))
        .await?;
    let sku = &created["skus"][0];
    assert_eq!(sku["price_fen"], 1250, "{created}");
    assert_eq!(sku["stock"], 240);
    assert_eq!(sku["level_prices"][0]["price_fen"], 1100, "{created}");
    assert_eq!(
        sku["breaks"][0],
        json!({ "min_qty": 100, "price_fen": 1150 })
    );
    let sku_id = sku["id"].as_i64().unwrap_or_default();

    // The same item number again is refused by its field.
    let (status, _, html) = post_form(&admin, &app, "/admin/goods/new", &csrf, &good).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("货号已被其他商品使用"), "{html}");

    // A SKU's price and stock; the member's shop shows the new price at once.
    let (status, editor) = page(&admin, &app, &format!("/admin/goods/{id}")).await?;
    assert_eq!(status, StatusCode::OK, "{editor}");
    assert!(editor.contains("value=\"12.50\""), "{editor}");
    assert!(
        editor.contains("value=\"11.00\""),
        "the level price: {editor}"
    );
    let (status, _, html) = post_form(
        &admin,
        &app,
        &format!("/admin/goods/{id}/skus/{sku_id}"),
        &csrf,
        &[
            ("price", "13.00"),
            ("stock", "300"),
            (&level_field, "12.00"),
            ("break_qty_0", ""),
            ("break_price_0", ""),
        ],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let member = app.login(MEMBER, PASSWORD).await?;
    let (status, shop_product) = app
        .get(&format!("/api/v1/products/{id}"), Some(&member))
        .await?;
    assert_eq!(status, StatusCode::OK, "{shop_product}");
    let (_, saved) = app
        .get(&format!("/api/v1/admin/products/{id}"), Some(&admin_token))
        .await?;
    assert_eq!(saved["skus"][0]["price_fen"], 1300, "{saved}");
    assert_eq!(saved["skus"][0]["stock"], 300);
    assert_eq!(saved["skus"][0]["breaks"], json!([]), "the break cleared");

    // A bad stock is refused beside that SKU, and the SKU keeps its values.
    let (status, _, html) = post_form(
        &admin,
        &app,
        &format!("/admin/goods/{id}/skus/{sku_id}"),
        &csrf,
        &[("price", "13.00"), ("stock", "很多")],
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("库存填写不正确"), "{html}");
    assert!(html.contains("value=\"很多\""), "{html}");

    // One more SKU.
    let (status, _, html) = post_form(
        &admin,
        &app,
        &format!("/admin/goods/{id}/skus"),
        &csrf,
        &[("model", "加长"), ("price", "15.00"), ("stock", "10")],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, saved) = app
        .get(&format!("/api/v1/admin/products/{id}"), Some(&admin_token))
        .await?;
    assert_eq!(saved["skus"][1]["model"], "加长", "{saved}");

    // A picture, then none.
    let (status, _, html) = post_file(
        &admin,
        &app,
        &format!("/admin/goods/{id}/images"),
        &csrf,
        pifa_e2e::images::jpeg(32, 32)?,
        "glove.jpg",
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, saved) = app
        .get(&format!("/api/v1/admin/products/{id}"), Some(&admin_token))
        .await?;
    let url = saved["images"][0].as_str().unwrap_or_default().to_owned();
    let key = url.rsplit('/').next().unwrap_or_default();
    assert!(!key.is_empty(), "{saved}");
    let (status, _, _) = post_form(
        &admin,
        &app,
        &format!("/admin/goods/{id}/images/{key}/delete"),
        &csrf,
        &[],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, saved) = app
        .get(&format!("/api/v1/admin/products/{id}"), Some(&admin_token))
        .await?;
    assert_eq!(saved["images"], json!([]), "{saved}");

    // 下架 from the list: back to that list, and members no longer find it.
    let back = "/admin/goods?q=OFF-001";
    let (status, location, _) = post_form(
        &admin,
        &app,
        &format!("/admin/goods/{id}/shelf"),
        &csrf,
        &[("on_shelf", "false"), ("back", back)],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.is_some_and(|l| l.starts_with(back) && l.contains("notice=unshelved")),
        "back to the list"
    );
    let (status, _) = app
        .get(&format!("/api/v1/products/{id}"), Some(&member))
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, off) = page(&admin, &app, "/admin/goods?shelf=off").await?;
    assert!(off.contains(&format!("id=\"product-{id}\"")), "{off}");
    let (_, on) = page(&admin, &app, "/admin/goods?shelf=on").await?;
    assert!(!on.contains(&format!("id=\"product-{id}\"")), "{on}");

    // The export, as the office's form makes it (a job, whose page offers the file), imports
    // as it is; with a bad price in one row, the file is refused row by row and nothing
    // changes.
    let (status, location, _) = post_form(
        &admin,
        &app,
        "/admin/goods/export",
        &csrf,
        &[("format", "csv")],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, exported) = finished_job(&admin, &app, location).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(exported.contains("下载 goods.csv"), "{exported}");
    let file = exported
        .split("href=\"")
        .find(|rest| rest.starts_with("&#x2f;admin&#x2f;jobs") || rest.starts_with("/admin/jobs"))
        .and_then(|rest| rest.split('"').next())
        .map(|href| href.replace("&#x2f;", "/"))
        .ok_or_else(|| anyhow::anyhow!("the file's link: {exported}"))?;
    let export = admin.get(app.url(&file)).send().await?;
    assert_eq!(export.status(), StatusCode::OK);
    assert!(
        export
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("goods.csv"))
    );
    let csv = export.text().await?;
    assert!(csv.contains("OFF-001"), "{csv}");
    let (status, _) = page(&browser()?, &app, &file).await?;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "a visitor is sent to sign in"
    );
    let (status, _, _) = post_form(
        &admin,
        &app,
        "/admin/goods/export",
        &csrf,
        &[("format", "pdf")],
    )
    .await?;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a format refused before a job"
    );
    let broken = csv.replacen("13.00", "十三元", 1);
    let (status, location, html) = post_file(
        &admin,
        &app,
        "/admin/goods/import",
        &csrf,
        broken.into_bytes(),
        "goods.csv",
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, _, html) = finished_job(&admin, &app, location).await?;
    assert!(html.contains("没有导入任何数据"), "{html}");
    assert!(html.contains("共 1 处错误"), "{html}");
    assert!(
        html.contains("十三元") || html.contains("<td class=\"num\">"),
        "{html}"
    );
    let (_, saved) = app
        .get(&format!("/api/v1/admin/products/{id}"), Some(&admin_token))
        .await?;
    assert_eq!(saved["skus"][0]["price_fen"], 1300, "unchanged: {saved}");
    let (status, location, html) = post_file(
        &admin,
        &app,
        "/admin/goods/import",
        &csrf,
        csv.into_bytes(),
        "goods.csv",
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, _, html) = finished_job(&admin, &app, location).await?;
    assert!(html.contains("导入完成"), "{html}");
    let (status, _, html) = post_file(
        &admin,
        &app,
        "/admin/goods/import",
        &csrf,
        Vec::new(),
        "empty.csv",
    )
    .await?;
    assert!(status.is_client_error(), "an empty file: {status}");
    assert!(
        html.contains("transfer-error"),
        "refused by the form: {html}"
    );
    Ok(())
}

/// The settings form's fields for `settings` (as `GET /api/v1/admin/settings` gives them):
/// what a browser posts when the admin changes nothing.
fn settings_fields(settings: &Value) -> Vec<(String, String)> {
    let text = |value: &Value| match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let yuan = |value: &Value| {
        value
            .as_i64()
            .map(|fen| format!("{}.{:02}", fen / 100, fen % 100))
            .unwrap_or_default()
    };
    let mut fields: Vec<(String, String)> = [
        "shop_name",
        "logo_url",
        "introduction",
        "service_qr_url",
        "service_phone",
        "shop_mode",
        "confirm_timeout_hours",
        "payment_timeout_hours",
        "auto_receive_days",
        "moq_rule",
        "backup_interval_hours",
        "backups_kept",
        "max_price_percent",
        "theme",
        "fallback_customer_service_id",
    ]
    .iter()
    .map(|name| ((*name).to_owned(), text(&settings[*name])))
    .collect();
    for flag in ["single_page", "require_profile"] {
        if settings[flag] == true {
            fields.push((flag.to_owned(), "on".to_owned()));
        }
    }
    for (group, prefix) in [("payment_methods", "pm"), ("delivery", "delivery")] {
        if let Some(methods) = settings[group].as_object() {
            for (name, on) in methods {
                if *on == true {
                    fields.push((format!("{prefix}.{name}"), "on".to_owned()));
                }
            }
        }
    }
    for name in ["bank_name", "account_name", "account_number"] {
        fields.push((name.to_owned(), text(&settings["bank_account"][name])));
    }
    let shipping = &settings["shipping"];
    fields.push((
        "first_kg".to_owned(),
        yuan(&shipping["default_rate"]["first_kg_fen"]),
    ));
    fields.push((
        "extra_kg".to_owned(),
        yuan(&shipping["default_rate"]["extra_kg_fen"]),
    ));
    fields.push(("free_from".to_owned(), yuan(&shipping["free_from_fen"])));
    for (i, area) in shipping["areas"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        fields.push((format!("area_province_{i}"), text(&area["province"])));
        fields.push((format!("area_city_{i}"), text(&area["city"])));
        fields.push((format!("area_first_{i}"), yuan(&area["first_kg_fen"])));
        fields.push((format!("area_extra_{i}"), yuan(&area["extra_kg_fen"])));
    }
    fields
}

/// `fields` with `name` set to `value` (added when absent, removed when `None`).
fn with_field(
    fields: &[(String, String)],
    name: &str,
    value: Option<&str>,
) -> Vec<(String, String)> {
    let mut changed: Vec<(String, String)> =
        fields.iter().filter(|(n, _)| n != name).cloned().collect();
    if let Some(value) = value {
        changed.push((name.to_owned(), value.to_owned()));
    }
    changed
}

fn as_pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// L3, A1–A2, E5 in the back office's set-up screens: the settings form saves what the admin
/// changed and nothing else (a price typed wrong, or every payment method off, is refused
/// with what he typed kept and nothing saved); a staff account is created and signs in, a
/// taken phone is refused by its field, a disabled account no longer signs in; a region and
/// a pickup point with its verifier are added, a taken region name is refused.
#[tokio::test]
async fn an_admin_sets_up_the_shop_in_the_office() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = browser()?;
    sign_in(&admin, &app, ADMIN).await?;
    let token = app.login(ADMIN, PASSWORD).await?;
    let (status, html) = page(&admin, &app, "/admin/settings").await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("安达劳保五金批发"), "{html}");
    let csrf = csrf_of(&html)?;
    let (_, before) = app.get("/api/v1/admin/settings", Some(&token)).await?;
    let unchanged = settings_fields(&before);

    // Saving the form as it is changes nothing.
    let (status, location, html) = post_form(
        &admin,
        &app,
        "/admin/settings",
        &csrf,
        &as_pairs(&unchanged),
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    assert!(location.is_some_and(|l| l.contains("settings_saved")));
    let (_, after) = app.get("/api/v1/admin/settings", Some(&token)).await?;
    assert_eq!(after, before, "the form carries every setting");

    // A price typed wrong: refused by its field, the rest as typed, nothing saved.
    let renamed = with_field(&unchanged, "shop_name", Some("安达劳保（新店）"));
    let wrong = with_field(&renamed, "first_kg", Some("八块"));
    let (status, _, html) =
        post_form(&admin, &app, "/admin/settings", &csrf, &as_pairs(&wrong)).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("默认首重金额格式不正确"), "{html}");
    assert!(html.contains("value=\"安达劳保（新店）\""), "{html}");
    assert!(
        html.contains("value=\"八块\" aria-invalid=\"true\""),
        "{html}"
    );
    // Every payment method off: refused by the settings' own check.
    let mut none_paid = renamed.clone();
    none_paid.retain(|(name, _)| !name.starts_with("pm."));
    let (status, _, html) = post_form(
        &admin,
        &app,
        "/admin/settings",
        &csrf,
        &as_pairs(&none_paid),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("请至少开启一种可用的付款方式"), "{html}");
    let (_, after) = app.get("/api/v1/admin/settings", Some(&token)).await?;
    assert_eq!(after, before, "nothing saved");

    // The change itself: the name, a method off, the default rate, one area more.
    let mut changed = with_field(&renamed, "pm.wechat_transfer", None);
    changed = with_field(&changed, "first_kg", Some("9.00"));
    changed = with_field(&changed, "area_province_1", Some("广东省"));
    changed = with_field(&changed, "area_city_1", Some("广州市"));
    changed = with_field(&changed, "area_first_1", Some("12.00"));
    changed = with_field(&changed, "area_extra_1", Some("3.50"));
    let (status, _, html) =
        post_form(&admin, &app, "/admin/settings", &csrf, &as_pairs(&changed)).await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, after) = app.get("/api/v1/admin/settings", Some(&token)).await?;
    assert_eq!(after["shop_name"], "安达劳保（新店）");
    assert_eq!(after["payment_methods"]["wechat_transfer"], false);
    assert_eq!(
        after["payment_methods"]["bank_transfer"],
        before["payment_methods"]["bank_transfer"]
    );
    assert_eq!(after["shipping"]["default_rate"]["first_kg_fen"], 900);
    assert_eq!(
        after["shipping"]["areas"][1],
        json!({ "province": "广东省", "city": "广州市", "first_kg_fen": 1200, "extra_kg_fen": 350 })
    );
    assert_eq!(after["bank_account"], before["bank_account"]);
    let (_, shop) = page(&browser()?, &app, "/").await?;
    assert!(shop.contains("安达劳保（新店）"), "the shop's pages follow");

    // 员工: a new driver signs in; his phone again is refused; disabled, he no longer can.
    let (_, regions) = app.get("/api/v1/regions", None).await?;
    let haikou = regions
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "海口"))
        .and_then(|r| r["id"].as_i64())
        .unwrap_or_default()
        .to_string();
    let new_driver = [
        ("name", "新司机"),
        ("phone", "13500009999"),
        ("password", "driver2026"),
        ("roles", "driver"),
        ("region_ids", haikou.as_str()),
        ("vehicle_plate", "琼A·88888"),
    ];
    let (status, location, html) =
        post_form(&admin, &app, "/admin/staff", &csrf, &new_driver).await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    assert!(location.is_some_and(|l| l.contains("staff_added")));
    let driver_token = app.login("13500009999", "driver2026").await?;
    let (_, me) = app.get("/api/v1/me", Some(&driver_token)).await?;
    assert_eq!(me["roles"], json!(["driver"]), "{me}");
    let driver_id = me["id"].as_i64().unwrap_or_default();
    let (status, _, html) = post_form(&admin, &app, "/admin/staff", &csrf, &new_driver).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("这个手机号已有账号"), "{html}");
    assert!(
        html.contains("value=\"新司机\""),
        "what he typed stays: {html}"
    );
    assert!(
        !html.contains("driver2026"),
        "a password is never sent back"
    );
    let (status, _, _) = post_form(
        &admin,
        &app,
        &format!("/admin/staff/{driver_id}/disable"),
        &csrf,
        &[],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let refused = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "phone": "13500009999", "password": "driver2026" }))
        .send()
        .await?;
    assert!(
        refused.status().is_client_error(),
        "a disabled account signs in no more"
    );

    // 区域与自提点: 文昌, then a point there with its verifier.
    let (status, _, html) =
        post_form(&admin, &app, "/admin/regions", &csrf, &[("name", "文昌")]).await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (status, _, html) =
        post_form(&admin, &app, "/admin/regions", &csrf, &[("name", "文昌")]).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("已有同名区域"), "{html}");
    let (_, regions) = app.get("/api/v1/regions", None).await?;
    let wenchang = regions
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "文昌"))
        .and_then(|r| r["id"].as_i64())
        .unwrap_or_default()
        .to_string();
    let verifier = app.login(VERIFIER, PASSWORD).await?;
    let (_, verifier_me) = app.get("/api/v1/me", Some(&verifier)).await?;
    let verifier_id = verifier_me["id"].to_string();
    let (status, _, html) = post_form(
        &admin,
        &app,
        "/admin/pickup-points",
        &csrf,
        &[
            ("name", "文昌门店"),
            ("address", "文昌市文城镇 1 号"),
            ("phone", "0898-6300000"),
            ("region_id", &wenchang),
            ("verifier_ids", &verifier_id),
        ],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, points) = app.get("/api/v1/pickup-points", Some(&token)).await?;
    assert!(
        points
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == "文昌门店")),
        "{points}"
    );
    let (_, html) = page(&admin, &app, "/admin/regions").await?;
    assert!(html.contains("文昌门店"), "{html}");
    Ok(())
}

/// M7 in the back office's 插件: a plugin's settings are a form drawn from its schema; a value
/// its schema refuses (the flash-sale label over 20 characters) comes back by its field with
/// `plugins.toml` untouched; a good one is written into the file with its comments kept and
/// serves at once.
#[tokio::test]
async fn an_admin_changes_a_plugins_settings_through_its_schema() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let file = format!(
        "# 本店插件（集成商维护）\n[[plugin]]\nname = \"flash-sale\"  # 限时抢购\ncomponent = {:?}\ncapabilities = [\"kv\"]\nroute_roles = [\"public\", \"admin\", \"customer_service\"]\nsettings = {{ label = \"限时抢购价\" }}\n",
        pifa_e2e::plugin_component("flash-sale")
            .display()
            .to_string()
    );
    app.install_plugins(&file).await?;
    let admin = browser()?;
    sign_in(&admin, &app, ADMIN).await?;
    let (status, html) = page(&admin, &app, "/admin/plugins").await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("name=\"label\" value=\"限时抢购价\""),
        "{html}"
    );
    let csrf = csrf_of(&html)?;

    let too_long = "超长的限时抢购标签文字超过了二十个字的上限啊";
    let (status, _, html) = post_form(
        &admin,
        &app,
        "/admin/plugins/flash-sale/settings",
        &csrf,
        &[("label", too_long)],
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("设置“label”不符合插件的要求"), "{html}");
    assert!(html.contains(&format!("value=\"{too_long}\"")), "{html}");
    let on_disk = std::fs::read_to_string(app.plugins_toml())?;
    assert_eq!(on_disk, file, "nothing written");

    let (status, location, html) = post_form(
        &admin,
        &app,
        "/admin/plugins/flash-sale/settings",
        &csrf,
        &[("label", "秒杀价")],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    assert!(location.is_some_and(|l| l.contains("plugin_settings_saved")));
    let on_disk = std::fs::read_to_string(app.plugins_toml())?;
    assert!(on_disk.contains("# 本店插件（集成商维护）"), "{on_disk}");
    assert!(on_disk.contains("# 限时抢购"), "{on_disk}");
    assert!(on_disk.contains("label = \"秒杀价\""), "{on_disk}");
    let token = app.login(ADMIN, PASSWORD).await?;
    let (_, status_now) = app.get("/api/v1/admin/plugins", Some(&token)).await?;
    assert_eq!(
        status_now["plugins"][0]["settings"],
        json!({ "label": "秒杀价" }),
        "serving with the new settings: {status_now}"
    );
    // Not suspended: nothing to resume, said beside it.
    let (status, _, html) =
        post_form(&admin, &app, "/admin/plugins/flash-sale/resume", &csrf, &[]).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("无需恢复"), "{html}");
    Ok(())
}

/// C1–C3, B2 in 商品资料: the admin adds a second-level category under a first, a brand, a
/// unit (its packing form first: without it the unit is refused, saying what to add), a
/// product tag, a spec attribute with its values, a member level; a category with goods in
/// it is not deleted, said by its row; every form on the page carries the session's token.
#[tokio::test]
async fn an_admin_keeps_the_catalogues_library_in_the_office() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = browser()?;
    sign_in(&admin, &app, ADMIN).await?;
    let (status, html) = page(&admin, &app, "/admin/catalogue").await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    let csrf = csrf_of(&html)?;
    let forms = html.matches("<form method=\"post\"").count();
    let tokens = html
        .matches(&format!("name=\"csrf_token\" value=\"{csrf}\""))
        .count();
    assert_eq!(tokens, forms, "every form carries the token");

    let (_, categories) = app.get("/api/v1/categories", None).await?;
    let top = categories
        .as_array()
        .and_then(|c| c.iter().find(|c| c["depth"] == 1))
        .cloned()
        .unwrap_or_default();
    let top_id = top["id"].to_string();
    let post = |path: &'static str, fields: Vec<(&'static str, String)>| {
        let admin = admin.clone();
        let csrf = csrf.clone();
        let app = &app;
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
            post_form(&admin, app, path, &csrf, &pairs).await
        }
    };
    let (status, _, html) = post(
        "/admin/catalogue/category",
        vec![
            ("name", "防护眼镜".to_owned()),
            ("parent_id", top_id.clone()),
        ],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, categories) = app.get("/api/v1/categories", None).await?;
    let added = categories
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "防护眼镜"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(added["parent_id"], top["id"], "{categories}");
    assert_eq!(added["depth"], 2);

    // A category with goods stays, said by its row.
    let (status, _, html) = post(
        "/admin/catalogue/category/{}/delete"
            .replace("{}", &top_id)
            .leak(),
        Vec::new(),
    )
    .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("不能删除"), "{html}");

    let (status, _, html) = post(
        "/admin/catalogue/brand",
        vec![
            ("name", "霍尼韦尔".to_owned()),
            ("description", "进口劳保".to_owned()),
        ],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, brands) = app.get("/api/v1/brands", None).await?;
    assert!(brands.to_string().contains("霍尼韦尔"), "{brands}");

    // A unit whose packing form is not in the library is refused, saying what to add.
    let unit = vec![
        ("item_unit", "支".to_owned()),
        ("inner_qty", "12".to_owned()),
        ("inner_unit", "袋".to_owned()),
        ("outer_qty", "240".to_owned()),
        ("outer_unit", "箱".to_owned()),
    ];
    let (status, _, html) = post("/admin/catalogue/unit", unit.clone()).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("请先在下方“包装形式”中添加"), "{html}");
    assert!(
        html.contains("value=\"240\""),
        "what he typed stays: {html}"
    );
    for pack in ["袋", "箱"] {
        let (status, _, html) = post(
            "/admin/catalogue/unit_form",
            vec![
                ("item_unit", "支".to_owned()),
                ("pack_unit", pack.to_owned()),
            ],
        )
        .await?;
        assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    }
    let (status, _, html) = post("/admin/catalogue/unit", unit).await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, units) = app.get("/api/v1/units", None).await?;
    assert!(units.to_string().contains("12支/袋 - 240支/箱"), "{units}");

    let (status, _, _) = post(
        "/admin/catalogue/tag",
        vec![("name", "防疫物资".to_owned())],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = post(
        "/admin/catalogue/spec",
        vec![
            ("name", "尺码".to_owned()),
            ("choices", "S，M、L XL".to_owned()),
        ],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let token = app.login(ADMIN, PASSWORD).await?;
    let (_, specs) = app
        .get("/api/v1/admin/spec-attributes", Some(&token))
        .await?;
    let size = specs
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "尺码"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(size["choices"], json!(["S", "M", "L", "XL"]), "{specs}");
    let (status, _, html) = post(
        "/admin/catalogue/level",
        vec![("name", "钻石会员".to_owned()), ("rank", "9".to_owned())],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, levels) = app.get("/api/v1/admin/levels", Some(&token)).await?;
    assert_eq!(
        levels[0]["name"], "钻石会员",
        "highest rank first: {levels}"
    );
    let (_, tags) = app.get("/api/v1/product-tags", None).await?;
    assert!(tags.to_string().contains("防疫物资"), "{tags}");
    Ok(())
}

/// B3, B4, B6 on a member's page in the office: customer service moves 赵老板 to another level
/// (his next quote is at that level's price), gives him a new tag, puts him on monthly terms
/// with a limit; a limit typed wrong is refused by its field, nothing changed; his manager
/// reads the page without a form; the other region's manager is refused it.
#[tokio::test]
async fn customer_service_sets_a_members_level_tags_and_credit() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let (_, me) = app.get("/api/v1/me", Some(&member)).await?;
    let id = me["id"].as_i64().unwrap_or_default();
    let path = format!("/admin/members/{id}");
    let service = browser()?;
    sign_in(&service, &app, SERVICE).await?;
    let (status, html) = page(&service, &app, &path).await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("服务记录") && html.contains("保存等级"),
        "{html}"
    );
    let csrf = csrf_of(&html)?;

    let token = app.login(ADMIN, PASSWORD).await?;
    let (_, levels) = app.get("/api/v1/admin/levels", Some(&token)).await?;
    let (_, before) = app
        .get(&format!("/api/v1/admin/members/{id}"), Some(&token))
        .await?;
    let other = levels
        .as_array()
        .and_then(|l| l.iter().find(|l| l["id"] != before["level_id"]))
        .cloned()
        .unwrap_or_default();
    let red = app.sku_id(HARD_HAT_RED).await?;
    let (status, _, html) = post_form(
        &service,
        &app,
        &format!("{path}/level"),
        &csrf,
        &[("level_id", &other["id"].to_string())],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, after) = app
        .get(&format!("/api/v1/admin/members/{id}"), Some(&token))
        .await?;
    assert_eq!(after["level_id"], other["id"], "{after}");
    let (status, refused) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/admin/members/{id}/level"),
            Some(&token),
            Some(&json!({ "level_id": 999_999 })),
        )
        .await?;
    assert_eq!(
        (
            status.as_u16(),
            error_code(&refused),
            refused["error"]["field"].as_str()
        ),
        (422, "unknown_level", Some("level_id")),
        "{refused}"
    );
    let hat = app.product_id(HARD_HAT_RED).await?;
    let (_, product) = app
        .get(&format!("/api/v1/admin/products/{hat}"), Some(&token))
        .await?;
    let sku_of = |product: &Value| {
        product["skus"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["id"] == red))
            .cloned()
            .unwrap_or_default()
    };
    let sku = sku_of(&product);
    let level_price = sku["level_prices"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["level_id"] == other["id"]))
        .and_then(|p| p["price_fen"].as_i64())
        .or(sku["price_fen"].as_i64());
    let (_, seen) = app
        .get(&format!("/api/v1/products/{hat}"), Some(&member))
        .await?;
    assert_eq!(
        sku_of(&seen)["price"]["price_fen"].as_i64(),
        level_price,
        "he sees his new level's price: {seen}"
    );

    let (status, _, html) = post_form(
        &service,
        &app,
        &format!("{path}/tags"),
        &csrf,
        &[("new_tag", "月结大客户")],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, html) = page(&service, &app, &path).await?;
    assert!(
        html.contains("checked>月结大客户"),
        "the new tag is his: {html}"
    );

    let (status, _, html) = post_form(
        &service,
        &app,
        &format!("{path}/credit"),
        &csrf,
        &[("terms", "monthly"), ("limit", "五万")],
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("value=\"五万\""), "{html}");
    let (_, unchanged) = app
        .get(&format!("/api/v1/admin/members/{id}"), Some(&token))
        .await?;
    assert_eq!(unchanged["credit_terms"], before["credit_terms"]);
    let (status, _, html) = post_form(
        &service,
        &app,
        &format!("{path}/credit"),
        &csrf,
        &[("terms", "monthly"), ("limit", "50000")],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, credited) = app
        .get(&format!("/api/v1/admin/members/{id}"), Some(&token))
        .await?;
    assert_eq!(credited["credit_terms"], "monthly");
    assert_eq!(credited["credit_limit_fen"], 5_000_000);

    // His manager looks after him too (issue 19: level, tags, credit of his own customers);
    // 三亚's manager does not see him at all.
    let manager = browser()?;
    sign_in(&manager, &app, MANAGER_HAIKOU).await?;
    let (status, html) = page(&manager, &app, &path).await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("服务记录") && html.contains("保存等级"),
        "{html}"
    );
    let (_, me) = page(&manager, &app, "/me").await?;
    let (status, _, _) = post_form(
        &manager,
        &app,
        &format!("{path}/level"),
        &csrf_of(&me)?,
        &[("level_id", &before["level_id"].to_string())],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, back) = app
        .get(&format!("/api/v1/admin/members/{id}"), Some(&token))
        .await?;
    assert_eq!(
        back["level_id"], before["level_id"],
        "his manager set it back"
    );
    let sanya = browser()?;
    sign_in(&sanya, &app, MANAGER_SANYA).await?;
    let (status, html) = page(&sanya, &app, &path).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!html.contains(MEMBER), "nothing of him: {html}");
    Ok(())
}

/// D4 on the phone (代客下单): 海口's manager finds goods for 赵老板, the lines priced as 赵老板
/// pays (his level, not the list price the manager sees); a quantity off the pack is
/// refused on the page; placing it makes one order in 赵老板's name placed by the manager,
/// however often the form is sent; 三亚's manager may not order for him.
#[tokio::test]
async fn a_manager_orders_on_his_customers_behalf_from_the_phone() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let (_, me) = app.get("/api/v1/me", Some(&member)).await?;
    let id = me["id"].as_i64().unwrap_or_default();
    let manager = browser()?;
    sign_in(&manager, &app, MANAGER_HAIKOU).await?;
    let (_, customers) = page(&manager, &app, "/customers").await?;
    let path = format!("/customers/{id}/order");
    assert!(
        customers.contains(&format!("href=\"{path}\"")),
        "{customers}"
    );

    let (status, html) = page(&manager, &app, &format!("{path}?q=安全帽")).await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    let red = app.sku_id(HARD_HAT_RED).await?;
    assert!(html.contains(&format!("name=\"add_{red}\"")), "{html}");

    // Priced as he pays: the member's own price on the product page.
    let hat = app.product_id(HARD_HAT_RED).await?;
    let (_, seen) = app
        .get(&format!("/api/v1/products/{hat}"), Some(&member))
        .await?;
    let his_price = seen["skus"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == red))
        .and_then(|s| s["price"]["price_fen"].as_i64())
        .unwrap_or_default();
    let (status, html) = page(
        &manager,
        &app,
        &format!("{path}?add_{red}=20&delivery=ship"),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&format!("name=\"l_{red}\"")), "{html}");
    let line_total = format!("¥{}.{:02}", his_price * 20 / 100, his_price * 20 % 100);
    assert!(
        html.contains(&line_total),
        "20 at his price {his_price}: {html}"
    );

    let (_, off_pack) = page(&manager, &app, &format!("{path}?add_{red}=7")).await?;
    assert!(off_pack.contains("整包的倍数"), "{off_pack}");

    let csrf = csrf_of(&html)?;
    let key = attribute_near(&html, "name=\"idempotency_key\"", "value").unwrap_or_default();
    let address = attribute_near(&html, "name=\"address_id\"", "value").unwrap_or_default();
    let line = format!("l_{red}");
    let form = [
        ("idempotency_key", key.as_str()),
        ("delivery", "ship"),
        ("address_id", address.as_str()),
        (line.as_str(), "20"),
        ("payment_method", "cash_on_delivery"),
        ("remark", "陈经理代下"),
    ];
    let (_, before) = app.get("/api/v1/orders", Some(&member)).await?;
    let (status, location, html) = post_form(&manager, &app, &path, &csrf, &form).await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let location = location.unwrap_or_default();
    assert!(location.contains("notice=proxy_placed"), "{location}");
    let (status, _, _) = post_form(&manager, &app, &path, &csrf, &form).await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "the same key again");
    let (_, after) = app.get("/api/v1/orders", Some(&member)).await?;
    let count = |orders: &Value| orders.as_array().map_or(0, Vec::len);
    assert_eq!(count(&after), count(&before) + 1, "one order: {after}");
    let placed = &after[0];
    assert_eq!(placed["remark"], "陈经理代下", "{placed}");
    assert_eq!(placed["lines"][0]["qty"], 20, "{placed}");
    let (status, order_page) = page(&manager, &app, &location).await?;
    assert_eq!(status, StatusCode::OK, "the manager opens it: {order_page}");

    let sanya = browser()?;
    sign_in(&sanya, &app, MANAGER_SANYA).await?;
    let (status, html) = page(&sanya, &app, &path).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!html.contains("赵老板"), "{html}");
    Ok(())
}

/// L2 on the phone (我的商品): the supplier finds his goods from 我的, each SKU with its stock and
/// what it sold today — 赵老板's 20 hard hats among them — and nobody else's.
#[tokio::test]
async fn a_supplier_sees_his_goods_stock_and_sales() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let (_, addresses) = app.get("/api/v1/me/addresses", Some(&member)).await?;
    let body = json!({ "delivery_method": "ship", "payment_method": "cash_on_delivery",
        "address_id": addresses[0]["id"],
        "lines": [{ "sku_id": app.sku_id(HARD_HAT_RED).await?, "qty": 20 }] });
    let (status, order, _) = app.place_order(&member, "supplier-sales", &body).await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");

    let supplier = browser()?;
    sign_in(&supplier, &app, SUPPLIER).await?;
    let (_, me) = page(&supplier, &app, "/me").await?;
    assert!(me.contains("我的商品与销量"), "his desk: {me}");
    let (status, html) = page(&supplier, &app, "/supplier/goods?days=1").await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("AQM-001"), "{html}");
    assert!(html.contains("售出 20"), "today's 20 hats: {html}");
    let token = app.login(SUPPLIER, PASSWORD).await?;
    let (_, sales) = app
        .get("/api/v1/supplier/sales?days=1", Some(&token))
        .await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let line = sales
        .as_array()
        .and_then(|s| s.iter().find(|s| s["sku_id"] == red))
        .cloned()
        .unwrap_or_default();
    assert_eq!(line["qty"], 20, "{sales}");
    assert_eq!(
        line["amount_fen"], order["lines"][0]["line_total_fen"],
        "{sales}"
    );
    Ok(())
}

/// M4's replay as a job: the editor's `replay` answers at once with the job's page, which goes
/// back to the editor with the draft as typed and what the replay found; a count out of range
/// is refused before a job starts, and another person cannot open the job.
#[tokio::test]
async fn a_replay_runs_as_a_job_and_comes_back_to_the_editor() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let (_, addresses) = app.get("/api/v1/me/addresses", Some(&member)).await?;
    let body = json!({ "delivery_method": "ship", "payment_method": "cash_on_delivery",
        "address_id": addresses[0]["id"], "lines": [{ "sku_id": app.sku_id(HARD_HAT_RED).await?, "qty": 20 }] });
    let (status, order, _) = app.place_order(&member, "replayed", &body).await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let admin = browser()?;
    sign_in(&admin, &app, ADMIN).await?;
    let (_, html) = page(&admin, &app, "/admin/scripts/pricing").await?;
    let csrf = csrf_of(&html)?;
    let draft = "fn adjust(line, member, now) { [#{ amount_fen: -1, label: \"回放试算\" }] }";
    let (status, _, _) = post_form(
        &admin,
        &app,
        "/admin/scripts/pricing",
        &csrf,
        &[("source", draft), ("action", "replay"), ("last", "0")],
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "last=0 refused");
    let (status, location, html) = post_form(
        &admin,
        &app,
        "/admin/scripts/pricing",
        &csrf,
        &[("source", draft), ("action", "replay"), ("last", "20")],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let job = location.clone().unwrap_or_default();
    let (status, editor, _) = finished_job(&admin, &app, location).await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let editor = editor.unwrap_or_default();
    assert!(
        editor.starts_with("/admin/scripts/pricing?replay="),
        "{editor}"
    );
    let (status, html) = page(&admin, &app, &editor).await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("id=\"replay\""), "{html}");
    assert!(html.contains("回放试算"), "the draft as typed: {html}");
    assert!(
        html.contains("回放 1 单，1 单金额变化"),
        "what it found: {html}"
    );
    let service = browser()?;
    sign_in(&service, &app, SERVICE).await?;
    let (status, _) = page(&service, &app, &job).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}

/// L3's logo and service QR code, and a brand's logo, uploaded from the office (no address
/// of a picture elsewhere to find: the shop serves no outside images): each is stored as a
/// picture of the shop's, served to everyone, and the setting or the brand points at it;
/// a file that is no picture is refused by its form and changes nothing, and only the admin
/// may upload.
#[tokio::test]
async fn an_admin_uploads_the_logo_the_service_qr_and_a_brand_logo() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = browser()?;
    sign_in(&admin, &app, ADMIN).await?;
    let token = app.login(ADMIN, PASSWORD).await?;
    let (_, html) = page(&admin, &app, "/admin/settings").await?;
    let csrf = csrf_of(&html)?;
    let (status, _, html) = post_file(
        &admin,
        &app,
        "/admin/settings/picture/logo_url",
        &csrf,
        b"not a picture".to_vec(),
        "logo.png",
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("settings-error"), "{html}");
    let (_, settings) = app.get("/api/v1/admin/settings", Some(&token)).await?;
    assert!(settings["logo_url"].is_null(), "unchanged: {settings}");

    for field in ["logo_url", "service_qr_url"] {
        let (status, location, html) = post_file(
            &admin,
            &app,
            &format!("/admin/settings/picture/{field}"),
            &csrf,
            pifa_e2e::TINY_PNG.to_vec(),
            "picture.png",
        )
        .await?;
        assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
        assert!(location.is_some_and(|l| l.contains("settings_saved")));
    }
    let (_, settings) = app.get("/api/v1/admin/settings", Some(&token)).await?;
    for field in ["logo_url", "service_qr_url"] {
        let url = settings[field].as_str().unwrap_or_default().to_owned();
        assert!(url.starts_with("/api/v1/images/"), "{field}: {settings}");
        let picture = app.client.get(app.url(&url)).send().await?;
        assert_eq!(picture.status(), StatusCode::OK, "served to a visitor");
        assert_eq!(
            picture
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("image/png")
        );
    }
    let logo = settings["logo_url"].as_str().unwrap_or_default();
    let (_, home) = page(&browser()?, &app, "/").await?;
    assert!(
        home.contains(&logo.replace('/', "&#x2f;")) || home.contains(logo),
        "the storefront shows the new logo"
    );

    let (_, brands) = app.get("/api/v1/brands", None).await?;
    let brand = brands[0]["id"].as_i64().unwrap_or_default();
    let (status, _, html) = post_file(
        &admin,
        &app,
        &format!("/admin/catalogue/brand/{brand}/logo"),
        &csrf,
        pifa_e2e::TINY_PNG.to_vec(),
        "brand.png",
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, brands) = app.get("/api/v1/brands", None).await?;
    let mine = brands
        .as_array()
        .and_then(|all| all.iter().find(|b| b["id"] == brand))
        .cloned()
        .unwrap_or_default();
    assert!(
        mine["logo_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("/api/v1/images/")),
        "{mine}"
    );

    let service = browser()?;
    sign_in(&service, &app, SERVICE).await?;
    let (_, me) = page(&service, &app, "/me").await?;
    let (status, _, _) = post_file(
        &service,
        &app,
        "/admin/settings/picture/logo_url",
        &csrf_of(&me)?,
        pifa_e2e::TINY_PNG.to_vec(),
        "logo.png",
    )
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, after) = app.get("/api/v1/admin/settings", Some(&token)).await?;
    assert_eq!(after["logo_url"], settings["logo_url"], "nothing changed");
    Ok(())
}

/// D6 from the office: the orders list's Excel export is a job over the list's filters in the
/// caller's scope; its page offers the workbook to its starter; a date that is no date is
/// refused on the job's page in words; a member has no export.
#[tokio::test]
async fn customer_service_exports_the_filtered_orders_as_a_job() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let service = browser()?;
    sign_in(&service, &app, SERVICE).await?;
    let (_, html) = page(&service, &app, "/admin/orders").await?;
    assert!(html.contains("action=\"/admin/orders/export\""), "{html}");
    let csrf = csrf_of(&html)?;
    let (status, location, _) = post_form(
        &service,
        &app,
        "/admin/orders/export",
        &csrf,
        &[
            ("q", ""),
            ("status", "pending_confirmation"),
            ("from", ""),
            ("to", ""),
        ],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let job = location.clone().unwrap_or_default();
    let (status, _, done) = finished_job(&service, &app, location).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(done.contains("下载 orders.xlsx"), "{done}");
    let workbook = service.get(app.url(&format!("{job}/file"))).send().await?;
    assert_eq!(workbook.status(), StatusCode::OK);
    let bytes = workbook.bytes().await?;
    assert!(bytes.starts_with(b"PK"), "an .xlsx workbook");

    let (status, location, _) = post_form(
        &service,
        &app,
        "/admin/orders/export",
        &csrf,
        &[("from", "昨天")],
    )
    .await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, refused) = finished_job(&service, &app, location).await?;
    assert!(refused.contains("job-error"), "{refused}");
    assert!(refused.contains("日期不正确"), "{refused}");

    let member = browser()?;
    sign_in(&member, &app, MEMBER).await?;
    let (_, me) = page(&member, &app, "/me").await?;
    let (status, _, _) = post_form(
        &member,
        &app,
        "/admin/orders/export",
        &csrf_of(&me)?,
        &[("status", "")],
    )
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = page(&member, &app, &format!("{job}/file")).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "not his job");
    Ok(())
}
