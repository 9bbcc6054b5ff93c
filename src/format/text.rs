//! [`Text`]: text as plain `data:` lines.

use bytes::{BufMut, BytesMut};

use super::json_delta::write_fields;
use super::json_writer::JsonObject;
use super::Format;
use crate::delta::Delta;
use crate::encode;

/// Answer text as plain `data:` lines (`data: Hello\n\n`); the other kinds
/// as named events, which `EventSource` clients that listen only for
/// `message` never see.
///
/// | delta | frame |
/// | --- | --- |
/// | text | `data: ...` |
/// | reasoning | `event: reasoning` and the text as `data:` lines |
/// | tool call | `event: tool_call`, `data: {"index":0,"id":"...","name":"..."}` |
/// | tool arguments | `event: tool_arguments`, `data: {"index":0,"delta":"..."}` |
/// | usage | `event: usage`, `data: {"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}` |
/// | finish | `event: finish`, `data: {"reason":"stop"}` |
/// | data | `event: data`, `data: {"name":"...","value":...}` |
///
/// The stream ends with `data: [DONE]`. CR and CRLF in text arrive as LF
/// (see [`Event`](crate::Event#line-breaks-in-data)); use
/// [`JsonDelta`](super::JsonDelta) where text must arrive byte for byte.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use llm_sse::format::{Format, Text};
/// use llm_sse::Delta;
///
/// let mut buf = BytesMut::new();
/// Text.write_delta(&Delta::reasoning("Thinking\nhard"), &mut buf);
/// Text.write_delta(&Delta::text("Hi"), &mut buf);
/// assert_eq!(buf, "event: reasoning\ndata: Thinking\ndata: hard\n\ndata: Hi\n\n");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Text;

impl Format for Text {
    fn write_delta(&mut self, delta: &Delta, buf: &mut BytesMut) {
        match delta {
            Delta::Text(text) => {
                buf.reserve(encode::data_event_len(text));
                encode::write_data_event(buf, text);
            }
            Delta::Reasoning(text) => {
                buf.reserve(encode::data_event_len(text) + 17);
                buf.put_slice(b"event: reasoning\n");
                encode::write_data_event(buf, text);
            }
            other => {
                let kind = other.kind().as_str();
                buf.reserve(other.as_text().map_or(0, str::len) + kind.len() + 64);
                buf.put_slice(b"event: ");
                buf.put_slice(kind.as_bytes());
                buf.put_slice(b"\ndata: ");
                let mut object = JsonObject::open(buf);
                write_fields(&mut object, other);
                object.close();
                buf.put_slice(b"\n\n");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Data, FinishReason, Usage};

    fn frame(delta: &Delta) -> String {
        let mut buf = BytesMut::new();
        Text.write_delta(delta, &mut buf);
        String::from_utf8(buf.to_vec()).unwrap()
    }

    #[test]
    fn every_kind() {
        assert_eq!(
            frame(&Delta::text("a\r\nb\rc")),
            "data: a\ndata: b\ndata: c\n\n"
        );
        assert_eq!(frame(&Delta::text("")), "data:\n\n");
        assert_eq!(
            frame(&Delta::reasoning("\nx")),
            "event: reasoning\ndata:\ndata: x\n\n"
        );
        assert_eq!(
            frame(&Delta::tool_call(0, "c1", "f")),
            "event: tool_call\ndata: {\"index\":0,\"id\":\"c1\",\"name\":\"f\"}\n\n"
        );
        assert_eq!(
            frame(&Delta::tool_arguments(0, "{\"a\":\n\"event: x\"}")),
            "event: tool_arguments\ndata: {\"index\":0,\"delta\":\"{\\\"a\\\":\\n\\\"event: x\\\"}\"}\n\n"
        );
        assert_eq!(
            frame(&Delta::usage(Usage::new(1, 2))),
            "event: usage\ndata: {\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}\n\n"
        );
        assert_eq!(
            frame(&Delta::finish(FinishReason::ToolCalls)),
            "event: finish\ndata: {\"reason\":\"tool_calls\"}\n\n"
        );
        assert_eq!(
            frame(&Delta::data(Data::string("s", "v"))),
            "event: data\ndata: {\"name\":\"s\",\"value\":\"v\"}\n\n"
        );
    }
}
