//! [`Detached`]: the finish-in-background disconnect policy.

use std::fmt::Display;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::format::Format;
use crate::{IntoDelta, SseStream, Timer, TokenStream};

/// The frames of an [`SseStream`] that runs to its end even if the client
/// goes away; made by [`SseStream::finish_on_disconnect`].
///
/// The stream runs in a tokio task and hands each frame over a channel of
/// one, so the client still sets the pace while it is there (backpressure is
/// kept: the task is at most one frame ahead). When the client goes away
/// (this value is dropped), the task keeps pulling the token stream to its
/// end and drops the frames, so usage accounting and completion hooks still
/// see the whole answer; the outcome is then
/// [`CompletedAfterDisconnect`](crate::observe::Outcome::CompletedAfterDisconnect).
/// Timeouts still apply; heartbeats are produced and dropped.
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Detached {
    frames: mpsc::Receiver<Bytes>,
    headers: &'static [(&'static str, &'static str)],
}

impl Detached {
    /// The headers the format's clients need besides the SSE ones, as
    /// [`SseStream::response_headers`].
    pub fn response_headers(&self) -> &'static [(&'static str, &'static str)] {
        self.headers
    }
}

impl Stream for Detached {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        self.frames.poll_recv(cx)
    }
}

impl<S, T, F> SseStream<S, T, F>
where
    S: TokenStream + Send + 'static,
    S::Token: IntoDelta + Send,
    S::Error: Display + Send,
    T: Timer + Send + 'static,
    T::Sleep: Send,
    F: Format + Send + 'static,
{
    /// The "finish in background" disconnect policy: runs this stream on the
    /// current tokio runtime to its end, whether or not the client stays.
    ///
    /// The default policy, without this call, is **cancel**: when the
    /// client goes away the response body is dropped, which drops the token
    /// stream at once, so the model stops generating and its cost stops;
    /// the outcome is `cancelled`. Finishing in background trades that cost
    /// for complete usage numbers, billing and completion logs (see
    /// [`Detached`]).
    ///
    /// # Panics
    ///
    /// If called outside a tokio runtime.
    pub fn finish_on_disconnect(self) -> Detached {
        let headers = self.response_headers();
        let (tx, frames) = mpsc::channel(1);
        tokio::spawn(async move {
            let mut stream = pin!(self);
            let mut client = Some(tx);
            while let Some(frame) = stream.next().await {
                if let Some(tx) = &client {
                    if tx.send(frame).await.is_err() {
                        client = None;
                        stream.as_mut().mark_disconnected();
                    }
                }
            }
        });
        Detached { frames, headers }
    }
}
