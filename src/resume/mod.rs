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
