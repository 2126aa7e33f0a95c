//! The ordered set of plugins, hook dispatch with panic isolation, and per-hook measurements.

use gateway_plugin_sdk::{CompletedCall, PluginOutput, RequestView, SpanPlugin, panic_message};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Calls, failures and time of one hook of one plugin.
#[derive(Debug, Default)]
pub struct HookStats {
    /// Times the hook ran.
    pub calls: AtomicU64,
    /// Times it panicked.
    pub errors: AtomicU64,
    /// Total nanoseconds spent in it.
    pub nanos: AtomicU64,
}

impl HookStats {
    fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.calls.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            self.nanos.load(Ordering::Relaxed),
        )
    }
}

/// A hook that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// Plugin name.
    pub plugin: String,
    /// `on_request` or `on_complete`.
    pub hook: &'static str,
    /// The panic message.
    pub message: String,
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}: {}", self.plugin, self.hook, self.message)
    }
}

/// One plugin's entry in [`PluginHost::report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginReport {
    /// Plugin name.
    pub name: String,
    /// `builtin` or `library`.
    pub kind: &'static str,
    /// Where it came from (a file for libraries).
    pub origin: String,
    /// `(calls, errors, nanoseconds)` of `on_request`.
    pub on_request: (u64, u64, u64),
    /// `(calls, errors, nanoseconds)` of `on_complete`.
    pub on_complete: (u64, u64, u64),
}

struct Slot {
    plugin: Box<dyn SpanPlugin>,
    name: String,
    kind: &'static str,
    origin: String,
    request: HookStats,
    complete: HookStats,
}

/// Plugins in registration order.
#[derive(Default)]
pub struct PluginHost {
    slots: Vec<Slot>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.slots.iter().map(|s| &s.name))
            .finish()
    }
}

impl PluginHost {
    /// An empty host.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a plugin; hooks run in the order plugins were added.
    pub fn add(
        &mut self,
        plugin: Box<dyn SpanPlugin>,
        kind: &'static str,
        origin: impl Into<String>,
    ) {
        let name = plugin.name().to_owned();
        self.slots.push(Slot {
            plugin,
            name,
            kind,
            origin: origin.into(),
            request: HookStats::default(),
            complete: HookStats::default(),
        });
    }

    /// Number of plugins.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when a plugin was added with this `kind` (as given to [`PluginHost::add`]).
    pub fn has_kind(&self, kind: &str) -> bool {
        self.slots.iter().any(|s| s.kind == kind)
    }

    /// True when no plugin is registered.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Runs every `on_request` hook; returns the hooks that panicked.
    pub fn run_request(
        &self,
        request: &RequestView<'_>,
        out: &mut PluginOutput,
    ) -> Vec<PluginError> {
        self.run(
            "on_request",
            out,
            |slot| &slot.request,
            |slot, out| slot.plugin.on_request(request, out),
        )
    }

    /// Runs every `on_complete` hook; returns the hooks that panicked.
    pub fn run_complete(
        &self,
        call: &CompletedCall<'_>,
        out: &mut PluginOutput,
    ) -> Vec<PluginError> {
        self.run(
            "on_complete",
            out,
            |slot| &slot.complete,
            |slot, out| slot.plugin.on_complete(call, out),
        )
    }

    /// Runs the `on_complete` hooks of every plugin not of `kind` (e.g. skipping loaded
    /// libraries when their queue is full); returns the hooks that panicked and how many
    /// plugins were skipped.
    pub fn run_complete_except(
        &self,
        kind: &str,
        call: &CompletedCall<'_>,
        out: &mut PluginOutput,
    ) -> (Vec<PluginError>, usize) {
        let skipped = self.slots.iter().filter(|s| s.kind == kind).count();
        let errors = self.run_filtered(
            "on_complete",
            out,
            |slot| &slot.complete,
            |slot, out| slot.plugin.on_complete(call, out),
            |slot| slot.kind != kind,
        );
        (errors, skipped)
    }

    fn run(
        &self,
        hook: &'static str,
        out: &mut PluginOutput,
        stats_of: fn(&Slot) -> &HookStats,
        call: impl Fn(&Slot, &mut PluginOutput),
    ) -> Vec<PluginError> {
        self.run_filtered(hook, out, stats_of, call, |_| true)
    }

    fn run_filtered(
        &self,
        hook: &'static str,
        out: &mut PluginOutput,
        stats_of: fn(&Slot) -> &HookStats,
        call: impl Fn(&Slot, &mut PluginOutput),
        keep: impl Fn(&Slot) -> bool,
    ) -> Vec<PluginError> {
        let mut errors = Vec::new();
        for slot in self.slots.iter().filter(|s| keep(s)) {
            let started = Instant::now();
            let stats = stats_of(slot);
            let reported = out.errors.len();
            // Built-in plugins share our runtime, so their panics are caught here; loaded
            // libraries catch their own (see `Guarded`) and report through `out.errors`.
            let result = catch_unwind(AssertUnwindSafe(|| call(slot, out)));
            stats.calls.fetch_add(1, Ordering::Relaxed);
            stats
                .nanos
                .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
            let mut messages: Vec<String> = out.errors.drain(reported..).collect();
            if let Err(payload) = result {
                messages.push(format!("panicked: {}", panic_message(payload.as_ref())));
            }
            if !messages.is_empty() {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                errors.push(PluginError {
                    plugin: slot.name.clone(),
                    hook,
                    message: messages.join("; "),
                });
            }
        }
        errors
    }

    /// Calls, errors and time per plugin and hook.
    pub fn report(&self) -> Vec<PluginReport> {
        self.slots
            .iter()
            .map(|s| PluginReport {
                name: s.name.clone(),
                kind: s.kind,
                origin: s.origin.clone(),
                on_request: s.request.snapshot(),
                on_complete: s.complete.snapshot(),
            })
            .collect()
    }
}
