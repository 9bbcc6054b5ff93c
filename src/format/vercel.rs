//! [`VercelUiStream`]: the Vercel AI SDK UI message stream, what `useChat`
//! reads.

use std::fmt;

use bytes::{BufMut, BytesMut};

use super::json_check::{write_compact_json, Keys};
use super::json_writer::JsonObject;
use super::{Failure, Format};
use crate::delta::{Data, Delta, FinishReason, TokenCounts, Usage};
use crate::encode::write_decimal;

/// The header the `ai` package's own servers send with a UI message stream.
const HEADERS: &[(&str, &str)] = &[("x-vercel-ai-ui-message-stream", "v1")];

/// The Vercel AI SDK "UI message stream" (protocol `v1`), which
/// `useChat` and the `ai` package's `DefaultChatTransport` and
/// `readUIMessageStream` read unchanged.
///
/// Chunks and field names follow `uiMessageChunkSchema` of the `ai` npm
/// package (checked against `ai` 7.0). Every frame is `data: {...}` with one
/// chunk whose `type` says what it is, and nothing else: no `event:` or
/// `id:` field. In order:
///
/// 1. at once, before the model's first token: `{"type":"start","messageId":"msg_..."}`
///    and `{"type":"start-step"}`;
/// 2. the model's output, each kind in a part that is started before its
///    deltas and ended before the next part starts:
///    - reasoning: `reasoning-start`, `reasoning-delta` (`id`, `delta`),
///      `reasoning-end`;
///    - text: `text-start`, `text-delta` (`id`, `delta`), `text-end`;
///    - a tool call: `tool-input-start` (`toolCallId`, `toolName`),
///      `tool-input-delta` (`toolCallId`, `inputTextDelta`) per argument
///      fragment, and when the call is over `tool-input-available` with its
///      arguments as the JSON value `input`. Arguments that are not one
///      valid JSON value (cut short, or hostile) end the call with
///      `tool-input-error` instead, whose `input` is the arguments as a
///      string, as the `ai` package itself reports an invalid tool call; so
///      do arguments with a `__proto__` or `constructor.prototype` key,
///      which the `ai` package's JSON parser refuses, and arguments nested
///      deeper than 128 levels. Empty arguments are the input `{}`, as the
///      package reads them. A call with an empty id gets a generated one
///      (`call_` and 32 hex digits);
///    - [`Data`] named `name`: `{"type":"data-name","data":...}`, which
///      `useChat` adds to the message's parts. The name keeps ASCII letters,
///      digits, `-` and `_`; any other character becomes `_`. A payload with
///      a `__proto__` or `constructor.prototype` key (which the client's
///      parser would refuse, failing the whole stream) is skipped. Data
///      leaves the open part open;
///    - usage and the finish reason are kept for the end;
/// 3. `{"type":"finish-step"}` and `{"type":"finish","finishReason":...}`,
///    with the reason in the `ai` package's spelling: `stop`, `length`,
///    `tool-calls`, `content-filter` (a stop sequence is `stop`; a
///    provider's own reason is `other`, unless it is one of the package's
///    reasons); without one from the model, `tool-calls` if a tool was
///    called, else `stop`. When the model sent [`Usage`], `finish` also
///    carries it as `"messageMetadata":{"usage":{"inputTokens":...,
///    "outputTokens":...,"totalTokens":...}}` (names as the package's
///    `LanguageModelUsage`; `inputTokenDetails.cacheReadTokens` and
///    `outputTokenDetails.reasoningTokens` when known), which `useChat`
///    merges into the message's `metadata` (an app that declares a
///    `messageMetadataSchema` must allow a `usage` member);
/// 4. the end marker `data: [DONE]`.
///
/// A failure is `{"type":"error","errorText":...}`, which `useChat`
/// reports as its `error` (parts left open stay as they were).
/// The heartbeat is a comment line, which the client's SSE parser skips.
/// [`response_headers`](Format::response_headers) adds
/// `x-vercel-ai-ui-message-stream: v1`.
///
/// Every `*-delta` follows its `*-start`. Tool-call arguments that arrive
/// after their call was ended (by another delta kind or another tool call)
/// cannot be added to its input any more and are skipped; arguments of a
/// call that never started start one with a generated id and no name.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use futures_util::{stream, StreamExt};
/// use llm_sse::adapters::Batch;
/// use llm_sse::format::VercelUiStream;
/// use llm_sse::{Delta, SseStream};
///
/// let answer = stream::iter([
///     Delta::text("Let me look."),
///     Delta::tool_call(0, "call_1", "lookup"),
///     Delta::tool_arguments(0, "{\"query\":"),
///     Delta::tool_arguments(0, "\"rust\"}"),
/// ])
/// .map(Ok::<_, std::io::Error>);
/// let format = VercelUiStream::new().message_id("msg_1");
/// let frames: Vec<_> = SseStream::builder(answer).batch(Batch::off()).format(format).build().collect().await;
/// let wire = String::from_utf8(frames.concat()).unwrap();
/// assert_eq!(
///     wire,
///     "data: {\"type\":\"start\",\"messageId\":\"msg_1\"}\n\n\
///      data: {\"type\":\"start-step\"}\n\n\
///      data: {\"type\":\"text-start\",\"id\":\"text-0\"}\n\n\
///      data: {\"type\":\"text-delta\",\"id\":\"text-0\",\"delta\":\"Let me look.\"}\n\n\
///      data: {\"type\":\"text-end\",\"id\":\"text-0\"}\n\n\
///      data: {\"type\":\"tool-input-start\",\"toolCallId\":\"call_1\",\"toolName\":\"lookup\"}\n\n\
///      data: {\"type\":\"tool-input-delta\",\"toolCallId\":\"call_1\",\"inputTextDelta\":\"{\\\"query\\\":\"}\n\n\
///      data: {\"type\":\"tool-input-delta\",\"toolCallId\":\"call_1\",\"inputTextDelta\":\"\\\"rust\\\"}\"}\n\n\
///      data: {\"type\":\"tool-input-available\",\"toolCallId\":\"call_1\",\"toolName\":\"lookup\",\
///      \"input\":{\"query\":\"rust\"}}\n\n\
///      data: {\"type\":\"finish-step\"}\n\n\
///      data: {\"type\":\"finish\",\"finishReason\":\"tool-calls\"}\n\n\
///      data: [DONE]\n\n"
/// );
/// # }
/// # #[cfg(not(feature = "tokio"))]
/// # fn main() {}
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "vercel")))]
#[derive(Clone)]
pub struct VercelUiStream {
    message_id: String,
    /// The part open now.
    open: Open,
    /// Every tool call started, in order.
    calls: Vec<ToolCall>,
    /// The number of text and reasoning parts started, for their ids.
    parts: u64,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
}

/// The part a delta of the same kind continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    /// A text part, `text-N`.
    Text(u64),
    /// A reasoning part, `reasoning-N`.
    Reasoning(u64),
    /// The tool call at this position of `calls`.
    Tool(usize),
}

/// A tool call, and its arguments until it ends.
#[derive(Debug, Clone)]
struct ToolCall {
    index: u32,
    id: Box<str>,
    name: Box<str>,
    arguments: String,
    ended: bool,
}

impl VercelUiStream {
    /// A UI message stream for one assistant message, with a fresh random
    /// message id (`msg_` and 32 hex digits).
    pub fn new() -> Self {
        Self {
            message_id: super::random_id("msg_"),
            open: Open::None,
            calls: Vec::new(),
            parts: 0,
            usage: None,
            finish: None,
        }
    }

    /// Sets the `messageId` of the `start` chunk, which becomes the id of
    /// the assistant message on the client. Default: `msg_` and 32 random
    /// hex digits.
    #[must_use]
    pub fn message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = id.into();
        self
    }

    /// Ends the open part, if any.
    fn close_open(&mut self, buf: &mut BytesMut) {
        match std::mem::replace(&mut self.open, Open::None) {
            Open::None => {}
            Open::Text(n) => frame(buf, 0, |chunk| {
                chunk.string("type", "text-end");
                part_id(chunk, "text-", n);
            }),
            Open::Reasoning(n) => frame(buf, 0, |chunk| {
                chunk.string("type", "reasoning-end");
                part_id(chunk, "reasoning-", n);
            }),
            Open::Tool(at) => self.end_tool_call(at, buf),
        }
    }

    /// Writes a text or reasoning delta, in the open part of its kind or a
    /// new one.
    fn write_text(&mut self, reasoning: bool, text: &str, buf: &mut BytesMut) {
        if text.is_empty() {
            return;
        }
        let (prefix, start, delta) = if reasoning {
            ("reasoning-", "reasoning-start", "reasoning-delta")
        } else {
            ("text-", "text-start", "text-delta")
        };
        let n = match self.open {
            Open::Text(n) if !reasoning => n,
            Open::Reasoning(n) if reasoning => n,
            _ => {
                self.close_open(buf);
                let n = self.parts;
                self.parts += 1;
                self.open = if reasoning {
                    Open::Reasoning(n)
                } else {
                    Open::Text(n)
                };
                frame(buf, 0, |chunk| {
                    chunk.string("type", start);
                    part_id(chunk, prefix, n);
                });
                n
            }
        };
        frame(buf, text.len(), |chunk| {
            chunk.string("type", delta);
            part_id(chunk, prefix, n);
            chunk.string("delta", text);
        });
    }

    /// Ends the open part and starts a tool call.
    fn start_tool_call(&mut self, index: u32, id: &str, name: &str, buf: &mut BytesMut) {
        self.close_open(buf);
        let id: Box<str> = if id.is_empty() {
            super::random_id("call_").into()
        } else {
            id.into()
        };
        frame(buf, id.len() + name.len(), |chunk| {
            chunk
                .string("type", "tool-input-start")
                .string("toolCallId", &id)
                .string("toolName", name);
        });
        self.open = Open::Tool(self.calls.len());
        self.calls.push(ToolCall {
            index,
            id,
            name: name.into(),
            arguments: String::new(),
            ended: false,
        });
    }

    fn write_tool_arguments(&mut self, index: u32, fragment: &str, buf: &mut BytesMut) {
        if fragment.is_empty() {
            return;
        }
        let at = match self.calls.iter().rposition(|call| call.index == index) {
            Some(at) if self.open == Open::Tool(at) => at,
            // Its call already ended: its input went out.
            Some(at) if self.calls[at].ended => return,
            Some(at) => at,
            None => {
                self.start_tool_call(index, "", "", buf);
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[at];
        call.arguments.push_str(fragment);
        frame(buf, call.id.len() + fragment.len(), |chunk| {
            chunk
                .string("type", "tool-input-delta")
                .string("toolCallId", &call.id)
                .string("inputTextDelta", fragment);
        });
    }

    /// Ends the tool call at `at`: `tool-input-available` with its
    /// arguments as JSON, or `tool-input-error` if they are not valid.
    fn end_tool_call(&mut self, at: usize, buf: &mut BytesMut) {
        let call = &mut self.calls[at];
        call.ended = true;
        let arguments = std::mem::take(&mut call.arguments);
        let start = buf.len();
        let mut invalid = None;
        frame(
            buf,
            arguments.len() + call.id.len() + call.name.len(),
            |chunk| {
                chunk
                    .string("type", "tool-input-available")
                    .string("toolCallId", &call.id)
                    .string("toolName", &call.name);
                let input = chunk.nested("input");
                if arguments.trim_matches(JSON_WHITESPACE).is_empty() {
                    input.put_slice(b"{}");
                } else if let Err(why) = write_compact_json(input, &arguments, Keys::NoPrototype) {
                    invalid = Some(why);
                }
            },
        );
        let Some(why) = invalid else { return };
        buf.truncate(start);
        let message = format!("Invalid input for tool {}: {}", call.name, why.message());
        frame(buf, arguments.len() * 2 + message.len(), |chunk| {
            chunk
                .string("type", "tool-input-error")
                .string("toolCallId", &call.id)
                .string("toolName", &call.name)
                .string("input", &arguments)
                .string("errorText", &message);
        });
    }

    fn write_data(data: &Data, buf: &mut BytesMut) {
        let start = buf.len();
        let mut valid = true;
        frame(buf, data.name().len() + data.as_json().len(), |chunk| {
            let kind = chunk.nested("type");
            kind.put_slice(b"\"data-");
            for c in data.name().bytes() {
                let keep = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
                // A multi-byte character becomes one `_`.
                if keep {
                    kind.put_u8(c);
                } else if c & 0xC0 != 0x80 {
                    kind.put_u8(b'_');
                }
            }
            kind.put_u8(b'"');
            valid =
                write_compact_json(chunk.nested("data"), data.as_json(), Keys::NoPrototype).is_ok();
        });
        if !valid {
            buf.truncate(start);
        }
    }
}

impl Default for VercelUiStream {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for VercelUiStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VercelUiStream")
            .field("message_id", &self.message_id)
            .field("open", &self.open)
            .field("tool_calls", &self.calls.len())
            .finish_non_exhaustive()
    }
}

impl Format for VercelUiStream {
    fn write_start(&mut self, buf: &mut BytesMut) {
        frame(buf, self.message_id.len(), |chunk| {
            chunk
                .string("type", "start")
                .string("messageId", &self.message_id);
        });
        frame(buf, 0, |chunk| {
            chunk.string("type", "start-step");
        });
    }

    fn write_delta(&mut self, delta: &Delta, buf: &mut BytesMut) {
        match delta {
            Delta::Text(text) => self.write_text(false, text, buf),
            Delta::Reasoning(text) => self.write_text(true, text, buf),
            Delta::ToolCall { index, id, name } => self.start_tool_call(*index, id, name, buf),
            Delta::ToolArguments { index, fragment } => {
                self.write_tool_arguments(*index, fragment, buf);
            }
            Delta::Usage(usage) => self.usage = Some(**usage),
            Delta::Finish(reason) => self.finish = Some(reason.clone()),
            Delta::Data(data) => Self::write_data(data, buf),
        }
    }

    fn write_end(&mut self, counted: &TokenCounts, buf: &mut BytesMut) {
        let _ = counted;
        self.close_open(buf);
        frame(buf, 0, |chunk| {
            chunk.string("type", "finish-step");
        });
        let reason = finish_reason(self.finish.as_ref(), !self.calls.is_empty());
        let usage = self.usage;
        frame(buf, 200, |chunk| {
            chunk
                .string("type", "finish")
                .string("finishReason", reason);
            if let Some(usage) = usage {
                let mut metadata = JsonObject::open(chunk.nested("messageMetadata"));
                write_usage(metadata.nested("usage"), &usage);
                metadata.close();
            }
        });
    }

    fn write_error(&mut self, failure: &Failure, buf: &mut BytesMut) {
        self.write_interrupted(failure, buf);
    }

    fn write_interrupted(&self, failure: &Failure, buf: &mut BytesMut) {
        frame(buf, failure.message().len(), |chunk| {
            chunk
                .string("type", "error")
                .string("errorText", failure.message());
        });
    }

    fn error_response(&self, status: u16, message: &str) -> super::ErrorResponse {
        super::ErrorResponse::text(status, message)
    }

    fn response_headers(&self) -> &'static [(&'static str, &'static str)] {
        HEADERS
    }
}

/// Appends `data: {...}\n\n`, the object's members written by `members`;
/// `len` is what they hold beyond a few short fields.
fn frame(buf: &mut BytesMut, len: usize, members: impl FnOnce(&mut JsonObject<'_>)) {
    buf.reserve(len + 64);
    buf.put_slice(b"data: ");
    let mut chunk = JsonObject::open(buf);
    members(&mut chunk);
    chunk.close();
    buf.put_slice(b"\n\n");
}

/// The member `"id":"<prefix>N"`.
fn part_id(chunk: &mut JsonObject<'_>, prefix: &str, n: u64) {
    let id = chunk.nested("id");
    id.put_u8(b'"');
    id.put_slice(prefix.as_bytes());
    write_decimal(id, u128::from(n));
    id.put_u8(b'"');
}

/// The `ai` package's spelling of `reason`; without one, `tool-calls` if a
/// tool was called, else `stop`.
fn finish_reason(reason: Option<&FinishReason>, tool_called: bool) -> &'static str {
    match reason {
        Some(FinishReason::Stop | FinishReason::StopSequence) => "stop",
        Some(FinishReason::Length) => "length",
        Some(FinishReason::ToolCalls) => "tool-calls",
        Some(FinishReason::ContentFilter) => "content-filter",
        Some(FinishReason::Other(other)) => match &**other {
            "stop" => "stop",
            "length" => "length",
            "content-filter" => "content-filter",
            "tool-calls" => "tool-calls",
            "error" => "error",
            _ => "other",
        },
        None if tool_called => "tool-calls",
        None => "stop",
    }
}

/// `usage` in the names of the `ai` package's `LanguageModelUsage`.
fn write_usage(buf: &mut BytesMut, usage: &Usage) {
    let mut object = JsonObject::open(buf);
    object
        .number("inputTokens", usage.prompt_tokens)
        .number("outputTokens", usage.completion_tokens)
        .number("totalTokens", usage.total_tokens);
    if let Some(cached) = usage.cached_prompt_tokens {
        JsonObject::open(object.nested("inputTokenDetails"))
            .number("cacheReadTokens", cached)
            .close();
    }
    if let Some(reasoning) = usage.reasoning_tokens {
        JsonObject::open(object.nested("outputTokenDetails"))
            .number("reasoningTokens", reasoning)
            .close();
    }
    object.close();
}

/// The whitespace JSON allows between tokens.
const JSON_WHITESPACE: &[char] = &[' ', '\t', '\n', '\r'];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::FailureKind;

    fn run(deltas: &[Delta]) -> String {
        let mut format = VercelUiStream::new().message_id("msg_1");
        let mut buf = BytesMut::new();
        format.write_start(&mut buf);
        for delta in deltas {
            format.write_delta(delta, &mut buf);
        }
        format.write_end(&TokenCounts::default(), &mut buf);
        String::from_utf8(buf.to_vec()).unwrap()
    }

    /// The chunks between `start-step` and `finish-step`.
    fn body(deltas: &[Delta]) -> Vec<String> {
        let wire = run(deltas);
        let frames: Vec<String> = wire
            .strip_suffix("\n\n")
            .unwrap()
            .split("\n\n")
            .map(|f| f.strip_prefix("data: ").unwrap().to_owned())
            .collect();
        assert_eq!(
            frames[..2],
            [
                "{\"type\":\"start\",\"messageId\":\"msg_1\"}",
                "{\"type\":\"start-step\"}"
            ]
        );
        let n = frames.len();
        assert_eq!(frames[n - 2], "{\"type\":\"finish-step\"}");
        frames[2..n - 2].to_vec()
    }

    fn last_frame(deltas: &[Delta]) -> String {
        run(deltas).rsplit("data: ").next().unwrap().to_owned()
    }

    #[test]
    fn header_and_end_marker() {
        let format = VercelUiStream::default();
        assert_eq!(
            format.response_headers(),
            [("x-vercel-ai-ui-message-stream", "v1")]
        );
        assert_eq!(format.end_marker().as_deref(), Some(crate::format::DONE));
        assert_eq!(format.heartbeat(), crate::format::COMMENT_HEARTBEAT);
        assert!(format.message_id.starts_with("msg_"));
        assert_eq!(format.message_id.len(), 36);
        assert_ne!(format.message_id, VercelUiStream::new().message_id);
    }

    #[test]
    fn empty_answer() {
        assert_eq!(
            run(&[]),
            "data: {\"type\":\"start\",\"messageId\":\"msg_1\"}\n\n\
             data: {\"type\":\"start-step\"}\n\n\
             data: {\"type\":\"finish-step\"}\n\n\
             data: {\"type\":\"finish\",\"finishReason\":\"stop\"}\n\n"
        );
    }

    #[test]
    fn reasoning_then_text_in_parts() {
        assert_eq!(
            body(&[
                Delta::reasoning("Think"),
                Delta::reasoning(" more."),
                Delta::text("Hi"),
                Delta::text(""),
                Delta::text("!"),
            ]),
            [
                "{\"type\":\"reasoning-start\",\"id\":\"reasoning-0\"}",
                "{\"type\":\"reasoning-delta\",\"id\":\"reasoning-0\",\"delta\":\"Think\"}",
                "{\"type\":\"reasoning-delta\",\"id\":\"reasoning-0\",\"delta\":\" more.\"}",
                "{\"type\":\"reasoning-end\",\"id\":\"reasoning-0\"}",
                "{\"type\":\"text-start\",\"id\":\"text-1\"}",
                "{\"type\":\"text-delta\",\"id\":\"text-1\",\"delta\":\"Hi\"}",
                "{\"type\":\"text-delta\",\"id\":\"text-1\",\"delta\":\"!\"}",
                "{\"type\":\"text-end\",\"id\":\"text-1\"}",
            ]
        );
    }

    #[test]
    fn hostile_text_stays_on_one_data_line() {
        let hostile = "a\"b\\c\r\nd\re\nf\n\ndata: [DONE]\n\nevent: x\u{2028}\u{2029}🦀";
        let wire = run(&[Delta::text(hostile)]);
        assert!(!wire.contains('\r'));
        assert!(wire
            .split('\n')
            .all(|line| line.is_empty() || line.starts_with("data: {") || line == "data: [DONE]"));
        assert!(wire.contains(
            "\"delta\":\"a\\\"b\\\\c\\r\\nd\\re\\nf\\n\\ndata: [DONE]\\n\\nevent: x\\u2028\\u2029🦀\""
        ));
    }

    #[test]
    fn tool_calls_end_each_other() {
        assert_eq!(
            body(&[
                Delta::reasoning("r"),
                Delta::tool_call(0, "call_a", "lookup"),
                Delta::tool_arguments(0, "{\"query\":\n"),
                Delta::tool_arguments(0, " \"x\u{2028}\"}"),
                Delta::tool_call(1, "call_b", "now"),
                Delta::text("done"),
            ]),
            [
                "{\"type\":\"reasoning-start\",\"id\":\"reasoning-0\"}",
                "{\"type\":\"reasoning-delta\",\"id\":\"reasoning-0\",\"delta\":\"r\"}",
                "{\"type\":\"reasoning-end\",\"id\":\"reasoning-0\"}",
                "{\"type\":\"tool-input-start\",\"toolCallId\":\"call_a\",\"toolName\":\"lookup\"}",
                "{\"type\":\"tool-input-delta\",\"toolCallId\":\"call_a\",\"inputTextDelta\":\"{\\\"query\\\":\\n\"}",
                "{\"type\":\"tool-input-delta\",\"toolCallId\":\"call_a\",\"inputTextDelta\":\" \\\"x\\u2028\\\"}\"}",
                "{\"type\":\"tool-input-available\",\"toolCallId\":\"call_a\",\"toolName\":\"lookup\",\"input\":{\"query\":\"x\\u2028\"}}",
                "{\"type\":\"tool-input-start\",\"toolCallId\":\"call_b\",\"toolName\":\"now\"}",
                "{\"type\":\"tool-input-available\",\"toolCallId\":\"call_b\",\"toolName\":\"now\",\"input\":{}}",
                "{\"type\":\"text-start\",\"id\":\"text-1\"}",
                "{\"type\":\"text-delta\",\"id\":\"text-1\",\"delta\":\"done\"}",
                "{\"type\":\"text-end\",\"id\":\"text-1\"}",
            ]
        );
    }

    #[test]
    fn invalid_tool_input_is_an_input_error() {
        assert_eq!(
            body(&[
                Delta::tool_call(0, "call_a", "lookup"),
                Delta::tool_arguments(0, "{\"query\":\"cut"),
            ])[2],
            "{\"type\":\"tool-input-error\",\"toolCallId\":\"call_a\",\"toolName\":\"lookup\",\
             \"input\":\"{\\\"query\\\":\\\"cut\",\
             \"errorText\":\"Invalid input for tool lookup: not valid JSON (at byte 13)\"}"
        );
        let proto = body(&[
            Delta::tool_call(0, "call_a", "f"),
            Delta::tool_arguments(0, "{\"a\":[{\"__proto__\":{}}]}"),
        ]);
        assert!(
            proto[2].starts_with("{\"type\":\"tool-input-error\""),
            "{proto:?}"
        );
        assert!(proto[2].contains("__proto__ or constructor.prototype"));
    }

    #[test]
    fn late_and_orphan_arguments() {
        let frames = body(&[
            Delta::tool_call(0, "", "f"),
            Delta::tool_arguments(0, "[1]"),
            Delta::text("t"),
            // Its call ended: skipped.
            Delta::tool_arguments(0, ",2"),
            // No call started: one is, nameless.
            Delta::tool_arguments(7, "{}"),
        ]);
        assert_eq!(frames.len(), 9, "{frames:?}");
        // An empty id is replaced by a generated one.
        assert!(frames[0].starts_with("{\"type\":\"tool-input-start\",\"toolCallId\":\"call_"));
        assert_eq!(
            frames[0].len(),
            "{\"type\":\"tool-input-start\",\"toolCallId\":\"\",\"toolName\":\"f\"}".len() + 37
        );
        assert!(frames[2].ends_with("\"toolName\":\"f\",\"input\":[1]}"));
        assert!(!frames.iter().any(|f| f.contains(",2")));
        assert!(frames[6].starts_with("{\"type\":\"tool-input-start\",\"toolCallId\":\"call_"));
        assert!(frames[6].ends_with("\"toolName\":\"\"}"));
        assert!(frames[8].ends_with("\"toolName\":\"\",\"input\":{}}"));
    }

    #[test]
    fn interleaved_calls_keep_the_current_one() {
        // A second call's arguments end the first only when it starts.
        let frames = body(&[
            Delta::tool_call(0, "a", "f"),
            Delta::tool_call(1, "b", "g"),
            Delta::tool_arguments(1, "{\"x\":1}"),
        ]);
        assert_eq!(
            frames[1],
            "{\"type\":\"tool-input-available\",\"toolCallId\":\"a\",\"toolName\":\"f\",\"input\":{}}"
        );
        assert_eq!(
            frames[4],
            "{\"type\":\"tool-input-available\",\"toolCallId\":\"b\",\"toolName\":\"g\",\"input\":{\"x\":1}}"
        );
    }

    #[test]
    fn data_parts() {
        let frames = body(&[
            Delta::text("a"),
            Delta::data(Data::string("status", "line\nbreak")),
            Delta::data(Data::string("we\"ird name/é\n", "x")),
            Delta::text("b"),
        ]);
        assert_eq!(
            frames,
            [
                "{\"type\":\"text-start\",\"id\":\"text-0\"}",
                "{\"type\":\"text-delta\",\"id\":\"text-0\",\"delta\":\"a\"}",
                "{\"type\":\"data-status\",\"data\":\"line\\nbreak\"}",
                "{\"type\":\"data-we_ird_name___\",\"data\":\"x\"}",
                "{\"type\":\"text-delta\",\"id\":\"text-0\",\"delta\":\"b\"}",
                "{\"type\":\"text-end\",\"id\":\"text-0\"}",
            ]
        );
    }

    #[test]
    fn finish_reasons_and_usage() {
        let finish = |reason| last_frame(&[Delta::finish(reason)]);
        assert_eq!(
            finish(FinishReason::Length),
            "{\"type\":\"finish\",\"finishReason\":\"length\"}\n\n"
        );
        for (reason, spelled) in [
            (FinishReason::Stop, "stop"),
            (FinishReason::StopSequence, "stop"),
            (FinishReason::ToolCalls, "tool-calls"),
            (FinishReason::ContentFilter, "content-filter"),
            // `interrupted` exists only since ai 7.0.149: the strict schema
            // of older clients refuses it.
            (FinishReason::Other("interrupted".into()), "other"),
            (FinishReason::Other("end_turn".into()), "other"),
        ] {
            assert!(finish(reason).contains(&format!("\"finishReason\":\"{spelled}\"")));
        }
        assert_eq!(
            last_frame(&[
                Delta::usage(Usage::new(3, 4).cached_prompt_tokens(2).reasoning_tokens(1)),
                Delta::finish(FinishReason::Length),
            ]),
            "{\"type\":\"finish\",\"finishReason\":\"length\",\"messageMetadata\":{\"usage\":\
             {\"inputTokens\":3,\"outputTokens\":4,\"totalTokens\":7,\
             \"inputTokenDetails\":{\"cacheReadTokens\":2},\
             \"outputTokenDetails\":{\"reasoningTokens\":1}}}}\n\n"
        );
    }

    #[test]
    fn error_chunk() {
        let mut format = VercelUiStream::new();
        let mut buf = BytesMut::new();
        format.write_error(
            &Failure::new(FailureKind::Upstream, "bad \"news\"\n"),
            &mut buf,
        );
        assert_eq!(
            buf,
            "data: {\"type\":\"error\",\"errorText\":\"bad \\\"news\\\"\\n\"}\n\n"
        );
    }

    #[cfg(feature = "json")]
    #[test]
    fn data_with_a_prototype_key_is_skipped() {
        let data = Data::string("s", "x");
        let hostile = Data::json("s", &serde_json::json!({"__proto__": {}})).unwrap();
        assert_eq!(hostile.as_json(), "{\"__proto__\":{}}");
        let frames = body(&[Delta::data(hostile), Delta::data(data)]);
        assert_eq!(frames, ["{\"type\":\"data-s\",\"data\":\"x\"}"]);
    }
}
