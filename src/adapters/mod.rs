//! The stream adapters, each usable alone through
//! [`TokenStreamExt`](crate::TokenStreamExt) and
//! [`FrameStreamExt`](crate::FrameStreamExt), and composed in the right order
//! by [`SseStream::builder`](crate::SseStream::builder).
//!
//! In pipeline order: [`Utf8`] joins byte tokens split inside a character,
//! [`CatchPanic`] turns a panic into an error, [`Timeout`] enforces time to
//! first token, idle gap and deadline, [`Batched`] coalesces deltas of one
//! kind without ever delaying the first one, [`Frames`] writes them in a
//! [`Format`](crate::format::Format) with its terminal error frame and end
//! marker, [`Heartbeat`] fills silences, and [`Observe`] reports what went
//! out to [`Observer`](crate::observe::Observer)s.
//!
//! From [`Frames`] on, items are [`TaggedFrame`]s: the bytes of a frame and
//! what they carry, so later stages (and your own) know a heartbeat from a
//! chunk without looking at bytes.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use pin_project_lite::pin_project;

use crate::format::Failure;

mod batch;
mod catch_panic;
#[cfg(feature = "tokio")]
mod channel;
mod flush_channel;
mod frames;
mod heartbeat;
mod observe;
mod timeout;
mod utf8;

pub use batch::{Batch, Batched, Chunk};
pub use catch_panic::CatchPanic;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use channel::ChannelStream;
pub use flush_channel::{flush_channel, FlushReceiver, FlushSender, TrySendError};
pub use frames::Frames;
pub use heartbeat::Heartbeat;
pub use observe::Observe;
pub use timeout::{Timeout, Timeouts};
pub use utf8::Utf8;

pub(crate) use frames::ErrorFormatter;

/// One frame's bytes and what they carry: what [`Frames`], [`Heartbeat`]
/// and [`Observe`] pass on.
///
/// The bytes may be empty when a format keeps a delta for later (OpenAI
/// Chat sends usage at the end); [`SseStream`](crate::SseStream) never
/// writes an empty frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedFrame {
    bytes: Bytes,
    tag: FrameTag,
}

impl TaggedFrame {
    /// A frame of `bytes` that carries `tag`.
    pub fn new(bytes: Bytes, tag: FrameTag) -> Self {
        Self { bytes, tag }
    }

    /// The encoded frame.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// What the frame carries.
    pub fn tag(&self) -> &FrameTag {
        &self.tag
    }

    /// The encoded frame, without a copy.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }
}

/// What a [`TaggedFrame`] carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameTag {
    /// The format's start frames, written on the stream's first poll.
    Start,
    /// A (batched) delta.
    Delta(Chunk),
    /// A heartbeat, or the initial comment.
    Heartbeat,
    /// The terminal error frame; the stream ends after it.
    Error(Failure),
    /// The format's end frames and end marker after a normal end; the
    /// stream ends after it.
    End,
}

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
