//! [`MemoryStore`]: stream logs in this process's memory.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::store::{
    AppendAck, LogState, ReadBatch, ResumeStore, StopHandle, StopOutcome, StoreError, StoreFuture,
};
use super::{Retention, StreamId};

/// Resumable streams' logs in this process's memory: the default store,
/// for a single replica (or sticky sessions).
///
/// Clones share the same logs. Retention: at most
/// [`max_streams`](Retention::max_streams) streams (the oldest ended one
/// makes room for a new one; when every stream is live, a new stream flows
/// without ids), [`max_bytes`](Retention::max_bytes) and
/// [`max_events`](Retention::max_events) per log (the oldest events go
/// first; resuming before them answers `410`), and
/// [`ttl`](Retention::ttl) after a stream's end.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use llm_sse::resume::{MemoryStore, Retention};
///
/// let store = MemoryStore::new(Retention::default().ttl(Duration::from_secs(60)));
/// # let _ = store;
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

struct Shared {
    retention: Retention,
    logs: Mutex<HashMap<StreamId, Log>>,
}

struct Log {
    meta: Bytes,
    events: VecDeque<(u64, Bytes)>,
    bytes: usize,
    // The position of the last event appended.
    last: u64,
    ended_at: Option<Instant>,
    created: Instant,
    stop: StopHandle,
    appended: Arc<Notify>,
    readers: usize,
    last_read: Option<Instant>,
}

impl MemoryStore {
    /// An empty store that keeps logs within `retention`.
    pub fn new(retention: Retention) -> Self {
        Self {
            shared: Arc::new(Shared {
                retention,
                logs: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// How many streams the store holds, live or ended.
    pub fn len(&self) -> usize {
        self.logs().len()
    }

    /// Whether the store holds no stream.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn logs(&self) -> MutexGuard<'_, HashMap<StreamId, Log>> {
        // A panic while the lock was held left whole entries: go on.
        self.shared
            .logs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Drops the ended logs past their time, then the oldest ended ones
    /// until a new stream fits.
    fn make_room(&self, logs: &mut HashMap<StreamId, Log>, now: Instant) -> bool {
        let ttl = self.shared.retention.ttl;
        logs.retain(|_, log| !log.expired(now, ttl));
        while logs.len() >= self.shared.retention.max_streams {
            let oldest_ended = logs
                .iter()
                .filter_map(|(id, log)| log.ended_at.map(|at| (at, log.created, *id)))
                .min();
            match oldest_ended {
                Some((_, _, id)) => {
                    logs.remove(&id);
                }
                None => return false,
            }
        }
        true
    }
}

/// What a look at a log found: a batch to return, or nothing yet.
enum Look {
    Batch(ReadBatch),
    Wait(Arc<Notify>),
}

impl MemoryStore {
    fn look(&self, stream: StreamId, after: u64) -> Look {
        let mut logs = self.logs();
        let Some(log) = logs.get_mut(&stream) else {
            return Look::Batch(ReadBatch::new(Vec::new(), LogState::Unknown));
        };
        log.last_read = Some(Instant::now());
        match log.after(after) {
            Err(state) => Look::Batch(ReadBatch::new(Vec::new(), state)),
            Ok(events) if log.ended_at.is_some() => {
                Look::Batch(ReadBatch::new(events, LogState::Ended))
            }
            Ok(events) if !events.is_empty() => Look::Batch(ReadBatch::new(events, LogState::Live)),
            Ok(_) => Look::Wait(log.appended.clone()),
        }
    }
}

/// Counts a reader waiting on a log, for [`ResumeStore::has_readers`].
struct ReaderGuard<'a> {
    store: &'a MemoryStore,
    stream: StreamId,
}

impl<'a> ReaderGuard<'a> {
    fn new(store: &'a MemoryStore, stream: StreamId) -> Self {
        if let Some(log) = store.logs().get_mut(&stream) {
            log.readers += 1;
        }
        Self { store, stream }
    }
}

impl Drop for ReaderGuard<'_> {
    fn drop(&mut self) {
        if let Some(log) = self.store.logs().get_mut(&self.stream) {
            log.readers = log.readers.saturating_sub(1);
            log.last_read = Some(Instant::now());
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(Retention::default())
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("retention", &self.shared.retention)
            .field("streams", &self.len())
            .finish()
    }
}

impl Log {
    /// Whether the log ended more than `ttl` before `now`.
    fn expired(&self, now: Instant, ttl: Duration) -> bool {
        // A `ttl` too long for an `Instant` never expires.
        self.ended_at
            .and_then(|ended| ended.checked_add(ttl))
            .is_some_and(|expiry| now >= expiry)
    }

    fn push(&mut self, seq: u64, event: Bytes, retention: &Retention) {
        self.bytes += event.len();
        self.events.push_back((seq, event));
        self.last = seq;
        while self.events.len() > 1
            && (self.bytes > retention.max_bytes || self.events.len() > retention.max_events)
        {
            if let Some((_, dropped)) = self.events.pop_front() {
                self.bytes -= dropped.len();
            }
        }
    }

    fn end(&mut self) {
        if self.ended_at.is_none() {
            self.ended_at = Some(Instant::now());
        }
        self.appended.notify_waiters();
    }

    fn after(&self, after: u64) -> Result<Vec<(u64, Bytes)>, LogState> {
        let first = self.events.front().map_or(self.last + 1, |(seq, _)| *seq);
        if after + 1 < first {
            return Err(LogState::Trimmed);
        }
        let skip = (after + 1 - first) as usize;
        Ok(self.events.iter().skip(skip).cloned().collect())
    }
}

impl ResumeStore for MemoryStore {
    fn create(
        &self,
        stream: StreamId,
        meta: Bytes,
        _interrupted: Bytes,
        stop: StopHandle,
    ) -> StoreFuture<()> {
        let now = Instant::now();
        let mut logs = self.logs();
        let result = if self.make_room(&mut logs, now) {
            logs.insert(
                stream,
                Log {
                    meta,
                    events: VecDeque::new(),
                    bytes: 0,
                    last: 0,
                    ended_at: None,
                    created: now,
                    stop,
                    appended: Arc::new(Notify::new()),
                    readers: 0,
                    last_read: None,
                },
            );
            Ok(())
        } else {
            Err(StoreError::Full)
        };
        Box::pin(std::future::ready(result))
    }

    fn append(
        &self,
        stream: StreamId,
        first_seq: u64,
        events: Vec<Bytes>,
        end: bool,
    ) -> StoreFuture<AppendAck> {
        let ack = match self.logs().get_mut(&stream) {
            Some(log) if log.ended_at.is_none() => {
                for (seq, event) in (first_seq..).zip(events) {
                    log.push(seq, event, &self.shared.retention);
                }
                if end {
                    log.end();
                } else {
                    log.appended.notify_waiters();
                }
                AppendAck::APPENDED
            }
            // Evicted, or ended already: the owner stops.
            _ => AppendAck::ENDED,
        };
        Box::pin(std::future::ready(Ok(ack)))
    }

    fn meta(&self, stream: StreamId) -> StoreFuture<Option<Bytes>> {
        let now = Instant::now();
        let ttl = self.shared.retention.ttl;
        let meta = self
            .logs()
            .get(&stream)
            .filter(|log| !log.expired(now, ttl))
            .map(|log| log.meta.clone());
        Box::pin(std::future::ready(Ok(meta)))
    }

    fn read(&self, stream: StreamId, after: u64, wait: Duration) -> StoreFuture<ReadBatch> {
        let store = self.clone();
        Box::pin(async move {
            let store = &store;
            let appended = match store.look(stream, after) {
                Look::Batch(batch) => return Ok(batch),
                Look::Wait(_) if wait.is_zero() => {
                    return Ok(ReadBatch::new(Vec::new(), LogState::Live))
                }
                Look::Wait(appended) => appended,
            };
            let notified = appended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // An append between the first look and `enable` is seen here.
            if let Look::Batch(batch) = store.look(stream, after) {
                return Ok(batch);
            }
            let _reader = ReaderGuard::new(store, stream);
            let _ = tokio::time::timeout(wait, notified).await;
            Ok(match store.look(stream, after) {
                Look::Batch(batch) => batch,
                Look::Wait(_) => ReadBatch::new(Vec::new(), LogState::Live),
            })
        })
    }

    fn stop(&self, stream: StreamId) -> StoreFuture<StopOutcome> {
        let outcome = match self.logs().get(&stream) {
            None => StopOutcome::Unknown,
            Some(log) if log.ended_at.is_some() => StopOutcome::Ended,
            Some(log) => {
                log.stop.stop();
                StopOutcome::Stopping
            }
        };
        Box::pin(std::future::ready(Ok(outcome)))
    }

    fn has_readers(&self, stream: StreamId) -> StoreFuture<bool> {
        let now = Instant::now();
        let readers = self.logs().get(&stream).is_some_and(|log| {
            log.readers > 0
                || log
                    .last_read
                    .is_some_and(|at| now.saturating_duration_since(at) < Duration::from_secs(2))
        });
        Box::pin(std::future::ready(Ok(readers)))
    }

    fn release(&self, stream: StreamId, seq: u64, frame: Bytes) {
        if let Some(log) = self.logs().get_mut(&stream) {
            if log.ended_at.is_none() {
                log.push(seq, frame, &self.shared.retention);
                log.end();
            }
        }
    }
}
