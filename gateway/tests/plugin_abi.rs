//! The plugin ABI end to end: the example of `docs/plugins.md` built as an out-of-tree crate and
//! loaded into the real gateway; libraries built against a changed SDK, with `panic = "abort"`,
//! or reporting another record are refused, naming both sides, before their constructor runs.
//!
//! The builds use the workspace's target directory and `--offline` (every dependency is in the
//! lock files and the registry cache once the workspace is built).

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use gateway_plugin_sdk::abi::{ABI_VERSION, RUSTC_VERSION, SDK_FINGERPRINT, SDK_VERSION};
use std::path::{Path, PathBuf};
use std::process::Command;
use util::{Gateway, client, spans_of, step};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/plugin-out-of-tree"
);

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(ROOT).join("target"))
}

/// Runs `cargo <args> --manifest-path <manifest> --target-dir <workspace target> --offline`.
fn cargo(args: &[&str], manifest: &Path) {
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(args)
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir())
        .arg("--offline")
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?} --manifest-path {} failed:\n{}",
        manifest.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds a throwaway crate around the example's `src/lib.rs` (library `lib<name>.so`), with
/// `extra` appended to its manifest; `sdk` is the SDK directory it depends on.
fn scratch_plugin(dir: &Path, name: &str, sdk: &Path, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let manifest = dir.join("Cargo.toml");
    std::fs::write(
        &manifest,
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\
             [lib]\ncrate-type = [\"cdylib\"]\npath = \"{EXAMPLE}/src/lib.rs\"\n\
             [dependencies]\ngateway-plugin-sdk = {{ path = \"{}\" }}\n{extra}",
            sdk.display()
        ),
    )
    .unwrap();
    manifest
}

/// `target/debug/lib<name>.so`, where the builds above put it.
fn library(name: &str) -> PathBuf {
    target_dir()
        .join("debug")
        .join(format!("lib{}.so", name.replace('-', "_")))
}

/// The gateway's stderr when it refuses to start with `[[plugins]] path = lib`.
fn startup_error(lib: &Path, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.toml");
    std::fs::write(
        &config,
        format!(
            "[proxy]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"{}\"\n[[plugins]]\npath = \"{}\"\n",
            dir.path().join("g.db").display(),
            lib.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("--config")
        .arg(&config)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the gateway must refuse to start");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `rust` blocks of the sections "Write one" and "Test one" of `docs/plugins.md`.
fn docs_example() -> Vec<String> {
    let docs = std::fs::read_to_string(Path::new(ROOT).join("docs/plugins.md")).unwrap();
    let section = |title: &str| {
        let start = docs
            .find(title)
            .unwrap_or_else(|| panic!("no {title} section"));
        let len = docs[start + 3..]
            .find("\n## ")
            .map_or(docs.len() - start, |e| e + 3);
        &docs[start..start + len]
    };
    [section("## Write one"), section("## Test one")]
        .iter()
        .flat_map(|s| s.split("```rust\n").skip(1))
        .map(|b| b.split("```").next().unwrap().to_owned())
        .collect()
}

/// `(name, version)` of every package in a lock file.
fn locked(path: &Path) -> Vec<(String, String)> {
    let lock: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["version"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// The example's own lock pins what the workspace's pins, so `--offline` finds every crate
/// wherever the workspace was built.
fn assert_same_versions_as_the_workspace() {
    let workspace = locked(&Path::new(ROOT).join("Cargo.lock"));
    let stale: Vec<_> = locked(&Path::new(EXAMPLE).join("Cargo.lock"))
        .into_iter()
        .filter(|(name, _)| workspace.iter().any(|(n, _)| n == name))
        .filter(|p| !workspace.contains(p))
        .collect();
    assert!(
        stale.is_empty(),
        "examples/plugin-out-of-tree/Cargo.lock pins {stale:?}, unlike Cargo.lock; refresh it:\n  \
         cp Cargo.lock examples/plugin-out-of-tree/ && cargo build --offline \
         --manifest-path examples/plugin-out-of-tree/Cargo.toml --target-dir target"
    );
}

#[test]
fn the_docs_example_builds_out_of_tree_and_tags_spans() {
    let source = std::fs::read_to_string(Path::new(EXAMPLE).join("src/lib.rs")).unwrap();
    let blocks = docs_example();
    assert!(
        blocks.len() >= 2,
        "docs/plugins.md shows the plugin and its test"
    );
    for block in blocks {
        assert!(
            source.contains(&block),
            "docs/plugins.md and examples/plugin-out-of-tree/src/lib.rs differ; this block is not in the crate:\n{block}"
        );
    }
    assert_same_versions_as_the_workspace();
    let manifest = Path::new(EXAMPLE).join("Cargo.toml");
    cargo(&["test", "--locked", "--quiet"], &manifest);
    cargo(&["build", "--locked"], &manifest);

    let fake = spawn_in_thread(FakeConfig::default());
    let so = library("keyword");
    let mut gw = Gateway::start(
        &fake.base_url(),
        "",
        &format!(
            "[[plugins]]\npath = \"{}\"\n[plugins.config]\nword = \"password\"\n",
            so.display()
        ),
    );
    let body = serde_json::json!({"contents": [
        {"parts": [{"text": "my password is hunter2"}]},
        {"role": "model", "parts": [{"text": "noted"}]},
        {"parts": [{"text": "the password again?"}]},
    ]});
    let resp = client()
        .post(gw.url("/v1beta/models/gemini-2.5-flash-lite:generateContent"))
        .header("x-goog-api-key", "k")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let trace = resp.headers()["x-gateway-trace-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let conn = gw.wait_traces(1);
    gw.stop();
    let spans = spans_of(&conn, &trace);
    assert_eq!(
        step(&spans, "prompt_construction")["keyword.hits"].as_i64(),
        Some(2),
        "{}",
        gw.log_text()
    );
}

#[test]
fn a_plugin_built_against_a_changed_sdk_is_refused() {
    // A copy of the SDK with one more enum variant, same crate version, same compiler: what an
    // older or newer checkout looks like. It gets a workspace of its own, as the real SDK
    // inherits its package fields and dependencies from the gateway's.
    let dir = tempfile::tempdir().unwrap();
    let sdk = dir.path().join("sdk");
    copy_sdk(&Path::new(ROOT).join("plugins/sdk"), &sdk);
    let plugin_rs = sdk.join("src/plugin.rs");
    let original = std::fs::read_to_string(&plugin_rs).unwrap();
    let changed = original.replacen(
        "pub enum AttrValue {",
        "pub enum AttrValue {\n    /// Added by a newer SDK.\n    Null,",
        1,
    );
    assert_ne!(
        original, changed,
        "plugins/sdk/src/plugin.rs has no AttrValue"
    );
    std::fs::write(&plugin_rs, changed).unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), scratch_workspace()).unwrap();
    std::fs::copy(
        Path::new(ROOT).join("Cargo.lock"),
        dir.path().join("Cargo.lock"),
    )
    .unwrap();
    let manifest = scratch_plugin(&dir.path().join("plugin"), "keyword-changed-sdk", &sdk, "");
    cargo(&["build"], &manifest);

    let lib = library("keyword-changed-sdk");
    let err = startup_error(&lib, &[]);
    assert!(err.contains(&lib.display().to_string()), "{err}");
    assert!(err.contains("mismatch: SDK fingerprint)"), "{err}");
    let host = format!("this gateway has SDK {SDK_VERSION} (fingerprint {SDK_FINGERPRINT})");
    assert!(err.contains(&host), "{err}");
    let plugin_side = err
        .split("the plugin has SDK ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        plugin_side.starts_with(&format!("{SDK_VERSION} (fingerprint "))
            && !plugin_side.contains(SDK_FINGERPRINT),
        "{err}"
    );
}

/// Copies what the SDK's build needs: manifest, build script and sources.
fn copy_sdk(from: &Path, to: &Path) {
    for rel in ["Cargo.toml", "build.rs"] {
        std::fs::create_dir_all(to).unwrap();
        std::fs::copy(from.join(rel), to.join(rel)).unwrap();
    }
    copy_tree(&from.join("build"), &to.join("build"));
    copy_tree(&from.join("src"), &to.join("src"));
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).unwrap();
        }
    }
}

/// A workspace with the gateway's `[workspace.package]`, lints and registry dependencies, whose
/// members are the SDK copy and the plugin.
fn scratch_workspace() -> String {
    let root: toml::Table = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let mut workspace = root["workspace"].as_table().unwrap().clone();
    workspace.insert(
        "members".into(),
        toml::Value::Array(vec!["sdk".into(), "plugin".into()]),
    );
    if let Some(toml::Value::Table(deps)) = workspace.get_mut("dependencies") {
        deps.retain(|_, d| d.get("path").is_none());
    }
    let mut manifest = toml::Table::new();
    manifest.insert("workspace".into(), toml::Value::Table(workspace));
    toml::to_string(&manifest).unwrap()
}

#[test]
fn a_panic_abort_plugin_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sdk = Path::new(ROOT).join("plugins/sdk");
    std::fs::create_dir_all(dir.path()).unwrap();
    std::fs::copy(
        Path::new(ROOT).join("Cargo.lock"),
        dir.path().join("Cargo.lock"),
    )
    .unwrap();
    let manifest = scratch_plugin(
        dir.path(),
        "keyword-panic-abort",
        &sdk,
        "[workspace]\n[profile.dev]\npanic = \"abort\"\n",
    );
    cargo(&["build"], &manifest);
    let lib = library("keyword-panic-abort");
    let err = startup_error(&lib, &[]);
    assert!(
        err.contains("mismatch: panic strategy)")
            && err.contains("panic = \"abort\"; this gateway has")
            && err.contains("panic = \"unwind\". Rebuild the plugin against the gateway's SDK with the same compiler and panic strategy (`gateway --version` prints them)"),
        "{err}"
    );
}

fn mismatched() -> PathBuf {
    let lib = library("mismatched-plugin");
    assert!(
        lib.exists(),
        "build the workspace first (cargo build --workspace)"
    );
    lib
}

#[test]
fn each_field_of_the_record_is_checked_and_named() {
    let lib = mismatched();
    let same_sdk = ("GATEWAY_TEST_SDK", SDK_VERSION);
    let fingerprint = startup_error(
        &lib,
        &[same_sdk, ("GATEWAY_TEST_FINGERPRINT", "00000000feedf00d")],
    );
    assert!(
        fingerprint.contains(&format!(
            "(mismatch: SDK fingerprint): the plugin has SDK {SDK_VERSION} (fingerprint 00000000feedf00d), {RUSTC_VERSION}, panic = \"unwind\"; this gateway has SDK {SDK_VERSION} (fingerprint {SDK_FINGERPRINT}), {RUSTC_VERSION}, panic = \"unwind\"."
        )),
        "{fingerprint}"
    );
    let rustc = startup_error(&lib, &[same_sdk, ("GATEWAY_TEST_RUSTC", "rustc 1.0.0")]);
    assert!(
        rustc.contains("(mismatch: compiler)") && rustc.contains("rustc 1.0.0, panic"),
        "{rustc}"
    );
    let panic = startup_error(&lib, &[same_sdk, ("GATEWAY_TEST_PANIC", "abort")]);
    assert!(panic.contains("(mismatch: panic strategy)"), "{panic}");
    let all = startup_error(
        &lib,
        &[
            ("GATEWAY_TEST_FINGERPRINT", "x"),
            ("GATEWAY_TEST_PANIC", "abort"),
        ],
    );
    assert!(
        all.contains("(mismatch: SDK version, SDK fingerprint, panic strategy)")
            && all.contains("the plugin has SDK 0.0.0-mismatch (fingerprint x)"),
        "{all}"
    );
    let abi = startup_error(&lib, &[("GATEWAY_TEST_ABI", "2")]);
    assert!(
        abi.contains(&format!(
            "ABI version 2 is not supported by this gateway (ABI version {ABI_VERSION}); rebuild the plugin against the gateway's SDK (plugin ABI {ABI_VERSION}, SDK {SDK_VERSION} (fingerprint {SDK_FINGERPRINT})"
        )),
        "{abi}"
    );
}

#[test]
fn version_names_what_a_plugin_must_match() {
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        format!(
            "gateway {}\nplugin ABI {ABI_VERSION}, SDK {SDK_VERSION} (fingerprint {SDK_FINGERPRINT}), {RUSTC_VERSION}, panic = \"unwind\", system allocator\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}
