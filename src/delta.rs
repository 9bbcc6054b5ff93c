//! [`Delta`]: one piece of a model's typed output.

use std::borrow::Cow;
use std::fmt;

use bytes::BytesMut;

use crate::format::json_writer::write_json_string;

/// One piece of what a model produces: text, reasoning, a tool call and its
/// streamed JSON arguments, token usage, the reason it stopped, or a
/// payload of the application's own.
///
/// A stream of `String`, `&'static str` or `Cow<'static, str>` tokens is a
/// stream of text deltas: plain text needs no wrapping. Typed output is a
/// stream of `Delta`s (or of any type that implements [`IntoDelta`]).
///
/// Batching joins neighbours of one kind only (text with text, reasoning
/// with reasoning, argument fragments of one tool call), so what a client
/// puts back together per kind is exactly what the model produced.
///
/// # Examples
///
/// ```
/// use llm_sse::{Delta, FinishReason, Usage};
///
/// let answer = [
///     Delta::reasoning("The user wants the weather."),
///     Delta::tool_call(0, "call_1", "get_weather"),
///     Delta::tool_arguments(0, "{\"city\":"),
///     Delta::tool_arguments(0, "\"Paris\"}"),
///     Delta::usage(Usage::new(12, 9)),
///     Delta::finish(FinishReason::ToolCalls),
/// ];
/// assert_eq!(answer[2].kind(), llm_sse::DeltaKind::ToolArguments);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delta {
    /// Answer text.
    Text(Cow<'static, str>),
    /// Reasoning ("thinking") text, shown apart from the answer.
    Reasoning(Cow<'static, str>),
    /// The start of a tool call: its position among the answer's tool calls,
    /// its id and the tool's name. Its arguments follow as
    /// [`ToolArguments`](Delta::ToolArguments) with the same `index`.
    #[non_exhaustive]
    ToolCall {
        /// The call's position among this answer's tool calls, from 0.
        index: u32,
        /// The call's id, which the tool's result refers to.
        id: Box<str>,
        /// The name of the tool called.
        name: Box<str>,
    },
    /// A fragment of a tool call's JSON arguments, in order; the fragments
    /// of one call joined are its arguments.
    #[non_exhaustive]
    ToolArguments {
        /// The `index` of the [`ToolCall`](Delta::ToolCall).
        index: u32,
        /// The next piece of the serialized arguments.
        fragment: Cow<'static, str>,
    },
    /// Token usage, as the model or engine counted it (boxed: it is sent
    /// once, and keeps every other delta small).
    Usage(Box<Usage>),
    /// Why the model stopped.
    Finish(FinishReason),
    /// A payload of the application's own (search results, citations,
    /// status), carried by formats that have a place for it.
    Data(Data),
}

impl Delta {
    /// Answer text.
    pub fn text(text: impl Into<Cow<'static, str>>) -> Self {
        Delta::Text(text.into())
    }

    /// Reasoning text.
    pub fn reasoning(text: impl Into<Cow<'static, str>>) -> Self {
        Delta::Reasoning(text.into())
    }

    /// The start of tool call number `index` (from 0), with its `id` and
    /// the tool's `name`.
    pub fn tool_call(index: u32, id: impl Into<String>, name: impl Into<String>) -> Self {
        Delta::ToolCall {
            index,
            id: id.into().into_boxed_str(),
            name: name.into().into_boxed_str(),
        }
    }

    /// The next fragment of tool call `index`'s JSON arguments.
    pub fn tool_arguments(index: u32, fragment: impl Into<Cow<'static, str>>) -> Self {
        Delta::ToolArguments {
            index,
            fragment: fragment.into(),
        }
    }

    /// Token usage.
    pub fn usage(usage: Usage) -> Self {
        Delta::Usage(Box::new(usage))
    }

    /// Why the model stopped.
    pub fn finish(reason: FinishReason) -> Self {
        Delta::Finish(reason)
    }

    /// An application payload.
    pub fn data(data: Data) -> Self {
        Delta::Data(data)
    }

    /// What kind of delta this is.
    pub fn kind(&self) -> DeltaKind {
        match self {
            Delta::Text(_) => DeltaKind::Text,
            Delta::Reasoning(_) => DeltaKind::Reasoning,
            Delta::ToolCall { .. } => DeltaKind::ToolCall,
            Delta::ToolArguments { .. } => DeltaKind::ToolArguments,
            Delta::Usage(_) => DeltaKind::Usage,
            Delta::Finish(_) => DeltaKind::Finish,
            Delta::Data(_) => DeltaKind::Data,
        }
    }

    /// The text this delta carries: answer text, reasoning or an argument
    /// fragment; `None` for the other kinds.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Delta::Text(text) | Delta::Reasoning(text) => Some(text),
            Delta::ToolArguments { fragment, .. } => Some(fragment),
            _ => None,
        }
    }

    /// Whether this delta is model output a client waits for (anything but
    /// usage and the finish reason): the first one sets the time to first
    /// token.
    pub(crate) fn is_content(&self) -> bool {
        !matches!(self, Delta::Usage(_) | Delta::Finish(_))
    }
}

impl From<String> for Delta {
    fn from(text: String) -> Self {
        Delta::Text(Cow::Owned(text))
    }
}

impl From<&'static str> for Delta {
    fn from(text: &'static str) -> Self {
        Delta::Text(Cow::Borrowed(text))
    }
}

impl From<Cow<'static, str>> for Delta {
    fn from(text: Cow<'static, str>) -> Self {
        Delta::Text(text)
    }
}

impl From<Box<str>> for Delta {
    fn from(text: Box<str>) -> Self {
        Delta::Text(Cow::Owned(text.into()))
    }
}

impl From<Usage> for Delta {
    fn from(usage: Usage) -> Self {
        Delta::usage(usage)
    }
}

impl From<FinishReason> for Delta {
    fn from(reason: FinishReason) -> Self {
        Delta::Finish(reason)
    }
}

impl From<Data> for Delta {
    fn from(data: Data) -> Self {
        Delta::Data(data)
    }
}

/// What a token stream may yield: text (`String`, `&'static str`,
/// `Cow<'static, str>`, `Box<str>`) or a [`Delta`].
///
/// Implement it for a type of your own to stream it without converting
/// first. Byte tokens are not text until decoded: pass them through
/// [`TokenStreamExt::utf8`](crate::TokenStreamExt::utf8), which joins
/// characters split between tokens. A stream of anything else is refused
/// where the pipeline starts, with a message that says so:
///
/// ```compile_fail
/// # #[cfg(not(feature = "tokio"))] compile_error!("needs tokio");
/// use futures_util::{stream, StreamExt};
/// let bytes = stream::iter([bytes::Bytes::from_static(b"hi")]).map(Ok::<_, std::io::Error>);
/// // error: `Bytes` is not model output that `llm-sse` can stream
/// let _ = llm_sse::SseStream::builder(bytes);
/// ```
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # fn main() {
/// use futures_util::{stream, StreamExt};
/// use llm_sse::TokenStreamExt;
/// let bytes = stream::iter([bytes::Bytes::from_static(b"hi")]).map(Ok::<_, std::io::Error>);
/// let _ = llm_sse::SseStream::builder(bytes.utf8());
/// # }
/// # #[cfg(not(feature = "tokio"))]
/// # fn main() {}
/// ```
///
/// # Examples
///
/// ```
/// use llm_sse::{Delta, IntoDelta};
///
/// enum EngineOutput {
///     Token(String),
///     Thought(String),
/// }
///
/// impl IntoDelta for EngineOutput {
///     fn into_delta(self) -> Delta {
///         match self {
///             EngineOutput::Token(text) => Delta::text(text),
///             EngineOutput::Thought(text) => Delta::reasoning(text),
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not model output that `llm-sse` can stream",
    label = "tokens must be text or `llm_sse::Delta`",
    note = "text tokens are `String`, `&'static str` or `Cow<'static, str>`; typed output is `llm_sse::Delta`",
    note = "byte tokens (`Bytes`, `Vec<u8>`) become text with `.utf8()` from `llm_sse::TokenStreamExt`"
)]
pub trait IntoDelta {
    /// The delta.
    fn into_delta(self) -> Delta;
}

impl IntoDelta for Delta {
    fn into_delta(self) -> Delta {
        self
    }
}

macro_rules! into_delta_via_from {
    ($($ty:ty),*) => {$(
        impl IntoDelta for $ty {
            fn into_delta(self) -> Delta {
                Delta::from(self)
            }
        }
    )*};
}

into_delta_via_from!(String, &'static str, Cow<'static, str>, Box<str>);

/// The kind of a [`Delta`], without its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeltaKind {
    /// [`Delta::Text`].
    Text,
    /// [`Delta::Reasoning`].
    Reasoning,
    /// [`Delta::ToolCall`].
    ToolCall,
    /// [`Delta::ToolArguments`].
    ToolArguments,
    /// [`Delta::Usage`].
    Usage,
    /// [`Delta::Finish`].
    Finish,
    /// [`Delta::Data`].
    Data,
}

impl DeltaKind {
    /// The kind as a lower-case label: `text`, `reasoning`, `tool_call`,
    /// `tool_arguments`, `usage`, `finish` or `data`.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeltaKind::Text => "text",
            DeltaKind::Reasoning => "reasoning",
            DeltaKind::ToolCall => "tool_call",
            DeltaKind::ToolArguments => "tool_arguments",
            DeltaKind::Usage => "usage",
            DeltaKind::Finish => "finish",
            DeltaKind::Data => "data",
        }
    }
}

impl fmt::Display for DeltaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Token usage of one answer.
///
/// # Examples
///
/// ```
/// use llm_sse::Usage;
///
/// let usage = Usage::new(120, 48).reasoning_tokens(30).cached_prompt_tokens(100);
/// assert_eq!(usage.total_tokens, 168);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Usage {
    /// Tokens of the prompt.
    pub prompt_tokens: u64,
    /// Tokens generated, reasoning included.
    pub completion_tokens: u64,
    /// Prompt and completion tokens.
    pub total_tokens: u64,
    /// Prompt tokens served from a cache, when known.
    pub cached_prompt_tokens: Option<u64>,
    /// Completion tokens spent on reasoning, when known.
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    /// `prompt_tokens` in, `completion_tokens` out; the total is their sum.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            cached_prompt_tokens: None,
            reasoning_tokens: None,
        }
    }

    /// Sets how many prompt tokens came from a cache.
    #[must_use]
    pub fn cached_prompt_tokens(mut self, tokens: u64) -> Self {
        self.cached_prompt_tokens = Some(tokens);
        self
    }

    /// Sets how many completion tokens were reasoning.
    #[must_use]
    pub fn reasoning_tokens(mut self, tokens: u64) -> Self {
        self.reasoning_tokens = Some(tokens);
        self
    }
}

/// Why a model stopped generating.
///
/// Each format writes it in its own spelling (OpenAI `tool_calls`,
/// Anthropic `tool_use`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FinishReason {
    /// A natural end of the answer.
    Stop,
    /// The token limit was reached.
    Length,
    /// The model called one or more tools and waits for their results.
    ToolCalls,
    /// Output was withheld by a content filter.
    ContentFilter,
    /// A stop sequence of the request was generated.
    StopSequence,
    /// A provider-specific reason. Formats with a fixed set of reasons
    /// (OpenAI's) write it as their plain stop; the others as given.
    Other(Cow<'static, str>),
}

impl FinishReason {
    /// A neutral lower-case label: `stop`, `length`, `tool_calls`,
    /// `content_filter`, `stop_sequence`, or the provider's own.
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::StopSequence => "stop_sequence",
            FinishReason::Other(reason) => reason,
        }
    }
}

impl fmt::Display for FinishReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A payload of the application's own, carried in a [`Delta::Data`]: a name
/// and a JSON value.
///
/// The JSON is always valid: it is either a string this crate escapes
/// ([`Data::string`]) or a value serialized by serde ([`Data::json`],
/// feature `json`), so a payload can never break a format's frame.
///
/// # Examples
///
/// ```
/// use llm_sse::Data;
///
/// let status = Data::string("status", "searching the web\u{2026}");
/// assert_eq!(status.name(), "status");
/// assert_eq!(status.as_json(), "\"searching the web\u{2026}\"");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    name: Box<str>,
    json: Box<str>,
}

impl Data {
    /// A payload whose value is the JSON string `value`.
    pub fn string(name: impl Into<String>, value: &str) -> Self {
        let mut json = BytesMut::with_capacity(value.len() + 2);
        write_json_string(&mut json, value);
        Self {
            name: name.into().into_boxed_str(),
            json: String::from_utf8_lossy(&json).into(),
        }
    }

    /// A payload whose value is `value` serialized as compact JSON.
    ///
    /// # Errors
    ///
    /// Whatever `serde_json` reports for `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sources = llm_sse::Data::json("sources", &["https://example.com"])?;
    /// assert_eq!(sources.as_json(), "[\"https://example.com\"]");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn json<T: serde::Serialize + ?Sized>(
        name: impl Into<String>,
        value: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            name: name.into().into_boxed_str(),
            json: crate::json::to_string(value)?.into_boxed_str(),
        })
    }

    /// The payload's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The payload as compact JSON, on one line.
    pub fn as_json(&self) -> &str {
        &self.json
    }
}

/// What a stream sent, per kind, as the pipeline counts it: each text,
/// reasoning or argument token the model yielded counts one, however the
/// tokens were batched.
///
/// # Examples
///
/// ```
/// let counts = llm_sse::TokenCounts::default();
/// assert_eq!(counts.total(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TokenCounts {
    /// Answer text tokens.
    pub text: u64,
    /// Reasoning tokens.
    pub reasoning: u64,
    /// Tool-call argument tokens.
    pub tool_arguments: u64,
    /// Tool calls started.
    pub tool_calls: u64,
}

impl TokenCounts {
    /// Text, reasoning and argument tokens together: the completion
    /// tokens, as far as the stream can count them.
    pub fn total(&self) -> u64 {
        self.text
            .saturating_add(self.reasoning)
            .saturating_add(self.tool_arguments)
    }

    /// Counts `tokens` tokens of `kind`.
    pub(crate) fn add(&mut self, kind: DeltaKind, tokens: u64) {
        let count = match kind {
            DeltaKind::Text => &mut self.text,
            DeltaKind::Reasoning => &mut self.reasoning,
            DeltaKind::ToolArguments => &mut self.tool_arguments,
            DeltaKind::ToolCall => {
                self.tool_calls = self.tool_calls.saturating_add(1);
                return;
            }
            DeltaKind::Usage | DeltaKind::Finish | DeltaKind::Data => return,
        };
        *count = count.saturating_add(tokens);
    }
}
