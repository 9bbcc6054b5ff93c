//! [`TracingObserver`]: one `tracing` span per stream.

use std::time::Duration;

use tracing::field::Empty;
use tracing::Span;

use super::{Observer, Outcome, StreamSummary};

/// Opens an `llm_sse.stream` span (level INFO) when a stream starts and
/// closes it when the stream ends, with the summary recorded on it:
/// `outcome`, `ttft_ms`, `duration_ms`, `tokens`, `reasoning_tokens`,
/// `tool_calls`, `chunks`, `bytes`, `heartbeats`, the model's
/// `finish_reason`, `prompt_tokens` and `completion_tokens` when it sent
/// them and, on failure, `error`. An event `stream ended` with the
/// same fields is emitted inside the span at the end (WARN when the stream
/// failed or timed out).
///
/// # Examples
///
/// ```
/// let observer = llm_sse::observe::TracingObserver::new();
/// # let _ = observer;
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
#[derive(Debug, Default)]
pub struct TracingObserver {
    span: Option<Span>,
}

impl TracingObserver {
    /// An observer that opens its span when the stream starts.
    pub fn new() -> Self {
        Self::default()
    }

    fn span(&mut self) -> &Span {
        self.span.get_or_insert_with(|| {
            tracing::info_span!(
                "llm_sse.stream",
                outcome = Empty,
                ttft_ms = Empty,
                duration_ms = Empty,
                tokens = Empty,
                reasoning_tokens = Empty,
                tool_calls = Empty,
                chunks = Empty,
                bytes = Empty,
                heartbeats = Empty,
                finish_reason = Empty,
                prompt_tokens = Empty,
                completion_tokens = Empty,
                error = Empty,
            )
        })
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

impl Observer for TracingObserver {
    fn on_start(&mut self) {
        self.span();
    }

    fn on_end(&mut self, summary: &StreamSummary) {
        let span = self.span();
        span.record("outcome", summary.outcome.as_str());
        if let Some(ttft) = summary.ttft {
            span.record("ttft_ms", millis(ttft));
        }
        span.record("duration_ms", millis(summary.duration));
        span.record("tokens", summary.tokens);
        span.record("reasoning_tokens", summary.counts.reasoning);
        span.record("tool_calls", summary.counts.tool_calls);
        if let Some(reason) = &summary.finish_reason {
            span.record("finish_reason", reason.as_str());
        }
        if let Some(usage) = &summary.usage {
            span.record("prompt_tokens", usage.prompt_tokens);
            span.record("completion_tokens", usage.completion_tokens);
        }
        span.record("chunks", summary.chunks);
        span.record("bytes", summary.bytes);
        span.record("heartbeats", summary.heartbeats);
        if let Some(error) = &summary.error {
            span.record("error", error.as_str());
        }
        let ttft_ms = summary.ttft.map(millis);
        span.in_scope(|| match summary.outcome {
            Outcome::Failed | Outcome::TimedOut => tracing::warn!(
                outcome = summary.outcome.as_str(),
                ttft_ms,
                duration_ms = millis(summary.duration),
                tokens = summary.tokens,
                error = summary.error.as_deref(),
                "stream ended"
            ),
            _ => tracing::info!(
                outcome = summary.outcome.as_str(),
                ttft_ms,
                duration_ms = millis(summary.duration),
                tokens = summary.tokens,
                "stream ended"
            ),
        });
        self.span = None;
    }
}
