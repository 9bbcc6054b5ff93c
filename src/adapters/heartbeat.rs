//! [`Heartbeat`]: a comment frame after every silence of a given length.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use crate::encode::HEARTBEAT;
use crate::timer::{later, Deadline, Timer};

pin_project! {
    /// Writes a `: ping` comment line whenever `interval` passes without a
    /// frame; see [`FrameStreamExt::heartbeat`](crate::FrameStreamExt::heartbeat).
    ///
    /// The heartbeat is one comment line with no blank line after it: it is
    /// invisible to `EventSource` listeners and can never dispatch an event,
    /// not even in clients (such as the OpenAI Python SDK) that turn a blank
    /// line after a comment into an empty event once an `id:` has been seen.
    /// The timer restarts after every frame; there is no heartbeat at time
    /// zero, no burst after a busy stretch, and none after the end.
    #[must_use = "streams do nothing unless polled"]
    pub struct Heartbeat<S, T: Timer> {
        #[pin]
        stream: S,
        interval: Duration,
        deadline: Deadline<T>,
        // When the upstream last left us with nothing to send after a frame;
        // `None` while frames flow.
        silent_since: Option<Instant>,
        started: bool,
        initial: Option<Bytes>,
        ended: bool,
        // Whether the last frame yielded was a heartbeat, for observers.
        last_was_heartbeat: bool,
    }
}

impl<S, T: Timer> Heartbeat<S, T> {
    pub(crate) fn new(stream: S, interval: Duration, timer: T) -> Self {
        Self {
            stream,
            interval,
            deadline: Deadline::new(timer),
            silent_since: None,
            started: false,
            initial: None,
            ended: false,
            last_was_heartbeat: false,
        }
    }

    /// Also writes a comment frame at once, on the first poll.
    ///
    /// Some HTTP/2 reverse proxies hold the response headers until the first
    /// DATA frame; an initial comment gets the headers through before the
    /// model's first token exists.
    pub fn initial_comment(mut self, on: bool) -> Self {
        self.initial = on.then(|| Bytes::from_static(HEARTBEAT));
        self
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

    /// The upstream stream.
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Whether the last frame yielded was a heartbeat.
    pub(crate) fn last_was_heartbeat(&self) -> bool {
        self.last_was_heartbeat
    }
}

impl<S, T> Stream for Heartbeat<S, T>
where
    S: Stream<Item = Bytes>,
    T: Timer,
{
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        if !*this.started {
            *this.started = true;
            if let Some(initial) = this.initial.take() {
                *this.last_was_heartbeat = true;
                return Poll::Ready(Some(initial));
            }
        }
        match this.stream.as_mut().poll_next(cx) {
            Poll::Ready(Some(frame)) => {
                // Silence is timed from when the upstream next has nothing,
                // so frames that flow cost no clock read and no timer update.
                *this.silent_since = None;
                *this.last_was_heartbeat = false;
                Poll::Ready(Some(frame))
            }
            Poll::Ready(None) => {
                *this.ended = true;
                this.deadline.disarm();
                Poll::Ready(None)
            }
            Poll::Pending if this.interval.is_zero() => Poll::Pending,
            Poll::Pending => {
                let since = *this.silent_since.get_or_insert_with(|| this.deadline.now());
                let due = later(since, *this.interval);
                if this.deadline.armed_at() != Some(due) {
                    this.deadline.arm(due);
                }
                ready!(this.deadline.poll_expired(cx));
                *this.silent_since = Some(this.deadline.now());
                *this.last_was_heartbeat = true;
                Poll::Ready(Some(Bytes::from_static(HEARTBEAT)))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.ended {
            return (0, Some(0));
        }
        let (lower, upper) = self.stream.size_hint();
        let upper = if self.interval.is_zero() { upper } else { None };
        (lower + usize::from(self.initial.is_some()), upper)
    }
}

impl<S, T> FusedStream for Heartbeat<S, T>
where
    S: Stream<Item = Bytes>,
    T: Timer,
{
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl<S: fmt::Debug, T: Timer> fmt::Debug for Heartbeat<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heartbeat")
            .field("stream", &self.stream)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}
