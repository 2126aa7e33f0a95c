//! The plugin host: loads span plugins and runs their hooks.
//!
//! [`loader`] opens shared libraries and checks the ABI version and the compatibility record
//! before calling anything else. [`PluginHost`] holds built-in and loaded plugins alike, runs
//! each hook inside `catch_unwind`, and keeps per-plugin, per-hook call counts, errors and time.
//!
//! **Allocator.** A loaded plugin allocates values (its own `Box`, strings in `PluginOutput`,
//! error messages) that the gateway frees, and grows vectors the gateway allocated. Both sides
//! must therefore use one heap: this crate makes every binary that links it use
//! [`std::alloc::System`], as `export_plugin!` does for every plugin. A binary that declares
//! another `#[global_allocator]` (jemalloc, mimalloc) fails to link with "cannot define
//! multiple global allocators": that is deliberate, since loading plugins into it would be
//! undefined behaviour. (The gateway binary still uses mimalloc: it replaces the C `malloc`
//! that `System` calls, for plugins too, see `gateway/src/allocator.rs`.)

pub mod loader;
mod registry;

pub use loader::{Build, LoadError, LoadedPlugin, load};
pub use registry::{HookStats, PluginError, PluginHost, PluginReport};

/// The gateway's allocator, shared with every plugin (see the crate docs).
#[global_allocator]
static SYSTEM_ALLOCATOR: std::alloc::System = std::alloc::System;
