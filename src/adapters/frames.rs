//! [`Frames`]: chunks to frames in a [`Format`], the terminal error frame
//! and the end marker.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use super::{Chunk, FrameTag, Slot, TaggedFrame};
use crate::delta::TokenCounts;
use crate::format::{Failure, Format};
use crate::{Error, Event};

/// A user's error frame, replacing the format's.
pub(crate) type OnError<E> = Box<dyn Fn(&Error<E>) -> Event + Send + Sync>;

/// Writes the error frame: the format's, or the user's.
pub(crate) enum ErrorFormatter<E> {
    Format,
    Custom(OnError<E>),
}

pin_project! {
    /// Writes chunks as frames in a [`Format`]: an error becomes the
    /// format's terminal error frame and ends the stream (the upstream is
    /// dropped at once), and a normal end becomes the format's end frames
    /// and end marker; see [`TokenStreamExt::frames`](crate::TokenStreamExt::frames).
    ///
    /// Each item is one write: the format's start frames (on the first
    /// poll, if it has any), the frames of one chunk, the end, or the error.
    #[must_use = "streams do nothing unless polled"]
    pub struct Frames<S, F, E> {
        #[pin]
        stream: Slot<S>,
        format: F,
        on_error: ErrorFormatter<E>,
        // A replaced end marker; `None` writes the format's own. Boxed:
        // most streams never replace it, and each open stream holds this.
        end_marker: Option<Box<Option<Bytes>>>,
        buf: BytesMut,
        started: bool,
        ended: bool,
        counted: TokenCounts,
    }
}

impl<S, F: Format, E> Frames<S, F, E> {
    pub(crate) fn new(stream: S, format: F) -> Self {
        Self {
            stream: Slot::new(stream),
            end_marker: None,
            format,
            on_error: ErrorFormatter::Format,
            buf: BytesMut::new(),
            started: false,
            ended: false,
            counted: TokenCounts::default(),
        }
    }
}

impl<S, F, E> Frames<S, F, E> {
    /// Replaces the format's error frame: `on_error` turns the error into
    /// the event sent as the stream's last frame.
    pub fn on_error(
        mut self,
        on_error: impl Fn(&Error<E>) -> Event + Send + Sync + 'static,
    ) -> Self {
        self.on_error = ErrorFormatter::Custom(Box::new(on_error));
        self
    }

    /// Replaces the format's end marker (`data: [DONE]` for most); `None`
    /// sends none.
    pub fn end_marker(mut self, marker: Option<Event>) -> Self {
        self.end_marker = Some(Box::new(marker.map(|event| event.to_bytes())));
        self
    }

    pub(crate) fn set_error_formatter(&mut self, on_error: ErrorFormatter<E>) {
        self.on_error = on_error;
    }

    /// The format the frames are written in.
    pub(crate) fn format(&self) -> &F {
        &self.format
    }

    pub(crate) fn set_end_marker(&mut self, marker: Option<Bytes>) {
        self.end_marker = Some(Box::new(marker));
    }

    /// A reference to the upstream stream, `None` once the stream ended.
    pub fn get_ref(&self) -> Option<&S> {
        self.stream.get_ref()
    }

    /// A mutable reference to the upstream stream, `None` once the stream
    /// ended.
    pub fn get_mut(&mut self) -> Option<&mut S> {
        self.stream.get_mut()
    }

    /// A pinned mutable reference to the upstream stream, `None` once the
    /// stream ended.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Option<Pin<&mut S>> {
        self.project().stream.get_pin_mut()
    }

    /// The upstream stream, `None` once the stream ended.
    pub fn into_inner(self) -> Option<S> {
        self.stream.into_inner()
    }
}

impl<S, C, F, E> Stream for Frames<S, F, E>
where
    S: Stream<Item = Result<C, Error<E>>>,
    C: Into<Chunk>,
    F: Format,
    E: fmt::Display,
{
    type Item = TaggedFrame;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<TaggedFrame>> {
        let mut this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        if !*this.started {
            // The start frames go out at once, before the model's first
            // token exists, as the providers' own APIs send them.
            *this.started = true;
            this.format.write_start(this.buf);
            if !this.buf.is_empty() {
                let start = this.buf.split().freeze();
                return Poll::Ready(Some(TaggedFrame::new(start, FrameTag::Start)));
            }
        }
        let Poll::Ready(next) = this.stream.as_mut().poll_next(cx) else {
            // About to wait: let go of the buffer, so a waiting stream holds
            // no frame memory (the frame in flight keeps its own bytes).
            // Frames that come without a wait reuse it instead.
            debug_assert!(this.buf.is_empty(), "every frame written went out");
            *this.buf = BytesMut::new();
            return Poll::Pending;
        };
        let tag = match next {
            Some(Ok(chunk)) => {
                let chunk: Chunk = chunk.into();
                this.format.write_delta(chunk.delta(), this.buf);
                this.counted
                    .add(chunk.delta().kind(), chunk.tokens() as u64);
                FrameTag::Delta(chunk)
            }
            Some(Err(error)) => {
                *this.ended = true;
                this.stream.drop_stream();
                let failure = Failure::from_error(&error);
                match this.on_error {
                    ErrorFormatter::Format => this.format.write_error(&failure, this.buf),
                    ErrorFormatter::Custom(on_error) => {
                        let event = on_error(&error);
                        this.buf.reserve(event.encoded_len());
                        event.encode(this.buf);
                    }
                }
                FrameTag::Error(failure)
            }
            None => {
                *this.ended = true;
                this.stream.drop_stream();
                this.format.write_end(this.counted, this.buf);
                let marker = match this.end_marker.take() {
                    Some(replaced) => *replaced,
                    None => this.format.end_marker(),
                };
                if let Some(marker) = marker {
                    this.buf.put_slice(&marker);
                }
                FrameTag::End
            }
        };
        Poll::Ready(Some(TaggedFrame::new(this.buf.split().freeze(), tag)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.ended {
            return (0, Some(0));
        }
        let (lower, upper) = self.stream.size_hint();
        // The end or error frame, and the start frames if not sent yet.
        let more = 1 + usize::from(!self.started);
        (
            lower.saturating_add(1),
            upper.and_then(|u| u.checked_add(more)),
        )
    }
}

impl<S, C, F, E> FusedStream for Frames<S, F, E>
where
    S: Stream<Item = Result<C, Error<E>>>,
    C: Into<Chunk>,
    F: Format,
    E: fmt::Display,
{
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl<S: fmt::Debug, F: fmt::Debug, E> fmt::Debug for Frames<S, F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frames")
            .field("stream", &self.stream)
            .field("format", &self.format)
            .field("end_marker", &self.end_marker)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
