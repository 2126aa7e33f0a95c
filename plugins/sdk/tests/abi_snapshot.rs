//! The ABI snapshot: a change to the SDK's code cannot land without an `ABI_VERSION` bump.
//!
//! `abi-snapshot.txt` records `ABI_VERSION`, the source fingerprint and each file's hash (see
//! `build/fingerprint.rs` for what is hashed). When the code changes, this test fails and says
//! what to do: bump `ABI_VERSION`, then rewrite the snapshot with
//! `UPDATE_ABI_SNAPSHOT=1 cargo test -p gateway-plugin-sdk --test abi_snapshot`. The rewrite is
//! refused while the fingerprint changed and `ABI_VERSION` did not.

#[path = "../build/fingerprint.rs"]
mod fingerprint;

use gateway_plugin_sdk::abi::{ABI_VERSION, SDK_FINGERPRINT};
use std::path::Path;

const DIR: &str = env!("CARGO_MANIFEST_DIR");
const UPDATE: &str = "UPDATE_ABI_SNAPSHOT=1 cargo test -p gateway-plugin-sdk --test abi_snapshot";

fn render(abi: u32, surface: &fingerprint::Surface) -> String {
    let mut out = format!(
        "# The plugin ABI of gateway-plugin-sdk, checked by tests/abi_snapshot.rs; what is hashed\n\
         # and why: build/fingerprint.rs. Not edited by hand: bump ABI_VERSION in src/abi.rs, then\n\
         # {UPDATE}\n\
         abi_version {abi}\nfingerprint {}\n",
        surface.hex()
    );
    for f in &surface.files {
        if f.hashed {
            out.push_str(&format!("hashed {} {:016x}\n", f.path, f.hash));
        } else {
            out.push_str(&format!("names {}\n", f.path));
        }
    }
    out
}

fn field<'a>(snapshot: &'a str, key: &str) -> Option<&'a str> {
    snapshot
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
}

#[test]
fn the_abi_snapshot_is_current() {
    let surface = fingerprint::surface(&Path::new(DIR).join("src")).expect("readable sources");
    assert_eq!(
        surface.hex(),
        SDK_FINGERPRINT,
        "build.rs and this test disagree on the fingerprint"
    );
    let path = Path::new(DIR).join("abi-snapshot.txt");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let current = render(ABI_VERSION, &surface);
    if committed == current {
        return;
    }
    let old_abi: u32 = field(&committed, "abi_version")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let old_fingerprint = field(&committed, "fingerprint").unwrap_or("none");
    let mut changed: Vec<&str> = current
        .lines()
        .chain(committed.lines())
        .filter(|l| l.starts_with("hashed ") || l.starts_with("names "))
        .filter(|l| !committed.lines().any(|c| c == *l) || !current.lines().any(|c| c == *l))
        .filter_map(|l| l.split(' ').nth(1))
        .collect();
    changed.sort_unstable();
    changed.dedup();
    assert!(
        ABI_VERSION >= old_abi,
        "ABI_VERSION went down from {old_abi} to {ABI_VERSION}"
    );
    assert!(
        old_fingerprint == SDK_FINGERPRINT || ABI_VERSION != old_abi,
        "The SDK's code changed (files: {changed:?}; fingerprint {old_fingerprint} -> \
         {SDK_FINGERPRINT}) but ABI_VERSION is still {ABI_VERSION}. A plugin built against the \
         old code would share types and code with the gateway that no longer match. Bump \
         ABI_VERSION to {} in plugins/sdk/src/abi.rs (say why in its doc comment), then run\n  \
         {UPDATE}\nand commit plugins/sdk/abi-snapshot.txt.",
        ABI_VERSION + 1
    );
    if std::env::var_os("UPDATE_ABI_SNAPSHOT").is_some() {
        std::fs::write(&path, &current).expect("write abi-snapshot.txt");
        return;
    }
    panic!(
        "plugins/sdk/abi-snapshot.txt is out of date (ABI_VERSION {old_abi} -> {ABI_VERSION}, \
         fingerprint {old_fingerprint} -> {SDK_FINGERPRINT}, files: {changed:?}). Run\n  \
         {UPDATE}\nand commit the file."
    );
}

#[test]
fn normalization_drops_comments_and_keeps_literals() {
    let n = fingerprint::normalize;
    assert_eq!(
        n("/// doc\npub struct A<'a> { // note\n    x: &'a str, /* a /* nested */ c */ y: u8 }\n"),
        "pub struct A<'a> { x: &'a str, y: u8 }"
    );
    assert_eq!(
        n("let s = \"// not a comment\";"),
        "let s = \"// not a comment\";"
    );
    assert_eq!(
        n("r#\"a \" // b\"# '\"' '\\'' b'/'"),
        "r#\"a \" // b\"# '\"' '\\'' b'/'"
    );
    assert_eq!(n("c\"x\"  //! inner\n  ;"), "c\"x\" ;");
    assert_ne!(n("struct A { x: u8 }"), n("struct A { x: u16 }"));
}

#[test]
fn only_string_constant_files_are_left_out() {
    let names = fingerprint::normalize(
        "//! Names.\n/// a\npub const A_B: &str = \"a;\\\"b\";\npub const C: &str =\n    \"c\";\n",
    );
    assert!(fingerprint::names_only(&names));
    assert!(!fingerprint::names_only("pub const A: u32 = 1;"));
    assert!(!fingerprint::names_only(
        "pub const A: &str = \"a\"; pub fn f() {}"
    ));
    assert!(!fingerprint::names_only(""));
}

/// Nothing of the SDK runs when a plugin library is opened: no ELF initialisers, so the host's
/// checks run before any SDK code of the plugin (see docs/plugins.md).
#[test]
fn the_sdk_registers_no_load_time_code() {
    let surface = fingerprint::surface(&Path::new(DIR).join("src")).expect("readable sources");
    for f in &surface.files {
        let text = std::fs::read_to_string(Path::new(DIR).join("src").join(&f.path))
            .expect("readable source");
        let code = fingerprint::normalize(&text);
        for needle in ["link_section", "init_array", "#[ctor", "export_name"] {
            assert!(!code.contains(needle), "{}: `{needle}`", f.path);
        }
    }
}
