//! [`DecodeStream`]: the decoder over a stream of body chunks.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use super::{DecodeError, Decoder, Frame};

pin_project! {
    /// Decodes a stream of body chunks (`Result<B, E>` where `B: AsRef<[u8]>`,
    /// such as a `reqwest` or `hyper` body stream) into [`Frame`]s.
    ///
    /// Upstream errors are passed on as [`DecodeStreamError::Upstream`] and
    /// decoding continues with the next chunk; an event still open when the
    /// upstream ends is dropped, as the spec says.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::{stream, StreamExt};
    /// use llm_sse::decode::{DecodeStream, Frame};
    ///
    /// # futures_util::FutureExt::now_or_never(async {
    /// let body = stream::iter(["data: {\"delta\":", "\"hi\"}\n\n", "data: [DONE]\n\n"])
    ///     .map(Ok::<_, std::io::Error>);
    /// let data: Vec<String> = DecodeStream::new(body)
    ///     .filter_map(|frame| async move {
    ///         match frame {
    ///             Ok(Frame::Event(event)) => event.data().map(str::to_owned),
    ///             _ => None,
    ///         }
    ///     })
    ///     .collect()
    ///     .await;
    /// assert_eq!(data, ["{\"delta\":\"hi\"}", "[DONE]"]);
    /// # }).unwrap();
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct DecodeStream<S> {
        #[pin]
        stream: S,
        decoder: Decoder,
        ended: bool,
        terminated: bool,
    }
}

/// The error item of a [`DecodeStream`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeStreamError<E> {
    /// The decoder dropped an event; decoding goes on.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The upstream body stream failed.
    #[error("reading the event stream failed")]
    Upstream(#[source] E),
}

impl<S> DecodeStream<S> {
    /// Decodes `stream` with a default [`Decoder`].
    pub fn new(stream: S) -> Self {
        Self::with_decoder(stream, Decoder::new())
    }

    /// Decodes `stream` with a configured `decoder`.
    pub fn with_decoder(stream: S, decoder: Decoder) -> Self {
        Self {
            stream,
            decoder,
            ended: false,
            terminated: false,
        }
    }

    /// The decoder, for its [`last_event_id`](Decoder::last_event_id).
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// A reference to the upstream stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// A mutable reference to the upstream stream.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// A pinned mutable reference to the upstream stream.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut S> {
        self.project().stream
    }

    /// The upstream stream; bytes not yet decoded are dropped.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S, B, E> Stream for DecodeStream<S>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
{
    type Item = Result<Frame, DecodeStreamError<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if let Some(frame) = this.decoder.next_frame() {
                return Poll::Ready(Some(frame.map_err(DecodeStreamError::Decode)));
            }
            if *this.ended {
                *this.terminated = true;
                return Poll::Ready(None);
            }
            match ready!(this.stream.as_mut().poll_next(cx)) {
                Some(Ok(chunk)) => this.decoder.feed(chunk.as_ref()),
                Some(Err(err)) => return Poll::Ready(Some(Err(DecodeStreamError::Upstream(err)))),
                None => *this.ended = true,
            }
        }
    }
}

impl<S, B, E> FusedStream for DecodeStream<S>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
{
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl<S: fmt::Debug> fmt::Debug for DecodeStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodeStream")
            .field("stream", &self.stream)
            .field("decoder", &self.decoder)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
