//! [`SseStream`] and its [`Builder`]: the adapters composed in the right
//! order.

use std::fmt::{self, Display};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_core::{FusedStream, Stream};
use futures_util::stream::MapErr;
use futures_util::TryStreamExt;
use pin_project_lite::pin_project;

use crate::adapters::{
    frames::{ErrorFormatter, Last, DONE},
    Batch, Batched, CatchPanic, Format, Frames, Heartbeat, Text, Timeout, Timeouts,
};
use crate::observe::{ChunkStats, Executor, Observer, OnComplete, Outcome, StreamSummary};
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
    /// the end marker, writes a heartbeat comment after every silence, and
    /// reports to its [`Observer`].
    ///
    /// Dropping an `SseStream` drops the token stream at once, which stops
    /// the model, and ends the observation as
    /// [`Cancelled`](crate::observe::Outcome::Cancelled) unless the stream
    /// had already sent its last frame. Nothing is buffered beyond one
    /// batch: the token stream is polled only when the consumer asks for a
    /// frame.
    #[must_use = "streams do nothing unless polled"]
    pub struct SseStream<S: TokenStream, T: Timer, F = Text, O: Observer = ()> {
        #[pin]
        inner: Pipeline<S, T, F>,
        timer: T,
        observer: O,
        stats: Stats,
    }

    impl<S: TokenStream, T: Timer, F, O: Observer> PinnedDrop for SseStream<S, T, F, O> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !this.stats.ended {
                let outcome = this.stats.outcome.unwrap_or(Outcome::Cancelled);
                let text = this.inner.get_pin_mut().take_transcript();
                this.stats.end(outcome, text, this.timer, this.observer);
            }
        }
    }
}

/// What an [`SseStream`] has sent so far.
#[derive(Debug, Default)]
struct Stats {
    started: Option<Instant>,
    polled: bool,
    last_chunk: Option<Instant>,
    ttft: Option<Duration>,
    tokens: u64,
    chunks: u64,
    bytes: u64,
    heartbeats: u64,
    // Set once the last frame (the error event or the end marker) is out.
    outcome: Option<Outcome>,
    error: Option<String>,
    ended: bool,
    // The client went away and the stream runs on in the background.
    disconnected: bool,
}

impl Stats {
    fn now<T: Timer, O: Observer>(timer: &T) -> Option<Instant> {
        O::TIMED.then(|| timer.now())
    }

    fn end<T: Timer, O: Observer>(
        &mut self,
        outcome: Outcome,
        text: Option<String>,
        timer: &T,
        observer: &mut O,
    ) {
        self.ended = true;
        let outcome = match outcome {
            Outcome::Completed if self.disconnected => Outcome::CompletedAfterDisconnect,
            outcome => outcome,
        };
        let duration = match (self.started, Self::now::<T, O>(timer)) {
            (Some(start), Some(now)) => now.saturating_duration_since(start),
            _ => Duration::ZERO,
        };
        observer.on_end(&StreamSummary {
            outcome,
            ttft: self.ttft,
            duration,
            tokens: self.tokens,
            chunks: self.chunks,
            bytes: self.bytes,
            heartbeats: self.heartbeats,
            error: self.error.take(),
            text,
        });
    }
}

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
impl<S: TokenStream> SseStream<S, crate::TokioTimer, Text, ()> {
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
    /// use std::time::{Duration, Instant};
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
    pub fn builder(tokens: S) -> Builder<S, crate::TokioTimer, Text, ()> {
        Builder::new(tokens, crate::TokioTimer)
    }
}

/// Configures an [`SseStream`]; see [`SseStream::builder`] for the defaults.
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<S: TokenStream, T, F = Text, O = ()> {
    tokens: S,
    timer: T,
    format: F,
    observer: O,
    capture_text: bool,
    batch: Batch,
    heartbeat: Duration,
    initial_comment: bool,
    timeouts: Timeouts,
    on_error: Option<ErrorFormatter<S::Error>>,
    done: Option<Bytes>,
    catch_panics: bool,
}

impl<S: TokenStream, T: Timer> Builder<S, T, Text, ()> {
    /// Starts a pipeline for `tokens`, timed by `timer`; the defaults are
    /// those of [`SseStream::builder`].
    pub fn new(tokens: S, timer: T) -> Self {
        Self {
            tokens,
            timer,
            format: Text,
            observer: (),
            capture_text: false,
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

impl<S: TokenStream, T: Timer, F, O: Observer> Builder<S, T, F, O> {
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
    pub fn format<G: Format>(self, format: G) -> Builder<S, T, G, O> {
        self.map_parts(|_, observer| (format, observer))
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

    /// Adds an [`Observer`]; observers added earlier are called first.
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
    pub fn observe<P: Observer>(self, observer: P) -> Builder<S, T, F, (O, P)> {
        self.map_parts(|format, before| (format, (before, observer)))
    }

    /// The same builder with its format and observer replaced by `parts`.
    fn map_parts<G, P>(self, parts: impl FnOnce(F, O) -> (G, P)) -> Builder<S, T, G, P> {
        let Builder {
            tokens,
            timer,
            format,
            observer,
            capture_text,
            batch,
            heartbeat,
            initial_comment,
            timeouts,
            on_error,
            done,
            catch_panics,
        } = self;
        let (format, observer) = parts(format, observer);
        Builder {
            tokens,
            timer,
            format,
            observer,
            capture_text,
            batch,
            heartbeat,
            initial_comment,
            timeouts,
            on_error,
            done,
            catch_panics,
        }
    }

    /// Calls `callback` with the [`StreamSummary`] when the stream ends,
    /// whatever the outcome, through `executor`, so the callback never delays
    /// the last frame.
    pub fn on_complete_on<C, X>(
        self,
        executor: X,
        callback: C,
    ) -> Builder<S, T, F, (O, OnComplete<C, X>)>
    where
        C: FnOnce(StreamSummary) + Send + 'static,
        X: Executor,
    {
        self.observe(OnComplete::new(callback, executor))
    }

    /// Calls `callback` with the [`StreamSummary`] on the tokio runtime when
    /// the stream ends, whatever the outcome (the client going away
    /// included), after the last frame; the seed of "log every completed
    /// stream without blocking the response".
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
    pub fn on_complete<C>(
        self,
        callback: C,
    ) -> Builder<S, T, F, (O, OnComplete<C, crate::observe::TokioExecutor>)>
    where
        C: FnOnce(StreamSummary) + Send + 'static,
    {
        self.on_complete_on(crate::observe::TokioExecutor, callback)
    }

    /// Whether the [`StreamSummary`] carries the full text sent, in
    /// [`StreamSummary::text`]. Default: off; on, the text is copied once
    /// more as it is sent.
    pub fn capture_text(mut self, on: bool) -> Self {
        self.capture_text = on;
        self
    }

    /// Builds the stream.
    pub fn build(self) -> SseStream<S, T, F, O>
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
        if self.capture_text {
            frames.capture_text();
        }
        let inner = Heartbeat::new(frames, self.heartbeat, self.timer.clone())
            .initial_comment(self.initial_comment);
        SseStream {
            inner,
            timer: self.timer,
            observer: self.observer,
            stats: Stats::default(),
        }
    }
}

impl<S: TokenStream, T: Timer, F, O: Observer> SseStream<S, T, F, O> {
    /// Notes that the client went away while the stream runs on.
    #[cfg(feature = "tokio")]
    pub(crate) fn mark_disconnected(self: Pin<&mut Self>) {
        self.project().stats.disconnected = true;
    }
}

impl<S, T, F, O> Stream for SseStream<S, T, F, O>
where
    S: TokenStream,
    S::Error: Display,
    S::Token: AsRef<str> + Into<String>,
    T: Timer,
    F: Format,
    O: Observer,
{
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut this = self.project();
        let stats = this.stats;
        if !stats.polled {
            stats.polled = true;
            stats.started = Stats::now::<T, O>(this.timer);
            this.observer.on_start();
        }
        let polled = this.inner.as_mut().poll_next(cx);
        let Poll::Ready(frame) = &polled else {
            return polled;
        };
        let Some(frame) = frame else {
            if !stats.ended {
                let outcome = stats.outcome.unwrap_or(Outcome::Completed);
                let text = this.inner.get_pin_mut().take_transcript();
                stats.end(outcome, text, this.timer, this.observer);
            }
            return polled;
        };
        let bytes = frame.len() as u64;
        stats.bytes += bytes;
        let heartbeat = this.inner.as_ref().get_ref();
        if heartbeat.last_was_heartbeat() {
            stats.heartbeats += 1;
            this.observer.on_heartbeat();
            return polled;
        }
        let frames = heartbeat.get_ref();
        match frames.last() {
            Last::Chunk => {
                let tokens = frames.tokens() - stats.tokens;
                stats.tokens = frames.tokens();
                stats.chunks += 1;
                let now = Stats::now::<T, O>(this.timer);
                if stats.chunks == 1 {
                    if let (Some(start), Some(now)) = (stats.started, now) {
                        let ttft = now.saturating_duration_since(start);
                        stats.ttft = Some(ttft);
                        this.observer.on_first_token(ttft);
                    }
                }
                let gap = stats
                    .last_chunk
                    .zip(now)
                    .map(|(last, now)| now.saturating_duration_since(last));
                stats.last_chunk = now;
                this.observer.on_chunk(ChunkStats { tokens, bytes, gap });
            }
            Last::Error { outcome, message } => {
                stats.outcome = Some(*outcome);
                stats.error = Some(message.clone());
                this.observer.on_error(*outcome, message);
            }
            Last::End => stats.outcome = Some(Outcome::Completed),
            Last::Nothing => {}
        }
        polled
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<S, T, F, O> FusedStream for SseStream<S, T, F, O>
where
    S: TokenStream,
    S::Error: Display,
    S::Token: AsRef<str> + Into<String>,
    T: Timer,
    F: Format,
    O: Observer,
{
    fn is_terminated(&self) -> bool {
        self.inner.is_terminated()
    }
}

impl<S: TokenStream, T: Timer, F, O: Observer> fmt::Debug for SseStream<S, T, F, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseStream")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<S: TokenStream, T: fmt::Debug, F: fmt::Debug, O> fmt::Debug for Builder<S, T, F, O> {
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
