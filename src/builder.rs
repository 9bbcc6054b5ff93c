//! [`SseStream`] and its [`Builder`]: the adapters composed in the right
//! order.

use std::fmt::{self, Display};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::{FusedStream, Stream};
use futures_util::stream::MapErr;
use futures_util::TryStreamExt;
use pin_project_lite::pin_project;

use crate::adapters::{
    frames::{ErrorFormatter, DONE},
    Batch, Batched, CatchPanic, Format, Frames, Heartbeat, Text, Timeout, Timeouts,
};
use crate::timer::Timer;
use crate::{Error, Event, TokenStream};

/// The default heartbeat interval: 15 seconds, well inside the 60 s idle
/// timeout of nginx and most load balancers.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

type Upstream<S> = MapErr<S, fn(<S as TokenStream>::Error) -> Error<<S as TokenStream>::Error>>;

type Pipeline<S, T, F> = Heartbeat<
    Frames<Batched<Timeout<CatchPanic<Upstream<S>>, T>, T>, F, <S as TokenStream>::Error>,
    T,
>;

pin_project! {
    /// A token stream turned into SSE frames, ready for any HTTP stack: a
    /// `Stream<Item = Bytes>`, one buffer per frame.
    ///
    /// Built by [`SseStream::builder`] (with the `tokio` feature) or
    /// [`Builder::new`] with a timer of your own. In order, the pipeline:
    /// catches upstream panics (if asked), enforces the timeouts, batches
    /// tokens (the first one goes out at once), encodes chunks with the
    /// [`Format`], turns an error into one error event and a normal end into
    /// the end marker, and writes a heartbeat comment after every silence.
    ///
    /// Dropping an `SseStream` drops the token stream at once, which stops
    /// the model. Nothing is buffered beyond one batch: the token stream is
    /// polled only when the consumer asks for a frame.
    #[must_use = "streams do nothing unless polled"]
    pub struct SseStream<S: TokenStream, T: Timer, F = Text> {
        #[pin]
        inner: Pipeline<S, T, F>,
    }
}

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
impl<S: TokenStream> SseStream<S, crate::TokioTimer, Text> {
    /// Starts a pipeline for `tokens`, timed by tokio.
    ///
    /// Defaults: [`Batch::default`] (4 tokens, 50 ms, first token at once),
    /// a heartbeat every 15 s, no timeouts, the [`Text`] format, the
    /// `event: error` error event, `data: [DONE]` at the end, panics not
    /// caught.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use futures_util::{stream, StreamExt};
    /// use llm_sse::adapters::Batch;
    /// use llm_sse::SseStream;
    ///
    /// let tokens = stream::iter(["Hel", "lo", ",", " wor", "ld"]).map(Ok::<_, std::io::Error>);
    /// let body: Vec<_> = SseStream::builder(tokens)
    ///     .batch(Batch::tokens(2).max_delay(Duration::from_millis(50)))
    ///     .heartbeat(Duration::from_secs(15))
    ///     .build()
    ///     .collect()
    ///     .await;
    /// assert_eq!(body, ["data: Hel\n\n", "data: lo,\n\n", "data:  world\n\n", "data: [DONE]\n\n"]);
    /// # }
    /// ```
    pub fn builder(tokens: S) -> Builder<S, crate::TokioTimer, Text> {
        Builder::new(tokens, crate::TokioTimer)
    }
}

/// Configures an [`SseStream`]; see [`SseStream::builder`] for the defaults.
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<S: TokenStream, T, F = Text> {
    tokens: S,
    timer: T,
    format: F,
    batch: Batch,
    heartbeat: Duration,
    initial_comment: bool,
    timeouts: Timeouts,
    on_error: Option<ErrorFormatter<S::Error>>,
    done: Option<Bytes>,
    catch_panics: bool,
}

impl<S: TokenStream, T: Timer> Builder<S, T, Text> {
    /// Starts a pipeline for `tokens`, timed by `timer`; the defaults are
    /// those of [`SseStream::builder`].
    pub fn new(tokens: S, timer: T) -> Self {
        Self {
            tokens,
            timer,
            format: Text,
            batch: Batch::default(),
            heartbeat: DEFAULT_HEARTBEAT,
            initial_comment: false,
            timeouts: Timeouts::new(),
            on_error: None,
            done: Some(Bytes::from_static(DONE)),
            catch_panics: false,
        }
    }
}

impl<S: TokenStream, T: Timer, F> Builder<S, T, F> {
    /// How tokens are batched into chunks. `Batch::off()` sends every
    /// token as its own event.
    pub fn batch(mut self, batch: Batch) -> Self {
        self.batch = batch;
        self
    }

    /// The heartbeat interval: a `: ping` comment after this long without a
    /// frame. Zero turns heartbeats off. Default: 15 s.
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = interval;
        self
    }

    /// Whether a comment frame goes out at once, before the first token, so
    /// HTTP/2 reverse proxies that hold headers until the first DATA frame
    /// pass them on. Default: off.
    pub fn initial_comment(mut self, on: bool) -> Self {
        self.initial_comment = on;
        self
    }

    /// Time to first token, idle gap and total deadline; each ends the
    /// stream with a timeout error event. Default: none.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// How chunks are encoded. Default: [`Text`].
    pub fn format<G: Format>(self, format: G) -> Builder<S, T, G> {
        Builder {
            tokens: self.tokens,
            timer: self.timer,
            format,
            batch: self.batch,
            heartbeat: self.heartbeat,
            initial_comment: self.initial_comment,
            timeouts: self.timeouts,
            on_error: self.on_error,
            done: self.done,
            catch_panics: self.catch_panics,
        }
    }

    /// Replaces the error event. Default: `event: error` with data
    /// `{"error":{"message":"...","type":"..."}}`.
    ///
    /// The message of an upstream error is its `Display` text, which reaches
    /// the client: replace the formatter if your errors hold anything the
    /// client must not see.
    pub fn on_error(
        mut self,
        on_error: impl Fn(&Error<S::Error>) -> Event + Send + Sync + 'static,
    ) -> Self {
        self.on_error = Some(ErrorFormatter::Custom(Box::new(on_error)));
        self
    }

    /// The end marker after a normal end; `None` sends none. Default:
    /// `data: [DONE]`.
    pub fn done(mut self, done: Option<Event>) -> Self {
        self.done = done.map(|event| event.to_bytes());
        self
    }

    /// Whether a panic in the token stream is caught and sent as an error
    /// event (type `internal_error`) instead of tearing the connection down.
    /// Default: off.
    pub fn catch_panics(mut self, on: bool) -> Self {
        self.catch_panics = on;
        self
    }

    /// Builds the stream.
    pub fn build(self) -> SseStream<S, T, F>
    where
        S::Error: Display,
        F: Format,
    {
        let upstream: Upstream<S> = self.tokens.map_err(Error::Upstream as fn(_) -> _);
        let caught = CatchPanic::with_enabled(upstream, self.catch_panics);
        let timed = Timeout::new(caught, self.timeouts, self.timer.clone());
        let batched = Batched::new(timed, self.batch, self.timer.clone());
        let mut frames = Frames::new(batched, self.format);
        if let Some(on_error) = self.on_error {
            frames.set_error_formatter(on_error);
        }
        frames.set_done(self.done);
        let inner = Heartbeat::new(frames, self.heartbeat, self.timer)
            .initial_comment(self.initial_comment);
        SseStream { inner }
    }
}

impl<S, T, F> Stream for SseStream<S, T, F>
where
    S: TokenStream,
    S::Error: Display,
    S::Token: AsRef<str> + Into<String>,
    T: Timer,
    F: Format,
{
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        self.project().inner.poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<S, T, F> FusedStream for SseStream<S, T, F>
where
    S: TokenStream,
    S::Error: Display,
    S::Token: AsRef<str> + Into<String>,
    T: Timer,
    F: Format,
{
    fn is_terminated(&self) -> bool {
        self.inner.is_terminated()
    }
}

impl<S: TokenStream, T: Timer, F> fmt::Debug for SseStream<S, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseStream").finish_non_exhaustive()
    }
}

impl<S: TokenStream, T: fmt::Debug, F: fmt::Debug> fmt::Debug for Builder<S, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("timer", &self.timer)
            .field("format", &self.format)
            .field("batch", &self.batch)
            .field("heartbeat", &self.heartbeat)
            .field("initial_comment", &self.initial_comment)
            .field("timeouts", &self.timeouts)
            .field("done", &self.done)
            .field("catch_panics", &self.catch_panics)
            .finish_non_exhaustive()
    }
}
