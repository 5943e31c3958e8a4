//! Crash safety of checkout (D3, K2): the real server binary is killed with SIGKILL in the
//! middle of a checkout burst, again and again. The clients keep a ledger of every order the
//! server acknowledged; after each restart every one of them is there with its lines and
//! adjustments and its outbox events, and the stock adds up. `CRASH_CYCLES` sets the number of
//! cycles (default 20; `bash xtask/crash-checkout.sh` runs 1,000).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use pifa::ids::{OrderId, SkuId};
use pifa::orders::OrderScope;
use pifa::orders::queries::OrderFilter;
use pifa::store::Store;
use pifa_e2e::pifa_demo::*;
use pifa_e2e::process::{login, seed_fixture, spawn};
use pifa_e2e::{Backend, TestDatabase, on_both_backends};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// What the server acknowledged: each order as answered, whether a cancel was answered, and
/// the cycle of the last acknowledgement.
#[derive(Default)]
struct Ledger {
    orders: BTreeMap<i64, (Value, bool, u64)>,
}

/// Checks the ledger against the database after a restart: every acknowledged order is there;
/// those acknowledged in this cycle have their lines, totals and events (earlier ones were
/// checked after their own cycle, and nothing changes them since); stock adds up.
async fn audit(
    database: &TestDatabase,
    ledger: &Ledger,
    cycle: u64,
    initial: &BTreeMap<i64, i64>,
) -> anyhow::Result<()> {
    let store = Store::open(&database.url).await?;
    let stored: std::collections::HashSet<i64> = store
        .orders()
        .filter_order_ids(&OrderFilter {
            limit: i64::MAX,
            ..OrderFilter::scoped(OrderScope::All)
        })
        .await?
        .into_iter()
        .map(OrderId::get)
        .collect();
    for id in ledger.orders.keys() {
        assert!(stored.contains(id), "acknowledged order {id} is gone");
    }
    let fresh: Vec<OrderId> = ledger
        .orders
        .iter()
        .filter(|(_, (_, _, at))| *at == cycle)
        .map(|(id, _)| OrderId(*id))
        .collect();
    for order in store.orders().orders_with_details(&fresh).await? {
        let (acknowledged, cancelled, _) = &ledger.orders[&order.id.get()];
        let id = order.id;
        let view = serde_json::to_value(order.view(pifa::orders::Audience::Member))?;
        assert_eq!(
            view["lines"], acknowledged["lines"],
            "order {id}: lines differ"
        );
        assert_eq!(view["total_fen"], acknowledged["total_fen"], "order {id}");
        let events = store.orders().order_event_kinds(id.get()).await?;
        assert!(
            events.iter().any(|k| k == "order.placed"),
            "order {id}: no placed event"
        );
        if *cancelled {
            assert_eq!(
                view["status"], "closed",
                "order {id}: acknowledged cancel lost"
            );
            assert!(
                events.iter().any(|k| k == "order.closed"),
                "order {id}: no closed event"
            );
        }
    }
    // Stock on the shelf plus stock held by open orders is what there was at first.
    let held = store.orders().held_stock().await?;
    let now = sku_stock(&store, initial.keys().copied().collect()).await?;
    for (sku, first) in initial {
        let on_shelf = now.get(sku).copied().unwrap_or_default();
        assert!(on_shelf >= 0, "SKU {sku}: negative stock");
        assert_eq!(
            *first,
            on_shelf + held.get(sku).copied().unwrap_or_default(),
            "SKU {sku}: stock not conserved"
        );
    }
    store.close().await;
    Ok(())
}

async fn sku_stock(store: &Store, skus: Vec<i64>) -> anyhow::Result<BTreeMap<i64, i64>> {
    let skus: Vec<SkuId> = skus.into_iter().map(SkuId).collect();
    let owners = store.catalog().sku_products(&skus).await?;
    let mut products: Vec<i64> = owners.values().map(|p| p.get()).collect();
    products.sort_unstable();
    products.dedup();
    let mut stock = BTreeMap::new();
    for product in store.catalog().products_by_ids(&products).await? {
        for sku in product.skus.iter().filter(|s| skus.contains(&s.id)) {
            stock.insert(sku.id.get(), sku.stock);
        }
    }
    Ok(stock)
}

async fn kill_during_checkout_bursts(backend: Backend) -> anyhow::Result<()> {
    let Some(database) = TestDatabase::create(backend).await? else {
        return Ok(());
    };
    let cycles: u64 = std::env::var("CRASH_CYCLES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(20);
    // The demo, with cheap password hashes, written before the server process starts.
    let store = seed_fixture(&database).await?;
    let mut skus = Vec::new();
    for barcode in [
        "6901234500011",
        "6901234500042",
        "6901234500080",
        "6901234500127",
    ] {
        let found = store.orders().skus_by_codes(&[barcode.to_owned()]).await?;
        let id = found
            .get(barcode)
            .and_then(|ids| ids.first().copied())
            .ok_or_else(|| anyhow::anyhow!("no SKU {barcode}"))?;
        skus.push(id);
    }
    let initial = sku_stock(&store, skus.clone()).await?;
    let packs: BTreeMap<i64, i64> = {
        let typed: Vec<SkuId> = skus.iter().copied().map(SkuId).collect();
        let owners = store.catalog().sku_products(&typed).await?;
        let mut packs = BTreeMap::new();
        for sku in &skus {
            let product = store
                .catalog()
                .product(owners.get(&SkuId(*sku)).map_or(0, |p| p.get()))
                .await?
                .ok_or_else(|| anyhow::anyhow!("no product"))?;
            packs.insert(*sku, product.unit.inner_qty);
        }
        packs
    };
    store.close().await;

    let client = reqwest::Client::new();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut member = None;
    let mut acknowledged_total = 0;
    for cycle in 0..cycles {
        let server = spawn(&database, &[], &[]).await?;
        let token = match &member {
            Some(token) => token,
            None => member.insert(login(&client, &server.base, MEMBER).await?),
        }
        .clone();
        let mut clients = tokio::task::JoinSet::new();
        for worker in 0..6_u64 {
            let (client, base, token, ledger, skus, packs) = (
                client.clone(),
                server.base.clone(),
                token.clone(),
                ledger.clone(),
                skus.clone(),
                packs.clone(),
            );
            clients.spawn(async move {
                for n in 0_u64.. {
                    let first = ((cycle + worker + n) % skus.len() as u64) as usize;
                    let lines: Vec<Value> = (0..2)
                        .filter_map(|i| skus.get((first + i) % skus.len()))
                        .map(|sku| json!({ "sku_id": sku, "qty": packs.get(sku).copied().unwrap_or(1) }))
                        .collect();
                    let sent = client
                        .post(format!("{base}/api/v1/orders"))
                        .bearer_auth(&token)
                        .header("idempotency-key", format!("crash-{cycle}-{worker}-{n}"))
                        .json(&json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": lines }))
                        .send()
                        .await;
                    let Ok(response) = sent else { return };
                    let status = response.status();
                    let Ok(body) = response.json::<Value>().await else { return };
                    if status.as_u16() != 201 {
                        continue;
                    }
                    let id = body["id"].as_i64().unwrap_or_default();
                    ledger.lock().await.orders.insert(id, (body, false, cycle));
                    if n % 3 == 0 {
                        let cancelled = client
                            .post(format!("{base}/api/v1/orders/{id}/cancel"))
                            .bearer_auth(&token)
                            .json(&json!({}))
                            .send()
                            .await;
                        match cancelled {
                            Ok(r) if r.status().is_success() => {
                                if let Some(entry) = ledger.lock().await.orders.get_mut(&id) {
                                    entry.1 = true;
                                    entry.2 = cycle;
                                }
                            }
                            Ok(_) => {}
                            Err(_) => return,
                        }
                    }
                }
            });
        }
        // Kill it mid-burst, at a different moment each cycle.
        tokio::time::sleep(Duration::from_millis(150 + (cycle * 37) % 300)).await;
        drop(server);
        while clients.join_next().await.is_some() {}
        let ledger = ledger.lock().await;
        acknowledged_total = ledger.orders.len();
        audit(&database, &ledger, cycle, &initial).await?;
    }
    assert!(
        acknowledged_total > 0,
        "no order was acknowledged in {cycles} cycles"
    );
    // For `xtask/crash-checkout.sh`, which runs with --nocapture.
    eprintln!(
        "{backend:?}: {cycles} kill -9 cycles, {acknowledged_total} acknowledged orders, all present"
    );
    database.drop_database().await;
    Ok(())
}
on_both_backends!(
    kill_9_during_checkout_sqlite,
    kill_9_during_checkout_postgres,
    kill_during_checkout_bursts
);
