//! The `testing` helpers build what the gateway would hand a plugin.

use gateway_plugin_sdk::Usage;
use gateway_plugin_sdk::testing::{completed, request};

#[test]
fn request_counts_the_body() {
    let r = request(
        r#"{"systemInstruction":{"parts":[{"text":"s"}]},"contents":[{"parts":[{"text":"a"},{"text":"b"}]},{"parts":[]}]}"#,
    );
    assert_eq!((r.info.contents, r.info.parts), (2, 2));
    assert!(r.info.system_instruction && !r.info.cached_content);
    assert!(r.info.parse_error.is_none());
    let mut texts = r.view().prompt_texts();
    texts.sort();
    assert_eq!(texts, ["a", "b", "s"]);
    assert!(request("not json").info.parse_error.is_some());
}

#[test]
fn completed_follows_the_request() {
    let r = request("{}")
        .model("m")
        .streamed()
        .user("u")
        .property("team", "x");
    let c = completed(r.view());
    assert_eq!(c.response_model, Some("m"));
    assert_eq!(c.service_tier, Some("standard"));
    assert_eq!(c.timings.ttft_ms, Some(50.0));
    assert_eq!(c.finish_reasons, ["STOP"]);
    assert_eq!(c.usage.map(Usage::output_tokens), Some(40));
    assert_eq!(c.request.attribution.user_id.as_deref(), Some("u"));
}
