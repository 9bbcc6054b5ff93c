//! A chatbot back-end on actix-web that streams a mock model's tokens as
//! SSE; the same HTTP contract as `axum_chat`.
//!
//! Run with
//!
//! ```sh
//! cargo run --example actix_chat --features full
//! ```
//!
//! then open <http://127.0.0.1:3000/>, or:
//!
//! ```sh
//! curl -N 'http://127.0.0.1:3000/chat?prompt=hi&tokens=5&batch=2'
//! curl -N http://127.0.0.1:3000/v1/chat/completions -H 'content-type: application/json' \
//!   -d '{"model":"echo","stream":true,"messages":[{"role":"user","content":"Hello!"}]}'
//! curl http://127.0.0.1:3000/metrics
//! ```
//!
//! `PORT` sets the port (default 3000).

#![allow(clippy::print_stdout)] // a server announces where it listens

use std::collections::HashMap;

use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Query};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use llm_sse::{resume, SseStream};

#[path = "shared/mod.rs"]
pub(crate) mod shared;

use shared::api::{Api, Reply};
use shared::{BadRequest, Knobs};

/// The chat back-end's routes.
pub(crate) fn routes(config: &mut web::ServiceConfig) {
    config
        .route(
            "/",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type(ContentType::html())
                    .body(shared::PAGE)
            }),
        )
        .route("/chat", web::get().to(chat))
        .route("/streams/{id}/stop", web::post().to(stop))
        .route(
            "/v1/chat/completions",
            web::post().to(|r: HttpRequest, b: Bytes| api(Api::ChatCompletions, r, b)),
        )
        .route(
            "/v1/responses",
            web::post().to(|r: HttpRequest, b: Bytes| api(Api::Responses, r, b)),
        )
        .route(
            "/v1/messages",
            web::post().to(|r: HttpRequest, b: Bytes| api(Api::Messages, r, b)),
        )
        .route(
            "/api/chat",
            web::post().to(|r: HttpRequest, b: Bytes| api(Api::UiChat, r, b)),
        )
        .route(
            "/metrics",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("text/plain; version=0.0.4")
                    .body(shared::metrics().render())
            }),
        );
}

fn query_map(request: &HttpRequest) -> Result<HashMap<String, String>, BadRequest> {
    Query::<HashMap<String, String>>::from_query(request.query_string())
        .map(Query::into_inner)
        .map_err(|err| BadRequest(format!("bad query string: {err}")))
}

/// `GET /chat?prompt=...`: the mock model's answer, ending with `[DONE]`;
/// with `resumable=1` a stream that a `Last-Event-ID` (header, or
/// `last_event_id` query) resumes.
async fn chat(request: HttpRequest) -> HttpResponse {
    let query = match query_map(&request) {
        Ok(query) => query,
        Err(BadRequest(message)) => return HttpResponse::BadRequest().body(message),
    };
    let header = request
        .headers()
        .get("last-event-id")
        .and_then(|value| value.to_str().ok());
    let query_id = query.get(resume::LAST_EVENT_ID_QUERY).map(String::as_str);
    if let Some(last_event_id) = resume::last_event_id(header, query_id) {
        let resumed = resume::resume(&shared::resume::store(), last_event_id, None).await;
        return actix_web::Responder::respond_to(resumed, &request);
    }
    let knobs = match Knobs::from_query(&query) {
        Ok(knobs) => knobs,
        Err(BadRequest(message)) => return HttpResponse::BadRequest().body(message),
    };
    if let Some(status) = knobs.status {
        return error_response(status, &shared::chat_status_body(status));
    }
    let builder = shared::configure_chat(SseStream::builder(knobs.source()), &knobs);
    if knobs.resumable {
        let stream = builder
            .resumable(shared::resume::store())
            .grace(shared::resume::grace())
            .build();
        return actix_web::Responder::respond_to(stream, &request);
    }
    actix_web::Responder::respond_to(builder.build(), &request)
}

/// `POST /streams/{id}/stop`: stops a resumable stream's generation on
/// whichever replica runs it: `202`, `200` if it had ended, `404`.
async fn stop(request: HttpRequest, id: web::Path<String>) -> HttpResponse {
    match resume::stop(&shared::resume::store(), &id, None).await {
        Ok(outcome) => {
            HttpResponse::new(StatusCode::from_u16(outcome.status()).unwrap_or(StatusCode::OK))
        }
        Err(error) => actix_web::Responder::respond_to(error, &request),
    }
}

/// `status` with a JSON error body.
fn error_response(status: u16, body: &serde_json::Value) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(body)
}

/// `POST` to one of the wire APIs: OpenAI Chat Completions or Responses,
/// Anthropic Messages, or the Vercel AI SDK UI message stream.
async fn api(api: Api, request: HttpRequest, body: Bytes) -> HttpResponse {
    match shared::api::answer(api, query_map(&request), &body).await {
        Reply::Error(error) => actix_web::Responder::respond_to(error, &request),
        Reply::Json(json) => HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(json),
        Reply::Stream(stream) => actix_web::Responder::respond_to(stream, &request),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = shared::listen_port()?;
    actix_web::rt::System::new().block_on(async move {
        shared::metrics();
        shared::resume::init()
            .await
            .map_err(std::io::Error::other)?;
        let server = HttpServer::new(|| App::new().configure(routes)).bind(("127.0.0.1", port))?;
        println!("listening on http://127.0.0.1:{}", server.addrs()[0].port());
        server.run().await
    })?;
    Ok(())
}
