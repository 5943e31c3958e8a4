//! wasmtime: one engine, a compiled component per plugin with its linker holding only the
//! interfaces `plugins.toml` grants, and one call = a fresh instance from the pre-instantiated
//! component, bounded by fuel, memory, an epoch deadline and host-call timeouts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pifa_sdk::Capability;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

use super::config::Limits;
use super::kv::KvView;
use crate::clock::Clock;

wasmtime::component::bindgen!({
    path: "../sdk/wit",
    world: "plugin",
    imports: { default: trappable },
});

/// A hook's own error, as the WIT world types it.
pub type WitHookError = HookError;

/// Memory of a pool slot kept mapped between calls (a Rust plugin's 1 MiB stack, data and
/// the first heap pages).
const RESIDENT_BYTES: usize = 4 * 1024 * 1024;

/// How many plugin calls may run at once (pool slots); more wait for a slot.
pub const MAX_CONCURRENT_CALLS: u32 = 64;

/// Of those, the slots only a member's quote and checkout may take: however many route
/// requests and background hooks run, a member's hooks find a slot (issue 16).
pub const MEMBER_SLOTS: u32 = 16;

/// The pool's call slots, in two parts: `member` (`MEMBER_SLOTS`) for quote and checkout
/// alone, `shared` (the rest) for every call. A member's hook takes a reserved slot first and
/// a shared one when none is free.
pub struct Slots {
    pub member: Arc<tokio::sync::Semaphore>,
    pub shared: Arc<tokio::sync::Semaphore>,
}

impl Slots {
    fn new() -> Slots {
        Slots {
            member: Arc::new(tokio::sync::Semaphore::new(MEMBER_SLOTS as usize)),
            shared: Arc::new(tokio::sync::Semaphore::new(
                (MAX_CONCURRENT_CALLS - MEMBER_SLOTS) as usize,
            )),
        }
    }
}

/// The engine, its epoch ticker and the call slots; limits other than memory may change
/// on a reload without a new engine (`from_engine`).
pub struct Runtime {
    pub engine: Engine,
    pub limits: Limits,
    ticker: Arc<Ticker>,
    pub slots: Arc<Slots>,
}

/// Stops the epoch thread when the last runtime on its engine goes.
struct Ticker(Arc<AtomicBool>);

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// The epoch advances every millisecond; a call's deadline is `deadline_ms` ticks.
const EPOCH_TICK: Duration = Duration::from_millis(1);

impl Runtime {
    pub fn new(limits: &Limits, cache_dir: Option<&std::path::Path>) -> anyhow::Result<Runtime> {
        let memory = limits.memory_bytes();
        let mut config = wasmtime::Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(512 * 1024)
            .memory_reservation(memory as u64)
            .memory_guard_size(64 * 1024)
            .memory_reservation_for_growth(0);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(MAX_CONCURRENT_CALLS)
            .total_core_instances(MAX_CONCURRENT_CALLS * 4)
            .total_memories(MAX_CONCURRENT_CALLS)
            .total_tables(MAX_CONCURRENT_CALLS * 4)
            .max_memory_size(memory)
            // A call dirties a few pages (its stack, the JSON it reads and writes): keep a
            // slot's memory resident and reset just those pages (found with PAGEMAP_SCAN where
            // the kernel has it) instead of unmapping and faulting them back on the next call.
            .linear_memory_keep_resident(RESIDENT_BYTES)
            .table_keep_resident(64 * 1024)
            .pagemap_scan(wasmtime::Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if let Some(dir) = cache_dir {
            let mut cache = wasmtime::CacheConfig::new();
            cache.with_directory(dir);
            config.cache(Some(
                wasmtime::Cache::new(cache).map_err(anyhow::Error::from)?,
            ));
        }
        let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
        let ticking = Arc::new(AtomicBool::new(true));
        let weak = engine.weak();
        let running = ticking.clone();
        std::thread::Builder::new()
            .name("plugin-epoch".to_owned())
            .spawn(move || {
                while running.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        Ok(Runtime {
            engine,
            limits: limits.clone(),
            ticker: Arc::new(Ticker(ticking)),
            slots: Arc::new(Slots::new()),
        })
    }

    /// The same engine (and compiled components) with other limits.
    pub fn from_engine(runtime: &Runtime, limits: &Limits) -> Runtime {
        Runtime {
            engine: runtime.engine.clone(),
            limits: limits.clone(),
            ticker: runtime.ticker.clone(),
            slots: runtime.slots.clone(),
        }
    }

    pub fn compile(&self, bytes: &[u8]) -> anyhow::Result<Component> {
        Component::new(&self.engine, bytes).map_err(anyhow::Error::from)
    }

    /// The linker for a plugin granted `granted`: `log` always, the rest only when granted.
    pub fn linker(&self, granted: &[Capability]) -> anyhow::Result<Linker<CallState>> {
        let mut linker = Linker::new(&self.engine);
        self::pifa::plugin::log::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
            .map_err(anyhow::Error::from)?;
        for capability in granted {
            match capability {
                Capability::Clock => self::pifa::plugin::clock::add_to_linker::<
                    CallState,
                    HasSelf<CallState>,
                >(&mut linker, |s| s),
                Capability::Kv => self::pifa::plugin::kv::add_to_linker::<
                    CallState,
                    HasSelf<CallState>,
                >(&mut linker, |s| s),
                Capability::CatalogRead => self::pifa::plugin::catalog_read::add_to_linker::<
                    CallState,
                    HasSelf<CallState>,
                >(&mut linker, |s| s),
                Capability::Notify => self::pifa::plugin::notify::add_to_linker::<
                    CallState,
                    HasSelf<CallState>,
                >(&mut linker, |s| s),
                Capability::Pages => self::pifa::plugin::pages::add_to_linker::<
                    CallState,
                    HasSelf<CallState>,
                >(&mut linker, |s| s),
                Capability::Emit => self::pifa::plugin::emit::add_to_linker::<
                    CallState,
                    HasSelf<CallState>,
                >(&mut linker, |s| s),
                // Grants of routes, not interfaces: the pictures never reach the plugin, and a
                // screen is its route's answer.
                Capability::Pictures | Capability::Screens => Ok(()),
            }
            .map_err(anyhow::Error::from)?;
        }
        Ok(linker)
    }
}

/// The WIT name of an interface of our package (`kv` → `pifa:plugin/kv@0.1.0`).
pub fn interface_name(interface: &str) -> String {
    format!("pifa:plugin/{interface}@0.1.0")
}

/// The component's imports, by name.
pub fn imports(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// What a call may reach besides its memory, and what it used.
pub struct CallState {
    pub plugin: Arc<str>,
    pub kv: Option<KvView>,
    pub store: Option<crate::store::Store>,
    pub clock: Clock,
    pub runtime: Option<tokio::runtime::Handle>,
    pub host_call_timeout: Duration,
    /// When the call's deadline passes (its start plus `deadline_ms`, or
    /// `member_deadline_ms`): no host call runs past it.
    pub deadline: Instant,
    /// The deadline's length, for messages.
    pub deadline_ms: u64,
    pub memory_cap: usize,
    pub peak_memory: usize,
    pub log_cap: usize,
    pub logged: usize,
    /// Lines the plugin logged in this call (for `pifa plugins run` and failure reports).
    pub log: Vec<String>,
    /// The first host-side failure (a timeout, a cap), reported instead of the bare trap.
    pub fault: Option<String>,
    /// What `notify.staff` may send in this call, and to whom.
    pub messages: Messages,
    /// The theme's section types, for `pages` (none outside a server).
    pub sections: Option<super::pages::Sections>,
}

/// A plugin's messages to staff: the roles `notify_to` grants, `quota.messages_per_call` per
/// call (counted here) and `quota.messages_per_hour` (counted in the database, so every
/// instance shares it).
#[derive(Debug, Clone)]
pub struct Messages {
    pub to: Vec<crate::accounts::Role>,
    pub per_call: u32,
    pub per_hour: u32,
    /// Sent in this call so far.
    pub sent: u32,
}

impl Messages {
    pub fn of(declared: &super::config::Declared) -> Messages {
        Messages {
            to: declared.grants.notify_to.clone(),
            per_call: declared.quota.messages_per_call,
            per_hour: declared.quota.messages_per_hour,
            sent: 0,
        }
    }

    /// The fixed window of `quota.messages_per_hour`, keyed by the plugin's name.
    fn hourly(&self) -> crate::accounts::rate_limit::Limit {
        crate::accounts::rate_limit::Limit {
            name: "plugin-messages-1h",
            max: i64::from(self.per_hour),
            window_secs: 3_600,
        }
    }
}

impl wasmtime::ResourceLimiter for CallState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            let message = format!(
                "memory limit of {} MiB exceeded",
                self.memory_cap / (1024 * 1024)
            );
            self.fault.get_or_insert(message.clone());
            return Err(wasmtime::Error::msg(message));
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl CallState {
    /// Runs a host future to completion within the host-call timeout and what is left of the
    /// call's deadline; running out traps the call (an epoch deadline cannot interrupt a host
    /// call, and the epoch does not see the time spent in one until the guest runs again).
    fn host<T>(&mut self, what: &str, future: impl Future<Output = T>) -> wasmtime::Result<T> {
        let Some(runtime) = self.runtime.clone() else {
            return Err(wasmtime::Error::msg(format!("{what}: no database here")));
        };
        let left = self.deadline.saturating_duration_since(Instant::now());
        let timeout = self.host_call_timeout.min(left);
        if timeout.is_zero() {
            let message = format!(
                "deadline of {} ms exceeded (wall time, host calls included) before host call {what}",
                self.deadline_ms
            );
            self.fault.get_or_insert(message.clone());
            return Err(wasmtime::Error::msg(message));
        }
        match runtime.block_on(async { tokio::time::timeout(timeout, future).await }) {
            Ok(value) => Ok(value),
            Err(_) => {
                let message = if timeout < self.host_call_timeout {
                    format!(
                        "host call {what} took longer than {} ms, what was left of the call's deadline of {} ms (wall time, host calls included)",
                        timeout.as_millis(),
                        self.deadline_ms
                    )
                } else {
                    format!(
                        "host call {what} took longer than {} ms",
                        timeout.as_millis()
                    )
                };
                self.fault.get_or_insert(message.clone());
                Err(wasmtime::Error::msg(message))
            }
        }
    }

    fn kv(&mut self) -> wasmtime::Result<&mut KvView> {
        self.kv
            .as_mut()
            .ok_or_else(|| wasmtime::Error::msg("kv is not available in this call"))
    }

    /// Runs a kv read, in memory directly, against the database within the host timeout.
    fn kv_read<T>(
        &mut self,
        what: &str,
        read: impl AsyncFnOnce(&KvView) -> crate::store::StoreResult<T>,
    ) -> wasmtime::Result<T> {
        let view = self
            .kv
            .take()
            .ok_or_else(|| wasmtime::Error::msg("kv is not available in this call"))?;
        let result = match &view.backend {
            super::kv::KvBackend::Memory(_) => futures_lite_block(read(&view)),
            super::kv::KvBackend::Db(_) => self.host(what, read(&view)),
        };
        self.kv = Some(view);
        match result? {
            Ok(value) => Ok(value),
            Err(error) => Err(wasmtime::Error::msg(format!("{what}: {error}"))),
        }
    }
}

/// Polls a future that never waits (the memory backend) to completion.
fn futures_lite_block<T>(future: impl Future<Output = T>) -> wasmtime::Result<T> {
    let waker = std::task::Waker::noop();
    let mut context = std::task::Context::from_waker(waker);
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(value) => Ok(value),
        std::task::Poll::Pending => Err(wasmtime::Error::msg("in-memory storage would block")),
    }
}

impl self::pifa::plugin::log::Host for CallState {
    fn write(
        &mut self,
        level: self::pifa::plugin::log::Level,
        message: String,
    ) -> wasmtime::Result<()> {
        self.logged = self.logged.saturating_add(message.len());
        if self.logged > self.log_cap {
            let fault = format!("log cap of {} KiB per call exceeded", self.log_cap / 1024);
            self.fault.get_or_insert(fault.clone());
            return Err(wasmtime::Error::msg(fault));
        }
        // One line per call of `write`, whatever it holds: a plugin's line break would
        // otherwise start a line of its own that reads like the kernel's.
        let line = crate::text::from_plugin(&message, crate::text::PluginText::LogLine);
        let plugin = &*self.plugin;
        use self::pifa::plugin::log::Level;
        match level {
            Level::Debug => tracing::debug!(plugin, "{line}"),
            Level::Info => tracing::info!(plugin, "{line}"),
            Level::Warn => tracing::warn!(plugin, "{line}"),
            Level::Error => tracing::error!(plugin, "{line}"),
        }
        self.log.push(line);
        Ok(())
    }
}

impl self::pifa::plugin::clock::Host for CallState {
    fn now_ms(&mut self) -> wasmtime::Result<i64> {
        Ok(self.clock.now_ms())
    }
}

impl self::pifa::plugin::kv::Host for CallState {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.kv_read("kv.get", async |view| view.get(&key).await)
    }

    fn put(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        // The WIT's `result<_, string>`: the plugin reads the refusal's words.
        Ok(self.kv()?.put(&key, value).map_err(|e| e.to_string()))
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), String>> {
        Ok(self.kv()?.delete(&key).map_err(|e| e.to_string()))
    }

    fn scan(
        &mut self,
        prefix: String,
        start_after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Vec<(String, Vec<u8>)>> {
        self.kv_read("kv.scan", async |view| {
            view.scan(&prefix, start_after.as_deref(), limit).await
        })
    }

    fn counter(&mut self, key: String) -> wasmtime::Result<i64> {
        self.kv_read("kv.counter", async |view| view.counter(&key).await)
    }

    fn add_bounded(
        &mut self,
        key: String,
        delta: i64,
        min: i64,
        max: i64,
    ) -> wasmtime::Result<Result<Option<i64>, String>> {
        let mut view = self
            .kv
            .take()
            .ok_or_else(|| wasmtime::Error::msg("kv is not available in this call"))?;
        let result = match &view.backend {
            super::kv::KvBackend::Memory(_) => {
                futures_lite_block(view.add_bounded(&key, delta, min, max))
            }
            super::kv::KvBackend::Db(_) => {
                self.host("kv.add-bounded", view.add_bounded(&key, delta, min, max))
            }
        };
        self.kv = Some(view);
        result.map(|answer| answer.map_err(|e| e.to_string()))
    }
}

impl self::pifa::plugin::catalog_read::Host for CallState {
    fn product(&mut self, id: i64) -> wasmtime::Result<Option<String>> {
        let Some(store) = self.store.clone() else {
            return Ok(None);
        };
        let products = self.host("catalog-read.product", async move {
            store
                .catalog()
                .shared_products(&[crate::ids::ProductId(id)])
                .await
        })?;
        let products = products.map_err(|e| wasmtime::Error::msg(e.to_string()))?;
        Ok(products.first().map(|p| {
            let product = pifa_sdk::Product {
                id: p.id.get(),
                name: p.name.clone(),
                item_no: p.item_no.clone(),
                on_shelf: p.on_shelf,
                skus: p
                    .skus
                    .iter()
                    .map(|s| pifa_sdk::Sku {
                        id: s.id.get(),
                        model: s.model.clone(),
                        spec: s.spec.clone(),
                        price_fen: s.price_fen,
                        stock: s.stock,
                    })
                    .collect(),
            };
            serde_json::to_string(&product).unwrap_or_default()
        }))
    }
}

impl CallState {
    /// The shop's `theme` setting, for the sections of the theme that serves.
    fn chosen_theme(&mut self) -> wasmtime::Result<Option<String>> {
        let Some(store) = self.store.clone() else {
            return Ok(None);
        };
        let settings = self.host("pages", async move { store.settings().current().await })?;
        Ok(settings.ok().and_then(|s| s.theme.clone()))
    }
}

impl self::pifa::plugin::pages::Host for CallState {
    fn section_types(&mut self) -> wasmtime::Result<String> {
        let Some(sections) = self.sections.clone() else {
            return Ok("{}".to_owned());
        };
        let chosen = self.chosen_theme()?;
        Ok(serde_json::to_string(&sections.section_types(chosen.as_deref())).unwrap_or_default())
    }

    fn check_section(
        &mut self,
        kind: String,
        settings: String,
    ) -> wasmtime::Result<Result<String, self::pifa::plugin::pages::FieldError>> {
        let refused = |field: &str, message: String| self::pifa::plugin::pages::FieldError {
            field: field.to_owned(),
            message,
        };
        let Some(sections) = self.sections.clone() else {
            return Ok(Err(refused("kind", "no theme here".to_owned())));
        };
        let Ok(settings) = serde_json::from_str::<serde_json::Value>(&settings) else {
            return Ok(Err(refused("settings", "settings are not JSON".to_owned())));
        };
        let chosen = self.chosen_theme()?;
        Ok(sections
            .check_section(chosen.as_deref(), &kind, &settings)
            .map(|checked| checked.to_string())
            .map_err(|e| refused(&e.field, e.message)))
    }
}

impl self::pifa::plugin::emit::Host for CallState {
    /// Buffers the event with the call's kv writes (`KvView::emit`): the plugin reads a
    /// refusal's words (its kind, its payload, a quota, a read-only hook).
    fn emit(&mut self, kind: String, payload: String) -> wasmtime::Result<Result<(), String>> {
        let now = self.clock.now_ms();
        Ok(self
            .kv()?
            .emit(&kind, &payload, now)
            .map_err(|e| e.to_string()))
    }
}

impl self::pifa::plugin::notify::Host for CallState {
    /// A line to the staff `notify_to` grants, within the plugin's message quotas; past one,
    /// an error naming it (nothing is sent).
    fn staff(&mut self, message: String) -> wasmtime::Result<Result<(), String>> {
        let quota = &self.messages;
        if quota.sent >= quota.per_call {
            return Ok(Err(format!(
                "quota messages_per_call ({}) reached",
                quota.per_call
            )));
        }
        let text = crate::text::from_plugin(&message, crate::text::PluginText::StaffMessage);
        if text.is_empty() {
            return Ok(Err("a message needs visible text".to_owned()));
        }
        let Some(store) = self.store.clone() else {
            self.messages.sent += 1;
            self.log.push(format!("notify staff: {text}"));
            return Ok(Ok(()));
        };
        let body = format!("插件 {}：{text}", self.plugin);
        let now = self.clock.now_ms();
        let (hourly, per_hour, to) = (quota.hourly(), quota.per_hour, quota.to.clone());
        let plugin = self.plugin.clone();
        let sent = self.host("notify.staff", async move {
            match store.accounts().rate_take(hourly, &plugin, now).await {
                Ok(Ok(_counted)) => {
                    crate::notify::tell_staff_in(&store, &to, "plugin_message", body, now).await;
                    Ok(())
                }
                Ok(Err(limited)) => Err(format!(
                    "quota messages_per_hour ({per_hour}) reached; the next in {} s",
                    limited.retry_after_secs
                )),
                Err(error) => Err(format!("notify.staff: {error}")),
            }
        })?;
        if sent.is_ok() {
            self.messages.sent += 1;
        }
        Ok(sent)
    }
}

/// `fresh` for one call: fuel, memory cap, and an epoch deadline at what is left of the call's
/// deadline (the epoch ticks every millisecond at best, never faster, so it never traps before
/// the wall-clock deadline; `PluginHost::call` checks the wall clock when the call returns).
/// The instance comes from `pre`.
pub fn new_store(
    runtime: &Runtime,
    state: CallState,
    fuel: u64,
) -> wasmtime::Result<Store<CallState>> {
    let left = state.deadline.saturating_duration_since(Instant::now());
    let ticks = u64::try_from(left.as_millis() / EPOCH_TICK.as_millis().max(1)).unwrap_or(u64::MAX);
    let mut store = Store::new(&runtime.engine, state);
    store.limiter(|s| s);
    store.set_fuel(fuel)?;
    store.set_epoch_deadline(ticks.max(1));
    store.epoch_deadline_trap();
    Ok(store)
}
