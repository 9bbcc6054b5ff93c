//! [`TracingObserver`]: one `tracing` span per stream.

use std::time::Duration;

use tracing::field::Empty;
use tracing::Span;

use super::{error_type, Observer, Outcome, StreamSummary};

/// Opens an `llm_sse.stream` span (level INFO) when a stream starts and
/// closes it when the stream ends, with the summary recorded on it:
/// `outcome`, `ttft_ms`, `duration_ms`, `tokens`, `reasoning_tokens`,
/// `tool_calls`, `chunks`, `bytes`, `heartbeats`, the model's
/// `finish_reason`, `prompt_tokens` and `completion_tokens` when it sent
/// them and, on failure, `error`. An event `stream ended` with the
/// same fields is emitted inside the span at the end (WARN when the stream
/// failed or timed out).
///
/// The span also carries the attributes of the OpenTelemetry semantic
/// conventions for generative AI, so that `tracing-opentelemetry` exports
/// it the way GenAI tooling reads spans:
///
/// | field | value |
/// | --- | --- |
/// | `gen_ai.operation.name` | [`operation`](Self::operation), when set |
/// | `gen_ai.provider.name` | [`provider`](Self::provider), when set |
/// | `gen_ai.request.model` | [`request_model`](Self::request_model), when set |
/// | `gen_ai.response.finish_reasons` | the model's finish reason (`stop`, `length`, `tool_calls`, ...), when it sent one |
/// | `gen_ai.usage.input_tokens` | the model's prompt tokens, when it sent usage |
/// | `gen_ai.usage.output_tokens` | the model's completion tokens, when it sent usage |
/// | `error.type` | `_OTHER` (failed), `timeout` or `cancelled`, when the stream did not end normally |
/// | `otel.name` | `{operation} {model}`, the span name the conventions give, when both are set |
/// | `otel.status_code` | `error` when the stream failed or timed out |
///
/// `tracing` fields hold no arrays: the finish reasons are the one reason
/// as a string.
///
/// # Examples
///
/// ```
/// use llm_sse::observe::TracingObserver;
///
/// let observer = TracingObserver::new()
///     .operation("chat")
///     .provider("openai")
///     .request_model("gpt-4o");
/// # let _ = observer;
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
#[derive(Debug, Default)]
pub struct TracingObserver {
    span: Option<Span>,
    operation: Option<String>,
    provider: Option<String>,
    request_model: Option<String>,
}

impl TracingObserver {
    /// An observer that opens its span when the stream starts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `gen_ai.operation.name`, such as `chat` or `text_completion`.
    #[must_use]
    pub fn operation(mut self, name: impl Into<String>) -> Self {
        self.operation = Some(name.into());
        self
    }

    /// Sets `gen_ai.provider.name`, such as `openai` or your service's name.
    #[must_use]
    pub fn provider(mut self, name: impl Into<String>) -> Self {
        self.provider = Some(name.into());
        self
    }

    /// Sets `gen_ai.request.model`, the model the request asked for.
    #[must_use]
    pub fn request_model(mut self, model: impl Into<String>) -> Self {
        self.request_model = Some(model.into());
        self
    }

    fn span(&mut self) -> &Span {
        let operation = self.operation.as_deref();
        let provider = self.provider.as_deref();
        let model = self.request_model.as_deref();
        self.span.get_or_insert_with(|| {
            let otel_name = operation
                .zip(model)
                .map(|(operation, model)| format!("{operation} {model}"));
            tracing::info_span!(
                "llm_sse.stream",
                gen_ai.operation.name = operation,
                gen_ai.provider.name = provider,
                gen_ai.request.model = model,
                gen_ai.response.finish_reasons = Empty,
                gen_ai.usage.input_tokens = Empty,
                gen_ai.usage.output_tokens = Empty,
                error.type = Empty,
                otel.name = otel_name,
                otel.status_code = Empty,
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
            span.record("gen_ai.response.finish_reasons", reason.as_str());
        }
        if let Some(usage) = &summary.usage {
            span.record("prompt_tokens", usage.prompt_tokens);
            span.record("completion_tokens", usage.completion_tokens);
            span.record("gen_ai.usage.input_tokens", usage.prompt_tokens);
            span.record("gen_ai.usage.output_tokens", usage.completion_tokens);
        }
        if let Some(error_type) = error_type(summary.outcome) {
            span.record("error.type", error_type);
        }
        if matches!(summary.outcome, Outcome::Failed | Outcome::TimedOut) {
            span.record("otel.status_code", "error");
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
