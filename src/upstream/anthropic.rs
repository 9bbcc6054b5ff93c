//! [`AnthropicParser`]: Anthropic Messages events into deltas.

use std::borrow::Cow;
use std::collections::VecDeque;

use super::skim::{self, Value};
use super::{Parser, Step, UpstreamError};
use crate::{Delta, FinishReason, Usage};

/// Reads Anthropic Messages API events (`POST /v1/messages` with
/// `stream: true`), ended by `message_stop`.
///
/// - `text_delta` is text, `thinking_delta` reasoning; thinking
///   signatures, redacted thinking and citations have no delta kind and
///   are skipped.
/// - A `tool_use` block becomes a tool call (its `id` and `name`),
///   numbered 0, 1, 2 in block order; its
///   `input_json_delta`s are the arguments. A block whose input came whole
///   in `content_block_start`, or that streamed no fragment, sends its
///   input (`{}` at the least), so the arguments are always JSON. Blocks
///   of tools the server runs itself (`server_tool_use`, `mcp_tool_use`)
///   and their results are not the client's to run, and are skipped.
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
    /// Blocks of tools the server runs itself (web search, code
    /// execution, MCP): their block index.
    server_blocks: Vec<u32>,
    /// Whether the stream reported any usage.
    has_usage: bool,
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

    /// Reads a usage object (`message.usage`, or `message_delta`'s).
    fn usage(&mut self, usage: &mut Value<'_, '_>) -> Result<(), UpstreamError> {
        if usage.is_null() {
            return Ok(());
        }
        self.has_usage = true;
        usage.object(|key, value| {
            match key {
                "input_tokens" => self.input_tokens = value.integer()?.unwrap_or(self.input_tokens),
                "output_tokens" => {
                    self.output_tokens = value.integer()?.unwrap_or(self.output_tokens);
                }
                "cache_read_input_tokens" => self.cache_read = value.integer()?.or(self.cache_read),
                "cache_creation_input_tokens" => {
                    self.cache_creation = value.integer()?.unwrap_or(self.cache_creation);
                }
                // Thinking tokens, where a server reports them (this
                // crate's `AnthropicMessages` does).
                "output_tokens_details" => value.object(|key, value| {
                    if key == "thinking_tokens" || key == "reasoning_tokens" {
                        self.thinking_tokens = value.integer()?.or(self.thinking_tokens);
                    }
                    Ok(())
                })?,
                _ => {}
            }
            Ok(())
        })
    }

    fn block_start(
        &mut self,
        index: u32,
        block: &str,
        out: &mut VecDeque<Delta>,
    ) -> Result<(), UpstreamError> {
        let (mut kind, mut id, mut name, mut input) = (None, None, None, None);
        skim::read(block, |block| {
            block.object(|key, value| {
                match key {
                    "type" => kind = value.string()?,
                    "id" => id = value.string()?,
                    "name" => name = value.string()?,
                    "input" => input = Some(value.raw()?),
                    _ => {}
                }
                Ok(())
            })
        })?;
        match kind.as_deref() {
            Some("tool_use") => {}
            // The server runs these itself and streams their results; the
            // client neither declared nor runs them.
            Some("server_tool_use" | "mcp_tool_use") => {
                self.server_blocks.push(index);
                return Ok(());
            }
            _ => return Ok(()),
        }
        let Some(name) = name.filter(|name| !name.is_empty()) else {
            return Err(UpstreamError::malformed(format!(
                "tool use block {index} without a name"
            )));
        };
        let position = self.calls.len() as u32;
        let id = match id {
            Some(id) if !id.is_empty() => id.into_owned(),
            _ => crate::format::random_id("toolu_"),
        };
        out.push_back(Delta::tool_call(position, id, name.into_owned()));
        // An input given whole here (not `{}`, which streaming sends) goes
        // out as the arguments.
        let input = input.filter(|input| !is_empty_object(input) && *input != "null");
        if input.is_some_and(|input| serde_json::from_str::<serde_json::Value>(input).is_err()) {
            return Err(UpstreamError::malformed(format!(
                "tool use block {index} with an input that is not JSON"
            )));
        }
        if let Some(input) = input {
            out.push_back(Delta::tool_arguments(position, input.to_owned()));
        }
        self.calls.push(ToolBlock {
            block: index,
            has_input: input.is_some(),
            open: true,
        });
        Ok(())
    }

    fn block_delta(
        &mut self,
        index: Option<u32>,
        delta: &str,
        out: &mut VecDeque<Delta>,
    ) -> Result<(), UpstreamError> {
        let (mut kind, mut text, mut thinking, mut partial_json) = (None, None, None, None);
        skim::read(delta, |delta| {
            delta.object(|key, value| {
                match key {
                    "type" => kind = value.string()?,
                    "text" => text = Some(value.raw()?),
                    "thinking" => thinking = Some(value.raw()?),
                    "partial_json" => partial_json = Some(value.raw()?),
                    _ => {}
                }
                Ok(())
            })
        })?;
        match kind.as_deref() {
            Some("text_delta") => {
                if let Some(text) = non_empty(text)? {
                    out.push_back(Delta::text(text.into_owned()));
                }
            }
            Some("thinking_delta") => {
                if let Some(text) = non_empty(thinking)? {
                    out.push_back(Delta::reasoning(text.into_owned()));
                }
            }
            Some("input_json_delta")
                if index.is_some_and(|index| self.server_blocks.contains(&index)) => {}
            Some("input_json_delta") => {
                let Some(position) = self.calls.iter().position(|call| Some(call.block) == index)
                else {
                    return Err(UpstreamError::malformed(format!(
                        "input_json_delta for block {index:?}, which is no tool use"
                    )));
                };
                if let Some(json) = non_empty(partial_json)? {
                    self.calls[position].has_input = true;
                    out.push_back(Delta::tool_arguments(position as u32, json.into_owned()));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn block_stop(&mut self, index: Option<u32>, out: &mut VecDeque<Delta>) {
        let open = self
            .calls
            .iter()
            .position(|call| call.open && Some(call.block) == index);
        if let Some(position) = open {
            let call = &mut self.calls[position];
            call.open = false;
            if !call.has_input {
                call.has_input = true;
                out.push_back(Delta::tool_arguments(position as u32, "{}"));
            }
        }
    }

    fn message_stop(&mut self, out: &mut VecDeque<Delta>) {
        let prompt = self
            .input_tokens
            .saturating_add(self.cache_read.unwrap_or(0))
            .saturating_add(self.cache_creation);
        // No usage at all: the client formats count what they sent.
        if self.has_usage {
            let mut usage = Usage::new(prompt, self.output_tokens);
            usage.cached_prompt_tokens = self.cache_read;
            usage.reasoning_tokens = self.thinking_tokens;
            out.push_back(Delta::usage(usage));
        }
        if let Some(reason) = self.finish.take() {
            out.push_back(Delta::finish(reason));
        }
    }

    fn parse(&mut self, data: &str, out: &mut VecDeque<Delta>) -> Result<Step, UpstreamError> {
        let (mut kind, mut index, mut delta, mut block, mut message, mut usage) =
            (None, None, None, None, None, None);
        skim::object(data, |key, value| {
            match key {
                "type" => kind = value.string()?,
                "index" => index = Some(value.raw()?),
                "delta" if !value.is_null() => delta = Some(value.raw()?),
                "content_block" if !value.is_null() => block = Some(value.raw()?),
                "message" if !value.is_null() => message = Some(value.raw()?),
                "usage" => usage = Some(value.raw()?),
                _ => {}
            }
            Ok(())
        })?;
        let kind = kind.ok_or_else(|| UpstreamError::malformed("an event without a type"))?;
        let index = || -> Result<Option<u32>, UpstreamError> {
            skim::read(index.unwrap_or("null"), |value| value.integer())?
                .map(u32::try_from)
                .transpose()
                .map_err(|_| UpstreamError::malformed("a content block index of 2^32 or more"))
        };
        match &*kind {
            "message_start" => skim::read(message.unwrap_or("{}"), |message| {
                message.object(|key, value| match key {
                    "usage" => self.usage(value),
                    _ => Ok(()),
                })
            })?,
            "content_block_start" => {
                if let (Some(index), Some(block)) = (index()?, block) {
                    self.block_start(index, block, out)?;
                }
            }
            "content_block_delta" => self.block_delta(index()?, delta.unwrap_or("{}"), out)?,
            "content_block_stop" => self.block_stop(index()?, out),
            "message_delta" => {
                skim::read(usage.unwrap_or("null"), |usage| self.usage(usage))?;
                skim::read(delta.unwrap_or("{}"), |delta| {
                    delta.object(|key, value| {
                        if key == "stop_reason" {
                            if let Some(reason) = value.string()? {
                                self.finish = Some(finish_reason(&reason));
                            }
                        }
                        Ok(())
                    })
                })?;
            }
            "message_stop" => {
                self.message_stop(out);
                return Ok(Step::End);
            }
            "error" => return Err(super::in_band_error(data)),
            _ => {}
        }
        Ok(Step::More)
    }
}

impl Parser for AnthropicParser {
    fn event(
        &mut self,
        _name: Option<&str>,
        data: &str,
        out: &mut VecDeque<Delta>,
    ) -> Result<Step, UpstreamError> {
        // The data's `type` names the event; the SSE name repeats it.
        self.parse(data, out)
    }

    fn end_marker(&self) -> &'static str {
        "message_stop"
    }
}

/// The string `raw` (a raw value, if any), unless it is empty or `null`.
fn non_empty(raw: Option<&str>) -> Result<Option<Cow<'_, str>>, UpstreamError> {
    Ok(skim::read(raw.unwrap_or("null"), |value| value.string())?.filter(|text| !text.is_empty()))
}

/// Whether `json` is `{}` (whitespace allowed).
fn is_empty_object(json: &str) -> bool {
    json.strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .is_some_and(|inner| inner.trim().is_empty())
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
