//! The real server binary as a child process, for tests that kill it (`kill -9`) and start it
//! again on the same database.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::TestDatabase;

/// The server binary next to this test binary (`cargo xtask test` builds it first).
pub fn server_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| anyhow::anyhow!("no target directory above {}", exe.display()))?;
    let binary = dir.join("pifa");
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p pifa` (cargo xtask test does)",
        binary.display()
    );
    Ok(binary)
}

/// A server process; dropping it kills it.
pub struct Process {
    pub child: Child,
    pub base: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `pifa serve` on `database` with `args` after `serve` and `env` set; returns once it
/// answers `/healthz`.
pub async fn spawn(
    database: &TestDatabase,
    args: &[&str],
    env: &[(&str, String)],
) -> anyhow::Result<Process> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(server_binary()?)
        .arg("serve")
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("PIFA_DATA", database.dir())
        .env("PIFA_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", &database.url)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    up(Process {
        child,
        base: format!("http://127.0.0.1:{port}"),
    })
    .await
}

/// Starts `pifa serve --demo` as a new user does, with nothing set but the port: in `dir`, so
/// its data directory is the relative `data` and its database the embedded one.
pub async fn spawn_fresh(dir: &std::path::Path) -> anyhow::Result<Process> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(server_binary()?)
        .args(["serve", "--demo"])
        .current_dir(dir)
        .env_remove("PIFA_DATA")
        .env_remove("DATABASE_URL")
        .env("PIFA_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    up(Process {
        child,
        base: format!("http://127.0.0.1:{port}"),
    })
    .await
}

/// `process` once it answers `/healthz` (or why not: it exited, or a minute passed).
async fn up(mut process: Process) -> anyhow::Result<Process> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = client
            .get(format!("{}/healthz", process.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if up {
            return Ok(process);
        }
        if let Some(status) = process.child.try_wait()? {
            anyhow::bail!("the server stopped: {status}");
        }
        anyhow::ensure!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Signs in a demo account on a spawned server.
pub async fn login(client: &reqwest::Client, base: &str, phone: &str) -> anyhow::Result<String> {
    let body: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "phone": phone, "password": pifa::demo::DEMO_PASSWORD }))
        .send()
        .await?
        .json()
        .await?;
    body.get("token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("login: {body}"))
}

/// Fills `database` with the demo fixture (cheap password hashes), before a server starts on
/// it.
pub async fn seed_fixture(database: &TestDatabase) -> anyhow::Result<pifa::store::Store> {
    let store = pifa::store::Store::open(&database.url).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    pifa::demo::load(
        &store,
        &pifa::accounts::passwords::Hasher::cheap()?,
        i64::try_from(now)?,
        pifa::demo::DemoSize::Fixture,
    )
    .await?;
    Ok(store)
}
