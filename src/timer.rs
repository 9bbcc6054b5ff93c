//! Time without a runtime: the [`Timer`] the timed adapters sleep on.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// A source of time for the adapters that need it: batch max delay,
/// heartbeats and timeouts.
///
/// The core needs no async runtime; the `tokio` feature provides
/// [`TokioTimer`], and any other runtime can implement this trait in a few
/// lines. Timers are read once per flushed chunk, never once per token,
/// except by the idle timeout.
///
/// # Examples
///
/// A timer for `async-io` would look like this (not compiled here):
///
/// ```ignore
/// #[derive(Clone, Debug)]
/// struct AsyncIoTimer;
///
/// impl llm_sse::Timer for AsyncIoTimer {
///     type Sleep = ResettableTimer; // wraps async_io::Timer, Unpin
///     fn now(&self) -> Instant { Instant::now() }
///     fn sleep_until(&self, deadline: Instant) -> Self::Sleep { ResettableTimer::at(deadline) }
/// }
/// ```
pub trait Timer: Clone + Debug {
    /// The future a sleep returns.
    type Sleep: Sleep;

    /// The current time. Virtual clocks (tokio's paused clock) are honoured
    /// by returning their time here.
    fn now(&self) -> Instant;

    /// A future that completes at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;
}

/// A sleep future that can be moved to a new deadline without being
/// re-created.
pub trait Sleep: Future<Output = ()> + Unpin + Debug {
    /// Moves the deadline; the next poll waits for the new one.
    fn reset(&mut self, deadline: Instant);
}

/// A [`Timer`] on `tokio::time`, so it honours tokio's paused test clock.
///
/// Sleeps must be created and polled inside a tokio runtime with the time
/// driver enabled.
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioTimer;

#[cfg(feature = "tokio")]
impl Timer for TokioTimer {
    type Sleep = TokioSleep;

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: Instant) -> TokioSleep {
        TokioSleep(Box::pin(tokio::time::sleep_until(deadline.into())))
    }
}

/// The [`Sleep`] of [`TokioTimer`].
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug)]
pub struct TokioSleep(Pin<Box<tokio::time::Sleep>>);

#[cfg(feature = "tokio")]
impl Future for TokioSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

#[cfg(feature = "tokio")]
impl Sleep for TokioSleep {
    fn reset(&mut self, deadline: Instant) {
        self.0.as_mut().reset(deadline.into());
    }
}

/// `now + after`, or a year from now when `after` is too long for an
/// `Instant` (`Duration::MAX` meaning "never"): never a panic.
pub(crate) fn later(now: Instant, after: Duration) -> Instant {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);
    now.checked_add(after)
        .or_else(|| now.checked_add(YEAR))
        .unwrap_or(now)
}

/// A lazily created, resettable deadline: the piece every timed adapter
/// shares.
#[derive(Debug)]
pub(crate) struct Deadline<T: Timer> {
    timer: T,
    sleep: Option<T::Sleep>,
    // The sleep is set to a deadline that has not fired yet.
    armed: bool,
}

impl<T: Timer> Deadline<T> {
    pub(crate) fn new(timer: T) -> Self {
        Self {
            timer,
            sleep: None,
            armed: false,
        }
    }

    pub(crate) fn now(&self) -> Instant {
        self.timer.now()
    }

    pub(crate) fn arm(&mut self, deadline: Instant) {
        match &mut self.sleep {
            Some(sleep) => sleep.reset(deadline),
            None => self.sleep = Some(self.timer.sleep_until(deadline)),
        }
        self.armed = true;
    }

    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }

    /// Whether a deadline is set and has not fired yet.
    pub(crate) fn is_armed(&self) -> bool {
        self.armed
    }

    /// Ready once when an armed deadline passes; it is then disarmed.
    pub(crate) fn poll_expired(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        match (&mut self.sleep, self.armed) {
            (Some(sleep), true) => {
                std::task::ready!(Pin::new(sleep).poll(cx));
                self.armed = false;
                std::task::Poll::Ready(())
            }
            _ => std::task::Poll::Pending,
        }
    }
}
