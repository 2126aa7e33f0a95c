//! Auto-routing: retired and aliased model ids and the model that serves
//! them. The served model is what `modelVersion` (generateContent, streams),
//! the OpenAI-compatible `model` and an Interaction's `model` report, and the
//! model whose token rules apply (see the crate doc).

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
}
