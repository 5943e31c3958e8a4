//! The adapter side of the ABI: what `export_native_adapter!`'s functions call. Every function
//! catches panics, since unwinding into the host is undefined behaviour (and Rust aborts an
//! `extern "C"` function that unwinds, taking the whole server with it).

use std::any::Any;
use std::ffi::{CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use crate::{Buffer, Failure, Message, NativeAdapter, Sent, status};

/// `pifa_native_describe`: the description as JSON, made once and kept in `cell` (a static of
/// the library) so the pointer stays valid for the library's life. Null if `describe` panics.
pub fn describe<A: NativeAdapter>(cell: &'static OnceLock<Option<CString>>) -> *const c_char {
    let described = cell.get_or_init(|| {
        catch_unwind(A::describe)
            .ok()
            .and_then(|description| serde_json::to_string(&description).ok())
            // serde_json escapes NUL inside strings, so this only fails on a bug.
            .and_then(|json| CString::new(json).ok())
    });
    described
        .as_ref()
        .map_or(std::ptr::null(), |json| json.as_ptr())
}

/// `pifa_native_init`.
///
/// # Safety
/// `config_json` is null or points to `len` readable bytes that stay put for the call;
/// `err_out` is null or points to a writable [`Buffer`].
pub unsafe fn init<A: NativeAdapter>(
    config_json: *const u8,
    len: usize,
    err_out: *mut Buffer,
) -> *mut c_void {
    // SAFETY: the caller's contract, passed on.
    let bytes = unsafe { borrow(config_json, len) };
    let result = catch_unwind(|| {
        let settings =
            serde_json::from_slice(bytes).map_err(|e| format!("settings are not JSON: {e}"))?;
        A::init(settings)
    })
    .unwrap_or_else(|panic| Err(format!("init panicked: {}", panic_message(&*panic))));
    match result {
        Ok(adapter) => Box::into_raw(Box::new(adapter)).cast(),
        Err(reason) => {
            // SAFETY: the caller's contract, passed on.
            unsafe { fill(err_out, reason.into_bytes()) };
            std::ptr::null_mut()
        }
    }
}

/// `pifa_native_send`.
///
/// # Safety
/// `instance` is null or came from [`init`] with the same `A` and is not dropped yet;
/// `message_json` is null or points to `len` readable bytes; `out` is null or points to a
/// writable [`Buffer`].
pub unsafe fn send<A: NativeAdapter>(
    instance: *mut c_void,
    message_json: *const u8,
    len: usize,
    out: *mut Buffer,
) -> i32 {
    let result = if instance.is_null() {
        Err(Failure::Permanent("no instance".to_owned()))
    } else {
        // SAFETY: a live instance from `init::<A>` (the caller's contract); shared, since `A`
        // is `Sync` and the host may send from several threads.
        let adapter = unsafe { &*instance.cast::<A>() };
        // SAFETY: the caller's contract, passed on.
        let bytes = unsafe { borrow(message_json, len) };
        // A panic may leave the adapter's own state half-changed; it is the adapter's to keep
        // consistent (a poisoned lock, say), as it would be on any thread.
        catch_unwind(AssertUnwindSafe(|| {
            let message: Message = serde_json::from_slice(bytes)
                .map_err(|e| Failure::Permanent(format!("message is not valid: {e}")))?;
            adapter.send(&message)
        }))
        .unwrap_or_else(|panic| {
            Err(Failure::Permanent(format!(
                "send panicked: {}",
                panic_message(&*panic)
            )))
        })
    };
    let (code, answer) = match result {
        Ok(provider_ref) => (
            status::SENT,
            serde_json::to_vec(&Sent { provider_ref }).unwrap_or_default(),
        ),
        Err(Failure::Transient(reason)) => (status::TRANSIENT, reason.into_bytes()),
        Err(Failure::Permanent(reason)) => (status::PERMANENT, reason.into_bytes()),
    };
    // SAFETY: the caller's contract, passed on.
    unsafe { fill(out, answer) };
    code
}

/// `pifa_native_free_buffer`.
///
/// # Safety
/// `buffer` is empty, or was filled by this library and not freed yet.
pub unsafe fn free_buffer(buffer: Buffer) {
    if buffer.is_filled() {
        // SAFETY: the parts of a `Vec<u8>` `fill` gave away (the caller's contract).
        drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.cap) });
    }
}

/// `pifa_native_drop`.
///
/// # Safety
/// `instance` is null or came from [`init`] with the same `A`, is dropped once and not used
/// afterwards.
pub unsafe fn drop_instance<A: NativeAdapter>(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // SAFETY: the box `init::<A>` leaked, given back once (the caller's contract).
    let adapter = unsafe { Box::from_raw(instance.cast::<A>()) };
    // A panicking `Drop` must not unwind into the host either.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(adapter)));
}

/// The bytes at `ptr`, or none for a null pointer or zero length.
///
/// # Safety
/// A non-null `ptr` points to `len` readable bytes that outlive `'a`.
unsafe fn borrow<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// Hands `bytes` to the host through `out` (freed later by [`free_buffer`]).
///
/// # Safety
/// `out` is null or points to a writable [`Buffer`]; whatever it held is overwritten, not freed.
unsafe fn fill(out: *mut Buffer, bytes: Vec<u8>) {
    if out.is_null() {
        return;
    }
    let mut bytes = std::mem::ManuallyDrop::new(bytes);
    let buffer = Buffer {
        ptr: bytes.as_mut_ptr(),
        len: bytes.len(),
        cap: bytes.capacity(),
    };
    // SAFETY: the caller's contract.
    unsafe { out.write(buffer) };
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
