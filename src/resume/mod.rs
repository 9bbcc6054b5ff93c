//! Resumable streams (feature `resume`): every frame gets an SSE `id:`,
//! every frame is appended to the stream's log, and a client that comes
//! back with `Last-Event-ID`, to any replica, gets the rest exactly once.

mod id;
mod log;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod retention;
mod store;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::RedisStore;
pub use id::{EventId, InvalidId, StreamId, STREAM_ID_LEN};
pub use log::number_events;
pub use memory::MemoryStore;
pub use retention::Retention;
pub use store::{
    AppendAck, LogState, ReadBatch, ResumeStore, StopHandle, StopOutcome, StoreError, StoreFuture,
};
mod stream;

pub use stream::ResumableStream;

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use self::stream::{Headers, Producer, Reader, Stoppable};
use crate::format::{ErrorResponse, Failure, FailureKind, Format};
use crate::{Builder, IntoDelta, Timer, TokenStream};

/// The default grace time of a resumable stream with no reader: 30 s.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// The default `retry:` sent to browsers: 1000 ms.
pub const DEFAULT_RETRY: Duration = Duration::from_millis(1000);

/// The query parameter that carries a `Last-Event-ID` when a client cannot
/// set the header (a new `EventSource` after a page reload).
pub const LAST_EVENT_ID_QUERY: &str = "last_event_id";

/// Configures a resumable stream; made by [`Builder::resumable`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct ResumableBuilder<S: TokenStream, T, F> {
    builder: Builder<Stoppable<S>, T, F>,
    store: Arc<dyn ResumeStore>,
    latch: Arc<AtomicBool>,
    principal: Option<String>,
    grace: Duration,
    retry: Option<Duration>,
}

impl<S: TokenStream, T: Timer, F> Builder<S, T, F> {
    /// Makes the stream resumable in `store`: every event gets an `id:`,
    /// every event is logged, and a client that reconnects with
    /// `Last-Event-ID` ([`resume`]) gets the rest, from any process that
    /// shares the store.
    ///
    /// The stream then outlives its connection: see [`ResumableStream`].
    /// Heartbeats stay the connection's own.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use futures_util::{stream, StreamExt};
    /// use llm_sse::resume::MemoryStore;
    /// use llm_sse::SseStream;
    ///
    /// let store = MemoryStore::default();
    /// let tokens = stream::iter(["Hel", "lo"]).map(Ok::<_, std::io::Error>);
    /// let body = SseStream::builder(tokens).resumable(store.clone()).build();
    /// let id = body.stream_id();
    /// let frames: Vec<_> = body.collect().await;
    /// assert_eq!(frames[0], format!("retry: 1000\ndata: Hel\nid: {id}:1\n\n"));
    /// # }
    /// ```
    pub fn resumable(self, store: impl ResumeStore) -> ResumableBuilder<S, T, F> {
        let latch = Arc::new(AtomicBool::new(false));
        ResumableBuilder {
            builder: self.map_tokens(|tokens| Stoppable::new(tokens, latch.clone())),
            store: Arc::new(store),
            latch,
            principal: None,
            grace: DEFAULT_GRACE,
            retry: Some(DEFAULT_RETRY),
        }
    }
}

impl<S: TokenStream, T: Timer, F> ResumableBuilder<S, T, F> {
    /// Binds the stream to a principal (a user id, a session): only a
    /// [`resume`] or [`stop`] given the same principal finds it; anyone
    /// else is answered as for an unknown stream.
    pub fn principal(mut self, principal: impl Into<String>) -> Self {
        self.principal = Some(principal.into());
        self
    }

    /// How long the generation goes on with no reader before it is
    /// abandoned (outcome [`Abandoned`](crate::observe::Outcome::Abandoned)).
    /// Default: [`DEFAULT_GRACE`].
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The `retry:` sent with the first event of each connection, in
    /// milliseconds, so browsers reconnect quickly; `None` sends none.
    /// Default: [`DEFAULT_RETRY`].
    pub fn retry(mut self, retry: Option<Duration>) -> Self {
        self.retry = retry;
        self
    }

    /// Builds the stream's first connection. The log is created on the
    /// first poll; if the store refuses it (full, or down), the stream
    /// flows without ids and is not resumable.
    pub fn build(self) -> ResumableStream
    where
        S: Send + 'static,
        S::Token: IntoDelta + Send,
        S::Error: fmt::Display + Send,
        T: Send + 'static,
        T::Sleep: Send,
        F: Format + Send + 'static,
    {
        let parts = self.builder.into_resumable_parts();
        // No randomness for an id: a stream with an id anyone could guess
        // would be worse than one that is not resumable.
        let id = StreamId::random().ok();
        let headers: Headers = parts
            .headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let meta = Meta {
            principal: self.principal,
            heartbeat: parts.heartbeat.1.clone(),
            initial_comment: parts.heartbeat.2,
            interval: parts.heartbeat.0,
            headers: headers.clone(),
        };
        let producer = Producer::new(
            Box::pin(parts.stream),
            self.store,
            id,
            meta.to_bytes(),
            (parts.interrupted, parts.abandoned),
            self.latch,
        );
        ResumableStream::producing(
            producer,
            self.retry.map(|retry| retry.as_millis() as u64),
            parts.heartbeat,
            self.grace,
            headers,
        )
    }
}

impl<S: TokenStream, T: fmt::Debug, F: fmt::Debug> fmt::Debug for ResumableBuilder<S, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResumableBuilder")
            .field("builder", &self.builder)
            .field("principal", &self.principal.is_some())
            .field("grace", &self.grace)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// What [`Builder`] hands a resumable stream: the pipeline without
/// heartbeats, and what each connection needs.
pub(crate) struct Parts<G> {
    pub(crate) stream: G,
    pub(crate) heartbeat: (Duration, Bytes, bool),
    pub(crate) headers: &'static [(&'static str, &'static str)],
    pub(crate) interrupted: Bytes,
    pub(crate) abandoned: Bytes,
}

/// The error frames of a generation that ended early, in `format`: its
/// owner died, or it was abandoned.
pub(crate) fn early_end_frames<F: Format>(format: &F) -> (Bytes, Bytes) {
    let mut buf = BytesMut::new();
    format.write_interrupted(
        &Failure::new(
            FailureKind::Interrupted,
            "the stream was interrupted: its generation stopped before the end",
        ),
        &mut buf,
    );
    let interrupted = buf.split().freeze();
    format.write_interrupted(
        &Failure::new(
            FailureKind::Interrupted,
            "the stream was abandoned: no reader came back within its grace time",
        ),
        &mut buf,
    );
    (interrupted, buf.freeze())
}

/// What a resumer needs of a stream before it reads: kept in the store.
#[derive(Debug, Clone, PartialEq)]
struct Meta {
    principal: Option<String>,
    heartbeat: Bytes,
    initial_comment: bool,
    interval: Duration,
    headers: Headers,
}

impl Meta {
    const VERSION: u8 = 1;

    fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::new();
        buf.put_u8(Self::VERSION);
        put_field(&mut buf, self.principal.as_deref().map(str::as_bytes));
        put_field(&mut buf, Some(&self.heartbeat));
        buf.put_u8(u8::from(self.initial_comment));
        buf.put_u64(self.interval.as_millis() as u64);
        buf.put_u32(self.headers.len() as u32);
        for (name, value) in self.headers.iter() {
            put_field(&mut buf, Some(name.as_bytes()));
            put_field(&mut buf, Some(value.as_bytes()));
        }
        buf.freeze()
    }

    /// `None` for bytes this version did not write.
    fn from_bytes(mut bytes: &[u8]) -> Option<Self> {
        if take::<1>(&mut bytes)? != [Self::VERSION] {
            return None;
        }
        let principal = match take_field(&mut bytes)? {
            Some(text) => Some(String::from_utf8(text.to_vec()).ok()?),
            None => None,
        };
        let heartbeat = Bytes::copy_from_slice(take_field(&mut bytes)??);
        let initial_comment = take::<1>(&mut bytes)? == [1];
        let interval = Duration::from_millis(u64::from_be_bytes(take(&mut bytes)?));
        let count = u32::from_be_bytes(take(&mut bytes)?) as usize;
        let mut headers = Vec::with_capacity(count.min(16));
        for _ in 0..count {
            let name = std::str::from_utf8(take_field(&mut bytes)??).ok()?;
            let value = std::str::from_utf8(take_field(&mut bytes)??).ok()?;
            headers.push((name.to_owned(), value.to_owned()));
        }
        Some(Self {
            principal,
            heartbeat,
            initial_comment,
            interval,
            headers: headers.into(),
        })
    }
}

fn put_field(buf: &mut BytesMut, field: Option<&[u8]>) {
    match field {
        Some(bytes) => {
            buf.put_u32(bytes.len() as u32);
            buf.put_slice(bytes);
        }
        None => buf.put_u32(u32::MAX),
    }
}

/// `Some(None)` for an absent field, `None` for bytes cut short.
/// The next `N` bytes, `None` if fewer are left.
fn take<const N: usize>(bytes: &mut &[u8]) -> Option<[u8; N]> {
    let head = bytes.get(..N)?.try_into().ok()?;
    *bytes = &bytes[N..];
    Some(head)
}

fn take_field<'a>(bytes: &mut &'a [u8]) -> Option<Option<&'a [u8]>> {
    let len = u32::from_be_bytes(take(bytes)?);
    if len == u32::MAX {
        return Some(None);
    }
    let len = len as usize;
    if bytes.len() < len {
        return None;
    }
    let (field, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(Some(field))
}

/// Picks the `Last-Event-ID` of a request: the header wins over the
/// [`LAST_EVENT_ID_QUERY`] parameter. Empty values count as absent.
///
/// # Examples
///
/// ```
/// use llm_sse::resume::last_event_id;
///
/// assert_eq!(last_event_id(Some("a:2"), Some("a:1")), Some("a:2"));
/// assert_eq!(last_event_id(None, Some("a:1")), Some("a:1"));
/// assert_eq!(last_event_id(Some(""), None), None);
/// ```
pub fn last_event_id<'a>(header: Option<&'a str>, query: Option<&'a str>) -> Option<&'a str> {
    header
        .filter(|id| !id.is_empty())
        .or(query.filter(|id| !id.is_empty()))
}

/// What a client is told when the store is down.
const UNAVAILABLE: &str = "the resume store is unavailable; try again";

/// The answer to a resume request.
#[derive(Debug)]
#[non_exhaustive]
pub enum Resumed {
    /// The rest of the stream: every event after the one named, then the
    /// live tail (HTTP `200`).
    Stream(ResumableStream),
    /// Nothing to send: an unknown, expired or fully delivered stream, or
    /// one bound to another principal (HTTP `204`, which makes
    /// `EventSource` stop reconnecting).
    NoContent,
    /// The log no longer holds the events after the one named (HTTP `410`).
    Gone,
    /// The id is not of the form `<stream>:<position>` (HTTP `400`).
    Invalid(InvalidId),
    /// The store could not be reached (HTTP `503`).
    Unavailable(StoreError),
}

impl Resumed {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            Resumed::Stream(_) => 200,
            Resumed::NoContent => 204,
            Resumed::Gone => 410,
            Resumed::Invalid(_) => 400,
            Resumed::Unavailable(_) => 503,
        }
    }

    /// The label [`resume`] counts the answer under in
    /// `llm_sse_resumes_total{result}`: `replayed`, `unknown`, `expired`,
    /// `invalid` or `unavailable`.
    pub fn result_label(&self) -> &'static str {
        match self {
            Resumed::Stream(_) => "replayed",
            Resumed::NoContent => "unknown",
            Resumed::Gone => "expired",
            Resumed::Invalid(_) => "invalid",
            Resumed::Unavailable(_) => "unavailable",
        }
    }

    /// The answer as an error response, for `410`, `400` and `503`; `None`
    /// for a stream and for `204`, which has no body.
    pub fn error_response(&self) -> Option<ErrorResponse> {
        let message = match self {
            Resumed::Stream(_) | Resumed::NoContent => return None,
            Resumed::Gone => "the stream's log no longer holds the events after this id".into(),
            Resumed::Invalid(error) => error.to_string(),
            Resumed::Unavailable(_) => UNAVAILABLE.into(),
        };
        Some(ErrorResponse::openai(self.status(), &message))
    }
}

/// Resumes the stream named by `last_event_id` (a client's
/// `Last-Event-ID`; see [`last_event_id`]) from `store`: the answer is the
/// rest of the stream, or why not.
///
/// `principal` must match the one the stream was bound to, if any. The id
/// is checked before the store sees it; an unknown stream is answered at
/// once, never waited for, and the model never runs again.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use futures_util::{stream, StreamExt};
/// use llm_sse::resume::{resume, MemoryStore, Resumed};
/// use llm_sse::SseStream;
///
/// let store = MemoryStore::default();
/// let tokens = stream::iter(["a", "b", "c"]).map(Ok::<_, std::io::Error>);
/// let mut first = SseStream::builder(tokens)
///     .batch(llm_sse::adapters::Batch::off())
///     .resumable(store.clone())
///     .build();
/// first.next().await; // the client saw event 1, then its connection dropped
/// let last_seen = format!("{}:1", first.stream_id());
/// drop(first);
///
/// let Resumed::Stream(rest) = resume(&store, &last_seen, None).await else { panic!() };
/// let text: String = rest.map(|f| String::from_utf8_lossy(&f).into_owned()).collect().await;
/// assert!(text.contains("data: b\n") && text.contains("data: c\n") && !text.contains("data: a\n"));
/// assert!(text.ends_with(&format!("data: [DONE]\nid: {}:4\n\n", last_seen.split(':').next().unwrap())));
/// # }
/// ```
pub async fn resume<St>(store: &St, last_event_id: &str, principal: Option<&str>) -> Resumed
where
    St: ResumeStore + Clone,
{
    let answer = resume_inner(store, last_event_id, principal).await;
    record_resume(&answer);
    answer
}

async fn resume_inner<St>(store: &St, last_event_id: &str, principal: Option<&str>) -> Resumed
where
    St: ResumeStore + Clone,
{
    let id: EventId = match last_event_id.parse() {
        Ok(id) => id,
        Err(error) => return Resumed::Invalid(error),
    };
    let meta = match store.meta(id.stream()).await {
        Ok(Some(meta)) => meta,
        Ok(None) => return Resumed::NoContent,
        Err(error) => return Resumed::Unavailable(error),
    };
    let Some(meta) = Meta::from_bytes(&meta) else {
        return Resumed::NoContent;
    };
    if meta.principal.as_deref() != principal && meta.principal.is_some() {
        return Resumed::NoContent;
    }
    let first = match store.read(id.stream(), id.seq(), Duration::ZERO).await {
        Ok(batch) => batch,
        Err(error) => return Resumed::Unavailable(error),
    };
    match first.state {
        LogState::Unknown => return Resumed::NoContent,
        LogState::Trimmed => return Resumed::Gone,
        LogState::Ended if first.events.is_empty() => return Resumed::NoContent,
        _ => {}
    }
    let replayed = first.events.len();
    record_replayed(replayed);
    let store: Arc<dyn ResumeStore> = Arc::new(store.clone());
    let reader = Reader::new(store, id.stream(), first, id.seq());
    Resumed::Stream(ResumableStream::reading(
        reader,
        Some(DEFAULT_RETRY.as_millis() as u64),
        (meta.interval, meta.heartbeat, meta.initial_comment),
        meta.headers,
    ))
}

/// Why a stop request could not be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StopError {
    /// The id is neither a stream id nor an event id.
    #[error(transparent)]
    Invalid(#[from] InvalidId),
    /// The store could not be reached.
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

impl StopError {
    /// The HTTP status of the answer: `400` or `503`.
    pub fn status(&self) -> u16 {
        match self {
            StopError::Invalid(_) => 400,
            StopError::Unavailable(_) => 503,
        }
    }

    /// The answer as an error response. The store's own message stays in
    /// logs: it may name hosts.
    pub fn error_response(&self) -> ErrorResponse {
        let message = match self {
            StopError::Invalid(error) => error.to_string(),
            StopError::Unavailable(_) => UNAVAILABLE.into(),
        };
        ErrorResponse::openai(self.status(), &message)
    }
}

/// Stops the generation of the stream `id` names (a stream id, or any of
/// its event ids), on whichever process runs it. Its readers get the
/// format's normal end; its outcome is
/// [`Stopped`](crate::observe::Outcome::Stopped).
///
/// A stream bound to another principal is answered as unknown.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use llm_sse::resume::{stop, MemoryStore, StopOutcome};
///
/// let store = MemoryStore::default();
/// let outcome = stop(&store, "abcdefghijklmnopqrstuv", None).await.unwrap();
/// assert_eq!(outcome, StopOutcome::Unknown);
/// assert_eq!(outcome.status(), 404);
/// assert_eq!(stop(&store, "nope", None).await.unwrap_err().status(), 400);
/// # }
/// ```
pub async fn stop<St: ResumeStore>(
    store: &St,
    id: &str,
    principal: Option<&str>,
) -> Result<StopOutcome, StopError> {
    let stream = EventId::parse_stream_or_event(id)?.stream();
    let Some(meta) = store.meta(stream).await? else {
        return Ok(StopOutcome::Unknown);
    };
    match Meta::from_bytes(&meta) {
        Some(meta) if meta.principal.is_none() || meta.principal.as_deref() == principal => {}
        _ => return Ok(StopOutcome::Unknown),
    }
    Ok(store.stop(stream).await?)
}

#[cfg(feature = "metrics")]
fn record_resume(answer: &Resumed) {
    metrics::counter!(crate::observe::metric_names::RESUMES, "result" => answer.result_label())
        .increment(1);
}

#[cfg(not(feature = "metrics"))]
fn record_resume(_: &Resumed) {}

#[cfg(feature = "metrics")]
fn record_replayed(events: usize) {
    metrics::counter!(crate::observe::metric_names::REPLAYED).increment(events as u64);
}

#[cfg(not(feature = "metrics"))]
fn record_replayed(_: usize) {}

#[cfg(feature = "metrics")]
fn record_unlogged() {
    metrics::counter!(crate::observe::metric_names::UNLOGGED).increment(1);
}

#[cfg(not(feature = "metrics"))]
fn record_unlogged() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips_and_refuses_garbage() {
        let meta = Meta {
            principal: Some("user-1".into()),
            heartbeat: Bytes::from_static(b": ping\n"),
            initial_comment: true,
            interval: Duration::from_secs(15),
            headers: vec![("x-a".to_owned(), "b".to_owned())].into(),
        };
        let bytes = meta.to_bytes();
        assert_eq!(Meta::from_bytes(&bytes), Some(meta));
        for cut in 0..bytes.len() {
            assert_eq!(Meta::from_bytes(&bytes[..cut]), None, "cut at {cut}");
        }
        assert_eq!(Meta::from_bytes(b"\x02"), None);
    }
}
