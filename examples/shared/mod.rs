//! What both example servers share: the mock model, the request knobs and
//! their validation, the OpenAI request and response shapes, the metrics
//! recorder, and the chat page. Only the framework glue differs.

#![allow(dead_code)] // each example uses what its framework needs

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{stream, Stream};
use llm_sse::adapters::{Batch, Format, JsonDelta, Text};
use llm_sse::observe::{Inline, MetricsObserver, OnComplete, StreamSummary};
use llm_sse::openai::ChatCompletionChunks;
use llm_sse::{Builder, DEFAULT_HEARTBEAT};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use serde_json::{json, Value};

/// The chat page served at `/`.
pub(crate) const PAGE: &str = include_str!("page.html");

/// The address the examples listen on, from `PORT` (default 3000).
pub(crate) fn listen_port() -> Result<u16, String> {
    match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| format!("PORT must be a port number, not {port:?}")),
        Err(_) => Ok(3000),
    }
}

/// The process-wide Prometheus recorder, installed once.
pub(crate) fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                ("llm_sse_ttft_seconds", MetricsObserver::TTFT_BUCKETS),
                (
                    "llm_sse_chunk_interval_seconds",
                    MetricsObserver::CHUNK_INTERVAL_BUCKETS,
                ),
                (
                    "llm_sse_stream_duration_seconds",
                    MetricsObserver::DURATION_BUCKETS,
                ),
            ];
            let mut builder = PrometheusBuilder::new();
            for (name, buckets) in buckets {
                builder = builder
                    .set_buckets_for_metric(Matcher::Full(name.into()), buckets)
                    .expect("bucket lists are not empty");
            }
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Tests start several servers in one process: keep the first.
            let _ = metrics::set_global_recorder(recorder);
            MetricsObserver::describe();
            handle
        })
        .clone()
}

/// A bad request, answered with `400` and this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadRequest(pub(crate) String);

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The mock model's failure.
#[derive(Debug, Clone)]
pub(crate) struct MockError(pub(crate) String);

impl fmt::Display for MockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MockError {}

/// How the mock model answers and how the answer is streamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Knobs {
    pub(crate) prompt: String,
    pub(crate) tokens: u64,
    pub(crate) delay: Duration,
    pub(crate) ttft: Duration,
    pub(crate) echo: bool,
    pub(crate) fail_after: Option<u64>,
    pub(crate) batch: usize,
    pub(crate) batch_delay: Duration,
    pub(crate) heartbeat: Duration,
    pub(crate) json: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            tokens: 10,
            delay: Duration::from_millis(50),
            ttft: Duration::ZERO,
            echo: false,
            fail_after: None,
            batch: 1,
            batch_delay: Duration::from_millis(50),
            heartbeat: DEFAULT_HEARTBEAT,
            json: false,
        }
    }
}

const MAX_TOKENS: u64 = 1_000_000;
const MAX_MS: u64 = 600_000;

fn number(
    query: &HashMap<String, String>,
    name: &str,
    max: u64,
) -> Result<Option<u64>, BadRequest> {
    let Some(value) = query.get(name) else {
        return Ok(None);
    };
    let parsed: u64 = value.trim().parse().map_err(|_| {
        BadRequest(format!(
            "`{name}` must be a whole number from 0 to {max}, not {value:?}"
        ))
    })?;
    if parsed > max {
        return Err(BadRequest(format!(
            "`{name}` must be at most {max}, not {parsed}"
        )));
    }
    Ok(Some(parsed))
}

fn millis(query: &HashMap<String, String>, name: &str) -> Result<Option<Duration>, BadRequest> {
    Ok(number(query, name, MAX_MS)?.map(Duration::from_millis))
}

impl Knobs {
    /// Reads the knobs from query parameters; anything unparsable, out of
    /// range or meaningless (a zero heartbeat interval, a zero batch) is a
    /// [`BadRequest`] that names the knob.
    pub(crate) fn from_query(query: &HashMap<String, String>) -> Result<Self, BadRequest> {
        let defaults = Self::default();
        let echo = match query.get("echo").map(String::as_str) {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => return Err(BadRequest(format!("`echo` must be 1 or 0, not {other:?}"))),
        };
        let json = match query.get("format").map(String::as_str) {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(BadRequest(format!(
                    "`format` must be text or json, not {other:?}"
                )))
            }
        };
        let batch = number(query, "batch", 10_000)?.unwrap_or(defaults.batch as u64);
        if batch == 0 {
            return Err(BadRequest(
                "`batch` must be at least 1 (1 turns batching off)".into(),
            ));
        }
        let heartbeat = millis(query, "heartbeat_ms")?.unwrap_or(defaults.heartbeat);
        if heartbeat.is_zero() {
            return Err(BadRequest("`heartbeat_ms` must be more than 0".into()));
        }
        Ok(Self {
            prompt: query.get("prompt").cloned().unwrap_or_default(),
            tokens: number(query, "tokens", MAX_TOKENS)?.unwrap_or(defaults.tokens),
            delay: millis(query, "delay_ms")?.unwrap_or(defaults.delay),
            ttft: millis(query, "ttft_ms")?.unwrap_or(defaults.ttft),
            echo,
            fail_after: number(query, "fail_after", MAX_TOKENS)?,
            batch: batch as usize,
            batch_delay: millis(query, "batch_ms")?.unwrap_or(defaults.batch_delay),
            heartbeat,
            json,
        })
    }

    /// The batch policy the knobs ask for.
    pub(crate) fn batch_policy(&self) -> Batch {
        Batch::tokens(self.batch).max_delay(self.batch_delay)
    }

    /// The mock model's answer as byte tokens: the prompt cut at awkward
    /// places (`echo`), or mock text; failing after `fail_after` tokens.
    pub(crate) fn model(&self) -> impl Stream<Item = Result<Bytes, MockError>> + Send + 'static {
        let pieces = if self.echo {
            echo_tokens(&self.prompt)
        } else {
            mock_tokens(self.tokens)
        };
        let fail_after = self.fail_after;
        let (delay, ttft) = (self.delay, self.ttft);
        stream::unfold(
            (pieces.into_iter(), 0u64),
            move |(mut pieces, sent)| async move {
                let wait = if sent == 0 { ttft } else { delay };
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                if fail_after == Some(sent) {
                    let error = MockError(format!("the mock model failed after {sent} tokens"));
                    return Some((Err(error), (Vec::new().into_iter(), u64::MAX)));
                }
                let piece = pieces.next()?;
                Some((Ok(piece), (pieces, sent + 1)))
            },
        )
    }

    /// Tokens the prompt counts as, for usage numbers.
    pub(crate) fn prompt_tokens(&self) -> u64 {
        self.prompt.split_whitespace().count() as u64
    }
}

/// Words of mock text, as byte tokens.
fn mock_tokens(count: u64) -> Vec<Bytes> {
    const WORDS: [&str; 12] = [
        "Streaming",
        " tokens",
        " as",
        " server",
        "-sent",
        " events",
        " keeps",
        " the",
        " first",
        " token",
        " fast",
        ".",
    ];
    (0..count)
        .map(|i| Bytes::from_static(WORDS[i as usize % WORDS.len()].as_bytes()))
        .collect()
}

/// The prompt cut into pieces of 1, 3 and 2 bytes in turn: cuts land inside
/// CRLF pairs and inside multi-byte characters, which the pipeline's UTF-8
/// repair must join again.
fn echo_tokens(prompt: &str) -> Vec<Bytes> {
    let bytes = Bytes::copy_from_slice(prompt.as_bytes());
    let mut pieces = Vec::new();
    let mut at = 0;
    for size in [1, 3, 2].into_iter().cycle() {
        if at >= bytes.len() {
            break;
        }
        let end = (at + size).min(bytes.len());
        pieces.push(bytes.slice(at..end));
        at = end;
    }
    pieces
}

/// Builds the `/chat` stream for any builder: knobs, metrics, completion log.
pub(crate) fn configure_chat<S, T>(
    builder: Builder<S, T>,
    knobs: &Knobs,
) -> Builder<S, T, ChatFormat, ChatObservers>
where
    S: llm_sse::TokenStream,
    T: llm_sse::Timer,
{
    let format = if knobs.json {
        ChatFormat::Json(JsonDelta)
    } else {
        ChatFormat::Text(Text)
    };
    builder
        .batch(knobs.batch_policy())
        .heartbeat(knobs.heartbeat)
        .format(format)
        .observe(MetricsObserver::new().label("route", "chat"))
        .on_complete_on(Inline, log_completion as fn(StreamSummary))
}

/// Metrics, then the completion log (run inline: it only prints).
pub(crate) type ChatObservers = (((), MetricsObserver), OnComplete<fn(StreamSummary), Inline>);

/// Logs every finished stream, whatever its outcome.
#[allow(clippy::needless_pass_by_value)] // the completion hook hands over the summary
pub(crate) fn log_completion(summary: StreamSummary) {
    eprintln!(
        "stream {}: {} tokens in {} chunks, ttft {:?}, {:?}",
        summary.outcome, summary.tokens, summary.chunks, summary.ttft, summary.duration
    );
}

/// `format=text` or `format=json`, chosen per request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ChatFormat {
    Text(Text),
    Json(JsonDelta),
}

impl Format for ChatFormat {
    fn write_chunk(&mut self, text: &str, buf: &mut bytes::BytesMut) {
        match self {
            ChatFormat::Text(f) => f.write_chunk(text, buf),
            ChatFormat::Json(f) => f.write_chunk(text, buf),
        }
    }
}

/// The body of `POST /v1/chat/completions`, as far as the mock needs it.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatRequest {
    pub(crate) model: String,
    pub(crate) messages: Vec<Message>,
    #[serde(default)]
    pub(crate) stream: bool,
    #[serde(default)]
    pub(crate) stream_options: Option<StreamOptions>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Message {
    pub(crate) role: String,
    #[serde(default)]
    pub(crate) content: Value,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    pub(crate) include_usage: bool,
}

/// What an OpenAI-compatible request asks for.
pub(crate) struct Completion {
    pub(crate) id: String,
    pub(crate) model: String,
    pub(crate) knobs: Knobs,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
}

/// The text of a message's content: a string, or the text parts of an array.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

impl Completion {
    /// Reads a request body and the knobs in the query; model `echo` answers
    /// with the last user message.
    pub(crate) fn parse(body: &[u8], query: &HashMap<String, String>) -> Result<Self, BadRequest> {
        let request: ChatRequest = serde_json::from_slice(body).map_err(|err| {
            BadRequest(format!(
                "the body is not a valid chat completion request: {err}"
            ))
        })?;
        if request.messages.is_empty() {
            return Err(BadRequest(
                "`messages` must hold at least one message".into(),
            ));
        }
        let mut knobs = Knobs::from_query(query)?;
        let last_user = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .ok_or_else(|| BadRequest("`messages` must hold a user message".into()))?;
        knobs.prompt = content_text(&last_user.content);
        knobs.echo = request.model == "echo";
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Self {
            id: format!("chatcmpl-mock{n}"),
            model: request.model,
            stream: request.stream,
            include_usage: request.stream_options.is_some_and(|o| o.include_usage),
            knobs,
        })
    }

    /// The streaming format for this request.
    pub(crate) fn format(&self) -> ChatCompletionChunks {
        let format = ChatCompletionChunks::new(self.id.clone(), self.model.clone());
        if self.include_usage {
            format.include_usage(self.knobs.prompt_tokens())
        } else {
            format
        }
    }

    /// The whole answer as one `chat.completion` object, for `stream: false`.
    pub(crate) async fn complete(&self) -> Result<Value, MockError> {
        use futures_util::StreamExt;
        let mut text = Vec::new();
        let mut tokens = 0u64;
        let mut model = std::pin::pin!(self.knobs.model());
        while let Some(piece) = model.next().await {
            text.extend_from_slice(&piece?);
            tokens += 1;
        }
        let prompt = self.knobs.prompt_tokens();
        Ok(json!({
            "id": self.id,
            "object": "chat.completion",
            "created": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": String::from_utf8_lossy(&text)},
                "finish_reason": "stop",
                "logprobs": null,
            }],
            "usage": {"prompt_tokens": prompt, "completion_tokens": tokens, "total_tokens": prompt + tokens},
        }))
    }
}

/// An OpenAI-style error body.
pub(crate) fn error_body(message: &str, kind: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
}
