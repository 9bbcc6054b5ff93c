//! The stream adapters, each usable alone through
//! [`TokenStreamExt`](crate::TokenStreamExt) and
//! [`FrameStreamExt`](crate::FrameStreamExt), and composed in the right order
//! by [`SseStream::builder`](crate::SseStream::builder).
//!
//! In pipeline order: [`Utf8`] joins byte tokens split inside a character,
//! [`CatchPanic`] turns a panic into an error, [`Timeout`] enforces time to
//! first token, idle gap and deadline, [`Batched`] coalesces tokens without
//! ever delaying the first one, [`Frames`] encodes chunks, the terminal error
//! event and the end marker, and [`Heartbeat`] fills silences with comments.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;

mod batch;
mod catch_panic;
pub(crate) mod frames;
mod heartbeat;
mod timeout;
mod utf8;

pub use batch::{Batch, Batched, Chunk};
pub use catch_panic::CatchPanic;
pub use frames::{ChunkText, Format, Frames, JsonDelta, Text};
pub use heartbeat::Heartbeat;
pub use timeout::{Timeout, Timeouts};
pub use utf8::{Utf8, Utf8Bytes};

pin_project! {
    /// An upstream that can be dropped in place, so an adapter that ends a
    /// stream early releases the upstream (and stops the model) at once.
    #[project = SlotProj]
    #[derive(Debug)]
    pub(crate) enum Slot<S> {
        Live { #[pin] stream: S },
        Dropped,
    }
}

impl<S> Slot<S> {
    pub(crate) fn new(stream: S) -> Self {
        Slot::Live { stream }
    }

    pub(crate) fn get_ref(&self) -> Option<&S> {
        match self {
            Slot::Live { stream } => Some(stream),
            Slot::Dropped => None,
        }
    }

    pub(crate) fn get_mut(&mut self) -> Option<&mut S> {
        match self {
            Slot::Live { stream } => Some(stream),
            Slot::Dropped => None,
        }
    }

    pub(crate) fn get_pin_mut(self: Pin<&mut Self>) -> Option<Pin<&mut S>> {
        match self.project() {
            SlotProj::Live { stream } => Some(stream),
            SlotProj::Dropped => None,
        }
    }

    pub(crate) fn into_inner(self) -> Option<S> {
        match self {
            Slot::Live { stream } => Some(stream),
            Slot::Dropped => None,
        }
    }

    /// Drops the upstream now.
    pub(crate) fn drop_stream(mut self: Pin<&mut Self>) {
        self.set(Slot::Dropped);
    }
}

impl<S: Stream> Slot<S> {
    pub(crate) fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        match self.project() {
            SlotProj::Live { stream } => stream.poll_next(cx),
            SlotProj::Dropped => Poll::Ready(None),
        }
    }

    pub(crate) fn size_hint(&self) -> (usize, Option<usize>) {
        self.get_ref().map_or((0, Some(0)), Stream::size_hint)
    }
}
