//! A chatbot back-end on axum that streams a mock model's tokens as SSE.
//!
//! Run with
//!
//! ```sh
//! cargo run --example axum_chat --features full
//! ```
//!
//! then open <http://127.0.0.1:3000/>, or:
//!
//! ```sh
//! curl -N 'http://127.0.0.1:3000/chat?prompt=hi&tokens=5&batch=2'
//! curl -N http://127.0.0.1:3000/v1/chat/completions -H 'content-type: application/json' \
//!   -d '{"model":"echo","stream":true,"messages":[{"role":"user","content":"Hello!"}]}'
//! curl -N 'http://127.0.0.1:3000/v1/messages?reasoning=3' -H 'content-type: application/json' \
//!   -d '{"model":"mock","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi"}]}'
//! curl http://127.0.0.1:3000/metrics
//! ```
//!
//! `PORT` sets the port (default 3000). Serves HTTP/1.1 and HTTP/2 with
//! prior knowledge (h2c), with `TCP_NODELAY` on every connection.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use llm_sse::{resume, SseStream};

#[path = "shared/mod.rs"]
mod shared;

use shared::api::{Api, Reply};
use shared::{BadRequest, Knobs};

/// The chat back-end's routes.
pub(crate) fn router() -> Router {
    let metrics = shared::metrics();
    Router::new()
        .route("/", get(|| async { Html(shared::PAGE) }))
        .route("/chat", get(chat))
        .route("/streams/{id}/stop", post(stop))
        .route(
            "/v1/chat/completions",
            post(|RawQuery(q): RawQuery, body: Bytes| api(Api::ChatCompletions, q, body)),
        )
        .route(
            "/v1/responses",
            post(|RawQuery(q): RawQuery, body: Bytes| api(Api::Responses, q, body)),
        )
        .route(
            "/v1/messages",
            post(|RawQuery(q): RawQuery, body: Bytes| api(Api::Messages, q, body)),
        )
        .route(
            "/api/chat",
            post(|RawQuery(q): RawQuery, body: Bytes| api(Api::UiChat, q, body)),
        )
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        metrics.render(),
                    )
                }
            }),
        )
}

fn query_map(query: Option<String>) -> Result<HashMap<String, String>, BadRequest> {
    let query = query.unwrap_or_default();
    Query::<HashMap<String, String>>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| BadRequest("bad query".into()))?,
    )
    .map(|Query(map)| map)
    .map_err(|err| BadRequest(format!("bad query string: {err}")))
}

/// `GET /chat?prompt=...`: the mock model's answer, ending with `[DONE]`;
/// with `resumable=1` a stream that a `Last-Event-ID` (header, or
/// `last_event_id` query) resumes.
async fn chat(headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let query = match query_map(query) {
        Ok(query) => query,
        Err(BadRequest(message)) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    let header = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok());
    let query_id = query.get(resume::LAST_EVENT_ID_QUERY).map(String::as_str);
    if let Some(last_event_id) = resume::last_event_id(header, query_id) {
        return resume::resume(&shared::resume::store(), last_event_id, None)
            .await
            .into_response();
    }
    let knobs = match Knobs::from_query(&query) {
        Ok(knobs) => knobs,
        Err(BadRequest(message)) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    if let Some(status) = knobs.status {
        return error_response(status, shared::chat_status_body(status));
    }
    let builder = shared::configure_chat(SseStream::builder(knobs.source()), &knobs);
    if knobs.resumable {
        return builder
            .resumable(shared::resume::store())
            .grace(shared::resume::grace())
            .build()
            .into_response();
    }
    builder.build().into_response()
}

/// `POST /streams/{id}/stop`: stops a resumable stream's generation on
/// whichever replica runs it: `202`, `200` if it had ended, `404`.
async fn stop(Path(id): Path<String>) -> Response {
    match resume::stop(&shared::resume::store(), &id, None).await {
        Ok(outcome) => StatusCode::from_u16(outcome.status())
            .unwrap_or(StatusCode::OK)
            .into_response(),
        Err(error) => error.into_response(),
    }
}

/// `status` with a JSON error body.
fn error_response(status: u16, body: serde_json::Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(body)).into_response()
}

/// `POST` to one of the wire APIs: OpenAI Chat Completions or Responses,
/// Anthropic Messages, or the Vercel AI SDK UI message stream.
async fn api(api: Api, query: Option<String>, body: Bytes) -> Response {
    match shared::api::answer(api, query_map(query), &body).await {
        Reply::Error(error) => error.into_response(),
        Reply::Json(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Reply::Stream(stream) => stream.into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::resume::init().await?;
    shared::serve_axum(router()).await
}
