//! axum over real TCP on loopback: incremental delivery, headers, client
//! disconnect under both policies, errors, heartbeats, h2c, backpressure.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use common::http::{check_incremental_delivery, SseClient};
use common::{channel_tokens, ModelError};
use futures_util::{stream, StreamExt};
use llm_sse::adapters::Batch;
use llm_sse::decode::Frame;
use llm_sse::observe::{Observer, Outcome, StreamSummary};
use llm_sse::SseStream;
use tokio::sync::Notify;

/// Notes each end and wakes the test.
#[derive(Clone, Default)]
struct Ends {
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    notify: Arc<Notify>,
}

impl Observer for Ends {
    fn on_end(&mut self, summary: &StreamSummary) {
        self.outcomes.lock().unwrap().push(summary.outcome);
        self.notify.notify_one();
    }
}

impl Ends {
    async fn wait(&self) -> Vec<Outcome> {
        self.notify.notified().await;
        self.outcomes.lock().unwrap().clone()
    }
}

/// Serves one route whose handler builds the response from `make` once.
async fn serve<R>(make: impl FnOnce() -> R + Send + 'static) -> SocketAddr
where
    R: axum::response::IntoResponse + Send + 'static,
{
    let make = Arc::new(Mutex::new(Some(make)));
    let app = Router::new().route(
        "/chat",
        get(move || {
            let make = make.lock().unwrap().take().expect("one request per test");
            async move { make() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn tokens_arrive_one_by_one_with_the_sse_headers() {
    let (tx, tokens, _) = channel_tokens();
    let addr = serve(move || SseStream::builder(tokens).batch(Batch::off()).build()).await;
    check_incremental_delivery(SseClient::get(addr, "/chat").await, tx).await;
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_model() {
    let (tx, tokens, dropped) = channel_tokens();
    let ends = Ends::default();
    let observer = ends.clone();
    let addr = serve(move || {
        SseStream::builder(tokens)
            .batch(Batch::off())
            .observe(observer)
            .build()
    })
    .await;
    let mut client = SseClient::get(addr, "/chat").await;
    tx.send(Ok("a".into())).unwrap();
    assert_eq!(client.next_data().await.as_deref(), Some("a"));
    drop(client);
    assert_eq!(ends.wait().await, [Outcome::Cancelled]);
    assert!(
        dropped.load(Ordering::SeqCst),
        "the token stream was dropped"
    );
    assert!(
        tx.send(Ok("b".into())).is_err(),
        "nobody listens for tokens any more"
    );
}

#[tokio::test]
async fn finish_on_disconnect_runs_the_model_to_its_end() {
    let (tx, tokens, dropped) = channel_tokens();
    let ends = Ends::default();
    let observer = ends.clone();
    let addr = serve(move || {
        SseStream::builder(tokens)
            .batch(Batch::off())
            .observe(observer)
            .build()
            .finish_on_disconnect()
    })
    .await;
    let mut client = SseClient::get(addr, "/chat").await;
    tx.send(Ok("a".into())).unwrap();
    assert_eq!(client.next_data().await.as_deref(), Some("a"));
    drop(client);
    // The model keeps going: its tokens are still taken.
    for token in ["b", "c", "d"] {
        tx.send(Ok(token.into())).unwrap();
    }
    assert!(!dropped.load(Ordering::SeqCst));
    drop(tx);
    assert_eq!(ends.wait().await, [Outcome::CompletedAfterDisconnect]);
    assert!(dropped.load(Ordering::SeqCst));
}

#[tokio::test]
async fn an_upstream_error_is_an_error_event_then_a_clean_end() {
    let (tx, tokens, _) = channel_tokens();
    let addr = serve(move || SseStream::builder(tokens).batch(Batch::off()).build()).await;
    let mut client = SseClient::get(addr, "/chat").await;
    tx.send(Ok("partial".into())).unwrap();
    tx.send(Err(ModelError("model crashed"))).unwrap();
    assert_eq!(client.next_data().await.as_deref(), Some("partial"));
    let Some(Frame::Event(error)) = client.next().await else {
        panic!("an error event")
    };
    assert_eq!(error.event(), Some("error"));
    assert_eq!(
        error.data(),
        Some(r#"{"error":{"message":"model crashed","type":"upstream_error"}}"#)
    );
    assert_eq!(client.next().await, None);
    assert!(client.ended);
}

#[tokio::test]
async fn heartbeats_flow_while_the_model_is_quiet() {
    let (tx, tokens, _) = channel_tokens();
    let addr = serve(move || {
        SseStream::builder(tokens)
            .heartbeat(Duration::from_millis(20))
            .initial_comment(true)
            .build()
    })
    .await;
    let mut client = SseClient::get(addr, "/chat").await;
    assert_eq!(
        client.next().await,
        Some(Frame::Comment("ping".into())),
        "initial comment"
    );
    assert_eq!(
        client.next().await,
        Some(Frame::Comment("ping".into())),
        "a heartbeat"
    );
    tx.send(Ok("late".into())).unwrap();
    assert_eq!(client.next_data().await.as_deref(), Some("late"));
}

#[tokio::test]
async fn h2c_streams_incrementally_too() {
    use http_body_util::BodyExt;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let (tx, tokens, _) = channel_tokens();
    let addr = serve(move || SseStream::builder(tokens).batch(Batch::off()).build()).await;
    let socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(socket))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = http::Request::get(format!("http://{addr}/chat"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.headers().get("connection").is_none());
    let mut body = response.into_body();
    tx.send(Ok("one".into())).unwrap();
    let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(frame, "data: one\n\n");
    tx.send(Ok("two".into())).unwrap();
    let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(frame, "data: two\n\n");
}

#[tokio::test]
async fn a_client_that_reads_nothing_stops_the_model() {
    let produced = Arc::new(AtomicU64::new(0));
    let counter = produced.clone();
    // A model that could produce a hundred million tokens without waiting.
    let endless = stream::iter(0..100_000_000u64).map(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
        Ok::<_, ModelError>("token ")
    });
    let addr = serve(move || SseStream::builder(endless).build()).await;
    let client = SseClient::get(addr, "/chat").await;
    // Wait until the server stops pulling tokens: the socket buffers are full.
    let mut last = u64::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = produced.load(Ordering::Relaxed);
        if now == last {
            break;
        }
        last = now;
    }
    eprintln!("tokens pulled for a client that reads nothing: {last}");
    // Only as far as the socket buffers (a few MB at ~8 bytes a token) allow.
    assert!(last > 0);
    assert!(
        last < 3_000_000,
        "{last} tokens pulled for a client that reads nothing"
    );
    drop(client);
}
