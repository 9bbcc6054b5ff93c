//! Observation: the end fires exactly once with the right outcome, counts
//! and virtual-time durations, for every way a stream can end.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{at, scripted, Step};
use futures_util::StreamExt;
use llm_sse::adapters::{Batch, Timeouts};
use llm_sse::observe::{ChunkStats, Observer, Outcome, StreamSummary};
use llm_sse::SseStream;

#[derive(Debug, Clone, PartialEq)]
enum Call {
    Start,
    FirstToken(Duration),
    Chunk(ChunkStats),
    Heartbeat,
    Error(Outcome, String),
    End(StreamSummary),
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Call>>>);

impl Recorder {
    fn calls(&self) -> Vec<Call> {
        self.0.lock().unwrap().clone()
    }

    fn ends(&self) -> Vec<StreamSummary> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::End(s) => Some(s),
                _ => None,
            })
            .collect()
    }
}

impl Observer for Recorder {
    fn on_start(&mut self) {
        self.0.lock().unwrap().push(Call::Start);
    }
    fn on_first_token(&mut self, ttft: Duration) {
        self.0.lock().unwrap().push(Call::FirstToken(ttft));
    }
    fn on_chunk(&mut self, chunk: ChunkStats) {
        self.0.lock().unwrap().push(Call::Chunk(chunk));
    }
    fn on_heartbeat(&mut self) {
        self.0.lock().unwrap().push(Call::Heartbeat);
    }
    fn on_error(&mut self, outcome: Outcome, message: &str) {
        self.0
            .lock()
            .unwrap()
            .push(Call::Error(outcome, message.to_owned()));
    }
    fn on_end(&mut self, summary: &StreamSummary) {
        self.0.lock().unwrap().push(Call::End(summary.clone()));
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn body(steps: Vec<Step>, recorder: &Recorder) -> impl futures_util::Stream<Item = bytes::Bytes> {
    SseStream::builder(scripted(steps, None))
        .batch(Batch::tokens(2).max_delay(ms(30)))
        .heartbeat(ms(100))
        .timeouts(Timeouts::new().idle(ms(500)))
        .catch_panics(true)
        .observe(recorder.clone())
        .build()
}

#[tokio::test(start_paused = true)]
async fn completed_stream() {
    let recorder = Recorder::default();
    let steps = vec![
        at(20, "ab"),
        at(25, "c"),
        at(30, "d"),
        at(250, "e"),
        Step::EndAt(260),
    ];
    let frames: Vec<_> = body(steps, &recorder).collect().await;
    // "ab" at 20; "cd" at 30; heartbeat at 130 and 230; "e" at 250; [DONE]
    assert_eq!(frames.len(), 6);
    let calls = recorder.calls();
    assert_eq!(calls[0], Call::Start);
    assert_eq!(calls[1], Call::FirstToken(ms(20)));
    assert_eq!(chunk(&calls[2]), (1, len("data: ab\n\n"), None));
    assert_eq!(chunk(&calls[3]), (2, len("data: cd\n\n"), Some(ms(10))));
    assert_eq!(calls[4], Call::Heartbeat);
    assert_eq!(calls[5], Call::Heartbeat);
    assert_eq!(chunk(&calls[6]), (1, len("data: e\n\n"), Some(ms(220))));
    let [end] = &recorder.ends()[..] else {
        panic!("{calls:?}")
    };
    assert_eq!(end.outcome, Outcome::Completed);
    assert_eq!(end.ttft, Some(ms(20)));
    assert_eq!(end.duration, ms(260));
    assert_eq!((end.tokens, end.chunks, end.heartbeats), (4, 3, 2));
    let wire: u64 = frames.iter().map(|f| f.len() as u64).sum();
    assert_eq!(end.bytes, wire);
    assert_eq!(end.error, None);
    assert_eq!(calls.len(), 8);
}

/// A chunk call as (tokens, frame bytes, gap).
fn chunk(call: &Call) -> (u64, u64, Option<Duration>) {
    match call {
        Call::Chunk(c) => (c.tokens, c.bytes, c.gap),
        other => panic!("not a chunk: {other:?}"),
    }
}

fn len(frame: &str) -> u64 {
    frame.len() as u64
}

#[tokio::test(start_paused = true)]
async fn failed_stream() {
    let recorder = Recorder::default();
    let steps = vec![at(10, "a"), Step::FailAt(40, "overloaded")];
    let frames: Vec<_> = body(steps, &recorder).collect().await;
    assert_eq!(frames.len(), 2);
    assert!(recorder
        .calls()
        .contains(&Call::Error(Outcome::Failed, "overloaded".into())));
    let [end] = &recorder.ends()[..] else {
        panic!()
    };
    assert_eq!(end.outcome, Outcome::Failed);
    assert_eq!(end.error.as_deref(), Some("overloaded"));
    assert_eq!((end.tokens, end.duration), (1, ms(40)));
}

#[tokio::test(start_paused = true)]
async fn caught_panic() {
    let recorder = Recorder::default();
    let frames: Vec<_> = body(vec![at(10, "a"), Step::PanicAt(15)], &recorder)
        .collect()
        .await;
    assert_eq!(frames.len(), 2);
    let [end] = &recorder.ends()[..] else {
        panic!()
    };
    assert_eq!(end.outcome, Outcome::Failed);
    assert_eq!(
        end.error.as_deref(),
        Some("the token stream panicked: model exploded")
    );
    assert_eq!(end.duration, ms(15));
}

#[tokio::test(start_paused = true)]
async fn timed_out() {
    let recorder = Recorder::default();
    let frames: Vec<_> = body(vec![at(10, "a"), at(2000, "late")], &recorder)
        .collect()
        .await;
    // "a", heartbeats at 110..=410, then the timeout at 510
    assert_eq!(frames.len(), 6);
    let [end] = &recorder.ends()[..] else {
        panic!()
    };
    assert_eq!(end.outcome, Outcome::TimedOut);
    assert_eq!(end.duration, ms(510));
    assert_eq!(end.heartbeats, 4);
}

#[tokio::test(start_paused = true)]
async fn dropped_mid_stream() {
    let recorder = Recorder::default();
    let mut stream = Box::pin(body(
        vec![at(10, "a"), at(20, "b"), at(30, "c"), at(5000, "d")],
        &recorder,
    ));
    stream.next().await;
    stream.next().await;
    tokio::time::sleep(ms(70)).await;
    assert!(recorder.ends().is_empty());
    drop(stream);
    let [end] = &recorder.ends()[..] else {
        panic!()
    };
    assert_eq!(end.outcome, Outcome::Cancelled);
    assert_eq!((end.tokens, end.chunks), (3, 2));
    assert_eq!(end.duration, ms(100));
}

#[tokio::test(start_paused = true)]
async fn dropped_before_the_first_poll() {
    let recorder = Recorder::default();
    drop(body(vec![at(10, "a")], &recorder));
    let calls = recorder.calls();
    assert_eq!(calls.len(), 1, "no start, one end: {calls:?}");
    let [end] = &recorder.ends()[..] else {
        panic!()
    };
    assert_eq!(end.outcome, Outcome::Cancelled);
    assert_eq!(
        (end.tokens, end.duration, end.ttft),
        (0, Duration::ZERO, None)
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_after_the_last_frame_counts_as_completed() {
    let recorder = Recorder::default();
    let mut stream = Box::pin(body(vec![at(10, "a"), Step::EndAt(20)], &recorder));
    assert_eq!(stream.next().await.unwrap(), "data: a\n\n");
    assert_eq!(stream.next().await.unwrap(), "data: [DONE]\n\n");
    drop(stream);
    let [end] = &recorder.ends()[..] else {
        panic!()
    };
    assert_eq!(end.outcome, Outcome::Completed);
}

#[tokio::test(start_paused = true)]
async fn polling_after_the_end_does_not_end_twice() {
    let recorder = Recorder::default();
    let mut stream = Box::pin(body(vec![at(1, "a"), Step::EndAt(2)], &recorder));
    while stream.next().await.is_some() {}
    assert!(stream.next().await.is_none());
    drop(stream);
    assert_eq!(recorder.ends().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_completion_hook_runs_once_after_the_last_frame_for_every_outcome() {
    for (steps, outcome) in [
        (vec![at(1, "a"), Step::EndAt(2)], Outcome::Completed),
        (vec![at(1, "a"), Step::FailAt(2, "x")], Outcome::Failed),
    ] {
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let last_frame_taken = Arc::new(Mutex::new(false));
        let taken2 = last_frame_taken.clone();
        let mut stream = SseStream::builder(scripted(steps, None))
            .capture_text(true)
            .on_complete(move |summary: StreamSummary| {
                let taken = *taken2.lock().unwrap();
                let _ = seen_tx.send((summary, taken));
            })
            .build();
        let mut frames = 0;
        while let Some(_frame) = stream.next().await {
            frames += 1;
            if frames == 2 {
                *last_frame_taken.lock().unwrap() = true;
            }
        }
        drop(stream);
        // The hook runs on the blocking pool; it hands its summary over once
        // and drops its sender, which ends the channel.
        let (summary, after_last_frame) = seen.recv().await.expect("the hook ran");
        assert!(seen.recv().await.is_none(), "it ran once");
        assert!(after_last_frame);
        assert_eq!(summary.outcome, outcome);
        assert_eq!(summary.text.as_deref(), Some("a"));
    }
}

#[tokio::test(start_paused = true)]
async fn the_completion_hook_runs_when_the_client_goes_away() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut stream = SseStream::builder(scripted(vec![at(1, "a"), at(9999, "b")], None))
        .on_complete(move |summary: StreamSummary| {
            let _ = tx.send(summary.outcome);
        })
        .build();
    stream.next().await;
    drop(stream);
    assert_eq!(rx.await.unwrap(), Outcome::Cancelled);
}
