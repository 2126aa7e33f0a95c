//! Content codings: gzip when asked, forced codings, and streams whose
//! compressed events still arrive one by one.

mod common;

use std::io::{Read, Write};

use common::{fake, header, interaction_events, post, prompt};
use futures::StreamExt;
use serde_json::{Value, json};

const GEN: &str = "/v1beta/models/gemini-3.8-flash:generateContent";
const SSE: &str = "/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse";

fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut out)
        .expect("valid gzip");
    out
}

#[tokio::test]
async fn gzip_only_when_asked() {
    let fake = fake().await;
    let resp = post(&fake, GEN, &prompt("hello"), &[]).await;
    assert_eq!(header(&resp, "content-encoding"), "");
    let plain: Value = serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json");
    assert!(plain["usageMetadata"]["totalTokenCount"].is_u64());

    let resp = post(
        &fake,
        GEN,
        &prompt("hello"),
        &[("accept-encoding", "gzip, deflate")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-encoding"), "gzip");
    assert_eq!(header(&resp, "vary"), "Accept-Encoding");
    assert_eq!(header(&resp, "x-gemini-service-tier"), "standard");
    let raw = resp.bytes().await.expect("body");
    assert!(
        serde_json::from_slice::<Value>(&raw).is_err(),
        "not plain JSON"
    );
    let v: Value = serde_json::from_str(&gunzip(&raw)).expect("json");
    assert_eq!(v["usageMetadata"], plain["usageMetadata"]);

    let forced = [("accept-encoding", "gzip"), ("x-fake-encoding", "identity")];
    let resp = post(&fake, GEN, &prompt("hello"), &forced).await;
    assert_eq!(header(&resp, "content-encoding"), "");
    let resp = post(
        &fake,
        GEN,
        &prompt("hello"),
        &[("accept-encoding", "gzip;q=0, br")],
    )
    .await;
    assert_eq!(
        header(&resp, "content-encoding"),
        "",
        "q=0 refuses gzip; br is never chosen"
    );

    let resp = post(
        &fake,
        GEN,
        &prompt("x"),
        &[("accept-encoding", "gzip"), ("x-fake-status", "503")],
    )
    .await;
    assert_eq!(resp.status(), 503);
    let err: Value =
        serde_json::from_str(&gunzip(&resp.bytes().await.expect("body"))).expect("json");
    assert_eq!(err["error"]["status"], "UNAVAILABLE");
}

#[tokio::test]
async fn forced_codings_decode() {
    let fake = fake().await;
    for coding in ["gzip", "deflate", "br", "zstd"] {
        let resp = post(&fake, GEN, &prompt("coded"), &[("x-fake-encoding", coding)]).await;
        assert_eq!(header(&resp, "content-encoding"), coding);
        let raw = resp.bytes().await.expect("body");
        let mut text = String::new();
        match coding {
            "gzip" => text = gunzip(&raw),
            "deflate" => {
                flate2::read::ZlibDecoder::new(&raw[..])
                    .read_to_string(&mut text)
                    .expect("zlib");
            }
            "br" => {
                brotli::Decompressor::new(&raw[..], 4096)
                    .read_to_string(&mut text)
                    .expect("brotli");
            }
            _ => text = String::from_utf8(zstd::decode_all(&raw[..]).expect("zstd")).expect("utf8"),
        }
        let v: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["modelVersion"], "gemini-3.8-flash", "{coding}");
    }
}

#[tokio::test]
async fn gzip_stream_events_arrive_one_by_one() {
    let fake = fake().await;
    let headers = [("accept-encoding", "gzip"), ("x-fake-hold", "gz-1")];
    let resp = post(&fake, SSE, &prompt("one two three"), &headers).await;
    assert_eq!(header(&resp, "content-encoding"), "gzip");
    let mut body = resp.bytes_stream();
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    // The stream is held after its first event: what arrives until then must
    // decode, on its own, to exactly that event.
    while !decoder.get_ref().ends_with(b"\r\n\r\n") {
        let chunk = body.next().await.expect("a first chunk").expect("ok");
        decoder.write_all(&chunk).expect("gzip");
        decoder.flush().expect("flush");
    }
    let first = String::from_utf8(decoder.get_ref().clone()).expect("utf8");
    assert_eq!(first.matches("data: ").count(), 1, "{first}");
    assert!(first.starts_with("data: {\"candidates\""));
    fake.release("gz-1");
    while let Some(chunk) = body.next().await {
        decoder.write_all(&chunk.expect("chunk")).expect("gzip");
    }
    let all = String::from_utf8(decoder.finish().expect("complete gzip")).expect("utf8");
    let events = common::sse_events(&all);
    assert_eq!(events.len(), 4);
    assert_eq!(events[3]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn gzip_interactions_stream() {
    let fake = fake().await;
    let body = json!({"model": "gemini-3.8-flash", "input": "x", "stream": true});
    let resp = post(
        &fake,
        "/v1beta/interactions",
        &body,
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(header(&resp, "content-encoding"), "gzip");
    let text = gunzip(&resp.bytes().await.expect("body"));
    let events = interaction_events(&text);
    assert_eq!(
        events.last().and_then(|e| e["event_type"].as_str()),
        Some("interaction.completed")
    );
}
