//! [`ErrorResponse`]: an error answered with an HTTP status instead of a
//! stream, in a format's own error shape.

use bytes::BytesMut;

use super::json_writer::JsonObject;

/// An error answered with an HTTP status in place of a stream, while no
/// byte of the stream has been sent: a status, a body in the error shape
/// the format's clients read, and an optional `retry-after`.
///
/// [`Format::error_response`](super::Format::error_response) makes one per
/// format. It is an axum `IntoResponse` (feature `axum`), an actix-web
/// `Responder` (feature `actix-web`), and an `http::Response` through
/// `into_http_response` (feature `http-body`).
///
/// # Examples
///
/// ```
/// use llm_sse::format::ErrorResponse;
///
/// let response = ErrorResponse::openai(429, "Rate limit reached").with_retry_after(Some("20"));
/// assert_eq!(response.status(), 429);
/// assert_eq!(response.content_type(), "application/json");
/// assert_eq!(
///     response.body(),
///     r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#
/// );
/// assert_eq!(response.retry_after(), Some("20"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    status: u16,
    content_type: &'static str,
    body: String,
    retry_after: Option<String>,
}

impl ErrorResponse {
    /// `status` with `body` of `content_type`. A status outside
    /// `400..=599` becomes `500`: an error response is never a success.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<String>) -> Self {
        Self {
            status: if (400..=599).contains(&status) {
                status
            } else {
                500
            },
            content_type,
            body: body.into(),
            retry_after: None,
        }
    }

    /// OpenAI's error object, `{"error":{"message","type","param","code"}}`,
    /// with the `type` OpenAI sends for `status` (and the `code`
    /// `rate_limit_exceeded` for a 429): what the official OpenAI clients
    /// turn into their error types, and the default of every format.
    pub fn openai(status: u16, message: &str) -> Self {
        let error_type = match status {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "requests",
            400..=499 => "invalid_request_error",
            _ => "server_error",
        };
        let mut buf = BytesMut::with_capacity(message.len() + 96);
        let mut outer = JsonObject::open(&mut buf);
        let mut error = JsonObject::open(outer.nested("error"));
        error
            .string("message", message)
            .string("type", error_type)
            .raw("param", "null");
        if status == 429 {
            error.string("code", "rate_limit_exceeded");
        } else {
            error.raw("code", "null");
        }
        error.close();
        outer.close();
        Self::new(status, "application/json", utf8(buf))
    }

    /// Anthropic's error object,
    /// `{"type":"error","error":{"type","message"}}`, with the `type`
    /// Anthropic sends for `status` (`rate_limit_error` for 429,
    /// `overloaded_error` for 529, ...).
    #[cfg(feature = "anthropic")]
    #[cfg_attr(docsrs, doc(cfg(feature = "anthropic")))]
    pub fn anthropic(status: u16, message: &str) -> Self {
        let error_type = match status {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            529 => "overloaded_error",
            400..=499 => "invalid_request_error",
            _ => "api_error",
        };
        let mut buf = BytesMut::with_capacity(message.len() + 64);
        let mut outer = JsonObject::open(&mut buf);
        outer.string("type", "error");
        let mut error = JsonObject::open(outer.nested("error"));
        error.string("type", error_type).string("message", message);
        error.close();
        outer.close();
        Self::new(status, "application/json", utf8(buf))
    }

    /// `message` as plain text, which `useChat` shows as the error.
    pub fn text(status: u16, message: &str) -> Self {
        Self::new(status, "text/plain; charset=utf-8", message)
    }

    /// Sets the `retry-after` header, e.g. an upstream's; a value that is
    /// not a valid header value (a line break, say) is dropped.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Option<&str>) -> Self {
        self.retry_after = retry_after
            .filter(|value| {
                value
                    .bytes()
                    .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
            })
            .map(str::to_owned);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body's content type.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// The body.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The `retry-after` header, when set.
    pub fn retry_after(&self) -> Option<&str> {
        self.retry_after.as_deref()
    }

    /// The response for any `http`-based stack (hyper, axum, tonic, ...).
    #[cfg(feature = "http-body")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http-body")))]
    pub fn into_http_response(self) -> http::Response<String> {
        let mut response = http::Response::new(self.body);
        *response.status_mut() =
            http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::BAD_GATEWAY);
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(self.content_type),
        );
        if let Some(value) = self
            .retry_after
            .and_then(|value| http::HeaderValue::from_str(&value).ok())
        {
            headers.insert(http::header::RETRY_AFTER, value);
        }
        response
    }
}

/// The text of JSON this crate wrote, which is always UTF-8.
fn utf8(buf: BytesMut) -> String {
    String::from_utf8(Vec::from(buf)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_stay_errors() {
        assert_eq!(ErrorResponse::text(200, "no").status(), 500);
        assert_eq!(ErrorResponse::text(529, "busy").status(), 529);
    }

    #[test]
    fn hostile_messages_stay_json() {
        let response = ErrorResponse::openai(500, "a \"quote\"\nand\u{0}");
        let value: serde_json::Value = serde_json::from_str(response.body()).unwrap();
        assert_eq!(value["error"]["message"], "a \"quote\"\nand\u{0}");
        assert_eq!(value["error"]["type"], "server_error");
    }

    #[cfg(feature = "anthropic")]
    #[test]
    fn anthropic_shape() {
        let response = ErrorResponse::anthropic(529, "Overloaded");
        assert_eq!(
            response.body(),
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
        );
    }

    #[test]
    fn header_values_are_checked() {
        let response = ErrorResponse::text(429, "x").with_retry_after(Some("1\r\nx: y"));
        assert_eq!(response.retry_after(), None);
    }
}
