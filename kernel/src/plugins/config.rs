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
}

/// Per-call limits (`[limits]`); the defaults are the measured starting values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Fuel (≈ wasm instructions) for a call, plus `fuel_per_line` per cart line.
    pub fuel_base: u64,
    pub fuel_per_line: u64,
    /// A plugin's linear memory.
    pub memory_mib: u64,
    /// Wall-clock deadline of a call (epoch interruption).
    pub deadline_ms: u64,
    /// A host call (storage, catalogue) that takes longer fails the hook.
    pub host_call_ms: u64,
    pub max_input_kib: u64,
    pub max_output_kib: u64,
    /// Log bytes per call; more fails the hook.
    pub max_log_kib: u64,
    /// Consecutive failures before a plugin is suspended (and staff are told) …
    pub suspend_after: u32,
    /// … for this long.
    pub suspend_secs: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            fuel_base: 2_000_000,
            fuel_per_line: 40_000,
            memory_mib: 32,
            deadline_ms: 500,
            host_call_ms: 250,
            max_input_kib: 1024,
            max_output_kib: 256,
            max_log_kib: 64,
            suspend_after: 5,
            suspend_secs: 600,
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
    #[serde(default)]
    pub limits: Limits,
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<PluginEntry>,
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
    pub limits: Limits,
    /// The WebAssembly plugins, in calling order.
    pub plugins: Vec<Declared>,
    /// The native adapters, in the file's order.
    pub native: Vec<DeclaredNative>,
}

/// Reads and checks `path`; a missing file means no plugins. Errors name the problem.
pub fn read(path: &Path) -> Result<Declarations, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    parse(&text, path.parent().unwrap_or(Path::new(".")))
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse(text: &str, base: &Path) -> Result<Declarations, String> {
    let file: PluginsFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut declared = Vec::new();
    let mut native: Vec<DeclaredNative> = Vec::new();
    for entry in file.plugins {
        if !valid_name(&entry.name) {
            return Err(format!(
                "plugin name {:?}: lowercase letters, digits and '-' only",
                entry.name
            ));
        }
        if declared.iter().any(|d: &Declared| d.name == entry.name)
            || native.iter().any(|n| n.name == entry.name)
        {
            return Err(format!("plugin {} is declared twice", entry.name));
        }
        let settings = match &entry.settings {
            Some(table) => serde_json::to_value(table).map_err(|e| e.to_string())?,
            None => serde_json::Value::Object(serde_json::Map::new()),
        };
        match entry.kind {
            Kind::Wasm => declared.push(wasm_entry(entry, settings, base)?),
            Kind::Native => {
                let entry = native_entry(entry, settings, base)?;
                if let Some(other) = native.iter().find(|n| n.channel == entry.channel) {
                    return Err(format!(
                        "plugin {}: channel {:?} is already served by plugin {}",
                        entry.name, entry.channel, other.name
                    ));
                }
                native.push(entry);
            }
        }
    }
    declared.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
    Ok(Declarations {
        limits: file.limits,
        plugins: declared,
        native,
    })
}

fn wasm_entry(
    entry: PluginEntry,
    settings: serde_json::Value,
    base: &Path,
) -> Result<Declared, String> {
    let name = &entry.name;
    let misplaced = [
        ("library", entry.library.is_some()),
        ("channel", entry.channel.is_some()),
    ];
    if let Some((field, _)) = misplaced.iter().find(|(_, given)| *given) {
        return Err(format!(
            "plugin {name}: `{field}` belongs to kind = \"native\" entries"
        ));
    }
    let component = entry
        .component
        .ok_or_else(|| format!("plugin {name}: missing `component` (the .wasm file)"))?;
    let mut granted = Vec::new();
    for capability in entry.capabilities.iter().flatten() {
        let parsed = Capability::parse(capability).ok_or_else(|| {
            format!(
                "plugin {name}: unknown capability {capability:?} (known: clock, kv, catalog-read, notify)"
            )
        })?;
        granted.push(parsed);
    }
    let on_error = entry.on_error.unwrap_or_default();
    if let OnError::PerHook(map) = &on_error
        && let Some(unknown) = map.keys().find(|k| Hook::parse(k).is_none())
    {
        return Err(format!(
            "plugin {name}: on_error names unknown hook {unknown:?}"
        ));
    }
    Ok(Declared {
        component: base.join(component),
        name: entry.name,
        order: entry.order.unwrap_or(0),
        granted,
        settings,
        on_error,
    })
}

/// A native library is not sandboxed and has no hooks: the fields that grant or order
/// sandboxed calls would only mislead a reader, so they are refused rather than ignored.
fn native_entry(
    entry: PluginEntry,
    settings: serde_json::Value,
    base: &Path,
) -> Result<DeclaredNative, String> {
    let name = &entry.name;
    let misplaced = [
        ("component", entry.component.is_some()),
        ("capabilities", entry.capabilities.is_some()),
        ("order", entry.order.is_some()),
        ("on_error", entry.on_error.is_some()),
    ];
    if let Some((field, _)) = misplaced.iter().find(|(_, given)| *given) {
        return Err(format!(
            "plugin {name}: `{field}` does not apply to kind = \"native\" (native code is not sandboxed and has no hooks)"
        ));
    }
    let library = entry
        .library
        .ok_or_else(|| format!("plugin {name}: missing `library` (the shared library file)"))?;
    let channel = entry.channel.ok_or_else(|| {
        format!("plugin {name}: missing `channel` (the channel it delivers, e.g. \"sms\")")
    })?;
    if !valid_name(&channel) {
        return Err(format!(
            "plugin {name}: channel {channel:?}: lowercase letters, digits and '-' only"
        ));
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
            let error = parse(text, base).err().unwrap_or_default();
            assert!(error.contains(named), "{error} should name {named}");
        }
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
            let error = parse(&text, Path::new(".")).err().unwrap_or_default();
            assert!(error.contains(named), "{error} should name {named}");
        }
    }
}
