//! Errors and panics: pending text is not lost, exactly one error event,
//! then the end, and the upstream is dropped.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{at, drop_flag, scripted, texts, timed, Step};
use llm_sse::adapters::Batch;
use llm_sse::{Error, Event, SseStream};

async fn pipeline_out(steps: Vec<Step>, catch_panics: bool) -> (Vec<(u64, String)>, bool) {
    let (dropped, guard) = drop_flag();
    let body = SseStream::builder(scripted(steps, Some(guard)))
        .batch(Batch::tokens(10).max_delay(Duration::from_millis(100)))
        .heartbeat(Duration::ZERO)
        .catch_panics(catch_panics)
        .build();
    let out = texts(timed(body).await);
    (out, dropped.load(Ordering::SeqCst))
}

#[tokio::test(start_paused = true)]
async fn upstream_error_flushes_pending_then_one_error_event_then_the_end() {
    let steps = vec![
        at(0, "a"),
        at(1, "b"),
        at(2, "c"),
        Step::FailAt(3, "model \"overloaded\""),
        at(4, "never"),
    ];
    let (out, dropped) = pipeline_out(steps, false).await;
    assert_eq!(
        out,
        [
            (0, "data: a\n\n".to_owned()),
            (3, "data: bc\n\n".to_owned()),
            (
                3,
                "event: error\ndata: {\"error\":{\"message\":\"model \\\"overloaded\\\"\",\"type\":\"upstream_error\"}}\n\n"
                    .to_owned()
            ),
        ]
    );
    assert!(dropped, "the upstream is dropped as soon as it fails");
}

#[tokio::test(start_paused = true)]
async fn caught_panic_ends_the_stream_the_same_way() {
    let steps = vec![at(0, "a"), at(1, "b"), Step::PanicAt(2)];
    let (out, dropped) = pipeline_out(steps, true).await;
    assert_eq!(
        out,
        [
            (0, "data: a\n\n".to_owned()),
            (2, "data: b\n\n".to_owned()),
            (
                2,
                "event: error\ndata: {\"error\":{\"message\":\"the token stream panicked: model exploded\",\"type\":\"internal_error\"}}\n\n"
                    .to_owned()
            ),
        ]
    );
    assert!(dropped);
}

#[tokio::test(start_paused = true)]
async fn the_error_event_and_done_marker_can_be_replaced() {
    let body = SseStream::builder(scripted(
        vec![at(0, "a"), Step::FailAt(1, "secret detail")],
        None,
    ))
    .heartbeat(Duration::ZERO)
    .on_error(|error: &Error<common::ModelError>| {
        Event::new(format!(
            "{{\"error\":{{\"type\":\"{}\"}}}}",
            error.kind_name()
        ))
    })
    .build();
    let out = texts(timed(body).await);
    assert_eq!(
        out[1].1,
        "data: {\"error\":{\"type\":\"upstream_error\"}}\n\n"
    );

    let body = SseStream::builder(scripted(vec![at(0, "a"), Step::EndAt(1)], None))
        .heartbeat(Duration::ZERO)
        .done(Some(
            Event::builder().event("end").data("").build().unwrap(),
        ))
        .build();
    assert_eq!(texts(timed(body).await)[1].1, "event: end\ndata:\n\n");

    let body = SseStream::builder(scripted(vec![at(0, "a"), Step::EndAt(1)], None))
        .heartbeat(Duration::ZERO)
        .done(None)
        .build();
    assert_eq!(texts(timed(body).await).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_stream_drops_the_upstream_at_once() {
    use futures_util::StreamExt;
    let (dropped, guard) = drop_flag();
    let mut body =
        SseStream::builder(scripted(vec![at(0, "a"), at(10_000, "b")], Some(guard))).build();
    assert_eq!(body.next().await.unwrap(), "data: a\n\n");
    assert!(!dropped.load(Ordering::SeqCst));
    drop(body);
    assert!(dropped.load(Ordering::SeqCst));
}
