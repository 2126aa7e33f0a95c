//! Opening a plugin library, checked.
//!
//! Order (nothing of the library runs before its check passes):
//! 1. `dlopen` the file;
//! 2. call `gateway_plugin_abi_version` (C ABI, always safe) and compare with ours;
//! 3. call `gateway_plugin_compatibility` (C ABI) and compare SDK and rustc versions with ours;
//! 4. only then call the Rust-ABI constructor.
//!
//! The `Library` is kept in an `Arc` inside [`LoadedPlugin`], declared after the plugin so that
//! the plugin is dropped first: the library outlives every object it made.

#![allow(unsafe_code)]

use gateway_plugin_sdk::SpanPlugin;
use gateway_plugin_sdk::abi::{
    ABI_VERSION, AbiVersionFn, CompatibilityFn, CreateFn, RUSTC_VERSION, SDK_VERSION,
    SYMBOL_ABI_VERSION, SYMBOL_COMPATIBILITY, SYMBOL_CREATE,
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
        "plugin {path}: ABI version {plugin} is not supported by this gateway (ABI version {host})"
    )]
    Abi {
        /// The library path.
        path: PathBuf,
        /// The gateway's ABI version.
        host: u32,
        /// The library's ABI version.
        plugin: u32,
    },
    /// SDK or compiler versions differ.
    #[error(
        "plugin {path}: built with SDK {plugin_sdk} and {plugin_rustc}, but this gateway has SDK {host_sdk} and {host_rustc}; rebuild the plugin against the gateway's SDK with the same compiler"
    )]
    Incompatible {
        /// The library path.
        path: PathBuf,
        /// The gateway's SDK version.
        host_sdk: String,
        /// The library's SDK version.
        plugin_sdk: String,
        /// The gateway's compiler.
        host_rustc: String,
        /// The library's compiler.
        plugin_rustc: String,
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

/// Loads the plugin at `path`, checks it, and builds it with `config_json`.
pub fn load(path: &Path, config_json: &str) -> Result<LoadedPlugin, LoadError> {
    let path_buf = path.to_path_buf();
    if !path.exists() {
        return Err(LoadError::NotFound { path: path_buf });
    }
    // SAFETY: loading a library runs its initialisers. The operator named this file in the
    // configuration as a gateway plugin; that is the trust boundary, as for any native plugin.
    let library = unsafe { Library::new(path) }.map_err(|e| LoadError::Open {
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
    let (plugin_sdk, plugin_rustc) = (read(compat.sdk_version), read(compat.rustc_version));
    if plugin_sdk != SDK_VERSION || plugin_rustc != RUSTC_VERSION {
        return Err(LoadError::Incompatible {
            path: path_buf,
            host_sdk: SDK_VERSION.into(),
            plugin_sdk,
            host_rustc: RUSTC_VERSION.into(),
            plugin_rustc,
        });
    }
    // SAFETY: ABI, SDK and compiler versions match, so the Rust-ABI constructor and the trait
    // object layout agree on both sides.
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
