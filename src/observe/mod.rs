//! Per-stream observation: the [`Observer`] hooks, the [`StreamSummary`] each
//! stream ends with, and the completion hook.
//!
//! Observers are attached with [`Builder::observe`](crate::Builder::observe)
//! and [`Builder::on_complete`](crate::Builder::on_complete), as many as you
//! like: the stream keeps them in a list, so its type never changes. They
//! run in the [`Observe`](crate::adapters::Observe) stage, on the stream's
//! own polls, and see only what the stream sends; with no observer nothing
//! is counted and the clock is never read. Every stream ends exactly once,
//! whatever happens: a normal end, an upstream error, a caught panic, a
//! timeout, or the consumer dropping the stream (also before its first
//! poll).

use std::fmt;
use std::time::Duration;

use crate::delta::{DeltaKind, FinishReason, TokenCounts, Usage};

mod complete;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "opentelemetry")]
mod opentelemetry;
#[cfg(feature = "tracing")]
mod tracing;

#[cfg(feature = "metrics")]
pub use self::metrics::{metric_names, MetricsObserver};
#[cfg(feature = "opentelemetry")]
pub use self::opentelemetry::OtelObserver;
#[cfg(feature = "tracing")]
pub use self::tracing::TracingObserver;
#[cfg(feature = "tokio")]
pub use complete::TokioExecutor;
pub use complete::{Executor, Inline, OnComplete};

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The token stream ended normally and every frame was handed on.
    Completed,
    /// The token stream failed or panicked; an error event was sent.
    Failed,
    /// A timeout passed; an error event was sent.
    TimedOut,
    /// The consumer dropped the stream before its end (the client went
    /// away); the token stream was dropped with it.
    Cancelled,
    /// The client went away, and the stream ran on in the background to a
    /// normal end ([`SseStream::finish_on_disconnect`](crate::SseStream::finish_on_disconnect)).
    CompletedAfterDisconnect,
    /// A resumable stream was stopped by a stop request
    /// ([`resume::stop`](crate::resume::stop)); its readers got the
    /// format's normal end.
    Stopped,
    /// A resumable stream had no reader for its grace time; the token
    /// stream was dropped.
    Abandoned,
}

impl Outcome {
    /// The outcome as a lower-case label: `completed`, `failed`,
    /// `timed_out`, `cancelled`, `completed_after_disconnect`, `stopped` or
    /// `abandoned`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed_out",
            Outcome::Cancelled => "cancelled",
            Outcome::CompletedAfterDisconnect => "completed_after_disconnect",
            Outcome::Stopped => "stopped",
            Outcome::Abandoned => "abandoned",
        }
    }
}

/// The OpenTelemetry `error.type` of an outcome: `_OTHER` (failed),
/// `timeout` or `cancelled` (abandoned too); `None` for a normal end or a
/// stop.
#[cfg(any(feature = "tracing", feature = "opentelemetry"))]
fn error_type(outcome: Outcome) -> Option<&'static str> {
    match outcome {
        Outcome::Failed => Some("_OTHER"),
        Outcome::TimedOut => Some("timeout"),
        Outcome::Cancelled | Outcome::Abandoned => Some("cancelled"),
        Outcome::Completed | Outcome::CompletedAfterDisconnect | Outcome::Stopped => None,
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One chunk that went out, as an observer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChunkStats {
    /// What the chunk carries.
    pub kind: DeltaKind,
    /// Tokens in the chunk: text, reasoning or argument tokens; 0 for the
    /// other kinds.
    pub tokens: u64,
    /// Bytes of the encoded frame.
    pub bytes: u64,
    /// Time since the previous chunk; `None` for the first one, or when no
    /// observer needs the clock.
    pub gap: Option<Duration>,
}

/// What a stream did, handed to [`Observer::on_end`] exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamSummary {
    /// How it ended.
    pub outcome: Outcome,
    /// Time from the first poll to the first token; `None` if no token went
    /// out.
    pub ttft: Option<Duration>,
    /// Time from the first poll to the end (zero if never polled).
    pub duration: Duration,
    /// Tokens sent: text, reasoning and tool-call arguments
    /// (`counts.total()`).
    pub tokens: u64,
    /// Tokens sent per kind, and tool calls.
    pub counts: TokenCounts,
    /// Chunks sent (frames that carry deltas).
    pub chunks: u64,
    /// Bytes of every frame sent: chunks, heartbeats, the error event and
    /// the end marker.
    pub bytes: u64,
    /// Heartbeats sent.
    pub heartbeats: u64,
    /// The error's message, for [`Outcome::Failed`] and
    /// [`Outcome::TimedOut`].
    pub error: Option<String>,
    /// The full answer text sent (reasoning and tool calls left out), when
    /// asked for with [`Builder::capture_text`](crate::Builder::capture_text).
    pub text: Option<String>,
    /// The model's last usage delta, if it sent one.
    pub usage: Option<Usage>,
    /// The model's finish reason, if it sent one.
    pub finish_reason: Option<FinishReason>,
}

/// Hooks called as a stream runs; every method does nothing by default.
///
/// An observer sees what the stream sends, in order, on the stream's own
/// polls: keep each hook short (hand slow work, such as writing a log line
/// to disk, to [`Builder::on_complete`](crate::Builder::on_complete)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use llm_sse::observe::{ChunkStats, Observer, StreamSummary};
///
/// #[derive(Default)]
/// struct SlowChunks(u32);
///
/// impl Observer for SlowChunks {
///     fn on_chunk(&mut self, chunk: ChunkStats) {
///         if chunk.gap > Some(Duration::from_secs(1)) {
///             self.0 += 1;
///         }
///     }
///
///     fn on_end(&mut self, summary: &StreamSummary) {
///         println!("{} after {:?}, {} slow chunks", summary.outcome, summary.duration, self.0);
///     }
/// }
/// ```
pub trait Observer {
    /// Whether the observer needs times (time to first token, gaps,
    /// duration). When no attached observer does, the clock is never read.
    /// Default: `true`.
    fn needs_time(&self) -> bool {
        true
    }

    /// The stream was polled for the first time.
    fn on_start(&mut self) {}

    /// The first delta of model output went out (usage and the finish
    /// reason do not count), `ttft` after the first poll. Called only when
    /// an attached observer [needs time](Observer::needs_time): without a
    /// clock there is no time to report.
    fn on_first_token(&mut self, ttft: Duration) {
        let _ = ttft;
    }

    /// A chunk went out.
    fn on_chunk(&mut self, chunk: ChunkStats) {
        let _ = chunk;
    }

    /// A heartbeat went out.
    fn on_heartbeat(&mut self) {}

    /// The stream failed or timed out; its error frame went out.
    fn on_error(&mut self, outcome: Outcome, message: &str) {
        let _ = (outcome, message);
    }

    /// The stream ended; called exactly once, last.
    fn on_end(&mut self, summary: &StreamSummary) {
        let _ = summary;
    }
}
