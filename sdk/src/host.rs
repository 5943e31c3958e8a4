//! The kernel's imports, typed. Each module is one WIT interface; `log` is always linked, the
//! others only when `plugins.toml` grants the capability.

/// Lines in the kernel's log under the plugin's name (capped per call).
pub mod log {
    use crate::bindings::pifa::plugin::log::{Level, write};

    pub fn debug(message: &str) {
        write(Level::Debug, message);
    }
    pub fn info(message: &str) {
        write(Level::Info, message);
    }
    pub fn warn(message: &str) {
        write(Level::Warn, message);
    }
    pub fn error(message: &str) {
        write(Level::Error, message);
    }
}

/// The shop's clock (capability `clock`).
pub mod clock {
    pub fn now_ms() -> i64 {
        crate::bindings::pifa::plugin::clock::now_ms()
    }
}

/// The plugin's key-value namespace (capability `kv`).
pub mod kv {
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use crate::bindings::pifa::plugin::kv as wit;

    pub fn get(key: &str) -> Option<Vec<u8>> {
        wit::get(key)
    }

    /// A JSON value; `None` when absent or not of type `T`.
    pub fn get_json<T: DeserializeOwned>(key: &str) -> Option<T> {
        wit::get(key).and_then(|bytes| serde_json::from_slice(&bytes).ok())
    }

    pub fn put(key: &str, value: &[u8]) -> Result<(), String> {
        wit::put(key, value)
    }

    pub fn put_json<T: Serialize>(key: &str, value: &T) -> Result<(), String> {
        let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        wit::put(key, &bytes)
    }

    pub fn delete(key: &str) -> Result<(), String> {
        wit::delete(key)
    }

    /// Up to `limit` entries whose key starts with `prefix`, after `start_after`.
    pub fn scan(prefix: &str, start_after: Option<&str>, limit: u32) -> Vec<(String, Vec<u8>)> {
        wit::scan(prefix, start_after, limit)
    }

    pub fn counter(key: &str) -> i64 {
        wit::counter(key)
    }

    /// Adds `delta` if the counter stays within [`min`, `max`]; the new value, or `None`.
    pub fn add_bounded(key: &str, delta: i64, min: i64, max: i64) -> Result<Option<i64>, String> {
        wit::add_bounded(key, delta, min, max)
    }
}

/// Catalogue reads (capability `catalog-read`).
pub mod catalog {
    pub fn product(id: i64) -> Option<crate::Product> {
        crate::bindings::pifa::plugin::catalog_read::product(id)
            .and_then(|json| serde_json::from_str(&json).ok())
    }
}

/// Lines to staff (capability `notify`).
pub mod notify {
    pub fn staff(message: &str) -> Result<(), String> {
        crate::bindings::pifa::plugin::notify::staff(message)
    }
}

/// The active theme's page sections (capability `pages`).
pub mod pages {
    use serde_json::Value;

    use crate::bindings::pifa::plugin::pages as wit;
    use crate::{FieldError, SectionTypes};

    /// The section types the theme draws, with their settings schema.
    pub fn section_types() -> SectionTypes {
        serde_json::from_str(&wit::section_types()).unwrap_or_default()
    }

    /// `settings` checked against `kind`'s schema, defaults filled in; or the field refused.
    pub fn check_section(kind: &str, settings: &Value) -> Result<Value, FieldError> {
        let checked = wit::check_section(kind, &settings.to_string()).map_err(|e| FieldError {
            field: e.field,
            message: e.message,
        })?;
        serde_json::from_str(&checked).map_err(|e| FieldError {
            field: String::new(),
            message: e.to_string(),
        })
    }
}

/// Events into the shop's outbox (capability `emit`).
pub mod emit {
    pub fn emit(kind: &str, payload: &serde_json::Value) -> Result<(), String> {
        crate::bindings::pifa::plugin::emit::emit(kind, &payload.to_string())
    }
}
