//! The `pifa` binary as a new user runs it: `serve --demo` on an empty data directory reads
//! PIFA_ADDR and PIFA_DATA, loads the demo, serves, and stops cleanly on SIGTERM; `backup` and
//! `restore` move a shop's data to a new directory, which then serves the same accounts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn pifa(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pifa"));
    command
        .env("PIFA_DATA", data)
        .env("PIFA_ADDR", "127.0.0.1:0")
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn");
    command
}

/// Starts `pifa serve` and returns it with its address and what it printed before listening.
fn serve(data: &Path, demo: bool) -> anyhow::Result<(Child, String, String)> {
    let mut command = pifa(data);
    command
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if demo {
        command.arg("--demo");
    }
    let mut child = command.spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut printed = String::new();
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next() {
        let line = line?;
        printed.push_str(&line);
        printed.push('\n');
        if let Some(rest) = line.strip_prefix("Pifa is serving on http://") {
            let addr = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            // Keep reading what it prints, as a terminal would: a closed pipe would make the
            // server's next line fail (a broken pipe), whenever that line comes.
            std::thread::spawn(move || lines.for_each(drop));
            return Ok((child, addr, printed));
        }
    }
    anyhow::bail!("pifa serve exited before listening: {printed}")
}

/// A minimal HTTP/1.1 exchange; returns the status and body.
fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split_whitespace().nth(1).unwrap_or("0").parse()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

fn stop(mut child: Child) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()?;
    anyhow::ensure!(status.success(), "kill failed");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(exit) = child.try_wait()? {
            anyhow::ensure!(exit.success(), "pifa exited with {exit} on SIGTERM");
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "pifa did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const ADMIN_LOGIN: &str = r#"{"phone":"13800000001","password":"pifa1234"}"#;

#[test]
fn serve_demo_backup_restore_and_serve_again() -> anyhow::Result<()> {
    let first = tempfile::tempdir()?;
    let (child, addr, printed) = serve(first.path(), true)?;
    assert!(
        printed.contains("13800000001") && printed.contains("pifa1234"),
        "the demo accounts are listed: {printed}"
    );
    assert!(
        first.path().join("pifa.db").is_file(),
        "the SQLite file lives in PIFA_DATA"
    );
    assert_eq!(
        http(&addr, "GET", "/healthz", None)?,
        (200, r#"{"status":"ok","database":"sqlite"}"#.to_owned())
    );
    let (status, body) = http(&addr, "POST", "/api/v1/auth/login", Some(ADMIN_LOGIN))?;
    assert_eq!(status, 200, "{body}");
    // The shop has a face wherever the binary is started from (here the crate's folder, where
    // no `themes` is: the source tree's themes serve), and the output says where to look.
    let (status, home) = http(&addr, "GET", "/", None)?;
    assert_eq!(status, 200, "{home}");
    assert!(
        home.contains("lang=\"zh-CN\"") && home.contains("安达劳保五金批发"),
        "{home}"
    );
    assert!(printed.contains("/api/docs"), "{printed}");
    stop(child)?;

    // Demo data goes only into an empty database; a second start keeps the data as it is.
    let demo_again = pifa(first.path()).arg("demo").output()?;
    assert!(!demo_again.status.success());
    assert!(String::from_utf8_lossy(&demo_again.stderr).contains("already has data"));

    let file = first.path().join("shop.jsonl.gz");
    let backup = pifa(first.path())
        .args(["backup", "--out"])
        .arg(&file)
        .output()?;
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );

    let second = tempfile::tempdir()?;
    let restore = pifa(second.path()).arg("restore").arg(&file).output()?;
    assert!(
        restore.status.success(),
        "{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    let again = pifa(second.path()).arg("restore").arg(&file).output()?;
    assert!(
        !again.status.success(),
        "a database with data is not overwritten without --force"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let forced = pifa(second.path())
        .arg("restore")
        .arg("--force")
        .arg(&file)
        .output()?;
    assert!(forced.status.success());

    let (child, addr, _) = serve(second.path(), false)?;
    let (status, body) = http(&addr, "POST", "/api/v1/auth/login", Some(ADMIN_LOGIN))?;
    assert_eq!(status, 200, "the restored shop knows the admin: {body}");
    assert!(body.contains("王海"));
    stop(child)
}

#[test]
fn a_bad_configuration_is_refused_with_a_clear_message() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let out = pifa(data.path())
        .arg("serve")
        .env("PIFA_ADDR", "not-an-address")
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PIFA_ADDR"));
    let out = pifa(data.path())
        .arg("migrate")
        .env("DATABASE_URL", "mysql://x")
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL scheme"));
    Ok(())
}
