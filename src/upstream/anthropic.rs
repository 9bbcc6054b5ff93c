//! [`AnthropicParser`]: Anthropic Messages events into deltas.

use std::borrow::Cow;
use std::collections::VecDeque;

use serde::Deserialize;

use super::{json, Parser, Step, UpstreamError};
use crate::{Delta, Event, FinishReason, Usage};

/// Reads Anthropic Messages API events (`POST /v1/messages` with
/// `stream: true`), ended by `message_stop`.
///
/// - `text_delta` is text, `thinking_delta` reasoning; thinking
///   signatures, redacted thinking and citations have no delta kind and
///   are skipped.
/// - A `tool_use` (or `server_tool_use`) block becomes a tool call (its
///   `id` and `name`), numbered 0, 1, 2 in block order; its
///   `input_json_delta`s are the arguments. A block whose input came whole
///   in `content_block_start`, or that streamed no fragment, sends its
///   input (`{}` at the least), so the arguments are always JSON.
/// - `message_start` and `message_delta` give the [`Usage`] (the prompt
///   counts cached and cache-creating input tokens; the cached ones are
///   also [`Usage::cached_prompt_tokens`]; thinking tokens where the
///   server reports them in `output_tokens_details`), sent once with the finish
///   reason: `end_turn` is [`FinishReason::Stop`], `max_tokens`
///   [`FinishReason::Length`], `tool_use` [`FinishReason::ToolCalls`],
///   `stop_sequence` [`FinishReason::StopSequence`], `refusal`
///   [`FinishReason::ContentFilter`].
/// - `ping`s are skipped; an `error` event is
///   [`UpstreamError::Provider`] with Anthropic's error type
///   (`overloaded_error`, ...) and message.
///
/// # Examples
///
/// ```
/// # futures_util::FutureExt::now_or_never(async {
/// use futures_util::{stream, StreamExt};
/// use llm_sse::upstream::{self, AnthropicParser};
/// use llm_sse::{Delta, FinishReason, Usage};
///
/// let body = concat!(
///     "event: message_start\n",
///     "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
///     "event: ping\ndata: {\"type\":\"ping\"}\n\n",
///     "event: content_block_delta\n",
///     "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
///     "event: message_delta\n",
///     "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
///     "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
/// );
/// let deltas: Vec<_> = upstream::parse(stream::iter([Ok::<_, std::io::Error>(body)]), AnthropicParser::new())
///     .map(Result::unwrap)
///     .collect()
///     .await;
/// assert_eq!(
///     deltas,
///     [Delta::text("Hi"), Delta::usage(Usage::new(9, 2)), Delta::finish(FinishReason::Stop)]
/// );
/// # }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct AnthropicParser {
    /// Tool use blocks so far: their block index.
    calls: Vec<ToolBlock>,
    input_tokens: u64,
    cache_read: Option<u64>,
    cache_creation: u64,
    output_tokens: u64,
    thinking_tokens: Option<u64>,
    finish: Option<FinishReason>,
}

#[derive(Debug)]
struct ToolBlock {
    block: u32,
    /// Whether any input text was passed on.
    has_input: bool,
    open: bool,
}

impl AnthropicParser {
    /// A parser for one stream.
    pub fn new() -> Self {
        Self::default()
    }

    fn usage(&mut self, usage: &UsageJson) {
        if let Some(input) = usage.input_tokens {
            self.input_tokens = input;
        }
        if let Some(read) = usage.cache_read_input_tokens {
            self.cache_read = Some(read);
        }
        if let Some(creation) = usage.cache_creation_input_tokens {
            self.cache_creation = creation;
        }
        if let Some(output) = usage.output_tokens {
            self.output_tokens = output;
        }
        if let Some(details) = &usage.output_tokens_details {
            self.thinking_tokens = details.thinking_tokens.or(details.reasoning_tokens);
        }
    }

    fn block_start(
        &mut self,
        index: u32,
        block: Block<'_>,
        out: &mut VecDeque<Delta>,
    ) -> Result<(), UpstreamError> {
        if !matches!(block.kind.as_deref(), Some("tool_use" | "server_tool_use")) {
            return Ok(());
        }
        let Some(name) = block.name.filter(|name| !name.is_empty()) else {
            return Err(UpstreamError::malformed(format!(
                "tool use block {index} without a name"
            )));
        };
        let position = self.calls.len() as u32;
        let id = match block.id {
            Some(id) if !id.is_empty() => id.into_owned(),
            _ => crate::format::random_id("toolu_"),
        };
        out.push_back(Delta::tool_call(position, id, name.into_owned()));
        // An input given whole here (not `{}`, which streaming sends) goes
        // out as the arguments.
        let input = block
            .input
            .filter(|input| input.as_object().map_or(true, |object| !object.is_empty()));
        if let Some(input) = &input {
            out.push_back(Delta::tool_arguments(position, input.to_string()));
        }
        self.calls.push(ToolBlock {
            block: index,
            has_input: input.is_some(),
            open: true,
        });
        Ok(())
    }
}

impl Parser for AnthropicParser {
    fn event(&mut self, event: &Event, out: &mut VecDeque<Delta>) -> Result<Step, UpstreamError> {
        if event.event() == Some("error") {
            return Err(super::error_event(event));
        }
        let Some(parsed) = json::<AnthropicEvent<'_>>(event)? else {
            return Ok(Step::More);
        };
        match &*parsed.kind {
            "message_start" => {
                if let Some(usage) = parsed.message.and_then(|message| message.usage) {
                    self.usage(&usage);
                }
            }
            "content_block_start" => {
                if let (Some(index), Some(block)) = (parsed.index, parsed.content_block) {
                    self.block_start(index, block, out)?;
                }
            }
            "content_block_delta" => {
                let delta = parsed.delta.unwrap_or_default();
                match delta.kind.as_deref() {
                    Some("text_delta") => {
                        if let Some(text) = delta.text.filter(|text| !text.is_empty()) {
                            out.push_back(Delta::text(text.into_owned()));
                        }
                    }
                    Some("thinking_delta") => {
                        if let Some(text) = delta.thinking.filter(|text| !text.is_empty()) {
                            out.push_back(Delta::reasoning(text.into_owned()));
                        }
                    }
                    Some("input_json_delta") => {
                        let Some(position) = self
                            .calls
                            .iter()
                            .position(|call| Some(call.block) == parsed.index)
                        else {
                            return Err(UpstreamError::malformed(format!(
                                "input_json_delta for block {:?}, which is no tool use",
                                parsed.index
                            )));
                        };
                        if let Some(json) = delta.partial_json.filter(|json| !json.is_empty()) {
                            self.calls[position].has_input = true;
                            out.push_back(Delta::tool_arguments(
                                position as u32,
                                json.into_owned(),
                            ));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Some(position) = self
                    .calls
                    .iter()
                    .position(|call| call.open && Some(call.block) == parsed.index)
                {
                    let call = &mut self.calls[position];
                    call.open = false;
                    if !call.has_input {
                        call.has_input = true;
                        out.push_back(Delta::tool_arguments(position as u32, "{}"));
                    }
                }
            }
            "message_delta" => {
                if let Some(usage) = &parsed.usage {
                    self.usage(usage);
                }
                if let Some(reason) = parsed.delta.and_then(|delta| delta.stop_reason) {
                    self.finish = Some(finish_reason(&reason));
                }
            }
            "message_stop" => {
                let prompt = self
                    .input_tokens
                    .saturating_add(self.cache_read.unwrap_or(0))
                    .saturating_add(self.cache_creation);
                let mut usage = Usage::new(prompt, self.output_tokens);
                usage.cached_prompt_tokens = self.cache_read;
                usage.reasoning_tokens = self.thinking_tokens;
                out.push_back(Delta::usage(usage));
                if let Some(reason) = self.finish.take() {
                    out.push_back(Delta::finish(reason));
                }
                return Ok(Step::End);
            }
            "error" => return Err(super::error_event(event)),
            _ => {}
        }
        Ok(Step::More)
    }

    fn end_marker(&self) -> &'static str {
        "message_stop"
    }
}

/// Anthropic's stop reasons.
fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "stop_sequence" => FinishReason::StopSequence,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(Cow::Owned(other.to_owned())),
    }
}

#[derive(Deserialize)]
struct AnthropicEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    index: Option<u32>,
    #[serde(default, borrow)]
    delta: Option<DeltaJson<'a>>,
    #[serde(default, borrow)]
    content_block: Option<Block<'a>>,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    usage: Option<UsageJson>,
}

#[derive(Deserialize, Default)]
struct DeltaJson<'a> {
    #[serde(default, rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Block<'a> {
    #[serde(default, rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default)]
    input: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    usage: Option<UsageJson>,
}

#[derive(Deserialize)]
struct UsageJson {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens_details: Option<OutputDetails>,
}

/// Thinking tokens, where a server reports them (this crate's
/// `AnthropicMessages` does).
#[derive(Deserialize)]
struct OutputDetails {
    #[serde(default)]
    thinking_tokens: Option<u64>,
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}
