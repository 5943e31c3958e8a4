//! A load generator for what a crowded plugin costs members (issue 16): against a running
//! server with the demo data and plugins installed, one member quotes and checks out in a loop,
//! first alone and then while N connections hammer a plugin's route; it prints the member's
//! quote and checkout p50/p99 in both phases and what the crowd was answered. Loopback only;
//! every phase stops by itself.
//!
//!   cargo run --release -p pifa-e2e --bin plugin_load -- http://127.0.0.1:18183
//!
//! ROUTES (what the crowd sends: `METHOD /path` entries separated by commas, connection i
//! sending entry i modulo their number; default `GET /api/v1/plugins/hostile-slow/slow`),
//! CONNECTIONS (100), DURATION (seconds of each phase, 10), FORWARDED=1 (each request names a
//! different client in `X-Forwarded-For`, as many visitors behind a trusted proxy would; only a
//! server trusting 127.0.0.1 as a proxy believes it). Stock of the first products is raised
//! first (as the admin) so refusals measure the system, not the shelf. For each route it prints
//! the answers by status and code and the largest body a visitor was sent; at the end, what the
//! admin's inbox gained during the run, by template.
#![expect(
    clippy::indexing_slicing,
    reason = "serde_json::Value indexing yields Null, it never panics"
)]
#![expect(clippy::print_stdout, reason = "a command-line tool reporting figures")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use pifa_e2e::load::{ADMIN, MEMBER, Target, idempotency_key, percentile_ms};
use serde_json::{Value, json};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// SKUs of the first products with their pack size, every one's stock raised.
async fn skus_on_sale(target: &Target, admin: &str) -> anyhow::Result<Vec<(i64, i64)>> {
    let page = target.get("/api/v1/products?limit=20", admin).await?;
    let mut skus = Vec::new();
    for product in page.as_array().cloned().unwrap_or_default() {
        let id = product["id"].as_i64().unwrap_or_default();
        skus.extend(target.raise_stock(admin, id).await?);
    }
    anyhow::ensure!(!skus.is_empty(), "no products on sale: {page}");
    Ok(skus)
}

/// The member's quotes and checkouts until `until`, and how many of each failed.
#[derive(Default)]
struct Member {
    quotes: Vec<Duration>,
    checkouts: Vec<Duration>,
    failed: BTreeMap<String, usize>,
}

impl Member {
    fn print(&mut self, phase: &str) {
        self.quotes.sort();
        self.checkouts.sort();
        println!(
            "{phase}: member's quote p50 {:.1} ms, p99 {:.1} ms ({} runs); checkout p50 {:.1} ms, p99 {:.1} ms ({} runs){}",
            percentile_ms(&self.quotes, 0.5),
            percentile_ms(&self.quotes, 0.99),
            self.quotes.len(),
            percentile_ms(&self.checkouts, 0.5),
            percentile_ms(&self.checkouts, 0.99),
            self.checkouts.len(),
            if self.failed.is_empty() {
                String::new()
            } else {
                format!("; failed: {:?}", self.failed)
            }
        );
    }
}

/// Quotes and checks out a 5-line cart in turn until `until`.
async fn member_loop(
    target: &Target,
    member: &str,
    skus: &[(i64, i64)],
    phase: &str,
    until: Instant,
) -> Member {
    let mut out = Member::default();
    let mut n = 0_usize;
    while Instant::now() < until {
        n += 1;
        let lines: Vec<Value> = (0..5)
            .filter_map(|i| skus.get((n * 5 + i) % skus.len()))
            .map(|(sku, pack)| json!({ "sku_id": sku, "qty": pack }))
            .collect();
        let quote = json!({ "delivery_method": "pickup", "lines": lines });
        let start = Instant::now();
        let answer = target
            .client
            .post(target.url("/api/v1/orders/quote"))
            .bearer_auth(member)
            .json(&quote)
            .send()
            .await;
        record(
            &mut out.quotes,
            &mut out.failed,
            "quote",
            start,
            answer,
            200,
        )
        .await;
        let order = json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": lines });
        let start = Instant::now();
        let answer = target
            .client
            .post(target.url("/api/v1/orders"))
            .bearer_auth(member)
            .header(
                "idempotency-key",
                idempotency_key(&format!("plugin-load-{phase}-{n}")),
            )
            .json(&order)
            .send()
            .await;
        record(
            &mut out.checkouts,
            &mut out.failed,
            "checkout",
            start,
            answer,
            201,
        )
        .await;
    }
    out
}

/// `member_loop` on a thread and runtime of its own, with its own connections: what it
/// measures is the server, not how soon this process gets round to a hundred busy tasks.
async fn apart(
    target: &Target,
    member: &str,
    skus: &[(i64, i64)],
    phase: &str,
    until: Instant,
) -> anyhow::Result<Member> {
    let (base, member, skus, phase) = (
        target.base.clone(),
        member.to_owned(),
        skus.to_vec(),
        phase.to_owned(),
    );
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let target = Target {
            base,
            client: reqwest::Client::new(),
        };
        Ok(runtime.block_on(member_loop(&target, &member, &skus, &phase, until)))
    })
    .await?
}

async fn record(
    latencies: &mut Vec<Duration>,
    failed: &mut BTreeMap<String, usize>,
    what: &str,
    start: Instant,
    answer: reqwest::Result<reqwest::Response>,
    expected: u16,
) {
    match answer {
        Ok(response) => {
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or_default();
            if status == expected {
                latencies.push(start.elapsed());
            } else {
                let code = body["error"]["code"].as_str().unwrap_or("?");
                *failed.entry(format!("{what} {status} {code}")).or_default() += 1;
            }
        }
        Err(error) => {
            *failed
                .entry(format!("{what}: {}", error.without_url()))
                .or_default() += 1;
        }
    }
}

/// The newest message id of the admin's inbox (0 when empty).
async fn newest_message(target: &Target, admin: &str) -> anyhow::Result<i64> {
    let inbox = target.get("/api/v1/me/inbox?limit=1", admin).await?;
    Ok(inbox[0]["id"].as_i64().unwrap_or(0))
}

/// The admin's inbox messages newer than `since`, counted by template (`plugin_message` is
/// what plugins sent, `plugin_suspended` the kernel telling of a suspension), page by page.
async fn inbox_since(
    target: &Target,
    admin: &str,
    since: i64,
) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut counts = BTreeMap::new();
    let mut before = i64::MAX;
    loop {
        let page = target
            .get(
                &format!("/api/v1/me/inbox?limit=200&before={before}"),
                admin,
            )
            .await?;
        let messages = page.as_array().cloned().unwrap_or_default();
        for message in &messages {
            let id = message["id"].as_i64().unwrap_or(0);
            if id <= since {
                return Ok(counts);
            }
            before = before.min(id);
            let template = message["template"].as_str().unwrap_or("?");
            let template = if template.is_empty() {
                "(none)"
            } else {
                template
            };
            *counts.entry(template.to_owned()).or_default() += 1;
        }
        if messages.len() < 200 {
            return Ok(counts);
        }
    }
}

/// One kind of request the crowd sends.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct CrowdRoute {
    method: reqwest::Method,
    path: String,
}

fn crowd_routes(spec: &str) -> anyhow::Result<Vec<CrowdRoute>> {
    let routes = spec
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (method, path) = entry
                .split_once(' ')
                .with_context(|| format!("ROUTES entry {entry:?} is not `METHOD /path`"))?;
            Ok(CrowdRoute {
                method: method
                    .parse()
                    .with_context(|| format!("method in {entry:?}"))?,
                path: path.trim().to_owned(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!routes.is_empty(), "ROUTES names no route");
    Ok(routes)
}

/// What visitors on one route were answered: counts by status and error code, and the
/// largest body one of them was sent.
#[derive(Default)]
struct Answers {
    statuses: BTreeMap<String, usize>,
    largest_body: usize,
}

impl Answers {
    fn add(&mut self, other: Answers) {
        for (key, count) in other.statuses {
            *self.statuses.entry(key).or_default() += count;
        }
        self.largest_body = self.largest_body.max(other.largest_body);
    }
}

/// One visitor's connection sending `route` until `until`.
async fn visitor_loop(
    target: &Target,
    route: &CrowdRoute,
    connection: usize,
    forwarded: bool,
    until: Instant,
) -> Answers {
    // Its own client: a connection of its own, as a crowd's are.
    let client = reqwest::Client::new();
    let mut answers = Answers::default();
    let mut n = 0_u32;
    while Instant::now() < until {
        n = n.wrapping_add(1);
        let mut request = client.request(route.method.clone(), target.url(&route.path));
        if forwarded {
            let visitor = format!(
                "10.{}.{}.{}",
                connection % 250,
                (n / 250) % 250,
                n % 250 + 1
            );
            request = request.header("x-forwarded-for", visitor);
        }
        let key = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.bytes().await.unwrap_or_default();
                answers.largest_body = answers.largest_body.max(body.len());
                let body: Value = serde_json::from_slice(&body).unwrap_or_default();
                match body["error"]["code"].as_str() {
                    Some(code) => format!("{status} {code}"),
                    None => status.to_string(),
                }
            }
            Err(error) => format!("error: {}", error.without_url()),
        };
        *answers.statuses.entry(key).or_default() += 1;
    }
    answers
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = env_or("DURATION", 10);
    let connections: usize = env_or("CONNECTIONS", 100);
    let routes = crowd_routes(&env_or(
        "ROUTES",
        "GET /api/v1/plugins/hostile-slow/slow".to_owned(),
    ))?;
    let forwarded = std::env::var("FORWARDED").is_ok_and(|v| v == "1");
    let target = Arc::new(Target::from_args("http://127.0.0.1:18183")?);
    let admin = target.login(ADMIN).await.context("admin sign-in")?;
    let member = target.login(MEMBER).await.context("member sign-in")?;
    let skus = skus_on_sale(&target, &admin).await?;
    println!("{} SKUs in the member's carts, stock raised", skus.len());
    let inbox_before = newest_message(&target, &admin).await?;

    let until = Instant::now() + Duration::from_secs(seconds);
    apart(&target, &member, &skus, "alone", until)
        .await?
        .print("alone");

    let until = Instant::now() + Duration::from_secs(seconds);
    let mut crowd = tokio::task::JoinSet::new();
    for connection in 0..connections {
        let (target, route) = (target.clone(), routes[connection % routes.len()].clone());
        crowd.spawn(async move {
            let answers = visitor_loop(&target, &route, connection, forwarded, until).await;
            (route, answers)
        });
    }
    let mut crowded = apart(&target, &member, &skus, "crowd", until).await?;
    let mut by_route: BTreeMap<CrowdRoute, Answers> = BTreeMap::new();
    while let Some(done) = crowd.join_next().await {
        let (route, answers) = done?;
        by_route.entry(route).or_default().add(answers);
    }
    crowded.print(&format!(
        "with {connections} connections on {} routes",
        routes.len()
    ));
    for (route, answers) in &by_route {
        let total: usize = answers.statuses.values().sum();
        println!(
            "  {} {}: {total} requests ({:.0}/s), largest body {} bytes, answered {:?}",
            route.method,
            route.path,
            total as f64 / seconds.max(1) as f64,
            answers.largest_body,
            answers.statuses
        );
    }
    // The messages of an order's event are written by the notification rules in the
    // background: count once they stop coming (at most 30 s), and say how long that took.
    let crowd_ended = Instant::now();
    let mut inbox = inbox_since(&target, &admin, inbox_before).await?;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let later = inbox_since(&target, &admin, inbox_before).await?;
        let settled = later == inbox;
        inbox = later;
        if settled || crowd_ended.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    println!(
        "the inbox settled {:.1} s after the crowd left",
        crowd_ended.elapsed().as_secs_f64()
    );
    println!("the admin's inbox gained, by template: {inbox:?}");
    Ok(())
}
