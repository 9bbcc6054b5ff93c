//! The [`ResumeStore`] trait: where a resumable stream's log lives.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::task::AtomicWaker;

use super::StreamId;

/// The future a [`ResumeStore`] method returns.
///
/// It owns what it needs (a store is a handle on shared state), so a
/// stream can hold it across polls.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

/// Where resumable streams keep their logs: [`MemoryStore`](super::MemoryStore)
/// for one process, `RedisStore` (feature `redis`) for many replicas.
///
/// A log is a list of events, numbered from 1 without gaps, each already
/// encoded with its `id:` line, and a mark that it ended. One process, the
/// stream's owner, appends; any process reads. Another store (NATS
/// JetStream, Postgres) implements these seven methods.
///
/// Every method takes the stream's id by value (the ids were checked
/// (length and alphabet) before any store sees them) and returns a future
/// that owns what it needs.
pub trait ResumeStore: Send + Sync + 'static {
    /// Registers a new stream owned by this process. `meta` is what a
    /// resumer needs before it reads ([`meta`](Self::meta) returns it as
    /// given); `interrupted` is the terminal frame, without an `id:` line,
    /// for readers of a stream whose owner died (see
    /// [`number_events`](super::number_events)); `stop` is the handle that
    /// [`stop`](Self::stop) must trigger, from any process.
    ///
    /// # Errors
    ///
    /// [`StoreError::Full`] when the store holds as many streams as it may;
    /// the stream then flows without ids.
    fn create(
        &self,
        stream: StreamId,
        meta: Bytes,
        interrupted: Bytes,
        stop: StopHandle,
    ) -> StoreFuture<()>;

    /// Appends `events`, numbered from `first_seq`; with `end`, the log
    /// ends after them. Appending to an ended log appends nothing and says
    /// so in the ack.
    fn append(
        &self,
        stream: StreamId,
        first_seq: u64,
        events: Vec<Bytes>,
        end: bool,
    ) -> StoreFuture<AppendAck>;

    /// The `meta` a stream was created with, or `None` for a stream the
    /// store does not know (never created, expired or evicted).
    fn meta(&self, stream: StreamId) -> StoreFuture<Option<Bytes>>;

    /// The events after position `after`, waiting up to `wait` for one when
    /// there are none yet; an empty batch of a [`Live`](LogState::Live) log
    /// means "nothing yet, ask again". A read also tells the owner that a
    /// reader is there.
    ///
    /// When the owner is gone (its lease expired) and the log has not
    /// ended, the store ends it with the `interrupted` frame, numbered next,
    /// so that every reader gets the same terminal frame.
    fn read(&self, stream: StreamId, after: u64, wait: Duration) -> StoreFuture<ReadBatch>;

    /// Asks the stream's owner, in whatever process, to stop generating.
    fn stop(&self, stream: StreamId) -> StoreFuture<StopOutcome>;

    /// Whether anyone read the stream lately (within about twice the
    /// readers' wait): the owner asks when the stream has had no reader for
    /// the grace time.
    fn has_readers(&self, stream: StreamId) -> StoreFuture<bool>;

    /// The owner's producer was dropped before the end: end the log with
    /// `frame` (already numbered `seq`, `id:` line included) unless it has
    /// ended. Best effort, without waiting: called from `Drop`.
    fn release(&self, stream: StreamId, seq: u64, frame: Bytes);
}

impl<S: ResumeStore + ?Sized> ResumeStore for Arc<S> {
    fn create(
        &self,
        stream: StreamId,
        meta: Bytes,
        interrupted: Bytes,
        stop: StopHandle,
    ) -> StoreFuture<()> {
        (**self).create(stream, meta, interrupted, stop)
    }

    fn append(
        &self,
        stream: StreamId,
        first_seq: u64,
        events: Vec<Bytes>,
        end: bool,
    ) -> StoreFuture<AppendAck> {
        (**self).append(stream, first_seq, events, end)
    }

    fn meta(&self, stream: StreamId) -> StoreFuture<Option<Bytes>> {
        (**self).meta(stream)
    }

    fn read(&self, stream: StreamId, after: u64, wait: Duration) -> StoreFuture<ReadBatch> {
        (**self).read(stream, after, wait)
    }

    fn stop(&self, stream: StreamId) -> StoreFuture<StopOutcome> {
        (**self).stop(stream)
    }

    fn has_readers(&self, stream: StreamId) -> StoreFuture<bool> {
        (**self).has_readers(stream)
    }

    fn release(&self, stream: StreamId, seq: u64, frame: Bytes) {
        (**self).release(stream, seq, frame);
    }
}

/// What an append found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppendAck {
    /// The log had already ended (a reader ended it for an owner it
    /// thought dead): nothing was appended, and the owner stops.
    pub ended: bool,
}

impl AppendAck {
    /// The events were appended.
    pub const APPENDED: AppendAck = AppendAck { ended: false };
    /// The log had ended; nothing was appended.
    pub const ENDED: AppendAck = AppendAck { ended: true };
}

/// What a read found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadBatch {
    /// The events after the position asked for, in order, with their
    /// positions.
    pub events: Vec<(u64, Bytes)>,
    /// The log's state after these events.
    pub state: LogState,
}

impl ReadBatch {
    /// A batch of `events` in a log in `state`.
    pub fn new(events: Vec<(u64, Bytes)>, state: LogState) -> Self {
        Self { events, state }
    }
}

/// The state of a log, as a read sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogState {
    /// More events may come.
    Live,
    /// The log ended: no event follows the batch's.
    Ended,
    /// The store holds no such stream (never created, expired or evicted).
    Unknown,
    /// The log no longer holds the position after the one asked for: it was
    /// trimmed to stay within its retention.
    Trimmed,
}

/// What a stop request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopOutcome {
    /// The stream runs; its owner was asked to stop (HTTP `202`).
    Stopping,
    /// The stream had already ended (HTTP `200`).
    Ended,
    /// No such stream (HTTP `404`).
    Unknown,
}

impl StopOutcome {
    /// The HTTP status of the answer to a stop request: `202`, `200` or
    /// `404`.
    pub fn status(&self) -> u16 {
        match self {
            StopOutcome::Stopping => 202,
            StopOutcome::Ended => 200,
            StopOutcome::Unknown => 404,
        }
    }
}

/// A resume store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store holds as many streams as its retention allows.
    #[error("the resume store is full")]
    Full,
    /// The store could not be reached, or refused the request.
    #[error("the resume store failed: {message}")]
    Backend {
        /// What failed, for logs.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl StoreError {
    /// A backend failure with `message` and its cause.
    pub fn backend(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError::Backend {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// The switch that stops one stream's generation: the owner watches it, a
/// store flips it when [`ResumeStore::stop`] reaches the owner's process.
#[derive(Clone, Default)]
pub struct StopHandle(Arc<StopState>);

#[derive(Default)]
struct StopState {
    stopped: AtomicBool,
    waker: AtomicWaker,
}

impl StopHandle {
    /// A handle not yet stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the owner to stop; it ends the stream with the format's normal
    /// end on its next poll.
    pub fn stop(&self) {
        self.0.stopped.store(true, Ordering::Release);
        self.0.waker.wake();
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::Acquire)
    }

    /// Ready once a stop was asked for; registers `cx` to be woken then.
    pub fn poll_stopped(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_stopped() {
            return Poll::Ready(());
        }
        self.0.waker.register(cx.waker());
        if self.is_stopped() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl fmt::Debug for StopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StopHandle")
            .field("stopped", &self.is_stopped())
            .finish()
    }
}
