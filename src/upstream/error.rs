//! [`UpstreamError`]: how reading a provider's stream can fail.

use std::borrow::Cow;
use std::time::Duration;

use serde_json::Value;

use crate::decode::DecodeError;
use crate::format::{ErrorResponse, Format};

/// The error type of HTTP clients' body streams, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why an upstream provider's stream failed.
///
/// Every variant keeps what the provider said. Before the first byte goes to
/// the client, [`status`](UpstreamError::status) and
/// [`retry_after`](UpstreamError::retry_after) give the HTTP answer a gateway
/// should send in its place; after it, the error's message becomes the
/// client format's terminal error.
///
/// # Examples
///
/// ```
/// use llm_sse::upstream::UpstreamError;
///
/// let body = br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
/// let error = UpstreamError::from_status(429, body, Some("20"));
/// assert_eq!(error.status(), 429);
/// assert_eq!(error.message(), "Rate limit reached");
/// assert_eq!(error.retry_after(), Some("20"));
/// assert!(error.is_retryable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The upstream answered with a status other than success.
    #[error("the upstream answered {status}: {message}")]
    #[non_exhaustive]
    Status {
        /// The HTTP status.
        status: u16,
        /// The error's message, from the body's error object when it has
        /// one, else the body's text.
        message: String,
        /// The error's `type` (or `code`), when the body names one.
        error_type: Option<String>,
        /// The `retry-after` header, as sent.
        retry_after: Option<String>,
        /// The body as sent (its first 64 KiB; invalid UTF-8 replaced).
        body: String,
    },
    /// The upstream reported an error inside its stream: an `error` object
    /// in a chunk, an `error` event, `response.failed`, or a JSON error
    /// written where SSE was expected.
    #[error("{message}")]
    #[non_exhaustive]
    Provider {
        /// The provider's message.
        message: String,
        /// The error's `type` (or `code`), when given: `overloaded_error`,
        /// `rate_limit_exceeded`, `server_error`, ...
        error_type: Option<String>,
    },
    /// The body ended before the format's end marker: the upstream (or a
    /// proxy in between) cut the stream.
    #[error("the upstream stream ended before its end marker {marker}{}", unparsed_note(.unparsed))]
    #[non_exhaustive]
    Truncated {
        /// The end marker that never came: `[DONE]`, `message_stop`, ...
        marker: &'static str,
        /// The start of any text the body held that is not SSE.
        unparsed: Option<String>,
    },
    /// An event's data was not what the provider's format defines.
    #[error("malformed upstream event: {reason}")]
    #[non_exhaustive]
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// The SSE decoder dropped an event: it was larger than the limit.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Sending the request or reading the body failed; the cause is the
    /// error's `source`. Its message names no address or cause, as it may
    /// reach the client.
    #[error("the upstream request failed")]
    Transport(#[source] BoxError),
}

impl UpstreamError {
    /// Names the event's `data` in a [`UpstreamError::Malformed`].
    pub(crate) fn in_event(self, data: &str) -> Self {
        match self {
            UpstreamError::Malformed { reason } => UpstreamError::Malformed {
                reason: format!("{reason} in {:?}", quote(data)),
            },
            other => other,
        }
    }
}

fn unparsed_note(unparsed: &Option<String>) -> String {
    match unparsed {
        Some(text) => format!("; it sent text that is not SSE: {text:?}"),
        None => String::new(),
    }
}

/// The most of a non-SSE body or error body kept in an error.
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;
/// The most of non-SSE text quoted in [`UpstreamError::Truncated`].
const MAX_QUOTE: usize = 200;

impl UpstreamError {
    /// The error of an answer with a `status` other than success, its
    /// `body` and its `retry-after` header: the message and type come from
    /// the body's error object in the OpenAI (`{"error":{"message":...}}`),
    /// Anthropic (`{"type":"error","error":{...}}`) or a plain
    /// (`{"message":...}`, `{"detail":...}`) shape, else the body's text.
    pub fn from_status(status: u16, body: &[u8], retry_after: Option<&str>) -> Self {
        let body = &body[..body.len().min(MAX_ERROR_BODY)];
        let text = String::from_utf8_lossy(body);
        let (message, error_type) = match error_object(text.trim()) {
            Some(found) => found,
            None if text.trim().is_empty() => (format!("HTTP status {status}"), None),
            None => (text.trim().to_owned(), None),
        };
        UpstreamError::Status {
            status,
            message,
            error_type,
            retry_after: retry_after.map(str::to_owned),
            body: text.into_owned(),
        }
    }

    /// An error the provider reported in its stream, with `message` and an
    /// optional `error_type`.
    pub fn provider(message: impl Into<String>, error_type: Option<String>) -> Self {
        UpstreamError::Provider {
            message: message.into(),
            error_type,
        }
    }

    /// A malformed event, for `Parser`s of other formats.
    pub fn malformed(reason: impl Into<String>) -> Self {
        UpstreamError::Malformed {
            reason: reason.into(),
        }
    }

    /// The body ended before `marker`; `unparsed` is any text it held that
    /// is not SSE.
    pub(crate) fn truncated(marker: &'static str, unparsed: &str) -> Self {
        let unparsed = unparsed.trim();
        UpstreamError::Truncated {
            marker,
            unparsed: (!unparsed.is_empty()).then(|| quote(unparsed)),
        }
    }

    /// The provider's message, or this error's own.
    pub fn message(&self) -> Cow<'_, str> {
        match self {
            UpstreamError::Status { message, .. } | UpstreamError::Provider { message, .. } => {
                Cow::Borrowed(message)
            }
            other => Cow::Owned(other.to_string()),
        }
    }

    /// The provider's error type (or code), when it gave one.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            UpstreamError::Status { error_type, .. }
            | UpstreamError::Provider { error_type, .. } => error_type.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status a gateway should answer with while no byte of its
    /// stream has been sent: the upstream's own error status when it sent
    /// one (a 401 or 403 too: a gateway that should not pass on its own
    /// credentials' trouble maps those itself); a
    /// status for the provider's error type (`429` for rate limits, `529`
    /// for Anthropic's `overloaded_error`, `400` for invalid requests, ...);
    /// else `502 Bad Gateway`.
    pub fn status(&self) -> u16 {
        match self {
            // A redirect or an informational status is no answer either.
            UpstreamError::Status { status, .. } if (400..=599).contains(status) => *status,
            UpstreamError::Provider { error_type, .. } => {
                error_type.as_deref().map_or(502, status_of_type)
            }
            _ => 502,
        }
    }

    /// The upstream's `retry-after` header, to pass on with the status.
    pub fn retry_after(&self) -> Option<&str> {
        match self {
            UpstreamError::Status { retry_after, .. } => retry_after.as_deref(),
            _ => None,
        }
    }

    /// The upstream's `retry-after` as a duration, when it is a number of
    /// seconds.
    pub fn retry_after_duration(&self) -> Option<Duration> {
        self.retry_after()?
            .trim()
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
    }

    /// The answer a gateway sends in `format`'s error shape while no byte
    /// of its stream has gone out: [`status`](UpstreamError::status), the
    /// provider's [`message`](UpstreamError::message) and
    /// [`retry_after`](UpstreamError::retry_after).
    ///
    /// ```
    /// # #[cfg(feature = "anthropic")] {
    /// use llm_sse::format::AnthropicMessages;
    /// use llm_sse::upstream::UpstreamError;
    ///
    /// let openai_429 = br#"{"error":{"message":"Slow down","type":"requests"}}"#;
    /// let error = UpstreamError::from_status(429, openai_429, Some("3"));
    /// let response = error.to_response(&AnthropicMessages::new("claude"));
    /// assert_eq!((response.status(), response.retry_after()), (429, Some("3")));
    /// assert_eq!(
    ///     response.body(),
    ///     r#"{"type":"error","error":{"type":"rate_limit_error","message":"Slow down"}}"#
    /// );
    /// # }
    /// ```
    pub fn to_response<F: Format + ?Sized>(&self, format: &F) -> ErrorResponse {
        format
            .error_response(self.status(), &self.message())
            .with_retry_after(self.retry_after())
    }

    /// Whether another attempt may succeed: rate limits (`429`), timeouts
    /// (`408`), conflicts (`409`), server errors (`5xx`, overloaded
    /// included), cut or unreadable streams. Client errors such as a bad
    /// request or a missing key are not retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            UpstreamError::Status { .. } | UpstreamError::Provider { .. } => {
                matches!(self.status(), 408 | 409 | 429 | 500..=599)
            }
            UpstreamError::Truncated { .. } | UpstreamError::Transport(_) => true,
            UpstreamError::Malformed { .. } | UpstreamError::Decode(_) => false,
        }
    }
}

/// A status for a provider's error `type` or `code`, as OpenAI and
/// Anthropic name them.
fn status_of_type(error_type: &str) -> u16 {
    match error_type {
        "invalid_request_error" | "invalid_request" | "bad_request" => 400,
        "authentication_error" | "invalid_api_key" => 401,
        "permission_error" | "permission_denied" => 403,
        "not_found_error" | "model_not_found" | "not_found" => 404,
        "request_too_large" => 413,
        "rate_limit_error"
        | "rate_limit_exceeded"
        | "requests"
        | "tokens"
        | "insufficient_quota" => 429,
        "overloaded_error" => 529,
        "server_is_overloaded" | "overloaded" => 503,
        "timeout_error" | "timeout" => 504,
        _ => 502,
    }
}

/// The message and type of an error object in `text`, in any of the shapes
/// providers use; `None` when `text` is not JSON with a message.
pub(crate) fn error_object(text: &str) -> Option<(String, Option<String>)> {
    let value: Value = serde_json::from_str(text).ok()?;
    let object = value.as_object()?;
    let named = |object: &serde_json::Map<String, Value>| {
        let message = object.get("message").and_then(Value::as_str)?.to_owned();
        let error_type = ["type", "code"]
            .iter()
            .find_map(|key| match object.get(*key)? {
                // A Responses `error` event's `type` is `error` itself.
                Value::String(name) if !name.is_empty() && name != "error" => Some(name.clone()),
                Value::Number(number) => Some(number.to_string()),
                _ => None,
            });
        Some((message, error_type))
    };
    match object.get("error") {
        Some(Value::Object(error)) => named(error),
        Some(Value::String(message)) => Some((message.clone(), None)),
        _ => match object.get("detail") {
            Some(Value::String(message)) => Some((message.clone(), None)),
            _ => named(object),
        },
    }
}

/// At most [`MAX_QUOTE`] bytes of `text`, cut at a character boundary.
pub(crate) fn quote(text: &str) -> String {
    let mut end = text.len().min(MAX_QUOTE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_every_shape() {
        let openai = br#"{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        let error = UpstreamError::from_status(401, openai, None);
        assert_eq!(error.message(), "bad key");
        assert!(
            matches!(&error, UpstreamError::Status { body, .. } if body.as_bytes() == openai),
            "{error:?}"
        );
        assert_eq!(error.error_type(), Some("invalid_request_error"));
        assert!(!error.is_retryable());

        let anthropic =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let error = UpstreamError::from_status(529, anthropic, None);
        assert_eq!(error.message(), "Overloaded");
        assert_eq!(error.error_type(), Some("overloaded_error"));
        assert!(error.is_retryable());

        let fastapi = br#"{"detail":"Not Found"}"#;
        assert_eq!(
            UpstreamError::from_status(404, fastapi, None).message(),
            "Not Found"
        );
        let text = b"upstream connect error\n";
        assert_eq!(
            UpstreamError::from_status(503, text, Some("5")).message(),
            "upstream connect error"
        );
        let empty = UpstreamError::from_status(500, b"", None);
        assert_eq!(empty.message(), "HTTP status 500");
    }

    #[test]
    fn statuses_of_in_band_errors() {
        let rate = UpstreamError::provider("slow down", Some("rate_limit_error".into()));
        assert_eq!(rate.status(), 429);
        let overloaded = UpstreamError::provider("busy", Some("overloaded_error".into()));
        assert_eq!(overloaded.status(), 529);
        let unknown = UpstreamError::provider("?", None);
        assert_eq!(unknown.status(), 502);
        assert!(unknown.is_retryable());
        assert!(!UpstreamError::malformed("no type").is_retryable());
        let cut = UpstreamError::truncated("[DONE]", "");
        assert_eq!(cut.status(), 502);
        assert!(cut.is_retryable());
    }

    #[test]
    fn retry_after_in_seconds() {
        let error = UpstreamError::from_status(429, b"{}", Some(" 7 "));
        assert_eq!(error.retry_after_duration(), Some(Duration::from_secs(7)));
        let dated = UpstreamError::from_status(429, b"{}", Some("Wed, 21 Oct 2026 07:28:00 GMT"));
        assert_eq!(dated.retry_after_duration(), None);
    }

    #[test]
    fn quotes_are_cut_at_characters() {
        let long = "é".repeat(300);
        let error = UpstreamError::truncated("[DONE]", &long);
        let UpstreamError::Truncated {
            unparsed: Some(quoted),
            ..
        } = &error
        else {
            panic!("no quote in {error:?}");
        };
        assert_eq!(quoted.len(), 200);
        assert!(error.to_string().contains("not SSE"));
    }
}
