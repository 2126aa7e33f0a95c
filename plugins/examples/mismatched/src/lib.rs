//! Test fixture for the loader's checks. It reports the ABI version in `GATEWAY_TEST_ABI`
//! (default: the real one) and a compatibility record naming SDK `0.0.0-mismatch`, so the host
//! must refuse it before calling its constructor, which would otherwise abort the process.

#![allow(unsafe_code)]

use gateway_plugin_sdk::abi::{ABI_VERSION, Compatibility, RUSTC_VERSION_C};

/// ABI version, overridable for tests.
#[unsafe(no_mangle)]
pub extern "C" fn gateway_plugin_abi_version() -> u32 {
    std::env::var("GATEWAY_TEST_ABI")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ABI_VERSION)
}

/// A compatibility record with a different SDK version.
#[unsafe(no_mangle)]
pub extern "C" fn gateway_plugin_compatibility() -> Compatibility {
    Compatibility {
        sdk_version: c"0.0.0-mismatch".as_ptr(),
        rustc_version: RUSTC_VERSION_C.as_ptr(),
    }
}

/// Never to be called by a correct host.
#[unsafe(no_mangle)]
pub extern "C" fn gateway_plugin_create() {
    std::process::abort();
}
