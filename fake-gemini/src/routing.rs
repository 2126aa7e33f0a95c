//! Auto-routing: retired and aliased model ids and the model that serves
//! them. The served model is what `modelVersion` (generateContent, streams),
//! the OpenAI-compatible `model` and an Interaction's `model` report, and the
//! model whose token rules apply (see the crate doc). Models that were shut
//! down are served by nothing: the API answers 404 `NOT_FOUND` for them, as for
//! any id it does not know ([`served`]).

use crate::errors::ApiError;

/// `(requested, served)`: the one routing table. Any other id serves itself.
pub(crate) const ROUTES: &[(&str, &str)] = &[
    // Routed since 2026-10-08 (official changelog).
    ("gemini-3.7-flash", "gemini-3.8-flash"),
    ("gemini-3.5-flash", "gemini-3.6-flash"),
    // Retired 2026-12-01.
    ("gemini-2.5-pro", "gemini-3.8-flash"),
    ("gemini-2.5-flash", "gemini-3.5-flash-lite"),
    // Shut down 2026-03-09.
    ("gemini-3-pro-preview", "gemini-3.1-pro-preview"),
    // `-latest` aliases resolve server-side. Only the flash-lite target is
    // documented; the other two are the fake's choice.
    ("gemini-flash-lite-latest", "gemini-3.5-flash-lite"),
    ("gemini-flash-latest", "gemini-3.8-flash"),
    ("gemini-pro-latest", "gemini-3.1-pro-preview"),
];

/// Model ids shut down, with the day: no request for them is served. The fake
/// serves any other id it does not know, which stands for a model newer than the
/// gateway's price table.
pub(crate) const SHUT_DOWN: &[(&str, &str)] = &[
    ("gemini-2.0-flash", "2026-06-01"),
    ("gemini-2.0-flash-001", "2026-06-01"),
    ("gemini-2.0-flash-lite", "2026-06-01"),
    ("gemini-2.0-flash-lite-001", "2026-06-01"),
];

/// The model that serves `requested` through `method` (`generateContent`,
/// `bidiGenerateContent`, …) of API `version`, or the 404 the API answers for a
/// model that was shut down.
pub(crate) fn served<'a>(
    requested: &'a str,
    version: &str,
    method: &str,
) -> Result<&'a str, ApiError> {
    let short = requested.strip_prefix("models/").unwrap_or(requested);
    // The API decodes the path: `gemini%2D2.0-flash` names the same model.
    let decoded = percent_decoded(short);
    match SHUT_DOWN.iter().find(|(id, _)| *id == decoded) {
        Some(_) => Err(ApiError::new(404, not_found(&decoded, version, method))),
        None => Ok(served_model(short)),
    }
}

/// A request body's `model`, when it names a model that was shut down: the 404 of
/// [`served`]. Surfaces that name the model in the body call it before anything else.
pub(crate) fn check_body_model(
    body: &serde_json::Value,
    version: &str,
    method: &str,
) -> Result<(), ApiError> {
    match body.get("model").and_then(serde_json::Value::as_str) {
        Some(m) => served(m, version, method).map(|_| ()),
        None => Ok(()),
    }
}

/// `s` with its `%XX` escapes decoded (an escape that is not valid stays as it is).
fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The message of the API's 404 for a model it does not serve.
fn not_found(model: &str, version: &str, method: &str) -> String {
    format!(
        "models/{model} is not found for API version {version}, or is not supported for \
         {method}. Call ListModels to see the list of available models and their supported \
         methods."
    )
}

/// The model that serves a request for `requested` (a `models/` prefix is
/// ignored; the answer never has one).
pub(crate) fn served_model(requested: &str) -> &str {
    let short = requested.strip_prefix("models/").unwrap_or(requested);
    ROUTES
        .iter()
        .find(|(from, _)| *from == short)
        .map_or(short, |(_, to)| to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_retired_and_aliased_ids() {
        assert_eq!(served_model("gemini-3.7-flash"), "gemini-3.8-flash");
        assert_eq!(
            served_model("models/gemini-2.5-flash"),
            "gemini-3.5-flash-lite"
        );
        assert_eq!(served_model("gemini-3.8-flash"), "gemini-3.8-flash");
        assert_eq!(served_model("models/custom"), "custom");
        // No chains: every target serves itself.
        assert!(ROUTES.iter().all(|(_, to)| served_model(to) == *to));
    }

    #[test]
    fn shut_down_ids_are_not_found() {
        let Err(err) = served("models/gemini-2.0-flash", "v1beta", "generateContent") else {
            panic!("a model shut down was served");
        };
        let body = serde_json::to_value(&err).expect("serializes");
        assert_eq!(body["code"], 404);
        assert_eq!(body["status"], "NOT_FOUND");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m
                    .starts_with("models/gemini-2.0-flash is not found for API version v1beta")),
            "{body}"
        );
        assert!(served("gemini-2.0-flash-lite-001", "v1", "countTokens").is_err());
        assert!(
            served("gemini%2D2.0-flash", "v1", "generateContent").is_err(),
            "escaped"
        );
        assert!(
            served("gemini-2.0-flash%", "v1", "generateContent").is_ok(),
            "a bad escape"
        );
        assert!(
            check_body_model(&serde_json::json!({"model": "gemini-2.0-flash"}), "v1", "m").is_err()
        );
        assert!(check_body_model(&serde_json::json!({"agent": "x"}), "v1", "m").is_ok());
        assert_eq!(
            served("gemini-2.5-flash", "v1", "countTokens").ok(),
            Some("gemini-3.5-flash-lite")
        );
        // No route leads to a model that was shut down.
        assert!(ROUTES.iter().all(|(_, to)| served(to, "v1", "m").is_ok()));
    }
}
