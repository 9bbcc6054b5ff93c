//! What both example servers share: the mock model, the request knobs and
//! their validation, the metrics recorder, the chat page, and (in `api`)
//! the four wire APIs. Only the framework glue differs.

#![allow(dead_code)] // each example uses what its framework needs

pub(crate) mod api;
pub(crate) mod engine;
pub(crate) mod resume;

/// How many tokens a stream's channel holds before the engine waits for
/// its client.
pub(crate) const ENGINE_CAPACITY: usize = 64;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::Either;
use futures_util::stream::BoxStream;
use futures_util::{stream, Stream, StreamExt, TryStreamExt};
use llm_sse::adapters::{flush_channel, Batch};
use llm_sse::format::{Format, JsonDelta, Text};
use llm_sse::observe::{metric_names, Inline, MetricsObserver, StreamSummary};
use llm_sse::{Builder, Delta, FinishReason, TokenStreamExt, TokioTimer, Usage, DEFAULT_HEARTBEAT};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
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

/// Serves `router` on `127.0.0.1:$PORT` (HTTP/1.1 and h2c), with
/// `TCP_NODELAY` on every connection, once it prints where it listens.
#[allow(clippy::print_stdout)] // a server announces where it listens
pub(crate) async fn serve_axum(router: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
    use axum::serve::ListenerExt;

    let port = listen_port()?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "listening on http://127.0.0.1:{}",
        listener.local_addr()?.port()
    );
    // Small SSE writes must not wait for the previous one's ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    // `axum::serve(listener, router)` gives every connection its own copy
    // of the route table (axum rebuilds it per connection, about 0.5 KB a
    // route); an SSE server holds many long-lived connections, so share
    // one table and resolve the handler per request instead.
    axum::serve(listener, router.into_make_service()).await?;
    Ok(())
}

/// The process-wide Prometheus recorder, installed once.
pub(crate) fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                (metric_names::TTFT, MetricsObserver::TTFT_BUCKETS),
                (
                    metric_names::CHUNK_INTERVAL,
                    MetricsObserver::CHUNK_INTERVAL_BUCKETS,
                ),
                (metric_names::DURATION, MetricsObserver::DURATION_BUCKETS),
            ];
            let mut builder = PrometheusBuilder::new();
            for (name, buckets) in buckets {
                builder = builder
                    .set_buckets_for_metric(Matcher::Full(name.into()), buckets)
                    .expect("bucket lists are not empty");
            }
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // A recorder built by hand keeps every histogram sample until
            // upkeep drains it: without this a server nobody scrapes grows
            // by every chunk interval it records.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                })
                .expect("spawning the metrics upkeep thread");
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
    /// Reasoning tokens before the answer.
    pub(crate) reasoning: u64,
    /// Call this tool (with the prompt as its query) instead of answering.
    pub(crate) tool: Option<String>,
    /// Answer with this status and an error body instead of a stream.
    pub(crate) status: Option<u16>,
    /// End the answer after this many tokens, reasoning included.
    pub(crate) max_tokens: Option<u64>,
    /// Tokens come from one shared engine task instead of a sleep per
    /// stream (see [`engine`]).
    pub(crate) engine: bool,
    /// The stream is resumable (`resumable=1`): ids, a log, resume and stop.
    pub(crate) resumable: bool,
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
            reasoning: 0,
            tool: None,
            status: None,
            max_tokens: None,
            engine: false,
            resumable: false,
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
        let tool = match query.get("tools").map(String::as_str) {
            None | Some("0") | Some("false") => None,
            Some("1") | Some("true") => Some("lookup".to_owned()),
            Some(other) => {
                return Err(BadRequest(format!("`tools` must be 1 or 0, not {other:?}")))
            }
        };
        let engine = flag(query, "engine")?;
        let resumable = flag(query, "resumable")?;
        let status = match number(query, "status", 599)? {
            None => None,
            Some(code @ 400..=599) => Some(code as u16),
            Some(code) => {
                return Err(BadRequest(format!(
                    "`status` must be an error status from 400 to 599, not {code}"
                )))
            }
        };
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
            reasoning: number(query, "reasoning", MAX_TOKENS)?.unwrap_or(0),
            tool,
            status,
            max_tokens: number(query, "max_tokens", MAX_TOKENS)?,
            engine,
            resumable,
        })
    }

    /// The batch policy the knobs ask for.
    pub(crate) fn batch_policy(&self) -> Batch {
        Batch::tokens(self.batch).max_delay(self.batch_delay)
    }

    /// The batch policy of the pipeline over [`Knobs::source`]: with the
    /// engine, its flush channel applies the policy, and the pipeline joins
    /// what arrives together (as `SseStream::from_flush_receiver` does).
    pub(crate) fn pipeline_batch(&self) -> Batch {
        if self.engine {
            self.batch_policy()
                .max_delay(Duration::ZERO)
                .reset_after_idle(false)
        } else {
            self.batch_policy()
        }
    }

    /// The mock model's answer for a streamed response: paced by a sleep
    /// per token in the stream itself, or with `engine=1` fed by the shared
    /// engine through a flush channel that wakes the stream once per batch.
    pub(crate) fn source(&self) -> impl Stream<Item = Result<Delta, MockError>> + Send + 'static {
        // Either, not a box: the stream is polled for every token, and a
        // box is one more allocation to reach.
        if !self.engine {
            return Either::Left(self.model());
        }
        let (sender, receiver) = flush_channel(ENGINE_CAPACITY, self.batch_policy(), TokioTimer);
        engine::register(self, Box::new(sender));
        Either::Right(receiver)
    }

    /// The mock model's answer as typed deltas: `reasoning` reasoning
    /// tokens, then the answer text (byte tokens, the prompt cut at awkward
    /// places with `echo`, which UTF-8 repair joins again) or a call of
    /// `tool` with `{"query": <prompt>}` as arguments streamed in small
    /// fragments, then usage and the finish reason. `max_tokens` cuts the
    /// answer short (finish `length`); `fail_after` makes it fail after that
    /// many tokens.
    pub(crate) fn model(&self) -> impl Stream<Item = Result<Delta, MockError>> + Send + 'static {
        let limit = self.max_tokens.unwrap_or(u64::MAX);
        let reasoning_tokens = self.reasoning.min(limit);
        let reasoning = mock_reasoning(reasoning_tokens);
        let budget = limit - reasoning_tokens;
        let pacer = Arc::new(Pacer {
            sent: AtomicU64::new(0),
            begun: std::sync::atomic::AtomicBool::new(false),
            delay: self.delay,
            ttft: self.ttft,
            fail_after: self.fail_after,
        });
        let (answer, answer_total) = match &self.tool {
            Some(name) => {
                let arguments = json!({ "query": self.prompt }).to_string();
                let mut fragments = tool_fragments(&arguments);
                let total = fragments.len() as u64;
                fragments.truncate(usize::try_from(budget).unwrap_or(usize::MAX));
                // The call's start is not a token: it costs no budget, but a
                // model with no budget left calls nothing.
                let start = (budget > 0).then(|| Delta::tool_call(0, next_call_id(), name.clone()));
                let deltas = start
                    .into_iter()
                    .chain(fragments.into_iter().map(|f| Delta::tool_arguments(0, f)));
                let answer = pacer.clone().paced(deltas).boxed();
                (answer, total)
            }
            None if self.echo => {
                let mut pieces = echo_tokens(&self.prompt);
                let total = pieces.len() as u64;
                pieces.truncate(usize::try_from(budget).unwrap_or(usize::MAX));
                // A cut lands on a character boundary, so the answer is a
                // prefix of the prompt (no U+FFFD for a half character).
                let kept: usize = pieces.iter().map(Bytes::len).sum();
                let boundary = (0..=kept)
                    .rev()
                    .find(|&at| self.prompt.is_char_boundary(at))
                    .unwrap_or(0);
                let mut excess = kept - boundary;
                while excess > 0 {
                    let Some(last) = pieces.pop() else { break };
                    if last.len() > excess {
                        pieces.push(last.slice(..last.len() - excess));
                        break;
                    }
                    excess -= last.len();
                }
                (pacer.clone().text(pieces), total)
            }
            None => {
                let total = self.tokens;
                let pieces = mock_tokens(self.tokens.min(budget));
                (pacer.clone().text(pieces), total)
            }
        };
        let cut = answer_total > budget || self.reasoning > reasoning_tokens;
        let finish = match (&self.tool, cut) {
            (_, true) => FinishReason::Length,
            (Some(_), false) => FinishReason::ToolCalls,
            (None, false) => FinishReason::Stop,
        };
        let prompt_tokens = self.prompt_tokens();
        let tail_pacer = pacer.clone();
        let tail = stream::once(async move {
            let sent = tail_pacer.sent.load(Ordering::Relaxed);
            let items = if sent == FAILED {
                Vec::new()
            } else if tail_pacer.fail_after == Some(sent) {
                tail_pacer.wait().await;
                vec![Err(failure(sent))]
            } else {
                let usage = Usage::new(prompt_tokens, sent).reasoning_tokens(reasoning_tokens);
                vec![Ok(Delta::usage(usage)), Ok(Delta::finish(finish))]
            };
            stream::iter(items)
        })
        .flatten();
        pacer.paced(reasoning).chain(answer).chain(tail)
    }

    /// Tokens the prompt counts as, for usage numbers.
    pub(crate) fn prompt_tokens(&self) -> u64 {
        self.prompt.split_whitespace().count() as u64
    }
}

/// What [`Pacer::sent`] holds once the mock failed.
const FAILED: u64 = u64::MAX;

fn failure(sent: u64) -> MockError {
    MockError(format!("the mock model failed after {sent} tokens"))
}

/// Paces a mock answer: `ttft` before the first piece, `delay` between
/// pieces, a failure after `fail_after` tokens.
struct Pacer {
    /// Tokens sent so far, or [`FAILED`].
    sent: AtomicU64,
    begun: std::sync::atomic::AtomicBool,
    delay: Duration,
    ttft: Duration,
    fail_after: Option<u64>,
}

/// Whether a piece counts as a token: a tool call's start does not.
trait Pace {
    fn is_token(&self) -> bool;
}

impl Pace for Delta {
    fn is_token(&self) -> bool {
        !matches!(self, Delta::ToolCall { .. })
    }
}

impl Pace for Bytes {
    fn is_token(&self) -> bool {
        true
    }
}

impl Pacer {
    /// Waits `ttft` before the first piece, `delay` before the others.
    async fn wait(&self) {
        let wait = if self.begun.swap(true, Ordering::Relaxed) {
            self.delay
        } else {
            self.ttft
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Byte tokens, paced, as answer text: UTF-8 repair joins characters
    /// cut between them.
    fn text<I>(self: Arc<Self>, pieces: I) -> BoxStream<'static, Result<Delta, MockError>>
    where
        I: IntoIterator<Item = Bytes>,
        I::IntoIter: Send + 'static,
    {
        self.paced(pieces).utf8().map_ok(Delta::text).boxed()
    }

    /// `items` one at a time, paced; ends (after one error) once failed.
    fn paced<T, I>(
        self: Arc<Self>,
        items: I,
    ) -> impl Stream<Item = Result<T, MockError>> + Send + 'static
    where
        T: Pace + Send + 'static,
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        stream::unfold((items.into_iter(), self), |(mut items, pacer)| async move {
            let item = items.next()?;
            let sent = pacer.sent.load(Ordering::Relaxed);
            if sent == FAILED {
                return None;
            }
            pacer.wait().await;
            if item.is_token() {
                if pacer.fail_after == Some(sent) {
                    pacer.sent.store(FAILED, Ordering::Relaxed);
                    // Later polls see FAILED and end.
                    return Some((Err(failure(sent)), (items, pacer)));
                }
                pacer.sent.store(sent + 1, Ordering::Relaxed);
            }
            Some((Ok(item), (items, pacer)))
        })
    }
}

/// Reasoning the mock thinks aloud, one word a token.
fn mock_reasoning(count: u64) -> impl Iterator<Item = Delta> + Send + 'static {
    const WORDS: [&str; 8] = [
        "The",
        " user",
        " wants",
        " an",
        " answer;",
        " think",
        " it",
        " through.",
    ];
    (0..count).map(|i| Delta::reasoning(WORDS[i as usize % WORDS.len()]))
}

/// A fresh tool call id.
fn next_call_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("call_mock{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Serialized arguments cut into fragments of 1, 3 and 2 characters in
/// turn: cuts land inside escapes and between the halves of `\r\n`.
fn tool_fragments(arguments: &str) -> Vec<String> {
    let chars: Vec<char> = arguments.chars().collect();
    let mut fragments = Vec::new();
    let mut at = 0;
    for size in [1, 3, 2].into_iter().cycle() {
        if at >= chars.len() {
            break;
        }
        let end = (at + size).min(chars.len());
        fragments.push(chars[at..end].iter().collect());
        at = end;
    }
    fragments
}

/// Words of mock text, as byte tokens.
fn mock_tokens(count: u64) -> impl Iterator<Item = Bytes> + Send + 'static {
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
    (0..count).map(|i| Bytes::from_static(WORDS[i as usize % WORDS.len()].as_bytes()))
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

/// Builds the `/chat` stream for any builder: knobs, format, metrics,
/// completion log.
/// A yes/no knob: `1`/`true` or `0`/`false`; absent is no.
fn flag(query: &HashMap<String, String>, name: &str) -> Result<bool, BadRequest> {
    match query.get(name).map(String::as_str) {
        None | Some("0") | Some("false") => Ok(false),
        Some("1") | Some("true") => Ok(true),
        Some(other) => Err(BadRequest(format!(
            "`{name}` must be 1 or 0, not {other:?}"
        ))),
    }
}

pub(crate) fn configure_chat<S, T>(
    builder: Builder<S, T>,
    knobs: &Knobs,
) -> Builder<S, T, Box<dyn Format + Send>>
where
    S: llm_sse::TokenStream,
    T: llm_sse::Timer,
{
    let format: Box<dyn Format + Send> = if knobs.json {
        Box::new(JsonDelta)
    } else {
        Box::new(Text)
    };
    builder
        .batch(knobs.pipeline_batch())
        .heartbeat(knobs.heartbeat)
        .format(format)
        .observe(chat_metrics())
        .on_complete_on(Inline, log_completion)
}

/// The `/chat` metrics observer: made once, cloned per stream, so every
/// stream shares its metric handles.
fn chat_metrics() -> MetricsObserver {
    static OBSERVER: LazyLock<MetricsObserver> =
        LazyLock::new(|| MetricsObserver::new().label("route", "chat"));
    OBSERVER.clone()
}

/// Logs every finished stream, whatever its outcome, as one line.
#[allow(clippy::needless_pass_by_value)] // the completion hook hands over the summary
pub(crate) fn log_completion(summary: StreamSummary) {
    use std::io::Write as _;

    // Formatted first and written with one call: stderr is unbuffered, so
    // `eprintln!` would make a `write` syscall per formatted piece (26 a
    // line, counted with strace), on every stream's last poll.
    let line = format!(
        "stream {}: {} tokens ({} reasoning, {} tool calls) in {} chunks, finish {}, ttft {:?}, {:?}\n",
        summary.outcome,
        summary.tokens,
        summary.counts.reasoning,
        summary.counts.tool_calls,
        summary.chunks,
        summary.finish_reason.as_ref().map_or("none", FinishReason::as_str),
        summary.ttft,
        summary.duration
    );
    // A log line that cannot be written is not worth failing a stream for.
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The error body `/chat` answers `status=CODE` with.
pub(crate) fn chat_status_body(status: u16) -> Value {
    json!({"error": {"message": format!("the mock model answered {status}"), "type": "upstream_error"}})
}
