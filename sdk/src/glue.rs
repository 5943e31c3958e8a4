//! What `export_plugin!` expands to call: JSON in and out, and the panic hook.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::HookError as WitHookError;
use crate::bindings::pifa::plugin::log::{Level, write};
use crate::{HookError, Manifest, Plugin};

fn install_panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            // Without this a panic reaches the kernel only as `unreachable`.
            write(Level::Error, &format!("panic: {info}"));
        }));
    });
}

fn wit_error(error: HookError) -> WitHookError {
    WitHookError {
        code: error.code,
        message: error.message,
    }
}

pub fn manifest<P: Plugin>() -> String {
    install_panic_hook();
    let manifest: Manifest = P::manifest();
    serde_json::to_string(&manifest).unwrap_or_default()
}

/// Parses `input`, runs `hook`, serialises its answer.
pub fn call<I, O>(input: &str, hook: fn(I) -> Result<O, HookError>) -> Result<String, WitHookError>
where
    I: DeserializeOwned,
    O: Serialize,
{
    install_panic_hook();
    let input: I = serde_json::from_str(input).map_err(|e| {
        wit_error(HookError::new(
            "bad_input",
            format!("the kernel's input did not parse: {e}"),
        ))
    })?;
    let output = hook(input).map_err(wit_error)?;
    serde_json::to_string(&output)
        .map_err(|e| wit_error(HookError::new("bad_output", e.to_string())))
}

pub fn tick(now_ms: i64, hook: fn(i64) -> Result<(), HookError>) -> Result<(), WitHookError> {
    install_panic_hook();
    hook(now_ms).map_err(wit_error)
}
