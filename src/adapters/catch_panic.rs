//! [`CatchPanic`]: a panic in the upstream becomes an error item.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use super::Slot;
use crate::error::Panicked;

pin_project! {
    /// Catches a panic while polling the upstream, yields it as a
    /// [`Panicked`] error and drops the upstream; see
    /// [`TokenStreamExt::catch_panic`](crate::TokenStreamExt::catch_panic).
    #[must_use = "streams do nothing unless polled"]
    pub struct CatchPanic<S> {
        #[pin]
        stream: Slot<S>,
        enabled: bool,
    }
}

impl<S> CatchPanic<S> {
    pub(crate) fn new(stream: S) -> Self {
        Self::with_enabled(stream, true)
    }

    /// `enabled: false` lets panics through, for pipelines with the stage
    /// turned off.
    pub(crate) fn with_enabled(stream: S, enabled: bool) -> Self {
        Self {
            stream: Slot::new(stream),
            enabled,
        }
    }

    /// A reference to the upstream stream, `None` once it panicked.
    pub fn get_ref(&self) -> Option<&S> {
        self.stream.get_ref()
    }

    /// A mutable reference to the upstream stream, `None` once it panicked.
    pub fn get_mut(&mut self) -> Option<&mut S> {
        self.stream.get_mut()
    }

    /// A pinned mutable reference to the upstream stream, `None` once it
    /// panicked.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Option<Pin<&mut S>> {
        self.project().stream.get_pin_mut()
    }

    /// The upstream stream, `None` once it panicked.
    pub fn into_inner(self) -> Option<S> {
        self.stream.into_inner()
    }
}

fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

impl<S, Tok, E> Stream for CatchPanic<S>
where
    S: Stream<Item = Result<Tok, E>>,
    E: From<Panicked>,
{
    type Item = Result<Tok, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let mut stream = this.stream;
        if !*this.enabled {
            return stream.poll_next(cx);
        }
        match catch_unwind(AssertUnwindSafe(|| stream.as_mut().poll_next(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                let message = message(payload.as_ref());
                // The upstream may be in any state now; its drop may panic too.
                // The slot is emptied even if the drop panics.
                let _ = catch_unwind(AssertUnwindSafe(|| stream.drop_stream()));
                Poll::Ready(Some(Err(Panicked { message }.into())))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (lower, upper) = self.stream.size_hint();
        (lower, upper.and_then(|u| u.checked_add(1)))
    }
}

impl<S, Tok, E> FusedStream for CatchPanic<S>
where
    S: Stream<Item = Result<Tok, E>> + FusedStream,
    E: From<Panicked>,
{
    fn is_terminated(&self) -> bool {
        self.stream
            .get_ref()
            .map_or(true, FusedStream::is_terminated)
    }
}

impl<S: fmt::Debug> fmt::Debug for CatchPanic<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatchPanic")
            .field("stream", &self.stream)
            .finish()
    }
}
