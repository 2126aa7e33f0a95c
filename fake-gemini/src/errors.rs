//! Gemini-shaped (`google.rpc.Status`) error answers, optionally wrapped in a
//! JSON array as on the OpenAI-compatible and JSON-array streaming paths.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::util::pretty;

/// An error answer: HTTP code, message, canonical status and details.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ApiError {
    code: u16,
    message: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    details: Vec<Value>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: &'a ApiError,
}

/// Canonical `google.rpc.Code` name used with an HTTP status.
fn status_name(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        408 | 504 => "DEADLINE_EXCEEDED",
        409 => "ALREADY_EXISTS",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        502 | 503 => "UNAVAILABLE",
        _ => "UNKNOWN",
    }
}

impl ApiError {
    /// An error with the canonical status for `code` and no details.
    pub fn new(code: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            status: status_name(code),
            details: Vec::new(),
        }
    }

    /// Append a `details` entry.
    pub fn detail(mut self, d: Value) -> ApiError {
        self.details.push(d);
        self
    }

    /// The message of this error.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// HTTP code of this error.
    #[cfg(test)]
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The canned error injected by `x-fake-status: <code>`.
    pub fn for_status(code: u16, model: &str) -> ApiError {
        match code {
            429 => ApiError::new(
                429,
                "You exceeded your current quota, please check your plan and billing details. \
                 For more information on this error, head to: \
                 https://ai.google.dev/gemini-api/docs/rate-limits. Please retry in 1s.",
            )
            .detail(json!({
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": "10"
                }]
            }))
            .detail(json!({
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits"
                }]
            }))
            .detail(json!({
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": "1s"
            })),
            400 => ApiError::new(400, "Request contains an invalid argument."),
            401 => ApiError::new(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, \
                 login cookie or other valid authentication credential.",
            ),
            403 => ApiError::new(403, "The caller does not have permission"),
            404 => ApiError::new(404, "Requested entity was not found."),
            500 => ApiError::new(
                500,
                "An internal error has occurred. Please retry or report in \
                 https://developers.generativeai.google/guide/troubleshooting",
            ),
            503 => ApiError::new(503, "The model is overloaded. Please try again later."),
            504 => ApiError::new(504, "The request timed out. Please try again."),
            _ => ApiError::new(code, format!("fake-gemini injected error {code}")),
        }
    }

    /// 404 for a path the fake does not serve.
    pub fn unknown_path(method: &str, path: &str) -> ApiError {
        ApiError::new(404, format!("Method {method} {path} not found."))
    }

    /// 400 for a body that is not valid JSON.
    pub fn invalid_json(err: &serde_json::Error) -> ApiError {
        let msg = format!("Invalid JSON payload received. {err}.");
        ApiError::new(400, msg.clone()).detail(json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"description": msg}]
        }))
    }

    /// 403 for a request without any API key.
    pub fn missing_key() -> ApiError {
        ApiError::new(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). \
             Please use API Key or other form of API consumer identity to call this API.",
        )
    }

    /// 400 API_KEY_INVALID for the key `bad-key`.
    pub fn bad_key() -> ApiError {
        ApiError::new(400, "API key not valid. Please pass a valid API key.")
            .detail(json!({
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"}
            }))
            .detail(json!({
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": "API key not valid. Please pass a valid API key."
            }))
    }

    /// `{"error":…}`, as a stream's in-band error event carries it.
    pub fn envelope(&self) -> Value {
        json!({ "error": self })
    }

    /// The response, as `{"error":…}` or, if `array`, `[{"error":…}]`.
    pub fn response(&self, array: bool) -> Response {
        let env = Envelope { error: self };
        let body = if array { pretty(&[env]) } else { pretty(&env) };
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (code, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_details() {
        let e = ApiError::for_status(429, "m");
        let v = serde_json::to_value(&e).expect("json");
        assert_eq!(v["status"], "RESOURCE_EXHAUSTED");
        assert_eq!(v["details"][2]["retryDelay"], "1s");
        assert_eq!(ApiError::for_status(503, "m").status, "UNAVAILABLE");
        assert_eq!(ApiError::missing_key().status, "PERMISSION_DENIED");
        let v = serde_json::to_value(ApiError::bad_key()).expect("json");
        assert_eq!(v["details"][0]["reason"], "API_KEY_INVALID");
    }
}
