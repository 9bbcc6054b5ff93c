//! Stream LLM output to HTTP clients as spec-exact Server-Sent Events.
//!
//! `llm-sse` turns what a model produces (text, reasoning, tool calls with
//! streamed JSON arguments, usage, a finish reason) into SSE frames with
//! the lowest possible time to first token: the first token goes out the
//! moment it exists, later ones travel a few per frame, heartbeats keep
//! proxies from cutting quiet streams, and a failure reaches the client as
//! the format's own error instead of a torn connection. It also reads SSE
//! streams back, for services that re-stream an upstream provider.
//!
//! # Quick start
//!
//! Tokens in, `Bytes` frames out, ready for any HTTP stack:
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::Duration;
//! use futures_util::{stream, StreamExt};
//! use llm_sse::adapters::Batch;
//! use llm_sse::SseStream;
//!
//! // Any `Stream<Item = Result<T, E>>` of text tokens is a token stream.
//! let tokens = stream::iter(["Hello", ",", " world", "!"]).map(Ok::<_, std::io::Error>);
//!
//! let frames: Vec<_> = SseStream::builder(tokens)
//!     .batch(Batch::tokens(4).max_delay(Duration::from_millis(50)))
//!     .heartbeat(Duration::from_secs(15))
//!     .build()
//!     .collect()
//!     .await;
//!
//! // The first token alone and at once, the rest batched, then the end marker.
//! assert_eq!(frames, ["data: Hello\n\n", "data: , world!\n\n", "data: [DONE]\n\n"]);
//! # }
//! # #[cfg(not(feature = "tokio"))]
//! # fn main() {}
//! ```
//!
//! # Typed output
//!
//! A stream of text tokens is the short path; real answers are a stream of
//! [`Delta`]s: text, reasoning, tool calls and their argument fragments,
//! [`Usage`] and a [`FinishReason`]. The same stream leaves in any
//! [`format`](mod@format): plain [`Text`](format::Text) events,
//! [`JsonDelta`](format::JsonDelta) objects, OpenAI Chat Completions
//! chunks or Responses events (feature `openai`), Anthropic Messages events
//! (feature `anthropic`), or the Vercel AI SDK UI message stream (feature
//! `vercel`):
//!
//! ```
//! # #[cfg(all(feature = "tokio", feature = "openai"))]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use futures_util::{stream, StreamExt};
//! use llm_sse::format::OpenAiChat;
//! use llm_sse::{Delta, FinishReason, SseStream, Usage};
//!
//! let answer = stream::iter([
//!     Delta::reasoning("The user asks about Paris."),
//!     Delta::tool_call(0, "call_1", "get_weather"),
//!     Delta::tool_arguments(0, "{\"city\":"),
//!     Delta::tool_arguments(0, "\"Paris\"}"),
//!     Delta::usage(Usage::new(20, 12)),
//!     Delta::finish(FinishReason::ToolCalls),
//! ])
//! .map(Ok::<_, std::io::Error>);
//!
//! let body = SseStream::builder(answer)
//!     .format(OpenAiChat::new("my-model").include_usage(true))
//!     .build();
//! let text = body.map(|frame| String::from_utf8_lossy(&frame).into_owned()).collect::<String>().await;
//! assert_eq!(text.matches("get_weather").count(), 1, "the name goes out once");
//! assert!(text.contains("{\"reasoning_content\":\"The user asks about Paris.\"}"));
//! assert!(text.contains("\"finish_reason\":\"tool_calls\""));
//! assert!(text.ends_with("\"total_tokens\":32}}\n\ndata: [DONE]\n\n"));
//! # }
//! # #[cfg(not(all(feature = "tokio", feature = "openai")))]
//! # fn main() {}
//! ```
//!
//! # Events and encoding
//!
//! [`Event`] holds one event. Data and comments may hold any text: each
//! line becomes its own `data:` (or comment) line, so untrusted model output
//! can never forge an `event:`, `id:` or `retry:` field or end an event
//! early. Names and ids are checked when the event is built
//! ([`EventBuilder::build`]), so an `Event` always encodes to a well-formed
//! frame. [`Event::encode`] writes into a caller's
//! [`BytesMut`](bytes::BytesMut) and allocates nothing when the buffer has
//! room for [`Event::encoded_len`] bytes.
//!
//! # The pipeline
//!
//! [`SseStream::builder`] composes the [`adapters`] in the right order:
//! panics caught (if asked), [timeouts](adapters::Timeouts),
//! [batching](adapters::Batch) that never delays the first token and joins
//! only deltas of one kind, the [format](format::Format) with its error
//! frame and end marker, heartbeats, and [observation](observe). Each
//! adapter is also usable alone through [`TokenStreamExt`] and
//! [`FrameStreamExt`]. Byte tokens go through [`TokenStreamExt::utf8`]
//! first, which joins characters split between tokens; a tokio channel of
//! deltas is a stream through [`SseStream::from_receiver`].
//!
//! Adapters that need time take a [`Timer`]; the core needs no runtime, and
//! the `tokio` feature provides [`TokioTimer`].
//!
//! # Observation
//!
//! [`observe::Observer`] hooks see every stream start, send its first token,
//! flush chunks and heartbeats, fail, and end exactly once with a
//! [`observe::StreamSummary`] (counts per kind, usage, finish reason),
//! whatever the outcome, the client going away included.
//! [`Builder::on_complete`] hands the summary to a callback off the async
//! workers.
//!
//! # Serving it
//!
//! With the `axum` feature an [`SseStream`] is an `IntoResponse`; with
//! `actix-web` it is a `Responder`; with `http-body`,
//! `serve::response` makes an `http::Response` for any hyper-based stack.
//! Each sets the [`serve::HEADERS`]: `content-type: text/event-stream`,
//! `cache-control: no-cache, no-transform` and `x-accel-buffering: no`.
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # mod handler {
//! use std::time::Duration;
//! use futures_util::{stream, StreamExt};
//! use llm_sse::adapters::Batch;
//! use llm_sse::SseStream;
//!
//! async fn chat() -> impl axum_core::response::IntoResponse {
//!     let tokens = stream::iter(["Hi", " there"]).map(Ok::<_, std::io::Error>);
//!     SseStream::builder(tokens)
//!         .batch(Batch::tokens(4).max_delay(Duration::from_millis(50)))
//!         .build()
//! }
//! # }
//! ```
//!
//! **When the client goes away**, the response body is dropped, and with it
//! the token stream: the model stops at once and the outcome is
//! `cancelled`. `SseStream::finish_on_disconnect` (feature `tokio`) instead
//! runs the stream to its end in the background, so usage, billing and
//! completion logs see the whole answer.
//!
//! **A client that stops reading** stops the stream: the body is polled
//! only when the socket takes more bytes, so the token stream is pulled no
//! further than the socket buffers allow, and memory stays flat. While the
//! socket is stalled nothing is produced, heartbeats included; when it
//! drains, at most one heartbeat is due, and a timeout whose time passed
//! meanwhile fires on that poll unless a token is ready.
//!
//! **Behind nginx**, `x-accel-buffering: no` turns proxy buffering off for
//! these responses only; also set `proxy_http_version 1.1;`,
//! `proxy_set_header Connection "";` (keep-alive to the upstream) and a
//! `proxy_read_timeout` longer than the heartbeat interval (nginx's default
//! is 60 s; the default heartbeat is 15 s). Don't add `text/event-stream`
//! to `gzip_types`.
//!
//! **Over HTTP/2** each frame is a DATA frame and no `connection` header is
//! sent. Some HTTP/2 reverse proxies hold the response headers until the
//! first DATA frame; [`Builder::initial_comment`] sends a comment at once.
//!
//! **Compression** holds frames back until it has enough bytes; see
//! [`serve`] for which middlewares skip `text/event-stream`.
//!
//! **Set `TCP_NODELAY`** on accepted sockets (for axum 0.8:
//! `listener.tap_io(|tcp| { let _ = tcp.set_nodelay(true); })` with
//! `axum::serve::ListenerExt`): SSE writes are small, and with Nagle's
//! algorithm on, a frame can wait for the previous one's ACK (up to 40 ms
//! with delayed ACKs).
//!
//! # Decoding
//!
//! [`decode::Decoder`] is an incremental parser that follows the WHATWG
//! algorithm exactly, with bounded memory and linear time however the input
//! is chunked; [`decode::DecodeStream`] runs it over a body stream.
//!
//! For gateways, `upstream` (feature `upstream`) parses a provider's
//! stream (OpenAI Chat Completions, OpenAI Responses, Anthropic Messages)
//! back into [`Delta`]s that leave in any format, and holds the response
//! until a commit point, so an upstream failure before the first byte is
//! still an HTTP status in the client's error shape, or a retry.
//!
//! # Feature flags
//!
//! No feature is on by default.
//!
//! - `tokio`: [`TokioTimer`], `SseStream::builder`,
//!   `SseStream::from_receiver` and `SseStream::finish_on_disconnect`.
//! - `json`: `Event::json` and `Data::json`, JSON payloads through serde.
//! - `metrics`: `observe::MetricsObserver`, stream metrics through the
//!   `metrics` facade (Prometheus and others).
//! - `tracing`: `observe::TracingObserver`, one span per stream, with the
//!   OpenTelemetry GenAI attributes (`gen_ai.*`).
//! - `opentelemetry`: `observe::OtelObserver`, the OpenTelemetry GenAI
//!   server metrics (time to first token, time per output token, request
//!   duration) through the `opentelemetry` API (0.33, which needs Rust
//!   1.75).
//! - `http-body`: `serve::SseBody`, an `http_body::Body`, and
//!   `serve::response`.
//! - `axum`: `IntoResponse` for [`SseStream`] and `serve::Detached` (axum 0.8).
//! - `actix-web`: `Responder` for [`SseStream`] and `serve::Detached`
//!   (actix-web 4).
//! - `openai`: `format::OpenAiChat` (Chat Completions chunks) and
//!   `format::OpenAiResponses` (Responses events), with their
//!   non-streaming folds `format::ChatCompletion` and
//!   `format::OpenAiResponse`.
//! - `anthropic`: `format::AnthropicMessages` (Messages events) and its
//!   fold `format::AnthropicMessage`.
//! - `vercel`: `format::VercelUiStream`, the Vercel AI SDK UI message
//!   stream.
//! - `upstream`: the `upstream` module, provider stream parsers for
//!   gateways (`OpenAiChatParser` and `OpenAiResponsesParser` with
//!   `openai`, `AnthropicParser` with `anthropic`) and the commit point;
//!   `upstream::from_response` with `http-body`.
//! - `full`: every feature above.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod delta;
mod encode;
mod error;
mod event;
#[cfg(feature = "json")]
mod json;
mod timer;
mod token;

pub mod adapters;
pub mod decode;
pub mod format;
pub mod observe;
#[cfg(feature = "resume")]
#[cfg_attr(docsrs, doc(cfg(feature = "resume")))]
pub mod resume;
pub mod serve;
#[cfg(feature = "upstream")]
#[cfg_attr(docsrs, doc(cfg(feature = "upstream")))]
pub mod upstream;

pub use builder::{Builder, SseStream, DEFAULT_HEARTBEAT};
pub use delta::{Data, Delta, DeltaKind, FinishReason, IntoDelta, TokenCounts, Usage};
pub use error::{Error, Panicked, TimedOut, TimeoutKind};
pub use event::{Event, EventBuilder, EventError};
pub use timer::{Sleep, Timer};
#[cfg(feature = "tokio")]
pub use timer::{TokioSleep, TokioTimer};
pub use token::{FrameStreamExt, TokenStream, TokenStreamExt};

/// A `Result` whose error is this crate's stream [`Error`].
pub type Result<T, E> = std::result::Result<T, Error<E>>;
