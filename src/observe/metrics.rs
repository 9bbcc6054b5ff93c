//! [`MetricsObserver`]: stream metrics through the `metrics` facade.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Label, SharedString, Unit};

use super::{ChunkStats, Observer, Outcome, StreamSummary};

use self::metric_names::{
    ACTIVE, BYTES, CHUNK_INTERVAL, DURATION, HEARTBEATS, STREAMS, TOKENS, TOOL_CALLS, TTFT,
};

/// The names [`MetricsObserver`] records under, for exporters' bucket
/// settings, dashboards and alert rules.
///
/// # Examples
///
/// ```
/// use llm_sse::observe::metric_names;
///
/// assert_eq!(metric_names::TTFT, "llm_sse_ttft_seconds");
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metric_names {
    /// Time to first token, a histogram in seconds.
    pub const TTFT: &str = "llm_sse_ttft_seconds";
    /// Gap between two chunks, a histogram in seconds.
    pub const CHUNK_INTERVAL: &str = "llm_sse_chunk_interval_seconds";
    /// First poll to end, a histogram in seconds.
    pub const DURATION: &str = "llm_sse_stream_duration_seconds";
    /// Tokens sent, a counter with the label `kind`.
    pub const TOKENS: &str = "llm_sse_tokens_total";
    /// Tool calls sent, a counter.
    pub const TOOL_CALLS: &str = "llm_sse_tool_calls_total";
    /// Bytes of every frame sent, a counter.
    pub const BYTES: &str = "llm_sse_bytes_total";
    /// Heartbeats sent, a counter.
    pub const HEARTBEATS: &str = "llm_sse_heartbeats_total";
    /// Ended streams, a counter with the label `outcome`.
    pub const STREAMS: &str = "llm_sse_streams_total";
    /// Streams started and not yet ended, a gauge.
    pub const ACTIVE: &str = "llm_sse_active_streams";
    /// Resume requests, a counter with the label `result`: `replayed`,
    /// `unknown`, `expired`, `invalid` or `unavailable` (feature `resume`).
    pub const RESUMES: &str = "llm_sse_resumes_total";
    /// Events sent again to resumed connections, a counter (feature
    /// `resume`).
    pub const REPLAYED: &str = "llm_sse_resume_replayed_events_total";
    /// Resumable streams that flowed without ids because the store refused
    /// or failed, a counter (feature `resume`).
    pub const UNLOGGED: &str = "llm_sse_resume_unlogged_streams_total";
}

/// Records every stream through the [`metrics`] facade, for Prometheus or
/// any other exporter.
///
/// | name | kind | unit | what |
/// | --- | --- | --- | --- |
/// | `llm_sse_ttft_seconds` | histogram | seconds | time to first token |
/// | `llm_sse_chunk_interval_seconds` | histogram | seconds | gap between two chunks |
/// | `llm_sse_stream_duration_seconds` | histogram | seconds | first poll to end |
/// | `llm_sse_tokens_total` | counter | | tokens sent, label `kind`: `text`, `reasoning`, `tool_arguments` |
/// | `llm_sse_tool_calls_total` | counter | | tool calls sent |
/// | `llm_sse_bytes_total` | counter | bytes | bytes of every frame sent |
/// | `llm_sse_heartbeats_total` | counter | | heartbeats sent |
/// | `llm_sse_streams_total` | counter | | ended streams, label `outcome`: `completed`, `failed`, `timed_out`, `cancelled`, `completed_after_disconnect` |
/// | `llm_sse_active_streams` | gauge | | streams started and not yet ended |
///
/// Every metric carries the labels given with [`label`](Self::label). The
/// counters are added to when each stream ends (from its summary), so a
/// chunk costs one histogram record and nothing else; the gauge moves when a
/// stream starts and ends.
/// Histogram buckets are the exporter's business; the ones suited to LLM
/// streams are [`TTFT_BUCKETS`](Self::TTFT_BUCKETS),
/// [`CHUNK_INTERVAL_BUCKETS`](Self::CHUNK_INTERVAL_BUCKETS) and
/// [`DURATION_BUCKETS`](Self::DURATION_BUCKETS), e.g. for
/// `metrics-exporter-prometheus`:
///
/// ```ignore
/// let handle = PrometheusBuilder::new()
///     .set_buckets_for_metric(Matcher::Full("llm_sse_ttft_seconds".into()), MetricsObserver::TTFT_BUCKETS)?
///     .install_recorder()?;
/// MetricsObserver::describe();
/// // Such a recorder keeps every histogram sample (one per chunk) until
/// // upkeep drains it: run it every few seconds, scraped or not.
/// let upkeep = handle.clone();
/// tokio::spawn(async move {
///     loop {
///         tokio::time::sleep(Duration::from_secs(5)).await;
///         upkeep.run_upkeep();
///     }
/// });
/// ```
///
/// Build one observer per route and clone it for every stream: clones share
/// the metric handles, which the first stream to start or end looks up in
/// the recorder installed then. Install the recorder before serving; a
/// stream that starts before it records into the no-op recorder, and so do
/// the clones of its observer.
///
/// # Examples
///
/// ```
/// use llm_sse::observe::MetricsObserver;
///
/// let observer = MetricsObserver::new().label("route", "chat").label("model", "gpt-4o");
/// // Per stream: `.observe(observer.clone())`.
/// # let _ = observer.clone();
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
#[derive(Default)]
pub struct MetricsObserver {
    shared: Arc<Shared>,
    // This stream raised the gauge, and lowers it when it ends.
    started: bool,
}

impl Clone for MetricsObserver {
    /// An observer for another stream, sharing this one's labels and
    /// handles.
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            started: false,
        }
    }
}

/// The labels, and the handles made from them, shared by every clone: a
/// stream holds a pointer, and the registry is searched once per metric,
/// not once per stream.
#[derive(Default)]
struct Shared {
    labels: Vec<Label>,
    ttft: OnceLock<Histogram>,
    chunk_interval: OnceLock<Histogram>,
    duration: OnceLock<Histogram>,
    active: OnceLock<Gauge>,
    // By kind: text, reasoning, tool arguments.
    tokens: [OnceLock<Counter>; 3],
    tool_calls: OnceLock<Counter>,
    bytes: OnceLock<Counter>,
    heartbeats: OnceLock<Counter>,
    // By outcome, at `outcome_slot`.
    streams: [OnceLock<Counter>; OUTCOMES],
}

/// How many [`Outcome`]s there are.
const OUTCOMES: usize = 7;

/// Where an outcome's counter sits in [`Shared::streams`].
fn outcome_slot(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Completed => 0,
        Outcome::Failed => 1,
        Outcome::TimedOut => 2,
        Outcome::Cancelled => 3,
        Outcome::CompletedAfterDisconnect => 4,
        Outcome::Stopped => 5,
        Outcome::Abandoned => 6,
    }
}

impl Shared {
    fn histogram<'a>(&self, cell: &'a OnceLock<Histogram>, name: &'static str) -> &'a Histogram {
        cell.get_or_init(|| metrics::histogram!(name, self.labels.iter()))
    }

    fn counter<'a>(&self, cell: &'a OnceLock<Counter>, name: &'static str) -> &'a Counter {
        cell.get_or_init(|| metrics::counter!(name, self.labels.iter()))
    }

    /// A counter with one more label than the observer's own.
    fn counter_by<'a>(
        &self,
        cell: &'a OnceLock<Counter>,
        name: &'static str,
        key: &'static str,
        value: &'static str,
    ) -> &'a Counter {
        cell.get_or_init(|| {
            let mut labels = Vec::with_capacity(self.labels.len() + 1);
            labels.extend(self.labels.iter().cloned());
            labels.push(Label::from_static_parts(key, value));
            metrics::counter!(name, labels)
        })
    }

    fn active(&self) -> &Gauge {
        self.active
            .get_or_init(|| metrics::gauge!(ACTIVE, self.labels.iter()))
    }
}

impl MetricsObserver {
    /// Time to first token buckets, in seconds: 10 ms to 60 s.
    pub const TTFT_BUCKETS: &'static [f64] = &[
        0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ];
    /// Chunk interval buckets, in seconds: 1 ms to 5 s.
    pub const CHUNK_INTERVAL_BUCKETS: &'static [f64] = &[
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    ];
    /// Stream duration buckets, in seconds: 100 ms to 10 min.
    pub const DURATION_BUCKETS: &'static [f64] = &[
        0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    ];

    /// An observer with no labels.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a label to every metric, such as the route or the model.
    ///
    /// The result shares nothing with clones made before: they keep their
    /// labels and handles.
    #[must_use]
    pub fn label(self, key: impl Into<SharedString>, value: impl Into<SharedString>) -> Self {
        let mut labels = Vec::with_capacity(self.shared.labels.len() + 1);
        labels.extend(self.shared.labels.iter().cloned());
        labels.push(Label::new(key, value));
        Self {
            shared: Arc::new(Shared {
                labels,
                ..Shared::default()
            }),
            started: false,
        }
    }

    /// Registers the descriptions and units of the metrics with the
    /// installed recorder; call once after installing it.
    pub fn describe() {
        metrics::describe_histogram!(
            TTFT,
            Unit::Seconds,
            "Time from the start of an SSE stream to its first token"
        );
        metrics::describe_histogram!(
            CHUNK_INTERVAL,
            Unit::Seconds,
            "Time between two chunks of tokens"
        );
        metrics::describe_histogram!(
            DURATION,
            Unit::Seconds,
            "Time from the start of an SSE stream to its end"
        );
        metrics::describe_counter!(TOKENS, Unit::Count, "Tokens sent, by kind");
        metrics::describe_counter!(TOOL_CALLS, Unit::Count, "Tool calls sent");
        metrics::describe_counter!(BYTES, Unit::Bytes, "Bytes of SSE frames sent");
        metrics::describe_counter!(HEARTBEATS, Unit::Count, "Heartbeat comments sent");
        metrics::describe_counter!(STREAMS, Unit::Count, "SSE streams ended, by outcome");
        metrics::describe_gauge!(ACTIVE, Unit::Count, "SSE streams in progress");
    }
}

impl Observer for MetricsObserver {
    fn on_start(&mut self) {
        self.started = true;
        self.shared.active().increment(1.0);
    }

    fn on_first_token(&mut self, ttft: Duration) {
        let shared = &*self.shared;
        shared
            .histogram(&shared.ttft, TTFT)
            .record(ttft.as_secs_f64());
    }

    fn on_chunk(&mut self, chunk: ChunkStats) {
        let Some(gap) = chunk.gap else { return };
        let shared = &*self.shared;
        shared
            .histogram(&shared.chunk_interval, CHUNK_INTERVAL)
            .record(gap.as_secs_f64());
    }

    fn on_end(&mut self, summary: &StreamSummary) {
        let shared = &*self.shared;
        if self.started {
            shared.active().decrement(1.0);
        }
        let counts = &summary.counts;
        let by_kind = [
            ("text", counts.text),
            ("reasoning", counts.reasoning),
            ("tool_arguments", counts.tool_arguments),
        ];
        for ((kind, tokens), cell) in by_kind.into_iter().zip(&shared.tokens) {
            if tokens > 0 || kind == "text" {
                shared
                    .counter_by(cell, TOKENS, "kind", kind)
                    .increment(tokens);
            }
        }
        if counts.tool_calls > 0 {
            shared
                .counter(&shared.tool_calls, TOOL_CALLS)
                .increment(counts.tool_calls);
        }
        shared
            .counter(&shared.bytes, BYTES)
            .increment(summary.bytes);
        shared
            .counter(&shared.heartbeats, HEARTBEATS)
            .increment(summary.heartbeats);
        shared
            .histogram(&shared.duration, DURATION)
            .record(summary.duration.as_secs_f64());
        let outcome = summary.outcome;
        shared
            .counter_by(
                &shared.streams[outcome_slot(outcome)],
                STREAMS,
                "outcome",
                outcome.as_str(),
            )
            .increment(1);
    }
}

impl fmt::Debug for MetricsObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsObserver")
            .field("labels", &self.shared.labels)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::TokenCounts;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    #[test]
    fn a_clone_observes_a_stream_of_its_own_that_has_not_started() {
        let recorder = DebuggingRecorder::new();
        let summary = StreamSummary {
            outcome: Outcome::Cancelled,
            ttft: None,
            duration: Duration::ZERO,
            tokens: 0,
            counts: TokenCounts::default(),
            chunks: 0,
            bytes: 0,
            heartbeats: 0,
            error: None,
            text: None,
            usage: None,
            finish_reason: None,
        };
        metrics::with_local_recorder(&recorder, || {
            let mut running = MetricsObserver::new();
            running.on_start();
            // Dropped before its first poll: it never raised the gauge, so
            // it must not lower it.
            running.clone().on_end(&summary);
        });
        let active = recorder
            .snapshotter()
            .snapshot()
            .into_vec()
            .into_iter()
            .find(|(key, ..)| key.key().name() == ACTIVE)
            .map(|(.., value)| value);
        assert_eq!(active, Some(DebugValue::Gauge(1.0.into())));
    }
}
