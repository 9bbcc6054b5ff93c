//! [`OnComplete`]: a callback with the summary, run off the response path.

use std::fmt;

use super::{Observer, StreamSummary};

/// Runs a task somewhere other than the response path.
pub trait Executor {
    /// Runs `task`, now or later, on this thread or another.
    fn execute(&self, task: Box<dyn FnOnce() + Send>);
}

/// Runs tasks at once, on the thread that ends the stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inline;

impl Executor for Inline {
    fn execute(&self, task: Box<dyn FnOnce() + Send>) {
        task();
    }
}

/// Runs tasks on the current tokio runtime's blocking pool
/// (`spawn_blocking`), off the async workers, so a slow write (a log file, a
/// database insert through a blocking client) delays no other stream; or
/// at once when there is no runtime (a stream dropped after its runtime shut
/// down).
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioExecutor;

#[cfg(feature = "tokio")]
impl Executor for TokioExecutor {
    fn execute(&self, task: Box<dyn FnOnce() + Send>) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(task);
            }
            Err(_) => task(),
        }
    }
}

/// Calls a function with the [`StreamSummary`] once the stream has ended,
/// through an [`Executor`], so a slow log write never delays the last frame.
///
/// Made by [`Builder::on_complete`](crate::Builder::on_complete); it runs
/// for every outcome, the client going away included.
pub struct OnComplete<F, X> {
    callback: Option<F>,
    executor: X,
}

impl<F, X> OnComplete<F, X>
where
    F: FnOnce(StreamSummary) + Send + 'static,
    X: Executor,
{
    /// Calls `callback` through `executor` when the stream ends.
    pub fn new(callback: F, executor: X) -> Self {
        Self {
            callback: Some(callback),
            executor,
        }
    }
}

impl<F, X> Observer for OnComplete<F, X>
where
    F: FnOnce(StreamSummary) + Send + 'static,
    X: Executor,
{
    fn on_end(&mut self, summary: &StreamSummary) {
        if let Some(callback) = self.callback.take() {
            let summary = summary.clone();
            self.executor.execute(Box::new(move || callback(summary)));
        }
    }
}

impl<F, X: fmt::Debug> fmt::Debug for OnComplete<F, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnComplete")
            .field("executor", &self.executor)
            .field("done", &self.callback.is_none())
            .finish_non_exhaustive()
    }
}
