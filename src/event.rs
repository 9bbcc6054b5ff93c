//! [`Event`], one server-sent event, and its encoding.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::encode;

/// One server-sent event: data, an event name, an id, a reconnection time,
/// and comments.
///
/// Every value an `Event` holds encodes to a well-formed frame: data and
/// comments may hold any text (each line becomes its own `data:` or comment
/// line, so no payload can start a field or end the event early), and the
/// fields that cannot hold line breaks are checked by [`EventBuilder::build`].
///
/// # Line breaks in data
///
/// The SSE format joins `data:` lines with LF, so CR and CRLF in data arrive
/// at the client as LF: `"a\r\nb"` and `"a\rb"` are both received as
/// `"a\nb"`. Text that must arrive byte for byte should travel as JSON
/// ([`Event::json`], feature `json`), which escapes every line break.
///
/// # Examples
///
/// ```
/// use llm_sse::Event;
///
/// let event = Event::new("hello\nworld");
/// assert_eq!(event.to_bytes(), "data: hello\ndata: world\n\n");
///
/// let event = Event::builder().event("delta").id("7").data("hi").build()?;
/// assert_eq!(event.to_bytes(), "event: delta\nid: 7\ndata: hi\n\n");
/// # Ok::<(), llm_sse::EventError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Event {
    data: Option<Cow<'static, str>>,
    event: Option<Cow<'static, str>>,
    id: Option<Cow<'static, str>>,
    retry: Option<Duration>,
    comment: Option<Cow<'static, str>>,
}

/// The error returned when an [`Event`] field holds a value that the SSE
/// format cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The event name contains CR or LF, which would end the `event:` line.
    #[error("event name contains a line break (CR or LF)")]
    LineBreakInEventName,
    /// The id contains CR or LF, which would end the `id:` line.
    #[error("event id contains a line break (CR or LF)")]
    LineBreakInId,
    /// The id contains NUL, which makes clients ignore the whole `id:` field.
    #[error("event id contains a NUL character, which clients ignore")]
    NulInId,
}

impl Event {
    /// An event that carries only `data`, the common case.
    ///
    /// Any text is accepted; see [line breaks in data](Event#line-breaks-in-data).
    ///
    /// ```
    /// let event = llm_sse::Event::new("");
    /// // empty data still reaches `EventSource` listeners as an empty message
    /// assert_eq!(event.to_bytes(), "data:\n\n");
    /// ```
    pub fn new(data: impl Into<Cow<'static, str>>) -> Self {
        Self {
            data: Some(data.into()),
            ..Self::default()
        }
    }

    /// A frame that carries only a comment, invisible to `EventSource`
    /// listeners.
    ///
    /// A comment-only frame is written without the blank line that ends an
    /// event, so it can never dispatch anything, even in clients that treat a
    /// blank line after a comment as an (empty) event.
    ///
    /// ```
    /// let event = llm_sse::Event::new_comment("keep\nalive");
    /// assert_eq!(event.to_bytes(), ": keep\n: alive\n");
    /// ```
    pub fn new_comment(comment: impl Into<Cow<'static, str>>) -> Self {
        Self {
            comment: Some(comment.into()),
            ..Self::default()
        }
    }

    /// Starts an event with several fields.
    pub fn builder() -> EventBuilder {
        EventBuilder::default()
    }

    /// The data, if any.
    pub fn data(&self) -> Option<&str> {
        self.data.as_deref()
    }

    /// The event name (the `event:` field), if any.
    pub fn event(&self) -> Option<&str> {
        self.event.as_deref()
    }

    /// The event id, if any.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The reconnection time (the `retry:` field), if any.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// The comment, if any.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// Whether the event has a field other than a comment, and so ends with
    /// a blank line.
    fn has_fields(&self) -> bool {
        self.data.is_some() || self.event.is_some() || self.id.is_some() || self.retry.is_some()
    }

    /// The exact number of bytes [`Event::encode`] appends.
    ///
    /// ```
    /// let event = llm_sse::Event::new("a\r\nb");
    /// assert_eq!(event.encoded_len(), event.to_bytes().len());
    /// ```
    pub fn encoded_len(&self) -> usize {
        let mut len = 0;
        if let Some(comment) = &self.comment {
            len += encode::field_len(b"", comment);
        }
        if let Some(event) = &self.event {
            len += encode::field_len(b"event", event);
        }
        if let Some(id) = &self.id {
            len += encode::field_len(b"id", id);
        }
        if let Some(retry) = self.retry {
            len += "retry: \n".len() + encode::decimal_len(retry.as_millis());
        }
        if let Some(data) = &self.data {
            len += encode::field_len(b"data", data);
        }
        len + usize::from(self.has_fields())
    }

    /// Appends the encoded event to `buf`.
    ///
    /// Fields are written in the order comment, `event`, `id`, `retry`,
    /// `data`, each as `name: value` lines ended by LF, then the blank line
    /// that dispatches the event. The reconnection time is written in whole
    /// milliseconds. Nothing is allocated when `buf` has room for
    /// [`encoded_len`](Event::encoded_len) more bytes.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use llm_sse::Event;
    ///
    /// let events = [Event::new("a"), Event::new("b")];
    /// let mut buf = BytesMut::with_capacity(events.iter().map(Event::encoded_len).sum());
    /// for event in &events {
    ///     event.encode(&mut buf);
    /// }
    /// assert_eq!(buf, "data: a\n\ndata: b\n\n");
    /// ```
    pub fn encode(&self, buf: &mut BytesMut) {
        if let Some(comment) = &self.comment {
            encode::write_field(buf, b"", comment);
        }
        if let Some(event) = &self.event {
            encode::write_field(buf, b"event", event);
        }
        if let Some(id) = &self.id {
            encode::write_field(buf, b"id", id);
        }
        if let Some(retry) = self.retry {
            buf.put_slice(b"retry: ");
            encode::write_decimal(buf, retry.as_millis());
            buf.put_u8(b'\n');
        }
        if let Some(data) = &self.data {
            encode::write_field(buf, b"data", data);
        }
        if self.has_fields() {
            buf.put_u8(b'\n');
        }
    }

    /// The encoded event in a buffer of its own.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut buf);
        buf.freeze()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Event");
        for (name, value) in [
            ("data", &self.data),
            ("event", &self.event),
            ("id", &self.id),
            ("comment", &self.comment),
        ] {
            if let Some(value) = value {
                s.field(name, value);
            }
        }
        if let Some(retry) = &self.retry {
            s.field("retry", retry);
        }
        s.finish()
    }
}

/// Builds an [`Event`] with several fields; [`build`](EventBuilder::build)
/// checks them.
///
/// ```
/// use std::time::Duration;
/// use llm_sse::{Event, EventError};
///
/// let event = Event::builder()
///     .retry(Duration::from_secs(3))
///     .comment("resume from here")
///     .data("{}")
///     .build()?;
/// assert_eq!(event.to_bytes(), ": resume from here\nretry: 3000\ndata: {}\n\n");
///
/// let forged = Event::builder().id("1\nevent: admin").build();
/// assert_eq!(forged, Err(EventError::LineBreakInId));
/// # Ok::<(), EventError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "an event builder does nothing until `build` is called"]
pub struct EventBuilder {
    event: Event,
}

impl EventBuilder {
    /// Sets the data; any text is accepted.
    pub fn data(mut self, data: impl Into<Cow<'static, str>>) -> Self {
        self.event.data = Some(data.into());
        self
    }

    /// Sets the event name, the `event:` field; it may not hold CR or LF.
    ///
    /// Clients treat an empty name as no name: the event is a `message`.
    pub fn event(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.event.event = Some(name.into());
        self
    }

    /// Sets the event id; it may not hold CR, LF or NUL.
    ///
    /// Clients remember the id and send it back in `Last-Event-ID` when they
    /// reconnect; an empty id clears it.
    pub fn id(mut self, id: impl Into<Cow<'static, str>>) -> Self {
        self.event.id = Some(id.into());
        self
    }

    /// Sets the time a client waits before reconnecting, sent in whole
    /// milliseconds.
    pub fn retry(mut self, retry: Duration) -> Self {
        self.event.retry = Some(retry);
        self
    }

    /// Sets a comment; any text is accepted, each line becomes a comment line.
    pub fn comment(mut self, comment: impl Into<Cow<'static, str>>) -> Self {
        self.event.comment = Some(comment.into());
        self
    }

    /// Checks the fields and returns the event.
    ///
    /// # Errors
    ///
    /// [`EventError::LineBreakInEventName`] if the event name holds CR or
    /// LF, [`EventError::LineBreakInId`] if the id holds CR or LF, and
    /// [`EventError::NulInId`] if the id holds NUL.
    pub fn build(self) -> Result<Event, EventError> {
        let event = self.event;
        if let Some(name) = &event.event {
            if encode::find_line_break(name.as_bytes()).is_some() {
                return Err(EventError::LineBreakInEventName);
            }
        }
        if let Some(id) = &event.id {
            if encode::find_line_break(id.as_bytes()).is_some() {
                return Err(EventError::LineBreakInId);
            }
            if id.contains('\0') {
                return Err(EventError::NulInId);
            }
        }
        Ok(event)
    }
}

/// Fields the decoder fills in; it has already made them valid.
impl Event {
    pub(crate) fn decoded(data: String, event: Option<String>, id: Option<String>) -> Self {
        Self {
            data: Some(data.into()),
            event: event.map(Cow::Owned),
            id: id.map(Cow::Owned),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(event: &Event) -> String {
        let bytes = event.to_bytes();
        assert_eq!(bytes.len(), event.encoded_len(), "{event:?}");
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn data_vectors() {
        assert_eq!(enc(&Event::new("")), "data:\n\n");
        assert_eq!(enc(&Event::new("\n")), "data:\ndata:\n\n");
        assert_eq!(enc(&Event::new("\r\n")), "data:\ndata:\n\n");
        assert_eq!(enc(&Event::new("\r")), "data:\ndata:\n\n");
        assert_eq!(enc(&Event::new("end\n")), "data: end\ndata:\n\n");
        assert_eq!(enc(&Event::new(" lead")), "data:  lead\n\n");
        assert_eq!(enc(&Event::new("a\0b")), "data: a\0b\n\n");
        assert_eq!(enc(&Event::new("\u{feff}bom")), "data: \u{feff}bom\n\n");
        assert_eq!(
            enc(&Event::new("x\rid: 5\r\n\r\nevent: y")),
            "data: x\ndata: id: 5\ndata:\ndata: event: y\n\n"
        );
    }

    #[test]
    fn comment_vectors() {
        assert_eq!(enc(&Event::new_comment("")), ":\n");
        assert_eq!(enc(&Event::new_comment("a\r\nb\rc")), ": a\n: b\n: c\n");
        assert_eq!(enc(&Event::default()), "");
    }

    #[test]
    fn all_fields() {
        let event = Event::builder()
            .comment("c")
            .event("")
            .id("")
            .retry(Duration::from_micros(1500))
            .data("d")
            .build()
            .unwrap();
        assert_eq!(enc(&event), ": c\nevent:\nid:\nretry: 1\ndata: d\n\n");
        let event = Event::builder().id("9").build().unwrap();
        assert_eq!(enc(&event), "id: 9\n\n");
        let event = Event::builder().retry(Duration::ZERO).build().unwrap();
        assert_eq!(enc(&event), "retry: 0\n\n");
    }

    #[test]
    fn rejects_fields_that_would_break_the_frame() {
        for name in ["a\nb", "a\r", "\r\n", "\n"] {
            let built = Event::builder().event(name.to_owned()).build();
            assert_eq!(built, Err(EventError::LineBreakInEventName), "{name:?}");
            let built = Event::builder().id(name.to_owned()).build();
            assert_eq!(built, Err(EventError::LineBreakInId), "{name:?}");
        }
        assert_eq!(Event::builder().id("a\0").build(), Err(EventError::NulInId));
        assert!(Event::builder().event("a\0").build().is_ok());
        assert_eq!(
            EventError::NulInId.to_string(),
            "event id contains a NUL character, which clients ignore"
        );
    }
}
