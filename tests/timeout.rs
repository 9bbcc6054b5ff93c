//! Timeouts on tokio's paused clock: each fires at its exact time, ends the
//! stream with an error event and drops the upstream at once.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{at, drop_flag, scripted, texts, timed, Step};
use futures_util::{StreamExt, TryStreamExt};
use llm_sse::adapters::{Batch, Timeouts};
use llm_sse::{Error, SseStream, TimeoutKind, TokenStreamExt, TokioTimer};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn run(steps: Vec<Step>, timeouts: Timeouts) -> (Vec<(u64, String)>, bool) {
    let (dropped, guard) = drop_flag();
    let tokens = scripted(steps, Some(guard));
    let body = SseStream::builder(tokens)
        .batch(Batch::off())
        .heartbeat(Duration::ZERO)
        .timeouts(timeouts)
        .build();
    let out = texts(timed(body).await);
    (out, dropped.load(Ordering::SeqCst))
}

fn error_frame(message: &str) -> String {
    format!(
        "event: error\ndata: {{\"error\":{{\"message\":\"{message}\",\"type\":\"timeout\"}}}}\n\n"
    )
}

#[tokio::test(start_paused = true)]
async fn time_to_first_token() {
    let (out, dropped) = run(
        vec![at(500, "late"), Step::EndAt(600)],
        Timeouts::new().first_token(ms(200)),
    )
    .await;
    assert_eq!(
        out,
        [(200, error_frame("time to first token of 200ms passed"))]
    );
    assert!(dropped);
}

#[tokio::test(start_paused = true)]
async fn idle_gap_between_tokens() {
    let steps = vec![at(0, "a"), at(90, "b"), at(250, "c"), Step::EndAt(300)];
    let (out, dropped) = run(steps, Timeouts::new().first_token(ms(1000)).idle(ms(100))).await;
    assert_eq!(
        out,
        [
            (0, "data: a\n\n".to_owned()),
            (90, "data: b\n\n".to_owned()),
            (190, error_frame("idle time between tokens of 100ms passed")),
        ]
    );
    assert!(dropped);
}

#[tokio::test(start_paused = true)]
async fn total_deadline() {
    let steps: Vec<Step> = (0..100).map(|i| at(i * 10, "x")).collect();
    let (out, dropped) = run(steps, Timeouts::new().idle(ms(50)).total(ms(35))).await;
    let last = out.last().unwrap();
    assert_eq!(last, &(35, error_frame("stream deadline of 35ms passed")));
    assert_eq!(out.len(), 5); // tokens at 0, 10, 20, 30, then the error
    assert!(dropped);
}

#[tokio::test(start_paused = true)]
async fn no_timeout_when_tokens_are_in_time() {
    let steps = vec![at(50, "a"), at(140, "b"), Step::EndAt(200)];
    let (out, dropped) = run(
        steps,
        Timeouts::new()
            .first_token(ms(60))
            .idle(ms(100))
            .total(ms(1000)),
    )
    .await;
    assert_eq!(
        out,
        [
            (50, "data: a\n\n".to_owned()),
            (140, "data: b\n\n".to_owned()),
            (200, "data: [DONE]\n\n".to_owned()),
        ]
    );
    assert!(dropped);
}

#[tokio::test(start_paused = true)]
async fn the_adapter_alone_yields_a_timed_out_error() {
    let tokens = scripted(vec![at(500, "late")], None);
    let mut timed_out = tokens
        .map_err(Error::Upstream)
        .timeout(Timeouts::new().first_token(ms(20)), TokioTimer);
    match timed_out.next().await {
        Some(Err(Error::TimedOut(t))) => {
            assert_eq!(t.kind, TimeoutKind::FirstToken);
            assert_eq!(t.after, ms(20));
        }
        other => panic!("{other:?}"),
    }
    assert!(timed_out.next().await.is_none());
    assert!(timed_out.get_ref().is_none(), "upstream dropped");
}
