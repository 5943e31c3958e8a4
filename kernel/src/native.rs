//! Native extensions (REQUIREMENTS M6): trusted adapters in shared libraries, loaded with
//! `libloading` and spoken to through the versioned C ABI of `pifa-native-abi`.
//!
//! They exist for what a WebAssembly plugin cannot host: a provider's SDK (an SMS gateway's,
//! say) with its own network stack and native dependencies. Nothing bounds them: a native
//! adapter runs in the server's process with its rights, so `plugins.toml` may name one only
//! when the deployment says so (`PIFA_ALLOW_NATIVE=1`, [`NativeCode::Allowed`]), and the one
//! check made on the library itself is its ABI version, read before anything else.
//!
//! Nearly all the kernel's `unsafe` code lives here (the rest is one call in
//! `store/group_commit.rs`): each block says why it holds.
#![expect(
    unsafe_code,
    reason = "calling into a shared library through its C ABI is unsafe by nature"
)]

use std::ffi::{CStr, c_void};
use std::fmt;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use libloading::Library;
use pifa_native_abi::{self as abi, Buffer, Description, PIFA_NATIVE_ABI_VERSION};

/// One outgoing message as a native adapter takes it: the outbox `id` (a provider's de-dup
/// id), `to`, `template`, `params`, `body`.
pub use pifa_native_abi::Message as NativeMessage;

/// Whether this deployment lets `plugins.toml` load native code (`PIFA_ALLOW_NATIVE=1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NativeCode {
    /// A `kind = "native"` entry is refused without its library being opened (the default).
    #[default]
    Refused,
    Allowed,
}

impl NativeCode {
    pub fn allowed_if(allowed: bool) -> NativeCode {
        if allowed {
            NativeCode::Allowed
        } else {
            NativeCode::Refused
        }
    }
}

/// Why a library did not become an adapter.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    #[error("{path}: cannot load: {reason}", path = .path.display())]
    Open { path: PathBuf, reason: String },
    #[error("{path}: not a Pifa native library (no {symbol}): {reason}", path = .path.display())]
    Symbol {
        path: PathBuf,
        symbol: String,
        reason: String,
    },
    #[error(
        "{path}: built for native ABI version {found}; this kernel speaks version {expected}",
        path = .path.display()
    )]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{path}: pifa_native_describe: {reason}", path = .path.display())]
    Describe { path: PathBuf, reason: String },
    #[error("refused its settings: {reason}")]
    Init { reason: String },
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} failure: {message}", if *.transient { "transient" } else { "permanent" })]
pub struct NativeFailure {
    /// Worth retrying later (the provider is down or busy); otherwise retrying would not help.
    pub transient: bool,
    /// The adapter's words.
    pub message: String,
}

impl NativeFailure {
    fn permanent(message: String) -> NativeFailure {
        NativeFailure {
            transient: false,
            message,
        }
    }
}

/// A loaded library with one instance made from an entry's settings.
pub struct NativeAdapter {
    description: Description,
    path: PathBuf,
    instance: Instance,
    send: abi::SendFn,
    free_buffer: abi::FreeBufferFn,
    drop: abi::DropFn,
    /// Never unloaded (never dropped): a Rust library may leave thread-local destructors or a
    /// thread behind (ureq resolves names on a thread of its own when given a timeout), and
    /// unmapping code they will still run crashes the server. Loading the same file again
    /// only counts up the loader's reference, so a reload costs no memory; a library replaced
    /// on disk under the same path is picked up on restart (the loader keeps one copy a path).
    _library: ManuallyDrop<Library>,
}

/// The library's instance pointer.
struct Instance(NonNull<c_void>);

// SAFETY: the ABI requires an instance to be usable from any thread, and from several at once
// (the adapter side's trait is `Send + Sync`); the kernel never dereferences it.
unsafe impl Send for Instance {}
// SAFETY: as for `Send`.
unsafe impl Sync for Instance {}

impl NativeAdapter {
    /// Loads `library` (resolved to an absolute path), checks its ABI version before anything
    /// else, reads its description and makes an instance from `settings`. Blocking: the
    /// library's `init` may do what it likes.
    pub fn load(
        library: &Path,
        settings: &serde_json::Value,
    ) -> Result<NativeAdapter, NativeError> {
        // A bare file name would make the dynamic loader search the system's library path
        // rather than the directory plugins.toml names it from.
        let path = std::path::absolute(library).unwrap_or_else(|_| library.to_owned());
        // SAFETY: loading runs the library's initialisers, which may do anything: native code
        // is trusted by the deployment's explicit choice (`NativeCode::Allowed`), the whole
        // contract of native extensions.
        let loaded = unsafe { Library::new(&path) }.map_err(|e| NativeError::Open {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        // SAFETY: every Pifa native library exports this symbol with this type, in every ABI
        // version; that is what makes the version readable before anything else.
        let abi_version: abi::AbiVersionFn =
            unsafe { function(&loaded, &path, abi::symbol::ABI_VERSION) }?;
        // SAFETY: takes nothing, returns a number.
        let found = unsafe { abi_version() };
        if found != PIFA_NATIVE_ABI_VERSION {
            return Err(NativeError::Version {
                path,
                found,
                expected: PIFA_NATIVE_ABI_VERSION,
            });
        }
        // SAFETY (the five lookups): ABI version 1 defines these symbols with these types.
        let describe: abi::DescribeFn = unsafe { function(&loaded, &path, abi::symbol::DESCRIBE) }?;
        let init: abi::InitFn = unsafe { function(&loaded, &path, abi::symbol::INIT) }?;
        let send: abi::SendFn = unsafe { function(&loaded, &path, abi::symbol::SEND) }?;
        let free_buffer: abi::FreeBufferFn =
            unsafe { function(&loaded, &path, abi::symbol::FREE_BUFFER) }?;
        let drop: abi::DropFn = unsafe { function(&loaded, &path, abi::symbol::DROP) }?;

        let description = {
            // SAFETY: takes nothing; returns null or a static NUL-terminated string that lives
            // as long as the library, which is never unloaded.
            let described = unsafe { describe() };
            if described.is_null() {
                return Err(NativeError::Describe {
                    path,
                    reason: "returned nothing".to_owned(),
                });
            }
            // SAFETY: non-null, NUL-terminated and static, as above.
            let json = unsafe { CStr::from_ptr(described) }.to_string_lossy();
            serde_json::from_str::<Description>(&json).map_err(|e| NativeError::Describe {
                path: path.clone(),
                reason: format!("not a description ({e}): {json}"),
            })?
        };

        let settings = settings.to_string();
        let mut error = Buffer::empty();
        // SAFETY: `settings` is readable for its length during the call, `error` is writable
        // and empty; the library fills it only on failure.
        let instance = unsafe { init(settings.as_ptr(), settings.len(), &mut error) };
        let reason = take(free_buffer, error);
        let Some(instance) = NonNull::new(instance) else {
            return Err(NativeError::Init {
                reason: if reason.is_empty() {
                    "init returned no instance and no reason".to_owned()
                } else {
                    reason
                },
            });
        };
        Ok(NativeAdapter {
            description,
            path,
            instance: Instance(instance),
            send,
            free_buffer,
            drop,
            _library: ManuallyDrop::new(loaded),
        })
    }

    /// The name the library gives itself (`plugins.toml` must call its entry the same).
    pub fn name(&self) -> &str {
        &self.description.name
    }

    pub fn version(&self) -> &str {
        &self.description.version
    }

    /// The channels the library can deliver (`sms`, `email`, `wechat`).
    pub fn channels(&self) -> &[String] {
        &self.description.channels
    }

    /// The library's file, as loaded.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one message; `Ok` holds the provider's reference. Blocking (the library talks to
    /// its provider): call it from `spawn_blocking`. Safe to call from several threads at once.
    pub fn send(&self, message: &NativeMessage) -> Result<String, NativeFailure> {
        let json = serde_json::to_vec(message)
            .map_err(|e| NativeFailure::permanent(format!("message: {e}")))?;
        let mut out = Buffer::empty();
        // SAFETY: the instance lives until `drop` (which needs `&mut self`, so no send is
        // running then); `json` is readable for its length during the call; `out` is
        // writable and empty. Concurrent sends are allowed by the ABI.
        let status = unsafe {
            (self.send)(
                self.instance.0.as_ptr(),
                json.as_ptr(),
                json.len(),
                &mut out,
            )
        };
        let answer = take(self.free_buffer, out);
        match status {
            abi::status::SENT => serde_json::from_str::<abi::Sent>(&answer)
                .map(|sent| sent.provider_ref)
                .map_err(|e| {
                    NativeFailure::permanent(format!(
                        "{} reported the message sent, but its answer is not {{\"provider_ref\"}} ({e}): {answer}",
                        self.name()
                    ))
                }),
            abi::status::TRANSIENT => Err(NativeFailure {
                transient: true,
                message: answer,
            }),
            abi::status::PERMANENT => Err(NativeFailure::permanent(answer)),
            other => Err(NativeFailure::permanent(format!(
                "{} answered with unknown status {other}: {answer}",
                self.name()
            ))),
        }
    }
}

impl Drop for NativeAdapter {
    fn drop(&mut self) {
        // SAFETY: the instance came from this library's `init`, is dropped once (here), and
        // no send is running (that would hold `&self`). The library stays loaded.
        unsafe { (self.drop)(self.instance.0.as_ptr()) };
    }
}

impl fmt::Debug for NativeAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeAdapter")
            .field("name", &self.description.name)
            .field("version", &self.description.version)
            .field("channels", &self.description.channels)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The function `name` (NUL-terminated) of `library`, copied out of its symbol: it stays
/// valid because the library is never unloaded.
///
/// # Safety
/// `T` must be the function's real type.
unsafe fn function<T: Copy>(library: &Library, path: &Path, name: &[u8]) -> Result<T, NativeError> {
    // SAFETY: the caller's.
    let symbol = unsafe { library.get::<T>(name) }.map_err(|e| NativeError::Symbol {
        path: path.to_owned(),
        symbol: String::from_utf8_lossy(name)
            .trim_end_matches('\0')
            .to_owned(),
        reason: e.to_string(),
    })?;
    Ok(*symbol)
}

/// Copies what the library wrote into `buffer` (lossily as UTF-8) and gives it back.
fn take(free_buffer: abi::FreeBufferFn, buffer: Buffer) -> String {
    if !buffer.is_filled() {
        return String::new();
    }
    // SAFETY: the library filled `len` bytes at `ptr` and keeps them until they are freed.
    let bytes = unsafe { std::slice::from_raw_parts(buffer.ptr, buffer.len) };
    let text = String::from_utf8_lossy(bytes).into_owned();
    // SAFETY: filled by this library, freed once, not read afterwards.
    unsafe { free_buffer(buffer) };
    text
}

/// Where the sender finds the native adapter installed for a channel now: the plugin host,
/// which loads and swaps them with the WebAssembly set (`plugins.toml`).
pub trait NativeAdapters: Send + Sync {
    /// The adapter serving `channel` now, if one is installed. A caller keeps it for a whole
    /// send: a reload meanwhile swaps in a new one for later callers.
    fn native_adapter(&self, channel: &str) -> Option<std::sync::Arc<NativeAdapter>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_is_named() {
        let error = NativeAdapter::load(
            Path::new("/nonexistent/libnothing.so"),
            &serde_json::json!({}),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            error.starts_with("/nonexistent/libnothing.so: cannot load"),
            "{error}"
        );
    }

    #[test]
    fn failures_say_whether_to_retry() {
        let failure = NativeFailure {
            transient: true,
            message: "HTTP 503".to_owned(),
        };
        assert_eq!(failure.to_string(), "transient failure: HTTP 503");
        assert_eq!(
            NativeFailure::permanent("HTTP 400".to_owned()).to_string(),
            "permanent failure: HTTP 400"
        );
    }
}
