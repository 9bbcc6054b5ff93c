//! Helpers shared by the adapter tests: token sources on tokio's paused
//! clock, a drop flag, and a collector that notes when each item arrived.

#![allow(dead_code)] // each test binary uses a different subset

pub(crate) mod http;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{stream, Stream, StreamExt};
use tokio::time::Instant;

/// A model error for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelError(pub &'static str);

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ModelError {}

/// One step of a scripted model.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Yield this token at this many milliseconds after the start.
    At(u64, String),
    /// Fail at this time.
    FailAt(u64, &'static str),
    /// End at this time.
    EndAt(u64),
    /// Panic at this time.
    PanicAt(u64),
}

pub(crate) fn at(ms: u64, token: &str) -> Step {
    Step::At(ms, token.to_owned())
}

/// Sets a flag when dropped.
pub(crate) struct DropFlag(pub Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

pub(crate) fn drop_flag() -> (Arc<AtomicBool>, DropFlag) {
    let flag = Arc::new(AtomicBool::new(false));
    (flag.clone(), DropFlag(flag))
}

/// A token stream that follows `steps` on tokio's clock, measured from the
/// moment this is called, and sets `dropped` when it is dropped.
pub(crate) fn scripted(
    steps: Vec<Step>,
    guard: Option<DropFlag>,
) -> impl Stream<Item = Result<String, ModelError>> + Send + Unpin {
    let start = Instant::now();
    Box::pin(stream::unfold(
        (steps.into_iter(), guard),
        move |(mut steps, guard)| async move {
            let step = steps.next()?;
            let (ms, item) = match step {
                Step::At(ms, token) => (ms, Some(Ok(token))),
                Step::FailAt(ms, msg) => (ms, Some(Err(ModelError(msg)))),
                Step::EndAt(ms) => (ms, None),
                Step::PanicAt(ms) => {
                    tokio::time::sleep_until(start + Duration::from_millis(ms)).await;
                    panic!("model exploded");
                }
            };
            tokio::time::sleep_until(start + Duration::from_millis(ms)).await;
            item.map(|item| (item, (steps, guard)))
        },
    ))
}

/// Collects a stream, noting the milliseconds since the call at which each
/// item arrived.
pub(crate) async fn timed<S: Stream + Unpin>(mut stream: S) -> Vec<(u64, S::Item)> {
    let start = Instant::now();
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        out.push((start.elapsed().as_millis() as u64, item));
    }
    out
}

/// Frames as text, for comparing.
pub(crate) fn texts(frames: Vec<(u64, bytes::Bytes)>) -> Vec<(u64, String)> {
    frames
        .into_iter()
        .map(|(t, b)| (t, String::from_utf8(b.to_vec()).expect("frames are UTF-8")))
        .collect()
}

/// A scripted model's token.
pub(crate) type Token = Result<String, ModelError>;

/// A token stream fed by the test through a channel, that flags its drop.
pub(crate) fn channel_tokens() -> (
    tokio::sync::mpsc::UnboundedSender<Token>,
    impl Stream<Item = Token> + Send + 'static,
    Arc<AtomicBool>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let dropped = Arc::new(AtomicBool::new(false));
    let guard = DropFlag(dropped.clone());
    let tokens = stream::unfold((rx, guard), |(mut rx, guard)| async move {
        rx.recv().await.map(|token| (token, (rx, guard)))
    });
    (tx, tokens, dropped)
}
