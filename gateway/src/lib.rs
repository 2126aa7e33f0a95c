//! The Gemini observability gateway: a transparent pingora proxy that turns every call into a
//! trace of OpenTelemetry spans stored in SQLite.
//!
//! Modules, in the order a request meets them: [`route`] classifies the path, [`proxy`] forwards
//! bytes and records instants in a [`ctx::RequestCtx`], [`observe`] tees the response body into a
//! bounded observer, [`payload`] and [`request`] parse what was kept, and `finish` builds the
//! spans once the client has its bytes. [`server`] wires pingora, and [`demo`] runs the
//! built-in simulation.

pub mod body_budget;
pub mod completion;
pub mod connections;
pub use gateway_config as config;
pub mod ctx;
pub mod demo;
pub mod demo_tls;
pub mod errors;
pub(crate) mod finish;
pub mod genai_metrics;
pub mod header_deadline;
mod headers;
pub mod listener;
pub mod metrics;
pub mod observe;
pub mod payload;
mod phases;
pub mod plugins;
pub mod pricing_report;
pub mod proxy;
pub mod reload;
pub mod request;
pub mod retention;
pub mod route;
pub mod server;
mod span_attrs;
pub mod surfaces;
pub mod telemetry;
pub mod upstream;
