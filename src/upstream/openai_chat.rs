//! [`OpenAiChatParser`]: OpenAI Chat Completions chunks into deltas.

use std::borrow::Cow;
use std::collections::VecDeque;

use serde::Deserialize;

use super::{json, Parser, Step, UpstreamError};
use crate::{Delta, Event, FinishReason, Usage};

/// Reads OpenAI Chat Completions `chat.completion.chunk`s, as OpenAI and
/// OpenAI-compatible servers (vLLM, llama.cpp, Ollama, TGI, SGLang,
/// OpenRouter, LiteLLM) stream them, ended by `data: [DONE]`.
///
/// - `delta.content` and `delta.refusal` are text; `delta.reasoning_content`
///   or `delta.reasoning` is reasoning (one of them when a server sends
///   both).
/// - `delta.tool_calls[]` become a tool call when an index first appears
///   (its `id` and `function.name`), then its argument fragments. A
///   missing `index` is inferred: an entry with a new `id` starts the next
///   call, one without continues the last. A call the provider gave no
///   `id` gets one.
/// - `finish_reason` becomes the [`FinishReason`]; `usage` (in the usage
///   chunk with `choices: []`, or in every chunk as some servers send it)
///   becomes one [`Usage`] delta, the last one sent, before the end.
/// - An `error` object in a chunk, or an `event: error`, is
///   [`UpstreamError::Provider`]; choices other than the first (`n > 1`)
///   are [`UpstreamError::Malformed`], as one stream of deltas cannot
///   carry them.
///
/// # Examples
///
/// ```
/// # futures_util::FutureExt::now_or_never(async {
/// use futures_util::{stream, StreamExt};
/// use llm_sse::upstream::{self, OpenAiChatParser};
/// use llm_sse::{Delta, FinishReason};
///
/// let body = concat!(
///     "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
///     "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\n",
///     "data: [DONE]\n\n",
/// );
/// let deltas: Vec<_> = upstream::parse(stream::iter([Ok::<_, std::io::Error>(body)]), OpenAiChatParser::new())
///     .map(Result::unwrap)
///     .collect()
///     .await;
/// assert_eq!(deltas, [Delta::text("Hi"), Delta::finish(FinishReason::Stop)]);
/// # }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct OpenAiChatParser {
    /// The calls seen so far, by position: their upstream index.
    calls: Vec<u32>,
    usage: Option<Usage>,
}

impl OpenAiChatParser {
    /// A parser for one stream.
    pub fn new() -> Self {
        Self::default()
    }

    fn choice(
        &mut self,
        choice: Choice<'_>,
        out: &mut VecDeque<Delta>,
    ) -> Result<(), UpstreamError> {
        if choice.index != 0 {
            return Err(UpstreamError::malformed(format!(
                "choice {} of a stream with several choices (n > 1); only one can be re-streamed",
                choice.index
            )));
        }
        if let Some(delta) = choice.delta {
            let reasoning = delta
                .reasoning_content
                .filter(|text| !text.is_empty())
                .or(delta.reasoning);
            if let Some(text) = reasoning.filter(|text| !text.is_empty()) {
                out.push_back(Delta::reasoning(text.into_owned()));
            }
            for text in [delta.content, delta.refusal].into_iter().flatten() {
                if !text.is_empty() {
                    out.push_back(Delta::text(text.into_owned()));
                }
            }
            for call in delta.tool_calls.into_iter().flatten() {
                self.tool_call(call, out)?;
            }
        }
        if let Some(reason) = choice.finish_reason {
            out.push_back(Delta::finish(finish_reason(&reason)));
        }
        Ok(())
    }

    fn tool_call(
        &mut self,
        call: ToolCall<'_>,
        out: &mut VecDeque<Delta>,
    ) -> Result<(), UpstreamError> {
        let upstream_index = match call.index {
            Some(index) => index,
            // No index: a new id starts the next call, else the last goes on.
            None => match (&call.id, self.calls.last()) {
                (None, Some(&last)) => last,
                _ => self.calls.last().map_or(0, |last| last.saturating_add(1)),
            },
        };
        let function = call.function.unwrap_or_default();
        let position = match self.calls.iter().position(|&seen| seen == upstream_index) {
            Some(position) => position,
            None => {
                let Some(name) = function.name.filter(|name| !name.is_empty()) else {
                    return Err(UpstreamError::malformed(format!(
                        "tool call {upstream_index} starts without a function name"
                    )));
                };
                let position = self.calls.len();
                self.calls.push(upstream_index);
                let id = match call.id {
                    Some(id) if !id.is_empty() => id.into_owned(),
                    _ => crate::format::random_id("call_"),
                };
                out.push_back(Delta::tool_call(position as u32, id, name.into_owned()));
                position
            }
        };
        if let Some(arguments) = function.arguments.filter(|text| !text.is_empty()) {
            out.push_back(Delta::tool_arguments(
                position as u32,
                arguments.into_owned(),
            ));
        }
        Ok(())
    }
}

impl Parser for OpenAiChatParser {
    fn event(&mut self, event: &Event, out: &mut VecDeque<Delta>) -> Result<Step, UpstreamError> {
        if event.data() == Some("[DONE]") {
            if let Some(usage) = self.usage.take() {
                out.push_back(Delta::usage(usage));
            }
            return Ok(Step::End);
        }
        if event.event() == Some("error") {
            return Err(super::error_event(event));
        }
        let Some(chunk) = json::<Chunk<'_>>(event)? else {
            return Ok(Step::More);
        };
        if let Some(error) = chunk.error {
            return Err(error.into_error());
        }
        for choice in chunk.choices {
            self.choice(choice, out)?;
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage.into_usage());
        }
        Ok(Step::More)
    }

    fn end_marker(&self) -> &'static str {
        "[DONE]"
    }
}

/// OpenAI's finish reasons, and any other a compatible server sends.
fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(Cow::Owned(other.to_owned())),
    }
}

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(default, borrow)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    usage: Option<UsageJson>,
    #[serde(default)]
    error: Option<ErrorJson>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default)]
    index: u32,
    #[serde(default, borrow)]
    delta: Option<ChoiceDelta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ChoiceDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<ToolCall<'a>>>,
}

#[derive(Deserialize)]
struct ToolCall<'a> {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    function: Option<Function<'a>>,
}

#[derive(Deserialize, Default)]
struct Function<'a> {
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// OpenAI's usage object, `null`s and missing details allowed.
#[derive(Deserialize)]
pub(super) struct UsageJson {
    #[serde(default, alias = "input_tokens")]
    prompt_tokens: Option<u64>,
    #[serde(default, alias = "output_tokens")]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default, alias = "input_tokens_details")]
    prompt_tokens_details: Option<Details>,
    #[serde(default, alias = "output_tokens_details")]
    completion_tokens_details: Option<Details>,
}

#[derive(Deserialize)]
struct Details {
    #[serde(default)]
    cached_tokens: Option<u64>,
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl UsageJson {
    /// The usage; the total as sent, else the sum.
    pub(super) fn into_usage(self) -> Usage {
        let mut usage = Usage::new(
            self.prompt_tokens.unwrap_or(0),
            self.completion_tokens.unwrap_or(0),
        );
        if let Some(total) = self.total_tokens {
            usage.total_tokens = total;
        }
        usage.cached_prompt_tokens = self.prompt_tokens_details.and_then(|d| d.cached_tokens);
        usage.reasoning_tokens = self
            .completion_tokens_details
            .and_then(|d| d.reasoning_tokens);
        usage
    }
}

/// An error object: `{"message": ..., "type": ..., "code": ...}`, or just a
/// string.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum ErrorJson {
    Object {
        #[serde(default)]
        message: Option<String>,
        #[serde(default, rename = "type")]
        error_type: Option<String>,
        #[serde(default)]
        code: Option<serde_json::Value>,
    },
    Message(String),
}

impl ErrorJson {
    pub(super) fn into_error(self) -> UpstreamError {
        match self {
            ErrorJson::Object {
                message,
                error_type,
                code,
            } => {
                let code = code.and_then(|code| match code {
                    serde_json::Value::String(code) => Some(code),
                    serde_json::Value::Number(code) => Some(code.to_string()),
                    _ => None,
                });
                UpstreamError::provider(
                    message.unwrap_or_else(|| "the upstream reported an error".to_owned()),
                    error_type.filter(|t| !t.is_empty()).or(code),
                )
            }
            ErrorJson::Message(message) => UpstreamError::provider(message, None),
        }
    }
}
