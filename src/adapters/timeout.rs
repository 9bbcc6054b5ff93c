//! [`Timeout`]: time to first token, idle gap and total deadline.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use super::Slot;
use crate::error::{TimedOut, TimeoutKind};
use crate::timer::{later, Deadline, Timer};

/// The limits [`Timeout`] enforces; each is off unless set.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use llm_sse::adapters::Timeouts;
///
/// let timeouts = Timeouts::new()
///     .first_token(Duration::from_secs(10))
///     .idle(Duration::from_secs(30))
///     .total(Duration::from_secs(300));
/// # let _ = timeouts;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    first_token: Option<Duration>,
    idle: Option<Duration>,
    total: Option<Duration>,
}

impl Timeouts {
    /// No limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// The longest wait for the first token, from the first poll.
    #[must_use]
    pub fn first_token(mut self, limit: Duration) -> Self {
        self.first_token = Some(limit);
        self
    }

    /// The longest gap between two tokens, after the first.
    #[must_use]
    pub fn idle(mut self, limit: Duration) -> Self {
        self.idle = Some(limit);
        self
    }

    /// The longest the whole stream may take, from the first poll.
    #[must_use]
    pub fn total(mut self, limit: Duration) -> Self {
        self.total = Some(limit);
        self
    }

    /// Whether any limit is set.
    pub fn is_enabled(&self) -> bool {
        self.first_token.is_some() || self.idle.is_some() || self.total.is_some()
    }
}

pin_project! {
    /// Ends a token stream with a [`TimedOut`] error when a limit passes,
    /// dropping the upstream at once; see
    /// [`TokenStreamExt::timeout`](crate::TokenStreamExt::timeout).
    #[must_use = "streams do nothing unless polled"]
    pub struct Timeout<S, T: Timer> {
        #[pin]
        stream: Slot<S>,
        // `None` when no limit is set: a stream without timeouts carries
        // no timer state.
        clock: Option<Box<Clock<T>>>,
    }
}

/// What [`Timeout`] keeps when a limit is set.
struct Clock<T: Timer> {
    limits: Timeouts,
    deadline: Deadline<T>,
    // The armed deadline and which limit it is.
    target: Option<(Instant, TimeoutKind)>,
    total_at: Option<Instant>,
    started: bool,
    got_token: bool,
}

impl<S, T: Timer> Timeout<S, T> {
    pub(crate) fn new(stream: S, limits: Timeouts, timer: T) -> Self {
        let clock = limits.is_enabled().then(|| {
            Box::new(Clock {
                limits,
                deadline: Deadline::new(timer),
                target: None,
                total_at: None,
                started: false,
                got_token: false,
            })
        });
        Self {
            stream: Slot::new(stream),
            clock,
        }
    }

    /// A reference to the upstream stream, `None` once a timeout dropped it.
    pub fn get_ref(&self) -> Option<&S> {
        self.stream.get_ref()
    }

    /// A mutable reference to the upstream stream, `None` once dropped.
    pub fn get_mut(&mut self) -> Option<&mut S> {
        self.stream.get_mut()
    }

    /// A pinned mutable reference to the upstream stream, `None` once dropped.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Option<Pin<&mut S>> {
        self.project().stream.get_pin_mut()
    }

    /// The upstream stream, `None` once dropped.
    pub fn into_inner(self) -> Option<S> {
        self.stream.into_inner()
    }
}

/// Points `deadline` at the earliest of `candidates`.
fn retarget<T: Timer>(
    deadline: &mut Deadline<T>,
    target: &mut Option<(Instant, TimeoutKind)>,
    candidates: [Option<(Instant, TimeoutKind)>; 2],
) {
    let next = candidates.into_iter().flatten().min_by_key(|(at, _)| *at);
    if next.map(|n| n.0) != target.map(|t| t.0) {
        match next {
            Some((at, _)) => deadline.arm(at),
            None => deadline.disarm(),
        }
    }
    *target = next;
}

impl<S, Tok, E, T> Stream for Timeout<S, T>
where
    S: Stream<Item = Result<Tok, E>>,
    E: From<TimedOut>,
    T: Timer,
{
    type Item = Result<Tok, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        let Some(clock) = this.clock.as_deref_mut() else {
            return this.stream.poll_next(cx);
        };
        let limits = clock.limits;
        if !clock.started {
            clock.started = true;
            let now = clock.deadline.now();
            clock.total_at = limits.total.map(|d| later(now, d));
            let first = limits
                .first_token
                .map(|d| (later(now, d), TimeoutKind::FirstToken));
            let total = clock.total_at.map(|at| (at, TimeoutKind::Total));
            retarget(&mut clock.deadline, &mut clock.target, [first, total]);
        }
        match this.stream.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(token))) => {
                if limits.idle.is_some() || !clock.got_token {
                    let idle = limits
                        .idle
                        .map(|d| (later(clock.deadline.now(), d), TimeoutKind::Idle));
                    let total = clock.total_at.map(|at| (at, TimeoutKind::Total));
                    retarget(&mut clock.deadline, &mut clock.target, [idle, total]);
                }
                clock.got_token = true;
                Poll::Ready(Some(Ok(token)))
            }
            Poll::Pending => {
                let Some((_, kind)) = clock.target else {
                    return Poll::Pending;
                };
                if clock.deadline.poll_expired(cx).is_pending() {
                    return Poll::Pending;
                }
                this.stream.drop_stream();
                clock.target = None;
                let after = match kind {
                    TimeoutKind::FirstToken => limits.first_token,
                    TimeoutKind::Idle => limits.idle,
                    TimeoutKind::Total => limits.total,
                }
                .unwrap_or_default();
                Poll::Ready(Some(Err(TimedOut { kind, after }.into())))
            }
            other => other,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (_, upper) = self.stream.size_hint();
        (0, upper.and_then(|u| u.checked_add(1)))
    }
}

impl<S, Tok, E, T> FusedStream for Timeout<S, T>
where
    S: Stream<Item = Result<Tok, E>> + FusedStream,
    E: From<TimedOut>,
    T: Timer,
{
    fn is_terminated(&self) -> bool {
        self.stream
            .get_ref()
            .map_or(true, FusedStream::is_terminated)
    }
}

impl<S: fmt::Debug, T: Timer> fmt::Debug for Timeout<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("stream", &self.stream)
            .field(
                "limits",
                &self
                    .clock
                    .as_ref()
                    .map(|clock| clock.limits)
                    .unwrap_or_default(),
            )
            .finish_non_exhaustive()
    }
}
