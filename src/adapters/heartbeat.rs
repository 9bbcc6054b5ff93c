//! [`Heartbeat`]: a comment frame after every silence of a given length.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use super::{FrameTag, TaggedFrame};
use crate::format::COMMENT_HEARTBEAT;
use crate::timer::{later, Deadline, Timer};

pin_project! {
    /// Writes a heartbeat frame whenever `interval` passes without a frame;
    /// see [`FrameStreamExt::heartbeat`](crate::FrameStreamExt::heartbeat).
    ///
    /// The heartbeat is the format's own
    /// ([`Format::heartbeat`](crate::format::Format::heartbeat)); alone, it
    /// is [`COMMENT_HEARTBEAT`](crate::format::COMMENT_HEARTBEAT), one
    /// comment line with no blank line after it, invisible to every client.
    /// The timer restarts after every frame written (an empty frame is not
    /// written); there is no heartbeat at time zero, no burst after a busy
    /// stretch, and none after the end.
    #[must_use = "streams do nothing unless polled"]
    pub struct Heartbeat<S, T: Timer> {
        #[pin]
        stream: S,
        interval: Duration,
        deadline: Deadline<T>,
        // A silence is being timed: the deadline is armed for the interval
        // after the upstream first left us with nothing to send (or after
        // the last heartbeat). Cleared by every frame written.
        timing: bool,
        frame: Bytes,
        started: bool,
        initial: bool,
        ended: bool,
    }
}

impl<S, T: Timer> Heartbeat<S, T> {
    pub(crate) fn new(stream: S, interval: Duration, timer: T) -> Self {
        Self {
            stream,
            interval,
            deadline: Deadline::new(timer),
            timing: false,
            frame: Bytes::from_static(COMMENT_HEARTBEAT),
            started: false,
            initial: false,
            ended: false,
        }
    }

    /// Sets the heartbeat frame. Default:
    /// [`COMMENT_HEARTBEAT`](crate::format::COMMENT_HEARTBEAT).
    pub fn frame(mut self, frame: Bytes) -> Self {
        self.frame = frame;
        self
    }

    /// Also writes a heartbeat at once, on the first poll, unless a frame
    /// (a format's start frames, say) is ready then.
    ///
    /// Some HTTP/2 reverse proxies hold the response headers until the first
    /// DATA frame; an initial heartbeat gets the headers through before the
    /// model's first token exists.
    pub fn initial_comment(mut self, on: bool) -> Self {
        self.initial = on;
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
}

impl<S, T> Stream for Heartbeat<S, T>
where
    S: Stream<Item = TaggedFrame>,
    T: Timer,
{
    type Item = TaggedFrame;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<TaggedFrame>> {
        let mut this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        let first = !*this.started;
        *this.started = true;
        match this.stream.as_mut().poll_next(cx) {
            // Nothing to send at once (no start frames, no token yet): the
            // initial heartbeat gets the headers out.
            Poll::Pending if first && *this.initial => Poll::Ready(Some(heartbeat(this.frame))),
            Poll::Ready(Some(frame)) => {
                // Silence is timed from when the upstream next has nothing,
                // so frames that flow cost no clock read and no timer update.
                if !frame.bytes().is_empty() {
                    *this.timing = false;
                }
                Poll::Ready(Some(frame))
            }
            Poll::Ready(None) => {
                *this.ended = true;
                this.deadline.disarm();
                Poll::Ready(None)
            }
            Poll::Pending if this.interval.is_zero() => Poll::Pending,
            Poll::Pending => {
                if !*this.timing {
                    *this.timing = true;
                    let due = later(this.deadline.now(), *this.interval);
                    this.deadline.arm(due);
                }
                ready!(this.deadline.poll_expired(cx));
                // The next silence is timed from the next poll: at once, as
                // the heartbeat goes out.
                *this.timing = false;
                Poll::Ready(Some(heartbeat(this.frame)))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.ended {
            return (0, Some(0));
        }
        let (lower, upper) = self.stream.size_hint();
        let upper = if self.interval.is_zero() { upper } else { None };
        let initial = usize::from(self.initial && !self.started);
        (
            lower.saturating_add(initial),
            upper.and_then(|u| u.checked_add(initial)),
        )
    }
}

fn heartbeat(frame: &Bytes) -> TaggedFrame {
    TaggedFrame::new(frame.clone(), FrameTag::Heartbeat)
}

impl<S, T> FusedStream for Heartbeat<S, T>
where
    S: Stream<Item = TaggedFrame>,
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
