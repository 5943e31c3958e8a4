//! A load generator for message delivery (issue: rules as scripts): staff broadcast by SMS to
//! every approved member of the demo, again and again; the figures are how fast the rules turn
//! the events into messages and how fast the sender hands them to a provider (a local fake of
//! Aliyun's `SendSms`, in this process, answering at once).
//!
//!   bash xtask/bench-messages.sh
//!
//! It starts the server itself (the binary and data directory are its arguments) so that the
//! server's SMS provider is this process's fake.
#![expect(
    clippy::indexing_slicing,
    reason = "serde_json::Value indexing yields Null, it never panics"
)]
#![expect(clippy::print_stdout, reason = "a command-line tool reporting figures")]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use pifa_e2e::fakes::FakeSms;
use pifa_e2e::load::{ADMIN, Target};
use serde_json::json;

const ROUNDS: usize = 500;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let binary = args
        .next()
        .context("usage: message_load PIFA_BINARY DATA_DIR")?;
    let data = args
        .next()
        .context("usage: message_load PIFA_BINARY DATA_DIR")?;
    let sms = FakeSms::start().await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut server = Command::new(binary)
        .arg("serve")
        .env("PIFA_DATA", &data)
        .env("PIFA_ADDR", format!("127.0.0.1:{port}"))
        .env("PIFA_SMS_URL", sms.url()?.to_string())
        .env("PIFA_SMS_KEY_ID", FakeSms::KEY_ID)
        .env("PIFA_SMS_KEY_SECRET", FakeSms::KEY_SECRET)
        .env("PIFA_SMS_SIGN_NAME", FakeSms::SIGN_NAME)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    let target = Target {
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while target
        .client
        .get(target.url("/healthz"))
        .send()
        .await
        .is_err()
    {
        anyhow::ensure!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let admin = target.login(ADMIN).await?;
    let started = Instant::now();
    let mut expected = 0;
    for round in 0..ROUNDS {
        let sent = target
            .post(
                "/api/v1/admin/broadcasts",
                &admin,
                &json!({ "title": format!("通知{round}"), "text": "本周六盘点，暂停发货。",
                         "audience": {}, "channels": ["sms"] }),
            )
            .await?;
        expected += sent["recipients"].as_u64().unwrap_or_default() as usize;
    }
    let posted = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    while sms.received().await.len() < expected {
        anyhow::ensure!(
            Instant::now() < deadline,
            "not every SMS arrived in 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let _ = server.kill();
    let _ = server.wait();
    println!(
        "{ROUNDS} broadcasts to {} members: {expected} SMS (and as many inbox messages) in {:.2} s \
         (the broadcasts posted in {:.2} s): {:.0} SMS/s end to end, through the rules, the \
         outbox and the sender to the provider",
        expected / ROUNDS,
        elapsed.as_secs_f64(),
        posted.as_secs_f64(),
        expected as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
