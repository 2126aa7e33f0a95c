//! Orders a trace's spans for a waterfall view: each parent before its children, siblings by
//! start time, with depth and offset from the trace's earliest span.
//!
//! A span whose parent is not in the trace (the root of a trace joined through `traceparent`)
//! is a root. Spans caught in a parent cycle are appended as roots, so none is ever lost.

use gateway_store::query::SpanRecord;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

/// One span placed on the waterfall.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WaterfallSpan {
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// Parent span id; null for a root.
    pub parent_span_id: Option<String>,
    /// Span name.
    pub name: String,
    /// `server`, `client`, `internal`, `producer` or `consumer`.
    pub kind: String,
    /// Start, unix nanos.
    pub start_time_unix_nano: i64,
    /// End, unix nanos.
    pub end_time_unix_nano: i64,
    /// End minus start, ms.
    pub duration_ms: f64,
    /// Start minus the trace's earliest span start, ms.
    pub offset_ms: f64,
    /// 0 for roots, parent's depth plus one otherwise.
    pub depth: u32,
    /// `unset`, `ok` or `error`.
    pub status_code: String,
    /// Error description.
    pub status_message: Option<String>,
    /// Span attributes (semantic-convention names as keys).
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    /// Span events: `{name, time_unix_nano, attributes}`.
    #[schema(value_type = Vec<Object>)]
    pub events: serde_json::Value,
}

/// Orders `spans` (any order) for display.
pub fn waterfall(mut spans: Vec<SpanRecord>) -> Vec<WaterfallSpan> {
    spans.sort_by(|a, b| {
        a.start_time_unix_nano
            .cmp(&b.start_time_unix_nano)
            .then_with(|| a.span_id.cmp(&b.span_id))
    });
    let t0 = spans.first().map_or(0, |s| s.start_time_unix_nano);
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, s) in spans.iter().enumerate() {
        index.entry(s.span_id.as_str()).or_insert(i);
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s.parent_span_id.as_deref().and_then(|p| index.get(p)) {
            Some(&p) if p != i => children[p].push(i),
            _ => roots.push(i),
        }
    }
    let mut order: Vec<(usize, u32)> = Vec::with_capacity(spans.len());
    let mut seen = vec![false; spans.len()];
    let mut visit = |start: usize, order: &mut Vec<(usize, u32)>| {
        let mut stack = vec![(start, 0u32)];
        while let Some((i, depth)) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            order.push((i, depth));
            stack.extend(children[i].iter().rev().map(|&c| (c, depth + 1)));
        }
    };
    for r in roots {
        visit(r, &mut order);
    }
    for i in 0..spans.len() {
        visit(i, &mut order);
    }
    let mut slots: Vec<Option<SpanRecord>> = spans.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|(i, depth)| {
            let s = slots[i].take()?;
            Some(WaterfallSpan {
                duration_ms: (s.end_time_unix_nano - s.start_time_unix_nano) as f64 / 1e6,
                offset_ms: (s.start_time_unix_nano - t0) as f64 / 1e6,
                depth,
                span_id: s.span_id,
                parent_span_id: s.parent_span_id,
                name: s.name,
                kind: s.kind,
                start_time_unix_nano: s.start_time_unix_nano,
                end_time_unix_nano: s.end_time_unix_nano,
                status_code: s.status_code,
                status_message: s.status_message,
                attributes: s.attributes,
                events: s.events,
            })
        })
        .collect()
}
