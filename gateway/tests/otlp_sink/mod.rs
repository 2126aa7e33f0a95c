//! A real OTLP/HTTP receiver for tests: an axum server on a port it holds for the whole test,
//! decoding `/v1/traces` and `/v1/metrics` (protobuf, gzip or not) with `opentelemetry-proto`,
//! and keeping the raw bodies too (for byte sweeps).

#![allow(dead_code, clippy::unwrap_used)]

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::io::Read;
use std::sync::{Arc, Mutex};

/// Everything the receiver got.
#[derive(Default)]
pub struct Received {
    /// Decoded trace exports.
    pub traces: Vec<ExportTraceServiceRequest>,
    /// Decoded metric exports.
    pub metrics: Vec<ExportMetricsServiceRequest>,
    /// Every body, decompressed, as received.
    pub raw: Vec<Vec<u8>>,
    /// Whether any body came gzip-compressed.
    pub gzip: bool,
    /// The `x-tenant` header of every request that had one.
    pub tenant: Vec<String>,
}

fn body(headers: &HeaderMap, bytes: &[u8], rec: &Mutex<Received>) -> Vec<u8> {
    let mut r = rec.lock().unwrap();
    if let Some(t) = headers.get("x-tenant") {
        r.tenant.push(t.to_str().unwrap().to_owned());
    }
    let out = if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
        r.gzip = true;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        bytes.to_vec()
    };
    r.raw.push(out.clone());
    out
}

/// Starts a receiver on its own thread; returns its base URL and what it receives.
pub fn receiver() -> (String, Arc<Mutex<Received>>) {
    let rec = Arc::new(Mutex::new(Received::default()));
    let (tx, rx) = std::sync::mpsc::channel();
    let state = rec.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (t, m) = (state.clone(), state.clone());
            let app = axum::Router::new()
                .route(
                    "/v1/traces",
                    post(move |h: HeaderMap, b: Bytes| async move {
                        let raw = body(&h, &b, &t);
                        t.lock()
                            .unwrap()
                            .traces
                            .push(ExportTraceServiceRequest::decode(raw.as_slice()).unwrap());
                        ""
                    }),
                )
                .route(
                    "/v1/metrics",
                    post(move |h: HeaderMap, b: Bytes| async move {
                        let raw = body(&h, &b, &m);
                        m.lock()
                            .unwrap()
                            .metrics
                            .push(ExportMetricsServiceRequest::decode(raw.as_slice()).unwrap());
                        ""
                    }),
                );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    (format!("http://{addr}"), rec)
}
