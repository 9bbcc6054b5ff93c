//! [`TokenStream`] and the extension traits that add the adapters.

use std::fmt::Display;
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;

use crate::adapters::{
    Batch, Batched, CatchPanic, ChunkText, Format, Frames, Heartbeat, Timeout, Timeouts, Utf8,
};
use crate::error::{Panicked, TimedOut};
use crate::timer::Timer;
use crate::Error;

/// A stream of tokens from a model: any `Stream<Item = Result<T, E>>`.
///
/// Not to be confused with `proc_macro::TokenStream`: this one is
/// `llm_sse::TokenStream`, a trait with a blanket implementation, so there is
/// nothing to implement. Text tokens are `String`, `&'static str` or
/// `Cow<'static, str>`; byte tokens (`Bytes`, `Vec<u8>`, anything
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
    /// UTF-8 text, yielding [`Utf8Bytes`](crate::adapters::Utf8Bytes): a
    /// whole, valid token becomes text without a copy.
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
    /// let text: Vec<String> = tokens.utf8().map_ok(String::from).try_collect().await?;
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

    /// Coalesces text tokens into [`Chunk`](crate::adapters::Chunk)s under
    /// `policy`, without ever delaying the first token.
    ///
    /// See [`Batch`] for the rules. Empty tokens are skipped, so a chunk is
    /// never empty. Errors pass through after the text before them.
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
    ///     .map_ok(String::from)
    ///     .try_collect()
    ///     .await
    ///     .unwrap();
    /// // The first token goes alone, at once; later ones travel in twos.
    /// assert_eq!(chunks, ["a", "bc", "de", "f"]);
    /// # }
    /// # #[cfg(not(feature = "tokio"))]
    /// # fn main() {}
    /// ```
    fn batch<T: Timer>(self, policy: Batch, timer: T) -> Batched<Self, T>
    where
        Self::Token: AsRef<str> + Into<String>,
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

    /// Encodes text chunks as SSE frames with `format`: an error becomes one
    /// `event: error` frame that ends the stream, and a normal end is
    /// followed by `data: [DONE]`. Both are configurable on [`Frames`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::{stream, StreamExt};
    /// use llm_sse::adapters::Text;
    /// use llm_sse::{Error, TokenStreamExt};
    ///
    /// # futures_util::FutureExt::now_or_never(async {
    /// let tokens = stream::iter([Ok("Hi"), Err(Error::Upstream("model crashed"))]);
    /// let frames: Vec<_> = tokens.frames(Text).collect().await;
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
        Self::Token: ChunkText,
        F: Format,
        E: Display,
    {
        Frames::new(self, format)
    }
}

impl<S: TokenStream> TokenStreamExt for S {}

/// The adapters on a stream of encoded frames.
pub trait FrameStreamExt: Stream<Item = Bytes> + Sized {
    /// Writes a `: ping` comment line whenever `interval` passes without a
    /// frame. A zero interval turns heartbeats off.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use bytes::Bytes;
    /// use futures_util::{stream, StreamExt};
    /// use llm_sse::{FrameStreamExt, TokioTimer};
    ///
    /// let slow = stream::once(async {
    ///     tokio::time::sleep(Duration::from_secs(40)).await;
    ///     Bytes::from_static(b"data: late\n\n")
    /// });
    /// let frames: Vec<Bytes> = slow.heartbeat(Duration::from_secs(15), TokioTimer).collect().await;
    /// assert_eq!(frames, [": ping\n", ": ping\n", "data: late\n\n"]);
    /// # }
    /// # #[cfg(not(feature = "tokio"))]
    /// # fn main() {}
    /// ```
    fn heartbeat<T: Timer>(self, interval: Duration, timer: T) -> Heartbeat<Self, T> {
        Heartbeat::new(self, interval, timer)
    }
}

impl<S: Stream<Item = Bytes>> FrameStreamExt for S {}
