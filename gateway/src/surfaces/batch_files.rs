//! Batch results delivered as a file: `GET /download/{v}/files/{id}:download?alt=media` and
//! `GET /{v}/files/{id}:download` (the path the google-genai SDK's `files.download` uses).
//!
//! The body passes through untouched and unbuffered; the observer keeps a copy of at most
//! `max_parse_bytes` (JSON framing). A results file is JSONL, one `{key?, response | error}`
//! per line: every line's `response.usageMetadata` is summed (read as a generateContent answer,
//! served model from `modelVersion`) at tier `batch`, **once per file** however often it is
//! downloaded (later downloads are free, `already_metered`). A line that is not JSON is counted
//! (`gateway.batch.file_bad_lines`) and its usage is not; the rest is metered. A file larger
//! than `max_parse_bytes` is not metered: the span says so and the call is flagged unpriced. Any
//! other download (a file without such lines) is free.

use super::batches_wire::{first_file_metering, sum_lines};
use super::{AnswerCtx, PathParts, route};
use crate::observe::Observed;
use crate::payload::ResponseSummary;
use crate::route::Route;
use gateway_plugin_sdk::Metering;
use gateway_plugin_sdk::semconv as sc;
use opentelemetry::KeyValue;

const SUFFIX: &str = ":download";

/// Records `name` as a job's results file (see `once::ANNOUNCED_FILES`).
pub(super) fn announce(name: &str) {
    super::once::ANNOUNCED_FILES.first(name);
}

/// The download route, for `GET …/files/{id}:download`.
pub(super) fn classify(p: &PathParts<'_>) -> Option<Route> {
    if p.method != "GET" {
        return None;
    }
    let (prefix, rest) = match p.version {
        "download" => {
            let (v, rest) = p.rest.split_once('/')?;
            (format!("/download/{v}"), rest)
        }
        v => (format!("/{v}"), p.rest),
    };
    let id = rest.strip_prefix("files/")?.strip_suffix(SUFFIX)?;
    if id.is_empty() || id.contains('/') {
        return None;
    }
    let mut r = route(
        &super::batches::Batches,
        Metering::Free,
        format!("{prefix}/files/{{id}}{SUFFIX}"),
    );
    r.operation = Some(sc::OP_FETCH_RESPONSE);
    Some(r)
}

/// Whether `route` is a file download.
pub(super) fn is_download(route: &Route) -> bool {
    route.template.ends_with(SUFFIX)
}

/// `files/{id}` of a download path.
fn file_name(path: &str) -> Option<String> {
    let id = path.rsplit('/').next()?.strip_suffix(SUFFIX)?;
    Some(format!("files/{}", crate::route::percent_decode(id)))
}

/// Meters a downloaded results file once (see the module docs).
pub(super) fn summarize(
    observed: &Observed,
    answer: &AnswerCtx<'_>,
    mut s: ResponseSummary,
) -> ResponseSummary {
    let ok = answer
        .upstream_status
        .is_some_and(|c| (200..300).contains(&c));
    s.metering = Some(Metering::Free);
    let Some(name) = file_name(answer.path).filter(|_| ok && s.error_status.is_none()) else {
        return s;
    };
    let announced = super::once::ANNOUNCED_FILES.contains(&name);
    let doc = observed
        .usage_event
        .as_ref()
        .or(observed.last_event.as_ref());
    if observed.truncated || (announced && doc.is_none() && observed.bytes > 0) {
        // Past the parse cap (or not inspected at all): the lines cannot all be read, so
        // nothing is metered and the call is flagged unpriced, never $0.
        s.parse_error = Some(if observed.truncated {
            "results file larger than max_parse_bytes: its lines are not metered".to_owned()
        } else {
            "results file not inspected (content type): its lines are not metered".to_owned()
        });
        s.llm_attrs
            .push(KeyValue::new(sc::GATEWAY_BATCH_RESPONSES_FILE, name));
        s.llm_attrs
            .push(KeyValue::new(sc::GATEWAY_BATCH_RESULTS, "not_seen"));
        s.service_tier = Some("batch".to_owned());
        s.metering = Some(Metering::Metered);
        return s;
    }
    let Some(doc) = doc else { return s };
    let (totals, bad) = sum_lines(doc);
    if totals.responses == 0 && !announced {
        return s; // Not a results file.
    }
    s.service_tier = Some("batch".to_owned());
    s.response_model = totals.model;
    let attrs = &mut s.llm_attrs;
    attrs.push(KeyValue::new(
        sc::GATEWAY_BATCH_RESPONSES_FILE,
        name.clone(),
    ));
    attrs.push(KeyValue::new(
        sc::GATEWAY_BATCH_RESPONSES,
        totals.responses as i64,
    ));
    if totals.failed > 0 {
        attrs.push(KeyValue::new(
            sc::GATEWAY_BATCH_FAILED,
            totals.failed as i64,
        ));
    }
    if bad > 0 {
        attrs.push(KeyValue::new(sc::GATEWAY_BATCH_FILE_BAD_LINES, bad as i64));
        s.parse_error = Some(format!(
            "{bad} line(s) of the results file are not JSON: their usage is not counted"
        ));
    }
    if !first_file_metering(&name) {
        attrs.push(KeyValue::new(sc::GATEWAY_BATCH_ALREADY_METERED, true));
        attrs.push(KeyValue::new(sc::GATEWAY_BATCH_RESULTS, "already_metered"));
        return s;
    }
    attrs.push(KeyValue::new(sc::GATEWAY_BATCH_RESULTS, "metered"));
    if totals.usage.is_some() || bad > 0 {
        s.usage = totals.usage;
        s.usage_parts = totals.parts;
        s.metering = Some(Metering::Metered);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surfaces::classify;

    #[test]
    fn downloads_are_classified() {
        for path in [
            "/download/v1beta/files/abc:download",
            "/v1beta/files/abc:download",
        ] {
            let r = classify("GET", path, Some("alt=media"));
            assert_eq!(r.surface().name(), "batches", "{path}");
            assert!(is_download(&r));
            assert_eq!(r.operation, Some(sc::OP_FETCH_RESPONSE));
            assert_eq!(file_name(path).as_deref(), Some("files/abc"));
        }
        assert_ne!(
            classify("GET", "/v1beta/files/abc", None).surface().name(),
            "batches"
        );
    }
}
