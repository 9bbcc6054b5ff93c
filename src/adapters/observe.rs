//! [`Observe`]: what goes out, reported to observers.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use super::{FrameTag, TaggedFrame};
use crate::delta::{Delta, DeltaKind, FinishReason, TokenCounts, Usage};
use crate::format::FailureKind;
use crate::observe::{ChunkStats, Observer, Outcome, StreamSummary};
use crate::timer::Timer;

/// The observers of one stream.
pub(crate) type Observers = Vec<Box<dyn Observer + Send>>;

pin_project! {
    /// Reports every frame that passes to a list of
    /// [`Observer`]s, and ends the observation exactly once: when the
    /// stream ends, or when it is dropped (as
    /// [`Cancelled`](Outcome::Cancelled) if its last frame had not gone
    /// out); see [`FrameStreamExt::observe`](crate::FrameStreamExt::observe).
    ///
    /// It reads only the [`FrameTag`]s of what passes, and the clock only
    /// when an observer [needs time](Observer::needs_time).
    #[must_use = "streams do nothing unless polled"]
    pub struct Observe<S, T: Timer> {
        #[pin]
        stream: S,
        timer: T,
        // A slice, not a `Vec`: every open stream holds it.
        observers: Box<[Box<dyn Observer + Send>]>,
        needs_time: bool,
        stats: Stats,
    }

    impl<S, T: Timer> PinnedDrop for Observe<S, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !this.stats.ended {
                let outcome = this.stats.outcome.unwrap_or(Outcome::Cancelled);
                let now = this.needs_time.then(|| this.timer.now());
                this.stats.end(outcome, now, this.observers);
            }
        }
    }
}

/// What the stream has sent so far.
#[derive(Debug, Default)]
struct Stats {
    started: Option<Instant>,
    polled: bool,
    first_token: bool,
    last_chunk: Option<Instant>,
    ttft: Option<Duration>,
    counts: TokenCounts,
    chunks: u64,
    bytes: u64,
    heartbeats: u64,
    // What most streams learn once, near their end, boxed so that an open
    // stream does not carry room for it.
    late: Option<Box<Late>>,
    // Set once the last frame (the error frame or the end) is out.
    outcome: Option<Outcome>,
    ended: bool,
    // The client went away and the stream runs on in the background.
    disconnected: bool,
    // How a normal end or a drop is reported instead (a stop, an abandon).
    #[cfg(feature = "resume")]
    end_as: Option<Outcome>,
}

/// The parts of [`Stats`] that most streams fill once, if at all.
#[derive(Debug, Default)]
struct Late {
    usage: Option<Usage>,
    finish_reason: Option<FinishReason>,
    // The answer text, when asked for.
    transcript: Option<String>,
    error: Option<String>,
}

impl Stats {
    fn late(&mut self) -> &mut Late {
        self.late.get_or_insert_with(Box::default)
    }

    fn end(
        &mut self,
        outcome: Outcome,
        now: Option<Instant>,
        observers: &mut [Box<dyn Observer + Send>],
    ) {
        self.ended = true;
        let outcome = match outcome {
            #[cfg(feature = "resume")]
            Outcome::Completed | Outcome::Cancelled if self.end_as.is_some() => {
                self.end_as.unwrap_or(outcome)
            }
            Outcome::Completed if self.disconnected => Outcome::CompletedAfterDisconnect,
            outcome => outcome,
        };
        let duration = match (self.started, now) {
            (Some(start), Some(now)) => now.saturating_duration_since(start),
            _ => Duration::ZERO,
        };
        let late = self.late.take().map_or_else(Late::default, |late| *late);
        let summary = StreamSummary {
            outcome,
            ttft: self.ttft,
            duration,
            tokens: self.counts.total(),
            counts: self.counts,
            chunks: self.chunks,
            bytes: self.bytes,
            heartbeats: self.heartbeats,
            error: late.error,
            text: late.transcript,
            usage: late.usage,
            finish_reason: late.finish_reason,
        };
        for observer in observers {
            observer.on_end(&summary);
        }
    }
}

impl<S, T: Timer> Observe<S, T> {
    pub(crate) fn new(stream: S, observers: Observers, timer: T) -> Self {
        let needs_time = observers.iter().any(|o| o.needs_time());
        Self {
            stream,
            timer,
            observers: observers.into_boxed_slice(),
            needs_time,
            stats: Stats::default(),
        }
    }

    /// Adds another observer, called after the ones before it.
    pub fn and(mut self, observer: impl Observer + Send + 'static) -> Self {
        self.needs_time |= observer.needs_time();
        let mut observers = Vec::from(std::mem::take(&mut self.observers));
        // Exactly as many as given: every open stream holds the list.
        observers.reserve_exact(1);
        observers.push(Box::new(observer));
        self.observers = observers.into_boxed_slice();
        self
    }

    /// Also hands the whole answer text to observers, in
    /// [`StreamSummary::text`].
    pub fn capture_text(mut self, on: bool) -> Self {
        if on {
            self.stats.late().transcript = Some(String::new());
        } else if let Some(late) = &mut self.stats.late {
            late.transcript = None;
        }
        self
    }

    /// Notes that the client went away while the stream runs on.
    #[cfg(feature = "tokio")]
    pub(crate) fn mark_disconnected(self: Pin<&mut Self>) {
        self.project().stats.disconnected = true;
    }

    /// Reports a normal end, or a drop, as `outcome` (a stop, an abandon).
    #[cfg(feature = "resume")]
    pub(crate) fn end_as(self: Pin<&mut Self>, outcome: Outcome) {
        self.project().stats.end_as = Some(outcome);
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
}

impl<S, T> Stream for Observe<S, T>
where
    S: Stream<Item = TaggedFrame>,
    T: Timer,
{
    type Item = TaggedFrame;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<TaggedFrame>> {
        let this = self.project();
        let stats = this.stats;
        let observers = this.observers;
        if observers.is_empty() {
            // Nobody to tell: pass frames on untouched.
            return this.stream.poll_next(cx);
        }
        let now = || this.needs_time.then(|| this.timer.now());
        if !stats.polled {
            stats.polled = true;
            stats.started = now();
            for observer in observers.iter_mut() {
                observer.on_start();
            }
        }
        let polled = this.stream.poll_next(cx);
        let Poll::Ready(frame) = &polled else {
            return polled;
        };
        let Some(frame) = frame else {
            if !stats.ended {
                let outcome = stats.outcome.unwrap_or(Outcome::Completed);
                stats.end(outcome, now(), observers);
            }
            return polled;
        };
        let bytes = frame.bytes().len() as u64;
        stats.bytes += bytes;
        match frame.tag() {
            FrameTag::Delta(chunk) => {
                let delta = chunk.delta();
                let kind = delta.kind();
                let tokens = match kind {
                    DeltaKind::Text | DeltaKind::Reasoning | DeltaKind::ToolArguments => {
                        chunk.tokens() as u64
                    }
                    _ => 0,
                };
                // Usage and the finish reason count when the model says
                // them, whether or not the format writes them now.
                match delta {
                    Delta::Usage(usage) => stats.late().usage = Some(**usage),
                    Delta::Finish(reason) => stats.late().finish_reason = Some(reason.clone()),
                    _ => {}
                }
                if bytes == 0 {
                    // Kept for later, or left out by the format: nothing went
                    // out, so nothing is counted as sent.
                    return polled;
                }
                stats.counts.add(kind, chunk.tokens() as u64);
                if let (Delta::Text(text), Some(late)) = (delta, &mut stats.late) {
                    if let Some(transcript) = &mut late.transcript {
                        transcript.push_str(text);
                    }
                }
                stats.chunks += 1;
                let now = now();
                if !stats.first_token && delta.is_content() {
                    stats.first_token = true;
                    if let (Some(start), Some(now)) = (stats.started, now) {
                        let ttft = now.saturating_duration_since(start);
                        stats.ttft = Some(ttft);
                        for observer in observers.iter_mut() {
                            observer.on_first_token(ttft);
                        }
                    }
                }
                let gap = stats
                    .last_chunk
                    .zip(now)
                    .map(|(last, now)| now.saturating_duration_since(last));
                stats.last_chunk = now;
                let chunk = ChunkStats {
                    kind,
                    tokens,
                    bytes,
                    gap,
                };
                for observer in observers.iter_mut() {
                    observer.on_chunk(chunk);
                }
            }
            FrameTag::Start => {}
            FrameTag::Heartbeat if bytes == 0 => {}
            FrameTag::Heartbeat => {
                stats.heartbeats += 1;
                for observer in observers.iter_mut() {
                    observer.on_heartbeat();
                }
            }
            FrameTag::Error(failure) => {
                let outcome = match failure.kind() {
                    FailureKind::TimedOut(_) => Outcome::TimedOut,
                    _ => Outcome::Failed,
                };
                stats.outcome = Some(outcome);
                stats.late().error = Some(failure.message().to_owned());
                for observer in observers.iter_mut() {
                    observer.on_error(outcome, failure.message());
                }
            }
            FrameTag::End => stats.outcome = Some(Outcome::Completed),
        }
        polled
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}

impl<S, T> FusedStream for Observe<S, T>
where
    S: FusedStream<Item = TaggedFrame>,
    T: Timer,
{
    fn is_terminated(&self) -> bool {
        self.stream.is_terminated()
    }
}

impl<S: fmt::Debug, T: Timer> fmt::Debug for Observe<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observe")
            .field("stream", &self.stream)
            .field("observers", &self.observers.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
