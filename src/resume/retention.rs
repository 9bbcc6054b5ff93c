//! [`Retention`]: how much of the finished and running streams a store
//! keeps.

use std::time::Duration;

/// How much a store keeps: streams, bytes and events per stream, and time
/// after a stream's end. Live streams are never dropped for time; a log
/// over its bytes or events loses its oldest events first, and resuming
/// before them answers `410 Gone`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use llm_sse::resume::Retention;
///
/// let retention = Retention::default()
///     .max_streams(50_000)
///     .max_bytes(256 * 1024)
///     .ttl(Duration::from_secs(600));
/// assert_eq!(retention.max_events, 16_384);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// Streams held at once, live or ended. Default: 10,000. The Redis
    /// store leaves this bound to the server's `maxmemory`: every one of
    /// its keys has a TTL.
    pub max_streams: usize,
    /// Bytes of events kept per stream. Default: 1 MiB.
    pub max_bytes: usize,
    /// Events kept per stream. Default: 16,384.
    pub max_events: usize,
    /// How long an ended stream stays resumable. Default: 5 minutes.
    pub ttl: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_streams: 10_000,
            max_bytes: 1024 * 1024,
            max_events: 16_384,
            ttl: Duration::from_secs(300),
        }
    }
}

impl Retention {
    /// Sets [`max_streams`](Self::max_streams); at least 1.
    pub fn max_streams(mut self, streams: usize) -> Self {
        self.max_streams = streams.max(1);
        self
    }

    /// Sets [`max_bytes`](Self::max_bytes).
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Sets [`max_events`](Self::max_events); at least 1.
    pub fn max_events(mut self, events: usize) -> Self {
        self.max_events = events.max(1);
        self
    }

    /// Sets [`ttl`](Self::ttl).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
}
