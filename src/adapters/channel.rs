//! [`ChannelStream`]: a tokio channel's receiving end as a stream.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

/// The receiving end of a tokio `mpsc` channel as a `Stream`, so a channel
/// of `Result<Delta, E>` (or of text tokens) is a
/// [`TokenStream`](crate::TokenStream) with no extra crate; made by
/// [`SseStream::from_receiver`](crate::SseStream::from_receiver) or
/// [`ChannelStream::new`].
///
/// The stream ends when every sender is dropped and the channel is empty.
/// Dropping it closes the channel, so a sender sees the client leave at its
/// next send.
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct ChannelStream<T> {
    receiver: mpsc::Receiver<T>,
}

impl<T> ChannelStream<T> {
    /// The items `receiver` receives, as a stream.
    pub fn new(receiver: mpsc::Receiver<T>) -> Self {
        Self { receiver }
    }

    /// The channel's receiving end.
    pub fn into_inner(self) -> mpsc::Receiver<T> {
        self.receiver
    }
}

impl<T> Stream for ChannelStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.receiver.poll_recv(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.receiver.len(), None)
    }
}
