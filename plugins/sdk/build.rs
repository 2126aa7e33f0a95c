//! Records the plugin compatibility record's build-time parts: the compiler version and the
//! fingerprint of the SDK's sources (see `build/fingerprint.rs` for what it covers and why).
//!
//! Emits `GATEWAY_SDK_RUSTC_VERSION` and `GATEWAY_SDK_FINGERPRINT` for `src/abi.rs`.

#[path = "build/fingerprint.rs"]
mod fingerprint;

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=GATEWAY_SDK_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-env-changed=RUSTC");

    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let src = std::path::Path::new(&manifest).join("src");
    let surface = fingerprint::surface(&src).expect("the SDK's sources are readable");
    println!("cargo:rustc-env=GATEWAY_SDK_FINGERPRINT={}", surface.hex());
    // A directory: cargo rescans every file under it.
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build");
    println!("cargo:rerun-if-changed=build.rs");
}
