//! Store owners compose the homepage (REQUIREMENTS J1, J2, M2, M5; issue 20): the decoration
//! plugin keeps drafts, published versions and rollbacks; the kernel draws its layouts through
//! the theme's section templates with each viewer's prices; a section the theme's schema
//! refuses is refused naming the field; rich text renders inert; without the plugin the shop
//! keeps its default homepage.

use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp, error_code, plugin_component};
use reqwest::header::{CONTENT_SECURITY_POLICY, LOCATION, X_FRAME_OPTIONS};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const HARD_HAT_RED: &str = "6901234500011";

fn decoration_entry() -> String {
    format!(
        "[[plugin]]\nname = \"decoration\"\ncomponent = {:?}\ncapabilities = [\"kv\", \"pages\", \"pictures\"]\non_error = \"skip\"\nroute_roles = [\"public\", \"admin\"]\nquota = {{ route_fuel = 12000000 }}\n",
        plugin_component("decoration").display().to_string()
    )
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

async fn page(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
) -> anyhow::Result<(StatusCode, String)> {
    let response = client.get(app.url(path)).send().await?;
    Ok((response.status(), response.text().await?))
}

async fn put_draft(
    app: &TestApp,
    admin: &str,
    page: &str,
    draft: &Value,
) -> anyhow::Result<(StatusCode, Value)> {
    app.call(
        Method::PUT,
        &format!("/api/v1/plugins/decoration/pages/{page}/draft"),
        Some(admin),
        Some(draft),
    )
    .await
}

async fn publish(app: &TestApp, admin: &str, page: &str) -> anyhow::Result<Value> {
    let (status, body) = app
        .post(
            &format!("/api/v1/plugins/decoration/pages/{page}/publish"),
            Some(admin),
            &json!({}),
        )
        .await?;
    anyhow::ensure!(status == StatusCode::OK, "publish {page}: {status} {body}");
    Ok(body)
}

fn notice(text: &str) -> Value {
    json!({ "kind": "notice", "settings": { "text": text } })
}

#[tokio::test]
async fn an_owner_publishes_previews_and_rolls_back_the_homepage() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    app.install_plugins(&decoration_entry()).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let member = signed_in(&app, MEMBER).await?;
    let visitor = browser()?;
    let owner = signed_in(&app, ADMIN).await?;
    let hat = app.product_id(HARD_HAT_RED).await?;

    // Nothing published: the default homepage (search, categories, the newest goods).
    let (status, home) = page(&member, &app, "/").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        home.contains("上架商品") && home.contains("商品分类"),
        "{home}"
    );

    // A draft: a notice, the hard hat picked by hand, a colour of the page.
    let spring = json!({
        "title": "春季",
        "colors": { "primary": "#0a7d4f" },
        "sections": [
            notice("春季大促满500包邮"),
            { "kind": "goods", "settings": { "title": "本周主推", "source": "picked", "product_ids": [hat] } },
        ],
    });
    let (status, state) = put_draft(&app, &admin, "home", &spring).await?;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(
        state["draft"]["sections"][1]["settings"]["count"], 12,
        "defaults filled in: {state}"
    );

    // Members still see the default page; staff preview the draft, framed by the office only.
    let (_, home) = page(&member, &app, "/").await?;
    assert!(!home.contains("春季大促"), "{home}");
    let preview = owner.get(app.url("/pages/preview/home")).send().await?;
    assert_eq!(preview.status(), StatusCode::OK);
    assert_eq!(
        preview.headers().get(X_FRAME_OPTIONS).map(|v| v.as_bytes()),
        Some(&b"SAMEORIGIN"[..])
    );
    let policy = preview
        .headers()
        .get(CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(policy.contains("frame-ancestors 'self'"), "{policy}");
    let preview = preview.text().await?;
    assert!(
        preview.contains("春季大促") && preview.contains("预览草稿"),
        "{preview}"
    );
    let (status, _) = page(&member, &app, "/pages/preview/home").await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "a member gets no preview");
    let response = visitor.get(app.url("/pages/preview/home")).send().await?;
    assert!(
        response.status().is_redirection(),
        "a visitor is sent to sign in"
    );
    assert!(
        response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .starts_with("/login")
    );
    let (_, home) = page(&member, &app, "/").await?;
    let policy_home = member.get(app.url("/")).send().await?;
    assert_eq!(
        policy_home
            .headers()
            .get(X_FRAME_OPTIONS)
            .map(|v| v.as_bytes()),
        Some(&b"DENY"[..])
    );
    assert!(!home.contains("春季大促"));

    // Published: members see exactly the draft, with their price; a visitor sees none.
    publish(&app, &admin, "home").await?;
    let (_, home) = page(&member, &app, "/").await?;
    assert!(
        home.contains("春季大促满500包邮") && home.contains("本周主推"),
        "{home}"
    );
    assert!(
        home.contains("--color-primary: #0a7d4f !important"),
        "the page's colour: {home}"
    );
    assert!(
        !home.contains("上架商品"),
        "the default page is gone: {home}"
    );
    assert!(
        home.contains(&format!("/products/{hat}")) && home.contains("¥"),
        "{home}"
    );
    let (_, seen_by_visitor) = page(&visitor, &app, "/").await?;
    assert!(
        seen_by_visitor.contains("本周主推") && seen_by_visitor.contains("登录后查看价格"),
        "{seen_by_visitor}"
    );
    assert!(
        !seen_by_visitor.contains("¥"),
        "no price for a visitor: {seen_by_visitor}"
    );

    // A price change shows at once on the drawn (and kept) section.
    let product = app
        .store
        .catalog()
        .product(hat)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no hat"))?;
    let sku = product
        .skus
        .first()
        .ok_or_else(|| anyhow::anyhow!("no sku"))?;
    let new_price = 1234;
    let level_prices: Vec<Value> = sku
        .level_prices
        .iter()
        .map(|l| json!({ "level_id": l.level_id, "price_fen": new_price }))
        .collect();
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/skus/{}", sku.id),
            Some(&admin),
            Some(&json!({ "model": sku.model, "spec": sku.spec, "price_fen": new_price, "stock": sku.stock,
                "barcode": sku.barcode, "level_prices": level_prices, "breaks": [] })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, home) = page(&member, &app, "/").await?;
    assert!(
        home.contains("¥12.34"),
        "the new (lowest) price on the homepage: {home}"
    );

    // A second version, then back to the first.
    let mut winter = spring.clone();
    winter["sections"][0] = notice("冬季清仓");
    let (status, _) = put_draft(&app, &admin, "home", &winter).await?;
    assert_eq!(status, StatusCode::OK);
    let state = publish(&app, &admin, "home").await?;
    assert_eq!(state["published"]["version"], 2, "{state}");
    let (_, home) = page(&member, &app, "/").await?;
    assert!(
        home.contains("冬季清仓") && !home.contains("春季大促"),
        "{home}"
    );
    let (status, state) = app
        .post(
            "/api/v1/plugins/decoration/pages/home/rollback/1",
            Some(&admin),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{state}");
    let (_, home) = page(&member, &app, "/").await?;
    assert!(
        home.contains("春季大促") && !home.contains("冬季清仓"),
        "the first version returns: {home}"
    );

    // Removing the plugin from plugins.toml: the default homepage, no restart.
    app.install_plugins("").await?;
    let (status, home) = page(&member, &app, "/").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        home.contains("上架商品") && !home.contains("春季大促"),
        "{home}"
    );
    Ok(())
}

#[tokio::test]
async fn a_section_the_schema_refuses_is_refused_naming_the_field_and_nothing_is_saved()
-> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    app.install_plugins(&decoration_entry()).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let saved = json!({ "sections": [notice("保存的公告")] });
    let (status, _) = put_draft(&app, &admin, "home", &saved).await?;
    assert_eq!(status, StatusCode::OK);
    for (draft, field) in [
        (
            json!({ "sections": [notice("x"), { "kind": "goods", "settings": { "count": 99 } }] }),
            "sections[1].count",
        ),
        (
            json!({ "sections": [{ "kind": "marquee", "settings": {} }] }),
            "sections[0].kind",
        ),
        (
            json!({ "sections": [{ "kind": "banner", "settings": { "images": [{ "image": "https://evil.example/a.png", "link": "/" }] } }] }),
            "sections[0].images[0].image",
        ),
        (
            json!({ "sections": [{ "kind": "image_ad", "settings": { "link": "//evil.example" } }] }),
            "sections[0].link",
        ),
        (
            json!({ "colors": { "primary": "red;background:url(x)" }, "sections": [] }),
            "colors.primary",
        ),
    ] {
        let (status, body) = put_draft(&app, &admin, "home", &draft).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{draft}: {body}");
        assert_eq!(body["error"]["field"], field, "{body}");
        assert!(
            !body["error"]["message"].as_str().unwrap_or("").is_empty(),
            "{body}"
        );
    }
    let (_, state) = app
        .get("/api/v1/plugins/decoration/pages/home", Some(&admin))
        .await?;
    assert_eq!(
        state["draft"]["sections"][0]["settings"]["text"], "保存的公告",
        "nothing refused was saved: {state}"
    );

    // Only staff who manage the shop edit it; a member is refused before the plugin runs.
    let member = app.login(MEMBER, PASSWORD).await?;
    let (status, body) = put_draft(&app, &member, "home", &saved).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(&body), "forbidden");
    Ok(())
}

#[tokio::test]
async fn rich_text_renders_inert_and_landing_pages_use_the_same_machinery() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    app.install_plugins(&decoration_entry()).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let member = signed_in(&app, MEMBER).await?;
    let hostile = "<p>满1000减100</p><script>alert('x')</script><img src=\"/api/v1/images/a.png\" onerror=\"alert(2)\"><a href=\"javascript:alert(3)\" onclick=\"alert(4)\">看看</a>";
    let draft = json!({ "title": "双十二", "sections": [{ "kind": "rich_text", "settings": { "html": hostile } }] });
    let (status, body) = put_draft(&app, &admin, "double-12", &draft).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = page(&member, &app, "/pages/double-12").await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "not published yet");
    publish(&app, &admin, "double-12").await?;
    let (status, landing) = page(&member, &app, "/pages/double-12").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        landing.contains("满1000减100") && landing.contains("看看") && landing.contains("双十二"),
        "{landing}"
    );
    for inert in ["<script>alert", "onerror", "onclick", "javascript:"] {
        assert!(!landing.contains(inert), "{inert} in {landing}");
    }
    let (status, _) = page(&member, &app, "/pages/no-such-page").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A picture for a banner goes through the plugin's picture route: stored as the shop's,
    // served from the shop, never handed to the plugin as bytes.
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/plugins/decoration/pictures"))
        .bearer_auth(&admin)
        .header("content-type", "image/png")
        .body(pifa_e2e::TINY_PNG.to_vec())
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    let picture: Value = response.json().await?;
    let url = picture["url"].as_str().unwrap_or_default().to_owned();
    assert!(url.starts_with("/api/v1/images/"), "{picture}");
    let (status, _) = app.get(&url, None).await?;
    assert_eq!(status, StatusCode::OK);
    let banner = json!({ "sections": [{ "kind": "banner", "settings": { "images": [{ "image": url, "link": "/pages/double-12" }] } }] });
    let (status, body) = put_draft(&app, &admin, "home", &banner).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let member_token = app.login(MEMBER, PASSWORD).await?;
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/plugins/decoration/pictures"))
        .bearer_auth(&member_token)
        .header("content-type", "image/png")
        .body(pifa_e2e::TINY_PNG.to_vec())
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let not_a_picture = reqwest::Client::new()
        .post(app.url("/api/v1/plugins/decoration/pictures"))
        .bearer_auth(&admin)
        .header("content-type", "image/png")
        .body(b"<svg onload=alert(1)>".to_vec())
        .send()
        .await?;
    assert_eq!(not_a_picture.status(), StatusCode::UNPROCESSABLE_ENTITY);
    Ok(())
}

/// The session's CSRF token in a page's forms.
fn csrf_in(html: &str) -> anyhow::Result<String> {
    html.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no csrf token in the page"))
}

/// The editor without JavaScript: sections added and moved by plain forms, a picture uploaded
/// in a section's form (stored through the plugin's picture route), a link to another site
/// refused on the editor's page naming the field.
#[tokio::test]
async fn the_editor_works_with_plain_forms_and_uploads_a_sections_picture() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    app.install_plugins(&decoration_entry()).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let owner = signed_in(&app, ADMIN).await?;
    let (status, editor) = page(&owner, &app, "/admin/decoration").await?;
    assert_eq!(status, StatusCode::OK, "{editor}");
    let csrf = csrf_in(&editor)?;
    for kind in ["image_ad", "notice"] {
        let response = owner
            .post(app.url("/admin/decoration/home/add"))
            .form(&[("csrf_token", csrf.as_str()), ("kind", kind)])
            .send()
            .await?;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "{}",
            response.text().await?
        );
    }
    // A form drawn before those saves (another tab's): refused, the later draft kept.
    let stale = owner
        .post(app.url("/admin/decoration/home/add"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("kind", "spacer"),
            ("changed_at", "none"),
        ])
        .send()
        .await?;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let stale = stale.text().await?;
    assert!(stale.contains("草稿刚被他人修改"), "{stale}");
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", csrf.clone())
        .text("index", "0")
        .text("f.image", "")
        .text("f.link", "/cart")
        .text("f.alt", "整箱更优惠")
        .part(
            "file.image",
            reqwest::multipart::Part::bytes(pifa_e2e::TINY_PNG.to_vec())
                .file_name("ad.png")
                .mime_str("image/png")?,
        );
    let response = owner
        .post(app.url("/admin/decoration/home/section"))
        .multipart(form)
        .send()
        .await?;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{}",
        response.text().await?
    );
    let response = owner
        .post(app.url("/admin/decoration/home/move"))
        .form(&[("csrf_token", csrf.as_str()), ("from", "1"), ("to", "0")])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, state) = app
        .get("/api/v1/plugins/decoration/pages/home", Some(&admin))
        .await?;
    let sections = &state["draft"]["sections"];
    assert_eq!(sections[0]["kind"], "notice", "{state}");
    assert_eq!(sections[1]["kind"], "image_ad", "{state}");
    let picture = sections[1]["settings"]["image"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(picture.starts_with("/api/v1/images/"), "{state}");
    assert_eq!(sections[1]["settings"]["link"], "/cart");

    // The uploaded picture is offered in every picture field afterwards.
    let (_, editor) = page(&owner, &app, "/admin/decoration").await?;
    let editor = editor.replace("&#x2f;", "/");
    assert!(
        editor.contains(&format!("<option value=\"{picture}\">")),
        "the picture library: {editor}"
    );

    // A link to another site: the editor's page says which section and field, nothing saved.
    let response = owner
        .post(app.url("/admin/decoration/home/section"))
        .multipart(
            reqwest::multipart::Form::new()
                .text("csrf_token", csrf.clone())
                .text("index", "1")
                .text("f.image", picture.clone())
                .text("f.link", "//evil.example/x")
                .text("f.alt", ""),
        )
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = response.text().await?;
    assert!(
        refused.contains("第 2 个版块") && refused.contains("本店的页面地址"),
        "{refused}"
    );
    assert!(
        refused.contains("aria-invalid=\"true\""),
        "the field is marked: {refused}"
    );
    let (_, state) = app
        .get("/api/v1/plugins/decoration/pages/home", Some(&admin))
        .await?;
    assert_eq!(
        state["draft"]["sections"][1]["settings"]["link"], "/cart",
        "nothing saved"
    );

    // Published, the picture is on the homepage, a link of the shop's around it.
    let response = owner
        .post(app.url("/admin/decoration/home/publish"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, home) = page(&browser()?, &app, "/").await?;
    // Attribute values come escaped (`/` as `&#x2f;`), which a browser reads back.
    let home = home.replace("&#x2f;", "/");
    assert!(
        home.contains(&format!("src=\"{picture}\"")) && home.contains("整箱更优惠"),
        "{home}"
    );
    Ok(())
}
