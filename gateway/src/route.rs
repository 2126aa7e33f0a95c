//! The classified form of a request: model, operation, framing and the Gemini surface that
//! owns it. Classification itself lives in [`crate::surfaces`], one module per surface.
//!
//! Only the path and query are used here (the body is parsed later, off the header path).
//! Unknown paths are fine: they are forwarded and traced with what is known.

use crate::surfaces::Surface;
use gateway_plugin_sdk::Metering;

/// How a response body is framed, which decides how usage is read from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One JSON document.
    Json,
    /// `text/event-stream`, one JSON document per `data:` event.
    Sse,
    /// A JSON array whose elements arrive over time (`streamGenerateContent` without `alt=sse`).
    JsonArray,
    /// Not inspected (uploads, downloads, unknown content types).
    Opaque,
}

/// The surface that recognised a request (compared by name).
#[derive(Clone, Copy)]
pub struct SurfaceRef(pub &'static dyn Surface);

impl std::fmt::Debug for SurfaceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name())
    }
}

impl PartialEq for SurfaceRef {
    fn eq(&self, other: &Self) -> bool {
        self.0.name() == other.0.name()
    }
}

impl Eq for SurfaceRef {}

/// What the path says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Model from the path (`gemini-3.8-flash`, `tunedModels/x`), or from the body later.
    pub model: Option<String>,
    /// `gen_ai.operation.name`, or `None` for non-model calls (files, uploads, listings).
    pub operation: Option<&'static str>,
    /// Whether the response streams (for OpenAI compat and Interactions the body decides).
    pub stream: bool,
    /// Expected framing of a 2xx response.
    pub framing: Framing,
    /// Low-cardinality route for span names, e.g. `/v1beta/models/{model}:generateContent`.
    pub template: String,
    /// The surface that owns this request.
    pub surface: SurfaceRef,
    /// How calls on this route are billed (an answer may still change it, e.g. a background
    /// interaction is deferred).
    pub metering: Metering,
    /// The resumable upload endpoint: the body is not kept.
    pub upload: bool,
}

impl Route {
    /// The owning surface.
    pub fn surface(&self) -> &'static dyn Surface {
        self.surface.0
    }

    /// The OpenAI-compatible endpoint: model and stream flag come from the body.
    pub fn is_openai(&self) -> bool {
        self.surface.0.name() == crate::surfaces::OPENAI_COMPAT
    }
}

/// Classifies a `POST` (for tests; the proxy calls [`crate::surfaces::classify`] with the
/// request's method).
#[cfg(test)]
pub(crate) fn classify(path: &str, query: Option<&str>) -> Route {
    crate::surfaces::classify("POST", path, query)
}

pub(crate) fn generic_template(version: &str, rest: &str) -> String {
    let collection = rest.split('/').next().unwrap_or("");
    if collection.is_empty() {
        format!("/{version}")
    } else if rest.contains('/') {
        format!("/{version}/{collection}/{{id}}")
    } else {
        format!("/{version}/{collection}")
    }
}

/// The value of `name` in a query string (not decoded).
pub fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Replaces the values of secret query parameters (`key`, `access_token`, `api_key`, `token`)
/// by `REDACTED`. Parameters are split on `&` and `;` and their names are percent-decoded and
/// compared without case, so `?%6Bey=`, `?k%65y=` and `?alt=sse;key=` are redacted too.
pub fn redact_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    loop {
        let end = rest.find(['&', ';']).unwrap_or(rest.len());
        let (param, tail) = rest.split_at(end);
        match param.split_once('=') {
            Some((k, _)) if is_secret_param(k) => {
                out.push_str(k);
                out.push_str("=REDACTED");
            }
            _ => out.push_str(param),
        }
        let Some(sep) = tail.chars().next() else {
            break;
        };
        out.push(sep);
        rest = &tail[1..];
    }
    out
}

fn is_secret_param(name: &str) -> bool {
    let decoded = percent_decode(&name.replace('+', " "));
    matches!(
        decoded.trim().to_ascii_lowercase().as_str(),
        "key" | "access_token" | "api_key" | "token" | "x-goog-api-key"
    )
}

pub(crate) fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_generate_and_streams() {
        let r = classify("/v1beta/models/gemini-2.0-flash:generateContent", None);
        assert_eq!(r.model.as_deref(), Some("gemini-2.0-flash"));
        assert_eq!(r.operation, Some("generate_content"));
        assert!(!r.stream);
        assert_eq!(r.template, "/v1beta/models/{model}:generateContent");

        let r = classify(
            "/v1/models/gemini-2.5-pro:streamGenerateContent",
            Some("alt=sse&key=abc"),
        );
        assert!(r.stream);
        assert_eq!(r.framing, Framing::Sse);
        let r = classify("/v1alpha/models/gemini-2.5-pro:streamGenerateContent", None);
        assert_eq!(r.framing, Framing::JsonArray);
    }

    #[test]
    fn other_operations_and_unknown_paths() {
        let r = classify("/v1beta/models/text-embedding-004:batchEmbedContents", None);
        assert_eq!(r.operation, Some("embeddings"));
        let r = classify("/v1beta/models/gemini-2.0-flash:countTokens", None);
        assert_eq!(r.operation, Some("count_tokens"));
        let r = classify("/v1beta/tunedModels/my-tune:generateContent", None);
        assert_eq!(r.model.as_deref(), Some("tunedModels/my-tune"));
        let r = classify("/v1beta/files/abc", None);
        assert_eq!(
            (r.operation, r.template.as_str()),
            (None, "/v1beta/files/{id}")
        );
        let r = classify("/v1beta/openai/chat/completions", None);
        assert!(r.is_openai());
        assert_eq!(r.operation, Some("chat"));
        let r = classify("/upload/v1beta/files", Some("upload_id=1"));
        assert!(r.upload);
        assert_eq!(r.framing, Framing::Opaque);
        let r = classify("/", None);
        assert_eq!(r.operation, None);
    }

    #[test]
    fn secrets_are_redacted_from_queries() {
        assert_eq!(redact_query("alt=sse&key=SECRET"), "alt=sse&key=REDACTED");
        assert_eq!(redact_query("KEY=s&x=1"), "KEY=REDACTED&x=1");
        assert_eq!(redact_query("%6Bey=SECRET"), "%6Bey=REDACTED");
        assert_eq!(redact_query("k%65y=SECRET&a=1"), "k%65y=REDACTED&a=1");
        assert_eq!(redact_query("alt=sse;key=SECRET"), "alt=sse;key=REDACTED");
        assert_eq!(redact_query("access%5Ftoken=T"), "access%5Ftoken=REDACTED");
        assert_eq!(redact_query("a=1&&b"), "a=1&&b");
        assert_eq!(query_param(Some("a=1&alt=sse"), "alt"), Some("sse"));
    }

    #[test]
    fn encoded_model_names_decode() {
        let r = classify("/v1beta/models/gemini%2D2.0-flash:generateContent", None);
        assert_eq!(r.model.as_deref(), Some("gemini-2.0-flash"));
    }
}
