//! `cargo xtask test`: every check CI runs, the same way on a laptop. It finds the PostgreSQL
//! server for the second half of the conformance suite and says loudly when there is none
//! (and fails under `CI=true`), because cargo hides the output of passing tests; it installs
//! Debian's Chromium and chromedriver for the browser tests when they are missing.
//! `cargo xtask layers` prints the kernel's import graph and what breaks its layering rules;
//! `cargo xtask browser` only installs the browser.

mod layers;

use std::net::{SocketAddr, TcpStream};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(args.get(1..).unwrap_or_default()),
        Some("layers") => match layers::print(args.get(1).map(String::as_str)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("{err}");
                ExitCode::FAILURE
            }
        },
        Some("browser") if ensure_browser() => ExitCode::SUCCESS,
        Some("browser") => ExitCode::FAILURE,
        _ => {
            eprintln!(
                "usage: cargo xtask test [-- <cargo test args>] | cargo xtask layers [DIR] | cargo xtask browser"
            );
            ExitCode::FAILURE
        }
    }
}

fn postgres_reachable(url: &str) -> bool {
    let host_port = url
        .split('@')
        .next_back()
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("127.0.0.1:5432");
    let addr: Option<SocketAddr> = host_port.replace("localhost", "127.0.0.1").parse().ok();
    addr.is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
}

fn banner(lines: &[&str]) {
    let width = lines.iter().map(|l| l.len()).max().unwrap_or(0) + 4;
    eprintln!("\n{}", "!".repeat(width));
    for line in lines {
        eprintln!("! {line:<w$} !", w = width - 4);
    }
    eprintln!("{}\n", "!".repeat(width));
}

fn run(command: &mut Command) -> bool {
    eprintln!("==> {command:?}");
    command.status().is_ok_and(|s| s.success())
}

/// How long each step of `test` took, printed at the end: CI has a time budget (the README's
/// "Tests"), and this says where it goes.
#[derive(Default)]
struct Steps(Vec<(&'static str, Duration)>);

impl Steps {
    fn time<T>(&mut self, name: &'static str, step: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let outcome = step();
        self.0.push((name, start.elapsed()));
        outcome
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        let total: Duration = self.0.iter().map(|(_, d)| *d).sum();
        eprintln!("\nxtask test, time per step:");
        for (name, took) in &self.0 {
            eprintln!("  {name:<28} {:>6.0} s", took.as_secs_f64());
        }
        eprintln!("  {:<28} {:>6.0} s", "total", total.as_secs_f64());
    }
}

fn test(extra: &[String]) -> ExitCode {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_PG.to_owned());
    let postgres = postgres_reachable(&url);
    if !postgres {
        if ci {
            banner(&[
                "CI=true and no PostgreSQL server answers at",
                &url,
                "The PostgreSQL half of the suite cannot run: failing.",
            ]);
            return ExitCode::FAILURE;
        }
        banner(&[
            "NO POSTGRESQL SERVER ANSWERS AT",
            &url,
            "The PostgreSQL half of the suite WILL BE SKIPPED.",
            "Start one (apt-get install -y postgresql; pg_ctlcluster <version> main start)",
            "or set TEST_DATABASE_URL.",
        ]);
    } else {
        eprintln!("PostgreSQL suite: {url}");
    }

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let rustfmt_available = Command::new(&cargo)
        .args(["fmt", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut steps = Steps::default();
    // The browser tests drive Debian's Chromium; a fresh machine gets it here, downloading
    // while the workspace compiles.
    let browser = std::thread::spawn(ensure_browser);
    if rustfmt_available {
        if !steps.time("fmt", || {
            run(Command::new(&cargo).args(["fmt", "--all", "--check"]))
        }) {
            eprintln!("formatting differs: run `cargo fmt --all`");
            return ExitCode::FAILURE;
        }
    } else {
        banner(&[
            "rustfmt is not installed: formatting NOT checked (rustup component add rustfmt)",
        ]);
    }
    // One compile serves the lints and the tests: clippy's driver, as the workspace crates'
    // compiler wrapper, lints each of them while it is built (what `cargo clippy` does while
    // it only checks), so the dependencies are compiled once instead of checked for clippy
    // and built again for the tests. The same wrapper and arguments go to `cargo test`, whose
    // units are then the ones already built.
    let clippy = clippy_driver();
    if clippy.is_none() {
        banner(&["clippy is not installed: lints NOT checked (rustup component add clippy)"]);
        if ci {
            return ExitCode::FAILURE;
        }
    }
    let linted = |command: &mut Command| {
        if let Some(driver) = &clippy {
            command.env("RUSTC_WORKSPACE_WRAPPER", driver).env(
                "CLIPPY_ARGS",
                "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
            );
        }
    };

    // Every target of the workspace, linted (with `-D warnings`) and built: the binaries the
    // crash test runs as processes, the test executables, the benches. Built with the whole
    // workspace's features, as `cargo test --workspace` resolves them.
    let mut build = Command::new(&cargo);
    build.args(["build", "--workspace", "--all-targets", "--locked"]);
    linted(&mut build);
    if !steps.time("lint and build everything", || run(&mut build)) {
        eprintln!("a lint or the build failed (above)");
        return ExitCode::FAILURE;
    }
    if !steps.time("chromium (after the build)", || {
        browser.join().unwrap_or(false)
    }) {
        if ci {
            banner(&["CI=true and Chromium/chromedriver could not be installed: failing."]);
            return ExitCode::FAILURE;
        }
        banner(&[
            "Debian's chromium and chromium-driver are missing and could not be installed:",
            "the BROWSER TESTS WILL BE SKIPPED (each says so).",
        ]);
    }

    let mut tests = Command::new(&cargo);
    tests.args(["test", "--workspace", "--locked"]).args(extra);
    linted(&mut tests);
    if postgres {
        tests.env("TEST_DATABASE_URL", &url);
    } else {
        tests.env_remove("TEST_DATABASE_URL");
    }
    // Snapshot mismatches fail instead of writing `.snap.new` files.
    tests.env("INSTA_UPDATE", "no");
    // A test's `Err` prints its message and causes without anyhow's backtrace of the test
    // runner's frames (which buried the message in CI's log); a panic keeps its backtrace.
    tests.env("RUST_LIB_BACKTRACE", "0");
    let mut passed = steps.time("cargo test --workspace", || run(&mut tests));
    // The plugins are their own workspace (built for wasm32 by the kernel's build): their
    // logic's unit tests run natively here.
    let plugins = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/Cargo.toml");
    passed = passed
        && steps.time("plugins' tests", || {
            run(Command::new(&cargo).args([
                "test",
                "--manifest-path",
                plugins,
                "--workspace",
                "--locked",
            ]))
        });
    if !postgres {
        banner(&["REMINDER: the PostgreSQL half of the suite was SKIPPED (no server)."]);
    }
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Clippy's driver beside this toolchain's `rustc`, when the clippy component is installed.
fn clippy_driver() -> Option<std::path::PathBuf> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let sysroot = String::from_utf8(sysroot.stdout).ok()?;
    let driver = std::path::Path::new(sysroot.trim())
        .join("bin")
        .join("clippy-driver");
    let works = Command::new(&driver)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    works.then_some(driver)
}

/// Debian's Chromium and its WebDriver, for the browser tests, and a Chinese font: without
/// one the pages' words are drawn as empty boxes, in the screenshots and in the widths the
/// layout checks measure.
const BROWSER_PACKAGES: [(&str, &str); 3] = [
    ("chromium", "/usr/bin/chromium"),
    ("chromium-driver", "/usr/bin/chromedriver"),
    (
        "fonts-wqy-microhei",
        "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    ),
];

/// Installs Debian's `chromium` and `chromium-driver` when they are missing (as root, or
/// through `sudo -n`), so a fresh machine runs the browser tests with no step of its own.
/// Returns whether both are there afterwards.
fn ensure_browser() -> bool {
    let missing: Vec<&str> = BROWSER_PACKAGES
        .iter()
        .filter(|(_, path)| !std::path::Path::new(path).exists())
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return true;
    }
    eprintln!("installing {} for the browser tests", missing.join(" "));
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let apt = |args: &[&str]| {
        let mut command = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.args(["-n", "apt-get"]);
            sudo
        };
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut command)
    };
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(&missing);
    // The package lists may be stale or absent on a fresh machine: refresh them once on failure.
    (apt(&install) || (apt(&["update", "-qq"]) && apt(&install)))
        && BROWSER_PACKAGES
            .iter()
            .all(|(_, path)| std::path::Path::new(path).exists())
}
