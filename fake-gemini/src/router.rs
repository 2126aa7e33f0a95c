//! The request pipeline: record, control endpoints, fault knobs, key check,
//! then dispatch to the endpoint modules; every answer then gets its
//! `x-gemini-service-tier` (generation calls) and its content coding.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::config::{Fault, Knobs};
use crate::errors::ApiError;
use crate::files::{self, request_base};
use crate::interactions::api as interactions_api;
use crate::native::{self, json_response, parse_body};
use crate::route::{self, Action, Route};
use crate::state::{SeenRequest, SeenRequestJson, Shared};
use crate::stream::{self, Framing};
use crate::tier::{self, Tier};
use crate::util::query_param;
use crate::{batches, caches, compress, file_contents, models, openai, routing, upload};

/// How long `x-fake-fault: hang` waits before giving up.
const HANG: Duration = Duration::from_secs(3600);

/// The axum app serving every path through [`handle`].
pub(crate) fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/ws/{method}", axum::routing::get(crate::live::upgrade))
        .fallback(handle)
        .with_state(shared)
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if let Some(rest) = path.strip_prefix("/__fake/") {
        return control(&shared, parts.method.as_str(), rest);
    }
    let query = parts.uri.query().map(str::to_string);
    let method = parts.method.as_str().to_string();
    let idx = shared.record(SeenRequest {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: Bytes::new(),
    });
    let route = route::route(&method, &path, query.as_deref());
    let array = route.array_errors();
    let knobs = Knobs::from_headers(&shared.cfg, &parts.headers);
    let encoding = compress::negotiate(&parts.headers);
    let generation = route.is_generation();
    let mut served_tier = None;
    let mut resp = match serve(&shared, &parts, route, knobs, body, idx, &mut served_tier).await {
        Ok(resp) => resp,
        Err(err) => err.response(array),
    };
    if generation && let Some(t) = served_tier {
        tier::set_header(&mut resp, t);
    }
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
    compress::encode(resp, encoding)
}

/// `/__fake/…` control endpoints (not recorded).
fn control(shared: &Shared, method: &str, rest: &str) -> Response {
    match (method, rest) {
        ("POST", r) if r.starts_with("release/") => {
            let token = r.trim_start_matches("release/");
            shared.release(token);
            StatusCode::NO_CONTENT.into_response()
        }
        ("GET", "requests") => {
            let seen = shared.requests();
            json_response(&seen.iter().map(SeenRequestJson::from).collect::<Vec<_>>())
        }
        ("DELETE", "requests") => {
            shared.clear_requests();
            StatusCode::NO_CONTENT.into_response()
        }
        _ => ApiError::unknown_path(method, &format!("/__fake/{rest}")).response(false),
    }
}

/// The API key of a request: `x-goog-api-key`, `?key=` or `Authorization: Bearer`.
fn api_key(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let from_header = headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let from_query = query_param(query, "key").map(str::to_string);
    let from_bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::to_string);
    [from_header, from_query, from_bearer]
        .into_iter()
        .flatten()
        .map(|k| k.trim().to_string())
        .find(|k| !k.is_empty())
}

fn check_key(headers: &HeaderMap, query: Option<&str>) -> Result<(), ApiError> {
    match api_key(headers, query).as_deref() {
        None => Err(ApiError::missing_key()),
        Some("bad-key") => Err(ApiError::bad_key()),
        Some(_) => Ok(()),
    }
}

/// Answer one request. For generation calls `served_tier` is set as soon as
/// the body is read, so that error answers (429 included) name it too.
async fn serve(
    shared: &Arc<Shared>,
    parts: &Parts,
    route: Route,
    knobs: Knobs,
    body: Body,
    idx: usize,
    served_tier: &mut Option<Tier>,
) -> Result<Response, ApiError> {
    let streamed_body = matches!(route, Route::UploadChunk(_));
    let (bytes, body) = if streamed_body {
        (Bytes::new(), body)
    } else {
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|e| ApiError::new(400, format!("Could not read the request body: {e}")))?;
        shared.set_body(idx, bytes.clone());
        (bytes, Body::empty())
    };
    let headers = &parts.headers;
    // A lenient look at a generation body, for its tier and model name.
    let peek: Option<Value> = route
        .is_generation()
        .then(|| serde_json::from_slice::<Value>(&bytes).ok())
        .flatten()
        .filter(Value::is_object);
    let tier = peek
        .as_ref()
        .map_or(Ok(Tier::Standard), |b| tier::served_tier(b, headers));
    if route.is_generation() {
        *served_tier = tier.as_ref().ok().copied();
    }
    if knobs.fault == Some(Fault::Hang) {
        tokio::time::sleep(HANG).await;
        return Err(ApiError::for_status(504, ""));
    }
    if knobs.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.latency_ms)).await;
    }
    if let Some(code) = knobs.status {
        let from_body = peek
            .as_ref()
            .and_then(|b| b.get("model").or_else(|| b.get("agent")))
            .and_then(Value::as_str);
        let model = route
            .model_name()
            .or(from_body)
            .unwrap_or("gemini-3.8-flash");
        return Err(ApiError::for_status(code, model));
    }
    let query = parts.uri.query();
    if !matches!(route, Route::UploadChunk(_) | Route::NotFound) {
        check_key(headers, query)?;
    }
    let base = || request_base(headers, shared);
    let version = crate::route::api_version(parts.uri.path());
    match route {
        Route::Model { model, action } => {
            let req = parse_body(&bytes)?;
            let served = routing::served(&model, version, action.method())?;
            match action {
                Action::Generate => {
                    native::generate(served, &req, tier?, knobs.block, shared.next_seq())
                }
                Action::Stream { sse } => {
                    let prompt = native::generate_prompt(served, &req, tier?)?;
                    let framing = if sse {
                        Framing::Sse
                    } else {
                        Framing::JsonArray
                    };
                    Ok(stream::generate_stream(
                        shared.clone(),
                        knobs,
                        served,
                        &prompt,
                        framing,
                    ))
                }
                Action::CountTokens => Ok(native::count_tokens(served, &req)),
                Action::Embed => native::embed_content(&req),
                Action::BatchEmbed => native::batch_embed(&req),
                Action::BatchJob(kind) => batches::create(shared, headers, &model, kind, &req),
            }
        }
        Route::ListModels => Ok(models::list_models()),
        Route::GetModel(name) => {
            routing::served(&name, version, "get")?;
            Ok(json_response(&models::model_info(&name)))
        }
        Route::CompatChat => {
            let req = parse_body(&bytes)?;
            routing::check_body_model(&req, version, "generateContent")?;
            tier?;
            openai::chat(shared, knobs, &req)
        }
        Route::CompatEmbeddings => {
            let req = parse_body(&bytes)?;
            routing::check_body_model(&req, version, "embedContent")?;
            openai::embeddings(&req)
        }
        Route::CompatModels => Ok(openai::list_models()),
        Route::CompatModel(id) => {
            routing::served(&id, version, "get")?;
            Ok(openai::get_model(&id))
        }
        Route::UploadStart(ver) => upload::start(shared, headers, &ver, &bytes),
        Route::UploadChunk(id) => {
            upload::chunk(shared, headers, &id, body, |kept| {
                shared.set_body(idx, kept)
            })
            .await
        }
        Route::ListFiles => Ok(files::list_files(&shared.files, &base())),
        Route::GetFile(id) => files::get_file(&shared.files, &id, &base()),
        Route::DeleteFile(id) => files::delete_file(&shared.files, &id),
        Route::CreateInteraction => {
            let req = parse_body(&bytes)?;
            routing::check_body_model(&req, version, "createInteraction")?;
            interactions_api::create(shared, knobs, headers, &req, tier?)
        }
        Route::GetInteraction { id, stream, after } => {
            interactions_api::get(shared, knobs, &id, stream, after)
        }
        Route::CancelInteraction(id) => interactions_api::cancel(shared, &id),
        Route::DeleteInteraction(id) => interactions_api::delete(shared, &id),
        Route::GetBatch(id) => batches::get(shared, &id),
        Route::CancelBatch(id) => batches::cancel(shared, &id),
        Route::DeleteBatch(id) => batches::delete(shared, &id),
        Route::CreateCache => {
            let req = parse_body(&bytes)?;
            routing::check_body_model(&req, version, "createCachedContent")?;
            caches::create(shared, &req)
        }
        Route::ListCaches => Ok(caches::list()),
        Route::GetCache(id) => caches::get(&id),
        Route::UpdateCache(id) => caches::update(&id, &parse_body(&bytes)?),
        Route::DeleteCache(id) => caches::delete(&id),
        Route::DownloadFile(id) => file_contents::download(&id),
        Route::NotFound => Err(ApiError::unknown_path(
            parts.method.as_str(),
            parts.uri.path(),
        )),
    }
}
