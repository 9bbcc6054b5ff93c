//! `Responder` for actix-web (feature `actix-web`).

use std::convert::Infallible;
use std::fmt::Display;

use actix_web::body::BoxBody;
use actix_web::http::header::{self, ContentEncoding};
use actix_web::{HttpRequest, HttpResponse, Responder};
use futures_util::StreamExt;

use crate::adapters::Format;
use crate::observe::Observer;
use crate::{Detached, SseStream, Timer, TokenStream};

/// The SSE response: the headers of [`body::set_headers`](crate::body),
/// plus `content-encoding: identity` so actix-web's `Compress` middleware
/// leaves the stream alone.
fn sse_response<S>(frames: S) -> HttpResponse
where
    S: futures_core::Stream<Item = bytes::Bytes> + 'static,
{
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache, no-transform"))
        .insert_header(("x-accel-buffering", "no"))
        .insert_header(ContentEncoding::Identity)
        .streaming(frames.map(Ok::<_, Infallible>))
}

#[cfg_attr(docsrs, doc(cfg(feature = "actix-web")))]
impl<S, T, F, O> Responder for SseStream<S, T, F, O>
where
    S: TokenStream + 'static,
    S::Token: AsRef<str> + Into<String>,
    S::Error: Display,
    T: Timer + 'static,
    F: Format + 'static,
    O: Observer + 'static,
{
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        sse_response(self)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "actix-web")))]
impl Responder for Detached {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        sse_response(self)
    }
}
