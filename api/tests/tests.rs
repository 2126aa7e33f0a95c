//! Integration tests of the API over real SQLite files written by the store's own writer.

// Shared fixtures: databases, traces, requests.
mod util;

// Trace list filters, keyset pagination, waterfall detail.
mod traces;
// Latency percentiles, cost, metric snapshots.
mod metrics;
// Bad input, auth, unknown routes, missing or locked database, OpenAPI, /metrics.
mod errors;
// Drift correlation with and without a drift_snapshots table.
mod drift;
// A detector's own table: ms, generated columns, a view, wrong units, a missing column.
mod drift_contract;
// The WebSocket feed over a real socket, and the client loop with a slow client.
mod live;
// ui/openapi.json (the dashboard types' source) is the document the API serves.
mod openapi_file;
// Host (DNS rebinding) and Origin checks over real HTTP and WebSocket clients.
mod security;
// The `api` binary refuses a non-loopback listen address without a token.
mod exposure;
// Sessions: by header, conversation and Interactions chain, with running totals.
mod sessions;
