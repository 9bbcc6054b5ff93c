//! `IntoResponse` for axum (feature `axum`).

use std::fmt::Display;

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};

use crate::adapters::Format;
use crate::body::response;
use crate::observe::Observer;
use crate::{Detached, SseStream, Timer, TokenStream};

#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl<S, T, F, O> IntoResponse for SseStream<S, T, F, O>
where
    S: TokenStream + Send + 'static,
    S::Token: AsRef<str> + Into<String> + Send,
    S::Error: Display + Send,
    T: Timer + Send + 'static,
    T::Sleep: Send,
    F: Format + Send + 'static,
    O: Observer + Send + 'static,
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
