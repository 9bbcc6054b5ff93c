//! `IntoResponse` for axum (feature `axum`).

use std::fmt::Display;

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};

use super::body::response_with;
use super::Detached;
use crate::format::{ErrorResponse, Format};
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
        self.into_http_response().map(Body::new)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl IntoResponse for Detached {
    fn into_response(self) -> Response {
        let headers = self.response_headers();
        response_with(self, headers).map(Body::new)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        self.into_http_response().map(Body::new)
    }
}

#[cfg(feature = "resume")]
mod resume {
    use axum_core::body::Body;
    use axum_core::response::{IntoResponse, Response};
    use http::StatusCode;

    use super::response_with;
    use crate::resume::{ResumableStream, Resumed, StopError};

    #[cfg_attr(docsrs, doc(cfg(all(feature = "axum", feature = "resume"))))]
    impl IntoResponse for ResumableStream {
        fn into_response(self) -> Response {
            let headers = self.headers();
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            response_with(self, &headers).map(Body::new)
        }
    }

    #[cfg_attr(docsrs, doc(cfg(all(feature = "axum", feature = "resume"))))]
    impl IntoResponse for Resumed {
        fn into_response(self) -> Response {
            match (self.error_response(), self) {
                (_, Resumed::Stream(stream)) => stream.into_response(),
                (Some(error), _) => error.into_response(),
                (None, _) => StatusCode::NO_CONTENT.into_response(),
            }
        }
    }

    #[cfg_attr(docsrs, doc(cfg(all(feature = "axum", feature = "resume"))))]
    impl IntoResponse for StopError {
        fn into_response(self) -> Response {
            self.error_response().into_response()
        }
    }
}
