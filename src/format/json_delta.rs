//! [`JsonDelta`]: one small JSON object per frame.

use bytes::{BufMut, BytesMut};

use super::json_writer::JsonObject;
use super::Format;
use crate::delta::Delta;

/// Each delta as one JSON object: text as `data: {"delta":"Hello"}`, the
/// other kinds with a `type`.
///
/// | delta | data |
/// | --- | --- |
/// | text | `{"delta":"..."}` |
/// | reasoning | `{"type":"reasoning","delta":"..."}` |
/// | tool call | `{"type":"tool_call","index":0,"id":"...","name":"..."}` |
/// | tool arguments | `{"type":"tool_arguments","index":0,"delta":"..."}` |
/// | usage | `{"type":"usage","prompt_tokens":1,"completion_tokens":2,"total_tokens":3}` (and `cached_prompt_tokens`, `reasoning_tokens` when known) |
/// | finish | `{"type":"finish","reason":"length"}` |
/// | data | `{"type":"data","name":"...","value":...}` |
///
/// Any text, CR included, round-trips exactly. The stream ends with
/// `data: [DONE]`.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use llm_sse::format::{Format, JsonDelta};
/// use llm_sse::Delta;
///
/// let mut buf = BytesMut::new();
/// JsonDelta.write_delta(&Delta::text("a\r\nb"), &mut buf);
/// JsonDelta.write_delta(&Delta::tool_arguments(0, "{\"q\":"), &mut buf);
/// assert_eq!(
///     buf,
///     "data: {\"delta\":\"a\\r\\nb\"}\n\n\
///      data: {\"type\":\"tool_arguments\",\"index\":0,\"delta\":\"{\\\"q\\\":\"}\n\n"
/// );
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonDelta;

impl Format for JsonDelta {
    fn write_delta(&mut self, delta: &Delta, buf: &mut BytesMut) {
        buf.reserve(delta.as_text().map_or(0, str::len) + 64);
        buf.put_slice(b"data: ");
        let mut object = JsonObject::open(buf);
        if !matches!(delta, Delta::Text(_)) {
            object.string("type", delta.kind().as_str());
        }
        write_fields(&mut object, delta);
        object.close();
        buf.put_slice(b"\n\n");
    }
}

/// The members that describe `delta` (all but its kind), shared by
/// [`JsonDelta`] and the named events of [`Text`](super::Text).
pub(crate) fn write_fields(object: &mut JsonObject<'_>, delta: &Delta) {
    match delta {
        Delta::Text(text) | Delta::Reasoning(text) => {
            object.string("delta", text);
        }
        Delta::ToolCall { index, id, name } => {
            object
                .number("index", u64::from(*index))
                .string("id", id)
                .string("name", name);
        }
        Delta::ToolArguments { index, fragment } => {
            object
                .number("index", u64::from(*index))
                .string("delta", fragment);
        }
        Delta::Usage(usage) => {
            object
                .number("prompt_tokens", usage.prompt_tokens)
                .number("completion_tokens", usage.completion_tokens)
                .number("total_tokens", usage.total_tokens);
            if let Some(cached) = usage.cached_prompt_tokens {
                object.number("cached_prompt_tokens", cached);
            }
            if let Some(reasoning) = usage.reasoning_tokens {
                object.number("reasoning_tokens", reasoning);
            }
        }
        Delta::Finish(reason) => {
            object.string("reason", reason.as_str());
        }
        Delta::Data(data) => {
            object
                .string("name", data.name())
                .raw("value", data.as_json());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Data, FinishReason, Usage};

    fn frame(delta: &Delta) -> String {
        let mut buf = BytesMut::new();
        JsonDelta.write_delta(delta, &mut buf);
        String::from_utf8(buf.to_vec()).unwrap()
    }

    #[test]
    fn every_kind() {
        assert_eq!(frame(&Delta::text("")), "data: {\"delta\":\"\"}\n\n");
        assert_eq!(
            frame(&Delta::reasoning("\r")),
            "data: {\"type\":\"reasoning\",\"delta\":\"\\r\"}\n\n"
        );
        assert_eq!(
            frame(&Delta::tool_call(1, "call\n1", "look\"up")),
            "data: {\"type\":\"tool_call\",\"index\":1,\"id\":\"call\\n1\",\"name\":\"look\\\"up\"}\n\n"
        );
        assert_eq!(
            frame(&Delta::usage(Usage::new(1, 2).reasoning_tokens(1))),
            "data: {\"type\":\"usage\",\"prompt_tokens\":1,\"completion_tokens\":2,\
             \"total_tokens\":3,\"reasoning_tokens\":1}\n\n"
        );
        assert_eq!(
            frame(&Delta::finish(FinishReason::Length)),
            "data: {\"type\":\"finish\",\"reason\":\"length\"}\n\n"
        );
        assert_eq!(
            frame(&Delta::data(Data::string("status", "a\u{2028}b"))),
            "data: {\"type\":\"data\",\"name\":\"status\",\"value\":\"a\\u2028b\"}\n\n"
        );
    }
}
