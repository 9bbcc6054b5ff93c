//! [`ResumableStream`]: one connection's view of a resumable stream, the
//! generation it owns (a new stream) or the log it reads (a resumed one).

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_core::Stream;
use futures_util::StreamExt;
use pin_project_lite::pin_project;

use super::log::number;
use super::store::{LogState, ReadBatch, ResumeStore, StopHandle, StoreFuture};
use super::{number_events, StreamId};
use crate::adapters::{FrameTag, Heartbeat, TaggedFrame};
use crate::observe::Outcome;
use crate::TokioTimer;

/// How long one read of a resumed stream waits for the next event before it
/// asks again (and refreshes its presence).
pub(crate) const READ_WAIT: Duration = Duration::from_secs(1);

/// A built pipeline the producer drives: its frames, and how its end is
/// reported.
pub(crate) trait Generation: Stream<Item = Bytes> + Send {
    fn end_as(self: Pin<&mut Self>, outcome: Outcome);
}

impl<S, T, F> Generation for crate::SseStream<S, T, F>
where
    S: crate::TokenStream + Send,
    S::Token: crate::IntoDelta,
    S::Error: fmt::Display,
    T: crate::Timer + Send,
    F: crate::format::Format + Send,
    Self: Send,
{
    fn end_as(self: Pin<&mut Self>, outcome: Outcome) {
        crate::SseStream::end_as(self, outcome);
    }
}

pin_project! {
    /// A token stream that ends (normally) once its stream is stopped.
    #[derive(Debug)]
    pub(crate) struct Stoppable<S> {
        #[pin]
        tokens: S,
        latch: Arc<AtomicBool>,
    }
}

impl<S> Stoppable<S> {
    pub(crate) fn new(tokens: S, latch: Arc<AtomicBool>) -> Self {
        Self { tokens, latch }
    }
}

impl<S: Stream> Stream for Stoppable<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        // Only the producer sets the latch, just before it polls, after it
        // chose the stream's outcome: a stop can never end a stream that
        // is then reported as completed.
        if this.latch.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        this.tokens.poll_next(cx)
    }
}

/// The generation of a new resumable stream: it numbers each write's
/// events, appends them to the log, and only then hands the write on, so
/// a client never holds an id the log has not.
pub(crate) struct Producer {
    frames: Pin<Box<dyn Generation>>,
    store: Arc<dyn ResumeStore>,
    id: StreamId,
    next_seq: u64,
    stop: StopHandle,
    latch: Arc<AtomicBool>,
    state: State,
    interrupted: Bytes,
    abandoned: Bytes,
}

enum State {
    /// The log is being created.
    Creating(StoreFuture<()>),
    /// Frames flow and are logged.
    Logging,
    /// A write waits for its append; then it goes out (and, with `last`,
    /// the stream ends).
    Appending {
        append: StoreFuture<super::AppendAck>,
        write: Bytes,
    },
    /// The end is being appended.
    Ending(StoreFuture<super::AppendAck>),
    /// The store refused or failed: frames flow without ids, unlogged.
    Unlogged,
    /// Done; the log ended (or was never kept).
    Ended,
}

impl Producer {
    /// A producer whose log `store` creates on the first poll; with no
    /// `id`, one that flows without ids and logs nothing.
    pub(crate) fn new(
        frames: Pin<Box<dyn Generation>>,
        store: Arc<dyn ResumeStore>,
        id: Option<StreamId>,
        meta: Bytes,
        (interrupted, abandoned): (Bytes, Bytes),
        latch: Arc<AtomicBool>,
    ) -> Self {
        let stop = StopHandle::new();
        let state = match id {
            Some(id) => State::Creating(store.create(id, meta, interrupted.clone(), stop.clone())),
            None => {
                super::record_unlogged();
                State::Unlogged
            }
        };
        Self {
            frames,
            store,
            id: id.unwrap_or(StreamId::UNLOGGED),
            next_seq: 1,
            stop,
            latch,
            state,
            interrupted,
            abandoned,
        }
    }

    pub(crate) fn is_logged(&self) -> bool {
        !matches!(self.state, State::Unlogged)
    }

    fn is_done(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    /// The store failed mid-stream: end the log for resumers with the
    /// interrupted frame (best effort) and go on without ids.
    fn unlog(&mut self, error: &super::StoreError) {
        #[cfg(feature = "tracing")]
        tracing::warn!(stream = %self.id, %error, "the resume store failed; the stream goes on without ids");
        #[cfg(not(feature = "tracing"))]
        let _ = error;
        super::record_unlogged();
        let frame = number(&self.interrupted, self.id, self.next_seq).write;
        self.store.release(self.id, self.next_seq, frame);
        self.state = State::Unlogged;
    }

    /// Ends the generation for want of a reader: the model is dropped, the
    /// outcome is `abandoned`, and the log ends with the format's error.
    pub(crate) async fn abandon(mut self) {
        self.frames.as_mut().end_as(Outcome::Abandoned);
        let events = number_events(&self.abandoned, self.id, self.next_seq);
        self.state = State::Ended;
        let store = self.store.clone();
        let id = self.id;
        let seq = self.next_seq;
        drop(self);
        let _ = store.append(id, seq, events, true).await;
    }

    pub(crate) fn id(&self) -> StreamId {
        self.id
    }

    pub(crate) fn store(&self) -> &Arc<dyn ResumeStore> {
        &self.store
    }
}

impl Stream for Producer {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Creating(create) => match ready!(create.as_mut().poll(cx)) {
                    Ok(()) => this.state = State::Logging,
                    Err(error) => {
                        #[cfg(feature = "tracing")]
                        tracing::warn!(stream = %this.id, %error, "the resume store refused a new stream; it flows without ids");
                        #[cfg(not(feature = "tracing"))]
                        let _ = error;
                        super::record_unlogged();
                        this.state = State::Unlogged;
                    }
                },
                State::Unlogged => return this.frames.as_mut().poll_next(cx),
                State::Ended => return Poll::Ready(None),
                State::Appending { append, write } => {
                    let ack = ready!(append.as_mut().poll(cx));
                    let write = std::mem::take(write);
                    match ack {
                        Ok(ack) if ack.ended => {
                            // A reader ended the log for an owner it thought
                            // dead: this generation has no one to serve.
                            this.frames.as_mut().end_as(Outcome::Abandoned);
                            this.state = State::Ended;
                            return Poll::Ready(None);
                        }
                        Ok(_) => this.state = State::Logging,
                        Err(error) => this.unlog(&error),
                    }
                    return Poll::Ready(Some(write));
                }
                State::Ending(append) => {
                    let _ = ready!(append.as_mut().poll(cx));
                    this.state = State::Ended;
                    return Poll::Ready(None);
                }
                State::Logging => {
                    if !this.latch.load(Ordering::Relaxed) && this.stop.poll_stopped(cx).is_ready()
                    {
                        this.frames.as_mut().end_as(Outcome::Stopped);
                        this.latch.store(true, Ordering::Relaxed);
                    }
                    match ready!(this.frames.as_mut().poll_next(cx)) {
                        Some(write) => {
                            let first = this.next_seq;
                            let numbered = number(&write, this.id, first);
                            this.next_seq += numbered.events.len() as u64;
                            let append = this.store.append(this.id, first, numbered.events, false);
                            this.state = State::Appending {
                                append,
                                write: numbered.write,
                            };
                        }
                        None => {
                            let end = this.store.append(this.id, this.next_seq, Vec::new(), true);
                            this.state = State::Ending(end);
                        }
                    }
                }
            }
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if matches!(
            self.state,
            State::Logging | State::Appending { .. } | State::Ending(_)
        ) {
            let frame = number(&self.interrupted, self.id, self.next_seq).write;
            self.store.release(self.id, self.next_seq, frame);
        }
    }
}

/// Reads a stream's log from a position: replay, then the live tail.
pub(crate) struct Reader {
    store: Arc<dyn ResumeStore>,
    id: StreamId,
    after: u64,
    read: Option<StoreFuture<ReadBatch>>,
    first: Option<ReadBatch>,
    ended: bool,
}

impl Reader {
    pub(crate) fn new(
        store: Arc<dyn ResumeStore>,
        id: StreamId,
        first: ReadBatch,
        after: u64,
    ) -> Self {
        Self {
            store,
            id,
            after,
            read: None,
            first: Some(first),
            ended: false,
        }
    }

    /// One write of a batch's events; `None` if it has none.
    fn take(&mut self, batch: ReadBatch) -> Option<Bytes> {
        match batch.state {
            LogState::Live => {}
            // Ended, or gone from under us: this connection ends after what
            // it has; a reconnect gets the answer the store gives then.
            _ => self.ended = true,
        }
        let (last, _) = batch.events.last()?;
        self.after = *last;
        if batch.events.len() == 1 {
            return batch.events.into_iter().next().map(|(_, event)| event);
        }
        let len = batch.events.iter().map(|(_, event)| event.len()).sum();
        let mut write = BytesMut::with_capacity(len);
        for (_, event) in &batch.events {
            write.put_slice(event);
        }
        Some(write.freeze())
    }
}

impl Stream for Reader {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = &mut *self;
        loop {
            if let Some(batch) = this.first.take() {
                if let Some(write) = this.take(batch) {
                    return Poll::Ready(Some(write));
                }
            }
            if this.ended {
                return Poll::Ready(None);
            }
            let read = this
                .read
                .get_or_insert_with(|| this.store.read(this.id, this.after, READ_WAIT));
            let result = ready!(read.as_mut().poll(cx));
            this.read = None;
            match result {
                Ok(batch) => this.first = Some(batch),
                // The store is down: end this connection; the client's
                // reconnect gets `503` until it is back.
                Err(_) => this.ended = true,
            }
        }
    }
}

/// Where a connection's frames come from.
enum Source {
    Producer(Box<Producer>),
    Reader(Box<Reader>),
    Done,
}

/// A connection's source, its frames tagged for the heartbeat stage.
struct Tagged {
    source: Source,
    // `retry:` for the first event this connection writes.
    retry: Option<u64>,
}

impl Stream for Tagged {
    type Item = TaggedFrame;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<TaggedFrame>> {
        let this = &mut *self;
        let next = match &mut this.source {
            Source::Producer(producer) => ready!(producer.poll_next_unpin(cx)),
            Source::Reader(reader) => ready!(reader.poll_next_unpin(cx)),
            Source::Done => None,
        };
        let Some(mut write) = next else {
            this.source = Source::Done;
            return Poll::Ready(None);
        };
        if let Some(retry) = this.retry {
            if !write.is_empty() {
                this.retry = None;
                let line = format!("retry: {retry}\n");
                let mut with_retry = BytesMut::with_capacity(line.len() + write.len());
                with_retry.put_slice(line.as_bytes());
                with_retry.put_slice(&write);
                write = with_retry.freeze();
            }
        }
        // Any tag but a heartbeat's: the stage only tells its own apart.
        Poll::Ready(Some(TaggedFrame::new(write, FrameTag::Start)))
    }
}

/// The response headers of a resumable stream: the format's own.
pub(crate) type Headers = Arc<[(String, String)]>;

/// One connection to a resumable stream: the new stream's own connection
/// ([`ResumableBuilder::build`](super::ResumableBuilder::build)), or a
/// resumed one ([`resume`](super::resume)). A `Stream<Item = Bytes>` of
/// SSE frames like [`SseStream`](crate::SseStream), with the same
/// integrations.
///
/// Every event carries an `id:` `<stream>:<seq>`; the first one this
/// connection writes also carries `retry:`. Heartbeats are this
/// connection's own, never logged or numbered.
///
/// Dropping the new stream's connection before the end does not stop the
/// model: the generation goes on in a tokio task, appending to the log,
/// while anyone reads it, and is abandoned after its grace time with no
/// reader. Dropping a resumed connection only stops its reading.
#[must_use = "streams do nothing unless polled"]
pub struct ResumableStream {
    frames: Heartbeat<Tagged, TokioTimer>,
    id: StreamId,
    grace: Duration,
    headers: Headers,
}

impl ResumableStream {
    pub(crate) fn producing(
        producer: Producer,
        retry: Option<u64>,
        heartbeat: (Duration, Bytes, bool),
        grace: Duration,
        headers: Headers,
    ) -> Self {
        let id = producer.id();
        let retry = retry.filter(|_| producer.is_logged());
        Self::new(
            Source::Producer(Box::new(producer)),
            id,
            retry,
            heartbeat,
            grace,
            headers,
        )
    }

    pub(crate) fn reading(
        reader: Reader,
        retry: Option<u64>,
        heartbeat: (Duration, Bytes, bool),
        headers: Headers,
    ) -> Self {
        let id = reader.id;
        Self::new(
            Source::Reader(Box::new(reader)),
            id,
            retry,
            heartbeat,
            Duration::ZERO,
            headers,
        )
    }

    fn new(
        source: Source,
        id: StreamId,
        retry: Option<u64>,
        (interval, frame, initial): (Duration, Bytes, bool),
        grace: Duration,
        headers: Headers,
    ) -> Self {
        let tagged = Tagged { source, retry };
        let frames = Heartbeat::new(tagged, interval, TokioTimer)
            .frame(frame)
            .initial_comment(initial);
        Self {
            frames,
            id,
            grace,
            headers,
        }
    }

    /// The stream's id: what its events' ids start with, and what
    /// [`resume::stop`](super::stop) takes.
    pub fn stream_id(&self) -> StreamId {
        self.id
    }

    /// The headers the format's clients need besides the SSE ones, as
    /// [`SseStream::response_headers`](crate::SseStream::response_headers).
    pub fn response_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// The format's headers, shared: for the integrations, which move the
    /// stream into the response.
    #[cfg(any(feature = "axum", feature = "actix-web"))]
    pub(crate) fn headers(&self) -> Headers {
        self.headers.clone()
    }
}

impl Stream for ResumableStream {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        Pin::new(&mut self.frames)
            .poll_next(cx)
            .map(|frame| frame.map(TaggedFrame::into_bytes))
    }
}

impl Drop for ResumableStream {
    fn drop(&mut self) {
        let source = std::mem::replace(&mut self.frames.get_mut().source, Source::Done);
        let Source::Producer(producer) = source else {
            return;
        };
        if producer.is_done() || !producer.is_logged() {
            // Not resumable (the store refused it): cancel, as a plain
            // stream does.
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(run_detached(producer, self.grace));
            }
            // No runtime to go on in: the producer's drop ends the log.
            Err(_) => drop(producer),
        }
    }
}

/// Runs a generation whose connection left: to its end while anyone reads
/// the log, abandoned after `grace` with no reader.
async fn run_detached(mut producer: Box<Producer>, grace: Duration) {
    use futures_util::future::{select, Either};

    let deadline = || {
        let now = tokio::time::Instant::now().into_std();
        tokio::time::Instant::from_std(crate::timer::later(now, grace))
    };
    // One timer for the whole run, moved only when a reader is found.
    let sleep = tokio::time::sleep_until(deadline());
    tokio::pin!(sleep);
    loop {
        match select(producer.next(), sleep.as_mut()).await {
            Either::Left((Some(_), _)) => {}
            Either::Left((None, _)) => return,
            Either::Right(_) => {
                if let Ok(true) = producer.store().has_readers(producer.id()).await {
                    sleep.as_mut().reset(deadline());
                } else {
                    producer.abandon().await;
                    return;
                }
            }
        }
    }
}

impl fmt::Debug for ResumableStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResumableStream")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
