//! The dashboard: the production build of `ui/` served at `/`.
//!
//! Release builds embed `ui/dist` in the binary (rust-embed), so a release binary carries its
//! dashboard; debug builds read the files from disk. When the UI was not built, `/` explains
//! how to build it instead of failing. Dashboard files need no token: the page asks for one
//! when the API answers 401.

use axum::http::{HeaderValue, Uri, header};
use axum::response::{Html, IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "../ui/dist"]
#[allow_missing = true]
struct Assets;

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>Gemini gateway</title>\
<p>The dashboard is not built. Run <code>npm --prefix ui ci &amp;&amp; npm --prefix ui run build</code>, \
then rebuild the binary (release builds embed <code>ui/dist</code>). The API is at <code>/api/</code>.</p>";

/// Serves a dashboard file, `index.html` for `/`.
pub(crate) async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path == "api" || path.starts_with("api/") || path.starts_with("metrics") {
        return crate::routes::not_found(uri).await.into_response();
    }
    let path = if path.is_empty() { "index.html" } else { path };
    match Assets::get(path) {
        Some(file) => {
            let mut resp = file.data.into_owned().into_response();
            let headers = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(file.metadata.mimetype()) {
                headers.insert(header::CONTENT_TYPE, v);
            }
            let cache = if path.starts_with("assets/") {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            resp
        }
        None if path == "index.html" => Html(NOT_BUILT).into_response(),
        None => crate::routes::not_found(uri).await.into_response(),
    }
}
