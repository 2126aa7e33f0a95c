//! Opening a plugin library, checked.
//!
//! Order (no Rust-ABI code of the library is called before its checks pass):
//! 1. `dlopen` the file;
//! 2. call `gateway_plugin_abi_version` (C ABI, always safe) and compare with ours;
//! 3. call `gateway_plugin_compatibility` (C ABI) and compare SDK version, SDK fingerprint,
//!    rustc and panic strategy with ours;
//! 4. only then look up and call the Rust-ABI constructor.
//!
//! What this can and cannot guarantee: the host calls nothing of the library but the two
//! C-ABI check functions before the checks pass, and those only return constants (they use no
//! allocator, thread-local or environment, so they work whatever built the library). `dlopen`
//! itself, however, runs the library's ELF initialisers (`.init_array`: C dependencies, the
//! `ctor` crate, `#[link_section]` statics) before step 2; nothing can prevent that short of
//! not loading the file. The SDK registers none (tested), and the host depends on none, so a
//! refused library has had no effect on the gateway except what its own initialisers did.
//! Naming a file in `[[plugins]]` is trusting it, as for any native plugin.
//!
//! The `Library` is kept in an `Arc` inside [`LoadedPlugin`], declared after the plugin so that
//! the plugin is dropped first: the library outlives every object it made.

#![allow(unsafe_code)]

use gateway_plugin_sdk::SpanPlugin;
use gateway_plugin_sdk::abi::{
    ABI_VERSION, AbiVersionFn, CompatibilityFn, CreateFn, RUSTC_VERSION, SDK_FINGERPRINT,
    SDK_VERSION, SYMBOL_ABI_VERSION, SYMBOL_COMPATIBILITY, SYMBOL_CREATE, panic_strategy,
};
use libloading::Library;
use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a plugin library could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file does not exist.
    #[error("plugin {path}: file not found")]
    NotFound {
        /// The library path.
        path: PathBuf,
    },
    /// `dlopen` failed.
    #[error("plugin {path}: cannot load library: {reason}")]
    Open {
        /// The library path.
        path: PathBuf,
        /// The loader's reason (including its source chain).
        reason: String,
    },
    /// A required symbol is missing: not a gateway plugin, or built without `export_plugin!`.
    #[error(
        "plugin {path}: missing symbol `{symbol}` (is it built with gateway_plugin_sdk::export_plugin!?)"
    )]
    MissingSymbol {
        /// The library path.
        path: PathBuf,
        /// The symbol.
        symbol: &'static str,
    },
    /// The loader ABI differs.
    #[error(
        "plugin {path}: ABI version {plugin} is not supported by this gateway (ABI version {host}); rebuild the plugin against the gateway's SDK ({})",
        gateway_plugin_sdk::abi::requirements()
    )]
    Abi {
        /// The library path.
        path: PathBuf,
        /// The gateway's ABI version.
        host: u32,
        /// The library's ABI version.
        plugin: u32,
    },
    /// SDK version, SDK fingerprint, compiler or panic strategy differ.
    #[error(
        "plugin {path}: incompatible build (mismatch: {differs}): the plugin has {plugin}; this gateway has {host}. Rebuild the plugin against the gateway's SDK with the same compiler and panic strategy (`gateway --version` prints them)"
    )]
    Incompatible {
        /// The library path.
        path: PathBuf,
        /// What differs, e.g. `SDK fingerprint, panic strategy`.
        differs: String,
        /// The gateway's record.
        host: Box<Build>,
        /// The library's record.
        plugin: Box<Build>,
    },
    /// The constructor refused its configuration.
    #[error("plugin {path}: initialisation failed: {message}")]
    Init {
        /// The library path.
        path: PathBuf,
        /// The plugin's message.
        message: String,
    },
}

/// One side's compatibility record, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// SDK crate version.
    pub sdk_version: String,
    /// SDK source fingerprint.
    pub sdk_fingerprint: String,
    /// `rustc --version` of the compiler.
    pub rustc: String,
    /// `unwind` or `abort`.
    pub panic: String,
}

impl Build {
    /// This gateway's record.
    pub fn host() -> Self {
        Self {
            sdk_version: SDK_VERSION.into(),
            sdk_fingerprint: SDK_FINGERPRINT.into(),
            rustc: RUSTC_VERSION.into(),
            panic: panic_strategy(cfg!(panic = "unwind"))
                .to_string_lossy()
                .into_owned(),
        }
    }

    /// The names of the fields that differ from `other`, comma-separated.
    fn differences(&self, other: &Build) -> String {
        [
            (self.sdk_version != other.sdk_version, "SDK version"),
            (
                self.sdk_fingerprint != other.sdk_fingerprint,
                "SDK fingerprint",
            ),
            (self.rustc != other.rustc, "compiler"),
            (self.panic != other.panic, "panic strategy"),
        ]
        .iter()
        .filter(|(differs, _)| *differs)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(", ")
    }
}

impl std::fmt::Display for Build {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SDK {} (fingerprint {}), {}, panic = \"{}\"",
            self.sdk_version, self.sdk_fingerprint, self.rustc, self.panic
        )
    }
}

/// A plugin created by a library, keeping that library loaded.
pub struct LoadedPlugin {
    plugin: Box<dyn SpanPlugin>,
    // Dropped after `plugin` (fields drop in declaration order).
    _library: Arc<Library>,
    path: PathBuf,
}

impl LoadedPlugin {
    /// The file it came from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl SpanPlugin for LoadedPlugin {
    fn name(&self) -> &str {
        self.plugin.name()
    }

    fn on_request(
        &self,
        request: &gateway_plugin_sdk::RequestView<'_>,
        out: &mut gateway_plugin_sdk::PluginOutput,
    ) {
        self.plugin.on_request(request, out)
    }

    fn on_complete(
        &self,
        call: &gateway_plugin_sdk::CompletedCall<'_>,
        out: &mut gateway_plugin_sdk::PluginOutput,
    ) {
        self.plugin.on_complete(call, out)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// A copy of `path` in the temporary directory, private to this process; `None` (and a
/// warning) when it cannot be made, in which case the file itself is loaded.
fn private_copy(path: &Path) -> Option<std::path::PathBuf> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name()?.to_string_lossy().into_owned();
    let copy =
        std::env::temp_dir().join(format!("gateway-plugin-{}-{n}-{name}", std::process::id()));
    match std::fs::copy(path, &copy) {
        Ok(_) => Some(copy),
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "Cannot copy the plugin; loading the file in place (overwriting it while loaded would crash the gateway).");
            None
        }
    }
}

/// Loads the plugin at `path`, checks it, and builds it with `config_json`.
pub fn load(path: &Path, config_json: &str) -> Result<LoadedPlugin, LoadError> {
    let path_buf = path.to_path_buf();
    if !path.exists() {
        return Err(LoadError::NotFound { path: path_buf });
    }
    // The library is mapped from a private copy, so overwriting the configured file while the
    // gateway runs (a rebuild, a deploy) cannot change the code under the running process
    // (SIGBUS). The copy is unlinked once loaded: the mapping keeps it alive, nothing is left.
    let private = private_copy(path);
    let open_path = private.as_deref().unwrap_or(path);
    // SAFETY: loading a library runs its initialisers. The operator named this file in the
    // configuration as a gateway plugin; that is the trust boundary, as for any native plugin.
    let opened = unsafe { Library::new(open_path) };
    if let Some(copy) = &private {
        let _ = std::fs::remove_file(copy);
    }
    let library = opened.map_err(|e| LoadError::Open {
        path: path_buf.clone(),
        reason: error_chain(&e),
    })?;
    let missing = |symbol| LoadError::MissingSymbol {
        path: path_buf.clone(),
        symbol,
    };
    // SAFETY: the symbol type matches what `export_plugin!` generates for this name; an
    // extern "C" fn() -> u32 is callable whatever compiler built the library.
    let abi: AbiVersionFn = unsafe { library.get::<AbiVersionFn>(SYMBOL_ABI_VERSION.as_bytes()) }
        .map(|s| *s)
        .map_err(|_| missing(SYMBOL_ABI_VERSION))?;
    let plugin_abi = abi();
    if plugin_abi != ABI_VERSION {
        return Err(LoadError::Abi {
            path: path_buf,
            host: ABI_VERSION,
            plugin: plugin_abi,
        });
    }
    // SAFETY: same ABI version, so this symbol has the C-layout signature of `CompatibilityFn`.
    let compat_fn: CompatibilityFn =
        unsafe { library.get::<CompatibilityFn>(SYMBOL_COMPATIBILITY.as_bytes()) }
            .map(|s| *s)
            .map_err(|_| missing(SYMBOL_COMPATIBILITY))?;
    let compat = compat_fn();
    let read = |p: *const std::ffi::c_char| {
        if p.is_null() {
            return String::from("unknown");
        }
        // SAFETY: the pointers are to NUL-terminated static strings in the library, which
        // stays loaded for the duration of this call.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    };
    let plugin = Build {
        sdk_version: read(compat.sdk_version),
        sdk_fingerprint: read(compat.sdk_fingerprint),
        rustc: read(compat.rustc_version),
        panic: read(compat.panic_strategy),
    };
    let host = Build::host();
    let differs = host.differences(&plugin);
    if !differs.is_empty() {
        return Err(LoadError::Incompatible {
            path: path_buf,
            differs,
            host: Box::new(host),
            plugin: Box::new(plugin),
        });
    }
    // SAFETY: ABI version, SDK code, compiler and panic strategy match, so the Rust-ABI
    // constructor and the layouts of the trait object and every SDK type agree on both sides;
    // `export_plugin!` and this crate both pin the system allocator, so either side may free
    // what the other allocated.
    let create: CreateFn = unsafe { library.get::<CreateFn>(SYMBOL_CREATE.as_bytes()) }
        .map(|s| *s)
        .map_err(|_| missing(SYMBOL_CREATE))?;
    let plugin = create(config_json).map_err(|message| LoadError::Init {
        path: path_buf.clone(),
        message,
    })?;
    Ok(LoadedPlugin {
        plugin,
        _library: Arc::new(library),
        path: path_buf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_every_field_and_display_names_both_sides() {
        let host = Build::host();
        assert_eq!(host.differences(&host.clone()), "");
        let plugin = Build {
            sdk_fingerprint: "0000000000000000".into(),
            panic: "abort".into(),
            ..host.clone()
        };
        assert_eq!(host.differences(&plugin), "SDK fingerprint, panic strategy");
        let err = LoadError::Incompatible {
            path: "/p.so".into(),
            differs: host.differences(&plugin),
            host: Box::new(host.clone()),
            plugin: Box::new(plugin),
        }
        .to_string();
        assert!(err.starts_with(&format!(
            "plugin /p.so: incompatible build (mismatch: SDK fingerprint, panic strategy): the plugin has SDK {SDK_VERSION} (fingerprint 0000000000000000), {RUSTC_VERSION}, panic = \"abort\"; this gateway has SDK {SDK_VERSION} (fingerprint {SDK_FINGERPRINT}), {RUSTC_VERSION}, panic = \"unwind\". "
        )), "{err}");
    }
}
