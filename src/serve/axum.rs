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

    use crate::resume::{ResumableStream, Resumed, StopError};
    use crate::serve::body::response;

    #[cfg_attr(docsrs, doc(cfg(all(feature = "axum", feature = "resume"))))]
    impl IntoResponse for ResumableStream {
        fn into_response(self) -> Response {
            let headers: Vec<(String, String)> = self
                .response_headers()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect();
            let mut response = response(self).map(Body::new);
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) = (
                    http::HeaderName::try_from(name),
                    http::HeaderValue::try_from(value),
                ) {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
    }

    #[cfg_attr(docsrs, doc(cfg(all(feature = "axum", feature = "resume"))))]
    impl IntoResponse for Resumed {
        fn into_response(self) -> Response {
            let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::NO_CONTENT);
            match (self.error_body(), self) {
                (_, Resumed::Stream(stream)) => stream.into_response(),
                (Some(body), _) => {
                    (status, [("content-type", "application/json")], body).into_response()
                }
                (None, _) => status.into_response(),
            }
        }
    }

    #[cfg_attr(docsrs, doc(cfg(all(feature = "axum", feature = "resume"))))]
    impl IntoResponse for StopError {
        fn into_response(self) -> Response {
            let status =
                StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, self.to_string()).into_response()
        }
    }
}
