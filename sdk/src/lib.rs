//! `pifa-sdk`: what a Pifa plugin author depends on, and the payload types the kernel and the
//! plugins share (one definition, both sides).
//!
//! A plugin is a `cdylib` crate built for `wasm32-unknown-unknown` (the kernel's build does it
//! for every crate under `plugins/`). It implements [`Plugin`] and exports it:
//!
//! ```text
//! use pifa_sdk::{Adjustment, Hook, HookError, Manifest, Plugin, QuoteInput, QuoteOutput};
//!
//! struct TenOff;
//!
//! impl Plugin for TenOff {
//!     fn manifest() -> Manifest {
//!         pifa_sdk::manifest("ten-off", env!("CARGO_PKG_VERSION"), &[Hook::Quote])
//!     }
//!
//!     /// 10 fen off every line.
//!     fn quote(input: QuoteInput) -> Result<QuoteOutput, HookError> {
//!         let adjustments = input
//!             .lines
//!             .iter()
//!             .map(|line| Adjustment::line(line.line_no, -10, "立减1角"));
//!         Ok(QuoteOutput {
//!             adjustments: adjustments.collect(),
//!             ..QuoteOutput::default()
//!         })
//!     }
//! }
//!
//! pifa_sdk::export_plugin!(TenOff);
//! ```
//!
//! One example per hook lives in `plugins/flash-sale` (quote, checkout, on-event, handle-http)
//! and `plugins/testing/` (on-tick and the misbehaving plugins the kernel must contain).
//! The host's imports are in [`host`]: `log` (always), `clock`, `kv`, `catalog-read`, `notify`
//! (each only when `plugins.toml` grants it; calling one that is not granted cannot happen: a
//! plugin importing it is refused at load, naming the interface).
//!
//! Testing: `pifa plugins run NAME HOOK INPUT.json` runs a built plugin on a JSON input and
//! prints its output, the fuel used and the peak memory; the kernel's test suite runs every
//! plugin's `fixtures/*.json` (input → expected output) the same way.

/// The global allocator plugins get on wasm32 (see the module).
#[cfg(all(
    target_arch = "wasm32",
    not(target_feature = "atomics"),
    feature = "allocator"
))]
pub mod allocator;
pub mod input;
pub mod money;
pub mod screen;
pub mod storage;
pub mod testing;
pub mod types;

pub use money::spread;
pub use screen::*;
#[cfg(target_arch = "wasm32")]
pub use storage::HostKv;
pub use storage::{Emit, Kv, MemoryKv};
pub use types::*;

/// A manifest for `name` at `version` implementing `hooks`, needing nothing but `log`; add
/// capabilities, settings schema, routes and events with struct update syntax.
pub fn manifest(name: &str, version: &str, hooks: &[Hook]) -> Manifest {
    Manifest {
        name: name.to_owned(),
        version: version.to_owned(),
        api: API_VERSION.to_owned(),
        hooks: hooks.to_vec(),
        capabilities: Vec::new(),
        settings_schema: None,
        routes: Vec::new(),
        events: Vec::new(),
    }
}

/// A plugin: its manifest and the hooks it implements (the others are never called).
pub trait Plugin {
    fn manifest() -> Manifest;

    fn quote(input: QuoteInput) -> Result<QuoteOutput, HookError> {
        let _ = input;
        Ok(QuoteOutput::default())
    }

    fn checkout(input: CheckoutInput) -> Result<CheckoutOutput, HookError> {
        let _ = input;
        Ok(CheckoutOutput::default())
    }

    fn on_event(event: Event) -> Result<(), HookError> {
        let _ = event;
        Ok(())
    }

    fn handle_http(request: HttpRequest) -> Result<HttpResponse, HookError> {
        let _ = request;
        Ok(HttpResponse::error(404, "not_found", None, "no such route"))
    }

    fn on_tick(now_ms: i64) -> Result<(), HookError> {
        let _ = now_ms;
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
        pub_export_macro: true,
        default_bindings_module: "pifa_sdk::bindings",
    });
}

#[cfg(target_arch = "wasm32")]
pub mod host;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod glue;

/// Exports `$plugin` (a type implementing [`Plugin`]) as the component's hooks, with JSON in
/// and out and a panic hook that sends the panic's message to the kernel's log.
///
/// Off wasm32 it exports nothing (there is no component to export from), so a plugin's logic
/// builds and unit-tests natively (`cargo test --manifest-path plugins/Cargo.toml -p NAME`)
/// without cfg around the export.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        // Naming the hooks keeps the plugin type-checked natively, and its code from reading
        // as unused there.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = <$plugin as $crate::Plugin>::manifest;
            let _ = <$plugin as $crate::Plugin>::quote;
            let _ = <$plugin as $crate::Plugin>::checkout;
            let _ = <$plugin as $crate::Plugin>::on_event;
            let _ = <$plugin as $crate::Plugin>::handle_http;
            let _ = <$plugin as $crate::Plugin>::on_tick;
        };
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __PifaExports;

            impl $crate::bindings::Guest for __PifaExports {
                fn manifest() -> ::std::string::String {
                    $crate::glue::manifest::<$plugin>()
                }
                fn quote(
                    input: ::std::string::String,
                ) -> ::std::result::Result<::std::string::String, $crate::bindings::HookError>
                {
                    $crate::glue::call(&input, <$plugin as $crate::Plugin>::quote)
                }
                fn checkout(
                    input: ::std::string::String,
                ) -> ::std::result::Result<::std::string::String, $crate::bindings::HookError>
                {
                    $crate::glue::call(&input, <$plugin as $crate::Plugin>::checkout)
                }
                fn on_event(
                    event: ::std::string::String,
                ) -> ::std::result::Result<(), $crate::bindings::HookError> {
                    $crate::glue::call(&event, <$plugin as $crate::Plugin>::on_event).map(|_| ())
                }
                fn handle_http(
                    request: ::std::string::String,
                ) -> ::std::result::Result<::std::string::String, $crate::bindings::HookError>
                {
                    $crate::glue::call(&request, <$plugin as $crate::Plugin>::handle_http)
                }
                fn on_tick(now_ms: i64) -> ::std::result::Result<(), $crate::bindings::HookError> {
                    $crate::glue::tick(now_ms, <$plugin as $crate::Plugin>::on_tick)
                }
            }

    $crate::bindings::export!(__PifaExports with_types_in $crate::bindings);
        };
    };
}
