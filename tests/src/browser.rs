//! Browser tests' harness: a real Chromium (Debian's `chromium`, driven by Debian's
//! `chromedriver` over WebDriver with fantoccini), at a phone's size unless a test asks for the
//! desktop's. `cargo xtask test` installs both packages when they are missing; a run without
//! them says so loudly and fails under `CI=true` (nothing is skipped silently). A test that
//! fails leaves a screenshot and the page's HTML under `target/browser-artefacts/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// Debian's paths for the two packages; `PIFA_CHROMIUM` / `PIFA_CHROMEDRIVER` override them.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a test waits for an element or a page to appear: generous, since CI's two cores
/// run the browser, the server and the other tests at once; only a failure waits this long.
const PATIENCE: Duration = Duration::from_secs(30);

/// The kernel's session cookie (`accounts::sessions::SESSION_COOKIE`).
const SESSION_COOKIE: &str = pifa::accounts::sessions::SESSION_COOKIE;

/// The interactive elements of the page a thumb may miss: those smaller than 44 × 44 CSS
/// pixels (links inside running text and labels only a screen reader reads excepted), as
/// `[text, width, height]`.
const SMALL_TAP_TARGETS: &str =
    "return [...document.querySelectorAll('a, button, input, select, textarea')]
    .filter(e => e.offsetParent !== null && e.type !== 'hidden' && !e.closest('p'))
    .filter(e => !e.classList.contains('visually-hidden'))
    .map(e => [e.textContent.trim() || e.name || e.tagName, e.getBoundingClientRect()])
    .filter(([, r]) => r.height < 44 || r.width < 44)
    .map(([t, r]) => [t, r.width, r.height])";

/// The window a page is looked at through.
#[derive(Debug, Clone, Copy)]
pub enum Screen {
    /// A phone: 375 × 812 CSS pixels, touch, a mobile user agent.
    Phone,
    /// The office: 1280 × 900.
    Desktop,
}

fn tool(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// Whether browser tests can run here. `false` is announced on stderr; under `CI=true` a missing
/// browser is a failure, not a skip.
pub fn available() -> bool {
    let chromium = tool("PIFA_CHROMIUM", CHROMIUM);
    let driver = tool("PIFA_CHROMEDRIVER", CHROMEDRIVER);
    if chromium.exists() && driver.exists() {
        return true;
    }
    let message = format!(
        "BROWSER TEST SKIPPED: {} or {} is missing (cargo xtask test installs Debian's chromium and chromium-driver)",
        chromium.display(),
        driver.display()
    );
    #[expect(clippy::panic, reason = "a CI run must fail loudly, never skip")]
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("\n!!! {message} !!!\n");
    false
}

/// Where failing tests leave their screenshots and pages.
pub fn artefacts_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser-artefacts")
}

/// One Chromium, driven by its own chromedriver; dropping it ends both.
pub struct Browser {
    client: Client,
    driver: Child,
    base: String,
    name: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium looking at `screen`; `base` is the server's
    /// address (`http://127.0.0.1:PORT`) relative paths are opened against; `name` names the
    /// artefacts of a failure.
    pub async fn open(name: &str, base: &str, screen: Screen) -> anyhow::Result<Browser> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let driver = Command::new(tool("PIFA_CHROMEDRIVER", CHROMEDRIVER))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver")?;
        let mut options = json!({
            "binary": tool("PIFA_CHROMIUM", CHROMIUM),
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-extensions",
                "--lang=zh-CN",
                match screen {
                    Screen::Phone => "--window-size=375,812",
                    Screen::Desktop => "--window-size=1280,900",
                },
            ],
        });
        if let Screen::Phone = screen {
            options["mobileEmulation"] = json!({
                "deviceMetrics": {"width": 375, "height": 812, "pixelRatio": 2.0, "touch": true},
                "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
            });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(error) if started.elapsed() < PATIENCE => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => return Err(anyhow!("chromedriver at {url} did not start: {error}")),
            }
        };
        Ok(Browser {
            client,
            driver,
            base: base.trim_end_matches('/').to_owned(),
            name: name.to_owned(),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Signs `phone` in with a cookie session, as the sign-in page would, and gives the browser
    /// the session cookie (set from a page of the server's: a cookie belongs to its host).
    pub async fn sign_in(&self, phone: &str, password: &str) -> anyhow::Result<()> {
        let response = reqwest::Client::new()
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "phone": phone, "password": password, "session": "cookie" }))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "sign-in of {phone}: {}",
            response.status()
        );
        let session = response
            .cookies()
            .find(|c| c.name() == SESSION_COOKIE)
            .map(|c| c.value().to_owned())
            .ok_or_else(|| anyhow!("no {SESSION_COOKIE} cookie for {phone}"))?;
        self.goto("/healthz").await?;
        // WebDriver's add-cookie refuses a host that is an IP address; the page may set it.
        self.client
            .execute(
                "document.cookie = arguments[0] + '=' + arguments[1] + '; path=/; SameSite=Lax'",
                vec![json!(SESSION_COOKIE), json!(session)],
            )
            .await?;
        Ok(())
    }

    /// Runs `script` in the page and returns what it returns.
    pub async fn eval(&self, script: &str) -> anyhow::Result<serde_json::Value> {
        Ok(self.client.execute(script, Vec::new()).await?)
    }

    /// Opens `path` (relative to the server) and waits for the page to load.
    pub async fn goto(&self, path: &str) -> anyhow::Result<()> {
        self.client
            .goto(&self.url(path))
            .await
            .with_context(|| format!("opening {path}"))
    }

    /// The element `css` selects, waiting for it to appear.
    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("waiting for `{css}`"))
    }

    /// Every element `css` selects now (no waiting).
    pub async fn find_all(&self, css: &str) -> anyhow::Result<Vec<Element>> {
        Ok(self.client.find_all(Locator::Css(css)).await?)
    }

    /// Taps the element `css` selects, scrolled to the middle of the screen first: WebDriver
    /// scrolls it to the bottom edge, where a fixed tab bar may cover it.
    pub async fn tap(&self, css: &str) -> anyhow::Result<()> {
        let element = self.find(css).await?;
        self.client
            .execute(
                "arguments[0].scrollIntoView({block: 'center'}); return null",
                vec![serde_json::to_value(&element)?],
            )
            .await?;
        element
            .click()
            .await
            .with_context(|| format!("tapping `{css}`"))
    }

    /// Taps `css` (a form's button) and waits for the page the form leads to. The answer may
    /// be the same path again, so the old page is marked and the wait is for one without the
    /// mark.
    pub async fn submit(&self, css: &str) -> anyhow::Result<()> {
        self.eval("document.documentElement.dataset.left = 'yes'; return null")
            .await?;
        self.tap(css).await?;
        self.wait_for_the_answer(css).await
    }

    /// Runs `script` (which submits a form: a drag and drop, say) and waits for the page it
    /// leads to, as [`Browser::submit`] does.
    pub async fn submit_by_script(&self, script: &str) -> anyhow::Result<()> {
        self.eval("document.documentElement.dataset.left = 'yes'; return null")
            .await?;
        self.eval(script).await?;
        self.wait_for_the_answer(script).await
    }

    async fn wait_for_the_answer(&self, css: &str) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let fresh = self
                .eval("return document.readyState === 'complete' && document.documentElement.dataset.left === undefined")
                .await
                .unwrap_or(serde_json::Value::Bool(false));
            if fresh == serde_json::Value::Bool(true) {
                return Ok(());
            }
            if started.elapsed() > PATIENCE {
                return Err(anyhow!("the answer to `{css}` did not load"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Chooses the file at `path` in the file field `css` selects, as a person picking a
    /// photo does.
    pub async fn attach(&self, css: &str, path: &std::path::Path) -> anyhow::Result<()> {
        // chromedriver takes only a canonical path (no `..`).
        let path = std::fs::canonicalize(path)?;
        let path = path
            .to_str()
            .ok_or_else(|| anyhow!("{} is not UTF-8", path.display()))?;
        self.find(css)
            .await?
            .send_keys(path)
            .await
            .with_context(|| format!("choosing {path} in `{css}`"))
    }

    /// Replaces the value of the field `css` selects with `text`, as typed.
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let field = self.find(css).await?;
        field.clear().await?;
        field
            .send_keys(text)
            .await
            .with_context(|| format!("typing into `{css}`"))
    }

    /// The visible text of the element `css` selects.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        Ok(self.find(css).await?.text().await?)
    }

    /// The page's HTML as the browser has it now.
    pub async fn html(&self) -> anyhow::Result<String> {
        Ok(self.client.source().await?)
    }

    /// The path of the page shown now.
    pub async fn path(&self) -> anyhow::Result<String> {
        Ok(self.client.current_url().await?.path().to_owned())
    }

    /// Waits until the page's path is `path`.
    pub async fn wait_for_path(&self, path: &str) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let now = self.path().await?;
            if now == path {
                return Ok(());
            }
            if started.elapsed() > PATIENCE {
                return Err(anyhow!("still at {now}, waited for {path}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the page shown fits a phone: no sideways scrolling at the screen's width, and
    /// every tap target at least 44 × 44 CSS pixels.
    pub async fn fits_a_phone(&self) -> anyhow::Result<()> {
        let widths = self
            .eval("return [document.documentElement.scrollWidth, screen.width]")
            .await?;
        anyhow::ensure!(
            widths[0].as_f64() <= widths[1].as_f64(),
            "the page scrolls sideways: [content, screen] = {widths}"
        );
        let small = self.eval(SMALL_TAP_TARGETS).await?;
        anyhow::ensure!(
            small.as_array().is_some_and(Vec::is_empty),
            "tap targets under 44 px: {small}"
        );
        Ok(())
    }

    /// Saves a screenshot of the window as `target/browser-artefacts/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let dir = artefacts_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Ends the browser after a test's steps: on an error, first leaves a screenshot and the
    /// page's HTML as artefacts and says where.
    pub async fn finish<T>(self, outcome: anyhow::Result<T>) -> anyhow::Result<T> {
        if outcome.is_err() {
            let name = format!("{}-failed", self.name);
            match self.screenshot(&name).await {
                Ok(path) => eprintln!("browser test failed: screenshot at {}", path.display()),
                Err(error) => eprintln!("browser test failed; no screenshot: {error:#}"),
            }
            if let Ok(html) = self.html().await {
                let _ = std::fs::write(artefacts_dir().join(format!("{name}.html")), html);
            }
        }
        let _ = self.client.clone().close().await;
        outcome
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
