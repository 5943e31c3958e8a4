//! `plugins.toml` (REQUIREMENTS M7): which plugins run, in which order, what each may do, its
//! settings and what a failure of each hook means. Parsed whole and checked before anything
//! is swapped in, so a bad edit never half-applies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pifa_sdk::{Capability, Hook};
use serde::Deserialize;

/// What a failing hook means for the request that called it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Go on without the plugin's contribution (the default).
    Skip,
    /// Refuse the quote or order (`plugin_failed`).
    Reject,
}

/// `on_error = "reject"` for every hook, or per hook: `on_error = { quote = "skip", checkout =
/// "reject" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OnError {
    All(Policy),
    PerHook(BTreeMap<String, Policy>),
}

impl Default for OnError {
    fn default() -> OnError {
        OnError::All(Policy::Skip)
    }
}

impl OnError {
    pub fn policy(&self, hook: Hook) -> Policy {
        match self {
            OnError::All(policy) => *policy,
            OnError::PerHook(map) => map.get(hook.as_str()).copied().unwrap_or(Policy::Skip),
        }
    }
}

/// What runs an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A WebAssembly component in the sandbox (the default).
    #[default]
    Wasm,
    /// A trusted shared library (M6); only where the deployment allows native code.
    Native,
}

impl Kind {
    /// As `kind = …` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Wasm => "wasm",
            Kind::Native => "native",
        }
    }
}

/// One `[[plugin]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    pub name: String,
    #[serde(default)]
    pub kind: Kind,
    /// Wasm: the component file, relative to `plugins.toml`'s directory.
    #[serde(default)]
    pub component: Option<PathBuf>,
    /// Native: the shared library, relative to `plugins.toml`'s directory.
    #[serde(default)]
    pub library: Option<PathBuf>,
    /// Native: the message channel it delivers for this deployment (`sms`).
    #[serde(default)]
    pub channel: Option<String>,
    /// Wasm: plugins run in ascending order (then by name); 0 when absent.
    #[serde(default)]
    pub order: Option<i64>,
    /// Wasm: host interfaces granted beyond `log`: `clock`, `kv`, `catalog-read`, `notify`.
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// Checked against the schema a plugin's manifest declares; a native library's `init`
    /// checks its own.
    #[serde(default)]
    pub settings: Option<toml::Table>,
    /// Wasm: what a failing hook means (skip when absent).
    #[serde(default)]
    pub on_error: Option<OnError>,
    /// Wasm: the outbox event kinds it may receive (none when absent); its manifest's
    /// `events` beyond these are not delivered.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// Wasm: the classes of data the events it receives may carry (`people`, `amounts`,
    /// `payment`); fields of other classes are taken out before it sees them.
    #[serde(default)]
    pub data: Option<Vec<String>>,
    /// Wasm: the roles its routes may serve (`public`, `admin`, `member` …; none when absent).
    #[serde(default)]
    pub route_roles: Option<Vec<String>>,
    /// Wasm: the staff roles its `notify` messages reach (`admin`, `customer_service`).
    #[serde(default)]
    pub notify_to: Option<Vec<String>>,
    /// Wasm: what it may store, send and take at once (defaults in [`Quota`]).
    #[serde(default)]
    pub quota: Option<Quota>,
}

/// What one plugin may store, send and take (`quota = { … }` in its entry). The defaults fit
/// the shipped plugins many times over; a call that would go beyond one fails with an error
/// naming it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quota {
    /// Keys in its namespace, in all.
    pub kv_keys: u64,
    /// Bytes of keys and values in its namespace, in all.
    pub kv_bytes: u64,
    /// Writes one call may make: each key put or deleted (once, however often), each counter
    /// change.
    pub kv_writes_per_call: u64,
    /// Bytes of keys and values one call may write.
    pub kv_write_bytes_per_call: u64,
    /// Messages (`notify`) one call may send …
    pub messages_per_call: u32,
    /// … and in any hour.
    pub messages_per_hour: u32,
    /// Calls of this plugin running at once: its share of the host's call slots, once for its
    /// quote and checkout calls and once for the rest (see `Share` in `plugins.rs`).
    pub concurrent_calls: u32,
    /// Requests to its routes per minute from one client (a signed-in user, or a visitor's
    /// address); more are answered 429 `rate_limited` before the plugin runs.
    pub route_requests_per_minute: u32,
    /// Fuel for one call of its routes instead of `[limits] fuel_base` (0: that), for a
    /// plugin whose routes read and write large JSON (a page editor's layouts); at most
    /// `MAX_ROUTE_FUEL`. Its deadline still holds.
    pub route_fuel: u64,
}

/// The most fuel `quota.route_fuel` may give a route call: tens of milliseconds of work.
pub const MAX_ROUTE_FUEL: u64 = 50_000_000;

impl Default for Quota {
    fn default() -> Quota {
        Quota {
            kv_keys: 10_000,
            kv_bytes: 16 * 1024 * 1024,
            kv_writes_per_call: 100,
            kv_write_bytes_per_call: 1024 * 1024,
            messages_per_call: 1,
            messages_per_hour: 10,
            concurrent_calls: 8,
            route_requests_per_minute: 120,
            route_fuel: 0,
        }
    }
}

impl Quota {
    /// Every quota above zero (a zero would refuse every call of its kind, which a plugin
    /// that should not store or send expresses by not being granted `kv` or `notify`), and
    /// a plugin's share of the call slots within the host's.
    fn check(&self) -> Result<(), QuotaError> {
        let zero = [
            ("kv_keys", self.kv_keys == 0),
            ("kv_bytes", self.kv_bytes == 0),
            ("kv_writes_per_call", self.kv_writes_per_call == 0),
            ("kv_write_bytes_per_call", self.kv_write_bytes_per_call == 0),
            ("messages_per_call", self.messages_per_call == 0),
            ("messages_per_hour", self.messages_per_hour == 0),
            ("concurrent_calls", self.concurrent_calls == 0),
            (
                "route_requests_per_minute",
                self.route_requests_per_minute == 0,
            ),
        ];
        if let Some((name, _)) = zero.iter().find(|(_, is_zero)| *is_zero) {
            return Err(QuotaError::Zero(name));
        }
        if self.concurrent_calls > super::runtime::MAX_CONCURRENT_CALLS {
            return Err(QuotaError::TooManyConcurrentCalls);
        }
        if self.route_fuel > MAX_ROUTE_FUEL {
            return Err(QuotaError::TooMuchRouteFuel);
        }
        Ok(())
    }
}

/// A class of data in the events a plugin receives (`data = [...]`): fields of a class it is
/// not granted are taken out of each event before the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataClass {
    /// Who: member, manager and other people's ids, names, phones, addresses.
    People,
    /// Money: totals, prices, amounts paid.
    Amounts,
    /// How an order is paid: payment method and status.
    Payment,
}

impl DataClass {
    pub const ALL: [DataClass; 3] = [DataClass::People, DataClass::Amounts, DataClass::Payment];

    pub fn as_str(self) -> &'static str {
        match self {
            DataClass::People => "people",
            DataClass::Amounts => "amounts",
            DataClass::Payment => "payment",
        }
    }

    pub fn parse(text: &str) -> Option<DataClass> {
        DataClass::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// What `plugins.toml` lets a plugin reach besides its host interfaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Event kinds it may receive.
    pub events: Vec<String>,
    /// Data classes those events may carry to it.
    pub data: Vec<DataClass>,
    /// Roles its routes may serve (`public` for anyone).
    pub route_roles: Vec<String>,
    /// Staff its `notify` messages reach.
    pub notify_to: Vec<crate::accounts::Role>,
}

impl Grants {
    /// Whether events of `kind` may reach the plugin (`*` grants every kind).
    pub fn allows_event(&self, kind: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == kind)
    }

    /// Whether fields of `class` may reach the plugin in its events.
    pub fn allows_data(&self, class: DataClass) -> bool {
        self.data.contains(&class)
    }

    /// Whether the plugin's routes may serve `role`.
    pub fn allows_route_role(&self, role: &str) -> bool {
        self.route_roles.iter().any(|r| r == role)
    }
}

/// Roles a route may name, and a grant may allow: the kernel's, and `public` for anyone.
pub const ROUTE_ROLES: [&str; 9] = [
    "public",
    "admin",
    "customer_service",
    "manager",
    "promoter",
    "driver",
    "verifier",
    "member",
    "supplier",
];

/// Staff a plugin's `notify` may reach.
const NOTIFIABLE: [crate::accounts::Role; 2] = [
    crate::accounts::Role::Admin,
    crate::accounts::Role::CustomerService,
];

/// Per-call limits (`[limits]`); the defaults are the measured starting values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Fuel (≈ wasm instructions) for a call, plus `fuel_per_line` per cart line.
    pub fuel_base: u64,
    pub fuel_per_line: u64,
    /// A plugin's linear memory.
    pub memory_mib: u64,
    /// Wall-clock deadline of a route or background call (`handle-http`, `on-event`,
    /// `on-tick`), counted from the call's start with its host calls included.
    pub deadline_ms: u64,
    /// Wall-clock deadline of a hook on a member's path (`quote`, `checkout`), counted from the
    /// moment the member's request asks for it, so the wait for a call slot is included: what
    /// one plugin may add to a quote or an order before it is the plugin's failure.
    pub member_deadline_ms: u64,
    /// A host call (storage, catalogue) that takes longer fails the hook; a host call never
    /// runs past what is left of the call's deadline either.
    pub host_call_ms: u64,
    pub max_input_kib: u64,
    pub max_output_kib: u64,
    /// Log bytes per call; more fails the hook.
    pub max_log_kib: u64,
    /// Consecutive failures before a plugin is suspended (and staff are told) …
    pub suspend_after: u32,
    /// … for this long.
    pub suspend_secs: u64,
    /// Failed attempts to deliver one event to a plugin's `on-event` before the event is
    /// parked as dead (staff told, counted, no longer retried); the retries wait 1 s, doubling
    /// to 10 minutes, so the default gives up after about half an hour of retries (longer
    /// while failures keep the plugin suspended, which pauses them). 0 counts as 1.
    pub event_attempts: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            fuel_base: 2_000_000,
            fuel_per_line: 40_000,
            memory_mib: 32,
            deadline_ms: 500,
            // The flash sale's quote hook takes 0.05–0.16 ms (README); a hundred
            // milliseconds is ample for a well-behaved hook on a loaded server and still
            // bounds what a slow one adds to a member's quote.
            member_deadline_ms: 100,
            host_call_ms: 250,
            max_input_kib: 1024,
            max_output_kib: 256,
            max_log_kib: 64,
            suspend_after: 5,
            suspend_secs: 600,
            event_attempts: 12,
        }
    }
}

impl Limits {
    pub fn fuel_for(&self, lines: usize) -> u64 {
        self.fuel_base
            .saturating_add(self.fuel_per_line.saturating_mul(lines as u64))
    }

    pub fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsFile {
    /// `true`: a plugin that does not load stops the server from starting (the default
    /// starts with the others and says loudly which did not load).
    #[serde(default)]
    pub strict: bool,
    #[serde(default)]
    pub limits: Limits,
    /// Each `[[plugin]]` table as written: parsed into a [`PluginEntry`] one by one, so one
    /// malformed entry refuses that plugin alone.
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<toml::Table>,
}

/// An entry, checked: capabilities parsed, the component path resolved.
#[derive(Debug, Clone)]
pub struct Declared {
    pub name: String,
    pub component: PathBuf,
    pub order: i64,
    pub granted: Vec<Capability>,
    pub settings: serde_json::Value,
    pub on_error: OnError,
    pub grants: Grants,
    pub quota: Quota,
}

/// A `kind = "native"` entry, checked: the library path resolved.
#[derive(Debug, Clone)]
pub struct DeclaredNative {
    pub name: String,
    pub library: PathBuf,
    pub channel: String,
    pub settings: serde_json::Value,
}

/// The whole file, checked.
#[derive(Debug, Clone, Default)]
pub struct Declarations {
    pub strict: bool,
    pub limits: Limits,
    /// The WebAssembly plugins, in calling order.
    pub plugins: Vec<Declared>,
    /// The native adapters, in the file's order.
    pub native: Vec<DeclaredNative>,
    /// Entries refused already by what they say (an unknown capability, a missing
    /// `component`, a name declared twice …), in the file's order; the others still load.
    pub refused: Vec<Refused>,
}

/// Why `plugins.toml` as a whole cannot be used. (An entry's own mistakes refuse only that
/// entry: [`EntryError`].)
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not TOML, or its top level (`strict`, `[limits]`) is wrong.
    #[error("{}: {source}", .path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
}

/// Why one `[[plugin]]` entry is refused. The entry's name is not in the words: a refusal
/// ([`Refused`]) names it once.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("declared twice (the first entry of that name is the one used)")]
    Twice,
    /// TOML's message alone: its own rendering adds the file's lines around it.
    #[error("{}", .0.message().trim_end())]
    Fields(#[source] toml::de::Error),
    #[error("plugin name {0:?}: lowercase letters, digits and '-' only")]
    Name(String),
    #[error("settings: {0}")]
    Settings(#[source] serde_json::Error),
    #[error("channel {channel:?} is already served by plugin {other}")]
    ChannelTaken { channel: String, other: String },
    #[error("`{0}` belongs to kind = \"native\" entries")]
    NativeOnly(&'static str),
    #[error("missing `component` (the .wasm file)")]
    NoComponent,
    #[error("unknown capability {0:?} (known: clock, kv, catalog-read, notify)")]
    Capability(String),
    #[error("on_error names unknown hook {0:?}")]
    Hook(String),
    #[error(transparent)]
    Quota(#[from] QuotaError),
    #[error(
        "events: {0:?} is not an event kind (like \"order.completed\" or \"plugin.points.gift_redeemed\")"
    )]
    Event(String),
    #[error("data: unknown class {0:?} (known: people, amounts, payment)")]
    Data(String),
    #[error("route_roles: unknown role {0:?} (known: {roles})", roles = ROUTE_ROLES.join(", "))]
    RouteRole(String),
    #[error("notify_to: {0:?} is not staff a plugin may message (admin, customer_service)")]
    NotifyTo(String),
    #[error("capability notify needs notify_to (who it may message: admin, customer_service)")]
    NoNotifyTo,
    #[error("notify_to without capability notify")]
    NotifyToWithoutNotify,
    #[error(
        "`{0}` does not apply to kind = \"native\" (native code is not sandboxed and has no hooks)"
    )]
    NotForNative(&'static str),
    #[error("missing `library` (the shared library file)")]
    NoLibrary,
    #[error("missing `channel` (the channel it delivers, e.g. \"sms\")")]
    NoChannel,
    #[error("channel {0:?}: lowercase letters, digits and '-' only")]
    Channel(String),
}

/// A quota an entry sets that no plugin could work within.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("quota.{0} must be at least 1")]
    Zero(&'static str),
    #[error(
        "quota.concurrent_calls must be at most {} (the host's call slots)",
        super::runtime::MAX_CONCURRENT_CALLS
    )]
    TooManyConcurrentCalls,
    #[error("quota.route_fuel must be at most {MAX_ROUTE_FUEL}")]
    TooMuchRouteFuel,
}

/// A `[[plugin]]` entry that does not load, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Its `name`, or `plugin #N` (the Nth entry) when it has none that is valid.
    pub name: String,
    /// What runs it, as far as the entry says.
    pub kind: Kind,
    /// The component or library file it names, resolved (watched, so a fix is picked up).
    pub file: Option<PathBuf>,
    /// Why, in words (the same sentence the log and staff's inbox get). Words rather than
    /// the error: a refusal is cloned with the set, compared across reloads, and shown to
    /// admins and by `pifa plugins list`.
    pub reason: String,
}

impl Declarations {
    /// Every refusal in one sentence (`plugin a: …; plugin b: …`), or `None` when every entry
    /// is usable.
    pub fn refusals(refused: &[Refused]) -> Option<String> {
        (!refused.is_empty()).then(|| {
            refused
                .iter()
                .map(|r| format!("plugin {}: {}", r.name, r.reason))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// Reads and checks `path`; a missing file means no plugins. Errors name the problem.
pub fn read(path: &Path) -> Result<Declarations, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    parse(&text, path.parent().unwrap_or(Path::new("."))).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Parses the file. A file that is not TOML, or whose top level (`strict`, `[limits]`) is
/// wrong, is an error; an entry that is wrong is refused on its own (in
/// [`Declarations::refused`], naming the problem) and the others are kept.
pub fn parse(text: &str, base: &Path) -> Result<Declarations, toml::de::Error> {
    let file: PluginsFile = toml::from_str(text)?;
    let mut declared = Vec::new();
    let mut native: Vec<DeclaredNative> = Vec::new();
    let mut refused: Vec<Refused> = Vec::new();
    for (index, table) in file.plugins.into_iter().enumerate() {
        // What the entry says of itself, to name a refusal even when it does not parse.
        let name = table
            .get("name")
            .and_then(|n| n.as_str())
            .filter(|n| valid_name(n))
            .map_or_else(|| format!("#{}", index + 1), str::to_owned);
        let kind = match table.get("kind").and_then(|k| k.as_str()) {
            Some("native") => Kind::Native,
            _ => Kind::Wasm,
        };
        let file = ["component", "library"]
            .iter()
            .find_map(|field| table.get(*field).and_then(|f| f.as_str()))
            .map(|f| base.join(f));
        let taken = declared
            .iter()
            .map(|d: &Declared| d.name.as_str())
            .chain(native.iter().map(|n| n.name.as_str()))
            .chain(refused.iter().map(|r| r.name.as_str()))
            .any(|taken| taken == name);
        let parsed = if taken {
            Err(EntryError::Twice)
        } else {
            entry(table, base, &native)
        };
        match parsed {
            Ok(Entry::Wasm(entry)) => declared.push(entry),
            Ok(Entry::Native(entry)) => native.push(entry),
            Err(reason) => refused.push(Refused {
                name,
                kind,
                file,
                reason: reason.to_string(),
            }),
        }
    }
    declared.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
    Ok(Declarations {
        strict: file.strict,
        limits: file.limits,
        plugins: declared,
        native,
        refused,
    })
}

/// One parsed entry.
enum Entry {
    Wasm(Declared),
    Native(DeclaredNative),
}

/// Parses and checks one `[[plugin]]` table; `native`: the native entries before it (one
/// channel, one adapter).
fn entry(table: toml::Table, base: &Path, native: &[DeclaredNative]) -> Result<Entry, EntryError> {
    let entry = table
        .try_into::<PluginEntry>()
        .map_err(EntryError::Fields)?;
    if !valid_name(&entry.name) {
        return Err(EntryError::Name(entry.name));
    }
    let settings = match &entry.settings {
        Some(table) => serde_json::to_value(table).map_err(EntryError::Settings)?,
        None => serde_json::Value::Object(serde_json::Map::new()),
    };
    match entry.kind {
        Kind::Wasm => Ok(Entry::Wasm(wasm_entry(entry, settings, base)?)),
        Kind::Native => {
            let entry = native_entry(entry, settings, base)?;
            if let Some(other) = native.iter().find(|n| n.channel == entry.channel) {
                return Err(EntryError::ChannelTaken {
                    channel: entry.channel,
                    other: other.name.clone(),
                });
            }
            Ok(Entry::Native(entry))
        }
    }
}

fn wasm_entry(
    entry: PluginEntry,
    settings: serde_json::Value,
    base: &Path,
) -> Result<Declared, EntryError> {
    let misplaced = [
        ("library", entry.library.is_some()),
        ("channel", entry.channel.is_some()),
    ];
    if let Some((field, _)) = misplaced.iter().find(|(_, given)| *given) {
        return Err(EntryError::NativeOnly(field));
    }
    let component = entry.component.clone().ok_or(EntryError::NoComponent)?;
    let mut granted = Vec::new();
    for capability in entry.capabilities.iter().flatten() {
        let parsed = Capability::parse(capability)
            .ok_or_else(|| EntryError::Capability(capability.clone()))?;
        granted.push(parsed);
    }
    let on_error = entry.on_error.clone().unwrap_or_default();
    if let OnError::PerHook(map) = &on_error
        && let Some(unknown) = map.keys().find(|k| Hook::parse(k).is_none())
    {
        return Err(EntryError::Hook(unknown.clone()));
    }
    let grants = grants(&entry, &granted)?;
    let quota = entry.quota.clone().unwrap_or_default();
    quota.check()?;
    Ok(Declared {
        component: base.join(component),
        name: entry.name,
        order: entry.order.unwrap_or(0),
        granted,
        settings,
        on_error,
        grants,
        quota,
    })
}

/// A kind the kernel writes: `order.completed`.
fn is_kernel_kind(kind: &str) -> bool {
    kind.split('.').count() == 2
        && kind.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
}

/// A kind a plugin emits (capability `emit`): `plugin.<name>.<kind>`.
fn is_plugin_kind(kind: &str) -> bool {
    let Some((name, own)) = kind
        .strip_prefix("plugin.")
        .and_then(|rest| rest.split_once('.'))
    else {
        return false;
    };
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !own.is_empty()
        && own.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// The entry's grants, each name checked.
fn grants(entry: &PluginEntry, granted: &[Capability]) -> Result<Grants, EntryError> {
    let mut grants = Grants::default();
    for kind in entry.events.iter().flatten() {
        let well_formed = kind == "*" || is_kernel_kind(kind) || is_plugin_kind(kind);
        if !well_formed {
            return Err(EntryError::Event(kind.clone()));
        }
        grants.events.push(kind.clone());
    }
    for class in entry.data.iter().flatten() {
        let parsed = DataClass::parse(class).ok_or_else(|| EntryError::Data(class.clone()))?;
        grants.data.push(parsed);
    }
    for role in entry.route_roles.iter().flatten() {
        if !ROUTE_ROLES.contains(&role.as_str()) {
            return Err(EntryError::RouteRole(role.clone()));
        }
        grants.route_roles.push(role.clone());
    }
    for role in entry.notify_to.iter().flatten() {
        let parsed = crate::accounts::Role::from_db(role)
            .filter(|r| NOTIFIABLE.contains(r))
            .ok_or_else(|| EntryError::NotifyTo(role.clone()))?;
        grants.notify_to.push(parsed);
    }
    let notifies = granted.contains(&Capability::Notify);
    if notifies && grants.notify_to.is_empty() {
        return Err(EntryError::NoNotifyTo);
    }
    if !notifies && entry.notify_to.is_some() {
        return Err(EntryError::NotifyToWithoutNotify);
    }
    Ok(grants)
}

/// A native library is not sandboxed and has no hooks: the fields that grant or order
/// sandboxed calls would only mislead a reader, so they are refused rather than ignored.
fn native_entry(
    entry: PluginEntry,
    settings: serde_json::Value,
    base: &Path,
) -> Result<DeclaredNative, EntryError> {
    let misplaced = [
        ("component", entry.component.is_some()),
        ("capabilities", entry.capabilities.is_some()),
        ("order", entry.order.is_some()),
        ("on_error", entry.on_error.is_some()),
        ("events", entry.events.is_some()),
        ("data", entry.data.is_some()),
        ("route_roles", entry.route_roles.is_some()),
        ("notify_to", entry.notify_to.is_some()),
        ("quota", entry.quota.is_some()),
    ];
    if let Some((field, _)) = misplaced.iter().find(|(_, given)| *given) {
        return Err(EntryError::NotForNative(field));
    }
    let library = entry.library.ok_or(EntryError::NoLibrary)?;
    let channel = entry.channel.ok_or(EntryError::NoChannel)?;
    if !valid_name(&channel) {
        return Err(EntryError::Channel(channel));
    }
    Ok(DeclaredNative {
        library: base.join(library),
        name: entry.name,
        channel,
        settings,
    })
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Why `text` (or its entries) does not load, in one sentence; empty when it does.
    fn refusal(text: &str, base: &Path) -> String {
        match parse(text, base) {
            Ok(declared) => Declarations::refusals(&declared.refused).unwrap_or_default(),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn a_bad_entry_is_refused_alone_and_named() {
        let declared = parse(
            r#"
            [[plugin]]
            name = "good"
            component = "good.wasm"

            [[plugin]]
            name = "typo"
            component = "typo.wasm"
            capabilites = ["kv"]

            [[plugin]]
            component = "anonymous.wasm"

            [[plugin]]
            name = "good"
            component = "again.wasm"
            "#,
            Path::new("/srv"),
        )
        .unwrap_or_default();
        let serving: Vec<_> = declared.plugins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(serving, ["good"]);
        assert_eq!(declared.plugins[0].component, Path::new("/srv/good.wasm"));
        let refused: Vec<_> = declared
            .refused
            .iter()
            .map(|r| (r.name.as_str(), r.file.clone(), r.reason.as_str()))
            .collect();
        assert_eq!(refused.len(), 3, "{refused:?}");
        assert_eq!(refused[0].0, "typo");
        assert_eq!(refused[0].1.as_deref(), Some(Path::new("/srv/typo.wasm")));
        assert!(refused[0].2.contains("capabilites"), "{refused:?}");
        assert_eq!(refused[1].0, "#3");
        assert!(refused[1].2.contains("name"), "{refused:?}");
        assert_eq!(refused[2].0, "good");
        assert!(refused[2].2.contains("declared twice"), "{refused:?}");
        let sentence = Declarations::refusals(&declared.refused).unwrap_or_default();
        assert!(sentence.starts_with("plugin typo: "), "{sentence}");

        // The file as a whole is still all or nothing.
        for broken in [
            "[[plugin]\nname = \"a\"",
            "strict = \"yes\"",
            "[limits]\nfuel = 1",
        ] {
            assert!(parse(broken, Path::new(".")).is_err(), "{broken}");
        }
    }

    #[test]
    fn a_plugin_entry_with_settings_and_policies_parses_in_order() {
        let Declarations {
            limits, plugins, ..
        } = parse(
            r#"
            [limits]
            memory_mib = 16

            [[plugin]]
            name = "b"
            component = "build/b.wasm"
            order = 20

            [[plugin]]
            name = "a"
            component = "build/a.wasm"
            order = 10
            capabilities = ["kv"]
            on_error = { quote = "reject" }
            settings = { label = "限时抢购价" }
            "#,
            Path::new("/srv"),
        )
        .unwrap_or_default();
        assert_eq!(limits.memory_mib, 16);
        let names: Vec<_> = plugins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let a = &plugins[0];
        assert_eq!(a.component, Path::new("/srv/build/a.wasm"));
        assert_eq!(a.granted, [Capability::Kv]);
        assert_eq!(a.on_error.policy(Hook::Quote), Policy::Reject);
        assert_eq!(a.on_error.policy(Hook::Checkout), Policy::Skip);
        assert_eq!(a.settings["label"], "限时抢购价");
    }

    #[test]
    fn unknown_capabilities_hooks_and_fields_are_named() {
        let base = Path::new(".");
        let bad = [
            (
                "[[plugin]]\nname = \"a\"\ncomponent = \"a.wasm\"\ncapabilities = [\"net\"]",
                "\"net\"",
            ),
            (
                "[[plugin]]\nname = \"a\"\ncomponent = \"a.wasm\"\non_error = { qoute = \"skip\" }",
                "qoute",
            ),
            (
                "[[plugin]]\nname = \"a\"\ncomponent = \"a.wasm\"\ncolour = 1",
                "colour",
            ),
            ("[[plugin]]\nname = \"A b\"\ncomponent = \"a.wasm\"", "A b"),
            ("[[plugin]]\nname = \"a\"", "missing `component`"),
            ("[[plugin]]\nname = \"a\"\nkind = \"dll\"", "dll"),
        ];
        for (text, named) in bad {
            let error = refusal(text, base);
            assert!(error.contains(named), "{error} should name {named}");
        }
    }

    #[test]
    fn grants_and_quotas_are_parsed_and_each_name_checked() {
        let declared = parse(
            r#"
            strict = true
            [[plugin]]
            name = "a"
            component = "a.wasm"
            capabilities = ["notify"]
            events = ["order.completed"]
            data = ["amounts"]
            route_roles = ["admin"]
            notify_to = ["customer_service"]
            quota = { kv_keys = 5 }
            "#,
            Path::new("."),
        )
        .unwrap_or_default();
        assert!(declared.strict);
        let a = &declared.plugins[0];
        assert_eq!(a.grants.events, ["order.completed"]);
        assert_eq!(a.grants.data, [DataClass::Amounts]);
        assert_eq!(a.grants.route_roles, ["admin"]);
        assert_eq!(a.grants.notify_to, [crate::accounts::Role::CustomerService]);
        assert_eq!(a.quota.kv_keys, 5);
        assert_eq!(a.quota.kv_bytes, Quota::default().kv_bytes);

        let entry = "[[plugin]]\nname = \"a\"\ncomponent = \"a.wasm\"\n";
        let bad = [
            (
                format!("{entry}events = [\"Order Completed\"]"),
                "Order Completed",
            ),
            (format!("{entry}data = [\"secrets\"]"), "secrets"),
            (format!("{entry}route_roles = [\"root\"]"), "root"),
            (
                format!("{entry}capabilities = [\"notify\"]\nnotify_to = [\"member\"]"),
                "\"member\" is not staff",
            ),
            (
                format!("{entry}capabilities = [\"notify\"]"),
                "capability notify needs notify_to",
            ),
            (format!("{entry}quota = {{ kv_keys = 0 }}"), "quota.kv_keys"),
            (
                format!("{entry}quota = {{ concurrent_calls = 65 }}"),
                "at most 64",
            ),
            (format!("{entry}quota = {{ disk = 1 }}"), "disk"),
        ];
        for (text, named) in bad {
            let error = refusal(&text, Path::new("."));
            assert!(error.contains(named), "{error} should name {named}");
        }
    }

    #[test]
    fn nothing_is_granted_by_default_and_a_star_grants_every_kind() {
        let none = Grants::default();
        assert!(!none.allows_event("order.placed"));
        assert!(!none.allows_data(DataClass::People));
        assert!(!none.allows_route_role("public"));
        let some = Grants {
            events: vec!["order.completed".to_owned()],
            data: vec![DataClass::Amounts],
            route_roles: vec!["admin".to_owned()],
            notify_to: Vec::new(),
        };
        assert!(some.allows_event("order.completed"));
        assert!(!some.allows_event("order.placed"));
        assert!(some.allows_data(DataClass::Amounts));
        assert!(!some.allows_data(DataClass::Payment));
        assert!(some.allows_route_role("admin"));
        assert!(!some.allows_route_role("public"));
        let all = Grants {
            events: vec!["*".to_owned()],
            ..Grants::default()
        };
        assert!(all.allows_event("member.approved"));
    }

    #[test]
    fn a_native_entry_names_its_library_channel_and_settings() {
        let declared = parse(
            r#"
            [[plugin]]
            name = "flash-sale"
            component = "build/flash-sale.wasm"

            [[plugin]]
            name = "sms-http"
            kind = "native"
            library = "native/libpifa_native_sms.so"
            channel = "sms"
            settings = { endpoint = "https://sms.example.com/send", token = "t" }
            "#,
            Path::new("/srv"),
        )
        .unwrap_or_default();
        assert_eq!(declared.plugins.len(), 1, "the wasm plugin alone");
        let sms = &declared.native[0];
        assert_eq!(sms.name, "sms-http");
        assert_eq!(sms.library, Path::new("/srv/native/libpifa_native_sms.so"));
        assert_eq!(sms.channel, "sms");
        assert_eq!(sms.settings["endpoint"], "https://sms.example.com/send");
    }

    #[test]
    fn a_native_entry_refuses_what_does_not_apply_to_it() {
        let native = "[[plugin]]\nname = \"sms\"\nkind = \"native\"\n";
        let bad = [
            (format!("{native}channel = \"sms\""), "missing `library`"),
            (format!("{native}library = \"l.so\""), "missing `channel`"),
            (
                format!("{native}library = \"l.so\"\nchannel = \"sms\"\ncapabilities = []"),
                "`capabilities` does not apply",
            ),
            (
                format!("{native}library = \"l.so\"\nchannel = \"sms\"\ncomponent = \"a.wasm\""),
                "`component` does not apply",
            ),
            (
                format!("{native}library = \"l.so\"\nchannel = \"sms\"\norder = 1"),
                "`order` does not apply",
            ),
            (
                format!("{native}library = \"l.so\"\nchannel = \"SMS!\""),
                "SMS!",
            ),
            (
                format!(
                    "{native}library = \"l.so\"\nchannel = \"sms\"\n[[plugin]]\nname = \"other\"\nkind = \"native\"\nlibrary = \"m.so\"\nchannel = \"sms\""
                ),
                "channel \"sms\" is already served by plugin sms",
            ),
            (
                "[[plugin]]\nname = \"a\"\ncomponent = \"a.wasm\"\nchannel = \"sms\"".to_owned(),
                "`channel` belongs to kind = \"native\"",
            ),
        ];
        for (text, named) in bad {
            let error = refusal(&text, Path::new("."));
            assert!(error.contains(named), "{error} should name {named}");
        }
    }
}
