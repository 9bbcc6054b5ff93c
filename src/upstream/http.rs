//! Reading an upstream `http::Response` (feature `http-body`).

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_core::Stream;
use http_body::Body;

use super::error::{BoxError, UpstreamError, MAX_ERROR_BODY};
use super::{parse, Deltas, Parser};

/// Parses an upstream's `response` with `parser`: the body as
/// [`Deltas`] when the status is a success, else the status, the
/// provider's error message and its `retry-after` header as
/// [`UpstreamError::Status`].
///
/// Works with any `http_body::Body`: hyper's and hyper-util's client
/// responses, reqwest's (through `http::Response::from`), axum's.
///
/// # Errors
///
/// [`UpstreamError::Status`] for a status other than success (the first
/// 64 KiB of its body are read for the message), or
/// [`UpstreamError::Transport`] when that body cannot be read.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "openai")]
/// # futures_util::FutureExt::now_or_never(async {
/// use llm_sse::upstream::{self, OpenAiChatParser};
///
/// let body = r#"{"error":{"message":"Rate limit reached","type":"requests"}}"#;
/// let response = http::Response::builder()
///     .status(429)
///     .header("retry-after", "20")
///     .body(body.to_owned())
///     .unwrap();
/// let error = upstream::from_response(response, OpenAiChatParser::new()).await.unwrap_err();
/// assert_eq!((error.status(), error.retry_after()), (429, Some("20")));
/// assert_eq!(error.message(), "Rate limit reached");
/// # }).unwrap();
/// ```
pub async fn from_response<B, P>(
    response: http::Response<B>,
    parser: P,
) -> Result<Deltas<BodyChunks<B>, P>, UpstreamError>
where
    B: Body + Unpin,
    B::Error: Into<BoxError>,
    P: Parser,
{
    let (parts, body) = response.into_parts();
    let mut chunks = BodyChunks { body };
    if parts.status.is_success() {
        return Ok(parse(chunks, parser));
    }
    let mut text = BytesMut::new();
    while text.len() < MAX_ERROR_BODY {
        let next = std::future::poll_fn(|cx| Pin::new(&mut chunks).poll_next(cx)).await;
        match next {
            Some(Ok(chunk)) => text.extend_from_slice(&chunk),
            Some(Err(error)) => return Err(UpstreamError::Transport(error.into())),
            None => break,
        }
    }
    let retry_after = parts
        .headers
        .get(http::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok());
    Err(UpstreamError::from_status(
        parts.status.as_u16(),
        &text,
        retry_after,
    ))
}

/// The data chunks of an `http_body::Body`, as a `Stream`; trailers are
/// skipped.
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct BodyChunks<B> {
    body: B,
}

impl<B> BodyChunks<B> {
    /// The chunks of `body`.
    pub fn new(body: B) -> Self {
        Self { body }
    }
}

impl<B> Stream for BodyChunks<B>
where
    B: Body + Unpin,
{
    type Item = Result<Bytes, B::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(mut data) = frame.into_data() {
                        let len = data.remaining();
                        if len > 0 {
                            return Poll::Ready(Some(Ok(data.copy_to_bytes(len))));
                        }
                    }
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => return Poll::Ready(None),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, None)
    }
}
