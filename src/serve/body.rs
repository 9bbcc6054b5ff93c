//! [`SseBody`]: frames as an `http_body::Body` (feature `http-body`).

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;

use super::HEADERS;

pin_project! {
    /// A stream of SSE frames as an [`http_body::Body`] for hyper and any
    /// stack built on it. Each frame becomes one DATA frame (or HTTP/1.1
    /// chunk), sent as soon as it exists; the body is polled only when the
    /// connection can take more, so a slow client slows the token stream.
    #[cfg_attr(docsrs, doc(cfg(feature = "http-body")))]
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

/// Sets the SSE response [`HEADERS`] in `headers`, replacing any values
/// they had.
#[cfg_attr(docsrs, doc(cfg(feature = "http-body")))]
pub fn set_headers(headers: &mut HeaderMap) {
    for (name, value) in HEADERS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}

/// A `200 OK` response with the SSE headers and `stream`'s frames as its
/// body.
///
/// For an [`SseStream`](crate::SseStream), whose format may need headers of
/// its own (the Vercel UI stream does), use
/// [`SseStream::into_http_response`](crate::SseStream::into_http_response).
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use futures_util::stream;
///
/// let frames = stream::iter([Bytes::from_static(b"data: hi\n\n")]);
/// let response = llm_sse::serve::response(frames);
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
/// assert_eq!(response.headers()["x-accel-buffering"], "no");
/// assert!(response.headers().get("content-length").is_none());
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "http-body")))]
pub fn response<S: Stream<Item = Bytes>>(stream: S) -> http::Response<SseBody<S>> {
    let mut response = http::Response::new(SseBody::new(stream));
    set_headers(response.headers_mut());
    response
}

/// [`response`] with `extra` headers too; a pair that is not a valid header
/// is left out rather than a panic.
pub(crate) fn response_with<S: Stream<Item = Bytes>>(
    stream: S,
    extra: &[(&str, &str)],
) -> http::Response<SseBody<S>> {
    let mut response = response(stream);
    for (name, value) in extra {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(*name), HeaderValue::try_from(*value))
        {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

impl<S, T, F> crate::SseStream<S, T, F>
where
    S: crate::TokenStream,
    S::Token: crate::IntoDelta,
    S::Error: std::fmt::Display,
    T: crate::Timer,
    F: crate::format::Format,
{
    /// A `200 OK` [`http::Response`] with the SSE headers, the format's own
    /// ([`response_headers`](crate::SseStream::response_headers)), and this
    /// stream as its body, for hyper and any stack built on it.
    #[cfg_attr(docsrs, doc(cfg(feature = "http-body")))]
    pub fn into_http_response(self) -> http::Response<SseBody<Self>> {
        let headers = self.response_headers();
        response_with(self, headers)
    }
}
