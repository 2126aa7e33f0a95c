//! Test fixture for the loader's checks: a library whose every check-relevant answer can be
//! changed from the environment, and whose constructor aborts the process, so a host that called
//! it before refusing the library would crash the test.
//!
//! | variable                   | reported field           | default                   |
//! |----------------------------|--------------------------|---------------------------|
//! | `GATEWAY_TEST_ABI`         | ABI version              | the real one              |
//! | `GATEWAY_TEST_SDK`         | SDK version              | `0.0.0-mismatch`          |
//! | `GATEWAY_TEST_FINGERPRINT` | SDK fingerprint          | the real one              |
//! | `GATEWAY_TEST_RUSTC`       | rustc                    | the real one              |
//! | `GATEWAY_TEST_PANIC`       | panic strategy           | this library's (`unwind`) |
//!
//! With `GATEWAY_TEST_SDK` set to the real SDK version and `GATEWAY_TEST_FINGERPRINT` to another
//! value, it is a plugin built against a changed SDK surface of the same crate version.

#![allow(unsafe_code)]

use gateway_plugin_sdk::abi::{
    ABI_VERSION, Compatibility, RUSTC_VERSION_C, SDK_FINGERPRINT_C, panic_strategy,
};
use std::ffi::{CStr, CString, c_char};

/// ABI version, overridable for tests.
#[unsafe(no_mangle)]
pub extern "C" fn gateway_plugin_abi_version() -> u32 {
    std::env::var("GATEWAY_TEST_ABI")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ABI_VERSION)
}

/// `$var` as a leaked C string (called once per load), else `default`.
fn field(var: &str, default: &'static CStr) -> *const c_char {
    match std::env::var(var).ok().and_then(|v| CString::new(v).ok()) {
        Some(v) => Box::leak(v.into_boxed_c_str()).as_ptr(),
        None => default.as_ptr(),
    }
}

/// A compatibility record with a different SDK version, and other fields from the environment.
#[unsafe(no_mangle)]
pub extern "C" fn gateway_plugin_compatibility() -> Compatibility {
    Compatibility {
        sdk_version: field("GATEWAY_TEST_SDK", c"0.0.0-mismatch"),
        rustc_version: field("GATEWAY_TEST_RUSTC", RUSTC_VERSION_C),
        sdk_fingerprint: field("GATEWAY_TEST_FINGERPRINT", SDK_FINGERPRINT_C),
        panic_strategy: field("GATEWAY_TEST_PANIC", panic_strategy(cfg!(panic = "unwind"))),
    }
}

/// Never to be called by a correct host.
#[unsafe(no_mangle)]
pub extern "C" fn gateway_plugin_create() {
    std::process::abort();
}
