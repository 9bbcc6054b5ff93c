//! Reading provider streams back into [`Delta`]s, for gateways.
//!
//! A gateway calls a provider (OpenAI, an OpenAI-compatible engine such as
//! vLLM or llama.cpp, Anthropic) and re-streams the answer to its own
//! clients, often in another format. This module turns the provider's SSE
//! body into the same `Stream<Item = Result<Delta, UpstreamError>>` a local
//! model gives, so batching, heartbeats, timeouts, observation and every
//! [`format`](crate::format) apply to it unchanged:
//!
//! - a [`Parser`] per provider format: [`OpenAiChatParser`] (Chat
//!   Completions chunks), [`OpenAiResponsesParser`] (Responses events) and
//!   [`AnthropicParser`] (Messages events). They are lenient where
//!   providers differ (a missing tool-call `index`, `reasoning` or
//!   `reasoning_content`, unknown fields and events, `ping`s) and strict
//!   where it matters: an in-band error object, an `error` event, a JSON
//!   error where SSE was expected, and a body that ends before the
//!   format's end marker are all [`UpstreamError`]s that keep the
//!   provider's message;
//! - [`parse`] runs a parser over any stream of body chunks, and
//!   [`from_response`] (feature `http-body`) over an `http::Response`,
//!   turning a status other than success into
//!   [`UpstreamError::Status`] with the provider's message and
//!   `retry-after`;
//! - [`commit`] and [`connect`] (with retries and a deadline) hold the
//!   response back until the upstream's first delta: a failure before it can still be an HTTP
//!   status in the client's format
//!   ([`Format::error_response`](crate::format::Format::error_response)),
//!   or another attempt against the same or a fallback upstream; after
//!   it, the client's format ends the stream with its terminal error.
//!   Either way a client never sees a clean end after a failure, nor a
//!   second start frame.
//!
//! Dropping the stream drops the body, which closes the upstream request:
//! a client that leaves stops the upstream at once.
//!
//! Usage and the finish reason pass through as the provider sent them.
//! When a provider sends no usage, the client formats count the deltas
//! they sent instead, and the stream's
//! [`StreamSummary::usage`](crate::observe::StreamSummary::usage) stays
//! `None`, so observers can tell reported usage from counted.
//!
//! # Examples
//!
//! An OpenAI Chat stream re-streamed as Anthropic Messages events:
//!
//! ```
//! # #[cfg(all(feature = "openai", feature = "anthropic"))]
//! # futures_util::FutureExt::now_or_never(async {
//! use futures_util::{stream, StreamExt};
//! use llm_sse::format::AnthropicMessages;
//! use llm_sse::upstream::{self, OpenAiChatParser};
//! use llm_sse::SseStream;
//!
//! let body = stream::iter([
//!     r#"data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
//!     "\n\ndata: ",
//!     r#"{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}"#,
//!     "\n\ndata: [DONE]\n\n",
//! ])
//! .map(Ok::<_, std::io::Error>);
//!
//! let deltas = upstream::commit(upstream::parse(body, OpenAiChatParser::new())).await?;
//! let frames: Vec<_> = SseStream::builder(deltas)
//!     .format(AnthropicMessages::new("gpt-x"))
//!     .build()
//!     .collect()
//!     .await;
//! let sent = String::from_utf8(frames.concat()).unwrap();
//! assert!(sent.starts_with("event: message_start\n"));
//! assert!(sent.contains(r#""delta":{"type":"text_delta","text":"Hel"}"#));
//! assert!(sent.contains(r#""stop_reason":"end_turn""#));
//! assert!(sent.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
//! # Ok::<(), llm_sse::upstream::UpstreamError>(())
//! # }).unwrap().unwrap();
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use crate::decode::Borrowed;
use crate::decode::{Decoder, Frame};
use crate::Delta;

#[cfg(feature = "anthropic")]
mod anthropic;
mod error;
#[cfg(feature = "http-body")]
mod http;
#[cfg(feature = "openai")]
mod openai_chat;
#[cfg(feature = "openai")]
mod openai_responses;
#[cfg_attr(not(any(feature = "openai", feature = "anthropic")), allow(dead_code))]
mod skim;

#[cfg(feature = "anthropic")]
#[cfg_attr(docsrs, doc(cfg(feature = "anthropic")))]
pub use anthropic::AnthropicParser;
pub use error::{BoxError, UpstreamError};
#[cfg(feature = "http-body")]
#[cfg_attr(docsrs, doc(cfg(feature = "http-body")))]
pub use http::{from_response, BodyChunks};
#[cfg(feature = "openai")]
#[cfg_attr(docsrs, doc(cfg(feature = "openai")))]
pub use openai_chat::OpenAiChatParser;
#[cfg(feature = "openai")]
#[cfg_attr(docsrs, doc(cfg(feature = "openai")))]
pub use openai_responses::OpenAiResponsesParser;

/// What a [`Parser`] made of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// More events follow.
    More,
    /// The event was the format's end marker: the answer is complete.
    End,
}

/// Reads one provider's events into [`Delta`]s.
///
/// [`parse`] feeds it every event of the body in order. A parser for
/// another provider is one `impl` away:
///
/// ```
/// use std::collections::VecDeque;
/// use llm_sse::upstream::{Parser, Step, UpstreamError};
/// use llm_sse::Delta;
///
/// /// Plain text events, ended by `[DONE]`.
/// struct PlainText;
///
/// impl Parser for PlainText {
///     fn event(&mut self, _name: Option<&str>, data: &str, out: &mut VecDeque<Delta>) -> Result<Step, UpstreamError> {
///         match data {
///             "[DONE]" => return Ok(Step::End),
///             text => out.push_back(Delta::text(text.to_owned())),
///         }
///         Ok(Step::More)
///     }
///
///     fn end_marker(&self) -> &'static str {
///         "[DONE]"
///     }
/// }
/// ```
pub trait Parser {
    /// Reads one event, its `name` (`None` when the stream gave none,
    /// which clients treat as `message`) and its `data`, pushing the
    /// deltas it carries onto `out`. An `event: error` never reaches it:
    /// [`parse`] reports it as [`UpstreamError::Provider`].
    ///
    /// # Errors
    ///
    /// The provider's error when the event reports one, or
    /// [`UpstreamError::Malformed`] when it is not what the format
    /// defines. The stream ends after the error.
    fn event(
        &mut self,
        name: Option<&str>,
        data: &str,
        out: &mut VecDeque<Delta>,
    ) -> Result<Step, UpstreamError>;

    /// The format's end marker, named in the error of a body that ends
    /// before it.
    fn end_marker(&self) -> &'static str;
}

impl<P: Parser + ?Sized> Parser for Box<P> {
    fn event(
        &mut self,
        name: Option<&str>,
        data: &str,
        out: &mut VecDeque<Delta>,
    ) -> Result<Step, UpstreamError> {
        (**self).event(name, data, out)
    }

    fn end_marker(&self) -> &'static str {
        (**self).end_marker()
    }
}

/// Parses a provider's SSE body, a stream of chunks (`Result<B, E>` where
/// `B: AsRef<[u8]>`, such as a `reqwest` or `hyper` body stream), with
/// `parser`.
///
/// A status other than success must be checked before (see
/// [`UpstreamError::from_status`], or [`from_response`], which does it).
pub fn parse<S, P>(body: S, parser: P) -> Deltas<S, P> {
    Deltas {
        body,
        reader: Reader {
            decoder: Decoder::new().unrecognized_lines(true),
            parser,
            pending: VecDeque::new(),
            unparsed: String::new(),
            failure: None,
            done: false,
        },
    }
}

pin_project! {
    /// The deltas of a provider's SSE body: see [`parse`].
    ///
    /// It ends after the format's end marker; a body that ends before it,
    /// a body error, or an error the provider reports ends it with one
    /// [`UpstreamError`] after the deltas read before.
    #[must_use = "streams do nothing unless polled"]
    pub struct Deltas<S, P> {
        #[pin]
        body: S,
        reader: Reader<P>,
    }
}

/// What [`Deltas`] has read of the body.
struct Reader<P> {
    decoder: Decoder,
    parser: P,
    pending: VecDeque<Delta>,
    /// Lines of the body that are not SSE, kept to report a JSON error
    /// written where events were expected.
    unparsed: String,
    failure: Option<UpstreamError>,
    done: bool,
}

impl<S, P: fmt::Debug> fmt::Debug for Deltas<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deltas")
            .field("parser", &self.reader.parser)
            .field("pending", &self.reader.pending.len())
            .field("done", &self.reader.done)
            .finish_non_exhaustive()
    }
}

impl<S, B, E, P> Stream for Deltas<S, P>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: Into<BoxError>,
    P: Parser,
{
    type Item = Result<Delta, UpstreamError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        let reader = this.reader;
        loop {
            if let Some(delta) = reader.pending.pop_front() {
                return Poll::Ready(Some(Ok(delta)));
            }
            if reader.done {
                return Poll::Ready(reader.failure.take().map(Err));
            }
            reader.read_frames();
            if !reader.pending.is_empty() || reader.done {
                continue;
            }
            match ready!(this.body.as_mut().poll_next(cx)) {
                Some(Ok(chunk)) => reader.decoder.feed(chunk.as_ref()),
                Some(Err(error)) => reader.fail(UpstreamError::Transport(error.into())),
                None => reader.end_of_body(),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let reader = &self.reader;
        if reader.done {
            let n = reader.pending.len() + usize::from(reader.failure.is_some());
            (n, Some(n))
        } else {
            (reader.pending.len(), None)
        }
    }
}

impl<S, B, E, P> FusedStream for Deltas<S, P>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: Into<BoxError>,
    P: Parser,
{
    fn is_terminated(&self) -> bool {
        let reader = &self.reader;
        reader.done && reader.pending.is_empty() && reader.failure.is_none()
    }
}

impl<P: Parser> Reader<P> {
    /// Parses the frames the decoder holds until a delta is pending or the
    /// stream is done.
    fn read_frames(&mut self) {
        while let Some(frame) = self.decoder.next_borrowed() {
            let result = match frame {
                Ok(Borrowed::Event { name, data }) => match unparsed_error(&self.unparsed) {
                    Some(error) => Err(error),
                    None => {
                        self.unparsed.clear();
                        event(&mut self.parser, name, data, &mut self.pending)
                    }
                },
                Ok(Borrowed::Frame(Frame::Unrecognized(line))) => {
                    if self.unparsed.len() + line.len() < error::MAX_ERROR_BODY {
                        self.unparsed.push_str(&line);
                        self.unparsed.push('\n');
                    }
                    Ok(Step::More)
                }
                Ok(_) => Ok(Step::More),
                Err(error) => Err(error.into()),
            };
            match result {
                Ok(Step::More) if self.pending.is_empty() => {}
                Ok(Step::More) => return,
                Ok(Step::End) => {
                    self.done = true;
                    return;
                }
                Err(error) => {
                    self.fail(error);
                    return;
                }
            }
        }
    }

    /// The body ended: the last frames, then an error unless the format's
    /// end marker came.
    fn end_of_body(&mut self) {
        // A last line with no line break is still a line.
        self.decoder.feed(b"\n");
        self.read_frames();
        if !self.done {
            let error = unparsed_error(&self.unparsed).unwrap_or_else(|| {
                UpstreamError::truncated(self.parser.end_marker(), &self.unparsed)
            });
            self.fail(error);
        }
    }

    fn fail(&mut self, error: UpstreamError) {
        self.failure = Some(error);
        self.done = true;
    }
}

/// Hands one event to `parser`. What every provider format shares is done
/// here: an `event: error` is the provider's error whatever the parser,
/// and a malformed event's error quotes its data.
fn event<P: Parser>(
    parser: &mut P,
    name: Option<&str>,
    data: &str,
    out: &mut VecDeque<Delta>,
) -> Result<Step, UpstreamError> {
    if name == Some("error") {
        return Err(error_event(data));
    }
    parser
        .event(name, data, out)
        .map_err(|error| error.in_event(data))
}

/// The error of JSON written where SSE was expected: a provider's error
/// object, or the JSON itself when it is none.
fn unparsed_error(unparsed: &str) -> Option<UpstreamError> {
    if unparsed.is_empty() {
        return None;
    }
    let text = unparsed.trim();
    if !text.starts_with(['{', '[']) {
        return None;
    }
    Some(match error::error_object(text) {
        Some((message, error_type)) => UpstreamError::Provider {
            message,
            error_type,
        },
        None => UpstreamError::malformed(format!(
            "the upstream sent JSON where SSE was expected: {:?}",
            error::quote(text)
        )),
    })
}

/// Waits for the first delta of an upstream `stream`: the commit point of
/// a gateway.
///
/// Until it returns `Ok`, no byte has gone to the client, so the error can
/// still become an HTTP answer in the client's format
/// ([`UpstreamError::status`],
/// [`Format::error_response`](crate::format::Format::error_response)).
/// The stream returned yields the first delta, then the rest.
///
/// A stream that is not `Unpin` goes in a `Box::pin`.
///
/// # Errors
///
/// The upstream's error when it fails before its first delta.
pub async fn commit<S>(stream: S) -> Result<Committed<S>, UpstreamError>
where
    S: Stream<Item = Result<Delta, UpstreamError>> + Unpin,
{
    wait_for_first(stream, std::future::pending::<()>()).await
}

/// Opens an upstream with `open(attempt)` and waits for its commit point,
/// with retries and a deadline: see [`Connect`].
///
/// # Examples
///
/// ```
/// # futures_util::FutureExt::now_or_never(async {
/// use futures_util::stream::{self, StreamExt};
/// use llm_sse::upstream::{self, UpstreamError};
/// use llm_sse::Delta;
///
/// let upstreams = ["primary", "fallback"];
/// let deltas = upstream::connect(|attempt| async move {
///     let name = upstreams[attempt as usize];
///     if name == "primary" {
///         let overloaded = UpstreamError::from_status(529, b"Overloaded", None);
///         return Err::<stream::Iter<std::vec::IntoIter<_>>, _>(overloaded);
///     }
///     Ok(stream::iter(vec![Ok(Delta::text(name))]))
/// })
/// .retry(|error, attempt| error.is_retryable() && attempt + 1 < 2)
/// .commit()
/// .await?;
/// let texts: Vec<_> = deltas.map(|delta| delta.unwrap().as_text().unwrap().to_owned()).collect().await;
/// assert_eq!(texts, ["fallback"]);
/// # Ok::<(), UpstreamError>(())
/// # }).unwrap().unwrap();
/// ```
pub fn connect<O>(open: O) -> Connect<O, NoRetry, NoDeadline> {
    Connect {
        open,
        retry: no_retry,
        deadline: std::future::pending,
    }
}

/// The retry policy of a [`Connect`] that never retries.
pub type NoRetry = fn(&UpstreamError, u32) -> bool;

/// The first-delta deadline of a [`Connect`] that waits as long as it
/// takes.
pub type NoDeadline = fn() -> std::future::Pending<()>;

fn no_retry(_: &UpstreamError, _: u32) -> bool {
    false
}

/// How a gateway reaches its commit point: which upstream to open for each
/// attempt, whether a failure before the first delta is retried, and how
/// long to wait for that delta. Made by [`connect`]; run by
/// [`commit`](Connect::commit).
#[must_use = "nothing is opened until `commit` is awaited"]
pub struct Connect<O, R, D> {
    open: O,
    retry: R,
    deadline: D,
}

impl<O, R, D> fmt::Debug for Connect<O, R, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connect").finish_non_exhaustive()
    }
}

impl<O, R, D> Connect<O, R, D> {
    /// While an attempt fails before its first delta, `retry(&error,
    /// attempt)` says whether to open attempt `attempt + 1`. `open` may
    /// pick a fallback upstream by the attempt number, and wait before it
    /// opens one (a backoff, or the error's
    /// [`retry_after_duration`](UpstreamError::retry_after_duration)).
    /// Default: no retries.
    pub fn retry<R2>(self, retry: R2) -> Connect<O, R2, D>
    where
        R2: FnMut(&UpstreamError, u32) -> bool,
    {
        Connect {
            open: self.open,
            retry,
            deadline: self.deadline,
        }
    }

    /// Commits without a first delta when the future `deadline()` makes
    /// (a timer of any runtime, made once per attempt, when `open` has
    /// returned) completes first. The deadline starts once the upstream has
    /// answered: connecting and waiting for its response headers are
    /// bounded by the HTTP client's own timeouts, inside `open`.
    ///
    /// Waiting for the first delta lets an early failure still become an
    /// HTTP status, but the client sees nothing meanwhile, not even
    /// heartbeats; a model that thinks for a minute before its first token
    /// would leave it silent for that minute. The heartbeat interval is a
    /// good deadline: once the upstream has answered, the client never
    /// waits longer in silence than it would between heartbeats. Default:
    /// no deadline.
    ///
    /// ```
    /// # async fn f() -> Result<(), llm_sse::upstream::UpstreamError> {
    /// use std::time::Duration;
    /// use futures_util::stream;
    /// use llm_sse::{upstream, Delta};
    ///
    /// let heartbeat = Duration::from_secs(15);
    /// let deltas = upstream::connect(|_| async { Ok(stream::empty::<Result<Delta, _>>()) })
    ///     .first_delta_deadline(move || tokio::time::sleep(heartbeat))
    ///     .commit()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn first_delta_deadline<D2, F>(self, deadline: D2) -> Connect<O, R, D2>
    where
        D2: FnMut() -> F,
        F: Future,
    {
        Connect {
            open: self.open,
            retry: self.retry,
            deadline,
        }
    }

    /// Opens attempts until one reaches its commit point (its first delta,
    /// the deadline, or a clean end) or fails with an error `retry`
    /// declines.
    ///
    /// # Errors
    ///
    /// The last attempt's error.
    pub async fn commit<S, F, DF>(mut self) -> Result<Committed<S>, UpstreamError>
    where
        O: FnMut(u32) -> F,
        F: Future<Output = Result<S, UpstreamError>>,
        R: FnMut(&UpstreamError, u32) -> bool,
        D: FnMut() -> DF,
        DF: Future,
        S: Stream<Item = Result<Delta, UpstreamError>> + Unpin,
    {
        let mut attempt = 0;
        loop {
            let result = match (self.open)(attempt).await {
                Ok(stream) => wait_for_first(stream, (self.deadline)()).await,
                Err(error) => Err(error),
            };
            match result {
                Err(error) if (self.retry)(&error, attempt) => {
                    attempt = attempt.saturating_add(1);
                }
                result => return result,
            }
        }
    }
}

/// Waits for the first item of `stream`, or for `deadline`.
async fn wait_for_first<S, D>(mut stream: S, deadline: D) -> Result<Committed<S>, UpstreamError>
where
    S: Stream<Item = Result<Delta, UpstreamError>> + Unpin,
    D: Future,
{
    let mut deadline = std::pin::pin!(deadline);
    let first = std::future::poll_fn(|cx| {
        if let Poll::Ready(item) = Pin::new(&mut stream).poll_next(cx) {
            return Poll::Ready(Some(item));
        }
        deadline.as_mut().poll(cx).map(|_| None)
    })
    .await;
    match first {
        Some(Some(Ok(delta))) => Ok(Committed {
            first: Some(delta),
            stream,
            ended: false,
        }),
        Some(Some(Err(error))) => Err(error),
        Some(None) => Ok(Committed {
            first: None,
            stream,
            ended: true,
        }),
        // The deadline: commit with the first delta still to come.
        None => Ok(Committed {
            first: None,
            stream,
            ended: false,
        }),
    }
}

/// An upstream stream past its commit point: its first delta, then the
/// rest. See [`commit`].
#[must_use = "streams do nothing unless polled"]
pub struct Committed<S> {
    first: Option<Delta>,
    stream: S,
    ended: bool,
}

impl<S> Committed<S> {
    /// The upstream stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }
}

impl<S> fmt::Debug for Committed<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Committed")
            .field("first", &self.first)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl<S> Stream for Committed<S>
where
    S: Stream<Item = Result<Delta, UpstreamError>> + Unpin,
{
    type Item = Result<Delta, UpstreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(delta) = self.first.take() {
            return Poll::Ready(Some(Ok(delta)));
        }
        if self.ended {
            return Poll::Ready(None);
        }
        let item = ready!(Pin::new(&mut self.stream).poll_next(cx));
        self.ended = item.is_none();
        Poll::Ready(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let first = usize::from(self.first.is_some());
        if self.ended {
            return (first, Some(first));
        }
        let (low, high) = self.stream.size_hint();
        (
            low.saturating_add(first),
            high.and_then(|high| high.checked_add(first)),
        )
    }
}

impl<S> FusedStream for Committed<S>
where
    S: Stream<Item = Result<Delta, UpstreamError>> + Unpin,
{
    fn is_terminated(&self) -> bool {
        self.ended && self.first.is_none()
    }
}

/// The error an `event: error` reports: its error object's message and
/// type, else its data as the message.
fn error_event(data: &str) -> UpstreamError {
    match error::error_object(data) {
        Some((message, error_type)) => UpstreamError::provider(message, error_type),
        None if data.trim().is_empty() => {
            UpstreamError::provider("the upstream sent an error event", None)
        }
        None => UpstreamError::provider(data.trim(), None),
    }
}

/// The error an in-band `{"error": ...}` object reports.
#[cfg_attr(not(any(feature = "openai", feature = "anthropic")), allow(dead_code))]
pub(crate) fn in_band_error(data: &str) -> UpstreamError {
    match error::error_object(data) {
        Some((message, error_type)) => UpstreamError::provider(message, error_type),
        None => UpstreamError::provider("the upstream reported an error", None),
    }
}
