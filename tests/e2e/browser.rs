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
