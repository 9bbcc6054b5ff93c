//! [`OtelObserver`]: the OpenTelemetry GenAI server metrics.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::{Key, KeyValue, StringValue};

use super::{error_type, Observer, Outcome, StreamSummary};

const OPERATION: &str = "gen_ai.operation.name";
const PROVIDER: &str = "gen_ai.provider.name";
const REQUEST_MODEL: &str = "gen_ai.request.model";
const RESPONSE_MODEL: &str = "gen_ai.response.model";
const ERROR_TYPE: &str = "error.type";

/// Records every stream as the OpenTelemetry semantic conventions for
/// generative AI define a model server's metrics, through the
/// [`opentelemetry`] API, for any exporter (OTLP, Prometheus, ...).
///
/// | name | instrument | unit | what | recorded |
/// | --- | --- | --- | --- | --- |
/// | `gen_ai.server.time_to_first_token` | histogram | `s` | first poll to the first token | when the first token goes out |
/// | `gen_ai.server.time_per_output_token` | histogram | `s` | time after the first token, per output token after the first | at the end of a completed stream with at least two output tokens |
/// | `gen_ai.server.request.duration` | histogram | `s` | first poll to the end | at the end of every stream |
///
/// Each histogram asks for the bucket boundaries the conventions recommend
/// ([`TTFT_BOUNDARIES`](Self::TTFT_BOUNDARIES),
/// [`TIME_PER_OUTPUT_TOKEN_BOUNDARIES`](Self::TIME_PER_OUTPUT_TOKEN_BOUNDARIES),
/// [`REQUEST_DURATION_BOUNDARIES`](Self::REQUEST_DURATION_BOUNDARIES)); a
/// view in the SDK can still change them.
///
/// Attributes on every measurement: `gen_ai.operation.name` (default
/// `chat`), `gen_ai.provider.name` (given to [`new`](Self::new)),
/// `gen_ai.request.model` and `gen_ai.response.model` when set, and any
/// added with [`attribute`](Self::attribute). The request duration also
/// carries `error.type` when the stream did not end normally:
///
/// | outcome | `error.type` |
/// | --- | --- |
/// | the token stream failed or panicked | `_OTHER` |
/// | a timeout passed | `timeout` |
/// | the client went away before the end | `cancelled` |
///
/// Output tokens, for the time per output token, are the model's
/// `completion_tokens` when it sent usage, else the tokens the stream sent
/// (text, reasoning and tool-call arguments). The conventions define the
/// finish reasons for spans, not metrics:
/// [`TracingObserver`](crate::observe::TracingObserver) records them.
///
/// Create the observer once (it holds the instruments) and clone it per
/// stream, adding that request's model; a clone costs a few reference
/// counts and the attributes.
///
/// Feature `opentelemetry`; the `opentelemetry` crate 0.33 needs Rust 1.75.
///
/// # Examples
///
/// ```
/// use llm_sse::observe::OtelObserver;
///
/// // Once, with the meter of the installed provider:
/// let meter = opentelemetry::global::meter("my-llm-server");
/// let observer = OtelObserver::new(&meter, "my-llm-server");
///
/// // Per request:
/// let per_stream = observer.clone().request_model("llama-3.1-8b");
/// # let _ = per_stream;
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
#[derive(Debug, Clone)]
pub struct OtelObserver {
    instruments: Arc<Instruments>,
    attributes: Vec<KeyValue>,
    ttft: Option<Duration>,
}

#[derive(Debug)]
struct Instruments {
    ttft: Histogram<f64>,
    time_per_output_token: Histogram<f64>,
    request_duration: Histogram<f64>,
}

impl OtelObserver {
    /// `gen_ai.server.time_to_first_token`.
    pub const TIME_TO_FIRST_TOKEN: &'static str = "gen_ai.server.time_to_first_token";
    /// `gen_ai.server.time_per_output_token`.
    pub const TIME_PER_OUTPUT_TOKEN: &'static str = "gen_ai.server.time_per_output_token";
    /// `gen_ai.server.request.duration`.
    pub const REQUEST_DURATION: &'static str = "gen_ai.server.request.duration";

    /// The boundaries the conventions recommend for the time to first
    /// token, in seconds: 1 ms to 10 s.
    pub const TTFT_BOUNDARIES: &'static [f64] = &[
        0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    ];
    /// The boundaries the conventions recommend for the time per output
    /// token, in seconds: 10 ms to 2.5 s.
    pub const TIME_PER_OUTPUT_TOKEN_BOUNDARIES: &'static [f64] = &[
        0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
    ];
    /// The boundaries the conventions recommend for the request duration,
    /// in seconds: 10 ms to 82 s, doubling.
    pub const REQUEST_DURATION_BOUNDARIES: &'static [f64] = &[
        0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
    ];

    /// Creates the three histograms on `meter`. `provider` is the
    /// `gen_ai.provider.name` the conventions require: a well-known value
    /// such as `openai` when you serve or re-stream that provider's model,
    /// else your own name for the service.
    pub fn new(meter: &Meter, provider: impl Into<StringValue>) -> Self {
        let instruments = Instruments {
            ttft: meter
                .f64_histogram(Self::TIME_TO_FIRST_TOKEN)
                .with_unit("s")
                .with_description("Time to generate first token for successful responses")
                .with_boundaries(Self::TTFT_BOUNDARIES.to_vec())
                .build(),
            time_per_output_token: meter
                .f64_histogram(Self::TIME_PER_OUTPUT_TOKEN)
                .with_unit("s")
                .with_description(
                    "Time per output token generated after the first token for successful responses",
                )
                .with_boundaries(Self::TIME_PER_OUTPUT_TOKEN_BOUNDARIES.to_vec())
                .build(),
            request_duration: meter
                .f64_histogram(Self::REQUEST_DURATION)
                .with_unit("s")
                .with_description(
                    "Generative AI server request duration such as time-to-last byte or last output token",
                )
                .with_boundaries(Self::REQUEST_DURATION_BOUNDARIES.to_vec())
                .build(),
        };
        Self {
            instruments: Arc::new(instruments),
            attributes: vec![
                KeyValue::new(OPERATION, "chat"),
                KeyValue::new(PROVIDER, provider.into()),
            ],
            ttft: None,
        }
    }

    /// Sets `gen_ai.operation.name`: `chat` (the default),
    /// `text_completion`, `generate_content` or another the conventions
    /// list.
    #[must_use]
    pub fn operation(self, name: impl Into<StringValue>) -> Self {
        self.set(OPERATION, name.into())
    }

    /// Sets `gen_ai.request.model`, the model the request asked for.
    #[must_use]
    pub fn request_model(self, model: impl Into<StringValue>) -> Self {
        self.set(REQUEST_MODEL, model.into())
    }

    /// Sets `gen_ai.response.model`, the model that answered.
    #[must_use]
    pub fn response_model(self, model: impl Into<StringValue>) -> Self {
        self.set(RESPONSE_MODEL, model.into())
    }

    /// Adds an attribute to every measurement, such as `server.address`
    /// or a route. Keep its values few: each value is a time series.
    #[must_use]
    pub fn attribute(self, attribute: KeyValue) -> Self {
        self.set(attribute.key, attribute.value)
    }

    fn set(mut self, key: impl Into<Key>, value: impl Into<opentelemetry::Value>) -> Self {
        let attribute = KeyValue::new(key, value);
        match self.attributes.iter_mut().find(|a| a.key == attribute.key) {
            Some(existing) => *existing = attribute,
            None => self.attributes.push(attribute),
        }
        self
    }
}

impl Observer for OtelObserver {
    fn on_first_token(&mut self, ttft: Duration) {
        self.ttft = Some(ttft);
        self.instruments
            .ttft
            .record(ttft.as_secs_f64(), &self.attributes);
    }

    fn on_end(&mut self, summary: &StreamSummary) {
        let instruments = &self.instruments;
        let completed = matches!(
            summary.outcome,
            Outcome::Completed | Outcome::CompletedAfterDisconnect
        );
        let output_tokens = summary
            .usage
            .as_ref()
            .map_or(summary.tokens, |usage| usage.completion_tokens);
        if let (true, Some(ttft), 2..) = (completed, self.ttft, output_tokens) {
            let decode = summary.duration.saturating_sub(ttft).as_secs_f64();
            instruments
                .time_per_output_token
                .record(decode / (output_tokens - 1) as f64, &self.attributes);
        }
        match error_type(summary.outcome) {
            Some(error) => {
                let mut attributes = self.attributes.clone();
                attributes.push(KeyValue::new(ERROR_TYPE, error));
                instruments
                    .request_duration
                    .record(summary.duration.as_secs_f64(), &attributes);
            }
            None => instruments
                .request_duration
                .record(summary.duration.as_secs_f64(), &self.attributes),
        }
    }
}
