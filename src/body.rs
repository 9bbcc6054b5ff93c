//! A framework-agnostic response body (feature `http-body`): frames as an
//! [`http_body::Body`], and an [`http::Response`] with the headers SSE needs.
//!
//! # Headers
//!
//! [`response`] sets:
//!
//! - `content-type: text/event-stream`;
//! - `cache-control: no-cache, no-transform`: no cache keeps a copy, and
//!   `no-transform` asks proxies not to re-encode (compress) the stream;
//! - `x-accel-buffering: no`: nginx passes each frame on at once instead of
//!   buffering the response (the header applies only to this response, so
//!   other routes keep nginx buffering);
//!
//! and never `content-length` (the length is unknown) or `connection`
//! (forbidden in HTTP/2; HTTP/1.1 keeps the connection open by default).
//!
//! # Compression
//!
//! A compressor holds bytes until it has enough to compress, which stalls
//! every token. tower-http's `CompressionLayer` skips `text/event-stream`
//! responses by default since 0.5.2; with an older version, or a custom
//! predicate, exclude the content type yourself. actix-web's `Compress`
//! skips responses that already carry a `content-encoding`, which the
//! actix-web integration sets to `identity`. nginx's `gzip` does not list
//! `text/event-stream` in `gzip_types` unless you add it: don't.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http::header::{HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;

/// `x-accel-buffering`, nginx's per-response buffering switch.
const X_ACCEL_BUFFERING: &str = "x-accel-buffering";

pin_project! {
    /// A stream of SSE frames as an [`http_body::Body`] for hyper and any
    /// stack built on it. Each frame becomes one DATA frame (or HTTP/1.1
    /// chunk), sent as soon as it exists; the body is polled only when the
    /// connection can take more, so a slow client slows the token stream.
    #[must_use = "bodies do nothing unless polled"]
    pub struct SseBody<S> {
        #[pin]
        stream: S,
    }
}

impl<S> SseBody<S> {
    /// The frames of `stream` as a body.
    pub fn new(stream: S) -> Self {
        Self { stream }
    }

    /// The stream of frames.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: Stream<Item = Bytes>> http_body::Body for SseBody<S> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.project()
            .stream
            .poll_next(cx)
            .map(|frame| frame.map(|bytes| Ok(Frame::data(bytes))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl<S> fmt::Debug for SseBody<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseBody").finish_non_exhaustive()
    }
}

/// Sets the SSE response headers (see the [module docs](self)) in
/// `headers`, replacing any values they had.
pub fn set_headers(headers: &mut HeaderMap) {
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-transform"),
    );
    headers.insert(X_ACCEL_BUFFERING, HeaderValue::from_static("no"));
}

/// A `200 OK` response with the SSE headers and `stream`'s frames as its
/// body.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use futures_util::stream;
///
/// let frames = stream::iter([Bytes::from_static(b"data: hi\n\n")]);
/// let response = llm_sse::body::response(frames);
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
/// assert_eq!(response.headers()["x-accel-buffering"], "no");
/// assert!(response.headers().get("content-length").is_none());
/// ```
pub fn response<S: Stream<Item = Bytes>>(stream: S) -> http::Response<SseBody<S>> {
    let mut response = http::Response::new(SseBody::new(stream));
    set_headers(response.headers_mut());
    response
}
