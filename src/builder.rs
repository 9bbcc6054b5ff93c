//! [`SseStream`] and its [`Builder`]: the adapters composed in the right
//! order.

use std::fmt::{self, Display};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::{FusedStream, Stream};
use futures_util::stream::MapErr;
use futures_util::TryStreamExt;
use pin_project_lite::pin_project;

#[cfg(feature = "tokio")]
use crate::adapters::ChannelStream;
use crate::adapters::{
    Batch, Batched, CatchPanic, ErrorFormatter, FlushReceiver, Frames, Heartbeat, Observe, Timeout,
    Timeouts,
};
use crate::delta::IntoDelta;
use crate::format::{Format, Text};
use crate::observe::{Executor, Observer, OnComplete, StreamSummary};
use crate::timer::Timer;
use crate::{Error, Event, TokenStream};

/// The default heartbeat interval: 15 seconds, well inside the 60 s idle
/// timeout of nginx and most load balancers.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

type Upstream<S> = MapErr<S, fn(<S as TokenStream>::Error) -> Error<<S as TokenStream>::Error>>;

type Pipeline<S, T, F> = Observe<
    Heartbeat<
        Frames<
            Batched<Timeout<CatchPanic<Upstream<S>>, T>, Error<<S as TokenStream>::Error>, T>,
            F,
            <S as TokenStream>::Error,
        >,
        T,
    >,
    T,
>;

pin_project! {
    /// A model's output stream turned into SSE frames, ready for any HTTP
    /// stack: a `Stream<Item = Bytes>`, one buffer per write.
    ///
    /// Built by [`SseStream::builder`] (with the `tokio` feature) or
    /// [`Builder::new`] with a timer of your own. In order, the pipeline:
    /// catches upstream panics (if asked), enforces the timeouts, batches
    /// deltas (the first one goes out at once), writes them in the
    /// [`Format`], turns an error into the format's error frame and a normal
    /// end into its end frames, writes a heartbeat after every silence, and
    /// reports to its [`Observer`]s.
    ///
    /// Dropping an `SseStream` drops the token stream at once, which stops
    /// the model, and ends the observation as
    /// [`Cancelled`](crate::observe::Outcome::Cancelled) unless the stream
    /// had already sent its last frame. Nothing is buffered beyond one
    /// batch: the token stream is polled only when the consumer asks for a
    /// frame.
    #[must_use = "streams do nothing unless polled"]
    pub struct SseStream<S: TokenStream, T: Timer, F = Text> {
        #[pin]
        inner: Pipeline<S, T, F>,
    }
}

/// The settings of a [`Builder`] that do not change its type.
struct Settings<E> {
    observers: Vec<Box<dyn Observer + Send>>,
    capture_text: bool,
    batch: Batch,
    heartbeat: Duration,
    initial_comment: bool,
    timeouts: Timeouts,
    on_error: Option<ErrorFormatter<E>>,
    end_marker: Option<Option<Bytes>>,
    catch_panics: bool,
}

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
impl<S: TokenStream> SseStream<S, crate::TokioTimer, Text>
where
    S::Token: IntoDelta,
{
    /// Starts a pipeline for `tokens`, timed by tokio.
    ///
    /// Defaults: [`Batch::default`] (4 tokens, 50 ms, first token at once),
    /// a heartbeat every 15 s, no timeouts, the [`Text`] format (its error
    /// frame, heartbeat and `data: [DONE]` end marker), panics not caught,
    /// no observers.
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

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
impl<D: IntoDelta, E> SseStream<ChannelStream<Result<D, E>>, crate::TokioTimer, Text> {
    /// Starts a pipeline for the deltas (or text tokens) a tokio channel
    /// receives, timed by tokio: the way an engine task that feeds many
    /// streams hands each its output. The stream ends when every sender is
    /// gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use futures_util::StreamExt;
    /// use llm_sse::{adapters::Batch, Delta, SseStream};
    ///
    /// let (tx, rx) = tokio::sync::mpsc::channel::<Result<Delta, std::io::Error>>(16);
    /// tokio::spawn(async move {
    ///     let _ = tx.send(Ok(Delta::text("Hi"))).await;
    /// });
    /// let body: Vec<_> = SseStream::from_receiver(rx).batch(Batch::off()).build().collect().await;
    /// assert_eq!(body, ["data: Hi\n\n", "data: [DONE]\n\n"]);
    /// # }
    /// ```
    pub fn from_receiver(
        receiver: tokio::sync::mpsc::Receiver<Result<D, E>>,
    ) -> Builder<ChannelStream<Result<D, E>>, crate::TokioTimer, Text> {
        Builder::new(ChannelStream::new(receiver), crate::TokioTimer)
    }
}

impl<E, T: Timer> SseStream<FlushReceiver<E, T>, T, Text> {
    /// Starts a pipeline for what a [`flush_channel`](crate::adapters::flush_channel)
    /// receives, timed by the channel's timer. The channel wakes the stream
    /// once per batch by its own policy; the pipeline joins what arrives
    /// together (the batch's limits, no timer of its own), so the stream
    /// does one wake-up and one write per batch. A later
    /// [`batch`](Builder::batch) replaces that policy.
    pub fn from_flush_receiver(
        receiver: FlushReceiver<E, T>,
    ) -> Builder<FlushReceiver<E, T>, T, Text> {
        let timer = receiver.timer().clone();
        let joined = receiver
            .batch()
            .max_delay(Duration::ZERO)
            .reset_after_idle(false);
        Builder::new(receiver, timer).batch(joined)
    }
}

/// Configures an [`SseStream`]; see [`SseStream::builder`] for the defaults.
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<S: TokenStream, T, F = Text> {
    tokens: S,
    timer: T,
    format: F,
    settings: Settings<S::Error>,
}

impl<S: TokenStream, T: Timer> Builder<S, T, Text>
where
    S::Token: IntoDelta,
{
    /// Starts a pipeline for `tokens`, timed by `timer`; the defaults are
    /// those of [`SseStream::builder`].
    pub fn new(tokens: S, timer: T) -> Self {
        Self {
            tokens,
            timer,
            format: Text,
            settings: Settings {
                observers: Vec::new(),
                capture_text: false,
                batch: Batch::default(),
                heartbeat: DEFAULT_HEARTBEAT,
                initial_comment: false,
                timeouts: Timeouts::new(),
                on_error: None,
                end_marker: None,
                catch_panics: false,
            },
        }
    }
}

impl<S: TokenStream, T: Timer, F> Builder<S, T, F> {
    /// How deltas are batched into chunks. `Batch::off()` sends every
    /// delta as its own frame.
    pub fn batch(mut self, batch: Batch) -> Self {
        self.settings.batch = batch;
        self
    }

    /// The heartbeat interval: the format's heartbeat (a `: ping` comment
    /// for most) after this long without a frame. Zero turns heartbeats
    /// off. Default: 15 s.
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.settings.heartbeat = interval;
        self
    }

    /// Whether a heartbeat goes out at once, before the first token, so
    /// HTTP/2 reverse proxies that hold headers until the first DATA frame
    /// pass them on. Default: off.
    pub fn initial_comment(mut self, on: bool) -> Self {
        self.settings.initial_comment = on;
        self
    }

    /// Time to first token, idle gap and total deadline; each ends the
    /// stream with the format's error frame. Default: none.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.settings.timeouts = timeouts;
        self
    }

    /// How deltas are written. Default: [`Text`]. A boxed format
    /// (`Box<dyn Format + Send>`) lets a handler choose one per request.
    pub fn format<G: Format>(self, format: G) -> Builder<S, T, G> {
        Builder {
            tokens: self.tokens,
            timer: self.timer,
            format,
            settings: self.settings,
        }
    }

    /// Replaces the format's error frame with the event `on_error` makes.
    ///
    /// The message of an upstream error is its `Display` text, which reaches
    /// the client in every format: replace the formatter if your errors
    /// hold anything the client must not see.
    pub fn on_error(
        mut self,
        on_error: impl Fn(&Error<S::Error>) -> Event + Send + Sync + 'static,
    ) -> Self {
        self.settings.on_error = Some(ErrorFormatter::Custom(Box::new(on_error)));
        self
    }

    /// Replaces the format's end marker, sent after a normal end; `None`
    /// sends none. Default: the format's (`data: [DONE]` for the built-in
    /// formats).
    pub fn done(mut self, done: Option<Event>) -> Self {
        self.settings.end_marker = Some(done.map(|event| event.to_bytes()));
        self
    }

    /// Whether a panic in the token stream is caught and sent as the
    /// format's error frame (type `internal_error`) instead of tearing the
    /// connection down. Default: off.
    pub fn catch_panics(mut self, on: bool) -> Self {
        self.settings.catch_panics = on;
        self
    }

    /// Adds an [`Observer`]; observers added earlier are called first.
    /// The stream's type does not change, however many are added.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use futures_util::{stream, StreamExt};
    /// use llm_sse::observe::{Observer, StreamSummary};
    /// use llm_sse::SseStream;
    ///
    /// struct PrintOutcome;
    ///
    /// impl Observer for PrintOutcome {
    ///     fn on_end(&mut self, summary: &StreamSummary) {
    ///         println!("{}: {} tokens in {} chunks", summary.outcome, summary.tokens, summary.chunks);
    ///     }
    /// }
    ///
    /// let tokens = stream::iter(["a", "b"]).map(Ok::<_, std::io::Error>);
    /// let body = SseStream::builder(tokens).observe(PrintOutcome).build();
    /// assert_eq!(body.count().await, 3); // "a", "b", [DONE]
    /// # }
    /// # #[cfg(not(feature = "tokio"))]
    /// # fn main() {}
    /// ```
    pub fn observe(mut self, observer: impl Observer + Send + 'static) -> Self {
        // Exactly as many as given: every open stream holds the list.
        self.settings.observers.reserve_exact(1);
        self.settings.observers.push(Box::new(observer));
        self
    }

    /// Calls `callback` with the [`StreamSummary`] when the stream ends,
    /// whatever the outcome, through `executor`, so the callback never delays
    /// the last frame.
    pub fn on_complete_on<C, X>(self, executor: X, callback: C) -> Self
    where
        C: FnOnce(StreamSummary) + Send + 'static,
        X: Executor + Send + 'static,
    {
        self.observe(OnComplete::new(callback, executor))
    }

    /// Calls `callback` with the [`StreamSummary`] when the stream ends,
    /// whatever the outcome (the client going away included), after the
    /// last frame, on tokio's blocking pool: the place for "log every
    /// completed stream", even with a slow, blocking write.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use futures_util::{stream, StreamExt};
    /// use llm_sse::SseStream;
    ///
    /// let (tx, rx) = tokio::sync::oneshot::channel();
    /// let tokens = stream::iter(["Hi", "!"]).map(Ok::<_, std::io::Error>);
    /// let body = SseStream::builder(tokens)
    ///     .capture_text(true)
    ///     .on_complete(move |summary| {
    ///         let _ = tx.send(summary);
    ///     })
    ///     .build();
    /// body.count().await;
    /// let summary = rx.await.unwrap();
    /// assert_eq!(summary.text.as_deref(), Some("Hi!"));
    /// assert_eq!(summary.tokens, 2);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn on_complete<C>(self, callback: C) -> Self
    where
        C: FnOnce(StreamSummary) + Send + 'static,
    {
        self.on_complete_on(crate::observe::TokioExecutor, callback)
    }

    /// Whether the [`StreamSummary`] carries the whole answer text sent, in
    /// [`StreamSummary::text`]. Default: off; on, the text is copied once
    /// more as it is sent.
    pub fn capture_text(mut self, on: bool) -> Self {
        self.settings.capture_text = on;
        self
    }

    /// The same settings over `tokens` wrapped by `wrap`.
    #[cfg(feature = "resume")]
    pub(crate) fn map_tokens<R>(self, wrap: impl FnOnce(S) -> R) -> Builder<R, T, F>
    where
        R: TokenStream<Token = S::Token, Error = S::Error>,
    {
        Builder {
            tokens: wrap(self.tokens),
            timer: self.timer,
            format: self.format,
            settings: self.settings,
        }
    }

    /// The pipeline without heartbeats (each connection of a resumable
    /// stream has its own), and what every connection needs.
    #[cfg(feature = "resume")]
    pub(crate) fn into_resumable_parts(mut self) -> crate::resume::Parts<SseStream<S, T, F>>
    where
        S::Token: IntoDelta,
        S::Error: Display,
        F: Format,
    {
        let (interrupted, abandoned) = crate::resume::early_end_frames(&self.format);
        let heartbeat = (
            self.settings.heartbeat,
            self.format.heartbeat(),
            self.settings.initial_comment,
        );
        let headers = self.format.response_headers();
        self.settings.heartbeat = Duration::ZERO;
        self.settings.initial_comment = false;
        crate::resume::Parts {
            stream: self.build(),
            heartbeat,
            headers,
            interrupted,
            abandoned,
        }
    }

    /// Builds the stream.
    pub fn build(self) -> SseStream<S, T, F>
    where
        S::Token: IntoDelta,
        S::Error: Display,
        F: Format,
    {
        let Settings {
            observers,
            capture_text,
            batch,
            heartbeat,
            initial_comment,
            timeouts,
            on_error,
            end_marker,
            catch_panics,
        } = self.settings;
        let upstream: Upstream<S> = self.tokens.map_err(Error::Upstream as fn(_) -> _);
        let caught = CatchPanic::with_enabled(upstream, catch_panics);
        let timed = Timeout::new(caught, timeouts, self.timer.clone());
        let batched = Batched::new(timed, batch, self.timer.clone());
        let heartbeat_frame = self.format.heartbeat();
        let mut frames = Frames::new(batched, self.format);
        if let Some(on_error) = on_error {
            frames.set_error_formatter(on_error);
        }
        if let Some(marker) = end_marker {
            frames.set_end_marker(marker);
        }
        let heartbeats = Heartbeat::new(frames, heartbeat, self.timer.clone())
            .frame(heartbeat_frame)
            .initial_comment(initial_comment);
        let inner = Observe::new(heartbeats, observers, self.timer).capture_text(capture_text);
        SseStream { inner }
    }
}

impl<S: TokenStream, T: Timer, F: Format> SseStream<S, T, F> {
    /// The headers the format's clients need besides the SSE ones
    /// ([`serve::HEADERS`](crate::serve::HEADERS)); the axum and actix-web
    /// integrations and `SseStream::into_http_response` (feature
    /// `http-body`) send them.
    pub fn response_headers(&self) -> &'static [(&'static str, &'static str)] {
        self.inner.get_ref().get_ref().format().response_headers()
    }
}

impl<S: TokenStream, T: Timer, F> SseStream<S, T, F> {
    /// Notes that the client went away while the stream runs on.
    #[cfg(feature = "tokio")]
    pub(crate) fn mark_disconnected(self: Pin<&mut Self>) {
        self.project().inner.mark_disconnected();
    }

    /// Reports a normal end, or a drop, as `outcome`.
    #[cfg(feature = "resume")]
    pub(crate) fn end_as(self: Pin<&mut Self>, outcome: crate::observe::Outcome) {
        self.project().inner.end_as(outcome);
    }
}

impl<S, T, F> Stream for SseStream<S, T, F>
where
    S: TokenStream,
    S::Token: IntoDelta,
    S::Error: Display,
    T: Timer,
    F: Format,
{
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut inner = self.project().inner;
        loop {
            match ready!(inner.as_mut().poll_next(cx)) {
                // A delta the format keeps for later: nothing to write.
                Some(frame) if frame.bytes().is_empty() => continue,
                frame => return Poll::Ready(frame.map(|frame| frame.into_bytes())),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Frames the format keeps for later are not written.
        (0, self.inner.size_hint().1)
    }
}

impl<S, T, F> FusedStream for SseStream<S, T, F>
where
    S: TokenStream,
    S::Token: IntoDelta,
    S::Error: Display,
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
        let settings = &self.settings;
        f.debug_struct("Builder")
            .field("timer", &self.timer)
            .field("format", &self.format)
            .field("observers", &settings.observers.len())
            .field("batch", &settings.batch)
            .field("heartbeat", &settings.heartbeat)
            .field("initial_comment", &settings.initial_comment)
            .field("timeouts", &settings.timeouts)
            .field("end_marker", &settings.end_marker)
            .field("catch_panics", &settings.catch_panics)
            .finish_non_exhaustive()
    }
}
