//! [`OpenAiChat`]: the OpenAI Chat Completions streaming format, and
//! [`ChatCompletion`], the same answer as one `chat.completion` object.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, BytesMut};

use super::json_writer::{write_json_string, JsonObject};
use super::{write_error_object, Failure, Format};
use crate::delta::{Delta, FinishReason, IntoDelta, TokenCounts, Usage};
use crate::encode::write_decimal;
use crate::TokenStream;

/// Where reasoning text goes in a chunk's `delta` (and in the message of a
/// [`ChatCompletion`]).
///
/// OpenAI's own API does not stream reasoning text; OpenAI-compatible
/// engines do, under one of two names. Default: `reasoning_content`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReasoningField {
    /// `reasoning_content`, as DeepSeek, vLLM and llama.cpp write it.
    #[default]
    ReasoningContent,
    /// `reasoning`, as OpenRouter and Ollama write it.
    Reasoning,
    /// Both, with the same text, for clients of either kind.
    Both,
}

impl ReasoningField {
    fn write(self, object: &mut JsonObject<'_>, text: &str) {
        if self != ReasoningField::Reasoning {
            object.string("reasoning_content", text);
        }
        if self != ReasoningField::ReasoningContent {
            object.string("reasoning", text);
        }
    }
}

/// The OpenAI Chat Completions streaming format, which the official OpenAI
/// SDKs (and strict clients such as `async-openai`) read unchanged.
///
/// Every frame is `data: {...}` with one `chat.completion.chunk` object
/// (`id`, `object`, `created`, `model`, `choices`), and nothing else: never
/// an `id:` or `event:` field, never a data-less block, shapes that break
/// the Python SDK's parser. In order:
///
/// 1. a role chunk, `delta: {"role":"assistant","content":""}`, sent at
///    once, before the model's first token;
/// 2. one chunk per (batched) delta, each with `finish_reason: null`:
///    - text: `{"content":"..."}`;
///    - reasoning: `{"reasoning_content":"..."}` (see [`ReasoningField`]);
///    - a tool call's start: `{"tool_calls":[{"index":0,"id":"...",
///      "type":"function","function":{"name":"...","arguments":""}}]}`, the
///      only chunk that carries its `id` and `name` (the SDK joins repeated
///      strings);
///    - its arguments: `{"tool_calls":[{"index":0,"function":{"arguments":"..."}}]}`;
///    - usage and the finish reason are kept for the end; [`Data`](crate::Data)
///      has no place in this format and is skipped;
/// 3. the finish chunk, `delta: {}` with `finish_reason` `stop`, `length`,
///    `tool_calls` or `content_filter` (the model's [`FinishReason`]; without
///    one, `tool_calls` if a tool was called, else `stop`; a stop sequence or
///    a provider's own reason is `stop`);
/// 4. with [`include_usage`](OpenAiChat::include_usage), a usage chunk with
///    `choices: []` (and `"usage": null` on every chunk before it): the
///    model's [`Usage`] delta when it sent one, else counted by the stream
///    (completion tokens as sent, prompt tokens as given with
///    [`prompt_tokens`](OpenAiChat::prompt_tokens));
/// 5. the end marker `data: [DONE]`.
///
/// A failure is `data: {"error":{"message":...,"type":...,"param":null,
/// "code":null}}`, which the SDKs raise as an API error.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use futures_util::{stream, StreamExt};
/// use llm_sse::adapters::Batch;
/// use llm_sse::format::OpenAiChat;
/// use llm_sse::{Delta, FinishReason, SseStream};
///
/// let answer = stream::iter([
///     Delta::tool_call(0, "call_1", "lookup"),
///     Delta::tool_arguments(0, "{\"query\":\"rust\"}"),
///     Delta::finish(FinishReason::ToolCalls),
/// ])
/// .map(Ok::<_, std::io::Error>);
/// let format = OpenAiChat::new("my-model").id("chatcmpl-1").created(1_700_000_000);
/// let frames: Vec<_> = SseStream::builder(answer).batch(Batch::off()).format(format).build().collect().await;
/// let head = "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\
///             \"created\":1700000000,\"model\":\"my-model\",\"choices\":[{\"index\":0,\"delta\":";
/// // The role chunk goes out at once, before the model's first token.
/// assert_eq!(frames[0], format!("{head}{{\"role\":\"assistant\",\"content\":\"\"}},\"finish_reason\":null}}]}}\n\n"));
/// assert_eq!(
///     frames[1],
///     format!(
///         "{head}{{\"tool_calls\":[{{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\
///          \"function\":{{\"name\":\"lookup\",\"arguments\":\"\"}}}}]}},\"finish_reason\":null}}]}}\n\n"
///     )
/// );
/// assert!(frames.last().unwrap().ends_with(b"\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n"));
/// # }
/// # #[cfg(not(feature = "tokio"))]
/// # fn main() {}
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "openai")))]
#[derive(Clone)]
pub struct OpenAiChat {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    prompt_tokens: u64,
    reasoning_field: ReasoningField,
    /// `data: {"id":...,"object":...,"created":...,"model":...`, built on
    /// first use and shared by every chunk.
    head: BytesMut,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
    tool_called: bool,
}

impl OpenAiChat {
    /// Chunks of a completion by `model`, with a fresh random id
    /// (`chatcmpl-` and 32 hex digits), created now.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            id: super::random_id("chatcmpl-"),
            model: model.into(),
            created: unix_now(),
            include_usage: false,
            prompt_tokens: 0,
            reasoning_field: ReasoningField::default(),
            head: BytesMut::new(),
            usage: None,
            finish: None,
            tool_called: false,
        }
    }

    /// Sets the completion's `id`. Default: `chatcmpl-` and 32 random hex
    /// digits.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self.head.clear();
        self
    }

    /// Sets `created`, in seconds since the Unix epoch. Default: now.
    #[must_use]
    pub fn created(mut self, created: u64) -> Self {
        self.created = created;
        self.head.clear();
        self
    }

    /// Ends the stream with a usage chunk (`choices: []`), as OpenAI does
    /// when a request asks for `stream_options: {"include_usage": true}`.
    /// Default: off.
    #[must_use]
    pub fn include_usage(mut self, on: bool) -> Self {
        self.include_usage = on;
        self
    }

    /// The prompt's tokens, for usage the stream has to count itself (when
    /// the model sends no [`Usage`]). Default: 0.
    #[must_use]
    pub fn prompt_tokens(mut self, tokens: u64) -> Self {
        self.prompt_tokens = tokens;
        self
    }

    /// Where reasoning text goes. Default: `reasoning_content`.
    #[must_use]
    pub fn reasoning_field(mut self, field: ReasoningField) -> Self {
        self.reasoning_field = field;
        self
    }

    /// An empty [`ChatCompletion`] with this format's id, model, creation
    /// time, prompt tokens and reasoning field, to answer `stream: false`
    /// with the same deltas.
    pub fn completion(&self) -> ChatCompletion {
        ChatCompletion {
            id: self.id.clone(),
            model: self.model.clone(),
            created: self.created,
            prompt_tokens: self.prompt_tokens,
            reasoning_field: self.reasoning_field,
            content: String::new(),
            reasoning: String::new(),
            tool_calls: Vec::new(),
            usage: None,
            finish: None,
            counted: TokenCounts::default(),
        }
    }

    fn head(&mut self) -> &[u8] {
        if self.head.is_empty() {
            let head = &mut self.head;
            head.reserve(96 + self.id.len() + self.model.len());
            head.put_slice(b"data: {\"id\":");
            write_json_string(head, &self.id);
            head.put_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
            write_decimal(head, u128::from(self.created));
            head.put_slice(b",\"model\":");
            write_json_string(head, &self.model);
        }
        &self.head
    }

    /// Appends one chunk with one choice: `delta` writes the delta object's
    /// members; `finish` is the `finish_reason` as JSON.
    fn write_choice(
        &mut self,
        buf: &mut BytesMut,
        text_len: usize,
        finish: &str,
        delta: impl FnOnce(&mut JsonObject<'_>),
    ) {
        let include_usage = self.include_usage;
        let head = self.head();
        buf.reserve(head.len() + text_len + 160);
        buf.put_slice(head);
        buf.put_slice(b",\"choices\":[{\"index\":0,\"delta\":");
        let mut object = JsonObject::open(buf);
        delta(&mut object);
        object.close();
        buf.put_slice(b",\"finish_reason\":");
        buf.put_slice(finish.as_bytes());
        buf.put_slice(b"}]");
        if include_usage {
            buf.put_slice(b",\"usage\":null");
        }
        buf.put_slice(b"}\n\n");
    }

    fn finish_reason(&self) -> &'static str {
        finish_reason(self.finish.as_ref(), self.tool_called)
    }
}

/// OpenAI's spelling of `reason` as a JSON string; without one,
/// `tool_calls` if a tool was called, else `stop`.
fn finish_reason(reason: Option<&FinishReason>, tool_called: bool) -> &'static str {
    match reason {
        Some(FinishReason::Length) => "\"length\"",
        Some(FinishReason::ToolCalls) => "\"tool_calls\"",
        Some(FinishReason::ContentFilter) => "\"content_filter\"",
        Some(_) => "\"stop\"",
        None if tool_called => "\"tool_calls\"",
        None => "\"stop\"",
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Writes `usage` in OpenAI's shape: `prompt_tokens`, `completion_tokens`,
/// `total_tokens`, then `prompt_tokens_details.cached_tokens` and
/// `completion_tokens_details.reasoning_tokens` when known.
fn write_openai_usage(buf: &mut BytesMut, usage: &Usage) {
    let mut object = JsonObject::open(buf);
    object
        .number("prompt_tokens", usage.prompt_tokens)
        .number("completion_tokens", usage.completion_tokens)
        .number("total_tokens", usage.total_tokens);
    if let Some(cached) = usage.cached_prompt_tokens {
        let details = object.nested("prompt_tokens_details");
        JsonObject::open(details)
            .number("cached_tokens", cached)
            .close();
    }
    if let Some(reasoning) = usage.reasoning_tokens {
        let details = object.nested("completion_tokens_details");
        JsonObject::open(details)
            .number("reasoning_tokens", reasoning)
            .close();
    }
    object.close();
}

/// Usage for the end of a stream: the model's, or counted.
fn usage_or_counted(usage: Option<Usage>, prompt_tokens: u64, counted: &TokenCounts) -> Usage {
    usage.unwrap_or_else(|| {
        let usage = Usage::new(prompt_tokens, counted.total());
        if counted.reasoning > 0 {
            usage.reasoning_tokens(counted.reasoning)
        } else {
            usage
        }
    })
}

impl Format for OpenAiChat {
    fn write_start(&mut self, buf: &mut BytesMut) {
        self.write_choice(buf, 0, "null", |delta| {
            delta.string("role", "assistant").string("content", "");
        });
    }

    fn write_delta(&mut self, delta: &Delta, buf: &mut BytesMut) {
        let text_len = delta.as_text().map_or(0, str::len);
        let reasoning_field = self.reasoning_field;
        match delta {
            Delta::Text(text) => self.write_choice(buf, text_len, "null", |delta| {
                delta.string("content", text);
            }),
            Delta::Reasoning(text) => self.write_choice(buf, text_len * 2, "null", |delta| {
                reasoning_field.write(delta, text);
            }),
            Delta::ToolCall { index, id, name } => {
                self.tool_called = true;
                let len = id.len() + name.len();
                self.write_choice(buf, len, "null", |delta| {
                    let calls = delta.nested("tool_calls");
                    calls.put_u8(b'[');
                    let mut call = JsonObject::open(calls);
                    call.number("index", u64::from(*index))
                        .string("id", id)
                        .string("type", "function");
                    JsonObject::open(call.nested("function"))
                        .string("name", name)
                        .string("arguments", "")
                        .close();
                    call.close();
                    calls.put_u8(b']');
                });
            }
            Delta::ToolArguments { index, fragment } => {
                self.tool_called = true;
                self.write_choice(buf, text_len, "null", |delta| {
                    let calls = delta.nested("tool_calls");
                    calls.put_u8(b'[');
                    let mut call = JsonObject::open(calls);
                    call.number("index", u64::from(*index));
                    JsonObject::open(call.nested("function"))
                        .string("arguments", fragment)
                        .close();
                    call.close();
                    calls.put_u8(b']');
                });
            }
            Delta::Usage(usage) => self.usage = Some(**usage),
            Delta::Finish(reason) => self.finish = Some(reason.clone()),
            Delta::Data(_) => {}
        }
    }

    fn write_end(&mut self, counted: &TokenCounts, buf: &mut BytesMut) {
        let finish = self.finish_reason();
        self.write_choice(buf, 0, finish, |_| {});
        if self.include_usage {
            let usage = usage_or_counted(self.usage, self.prompt_tokens, counted);
            let head = self.head();
            buf.reserve(head.len() + 200);
            buf.put_slice(head);
            buf.put_slice(b",\"choices\":[],\"usage\":");
            write_openai_usage(buf, &usage);
            buf.put_slice(b"}\n\n");
        }
    }

    fn write_error(&mut self, failure: &Failure, buf: &mut BytesMut) {
        self.write_interrupted(failure, buf);
    }

    fn write_interrupted(&self, failure: &Failure, buf: &mut BytesMut) {
        buf.reserve(failure.message().len() + 96);
        buf.put_slice(b"data: ");
        write_error_object(failure, buf, |error| {
            error.raw("param", "null").raw("code", "null");
        });
        buf.put_slice(b"\n\n");
    }
}

impl fmt::Debug for OpenAiChat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiChat")
            .field("id", &self.id)
            .field("model", &self.model)
            .field("created", &self.created)
            .field("include_usage", &self.include_usage)
            .field("reasoning_field", &self.reasoning_field)
            .finish_non_exhaustive()
    }
}

/// One tool call of a [`ChatCompletion`].
#[derive(Debug, Clone, Default)]
struct ToolCall {
    index: u32,
    id: String,
    name: String,
    arguments: String,
}

/// A whole answer as one OpenAI `chat.completion` object, for requests with
/// `stream: false`: push the same deltas a stream would send, then write
/// the JSON.
///
/// Made by [`OpenAiChat::completion`]. Text, reasoning and each tool call's
/// arguments are joined; the usage is the model's [`Usage`] delta, or
/// counted (one token per text, reasoning or argument delta pushed); the
/// finish reason is spelled as in the stream.
///
/// # Examples
///
/// ```
/// use llm_sse::format::OpenAiChat;
/// use llm_sse::{Delta, FinishReason};
///
/// let mut completion = OpenAiChat::new("m").id("chatcmpl-1").created(1).completion();
/// completion.push(Delta::text("Hel"));
/// completion.push(Delta::text("lo"));
/// completion.push(Delta::finish(FinishReason::Length));
/// let json = completion.to_json();
/// assert!(json.contains("\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"}"));
/// assert!(json.contains("\"finish_reason\":\"length\""));
/// assert!(json.contains("\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":2,\"total_tokens\":2}"));
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "openai")))]
#[derive(Debug, Clone)]
pub struct ChatCompletion {
    id: String,
    model: String,
    created: u64,
    prompt_tokens: u64,
    reasoning_field: ReasoningField,
    content: String,
    reasoning: String,
    tool_calls: Vec<ToolCall>,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
    counted: TokenCounts,
}

impl ChatCompletion {
    /// Adds one delta of the answer.
    pub fn push(&mut self, delta: impl IntoDelta) {
        let delta = delta.into_delta();
        self.counted.add(delta.kind(), 1);
        match delta {
            Delta::Text(text) => self.content.push_str(&text),
            Delta::Reasoning(text) => self.reasoning.push_str(&text),
            Delta::ToolCall { index, id, name } => self.tool_calls.push(ToolCall {
                index,
                id: id.into(),
                name: name.into(),
                arguments: String::new(),
            }),
            Delta::ToolArguments { index, fragment } => {
                let call = match self.tool_calls.iter().rposition(|c| c.index == index) {
                    Some(at) => &mut self.tool_calls[at],
                    None => {
                        // Arguments without a start: keep them, nameless.
                        self.tool_calls.push(ToolCall {
                            index,
                            ..ToolCall::default()
                        });
                        let last = self.tool_calls.len() - 1;
                        &mut self.tool_calls[last]
                    }
                };
                call.arguments.push_str(&fragment);
            }
            Delta::Usage(usage) => self.usage = Some(*usage),
            Delta::Finish(reason) => self.finish = Some(reason),
            Delta::Data(_) => {}
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
    /// use llm_sse::format::OpenAiChat;
    ///
    /// let tokens = stream::iter(["Hi", "!"]).map(Ok::<_, std::io::Error>);
    /// let mut completion = OpenAiChat::new("m").completion();
    /// completion.collect(tokens).await?;
    /// assert!(completion.to_json().contains("\"content\":\"Hi!\""));
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

    /// The `chat.completion` object as compact JSON.
    pub fn to_json(&self) -> String {
        let text_len = self.content.len()
            + self.reasoning.len() * 2
            + self
                .tool_calls
                .iter()
                .map(|c| c.id.len() + c.name.len() + c.arguments.len() + 64)
                .sum::<usize>();
        let mut buf = BytesMut::with_capacity(text_len + 320);
        let mut completion = JsonObject::open(&mut buf);
        completion
            .string("id", &self.id)
            .string("object", "chat.completion")
            .number("created", self.created)
            .string("model", &self.model);
        let choices = completion.nested("choices");
        choices.put_u8(b'[');
        let mut choice = JsonObject::open(choices);
        choice.number("index", 0);
        let mut message = JsonObject::open(choice.nested("message"));
        message.string("role", "assistant");
        if self.content.is_empty() && !self.tool_calls.is_empty() {
            message.raw("content", "null");
        } else {
            message.string("content", &self.content);
        }
        if !self.reasoning.is_empty() {
            self.reasoning_field.write(&mut message, &self.reasoning);
        }
        if !self.tool_calls.is_empty() {
            let calls = message.nested("tool_calls");
            calls.put_u8(b'[');
            for (n, call) in self.tool_calls.iter().enumerate() {
                if n > 0 {
                    calls.put_u8(b',');
                }
                let mut object = JsonObject::open(calls);
                object.string("id", &call.id).string("type", "function");
                JsonObject::open(object.nested("function"))
                    .string("name", &call.name)
                    .string("arguments", &call.arguments)
                    .close();
                object.close();
            }
            calls.put_u8(b']');
        }
        message.close();
        choice.raw("logprobs", "null").raw(
            "finish_reason",
            finish_reason(self.finish.as_ref(), !self.tool_calls.is_empty()),
        );
        choice.close();
        choices.put_u8(b']');
        let usage = usage_or_counted(self.usage, self.prompt_tokens, &self.counted);
        write_openai_usage(completion.nested("usage"), &usage);
        completion.close();
        String::from_utf8_lossy(&buf).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_details_only_when_known() {
        let mut buf = BytesMut::new();
        write_openai_usage(&mut buf, &Usage::new(3, 4));
        assert_eq!(
            buf,
            "{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}"
        );
        buf.clear();
        write_openai_usage(
            &mut buf,
            &Usage::new(3, 4).cached_prompt_tokens(2).reasoning_tokens(1),
        );
        assert_eq!(
            buf,
            "{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7,\
             \"prompt_tokens_details\":{\"cached_tokens\":2},\
             \"completion_tokens_details\":{\"reasoning_tokens\":1}}"
        );
    }
}
