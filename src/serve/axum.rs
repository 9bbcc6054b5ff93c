//! `IntoResponse` for axum (feature `axum`).

use std::fmt::Display;

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};

use super::{response, Detached};
use crate::format::Format;
use crate::{IntoDelta, SseStream, Timer, TokenStream};

#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl<S, T, F> IntoResponse for SseStream<S, T, F>
where
    S: TokenStream + Send + 'static,
    S::Token: IntoDelta + Send,
    S::Error: Display + Send,
    T: Timer + Send + 'static,
    T::Sleep: Send,
    F: Format + Send + 'static,
{
    fn into_response(self) -> Response {
        let headers = self.response_headers();
        with_headers(response(self).map(Body::new), headers)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl IntoResponse for Detached {
    fn into_response(self) -> Response {
        let headers = self.response_headers();
        with_headers(response(self).map(Body::new), headers)
    }
}

/// `response` with the format's own headers added.
fn with_headers(
    mut response: Response,
    headers: &'static [(&'static str, &'static str)],
) -> Response {
    for (name, value) in headers {
        response.headers_mut().insert(
            http::HeaderName::from_static(name),
            http::HeaderValue::from_static(value),
        );
    }
    response
}
