//! [`Frames`]: chunks to SSE frames, the terminal error event and the end
//! marker.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use std::borrow::Cow;

use super::{Chunk, Slot, Utf8Bytes};
use crate::encode;
use crate::observe::Outcome;
use crate::{Error, Event};

/// How a chunk of text becomes a frame; the built-in formats are [`Text`]
/// and [`JsonDelta`].
///
/// A format writes complete frames into the buffer it is given: the frame for
/// each chunk, and optionally frames before the first chunk and after the
/// last one (before the end marker), such as the role and usage chunks of
/// the OpenAI format.
pub trait Format {
    /// Appends the frame that carries `text`.
    fn write_chunk(&mut self, text: &str, buf: &mut BytesMut);

    /// Appends frames that go before the first chunk. Default: none.
    fn write_start(&mut self, buf: &mut BytesMut) {
        let _ = buf;
    }

    /// Appends frames that go after the last chunk of a stream that
    /// completed normally, before the end marker; `tokens` is how many
    /// tokens the stream sent. Default: none.
    fn write_end(&mut self, tokens: u64, buf: &mut BytesMut) {
        let _ = (tokens, buf);
    }

    /// The event that reports `error` and ends the stream, unless the
    /// builder was given its own with `on_error`. Default: `event: error`
    /// with data `{"error":{"message":"...","type":"..."}}`.
    fn error_event<E: fmt::Display>(&mut self, error: &Error<E>) -> Event {
        default_error_event(error)
    }
}

/// Text that knows how many tokens it holds, so [`Frames`] can count them:
/// a [`Chunk`] knows, any other text is one token.
pub trait ChunkText: AsRef<str> {
    /// How many tokens the text holds. Default: 1.
    fn tokens(&self) -> usize {
        1
    }
}

impl ChunkText for Chunk {
    fn tokens(&self) -> usize {
        Chunk::tokens(self)
    }
}

impl ChunkText for String {}
impl ChunkText for &str {}
impl ChunkText for Cow<'_, str> {}
impl ChunkText for Utf8Bytes {}

/// Each chunk as plain `data:` lines: `data: Hello\n\n`.
///
/// The simplest format for `EventSource` clients. CR and CRLF in the text
/// arrive as LF (see [`Event`](crate::Event#line-breaks-in-data)); use
/// [`JsonDelta`] where text must arrive byte for byte.
#[derive(Debug, Clone, Copy, Default)]
pub struct Text;

impl Format for Text {
    fn write_chunk(&mut self, text: &str, buf: &mut BytesMut) {
        buf.reserve(encode::data_event_len(text));
        encode::write_data_event(buf, text);
    }
}

/// Each chunk as a JSON object: `data: {"delta":"Hello"}\n\n`.
///
/// Any text, CR included, round-trips exactly.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonDelta;

impl Format for JsonDelta {
    fn write_chunk(&mut self, text: &str, buf: &mut BytesMut) {
        buf.reserve(text.len() + 24);
        buf.put_slice(b"data: {\"delta\":");
        encode::write_json_string(buf, text);
        buf.put_slice(b"}\n\n");
    }
}

/// A user's error event formatter.
pub(crate) type OnError<E> = Box<dyn Fn(&Error<E>) -> Event + Send + Sync>;

/// Builds the error event from an error.
pub(crate) enum ErrorFormatter<E> {
    Default,
    Custom(OnError<E>),
}

impl<E: fmt::Display> ErrorFormatter<E> {
    fn event<F: Format>(&self, format: &mut F, error: &Error<E>) -> Event {
        match self {
            ErrorFormatter::Default => format.error_event(error),
            ErrorFormatter::Custom(on_error) => on_error(error),
        }
    }
}

/// The default error event: `event: error` with data
/// `{"error":{"message":"...","type":"..."}}`, the shape OpenAI-style clients
/// read.
pub(crate) fn default_error_event<E: fmt::Display>(error: &Error<E>) -> Event {
    Event::builder()
        .event("error")
        .data(error_json(error, ""))
        .build()
        .unwrap_or_else(|_| Event::new("error"))
}

/// `{"error":{"message":"...","type":"..."<extra>}}` for `error`; `extra`
/// holds further members, each led by a comma.
pub(crate) fn error_json<E: fmt::Display>(error: &Error<E>, extra: &str) -> String {
    let mut json = BytesMut::with_capacity(64 + extra.len());
    json.put_slice(b"{\"error\":{\"message\":");
    encode::write_json_string(&mut json, &error.to_string());
    json.put_slice(b",\"type\":");
    encode::write_json_string(&mut json, error.kind_name());
    json.put_slice(extra.as_bytes());
    json.put_slice(b"}}");
    String::from_utf8_lossy(&json).into_owned()
}

/// The default end marker, `data: [DONE]`.
pub(crate) const DONE: &[u8] = b"data: [DONE]\n\n";

pin_project! {
    /// Encodes chunks as frames with a [`Format`]; an error becomes one error
    /// event that ends the stream (the upstream is dropped at once), and a
    /// normal end is followed by the end marker; see
    /// [`TokenStreamExt::frames`](crate::TokenStreamExt::frames).
    #[must_use = "streams do nothing unless polled"]
    pub struct Frames<S, F, E> {
        #[pin]
        stream: Slot<S>,
        format: F,
        on_error: ErrorFormatter<E>,
        done: Option<Bytes>,
        buf: BytesMut,
        started: bool,
        ended: bool,
        // What the last frame was, for observers.
        last: Last,
        // Tokens in every chunk sent so far.
        tokens: u64,
        // The text of every chunk, when an observer asked for it.
        transcript: Option<String>,
    }
}

/// What the last frame [`Frames`] yielded was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Last {
    Nothing,
    Chunk,
    Error { outcome: Outcome, message: String },
    End,
}

impl<S, F, E: fmt::Display> Frames<S, F, E> {
    pub(crate) fn new(stream: S, format: F) -> Self {
        Self {
            stream: Slot::new(stream),
            format,
            on_error: ErrorFormatter::Default,
            done: Some(Bytes::from_static(DONE)),
            buf: BytesMut::new(),
            started: false,
            ended: false,
            last: Last::Nothing,
            tokens: 0,
            transcript: None,
        }
    }
}

impl<S, F, E> Frames<S, F, E> {
    /// Replaces the error event: `on_error` turns the error into the event
    /// sent as the stream's last frame.
    pub fn on_error(
        mut self,
        on_error: impl Fn(&Error<E>) -> Event + Send + Sync + 'static,
    ) -> Self {
        self.on_error = ErrorFormatter::Custom(Box::new(on_error));
        self
    }

    /// Sets the end marker sent after a normal end; `None` sends none.
    /// Default: `data: [DONE]`.
    pub fn done(mut self, done: Option<Event>) -> Self {
        self.done = done.map(|event| event.to_bytes());
        self
    }

    pub(crate) fn set_error_formatter(&mut self, on_error: ErrorFormatter<E>) {
        self.on_error = on_error;
    }

    pub(crate) fn set_done(&mut self, done: Option<Bytes>) {
        self.done = done;
    }

    pub(crate) fn capture_text(&mut self) {
        self.transcript = Some(String::new());
    }

    pub(crate) fn last(&self) -> &Last {
        &self.last
    }

    /// Tokens in every chunk sent so far.
    pub(crate) fn tokens(&self) -> u64 {
        self.tokens
    }

    pub(crate) fn take_transcript(self: Pin<&mut Self>) -> Option<String> {
        self.project().transcript.take()
    }

    /// A reference to the upstream stream, `None` once an error dropped it.
    pub fn get_ref(&self) -> Option<&S> {
        self.stream.get_ref()
    }

    /// A mutable reference to the upstream stream, `None` once dropped.
    pub fn get_mut(&mut self) -> Option<&mut S> {
        self.stream.get_mut()
    }

    /// A pinned mutable reference to the upstream stream, `None` once
    /// dropped.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Option<Pin<&mut S>> {
        self.project().stream.get_pin_mut()
    }

    /// The upstream stream, `None` once dropped.
    pub fn into_inner(self) -> Option<S> {
        self.stream.into_inner()
    }
}

impl<S, C, F, E> Stream for Frames<S, F, E>
where
    S: Stream<Item = Result<C, Error<E>>>,
    C: ChunkText,
    F: Format,
    E: fmt::Display,
{
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        match ready!(this.stream.as_mut().poll_next(cx)) {
            Some(Ok(chunk)) => {
                if !*this.started {
                    *this.started = true;
                    this.format.write_start(this.buf);
                }
                this.format.write_chunk(chunk.as_ref(), this.buf);
                *this.tokens += chunk.tokens() as u64;
                if let Some(transcript) = this.transcript {
                    transcript.push_str(chunk.as_ref());
                }
                *this.last = Last::Chunk;
            }
            Some(Err(error)) => {
                *this.ended = true;
                this.stream.drop_stream();
                let event = this.on_error.event(this.format, &error);
                this.buf.reserve(event.encoded_len());
                event.encode(this.buf);
                let outcome = match error {
                    Error::TimedOut(_) => Outcome::TimedOut,
                    _ => Outcome::Failed,
                };
                *this.last = Last::Error {
                    outcome,
                    message: error.to_string(),
                };
            }
            None => {
                *this.ended = true;
                this.stream.drop_stream();
                this.format.write_end(*this.tokens, this.buf);
                if let Some(done) = this.done.as_ref() {
                    this.buf.put_slice(done);
                }
                *this.last = Last::End;
                if this.buf.is_empty() {
                    return Poll::Ready(None);
                }
            }
        }
        Poll::Ready(Some(this.buf.split().freeze()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.ended {
            return (0, Some(0));
        }
        let (lower, upper) = self.stream.size_hint();
        (lower, upper.and_then(|u| u.checked_add(1)))
    }
}

impl<S, C, F, E> FusedStream for Frames<S, F, E>
where
    S: Stream<Item = Result<C, Error<E>>>,
    C: ChunkText,
    F: Format,
    E: fmt::Display,
{
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl<S: fmt::Debug, F: fmt::Debug, E> fmt::Debug for Frames<S, F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frames")
            .field("stream", &self.stream)
            .field("format", &self.format)
            .field("done", &self.done)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
