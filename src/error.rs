//! [`Error`]: how a token stream can fail.

use std::time::Duration;

/// Why a token stream ended early; the frames stage turns it into the
/// stream's one error event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error<E> {
    /// The upstream token stream yielded an error; its message and source
    /// are the error's own.
    #[error(transparent)]
    Upstream(E),
    /// A timeout passed; the upstream was dropped.
    #[error(transparent)]
    TimedOut(#[from] TimedOut),
    /// The upstream panicked while being polled; the panic was caught and the
    /// upstream dropped.
    #[error(transparent)]
    Panicked(#[from] Panicked),
}

impl<E> Error<E> {
    /// A short machine-readable name of the failure, used as the `type` of
    /// the default error payload: `upstream_error`, `timeout` or
    /// `internal_error`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Error::Upstream(_) => "upstream_error",
            Error::TimedOut(_) => "timeout",
            Error::Panicked(_) => "internal_error",
        }
    }
}

/// A timeout of [`Timeouts`](crate::adapters::Timeouts) passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} of {after:?} passed", match .kind {
    TimeoutKind::FirstToken => "time to first token",
    TimeoutKind::Idle => "idle time between tokens",
    TimeoutKind::Total => "stream deadline",
})]
#[non_exhaustive]
pub struct TimedOut {
    /// Which timeout passed.
    pub kind: TimeoutKind,
    /// Its configured duration.
    pub after: Duration,
}

/// Which of the [`Timeouts`](crate::adapters::Timeouts) passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// No token arrived within the time-to-first-token limit.
    FirstToken,
    /// Too long a gap between two tokens.
    Idle,
    /// The whole stream took longer than its deadline.
    Total,
}

/// The upstream panicked; see [`catch_panic`](crate::TokenStreamExt::catch_panic).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the token stream panicked: {message}")]
#[non_exhaustive]
pub struct Panicked {
    /// The panic message, when it was a string.
    pub message: String,
}
