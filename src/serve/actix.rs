//! `Responder` for actix-web (feature `actix-web`).

use std::convert::Infallible;
use std::fmt::Display;

use actix_web::body::BoxBody;
use actix_web::http::header::ContentEncoding;
use actix_web::{HttpRequest, HttpResponse, Responder};
use futures_util::StreamExt;

use super::{Detached, HEADERS};
use crate::format::{ErrorResponse, Format};
use crate::{IntoDelta, SseStream, Timer, TokenStream};

/// The SSE response: [`HEADERS`] and the format's own, plus
/// `content-encoding: identity` so actix-web's `Compress` middleware leaves
/// the stream alone.
fn sse_response<S>(frames: S, format_headers: &[(&str, &str)]) -> HttpResponse
where
    S: futures_core::Stream<Item = bytes::Bytes> + 'static,
{
    let mut response = HttpResponse::Ok();
    for header in HEADERS.iter().chain(format_headers) {
        response.insert_header(*header);
    }
    response
        .insert_header(ContentEncoding::Identity)
        .streaming(frames.map(Ok::<_, Infallible>))
}

#[cfg_attr(docsrs, doc(cfg(feature = "actix-web")))]
impl<S, T, F> Responder for SseStream<S, T, F>
where
    S: TokenStream + 'static,
    S::Token: IntoDelta,
    S::Error: Display,
    T: Timer + 'static,
    F: Format + 'static,
{
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        let headers = self.response_headers();
        sse_response(self, headers)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "actix-web")))]
impl Responder for Detached {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        let headers = self.response_headers();
        sse_response(self, headers)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "actix-web")))]
impl Responder for ErrorResponse {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        let status = actix_web::http::StatusCode::from_u16(self.status())
            .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
        let mut response = HttpResponse::build(status);
        response.insert_header(("content-type", self.content_type()));
        if let Some(retry_after) = self.retry_after() {
            response.insert_header(("retry-after", retry_after.to_owned()));
        }
        response.body(self.body().to_owned())
    }
}

#[cfg(feature = "resume")]
mod resume {
    use actix_web::body::BoxBody;
    use actix_web::{HttpRequest, HttpResponse, Responder};

    use crate::resume::{ResumableStream, Resumed, StopError};

    #[cfg_attr(docsrs, doc(cfg(all(feature = "actix-web", feature = "resume"))))]
    impl Responder for ResumableStream {
        type Body = BoxBody;

        fn respond_to(self, _: &HttpRequest) -> HttpResponse {
            let headers = self.headers();
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            super::sse_response(self, &headers)
        }
    }

    #[cfg_attr(docsrs, doc(cfg(all(feature = "actix-web", feature = "resume"))))]
    impl Responder for Resumed {
        type Body = BoxBody;

        fn respond_to(self, request: &HttpRequest) -> HttpResponse {
            match (self.error_response(), self) {
                (_, Resumed::Stream(stream)) => stream.respond_to(request),
                (Some(error), _) => error.respond_to(request),
                (None, _) => HttpResponse::NoContent().finish(),
            }
        }
    }

    #[cfg_attr(docsrs, doc(cfg(all(feature = "actix-web", feature = "resume"))))]
    impl Responder for StopError {
        type Body = BoxBody;

        fn respond_to(self, request: &HttpRequest) -> HttpResponse {
            self.error_response().respond_to(request)
        }
    }
}
