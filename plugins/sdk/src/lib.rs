//! SDK for span plugins of the Gemini observability gateway.
//!
//! A plugin sees each request twice: [`SpanPlugin::on_request`] once the body is parsed (before
//! the upstream answers; keep it cheap) and [`SpanPlugin::on_complete`] after the client has its
//! bytes. It can add attributes to the root and the three step spans, create child spans with
//! real times, and emit metrics with thresholds, which become `metric_snapshots` rows.
//!
//! This crate is a leaf: no pingora, tokio or SQLite in its API. Plugins compile fast and the
//! surface shared with the gateway stays small.
//!
//! # A complete plugin
//!
//! ```
//! use gateway_plugin_sdk::prelude::*;
//!
//! /// Flags requests whose prompt mentions a word from the config.
//! pub struct Keyword {
//!     word: String,
//! }
//!
//! impl Keyword {
//!     pub fn from_config(config_json: &str) -> Result<Self, String> {
//!         let v: serde_json::Value = serde_json::from_str(config_json).map_err(|e| e.to_string())?;
//!         let word = v["word"].as_str().unwrap_or("secret").to_owned();
//!         Ok(Self { word })
//!     }
//! }
//!
//! impl SpanPlugin for Keyword {
//!     fn name(&self) -> &str {
//!         "keyword"
//!     }
//!
//!     fn on_request(&self, req: &RequestView<'_>, out: &mut PluginOutput) {
//!         let hits = req.prompt_texts().iter().filter(|t| t.contains(&self.word)).count();
//!         out.attr(Step::PromptConstruction, "keyword.hits", hits as i64);
//!         out.metric("keyword_hits", hits as f64, Some(0.0));
//!     }
//! }
//!
//! // In a `cdylib` crate, export it for the gateway to load:
//! // gateway_plugin_sdk::export_plugin!(Keyword::from_config);
//! # let p = Keyword::from_config(r#"{"word":"x"}"#).unwrap();
//! # assert_eq!(p.name(), "keyword");
//! ```
//!
//! Build it with `crate-type = ["cdylib"]` and load it from `gateway.toml`:
//!
//! ```toml
//! [[plugins]]
//! path = "target/release/libkeyword.so"
//! [plugins.config]
//! word = "password"
//! ```
//!
//! Unit-test it with [`testing`]: `testing::request(body)` and `testing::completed(view)` build
//! what the gateway would pass, with every field set.
//!
//! Re-exports: `serde_json` is re-exported because configs arrive as JSON; a major bump of it
//! is a breaking change of this SDK.

pub mod abi;
mod plugin;
mod request;
pub mod semconv;
pub mod testing;
mod usage;

pub use plugin::{
    AttrValue, Attribution, CompletedCall, Metering, Metric, PluginOutput, PluginSpan, RequestView,
    SpanPlugin, Step, Timings,
};
#[doc(hidden)]
pub use plugin::{Guarded, panic_message};
pub use request::{GenerationParams, RequestInfo};
pub use serde_json;
pub use usage::Usage;

/// Everything a plugin usually needs, `serde_json` included (configs arrive as JSON).
pub mod prelude {
    pub use crate::{
        AttrValue, Attribution, CompletedCall, Metering, Metric, PluginOutput, PluginSpan,
        RequestInfo, RequestView, SpanPlugin, Step, Timings, Usage, semconv, serde_json,
    };
}
