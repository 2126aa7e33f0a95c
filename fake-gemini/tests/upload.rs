//! The resumable upload flow and the Files API.

mod common;

use common::{client, fake, json};
use fake_gemini::FakeGemini;
use serde_json::Value;

/// Start an upload and return the upload URL.
async fn start(fake: &FakeGemini, size: usize) -> String {
    let resp = client()
        .post(format!("{}/upload/v1beta/files", fake.base_url()))
        .header("x-goog-api-key", "k")
        .header("x-goog-upload-protocol", "resumable")
        .header("x-goog-upload-command", "start")
        .header("x-goog-upload-header-content-length", size.to_string())
        .header("x-goog-upload-header-content-type", "text/plain")
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"file":{{"displayName":"notes","mimeType":"text/plain","sizeBytes":{size}}}}}"#
        ))
        .send()
        .await
        .expect("start");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-goog-upload-status"], "active");
    let url = resp.headers()["x-goog-upload-url"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        url.starts_with(&format!(
            "{}/upload/v1beta/files?upload_id=",
            fake.base_url()
        )),
        "{url}"
    );
    assert!(url.ends_with("&upload_protocol=resumable"));
    url
}

async fn send_chunk(url: &str, command: &str, offset: usize, data: Vec<u8>) -> reqwest::Response {
    client()
        .post(url)
        .header("x-goog-upload-command", command)
        .header("x-goog-upload-offset", offset.to_string())
        .body(data)
        .send()
        .await
        .expect("chunk")
}

#[tokio::test]
async fn upload_start_chunks_finalize_get_list_delete() {
    let fake = fake().await;
    let url = start(&fake, 12).await;
    let resp = send_chunk(&url, "upload", 0, b"hello".to_vec()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-goog-upload-status"], "active");
    let resp = send_chunk(&url, "upload", 0, b"again".to_vec()).await;
    assert_eq!(resp.status(), 400, "offset mismatch");
    assert_eq!(json(resp).await["error"]["status"], "INVALID_ARGUMENT");
    let resp = send_chunk(&url, "upload, finalize", 5, b" world!".to_vec()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-goog-upload-status"], "final");
    let file = json(resp).await["file"].clone();
    assert_eq!(file["sizeBytes"], "12");
    assert_eq!(file["mimeType"], "text/plain");
    assert_eq!(file["displayName"], "notes");
    assert_eq!(file["state"], "ACTIVE");
    let name = file["name"].as_str().expect("name").to_string();
    let id = name.strip_prefix("files/").expect("files/ prefix");
    assert_eq!(
        file["uri"],
        format!("{}/v1beta/files/{id}", fake.base_url())
    );
    for key in ["createTime", "updateTime", "expirationTime", "sha256Hash"] {
        assert!(file[key].is_string(), "{key}");
    }

    let get = |u: String| client().get(u).header("x-goog-api-key", "k").send();
    let got = json(
        get(format!("{}/v1beta/files/{id}", fake.base_url()))
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(got["sizeBytes"], "12");
    let list = json(
        get(format!("{}/v1beta/files", fake.base_url()))
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(list["files"][0]["name"], name.as_str());
    let del = client()
        .delete(format!("{}/v1beta/files/{id}", fake.base_url()))
        .header("x-goog-api-key", "k")
        .send()
        .await
        .expect("delete");
    assert_eq!(del.status(), 200);
    assert_eq!(json(del).await, Value::Object(Default::default()));
    let gone = get(format!("{}/v1beta/files/{id}", fake.base_url()))
        .await
        .expect("get");
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn big_upload_is_counted_not_recorded() {
    let fake = fake().await;
    let size = 24 * 1024 * 1024;
    let url = start(&fake, size).await;
    let half = size / 2;
    let resp = send_chunk(&url, "upload", 0, vec![7u8; half]).await;
    assert_eq!(resp.headers()["x-goog-upload-status"], "active");
    let resp = send_chunk(&url, "upload, finalize", half, vec![7u8; size - half]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["file"]["sizeBytes"], size.to_string());
    let seen = fake.requests();
    let chunks: Vec<_> = seen.iter().filter(|r| r.query.is_some()).collect();
    assert_eq!(chunks.len(), 2);
    assert!(
        chunks.iter().all(|r| r.body.is_empty()),
        "bodies over 1 MiB are not kept"
    );
    assert_eq!(
        chunks[1].header("x-goog-upload-command"),
        Some("upload, finalize")
    );
}

#[tokio::test]
async fn upload_url_uses_the_host_header() {
    let fake = fake().await;
    let resp = client()
        .post(format!("{}/upload/v1beta/files", fake.base_url()))
        .header("host", "proxy.example:8080")
        .header("x-goog-api-key", "k")
        .header("x-goog-upload-protocol", "resumable")
        .header("x-goog-upload-command", "start")
        .send()
        .await
        .expect("start");
    assert_eq!(resp.status(), 200);
    let url = resp.headers()["x-goog-upload-url"].to_str().expect("ascii");
    assert!(
        url.starts_with("http://proxy.example:8080/upload/v1beta/files?upload_id="),
        "{url}"
    );
}
