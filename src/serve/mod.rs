//! Serving a stream: the response headers SSE needs, a generic
//! `http_body::Body` (feature `http-body`), `IntoResponse` for axum
//! (feature `axum`), `Responder` for actix-web (feature `actix-web`), and
//! [`Detached`] streams that outlive their client (feature `tokio`).
//!
//! # Headers
//!
//! Every integration sends [`HEADERS`]:
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

#[cfg(feature = "actix-web")]
mod actix;
#[cfg(feature = "axum")]
mod axum;
#[cfg(feature = "http-body")]
mod body;
#[cfg(feature = "tokio")]
mod detached;

#[cfg(feature = "http-body")]
pub use body::{response, set_headers, SseBody};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use detached::Detached;

/// The media type of an SSE response.
pub const TEXT_EVENT_STREAM: &str = "text/event-stream";

/// The response headers of an SSE stream, as lower-case names and values.
///
/// # Examples
///
/// ```
/// use llm_sse::serve::{HEADERS, TEXT_EVENT_STREAM};
///
/// assert!(HEADERS.contains(&("content-type", TEXT_EVENT_STREAM)));
/// ```
pub const HEADERS: [(&str, &str); 3] = [
    ("content-type", TEXT_EVENT_STREAM),
    ("cache-control", "no-cache, no-transform"),
    ("x-accel-buffering", "no"),
];
