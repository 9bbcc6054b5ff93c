//! actix-web over real TCP on loopback: incremental delivery, headers,
//! client disconnect, errors.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpServer, Responder};
use common::http::{check_incremental_delivery, SseClient};
use common::{channel_tokens, ModelError};
use llm_sse::adapters::Batch;
use llm_sse::decode::Frame;
use llm_sse::observe::{Observer, Outcome, StreamSummary};
use llm_sse::SseStream;
use tokio::sync::mpsc;

/// Sends each outcome to the test, across runtimes.
#[derive(Clone)]
struct Ends(mpsc::UnboundedSender<Outcome>);

impl Observer for Ends {
    fn on_end(&mut self, summary: &StreamSummary) {
        let _ = self.0.send(summary.outcome);
    }
}

/// Runs an actix-web server on its own thread and runtime, with one route
/// whose handler builds the response from `make` once.
fn serve<F, R>(make: F) -> SocketAddr
where
    F: FnOnce() -> R + Send + 'static,
    R: Responder + 'static,
{
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let make = Arc::new(Mutex::new(Some(make)));
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                let make = make.clone();
                App::new().route(
                    "/chat",
                    web::get().to(move || {
                        let make = make.lock().unwrap().take().expect("one request per test");
                        async move { make() }
                    }),
                )
            })
            .workers(1)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap();
            addr_tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    addr_rx.recv().unwrap()
}

#[tokio::test]
async fn tokens_arrive_one_by_one_with_the_sse_headers() {
    let (tx, tokens, _) = channel_tokens();
    let addr = serve(move || SseStream::builder(tokens).batch(Batch::off()).build());
    check_incremental_delivery(SseClient::get(addr, "/chat").await, tx).await;
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_model() {
    let (tx, tokens, dropped) = channel_tokens();
    let (ends_tx, mut ends) = mpsc::unbounded_channel();
    let addr = serve(move || {
        SseStream::builder(tokens)
            .batch(Batch::off())
            .observe(Ends(ends_tx))
            .build()
    });
    let mut client = SseClient::get(addr, "/chat").await;
    tx.send(Ok("a".into())).unwrap();
    assert_eq!(client.next_data().await.as_deref(), Some("a"));
    drop(client);
    // actix notices the closed socket on its next write: a heartbeat or a
    // token. Send tokens until the stream is dropped.
    let outcome = loop {
        tokio::select! {
            outcome = ends.recv() => break outcome,
            () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {
                let _ = tx.send(Ok("more".into()));
            }
        }
    };
    assert_eq!(outcome, Some(Outcome::Cancelled));
    assert!(ends.try_recv().is_err(), "exactly one end");
    // The drop runs on the server's thread right after the end hook.
    while !dropped.load(Ordering::SeqCst) {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn an_upstream_error_is_an_error_event_then_a_clean_end() {
    let (tx, tokens, _) = channel_tokens();
    let addr = serve(move || SseStream::builder(tokens).batch(Batch::off()).build());
    let mut client = SseClient::get(addr, "/chat").await;
    tx.send(Ok("partial".into())).unwrap();
    tx.send(Err(ModelError("model crashed"))).unwrap();
    assert_eq!(client.next_data().await.as_deref(), Some("partial"));
    let Some(Frame::Event(error)) = client.next().await else {
        panic!("an error event")
    };
    assert_eq!(error.event(), Some("error"));
    assert_eq!(client.next().await, None);
    assert!(client.ended);
}
