//! The contract every `ResumeStore` keeps, as `MemoryStore` defines it:
//! run by `tests/resume_store.rs` on `MemoryStore` and by
//! `tests/resume_redis.rs` on `RedisStore`.
//!
//! `timeout` only guards against a hang here; no check depends on how fast
//! a store is.

#![allow(dead_code)] // each test binary uses a different subset

use std::future::{poll_fn, Future};
use std::time::Duration;

use bytes::Bytes;
use llm_sse::resume::{
    number_events, AppendAck, LogState, ReadBatch, ResumeStore, Retention, StopHandle, StopOutcome,
    StreamId,
};

/// Long enough that only a hung store reaches it.
const HANG: Duration = Duration::from_secs(30);

/// Awaits `future`, failing the test if it hangs.
pub(crate) async fn guard<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(HANG, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} hung"),
    }
}

/// The `n`th event of `stream`, as a store keeps it.
pub(crate) fn event(stream: StreamId, n: u64) -> Bytes {
    let mut events = number_events(format!("data: token {n}\n\n").as_bytes(), stream, n);
    events.remove(0)
}

/// Events `from..=to` of `stream`.
pub(crate) fn events(stream: StreamId, from: u64, to: u64) -> Vec<Bytes> {
    (from..=to).map(|n| event(stream, n)).collect()
}

/// Events `from..=to` of `stream` with their positions, as a read returns
/// them.
pub(crate) fn numbered(stream: StreamId, from: u64, to: u64) -> Vec<(u64, Bytes)> {
    (from..=to).map(|n| (n, event(stream, n))).collect()
}

pub(crate) const META: &[u8] = b"{\"format\":\"openai\"}";
pub(crate) const INTERRUPTED: &[u8] = b"event: error\ndata: {\"error\":\"interrupted\"}\n\n";

/// A new stream in `store`, and its stop switch.
pub(crate) async fn new_stream(store: &impl ResumeStore) -> (StreamId, StopHandle) {
    let stream = StreamId::random().unwrap();
    let stop = StopHandle::new();
    store
        .create(
            stream,
            Bytes::from_static(META),
            Bytes::from_static(INTERRUPTED),
            stop.clone(),
        )
        .await
        .unwrap();
    (stream, stop)
}

async fn read_now(store: &impl ResumeStore, stream: StreamId, after: u64) -> ReadBatch {
    guard("a read", store.read(stream, after, Duration::ZERO))
        .await
        .unwrap()
}

/// Reads until the log ends, gathering what came after `after`.
pub(crate) async fn read_to_end(
    store: &impl ResumeStore,
    stream: StreamId,
    mut after: u64,
) -> Vec<(u64, Bytes)> {
    let mut got = Vec::new();
    guard("reading to the end", async {
        loop {
            let batch = store
                .read(stream, after, Duration::from_millis(500))
                .await
                .unwrap();
            if let Some((seq, _)) = batch.events.last() {
                after = *seq;
            }
            got.extend(batch.events);
            match batch.state {
                LogState::Ended => return,
                LogState::Live => {}
                other => panic!("the log went {other:?} while read to its end"),
            }
        }
    })
    .await;
    got
}

/// Runs every check, each on a fresh store from `make`.
pub(crate) async fn check_store<S, F, Fut>(make: F)
where
    S: ResumeStore + Clone,
    F: Fn(Retention) -> Fut,
    Fut: Future<Output = S>,
{
    appends_are_read_in_order(make(Retention::default()).await).await;
    a_read_returns_exactly_the_later_events(make(Retention::default()).await).await;
    an_ended_log_says_so(make(Retention::default()).await).await;
    an_unknown_stream_is_unknown(make(Retention::default()).await).await;
    trimming_by_bytes_answers_trimmed(make(Retention::default()).await).await;
    trimming_by_events_answers_trimmed(make(Retention::default().max_events(3)).await).await;
    appending_after_the_end_appends_nothing(make(Retention::default()).await).await;
    stop_reaches_the_owner(make(Retention::default()).await).await;
    a_blocked_read_wakes_on_append(make(Retention::default()).await).await;
    release_ends_the_log_with_its_frame(make(Retention::default()).await).await;
}

pub(crate) async fn appends_are_read_in_order(store: impl ResumeStore) {
    let (stream, _stop) = new_stream(&store).await;
    assert_eq!(
        store.meta(stream).await.unwrap().as_deref(),
        Some(META),
        "meta as created"
    );
    let batch = read_now(&store, stream, 0).await;
    assert_eq!(batch, ReadBatch::new(Vec::new(), LogState::Live));

    let ack = store
        .append(stream, 1, events(stream, 1, 2), false)
        .await
        .unwrap();
    assert_eq!(ack, AppendAck::APPENDED);
    let ack = store
        .append(stream, 3, events(stream, 3, 3), false)
        .await
        .unwrap();
    assert_eq!(ack, AppendAck::APPENDED);
    let batch = read_now(&store, stream, 0).await;
    assert_eq!(
        batch,
        ReadBatch::new(numbered(stream, 1, 3), LogState::Live)
    );
    assert!(
        store.has_readers(stream).await.unwrap(),
        "a read marks a reader"
    );
}

pub(crate) async fn a_read_returns_exactly_the_later_events(store: impl ResumeStore) {
    let (stream, _stop) = new_stream(&store).await;
    store
        .append(stream, 1, events(stream, 1, 5), false)
        .await
        .unwrap();
    for k in 0..=5 {
        let batch = read_now(&store, stream, k).await;
        let expected = if k == 5 {
            Vec::new()
        } else {
            numbered(stream, k + 1, 5)
        };
        assert_eq!(batch, ReadBatch::new(expected, LogState::Live), "after {k}");
    }
}

pub(crate) async fn an_ended_log_says_so(store: impl ResumeStore) {
    let (stream, _stop) = new_stream(&store).await;
    store
        .append(stream, 1, events(stream, 1, 2), false)
        .await
        .unwrap();
    store
        .append(stream, 3, events(stream, 3, 3), true)
        .await
        .unwrap();
    let batch = read_now(&store, stream, 0).await;
    assert_eq!(
        batch,
        ReadBatch::new(numbered(stream, 1, 3), LogState::Ended)
    );
    let batch = read_now(&store, stream, 2).await;
    assert_eq!(
        batch,
        ReadBatch::new(numbered(stream, 3, 3), LogState::Ended)
    );
    // Fully delivered: nothing more, at once, even with a wait.
    let batch = guard("a read of an ended log", store.read(stream, 3, HANG))
        .await
        .unwrap();
    assert_eq!(batch, ReadBatch::new(Vec::new(), LogState::Ended));
    assert_eq!(store.meta(stream).await.unwrap().as_deref(), Some(META));
}

pub(crate) async fn an_unknown_stream_is_unknown(store: impl ResumeStore) {
    let stream = StreamId::random().unwrap();
    let batch = read_now(&store, stream, 0).await;
    assert_eq!(batch, ReadBatch::new(Vec::new(), LogState::Unknown));
    let batch = guard("a read of an unknown log", store.read(stream, 7, HANG))
        .await
        .unwrap();
    assert_eq!(batch, ReadBatch::new(Vec::new(), LogState::Unknown));
    assert_eq!(store.meta(stream).await.unwrap(), None);
    assert_eq!(
        store
            .append(stream, 1, events(stream, 1, 1), false)
            .await
            .unwrap(),
        AppendAck::ENDED,
        "appending to an unknown log"
    );
    assert_eq!(store.stop(stream).await.unwrap(), StopOutcome::Unknown);
}

pub(crate) async fn trimming_by_bytes_answers_trimmed(store: impl ResumeStore) {
    // The store under test keeps 1 MiB: events of 300 KiB, four of them.
    let (stream, _stop) = new_stream(&store).await;
    let big = |n: u64| {
        let data = format!("data: {}\n\n", "x".repeat(300 * 1024));
        number_events(data.as_bytes(), stream, n).remove(0)
    };
    for n in 1..=5 {
        store.append(stream, n, vec![big(n)], false).await.unwrap();
    }
    let batch = read_now(&store, stream, 0).await;
    assert_eq!(batch, ReadBatch::new(Vec::new(), LogState::Trimmed));
    let batch = read_now(&store, stream, 1).await;
    assert_eq!(batch, ReadBatch::new(Vec::new(), LogState::Trimmed));
    let batch = read_now(&store, stream, 2).await;
    let kept: Vec<u64> = batch.events.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(kept, [3, 4, 5]);
    assert_eq!(batch.events[0].1, big(3));
    assert_eq!(batch.state, LogState::Live);
}

pub(crate) async fn trimming_by_events_answers_trimmed(store: impl ResumeStore) {
    // The store under test keeps 3 events.
    let (stream, _stop) = new_stream(&store).await;
    store
        .append(stream, 1, events(stream, 1, 4), false)
        .await
        .unwrap();
    store
        .append(stream, 5, events(stream, 5, 6), true)
        .await
        .unwrap();
    for after in 0..3 {
        let batch = read_now(&store, stream, after).await;
        assert_eq!(
            batch,
            ReadBatch::new(Vec::new(), LogState::Trimmed),
            "after {after}"
        );
    }
    let batch = read_now(&store, stream, 3).await;
    assert_eq!(
        batch,
        ReadBatch::new(numbered(stream, 4, 6), LogState::Ended)
    );
}

pub(crate) async fn appending_after_the_end_appends_nothing(store: impl ResumeStore) {
    let (stream, _stop) = new_stream(&store).await;
    store
        .append(stream, 1, events(stream, 1, 1), true)
        .await
        .unwrap();
    let ack = store
        .append(stream, 2, events(stream, 2, 2), false)
        .await
        .unwrap();
    assert_eq!(ack, AppendAck::ENDED);
    let ack = store
        .append(stream, 2, events(stream, 2, 2), true)
        .await
        .unwrap();
    assert_eq!(ack, AppendAck::ENDED);
    let batch = read_now(&store, stream, 0).await;
    assert_eq!(
        batch,
        ReadBatch::new(numbered(stream, 1, 1), LogState::Ended)
    );
}

/// Waits for `stop` to be triggered.
pub(crate) async fn stopped(stop: &StopHandle) {
    guard("the stop handle", poll_fn(|cx| stop.poll_stopped(cx))).await;
}

pub(crate) async fn stop_reaches_the_owner(store: impl ResumeStore) {
    let (stream, stop) = new_stream(&store).await;
    assert!(!stop.is_stopped());
    assert_eq!(store.stop(stream).await.unwrap(), StopOutcome::Stopping);
    stopped(&stop).await;

    let (ended, ended_stop) = new_stream(&store).await;
    store
        .append(ended, 1, events(ended, 1, 1), true)
        .await
        .unwrap();
    assert_eq!(store.stop(ended).await.unwrap(), StopOutcome::Ended);
    assert!(!ended_stop.is_stopped(), "an ended stream is not stopped");

    let unknown = StreamId::random().unwrap();
    assert_eq!(store.stop(unknown).await.unwrap(), StopOutcome::Unknown);
}

pub(crate) async fn a_blocked_read_wakes_on_append<S: ResumeStore + Clone>(store: S) {
    let (stream, _stop) = new_stream(&store).await;
    store
        .append(stream, 1, events(stream, 1, 1), false)
        .await
        .unwrap();
    let writer = store.clone();
    let append = tokio::spawn(async move {
        // Most likely after the read below blocked; either order must work.
        tokio::time::sleep(Duration::from_millis(100)).await;
        writer
            .append(stream, 2, events(stream, 2, 3), false)
            .await
            .unwrap()
    });
    // A wait far longer than the hang guard: only the append ends it.
    let batch = guard("a blocked read", async {
        loop {
            let batch = store
                .read(stream, 1, Duration::from_secs(3600))
                .await
                .unwrap();
            // A store may cap a wait and answer "nothing yet".
            if !batch.events.is_empty() || batch.state != LogState::Live {
                return batch;
            }
        }
    })
    .await;
    assert_eq!(
        batch,
        ReadBatch::new(numbered(stream, 2, 3), LogState::Live)
    );
    assert_eq!(append.await.unwrap(), AppendAck::APPENDED);

    // The end wakes a reader too.
    let writer = store.clone();
    let end = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        writer
            .append(stream, 4, events(stream, 4, 4), true)
            .await
            .unwrap()
    });
    assert_eq!(read_to_end(&store, stream, 3).await, numbered(stream, 4, 4));
    assert_eq!(end.await.unwrap(), AppendAck::APPENDED);
}

pub(crate) async fn release_ends_the_log_with_its_frame(store: impl ResumeStore) {
    let (stream, _stop) = new_stream(&store).await;
    store
        .append(stream, 1, events(stream, 1, 2), false)
        .await
        .unwrap();
    let frame = number_events(INTERRUPTED, stream, 3).remove(0);
    store.release(stream, 3, frame.clone());
    let got = read_to_end(&store, stream, 2).await;
    assert_eq!(got, [(3, frame.clone())]);
    // Once: a second release of an ended log does nothing.
    store.release(stream, 4, frame);
    let batch = read_now(&store, stream, 0).await;
    assert_eq!(batch.state, LogState::Ended);
    assert_eq!(batch.events.len(), 3);
}
