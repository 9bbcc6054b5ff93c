//! Wire formats: how [`Delta`]s become SSE frames.
//!
//! A [`Format`] owns every frame of a stream in one wire format: the frames
//! before the first delta, the frames of each delta, the frames after a
//! normal end, the end marker, the terminal error frame and the heartbeat.
//! The built-in formats:
//!
//! - [`Text`]: text as plain `data:` lines, the other kinds as named events;
//!   the simplest format for `EventSource` clients.
//! - [`JsonDelta`]: one small JSON object per frame; any text round-trips
//!   exactly.
//! - `OpenAiChat` (feature `openai`): OpenAI Chat Completions chunks, read
//!   unchanged by the official OpenAI SDKs and `async-openai`.
//! - `OpenAiResponses` (feature `openai`): OpenAI Responses events, which
//!   the official SDKs' `responses.stream()` helper reads.
//! - `AnthropicMessages` (feature `anthropic`): Anthropic Messages events,
//!   which the official SDKs' `messages.stream()` helper reads.
//! - `VercelUiStream` (feature `vercel`): the Vercel AI SDK UI message
//!   stream that `useChat` reads.
//!
//! The OpenAI and Anthropic formats also fold the same deltas into one
//! object, for requests that do not stream.
//!
//! `Format` is object safe, so a handler can choose one per request:
//!
//! ```
//! use llm_sse::format::{Format, JsonDelta, Text};
//!
//! fn format_for(json: bool) -> Box<dyn Format + Send> {
//!     if json { Box::new(JsonDelta) } else { Box::new(Text) }
//! }
//! # let _ = format_for(true);
//! ```

use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::delta::{Delta, TokenCounts};
use crate::encode;
use crate::error::{Error, TimeoutKind};

#[cfg(feature = "anthropic")]
mod anthropic;
mod error_response;
#[cfg(any(feature = "anthropic", feature = "vercel"))]
mod json_check;
mod json_delta;
pub(crate) mod json_writer;
#[cfg(feature = "openai")]
mod openai_chat;
#[cfg(feature = "openai")]
mod openai_responses;
mod text;
#[cfg(feature = "vercel")]
mod vercel;

#[cfg(feature = "anthropic")]
#[cfg_attr(docsrs, doc(cfg(feature = "anthropic")))]
pub use anthropic::{AnthropicMessage, AnthropicMessages};
pub use error_response::ErrorResponse;
pub use json_delta::JsonDelta;
#[cfg(feature = "openai")]
#[cfg_attr(docsrs, doc(cfg(feature = "openai")))]
pub use openai_chat::{ChatCompletion, OpenAiChat, ReasoningField};
#[cfg(feature = "openai")]
#[cfg_attr(docsrs, doc(cfg(feature = "openai")))]
pub use openai_responses::{OpenAiResponse, OpenAiResponses};
pub use text::Text;
#[cfg(feature = "vercel")]
#[cfg_attr(docsrs, doc(cfg(feature = "vercel")))]
pub use vercel::VercelUiStream;

use json_writer::JsonObject;

/// The end marker most formats send after a normal end: `data: [DONE]`.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// The default heartbeat: the comment line `: ping`, with no blank line
/// after it.
///
/// One comment line is invisible to `EventSource` listeners and can never
/// dispatch an event, not even in clients (such as the OpenAI Python SDK)
/// that turn a blank line after a comment into an empty event once an `id:`
/// has been seen.
pub const COMMENT_HEARTBEAT: &[u8] = encode::HEARTBEAT;

/// How a stream of [`Delta`]s is written as SSE frames.
///
/// The pipeline calls, in order: [`write_start`](Format::write_start) once,
/// on the stream's first poll (its frames go out at once, before the
/// model's first token); [`write_delta`](Format::write_delta) for every
/// (batched) delta; then either [`write_end`](Format::write_end) followed
/// by the [`end_marker`](Format::end_marker) after a normal end, or
/// [`write_error`](Format::write_error) after a failure.
/// [`heartbeat`](Format::heartbeat) and
/// [`response_headers`](Format::response_headers) are read once, when the
/// stream is built.
///
/// Every method appends complete frames to `buf`, which is sent as one
/// write. A method may write nothing: a format with no place for a kind of
/// delta skips it, and one that reports usage at the end keeps it until
/// then.
///
/// # Examples
///
/// A format that sends the answer text only, as `answer` events:
///
/// ```
/// use bytes::BytesMut;
/// use llm_sse::format::Format;
/// use llm_sse::{Delta, Event};
///
/// struct AnswerOnly;
///
/// impl Format for AnswerOnly {
///     fn write_delta(&mut self, delta: &Delta, buf: &mut BytesMut) {
///         if let Delta::Text(text) = delta {
///             // `Event` splits lines, so no text can forge a field.
///             let event = Event::builder().event("answer").data(text.clone()).build();
///             if let Ok(event) = event {
///                 event.encode(buf);
///             }
///         }
///     }
/// }
///
/// let mut buf = BytesMut::new();
/// AnswerOnly.write_delta(&Delta::text("a\nb"), &mut buf);
/// assert_eq!(buf, "event: answer\ndata: a\ndata: b\n\n");
/// ```
pub trait Format {
    /// Appends the frames that open the stream. Default: none.
    fn write_start(&mut self, buf: &mut BytesMut) {
        let _ = buf;
    }

    /// Appends the frames that carry `delta`.
    fn write_delta(&mut self, delta: &Delta, buf: &mut BytesMut);

    /// Appends the frames that close a stream that ended normally, before
    /// the end marker; `counted` is what the stream sent, per kind, for
    /// formats that report usage when the model did not. Default: none.
    fn write_end(&mut self, counted: &TokenCounts, buf: &mut BytesMut) {
        let _ = (counted, buf);
    }

    /// The frame sent after [`write_end`](Format::write_end), unless the
    /// builder sets its own. Default: `data: [DONE]`.
    fn end_marker(&self) -> Option<Bytes> {
        Some(Bytes::from_static(DONE))
    }

    /// Appends the frame that reports `failure` and ends the stream.
    /// Default: `event: error` with data
    /// `{"error":{"message":"...","type":"..."}}`.
    fn write_error(&mut self, failure: &Failure, buf: &mut BytesMut) {
        write_error_event(failure, buf);
    }

    /// Appends the terminal frame a resumable stream's readers get when its
    /// generation ended early (its process died, or no reader came back),
    /// written before the stream starts and without touching the format's
    /// state. Default: [`write_error`](Self::write_error)'s default frame.
    fn write_interrupted(&self, failure: &Failure, buf: &mut BytesMut) {
        write_error_event(failure, buf);
    }

    /// The frame sent after every silence of the heartbeat interval.
    /// Default: [`COMMENT_HEARTBEAT`].
    fn heartbeat(&self) -> Bytes {
        Bytes::from_static(COMMENT_HEARTBEAT)
    }

    /// The answer to send in place of the stream while none of it has been
    /// sent (an upstream's 429, a bad request): `status` with `message` in
    /// the error shape the format's clients read. Default:
    /// [`ErrorResponse::openai`].
    fn error_response(&self, status: u16, message: &str) -> ErrorResponse {
        ErrorResponse::openai(status, message)
    }

    /// Response headers the format's clients need besides the SSE ones
    /// ([`serve::HEADERS`](crate::serve::HEADERS)), as lower-case names and
    /// values. Default: none.
    fn response_headers(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
}

impl<F: Format + ?Sized> Format for Box<F> {
    fn write_start(&mut self, buf: &mut BytesMut) {
        (**self).write_start(buf);
    }

    fn write_delta(&mut self, delta: &Delta, buf: &mut BytesMut) {
        (**self).write_delta(delta, buf);
    }

    fn write_end(&mut self, counted: &TokenCounts, buf: &mut BytesMut) {
        (**self).write_end(counted, buf);
    }

    fn end_marker(&self) -> Option<Bytes> {
        (**self).end_marker()
    }

    fn write_error(&mut self, failure: &Failure, buf: &mut BytesMut) {
        (**self).write_error(failure, buf);
    }

    fn write_interrupted(&self, failure: &Failure, buf: &mut BytesMut) {
        (**self).write_interrupted(failure, buf);
    }

    fn heartbeat(&self) -> Bytes {
        (**self).heartbeat()
    }

    fn error_response(&self, status: u16, message: &str) -> ErrorResponse {
        (**self).error_response(status, message)
    }

    fn response_headers(&self) -> &'static [(&'static str, &'static str)] {
        (**self).response_headers()
    }
}

/// Why a stream failed, as a format reports it to the client.
///
/// # Examples
///
/// ```
/// use llm_sse::format::{Failure, FailureKind};
/// use llm_sse::Error;
///
/// let failure = Failure::from_error(&Error::Upstream("model overloaded"));
/// assert_eq!(failure.kind(), FailureKind::Upstream);
/// assert_eq!(failure.kind().type_name(), "upstream_error");
/// assert_eq!(failure.message(), "model overloaded");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    kind: FailureKind,
    message: String,
}

impl Failure {
    /// A failure of `kind` with `message`, which reaches the client.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The failure of a stream that ended with `error`; the message is the
    /// error's `Display` text.
    pub fn from_error<E: fmt::Display>(error: &Error<E>) -> Self {
        let kind = match error {
            Error::Upstream(_) => FailureKind::Upstream,
            Error::TimedOut(timeout) => FailureKind::TimedOut(timeout.kind),
            Error::Panicked(_) => FailureKind::Panicked,
        };
        Self::new(kind, error.to_string())
    }

    /// What failed.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// The message for the client.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What made a stream fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The model (the token stream) reported an error.
    Upstream,
    /// A timeout passed.
    TimedOut(TimeoutKind),
    /// The token stream panicked.
    Panicked,
    /// A resumable stream's generation ended before its end: its producer
    /// died, or it had no reader for its grace time.
    Interrupted,
}

impl FailureKind {
    /// The `type` of the default error payload: `upstream_error`,
    /// `timeout`, `internal_error` or `stream_interrupted`.
    pub fn type_name(&self) -> &'static str {
        match self {
            FailureKind::Upstream => "upstream_error",
            FailureKind::TimedOut(_) => "timeout",
            FailureKind::Panicked => "internal_error",
            FailureKind::Interrupted => "stream_interrupted",
        }
    }
}

/// `{"error":{"message":"...","type":"..."}}`, the error object OpenAI-style
/// clients read; `extra` adds members after `type`.
pub(crate) fn write_error_object(
    failure: &Failure,
    buf: &mut BytesMut,
    extra: impl FnOnce(&mut JsonObject<'_>),
) {
    let mut outer = JsonObject::open(buf);
    let mut error = JsonObject::open(outer.nested("error"));
    error
        .string("message", failure.message())
        .string("type", failure.kind().type_name());
    extra(&mut error);
    error.close();
    outer.close();
}

/// The default error frame: `event: error` and the error object.
pub(crate) fn write_error_event(failure: &Failure, buf: &mut BytesMut) {
    buf.reserve(failure.message().len() + 64);
    bytes::BufMut::put_slice(buf, b"event: error\ndata: ");
    write_error_object(failure, buf, |_| {});
    bytes::BufMut::put_slice(buf, b"\n\n");
}

/// Hands every delta of `deltas` to `push`, stopping at the first error:
/// what the non-streaming folds' `collect` does.
#[cfg_attr(not(any(feature = "openai", feature = "anthropic")), allow(dead_code))]
pub(crate) async fn push_all<S>(deltas: S, mut push: impl FnMut(Delta)) -> Result<(), S::Error>
where
    S: crate::TokenStream,
    S::Token: crate::IntoDelta,
{
    use futures_util::StreamExt;

    let mut deltas = std::pin::pin!(deltas);
    while let Some(delta) = deltas.next().await {
        push(crate::IntoDelta::into_delta(delta?));
    }
    Ok(())
}

/// `prefix` and 32 hex digits (128 bits) no other id of this process
/// shares, unpredictable enough for response ids (not for secrets): std's
/// randomly keyed hasher over a process-wide counter.
#[cfg_attr(
    not(any(feature = "openai", feature = "anthropic", feature = "vercel")),
    allow(dead_code)
)]
pub(crate) fn random_id(prefix: &str) -> String {
    use std::collections::hash_map::RandomState;
    use std::fmt::Write;
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let keys = RandomState::new();
    let mut id = String::with_capacity(prefix.len() + 32);
    id.push_str(prefix);
    for half in [keys.hash_one(n), keys.hash_one(!n)] {
        let _ = write!(id, "{half:016x}");
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_error_event() {
        let mut buf = BytesMut::new();
        let failure = Failure::new(FailureKind::Upstream, "line\nbreak \"quoted\"");
        write_error_event(&failure, &mut buf);
        assert_eq!(
            buf,
            "event: error\ndata: {\"error\":{\"message\":\"line\\nbreak \\\"quoted\\\"\",\
             \"type\":\"upstream_error\"}}\n\n"
        );
    }

    #[test]
    fn boxed_formats_are_formats() {
        let mut format: Box<dyn Format + Send> = Box::new(Text);
        let mut buf = BytesMut::new();
        format.write_delta(&Delta::text("hi"), &mut buf);
        assert_eq!(buf, "data: hi\n\n");
        assert_eq!(format.end_marker().as_deref(), Some(DONE));
    }

    #[test]
    fn random_ids_differ() {
        let (a, b) = (random_id("x-"), random_id("x-"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 34);
        assert!(a[2..].bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
