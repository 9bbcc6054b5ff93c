//! [`Batched`]: tokens coalesced into chunks without delaying the first one.

use std::borrow::Cow;
use std::fmt;
use std::mem;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use crate::delta::{Delta, DeltaKind, IntoDelta};
use crate::timer::{later, Deadline, Timer};

/// When [`Batched`] flushes a chunk.
///
/// The first delta of a stream always goes out at once, and so does the
/// first delta after a change of kind (the first answer token after the
/// reasoning, say). After it, deltas of one kind coalesce (text with text, reasoning with reasoning, argument
/// fragments of one tool call) until one of the limits is reached:
/// `max_tokens` deltas, `max_bytes` bytes of text, or `max_delay` since the
/// oldest delta waiting. A delta of another kind flushes the chunk at once;
/// tool-call starts, usage, the finish reason and data never wait. Deltas
/// that are already available are taken without waiting, and nothing is
/// held when the upstream ends or fails.
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

/// One delta, or several of one kind joined, flushed together: what
/// [`Batched`] yields.
///
/// # Examples
///
/// ```
/// use llm_sse::adapters::Chunk;
/// use llm_sse::Delta;
///
/// let chunk = Chunk::new(Delta::text("Hello"), 2);
/// assert_eq!(chunk.delta().as_text(), Some("Hello"));
/// assert_eq!(chunk.tokens(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    delta: Delta,
    tokens: usize,
}

impl Chunk {
    /// A chunk of `tokens` deltas joined into `delta`.
    pub fn new(delta: impl IntoDelta, tokens: usize) -> Self {
        Self {
            delta: delta.into_delta(),
            tokens,
        }
    }

    /// The joined delta.
    pub fn delta(&self) -> &Delta {
        &self.delta
    }

    /// How many deltas were joined: for text, reasoning and tool arguments,
    /// the model's tokens.
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// The joined delta, without copying.
    pub fn into_delta(self) -> Delta {
        self.delta
    }
}

/// A single delta is a chunk of one.
impl<D: IntoDelta> From<D> for Chunk {
    fn from(delta: D) -> Self {
        Self::new(delta, 1)
    }
}

/// The text a delta of a joinable kind carries, for the batch to join.
fn joinable_text(delta: &mut Delta) -> Option<&mut Cow<'static, str>> {
    match delta {
        Delta::Text(text) | Delta::Reasoning(text) => Some(text),
        Delta::ToolArguments { fragment, .. } => Some(fragment),
        _ => None,
    }
}

/// What a delta joins with: its kind, and for arguments its tool call.
/// Text joins text, reasoning joins reasoning, argument fragments join
/// fragments of the same call.
pub(crate) fn join_key(delta: &Delta) -> (DeltaKind, u32) {
    match delta {
        Delta::ToolArguments { index, .. } => (DeltaKind::ToolArguments, *index),
        other => (other.kind(), 0),
    }
}

pin_project! {
    /// Coalesces deltas into [`Chunk`]s; see
    /// [`TokenStreamExt::batch`](crate::TokenStreamExt::batch).
    #[project = BatchedProj]
    #[must_use = "streams do nothing unless polled"]
    pub struct Batched<S, E, T: Timer> {
        #[pin]
        stream: S,
        policy: Batch,
        // The chunk being filled, and how many deltas and bytes it holds.
        pending: Option<Delta>,
        pending_tokens: usize,
        pending_len: usize,
        // An item that arrived while a chunk had to be flushed first: a delta
        // of another kind, one that did not fit, or an error. Boxed: a few
        // times a stream at most, and an open stream need not hold room
        // for it.
        carry: Option<Box<Result<Delta, E>>>,
        deadline: Deadline<T>,
        // When the oldest waiting delta must go out, once known: the clock
        // is read only when the upstream makes us wait (or after idling), so
        // chunks filled by ready deltas cost no clock read.
        flush_at: Option<Instant>,
        // What the last chunk joined: the first delta of the stream, and
        // the first after a change of kind, never wait.
        last_key: Option<(DeltaKind, u32)>,
        // When the upstream last left us with nothing to send.
        idle_since: Option<Instant>,
        upstream_done: bool,
    }
}

impl<S, E, T: Timer> Batched<S, E, T> {
    pub(crate) fn new(stream: S, policy: Batch, timer: T) -> Self {
        Self {
            flush_at: None,
            stream,
            policy,
            pending: None,
            pending_tokens: 0,
            pending_len: 0,
            carry: None,
            deadline: Deadline::new(timer),
            last_key: None,
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

    /// The upstream stream; deltas waiting in a chunk are dropped.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S, D, E, T> Stream for Batched<S, E, T>
where
    S: Stream<Item = Result<D, E>>,
    D: IntoDelta,
    T: Timer,
{
    type Item = Result<Chunk, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        let policy = *this.policy;
        loop {
            let next = match this.carry.take() {
                Some(item) => Poll::Ready(Some(*item)),
                None if *this.upstream_done => Poll::Ready(None),
                None => this
                    .stream
                    .as_mut()
                    .poll_next(cx)
                    .map(|item| item.map(|item| item.map(IntoDelta::into_delta))),
            };
            match next {
                Poll::Ready(Some(Ok(mut delta))) => {
                    let len = match joinable_text(&mut delta) {
                        Some(text) if text.is_empty() => continue, // never an empty chunk
                        Some(text) => Some(text.len()),
                        None => None,
                    };
                    let key = join_key(&delta);
                    let Some(pending) = this.pending.as_mut() else {
                        // Deltas that arrive after a wait were timed then;
                        // ready ones count as arriving now.
                        let idle_since = this.idle_since.take();
                        let now = idle_since.map(|_| this.deadline.now());
                        let idle = policy.reset_after_idle
                            && idle_since.zip(now).is_some_and(|(since, now)| {
                                now.duration_since(since) > policy.max_delay
                            });
                        // Tool-call starts, usage, finish and data never wait;
                        // nor does the first delta of a kind (the first
                        // answer token after reasoning, say).
                        let first_of_kind = *this.last_key != Some(key);
                        let at_once = match len {
                            None => true,
                            Some(len) => {
                                first_of_kind
                                    || idle
                                    || policy.max_tokens == 1
                                    || len >= policy.max_bytes
                            }
                        };
                        if at_once {
                            *this.last_key = Some(key);
                            return Poll::Ready(Some(Ok(Chunk::new(delta, 1))));
                        }
                        let len = len.unwrap_or(0);
                        *this.flush_at = now.map(|now| later(now, policy.max_delay));
                        *this.pending = Some(delta);
                        *this.pending_tokens = 1;
                        *this.pending_len = len;
                        continue;
                    };
                    let len = len.unwrap_or(0);
                    if join_key(pending) != key || *this.pending_len + len > policy.max_bytes {
                        *this.carry = Some(Box::new(Ok(delta)));
                        return Poll::Ready(Some(Ok(flush(&mut this))));
                    }
                    if let (Some(text), Some(more)) =
                        (joinable_text(pending), joinable_text(&mut delta))
                    {
                        if *this.pending_tokens == 1 {
                            // The first join: one buffer with room for a
                            // full chunk, instead of growing the first
                            // token's own.
                            let room = text
                                .len()
                                .saturating_mul(policy.max_tokens)
                                .min(policy.max_bytes)
                                .max(text.len() + more.len());
                            let mut joined = String::with_capacity(room);
                            joined.push_str(text);
                            *text = Cow::Owned(joined);
                        }
                        text.to_mut().push_str(more);
                    }
                    *this.pending_tokens += 1;
                    *this.pending_len += len;
                    if *this.pending_tokens >= policy.max_tokens
                        || *this.pending_len >= policy.max_bytes
                    {
                        return Poll::Ready(Some(Ok(flush(&mut this))));
                    }
                }
                Poll::Ready(Some(Err(err))) => {
                    if this.pending.is_none() {
                        return Poll::Ready(Some(Err(err)));
                    }
                    *this.carry = Some(Box::new(Err(err)));
                    return Poll::Ready(Some(Ok(flush(&mut this))));
                }
                Poll::Ready(None) => {
                    *this.upstream_done = true;
                    if this.pending.is_none() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(flush(&mut this))));
                }
                Poll::Pending => {
                    if this.pending.is_none() {
                        // Idle time decides only whether a token may skip
                        // the wait: without batching none waits, so the
                        // clock is not read.
                        let tracks_idle = policy.reset_after_idle && policy.max_tokens > 1;
                        if tracks_idle && this.idle_since.is_none() {
                            *this.idle_since = Some(this.deadline.now());
                        }
                        return Poll::Pending;
                    }
                    if !policy.max_delay.is_zero() {
                        let flush_at = *this
                            .flush_at
                            .get_or_insert_with(|| later(this.deadline.now(), policy.max_delay));
                        // Disarmed by every flush, so armed means armed
                        // for this chunk's `flush_at`.
                        if !this.deadline.is_armed() {
                            this.deadline.arm(flush_at);
                        }
                        ready!(this.deadline.poll_expired(cx));
                    }
                    return Poll::Ready(Some(Ok(flush(&mut this))));
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let held = usize::from(self.pending.is_some()) + usize::from(self.carry.is_some());
        let (lower, upper) = if self.upstream_done {
            (0, Some(0))
        } else {
            self.stream.size_hint()
        };
        // Empty text is skipped, so only what is held is sure to come.
        let _ = lower;
        (held.min(1), upper.and_then(|u| u.checked_add(held)))
    }
}

/// Takes the pending chunk out.
fn flush<S, E, T: Timer>(this: &mut BatchedProj<'_, S, E, T>) -> Chunk {
    this.deadline.disarm();
    *this.pending_len = 0;
    let tokens = mem::take(this.pending_tokens);
    let delta = this
        .pending
        .take()
        .unwrap_or(Delta::Text(Cow::Borrowed("")));
    Chunk { delta, tokens }
}

impl<S, D, E, T> FusedStream for Batched<S, E, T>
where
    S: Stream<Item = Result<D, E>>,
    D: IntoDelta,
    T: Timer,
{
    fn is_terminated(&self) -> bool {
        self.upstream_done && self.pending.is_none() && self.carry.is_none()
    }
}

impl<S: fmt::Debug, E, T: Timer> fmt::Debug for Batched<S, E, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batched")
            .field("stream", &self.stream)
            .field("policy", &self.policy)
            .field("pending_tokens", &self.pending_tokens)
            .field("pending_bytes", &self.pending_len)
            .finish_non_exhaustive()
    }
}
