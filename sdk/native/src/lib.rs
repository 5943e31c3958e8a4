//! The C ABI between Pifa and a native adapter (REQUIREMENTS M6).
//!
//! A native adapter is a shared library the kernel loads with `libloading` when `plugins.toml`
//! names it (`kind = "native"`) and the deployment allows native code (`PIFA_ALLOW_NATIVE=1`).
//! It is not sandboxed: it exists for what a WebAssembly plugin cannot host, such as an SMS
//! provider's SDK with its own network stack and native dependencies. Being trusted code, its
//! only guard is the ABI version, which the kernel reads before anything else.
//!
//! The library exports, with C linkage:
//!
//! | symbol | signature |
//! |---|---|
//! | `pifa_native_abi_version` | `() -> u32`: [`PIFA_NATIVE_ABI_VERSION`] when built against this crate |
//! | `pifa_native_describe` | `() -> *const c_char`: static, NUL-terminated JSON [`Description`] |
//! | `pifa_native_init` | `(config_json: *const u8, len: usize, err_out: *mut Buffer) -> *mut c_void`: an instance for the entry's settings, or null with the reason in `err_out` |
//! | `pifa_native_send` | `(instance: *mut c_void, message_json: *const u8, len: usize, out: *mut Buffer) -> i32`: a [`Message`] sent; [`status`] says how it went, `out` holds [`Sent`] or the failure's words |
//! | `pifa_native_free_buffer` | `(buffer: Buffer)`: frees a buffer the library filled |
//! | `pifa_native_drop` | `(instance: *mut c_void)`: the instance is no longer used |
//!
//! What both sides keep to:
//! - Data crosses as UTF-8 JSON by pointer and length; unknown JSON fields are ignored, so a
//!   field can be added without a new version. A changed signature, symbol or status meaning
//!   is a new [`PIFA_NATIVE_ABI_VERSION`].
//! - Memory the library allocates is freed by the library (`pifa_native_free_buffer`): the two
//!   sides need not share an allocator.
//! - Nothing unwinds across the boundary: [`export_native_adapter!`] catches a panic and
//!   reports it as a permanent failure (so adapters must keep `panic = "unwind"`).
//! - An instance is shared: the host may call `pifa_native_send` from several threads at once,
//!   and calls `pifa_native_drop` once, after the last send, before it unloads the library.
//!   A library must not leave threads running after its last instance is dropped.
//!
//! Adapter authors implement [`NativeAdapter`] and write `export_native_adapter!(MyAdapter);`.
//! The host side is the kernel's `native` module.

use std::ffi::{c_char, c_void};
use std::fmt;

use serde::{Deserialize, Serialize};

/// The ABI version this crate describes; the kernel refuses a library reporting another.
pub const PIFA_NATIVE_ABI_VERSION: u32 = 1;

/// What `pifa_native_send` returns.
pub mod status {
    /// Sent; the output buffer holds [`crate::Sent`].
    pub const SENT: i32 = 0;
    /// Not sent, worth retrying later (the provider is down, rate-limited, unreachable); the
    /// output buffer holds the reason.
    pub const TRANSIENT: i32 = 1;
    /// Not sent, and retrying would not help (a bad number, a template the provider does not
    /// know, a panic); the output buffer holds the reason.
    pub const PERMANENT: i32 = 2;
}

/// The exported symbols' names, NUL-terminated as `libloading` takes them.
pub mod symbol {
    pub const ABI_VERSION: &[u8] = b"pifa_native_abi_version\0";
    pub const DESCRIBE: &[u8] = b"pifa_native_describe\0";
    pub const INIT: &[u8] = b"pifa_native_init\0";
    pub const SEND: &[u8] = b"pifa_native_send\0";
    pub const FREE_BUFFER: &[u8] = b"pifa_native_free_buffer\0";
    pub const DROP: &[u8] = b"pifa_native_drop\0";
}

/// `pifa_native_abi_version`.
pub type AbiVersionFn = unsafe extern "C" fn() -> u32;
/// `pifa_native_describe`.
pub type DescribeFn = unsafe extern "C" fn() -> *const c_char;
/// `pifa_native_init`.
pub type InitFn =
    unsafe extern "C" fn(config_json: *const u8, len: usize, err_out: *mut Buffer) -> *mut c_void;
/// `pifa_native_send`.
pub type SendFn = unsafe extern "C" fn(
    instance: *mut c_void,
    message_json: *const u8,
    len: usize,
    out: *mut Buffer,
) -> i32;
/// `pifa_native_free_buffer`.
pub type FreeBufferFn = unsafe extern "C" fn(buffer: Buffer);
/// `pifa_native_drop`.
pub type DropFn = unsafe extern "C" fn(instance: *mut c_void);

/// Bytes the library allocated and hands to the host, which reads them and gives them back
/// through `pifa_native_free_buffer`. The host passes an empty one (null `ptr`) to be filled.
#[repr(C)]
#[derive(Debug)]
pub struct Buffer {
    pub ptr: *mut u8,
    pub len: usize,
    /// The allocation's capacity, so the library can rebuild and free it.
    pub cap: usize,
}

impl Buffer {
    /// Nothing allocated: what the host passes in, and what it gets when there is nothing to say.
    pub const fn empty() -> Buffer {
        Buffer {
            ptr: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        }
    }

    /// Whether the library filled it (and so must free it).
    pub fn is_filled(&self) -> bool {
        !self.ptr.is_null()
    }
}

impl Default for Buffer {
    fn default() -> Buffer {
        Buffer::empty()
    }
}

/// What a library says it is (`pifa_native_describe`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    /// The name `plugins.toml` must give its entry.
    pub name: String,
    pub version: String,
    /// The message channels it can deliver (`sms`, `email`, `wechat`).
    pub channels: Vec<String>,
}

/// One outgoing message (`pifa_native_send`'s input).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The outbox row's id. Providers that de-duplicate by a caller's id (an `OutId`) should be
    /// given this one, so a resend after a lost answer is not delivered twice.
    pub id: i64,
    /// The recipient: a phone number for SMS.
    pub to: String,
    /// The message's template code (`login_code`, `order_shipped`).
    pub template: String,
    /// The template's parameters.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The rendered text, for providers that take text rather than templates.
    #[serde(default)]
    pub body: String,
}

/// A sent message's answer (the output of a `SENT` send).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// The provider's id for the message, for support and delivery reports.
    pub provider_ref: String,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth retrying later.
    Transient(String),
    /// Retrying would not help.
    Permanent(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Transient(reason) => write!(f, "transient failure: {reason}"),
            Failure::Permanent(reason) => write!(f, "permanent failure: {reason}"),
        }
    }
}

impl std::error::Error for Failure {}

/// What an adapter author implements; [`export_native_adapter!`] turns it into the C ABI.
///
/// `Sync` because the host sends from several threads at once through one instance.
pub trait NativeAdapter: Sized + Send + Sync + 'static {
    /// Name, version and channels; called once, the answer is kept for the library's life.
    fn describe() -> Description;

    /// An instance for the entry's `settings` (from `plugins.toml`, as JSON). Refuse bad
    /// settings here, naming the field: the kernel then refuses the whole `plugins.toml`. It
    /// also runs for `pifa plugins check`, so it should not send anything.
    fn init(settings: serde_json::Value) -> Result<Self, String>;

    /// Sends one message; `Ok` holds the provider's reference for it. Blocking is expected
    /// (the host calls it on a blocking thread).
    fn send(&self, message: &Message) -> Result<String, Failure>;
}

/// The glue [`export_native_adapter!`] expands to; not for direct use.
#[doc(hidden)]
#[expect(
    unsafe_code,
    reason = "the adapter side of the C ABI: raw pointers from the host, boxed instances"
)]
pub mod export;

/// Exports the C ABI for an adapter type: `export_native_adapter!(SmsHttp);` at the top level
/// of a `crate-type = ["cdylib"]` crate.
#[macro_export]
macro_rules! export_native_adapter {
    ($adapter:ty) => {
        /// The ABI this library speaks ([`pifa_native_abi::PIFA_NATIVE_ABI_VERSION`]).
        #[unsafe(no_mangle)]
        pub extern "C" fn pifa_native_abi_version() -> u32 {
            $crate::PIFA_NATIVE_ABI_VERSION
        }

        /// Static NUL-terminated JSON: name, version, channels.
        #[unsafe(no_mangle)]
        pub extern "C" fn pifa_native_describe() -> *const ::std::ffi::c_char {
            static DESCRIPTION: ::std::sync::OnceLock<::std::option::Option<::std::ffi::CString>> =
                ::std::sync::OnceLock::new();
            $crate::export::describe::<$adapter>(&DESCRIPTION)
        }

        /// # Safety
        /// `config_json` points to `len` readable bytes; `err_out` is null or writable.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn pifa_native_init(
            config_json: *const u8,
            len: usize,
            err_out: *mut $crate::Buffer,
        ) -> *mut ::std::ffi::c_void {
            // SAFETY: the host keeps the contract stated above (pifa-native-abi's docs).
            unsafe { $crate::export::init::<$adapter>(config_json, len, err_out) }
        }

        /// # Safety
        /// `instance` came from `pifa_native_init` and is not dropped; `message_json` points to
        /// `len` readable bytes; `out` is null or writable.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn pifa_native_send(
            instance: *mut ::std::ffi::c_void,
            message_json: *const u8,
            len: usize,
            out: *mut $crate::Buffer,
        ) -> i32 {
            // SAFETY: the host keeps the contract stated above (pifa-native-abi's docs).
            unsafe { $crate::export::send::<$adapter>(instance, message_json, len, out) }
        }

        /// # Safety
        /// `buffer` was filled by this library and is freed once.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn pifa_native_free_buffer(buffer: $crate::Buffer) {
            // SAFETY: the host keeps the contract stated above (pifa-native-abi's docs).
            unsafe { $crate::export::free_buffer(buffer) }
        }

        /// # Safety
        /// `instance` came from `pifa_native_init`, is dropped once and not used after.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn pifa_native_drop(instance: *mut ::std::ffi::c_void) {
            // SAFETY: the host keeps the contract stated above (pifa-native-abi's docs).
            unsafe { $crate::export::drop_instance::<$adapter>(instance) }
        }

        // The exports have exactly the types the host loads them as.
        const _: $crate::AbiVersionFn = pifa_native_abi_version;
        const _: $crate::DescribeFn = pifa_native_describe;
        const _: $crate::InitFn = pifa_native_init;
        const _: $crate::SendFn = pifa_native_send;
        const _: $crate::FreeBufferFn = pifa_native_free_buffer;
        const _: $crate::DropFn = pifa_native_drop;
    };
}

#[cfg(test)]
#[expect(
    unsafe_code,
    reason = "the tests call the exported C functions as the host does"
)]
mod tests {
    use std::ffi::CStr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static DROPPED: AtomicUsize = AtomicUsize::new(0);

    struct Echo {
        prefix: String,
    }

    impl Drop for Echo {
        fn drop(&mut self) {
            DROPPED.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl NativeAdapter for Echo {
        fn describe() -> Description {
            Description {
                name: "echo".to_owned(),
                version: "1.2.3".to_owned(),
                channels: vec!["sms".to_owned()],
            }
        }

        fn init(settings: serde_json::Value) -> Result<Echo, String> {
            if settings.get("explode").is_some() {
                panic!("init blew up");
            }
            let prefix = settings
                .get("prefix")
                .and_then(|p| p.as_str())
                .ok_or("settings.prefix: missing")?;
            Ok(Echo {
                prefix: prefix.to_owned(),
            })
        }

        fn send(&self, message: &Message) -> Result<String, Failure> {
            match message.template.as_str() {
                "later" => Err(Failure::Transient("provider busy".to_owned())),
                "never" => Err(Failure::Permanent("unknown template".to_owned())),
                "panic" => panic!("send blew up on {}", message.to),
                _ => Ok(format!("{}-{}", self.prefix, message.id)),
            }
        }
    }

    export_native_adapter!(Echo);

    /// Copies and frees what the library wrote, as the host does.
    fn take(buffer: Buffer) -> String {
        let text = if buffer.is_filled() {
            // SAFETY: the library filled `len` bytes at `ptr`.
            let bytes = unsafe { std::slice::from_raw_parts(buffer.ptr, buffer.len) };
            String::from_utf8_lossy(bytes).into_owned()
        } else {
            String::new()
        };
        // SAFETY: filled by this library, freed once.
        unsafe { pifa_native_free_buffer(buffer) };
        text
    }

    fn init(settings: &str) -> Result<*mut c_void, String> {
        let mut error = Buffer::empty();
        // SAFETY: a valid slice and a writable buffer.
        let instance = unsafe { pifa_native_init(settings.as_ptr(), settings.len(), &mut error) };
        let reason = take(error);
        if instance.is_null() {
            Err(reason)
        } else {
            Ok(instance)
        }
    }

    fn send(instance: *mut c_void, message: &str) -> (i32, String) {
        let mut out = Buffer::empty();
        // SAFETY: a live instance, a valid slice and a writable buffer.
        let status =
            unsafe { pifa_native_send(instance, message.as_ptr(), message.len(), &mut out) };
        (status, take(out))
    }

    fn message(template: &str) -> String {
        serde_json::json!({ "id": 42, "to": "13800000001", "template": template, "params": { "code": "123456" }, "body": "验证码 123456" })
            .to_string()
    }

    #[test]
    fn the_exports_speak_the_version_and_describe_the_adapter() {
        assert_eq!(pifa_native_abi_version(), PIFA_NATIVE_ABI_VERSION);
        let described = pifa_native_describe();
        assert!(!described.is_null());
        // SAFETY: a static NUL-terminated string.
        let json = unsafe { CStr::from_ptr(described) }.to_string_lossy();
        let description: Description = serde_json::from_str(&json).unwrap();
        assert_eq!(description, Echo::describe());
        assert_eq!(pifa_native_describe(), described, "the same static string");
    }

    #[test]
    fn a_send_reports_each_outcome_and_a_panic_is_a_permanent_failure() {
        let instance = init(r#"{"prefix":"ref"}"#).unwrap();
        assert_eq!(
            send(instance, &message("login_code")),
            (status::SENT, r#"{"provider_ref":"ref-42"}"#.to_owned())
        );
        assert_eq!(
            send(instance, &message("later")),
            (status::TRANSIENT, "provider busy".to_owned())
        );
        assert_eq!(
            send(instance, &message("never")),
            (status::PERMANENT, "unknown template".to_owned())
        );
        let (code, reason) = send(instance, &message("panic"));
        assert_eq!(code, status::PERMANENT);
        assert!(reason.contains("send blew up on 13800000001"), "{reason}");
        let (code, reason) = send(instance, "{\"id\": \"not a number\"}");
        assert_eq!(code, status::PERMANENT);
        assert!(reason.starts_with("message is not valid"), "{reason}");
        // The instance still works after its panic.
        assert_eq!(send(instance, &message("login_code")).0, status::SENT);
        let before = DROPPED.load(Ordering::SeqCst);
        // SAFETY: from init, dropped once.
        unsafe { pifa_native_drop(instance) };
        assert_eq!(DROPPED.load(Ordering::SeqCst), before + 1);
    }

    #[test]
    fn init_refuses_with_the_reason_and_a_panic_does_not_unwind() {
        assert_eq!(init("{}").err().unwrap(), "settings.prefix: missing");
        let reason = init(r#"{"explode": true}"#).err().unwrap();
        assert!(reason.contains("init blew up"), "{reason}");
        let reason = init("not json").err().unwrap();
        assert!(reason.starts_with("settings are not JSON"), "{reason}");
    }

    #[test]
    fn null_pointers_are_refused_not_followed() {
        let mut out = Buffer::empty();
        // SAFETY: null instance and message are part of what the glue checks.
        let code = unsafe { pifa_native_send(std::ptr::null_mut(), std::ptr::null(), 0, &mut out) };
        assert_eq!(code, status::PERMANENT);
        assert_eq!(take(out), "no instance");
        // SAFETY: dropping and freeing nothing is allowed.
        unsafe {
            pifa_native_drop(std::ptr::null_mut());
            pifa_native_free_buffer(Buffer::empty());
        }
    }
}
