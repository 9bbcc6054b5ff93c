//! Reading an event stream: [`Decoder`], an incremental push parser, and
//! [`DecodeStream`], the same parser as a `Stream` adapter over body chunks.
//!
//! Both follow the WHATWG HTML "interpreting an event stream" algorithm:
//! lines end at CR, LF or CRLF (a CRLF may be split between chunks), a
//! leading byte order mark is stripped once, `data:` lines are joined with
//! LF, an `id` holding NUL is ignored, `retry` takes digits only, and an event
//! that the stream ends before its blank line is dropped. Invalid UTF-8
//! becomes U+FFFD and never affects later events. Each byte is looked at a
//! bounded number of times however the input is chunked, and memory is
//! bounded by [`Decoder::max_event_size`].

use std::mem;
use std::time::Duration;

use bytes::{Buf, BytesMut};

use crate::encode::find_line_break;
use crate::Event;

mod stream;

pub use stream::{DecodeStream, DecodeStreamError};

/// The default for [`Decoder::max_event_size`]: 16 MiB.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One thing read from an event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// A dispatched event.
    ///
    /// Its data is the joined `data:` lines; its event name is `None` when
    /// the stream gave none (or an empty one), which clients treat as
    /// `message`; its id is the stream's last event id, which carries over
    /// from earlier events as the spec says, `None` while it is empty.
    Event(Event),
    /// A comment line's text, without the colon and one leading space;
    /// only when [`Decoder::comments`] asked for them.
    Comment(String),
    /// A valid `retry:` field: the reconnection time the server asks for.
    Retry(Duration),
    /// A line that is neither a comment nor one of the four fields, which
    /// `EventSource` ignores; only when [`Decoder::unrecognized_lines`]
    /// asked for them. A gateway uses it to notice a JSON error written
    /// where SSE was expected.
    Unrecognized(String),
}

/// The error the decoder reports for input it drops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// An event (or a single line) grew past the decoder's maximum event
    /// size. Its bytes were dropped, and parsing goes on after the next blank
    /// line.
    #[error("event larger than the maximum of {limit} bytes was skipped")]
    EventTooLarge {
        /// The [`Decoder::max_event_size`] in force.
        limit: usize,
    },
}

/// An incremental event stream parser: [`feed`](Decoder::feed) it bytes as
/// they arrive, split anywhere, then take frames with
/// [`next_frame`](Decoder::next_frame) until it returns `None`.
///
/// # Examples
///
/// ```
/// use llm_sse::decode::{Decoder, Frame};
///
/// let mut decoder = Decoder::new();
/// let mut events = Vec::new();
/// for chunk in ["\u{feff}data: hel", "lo\r", "\n\r\nid: 1\ndata: ", "wor", "ld\n\n", "data: cut off"] {
///     decoder.feed(chunk.as_bytes());
///     while let Some(frame) = decoder.next_frame() {
///         if let Frame::Event(event) = frame? {
///             events.push(event.data().unwrap_or_default().to_owned());
///         }
///     }
/// }
/// assert_eq!(events, ["hello", "world"]);
/// assert_eq!(decoder.last_event_id(), "1");
/// # Ok::<(), llm_sse::decode::DecodeError>(())
/// ```
#[derive(Debug)]
pub struct Decoder {
    input: Input,
    state: EventState,
}

/// Bytes fed but not yet parsed.
#[derive(Debug)]
struct Input {
    /// The bytes fed; those before `pos` are parsed already.
    buf: BytesMut,
    /// Where the unparsed bytes start. Lines are consumed by moving it and
    /// the parsed bytes dropped once per [`Decoder::feed`]: advancing the
    /// `BytesMut` per line cost as much as the rest of the line's handling.
    pos: usize,
    /// How much of the unparsed bytes is known to hold no line break.
    scanned: usize,
    /// The last line ended in CR, so an LF right after it belongs to it.
    skip_lf: bool,
    /// Nothing has been read yet, so a byte order mark may still come.
    at_start: bool,
    /// The start of a line was dropped, so `buf` starts with the rest of it.
    mid_line: bool,
}

/// The fields of the event being read.
#[derive(Debug)]
struct EventState {
    data: String,
    event: String,
    last_id: String,
    /// Bytes of the lines read into this event so far.
    size: usize,
    max_size: usize,
    /// An oversized event is being skipped up to its blank line.
    discarding: bool,
    comments: bool,
    unrecognized: bool,
    /// `data` and `event` hold a dispatched event, lent out until the
    /// next call.
    ready: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with the default maximum event size
    /// ([`DEFAULT_MAX_EVENT_SIZE`]) that skips comments.
    pub fn new() -> Self {
        Self {
            input: Input {
                buf: BytesMut::new(),
                pos: 0,
                scanned: 0,
                skip_lf: false,
                at_start: true,
                mid_line: false,
            },
            state: EventState {
                data: String::new(),
                event: String::new(),
                last_id: String::new(),
                size: 0,
                max_size: DEFAULT_MAX_EVENT_SIZE,
                discarding: false,
                comments: false,
                unrecognized: false,
                ready: false,
            },
        }
    }

    /// Sets the largest event, in bytes of its lines, that the decoder will
    /// hold; a larger event (or line) is reported as
    /// [`DecodeError::EventTooLarge`] and skipped. Default:
    /// [`DEFAULT_MAX_EVENT_SIZE`].
    #[must_use]
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.state.max_size = bytes;
        self
    }

    /// Whether comment lines are returned as [`Frame::Comment`]. Default:
    /// `false`, as `EventSource` does.
    #[must_use]
    pub fn comments(mut self, comments: bool) -> Self {
        self.state.comments = comments;
        self
    }

    /// Whether lines that are neither comments nor known fields are
    /// returned as [`Frame::Unrecognized`]. Default: `false`; either way
    /// they do not change the event being read.
    ///
    /// ```
    /// use llm_sse::decode::{Decoder, Frame};
    ///
    /// let mut decoder = Decoder::new().unrecognized_lines(true);
    /// decoder.feed(b"{\"error\": \"overloaded\"}\n");
    /// let frame = decoder.next_frame().transpose()?;
    /// assert_eq!(frame, Some(Frame::Unrecognized("{\"error\": \"overloaded\"}".into())));
    /// # Ok::<(), llm_sse::decode::DecodeError>(())
    /// ```
    #[must_use]
    pub fn unrecognized_lines(mut self, unrecognized: bool) -> Self {
        self.state.unrecognized = unrecognized;
        self
    }

    /// The last event id seen, the value a client would send back in
    /// `Last-Event-ID`; empty until an `id:` field sets it.
    pub fn last_event_id(&self) -> &str {
        &self.state.last_id
    }

    /// Appends bytes read from the stream. Chunks may split the input
    /// anywhere: inside a line, a CRLF, a UTF-8 character or the BOM.
    pub fn feed(&mut self, bytes: &[u8]) {
        let input = &mut self.input;
        input.buf.advance(mem::take(&mut input.pos));
        input.buf.extend_from_slice(bytes);
    }

    /// The next complete frame in the bytes fed so far, or `None` when more
    /// input is needed.
    ///
    /// At the end of the stream, take the remaining frames and then drop the
    /// decoder: an event without its closing blank line is not dispatched.
    ///
    /// # Errors
    ///
    /// [`DecodeError::EventTooLarge`] once for each event that grows past
    /// the maximum event size; decoding goes on after it.
    pub fn next_frame(&mut self) -> Option<Result<Frame, DecodeError>> {
        Some(self.next_item()?.map(|item| match item {
            Item::Frame(frame) => frame,
            Item::Event => {
                let state = &mut self.state;
                state.ready = false;
                let data = mem::take(&mut state.data);
                let event = Some(mem::take(&mut state.event)).filter(|e| !e.is_empty());
                let id = Some(&state.last_id).filter(|id| !id.is_empty()).cloned();
                Frame::Event(Event::decoded(data, event, id))
            }
        }))
    }

    /// [`next_frame`](Decoder::next_frame) with an event's name and data
    /// lent from the decoder's own buffers, which the next call reuses: no
    /// allocation per event.
    #[cfg_attr(not(feature = "upstream"), allow(dead_code))]
    pub(crate) fn next_borrowed(&mut self) -> Option<Result<Borrowed<'_>, DecodeError>> {
        Some(self.next_item()?.map(|item| match item {
            Item::Frame(frame) => Borrowed::Frame(frame),
            Item::Event => Borrowed::Event {
                name: Some(self.state.event.as_str()).filter(|e| !e.is_empty()),
                data: &self.state.data,
            },
        }))
    }

    fn next_item(&mut self) -> Option<Result<Item, DecodeError>> {
        if mem::take(&mut self.state.ready) {
            self.state.data.clear();
            self.state.event.clear();
        }
        let input = &mut self.input;
        if input.at_start {
            let rest = &input.buf[input.pos..];
            let n = rest.len().min(BOM.len());
            if rest[..n] == BOM[..n] {
                if n < BOM.len() {
                    return None;
                }
                input.pos += n;
            }
            input.at_start = false;
        }
        loop {
            if input.skip_lf {
                match input.buf[input.pos..].first() {
                    None => return None,
                    Some(b'\n') => input.pos += 1,
                    Some(_) => {}
                }
                input.skip_lf = false;
            }
            let rest = &input.buf[input.pos..];
            let Some(end) = find_line_break(&rest[input.scanned..]) else {
                input.scanned = rest.len();
                // A comment line does not count towards the event, but no
                // line may outgrow the limit.
                let held = if rest.first() == Some(&b':') {
                    rest.len()
                } else {
                    self.state.size + rest.len()
                };
                let overflow = !self.state.discarding && held > self.state.max_size;
                if self.state.discarding || overflow {
                    input.mid_line |= !rest.is_empty();
                    input.buf.clear();
                    input.pos = 0;
                    input.scanned = 0;
                }
                return overflow.then(|| Err(self.state.overflow()));
            };
            let end = end + input.scanned;
            input.skip_lf = rest[end] == b'\r';
            input.scanned = 0;
            let frame = if mem::take(&mut input.mid_line) {
                None // the end of a line that was already dropped
            } else {
                self.state.line(&rest[..end])
            };
            input.pos += end + 1;
            if frame.is_some() {
                return frame;
            }
        }
    }
}

impl EventState {
    fn overflow(&mut self) -> DecodeError {
        self.discarding = true;
        self.data.clear();
        self.event.clear();
        self.size = 0;
        DecodeError::EventTooLarge {
            limit: self.max_size,
        }
    }

    /// Interprets one line, without its line break.
    fn line(&mut self, line: &[u8]) -> Option<Result<Item, DecodeError>> {
        if line.is_empty() {
            let discarded = mem::take(&mut self.discarding);
            self.size = 0;
            return self.dispatch(discarded).map(Ok);
        }
        if self.discarding {
            return None;
        }
        if let Some(comment) = line.strip_prefix(b":") {
            if line.len() + 1 > self.max_size {
                return Some(Err(self.overflow()));
            }
            return self.comments.then(|| {
                Ok(Item::Frame(Frame::Comment(
                    text(strip_space(comment)).into_owned(),
                )))
            });
        }
        self.size += line.len() + 1;
        if self.size > self.max_size {
            return Some(Err(self.overflow()));
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => (&line[..colon], strip_space(&line[colon + 1..])),
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                let value = text(value);
                if self.data.capacity() == 0 {
                    // The last event took the buffer: allocate this one's
                    // (the LF included) directly rather than through
                    // `reserve`'s growth path, which cost about as much again
                    // as the allocation. Most events have a single data line.
                    self.data = String::with_capacity(value.len() + 1);
                } else {
                    self.data.reserve(value.len() + 1);
                }
                self.data.push_str(&value);
                self.data.push('\n');
            }
            b"event" => {
                self.event.clear();
                self.event.push_str(&text(value));
            }
            b"id" if !value.contains(&0) => {
                self.last_id.clear();
                self.last_id.push_str(&text(value));
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                let millis = value.iter().fold(0u64, |acc, &d| {
                    acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                });
                return Some(Ok(Item::Frame(Frame::Retry(Duration::from_millis(millis)))));
            }
            b"id" | b"retry" => {}
            _ if self.unrecognized => {
                return Some(Ok(Item::Frame(Frame::Unrecognized(
                    text(line).into_owned(),
                ))));
            }
            _ => {}
        }
        None
    }

    /// Ends the event at a blank line: `Item::Event` with its data (the
    /// last LF removed) and name left in place, or nothing for an event
    /// with no data.
    fn dispatch(&mut self, discarded: bool) -> Option<Item> {
        if discarded || self.data.is_empty() {
            self.data.clear();
            self.event.clear();
            return None;
        }
        self.data.pop(); // the LF after the last data line
        self.ready = true;
        Some(Item::Event)
    }
}

/// What the decoder read: a frame, or an event held in its buffers.
enum Item {
    Frame(Frame),
    Event,
}

/// A frame whose event, if it is one, is lent from the decoder.
#[derive(Debug)]
#[cfg_attr(not(feature = "upstream"), allow(dead_code))]
pub(crate) enum Borrowed<'a> {
    /// A dispatched event's name (`None` when empty) and data.
    Event {
        name: Option<&'a str>,
        data: &'a str,
    },
    /// Any other frame.
    Frame(Frame),
}

fn strip_space(value: &[u8]) -> &[u8] {
    value.strip_prefix(b" ").unwrap_or(value)
}

/// `bytes` as text, invalid UTF-8 replaced. Valid input (nearly all of
/// it) takes `from_utf8`'s word-at-a-time path, which `from_utf8_lossy`
/// does not.
fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}
