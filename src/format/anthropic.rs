//! [`AnthropicMessages`]: the Anthropic Messages streaming format, and
//! [`AnthropicMessage`], the same answer as one `message` object.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::json_check::{write_compact_json, Keys};
use super::json_writer::JsonObject;
use super::{Failure, FailureKind, Format};
use crate::delta::{Delta, FinishReason, IntoDelta, TokenCounts, Usage};
use crate::TokenStream;

/// The Anthropic API's keep-alive, byte for byte as it sends it (the space
/// included); the official SDKs skip `ping` events.
const PING: &[u8] = b"event: ping\ndata: {\"type\": \"ping\"}\n\n";

/// The stop reasons the Anthropic API defines, as JSON strings; a
/// [`FinishReason::Other`] that names one is written as given.
const STOP_REASONS: [&str; 7] = [
    "\"end_turn\"",
    "\"max_tokens\"",
    "\"stop_sequence\"",
    "\"tool_use\"",
    "\"pause_turn\"",
    "\"refusal\"",
    "\"model_context_window_exceeded\"",
];

/// The key that wraps tool arguments which are not a JSON object in a
/// [`AnthropicMessage`]'s `tool_use` input, as Anthropic's fine-grained tool
/// streaming guide suggests for passing invalid JSON back to the model.
const INVALID_JSON: &str = "INVALID_JSON";

/// The Anthropic Messages streaming format, which the official Anthropic
/// SDKs (and their `messages.stream()` helpers) read unchanged.
///
/// Every frame is one SSE event whose `event:` name equals its data's
/// `type` (the SDKs drop unnamed events), with the data on one line. In
/// order:
///
/// 1. `message_start`, sent at once, before the model's first token: the
///    message with its `id`, `model`, `content: []`, `stop_reason: null`,
///    and `usage` with the prompt's [`input_tokens`](AnthropicMessages::input_tokens)
///    and `output_tokens: 1`, as the API starts its streams;
/// 2. content blocks with indices 0, 1, 2, ... one at a time: each opens
///    with `content_block_start` before its first delta and closes with
///    `content_block_stop` before the next one opens. A change of kind (or
///    a new tool call) closes the open block and opens the next:
///    - reasoning: a `thinking` block (`"thinking":"","signature":""`, the
///      shape the API opens it with) with `thinking_delta`s. No
///      `signature_delta` follows: a [`Delta`] carries no signature, and the
///      SDKs do not need one (the block's `signature` stays `""`);
///    - text: a `text` block with `text_delta`s;
///    - a tool call: a `tool_use` block (`id`, `name`, `input: {}`), then
///      its argument fragments as `input_json_delta`s (`partial_json`). A
///      call without an id gets one (`toolu_` and 32 hex digits);
///      fragments of a call whose start never came open its block, with a
///      fresh id and an empty name; fragments of a call whose block is
///      already closed (the model interleaved two calls) have no place in
///      this format and are dropped;
///    - empty text, reasoning and fragments are skipped (the API rejects
///      empty text blocks sent back to it); usage and the finish reason are
///      kept for the end; [`Data`](crate::Data) has no place here and is
///      skipped;
/// 3. `content_block_stop` of the open block, then `message_delta` with
///    `delta: {"stop_reason":...,"stop_sequence":null}` and the cumulative
///    `usage`: the model's [`Usage`] delta when it sent one (its prompt
///    tokens, less those served from a cache, as `input_tokens`; the cached
///    ones as `cache_read_input_tokens`; a prompt count of 0 leaves the one
///    given with `input_tokens`), else counted by the stream (completion
///    tokens as sent); reasoning tokens, when known, as
///    `output_tokens_details.thinking_tokens`;
/// 4. `message_stop`. No `[DONE]` follows: the API sends none.
///
/// The stop reason is the model's [`FinishReason`] in Anthropic's spelling:
/// `end_turn`, `max_tokens`, `tool_use`, `stop_sequence`, `refusal` (a
/// content filter), or a [`FinishReason::Other`] that names one of the
/// API's reasons. Without one, or with another, it is `tool_use` if a tool
/// was called, else `end_turn`; a plain stop after a tool call is
/// `tool_use` too (agent loops wait for that reason to run the tools).
///
/// A failure is `event: error` with `{"type":"error","error":{"type":...,
/// "message":...}}`, which the SDKs raise as an API status error: the type
/// is `timeout_error` for a timeout, `api_error` otherwise. The open block
/// is left open, as the API leaves it: a `content_block_stop` would tell
/// clients that a cut tool input is complete.
///
/// The heartbeat is the API's own `event: ping` with `{"type": "ping"}`.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use futures_util::{stream, StreamExt};
/// use llm_sse::adapters::Batch;
/// use llm_sse::format::AnthropicMessages;
/// use llm_sse::{Delta, FinishReason, SseStream};
///
/// let answer = stream::iter([
///     Delta::text("Let me look."),
///     Delta::tool_call(0, "toolu_1", "lookup"),
///     Delta::tool_arguments(0, "{\"query\":\"rust\"}"),
///     Delta::finish(FinishReason::ToolCalls),
/// ])
/// .map(Ok::<_, std::io::Error>);
/// let format = AnthropicMessages::new("my-model").id("msg_1").input_tokens(12);
/// let frames: Vec<_> = SseStream::builder(answer).batch(Batch::off()).format(format).build().collect().await;
/// // The message starts at once, before the model's first token.
/// assert_eq!(
///     frames[0],
///     "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\
///      \"type\":\"message\",\"role\":\"assistant\",\"model\":\"my-model\",\"content\":[],\
///      \"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n"
/// );
/// assert_eq!(
///     frames[1],
///     "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\
///      \"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
///      event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\
///      \"delta\":{\"type\":\"text_delta\",\"text\":\"Let me look.\"}}\n\n"
/// );
/// // A tool call closes the text block and opens its own.
/// assert!(frames[2].starts_with(b"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"));
/// assert!(frames[2].ends_with(
///     b"\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"lookup\",\"input\":{}}}\n\n"
/// ));
/// let end = frames.last().unwrap();
/// assert!(end.ends_with(
///     b"\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\
///       \"usage\":{\"input_tokens\":12,\"output_tokens\":2}}\n\n\
///       event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
/// ));
/// # }
/// # #[cfg(not(feature = "tokio"))]
/// # fn main() {}
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "anthropic")))]
#[derive(Clone)]
pub struct AnthropicMessages {
    id: String,
    model: String,
    input_tokens: u64,
    started: bool,
    /// The open content block, if any.
    open: Option<Block>,
    /// How many content blocks were opened: the next block's index.
    blocks: u64,
    /// The indices of the tool calls whose block was opened.
    tools: Vec<u32>,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
}

/// The kind of an open content block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Thinking,
    Text,
    /// A `tool_use` block, with its tool call's index.
    Tool(u32),
}

impl AnthropicMessages {
    /// Events of a message by `model`, with a fresh random id (`msg_` and
    /// 32 hex digits).
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            id: super::random_id("msg_"),
            model: model.into(),
            input_tokens: 0,
            started: false,
            open: None,
            blocks: 0,
            tools: Vec::new(),
            usage: None,
            finish: None,
        }
    }

    /// Sets the message's `id`. Default: `msg_` and 32 random hex digits.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// The prompt's tokens: `input_tokens` in `message_start`, and in the
    /// final usage when the model sends no [`Usage`] (or one that counts
    /// no prompt tokens). Default: 0.
    #[must_use]
    pub fn input_tokens(mut self, tokens: u64) -> Self {
        self.input_tokens = tokens;
        self
    }

    /// An empty [`AnthropicMessage`] with this format's id, model and input
    /// tokens, to answer `stream: false` with the same deltas.
    pub fn message(&self) -> AnthropicMessage {
        AnthropicMessage {
            id: self.id.clone(),
            model: self.model.clone(),
            input_tokens: self.input_tokens,
            content: Vec::new(),
            usage: None,
            finish: None,
            counted: TokenCounts::default(),
        }
    }

    /// Writes `message_start` unless it went out already.
    fn ensure_started(&mut self, buf: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        let len = self.id.len() + self.model.len() + 160;
        write_event(buf, "message_start", len, |event| {
            let mut message = JsonObject::open(event.nested("message"));
            message
                .string("id", &self.id)
                .string("type", "message")
                .string("role", "assistant")
                .string("model", &self.model)
                .raw("content", "[]")
                .raw("stop_reason", "null")
                .raw("stop_sequence", "null");
            JsonObject::open(message.nested("usage"))
                .number("input_tokens", self.input_tokens)
                .number("output_tokens", 1)
                .close();
            message.close();
        });
    }

    /// Closes the open block, opens `block` (whose `content_block` members
    /// `content` writes) and returns its index.
    fn start_block(
        &mut self,
        block: Block,
        buf: &mut BytesMut,
        len: usize,
        content: impl FnOnce(&mut JsonObject<'_>),
    ) -> u64 {
        self.stop_block(buf);
        let index = self.blocks;
        self.blocks += 1;
        self.open = Some(block);
        write_event(buf, "content_block_start", len + 48, |event| {
            event.number("index", index);
            let mut object = JsonObject::open(event.nested("content_block"));
            content(&mut object);
            object.close();
        });
        index
    }

    /// The index of the open block, after opening `block` if it is not the
    /// open one.
    fn block(&mut self, block: Block, buf: &mut BytesMut) -> u64 {
        if self.open == Some(block) {
            return self.blocks - 1;
        }
        match block {
            Block::Thinking => self.start_block(block, buf, 32, |content| {
                content
                    .string("type", "thinking")
                    .string("thinking", "")
                    .string("signature", "");
            }),
            Block::Text => self.start_block(block, buf, 16, |content| {
                content.string("type", "text").string("text", "");
            }),
            Block::Tool(index) => self.start_tool(index, "", "", buf),
        }
    }

    /// Opens the `tool_use` block of tool call `index`.
    fn start_tool(&mut self, index: u32, id: &str, name: &str, buf: &mut BytesMut) -> u64 {
        if !self.tools.contains(&index) {
            self.tools.push(index);
        }
        let fresh;
        let id = if id.is_empty() {
            fresh = super::random_id("toolu_");
            &fresh
        } else {
            id
        };
        let len = id.len() + name.len() + 48;
        self.start_block(Block::Tool(index), buf, len, |content| {
            content
                .string("type", "tool_use")
                .string("id", id)
                .string("name", name)
                .raw("input", "{}");
        })
    }

    /// Closes the open block, if any.
    fn stop_block(&mut self, buf: &mut BytesMut) {
        if self.open.take().is_some() {
            let index = self.blocks - 1;
            write_event(buf, "content_block_stop", 0, |event| {
                event.number("index", index);
            });
        }
    }
}

/// Appends one event named `name` whose data is `{"type":"<name>",...}`,
/// the other members written by `members`; `len` is a size hint.
fn write_event(
    buf: &mut BytesMut,
    name: &str,
    len: usize,
    members: impl FnOnce(&mut JsonObject<'_>),
) {
    buf.reserve(len + 2 * name.len() + 24);
    buf.put_slice(b"event: ");
    buf.put_slice(name.as_bytes());
    buf.put_slice(b"\ndata: ");
    let mut object = JsonObject::open(buf);
    object.string("type", name);
    members(&mut object);
    object.close();
    buf.put_slice(b"\n\n");
}

/// Appends a `content_block_delta` of block `index`: `{"type":<kind>,
/// <field>:<text>}`.
fn write_block_delta(buf: &mut BytesMut, index: u64, kind: &str, field: &str, text: &str) {
    write_event(buf, "content_block_delta", text.len() + 64, |event| {
        event.number("index", index);
        JsonObject::open(event.nested("delta"))
            .string("type", kind)
            .string(field, text)
            .close();
    });
}

/// Anthropic's spelling of `reason` as a JSON string; without one (or with
/// a reason the API does not know), `tool_use` if a tool was called, else
/// `end_turn`.
fn stop_reason(reason: Option<&FinishReason>, tool_called: bool) -> &'static str {
    let fallback = if tool_called {
        "\"tool_use\""
    } else {
        "\"end_turn\""
    };
    match reason {
        Some(FinishReason::Length) => "\"max_tokens\"",
        Some(FinishReason::ToolCalls) => "\"tool_use\"",
        Some(FinishReason::StopSequence) => "\"stop_sequence\"",
        Some(FinishReason::ContentFilter) => "\"refusal\"",
        Some(FinishReason::Other(other)) => STOP_REASONS
            .into_iter()
            .find(|known| known[1..known.len() - 1] == **other)
            .unwrap_or(fallback),
        Some(_) | None => fallback,
    }
}

/// The `type` of an Anthropic error object for `kind`.
fn error_type(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::TimedOut(_) => "timeout_error",
        _ => "api_error",
    }
}

/// Writes the `usage` object: the model's [`Usage`] when it sent one, else
/// `input_tokens` as given and the output counted.
fn write_usage(
    buf: &mut BytesMut,
    usage: Option<&Usage>,
    input_tokens: u64,
    counted: &TokenCounts,
) {
    let (input, cache_read, output, thinking) = match usage {
        Some(usage) => {
            let cached = usage.cached_prompt_tokens;
            let input = if usage.prompt_tokens == 0 {
                input_tokens
            } else {
                usage.prompt_tokens.saturating_sub(cached.unwrap_or(0))
            };
            (
                input,
                cached,
                usage.completion_tokens,
                usage.reasoning_tokens,
            )
        }
        None => (
            input_tokens,
            None,
            counted.total(),
            (counted.reasoning > 0).then_some(counted.reasoning),
        ),
    };
    let mut object = JsonObject::open(buf);
    object.number("input_tokens", input);
    if let Some(cached) = cache_read {
        object.number("cache_read_input_tokens", cached);
    }
    object.number("output_tokens", output);
    if let Some(thinking) = thinking {
        JsonObject::open(object.nested("output_tokens_details"))
            .number("thinking_tokens", thinking)
            .close();
    }
    object.close();
}

impl Format for AnthropicMessages {
    fn write_start(&mut self, buf: &mut BytesMut) {
        self.ensure_started(buf);
    }

    fn error_response(&self, status: u16, message: &str) -> super::ErrorResponse {
        super::ErrorResponse::anthropic(status, message)
    }

    fn write_delta(&mut self, delta: &Delta, buf: &mut BytesMut) {
        self.ensure_started(buf);
        match delta {
            Delta::Text(text) if !text.is_empty() => {
                let index = self.block(Block::Text, buf);
                write_block_delta(buf, index, "text_delta", "text", text);
            }
            Delta::Reasoning(text) if !text.is_empty() => {
                let index = self.block(Block::Thinking, buf);
                write_block_delta(buf, index, "thinking_delta", "thinking", text);
            }
            Delta::ToolCall { index, id, name } => {
                self.start_tool(*index, id, name, buf);
            }
            Delta::ToolArguments { index, fragment } if !fragment.is_empty() => {
                let open = self.open == Some(Block::Tool(*index));
                if !open && self.tools.contains(index) {
                    // Its block is closed: Anthropic has no way to reopen it.
                    return;
                }
                let block = self.block(Block::Tool(*index), buf);
                write_block_delta(buf, block, "input_json_delta", "partial_json", fragment);
            }
            Delta::Usage(usage) => self.usage = Some(**usage),
            Delta::Finish(reason) => self.finish = Some(reason.clone()),
            _ => {}
        }
    }

    fn write_end(&mut self, counted: &TokenCounts, buf: &mut BytesMut) {
        self.ensure_started(buf);
        self.stop_block(buf);
        let stop = stop_reason(self.finish.as_ref(), !self.tools.is_empty());
        let (usage, input_tokens) = (self.usage, self.input_tokens);
        write_event(buf, "message_delta", 200, |event| {
            JsonObject::open(event.nested("delta"))
                .raw("stop_reason", stop)
                .raw("stop_sequence", "null")
                .close();
            write_usage(event.nested("usage"), usage.as_ref(), input_tokens, counted);
        });
        write_event(buf, "message_stop", 0, |_| {});
    }

    /// None: the Anthropic API ends its streams with `message_stop`.
    fn end_marker(&self) -> Option<Bytes> {
        None
    }

    fn write_error(&mut self, failure: &Failure, buf: &mut BytesMut) {
        self.write_interrupted(failure, buf);
    }

    fn write_interrupted(&self, failure: &Failure, buf: &mut BytesMut) {
        write_event(buf, "error", failure.message().len() + 48, |event| {
            JsonObject::open(event.nested("error"))
                .string("type", error_type(failure.kind()))
                .string("message", failure.message())
                .close();
        });
    }

    fn heartbeat(&self) -> Bytes {
        Bytes::from_static(PING)
    }
}

impl fmt::Debug for AnthropicMessages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicMessages")
            .field("id", &self.id)
            .field("model", &self.model)
            .field("input_tokens", &self.input_tokens)
            .finish_non_exhaustive()
    }
}

/// One content block of an [`AnthropicMessage`].
#[derive(Debug, Clone)]
enum Content {
    Thinking(String),
    Text(String),
    ToolUse {
        index: u32,
        id: String,
        name: String,
        arguments: String,
    },
}

/// A whole answer as one Anthropic `message` object, for requests with
/// `stream: false`: push the same deltas a stream would send, then write
/// the JSON.
///
/// Made by [`AnthropicMessages::message`]. The content blocks are those the
/// stream would open (a `thinking`, `text` or `tool_use` block at each
/// change of kind or new tool call), with their text joined; a thinking
/// block's `signature` is `""`. Argument fragments join their tool call
/// while its block is the open one; those that come after it closed are
/// left out, as the stream leaves them out. A tool call's `input` is its
/// joined arguments,
/// compacted, when they form one JSON object that strict parsers read
/// (RFC 8259, nested at most 128 deep, no lone surrogate escape), `{}` when
/// there are none, and otherwise
/// `{"INVALID_JSON":"<the arguments>"}`, the wrapper Anthropic's
/// fine-grained tool streaming guide suggests, so the message is always
/// valid JSON and `input` always an object. The usage and stop reason are
/// those of the stream; counted usage is one token per text, reasoning or
/// argument delta pushed.
///
/// # Examples
///
/// ```
/// use llm_sse::format::AnthropicMessages;
/// use llm_sse::{Delta, FinishReason};
///
/// let mut message = AnthropicMessages::new("m").id("msg_1").input_tokens(3).message();
/// message.push(Delta::reasoning("Easy."));
/// message.push(Delta::text("Hel"));
/// message.push(Delta::text("lo"));
/// message.push(Delta::finish(FinishReason::Length));
/// assert_eq!(
///     message.to_json(),
///     "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[\
///      {\"type\":\"thinking\",\"thinking\":\"Easy.\",\"signature\":\"\"},{\"type\":\"text\",\"text\":\"Hello\"}],\
///      \"stop_reason\":\"max_tokens\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":3,\
///      \"output_tokens_details\":{\"thinking_tokens\":1}}}"
/// );
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "anthropic")))]
#[derive(Debug, Clone)]
pub struct AnthropicMessage {
    id: String,
    model: String,
    input_tokens: u64,
    content: Vec<Content>,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
    counted: TokenCounts,
}

impl AnthropicMessage {
    /// Adds one delta of the answer.
    pub fn push(&mut self, delta: impl IntoDelta) {
        let delta = delta.into_delta();
        self.counted.add(delta.kind(), 1);
        match delta {
            Delta::Text(text) if !text.is_empty() => match self.content.last_mut() {
                Some(Content::Text(joined)) => joined.push_str(&text),
                _ => self.content.push(Content::Text(text.into_owned())),
            },
            Delta::Reasoning(text) if !text.is_empty() => match self.content.last_mut() {
                Some(Content::Thinking(joined)) => joined.push_str(&text),
                _ => self.content.push(Content::Thinking(text.into_owned())),
            },
            Delta::ToolCall { index, id, name } => self.content.push(Content::ToolUse {
                index,
                id: if id.is_empty() {
                    super::random_id("toolu_")
                } else {
                    id.into()
                },
                name: name.into(),
                arguments: String::new(),
            }),
            Delta::ToolArguments { index, fragment } if !fragment.is_empty() => {
                let is_call = |block: &Content| matches!(block, Content::ToolUse { index: i, .. } if *i == index);
                let open = self.content.last().is_some_and(is_call);
                let started = self.content.iter().any(is_call);
                match self.content.last_mut() {
                    // The open block is the call's: its arguments go on.
                    Some(Content::ToolUse { arguments, .. }) if open => {
                        arguments.push_str(&fragment);
                    }
                    // The call's block is closed (the model interleaved two
                    // calls): left out, as the stream leaves them out.
                    _ if started => {}
                    // Arguments without a start: keep them, nameless.
                    _ => self.content.push(Content::ToolUse {
                        index,
                        id: super::random_id("toolu_"),
                        name: String::new(),
                        arguments: fragment.into_owned(),
                    }),
                }
            }
            Delta::Usage(usage) => self.usage = Some(*usage),
            Delta::Finish(reason) => self.finish = Some(reason),
            _ => {}
        }
    }

    /// Pushes every delta of `deltas`, stopping at the first error.
    ///
    /// # Errors
    ///
    /// The first error the stream yields; what was pushed before it stays.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_util::FutureExt::now_or_never(async {
    /// use futures_util::{stream, StreamExt};
    /// use llm_sse::format::AnthropicMessages;
    ///
    /// let tokens = stream::iter(["Hi", "!"]).map(Ok::<_, std::io::Error>);
    /// let mut message = AnthropicMessages::new("m").message();
    /// message.collect(tokens).await?;
    /// assert!(message.to_json().contains("\"content\":[{\"type\":\"text\",\"text\":\"Hi!\"}]"));
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn collect<S>(&mut self, deltas: S) -> Result<(), S::Error>
    where
        S: TokenStream,
        S::Token: IntoDelta,
    {
        super::push_all(deltas, |delta| self.push(delta)).await
    }

    /// The `message` object as compact JSON.
    pub fn to_json(&self) -> String {
        let text_len: usize = self
            .content
            .iter()
            .map(|block| match block {
                Content::Thinking(text) | Content::Text(text) => text.len() + 48,
                Content::ToolUse {
                    id,
                    name,
                    arguments,
                    ..
                } => id.len() + name.len() + arguments.len() * 2 + 80,
            })
            .sum();
        let mut buf = BytesMut::with_capacity(text_len + self.id.len() + self.model.len() + 256);
        let mut message = JsonObject::open(&mut buf);
        message
            .string("id", &self.id)
            .string("type", "message")
            .string("role", "assistant")
            .string("model", &self.model);
        let content = message.nested("content");
        content.put_u8(b'[');
        for (n, block) in self.content.iter().enumerate() {
            if n > 0 {
                content.put_u8(b',');
            }
            let mut object = JsonObject::open(content);
            match block {
                Content::Thinking(text) => {
                    object
                        .string("type", "thinking")
                        .string("thinking", text)
                        .string("signature", "");
                }
                Content::Text(text) => {
                    object.string("type", "text").string("text", text);
                }
                Content::ToolUse {
                    id,
                    name,
                    arguments,
                    ..
                } => {
                    object
                        .string("type", "tool_use")
                        .string("id", id)
                        .string("name", name);
                    let input = object.nested("input");
                    let mark = input.len();
                    let trimmed = arguments.trim_matches([' ', '\t', '\n', '\r']);
                    if trimmed.is_empty() {
                        input.put_slice(b"{}");
                    } else if !(trimmed.starts_with('{')
                        && write_compact_json(input, trimmed, Keys::Any).is_ok())
                    {
                        // Not one JSON object: the raw text, wrapped.
                        input.truncate(mark);
                        JsonObject::open(input)
                            .string(INVALID_JSON, arguments)
                            .close();
                    }
                }
            }
            object.close();
        }
        content.put_u8(b']');
        let tool_called = self
            .content
            .iter()
            .any(|block| matches!(block, Content::ToolUse { .. }));
        message
            .raw(
                "stop_reason",
                stop_reason(self.finish.as_ref(), tool_called),
            )
            .raw("stop_sequence", "null");
        write_usage(
            message.nested("usage"),
            self.usage.as_ref(),
            self.input_tokens,
            &self.counted,
        );
        message.close();
        String::from_utf8_lossy(&buf).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TimeoutKind;

    const START: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":\
        {\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-mock\",\
        \"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\
        \"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\n";

    fn format() -> AnthropicMessages {
        AnthropicMessages::new("claude-mock")
            .id("msg_1")
            .input_tokens(7)
    }

    fn block_start(index: u64, block: &str) -> String {
        format!(
            "event: content_block_start\ndata: {{\"type\":\"content_block_start\",\
             \"index\":{index},\"content_block\":{block}}}\n\n"
        )
    }

    fn block_delta(index: u64, delta: &str) -> String {
        format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\
             \"index\":{index},\"delta\":{delta}}}\n\n"
        )
    }

    fn block_stop(index: u64) -> String {
        format!(
            "event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":{index}}}\n\n"
        )
    }

    fn end(stop: &str, usage: &str) -> String {
        format!(
            "event: message_delta\ndata: {{\"type\":\"message_delta\",\
             \"delta\":{{\"stop_reason\":\"{stop}\",\"stop_sequence\":null}},\"usage\":{usage}}}\n\n\
             event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
        )
    }

    /// Runs `deltas` through `format` as the pipeline does (counting one
    /// token per text delta) and returns the bytes.
    fn run(mut format: AnthropicMessages, deltas: &[Delta]) -> String {
        let mut buf = BytesMut::new();
        let mut counted = TokenCounts::default();
        format.write_start(&mut buf);
        for delta in deltas {
            format.write_delta(delta, &mut buf);
            counted.add(delta.kind(), 1);
        }
        format.write_end(&counted, &mut buf);
        String::from_utf8(buf.to_vec()).unwrap()
    }

    /// Every event's name equals its data's `type`; returns the data.
    fn events(wire: &str) -> Vec<serde_json::Value> {
        wire.split_terminator("\n\n")
            .map(|frame| {
                let (event, data) = frame.split_once('\n').unwrap();
                let name = event.strip_prefix("event: ").unwrap();
                let data = data.strip_prefix("data: ").unwrap();
                assert!(!data.contains('\n'), "one data line: {data:?}");
                let value: serde_json::Value = serde_json::from_str(data).unwrap();
                assert_eq!(value["type"], name);
                value
            })
            .collect()
    }

    #[test]
    fn text_byte_for_byte() {
        let wire = run(format(), &[Delta::text("Hi"), Delta::text(" there")]);
        let expected = [
            START.to_owned(),
            block_start(0, "{\"type\":\"text\",\"text\":\"\"}"),
            block_delta(0, "{\"type\":\"text_delta\",\"text\":\"Hi\"}"),
            block_delta(0, "{\"type\":\"text_delta\",\"text\":\" there\"}"),
            block_stop(0),
            end("end_turn", "{\"input_tokens\":7,\"output_tokens\":2}"),
        ]
        .concat();
        assert_eq!(wire, expected);
        events(&wire);
    }

    #[test]
    fn empty_answer() {
        let wire = run(format(), &[]);
        assert_eq!(
            wire,
            [
                START.to_owned(),
                end("end_turn", "{\"input_tokens\":7,\"output_tokens\":0}")
            ]
            .concat()
        );
    }

    #[test]
    fn thinking_text_and_tools_in_blocks() {
        let wire = run(
            format(),
            &[
                Delta::reasoning("Think"),
                Delta::reasoning("ing."),
                Delta::text("Calling."),
                Delta::tool_call(0, "toolu_a", "lookup"),
                Delta::tool_arguments(0, "{\"q\":"),
                Delta::tool_arguments(0, "1}"),
                Delta::tool_call(1, "toolu_b", "fetch"),
                Delta::tool_arguments(1, "{}"),
                Delta::usage(Usage::new(20, 9).reasoning_tokens(2)),
            ],
        );
        let expected = [
            START.to_owned(),
            block_start(
                0,
                "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}",
            ),
            block_delta(0, "{\"type\":\"thinking_delta\",\"thinking\":\"Think\"}"),
            block_delta(0, "{\"type\":\"thinking_delta\",\"thinking\":\"ing.\"}"),
            block_stop(0),
            block_start(1, "{\"type\":\"text\",\"text\":\"\"}"),
            block_delta(1, "{\"type\":\"text_delta\",\"text\":\"Calling.\"}"),
            block_stop(1),
            block_start(
                2,
                "{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"lookup\",\"input\":{}}",
            ),
            block_delta(
                2,
                "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"q\\\":\"}",
            ),
            block_delta(2, "{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}"),
            block_stop(2),
            block_start(
                3,
                "{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"fetch\",\"input\":{}}",
            ),
            block_delta(3, "{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}"),
            block_stop(3),
            end(
                "tool_use",
                "{\"input_tokens\":20,\"output_tokens\":9,\
                 \"output_tokens_details\":{\"thinking_tokens\":2}}",
            ),
        ]
        .concat();
        assert_eq!(wire, expected);
        events(&wire);
    }

    #[test]
    fn hostile_text_stays_in_one_data_line() {
        let hostile = "a\"b\\c\r\nd\re\nf\n\nevent: error\ndata: [DONE]\u{2028}\u{2029}\t\0🦀";
        let wire = run(
            format(),
            &[
                Delta::text(hostile),
                Delta::reasoning(hostile),
                Delta::tool_call(0, hostile, hostile),
                Delta::tool_arguments(0, hostile),
            ],
        );
        assert!(!wire.contains('\r'));
        assert!(!wire.contains('\u{2028}'));
        let events = events(&wire);
        assert_eq!(events[2]["delta"]["text"], hostile);
        assert_eq!(events[5]["delta"]["thinking"], hostile);
        assert_eq!(events[7]["content_block"]["id"], hostile);
        assert_eq!(events[7]["content_block"]["name"], hostile);
        assert_eq!(events[8]["delta"]["partial_json"], hostile);
    }

    #[test]
    fn hostile_model_and_id() {
        let wire = run(AnthropicMessages::new("m\nevent: x").id("id\r\n\"x\""), &[]);
        let events = events(&wire);
        assert_eq!(events[0]["message"]["model"], "m\nevent: x");
        assert_eq!(events[0]["message"]["id"], "id\r\n\"x\"");
    }

    #[test]
    fn empty_deltas_and_data_open_no_block() {
        let wire = run(
            format(),
            &[
                Delta::text(""),
                Delta::reasoning(""),
                Delta::data(crate::Data::string("status", "x")),
                Delta::usage(Usage::new(0, 5)),
            ],
        );
        // A model's usage without prompt tokens keeps the ones given.
        assert_eq!(
            wire,
            [
                START.to_owned(),
                end("end_turn", "{\"input_tokens\":7,\"output_tokens\":5}")
            ]
            .concat()
        );
    }

    #[test]
    fn cached_prompt_tokens_are_cache_reads() {
        let wire = run(
            format(),
            &[Delta::usage(Usage::new(100, 5).cached_prompt_tokens(60))],
        );
        assert!(wire.ends_with(&end(
            "end_turn",
            "{\"input_tokens\":40,\"cache_read_input_tokens\":60,\"output_tokens\":5}"
        )));
    }

    #[test]
    fn counted_usage_knows_reasoning() {
        let wire = run(format(), &[Delta::reasoning("a"), Delta::text("b")]);
        assert!(wire.ends_with(&end(
            "end_turn",
            "{\"input_tokens\":7,\"output_tokens\":2,\"output_tokens_details\":{\"thinking_tokens\":1}}"
        )));
    }

    #[test]
    fn tool_calls_without_id_or_start() {
        let wire = run(
            format(),
            &[
                Delta::tool_call(0, "", "lookup"),
                Delta::tool_arguments(0, "{}"),
                Delta::tool_arguments(3, "{\"x\":1}"),
            ],
        );
        let events = events(&wire);
        let first = events[1]["content_block"]["id"].as_str().unwrap();
        assert!(first.starts_with("toolu_") && first.len() == 38, "{first}");
        assert_eq!(events[4]["index"], 1);
        assert_eq!(events[4]["content_block"]["name"], "");
        assert!(events[4]["content_block"]["id"]
            .as_str()
            .unwrap()
            .starts_with("toolu_"));
        assert_eq!(events[5]["delta"]["partial_json"], "{\"x\":1}");
        assert_eq!(events[7]["delta"]["stop_reason"], "tool_use");
    }

    #[test]
    fn fragments_of_a_closed_block_are_dropped() {
        let wire = run(
            format(),
            &[
                Delta::tool_call(0, "a", "x"),
                Delta::tool_call(1, "b", "y"),
                Delta::tool_arguments(0, "{}"),
                Delta::tool_arguments(1, "{}"),
            ],
        );
        let events = events(&wire);
        let kinds: Vec<_> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "message_start",
                "content_block_start",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(events[4]["index"], 1);
    }

    #[test]
    fn stop_reasons() {
        let cases: [(Option<FinishReason>, bool, &str); 12] = [
            (None, false, "end_turn"),
            (None, true, "tool_use"),
            (Some(FinishReason::Stop), false, "end_turn"),
            (Some(FinishReason::Stop), true, "tool_use"),
            (Some(FinishReason::Length), true, "max_tokens"),
            (Some(FinishReason::ToolCalls), false, "tool_use"),
            (Some(FinishReason::StopSequence), false, "stop_sequence"),
            (Some(FinishReason::ContentFilter), false, "refusal"),
            (
                Some(FinishReason::Other("pause_turn".into())),
                false,
                "pause_turn",
            ),
            (
                Some(FinishReason::Other("model_context_window_exceeded".into())),
                true,
                "model_context_window_exceeded",
            ),
            (Some(FinishReason::Other("eos".into())), false, "end_turn"),
            (Some(FinishReason::Other("eos".into())), true, "tool_use"),
        ];
        for (reason, tool_called, expected) in cases {
            assert_eq!(
                stop_reason(reason.as_ref(), tool_called),
                format!("\"{expected}\""),
                "{reason:?}"
            );
        }
        for reason in STOP_REASONS {
            let other = FinishReason::Other(reason.trim_matches('"').to_owned().into());
            assert_eq!(stop_reason(Some(&other), false), reason);
        }
    }

    #[test]
    fn error_frames() {
        let mut format = format();
        let mut buf = BytesMut::new();
        format.write_start(&mut buf);
        format.write_delta(&Delta::text("partial"), &mut buf);
        buf.clear();
        format.write_error(
            &Failure::new(FailureKind::Upstream, "model \"died\"\nevent: x"),
            &mut buf,
        );
        // The open block stays open: the error ends the stream.
        assert_eq!(
            buf,
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\
             \"message\":\"model \\\"died\\\"\\nevent: x\"}}\n\n"
        );
        let cases = [
            (FailureKind::TimedOut(TimeoutKind::Idle), "timeout_error"),
            (
                FailureKind::TimedOut(TimeoutKind::FirstToken),
                "timeout_error",
            ),
            (FailureKind::Panicked, "api_error"),
        ];
        for (kind, expected) in cases {
            buf.clear();
            format.write_error(&Failure::new(kind, "m"), &mut buf);
            assert_eq!(
                buf,
                format!(
                    "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"{expected}\",\
                     \"message\":\"m\"}}}}\n\n"
                )
            );
        }
    }

    #[test]
    fn ping_and_no_done() {
        let format = format();
        assert_eq!(
            format.heartbeat(),
            "event: ping\ndata: {\"type\": \"ping\"}\n\n"
        );
        assert_eq!(format.end_marker(), None);
        assert!(format.response_headers().is_empty());
    }

    #[test]
    fn starts_once_even_when_driven_by_hand() {
        let mut format = format();
        let mut buf = BytesMut::new();
        format.write_delta(&Delta::text("x"), &mut buf);
        format.write_start(&mut buf);
        assert!(buf.starts_with(START.as_bytes()));
        assert_eq!(buf.windows(13).filter(|w| w == b"message_start").count(), 2);
    }

    #[test]
    fn debug_and_clone() {
        let original = format();
        let copy = original.clone();
        assert_eq!(format!("{original:?}"), format!("{copy:?}"));
        let debug = format!("{copy:?}");
        assert!(
            debug.starts_with("AnthropicMessages { id: \"msg_1\""),
            "{debug}"
        );
        let fresh = AnthropicMessages::new("m");
        assert!(fresh.id.starts_with("msg_") && fresh.id.len() == 36);
    }

    #[test]
    fn message_byte_for_byte() {
        let mut message = format().message();
        message.push(Delta::reasoning("Hmm"));
        message.push(Delta::text("Let me "));
        message.push(Delta::text("check."));
        message.push(Delta::tool_call(0, "toolu_1", "lookup"));
        message.push(Delta::tool_arguments(0, " {\"query\": "));
        message.push(Delta::tool_arguments(0, "\"a\\\"b\"} \n"));
        message.push(Delta::data(crate::Data::string("x", "y")));
        assert_eq!(
            message.to_json(),
            "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-mock\",\
             \"content\":[{\"type\":\"thinking\",\"thinking\":\"Hmm\",\"signature\":\"\"},\
             {\"type\":\"text\",\"text\":\"Let me check.\"},\
             {\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"lookup\",\"input\":{\"query\":\"a\\\"b\"}}],\
             \"stop_reason\":\"tool_use\",\"stop_sequence\":null,\
             \"usage\":{\"input_tokens\":7,\"output_tokens\":5,\"output_tokens_details\":{\"thinking_tokens\":1}}}"
        );
    }

    #[test]
    fn empty_message() {
        let message = format().message();
        assert_eq!(
            message.to_json(),
            "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-mock\",\
             \"content\":[],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\
             \"usage\":{\"input_tokens\":7,\"output_tokens\":0}}"
        );
    }

    #[test]
    fn message_tool_inputs_are_always_objects() {
        let cases = [
            ("", "{}".to_owned()),
            (" \n", "{}".to_owned()),
            (
                "{\"a\":[1,2.5e-3,true,null]}",
                "{\"a\":[1,2.5e-3,true,null]}".to_owned(),
            ),
            ("[1]", "{\"INVALID_JSON\":\"[1]\"}".to_owned()),
            ("\"s\"", "{\"INVALID_JSON\":\"\\\"s\\\"\"}".to_owned()),
            ("{\"a\":", "{\"INVALID_JSON\":\"{\\\"a\\\":\"}".to_owned()),
            ("{} {}", "{\"INVALID_JSON\":\"{} {}\"}".to_owned()),
            (
                "{\"a\":\"\n\"}",
                "{\"INVALID_JSON\":\"{\\\"a\\\":\\\"\\n\\\"}\"}".to_owned(),
            ),
        ];
        for (arguments, input) in cases {
            let mut message = format().message();
            message.push(Delta::tool_call(0, "t", "f"));
            message.push(Delta::tool_arguments(0, arguments));
            let json = message.to_json();
            assert!(
                json.contains(&format!("\"name\":\"f\",\"input\":{input}}}]")),
                "{arguments:?}: {json}"
            );
            let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert!(parsed["content"][0]["input"].is_object());
        }
    }

    #[test]
    fn message_drops_late_arguments_as_the_stream_does_and_keeps_orphans() {
        let mut message = format().message();
        message.push(Delta::tool_call(0, "a", "x"));
        message.push(Delta::tool_call(1, "b", "y"));
        message.push(Delta::tool_arguments(0, "{\"n\":0}"));
        message.push(Delta::tool_arguments(1, "{\"n\":1}"));
        message.push(Delta::tool_arguments(2, "{\"n\":2}"));
        message.push(Delta::tool_call(3, "", "z"));
        message.push(Delta::finish(FinishReason::Stop));
        let parsed: serde_json::Value = serde_json::from_str(&message.to_json()).unwrap();
        let content = parsed["content"].as_array().unwrap();
        assert_eq!(content.len(), 4);
        // Call 0's arguments came after its block closed: left out, as the
        // stream leaves them out.
        assert_eq!(content[0]["input"], serde_json::json!({}));
        assert_eq!(content[1]["input"]["n"], 1);
        assert_eq!(content[2]["input"]["n"], 2);
        assert_eq!(content[2]["name"], "");
        assert!(content[3]["id"].as_str().unwrap().starts_with("toolu_"));
        assert_eq!(content[3]["input"], serde_json::json!({}));
        assert_eq!(parsed["stop_reason"], "tool_use");
    }

    #[test]
    fn message_alternating_kinds_make_new_blocks() {
        let mut message = format().message();
        for delta in [
            Delta::text("a"),
            Delta::reasoning("b"),
            Delta::text("c"),
            Delta::text("d"),
        ] {
            message.push(delta);
        }
        let parsed: serde_json::Value = serde_json::from_str(&message.to_json()).unwrap();
        let texts: Vec<_> = parsed["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["type"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(texts, ["text", "thinking", "text"]);
        assert_eq!(parsed["content"][2]["text"], "cd");
    }
}
