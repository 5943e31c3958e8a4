//! Pages in a real Chromium at a phone's width (tests/src/browser.rs): what only a browser
//! can tell — what is drawn, at what size, and that a member's words stay words.

use pifa_e2e::browser::{self, Browser, Screen};
use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const HARD_HAT_RED: &str = "6901234500011";

/// E10: the manager opens an order's delivery note on his phone: the shop's title, the
/// order's number and line, the QR code drawn large enough to scan, and a remark a member
/// typed as a script shown as the words he typed and never run.
#[tokio::test]
async fn a_delivery_note_reads_on_a_phone() -> anyhow::Result<()> {
    if !browser::available() {
        return Ok(());
    }
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let (_, addresses) = app.get("/api/v1/me/addresses", Some(&member)).await?;
    let remark = "<img src=x onerror=\"document.title='pwned'\">急用";
    let body = json!({ "delivery_method": "ship", "payment_method": "cash_on_delivery",
        "address_id": addresses[0]["id"], "remark": remark,
        "lines": [{ "sku_id": app.sku_id(HARD_HAT_RED).await?, "qty": 20 }] });
    let (status, order, _) = app.place_order(&member, "browser-note", &body).await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let number = order["number"].as_str().unwrap_or_default().to_owned();
    let id = order["id"].as_i64().unwrap_or_default();

    let browser = Browser::open("delivery_note", &app.url(""), Screen::Phone).await?;
    let outcome = async {
        browser.sign_in(MANAGER_HAIKOU, PASSWORD).await?;
        browser
            .goto(&format!("/api/v1/orders/{id}/delivery-note"))
            .await?;
        let heading = browser.text("h1").await?;
        anyhow::ensure!(heading.contains("出库签收单"), "heading: {heading}");
        let page = browser.text("body").await?;
        anyhow::ensure!(page.contains(&number), "the order's number: {page}");
        anyhow::ensure!(page.contains("AQM-001"), "the line's item number: {page}");
        anyhow::ensure!(page.contains(remark), "the remark as typed: {page}");
        let title = browser.eval("return document.title").await?;
        anyhow::ensure!(
            title.as_str().is_some_and(|t| t.contains(&number)),
            "the remark's handler never ran: title {title}"
        );
        let qr = browser
            .eval("const r = document.querySelector('.qr svg').getBoundingClientRect(); return [r.width, r.height, r.left, r.right, screen.width]")
            .await?;
        let number = |i: usize| qr[i].as_f64().unwrap_or_default();
        anyhow::ensure!(
            number(0).min(number(1)) >= 100.0,
            "the QR code is {qr} CSS pixels, too small to scan"
        );
        anyhow::ensure!(
            number(2) >= 0.0 && number(3) <= number(4),
            "the QR code ([w, h, left, right, screen] = {qr}) is cut off by the screen's edge"
        );
        browser.screenshot("delivery-note-375").await?;
        Ok(())
    }
    .await;
    browser.finish(outcome).await
}

/// B2, J2 in a phone's browser: in the internal shop a visitor sees the goods and no price
/// anywhere in the page; 我的 sends him to sign in and back; once signed in through the form,
/// the member sees his own price, the one the API gives him. Every page fits the 375 px
/// screen and its tap targets are at least 44 px.
#[tokio::test]
async fn a_visitor_sees_no_price_and_a_member_signs_in_to_see_his() -> anyhow::Result<()> {
    if !browser::available() {
        return Ok(());
    }
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let token = app.login(MEMBER, PASSWORD).await?;
    let (first, lowest) = app.first_listed(&token).await?;

    let browser = Browser::open("sign_in_prices", &app.url(""), Screen::Phone).await?;
    let outcome = async {
        browser.goto("/").await?;
        let goods = browser.find_all(".good").await?;
        anyhow::ensure!(!goods.is_empty(), "no goods on the home page");
        let page = browser.text("main").await?;
        anyhow::ensure!(page.contains(&first), "{first} on the shelf: {page}");
        let html = browser.html().await?;
        anyhow::ensure!(!html.contains('¥'), "a price in a visitor's page");
        anyhow::ensure!(
            page.contains("登录后查看价格"),
            "what a visitor is told: {page}"
        );
        browser.fits_a_phone().await?;
        browser.screenshot("home-visitor-375").await?;

        browser.tap("nav.tabbar a[href='/me']").await?;
        browser.wait_for_path("/login").await?;
        browser.fits_a_phone().await?;
        browser.fill("#phone", MEMBER).await?;
        browser.fill("#password", PASSWORD).await?;
        browser.screenshot("sign-in-375").await?;
        browser.tap("form button[type=submit]").await?;
        browser.wait_for_path("/me").await?;
        anyhow::ensure!(
            browser.text("main").await?.contains("退出登录"),
            "我的 after signing in"
        );
        browser.fits_a_phone().await?;
        browser.screenshot("me-member-375").await?;

        browser.tap("nav.tabbar a[href='/']").await?;
        browser.wait_for_path("/").await?;
        let page = browser.text("main").await?;
        let shown = pifa::money::format_price(lowest);
        anyhow::ensure!(page.contains(&shown), "the member's price {shown}: {page}");
        browser.fits_a_phone().await?;
        browser.screenshot("home-member-375").await?;
        Ok(())
    }
    .await;
    browser.finish(outcome).await
}

/// Does `action` (a tap that posts a form) and waits for the page it leads to: the same path
/// may come back, so the old page is marked and the wait is for a page without the mark.
async fn next_page(
    browser: &Browser,
    action: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    browser
        .eval("document.documentElement.dataset.left = 'yes'; return null")
        .await?;
    action.await?;
    let started = std::time::Instant::now();
    loop {
        let fresh = browser
            .eval("return document.readyState === 'complete' && document.documentElement.dataset.left === undefined")
            .await
            .unwrap_or(serde_json::Value::Bool(false));
        if fresh == serde_json::Value::Bool(true) {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the form's answer did not load"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// B1, C1, D1, D3 in a phone's browser: a member signs in through the form, opens a product
/// from the home page, orders two of its SKUs in pack steps (an off-step quantity first,
/// refused by its field), finds both in the cart with the amounts the API gives, and checks
/// out to a confirmation with the order's number; each page fits the 375 px screen with 44 px
/// tap targets.
#[tokio::test]
async fn a_member_orders_two_skus_from_a_product_page_and_sees_them_in_the_cart()
-> anyhow::Result<()> {
    if !browser::available() {
        return Ok(());
    }
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let red = app.sku_id("6901234500011").await?;
    let yellow = app.sku_id("6901234500028").await?;
    let sku = pifa::ids::SkuId(red);
    let hat = app
        .store
        .catalog()
        .sku_products(&[sku])
        .await?
        .get(&sku)
        .map(|p| p.get())
        .ok_or_else(|| anyhow::anyhow!("no product for the red hat"))?;

    let browser = Browser::open("order_from_product", &app.url(""), Screen::Phone).await?;
    let outcome = async {
        browser.goto("/login?next=/").await?;
        browser.fill("#phone", MEMBER).await?;
        browser.fill("#password", PASSWORD).await?;
        browser.tap("form button[type=submit]").await?;
        browser.wait_for_path("/").await?;

        browser
            .tap(&format!(".good a[href='/products/{hat}']"))
            .await?;
        browser.wait_for_path(&format!("/products/{hat}")).await?;
        browser.fits_a_phone().await?;
        browser.screenshot("product-member-375").await?;

        // 15 is off the 10-piece step: refused by the red SKU's field.
        browser.fill(&format!("#qty-{red}"), "15").await?;
        // The browser's own step check would stop the form first: the server's is tested.
        browser
            .eval(
                "document.querySelectorAll('form').forEach(f => f.noValidate = true); return null",
            )
            .await?;
        browser
            .tap(&format!("#sku-{red} form button[type=submit]"))
            .await?;
        let refusal = browser.text(&format!("#qty-error-{red}")).await?;
        anyhow::ensure!(refusal.contains("整数倍"), "the refusal: {refusal}");
        browser.fits_a_phone().await?;
        browser.screenshot("product-refused-375").await?;

        for (id, qty) in [(red, "20"), (yellow, "10")] {
            browser.fill(&format!("#qty-{id}"), qty).await?;
            let button = format!("#sku-{id} form button[type=submit]");
            next_page(&browser, browser.tap(&button)).await?;
            browser.wait_for_path(&format!("/products/{hat}")).await?;
            let main = browser.text("main .notice").await?;
            anyhow::ensure!(main.contains("已加入购物车"), "the notice: {main}");
        }

        browser.tap("nav.tabbar a[href='/cart']").await?;
        browser.wait_for_path("/cart").await?;
        let token = app.login(MEMBER, PASSWORD).await?;
        let (status, cart) = app.get("/api/v1/cart", Some(&token)).await?;
        anyhow::ensure!(status == StatusCode::OK, "{cart}");
        let lines = browser.find_all(".cart-line").await?;
        anyhow::ensure!(lines.len() == 2, "two lines: {cart}");
        for (id, qty) in [(red, 20), (yellow, 10)] {
            let line = cart["lines"]
                .as_array()
                .and_then(|l| l.iter().find(|l| l["sku_id"] == id))
                .ok_or_else(|| anyhow::anyhow!("{id} not in {cart}"))?;
            anyhow::ensure!(line["qty"] == qty, "{line}");
            let shown = browser.text(&format!("#line-{id}")).await?;
            let amount = pifa::money::format_price(line["subtotal_fen"].as_i64().unwrap_or(-1));
            anyhow::ensure!(shown.contains(&amount), "{amount} in {shown}");
        }
        let total = pifa::money::format_price(cart["goods_fen"].as_i64().unwrap_or(-1));
        let totals = browser.text(".totals").await?;
        anyhow::ensure!(totals.contains(&total), "{total} in {totals}");
        browser.fits_a_phone().await?;
        browser.screenshot("cart-member-375").await?;

        // 去结算: the quote's total, then one order with its number.
        browser.tap(".totals a[href='/checkout']").await?;
        browser.wait_for_path("/checkout").await?;
        browser.fits_a_phone().await?;
        browser.screenshot("checkout-member-375").await?;
        // Scrolled to the middle: WebDriver scrolls to the bottom edge, under the tab bar.
        browser
            .eval("document.querySelector('main form button[type=submit]').scrollIntoView({block: 'center'}); return null")
            .await?;
        next_page(&browser, browser.tap("main form button[type=submit]")).await?;
        let number = browser.text(".order-number").await?;
        let (_, orders) = app.get("/api/v1/orders?limit=1", Some(&token)).await?;
        anyhow::ensure!(
            orders[0]["number"].as_str() == Some(number.trim()),
            "the confirmation's number {number}: {orders}"
        );
        browser.fits_a_phone().await?;
        browser.screenshot("order-placed-375").await?;
        Ok(())
    }
    .await;
    browser.finish(outcome).await
}
