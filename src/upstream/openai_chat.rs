//! [`OpenAiChatParser`]: OpenAI Chat Completions chunks into deltas.

use std::borrow::Cow;
use std::collections::VecDeque;

use super::skim::{self, Value};
use super::{Parser, Step, UpstreamError};
use crate::{Delta, FinishReason, Usage};

/// Reads OpenAI Chat Completions `chat.completion.chunk`s, as OpenAI and
/// OpenAI-compatible servers (vLLM, llama.cpp, Ollama, TGI, SGLang,
/// OpenRouter, LiteLLM) stream them, ended by `data: [DONE]`.
///
/// - `delta.content` and `delta.refusal` are text; `delta.reasoning_content`
///   or `delta.reasoning` is reasoning (one of them when a server sends
///   both).
/// - `delta.tool_calls[]` become a tool call when an index first appears
///   (its `id` and `function.name`), then its argument fragments. A
///   missing `index` is inferred: an entry with a known `id` continues
///   that call, one with a new `id` starts the next, one without continues
///   the last. A call the provider gave no `id` gets one.
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
    /// The calls seen so far, by position: their upstream index and id.
    calls: Vec<(u32, Option<String>)>,
    usage: Option<Usage>,
}

impl OpenAiChatParser {
    /// A parser for one stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// One chunk's data.
    fn chunk(&mut self, data: &str, out: &mut VecDeque<Delta>) -> Result<(), UpstreamError> {
        skim::object(data, |key, value| {
            match key {
                "choices" => value.array(|choice| self.choice(choice, out))?,
                "usage" => {
                    if let Some(usage) = usage(value)? {
                        self.usage = Some(usage);
                    }
                }
                "error" if !value.is_null() => return Err(super::in_band_error(data)),
                _ => {}
            }
            Ok(())
        })
    }

    fn choice(
        &mut self,
        choice: &mut Value<'_, '_>,
        out: &mut VecDeque<Delta>,
    ) -> Result<(), UpstreamError> {
        let mut finish = None;
        choice.object(|key, value| {
            match key {
                "index" => {
                    let index = value.integer()?.unwrap_or(0);
                    if index != 0 {
                        return Err(UpstreamError::malformed(format!(
                            "choice {index} of a stream with several choices (n > 1); \
                             only one can be re-streamed"
                        )));
                    }
                }
                "delta" => self.delta(value, out)?,
                "finish_reason" => finish = value.string()?,
                _ => {}
            }
            Ok(())
        })?;
        if let Some(reason) = finish {
            out.push_back(Delta::finish(finish_reason(&reason)));
        }
        Ok(())
    }

    fn delta(
        &mut self,
        delta: &mut Value<'_, '_>,
        out: &mut VecDeque<Delta>,
    ) -> Result<(), UpstreamError> {
        let (mut content, mut refusal) = (None, None);
        let (mut reasoning_content, mut reasoning) = (None, None);
        let mut tool_calls = None;
        delta.object(|key, value| {
            match key {
                "content" => content = value.string()?,
                "refusal" => refusal = value.string()?,
                "reasoning_content" => reasoning_content = value.string()?,
                "reasoning" => reasoning = value.string()?,
                "tool_calls" => tool_calls = Some(value.raw()?),
                _ => {}
            }
            Ok(())
        })?;
        // One of the two when a server sends both.
        let reasoning = reasoning_content
            .filter(|text| !text.is_empty())
            .or(reasoning);
        if let Some(text) = reasoning.filter(|text| !text.is_empty()) {
            out.push_back(Delta::reasoning(text.into_owned()));
        }
        for text in [content, refusal].into_iter().flatten() {
            if !text.is_empty() {
                out.push_back(Delta::text(text.into_owned()));
            }
        }
        if let Some(calls) = tool_calls {
            skim::read(calls, |calls| calls.array(|call| self.tool_call(call, out)))?;
        }
        Ok(())
    }

    /// The index after the highest seen, for a call that names none.
    fn next_index(&self) -> u32 {
        self.calls
            .iter()
            .map(|&(index, _)| index.saturating_add(1))
            .max()
            .unwrap_or(0)
    }

    fn tool_call(
        &mut self,
        call: &mut Value<'_, '_>,
        out: &mut VecDeque<Delta>,
    ) -> Result<(), UpstreamError> {
        let (mut index, mut id, mut name, mut arguments) = (None, None, None, None);
        call.object(|key, value| {
            match key {
                "index" => index = value.integer()?,
                "id" => id = value.string()?,
                "function" => value.object(|key, value| {
                    match key {
                        "name" => name = value.string()?,
                        "arguments" => arguments = value.string()?,
                        _ => {}
                    }
                    Ok(())
                })?,
                _ => {}
            }
            Ok(())
        })?;
        let index = index
            .map(u32::try_from)
            .transpose()
            .map_err(|_| UpstreamError::malformed("a tool call index of 2^32 or more"))?;
        let upstream_index = match index {
            Some(index) => index,
            // No index: a known id goes on with its call, a new one starts
            // the next call, and none goes on with the last.
            None => match (&id, self.calls.last()) {
                (Some(id), _) if !id.is_empty() => {
                    let known = self
                        .calls
                        .iter()
                        .find(|(_, seen)| seen.as_deref() == Some(&**id));
                    match known {
                        Some(&(index, _)) => index,
                        None => self.next_index(),
                    }
                }
                (_, Some(&(last, _))) => last,
                _ => 0,
            },
        };
        let position = match self
            .calls
            .iter()
            .position(|(seen, _)| *seen == upstream_index)
        {
            Some(position) => position,
            None => {
                let Some(name) = name.filter(|name| !name.is_empty()) else {
                    return Err(UpstreamError::malformed(format!(
                        "tool call {upstream_index} starts without a function name"
                    )));
                };
                let position = self.calls.len();
                let id = match id {
                    Some(id) if !id.is_empty() => id.into_owned(),
                    _ => crate::format::random_id("call_"),
                };
                self.calls.push((upstream_index, Some(id.clone())));
                out.push_back(Delta::tool_call(position as u32, id, name.into_owned()));
                position
            }
        };
        if let Some(arguments) = arguments.filter(|text| !text.is_empty()) {
            out.push_back(Delta::tool_arguments(
                position as u32,
                arguments.into_owned(),
            ));
        }
        Ok(())
    }
}

impl Parser for OpenAiChatParser {
    fn event(
        &mut self,
        _name: Option<&str>,
        data: &str,
        out: &mut VecDeque<Delta>,
    ) -> Result<Step, UpstreamError> {
        if data == "[DONE]" {
            if let Some(usage) = self.usage.take() {
                out.push_back(Delta::usage(usage));
            }
            return Ok(Step::End);
        }
        self.chunk(data, out)?;
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

/// An OpenAI usage object (Chat's names, or the Responses API's), `null`s
/// and missing details allowed; `None` for `null`.
pub(super) fn usage(value: &mut Value<'_, '_>) -> Result<Option<Usage>, UpstreamError> {
    if value.is_null() {
        return Ok(None);
    }
    let (mut prompt, mut completion, mut total) = (None, None, None);
    let (mut cached, mut reasoning) = (None, None);
    value.object(|key, value| {
        match key {
            "prompt_tokens" | "input_tokens" => prompt = value.integer()?,
            "completion_tokens" | "output_tokens" => completion = value.integer()?,
            "total_tokens" => total = value.integer()?,
            "prompt_tokens_details" | "input_tokens_details" => {
                cached = detail(value, "cached_tokens")?;
            }
            "completion_tokens_details" | "output_tokens_details" => {
                reasoning = detail(value, "reasoning_tokens")?;
            }
            _ => {}
        }
        Ok(())
    })?;
    let mut usage = Usage::new(prompt.unwrap_or(0), completion.unwrap_or(0));
    if let Some(total) = total {
        usage.total_tokens = total;
    }
    usage.cached_prompt_tokens = cached;
    usage.reasoning_tokens = reasoning;
    Ok(Some(usage))
}

/// The count `name` of a details object, which may be `null`.
fn detail(value: &mut Value<'_, '_>, name: &str) -> Result<Option<u64>, UpstreamError> {
    let mut count = None;
    value.object(|key, value| {
        if key == name {
            count = value.integer()?;
        }
        Ok(())
    })?;
    Ok(count)
}
