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
        response(self).map(Body::new)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl IntoResponse for Detached {
    fn into_response(self) -> Response {
        response(self).map(Body::new)
    }
}
