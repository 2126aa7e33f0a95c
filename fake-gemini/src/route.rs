//! Pure path routing: method + path + query to a [`Route`].

use crate::util::query_param;

/// Actions on `models/{model}:{action}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// `:generateContent`.
    Generate,
    /// `:streamGenerateContent` (`sse` = `alt=sse`).
    Stream {
        /// SSE framing rather than a JSON array.
        sse: bool,
    },
    /// `:countTokens`.
    CountTokens,
    /// `:embedContent`.
    Embed,
    /// `:batchEmbedContents`.
    BatchEmbed,
    /// `:batchGenerateContent` / `:asyncBatchEmbedContent` (a Batch API job).
    BatchJob(crate::batches::Kind),
}

impl Action {
    /// The API method's name, as the API's error messages spell it.
    pub(crate) fn method(&self) -> &'static str {
        match self {
            Action::Generate => "generateContent",
            Action::Stream { .. } => "streamGenerateContent",
            Action::CountTokens => "countTokens",
            Action::Embed => "embedContent",
            Action::BatchEmbed => "batchEmbedContents",
            Action::BatchJob(crate::batches::Kind::Generate) => "batchGenerateContent",
            Action::BatchJob(_) => "asyncBatchEmbedContent",
        }
    }
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `POST /{ver}/{models|tunedModels}/{model}:{action}`.
    Model {
        /// Model name without the collection prefix.
        model: String,
        /// The action.
        action: Action,
    },
    /// `GET /{ver}/models`.
    ListModels,
    /// `GET /{ver}/models/{model}`.
    GetModel(String),
    /// `POST /{ver}/openai/chat/completions`.
    CompatChat,
    /// `POST /{ver}/openai/embeddings`.
    CompatEmbeddings,
    /// `GET /{ver}/openai/models`.
    CompatModels,
    /// `GET /{ver}/openai/models/{id}`.
    CompatModel(String),
    /// `POST /upload/{ver}/files` without `upload_id`.
    UploadStart(String),
    /// `POST /upload/{ver}/files?upload_id=…`.
    UploadChunk(String),
    /// `GET /{ver}/files`.
    ListFiles,
    /// `GET /{ver}/files/{id}`.
    GetFile(String),
    /// `DELETE /{ver}/files/{id}`.
    DeleteFile(String),
    /// `POST /{ver}/interactions`.
    CreateInteraction,
    /// `GET /{ver}/interactions/{id}`.
    /// `GET …/interactions/{id}`; with `?stream=true` its events as a stream, after
    /// `last_event_id` when given (a resumed stream).
    GetInteraction {
        id: String,
        stream: bool,
        after: Option<u64>,
    },
    /// `POST /{ver}/interactions/{id}/cancel` (or `{id}:cancel`).
    CancelInteraction(String),
    /// `DELETE /{ver}/interactions/{id}`.
    DeleteInteraction(String),
    /// `GET /{ver}/batches/{id}`.
    GetBatch(String),
    /// `POST /{ver}/batches/{id}:cancel`.
    CancelBatch(String),
    /// `DELETE /{ver}/batches/{id}`.
    DeleteBatch(String),
    /// `POST /{ver}/cachedContents`.
    CreateCache,
    /// `GET /{ver}/cachedContents`.
    ListCaches,
    /// `GET /{ver}/cachedContents/{id}`.
    GetCache(String),
    /// `PATCH /{ver}/cachedContents/{id}`.
    UpdateCache(String),
    /// `DELETE /{ver}/cachedContents/{id}`.
    DeleteCache(String),
    /// `GET [/download]/{ver}/files/{id}:download` (`alt=media`).
    DownloadFile(String),
    /// Anything else.
    NotFound,
}

impl Route {
    /// Whether errors on this route are wrapped in a JSON array.
    pub fn array_errors(&self) -> bool {
        matches!(
            self,
            Route::CompatChat
                | Route::CompatEmbeddings
                | Route::CompatModels
                | Route::CompatModel(_)
                | Route::Model {
                    action: Action::Stream { sse: false },
                    ..
                }
        )
    }

    /// The model named in the path, for model calls.
    pub fn model_name(&self) -> Option<&str> {
        match self {
            Route::Model { model, .. } => Some(model),
            _ => None,
        }
    }

    /// Whether this is a generation call whose every answer names the
    /// serving tier (generateContent, streams, OpenAI chat, Interactions).
    pub fn is_generation(&self) -> bool {
        matches!(
            self,
            Route::CompatChat
                | Route::CreateInteraction
                | Route::Model {
                    action: Action::Generate | Action::Stream { .. },
                    ..
                }
        )
    }
}

/// `v1`, `v1beta`, `v1alpha`, `v2`…
fn is_version(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next() == Some('v') && chars.next().is_some_and(|c| c.is_ascii_digit())
}

/// The API version a path names (`/v1/…`, `/v1beta/…`, `/v1alpha/…`, after `/upload` for
/// uploads): its first segment when that [is a version](is_version), else `v1beta`.
pub(crate) fn api_version(path: &str) -> &str {
    let path = path.strip_prefix("/upload").unwrap_or(path);
    path.trim_start_matches('/')
        .split('/')
        .next()
        .filter(|v| is_version(v))
        .unwrap_or("v1beta")
}

fn action_of(name: &str, query: Option<&str>) -> Option<Action> {
    Some(match name {
        "generateContent" => Action::Generate,
        "streamGenerateContent" => Action::Stream {
            sse: query_param(query, "alt").is_some_and(|a| a.eq_ignore_ascii_case("sse")),
        },
        "countTokens" => Action::CountTokens,
        "embedContent" => Action::Embed,
        "batchEmbedContents" => Action::BatchEmbed,
        "batchGenerateContent" => Action::BatchJob(crate::batches::Kind::Generate),
        "asyncBatchEmbedContent" => Action::BatchJob(crate::batches::Kind::Embed),
        _ => return None,
    })
}

/// Route a request.
pub(crate) fn route(method: &str, path: &str, query: Option<&str>) -> Route {
    let path = path.replace("%3A", ":").replace("%3a", ":");
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (get, post, delete) = (method == "GET", method == "POST", method == "DELETE");
    match segs.as_slice() {
        ["upload", ver, "files"] if post && is_version(ver) => {
            match query_param(query, "upload_id").filter(|id| !id.is_empty()) {
                Some(id) => Route::UploadChunk(id.to_string()),
                None => Route::UploadStart((*ver).to_string()),
            }
        }
        [ver, "openai", "chat", "completions"] if post && is_version(ver) => Route::CompatChat,
        [ver, "openai", "embeddings"] if post && is_version(ver) => Route::CompatEmbeddings,
        [ver, "openai", "models"] if get && is_version(ver) => Route::CompatModels,
        [ver, "openai", "models", rest @ ..] if get && is_version(ver) && !rest.is_empty() => {
            Route::CompatModel(rest.join("/"))
        }
        [ver, "models"] if get && is_version(ver) => Route::ListModels,
        [ver, coll @ ("models" | "tunedModels"), name] if is_version(ver) => {
            match name.split_once(':') {
                Some((model, action)) if post && !model.is_empty() => {
                    match action_of(action, query) {
                        Some(action) => Route::Model {
                            model: model.to_string(),
                            action,
                        },
                        None => Route::NotFound,
                    }
                }
                None if get && !name.is_empty() => Route::GetModel(format!("{coll}/{name}")),
                _ => Route::NotFound,
            }
        }
        [ver, "files"] if get && is_version(ver) => Route::ListFiles,
        ["download", ver, "files", id] | [ver, "files", id]
            if get && is_version(ver) && id.ends_with(":download") =>
        {
            Route::DownloadFile(id.trim_end_matches(":download").to_string())
        }
        [ver, "cachedContents"] if is_version(ver) && post => Route::CreateCache,
        [ver, "cachedContents"] if is_version(ver) && get => Route::ListCaches,
        [ver, "cachedContents", id] if is_version(ver) && !id.is_empty() => match method {
            "GET" => Route::GetCache((*id).to_string()),
            "PATCH" => Route::UpdateCache((*id).to_string()),
            "DELETE" => Route::DeleteCache((*id).to_string()),
            _ => Route::NotFound,
        },
        [ver, "files", id] if is_version(ver) && get => Route::GetFile((*id).to_string()),
        [ver, "files", id] if is_version(ver) && delete => Route::DeleteFile((*id).to_string()),
        [ver, "interactions"] if post && is_version(ver) => Route::CreateInteraction,
        [ver, "interactions", id, "cancel"] if post && is_version(ver) => {
            Route::CancelInteraction((*id).to_string())
        }
        [ver, "interactions", id] if is_version(ver) && !id.is_empty() => {
            match (id.split_once(':'), get, post, delete) {
                (Some((id, "cancel")), _, true, _) => Route::CancelInteraction(id.to_string()),
                (None, true, _, _) => Route::GetInteraction {
                    id: (*id).to_string(),
                    stream: query_param(query, "stream") == Some("true"),
                    after: query_param(query, "last_event_id").and_then(|v| v.parse().ok()),
                },
                (None, _, _, true) => Route::DeleteInteraction((*id).to_string()),
                _ => Route::NotFound,
            }
        }
        [ver, "batches", id] if is_version(ver) && !id.is_empty() => {
            match (id.split_once(':'), get, post, delete) {
                (Some((id, "cancel")), _, true, _) => Route::CancelBatch(id.to_string()),
                (None, true, _, _) => Route::GetBatch((*id).to_string()),
                (None, _, _, true) => Route::DeleteBatch((*id).to_string()),
                _ => Route::NotFound,
            }
        }
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = route(
            "POST",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            Some("alt=sse"),
        );
        assert_eq!(
            r,
            Route::Model {
                model: "gemini-2.5-flash".into(),
                action: Action::Stream { sse: true }
            }
        );
        let r = route("POST", "/v1/tunedModels/t1%3AgenerateContent", None);
        assert!(matches!(
            r,
            Route::Model {
                action: Action::Generate,
                ..
            }
        ));
        assert!(route("POST", "/v1/models/x:streamGenerateContent", None).array_errors());
        assert_eq!(route("GET", "/v1alpha/models", None), Route::ListModels);
        assert_eq!(
            route(
                "POST",
                "/upload/v1beta/files",
                Some("upload_id=abc&upload_protocol=resumable")
            ),
            Route::UploadChunk("abc".into())
        );
        assert_eq!(
            route("DELETE", "/v1beta/files/x", None),
            Route::DeleteFile("x".into())
        );
        assert_eq!(
            route("GET", "/v1beta/models/x:generateContent", None),
            Route::NotFound
        );
        assert_eq!(
            route("POST", "/models/x:generateContent", None),
            Route::NotFound
        );
        assert_eq!(
            route("GET", "/v1beta/openai/models/models/g", None),
            Route::CompatModel("models/g".into())
        );
        assert_eq!(
            route("POST", "/v1/interactions", None),
            Route::CreateInteraction
        );
        assert!(route("POST", "/v1alpha/interactions", None).is_generation());
        assert_eq!(
            route("GET", "/v1beta/interactions/abc", Some("stream=false")),
            Route::GetInteraction {
                id: "abc".into(),
                stream: false,
                after: None
            }
        );
        assert_eq!(
            route(
                "GET",
                "/v1beta/interactions/abc",
                Some("stream=true&last_event_id=4")
            ),
            Route::GetInteraction {
                id: "abc".into(),
                stream: true,
                after: Some(4)
            }
        );
        assert_eq!(
            route("POST", "/v1beta/interactions/abc/cancel", None),
            Route::CancelInteraction("abc".into())
        );
        assert_eq!(
            route("POST", "/v1beta/interactions/abc:cancel", None),
            Route::CancelInteraction("abc".into())
        );
        assert_eq!(
            route("DELETE", "/v1beta/interactions/abc", None),
            Route::DeleteInteraction("abc".into())
        );
        assert_eq!(
            route("POST", "/v1beta/interactions/abc", None),
            Route::NotFound
        );
        assert_eq!(
            route("POST", "/v1beta/models/m:batchGenerateContent", None),
            Route::Model {
                model: "m".into(),
                action: Action::BatchJob(crate::batches::Kind::Generate)
            }
        );
        assert_eq!(
            route("GET", "/v1beta/batches/b1", None),
            Route::GetBatch("b1".into())
        );
        assert_eq!(
            route("POST", "/v1beta/batches/b1:cancel", None),
            Route::CancelBatch("b1".into())
        );
        assert_eq!(
            route("PATCH", "/v1beta/cachedContents/c1", None),
            Route::UpdateCache("c1".into())
        );
        assert_eq!(
            route(
                "GET",
                "/download/v1beta/files/f1:download",
                Some("alt=media")
            ),
            Route::DownloadFile("f1".into())
        );
        assert_eq!(
            route("GET", "/v1beta/files/f1:download", Some("alt=media")),
            Route::DownloadFile("f1".into())
        );
    }
}
