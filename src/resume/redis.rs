//! [`RedisStore`]: stream logs in Redis, shared by every replica.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, Script, Value};

use super::store::{
    AppendAck, LogState, ReadBatch, ResumeStore, StopHandle, StopOutcome, StoreError, StoreFuture,
};
use super::{number_events, Retention, StreamId};

/// How long a read keeps its reader mark beyond its wait (at most a lease):
/// what [`ResumeStore::has_readers`] sees.
const READER_MARK: Duration = Duration::from_secs(3);
/// The longest the background task waits between two ticks.
const TICK: Duration = Duration::from_millis(250);
/// Entries one read returns at most.
const READ_COUNT: usize = 256;
/// Stop requests one tick takes at most.
const STOPS_PER_TICK: usize = 256;
/// Dedicated connections kept for blocked reads when none is in use.
const IDLE_BLOCKING: usize = 8;
/// How long connecting, and any command that does not block, may take.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a stop request waits for its owner's next tick, at most.
const STOPS_TTL: Duration = Duration::from_secs(60);
/// The stream field an event's bytes are kept in.
const FIELD: &str = "e";

/// Appends to a log unless it ended, trims it to its retention and sets
/// its keys' time to live, in one step.
///
/// KEYS: meta, log. ARGV: the `last` the log must have (`''`: any), `1` to
/// end, the live and the ended time to live (ms), max events, max bytes,
/// the first and the last position appended (`''` for none), then each
/// event's entry id and bytes. Returns 1 when appended, 0 when the log is
/// unknown or ended, 2 when its `last` differs, 3 when the positions do not
/// follow its last.
const APPEND: &str = r"
local state = redis.call('HMGET', KEYS[1], 'ended', 'last', 'bytes')
if not state[1] or state[1] == '1' then return 0 end
local last = state[2] or '0'
if ARGV[1] ~= '' and last ~= ARGV[1] then return 2 end
local first = ARGV[7]
if first ~= '' and (#first < #last or (#first == #last and first <= last)) then return 3 end
local bytes = tonumber(state[3]) or 0
for i = 9, #ARGV, 2 do
  redis.call('XADD', KEYS[2], ARGV[i], 'e', ARGV[i + 1])
  bytes = bytes + #ARGV[i + 1]
end
local max_events = tonumber(ARGV[5])
local max_bytes = tonumber(ARGV[6])
local count = redis.call('XLEN', KEYS[2])
local function over()
  return count > 1 and (count > max_events or bytes > max_bytes)
end
if over() then
  local from = '-'
  local dropped = nil
  while over() do
    local entries = redis.call('XRANGE', KEYS[2], from, '+', 'COUNT', 128)
    if #entries == 0 then break end
    for _, entry in ipairs(entries) do
      if not over() then break end
      bytes = bytes - #(entry[2][2] or '')
      count = count - 1
      dropped = entry[1]
    end
    from = '(' .. dropped
  end
  if dropped then
    local kept = redis.call('XRANGE', KEYS[2], '(' .. dropped, '+', 'COUNT', 1)
    if kept[1] then redis.call('XTRIM', KEYS[2], 'MINID', kept[1][1]) end
  end
end
if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'last', ARGV[8]) end
redis.call('HSET', KEYS[1], 'bytes', string.format('%.0f', bytes))
local ttl = ARGV[3]
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'ended', '1')
  ttl = ARGV[4]
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
";

/// Resumable streams' logs in Redis (7 or newer), for many replicas: any
/// replica resumes or stops any stream.
///
/// Each log is a Redis stream (entry ids `0-<position>`) and a hash of its
/// state; the keys of one stream share a hash tag. Every key has a time to
/// live: [`Retention::ttl`] after the stream's end, and while it runs, at
/// least that long after the owner's last sign of life. Logs are trimmed to
/// [`max_bytes`](Retention::max_bytes) and
/// [`max_events`](Retention::max_events); the number of streams is bounded
/// by the server's `maxmemory`, not by
/// [`max_streams`](Retention::max_streams).
///
/// Each store has an owner id and, once it created a stream, a background
/// task that renews the owner's lease (default 5 s,
/// [`lease`](Self::lease)), takes the stop requests other replicas left for
/// it, and keeps its live streams' keys from expiring. When a reader finds
/// a live stream whose owner's lease expired, it ends the log with the
/// stream's `interrupted` frame, once for all readers. The task ends when
/// the last clone of the store is dropped.
///
/// Clones share the connections and the owner id. A read that waits blocks
/// a connection of its own (kept in a small pool), not the shared one.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use llm_sse::resume::{RedisStore, Retention};
///
/// # async fn run() -> Result<(), llm_sse::resume::StoreError> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379/", Retention::default())
///     .await?
///     .lease(Duration::from_secs(10))
///     .key_prefix("chat:");
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    conn: ConnectionManager,
    /// Dedicated connections for blocked reads, not in use.
    idle: Mutex<Vec<MultiplexedConnection>>,
    /// The live streams this store owns, and their stop switches.
    owned: Mutex<HashMap<StreamId, StopHandle>>,
    owner: StreamId,
    prefix: String,
    retention: Retention,
    lease: Duration,
    ticking: AtomicBool,
    append: Script,
}

impl RedisStore {
    /// Connects to the Redis server at `url` (`redis://host:port/db`,
    /// `rediss://` needs a TLS feature of the `redis` crate) and keeps logs
    /// within `retention`. The owner lease is 5 s and the key prefix
    /// `llm-sse:` until set otherwise.
    ///
    /// Must run inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the URL is malformed or the server
    /// cannot be reached.
    pub async fn connect(url: &str, retention: Retention) -> Result<Self, StoreError> {
        let client =
            Client::open(url).map_err(|err| StoreError::backend("invalid redis url", err))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(IO_TIMEOUT)
            .set_response_timeout(IO_TIMEOUT)
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|err| StoreError::backend("cannot connect to redis", err))?;
        let owner = StreamId::random()
            .map_err(|err| StoreError::backend("no random owner id for the redis store", err))?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                conn,
                idle: Mutex::new(Vec::new()),
                owned: Mutex::new(HashMap::new()),
                owner,
                prefix: "llm-sse:".to_owned(),
                retention,
                lease: Duration::from_secs(5),
                ticking: AtomicBool::new(false),
                append: Script::new(APPEND),
            }),
        })
    }

    /// Sets the owner lease: how long after this process stops renewing it
    /// (it died, or the store was dropped) readers end its live streams
    /// with their `interrupted` frame. Default: 5 s; at least 100 ms.
    ///
    /// Call it before cloning the store: on a store already shared it makes
    /// a new store, with its own owner id, on the same connection.
    pub fn lease(self, lease: Duration) -> Self {
        self.with(|inner| inner.lease = lease.max(Duration::from_millis(100)))
    }

    /// Sets the prefix of every key the store writes. Default: `llm-sse:`.
    ///
    /// Call it before cloning the store, as for [`lease`](Self::lease).
    pub fn key_prefix(self, prefix: &str) -> Self {
        self.with(|inner| prefix.clone_into(&mut inner.prefix))
    }

    /// The store with `change` made to its own [`Inner`], a new one when it
    /// is shared.
    fn with(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| shared.fork());
        change(&mut inner);
        // A task that ran for the old `Arc` ends with it.
        let restart = std::mem::take(inner.ticking.get_mut());
        let store = Self {
            inner: Arc::new(inner),
        };
        if restart {
            store.ensure_ticking();
        }
        store
    }
}

impl Inner {
    /// A new store on the same connections, with its own owner id and no
    /// stream.
    fn fork(&self) -> Self {
        Self {
            client: self.client.clone(),
            conn: self.conn.clone(),
            idle: Mutex::new(Vec::new()),
            owned: Mutex::new(HashMap::new()),
            owner: StreamId::random().unwrap_or(self.owner),
            prefix: self.prefix.clone(),
            retention: self.retention,
            lease: self.lease,
            ticking: AtomicBool::new(false),
            append: Script::new(APPEND),
        }
    }

    fn owned(&self) -> MutexGuard<'_, HashMap<StreamId, StopHandle>> {
        // A panic while the lock was held left whole entries: go on.
        self.owned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn idle(&self) -> MutexGuard<'_, Vec<MultiplexedConnection>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lease_key(&self, owner: &str) -> String {
        format!("{}owner:{owner}", self.prefix)
    }

    /// Adds the renewal of this process's owner lease to `pipe`, its reply
    /// ignored: every tick and every new stream renew it.
    fn renew_lease<'p>(&self, pipe: &'p mut redis::Pipeline) -> &'p mut redis::Pipeline {
        pipe.cmd("SET")
            .arg(self.lease_key(self.owner.as_str()))
            .arg(1)
            .arg("PX")
            .arg(millis(self.lease))
            .ignore()
    }

    fn stops_key(&self, owner: &str) -> String {
        format!("{}stops:{owner}", self.prefix)
    }

    fn stream_key(&self, stream: StreamId, part: &str) -> String {
        format!("{}{{{stream}}}:{part}", self.prefix)
    }

    /// How long a live stream's keys last after its owner's last sign of
    /// life.
    fn live_ttl(&self) -> u64 {
        millis(self.retention.ttl.max(self.lease.saturating_mul(2)))
    }

    fn ended_ttl(&self) -> u64 {
        millis(self.retention.ttl)
    }

    fn tick_every(&self) -> Duration {
        TICK.min(self.lease / 4).max(Duration::from_millis(10))
    }
}

impl RedisStore {
    /// Starts the background task, once.
    fn ensure_ticking(&self) {
        if self.inner.ticking.swap(true, Ordering::AcqRel) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(tick(Arc::downgrade(&self.inner)));
            }
            // No runtime to run it on: try again on the next create.
            Err(_) => self.inner.ticking.store(false, Ordering::Release),
        }
    }

    async fn look(&self, stream: StreamId, after: u64, wait: Duration) -> Result<Look, StoreError> {
        let inner = &self.inner;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HMGET")
            .arg(inner.stream_key(stream, "meta"))
            .arg(&["owner", "last", "ended"])
            .cmd("XRANGE")
            .arg(inner.stream_key(stream, "log"))
            .arg(
                after
                    .checked_add(1)
                    .map_or_else(|| "+".to_owned(), entry_id),
            )
            .arg("+")
            .arg("COUNT")
            .arg(READ_COUNT)
            .cmd("SET")
            .arg(inner.stream_key(stream, "rd"))
            .arg(1)
            .arg("PX")
            .arg(millis(wait.min(inner.lease).saturating_add(READER_MARK)))
            .ignore();
        let (state, entries): (Vec<Option<String>>, Value) = pipe
            .query_async(&mut inner.conn.clone())
            .await
            .map_err(|err| StoreError::backend("redis read failed", err))?;
        let [owner, last, ended] = <[Option<String>; 3]>::try_from(state)
            .map_err(|_| malformed("the log's state has a wrong shape"))?;
        let (Some(owner), Some(last), Some(ended)) = (owner, last, ended) else {
            return Ok(Look::Batch(ReadBatch::new(Vec::new(), LogState::Unknown)));
        };
        let last: u64 = last
            .parse()
            .map_err(|_| malformed("the log's last position is not a number"))?;
        let events = parse_entries(entries)?;
        let first = events
            .first()
            .map_or(last.saturating_add(1), |(seq, _)| *seq);
        if after < last && after.saturating_add(1) < first {
            return Ok(Look::Batch(ReadBatch::new(Vec::new(), LogState::Trimmed)));
        }
        let through = events.last().map_or(after, |(seq, _)| *seq);
        if ended == "1" && through >= last {
            return Ok(Look::Batch(ReadBatch::new(events, LogState::Ended)));
        }
        if !events.is_empty() {
            return Ok(Look::Batch(ReadBatch::new(events, LogState::Live)));
        }
        Ok(Look::Wait { owner, last })
    }

    /// Whether the lease of the owner named in a log is gone.
    async fn owner_gone(&self, owner: &str) -> Result<bool, StoreError> {
        if owner == self.inner.owner.as_str() {
            return Ok(false);
        }
        let alive: bool = redis::cmd("EXISTS")
            .arg(self.inner.lease_key(owner))
            .query_async(&mut self.inner.conn.clone())
            .await
            .map_err(|err| StoreError::backend("redis lease check failed", err))?;
        Ok(!alive)
    }

    /// Ends a log whose owner died with its `interrupted` frame, numbered
    /// after `last`, unless someone appended or ended it first.
    async fn interrupt(&self, stream: StreamId, last: u64) -> Result<(), StoreError> {
        let frame: Option<Vec<u8>> = redis::cmd("HGET")
            .arg(self.inner.stream_key(stream, "meta"))
            .arg("int")
            .query_async(&mut self.inner.conn.clone())
            .await
            .map_err(|err| StoreError::backend("redis read failed", err))?;
        let Some(frame) = frame else {
            return Ok(());
        };
        let events = number_events(&frame, stream, last.saturating_add(1));
        self.run_append(stream, Some(last), last.saturating_add(1), events, true)
            .await
            .map(drop)
    }

    /// Runs the append script: 1 appended, 0 ended, 2 `last` differs.
    async fn run_append(
        &self,
        stream: StreamId,
        expected_last: Option<u64>,
        first_seq: u64,
        events: Vec<Bytes>,
        end: bool,
    ) -> Result<i64, StoreError> {
        let inner = &self.inner;
        let mut invocation = inner.append.prepare_invoke();
        invocation
            .key(inner.stream_key(stream, "meta"))
            .key(inner.stream_key(stream, "log"))
            .arg(
                expected_last
                    .map(|last| last.to_string())
                    .unwrap_or_default(),
            )
            .arg(if end { "1" } else { "0" })
            .arg(inner.live_ttl())
            .arg(inner.ended_ttl().max(1))
            .arg(inner.retention.max_events)
            .arg(inner.retention.max_bytes);
        let count = events.len() as u64;
        if count == 0 {
            invocation.arg("").arg("");
        } else {
            let last = first_seq
                .checked_add(count - 1)
                .ok_or_else(|| malformed("positions past the largest one"))?;
            invocation.arg(first_seq.to_string()).arg(last.to_string());
        }
        for (seq, event) in (first_seq..).zip(&events) {
            invocation.arg(entry_id(seq)).arg(event.as_ref());
        }
        let outcome: i64 = invocation
            .invoke_async(&mut inner.conn.clone())
            .await
            .map_err(|err| StoreError::backend("redis append failed", err))?;
        if outcome == 3 {
            return Err(malformed("appended positions do not follow the log's last"));
        }
        Ok(outcome)
    }

    /// Waits up to `wait` for an entry after `after` on a dedicated
    /// connection.
    async fn block(&self, stream: StreamId, after: u64, wait: Duration) -> Result<(), StoreError> {
        let mut conn = self.take_blocking().await?;
        let mut xread = redis::cmd("XREAD");
        xread
            .arg("BLOCK")
            .arg(millis(wait).max(1))
            .arg("COUNT")
            .arg(1)
            .arg("STREAMS")
            .arg(self.inner.stream_key(stream, "log"))
            .arg(entry_id(after));
        let read = tokio::time::timeout(
            wait.saturating_add(IO_TIMEOUT),
            xread.query_async::<Value>(&mut conn),
        );
        match read.await {
            Ok(Ok(_)) => {
                // Only a connection with nothing in flight goes back.
                self.give_back(conn);
                Ok(())
            }
            Ok(Err(err)) => Err(StoreError::backend("redis blocking read failed", err)),
            Err(elapsed) => Err(StoreError::backend(
                "redis blocking read did not answer",
                elapsed,
            )),
        }
    }

    async fn take_blocking(&self) -> Result<MultiplexedConnection, StoreError> {
        if let Some(conn) = self.inner.idle().pop() {
            return Ok(conn);
        }
        let config = AsyncConnectionConfig::new().set_connection_timeout(IO_TIMEOUT);
        self.inner
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|err| StoreError::backend("cannot connect to redis for a blocking read", err))
    }

    fn give_back(&self, conn: MultiplexedConnection) {
        let mut idle = self.inner.idle();
        if idle.len() < IDLE_BLOCKING {
            idle.push(conn);
        }
    }
}

/// What a look at a log found: a batch to return, or nothing yet.
enum Look {
    Batch(ReadBatch),
    Wait { owner: String, last: u64 },
}

/// The background task: every tick, one round trip renews the lease, takes
/// this owner's stop requests and, now and then, keeps the owned streams'
/// keys alive.
async fn tick(store: Weak<Inner>) {
    let mut refreshed = None::<tokio::time::Instant>;
    loop {
        let Some(inner) = store.upgrade() else {
            return;
        };
        let every = inner.tick_every();
        let now = tokio::time::Instant::now();
        let live_ttl = inner.live_ttl();
        let refresh = refreshed.map_or(true, |at| {
            now.saturating_duration_since(at) >= Duration::from_millis(live_ttl / 4)
        });
        let mut pipe = redis::pipe();
        inner
            .renew_lease(&mut pipe)
            .cmd("SPOP")
            .arg(inner.stops_key(inner.owner.as_str()))
            .arg(STOPS_PER_TICK);
        if refresh {
            let owned: Vec<StreamId> = inner.owned().keys().copied().collect();
            for stream in owned {
                for part in ["meta", "log"] {
                    pipe.cmd("PEXPIRE")
                        .arg(inner.stream_key(stream, part))
                        .arg(live_ttl)
                        .ignore();
                }
            }
        }
        let mut conn = inner.conn.clone();
        drop(inner);
        // A failed tick is retried at the next one; the lease outlives a few.
        if let Ok((stops,)) = pipe.query_async::<(Vec<String>,)>(&mut conn).await {
            if refresh {
                refreshed = Some(now);
            }
            if let Some(inner) = store.upgrade() {
                let owned = inner.owned();
                for stream in stops.iter().filter_map(|id| id.parse::<StreamId>().ok()) {
                    if let Some(handle) = owned.get(&stream) {
                        handle.stop();
                    }
                }
            }
        }
        tokio::time::sleep(every).await;
    }
}

impl ResumeStore for RedisStore {
    fn create(
        &self,
        stream: StreamId,
        meta: Bytes,
        interrupted: Bytes,
        stop: StopHandle,
    ) -> StoreFuture<()> {
        let store = self.clone();
        Box::pin(async move {
            let inner = &store.inner;
            store.ensure_ticking();
            let meta_key = inner.stream_key(stream, "meta");
            let mut pipe = redis::pipe();
            inner
                .renew_lease(&mut pipe)
                .cmd("DEL")
                .arg(inner.stream_key(stream, "log"))
                .ignore()
                .cmd("HSET")
                .arg(&meta_key)
                .arg("meta")
                .arg(meta.as_ref())
                .arg("int")
                .arg(interrupted.as_ref())
                .arg("owner")
                .arg(inner.owner.as_str())
                .arg("last")
                .arg(0)
                .arg("ended")
                .arg(0)
                .arg("bytes")
                .arg(0)
                .ignore()
                .cmd("PEXPIRE")
                .arg(&meta_key)
                .arg(inner.live_ttl())
                .ignore();
            pipe.query_async::<()>(&mut inner.conn.clone())
                .await
                .map_err(|err| StoreError::backend("redis create failed", err))?;
            inner.owned().insert(stream, stop);
            Ok(())
        })
    }

    fn append(
        &self,
        stream: StreamId,
        first_seq: u64,
        events: Vec<Bytes>,
        end: bool,
    ) -> StoreFuture<AppendAck> {
        let store = self.clone();
        Box::pin(async move {
            let outcome = store
                .run_append(stream, None, first_seq, events, end)
                .await?;
            let ack = if outcome == 1 {
                AppendAck::APPENDED
            } else {
                AppendAck::ENDED
            };
            if end || ack.ended {
                store.inner.owned().remove(&stream);
            }
            Ok(ack)
        })
    }

    fn meta(&self, stream: StreamId) -> StoreFuture<Option<Bytes>> {
        let store = self.clone();
        Box::pin(async move {
            let meta: Option<Vec<u8>> = redis::cmd("HGET")
                .arg(store.inner.stream_key(stream, "meta"))
                .arg("meta")
                .query_async(&mut store.inner.conn.clone())
                .await
                .map_err(|err| StoreError::backend("redis read failed", err))?;
            Ok(meta.map(Bytes::from))
        })
    }

    fn read(&self, stream: StreamId, after: u64, wait: Duration) -> StoreFuture<ReadBatch> {
        let store = self.clone();
        Box::pin(async move {
            let (owner, last) = match store.look(stream, after, wait).await? {
                Look::Batch(batch) => return Ok(batch),
                Look::Wait { owner, last } => (owner, last),
            };
            if store.owner_gone(&owner).await? {
                store.interrupt(stream, last).await?;
            } else if wait.is_zero() || after == u64::MAX {
                return Ok(ReadBatch::new(Vec::new(), LogState::Live));
            } else {
                // Never longer than a lease: a dead owner is noticed within
                // about two.
                store
                    .block(stream, after, wait.min(store.inner.lease))
                    .await?;
            }
            Ok(match store.look(stream, after, Duration::ZERO).await? {
                Look::Batch(batch) => batch,
                Look::Wait { .. } => ReadBatch::new(Vec::new(), LogState::Live),
            })
        })
    }

    fn stop(&self, stream: StreamId) -> StoreFuture<StopOutcome> {
        let store = self.clone();
        Box::pin(async move {
            let inner = &store.inner;
            let (owner, ended): (Option<String>, Option<String>) = redis::cmd("HMGET")
                .arg(inner.stream_key(stream, "meta"))
                .arg(&["owner", "ended"])
                .query_async(&mut inner.conn.clone())
                .await
                .map_err(|err| StoreError::backend("redis stop failed", err))?;
            let (Some(owner), Some(ended)) = (owner, ended) else {
                return Ok(StopOutcome::Unknown);
            };
            if ended == "1" {
                return Ok(StopOutcome::Ended);
            }
            if owner == inner.owner.as_str() {
                if let Some(handle) = inner.owned().get(&stream) {
                    handle.stop();
                }
                return Ok(StopOutcome::Stopping);
            }
            // The owner's next tick takes it. Another slot than the log's:
            // two commands, no script; a stop for a stream that ends
            // meanwhile finds no handle and does nothing.
            let stops = inner.stops_key(&owner);
            let mut pipe = redis::pipe();
            pipe.cmd("SADD")
                .arg(&stops)
                .arg(stream.as_str())
                .ignore()
                .cmd("PEXPIRE")
                .arg(&stops)
                .arg(millis(STOPS_TTL.max(inner.lease * 2)))
                .ignore();
            pipe.query_async::<()>(&mut inner.conn.clone())
                .await
                .map_err(|err| StoreError::backend("redis stop failed", err))?;
            Ok(StopOutcome::Stopping)
        })
    }

    fn has_readers(&self, stream: StreamId) -> StoreFuture<bool> {
        let store = self.clone();
        Box::pin(async move {
            redis::cmd("EXISTS")
                .arg(store.inner.stream_key(stream, "rd"))
                .query_async(&mut store.inner.conn.clone())
                .await
                .map_err(|err| StoreError::backend("redis read failed", err))
        })
    }

    fn release(&self, stream: StreamId, seq: u64, frame: Bytes) {
        self.inner.owned().remove(&stream);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to write from: readers end the log once the lease
            // of this process expires, or with its keys.
            return;
        };
        let append = self.append(stream, seq, vec![frame], true);
        runtime.spawn(async move {
            // Best effort: a failure leaves the log to the lease check.
            let _ = append.await;
        });
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("owner", &self.inner.owner)
            .field("prefix", &self.inner.prefix)
            .field("lease", &self.inner.lease)
            .field("retention", &self.inner.retention)
            .finish_non_exhaustive()
    }
}

/// The id of the entry at position `seq`.
fn entry_id(seq: u64) -> String {
    format!("0-{seq}")
}

/// Milliseconds for Redis, at most a century: Redis refuses an expiry past
/// what its clock can hold, and `Duration::MAX` means "keep".
fn millis(duration: Duration) -> u64 {
    const CENTURY_MS: u64 = 100 * 365 * 24 * 60 * 60 * 1000;
    u64::try_from(duration.as_millis()).map_or(CENTURY_MS, |ms| ms.min(CENTURY_MS))
}

fn malformed(message: &str) -> StoreError {
    StoreError::Backend {
        message: format!("redis store: {message}"),
        source: None,
    }
}

/// The `(position, event)` pairs of an `XRANGE` reply.
fn parse_entries(reply: Value) -> Result<Vec<(u64, Bytes)>, StoreError> {
    let Value::Array(entries) = reply else {
        return Err(malformed("a log read is not a list"));
    };
    let mut events = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Array(parts) = entry else {
            return Err(malformed("a log entry is not a list"));
        };
        let mut parts = parts.into_iter();
        let (Some(Value::BulkString(id)), Some(Value::Array(fields))) =
            (parts.next(), parts.next())
        else {
            return Err(malformed("a log entry has a wrong shape"));
        };
        let seq = std::str::from_utf8(&id)
            .ok()
            .and_then(|id| id.strip_prefix("0-"))
            .and_then(|seq| seq.parse::<u64>().ok())
            .ok_or_else(|| malformed("a log entry id is not `0-<position>`"))?;
        let mut fields = fields.into_iter();
        let event = match (fields.next(), fields.next()) {
            (Some(Value::BulkString(name)), Some(Value::BulkString(event)))
                if name == FIELD.as_bytes() =>
            {
                Bytes::from(event)
            }
            _ => return Err(malformed("a log entry holds no event")),
        };
        events.push((seq, event));
    }
    Ok(events)
}
