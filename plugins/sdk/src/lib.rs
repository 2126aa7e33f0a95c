//! SDK for span plugins of the Gemini observability gateway.
//!
//! This crate is a leaf: it depends on nothing from the gateway's runtime (no pingora, tokio or
//! SQLite). It holds the attribute names every part of the gateway emits ([`semconv`]) and the
//! data a plugin sees ([`Usage`]).

mod request;
pub mod semconv;
mod usage;

pub use request::{GenerationParams, RequestInfo};
pub use usage::Usage;
