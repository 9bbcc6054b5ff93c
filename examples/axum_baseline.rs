//! The load benchmark's baseline: the same mock model behind axum's own
//! `Sse` and `KeepAlive`, one event per token, as most services do it today.
//!
//! Run with
//!
//! ```sh
//! cargo run --release --example axum_baseline --features full
//! ```
//!
//! It serves only `GET /chat` with the same knobs as `axum_chat` (formats
//! aside; `engine=1` included), ends with `data: [DONE]`, and sets
//! `TCP_NODELAY`. `batch=N` (with `batch_ms`) groups answer tokens by hand,
//! as a handler without llm-sse would: the first at once, then up to `N`
//! per event, each group sent `batch_ms` after its first token at the
//! latest.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::{stream, Stream, StreamExt};
use llm_sse::Delta;
use shared::MockError;

#[path = "shared/mod.rs"]
pub(crate) mod shared;

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
    let model = if knobs.batch > 1 {
        grouped(model, knobs.batch, knobs.batch_delay).boxed()
    } else {
        model
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

/// Answer tokens joined by hand, up to `size` per item: the first token at
/// once, and each later group once it is full or `max_delay` after its
/// first token. Other deltas are dropped (the text endpoint leaves them
/// out); an error ends the group it arrives in and follows it.
pub(crate) fn grouped<S>(
    model: S,
    size: usize,
    max_delay: Duration,
) -> impl Stream<Item = Result<Delta, MockError>> + Send
where
    S: Stream<Item = Result<Delta, MockError>> + Send + Unpin,
{
    // The model (fused: a group may have seen its end already), whether the
    // first token went out, and an error to send after the group it ended.
    stream::unfold(
        (model.fuse(), false, None),
        move |(mut model, started, error)| async move {
            if let Some(error) = error {
                return Some((Err(error), (model, started, None)));
            }
            let mut joined = loop {
                match model.next().await? {
                    Ok(Delta::Text(text)) => break text.into_owned(),
                    Ok(_) => {}
                    Err(error) => return Some((Err(error), (model, started, None))),
                }
            };
            if !started {
                return Some((Ok(Delta::text(joined)), (model, true, None)));
            }
            let deadline = tokio::time::Instant::now() + max_delay;
            let mut tokens = 1;
            let mut error = None;
            while tokens < size {
                match tokio::time::timeout_at(deadline, model.next()).await {
                    Ok(Some(Ok(Delta::Text(text)))) => {
                        joined.push_str(&text);
                        tokens += 1;
                    }
                    Ok(Some(Ok(_))) => {}
                    Ok(Some(Err(failed))) => {
                        error = Some(failed);
                        break;
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            Some((Ok(Delta::text(joined)), (model, true, error)))
        },
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::serve_axum(Router::new().route("/chat", get(chat))).await
}
