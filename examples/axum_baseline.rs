//! The load benchmark's baseline: the same mock model behind axum's own
//! `Sse` and `KeepAlive`, one event per token, as most services do it today.
//!
//! Run with
//!
//! ```sh
//! cargo run --release --example axum_baseline --features full
//! ```
//!
//! It serves only `GET /chat` with the same knobs as `axum_chat` (batching
//! and formats aside; `engine=1` included), ends with `data: [DONE]`, and
//! sets `TCP_NODELAY`.

use std::collections::HashMap;
use std::convert::Infallible;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::{stream, StreamExt};
use llm_sse::Delta;

#[path = "shared/mod.rs"]
mod shared;

async fn chat(Query(query): Query<HashMap<String, String>>) -> Response {
    let knobs = match shared::Knobs::from_query(&query) {
        Ok(knobs) => knobs,
        Err(shared::BadRequest(message)) => {
            return (StatusCode::BAD_REQUEST, message).into_response()
        }
    };
    // The same mock model (with `engine=1`, fed by the same shared engine,
    // through a tokio channel as a hand-written handler would use); its
    // text becomes events, usage and the finish reason are left out, as a
    // hand-written text endpoint would.
    let model = if knobs.engine {
        let (sender, mut receiver) = tokio::sync::mpsc::channel(shared::ENGINE_CAPACITY);
        shared::engine::register(&knobs, Box::new(sender));
        stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed()
    } else {
        knobs.model().boxed()
    };
    let events = model
        .filter_map(|delta| {
            std::future::ready(match delta {
                Ok(Delta::Text(text)) => Some(Ok::<_, Infallible>(Event::default().data(text))),
                Ok(_) => None,
                Err(err) => Some(Ok(Event::default().event("error").data(err.to_string()))),
            })
        })
        .chain(stream::once(async { Ok(Event::default().data("[DONE]")) }));
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(knobs.heartbeat))
        .into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::serve_axum(Router::new().route("/chat", get(chat))).await
}
