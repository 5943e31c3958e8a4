//! A native library from a future ABI (version 2): the kernel must refuse it after reading the
//! version and before looking for anything else, so it exports nothing else.

/// The version the kernel must refuse, naming it.
#[expect(unsafe_code, reason = "an exported symbol is an unsafe attribute")]
#[unsafe(no_mangle)]
pub extern "C" fn pifa_native_abi_version() -> u32 {
    2
}
