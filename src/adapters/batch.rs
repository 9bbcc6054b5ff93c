//! [`Batched`]: tokens coalesced into chunks without delaying the first one.

use std::fmt;
use std::mem;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use crate::timer::{later, Deadline, Timer};

/// When [`Batched`] flushes a chunk.
///
/// The first token of a stream always goes out at once. After it, tokens
/// coalesce until one of the limits is reached: `max_tokens` tokens,
/// `max_bytes` bytes of text, or `max_delay` since the oldest token waiting.
/// Tokens that are already available are taken without waiting, and nothing
/// is held when the upstream ends or fails.
///
/// Defaults: 4 tokens, 16 KiB, 50 ms, and [`reset_after_idle`](Batch::reset_after_idle) on.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use llm_sse::adapters::Batch;
///
/// let policy = Batch::tokens(5).max_delay(Duration::from_millis(30));
/// assert_eq!(policy.max_tokens_limit(), 5);
/// assert_eq!(Batch::default(), Batch::tokens(4));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    max_tokens: usize,
    max_bytes: usize,
    max_delay: Duration,
    reset_after_idle: bool,
}

impl Default for Batch {
    fn default() -> Self {
        Self {
            max_tokens: 4,
            max_bytes: 16 * 1024,
            max_delay: Duration::from_millis(50),
            reset_after_idle: true,
        }
    }
}

impl Batch {
    /// At most `max_tokens` tokens per chunk, other limits at their
    /// defaults. `0` and `1` both turn batching off: every token is its own
    /// chunk.
    pub fn tokens(max_tokens: usize) -> Self {
        Self {
            max_tokens: max_tokens.max(1),
            ..Self::default()
        }
    }

    /// No batching: every token is flushed as soon as it arrives.
    pub fn off() -> Self {
        Self::tokens(1)
    }

    /// At most `max_bytes` bytes of text per chunk, unless a single token is
    /// larger. Default: 16 KiB.
    #[must_use]
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes.max(1);
        self
    }

    /// The longest a token waits for others to join it. Default: 50 ms.
    /// Zero means tokens wait only while more are already available.
    #[must_use]
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// Whether a token that arrives after the stream sat idle (nothing
    /// waiting, the upstream not ready) for longer than `max_delay` goes out
    /// at once, like the first token. Default: on, so a model that pauses
    /// (for a tool call, say) does not make the user wait `max_delay` more
    /// when it resumes.
    #[must_use]
    pub fn reset_after_idle(mut self, on: bool) -> Self {
        self.reset_after_idle = on;
        self
    }

    /// The token limit.
    pub fn max_tokens_limit(&self) -> usize {
        self.max_tokens
    }

    /// The byte limit.
    pub fn max_bytes_limit(&self) -> usize {
        self.max_bytes
    }

    /// The delay limit.
    pub fn max_delay_limit(&self) -> Duration {
        self.max_delay
    }
}

/// Text of one or more tokens, flushed together.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chunk {
    text: String,
    tokens: usize,
}

impl Chunk {
    /// A chunk of `tokens` tokens whose text is `text`.
    pub fn new(text: impl Into<String>, tokens: usize) -> Self {
        Self {
            text: text.into(),
            tokens,
        }
    }

    /// The joined text of the tokens.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// How many tokens were joined.
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// The text, without copying.
    pub fn into_text(self) -> String {
        self.text
    }
}

impl AsRef<str> for Chunk {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl From<Chunk> for String {
    fn from(chunk: Chunk) -> String {
        chunk.text
    }
}

pin_project! {
    /// Coalesces tokens into [`Chunk`]s; see
    /// [`TokenStreamExt::batch`](crate::TokenStreamExt::batch).
    #[must_use = "streams do nothing unless polled"]
    pub struct Batched<S: Stream, T: Timer> {
        #[pin]
        stream: S,
        policy: Batch,
        pending: String,
        pending_tokens: usize,
        // An item that arrived while a chunk had to be flushed first: a token
        // that did not fit, or an error.
        carry: Option<S::Item>,
        deadline: Deadline<T>,
        // When the oldest waiting token must go out.
        // When the oldest waiting token must go out, once known: the clock
        // is read only when the upstream makes us wait (or after idling), so
        // chunks filled by ready tokens cost no clock read.
        flush_at: Option<Instant>,
        // Whether a chunk went out yet: the first token never waits.
        started: bool,
        // When the upstream last left us with nothing to send.
        idle_since: Option<Instant>,
        upstream_done: bool,
    }
}

impl<S: Stream, T: Timer> Batched<S, T> {
    pub(crate) fn new(stream: S, policy: Batch, timer: T) -> Self {
        Self {
            flush_at: None,
            stream,
            policy,
            pending: String::new(),
            pending_tokens: 0,
            carry: None,
            deadline: Deadline::new(timer),
            started: false,
            idle_since: None,
            upstream_done: false,
        }
    }

    /// A reference to the upstream stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// A mutable reference to the upstream stream.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// A pinned mutable reference to the upstream stream.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut S> {
        self.project().stream
    }

    /// The upstream stream; tokens waiting in a chunk are dropped.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S, Tok, E, T> Stream for Batched<S, T>
where
    S: Stream<Item = Result<Tok, E>>,
    Tok: AsRef<str> + Into<String>,
    T: Timer,
{
    type Item = Result<Chunk, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        let policy = *this.policy;
        loop {
            let next = match this.carry.take() {
                Some(item) => Poll::Ready(Some(item)),
                None if *this.upstream_done => Poll::Ready(None),
                None => this.stream.as_mut().poll_next(cx),
            };
            match next {
                Poll::Ready(Some(Ok(token))) => {
                    let text = token.as_ref();
                    if text.is_empty() {
                        continue; // never an empty chunk
                    }
                    if *this.pending_tokens == 0 {
                        // Tokens that arrive after a wait were timed then;
                        // ready ones count as arriving now.
                        let idle_since = this.idle_since.take();
                        let now = idle_since.map(|_| this.deadline.now());
                        let idle = policy.reset_after_idle
                            && idle_since.zip(now).is_some_and(|(since, now)| {
                                now.duration_since(since) > policy.max_delay
                            });
                        if !*this.started
                            || idle
                            || policy.max_tokens == 1
                            || text.len() >= policy.max_bytes
                        {
                            *this.started = true;
                            return Poll::Ready(Some(Ok(Chunk::new(token, 1))));
                        }
                        *this.flush_at = now.map(|now| later(now, policy.max_delay));
                        this.pending.reserve(
                            text.len()
                                .saturating_mul(policy.max_tokens)
                                .min(policy.max_bytes),
                        );
                    } else if this.pending.len() + text.len() > policy.max_bytes {
                        *this.carry = Some(Ok(token));
                        return Poll::Ready(Some(Ok(flush(
                            this.pending,
                            this.pending_tokens,
                            this.deadline,
                        ))));
                    }
                    this.pending.push_str(text);
                    *this.pending_tokens += 1;
                    if *this.pending_tokens >= policy.max_tokens
                        || this.pending.len() >= policy.max_bytes
                    {
                        return Poll::Ready(Some(Ok(flush(
                            this.pending,
                            this.pending_tokens,
                            this.deadline,
                        ))));
                    }
                }
                Poll::Ready(Some(Err(err))) => {
                    if *this.pending_tokens == 0 {
                        return Poll::Ready(Some(Err(err)));
                    }
                    *this.carry = Some(Err(err));
                    return Poll::Ready(Some(Ok(flush(
                        this.pending,
                        this.pending_tokens,
                        this.deadline,
                    ))));
                }
                Poll::Ready(None) => {
                    *this.upstream_done = true;
                    if *this.pending_tokens == 0 {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(flush(
                        this.pending,
                        this.pending_tokens,
                        this.deadline,
                    ))));
                }
                Poll::Pending => {
                    if *this.pending_tokens == 0 {
                        if this.idle_since.is_none() {
                            *this.idle_since = Some(this.deadline.now());
                        }
                        return Poll::Pending;
                    }
                    if !policy.max_delay.is_zero() {
                        let flush_at = *this
                            .flush_at
                            .get_or_insert_with(|| later(this.deadline.now(), policy.max_delay));
                        if this.deadline.armed_at() != Some(flush_at) {
                            this.deadline.arm(flush_at);
                        }
                        ready!(this.deadline.poll_expired(cx));
                    }
                    return Poll::Ready(Some(Ok(flush(
                        this.pending,
                        this.pending_tokens,
                        this.deadline,
                    ))));
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let held = usize::from(self.pending_tokens > 0) + usize::from(self.carry.is_some());
        let (lower, upper) = if self.upstream_done {
            (0, Some(0))
        } else {
            self.stream.size_hint()
        };
        (
            (lower + held).min(1),
            upper.and_then(|u| u.checked_add(held)),
        )
    }
}

fn flush<T: Timer>(
    pending: &mut String,
    pending_tokens: &mut usize,
    deadline: &mut Deadline<T>,
) -> Chunk {
    deadline.disarm();
    Chunk {
        text: mem::take(pending),
        tokens: mem::take(pending_tokens),
    }
}

impl<S, Tok, E, T> FusedStream for Batched<S, T>
where
    S: Stream<Item = Result<Tok, E>>,
    Tok: AsRef<str> + Into<String>,
    T: Timer,
{
    fn is_terminated(&self) -> bool {
        self.upstream_done && self.pending_tokens == 0 && self.carry.is_none()
    }
}

impl<S: Stream + fmt::Debug, T: Timer> fmt::Debug for Batched<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batched")
            .field("stream", &self.stream)
            .field("policy", &self.policy)
            .field("pending_tokens", &self.pending_tokens)
            .field("pending_bytes", &self.pending.len())
            .finish_non_exhaustive()
    }
}
