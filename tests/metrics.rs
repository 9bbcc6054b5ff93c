//! The `metrics` observer records the documented names, labels and values.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{at, scripted, Step};
use futures_util::{FutureExt, StreamExt};
use llm_sse::adapters::Batch;
use llm_sse::observe::MetricsObserver;
use llm_sse::{Delta, SseStream};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// Metric name plus sorted labels → value.
fn snapshot(recorder: &DebuggingRecorder) -> BTreeMap<String, DebugValue> {
    recorder
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            (format!("{}{{{}}}", key.name(), labels.join(",")), value)
        })
        .collect()
}

fn seconds(values: &[f64]) -> DebugValue {
    DebugValue::Histogram(values.iter().map(|v| (*v).into()).collect())
}

#[tokio::test(start_paused = true)]
async fn records_the_documented_metrics() {
    let recorder = DebuggingRecorder::new();
    let steps = vec![
        at(100, "a"),
        at(110, "b"),
        at(120, "c"),
        at(1300, "d"),
        Step::FailAt(1400, "boom"),
    ];
    let mut body = SseStream::builder(scripted(steps, None))
        .batch(Batch::tokens(2).max_delay(Duration::from_millis(50)))
        .heartbeat(Duration::from_secs(1))
        .observe(MetricsObserver::new().label("route", "chat"))
        .build();
    let mut frames = Vec::new();
    loop {
        // Each poll runs with the recorder installed; the tokens' timers
        // advance in between.
        let next = metrics::with_local_recorder(&recorder, || body.next().now_or_never());
        match next {
            Some(Some(frame)) => frames.push(frame),
            Some(None) => break,
            None => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    let wire: u64 = frames.iter().map(|f| f.len() as u64).sum();
    let got = snapshot(&recorder);
    let label = "{route=chat}";
    // "a" at 100; "bc" at 120; heartbeat at 1120; "d" at 1300; error at 1400.
    assert_eq!(
        got[&format!("llm_sse_ttft_seconds{label}")],
        seconds(&[0.1])
    );
    assert_eq!(
        got[&format!("llm_sse_chunk_interval_seconds{label}")],
        seconds(&[0.02, 1.18])
    );
    assert_eq!(
        got[&format!("llm_sse_stream_duration_seconds{label}")],
        seconds(&[1.4])
    );
    assert_eq!(
        got["llm_sse_tokens_total{kind=text,route=chat}"],
        DebugValue::Counter(4)
    );
    assert_eq!(
        got[&format!("llm_sse_bytes_total{label}")],
        DebugValue::Counter(wire)
    );
    assert_eq!(
        got[&format!("llm_sse_heartbeats_total{label}")],
        DebugValue::Counter(1)
    );
    assert_eq!(
        got["llm_sse_streams_total{outcome=failed,route=chat}"],
        DebugValue::Counter(1)
    );
    assert_eq!(
        got[&format!("llm_sse_active_streams{label}")],
        DebugValue::Gauge(0.0.into())
    );
}

#[tokio::test]
async fn tokens_are_counted_per_kind_and_tool_calls_apart() {
    let recorder = DebuggingRecorder::new();
    let deltas = futures_util::stream::iter([
        Delta::reasoning("a"),
        Delta::reasoning("b"),
        Delta::tool_call(0, "c", "f"),
        Delta::tool_arguments(0, "{"),
        Delta::tool_arguments(0, "}"),
        Delta::tool_call(1, "d", "g"),
    ])
    .map(Ok::<_, std::io::Error>);
    let mut body = SseStream::builder(deltas)
        .observe(MetricsObserver::new())
        .build();
    metrics::with_local_recorder(&recorder, || {
        // Every delta is ready: the stream never waits.
        let mut frames = 0;
        while let Some(Some(_)) = body.next().now_or_never() {
            frames += 1;
        }
        assert!(frames > 0);
    });
    let got = snapshot(&recorder);
    assert_eq!(
        got["llm_sse_tokens_total{kind=reasoning}"],
        DebugValue::Counter(2)
    );
    assert_eq!(
        got["llm_sse_tokens_total{kind=tool_arguments}"],
        DebugValue::Counter(2)
    );
    assert_eq!(
        got["llm_sse_tokens_total{kind=text}"],
        DebugValue::Counter(0)
    );
    assert_eq!(got["llm_sse_tool_calls_total{}"], DebugValue::Counter(2));
}

#[test]
fn a_stream_dropped_unpolled_counts_as_cancelled_without_touching_the_gauge() {
    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        let tokens = futures_util::stream::iter(["a"]).map(Ok::<_, std::io::Error>);
        drop(
            SseStream::builder(tokens)
                .observe(MetricsObserver::new())
                .build(),
        );
    });
    let got = snapshot(&recorder);
    assert_eq!(
        got["llm_sse_streams_total{outcome=cancelled}"],
        DebugValue::Counter(1)
    );
    assert!(
        !got.contains_key("llm_sse_active_streams{}"),
        "never started, never counted"
    );
}

/// A recorder that counts how often a metric is looked up, and hands the
/// lookup on to a `DebuggingRecorder`.
struct CountingRecorder {
    inner: metrics_util::debugging::DebuggingRecorder,
    lookups: std::sync::atomic::AtomicUsize,
}

impl CountingRecorder {
    fn lookups(&self) -> usize {
        self.lookups.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count(&self) {
        self.lookups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl metrics::Recorder for CountingRecorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn register_counter(
        &self,
        key: &metrics::Key,
        metadata: &metrics::Metadata<'_>,
    ) -> metrics::Counter {
        self.count();
        self.inner.register_counter(key, metadata)
    }

    fn register_gauge(
        &self,
        key: &metrics::Key,
        metadata: &metrics::Metadata<'_>,
    ) -> metrics::Gauge {
        self.count();
        self.inner.register_gauge(key, metadata)
    }

    fn register_histogram(
        &self,
        key: &metrics::Key,
        metadata: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        self.count();
        self.inner.register_histogram(key, metadata)
    }
}

#[test]
fn clones_share_their_handles_and_a_new_label_makes_new_ones() {
    let recorder = CountingRecorder {
        inner: DebuggingRecorder::new(),
        lookups: std::sync::atomic::AtomicUsize::new(0),
    };
    let observer = MetricsObserver::new().label("route", "chat");
    let run = |observer: MetricsObserver| {
        let tokens = futures_util::stream::iter(["a", "b", "c"]).map(Ok::<_, std::io::Error>);
        let mut body = SseStream::builder(tokens).observe(observer).build();
        metrics::with_local_recorder(&recorder, || {
            while let Some(Some(_)) = body.next().now_or_never() {}
        });
    };
    run(observer.clone());
    let first = recorder.lookups();
    assert!(first > 0, "the first stream looks its metrics up");
    run(observer.clone());
    run(observer.clone());
    assert_eq!(recorder.lookups(), first, "later clones look nothing up");
    run(observer.label("model", "m"));
    assert_eq!(recorder.lookups(), 2 * first, "new labels, new handles");

    let got = snapshot(&recorder.inner);
    assert_eq!(
        got["llm_sse_streams_total{outcome=completed,route=chat}"],
        DebugValue::Counter(3)
    );
    assert_eq!(
        got["llm_sse_streams_total{model=m,outcome=completed,route=chat}"],
        DebugValue::Counter(1)
    );
    assert_eq!(
        got["llm_sse_tokens_total{kind=text,route=chat}"],
        DebugValue::Counter(9)
    );
    assert_eq!(
        got["llm_sse_active_streams{route=chat}"],
        DebugValue::Gauge(0.0.into())
    );
}
