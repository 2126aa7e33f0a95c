//! The plugin host: loads span plugins and runs their hooks.
//!
//! [`loader`] opens shared libraries and checks the ABI version and the compatibility record
//! before calling anything else. [`PluginHost`] holds built-in and loaded plugins alike, runs
//! each hook inside `catch_unwind`, and keeps per-plugin, per-hook call counts, errors and time.

pub mod loader;
mod registry;

pub use loader::{LoadError, LoadedPlugin, load};
pub use registry::{HookStats, PluginError, PluginHost, PluginReport};
