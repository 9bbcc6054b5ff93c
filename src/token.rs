//! [`TokenStream`] and the extension traits that add the adapters.

use std::fmt::Display;
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;

use crate::adapters::{
    Batch, Batched, CatchPanic, Chunk, Frames, Heartbeat, Observe, TaggedFrame, Timeout, Timeouts,
    Utf8,
};
use crate::delta::IntoDelta;
use crate::error::{Panicked, TimedOut};
use crate::format::Format;
use crate::observe::Observer;
use crate::timer::Timer;
use crate::Error;

/// A stream of a model's output: any `Stream<Item = Result<T, E>>`.
///
/// Not to be confused with `proc_macro::TokenStream`: this one is
/// `llm_sse::TokenStream`, a trait with a blanket implementation, so there is
/// nothing to implement. Tokens are text (`String`, `&'static str`,
/// `Cow<'static, str>`) or typed [`Delta`](crate::Delta)s: anything that
/// implements [`IntoDelta`]. Byte tokens (`Bytes`, `Vec<u8>`, anything
/// `Into<Bytes>`) become text through [`TokenStreamExt::utf8`], which joins
/// characters split between tokens.
pub trait TokenStream: Stream<Item = Result<Self::Token, Self::Error>> {
    /// The token type.
    type Token;
    /// The error type.
    type Error;
}

impl<S, T, E> TokenStream for S
where
    S: Stream<Item = Result<T, E>> + ?Sized,
{
    type Token = T;
    type Error = E;
}

/// The token-level adapters, each usable alone.
///
/// [`SseStream::builder`](crate::SseStream::builder) composes them in the
/// right order; reach for these to build a pipeline of your own.
pub trait TokenStreamExt: TokenStream + Sized {
    /// Decodes byte tokens (`Bytes`, `Vec<u8>`, anything `Into<Bytes>`) as
    /// UTF-8 text, yielding `String`s: a whole, valid token is checked once,
    /// and its buffer is reused when the token owns it alone.
    ///
    /// A character split between tokens is held back until it is complete;
    /// invalid bytes become U+FFFD without losing the text after them; an
    /// unfinished character at the end (or before an error) is flushed as
    /// U+FFFD. A token that holds only part of a character yields nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::{stream, StreamExt, TryStreamExt};
    /// use llm_sse::TokenStreamExt;
    ///
    /// # futures_util::FutureExt::now_or_never(async {
    /// // "é" is C3 A9; "€" is E2 82 AC.
    /// let tokens = stream::iter([&b"caf\xC3"[..], b"\xA9 5\xE2\x82", b"\xAC\xFF!"])
    ///     .map(Ok::<_, std::io::Error>);
    /// let text: Vec<String> = tokens.utf8().try_collect().await?;
    /// assert_eq!(text, ["caf", "é 5", "€\u{FFFD}!"]);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn utf8(self) -> Utf8<Self, Self::Error>
    where
        Self::Token: Into<Bytes>,
    {
        Utf8::new(self)
    }

    /// Coalesces deltas of one kind into [`Chunk`]s under `policy`, without
    /// ever delaying the first one.
    ///
    /// See [`Batch`] for the rules. Empty text is skipped, so a chunk is
    /// never empty. Errors pass through after the deltas before them.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use futures_util::{stream, StreamExt, TryStreamExt};
    /// use llm_sse::adapters::Batch;
    /// use llm_sse::{TokenStreamExt, TokioTimer};
    ///
    /// let tokens = stream::iter(["a", "b", "c", "d", "e", "f"]).map(Ok::<_, ()>);
    /// let chunks: Vec<String> = tokens
    ///     .batch(Batch::tokens(2), TokioTimer)
    ///     .map_ok(|chunk| chunk.delta().as_text().unwrap_or_default().to_owned())
    ///     .try_collect()
    ///     .await
    ///     .unwrap();
    /// // The first token goes alone, at once; later ones travel in twos.
    /// assert_eq!(chunks, ["a", "bc", "de", "f"]);
    /// # }
    /// # #[cfg(not(feature = "tokio"))]
    /// # fn main() {}
    /// ```
    fn batch<T: Timer>(self, policy: Batch, timer: T) -> Batched<Self, Self::Error, T>
    where
        Self::Token: IntoDelta,
    {
        Batched::new(self, policy, timer)
    }

    /// Ends the stream with a [`TimedOut`] error when a limit of `timeouts`
    /// passes, dropping the upstream at once.
    ///
    /// The error type must be able to hold the timeout, as
    /// [`Error`] does.
    fn timeout<T: Timer>(self, timeouts: Timeouts, timer: T) -> Timeout<Self, T>
    where
        Self::Error: From<TimedOut>,
    {
        Timeout::new(self, timeouts, timer)
    }

    /// Catches a panic raised while polling the stream, yields it as a
    /// [`Panicked`] error and drops the stream.
    fn catch_panic(self) -> CatchPanic<Self>
    where
        Self::Error: From<Panicked>,
    {
        CatchPanic::new(self)
    }

    /// Writes deltas (or [`Chunk`]s) as SSE frames in `format`, yielding
    /// [`TaggedFrame`]s: an error becomes the format's terminal error frame
    /// and ends the stream, and a normal end is followed by the format's end
    /// frames and end marker (`data: [DONE]` for most). Both are replaceable
    /// on [`Frames`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::{stream, StreamExt};
    /// use llm_sse::format::Text;
    /// use llm_sse::{Error, TokenStreamExt};
    ///
    /// # futures_util::FutureExt::now_or_never(async {
    /// let tokens = stream::iter([Ok("Hi"), Err(Error::Upstream("model crashed"))]);
    /// let frames: Vec<_> = tokens.frames(Text).map(|frame| frame.into_bytes()).collect().await;
    /// assert_eq!(frames[0], "data: Hi\n\n");
    /// assert_eq!(
    ///     frames[1],
    ///     "event: error\ndata: {\"error\":{\"message\":\"model crashed\",\"type\":\"upstream_error\"}}\n\n"
    /// );
    /// assert_eq!(frames.len(), 2);
    /// # }).unwrap();
    /// ```
    fn frames<F, E>(self, format: F) -> Frames<Self, F, E>
    where
        Self: TokenStream<Error = Error<E>>,
        Self::Token: Into<Chunk>,
        F: Format,
        E: Display,
    {
        Frames::new(self, format)
    }
}

impl<S: TokenStream> TokenStreamExt for S {}

/// The adapters on a stream of [`TaggedFrame`]s, such as
/// [`TokenStreamExt::frames`] yields.
pub trait FrameStreamExt: Stream<Item = TaggedFrame> + Sized {
    /// Writes a heartbeat (a `: ping` comment line; another frame with
    /// [`Heartbeat::frame`]) whenever `interval` passes without a frame. A
    /// zero interval turns heartbeats off.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(all(feature = "tokio", feature = "test-util"))]
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use futures_util::{stream, StreamExt};
    /// use llm_sse::format::Text;
    /// use llm_sse::{FrameStreamExt, TokenStreamExt, TokioTimer};
    ///
    /// let slow = stream::once(async {
    ///     tokio::time::sleep(Duration::from_secs(40)).await;
    ///     Ok::<_, llm_sse::Error<std::io::Error>>("late")
    /// });
    /// let frames: Vec<_> = slow
    ///     .frames(Text)
    ///     .heartbeat(Duration::from_secs(15), TokioTimer)
    ///     .map(|frame| frame.into_bytes())
    ///     .collect()
    ///     .await;
    /// assert_eq!(frames, [": ping\n", ": ping\n", "data: late\n\n", "data: [DONE]\n\n"]);
    /// # }
    /// # #[cfg(not(all(feature = "tokio", feature = "test-util")))]
    /// # fn main() {}
    /// ```
    fn heartbeat<T: Timer>(self, interval: Duration, timer: T) -> Heartbeat<Self, T> {
        Heartbeat::new(self, interval, timer)
    }

    /// Reports every frame to `observer` (add more with [`Observe::and`]),
    /// and ends the observation exactly once, the stream being dropped
    /// included.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::sync::{Arc, Mutex};
    /// use futures_util::{stream, StreamExt};
    /// use llm_sse::format::Text;
    /// use llm_sse::observe::{Observer, StreamSummary};
    /// use llm_sse::{FrameStreamExt, TokenStreamExt, TokioTimer};
    ///
    /// #[derive(Clone, Default)]
    /// struct Tokens(Arc<Mutex<u64>>);
    ///
    /// impl Observer for Tokens {
    ///     fn needs_time(&self) -> bool {
    ///         false
    ///     }
    ///     fn on_end(&mut self, summary: &StreamSummary) {
    ///         *self.0.lock().unwrap() = summary.tokens;
    ///     }
    /// }
    ///
    /// let tokens = Tokens::default();
    /// let model = stream::iter(["a", "b"]).map(Ok::<_, llm_sse::Error<std::io::Error>>);
    /// model.frames(Text).observe(tokens.clone(), TokioTimer).count().await;
    /// assert_eq!(*tokens.0.lock().unwrap(), 2);
    /// # }
    /// # #[cfg(not(feature = "tokio"))]
    /// # fn main() {}
    /// ```
    fn observe<T: Timer>(
        self,
        observer: impl Observer + Send + 'static,
        timer: T,
    ) -> Observe<Self, T> {
        Observe::new(self, vec![Box::new(observer)], timer)
    }
}

impl<S: Stream<Item = TaggedFrame>> FrameStreamExt for S {}
