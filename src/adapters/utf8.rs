//! [`Utf8`]: byte tokens to text, joining characters split between tokens.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

const REPLACEMENT: &str = "\u{FFFD}";

pin_project! {
    /// Decodes byte tokens as UTF-8; see
    /// [`TokenStreamExt::utf8`](crate::TokenStreamExt::utf8).
    #[must_use = "streams do nothing unless polled"]
    pub struct Utf8<S, E> {
        #[pin]
        stream: S,
        // The start of a character whose other bytes are in the next token.
        tail: [u8; 3],
        tail_len: u8,
        // An upstream error held back while the tail is flushed first.
        error: Option<E>,
        ended: bool,
    }
}

impl<S, E> Utf8<S, E> {
    pub(crate) fn new(stream: S) -> Self {
        Self {
            stream,
            tail: [0; 3],
            tail_len: 0,
            error: None,
            ended: false,
        }
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

    /// The upstream stream; bytes of an unfinished character are dropped.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

/// The length of the character a UTF-8 lead byte starts.
fn char_width(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// Appends `bytes` to `out`, invalid sequences as U+FFFD, and returns the
/// incomplete character at the end, if any.
fn decode_into<'a>(out: &mut String, mut bytes: &'a [u8]) -> &'a [u8] {
    loop {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                out.push_str(text);
                return &[];
            }
            Err(err) => {
                let (valid, rest) = bytes.split_at(err.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                match err.error_len() {
                    Some(invalid) => {
                        out.push_str(REPLACEMENT);
                        bytes = &rest[invalid..];
                    }
                    None => return rest,
                }
            }
        }
    }
}

/// Decodes `bytes` after `head`, keeping an unfinished character at the
/// end in `tail`; returns the text.
fn decode_tail(head: &mut String, bytes: &[u8], tail: &mut [u8; 3], tail_len: &mut u8) -> String {
    let rest = decode_into(head, bytes);
    tail[..rest.len()].copy_from_slice(rest);
    *tail_len = rest.len() as u8;
    std::mem::take(head)
}

impl<S, B, E> Stream for Utf8<S, E>
where
    S: Stream<Item = Result<B, E>>,
    B: Into<Bytes>,
{
    type Item = Result<String, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if let Some(err) = this.error.take() {
                return Poll::Ready(Some(Err(err)));
            }
            if *this.ended {
                return Poll::Ready(None);
            }
            let bytes = match ready!(this.stream.as_mut().poll_next(cx)) {
                Some(Ok(bytes)) => bytes,
                Some(Err(err)) => {
                    if *this.tail_len == 0 {
                        return Poll::Ready(Some(Err(err)));
                    }
                    *this.tail_len = 0;
                    *this.error = Some(err);
                    return Poll::Ready(Some(Ok(REPLACEMENT.to_owned())));
                }
                None => {
                    *this.ended = true;
                    if *this.tail_len == 0 {
                        return Poll::Ready(None);
                    }
                    *this.tail_len = 0;
                    return Poll::Ready(Some(Ok(REPLACEMENT.to_owned())));
                }
            };
            let mut bytes: Bytes = bytes.into();
            // Text that finishes a character split from the last token.
            let mut head = String::new();
            if *this.tail_len > 0 {
                let held = usize::from(*this.tail_len);
                let take = (char_width(this.tail[0]) - held).min(bytes.len());
                let mut joined = [0u8; 4];
                joined[..held].copy_from_slice(&this.tail[..held]);
                joined[held..held + take].copy_from_slice(&bytes[..take]);
                let rest = decode_into(&mut head, &joined[..held + take]);
                if rest.len() <= take {
                    // Any bytes left start a new character: decode them below.
                    bytes.advance(take - rest.len());
                    *this.tail_len = 0;
                } else {
                    // The whole token went into the still incomplete character.
                    this.tail[..rest.len()].copy_from_slice(rest);
                    *this.tail_len = rest.len() as u8;
                    bytes.clear();
                }
            }
            let text = if head.is_empty() {
                // The common case: the token is whole, valid text, checked
                // once; its buffer is reused when the token owns it alone.
                match String::from_utf8(Vec::from(bytes)) {
                    Ok(text) => text,
                    Err(err) => decode_tail(&mut head, &err.into_bytes(), this.tail, this.tail_len),
                }
            } else {
                decode_tail(&mut head, &bytes, this.tail, this.tail_len)
            };
            if !text.is_empty() {
                return Poll::Ready(Some(Ok(text)));
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (_, upper) = self.stream.size_hint();
        let extra = usize::from(self.tail_len > 0) + usize::from(self.error.is_some());
        (extra.min(1), upper.and_then(|u| u.checked_add(extra)))
    }
}

impl<S, B, E> FusedStream for Utf8<S, E>
where
    S: Stream<Item = Result<B, E>>,
    B: Into<Bytes>,
{
    fn is_terminated(&self) -> bool {
        self.ended && self.tail_len == 0 && self.error.is_none()
    }
}

impl<S: fmt::Debug, E> fmt::Debug for Utf8<S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Utf8")
            .field("stream", &self.stream)
            .field("held_bytes", &self.tail_len)
            .finish_non_exhaustive()
    }
}
